//! Response rate limiting (RRL) and the negative-answer budget.
//!
//! Both decide, per finished response, whether it goes out as it is, goes
//! out truncated, is dropped or is replaced by REFUSED; both key their state
//! by the client's address prefix (/24 and /56 by default), never by the
//! full address, so one network cannot spread itself over many buckets.
//!
//! * **RRL** (UDP only, as in Knot, NSD and BIND): a token bucket per prefix
//!   and response class — answers keyed by name and type, NODATA by name,
//!   NXDOMAIN by the parent of the name (the zone or `_mimi` node the walk
//!   happens under), referrals and errors per prefix. Past the rate, every
//!   `slip`-th limited response is sent as an empty TC=1 reply (a real
//!   resolver retries over TCP, where RRL does not apply, RFC 7766 §1) and
//!   the rest are dropped.
//! * **Negative-answer budget** (every transport): NXDOMAIN and NODATA
//!   answers for names under a discovery label (`_mimi`) are counted per
//!   prefix and discovery subtree with a decaying counter (a token bucket:
//!   `burst` at once, `per-second` sustained). Past it the answer becomes
//!   REFUSED; TCP draws on the same budget, so the TC fallback is no way
//!   around it. A refusing prefix is logged at most once a minute, with the
//!   prefix and the counts, never a query name.
//!
//! State lives in a fixed table of slots (memory is bounded whatever the
//! traffic); a slot idle long enough to be full again is taken over by the
//! next key that hashes to it, a busy one is shared (erring towards limiting
//! the rare colliding client, as Knot does). This module reads response
//! bytes and client addresses; it does not parse requests, touch the store
//! or send anything.

use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::Mutex;

use ipnet::IpNet;
use tracing::warn;

use crate::wire::{rcode, rtype};

/// How long a prefix's budget refusals are gathered into one log line.
const LOG_INTERVAL_MS: u64 = 60_000;

/// What the limiter was told to do; [`Default`] is what a new server runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitSettings {
    /// Prefix length that makes one IPv4 client (24: a /24 is one client).
    pub ipv4_prefix: u8,
    /// Prefix length that makes one IPv6 client.
    pub ipv6_prefix: u8,
    /// Clients never limited (a large resolver the operator knows).
    pub exempt: Vec<IpNet>,
    /// Slots in the state table (a power of two; rounded up).
    pub table_size: usize,
    /// UDP responses per second per prefix and class; 0 turns RRL off.
    pub rrl_responses_per_second: u32,
    /// Every Nth limited UDP response goes out truncated; 0 drops them all.
    pub rrl_slip: u32,
    /// Negative answers under a discovery label per second per prefix and
    /// subtree; 0 turns the budget off.
    pub negative_per_second: u32,
    /// Negative answers a prefix may have at once before the rate applies.
    pub negative_burst: u32,
    /// The discovery labels (`_mimi`), lower case: names below one of them
    /// are identifiers.
    pub discovery_labels: Vec<Vec<u8>>,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            ipv4_prefix: 24,
            ipv6_prefix: 56,
            exempt: Vec::new(),
            table_size: 1 << 16,
            // NSD's default (rrl-ratelimit: 200, rrl-slip: 2): per name and
            // type, far above what a caching resolver asks of one name.
            rrl_responses_per_second: 200,
            rrl_slip: 2,
            negative_per_second: 20,
            negative_burst: 200,
            discovery_labels: vec![b"_mimi".to_vec()],
        }
    }
}

/// What to do with a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Send,
    /// Send an empty reply with TC=1 instead (RRL slip).
    Truncate,
    /// Send nothing (RRL).
    Drop,
    /// Send REFUSED instead (negative-answer budget).
    Refuse,
}

/// The class a response falls in, for RRL (as NSD and BIND classify).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseClass {
    Answer,
    NoData,
    NxDomain,
    Referral,
    Error,
}

/// What the limiter needs to know of a response, read from its bytes.
#[derive(Debug, Clone, Copy)]
pub struct ResponseFacts<'a> {
    pub class: ResponseClass,
    /// The question name in wire form, as the client wrote it.
    pub qname: &'a [u8],
    pub qtype: u16,
}

