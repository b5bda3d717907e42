//! The served zones: their in-memory summary and every write to them.
//!
//! The store holds the records; the catalog holds, per served zone, what the
//! query path needs without touching disk: the zone id, the origin, the SOA
//! (with the serial this server manages) and the delegation points. The map is
//! swapped atomically ([`arc_swap`]), so the query path reads it without a
//! lock. All writes go through here — the zone-file reconciliation at start-up
//! and, later, admin changes — so the SOA serial strictly increases (RFC 1982)
//! on every change of a zone's content, under one write lock.
//!
//! How a zone file and admin-written records interact: the zone file owns the
//! RRsets it declares; on start-up, when the file's content changed, its
//! RRsets replace the stored ones it declared before and those it no longer
//! declares are removed. RRsets written through the admin API are never
//! touched by a zone-file reload, unless the file now declares the very same
//! name and type, in which case the file wins and a warning is logged.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use hickory_proto::rr::Name;
use thiserror::Error;
use tracing::{error, info, warn};

use crate::answer_cache::AnswerCache;
use crate::config::{DiscoveryPolicy, DiscoverySettings};

/// Default size of the answer cache, in responses: off. It pays only when
/// questions repeat within its size (docs/PERFORMANCE.md).
pub const DEFAULT_CACHE_ENTRIES: usize = 0;
use crate::name_key::{name_key, push_label};
use crate::rrset::{RrsetOwner, StoredRrset, encode_rrset};
use crate::store::journal::JournalRecord;
use crate::store::{
    ChangeSource, LastChange, NodeKey, RrsetKey, RrsetWrite, Store, StoreError, StoreProblem,
    ZoneCommit, ZoneMeta,
};
use crate::wire::{name_to_wire, rtype};
use crate::zone_file::{ZoneContent, ZoneFileError, load_zone_file, origin_from_file_name};
use crate::zone_rules::{DNAME, ZoneShape};

#[derive(Debug, Error)]
pub enum CatalogError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    ZoneFile(#[from] ZoneFileError),
    #[error("cannot list zone directory {dir}: {source}")]
    ZoneDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("no zone files (*.zone) in {0}")]
    NoZones(PathBuf),
    #[error("the stored SOA of {0} is unreadable")]
    BadSoa(String),
    #[error("zone {0} is not served")]
    UnknownZone(String),
    #[error(
        "the store lost acknowledged writes to zone {origin}: serial {acknowledged} was acknowledged, the store holds {stored:?}; it is corrupt: restore the data directory from a backup (or remove it and re-import)"
    )]
    LostWrites {
        origin: String,
        acknowledged: u32,
        stored: Option<u32>,
    },
    #[error("a write to zone {0} carried a key that is not one of its RRsets")]
    ForeignKey(String),
    #[error(
        "[[discovery.zone]] origin = \"{0}\" names no zone file (<origin>.zone) in the zones directory"
    )]
    UnknownOverride(String),
    #[error(
        "zone {0} is configured as a secondary (transfer.zone primary = …) but also has a zone file; remove one"
    )]
    SecondaryWithFile(String),
    #[error("the transfer of {0} is not a zone: {1}")]
    BadTransfer(String, &'static str),
    #[error("zone {0} is a secondary; its content comes from its primary")]
    SecondaryZone(String),
}

/// What the query path knows about one served zone.
#[derive(Debug)]
pub struct ServedZone {
    pub id: u32,
    pub origin: Name,
    pub origin_key: Vec<u8>,
    pub origin_wire: Vec<u8>,
    pub serial: u32,
    pub soa: StoredRrset,
    /// TTL of the SOA in negative answers: min(SOA TTL, MINIMUM) (RFC 2308 §3).
    pub negative_ttl: u32,
    /// Delegation points, DNAME owners, wildcards (name keys without the zone id).
    pub shape: ZoneShape,
    /// How identifiers are published here.
    pub discovery: DiscoverySettings,
    /// Name key of `<discovery label>.<origin>`.
    pub discovery_key: Vec<u8>,
    pub identifiers: u64,
    pub last_change: Option<LastChange>,
}

impl ServedZone {
    /// Whether a node (name key) is a hashed identifier name: exactly one
    /// label below the discovery node.
    pub fn is_identifier_node(&self, node: &[u8]) -> bool {
        node.len() > self.discovery_key.len()
            && node.starts_with(&self.discovery_key)
            && node[self.discovery_key.len()..]
                .iter()
                .filter(|&&b| b == 0)
                .count()
                == 1
    }

    /// Whether a node is the discovery node or below it.
    pub fn in_discovery_tree(&self, node: &[u8]) -> bool {
        node.starts_with(&self.discovery_key)
    }

    /// The store key of a name of this zone, given its name key.
    pub fn node_key(&self, name_key: &[u8]) -> NodeKey {
        NodeKey::new(self.id, name_key)
    }

    /// The store key of an RRset of this zone.
    pub fn rrset_key(&self, name_key: &[u8], record_type: u16) -> RrsetKey {
        RrsetKey::new(self.id, name_key, record_type)
    }
}

pub type ZoneMap = HashMap<Vec<u8>, Arc<ServedZone>>;

/// RRset writes to one zone: RRset keys of that zone and the new stored
/// values, or `None` to delete.
pub type RrsetWrites = Vec<RrsetWrite>;

/// Offset of the serial inside SOA RDATA (after MNAME and RNAME).
fn soa_serial_offset(rdata: &[u8]) -> Option<usize> {
    let mname = crate::wire::wire_name_len(rdata)?;
    let rname = crate::wire::wire_name_len(rdata.get(mname..)?)?;
    let at = mname + rname;
    (rdata.len() == at + 20).then_some(at)
}

/// SOA RDATA with its serial replaced.
pub fn soa_with_serial(rdata: &[u8], serial: u32) -> Option<Vec<u8>> {
    let at = soa_serial_offset(rdata)?;
    let mut out = rdata.to_vec();
    out[at..at + 4].copy_from_slice(&serial.to_be_bytes());
    Some(out)
}

