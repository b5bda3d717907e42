//! mimidns as a secondary: zones whose content comes from a primary (Knot,
//! NSD, BIND or another mimidns) by zone transfer.
//!
//! One task per zone asks the primary for its SOA (over TCP, TSIG-signed
//! when a key is configured) at start, when a NOTIFY arrives, and on the SOA
//! refresh timer (RETRY after a failure, RFC 1035 §4.3.5); when the primary
//! is ahead it asks for IXFR from its own serial (AXFR when it has none) and
//! installs what comes — a whole zone or differences — as one atomic commit
//! ([`Catalog::install_transfer`]): a crash or `kill -9` mid-transfer
//! leaves the old serial, served. Past EXPIRE without contact the zone's
//! names get SERVFAIL until the primary answers again. This module is the
//! transfer client; it writes only through the catalog.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::Name;
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::catalog::{Catalog, CatalogError, IncomingTransfer, serial_greater};
use crate::config::DiscoverySettings;
use crate::name_key::name_key;
use crate::store::journal::JournalRecord;
use crate::tsig::{ResponseVerifier, TsigKey};
use crate::wire::{CLASS_IN, name_from_wire, name_to_wire, rtype, wire_name_len};

/// How long one exchange with the primary may take.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(30);
/// Timers before the zone has an SOA of its own.
const FIRST_RETRY: Duration = Duration::from_secs(5);

/// One zone this server is a secondary for.
#[derive(Debug, Clone)]
pub struct SecondaryZone {
    pub origin: Name,
    pub primary: SocketAddr,
    pub key: Option<Arc<TsigKey>>,
    pub discovery: DiscoverySettings,
}