impl<'a> ResponseFacts<'a> {
    /// Reads header and question of a response this server wrote; `None`
    /// when it has no question (FORMERR to a question-less request).
    pub fn of(response: &'a [u8]) -> Option<Self> {
        if response.len() < 12 || response[4..6] != [0, 1] {
            return None;
        }
        let flags = u16::from_be_bytes([response[2], response[3]]);
        let rcode = flags & 0x000F;
        let authoritative = flags & 0x0400 != 0;
        let answers = u16::from_be_bytes([response[6], response[7]]);
        let authority = u16::from_be_bytes([response[8], response[9]]);
        let mut at = 12;
        loop {
            let length = usize::from(*response.get(at)?);
            if length == 0 || length > 63 {
                break;
            }
            at += 1 + length;
        }
        if response.get(at) != Some(&0) {
            return None;
        }
        let qname = &response[12..=at];
        let qtype = u16::from_be_bytes([*response.get(at + 1)?, *response.get(at + 2)?]);
        let class = match rcode {
            rcode::NOERROR if answers > 0 => ResponseClass::Answer,
            rcode::NOERROR if !authoritative && authority > 0 => ResponseClass::Referral,
            rcode::NOERROR => ResponseClass::NoData,
            rcode::NXDOMAIN => ResponseClass::NxDomain,
            _ => ResponseClass::Error,
        };
        Some(Self {
            class,
            qname,
            qtype,
        })
    }
}

/// A client's network: its address with the host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientPrefix {
    network: IpAddr,
    length: u8,
}

impl std::fmt::Display for ClientPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.length)
    }
}

impl ClientPrefix {
    pub fn new(client: IpAddr, ipv4_prefix: u8, ipv6_prefix: u8) -> Self {
        // An IPv4 client on a dual-stack socket is one IPv4 client.
        let client = match client {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        let length = if client.is_ipv4() {
            ipv4_prefix
        } else {
            ipv6_prefix
        };
        let network = IpNet::new(client, length).map_or(client, |net| net.trunc().addr());
        Self { network, length }
    }
}

#[derive(Debug, Default)]
struct Slot {
    key: u64,
    /// Milli-tokens left.
    tokens: i64,
    /// When `tokens` was last brought up to date, ms since the limiter began.
    updated_ms: u64,
    /// Responses this slot limited; RRL uses it to pick the ones that slip.
    limited: u64,
    /// Budget refusals since the last log line, and when that line was.
    unlogged_refusals: u64,
    logged_ms: Option<u64>,
}

/// One token-bucket table.
struct Buckets {
    slots: Box<[Mutex<Slot>]>,
    /// Milli-tokens gained per millisecond (= tokens per second).
    rate: i64,
    /// Milli-tokens a bucket holds at most.
    capacity: i64,
}

impl Buckets {
    fn new(size: usize, per_second: u32, burst: u32) -> Self {
        let size = size.max(1).next_power_of_two();
        Self {
            slots: (0..size).map(|_| Mutex::new(Slot::default())).collect(),
            rate: i64::from(per_second),
            capacity: i64::from(burst.max(1)) * 1000,
        }
    }