/// The MINIMUM field of SOA RDATA.
pub fn soa_minimum(rdata: &[u8]) -> Option<u32> {
    let at = soa_serial_offset(rdata)? + 16;
    Some(u32::from_be_bytes([
        rdata[at],
        rdata[at + 1],
        rdata[at + 2],
        rdata[at + 3],
    ]))
}

/// RFC 1982 §3.2: is `a` greater than `b` in serial number arithmetic?
pub fn serial_greater(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < (1 << 31)
}

/// The serial after a change: the file's serial if it is ahead, else one more.
pub fn next_serial(current: u32, file_serial: Option<u32>) -> u32 {
    match file_serial {
        Some(file) if serial_greater(file, current) => file,
        _ => current.wrapping_add(1),
    }
}

/// Summary of one zone after start-up, for the log line and tests.
#[derive(Debug, Clone)]
pub struct ZoneLoadReport {
    pub origin: String,
    pub serial: u32,
    pub file_changed: bool,
    pub file_rrsets: usize,
    /// Why the zone file did not load (file:line and the problem).
    pub problem: Option<String>,
    /// Whether the zone is served (a zone whose file failed may still be,
    /// as the store held it).
    pub served: bool,
}

pub struct Catalog {
    store: Store,
    zones: ArcSwap<ZoneMap>,
    write_lock: tokio::sync::Mutex<()>,
    answer_cache: AnswerCache,
    /// Bumped after every durable change of any zone (NOTIFY watches it).
    changes: tokio::sync::watch::Sender<u64>,
    /// Zones this server is a secondary for (origin keys): their content
    /// comes only from transfers; admin writes are refused.
    secondaries: std::collections::HashMap<Vec<u8>, SecondaryState>,
    /// Signers of the zones signed online (origin keys).
    signers: std::collections::HashMap<Vec<u8>, Arc<crate::dnssec::ZoneSigner>>,
}

/// What the catalog keeps for a zone it is a secondary for.
#[derive(Debug, Default)]
pub struct SecondaryState {
    /// Wakes the zone's refresh task (an incoming NOTIFY).
    pub refresh: tokio::sync::Notify,
    /// Past EXPIRE without contact with the primary: answered SERVFAIL.
    pub expired: std::sync::atomic::AtomicBool,
}

/// A transfer received from a primary, to install in one commit.
pub enum IncomingTransfer {
    /// The whole zone (AXFR, or IXFR answered in AXFR form).
    Full(Vec<JournalRecord>),
    /// An IXFR difference (condensed or a sequence, applied in order).
    Incremental(Vec<(Vec<JournalRecord>, Vec<JournalRecord>)>),
}

impl Catalog {
    /// Reconciles every `*.zone` file in `zones_dir` with the store and
    /// returns the catalog serving them.
    pub fn load(
        store: Store,
        zones_dir: &Path,
        policy: &DiscoveryPolicy,
    ) -> Result<(Self, Vec<ZoneLoadReport>), CatalogError> {
        Self::load_files(store, zones_dir, policy, &[])
    }