#[derive(Debug, Error)]
pub enum SecondaryError {
    #[error("primary {0}: {1}")]
    Io(SocketAddr, std::io::Error),
    #[error("primary {0} answered {1}")]
    Answer(SocketAddr, &'static str),
    #[error("primary {0}: the TSIG of its answer did not verify")]
    Tsig(SocketAddr),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

/// SOA timers (RFC 1035 §3.3.13).
#[derive(Debug, Clone, Copy)]
struct Timers {
    refresh: Duration,
    retry: Duration,
    expire: Duration,
}

fn timers(soa_rdata: &[u8]) -> Option<Timers> {
    let mname = wire_name_len(soa_rdata)?;
    let rname = wire_name_len(soa_rdata.get(mname..)?)?;
    let fixed = soa_rdata.get(mname + rname..mname + rname + 20)?;
    let field = |i: usize| {
        u64::from(u32::from_be_bytes([
            fixed[i],
            fixed[i + 1],
            fixed[i + 2],
            fixed[i + 3],
        ]))
    };
    Some(Timers {
        refresh: Duration::from_secs(field(4).max(1)),
        retry: Duration::from_secs(field(8).max(1)),
        expire: Duration::from_secs(field(12).max(1)),
    })
}

fn soa_serial(soa_rdata: &[u8]) -> Option<u32> {
    let mname = wire_name_len(soa_rdata)?;
    let rname = wire_name_len(soa_rdata.get(mname..)?)?;
    let serial = soa_rdata.get(mname + rname..mname + rname + 4)?;
    Some(u32::from_be_bytes([
        serial[0], serial[1], serial[2], serial[3],
    ]))
}

/// Starts the refresh task of every secondary zone.
pub fn spawn(
    catalog: Arc<Catalog>,
    zones: Vec<SecondaryZone>,
    shutdown: CancellationToken,
    tasks: &mut tokio::task::JoinSet<()>,
) {
    for zone in zones {
        let (catalog, shutdown) = (catalog.clone(), shutdown.clone());
        tasks.spawn(async move { run(catalog, zone, shutdown).await });
    }
}

async fn run(catalog: Arc<Catalog>, zone: SecondaryZone, shutdown: CancellationToken) {
    let mut wait = Duration::ZERO;
    let mut last_contact = tokio::time::Instant::now();
    loop {
        let Some(state) = catalog.secondary(&zone.origin) else {
            return;
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
            _ = state.refresh.notified() => {}
        }
        let result = tokio::select! {
            _ = shutdown.cancelled() => return,
            result = refresh(&catalog, &zone) => result,
        };
        let current = own_soa(&catalog, &zone.origin).and_then(|soa| timers(&soa));
        match result {
            Ok(()) => {
                last_contact = tokio::time::Instant::now();
                if let Err(e) = catalog.set_expired(&zone.origin, &zone.discovery, false) {
                    warn!(zone = %zone.origin, error = %e, "could not serve the zone again");
                }
                wait = current.map_or(FIRST_RETRY, |t| t.refresh);
            }
            Err(e) => {
                warn!(zone = %zone.origin, primary = %zone.primary, error = %e, "refresh from the primary failed");
                wait = current.map_or(FIRST_RETRY, |t| t.retry);
                if let Some(timers) = current
                    && last_contact.elapsed() >= timers.expire
                {
                    warn!(zone = %zone.origin, "no contact with the primary for EXPIRE: the zone is answered SERVFAIL until it is reached");
                    let _ = catalog.set_expired(&zone.origin, &zone.discovery, true);
                }
            }
        }
    }
}

/// The SOA RDATA the store holds for the zone (also while it is expired).
fn own_soa(catalog: &Catalog, origin: &Name) -> Option<Vec<u8>> {
    let key = name_key(origin);
    let meta = catalog.store().zone_meta(&key).ok()??;
    let rrset = catalog
        .store()
        .rrset(&crate::store::RrsetKey::new(meta.id, &key, rtype::SOA))
        .ok()??;
    rrset.rdatas().next().map(<[u8]>::to_vec)
}

/// One check with the primary and, if it is ahead, one transfer.
async fn refresh(catalog: &Catalog, zone: &SecondaryZone) -> Result<(), SecondaryError> {
    let primary = zone.primary;
    let io = |e: std::io::Error| SecondaryError::Io(primary, e);
    let ours = own_soa(catalog, &zone.origin).and_then(|soa| soa_serial(&soa));
    let mut stream = tokio::time::timeout(EXCHANGE_TIMEOUT, TcpStream::connect(primary))
        .await
        .map_err(|_| io(std::io::ErrorKind::TimedOut.into()))?
        .map_err(io)?;
    let origin_wire = name_to_wire(&zone.origin);
    let soa_answer = exchange(&mut stream, zone, &origin_wire, rtype::SOA, None).await?;
    let primary_serial = soa_answer
        .iter()
        .find(|r| r.record_type == rtype::SOA)
        .and_then(|r| soa_serial(&r.rdata))
        .ok_or(SecondaryError::Answer(primary, "no SOA"))?;
    if let Some(ours) = ours
        && !serial_greater(primary_serial, ours)
    {
        return Ok(());
    }
    let (qtype, client_soa) = match (ours, own_soa(catalog, &zone.origin)) {
        (Some(_), Some(soa)) => (rtype::IXFR, Some(soa)),
        _ => (rtype::AXFR, None),
    };
    info!(zone = %zone.origin, %primary, from = ?ours, to = primary_serial, kind = if qtype == rtype::IXFR { "IXFR" } else { "AXFR" }, "transfer started");
    let records = exchange(
        &mut stream,
        zone,
        &origin_wire,
        qtype,
        client_soa.as_deref(),
    )
    .await?;
    let (serial, incoming) = interpret(&records, ours).ok_or(SecondaryError::Answer(
        primary,
        "a transfer that is neither AXFR nor IXFR",
    ))?;
    let count = match &incoming {
        IncomingTransfer::Full(records) => records.len(),
        IncomingTransfer::Incremental(diffs) => diffs.iter().map(|(r, a)| r.len() + a.len()).sum(),
    };
    if ours == Some(serial) {
        return Ok(());
    }
    catalog
        .install_transfer(&zone.origin, &zone.discovery, serial, incoming)
        .await?;
    info!(zone = %zone.origin, serial, records = count, "transfer installed");
    Ok(())
}

/// What the records of a transfer answer mean (RFC 1995 §4): the serial
/// they bring the zone to and the change. `None` for a malformed answer.
fn interpret(records: &[JournalRecord], ours: Option<u32>) -> Option<(u32, IncomingTransfer)> {
    let first = records.first().filter(|r| r.record_type == rtype::SOA)?;
    let serial = soa_serial(&first.rdata)?;
    if records.len() == 1 {
        // The single SOA: already current.
        return Some((serial, IncomingTransfer::Incremental(Vec::new())));
    }
    let second_is_ours = records[1].record_type == rtype::SOA
        && ours.is_some()
        && soa_serial(&records[1].rdata) == ours;
    if !second_is_ours {
        // AXFR form: SOA, the zone, SOA.
        let last = records.last().filter(|r| r.record_type == rtype::SOA)?;
        if soa_serial(&last.rdata)? != serial || records.len() < 2 {
            return None;
        }
        return Some((
            serial,
            IncomingTransfer::Full(records[..records.len() - 1].to_vec()),
        ));
    }
    // Differences: (old SOA, removed…, new SOA, added…)*, final SOA.
    let mut differences = Vec::new();
    let mut at = 1;
    while at < records.len() - 1 {
        let old_soa = &records[at];
        if old_soa.record_type != rtype::SOA {
            return None;
        }
        let mut removed = vec![old_soa.clone()];
        at += 1;
        while records.get(at)?.record_type != rtype::SOA {
            removed.push(records[at].clone());
            at += 1;
        }
        let mut added = vec![records[at].clone()];
        at += 1;
        while at < records.len() - 1 && records[at].record_type != rtype::SOA {
            added.push(records[at].clone());
            at += 1;
        }
        differences.push((removed, added));
    }
    Some((serial, IncomingTransfer::Incremental(differences)))
}

/// Sends one question (SOA, AXFR or IXFR with `client_soa`) on `stream`
/// and reads the whole answer: every message until the transfer's closing
/// SOA, each TSIG-checked when a key is configured. Records come back
/// uncompressed, owners as name keys.
async fn exchange(
    stream: &mut TcpStream,
    zone: &SecondaryZone,
    origin_wire: &[u8],
    qtype: u16,
    client_soa: Option<&[u8]>,
) -> Result<Vec<JournalRecord>, SecondaryError> {
    let primary = zone.primary;
    let io = |e: std::io::Error| SecondaryError::Io(primary, e);
    let mut id = [0u8; 2];
    let _ = getrandom::fill(&mut id);
    let id = u16::from_be_bytes(id);
    let mut request = Vec::with_capacity(64 + origin_wire.len());
    request.extend_from_slice(&id.to_be_bytes());
    request.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, u8::from(client_soa.is_some()), 0, 0]);
    request.extend_from_slice(origin_wire);
    request.extend_from_slice(&qtype.to_be_bytes());
    request.extend_from_slice(&CLASS_IN.to_be_bytes());
    if let Some(soa) = client_soa {
        request.extend_from_slice(&[0xC0, 12]);
        request.extend_from_slice(&rtype::SOA.to_be_bytes());
        request.extend_from_slice(&CLASS_IN.to_be_bytes());
        request.extend_from_slice(&0u32.to_be_bytes());
        request.extend_from_slice(&(soa.len() as u16).to_be_bytes());
        request.extend_from_slice(soa);
    }
    let mut verifier = zone.key.as_ref().map(|key| {
        let mac = crate::tsig::sign_request(&mut request, key, crate::tsig::now());
        ResponseVerifier::new(key.clone(), mac)
    });
    let mut framed = (request.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&request);
    tokio::time::timeout(EXCHANGE_TIMEOUT, stream.write_all(&framed))
        .await
        .map_err(|_| io(std::io::ErrorKind::TimedOut.into()))?
        .map_err(io)?;
    let mut records: Vec<JournalRecord> = Vec::new();
    let mut end = TransferEnd::default();
    loop {
        let message = tokio::time::timeout(EXCHANGE_TIMEOUT, async {
            let length = usize::from(stream.read_u16().await?);
            let mut message = vec![0u8; length];
            stream.read_exact(&mut message).await?;
            Ok::<_, std::io::Error>(message)
        })
        .await
        .map_err(|_| io(std::io::ErrorKind::TimedOut.into()))?
        .map_err(io)?;
        if message.len() < 12 || message[..2] != id.to_be_bytes() || message[2] & 0x80 == 0 {
            return Err(SecondaryError::Answer(
                primary,
                "a message that is not the answer",
            ));
        }
        if let Some(verifier) = &mut verifier
            && !verifier.verify(&message)
        {
            return Err(SecondaryError::Tsig(primary));
        }
        match message[3] & 0x0F {
            0 => {}
            5 => return Err(SecondaryError::Answer(primary, "REFUSED")),
            9 => return Err(SecondaryError::Answer(primary, "NOTAUTH")),
            _ => return Err(SecondaryError::Answer(primary, "an error")),
        }
        let answers = parse_answers(&message).ok_or(SecondaryError::Answer(
            primary,
            "a message that does not parse",
        ))?;
        for record in answers {
            let done = end.next(&record, qtype);
            records.push(record);
            if done {
                if verifier.as_ref().is_some_and(|v| !v.finished_signed()) {
                    return Err(SecondaryError::Tsig(primary));
                }
                return Ok(records);
            }
        }
        // An SOA question, or an IXFR answered with the single SOA, ends
        // with its first message.
        if qtype == rtype::SOA || (qtype == rtype::IXFR && records.len() == 1) {
            return Ok(records);
        }
    }
}