    /// Takes one token from `key`'s bucket: `false` (after `on_limit`)
    /// when it is empty.
    fn take(&self, key: u64, now_ms: u64, on_limit: impl FnOnce(&mut Slot)) -> bool {
        let index = (key as usize) & (self.slots.len() - 1);
        let mut slot = match self.slots[index].lock() {
            Ok(slot) => slot,
            Err(poisoned) => poisoned.into_inner(),
        };
        let elapsed = now_ms.saturating_sub(slot.updated_ms) as i64;
        let refilled = slot
            .tokens
            .saturating_add(elapsed.saturating_mul(self.rate))
            .min(self.capacity);
        let unused = slot.key == 0 && slot.updated_ms == 0;
        if slot.key != key && (unused || refilled >= self.capacity) {
            // An idle slot belongs to whoever comes next; a busy one is shared.
            *slot = Slot {
                key,
                ..Slot::default()
            };
            slot.tokens = self.capacity;
        } else {
            slot.tokens = refilled;
        }
        slot.updated_ms = now_ms;
        if slot.tokens >= 1000 {
            slot.tokens -= 1000;
            return true;
        }
        on_limit(&mut slot);
        false
    }
}

pub struct Limiter {
    settings: LimitSettings,
    rrl: Option<Buckets>,
    budget: Option<Buckets>,
    hasher: foldhash::fast::RandomState,
    started: std::time::Instant,
}

impl Limiter {
    pub fn new(settings: LimitSettings) -> Self {
        let rrl = (settings.rrl_responses_per_second > 0).then(|| {
            Buckets::new(
                settings.table_size,
                settings.rrl_responses_per_second,
                // One second's worth at once, as NSD and Knot allow.
                settings.rrl_responses_per_second,
            )
        });
        let budget = (settings.negative_per_second > 0).then(|| {
            Buckets::new(
                settings.table_size,
                settings.negative_per_second,
                settings.negative_burst,
            )
        });
        Self {
            settings,
            rrl,
            budget,
            hasher: foldhash::fast::RandomState::default(),
            started: std::time::Instant::now(),
        }
    }

    pub fn settings(&self) -> &LimitSettings {
        &self.settings
    }

    /// Whether either limit is on.
    pub fn is_active(&self) -> bool {
        self.rrl.is_some() || self.budget.is_some()
    }

    /// Decides what happens to `response` (bytes from [`ResponseFacts::of`])
    /// sent to `client` over UDP (`udp`) or a stream transport.
    pub fn verdict(&self, client: IpAddr, udp: bool, facts: &ResponseFacts<'_>) -> Verdict {
        if self.settings.exempt.iter().any(|net| net.contains(&client)) {
            return Verdict::Send;
        }
        let prefix =
            ClientPrefix::new(client, self.settings.ipv4_prefix, self.settings.ipv6_prefix);
        let now_ms = self.started.elapsed().as_millis() as u64 + 1;
        if let Some(budget) = &self.budget
            && matches!(facts.class, ResponseClass::NxDomain | ResponseClass::NoData)
            && let Some(subtree) = discovery_subtree(facts.qname, &self.settings.discovery_labels)
        {
            let key = self.key(&prefix, 0u8, subtree, 0);
            let allowed = budget.take(key, now_ms, |slot| {
                slot.unlogged_refusals += 1;
                let due = slot
                    .logged_ms
                    .is_none_or(|at| now_ms.saturating_sub(at) >= LOG_INTERVAL_MS);
                if due {
                    warn!(
                        %prefix,
                        refused = slot.unlogged_refusals,
                        per_second = self.settings.negative_per_second,
                        burst = self.settings.negative_burst,
                        "negative-answer budget exceeded: refusing NXDOMAIN/NODATA for identifiers to this prefix"
                    );
                    slot.unlogged_refusals = 0;
                    slot.logged_ms = Some(now_ms);
                }
            });
            if !allowed {
                // The REFUSED is an error response to RRL; a slip must not
                // send the NXDOMAIN it replaces, so it stays REFUSED.
                let rrl = self.rrl_verdict(
                    &prefix,
                    udp,
                    now_ms,
                    ResponseClass::Error,
                    facts,
                    Verdict::Refuse,
                );
                return if rrl == Verdict::Drop {
                    Verdict::Drop
                } else {
                    Verdict::Refuse
                };
            }
        }
        self.rrl_verdict(&prefix, udp, now_ms, facts.class, facts, Verdict::Send)
    }

