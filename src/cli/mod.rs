//! The `mimidns` command line: `serve`, `admin`, `hash`, `resolve`, `store` and `tsig`.
//!
//! Flags are parsed here with clap; each subcommand lives in its own module.
//! This is an edge of the program: errors are `anyhow` here, with exit codes
//! chosen per command (resolve: 0 found, 1 not found, 2 error).

pub mod admin;
pub mod keys;
pub mod resolve;
pub mod serve;
pub mod store;
pub mod tsig;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::identifier::{IdentifierKind, hash_label, normalize};

/// The version with the git revision it was built from (build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("MIMIDNS_GIT_REVISION"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "mimidns",
    version = VERSION,
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
    /// TSIG keys for zone transfers and NOTIFY.
    Tsig(tsig::TsigArgs),
    /// DNSSEC zone signing keys.
    Keys(keys::KeysArgs),
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

/// Where the packaged server reads its configuration (deploy/mimidns.service).
pub const SYSTEM_CONFIG: &str = "/etc/mimidns/mimidns.toml";

/// The configuration file the admin commands take the socket path from:
/// `--config`, else `$MIMIDNS_CONFIG`, else the system one if it exists.
fn admin_config_file(config: Option<&PathBuf>) -> Option<PathBuf> {
    config
        .cloned()
        .or_else(|| std::env::var_os("MIMIDNS_CONFIG").map(PathBuf::from))
        .or_else(|| {
            let system = PathBuf::from(SYSTEM_CONFIG);
            system.exists().then_some(system)
        })
}

/// The admin socket when --socket is not given: the configuration's
/// (see [`admin_config_file`]), else `./data/admin.sock`.
pub fn default_socket(config: Option<&PathBuf>) -> anyhow::Result<PathBuf> {
    let file = admin_config_file(config);
    let config =
        crate::config::Config::load(file.as_deref(), &crate::config::Overrides::default())?;
    Ok(config.admin_socket())
}

/// `--server` values: an address with or without a port (53 by default).
pub fn parse_server(text: &str) -> Result<std::net::SocketAddr, String> {
    if let Ok(address) = text.parse::<std::net::SocketAddr>() {
        return Ok(address);
    }
    let bare = text.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<std::net::IpAddr>()
        .map(|ip| std::net::SocketAddr::new(ip, 53))
        .map_err(|_| format!("'{text}' is not an address (ADDR or ADDR:PORT)"))
}

/// Prints an error for a person, or as JSON (`{"error": …}`) with --json.
pub fn report_error(error: &anyhow::Error, json: bool) {
    if json {
        let code = error
            .downcast_ref::<crate::admin::client::ClientError>()
            .and_then(|e| match e {
                crate::admin::client::ClientError::Api { error, .. } => Some(error.code.clone()),
                _ => None,
            });
        eprintln!(
            "{}",
            serde_json::json!({ "error": format!("{error:#}"), "code": code })
        );
    } else {
        eprintln!("mimidns: {error:#}");
    }
}

/// Runs the command line; returns the process exit code.
pub fn main() -> ExitCode {
    crate::panic_guard::install_redacting_hook();
    let cli = Cli::parse();
    let json = match &cli.command {
        Command::Admin(args) => args.json(),
        Command::Hash(args) => args.json,
        Command::Resolve(args) => args.json(),
        Command::Serve(_) | Command::Store(_) | Command::Tsig(_) | Command::Keys(_) => false,
    };
    if !matches!(cli.command, Command::Serve(_)) {
        // A command whose reader went away (`| head`) ends quietly, as Unix
        // tools do, instead of panicking on the write. The server keeps
        // ignoring SIGPIPE: a closed client socket must not end it.
        // SAFETY: restores the default disposition of one signal before any
        // thread is started.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Admin(args) => admin::run(args),
        Command::Hash(args) => run_hash(args),
        Command::Store(args) => store::run(args),
        Command::Tsig(args) => tsig::run(args),
        Command::Keys(args) => keys::run(args),
        Command::Resolve(args) => return resolve::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            report_error(&e, json);
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_default_to_port_53() {
        assert_eq!(
            parse_server("127.0.0.1"),
            Ok("127.0.0.1:53".parse().expect("a"))
        );
        assert_eq!(
            parse_server("127.0.0.1:5353"),
            Ok("127.0.0.1:5353".parse().expect("a"))
        );
        assert_eq!(parse_server("::1"), Ok("[::1]:53".parse().expect("a")));
        assert_eq!(parse_server("[::1]"), Ok("[::1]:53".parse().expect("a")));
        assert_eq!(parse_server("[::1]:54"), Ok("[::1]:54".parse().expect("a")));
        assert!(parse_server("example.org").is_err());
    }
}