/// Where a transfer stream ends (RFC 5936 §2.2, RFC 1995 §4).
#[derive(Default)]
struct TransferEnd {
    serial: Option<u32>,
    count: usize,
    /// IXFR: the serial the last difference led to.
    last_to: Option<u32>,
    incremental: bool,
    in_added: bool,
}

impl TransferEnd {
    /// Takes the next record; whether it closed the transfer.
    fn next(&mut self, record: &JournalRecord, qtype: u16) -> bool {
        self.count += 1;
        let soa = (record.record_type == rtype::SOA)
            .then(|| soa_serial(&record.rdata))
            .flatten();
        if self.count == 1 {
            self.serial = soa;
            return qtype == rtype::SOA;
        }
        let Some(serial) = soa else {
            return false;
        };
        if self.count == 2 && Some(serial) != self.serial {
            // IXFR differences begin with the client's (older) SOA.
            self.incremental = true;
            self.in_added = false;
            return false;
        }
        if !self.incremental {
            // AXFR form: the second SOA closes it (the first record was one).
            return self.count > 1;
        }
        if self.in_added {
            // An SOA after added records: the next difference's start, or
            // the final SOA when the last difference reached the serial.
            if self.last_to == self.serial {
                return true;
            }
            self.in_added = false;
        } else {
            self.last_to = Some(serial);
            self.in_added = true;
        }
        false
    }
}

