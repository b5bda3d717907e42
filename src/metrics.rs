//! What the server counts, and how it is shown: Prometheus text exposition
//! (through `prometheus-client`) and a JSON summary for `admin stats`.
//!
//! The query path counts into [`QueryCounters`], one block per UDP worker
//! thread and one for TCP, so no cache line is shared between cores on the
//! hot path; a scrape sums the blocks. Zone serials, identifier counts and
//! the index state are read from the catalog at scrape time, not kept here.
//! Admin writes record their durable-commit latency in a histogram. This
//! module counts and encodes; it makes no decisions and opens no sockets.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde::Serialize;

use crate::catalog::Catalog;
use crate::query::Transport;
use crate::wire::rtype;

/// Query types counted by name; every other type counts as `other`.
const QTYPES: [(u16, &str); 15] = [
    (rtype::A, "A"),
    (rtype::NS, "NS"),
    (rtype::CNAME, "CNAME"),
    (rtype::SOA, "SOA"),
    (rtype::PTR, "PTR"),
    (rtype::MX, "MX"),
    (rtype::TXT, "TXT"),
    (rtype::AAAA, "AAAA"),
    (rtype::SRV, "SRV"),
    (rtype::DS, "DS"),
    (rtype::DNSKEY, "DNSKEY"),
    (rtype::SVCB, "SVCB"),
    (rtype::HTTPS, "HTTPS"),
    (rtype::AXFR, "AXFR"),
    (rtype::ANY, "ANY"),
];
const QTYPE_SLOTS: usize = QTYPES.len() + 1;

const RCODES: [&str; 16] = [
    "NOERROR",
    "FORMERR",
    "SERVFAIL",
    "NXDOMAIN",
    "NOTIMP",
    "REFUSED",
    "YXDOMAIN",
    "YXRRSET",
    "NXRRSET",
    "NOTAUTH",
    "NOTZONE",
    "DSOTYPENI",
    "RCODE12",
    "RCODE13",
    "RCODE14",
    "RCODE15",
];

fn qtype_slot(qtype: u16) -> usize {
    QTYPES
        .iter()
        .position(|&(known, _)| known == qtype)
        .unwrap_or(QTYPES.len())
}

fn qtype_label(slot: usize) -> &'static str {
    QTYPES.get(slot).map_or("other", |&(_, name)| name)
}

/// What limited responses became.
#[derive(Debug, Clone, Copy)]
pub enum Limited {
    RrlTruncated,
    RrlDropped,
    BudgetRefused,
}

