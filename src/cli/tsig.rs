//! `mimidns tsig generate NAME`: a new random TSIG key, printed in the
//! formats mimidns, Knot, NSD and BIND read, so one secret can be pasted
//! into the primary and every secondary. The secret goes to stdout only.

use std::process::ExitCode;

use crate::tsig::{Algorithm, TsigKey};

#[derive(clap::Args)]
pub struct TsigArgs {
    #[command(subcommand)]
    command: TsigCommand,
}

#[derive(clap::Subcommand)]
enum TsigCommand {
    /// Make a new key (32 random octets) and print it.
    Generate {
        /// The key's name (a domain name, e.g. xfr.discovery.example).
        name: String,
        /// hmac-sha256 or hmac-sha512.
        #[arg(long, default_value = "hmac-sha256")]
        algorithm: String,
        /// Which configuration to print: mimidns, knot, nsd, bind or all.
        #[arg(long, default_value = "all")]
        format: String,
    },
}

/// The key in one server's configuration syntax.
pub fn key_text(format: &str, name: &str, algorithm: &str, secret: &str) -> Option<String> {
    Some(match format {
        "mimidns" => format!(
            "[[tsig-key]]\nname = \"{name}\"\nalgorithm = \"{algorithm}\"\nsecret = \"{secret}\"\n"
        ),
        "knot" => {
            format!("key:\n  - id: {name}\n    algorithm: {algorithm}\n    secret: {secret}\n")
        }
        "nsd" => format!(
            "key:\n    name: \"{name}\"\n    algorithm: {algorithm}\n    secret: \"{secret}\"\n"
        ),
        "bind" => format!(
            "key \"{name}\" {{\n    algorithm {algorithm};\n    secret \"{secret}\";\n}};\n"
        ),
        _ => return None,
    })
}

pub fn run(args: TsigArgs) -> anyhow::Result<ExitCode> {
    let TsigCommand::Generate {
        name,
        algorithm,
        format,
    } = args.command;
    let algorithm = Algorithm::from_text(&algorithm).ok_or_else(|| {
        anyhow::anyhow!("--algorithm {algorithm}: use hmac-sha256 or hmac-sha512")
    })?;
    let (key, secret) = TsigKey::generate(&name, algorithm)?;
    let formats: Vec<&str> = match format.as_str() {
        "all" => vec!["mimidns", "knot", "nsd", "bind"],
        one => vec![one],
    };
    for (index, format) in formats.iter().enumerate() {
        let text = key_text(format, &key.name, algorithm.name(), &secret).ok_or_else(|| {
            anyhow::anyhow!("--format {format}: use mimidns, knot, nsd, bind or all")
        })?;
        if formats.len() > 1 {
            if index > 0 {
                println!();
            }
            let hint = match *format {
                "mimidns" => "mimidns.toml (keep it mode 0600, or put the secret in a secret-file)",
                "knot" => "knot.conf",
                "nsd" => "nsd.conf",
                _ => "named.conf",
            };
            println!("# {hint}");
        }
        print!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}
