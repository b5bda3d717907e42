//! `mimidns serve`: run the server, or check the configuration and zones.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::config::{Config, Overrides};

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

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn serve(config: Config) -> anyhow::Result<ExitCode> {
    let mut server = match crate::server::start(&config).await {
        Ok(server) => server,
        Err(e) if e.is_corrupt_store() => {
            eprintln!("mimidns: {e}");
            return Ok(ExitCode::from(crate::server::EXIT_CORRUPT_STORE));
        }
        Err(e) => return Err(e.into()),
    };
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
        _ = server.wait() => anyhow::bail!("a listener stopped unexpectedly"),
    }
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

fn check(config: &Config) -> anyhow::Result<()> {
    for file in crate::catalog::zone_files(&config.zones_dir)? {
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
    init_logging(&config.log_level);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(serve(config))
}
