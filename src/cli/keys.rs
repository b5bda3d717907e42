//! `mimidns keys generate|list|ds|activate|retire`: the zone signing keys of online
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
        /// ecdsap256sha256 (13, the default) or ed25519 (15).
        #[arg(long, default_value = "ecdsap256sha256")]
        algorithm: String,
    },
    /// List a zone's keys: tag, algorithm, state, file.
    List {
        #[arg(long)]
        zone: String,
    },
    /// Make key TAG the one that signs (rollover step 2; takes effect at the next start).
    Activate {
        #[arg(long)]
        zone: String,
        #[arg(long)]
        tag: u16,
    },
    /// Remove key TAG, which must no longer sign (rollover step 3).
    Retire {
        #[arg(long)]
        zone: String,
        #[arg(long)]
        tag: u16,
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
        KeysCommand::Generate { zone, algorithm } => {
            let algorithm = keys::Algorithm::from_text(&algorithm).ok_or_else(|| {
                anyhow::anyhow!("--algorithm {algorithm}: use ecdsap256sha256 or ed25519")
            })?;
            let had_keys = !keys::load(&dir, &zone)?.is_empty();
            let key = keys::generate(&dir, &zone, algorithm)?;
            println!(
                "generated key {} for {} in {}",
                key.tag,
                presentation(&zone),
                key.path.display()
            );
            if had_keys {
                println!(
                    "it is published (DNSKEY) but does not sign yet; after at least the DNSKEY TTL, `mimidns keys activate --zone {zone} --tag {}`",
                    key.tag
                );
            }
        }
        KeysCommand::List { zone } => {
            let order = keys::signing_order(&dir, &zone)?;
            for (index, key) in order.iter().enumerate() {
                let state = if index == 0 { "active" } else { "published" };
                println!(
                    "{}  {} ({})  CSK  {state}  {}",
                    key.tag,
                    key.algorithm.name(),
                    key.algorithm.number(),
                    key.path.display()
                );
            }
        }
        KeysCommand::Activate { zone, tag } => {
            keys::activate(&dir, &zone, tag)?;
            let age = keys::load(&dir, &zone)?
                .iter()
                .find(|key| key.tag == tag)
                .and_then(|key| {
                    std::fs::metadata(&key.path)
                        .ok()?
                        .modified()
                        .ok()?
                        .elapsed()
                        .ok()
                });
            if age.is_some_and(|age| age < std::time::Duration::from_secs(3600)) {
                eprintln!(
                    "warning: key {tag} was made less than an hour ago; resolvers may not have it yet (wait at least the DNSKEY TTL between rollover steps)"
                );
            }
            println!(
                "key {tag} signs {} from the next start",
                presentation(&zone)
            );
        }
        KeysCommand::Retire { zone, tag } => {
            let path = keys::retire(&dir, &zone, tag)?;
            println!(
                "key {tag} of {} removed ({})",
                presentation(&zone),
                path.display()
            );
        }
        KeysCommand::Ds { zone } => {
            for key in keys::load(&dir, &zone)? {
                let ds = key.ds_rdata();
                println!(
                    "{} IN DS {} {} 2 {}",
                    presentation(&zone),
                    key.tag,
                    key.algorithm.number(),
                    data_encoding::HEXUPPER.encode(&ds[4..])
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
