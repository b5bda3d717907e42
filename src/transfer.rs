//! Zone transfers out: AXFR (RFC 5936) and IXFR (RFC 1995) over TCP, with
//! access control by address and TSIG key (RFC 8945), refused by default.
//!
//! A transfer is one serial: the zone's records are copied to an anonymous
//! spool file while admin writes are held (queries go on), then streamed
//! from it in messages of at most 16 KiB with name compression, SOA first
//! and last — the cost of a message does not depend on the zone's size,
//! and no zone is built in memory as one list. Every message of a signed
//! transfer is signed, each MAC covering the one before. IXFR from a client
//! that is current gets the single SOA; from an older serial, the whole
//! zone in AXFR form (RFC 1995 §4 allows it; no journal is kept yet).
//! Transfers carry the zone as stored, never signatures. This module owns
//! the transfer policy and the message stream; it does not change the store.

use std::collections::BTreeMap;
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use hickory_proto::rr::Name;
use ipnet::IpNet;
use thiserror::Error;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tracing::{info, warn};

use crate::catalog::{Catalog, ServedZone};
use crate::name_key::labels_from_name_key;
use crate::store::journal::{self, JournalRecord};
use crate::tsig::{RequestTsig, ResponseSigner, TsigKeys};
use crate::wire::response::{Header, OptRecord, ResponseWriter, Section};
use crate::wire::{CLASS_IN, name_from_wire, rcode, rtype};

/// Largest transfer message (RFC 5936 §2.2 leaves it to the server; 16 KiB
/// as Knot and NSD use).
pub const MESSAGE_LIMIT: usize = 16 * 1024;

/// Who may transfer a zone: an address range, a key, or both together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferAcl {
    pub network: Option<IpNet>,
    /// A key name from `[[tsig-key]]`, lower case.
    pub key: Option<String>,
}

impl TransferAcl {
    /// `"192.0.2.0/24"`, `"key:name"` or `"192.0.2.0/24 key:name"` (both must hold).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut acl = Self {
            network: None,
            key: None,
        };
        for part in text.split_whitespace() {
            if let Some(key) = part.strip_prefix("key:") {
                if key.is_empty() || acl.key.is_some() {
                    return Err(format!("'{text}': one key:NAME at most"));
                }
                acl.key = Some(key.trim_end_matches('.').to_ascii_lowercase());
            } else {
                let network = part
                    .parse::<IpNet>()
                    .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!("'{text}': '{part}' is not an address, a prefix or key:NAME")
                    })?;
                if acl.network.replace(network.trunc()).is_some() {
                    return Err(format!("'{text}': one address range at most"));
                }
            }
        }
        if acl.network.is_none() && acl.key.is_none() {
            return Err("an empty allow-transfer entry".into());
        }
        Ok(acl)
    }

    fn admits(&self, client: IpAddr, key: Option<&str>) -> bool {
        let client = match client {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        self.network.is_none_or(|net| net.contains(&client))
            && self.key.as_deref().is_none_or(|wanted| key == Some(wanted))
    }
}

/// Transfer settings of one zone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZoneTransfer {
    pub allow: Vec<TransferAcl>,
    /// Secondaries told of every new serial (RFC 1996).
    pub notify: Vec<SocketAddr>,
    /// Key the NOTIFYs are signed with.
    pub notify_key: Option<String>,
    /// Set when this server is a secondary for the zone: the primary.
    pub primary: Option<SocketAddr>,
    /// The key transfers from the primary are signed with.
    pub primary_key: Option<String>,
}

/// Transfer settings of every zone, keyed by lower-case origin without the dot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransferPolicy {
    pub zones: BTreeMap<String, ZoneTransfer>,
}

impl TransferPolicy {
    pub fn for_zone(&self, origin: &Name) -> Option<&ZoneTransfer> {
        let key = origin.to_ascii();
        self.zones
            .get(key.trim_end_matches('.').to_ascii_lowercase().as_str())
    }
}

