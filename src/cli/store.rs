//! `mimidns store verify`: read every entry of a stopped server's store and
//! check its checksum, its layout and the acknowledged serials.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::{Config, Overrides};
use crate::store::Store;

#[derive(clap::Args)]
pub struct StoreArgs {
    #[command(subcommand)]
    command: StoreCommand,
}

#[derive(clap::Subcommand)]
enum StoreCommand {
    /// Check every stored value (stop the server first: sled locks its files).
    /// Exit 0: sound; 1: problems found; 2: the store cannot be read.
    Verify {
        /// Configuration file (TOML), for the data directory.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Directory of the store (default from the configuration, else ./data).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

pub fn run(args: StoreArgs) -> anyhow::Result<ExitCode> {
    let StoreCommand::Verify { config, data_dir } = args.command;
    let overrides = Overrides {
        data_dir,
        ..Overrides::default()
    };
    let config = Config::load(config.as_deref(), &overrides)?;
    let store_dir = config.data_dir.join("store");
    if !store_dir.exists() {
        anyhow::bail!("no store in {}", store_dir.display());
    }
    let store = Store::open(&store_dir, config.store_cache_bytes)?;
    let mut report = store.verify()?;
    if let Err(e) = crate::catalog::check_acknowledged(&store) {
        report.problems.push(e.to_string());
    }
    // Opening took the clean-shutdown marker; a verify leaves it as a clean stop.
    store.close_blocking()?;
    println!(
        "{}: {} entries, {} nodes",
        store_dir.display(),
        report.entries,
        report.nodes
    );
    for problem in &report.problems {
        println!("problem: {problem}");
    }
    if report.problems.is_empty() {
        println!("store OK");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("store CORRUPT: {} problem(s)", report.problems.len());
        Ok(ExitCode::from(1))
    }
}
