//! `mimidns admin`: the admin API from the command line.
//!
//! Identifiers are normalized and hashed here, before anything is sent: only
//! `hash:<label>` crosses the socket. `import` streams NDJSON in batches with
//! a progress bar; a bad line is reported with its number and skipped.

use std::collections::{HashSet, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use hyper::Method;

use crate::admin::api::{
    Batch, BatchOperation, IdentifierRecord, PutIdentifier, PutRrset, RrsetRecord, WriteResult,
    ZoneSummary,
};
use crate::admin::client::{AdminClient, ClientError, encode_segment};
use crate::identifier::hash_identifier;
use crate::mapping::{Mapping, validate_mappings};

#[derive(clap::Args)]
pub struct AdminArgs {
    /// The admin socket (default: from the configuration — --config,
    /// $MIMIDNS_CONFIG or /etc/mimidns/mimidns.toml — else ./data/admin.sock).
    #[arg(long, global = true)]
    socket: Option<PathBuf>,
    /// Configuration file to take the socket path from (default
    /// $MIMIDNS_CONFIG, else /etc/mimidns/mimidns.toml if it exists).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Print JSON on reads.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(clap::Subcommand)]
enum AdminCommand {
    /// List the served zones with their serials and identifier counts.
    Zones,
    /// Publish an identifier's mapping (replaces its set; --add appends).
    Put(PutArgs),
    /// Show an identifier's mappings.
    Get(IdentifierArgs),
    /// Remove an identifier and all its mappings.
    Delete(IdentifierArgs),
    /// Import identifiers from NDJSON: {"identifier": …, "mappings": [ … ]} per line.
    Import(ImportArgs),
    /// Export every identifier of a zone as NDJSON (hashed; plaintext is never stored).
    Export(ZoneArg),
    /// Read the configuration and the zone files again (as SIGHUP does).
    Reload,
    /// What the server has done: queries, responses, limits, writes, zones.
    Stats,
    /// Write a consistent copy of every zone (export at one serial, zone
    /// file, manifest) into a new directory, while the server serves.
    Backup {
        /// Directory to create (it must not exist, or be empty).
        directory: PathBuf,
    },
    /// Records other than identifiers (A, AAAA, NS, SVCB, DNAME, …) kept
    /// through the admin API.
    #[command(subcommand)]
    Rrsets(RrsetCommand),
}

#[derive(clap::Subcommand)]
enum RrsetCommand {
    /// List the RRsets written through the admin API.
    List(ZoneArg),
    /// Show one RRset (also the zone file's).
    Get(RrsetTarget),
    /// Replace one RRset: each RDATA argument is one record's data.
    Put {
        #[command(flatten)]
        target: RrsetTarget,
        #[arg(long, default_value_t = 300)]
        ttl: u32,
        /// Record data in presentation form, one argument per record.
        #[arg(required = true)]
        rdata: Vec<String>,
    },
    /// Remove one RRset written through the admin API.
    Delete(RrsetTarget),
}

#[derive(clap::Args)]
struct RrsetTarget {
    /// Owner name: absolute with a final dot, or relative to the zone (`@` is the apex).
    name: String,
    /// Record type (A, AAAA, TXT, SVCB, …).
    record_type: String,
    #[command(flatten)]
    zone: ZoneArg,
}

#[derive(clap::Args)]
struct ZoneArg {
    /// Zone (default: the only served zone).
    #[arg(long)]
    zone: Option<String>,
}

#[derive(clap::Args)]
struct IdentifierArgs {
    /// Phone number (+E.164), email address, mimi:// URI or hash:<label>.
    identifier: String,
    #[command(flatten)]
    zone: ZoneArg,
}

#[derive(clap::Args)]
struct PutArgs {
    #[command(flatten)]
    target: IdentifierArgs,
    /// The messaging provider's domain.
    #[arg(long)]
    provider: String,
    /// The person's service-specific identifier at the provider.
    #[arg(long)]
    ssi: String,
    /// The provider's endpoint host.
    #[arg(long = "target")]
    endpoint: String,
    #[arg(long)]
    port: Option<u16>,
    /// ALPN protocol id; repeat for several (default h2).
    #[arg(long)]
    alpn: Vec<String>,
    /// 1..65535, lower is preferred.
    #[arg(long, default_value_t = 1)]
    priority: u16,
    /// A tag; repeat for several.
    #[arg(long)]
    tag: Vec<String>,
    /// Append to the identifier's mappings instead of replacing them.
    #[arg(long)]
    add: bool,
}

#[derive(clap::Args)]
struct ImportArgs {
    /// NDJSON file ("-" for standard input).
    file: PathBuf,
    #[command(flatten)]
    zone: ZoneArg,
    /// Identifiers per atomic batch.
    #[arg(long, default_value_t = 5000)]
    batch_size: usize,
}

impl AdminArgs {
    pub fn json(&self) -> bool {
        self.json
    }
}

struct Admin {
    client: AdminClient,
    json: bool,
}

impl Admin {
    async fn zones(&self) -> Result<Vec<ZoneSummary>, ClientError> {
        self.client
            .call(Method::GET, "/v1/zones", None::<&()>)
            .await
    }

    async fn zone(&self, zone: &ZoneArg) -> anyhow::Result<ZoneSummary> {
        let zones = self.zones().await?;
        match &zone.zone {
            Some(wanted) => {
                let wanted = wanted.trim_end_matches('.').to_ascii_lowercase();
                zones
                    .into_iter()
                    .find(|z| z.origin.trim_end_matches('.') == wanted)
                    .with_context(|| format!("zone {wanted} is not served"))
            }
            None if zones.len() == 1 => Ok(zones.into_iter().next().context("one zone")?),
            None => bail!("{} zones are served; choose one with --zone", zones.len()),
        }
    }

    fn identifier_path(zone: &ZoneSummary, reference: &str) -> String {
        format!(
            "/v1/zones/{}/identifiers/{}",
            encode_segment(&zone.origin),
            encode_segment(reference)
        )
    }

    fn print_record(&self, record: &IdentifierRecord) -> anyhow::Result<()> {
        if self.json {
            println!("{}", serde_json::to_string(record)?);
            return Ok(());
        }
        println!("{} ({})", record.identifier, record.owner);
        let mut mappings = record.mappings.clone();
        mappings.sort_by_key(|m| m.priority);
        for m in mappings {
            let port = m.port.map(|p| format!(":{p}")).unwrap_or_default();
            let tags = if m.tags.is_empty() {
                String::new()
            } else {
                format!(" tags {}", m.tags.join(","))
            };
            println!(
                "  {:>5}  {}  ssi {}  via {}{} alpn {}{}",
                m.priority,
                m.provider,
                m.ssi,
                m.target,
                port,
                m.alpn.join(","),
                tags
            );
        }
        Ok(())
    }
}

/// Reports an identifier with nothing published; exit code 1.
fn not_found(zone: &ZoneSummary, json: bool) -> ExitCode {
    let message = format!(
        "not found: no mappings are published for this identifier in {}",
        zone.origin
    );
    if json {
        eprintln!(
            "{}",
            serde_json::json!({ "error": message, "code": "not_found" })
        );
    } else {
        eprintln!("{message}");
    }
    ExitCode::from(1)
}

fn print_write(result: &WriteResult, json: bool, what: &str) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(result)?);
    } else {
        println!(
            "{what} {} (zone serial {})",
            result.identifier.as_deref().unwrap_or(""),
            result.serial
        );
    }
    Ok(())
}