#[derive(Debug, Error)]
pub enum TransferError {
    #[error("transfer spool: {0}")]
    Spool(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("the zone is no longer served")]
    ZoneGone,
}

/// Answers transfer requests on TCP connections.
pub struct Transfers {
    catalog: Arc<Catalog>,
    counters: Arc<crate::metrics::TransferCounters>,
    policy: TransferPolicy,
    keys: TsigKeys,
    spool_dir: PathBuf,
}

/// What the request asked, read from its bytes.
struct TransferQuestion {
    id: u16,
    flags: u16,
    question: Vec<u8>,
    qname: Vec<u8>,
    qtype: u16,
    /// IXFR: the serial in the client's SOA (authority section).
    client_serial: Option<u32>,
    /// The request had an OPT record: every reply carries one (RFC 6891 §7).
    edns: bool,
}

impl TransferQuestion {
    fn opt(&self) -> Option<OptRecord<'static>> {
        self.edns.then_some(OptRecord {
            udp_payload: crate::query::ADVERTISED_UDP_PAYLOAD,
            dnssec_ok: false,
            nsid: None,
            compact_ok: false,
        })
    }
}

fn read_question(message: &[u8]) -> Option<TransferQuestion> {
    if message.len() < 12
        || message[2] & 0x80 != 0
        || u16::from_be_bytes([message[4], message[5]]) != 1
    {
        return None;
    }
    let id = u16::from_be_bytes([message[0], message[1]]);
    let flags = u16::from_be_bytes([message[2], message[3]]);
    let name_length = crate::wire::wire_name_len(&message[12..])?;
    let qname = message[12..12 + name_length].to_vec();
    let rest = message.get(12 + name_length..12 + name_length + 4)?;
    let qtype = u16::from_be_bytes([rest[0], rest[1]]);
    let qclass = u16::from_be_bytes([rest[2], rest[3]]);
    if qclass != CLASS_IN {
        return None;
    }
    let question = message[12..12 + name_length + 4].to_vec();
    let client_serial = (qtype == rtype::IXFR)
        .then(|| {
            let parsed = hickory_proto::op::Message::from_vec(message).ok()?;
            parsed
                .authorities
                .iter()
                .find_map(|record| match &record.data {
                    hickory_proto::rr::RData::SOA(soa) => Some(soa.serial),
                    _ => None,
                })
        })
        .flatten();
    let edns = crate::wire::request::parse(message).is_ok_and(|query| query.edns.is_some());
    Some(TransferQuestion {
        id,
        flags,
        question,
        qname,
        qtype,
        client_serial,
        edns,
    })
}

/// Whether a TCP message asks for a zone transfer (the first question's
/// type is AXFR or IXFR); cheap, for the TCP loop.
pub fn is_transfer_request(message: &[u8]) -> bool {
    let Some(length) = message.get(12..).and_then(crate::wire::wire_name_len) else {
        return false;
    };
    message
        .get(12 + length..12 + length + 2)
        .is_some_and(|t| matches!(u16::from_be_bytes([t[0], t[1]]), rtype::AXFR | rtype::IXFR))
}

/// One spooled record: owner (wire), type, TTL, RDATA.
fn write_spool(
    out: &mut impl Write,
    owner: &[u8],
    record_type: u16,
    ttl: u32,
    rdata: &[u8],
) -> std::io::Result<()> {
    out.write_all(&[owner.len() as u8])?;
    out.write_all(owner)?;
    out.write_all(&record_type.to_be_bytes())?;
    out.write_all(&ttl.to_be_bytes())?;
    out.write_all(&(rdata.len() as u16).to_be_bytes())?;
    out.write_all(rdata)
}

fn read_spool(
    input: &mut impl Read,
    owner: &mut Vec<u8>,
    rdata: &mut Vec<u8>,
) -> std::io::Result<Option<(u16, u32)>> {
    let mut length = [0u8; 1];
    match input.read_exact(&mut length) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    owner.resize(usize::from(length[0]), 0);
    input.read_exact(owner)?;
    let mut fixed = [0u8; 8];
    input.read_exact(&mut fixed)?;
    let record_type = u16::from_be_bytes([fixed[0], fixed[1]]);
    let ttl = u32::from_be_bytes([fixed[2], fixed[3], fixed[4], fixed[5]]);
    rdata.resize(usize::from(u16::from_be_bytes([fixed[6], fixed[7]])), 0);
    input.read_exact(rdata)?;
    Ok(Some((record_type, ttl)))
}