/// One transport worker's counters; written by that worker only.
#[derive(Debug, Default)]
pub struct QueryCounters {
    queries: [AtomicU64; QTYPE_SLOTS],
    /// By the low four RCODE bits of the response sent.
    responses: [AtomicU64; 16],
    /// Requests that got no response at all (unreadable, or dropped).
    unanswered: AtomicU64,
    rrl_truncated: AtomicU64,
    rrl_dropped: AtomicU64,
    budget_refused: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl QueryCounters {
    pub fn query(&self, qtype: u16) {
        bump(&self.queries[qtype_slot(qtype)]);
    }

    pub fn response(&self, rcode: u16) {
        bump(&self.responses[usize::from(rcode & 0x0F)]);
    }

    pub fn unanswered(&self) {
        bump(&self.unanswered);
    }

    pub fn limited(&self, how: Limited) {
        bump(match how {
            Limited::RrlTruncated => &self.rrl_truncated,
            Limited::RrlDropped => &self.rrl_dropped,
            Limited::BudgetRefused => &self.budget_refused,
        });
    }
}

/// Connections the TCP listeners closed at once, by reason.
#[derive(Debug, Default)]
pub struct TcpRefusals {
    pub over_global_cap: AtomicU64,
    pub over_prefix_cap: AtomicU64,
}

/// Zone transfers and NOTIFYs (counted by `transfer` and `notify`).
#[derive(Debug, Default)]
pub struct TransferCounters {
    pub axfr: AtomicU64,
    pub ixfr_incremental: AtomicU64,
    pub ixfr_current: AtomicU64,
    /// Refused: not allowed, or the TSIG did not verify.
    pub refused: AtomicU64,
    pub notify_acknowledged: AtomicU64,
    pub notify_failed: AtomicU64,
}

impl TransferCounters {
    pub fn count(counter: &AtomicU64) {
        bump(counter);
    }
}

/// Every counter of one server.
pub struct Metrics {
    workers: Mutex<Vec<(Transport, Arc<QueryCounters>)>>,
    pub udp: Arc<crate::transport::udp::UdpCounters>,
    pub tcp: Arc<TcpRefusals>,
    pub transfers: Arc<TransferCounters>,
    admin_writes: Counter,
    admin_write_failures: Counter,
    admin_commit_seconds: Histogram,
    catalog: Arc<Catalog>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// The figures of `admin stats` (and `GET /v1/stats`).
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct Stats {
    pub queries: std::collections::BTreeMap<String, u64>,
    pub queries_by_type: std::collections::BTreeMap<String, u64>,
    pub responses_by_rcode: std::collections::BTreeMap<String, u64>,
    pub unanswered: u64,
    pub rrl_truncated: u64,
    pub rrl_dropped: u64,
    pub budget_refused: u64,
    pub answer_cache_hits: u64,
    pub udp_port_zero_dropped: u64,
    pub udp_send_failed: u64,
    pub tcp_refused_global_cap: u64,
    pub tcp_refused_prefix_cap: u64,
    pub transfers_axfr: u64,
    pub transfers_ixfr: u64,
    pub transfers_refused: u64,
    pub notify_acknowledged: u64,
    pub notify_failed: u64,
    pub admin_writes: u64,
    pub admin_write_failures: u64,
    pub index_ready: bool,
    pub zones: Vec<ZoneStats>,
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct ZoneStats {
    pub origin: String,
    pub serial: u32,
    pub identifiers: u64,
}

/// Sums of the per-worker blocks.
#[derive(Default)]
struct Totals {
    queries: [[u64; QTYPE_SLOTS]; 2],
    responses: [[u64; 16]; 2],
    unanswered: u64,
    rrl_truncated: u64,
    rrl_dropped: u64,
    budget_refused: u64,
}

const fn transport_index(transport: Transport) -> usize {
    match transport {
        Transport::Udp => 0,
        Transport::Tcp => 1,
    }
}

const TRANSPORTS: [&str; 2] = [Transport::Udp.label(), Transport::Tcp.label()];

impl Metrics {
    pub fn new(catalog: Arc<Catalog>) -> Self {
        Self {
            workers: Mutex::new(Vec::new()),
            udp: Arc::default(),
            tcp: Arc::default(),
            transfers: Arc::default(),
            admin_writes: Counter::default(),
            admin_write_failures: Counter::default(),
            // 100 µs to about 3 s: fsync latency on SSDs and disks alike.
            admin_commit_seconds: Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(0.0001, 2.0, 16),
            ),
            catalog,
        }
    }

    /// A new counter block for one worker of `transport`.
    pub fn worker(&self, transport: Transport) -> Arc<QueryCounters> {
        let counters = Arc::new(QueryCounters::default());
        let mut workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        workers.push((transport, counters.clone()));
        counters
    }

    /// An admin write that was made durable in `took`, or failed.
    pub fn admin_write(&self, took: Duration, succeeded: bool) {
        if succeeded {
            self.admin_writes.inc();
            self.admin_commit_seconds.observe(took.as_secs_f64());
        } else {
            self.admin_write_failures.inc();
        }
    }

    fn totals(&self) -> Totals {
        let mut totals = Totals::default();
        let workers = self.workers.lock().unwrap_or_else(|p| p.into_inner());
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        for (transport, counters) in workers.iter() {
            let t = transport_index(*transport);
            for (slot, counter) in counters.queries.iter().enumerate() {
                totals.queries[t][slot] += read(counter);
            }
            for (rcode, counter) in counters.responses.iter().enumerate() {
                totals.responses[t][rcode] += read(counter);
            }
            totals.unanswered += read(&counters.unanswered);
            totals.rrl_truncated += read(&counters.rrl_truncated);
            totals.rrl_dropped += read(&counters.rrl_dropped);
            totals.budget_refused += read(&counters.budget_refused);
        }
        totals
    }

    fn zone_stats(&self) -> Vec<ZoneStats> {
        let mut zones: Vec<ZoneStats> = self
            .catalog
            .zones()
            .values()
            .map(|zone| ZoneStats {
                origin: zone.origin.to_ascii(),
                serial: zone.serial,
                identifiers: zone.identifiers,
            })
            .collect();
        zones.sort_by(|a, b| a.origin.cmp(&b.origin));
        zones
    }

    pub fn stats(&self) -> Stats {
        let totals = self.totals();
        let mut stats = Stats {
            unanswered: totals.unanswered,
            rrl_truncated: totals.rrl_truncated,
            rrl_dropped: totals.rrl_dropped,
            budget_refused: totals.budget_refused,
            answer_cache_hits: self.catalog.answer_cache().hits(),
            udp_port_zero_dropped: self.udp.port_zero_dropped.load(Ordering::Relaxed),
            udp_send_failed: self.udp.send_failed.load(Ordering::Relaxed),
            tcp_refused_global_cap: self.tcp.over_global_cap.load(Ordering::Relaxed),
            tcp_refused_prefix_cap: self.tcp.over_prefix_cap.load(Ordering::Relaxed),
            transfers_axfr: self.transfers.axfr.load(Ordering::Relaxed),
            transfers_ixfr: self.transfers.ixfr_incremental.load(Ordering::Relaxed)
                + self.transfers.ixfr_current.load(Ordering::Relaxed),
            transfers_refused: self.transfers.refused.load(Ordering::Relaxed),
            notify_acknowledged: self.transfers.notify_acknowledged.load(Ordering::Relaxed),
            notify_failed: self.transfers.notify_failed.load(Ordering::Relaxed),
            admin_writes: self.admin_writes.get(),
            admin_write_failures: self.admin_write_failures.get(),
            index_ready: self.catalog.store().index_ready(),
            zones: self.zone_stats(),
            ..Stats::default()
        };
        for (t, name) in TRANSPORTS.iter().enumerate() {
            stats
                .queries
                .insert((*name).to_string(), totals.queries[t].iter().sum());
            for slot in 0..QTYPE_SLOTS {
                let count = totals.queries[t][slot];
                if count > 0 {
                    *stats
                        .queries_by_type
                        .entry(qtype_label(slot).to_string())
                        .or_default() += count;
                }
            }
            for (rcode, count) in totals.responses[t].iter().enumerate() {
                if *count > 0 {
                    *stats
                        .responses_by_rcode
                        .entry(RCODES[rcode].to_string())
                        .or_default() += count;
                }
            }
        }
        stats
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric.
    pub fn encode(self: &Arc<Self>) -> String {
        let mut registry = Registry::with_prefix("mimidns");
        registry.register(
            "admin_writes",
            "Admin writes made durable",
            self.admin_writes.clone(),
        );
        registry.register(
            "admin_write_failures",
            "Admin writes that failed (nothing changed)",
            self.admin_write_failures.clone(),
        );
        registry.register(
            "admin_commit_seconds",
            "Time from an admin write's commit to its durable flush",
            self.admin_commit_seconds.clone(),
        );
        registry.register_collector(Box::new(Scrape(self.clone())));
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &registry);
        text
    }
}

/// The scrape-time part of the exposition.
struct Scrape(Arc<Metrics>);

impl std::fmt::Debug for Scrape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Scrape")
    }
}

