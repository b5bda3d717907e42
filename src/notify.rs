//! NOTIFY out (RFC 1996): tells each configured secondary of a zone that
//! its serial changed, once the change is durable.
//!
//! One task per (zone, secondary) watches the zone's serial; changes that
//! arrive while a NOTIFY is in flight are coalesced into the next one (at
//! most one in flight per secondary). A NOTIFY is retried with back-off
//! (1 s, 2 s, 4 s: three tries, RFC 1996 §3.6) until the secondary answers
//! with a NOTIFY response of the same ID; it is signed with TSIG when the
//! zone names a `notify-key`. This module sends datagrams and reads the
//! catalog's serials; it does not change anything.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::catalog::Catalog;
use crate::transfer::TransferPolicy;
use crate::tsig::{TsigKey, TsigKeys};
use crate::wire::{CLASS_IN, rtype};

/// Opcode NOTIFY (RFC 1996 §3).
const OPCODE_NOTIFY: u8 = 4;
/// Tries per serial before giving up until the next change.
const TRIES: u32 = 3;

/// A NOTIFY for `origin` at `serial`: AA set, the SOA question and the new
/// SOA in the answer section (RFC 1996 §3.7).
fn notify_message(id: u16, origin: &[u8], soa_ttl: u32, soa_rdata: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(64 + soa_rdata.len());
    message.extend_from_slice(&id.to_be_bytes());
    message.push((OPCODE_NOTIFY << 3) | 0x04); // opcode NOTIFY, AA
    message.push(0);
    message.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 0]);
    message.extend_from_slice(origin);
    message.extend_from_slice(&rtype::SOA.to_be_bytes());
    message.extend_from_slice(&CLASS_IN.to_be_bytes());
    message.extend_from_slice(&[0xC0, 12]);
    message.extend_from_slice(&rtype::SOA.to_be_bytes());
    message.extend_from_slice(&CLASS_IN.to_be_bytes());
    message.extend_from_slice(&soa_ttl.to_be_bytes());
    message.extend_from_slice(&(soa_rdata.len() as u16).to_be_bytes());
    message.extend_from_slice(soa_rdata);
    message
}

/// Whether `reply` answers NOTIFY `id`.
fn is_answer(reply: &[u8], id: u16) -> bool {
    reply.len() >= 12
        && reply[..2] == id.to_be_bytes()
        && reply[2] & 0x80 != 0
        && (reply[2] >> 3) & 0x0F == OPCODE_NOTIFY
}

/// Sends one NOTIFY for the zone's current serial, with retries; whether
/// the secondary acknowledged it.
async fn notify_once(
    catalog: &Catalog,
    origin: &hickory_proto::rr::Name,
    target: SocketAddr,
    key: Option<&TsigKey>,
) -> bool {
    let Some(zone) = catalog.zone(origin) else {
        return false;
    };
    let Some(soa) = zone.soa.rdatas().next() else {
        return false;
    };
    let bind: SocketAddr = if target.is_ipv4() {
        "0.0.0.0:0".parse().expect("constant")
    } else {
        "[::]:0".parse().expect("constant")
    };
    let socket = match UdpSocket::bind(bind).await {
        Ok(socket) => socket,
        Err(e) => {
            warn!(%target, error = %e, "NOTIFY: no socket");
            return false;
        }
    };
    let mut wait = Duration::from_secs(1);
    for attempt in 1..=TRIES {
        let mut id = [0u8; 2];
        let _ = getrandom::fill(&mut id);
        let id = u16::from_be_bytes(id);
        let mut message = notify_message(id, &zone.origin_wire, zone.soa.ttl(), soa);
        let request_mac =
            key.map(|key| crate::tsig::sign_request(&mut message, key, crate::tsig::now()));
        if let Err(e) = socket.send_to(&message, target).await {
            debug!(%target, error = %e, attempt, "NOTIFY send failed");
        } else {
            let mut buffer = [0u8; 1024];
            let deadline = tokio::time::Instant::now() + wait;
            while let Ok(Ok((length, from))) =
                tokio::time::timeout_at(deadline, socket.recv_from(&mut buffer)).await
            {
                let reply = &buffer[..length];
                if from != target || !is_answer(reply, id) {
                    continue;
                }
                if let (Some(key), Some(mac)) = (key, &request_mac)
                    && !crate::tsig::verify_response(reply, key, mac)
                {
                    warn!(%target, zone = %zone.origin, "NOTIFY answer's TSIG did not verify; ignored");
                    continue;
                }
                let rcode = reply[3] & 0x0F;
                if rcode != 0 {
                    warn!(%target, zone = %zone.origin, rcode, "secondary refused the NOTIFY");
                    return false;
                }
                debug!(%target, zone = %zone.origin, serial = zone.serial, "NOTIFY acknowledged");
                return true;
            }
        }
        wait *= 2;
    }
    warn!(%target, zone = %zone.origin, serial = zone.serial, tries = TRIES, "NOTIFY not acknowledged");
    false
}

