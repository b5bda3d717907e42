//! One request in, at most one response out: the query path
//! ([`crate::query`]) wrapped in what the server applies around every
//! answer — the rate limiter ([`crate::rate_limit`]), the per-worker
//! counters ([`crate::metrics`]) and the query log. Transports call
//! [`Responder::respond`] and send what it returns; they know none of this,
//! and this module knows nothing of sockets.
//!
//! The query log (off by default, `log.queries`) never writes a name under
//! a discovery label: `<hash>._mimi.example.` is logged as
//! `<redacted>._mimi.example.`, so logs cannot be mined for who was looked up.

use std::net::SocketAddr;
use std::sync::Arc;

use tracing::info;

use crate::catalog::Catalog;
use crate::metrics::{Limited, QueryCounters};
use crate::panic_guard::guarded;
use crate::query::{Transport, answer_packet};
use crate::rate_limit::{Limiter, ResponseFacts, Verdict, discovery_subtree, rewrite};
use crate::server_identity::ServerIdentity;
use crate::tsig::{RequestTsig, TsigKeys};
use crate::wire::{name_from_wire, rcode};

pub struct Responder {
    catalog: Arc<Catalog>,
    identity: ServerIdentity,
    limiter: Limiter,
    log_queries: bool,
    /// TSIG keys: a signed query with a known key is answered and signed
    /// (RFC 8945 §5.3), as secondaries' SOA checks are.
    keys: TsigKeys,
    /// IXFR over UDP is answered from the transfer policy.
    transfers: Option<Arc<crate::transfer::Transfers>>,
}

impl Responder {
    pub fn new(
        catalog: Arc<Catalog>,
        identity: ServerIdentity,
        limiter: Limiter,
        log_queries: bool,
    ) -> Self {
        Self {
            catalog,
            identity,
            limiter,
            log_queries,
            keys: TsigKeys::default(),
            transfers: None,
        }
    }

    /// Answers IXFR over UDP for the zones `transfers` allows.
    pub fn with_transfers(mut self, transfers: Arc<crate::transfer::Transfers>) -> Self {
        self.transfers = Some(transfers);
        self
    }

    /// Answers queries signed with these keys.
    pub fn with_tsig_keys(mut self, keys: TsigKeys) -> Self {
        self.keys = keys;
        self
    }

    /// The response to send to `client` for `packet`, or `None` for none.
    pub fn respond(
        &self,
        packet: &[u8],
        transport: Transport,
        client: SocketAddr,
        counters: &QueryCounters,
    ) -> Option<Vec<u8>> {
        let mut signer = None;
        let unsigned;
        let mut packet = packet;
        if !self.keys.is_empty() {
            match crate::tsig::verify_request(packet, &self.keys, crate::tsig::now()) {
                RequestTsig::Unsigned => {}
                RequestTsig::Valid(valid) => {
                    unsigned = crate::tsig::unsigned_request(packet)?;
                    packet = &unsigned;
                    signer = Some(valid);
                }
                RequestTsig::Failed {
                    error,
                    record,
                    signer,
                } => {
                    counters.query(0);
                    counters.response(rcode::NOTAUTH);
                    return crate::tsig::error_reply(packet, error, &record, signer);
                }
            }
        }
        let answered = guarded(|| answer_packet(&self.catalog, &self.identity, packet, transport));
        let Some(mut response) = answered.flatten() else {
            counters.unanswered();
            return None;
        };
        let Some(facts) = ResponseFacts::of(&response) else {
            // No question (a FORMERR to a question-less request): nothing to
            // limit by name; counted as a query of no known type.
            counters.query(0);
            counters.response(u16::from(response.get(3).copied().unwrap_or(0) & 0x0F));
            return Some(response);
        };
        let qtype = facts.qtype;
        counters.query(qtype);
        // IXFR over UDP: the query path refuses it; the transfer policy may
        // allow the single SOA instead (RFC 1995 §2).
        if qtype == crate::wire::rtype::IXFR
            && transport == Transport::Udp
            && let Some(transfers) = &self.transfers
        {
            let key = signer.as_ref().map(|s| s.key().name.clone());
            if let Some(mut reply) = transfers.udp_ixfr(packet, client.ip(), key.as_deref()) {
                if let Some(signer) = &mut signer {
                    signer.sign(&mut reply, crate::tsig::now(), 0);
                }
                counters.response(rcode::NOERROR);
                return Some(reply);
            }
        }
        if let Some(signer) = &mut signer {
            // Signed answers are for peers that hold the key (secondaries):
            // not rate limited, and signed after everything else.
            signer.sign(&mut response, crate::tsig::now(), 0);
            counters.response(u16::from(response[3] & 0x0F));
            return Some(response);
        }
        let verdict = if self.limiter.is_active() {
            self.limiter
                .verdict(client.ip(), transport == Transport::Udp, &facts)
        } else {
            Verdict::Send
        };
        let logged_name = self.log_queries.then(|| self.loggable_name(facts.qname));
        let response = match verdict {
            Verdict::Send => response,
            Verdict::Drop => {
                counters.limited(Limited::RrlDropped);
                counters.unanswered();
                return None;
            }
            Verdict::Truncate => {
                counters.limited(Limited::RrlTruncated);
                rewrite(&response, verdict)?
            }
            Verdict::Refuse => {
                counters.limited(Limited::BudgetRefused);
                rewrite(&response, verdict)?
            }
        };
        let rcode = u16::from(response[3] & 0x0F);
        counters.response(rcode);
        if let Some(qname) = logged_name {
            info!(
                peer = %client,
                transport = transport.label(),
                qname = %qname,
                qtype,
                rcode,
                bytes = response.len(),
                "query answered"
            );
        }
        Some(response)
    }

    /// The question name as the query log may show it.
    fn loggable_name(&self, qname: &[u8]) -> String {
        let labels = &self.limiter.settings().discovery_labels;
        match discovery_subtree(qname, labels) {
            Some(subtree) => format!(
                "<redacted>.{}",
                name_from_wire(subtree).map_or_else(|| "?".into(), |n| n.to_string())
            ),
            None => name_from_wire(qname).map_or_else(|| "?".into(), |n| n.to_string()),
        }
    }
}