/// A zone copied at one serial.
struct Snapshot {
    spool: std::fs::File,
    serial: u32,
    records: u64,
    soa_ttl: u32,
    soa_rdata: Vec<u8>,
    origin_wire: Vec<u8>,
}

fn name_key_to_wire(name_key: &[u8]) -> Option<Vec<u8>> {
    let mut wire = Vec::with_capacity(name_key.len() + 2);
    for label in labels_from_name_key(name_key)? {
        wire.push(label.len() as u8);
        wire.extend_from_slice(&label);
    }
    wire.push(0);
    Some(wire)
}

impl Transfers {
    pub fn new(
        catalog: Arc<Catalog>,
        policy: TransferPolicy,
        keys: TsigKeys,
        spool_dir: PathBuf,
        counters: Arc<crate::metrics::TransferCounters>,
    ) -> Self {
        Self {
            catalog,
            counters,
            policy,
            keys,
            spool_dir,
        }
    }

    /// Copies the zone's records to a spool file while admin writes are
    /// held: the copy is the zone at one serial. Blocking.
    fn snapshot(&self, origin: &Name) -> Result<Snapshot, TransferError> {
        let _writes_held = self.catalog.hold_writes_blocking();
        let zone: Arc<ServedZone> = self.catalog.zone(origin).ok_or(TransferError::ZoneGone)?;
        let file = tempfile::tempfile_in(&self.spool_dir)?;
        let mut out = BufWriter::with_capacity(1 << 16, file);
        let mut records = 0u64;
        for item in self.catalog.store().scan(&zone.node_key(&[])) {
            let (key, stored) = item?;
            if key.record_type() == rtype::SOA && key.name_key() == zone.origin_key.as_slice() {
                continue;
            }
            let Some(owner) = name_key_to_wire(key.name_key()) else {
                continue;
            };
            for rdata in stored.rdatas() {
                write_spool(&mut out, &owner, key.record_type(), stored.ttl(), rdata)?;
                records += 1;
            }
        }
        let mut spool = out.into_inner().map_err(|e| e.into_error())?;
        spool.rewind()?;
        let soa_rdata = zone
            .soa
            .rdatas()
            .next()
            .ok_or(TransferError::ZoneGone)?
            .to_vec();
        Ok(Snapshot {
            spool,
            serial: zone.serial,
            records,
            soa_ttl: zone.soa.ttl(),
            soa_rdata,
            origin_wire: zone.origin_wire.clone(),
        })
    }

    /// The condensed difference from `client` to now, if the journal
    /// reaches back to that serial. Read while admin writes are held, so
    /// it ends exactly at the serial it names. Blocking.
    fn incremental(
        &self,
        origin: &Name,
        client: u32,
    ) -> Result<Option<Incremental>, TransferError> {
        let _writes_held = self.catalog.hold_writes_blocking();
        let zone = self.catalog.zone(origin).ok_or(TransferError::ZoneGone)?;
        let Some(run) = journal::since(self.catalog.store().journal(zone.id)?, client) else {
            return Ok(None);
        };
        if run.last().map(|c| c.to_serial) != Some(zone.serial) {
            return Ok(None);
        }
        let old_soa = run.first().and_then(|first| {
            first
                .removed
                .iter()
                .find(|r| r.record_type == rtype::SOA && r.name_key == zone.origin_key)
                .map(|r| (r.ttl, r.rdata.clone()))
        });
        let (Some((old_ttl, old_rdata)), Some(new_rdata)) = (old_soa, zone.soa.rdatas().next())
        else {
            return Ok(None);
        };
        let new_soa: TransferRecord = (
            zone.origin_wire.clone(),
            rtype::SOA,
            zone.soa.ttl(),
            new_rdata.to_vec(),
        );
        let (removed, added) = journal::condense(&run);
        let as_record = |r: JournalRecord| -> Option<TransferRecord> {
            Some((
                name_key_to_wire(&r.name_key)?,
                r.record_type,
                r.ttl,
                r.rdata,
            ))
        };
        let mut records = Vec::with_capacity(removed.len() + added.len() + 4);
        records.push(new_soa.clone());
        records.push((zone.origin_wire.clone(), rtype::SOA, old_ttl, old_rdata));
        records.extend(removed.into_iter().filter_map(as_record));
        records.push(new_soa.clone());
        records.extend(added.into_iter().filter_map(as_record));
        records.push(new_soa);
        Ok(Some(Incremental {
            records,
            serial: zone.serial,
            changesets: run.len(),
        }))
    }

