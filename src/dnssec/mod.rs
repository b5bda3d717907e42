//! DNSSEC online signing (issue "DNSSEC"): zone keys and RRset signatures.
//!
//! `keys` owns key files (PKCS#8, mode 0600) and the DNSKEY/DS forms of a
//! key — hickory-proto's `dnssec-ring` signing keys, DNSKEY, DS and key
//! tags; `sign` builds the RRSIG input in canonical form (RFC 4034 §6) from
//! the wire RDATA the store holds — itself, because hickory's sort is not
//! canonical for every type and re-encoding SVCB/TXT through its types could
//! change the octets that are served — and has the key sign it. Nothing here
//! decides what a response holds.

pub mod keys;
pub mod sign;

use keys::ZoneKey;

/// Type code NXNAME (RFC 9824 §2): "this name does not exist", in the
/// bitmap of a compact-denial NSEC.
pub const NXNAME: u16 = 128;
/// Type code NSEC.
pub const NSEC: u16 = 47;

/// What signs one zone's answers: its active key, and the keys that are
/// only published (during a rollover they sign the DNSKEY RRset too, so a
/// resolver trusting either key accepts the key set).
#[derive(Debug)]
pub struct ZoneSigner {
    key: ZoneKey,
    published: Vec<ZoneKey>,
    /// The zone's origin, lower-case wire form (the RRSIG signer name).
    origin_wire: Vec<u8>,
    cache: SignatureCache,
    /// Negative answers signed in the current second, and which second.
    negative_budget: std::sync::Mutex<(u64, u32)>,
    /// Signed negative answers shed because the budget was spent.
    pub negatives_shed: std::sync::atomic::AtomicU64,
}

/// Most negative answers (each needs a fresh signature) signed per second
/// per zone; past it they are shed (SERVFAIL), the positive path and the
/// store untouched.
pub const NEGATIVE_SIGNATURES_PER_SECOND: u32 = 20_000;

/// RRSIGs of RRsets that exist, keyed by the RRset's owner, type, TTL and
/// content: a write that changes an RRset changes its key, so a stale
/// signature is never found. Bounded; a full shard is emptied.
#[derive(Debug)]
struct SignatureCache {
    shards: Vec<std::sync::Mutex<std::collections::HashMap<u64, CachedSignatures>>>,
    hasher: foldhash::fast::RandomState,
}

/// Signatures of one RRset and when they expire.
type CachedSignatures = (u32, Vec<Vec<u8>>);

const CACHE_SHARDS: usize = 16;
const CACHE_PER_SHARD: usize = 16_384;