/// The answer section as records: owner as name key, RDATA with the names
/// RFC 3597 §4 lets a sender compress (NS, CNAME, SOA, MX, PTR) expanded.
fn parse_answers(message: &[u8]) -> Option<Vec<JournalRecord>> {
    let count = |at: usize| u16::from_be_bytes([message[at], message[at + 1]]);
    let (questions, answers) = (count(4), count(6));
    let mut at = 12;
    for _ in 0..questions {
        at = crate::wire::read_compressed_name(message, at)?.1 + 4;
    }
    let mut records = Vec::with_capacity(usize::from(answers));
    for _ in 0..answers {
        let (owner, after) = crate::wire::read_compressed_name(message, at)?;
        let fixed = message.get(after..after + 10)?;
        let record_type = u16::from_be_bytes([fixed[0], fixed[1]]);
        let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
        let length = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let start = after + 10;
        let raw = message.get(start..start + length)?;
        let rdata = match record_type {
            rtype::NS | rtype::CNAME | rtype::PTR => {
                crate::wire::read_compressed_name(message, start)?.0
            }
            rtype::MX => {
                let mut rdata = raw.get(..2)?.to_vec();
                rdata.extend_from_slice(&crate::wire::read_compressed_name(message, start + 2)?.0);
                rdata
            }
            rtype::SOA => {
                let (mname, after_mname) = crate::wire::read_compressed_name(message, start)?;
                let (rname, after_rname) = crate::wire::read_compressed_name(message, after_mname)?;
                let mut rdata = mname;
                rdata.extend_from_slice(&rname);
                rdata.extend_from_slice(message.get(after_rname..after_rname + 20)?);
                rdata
            }
            _ => raw.to_vec(),
        };
        at = start + length;
        let name = name_from_wire(&owner)?.to_lowercase();
        records.push(JournalRecord {
            name_key: name_key(&name),
            record_type,
            ttl,
            rdata,
        });
    }
    Some(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn soa(serial: u32) -> JournalRecord {
        let mut rdata = b"\x02ns\x00\x02hm\x00".to_vec();
        rdata.extend_from_slice(&serial.to_be_bytes());
        rdata.extend_from_slice(&[0, 0, 0, 60, 0, 0, 0, 30, 0, 0, 1, 0, 0, 0, 0, 5]);
        JournalRecord {
            name_key: b"test".to_vec(),
            record_type: rtype::SOA,
            ttl: 60,
            rdata,
        }
    }

    fn txt(text: &str) -> JournalRecord {
        JournalRecord {
            name_key: b"a".to_vec(),
            record_type: rtype::TXT,
            ttl: 60,
            rdata: text.as_bytes().to_vec(),
        }
    }

    fn ends_at(records: &[JournalRecord], qtype: u16) -> Option<usize> {
        let mut end = TransferEnd::default();
        records.iter().position(|r| end.next(r, qtype))
    }

    #[test]
    fn transfers_end_where_the_rfcs_say() {
        let axfr = [soa(5), txt("x"), txt("y"), soa(5)];
        assert_eq!(ends_at(&axfr, rtype::AXFR), Some(3));
        let ixfr = [
            soa(7),
            soa(5),
            txt("old"),
            soa(6),
            txt("new"),
            soa(6),
            soa(7),
            txt("newer"),
            soa(7),
        ];
        assert_eq!(ends_at(&ixfr, rtype::IXFR), Some(8));
        let (serial, incoming) = interpret(&ixfr, Some(5)).unwrap();
        assert_eq!(serial, 7);
        let IncomingTransfer::Incremental(diffs) = incoming else {
            panic!("incremental")
        };
        assert_eq!(diffs.len(), 2);
        assert_eq!(diffs[0].0[1], txt("old"));
        assert_eq!(diffs[1].1[1], txt("newer"));
        let (serial, full) = interpret(&axfr, Some(3)).unwrap();
        assert_eq!(serial, 5);
        assert!(matches!(full, IncomingTransfer::Full(records) if records.len() == 3));
        assert!(interpret(&[txt("x")], None).is_none());
    }

    #[test]
    fn soa_timers_and_serial_are_read() {
        let record = soa(42);
        assert_eq!(soa_serial(&record.rdata), Some(42));
        let timers = timers(&record.rdata).unwrap();
        assert_eq!(
            (
                timers.refresh.as_secs(),
                timers.retry.as_secs(),
                timers.expire.as_secs()
            ),
            (60, 30, 256)
        );
    }
}