    /// [`Catalog::load`] for a server that is also a secondary for
    /// `secondaries` (origins): those have no zone file, so a zones
    /// directory without any is no error, and per-zone settings may name them.
    pub fn load_files(
        store: Store,
        zones_dir: &Path,
        policy: &DiscoveryPolicy,
        secondaries: &[String],
    ) -> Result<(Self, Vec<ZoneLoadReport>), CatalogError> {
        check_acknowledged(&store)?;
        let (zones, reports) = load_zones(&store, zones_dir, policy, &ZoneMap::new(), secondaries)?;
        for (origin_key, meta) in store.zone_metas()? {
            if !zones.contains_key(&origin_key) {
                warn!(zone = %meta.origin, "zone is in the store but has no zone file; it is not served");
            }
        }
        store.flush_blocking()?;
        let catalog = Self {
            store,
            zones: ArcSwap::from_pointee(zones),
            write_lock: tokio::sync::Mutex::new(()),
            answer_cache: AnswerCache::new(DEFAULT_CACHE_ENTRIES),
            changes: tokio::sync::watch::Sender::new(0),
            secondaries: std::collections::HashMap::new(),
            signers: std::collections::HashMap::new(),
        };
        Ok((catalog, reports))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Re-reads the zone files while serving (SIGHUP, `admin reload`): a
    /// changed file is applied as one commit, a file that no longer loads
    /// leaves its zone served as it was (the report says file:line), a
    /// removed file stops its zone being served (its data stays in the
    /// store, as at start-up). Writes wait meanwhile; queries do not.
    pub async fn reload(
        &self,
        zones_dir: &Path,
        policy: &DiscoveryPolicy,
    ) -> Result<Vec<ZoneLoadReport>, CatalogError> {
        let _guard = self.write_lock.lock().await;
        let current = self.zones.load_full();
        let current_for_secondaries = current.clone();
        let secondary_origins: Vec<String> = self
            .secondaries
            .keys()
            .filter_map(|key| crate::name_key::labels_from_name_key(key))
            .filter_map(|labels| Name::from_labels(labels).ok())
            .map(|name| name.to_ascii())
            .collect();
        let (store, dir, policy) = (self.store.clone(), zones_dir.to_path_buf(), policy.clone());
        let (zones, reports) = tokio::task::spawn_blocking(move || {
            load_zones(&store, &dir, &policy, &current, &secondary_origins)
        })
        .await
        .map_err(|e| {
            StoreError::Sled(sled::Error::ReportableBug(format!(
                "reload task failed: {e}"
            )))
        })??;
        // Secondary zones have no file: they stay as transfers left them.
        let mut zones = zones;
        for origin_key in self.secondaries.keys() {
            if let Some(zone) = current_for_secondaries.get(origin_key) {
                zones.insert(origin_key.clone(), zone.clone());
            }
        }
        self.zones.store(Arc::new(zones));
        self.answer_cache.invalidate();
        self.store.flush().await?;
        self.announce_change();
        Ok(reports)
    }

    /// Declares the zones this server is a secondary for. Those the store
    /// already holds (an earlier transfer) are served at once; the others
    /// once their first transfer is in. A zone file for one is an error.
    pub fn with_secondaries(
        mut self,
        origins: &[(Name, DiscoverySettings)],
    ) -> Result<Self, CatalogError> {
        let mut map = ZoneMap::clone(&self.zones.load());
        for (origin, discovery) in origins {
            let key = name_key(origin);
            if map.contains_key(&key) {
                return Err(CatalogError::SecondaryWithFile(origin.to_string()));
            }
            if let Some(meta) = self.store.zone_meta(&key)? {
                let zone = served_zone(&self.store, origin, &meta, discovery.clone())?;
                map.insert(key.clone(), Arc::new(zone));
            }
            self.secondaries.insert(key, SecondaryState::default());
        }
        self.zones.store(Arc::new(map));
        Ok(self)
    }

    /// Signs answers from `origin` (DO=1) with `signer`.
    pub fn with_signer(mut self, origin: &Name, signer: crate::dnssec::ZoneSigner) -> Self {
        self.signers.insert(name_key(origin), Arc::new(signer));
        self
    }

    /// Every zone signer (for counters).
    pub fn signers(&self) -> impl Iterator<Item = &Arc<crate::dnssec::ZoneSigner>> {
        self.signers.values()
    }

    /// The signer of a zone (by origin key), if it is signed.
    pub fn signer(&self, origin_key: &[u8]) -> Option<&Arc<crate::dnssec::ZoneSigner>> {
        self.signers.get(origin_key)
    }

    /// The secondary state of a zone, if this server is its secondary.
    pub fn secondary(&self, origin: &Name) -> Option<&SecondaryState> {
        self.secondaries.get(&name_key(origin))
    }

    /// Whether `qname` falls in a secondary zone past its EXPIRE (the query
    /// path answers SERVFAIL for it, RFC 1035 §4.3.5).
    pub fn in_expired_zone(&self, qname: &Name) -> bool {
        let key = name_key(qname);
        self.secondaries.iter().any(|(origin_key, state)| {
            state.expired.load(std::sync::atomic::Ordering::Relaxed) && key.starts_with(origin_key)
        })
    }

    /// Marks a secondary zone expired (no contact with the primary for
    /// EXPIRE: it leaves the zone map and its names get SERVFAIL) or
    /// current again (served from the store as the last transfer left it).
    pub fn set_expired(
        &self,
        origin: &Name,
        discovery: &DiscoverySettings,
        expired: bool,
    ) -> Result<(), CatalogError> {
        let Some(state) = self.secondary(origin) else {
            return Ok(());
        };
        let was = state
            .expired
            .swap(expired, std::sync::atomic::Ordering::SeqCst);
        if was == expired {
            return Ok(());
        }
        let key = name_key(origin);
        let mut map = ZoneMap::clone(&self.zones.load());
        if expired {
            map.remove(&key);
        } else if let Some(meta) = self.store.zone_meta(&key)? {
            map.insert(
                key,
                Arc::new(served_zone(&self.store, origin, &meta, discovery.clone())?),
            );
        }
        self.zones.store(Arc::new(map));
        self.answer_cache.invalidate();
        Ok(())
    }

    /// Installs a transfer from the primary as one commit: the zone's
    /// content becomes exactly what the primary sent, at the primary's
    /// serial. A full transfer replaces everything; an incremental one
    /// changes the RRsets it names and is journaled (so this server can
    /// pass IXFR on). Until the commit is durable nothing changes.
    pub async fn install_transfer(
        &self,
        origin: &Name,
        discovery: &DiscoverySettings,
        serial: u32,
        incoming: IncomingTransfer,
    ) -> Result<(), CatalogError> {
        {
            let _guard = self.write_lock.lock().await;
            let store = self.store.clone();
            let (origin_owned, discovery_owned) = (origin.clone(), discovery.clone());
            let zone = tokio::task::spawn_blocking(move || {
                install(&store, &origin_owned, &discovery_owned, serial, incoming)
            })
            .await
            .map_err(|e| StoreError::Sled(sled::Error::ReportableBug(e.to_string())))??;
            let mut map = ZoneMap::clone(&self.zones.load());
            map.insert(zone.origin_key.clone(), Arc::new(zone));
            self.zones.store(Arc::new(map));
            self.answer_cache.invalidate();
        }
        self.store.flush().await?;
        self.announce_change();
        Ok(())
    }

    /// A receiver that sees a new value after every durable change.
    pub fn subscribe_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn announce_change(&self) {
        self.changes.send_modify(|generation| *generation += 1);
    }

    /// Responses cached for the query path; emptied (made stale) by every write.
    pub fn answer_cache(&self) -> &AnswerCache {
        &self.answer_cache
    }

    /// Builds the store's in-memory index (reads leave sled once it is
    /// ready). Holds the write lock meanwhile, so no commit slips between the
    /// copy and the switch; the server keeps answering from sled.
    pub async fn build_index(&self) -> Result<usize, CatalogError> {
        let _guard = self.write_lock.lock().await;
        let store = self.store.clone();
        let built = tokio::task::spawn_blocking(move || store.build_index())
            .await
            .map_err(|e| {
                StoreError::Sled(sled::Error::ReportableBug(format!(
                    "index task failed: {e}"
                )))
            })?;
        Ok(built?)
    }

    /// After a write failure (a full disk), sled refuses everything until
    /// it is reopened. Reopens it and rebuilds what was derived from it —
    /// the zone map and, if it was built, the in-memory index — from what
    /// is on disk, so a write that was applied in memory but never made
    /// durable (and never acknowledged) disappears everywhere. Called with
    /// the write lock held, before the next write.
    async fn recover_store(&self) -> Result<(), CatalogError> {
        let index_was_ready = self.store.index_ready();
        let store = self.store.clone();
        let blocking_failed =
            |e: tokio::task::JoinError| StoreError::Sled(sled::Error::ReportableBug(e.to_string()));
        tokio::task::spawn_blocking(move || store.reopen())
            .await
            .map_err(blocking_failed)??;
        let mut map = ZoneMap::clone(&self.zones.load());
        for zone in map.values_mut() {
            let origin = zone.origin.to_string();
            let meta = self
                .store
                .zone_meta(&zone.origin_key)?
                .ok_or_else(|| CatalogError::UnknownZone(origin.clone()))?;
            let soa = self
                .store
                .rrset(&soa_key(zone))?
                .ok_or_else(|| CatalogError::BadSoa(origin.clone()))?;
            let shape = shape_from_meta(&meta);
            *zone = Arc::new(ServedZone {
                id: zone.id,
                origin: zone.origin.clone(),
                origin_key: zone.origin_key.clone(),
                origin_wire: zone.origin_wire.clone(),
                serial: meta.serial,
                soa,
                negative_ttl: zone.negative_ttl,
                shape,
                discovery: zone.discovery.clone(),
                discovery_key: zone.discovery_key.clone(),
                identifiers: meta.identifiers,
                last_change: meta.last_change,
            });
        }
        self.zones.store(Arc::new(map));
        self.answer_cache.invalidate();
        if index_was_ready {
            let store = self.store.clone();
            tokio::task::spawn_blocking(move || store.build_index())
                .await
                .map_err(blocking_failed)??;
        }
        Ok(())
    }

    /// Holds the write lock from a blocking thread (never from an async
    /// worker): no commit happens until the guard is dropped.
    pub fn hold_writes_blocking(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.write_lock.blocking_lock()
    }

    /// Replaces the answer cache with one of `max_entries` (0 turns it off).
    pub fn with_cache_capacity(mut self, max_entries: usize) -> Self {
        self.answer_cache = AnswerCache::new(max_entries);
        self
    }

    /// The current zone map; cheap, lock-free.
    pub fn zones(&self) -> arc_swap::Guard<Arc<ZoneMap>> {
        self.zones.load()
    }

    /// The served zone with this origin.
    pub fn zone(&self, origin: &Name) -> Option<Arc<ServedZone>> {
        self.zones.load().get(&name_key(origin)).cloned()
    }

    /// Applies RRset writes (keys without the zone id) to one zone atomically,
    /// bumps its serial once, and returns once the change is durable.
    pub async fn apply(&self, origin: &Name, writes: RrsetWrites) -> Result<u32, CatalogError> {
        self.apply_with(origin, |_| Ok::<_, CatalogError>(writes))
            .await
    }

    /// Like [`Catalog::apply`], but the writes are decided by `build` while
    /// the write lock is held, from the zone as it is at that moment: every
    /// check that depends on stored data (CNAME beside other data, who owns
    /// an RRset, the mappings an append extends) runs there, so no other
    /// commit can slip in between the check and the write. `build` failing
    /// changes nothing.
    pub async fn apply_with<E: From<CatalogError>>(
        &self,
        origin: &Name,
        build: impl FnOnce(&ServedZone) -> Result<RrsetWrites, E>,
    ) -> Result<u32, E> {
        let serial = {
            let _guard = self.write_lock.lock().await;
            if matches!(self.store.problem(), Some(StoreProblem::Failing(_))) {
                self.recover_store().await?;
            }
            let zone = self
                .zone(origin)
                .ok_or_else(|| CatalogError::UnknownZone(origin.to_string()))?;
            let writes = build(&zone)?;
            let mut meta = self
                .store
                .zone_meta(&zone.origin_key)
                .map_err(CatalogError::from)?
                .ok_or_else(|| CatalogError::UnknownZone(origin.to_string()))?;
            let serial = next_serial(zone.serial, None);
            let mut shape = zone.shape.clone();
            let mut identifiers = i128::from(zone.identifiers);
            let mut commit = ZoneCommit {
                origin_key: zone.origin_key.clone(),
                journal: Some((zone.serial, serial)),
                ..ZoneCommit::default()
            };
            for write in writes {
                if write.key.zone_id() != zone.id {
                    return Err(CatalogError::ForeignKey(zone.origin.to_string()).into());
                }
                let (node, record_type) = (write.key.name_key(), write.key.record_type());
                shape.note_write(&zone.origin_key, node, record_type, write.value.is_some());
                if record_type == rtype::TXT && zone.is_identifier_node(node) {
                    let existed = self
                        .store
                        .rrset(&write.key)
                        .map_err(CatalogError::from)?
                        .is_some();
                    identifiers += i128::from(write.value.is_some()) - i128::from(existed);
                }
                commit.rrsets.push(write);
            }
            let soa = soa_rrset_with_serial(&zone.soa, serial)
                .ok_or_else(|| CatalogError::BadSoa(zone.origin.to_string()))?;
            commit.rrsets.push(RrsetWrite {
                key: soa_key(&zone),
                value: Some(soa.clone()),
            });
            meta.serial = serial;
            shape_into_meta(&shape, &mut meta);
            let identifiers = u64::try_from(identifiers.max(0)).unwrap_or(0);
            meta.identifiers = identifiers;
            let last_change = Some(LastChange::now(ChangeSource::Admin));
            meta.last_change = last_change;
            commit.meta = Some(meta);
            self.store.commit(&commit).map_err(CatalogError::from)?;
            let updated = ServedZone {
                id: zone.id,
                origin: zone.origin.clone(),
                origin_key: zone.origin_key.clone(),
                origin_wire: zone.origin_wire.clone(),
                serial,
                soa: StoredRrset::parse(soa.into())
                    .map_err(|e| CatalogError::from(StoreError::from(e)))?,
                negative_ttl: zone.negative_ttl,
                shape,
                discovery: zone.discovery.clone(),
                discovery_key: zone.discovery_key.clone(),
                identifiers,
                last_change,
            };
            let mut map = ZoneMap::clone(&self.zones.load());
            map.insert(zone.origin_key.clone(), Arc::new(updated));
            self.zones.store(Arc::new(map));
            // After the store and the zone map show the write: no cached
            // answer from before it may be served again.
            self.answer_cache.invalidate();
            serial
        };
        self.store.flush().await.map_err(CatalogError::from)?;
        // Durable: secondaries may now be told (NOTIFY).
        self.announce_change();
        Ok(serial)
    }
}

fn soa_key(zone: &ServedZone) -> RrsetKey {
    zone.rrset_key(&zone.origin_key, rtype::SOA)
}

fn soa_rrset_with_serial(soa: &StoredRrset, serial: u32) -> Option<Vec<u8>> {
    let rdata = soa.rdatas().next()?;
    let patched = soa_with_serial(rdata, serial)?;
    Some(encode_rrset(soa.owner(), soa.ttl(), &[patched]))
}

/// Refuses a store whose zones are behind the serials it acknowledged:
/// it lost durable writes (a corrupt log tail sled dropped on recovery).
pub fn check_acknowledged(store: &Store) -> Result<(), CatalogError> {
    let metas: HashMap<Vec<u8>, ZoneMeta> = store.zone_metas()?.into_iter().collect();
    for (origin_key, acknowledged) in store.acknowledged_serials() {
        let stored = metas.get(&origin_key);
        if stored.is_none_or(|meta| serial_greater(acknowledged, meta.serial)) {
            let origin = stored.map_or_else(
                || data_encoding::HEXLOWER.encode(&origin_key),
                |meta| meta.origin.clone(),
            );
            return Err(CatalogError::LostWrites {
                origin,
                acknowledged,
                stored: stored.map(|meta| meta.serial),
            });
        }
    }
    Ok(())
}

/// Loads every zone file of `dir` ([`load_zone`]); `current` holds the
/// zones served now, kept where their file no longer loads. Per-zone
/// discovery settings must name a zone that has a file.
fn load_zones(
    store: &Store,
    dir: &Path,
    policy: &DiscoveryPolicy,
    current: &ZoneMap,
    secondaries: &[String],
) -> Result<(ZoneMap, Vec<ZoneLoadReport>), CatalogError> {
    let files = match zone_files(dir) {
        // A server that is a secondary may have no zone file at all.
        Err(CatalogError::NoZones(_)) if !secondaries.is_empty() => Vec::new(),
        other => other?,
    };
    // Per-zone settings may name a zone from a file or a secondary zone.
    let origins: Vec<String> = files
        .iter()
        .filter_map(|file| origin_from_file_name(file).ok())
        .map(|origin| origin.to_ascii())
        .chain(secondaries.iter().cloned())
        .collect();
    if let Some(unknown) = policy.unknown_origins(&origins).first() {
        return Err(CatalogError::UnknownOverride(unknown.clone()));
    }
    let mut zones = ZoneMap::new();
    let mut reports = Vec::new();
    for file in files {
        let previous = origin_from_file_name(&file)
            .ok()
            .and_then(|origin| current.get(&name_key(&origin)));
        let (zone, report) = load_zone(store, &file, policy, previous)?;
        if let Some(zone) = zone {
            zones.insert(zone.origin_key.clone(), zone);
        }
        reports.push(report);
    }
    Ok((zones, reports))
}

/// The `*.zone` files of a directory, sorted.
pub fn zone_files(dir: &Path) -> Result<Vec<PathBuf>, CatalogError> {
    let entries = std::fs::read_dir(dir).map_err(|source| CatalogError::ZoneDir {
        dir: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "zone"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(CatalogError::NoZones(dir.to_path_buf()));
    }
    Ok(files)
}

/// Brings the store in line with a zone file (see the module documentation).
fn reconcile_zone_file(
    store: &Store,
    content: &ZoneContent,
    discovery: DiscoverySettings,
) -> Result<(ServedZone, ZoneLoadReport), CatalogError> {
    let origin_key = name_key(&content.origin);
    let origin_text = content.origin.to_string();
    let existing = store.zone_meta(&origin_key)?;
    let unchanged = existing
        .as_ref()
        .is_some_and(|meta| meta.file_digest == content.digest);
    let mut meta = match existing {
        Some(meta) => meta,
        None => ZoneMeta::new(
            store.allocate_zone_id()?,
            origin_text.clone(),
            content.soa_serial,
        ),
    };
    let zone_id = meta.id;
    // Zone-file RRsets are keyed zone-relative (name key ‖ 0 ‖ type).
    let full_key = |relative: &[u8]| {
        RrsetKey::in_zone(zone_id, relative)
            .ok_or_else(|| CatalogError::ForeignKey(origin_text.clone()))
    };
    let soa_key = RrsetKey::new(zone_id, &origin_key, rtype::SOA);
    if !unchanged {
        let first_load = meta.file_digest.is_empty();
        let mut commit = ZoneCommit {
            origin_key: origin_key.clone(),
            ..ZoneCommit::default()
        };
        let new_keys: HashSet<RrsetKey> = content
            .rrsets
            .keys()
            .map(|k| full_key(k))
            .collect::<Result<_, _>>()?;
        for old in store.zonefile_keys(meta.id)? {
            if !new_keys.contains(&old) {
                if store
                    .rrset(&old)?
                    .is_some_and(|r| r.owner() == RrsetOwner::ZoneFile)
                {
                    commit.rrsets.push(RrsetWrite {
                        key: old.clone(),
                        value: None,
                    });
                }
                commit.zonefile_keys.push((old, false));
            }
        }
        let serial = if first_load {
            content.soa_serial
        } else {
            next_serial(meta.serial, Some(content.soa_serial))
        };
        // A changed file is one changeset in the journal (IXFR); a first
        // load has nothing to differ from.
        if !first_load {
            commit.journal = Some((meta.serial, serial));
        }
        for (key, rrset) in &content.rrsets {
            let full = full_key(key)?;
            let rdatas = if full == soa_key {
                let patched = rrset
                    .rdatas
                    .first()
                    .and_then(|r| soa_with_serial(r, serial));
                vec![patched.ok_or_else(|| CatalogError::BadSoa(origin_text.clone()))?]
            } else {
                rrset.rdatas.clone()
            };
            let value = encode_rrset(RrsetOwner::ZoneFile, rrset.ttl, &rdatas);
            match store.rrset(&full)? {
                Some(stored) if stored.raw() == value.as_slice() => {}
                Some(stored) => {
                    if stored.owner() == RrsetOwner::Admin {
                        warn!(zone = %origin_text, name = %rrset.name, rtype = %rrset.record_type,
                            "the zone file now declares an RRset written through the admin API; the zone file's replaces it");
                    }
                    commit.rrsets.push(RrsetWrite {
                        key: full.clone(),
                        value: Some(value),
                    });
                }
                None => commit.rrsets.push(RrsetWrite {
                    key: full.clone(),
                    value: Some(value),
                }),
            }
            commit.zonefile_keys.push((full, true));
        }
        meta.serial = serial;
        meta.file_digest = content.digest.clone();
        meta.last_change = Some(LastChange::now(ChangeSource::File));
        let mut shape = shape_from_meta(&meta);
        for key in content.rrsets.keys() {
            if let Some((node, record_type)) = crate::name_key::split_rrset_key(key) {
                shape.note_write(&origin_key, node, record_type, true);
            }
        }
        shape_into_meta(&shape, &mut meta);
        commit.meta = Some(meta.clone());
        store.commit(&commit)?;
        info!(zone = %origin_text, serial, changed_rrsets = commit.rrsets.len(), "zone file loaded into the store");
    }
    let zone = served_zone(store, &content.origin, &meta, discovery)?;
    let report = ZoneLoadReport {
        origin: origin_text,
        serial: meta.serial,
        file_changed: !unchanged,
        file_rrsets: content.rrsets.len(),
        problem: None,
        served: true,
    };
    Ok((zone, report))
}

/// An RRset being assembled: TTL and RDATAs.
type RrsetContent = (u32, Vec<Vec<u8>>);

/// Writes a received transfer into the store as one commit (see
/// [`Catalog::install_transfer`]); returns the zone as now served.
fn install(
    store: &Store,
    origin: &Name,
    discovery: &DiscoverySettings,
    serial: u32,
    incoming: IncomingTransfer,
) -> Result<ServedZone, CatalogError> {
    let origin_key = name_key(origin);
    let origin_text = origin.to_string();
    let bad = |why: &'static str| CatalogError::BadTransfer(origin_text.clone(), why);
    let existing = store.zone_meta(&origin_key)?;
    let mut meta = match existing {
        Some(meta) => meta,
        None => ZoneMeta::new(store.allocate_zone_id()?, origin_text.clone(), serial),
    };
    let old_serial = meta.serial;
    let mut discovery_key = origin_key.clone();
    push_label(&mut discovery_key, discovery.label.as_bytes());
    let is_identifier = |node: &[u8]| {
        node.len() > discovery_key.len()
            && node.starts_with(&discovery_key)
            && node[discovery_key.len()..]
                .iter()
                .filter(|&&b| b == 0)
                .count()
                == 1
    };
    let mut commit = ZoneCommit {
        origin_key: origin_key.clone(),
        ..ZoneCommit::default()
    };
    let mut shape;
    match incoming {
        IncomingTransfer::Full(records) => {
            // Group into RRsets; every RRset not in the transfer goes.
            let mut rrsets: std::collections::BTreeMap<(Vec<u8>, u16), RrsetContent> =
                std::collections::BTreeMap::new();
            for record in records {
                if !record.name_key.starts_with(&origin_key) {
                    return Err(bad("a record outside the zone"));
                }
                let entry = rrsets
                    .entry((record.name_key, record.record_type))
                    .or_insert((record.ttl, Vec::new()));
                if !entry.1.contains(&record.rdata) {
                    entry.1.push(record.rdata);
                }
            }
            if !rrsets.contains_key(&(origin_key.clone(), rtype::SOA)) {
                return Err(bad("no SOA at the apex"));
            }
            let mut kept = HashSet::new();
            shape = ZoneShape::default();
            let mut identifiers = 0u64;
            for ((node, record_type), (ttl, rdatas)) in rrsets {
                let key = RrsetKey::new(meta.id, &node, record_type);
                shape.note_write(&origin_key, &node, record_type, true);
                if record_type == rtype::TXT && is_identifier(&node) {
                    identifiers += 1;
                }
                commit.rrsets.push(RrsetWrite {
                    key: key.clone(),
                    value: Some(encode_rrset(RrsetOwner::ZoneFile, ttl, &rdatas)),
                });
                kept.insert(key);
            }
            for item in store.scan(&NodeKey::new(meta.id, &[])) {
                let (key, _) = item?;
                if !kept.contains(&key) {
                    commit.rrsets.push(RrsetWrite { key, value: None });
                }
            }
            meta.identifiers = identifiers;
        }
        IncomingTransfer::Incremental(differences) => {
            shape = shape_from_meta(&meta);
            // The RRsets as they will be, starting from the store.
            let mut changed: std::collections::BTreeMap<RrsetKey, Option<RrsetContent>> =
                std::collections::BTreeMap::new();
            for (removed, added) in differences {
                for record in removed.iter().chain(&added) {
                    let key = RrsetKey::new(meta.id, &record.name_key, record.record_type);
                    if let std::collections::btree_map::Entry::Vacant(entry) = changed.entry(key) {
                        let current = store
                            .rrset(entry.key())?
                            .map(|r| (r.ttl(), r.rdatas().map(<[u8]>::to_vec).collect()));
                        entry.insert(current);
                    }
                }
                for record in removed {
                    let key = RrsetKey::new(meta.id, &record.name_key, record.record_type);
                    if let Some(Some((_, rdatas))) = changed.get_mut(&key) {
                        rdatas.retain(|r| r != &record.rdata);
                    }
                }
                for record in added {
                    let key = RrsetKey::new(meta.id, &record.name_key, record.record_type);
                    let entry = changed.entry(key).or_insert(None);
                    let rrset = entry.get_or_insert_with(|| (record.ttl, Vec::new()));
                    rrset.0 = record.ttl;
                    if !rrset.1.contains(&record.rdata) {
                        rrset.1.push(record.rdata);
                    }
                }
            }
            let mut identifiers = i128::from(meta.identifiers);
            for (key, rrset) in changed {
                let (node, record_type) = (key.name_key().to_vec(), key.record_type());
                let existed = store.rrset(&key)?.is_some();
                let value = rrset
                    .filter(|(_, rdatas)| !rdatas.is_empty())
                    .map(|(ttl, rdatas)| encode_rrset(RrsetOwner::ZoneFile, ttl, &rdatas));
                shape.note_write(&origin_key, &node, record_type, value.is_some());
                if record_type == rtype::TXT && is_identifier(&node) {
                    identifiers += i128::from(value.is_some()) - i128::from(existed);
                }
                commit.rrsets.push(RrsetWrite { key, value });
            }
            meta.identifiers = u64::try_from(identifiers.max(0)).unwrap_or(0);
            commit.journal = Some((old_serial, serial));
        }
    }
    meta.serial = serial;
    meta.last_change = Some(LastChange::now(ChangeSource::Transfer));
    shape_into_meta(&shape, &mut meta);
    commit.meta = Some(meta.clone());
    store.commit(&commit)?;
    served_zone(store, origin, &meta, discovery.clone())
}

/// The zone as the query path sees it, from what the store holds for it.
fn served_zone(
    store: &Store,
    origin: &Name,
    meta: &ZoneMeta,
    discovery: DiscoverySettings,
) -> Result<ServedZone, CatalogError> {
    let origin_key = name_key(origin);
    let origin_text = origin.to_string();
    // Drop cuts and DNAMEs whose RRset is gone (removed from the file or by
    // the admin API).
    let mut shape = shape_from_meta(meta);
    for (points, record_type) in [(&mut shape.cuts, rtype::NS), (&mut shape.dnames, DNAME)] {
        let mut kept = HashSet::new();
        for point in points.drain() {
            if store
                .rrset(&RrsetKey::new(meta.id, &point, record_type))?
                .is_some()
            {
                kept.insert(point);
            }
        }
        *points = kept;
    }
    let soa = store
        .rrset(&RrsetKey::new(meta.id, &origin_key, rtype::SOA))?
        .ok_or_else(|| CatalogError::BadSoa(origin_text.clone()))?;
    let soa_rdata = soa
        .rdatas()
        .next()
        .ok_or_else(|| CatalogError::BadSoa(origin_text.clone()))?;
    let minimum =
        soa_minimum(soa_rdata).ok_or_else(|| CatalogError::BadSoa(origin_text.clone()))?;
    let mut discovery_key = origin_key.clone();
    push_label(&mut discovery_key, discovery.label.as_bytes());
    Ok(ServedZone {
        id: meta.id,
        origin: origin.clone(),
        origin_key,
        origin_wire: name_to_wire(origin),
        serial: meta.serial,
        negative_ttl: soa.ttl().min(minimum),
        soa,
        shape,
        discovery_key,
        discovery,
        identifiers: meta.identifiers,
        last_change: meta.last_change,
    })
}

/// Loads one zone file into the store. A file that does not load is
/// reported (file:line and the problem) and the zone stays as it was:
/// `previous` (a reload), else the copy the store holds from the last good
/// load, else not served. Only store failures are errors.
fn load_zone(
    store: &Store,
    file: &Path,
    policy: &DiscoveryPolicy,
    previous: Option<&Arc<ServedZone>>,
) -> Result<(Option<Arc<ServedZone>>, ZoneLoadReport), CatalogError> {
    let failed = |origin: String, problem: String, zone: Option<Arc<ServedZone>>| {
        let report = ZoneLoadReport {
            origin,
            serial: zone.as_ref().map_or(0, |z| z.serial),
            file_changed: false,
            file_rrsets: 0,
            problem: Some(problem),
            served: zone.is_some(),
        };
        (zone, report)
    };
    let origin = match origin_from_file_name(file) {
        Ok(origin) => origin,
        Err(e) => return Ok(failed(file.display().to_string(), e.to_string(), None)),
    };
    let settings = policy.for_zone(&origin.to_ascii());
    match load_zone_file(file, &origin) {
        Ok(content) => {
            for warning in &content.warnings {
                warn!("{warning}");
            }
            let (zone, report) = reconcile_zone_file(store, &content, settings)?;
            Ok((Some(Arc::new(zone)), report))
        }
        Err(e) => {
            let kept = match (previous, store.zone_meta(&name_key(&origin))?) {
                (Some(previous), _) => Some(previous.clone()),
                (None, Some(meta)) => Some(Arc::new(served_zone(store, &origin, &meta, settings)?)),
                (None, None) => None,
            };
            let what = if kept.is_some() {
                "the zone is served as the store held it before"
            } else {
                "the zone is not served"
            };
            error!(zone = %origin, "{e}; {what}");
            Ok(failed(origin.to_string(), e.to_string(), kept))
        }
    }
}

/// The zone's shape as its meta record keeps it (name keys in hex).
fn shape_from_meta(meta: &ZoneMeta) -> ZoneShape {
    let decode = |keys: &[String]| {
        keys.iter()
            .filter_map(|hex| data_encoding::HEXLOWER.decode(hex.as_bytes()).ok())
            .collect()
    };
    ZoneShape {
        cuts: decode(&meta.cuts),
        dnames: decode(&meta.dnames),
        has_wildcards: meta.has_wildcards,
    }
}

fn shape_into_meta(shape: &ZoneShape, meta: &mut ZoneMeta) {
    let encode = |keys: &HashSet<Vec<u8>>| {
        let mut hex: Vec<String> = keys
            .iter()
            .map(|k| data_encoding::HEXLOWER.encode(k))
            .collect();
        hex.sort();
        hex
    };
    meta.cuts = encode(&shape.cuts);
    meta.dnames = encode(&shape.dnames);
    meta.has_wildcards = shape.has_wildcards;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_arithmetic_follows_rfc_1982() {
        assert!(serial_greater(2, 1));
        assert!(!serial_greater(1, 2));
        assert!(serial_greater(0, u32::MAX), "wraps");
        assert!(!serial_greater(5, 5));
        assert_eq!(next_serial(10, Some(20)), 20);
        assert_eq!(next_serial(10, Some(5)), 11);
        assert_eq!(next_serial(u32::MAX, None), 0);
    }

    #[test]
    fn soa_fields_are_found_in_wire_rdata() {
        let mut rdata = b"\x02ns\x00\x02hm\x00".to_vec();
        for field in [7u32, 3600, 900, 604800, 60] {
            rdata.extend_from_slice(&field.to_be_bytes());
        }
        assert_eq!(soa_minimum(&rdata), Some(60));
        let patched = soa_with_serial(&rdata, 99).expect("patch");
        assert_eq!(&patched[8..12], &99u32.to_be_bytes());
        assert_eq!(soa_minimum(b"\x00\x00"), None);
    }

    fn write_zone(dir: &Path, body: &str) {
        std::fs::write(dir.join("example.test.zone"), body).expect("write zone");
    }

    const ZONE: &str = "$TTL 300\n@ SOA ns1 hm 100 3600 900 604800 60\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.2\n";

    #[test]
    fn serial_increases_on_every_content_change_and_admin_data_survives_reloads() {
        let zones = tempfile::tempdir().expect("zones");
        let data = tempfile::tempdir().expect("data");
        write_zone(zones.path(), ZONE);
        let store = Store::open(data.path(), 1 << 20).expect("store");
        let (catalog, reports) =
            Catalog::load(store.clone(), zones.path(), &DiscoveryPolicy::default()).expect("load");
        assert_eq!(reports[0].serial, 100);
        let origin = Name::from_ascii("example.test.").expect("origin");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let admin_key = catalog.zone(&origin).expect("zone").rrset_key(
            &name_key(&Name::from_ascii("adm.example.test.").expect("n")),
            rtype::A,
        );
        let value = encode_rrset(RrsetOwner::Admin, 60, &[vec![192, 0, 2, 9]]);
        let write = RrsetWrite {
            key: admin_key,
            value: Some(value),
        };
        let serial = runtime
            .block_on(catalog.apply(&origin, vec![write]))
            .expect("apply");
        assert_eq!(serial, 101);
        drop(catalog);
        // Unchanged file: same serial, nothing rewritten.
        let (catalog, reports) =
            Catalog::load(store.clone(), zones.path(), &DiscoveryPolicy::default())
                .expect("reload");
        assert!(!reports[0].file_changed);
        assert_eq!(reports[0].serial, 101);
        drop(catalog);
        // Changed file with an older serial: serial still increases; admin data kept; removed data gone.
        write_zone(
            zones.path(),
            &ZONE.replace("www A 192.0.2.2\n", "web A 192.0.2.3\n"),
        );
        let (catalog, reports) =
            Catalog::load(store.clone(), zones.path(), &DiscoveryPolicy::default())
                .expect("reload");
        assert!(reports[0].file_changed);
        assert_eq!(reports[0].serial, 102);
        let zone = catalog.zone(&origin).expect("served");
        let full =
            |name: &str, t: u16| zone.rrset_key(&name_key(&Name::from_ascii(name).expect("n")), t);
        assert!(
            store
                .rrset(&full("adm.example.test.", rtype::A))
                .expect("get")
                .is_some()
        );
        assert!(
            store
                .rrset(&full("www.example.test.", rtype::A))
                .expect("get")
                .is_none()
        );
        assert!(
            store
                .rrset(&full("web.example.test.", rtype::A))
                .expect("get")
                .is_some()
        );
        drop(catalog);
        // A file serial ahead of the stored one is taken as is.
        write_zone(zones.path(), &ZONE.replace(" 100 ", " 5000 "));
        let (_, reports) =
            Catalog::load(store, zones.path(), &DiscoveryPolicy::default()).expect("reload");
        assert_eq!(reports[0].serial, 5000);
    }

    /// A store whose zone is behind the serial it acknowledged lost
    /// durable writes: it is refused on open, never served.
    #[test]
    fn a_store_behind_its_acknowledged_serial_is_refused() {
        let zones = tempfile::tempdir().expect("zones");
        let data = tempfile::tempdir().expect("data");
        write_zone(zones.path(), ZONE);
        {
            let store = Store::open(data.path(), 1 << 20).expect("store");
            Catalog::load(store, zones.path(), &DiscoveryPolicy::default()).expect("load");
        }
        // As if sled had dropped the tail of its log: the file says 100 was
        // acknowledged; make it say 105.
        let path = data.path().join("acknowledged-serials");
        let text = std::fs::read_to_string(&path).expect("written after the flush");
        assert!(text.contains(",100]"), "{text}");
        std::fs::write(&path, text.replace(",100]", ",105]")).expect("write");
        let store = Store::open(data.path(), 1 << 20).expect("store");
        let error = Catalog::load(store, zones.path(), &DiscoveryPolicy::default())
            .err()
            .expect("refused");
        assert!(
            matches!(
                error,
                CatalogError::LostWrites {
                    acknowledged: 105,
                    stored: Some(100),
                    ..
                }
            ),
            "{error}"
        );
        assert!(error.to_string().contains("restore"), "{error}");
    }
}
