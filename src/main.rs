//! The `mimidns` command line: `serve` (and `--check-config`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use mimidns::config::{Config, Overrides};

#[derive(Parser)]
#[command(
    name = "mimidns",
    version,
    about = "Authoritative DNS for MIMI messaging-user discovery"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the zones in the zones directory over UDP and TCP.
    Serve {
        /// Configuration file (TOML); see deploy/mimidns.toml.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Address to serve on, UDP and TCP; repeat for several (default 127.0.0.1:5353).
        #[arg(long)]
        listen: Vec<SocketAddr>,
        /// Directory of *.zone files (default ./zones).
        #[arg(long)]
        zones_dir: Option<PathBuf>,
        /// Directory of the store (default ./data).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Validate the configuration and the zone files, then exit.
        #[arg(long)]
        check_config: bool,
    },
}

fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let mut server = mimidns::server::start(&config).await?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
        _ = server.wait() => anyhow::bail!("a listener stopped unexpectedly"),
    }
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

fn check(config: &Config) -> anyhow::Result<()> {
    for file in mimidns::catalog::zone_files(&config.zones_dir)? {
        let origin = mimidns::zone_file::origin_from_file_name(&file)?;
        let zone = mimidns::zone_file::load_zone_file(&file, &origin)?;
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

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve {
            config,
            listen,
            zones_dir,
            data_dir,
            check_config,
        } => {
            let overrides = Overrides {
                listen,
                zones_dir,
                data_dir,
            };
            let config = Config::load(config.as_deref(), &overrides)?;
            if check_config {
                return check(&config);
            }
            init_logging(&config.log_level);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the runtime")?;
            runtime.block_on(serve(config))
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mimidns: {e:#}");
            ExitCode::FAILURE
        }
    }
}