    /// IXFR over UDP (RFC 1995 §2): the single SOA of the current version,
    /// when the client may transfer the zone — a client that is behind then
    /// asks again over TCP. `None` when it is not an IXFR or not allowed
    /// (the query path answers REFUSED). `key`: the verified TSIG key, if any.
    pub fn udp_ixfr(&self, request: &[u8], peer: IpAddr, key: Option<&str>) -> Option<Vec<u8>> {
        let question = read_question(request).filter(|q| q.qtype == rtype::IXFR)?;
        let origin = name_from_wire(&question.qname)?.to_lowercase();
        let zone = self.catalog.zone(&origin)?;
        let allowed = self
            .policy
            .for_zone(&origin)
            .is_some_and(|zone| zone.allow.iter().any(|acl| acl.admits(peer, key)));
        if !allowed {
            return None;
        }
        let mut writer = ResponseWriter::new(512);
        writer.question(&question.question);
        writer
            .rrset(
                Section::Answer,
                &zone.origin_wire,
                rtype::SOA,
                zone.soa.ttl(),
                zone.soa.rdatas(),
            )
            .ok()?;
        Some(writer.finish(header(question.id, question.flags), false, question.opt()))
    }

    /// Answers one transfer request from `peer`, writing length-prefixed
    /// messages to `out`.
    pub async fn serve<W: AsyncWrite + Unpin>(
        self: &Arc<Self>,
        request: &[u8],
        peer: IpAddr,
        out: &mut W,
        write_timeout: std::time::Duration,
    ) -> std::io::Result<()> {
        let Some(question) = read_question(request) else {
            let id = request
                .get(..2)
                .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
            let flags = request
                .get(2..4)
                .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
            let reply = bare_reply(id, flags, None, rcode::FORMERR, None);
            return send(out, &reply, write_timeout).await;
        };
        let verified = crate::tsig::verify_request(request, &self.keys, crate::tsig::now());
        let (mut signer, key_name) = match verified {
            RequestTsig::Unsigned => (None, None),
            RequestTsig::Valid(signer) => {
                let name = signer.key().name.clone();
                (Some(signer), Some(name))
            }
            RequestTsig::Failed {
                error,
                record,
                signer,
            } => {
                // RFC 8945 §5.2: NOTAUTH with the TSIG error; nothing else.
                warn!(%peer, tsig_error = error, "transfer refused: the TSIG did not verify");
                crate::metrics::TransferCounters::count(&self.counters.refused);
                return match crate::tsig::error_reply(request, error, &record, signer) {
                    Some(reply) => send(out, &reply, write_timeout).await,
                    None => Ok(()),
                };
            }
        };
        let refuse = |rcode: u16, signer: &mut Option<ResponseSigner>| {
            let mut reply = bare_reply(
                question.id,
                question.flags,
                Some(&question.question),
                rcode,
                question.opt(),
            );
            if let Some(signer) = signer {
                signer.sign(&mut reply, crate::tsig::now(), 0);
            }
            reply
        };
        let origin = name_from_wire(&question.qname).map(|n| n.to_lowercase());
        let zone = origin.as_ref().and_then(|o| self.catalog.zone(o));
        let (Some(origin), Some(zone)) = (origin, zone) else {
            // RFC 5936 §2.2.1: not authoritative for that zone.
            let reply = refuse(rcode::NOTAUTH, &mut signer);
            return send(out, &reply, write_timeout).await;
        };
        let allowed = self.policy.for_zone(&origin).is_some_and(|zone| {
            zone.allow
                .iter()
                .any(|acl| acl.admits(peer, key_name.as_deref()))
        });
        if !allowed {
            info!(%peer, zone = %origin, key = ?key_name, "transfer refused: not in allow-transfer");
            crate::metrics::TransferCounters::count(&self.counters.refused);
            let reply = refuse(rcode::REFUSED, &mut signer);
            return send(out, &reply, write_timeout).await;
        }
        if question.qtype == rtype::IXFR
            && let Some(client) = question.client_serial
            && !crate::catalog::serial_greater(zone.serial, client)
        {
            // RFC 1995 §2: the client is current; the single SOA says so.
            crate::metrics::TransferCounters::count(&self.counters.ixfr_current);
            let mut writer = ResponseWriter::new(MESSAGE_LIMIT);
            writer.question(&question.question);
            let _ = writer.rrset(
                Section::Answer,
                &zone.origin_wire,
                rtype::SOA,
                zone.soa.ttl(),
                zone.soa.rdatas(),
            );
            let mut reply =
                writer.finish(header(question.id, question.flags), false, question.opt());
            if let Some(signer) = &mut signer {
                signer.sign(&mut reply, crate::tsig::now(), 0);
            }
            return send(out, &reply, write_timeout).await;
        }
        if question.qtype == rtype::IXFR
            && let Some(client) = question.client_serial
        {
            let this = self.clone();
            let journal_origin = origin.clone();
            let incremental = in_background(move || this.incremental(&journal_origin, client))
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            match incremental {
                Ok(Some(incremental)) => {
                    crate::metrics::TransferCounters::count(&self.counters.ixfr_incremental);
                    let (serial, changesets) = (incremental.serial, incremental.changesets);
                    let records = incremental.records.len();
                    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
                    let builder = in_background(move || {
                        build_messages(
                            incremental.records.into_iter().map(Ok),
                            &question,
                            signer,
                            &sender,
                        )
                    });
                    while let Some(message) = receiver.recv().await {
                        send(out, &message, write_timeout).await?;
                    }
                    builder
                        .await
                        .map_err(|e| std::io::Error::other(e.to_string()))??;
                    info!(%peer, zone = %origin, from = client, to = serial, changesets, records, "zone transferred (IXFR)");
                    return Ok(());
                }
                // The journal does not reach back: the whole zone (RFC 1995 §4).
                Ok(None) => {}
                Err(e) => {
                    warn!(zone = %origin, error = %e, "journal unreadable; sending the whole zone")
                }
            }
        }
        let this = self.clone();
        let snapshot_origin = origin.clone();
        let snapshot = in_background(move || this.snapshot(&snapshot_origin))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let snapshot = match snapshot {
            Ok(snapshot) => snapshot,
            Err(e) => {
                warn!(zone = %origin, error = %e, "transfer failed while copying the zone");
                let reply = refuse(rcode::SERVFAIL, &mut signer);
                return send(out, &reply, write_timeout).await;
            }
        };
        crate::metrics::TransferCounters::count(&self.counters.axfr);
        let started = std::time::Instant::now();
        let (serial, records) = (snapshot.serial, snapshot.records);
        // Messages are built on a blocking thread from the spool and sent
        // here; the channel keeps a few in flight.
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
        let builder = in_background(move || {
            build_messages(axfr_records(snapshot), &question, signer, &sender)
        });
        let mut bytes = 0usize;
        let mut messages = 0usize;
        while let Some(message) = receiver.recv().await {
            bytes += message.len();
            messages += 1;
            send(out, &message, write_timeout).await?;
        }
        builder
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??;
        info!(
            %peer,
            zone = %origin,
            serial,
            records,
            messages,
            bytes,
            ms = started.elapsed().as_millis() as u64,
            "zone transferred (AXFR)"
        );
        Ok(())
    }
}

