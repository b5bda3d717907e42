//! `mimidns resolve`: discovery as a messaging client does it — normalize,
//! hash, query TXT and SVCB at the hashed name (through the system resolver or
//! a given server), join them through `target`, look up the targets'
//! addresses, and list the providers by priority.
//! Exit codes: 0 found, 1 not found, 2 error.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use hickory_proto::rr::{RData, RecordType};
use hickory_resolver::Resolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use serde::Serialize;

use crate::identifier::hash_identifier;
use crate::mapping::{Mapping, mappings_from_rdatas};
use crate::rrset::rdata_to_wire;

#[derive(clap::Args)]
pub struct ResolveArgs {
    /// Phone number (+E.164), email address, mimi:// URI or hash:<label>.
    identifier: String,
    /// The discovery zone.
    #[arg(long)]
    zone: String,
    /// Ask this server (ADDR or ADDR:PORT; port 53 if none) instead of the system resolver.
    #[arg(long, value_parser = super::parse_server)]
    server: Option<SocketAddr>,
    /// The discovery label under the zone apex.
    #[arg(long, default_value = "_mimi")]
    label: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl ResolveArgs {
    pub fn json(&self) -> bool {
        self.json
    }
}

#[derive(Serialize)]
struct Provider {
    #[serde(flatten)]
    mapping: Mapping,
    addresses: Vec<IpAddr>,
}

#[derive(Serialize)]
struct Discovery {
    identifier: String,
    owner: String,
    providers: Vec<Provider>,
}

fn resolver(server: Option<SocketAddr>) -> anyhow::Result<Resolver<TokioRuntimeProvider>> {
    let mut options = ResolverOpts::default();
    options.attempts = 2;
    options.timeout = std::time::Duration::from_secs(2);
    let builder = match server {
        Some(address) => {
            let mut name_server = NameServerConfig::udp_and_tcp(address.ip());
            for connection in &mut name_server.connections {
                connection.port = address.port();
            }
            Resolver::builder_with_config(
                ResolverConfig::from_name_servers(vec![name_server]),
                TokioRuntimeProvider::default(),
            )
        }
        None => Resolver::builder_tokio()?,
    };
    Ok(builder.with_options(options).build()?)
}

enum Outcome {
    Found(Discovery),
    NotFound(String),
}

async fn discover(args: &ResolveArgs) -> anyhow::Result<Outcome> {
    let hashed = hash_identifier(&args.identifier)?;
    let owner = format!(
        "{}.{}.{}.",
        hashed.label,
        args.label,
        args.zone.trim_end_matches('.')
    );
    let resolver = resolver(args.server)?;
    let absent = |e: &hickory_resolver::net::NetError| e.is_nx_domain() || e.is_no_records_found();
    let txt = match resolver.lookup(owner.as_str(), RecordType::TXT).await {
        Ok(lookup) => lookup,
        Err(e) if absent(&e) => return Ok(Outcome::NotFound(owner)),
        Err(e) => return Err(e.into()),
    };
    let svcb = match resolver.lookup(owner.as_str(), RecordType::SVCB).await {
        Ok(lookup) => lookup.answers().to_vec(),
        Err(e) if absent(&e) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let wire =
        |records: &[hickory_proto::rr::Record], wanted: fn(&RData) -> bool| -> Vec<Vec<u8>> {
            records
                .iter()
                .filter(|r| wanted(&r.data))
                .filter_map(|r| rdata_to_wire(&r.data).ok())
                .collect()
        };
    let txt_wire = wire(txt.answers(), |d| matches!(d, RData::TXT(_)));
    let svcb_wire = wire(&svcb, |d| matches!(d, RData::SVCB(_)));
    let mut mappings = mappings_from_rdatas(
        svcb_wire.iter().map(Vec::as_slice),
        txt_wire.iter().map(Vec::as_slice),
    );
    if mappings.is_empty() {
        return Ok(Outcome::NotFound(owner));
    }
    mappings.sort_by_key(|m| m.priority);
    let mut providers = Vec::with_capacity(mappings.len());
    for mapping in mappings {
        let addresses = match resolver.lookup_ip(format!("{}.", mapping.target)).await {
            Ok(lookup) => lookup.iter().collect(),
            Err(_) => Vec::new(),
        };
        providers.push(Provider { mapping, addresses });
    }
    Ok(Outcome::Found(Discovery {
        identifier: hashed.reference(),
        owner,
        providers,
    }))
}

pub fn run(args: ResolveArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("mimidns: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(discover(&args)) {
        Ok(Outcome::Found(discovery)) => {
            if args.json {
                println!("{}", serde_json::to_string(&discovery).unwrap_or_default());
            } else {
                println!("{} ({})", discovery.identifier, discovery.owner);
                for (rank, provider) in discovery.providers.iter().enumerate() {
                    let m = &provider.mapping;
                    let port = m.port.map(|p| format!(":{p}")).unwrap_or_default();
                    let addresses: Vec<String> =
                        provider.addresses.iter().map(IpAddr::to_string).collect();
                    println!(
                        "{}. {} (priority {})  ssi {}  endpoint {}{} alpn {}  addresses {}{}",
                        rank + 1,
                        m.provider,
                        m.priority,
                        m.ssi,
                        m.target,
                        port,
                        m.alpn.join(","),
                        if addresses.is_empty() {
                            "-".into()
                        } else {
                            addresses.join(", ")
                        },
                        if m.tags.is_empty() {
                            String::new()
                        } else {
                            format!("  tags {}", m.tags.join(","))
                        }
                    );
                }
            }
            ExitCode::SUCCESS
        }
        Ok(Outcome::NotFound(owner)) => {
            if args.json {
                println!("{}", serde_json::json!({ "owner": owner, "providers": [] }));
            } else {
                eprintln!("not found: nothing is published at {owner}");
            }
            ExitCode::from(1)
        }
        Err(e) => {
            super::report_error(&e, args.json);
            ExitCode::from(2)
        }
    }
}
