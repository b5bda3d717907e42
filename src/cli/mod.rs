//! The `mimidns` command line: `serve`, `admin`, `hash` and `resolve`.
//!
//! Flags are parsed here with clap; each subcommand lives in its own module.
//! This is an edge of the program: errors are `anyhow` here, with exit codes
//! chosen per command (resolve: 0 found, 1 not found, 2 error).

pub mod admin;
pub mod resolve;
pub mod serve;
pub mod store;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::identifier::{IdentifierKind, hash_label, normalize};

#[derive(Parser)]
#[command(
    name = "mimidns",
    version,
    about = "Authoritative DNS for MIMI messaging-user discovery"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the zones in the zones directory over UDP and TCP.
    Serve(serve::ServeArgs),
    /// Manage published identifiers and records through the admin socket.
    Admin(admin::AdminArgs),
    /// Print an identifier's canonical form and hashed owner name.
    Hash(HashArgs),
    /// Discover where an identifier can be reached, as a messaging client would.
    Resolve(resolve::ResolveArgs),
    /// Check the store of a stopped server.
    Store(store::StoreArgs),
}

#[derive(clap::Args)]
pub struct HashArgs {
    /// Phone number (+E.164), email address, mimi:// URI or hash:<label>.
    identifier: String,
    /// Zone to build the owner name in.
    #[arg(long)]
    zone: Option<String>,
    /// The discovery label under the zone apex.
    #[arg(long, default_value = "_mimi")]
    label: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn run_hash(args: HashArgs) -> anyhow::Result<ExitCode> {
    let canonical = normalize(&args.identifier)?;
    let label = match canonical.kind {
        IdentifierKind::Hash => canonical.text().to_string(),
        _ => hash_label(canonical.text()),
    };
    let owner = args
        .zone
        .as_ref()
        .map(|zone| format!("{label}.{}.{}.", args.label, zone.trim_end_matches('.')));
    if args.json {
        let value = serde_json::json!({
            "kind": canonical.kind,
            "canonical": (canonical.kind != IdentifierKind::Hash).then(|| canonical.text()),
            "label": label,
            "owner": owner,
        });
        println!("{value}");
    } else {
        if canonical.kind != IdentifierKind::Hash {
            println!("canonical: {}", canonical.text());
        }
        println!("label:     {label}");
        if let Some(owner) = owner {
            println!("owner:     {owner}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Default admin socket when neither --socket nor a config file says otherwise.
pub fn default_socket(config: Option<&PathBuf>) -> anyhow::Result<PathBuf> {
    let config = crate::config::Config::load(
        config.map(PathBuf::as_path),
        &crate::config::Overrides::default(),
    )?;
    Ok(config.admin_socket())
}

/// Runs the command line; returns the process exit code.
pub fn main() -> ExitCode {
    crate::panic_guard::install_redacting_hook();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Admin(args) => admin::run(args),
        Command::Hash(args) => run_hash(args),
        Command::Store(args) => store::run(args),
        Command::Resolve(args) => return resolve::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mimidns: {e:#}");
            ExitCode::from(2)
        }
    }
}