/// Nice value of the threads that copy and pack transfers.
const TRANSFER_NICE: i32 = 10;

/// Runs `work` on a thread of its own at a lower scheduling priority:
/// transfers are bulk work, and on a busy core the query path must win
/// (a shared tokio blocking thread is not used, so its priority never
/// leaks to other work). Resolves with the result.
fn in_background<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> impl std::future::Future<Output = Result<T, std::io::Error>> {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("mimidns-transfer".into())
        .spawn(move || {
            // SAFETY: gettid and setpriority on the calling thread only; on
            // Linux a thread's nice value is its own.
            unsafe {
                let thread = libc::syscall(libc::SYS_gettid) as libc::id_t;
                libc::setpriority(libc::PRIO_PROCESS, thread, TRANSFER_NICE);
            }
            let _ = sender.send(work());
        });
    async move {
        spawned?;
        receiver
            .await
            .map_err(|_| std::io::Error::other("the transfer thread ended early"))
    }
}

fn header(id: u16, request_flags: u16) -> Header {
    Header {
        id,
        opcode: 0,
        request_flags,
        authoritative: true,
        rcode: rcode::NOERROR,
    }
}

/// A reply with the question (if readable) and no records.
fn bare_reply(
    id: u16,
    flags: u16,
    question: Option<&[u8]>,
    rcode: u16,
    opt: Option<OptRecord<'_>>,
) -> Vec<u8> {
    let mut writer = ResponseWriter::new(MESSAGE_LIMIT);
    if let Some(question) = question {
        writer.question(question);
    }
    let opcode = ((flags >> 11) & 0x0F) as u8;
    writer.finish(
        Header {
            id,
            opcode,
            request_flags: flags,
            authoritative: false,
            rcode,
        },
        false,
        opt,
    )
}