    /// RRL on what is about to be sent (`sending`), UDP only.
    fn rrl_verdict(
        &self,
        prefix: &ClientPrefix,
        udp: bool,
        now_ms: u64,
        class: ResponseClass,
        facts: &ResponseFacts<'_>,
        sending: Verdict,
    ) -> Verdict {
        let Some(rrl) = self.rrl.as_ref().filter(|_| udp) else {
            return sending;
        };
        let key = match class {
            ResponseClass::Answer => self.key(prefix, 1u8, facts.qname, facts.qtype),
            ResponseClass::NoData => self.key(prefix, 2u8, facts.qname, 0),
            ResponseClass::NxDomain => self.key(prefix, 3u8, parent(facts.qname), 0),
            ResponseClass::Referral => self.key(prefix, 4u8, &[], 0),
            ResponseClass::Error => self.key(prefix, 5u8, &[], 0),
        };
        let mut slip = false;
        let slip_every = u64::from(self.settings.rrl_slip);
        if rrl.take(key, now_ms, |slot| {
            slot.limited += 1;
            slip = slip_every > 0 && slot.limited % slip_every == 0;
        }) {
            sending
        } else if slip {
            Verdict::Truncate
        } else {
            Verdict::Drop
        }
    }

    fn key(&self, prefix: &ClientPrefix, class: u8, name: &[u8], qtype: u16) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        prefix.hash(&mut hasher);
        class.hash(&mut hasher);
        qtype.hash(&mut hasher);
        for byte in name {
            hasher.write_u8(byte.to_ascii_lowercase());
        }
        hasher.finish()
    }
}

/// The wire name with its first label removed (the root stays the root).
fn parent(name: &[u8]) -> &[u8] {
    match name.first() {
        Some(&length) if length > 0 => name.get(1 + usize::from(length)..).unwrap_or(&[0]),
        _ => name,
    }
}

/// The part of `name` from a discovery label on (`_mimi.example.`), when a
/// label before it exists: the name is an identifier (or below one).
pub fn discovery_subtree<'a>(name: &'a [u8], labels: &[Vec<u8>]) -> Option<&'a [u8]> {
    let mut at = usize::from(*name.first()?) + 1;
    if at == 1 {
        return None;
    }
    while let Some(&length) = name.get(at) {
        if length == 0 {
            return None;
        }
        let label = name.get(at + 1..at + 1 + usize::from(length))?;
        if labels.iter().any(|l| l.eq_ignore_ascii_case(label)) {
            return Some(&name[at..]);
        }
        at += 1 + usize::from(length);
    }
    None
}

/// Responses this module makes from a response it limits: the same header
/// (ID, opcode, RD, CD) and question, no records, and the OPT record if
/// the original had one.
pub fn rewrite(response: &[u8], verdict: Verdict) -> Option<Vec<u8>> {
    let question_end = 12 + {
        let facts = ResponseFacts::of(response)?;
        facts.qname.len() + 4
    };
    let mut out = Vec::with_capacity(question_end + 11);
    out.extend_from_slice(response.get(..question_end)?);
    // AA goes: the reply carries no authoritative data.
    let flags = u16::from_be_bytes([out[2], out[3]]) & !(0x0400 | 0x0200);
    let flags = match verdict {
        Verdict::Truncate => flags | 0x0200,
        Verdict::Refuse => (flags & !0x000F) | rcode::REFUSED,
        Verdict::Send | Verdict::Drop => return None,
    };
    out[2..4].copy_from_slice(&flags.to_be_bytes());
    out[6..12].fill(0);
    if let Some(opt) = find_opt(response, question_end) {
        let mut opt = opt.to_vec();
        // Extended RCODE bits belong to the old response; NSID and any other
        // option go with it (RFC 6891 §6.1.3).
        opt[5] = 0;
        opt[9..11].fill(0);
        out.extend_from_slice(&opt[..11]);
        out[10..12].copy_from_slice(&1u16.to_be_bytes());
    }
    Some(out)
}