async fn run_async(args: AdminArgs) -> anyhow::Result<ExitCode> {
    let socket = match args.socket {
        Some(socket) => socket,
        None => super::default_socket(args.config.as_ref())?,
    };
    let admin = Admin {
        client: AdminClient::new(&socket),
        json: args.json,
    };
    match args.command {
        AdminCommand::Zones => {
            let zones = admin.zones().await?;
            if admin.json {
                println!("{}", serde_json::to_string(&zones)?);
            } else {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                for zone in zones {
                    let changed = match (zone.last_change_source, zone.last_change_unix) {
                        (Some(source), Some(at)) => format!(
                            "  changed by {} {} s ago",
                            serde_json::to_value(source)?.as_str().unwrap_or("?"),
                            now.saturating_sub(at)
                        ),
                        _ => String::new(),
                    };
                    println!(
                        "{}  serial {}  identifiers {}  label {}  ttl {}{changed}",
                        zone.origin, zone.serial, zone.identifiers, zone.discovery_label, zone.ttl
                    );
                }
            }
        }
        AdminCommand::Stats => {
            let stats: crate::metrics::Stats = admin
                .client
                .call(Method::GET, "/v1/stats", None::<&()>)
                .await?;
            if admin.json {
                println!("{}", serde_json::to_string(&stats)?);
            } else {
                print_stats(&stats);
            }
        }
        AdminCommand::Backup { directory } => {
            let manifest = backup(&admin, &directory).await?;
            if admin.json {
                println!("{}", serde_json::to_string(&manifest)?);
            } else {
                for zone in &manifest.zones {
                    println!(
                        "{}  serial {}  {} identifiers  -> {}, {}",
                        zone.origin,
                        zone.serial,
                        zone.identifiers,
                        zone.export,
                        zone.zone_file.as_deref().unwrap_or("(no zone file)")
                    );
                }
                println!("backup written to {}", directory.display());
            }
        }
        AdminCommand::Put(put) => {
            let zone = admin.zone(&put.target.zone).await?;
            let reference = hash_identifier(&put.target.identifier)?.reference();
            let path = Admin::identifier_path(&zone, &reference);
            let mapping = Mapping {
                provider: put.provider,
                ssi: put.ssi,
                target: put.endpoint,
                port: put.port,
                alpn: if put.alpn.is_empty() {
                    vec![crate::mapping::DEFAULT_ALPN.into()]
                } else {
                    put.alpn
                },
                priority: put.priority,
                tags: put.tag,
            };
            let body = PutIdentifier {
                mappings: vec![mapping],
            };
            // --add appends on the server, under its write lock: two
            // concurrent appends both land.
            let result: WriteResult = if put.add {
                let append = format!("{path}/mappings");
                admin
                    .client
                    .call(Method::POST, &append, Some(&body))
                    .await?
            } else {
                admin.client.call(Method::PUT, &path, Some(&body)).await?
            };
            print_write(&result, admin.json, "published")?;
        }
        AdminCommand::Get(get) => {
            let zone = admin.zone(&get.zone).await?;
            let reference = hash_identifier(&get.identifier)?.reference();
            match admin
                .client
                .call::<IdentifierRecord>(
                    Method::GET,
                    &Admin::identifier_path(&zone, &reference),
                    None::<&()>,
                )
                .await
            {
                Ok(record) => admin.print_record(&record)?,
                Err(e) if e.status() == Some(404) => return Ok(not_found(&zone, admin.json)),
                Err(e) => return Err(e.into()),
            }
        }
        AdminCommand::Delete(delete) => {
            let zone = admin.zone(&delete.zone).await?;
            let reference = hash_identifier(&delete.identifier)?.reference();
            match admin
                .client
                .call::<WriteResult>(
                    Method::DELETE,
                    &Admin::identifier_path(&zone, &reference),
                    None::<&()>,
                )
                .await
            {
                Ok(result) => print_write(&result, admin.json, "deleted")?,
                Err(e) if e.status() == Some(404) => return Ok(not_found(&zone, admin.json)),
                Err(e) => return Err(e.into()),
            }
        }
        AdminCommand::Import(import) => return run_import(&admin, import).await,
        AdminCommand::Rrsets(command) => return run_rrsets(&admin, command).await,
        AdminCommand::Reload => {
            let report: crate::reload::ReloadReport = admin
                .client
                .call(Method::POST, "/v1/reload", None::<&()>)
                .await?;
            if admin.json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                for zone in &report.zones {
                    match &zone.problem {
                        None => println!(
                            "{}  serial {}  {}",
                            zone.origin,
                            zone.serial,
                            if zone.changed { "changed" } else { "unchanged" }
                        ),
                        Some(problem) => println!(
                            "{}  NOT RELOADED ({}): {problem}",
                            zone.origin,
                            if zone.served {
                                "still served as before"
                            } else {
                                "not served"
                            }
                        ),
                    }
                }
                for setting in &report.restart_needed {
                    println!("{setting}: changed; takes effect on restart");
                }
            }
            if report.zones.iter().any(|z| z.problem.is_some()) {
                return Ok(ExitCode::from(1));
            }
        }
        AdminCommand::Export(zone) => {
            let zone = admin.zone(&zone).await?;
            let (status, body) = admin
                .client
                .request(
                    Method::GET,
                    &format!("/v1/zones/{}/export", encode_segment(&zone.origin)),
                    None,
                )
                .await?;
            if !status.is_success() {
                bail!(
                    "export failed ({status}): {}",
                    String::from_utf8_lossy(&body)
                );
            }
            std::io::stdout().write_all(&body)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Batches sent and not yet acknowledged, oldest first, with their labels.
/// The server validates and commits one while the next is read and checked
/// here, and the next one's validation overlaps the fsync of the one
/// before: the import is not serialized on the round trip.
struct InFlight {
    batches: VecDeque<(
        tokio::task::JoinHandle<anyhow::Result<usize>>,
        HashSet<String>,
    )>,
    imported: usize,
}

/// Batches the import keeps in flight at once.
const BATCHES_IN_FLIGHT: usize = 2;

impl InFlight {
    /// Waits for the oldest batch; its error ends the import.
    async fn settle_oldest(&mut self) -> anyhow::Result<()> {
        if let Some((task, _)) = self.batches.pop_front() {
            self.imported += task.await.context("the import task failed")??;
        }
        Ok(())
    }

    async fn settle_all(&mut self) -> anyhow::Result<()> {
        let mut first_error = None;
        while !self.batches.is_empty() {
            if let Err(e) = self.settle_oldest().await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Whether a batch in flight holds this label: a later write of the same
    /// identifier must wait for it, or the two could commit out of order.
    fn holds(&self, label: &str) -> bool {
        self.batches
            .iter()
            .any(|(_, labels)| labels.contains(label))
    }
}

/// Sends the pending operations as one atomic batch without waiting for the
/// answer (at most [`BATCHES_IN_FLIGHT`] are outstanding).
async fn send_batch(
    admin: &Admin,
    zone: &ZoneSummary,
    operations: &mut Vec<BatchOperation>,
    labels: &mut HashSet<String>,
    in_flight: &mut InFlight,
) -> anyhow::Result<()> {
    if operations.is_empty() {
        return Ok(());
    }
    while in_flight.batches.len() >= BATCHES_IN_FLIGHT {
        in_flight.settle_oldest().await?;
    }
    let batch = Batch {
        operations: std::mem::take(operations),
    };
    let path = format!("/v1/zones/{}/batch", encode_segment(&zone.origin));
    let client = admin.client.clone();
    let task = tokio::spawn(async move {
        let result: WriteResult = client.call(Method::POST, &path, Some(&batch)).await?;
        Ok(result.applied)
    });
    in_flight.batches.push_back((task, std::mem::take(labels)));
    Ok(())
}

/// An export line holding an RRset written through the rrsets API.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RrsetLine {
    rrset: RrsetRecord,
}

fn rrset_path(zone: &ZoneSummary, name: &str, record_type: &str) -> String {
    format!(
        "/v1/zones/{}/rrsets/{}/{}",
        encode_segment(&zone.origin),
        encode_segment(name),
        encode_segment(&record_type.to_ascii_uppercase())
    )
}

fn print_rrset(record: &RrsetRecord, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(record)?);
    } else {
        for rdata in &record.rdata {
            println!(
                "{} {} IN {} {}  ; {}",
                record.name, record.ttl, record.record_type, rdata, record.source
            );
        }
    }
    Ok(())
}

async fn run_rrsets(admin: &Admin, command: RrsetCommand) -> anyhow::Result<ExitCode> {
    match command {
        RrsetCommand::List(zone) => {
            let zone = admin.zone(&zone).await?;
            let path = format!("/v1/zones/{}/rrsets", encode_segment(&zone.origin));
            let records: Vec<RrsetRecord> =
                admin.client.call(Method::GET, &path, None::<&()>).await?;
            if admin.json {
                println!("{}", serde_json::to_string(&records)?);
            } else {
                for record in &records {
                    print_rrset(record, false)?;
                }
            }
        }
        RrsetCommand::Get(target) => {
            let zone = admin.zone(&target.zone).await?;
            let path = rrset_path(&zone, &target.name, &target.record_type);
            match admin
                .client
                .call::<RrsetRecord>(Method::GET, &path, None::<&()>)
                .await
            {
                Ok(record) => print_rrset(&record, admin.json)?,
                Err(e) if e.status() == Some(404) => {
                    let message = format!(
                        "not found: no {} RRset at {}",
                        target.record_type, target.name
                    );
                    if admin.json {
                        eprintln!(
                            "{}",
                            serde_json::json!({ "error": message, "code": "not_found" })
                        );
                    } else {
                        eprintln!("{message}");
                    }
                    return Ok(ExitCode::from(1));
                }
                Err(e) => return Err(e.into()),
            }
        }
        RrsetCommand::Put { target, ttl, rdata } => {
            let zone = admin.zone(&target.zone).await?;
            let path = rrset_path(&zone, &target.name, &target.record_type);
            let body = PutRrset { ttl, rdata };
            let result: WriteResult = admin.client.call(Method::PUT, &path, Some(&body)).await?;
            print_write(&result, admin.json, "replaced")?;
        }
        RrsetCommand::Delete(target) => {
            let zone = admin.zone(&target.zone).await?;
            let path = rrset_path(&zone, &target.name, &target.record_type);
            let result: WriteResult = admin
                .client
                .call(Method::DELETE, &path, None::<&()>)
                .await?;
            print_write(&result, admin.json, "deleted")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_import(admin: &Admin, import: ImportArgs) -> anyhow::Result<ExitCode> {
    let zone = admin.zone(&import.zone).await?;
    let batch_size = import
        .batch_size
        .clamp(1, crate::admin::service::MAX_BATCH_OPERATIONS);
    let (reader, size): (Box<dyn BufRead>, u64) = if import.file.as_os_str() == "-" {
        (Box::new(BufReader::new(std::io::stdin())), 0)
    } else {
        let file = std::fs::File::open(&import.file)
            .with_context(|| format!("cannot open {}", import.file.display()))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        (Box::new(BufReader::with_capacity(1 << 20, file)), size)
    };
    let progress = indicatif::ProgressBar::new(size);
    progress.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(4));
    progress.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let mut rejected = 0usize;
    let mut operations = Vec::with_capacity(batch_size);
    let mut labels = HashSet::with_capacity(batch_size);
    let mut in_flight = InFlight {
        batches: VecDeque::with_capacity(BATCHES_IN_FLIGHT),
        imported: 0,
    };
    let mut rrsets: Vec<(usize, RrsetRecord)> = Vec::new();
    let outcome = async {
        for (index, line) in reader.lines().enumerate() {
            let number = index + 1;
            let line = line.with_context(|| format!("line {number}: cannot read"))?;
            progress.inc(line.len() as u64 + 1);
            if line.trim().is_empty() {
                continue;
            }
            // `{"rrset": …}` lines (from `admin export`): records written
            // through the rrsets API, put back after the identifiers.
            if let Ok(RrsetLine { rrset }) = serde_json::from_str::<RrsetLine>(&line) {
                rrsets.push((number, rrset));
                continue;
            }
            let checked = serde_json::from_str::<IdentifierRecord>(&line)
                .map_err(|e| {
                    format!(
                        "not a JSON object with \"identifier\" and \"mappings\" (column {})",
                        e.column()
                    )
                })
                .and_then(|record| {
                    let hashed = hash_identifier(&record.identifier).map_err(|e| e.to_string())?;
                    validate_mappings(&record.mappings, zone.max_mappings)
                        .map_err(|e| e.to_string())?;
                    Ok((hashed, record.mappings))
                });
            let (hashed, mappings) = match checked {
                Ok(ok) => ok,
                Err(message) => {
                    rejected += 1;
                    progress.suspend(|| eprintln!("line {number}: {message}"));
                    continue;
                }
            };
            if labels.contains(&hashed.label) {
                // The same identifier twice in one batch is refused by the server: send what we have.
                send_batch(admin, &zone, &mut operations, &mut labels, &mut in_flight).await?;
            }
            if in_flight.holds(&hashed.label) {
                in_flight.settle_all().await?;
            }
            labels.insert(hashed.label.clone());
            operations.push(BatchOperation::Put {
                identifier: hashed.reference(),
                mappings,
            });
            if operations.len() >= batch_size {
                send_batch(admin, &zone, &mut operations, &mut labels, &mut in_flight).await?;
                progress.set_message(format!("{} imported", in_flight.imported));
            }
        }
        send_batch(admin, &zone, &mut operations, &mut labels, &mut in_flight).await
    }
    .await;
    // Every batch sent is answered before the import reports, even after an error.
    let settled = in_flight.settle_all().await;
    let imported = in_flight.imported;
    if let Err(e) = outcome.and(settled) {
        progress.finish_and_clear();
        return Err(e.context(format!(
            "import stopped; {imported} identifiers were imported before the failure"
        )));
    }
    progress.finish_and_clear();
    let mut rrsets_imported = 0usize;
    for (number, record) in rrsets {
        let path = rrset_path(&zone, &record.name, &record.record_type);
        let body = PutRrset {
            ttl: record.ttl,
            rdata: record.rdata,
        };
        match admin
            .client
            .call::<WriteResult>(Method::PUT, &path, Some(&body))
            .await
        {
            Ok(_) => rrsets_imported += 1,
            Err(e) => {
                rejected += 1;
                eprintln!("line {number}: {e}");
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "imported {imported} identifiers and {rrsets_imported} RRsets into {} in {seconds:.1} s ({:.0} identifiers/s); {rejected} lines rejected",
        zone.origin,
        imported as f64 / seconds.max(1e-9)
    );
    Ok(if rejected == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn run(args: AdminArgs) -> anyhow::Result<ExitCode> {
    // One worker besides the caller's thread: an import's batches in flight
    // keep moving while the caller reads and checks the next lines.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(run_async(args))
}

fn print_stats(stats: &crate::metrics::Stats) {
    let join = |map: &std::collections::BTreeMap<String, u64>| {
        map.iter()
            .map(|(key, value)| format!("{key} {value}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("queries:       {}", join(&stats.queries));
    println!("  by type:     {}", join(&stats.queries_by_type));
    println!("responses:     {}", join(&stats.responses_by_rcode));
    println!("unanswered:    {}", stats.unanswered);
    println!(
        "rate limit:    {} truncated (slip), {} dropped, {} refused (negative-answer budget)",
        stats.rrl_truncated, stats.rrl_dropped, stats.budget_refused
    );
    println!("answer cache:  {} hits", stats.answer_cache_hits);
    println!(
        "udp dropped:   {} from port 0, {} failed sends",
        stats.udp_port_zero_dropped, stats.udp_send_failed
    );
    println!(
        "tcp refused:   {} over the global cap, {} over the per-prefix cap",
        stats.tcp_refused_global_cap, stats.tcp_refused_prefix_cap
    );
    println!(
        "transfers:     {} AXFR, {} IXFR, {} refused; NOTIFY {} acknowledged, {} failed",
        stats.transfers_axfr,
        stats.transfers_ixfr,
        stats.transfers_refused,
        stats.notify_acknowledged,
        stats.notify_failed
    );
    println!(
        "admin writes:  {} ({} failed)",
        stats.admin_writes, stats.admin_write_failures
    );
    println!(
        "memory index:  {}",
        if stats.index_ready {
            "ready"
        } else {
            "not ready"
        }
    );
    for zone in &stats.zones {
        println!(
            "zone {}  serial {}  identifiers {}",
            zone.origin, zone.serial, zone.identifiers
        );
    }
}

/// What `admin backup` wrote: `manifest.json` in the backup directory.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct BackupManifest {
    pub mimidns_version: String,
    pub created_unix: u64,
    pub zones: Vec<BackupZone>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct BackupZone {
    pub origin: String,
    /// The serial the export was taken at (admin writes were held meanwhile).
    pub serial: u32,
    pub identifiers: u64,
    /// File names inside the backup directory.
    pub export: String,
    /// `None` for a zone without a zone file (a secondary zone: its
    /// primary has the source; the export holds its content).
    pub zone_file: Option<String>,
    pub export_sha256: String,
    pub zone_file_sha256: Option<String>,
}

/// Writes `content` to `path` and makes it durable.
fn write_durably(path: &std::path::Path, content: &[u8]) -> anyhow::Result<()> {
    let mut file =
        std::fs::File::create_new(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(content)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(bytes))
}

/// `admin backup DIR`: per zone, the export at one serial (the server holds
/// admin writes while it is read; queries go on) and the zone file, then a
/// manifest. Restore: put the zone files in the zones directory, start the
/// server, `admin import --zone Z Z.ndjson`.
async fn backup(admin: &Admin, directory: &std::path::Path) -> anyhow::Result<BackupManifest> {
    if directory.exists() {
        let mut entries = std::fs::read_dir(directory)
            .with_context(|| format!("reading {}", directory.display()))?;
        if entries.next().is_some() {
            bail!(
                "{} exists and is not empty; a backup goes into a new directory",
                directory.display()
            );
        }
    }
    std::fs::create_dir_all(directory)
        .with_context(|| format!("creating {}", directory.display()))?;
    let mut manifest = BackupManifest {
        mimidns_version: crate::cli::VERSION.to_string(),
        created_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        zones: Vec::new(),
    };
    for zone in admin.zones().await? {
        let segment = encode_segment(&zone.origin);
        let (status, headers, export) = admin
            .client
            .request_with_headers(
                Method::GET,
                &format!("/v1/zones/{segment}/export?consistent=true"),
                None,
            )
            .await?;
        if !status.is_success() {
            bail!(
                "export of {} failed ({status}): {}",
                zone.origin,
                String::from_utf8_lossy(&export)
            );
        }
        let serial = headers
            .get(crate::admin::http::SERIAL_HEADER)
            .and_then(|value| value.to_str().ok()?.parse().ok())
            .context("the server did not say which serial the export is")?;
        let (status, zone_file) = admin
            .client
            .request(Method::GET, &format!("/v1/zones/{segment}/zone-file"), None)
            .await?;
        let zone_file = if status == hyper::StatusCode::NOT_FOUND {
            None
        } else if status.is_success() {
            Some(zone_file)
        } else {
            bail!(
                "zone file of {} could not be read ({status}): {}",
                zone.origin,
                String::from_utf8_lossy(&zone_file)
            );
        };
        let base = zone.origin.trim_end_matches('.');
        let export_name = format!("{base}.ndjson");
        let zone_file_name = format!("{base}.zone");
        write_durably(&directory.join(&export_name), &export)?;
        if let Some(zone_file) = &zone_file {
            write_durably(&directory.join(&zone_file_name), zone_file)?;
        }
        let identifiers = export
            .split(|&b| b == b'\n')
            .filter(|line| line.starts_with(b"{\"identifier\""))
            .count() as u64;
        manifest.zones.push(BackupZone {
            origin: zone.origin.clone(),
            serial,
            identifiers,
            export: export_name,
            zone_file: zone_file.as_ref().map(|_| zone_file_name),
            export_sha256: sha256_hex(&export),
            zone_file_sha256: zone_file.as_deref().map(sha256_hex),
        });
    }
    let text = serde_json::to_vec_pretty(&manifest)?;
    write_durably(&directory.join("manifest.json"), &text)?;
    std::fs::File::open(directory)
        .and_then(|dir| dir.sync_all())
        .with_context(|| format!("syncing {}", directory.display()))?;
    Ok(manifest)
}