async fn send<W: AsyncWrite + Unpin>(
    out: &mut W,
    message: &[u8],
    timeout: std::time::Duration,
) -> std::io::Result<()> {
    let mut framed = Vec::with_capacity(message.len() + 2);
    framed.extend_from_slice(&(message.len() as u16).to_be_bytes());
    framed.extend_from_slice(message);
    tokio::time::timeout(timeout, out.write_all(&framed))
        .await
        .map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::TimedOut, "transfer write timed out")
        })?
}

/// One record for a transfer message: owner (wire), type, TTL, RDATA.
type TransferRecord = (Vec<u8>, u16, u32, Vec<u8>);

/// Packs `records` into messages of at most 16 KiB (a record larger than
/// that goes alone, up to 64 KiB), each signed when `signer` is set, and
/// hands them to `sender` in order. The first message carries the question.
fn build_messages(
    records: impl Iterator<Item = std::io::Result<TransferRecord>>,
    question: &TransferQuestion,
    mut signer: Option<ResponseSigner>,
    sender: &tokio::sync::mpsc::Sender<Vec<u8>>,
) -> std::io::Result<()> {
    let limit = MESSAGE_LIMIT
        - signer.as_ref().map_or(0, ResponseSigner::overhead)
        - question.opt().map_or(0, |opt| opt.wire_len());
    let mut writer = ResponseWriter::new(limit);
    writer.question(&question.question);
    let finish = |writer: ResponseWriter, signer: &mut Option<ResponseSigner>| -> bool {
        let mut message = writer.finish(header(question.id, question.flags), false, question.opt());
        if let Some(signer) = signer {
            signer.sign(&mut message, crate::tsig::now(), 0);
        }
        sender.blocking_send(message).is_ok()
    };
    let put = |writer: &mut ResponseWriter, (owner, record_type, ttl, rdata): &TransferRecord| {
        writer
            .rrset(
                Section::Answer,
                owner,
                *record_type,
                *ttl,
                std::iter::once(rdata.as_slice()),
            )
            .is_ok()
    };
    for record in records {
        let record = record?;
        if !put(&mut writer, &record) {
            let full = std::mem::replace(&mut writer, ResponseWriter::new(limit));
            if !finish(full, &mut signer) {
                return Ok(());
            }
            if !put(&mut writer, &record) {
                writer = ResponseWriter::new(usize::from(u16::MAX) - 512);
                put(&mut writer, &record);
            }
        }
    }
    finish(writer, &mut signer);
    Ok(())
}

