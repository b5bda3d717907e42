//! `mimidns keys generate|list|ds`: the zone signing keys of online
//! signing. Keys go to the key directory (`dnssec.key-dir`, default
//! `<data-dir>/keys`) as PKCS#8 files of mode 0600; only public forms
//! (DNSKEY, DS) are ever printed.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::{Config, Overrides};
use crate::dnssec::keys;

#[derive(clap::Args)]
pub struct KeysArgs {
    /// Configuration file (for dnssec.key-dir and server.data-dir).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Data directory (default ./data), when there is no configuration.
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(clap::Subcommand)]
enum KeysCommand {
    /// Make a combined signing key (ECDSA P-256, flags 257) for a zone.
    Generate {
        #[arg(long)]
        zone: String,
    },
    /// List a zone's keys: tag, algorithm, file.
    List {
        #[arg(long)]
        zone: String,
    },
    /// Print the DS records (SHA-256) to give the parent zone.
    Ds {
        #[arg(long)]
        zone: String,
    },
}

fn presentation(zone: &str) -> String {
    format!("{}.", zone.trim_end_matches('.').to_ascii_lowercase())
}

pub fn run(args: KeysArgs) -> anyhow::Result<ExitCode> {
    let overrides = Overrides {
        data_dir: args.data_dir,
        ..Overrides::default()
    };
    let config = Config::load(args.config.as_deref(), &overrides)?;
    let dir = config.key_dir();
    match args.command {
        KeysCommand::Generate { zone } => {
            let key = keys::generate(&dir, &zone)?;
            println!(
                "generated key {} for {} in {}",
                key.tag,
                presentation(&zone),
                key.path.display()
            );
        }
        KeysCommand::List { zone } => {
            for key in keys::load(&dir, &zone)? {
                println!(
                    "{}  ECDSAP256SHA256 (13)  CSK  {}",
                    key.tag,
                    key.path.display()
                );
            }
        }
        KeysCommand::Ds { zone } => {
            for key in keys::load(&dir, &zone)? {
                let ds = key.ds_rdata();
                println!(
                    "{} IN DS {} 13 2 {}",
                    presentation(&zone),
                    key.tag,
                    data_encoding::HEXUPPER.encode(&ds[4..])
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