/// The OPT record of a response (owner root, type 41), fixed part only.
fn find_opt(response: &[u8], mut at: usize) -> Option<&[u8]> {
    let counts: u32 = [6, 8, 10]
        .iter()
        .map(|&i| u32::from(u16::from_be_bytes([response[i], response[i + 1]])))
        .sum();
    for _ in 0..counts {
        let start = at;
        // Skip the owner: labels until the root or a compression pointer.
        loop {
            let length = *response.get(at)?;
            if length & 0xC0 == 0xC0 {
                at += 2;
                break;
            }
            at += 1 + usize::from(length);
            if length == 0 {
                break;
            }
        }
        let record_type = u16::from_be_bytes([*response.get(at)?, *response.get(at + 1)?]);
        let rdlength = usize::from(u16::from_be_bytes([
            *response.get(at + 8)?,
            *response.get(at + 9)?,
        ]));
        if record_type == rtype::OPT && at == start + 1 {
            return response.get(start..start + 11);
        }
        at += 10 + rdlength;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Vec<u8> {
        let mut wire = Vec::new();
        for label in text.split('.').filter(|l| !l.is_empty()) {
            wire.push(label.len() as u8);
            wire.extend_from_slice(label.as_bytes());
        }
        wire.push(0);
        wire
    }

    fn facts(qname: &[u8], class: ResponseClass) -> ResponseFacts<'_> {
        ResponseFacts {
            class,
            qname,
            qtype: 16,
        }
    }

    fn settings() -> LimitSettings {
        LimitSettings {
            table_size: 1024,
            rrl_responses_per_second: 5,
            rrl_slip: 2,
            negative_per_second: 1,
            negative_burst: 10,
            ..LimitSettings::default()
        }
    }

    #[test]
    fn prefixes_group_clients_by_network() {
        let a = ClientPrefix::new("192.0.2.7".parse().unwrap(), 24, 56);
        let b = ClientPrefix::new("192.0.2.200".parse().unwrap(), 24, 56);
        let c = ClientPrefix::new("192.0.3.7".parse().unwrap(), 24, 56);
        let mapped = ClientPrefix::new("::ffff:192.0.2.9".parse().unwrap(), 24, 56);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, mapped);
        assert_eq!(a.to_string(), "192.0.2.0/24");
        let v6 = ClientPrefix::new("2001:db8:1:2ff::1".parse().unwrap(), 24, 56);
        assert_eq!(v6.to_string(), "2001:db8:1:200::/56");
    }

    #[test]
    fn discovery_subtree_needs_a_label_before_it() {
        let labels = vec![b"_mimi".to_vec()];
        let hashed = name("abc._MIMI.example.");
        assert_eq!(
            discovery_subtree(&hashed, &labels),
            Some(&name("_MIMI.example.")[..])
        );
        assert_eq!(discovery_subtree(&name("_mimi.example."), &labels), None);
        assert_eq!(discovery_subtree(&name("www.example."), &labels), None);
        assert_eq!(discovery_subtree(&name("."), &labels), None);
        assert_eq!(parent(&hashed), &name("_MIMI.example.")[..]);
        assert_eq!(parent(&name(".")), &name(".")[..]);
    }

    #[test]
    fn negative_budget_refuses_past_the_burst_on_every_transport() {
        let limiter = Limiter::new(LimitSettings {
            rrl_responses_per_second: 0,
            ..settings()
        });
        let client: IpAddr = "198.51.100.1".parse().unwrap();
        let neighbour: IpAddr = "198.51.100.77".parse().unwrap();
        let other: IpAddr = "203.0.113.1".parse().unwrap();
        let names: Vec<Vec<u8>> = (0..30)
            .map(|i| name(&format!("h{i}._mimi.example.")))
            .collect();
        let mut sent = 0;
        for (i, qname) in names.iter().enumerate() {
            // Alternate UDP and TCP, and addresses in one /24: one budget.
            let from = if i % 2 == 0 { client } else { neighbour };
            if limiter.verdict(from, i % 3 == 0, &facts(qname, ResponseClass::NxDomain))
                == Verdict::Send
            {
                sent += 1;
            }
        }
        assert_eq!(sent, 10, "exactly the burst gets through");
        let elsewhere = limiter.verdict(other, true, &facts(&names[0], ResponseClass::NoData));
        assert_eq!(
            elsewhere,
            Verdict::Send,
            "another prefix has its own budget"
        );
        let existing = limiter.verdict(client, true, &facts(&names[0], ResponseClass::Answer));
        assert_eq!(
            existing,
            Verdict::Send,
            "answers that exist are not counted"
        );
        let outside = name("nope.example.");
        let plain = limiter.verdict(client, true, &facts(&outside, ResponseClass::NxDomain));
        assert_eq!(plain, Verdict::Send, "names outside _mimi are not counted");
    }

    #[test]
    fn exempt_prefixes_are_never_limited() {
        let limiter = Limiter::new(LimitSettings {
            exempt: vec!["198.51.100.0/24".parse().unwrap()],
            ..settings()
        });
        let qname = name("h._mimi.example.");
        for _ in 0..100 {
            let verdict = limiter.verdict(
                "198.51.100.9".parse().unwrap(),
                true,
                &facts(&qname, ResponseClass::NxDomain),
            );
            assert_eq!(verdict, Verdict::Send);
        }
    }

    #[test]
    fn rrl_slips_every_second_limited_udp_answer_and_spares_tcp() {
        let limiter = Limiter::new(settings());
        let client: IpAddr = "2001:db8::1".parse().unwrap();
        let qname = name("www.example.");
        let verdicts: Vec<Verdict> = (0..11)
            .map(|_| limiter.verdict(client, true, &facts(&qname, ResponseClass::Answer)))
            .collect();
        assert_eq!(&verdicts[..5], &[Verdict::Send; 5]);
        assert_eq!(
            &verdicts[5..],
            &[
                Verdict::Drop,
                Verdict::Truncate,
                Verdict::Drop,
                Verdict::Truncate,
                Verdict::Drop,
                Verdict::Truncate
            ]
        );
        let tcp = limiter.verdict(client, false, &facts(&qname, ResponseClass::Answer));
        assert_eq!(tcp, Verdict::Send, "RRL does not apply to TCP");
        let other_name = name("mail.example.");
        let other = limiter.verdict(client, true, &facts(&other_name, ResponseClass::Answer));
        assert_eq!(other, Verdict::Send, "answers are limited per name");
    }

    #[test]
    fn buckets_refill_with_time() {
        let buckets = Buckets::new(16, 2, 2);
        assert!(buckets.take(7, 1, |_| {}));
        assert!(buckets.take(7, 1, |_| {}));
        assert!(!buckets.take(7, 1, |_| {}));
        assert!(!buckets.take(7, 400, |_| {}), "0.8 tokens after 400 ms");
        assert!(buckets.take(7, 600, |_| {}), "1.2 tokens after 600 ms");
    }

    #[test]
    fn rewritten_responses_keep_header_question_and_opt() {
        let qname = name("h._mimi.example.");
        let mut response = vec![0x12, 0x34, 0x85, 0x03, 0, 1, 0, 0, 0, 1, 0, 1];
        response.extend_from_slice(&qname);
        response.extend_from_slice(&[0, 16, 0, 1]);
        // An SOA-ish authority record (type 6, empty rdata) and the OPT.
        response.extend_from_slice(&[0xC0, 12, 0, 6, 0, 1, 0, 0, 0, 60, 0, 0]);
        response.extend_from_slice(&[0, 0, 41, 4, 0xD0, 0, 0, 0x80, 0, 0, 0]);
        let refused = rewrite(&response, Verdict::Refuse).unwrap();
        assert_eq!(&refused[..2], &[0x12, 0x34]);
        assert_eq!(
            u16::from_be_bytes([refused[2], refused[3]]),
            0x8105,
            "QR, RD, REFUSED; no AA"
        );
        assert_eq!(&refused[4..12], &[0, 1, 0, 0, 0, 0, 0, 1]);
        assert_eq!(refused.len(), 12 + qname.len() + 4 + 11);
        assert_eq!(
            &refused[refused.len() - 11..],
            &[0, 0, 41, 4, 0xD0, 0, 0, 0x80, 0, 0, 0]
        );
        let truncated = rewrite(&response, Verdict::Truncate).unwrap();
        assert_eq!(
            u16::from_be_bytes([truncated[2], truncated[3]]),
            0x8303,
            "TC set, rcode kept"
        );
        let facts = ResponseFacts::of(&response).unwrap();
        assert_eq!(facts.class, ResponseClass::NxDomain);
        assert_eq!(facts.qname, &qname[..]);
    }
}