impl SignatureCache {
    fn new() -> Self {
        Self {
            shards: (0..CACHE_SHARDS)
                .map(|_| std::sync::Mutex::default())
                .collect(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    fn key<'r>(
        &self,
        owner: &[u8],
        record_type: u16,
        ttl: u32,
        rdatas: impl Iterator<Item = &'r [u8]>,
    ) -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = self.hasher.build_hasher();
        for byte in owner {
            hasher.write_u8(byte.to_ascii_lowercase());
        }
        hasher.write_u16(record_type);
        hasher.write_u32(ttl);
        for rdata in rdatas {
            hasher.write_usize(rdata.len());
            hasher.write(rdata);
        }
        hasher.finish()
    }
}

/// Type code DNSKEY.
pub const DNSKEY: u16 = 48;

impl ZoneSigner {
    pub fn new(key: ZoneKey, published: Vec<ZoneKey>, origin_wire: &[u8]) -> Self {
        Self {
            key,
            published,
            origin_wire: origin_wire.to_ascii_lowercase(),
            cache: SignatureCache::new(),
            negative_budget: std::sync::Mutex::new((0, 0)),
            negatives_shed: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Whether one more negative answer may be signed now (the per-second
    /// budget); counts the ones shed.
    pub fn may_sign_negative(&self) -> bool {
        let now = crate::tsig::now();
        let mut budget = self
            .negative_budget
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if budget.0 != now {
            *budget = (now, 0);
        }
        if budget.1 >= NEGATIVE_SIGNATURES_PER_SECOND {
            self.negatives_shed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return false;
        }
        budget.1 += 1;
        true
    }

    /// The RRSIGs an RRset gets: one by the active key, and for the DNSKEY
    /// RRset one by every published key as well.
    pub fn signatures<'r>(
        &self,
        owner: &[u8],
        record_type: u16,
        ttl: u32,
        rdatas: impl Iterator<Item = &'r [u8]> + Clone,
    ) -> Vec<Vec<u8>> {
        let now = crate::tsig::now();
        let key = self.cache.key(owner, record_type, ttl, rdatas.clone());
        let shard = &self.cache.shards[(key as usize) % CACHE_SHARDS];
        if let Some((expiration, signatures)) =
            shard.lock().unwrap_or_else(|e| e.into_inner()).get(&key)
            // Re-signed a day before the signatures expire.
            && u64::from(*expiration) > now + 24 * 3600
        {
            return signatures.clone();
        }
        let mut signatures = vec![self.sign(owner, record_type, ttl, rdatas.clone())];
        if record_type == DNSKEY {
            let validity = sign::validity(crate::tsig::now());
            for key in &self.published {
                signatures.push(sign::rrsig(
                    key,
                    &self.origin_wire,
                    owner,
                    record_type,
                    ttl,
                    rdatas.clone(),
                    validity,
                ));
            }
        }
        let (_, expiration) = sign::validity(now);
        let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
        if shard.len() >= CACHE_PER_SHARD {
            shard.clear();
        }
        shard.insert(key, (expiration, signatures.clone()));
        signatures
    }

    /// The RRSIG RDATA over one RRset, valid now.
    pub fn sign<'r>(
        &self,
        owner: &[u8],
        record_type: u16,
        ttl: u32,
        rdatas: impl Iterator<Item = &'r [u8]>,
    ) -> Vec<u8> {
        let now = crate::tsig::now();
        sign::rrsig(
            &self.key,
            &self.origin_wire,
            owner,
            record_type,
            ttl,
            rdatas,
            sign::validity(now),
        )
    }
}

/// The type bitmap of an NSEC record (RFC 4034 §4.1.2) for `types`.
pub fn type_bitmap(types: &[u16]) -> Vec<u8> {
    let mut types = types.to_vec();
    types.sort_unstable();
    types.dedup();
    let mut out = Vec::new();
    let mut at = 0;
    while at < types.len() {
        let window = types[at] >> 8;
        let mut bits = [0u8; 32];
        let mut used = 0;
        while at < types.len() && types[at] >> 8 == window {
            let low = usize::from(types[at] & 0xFF);
            bits[low / 8] |= 0x80 >> (low % 8);
            used = used.max(low / 8 + 1);
            at += 1;
        }
        out.push(window as u8);
        out.push(used as u8);
        out.extend_from_slice(&bits[..used]);
    }
    out
}

/// The RDATA of the compact-denial NSEC owned by `qname` (RFC 9824 §3):
/// next name `\000.qname`, so it covers nothing but the name asked.
pub fn compact_nsec(qname: &[u8], types: &[u16]) -> Vec<u8> {
    let mut rdata = Vec::with_capacity(qname.len() + 2 + 8);
    rdata.extend_from_slice(b"\x01\x00");
    rdata.extend(qname.iter().map(u8::to_ascii_lowercase));
    rdata.extend_from_slice(&type_bitmap(types));
    rdata
}

/// The NSEC at a delegation without DS (RFC 9824 §3.3): owned by the cut,
/// next name the cut's first label with a zero octet appended (the name
/// right after it that is not below it), types NS RRSIG NSEC.
pub fn delegation_nsec(cut: &[u8]) -> Vec<u8> {
    let mut rdata = Vec::with_capacity(cut.len() + 8);
    match cut.first() {
        Some(&length) if length > 0 && length < 63 => {
            let first = usize::from(length);
            rdata.push(length + 1);
            rdata.extend(cut[1..=first].iter().map(u8::to_ascii_lowercase));
            rdata.push(0);
            rdata.extend(cut[first + 1..].iter().map(u8::to_ascii_lowercase));
        }
        // A 63-octet first label cannot grow: `\000.cut` is below the cut
        // but still after it in canonical order.
        _ => {
            rdata.extend_from_slice(b"\x01\x00");
            rdata.extend(cut.iter().map(u8::to_ascii_lowercase));
        }
    }
    rdata.extend_from_slice(&type_bitmap(&[crate::wire::rtype::NS, sign::RRSIG, NSEC]));
    rdata
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_of_an_unchanged_rrset_come_from_the_cache_and_a_change_misses_it() {
        let dir = tempfile::tempdir().unwrap();
        let key =
            keys::generate(dir.path(), "example.test", keys::Algorithm::EcdsaP256Sha256).unwrap();
        let signer = ZoneSigner::new(key, Vec::new(), b"\x07example\x04test\x00");
        let owner = b"\x04host\x07example\x04test\x00";
        let a = [&[192u8, 0, 2, 1][..]];
        let first = signer.signatures(owner, 1, 300, a.iter().copied());
        let again = signer.signatures(owner, 1, 300, a.iter().copied());
        assert_eq!(
            first, again,
            "the same RRset: the cached signature (ECDSA would differ if re-signed)"
        );
        let b = [&[192u8, 0, 2, 2][..]];
        let changed = signer.signatures(owner, 1, 300, b.iter().copied());
        assert_ne!(changed, first, "changed content: signed anew");
        let other_ttl = signer.signatures(owner, 1, 60, a.iter().copied());
        assert_ne!(other_ttl, first);
    }

    #[test]
    fn negative_signatures_have_a_per_second_budget() {
        let dir = tempfile::tempdir().unwrap();
        let key =
            keys::generate(dir.path(), "example.test", keys::Algorithm::EcdsaP256Sha256).unwrap();
        let signer = ZoneSigner::new(key, Vec::new(), b"\x07example\x04test\x00");
        let allowed = (0..NEGATIVE_SIGNATURES_PER_SECOND + 50)
            .filter(|_| signer.may_sign_negative())
            .count() as u32;
        // Within one second (or two, at a boundary) at most the budget each.
        assert!(
            (NEGATIVE_SIGNATURES_PER_SECOND..=2 * NEGATIVE_SIGNATURES_PER_SECOND)
                .contains(&allowed)
        );
        if allowed == NEGATIVE_SIGNATURES_PER_SECOND {
            assert_eq!(
                signer
                    .negatives_shed
                    .load(std::sync::atomic::Ordering::Relaxed),
                50
            );
        }
    }

    #[test]
    fn type_bitmaps_follow_rfc_4034_section_4_3() {
        // RFC 4034 §4.3: A MX RRSIG NSEC TYPE1234.
        let bitmap = type_bitmap(&[1, 15, 46, 47, 1234]);
        assert_eq!(
            bitmap,
            vec![
                0x00, 0x06, 0x40, 0x01, 0x00, 0x00, 0x00, 0x03, 0x04, 0x1b, 0x00, 0x00, 0x00, 0x00,
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20
            ]
        );
        let cut = delegation_nsec(b"\x03Sub\x04test\x00");
        assert_eq!(&cut[..11], b"\x04sub\x00\x04test\x00");
        let nsec = compact_nsec(b"\x03NoT\x04test\x00", &[46, 47, NXNAME]);
        assert_eq!(&nsec[..12], b"\x01\x00\x03not\x04test\x00");
    }
}
