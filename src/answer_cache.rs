//! A bounded cache of finished responses for the query path.
//!
//! A response is fully determined by the question (name compared
//! case-insensitively, type), the size limit, whether the query had EDNS and
//! its DO bit — and by the store's content. Entries are keyed on exactly
//! that and hold the wire bytes; on a hit only the ID, the RD/CD bits and the
//! question's case (the 0x20 echo; owner names point at the question) are
//! patched in a copy. Every write to any zone bumps a generation counter, so
//! every older entry becomes a miss at once: the cache can never serve
//! data older than the last acknowledged write. Size is bounded per shard;
//! a full shard is emptied. It knows nothing about zones or the store.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::wire::request::{FLAG_CD, FLAG_RD, Query};

const SHARDS: usize = 16;

struct Entry {
    generation: u64,
    response: Box<[u8]>,
}

pub struct AnswerCache {
    shards: Vec<Mutex<HashMap<Box<[u8]>, Entry>>>,
    max_per_shard: usize,
    generation: AtomicU64,
    hasher: RandomState,
    /// Responses served from the cache (for metrics).
    hits: AtomicU64,
}

/// What a response depends on besides the store.
pub struct CacheKey {
    bytes: Vec<u8>,
    shard: usize,
    generation: u64,
}

impl AnswerCache {
    /// A cache of at most about `max_entries` responses; 0 disables it.
    pub fn new(max_entries: usize) -> Self {
        let max_per_shard = max_entries.div_ceil(SHARDS);
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            max_per_shard,
            generation: AtomicU64::new(0),
            hasher: RandomState::new(),
            hits: AtomicU64::new(0),
        }
    }

    /// Makes every cached response stale (after a write is visible).
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The key for a query; `None` when caching is off.
    pub fn key(&self, query: &Query<'_>, limit: usize) -> Option<CacheKey> {
        if self.max_per_shard == 0 {
            return None;
        }
        // Read the generation before the lookup runs: a write that lands
        // during it makes this entry stale rather than wrong.
        let generation = self.generation.load(Ordering::Acquire);
        let mut bytes = Vec::with_capacity(query.qname.len() + 6);
        bytes.extend(query.qname.iter().map(u8::to_ascii_lowercase));
        bytes.extend_from_slice(&query.qtype.to_be_bytes());
        bytes.extend_from_slice(&(limit.min(usize::from(u16::MAX)) as u16).to_be_bytes());
        bytes.push(match query.edns {
            None => 0,
            Some(edns) if edns.dnssec_ok => 2,
            Some(_) => 1,
        });
        let shard = (self.hasher.hash_one(&bytes) as usize) % SHARDS;
        Some(CacheKey {
            bytes,
            shard,
            generation,
        })
    }

    /// A cached response made to answer `query`, if a current one exists.
    pub fn get(&self, key: &CacheKey, query: &Query<'_>) -> Option<Vec<u8>> {
        let shard = self.shards[key.shard].lock().ok()?;
        let entry = shard.get(key.bytes.as_slice())?;
        if entry.generation != key.generation {
            return None;
        }
        let mut response = entry.response.to_vec();
        drop(shard);
        response[0..2].copy_from_slice(&query.id.to_be_bytes());
        let cached_flags = u16::from_be_bytes([response[2], response[3]]);
        let flags = (cached_flags & !(FLAG_RD | FLAG_CD)) | (query.flags & (FLAG_RD | FLAG_CD));
        response[2..4].copy_from_slice(&flags.to_be_bytes());
        let question = response.get_mut(12..12 + query.qname.len())?;
        question.copy_from_slice(query.qname);
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(response)
    }

    /// Responses served from the cache so far.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    pub fn insert(&self, key: CacheKey, response: &[u8]) {
        let Ok(mut shard) = self.shards[key.shard].lock() else {
            return;
        };
        if shard.len() >= self.max_per_shard && !shard.contains_key(key.bytes.as_slice()) {
            shard.clear();
        }
        shard.insert(
            key.bytes.into_boxed_slice(),
            Entry {
                generation: key.generation,
                response: response.into(),
            },
        );
    }

    /// Number of entries held (current or stale).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .filter_map(|s| s.lock().ok().map(|s| s.len()))
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::request;

    fn packet(id: u16, name: &[u8], rd: bool) -> Vec<u8> {
        let mut p = id.to_be_bytes().to_vec();
        p.extend_from_slice(&[if rd { 1 } else { 0 }, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        p.extend_from_slice(name);
        p.extend_from_slice(&[0, 16, 0, 1]);
        p
    }

    #[test]
    fn hits_are_patched_and_writes_invalidate() {
        let cache = AnswerCache::new(100);
        let first = packet(1, b"\x03www\x04test\x00", true);
        let query = request::parse(&first).expect("query");
        let key = cache.key(&query, 512).expect("enabled");
        // A fake response: the request with QR set and an answer byte appended.
        let mut response = first.clone();
        response[2] |= 0x80;
        response.push(0xAB);
        cache.insert(key, &response);
        let second = packet(2, b"\x03WwW\x04TEST\x00", false);
        let query = request::parse(&second).expect("query");
        let key = cache.key(&query, 512).expect("enabled");
        let hit = cache.get(&key, &query).expect("case-insensitive hit");
        assert_eq!(&hit[0..2], &[0, 2], "id patched");
        assert_eq!(hit[2] & 0x01, 0, "RD from this request");
        assert_eq!(hit[2] & 0x80, 0x80, "QR kept");
        assert_eq!(
            &hit[12..22],
            b"\x03WwW\x04TEST\x00",
            "question case from this request"
        );
        assert_eq!(hit.last(), Some(&0xAB));
        assert!(
            cache
                .get(&cache.key(&query, 1232).expect("key"), &query)
                .is_none(),
            "limit is part of the key"
        );
        cache.invalidate();
        let key = cache.key(&query, 512).expect("enabled");
        assert!(cache.get(&key, &query).is_none(), "stale after a write");
    }

    #[test]
    fn size_is_bounded_and_zero_disables() {
        let cache = AnswerCache::new(32);
        for i in 0..1000u16 {
            let name = format!("\x04n{i:03}\x00");
            let p = packet(i, name.as_bytes(), false);
            let query = request::parse(&p).expect("query");
            let key = cache.key(&query, 512).expect("enabled");
            cache.insert(key, &p);
        }
        assert!(cache.len() <= 32, "{}", cache.len());
        let off = AnswerCache::new(0);
        let p = packet(1, b"\x00", false);
        assert!(off.key(&request::parse(&p).expect("query"), 512).is_none());
    }
}
