//! `mimidns serve`: run the server, or check the configuration and zones.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::config::{Config, LogFormat, Overrides};

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Configuration file (TOML); see deploy/mimidns.toml.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to serve on, UDP and TCP; repeat for several (default 127.0.0.1:5353).
    #[arg(long)]
    listen: Vec<SocketAddr>,
    /// Directory of *.zone files (default ./zones).
    #[arg(long)]
    zones_dir: Option<PathBuf>,
    /// Directory of the store and the admin socket (default ./data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Validate the configuration and the zone files, then exit.
    #[arg(long)]
    check_config: bool,
}

fn init_logging(level: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never in journald or files.
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        // One JSON object per line, fields at the top level, for log shippers.
        LogFormat::Json => builder.json().flatten_event(true).with_ansi(false).init(),
    }
}

/// Tells systemd (Type=notify) what the server is doing; a no-op when not
/// started by systemd (no NOTIFY_SOCKET).
fn notify_systemd(state: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::debug!(error = %e, "sd_notify failed");
    }
}

async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    // Handlers first: a SIGHUP during start-up must not end the process.
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let mut server = match crate::server::start(&config).await {
        Ok(server) => server,
        Err(e) if e.is_corrupt_store() => {
            eprintln!("mimidns: {e}");
            return Ok(ExitCode::from(crate::server::EXIT_CORRUPT_STORE));
        }
        Err(e) => return Err(e.into()),
    };
    // Every listener is bound and every zone loaded: ready (Type=notify).
    notify_systemd(&[sd_notify::NotifyState::Ready]);
    loop {
        tokio::select! {
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
            _ = hangup.recv() => {
                // SIGHUP: read the configuration and the zone files again.
                // systemd (ExecReload) waits for READY=1 after RELOADING=1.
                notify_systemd(&[
                    sd_notify::NotifyState::Reloading,
                    sd_notify::NotifyState::monotonic_usec_now()
                        .unwrap_or(sd_notify::NotifyState::Status("reloading")),
                ]);
                let reloaded = server.reloader.reload().await;
                notify_systemd(&[sd_notify::NotifyState::Ready]);
                match reloaded {
                    Ok(report) => tracing::info!(
                        zones = report.zones.len(),
                        failed = report.zones.iter().filter(|z| z.problem.is_some()).count(),
                        "reloaded on SIGHUP"
                    ),
                    Err(e) => tracing::error!("reload on SIGHUP failed, nothing changed: {e}"),
                }
            }
            _ = server.wait() => anyhow::bail!("a listener stopped unexpectedly"),
        }
    }
    tracing::info!("shutting down");
    notify_systemd(&[sd_notify::NotifyState::Stopping]);
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// Everything start-up would refuse, checked without starting: the zone
/// files, per-zone settings that name no zone, listen addresses that cannot
/// be bound, the admin token file and socket path.
fn check(config: &Config) -> anyhow::Result<()> {
    let mut origins = Vec::new();
    let has_secondaries = config.transfer.zones.values().any(|z| z.primary.is_some());
    let files = match crate::catalog::zone_files(&config.zones_dir) {
        Err(crate::catalog::CatalogError::NoZones(_)) if has_secondaries => Vec::new(),
        other => other?,
    };
    for file in files {
        let origin = crate::zone_file::origin_from_file_name(&file)?;
        let zone = crate::zone_file::load_zone_file(&file, &origin)?;
        for warning in &zone.warnings {
            eprintln!("warning: {warning}");
        }
        println!(
            "{}: zone {} OK, {} RRsets, serial {}",
            file.display(),
            zone.origin,
            zone.rrsets.len(),
            zone.soa_serial
        );
        origins.push(zone.origin.to_ascii());
    }
    let secondary_origins = config
        .transfer
        .zones
        .iter()
        .filter(|(_, zone)| zone.primary.is_some())
        .map(|(origin, _)| origin.clone());
    let known: Vec<String> = origins.iter().cloned().chain(secondary_origins).collect();
    if let Some(origin) = config.discovery.unknown_origins(&known).first() {
        anyhow::bail!(crate::catalog::CatalogError::UnknownOverride(
            origin.clone()
        ));
    }
    for (origin, settings) in &config.transfer.zones {
        let has_file = origins
            .iter()
            .any(|served| served.trim_end_matches('.').eq_ignore_ascii_case(origin));
        if settings.primary.is_some() {
            if has_file {
                anyhow::bail!(crate::catalog::CatalogError::SecondaryWithFile(
                    origin.clone()
                ));
            }
            continue;
        }
        if !origins
            .iter()
            .any(|served| served.trim_end_matches('.').eq_ignore_ascii_case(origin))
        {
            anyhow::bail!(crate::server::ServerError::UnknownTransferZone(
                origin.clone()
            ));
        }
    }
    for (index, address) in config.listen.iter().enumerate() {
        if config.listen[..index].contains(address) {
            anyhow::bail!("server.listen names {address} twice");
        }
        match crate::transport::bind::pair(*address) {
            Ok(_) => println!("listen {address}: can be bound (UDP and TCP)"),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                anyhow::bail!(
                    "listen {address}: already in use (is a server already running on it?)"
                )
            }
            Err(e) => anyhow::bail!("listen {address}: cannot be bound: {e}"),
        }
    }
    if let Some(token_file) = &config.admin.token_file {
        crate::admin::http::read_token(token_file)?;
    }
    if let Some(group) = &config.admin.socket_group {
        crate::admin::http::group_id(group)?;
    }
    if let Some(address) = config.metrics_listen {
        match std::net::TcpListener::bind(address) {
            Ok(_) => println!("metrics listen {address}: can be bound"),
            Err(e) => anyhow::bail!("metrics.listen {address}: cannot be bound: {e}"),
        }
    }
    let socket = config.admin_socket();
    if let Ok(metadata) = std::fs::symlink_metadata(&socket) {
        use std::os::unix::fs::FileTypeExt;
        if !metadata.file_type().is_socket() {
            anyhow::bail!(
                "admin socket path {} exists and is not a socket; start-up would refuse it",
                socket.display()
            );
        }
    }
    println!("configuration OK");
    Ok(())
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let overrides = Overrides {
        listen: args.listen,
        zones_dir: args.zones_dir,
        data_dir: args.data_dir,
    };
    let config = Config::load(args.config.as_deref(), &overrides)?;
    if args.check_config {
        check(&config)?;
        return Ok(ExitCode::SUCCESS);
    }
    init_logging(&config.log_level, config.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(serve(config))
}