/// The snapshot as AXFR records: SOA, every record, SOA.
fn axfr_records(snapshot: Snapshot) -> impl Iterator<Item = std::io::Result<TransferRecord>> {
    let soa: TransferRecord = (
        snapshot.origin_wire.clone(),
        rtype::SOA,
        snapshot.soa_ttl,
        snapshot.soa_rdata.clone(),
    );
    let mut input = BufReader::with_capacity(1 << 16, snapshot.spool);
    let body = std::iter::from_fn(move || {
        let (mut owner, mut rdata) = (Vec::new(), Vec::new());
        match read_spool(&mut input, &mut owner, &mut rdata) {
            Ok(Some((record_type, ttl))) => Some(Ok((owner, record_type, ttl, rdata))),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    });
    std::iter::once(Ok(soa.clone()))
        .chain(body)
        .chain(std::iter::once(Ok(soa)))
}

/// What changed between a client's serial and now, from the journal.
struct Incremental {
    /// IXFR records (RFC 1995 §4): new SOA, old SOA, removed, new SOA,
    /// added, new SOA — the changesets condensed into one difference.
    records: Vec<TransferRecord>,
    serial: u32,
    changesets: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_entries_need_every_part_they_name() {
        let both = TransferAcl::parse("192.0.2.0/24 key:XFR.example.").unwrap();
        assert!(both.admits("192.0.2.9".parse().unwrap(), Some("xfr.example")));
        assert!(!both.admits("192.0.2.9".parse().unwrap(), None));
        assert!(!both.admits("198.51.100.1".parse().unwrap(), Some("xfr.example")));
        let address = TransferAcl::parse("2001:db8::1").unwrap();
        assert!(address.admits("2001:db8::1".parse().unwrap(), None));
        assert!(!address.admits("2001:db8::2".parse().unwrap(), None));
        let mapped = TransferAcl::parse("127.0.0.1").unwrap();
        assert!(mapped.admits("::ffff:127.0.0.1".parse().unwrap(), None));
        assert!(TransferAcl::parse("").is_err());
        assert!(TransferAcl::parse("nonsense").is_err());
        assert!(TransferAcl::parse("key:a key:b").is_err());
    }

    #[test]
    fn spool_records_read_back() {
        let mut spool = Vec::new();
        write_spool(&mut spool, b"\x03www\x00", 1, 300, &[192, 0, 2, 1]).unwrap();
        write_spool(&mut spool, b"\x00", 16, 60, b"\x02hi").unwrap();
        let mut input = std::io::Cursor::new(spool);
        let (mut owner, mut rdata) = (Vec::new(), Vec::new());
        assert_eq!(
            read_spool(&mut input, &mut owner, &mut rdata).unwrap(),
            Some((1, 300))
        );
        assert_eq!(
            (owner.as_slice(), rdata.as_slice()),
            (&b"\x03www\x00"[..], &[192, 0, 2, 1][..])
        );
        assert_eq!(
            read_spool(&mut input, &mut owner, &mut rdata).unwrap(),
            Some((16, 60))
        );
        assert_eq!(
            read_spool(&mut input, &mut owner, &mut rdata).unwrap(),
            None
        );
    }

    #[test]
    fn transfer_requests_are_recognized_by_question_type() {
        let mut axfr = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        axfr.extend_from_slice(b"\x07example\x00\x00\xfc\x00\x01");
        assert!(is_transfer_request(&axfr));
        let mut a = axfr.clone();
        let at = a.len() - 3;
        a[at] = 1;
        assert!(!is_transfer_request(&a));
        assert!(!is_transfer_request(&axfr[..14]));
    }
}