fn counter_family(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    values: &[(Vec<(&'static str, String)>, u64)],
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in values {
        ConstCounter::new(*value).encode(metric.encode_family(labels)?)?;
    }
    Ok(())
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> std::fmt::Result {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(value).encode(metric)
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let metrics = &self.0;
        let totals = metrics.totals();
        let mut queries = Vec::new();
        let mut responses = Vec::new();
        for (t, transport) in TRANSPORTS.iter().enumerate() {
            for slot in 0..QTYPE_SLOTS {
                queries.push((
                    vec![
                        ("transport", transport.to_string()),
                        ("qtype", qtype_label(slot).to_string()),
                    ],
                    totals.queries[t][slot],
                ));
            }
            for (rcode, name) in RCODES.iter().enumerate().take(12) {
                responses.push((
                    vec![
                        ("transport", transport.to_string()),
                        ("rcode", name.to_string()),
                    ],
                    totals.responses[t][rcode],
                ));
            }
        }
        counter_family(
            &mut encoder,
            "queries",
            "DNS queries answered or dropped, by transport and type",
            &queries,
        )?;
        counter_family(
            &mut encoder,
            "responses",
            "DNS responses sent, by transport and RCODE",
            &responses,
        )?;
        counter_family(
            &mut encoder,
            "limited_responses",
            "Responses the rate limiter changed: RRL truncated (slip) or dropped, negative-answer budget refused",
            &[
                (
                    vec![("action", "rrl_truncated".into())],
                    totals.rrl_truncated,
                ),
                (vec![("action", "rrl_dropped".into())], totals.rrl_dropped),
                (
                    vec![("action", "budget_refused".into())],
                    totals.budget_refused,
                ),
            ],
        )?;
        counter(
            &mut encoder,
            "unanswered_requests",
            "Requests that got no response (unreadable, or dropped by RRL)",
            totals.unanswered,
        )?;
        counter(
            &mut encoder,
            "answer_cache_hits",
            "Responses served from the answer cache",
            metrics.catalog.answer_cache().hits(),
        )?;
        counter_family(
            &mut encoder,
            "udp_dropped",
            "UDP datagrams not answered: source port 0, or a send the kernel refused",
            &[
                (
                    vec![("reason", "port_zero".into())],
                    metrics.udp.port_zero_dropped.load(Ordering::Relaxed),
                ),
                (
                    vec![("reason", "send_failed".into())],
                    metrics.udp.send_failed.load(Ordering::Relaxed),
                ),
            ],
        )?;
        counter_family(
            &mut encoder,
            "tcp_refused_connections",
            "TCP connections closed at once: over the global cap or over the per-prefix cap",
            &[
                (
                    vec![("reason", "global_cap".into())],
                    metrics.tcp.over_global_cap.load(Ordering::Relaxed),
                ),
                (
                    vec![("reason", "prefix_cap".into())],
                    metrics.tcp.over_prefix_cap.load(Ordering::Relaxed),
                ),
            ],
        )?;
        let shed: u64 = metrics
            .catalog
            .signers()
            .map(|s| s.negatives_shed.load(Ordering::Relaxed))
            .sum();
        counter(
            &mut encoder,
            "signed_negatives_shed",
            "Signed negative answers shed (SERVFAIL) because the per-zone signing budget per second was spent",
            shed,
        )?;
        let transfers = &metrics.transfers;
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        counter_family(
            &mut encoder,
            "transfers",
            "Zone transfers answered: AXFR (also IXFR answered with the whole zone), IXFR with the journal's difference, IXFR from a current client, refused",
            &[
                (vec![("kind", "axfr".into())], read(&transfers.axfr)),
                (
                    vec![("kind", "ixfr".into())],
                    read(&transfers.ixfr_incremental),
                ),
                (
                    vec![("kind", "ixfr_current".into())],
                    read(&transfers.ixfr_current),
                ),
                (vec![("kind", "refused".into())], read(&transfers.refused)),
            ],
        )?;
        counter_family(
            &mut encoder,
            "notifies",
            "NOTIFYs sent to secondaries: acknowledged, or given up after three tries",
            &[
                (
                    vec![("result", "acknowledged".into())],
                    read(&transfers.notify_acknowledged),
                ),
                (
                    vec![("result", "failed".into())],
                    read(&transfers.notify_failed),
                ),
            ],
        )?;
        let zones = metrics.zone_stats();
        let mut serials = encoder.encode_descriptor(
            "zone_serial",
            "SOA serial of each served zone",
            None,
            MetricType::Gauge,
        )?;
        for zone in &zones {
            let labels = vec![("zone", zone.origin.clone())];
            ConstGauge::new(i64::from(zone.serial)).encode(serials.encode_family(&labels)?)?;
        }
        let mut identifiers = encoder.encode_descriptor(
            "zone_identifiers",
            "Identifiers published in each zone",
            None,
            MetricType::Gauge,
        )?;
        for zone in &zones {
            let labels = vec![("zone", zone.origin.clone())];
            let count = i64::try_from(zone.identifiers).unwrap_or(i64::MAX);
            ConstGauge::new(count).encode(identifiers.encode_family(&labels)?)?;
        }
        let ready = encoder.encode_descriptor(
            "index_ready",
            "1 when reads are served from the in-memory index",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(i64::from(metrics.catalog.store().index_ready())).encode(ready)?;
        Ok(())
    }
}