/// Starts one task per (zone, secondary); they end with `shutdown`.
pub fn spawn(
    catalog: Arc<Catalog>,
    policy: &TransferPolicy,
    keys: &TsigKeys,
    counters: Arc<crate::metrics::TransferCounters>,
    shutdown: CancellationToken,
    tasks: &mut tokio::task::JoinSet<()>,
) {
    for (origin_text, settings) in &policy.zones {
        if settings.notify.is_empty() {
            continue;
        }
        let Ok(mut origin) = hickory_proto::rr::Name::from_ascii(origin_text) else {
            continue;
        };
        origin.set_fqdn(true);
        let origin = origin.to_lowercase();
        let key = settings
            .notify_key
            .as_deref()
            .and_then(|name| keys.get(name))
            .cloned();
        // The zone's serial, as the catalog's change signal moves it.
        let serial_of = {
            let (catalog, origin) = (catalog.clone(), origin.clone());
            move || catalog.zone(&origin).map(|zone| zone.serial)
        };
        let (serials, _) = watch::channel(serial_of());
        let serials = Arc::new(serials);
        {
            let (serials, shutdown) = (serials.clone(), shutdown.clone());
            let mut changes = catalog.subscribe_changes();
            tasks.spawn(async move {
                loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        changed = changes.changed() => if changed.is_err() { return },
                    }
                    let serial = serial_of();
                    serials.send_if_modified(|current| {
                        let moved = *current != serial;
                        *current = serial;
                        moved
                    });
                }
            });
        }
        for &target in &settings.notify {
            let mut serial = serials.subscribe();
            // Also once at start: a zone file may have changed while stopped.
            serial.mark_changed();
            let (catalog, origin, key, shutdown) = (
                catalog.clone(),
                origin.clone(),
                key.clone(),
                shutdown.clone(),
            );
            let counters = counters.clone();
            tasks.spawn(async move {
                loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        changed = serial.changed() => if changed.is_err() { return },
                    }
                    let current = *serial.borrow_and_update();
                    if current.is_none() {
                        continue;
                    }
                    let acknowledged = tokio::select! {
                        _ = shutdown.cancelled() => return,
                        done = notify_once(&catalog, &origin, target, key.as_deref()) => done,
                    };
                    if acknowledged {
                        info!(%target, zone = %origin, serial = ?current, "secondary notified");
                        crate::metrics::TransferCounters::count(&counters.notify_acknowledged);
                    } else {
                        crate::metrics::TransferCounters::count(&counters.notify_failed);
                    }
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_messages_parse_as_notify_with_the_soa() {
        let soa = b"\x02ns\x00\x02hm\x00\x00\x00\x00\x07\x00\x00\x0e\x10\x00\x00\x03\x84\x00\x09\x3a\x80\x00\x00\x00\x3c";
        let message = notify_message(0x4242, b"\x07example\x00", 300, soa);
        let parsed = hickory_proto::op::Message::from_vec(&message).expect("parses");
        assert_eq!(parsed.metadata.op_code, hickory_proto::op::OpCode::Notify);
        assert!(parsed.metadata.authoritative);
        assert_eq!(
            parsed.queries[0].query_type(),
            hickory_proto::rr::RecordType::SOA
        );
        assert_eq!(parsed.answers.len(), 1);
        let mut reply = message.clone();
        reply[2] |= 0x80;
        assert!(is_answer(&reply, 0x4242));
        assert!(!is_answer(&message, 0x4242), "a request is no answer");
        assert!(!is_answer(&reply, 0x4243));
    }
}
