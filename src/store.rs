//! The sled store: RRsets, zone metadata and the schema version.
//!
//! Everything a commit touches lives in one tree, `nodes`, so a commit is one
//! `Tree::apply_batch`: atomic for readers (sled's write lock) and for crash
//! recovery, without a transaction's read of every key it writes. Its keys:
//!
//! - `zone id (u32 BE, never 0) ‖ name key ‖ 0x00` → all RRsets of that name
//!   in one value ([`crate::rrset::StoredNode`]), so answering a name is one
//!   read and publishing an identifier's TXT and SVCB is one write. Name keys
//!   sort in DNS canonical order ([`crate::name_key`]), so an exact lookup and
//!   "does anything exist at or below this name" are one ordered B-tree
//!   operation each; once the in-memory [`crate::node_index`] is built they
//!   are one hash probe each.
//! - `0x00000000 ‖ 'z' ‖ origin key` → the zone's [`ZoneMeta`] (JSON).
//! - `0x00000000 ‖ 'f' ‖ RRset key` → the RRset keys a zone file declared, so
//!   a changed zone file is reconciled without scanning admin-written data.
//!
//! Every value written to `nodes` carries a CRC-32 of its key and value as
//! its last four bytes ([`seal`]); every read checks it ([`unseal`]), so a
//! flipped byte on disk is reported as [`StoreError::Corrupt`] — never
//! served, never silently dropped — and [`Store::verify`] checks them all.
//!
//! Callers address RRsets by logical key (`zone id ‖ name key ‖ 0x00 ‖
//! type`); this module merges them into nodes. The `meta` tree holds the
//! schema version, checked on open.
//!
//! This module owns durability (flush before an acknowledgement) and
//! atomicity (one batch per commit); it knows nothing about DNS messages,
//! zone files or serial arithmetic.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

mod acknowledged;
mod integrity;
pub mod journal;
pub mod keys;

use keys::zone_prefix;
pub use keys::{NodeKey, RrsetKey};

use acknowledged::AcknowledgedSerials;
use integrity::{seal, unseal};

use crate::node_index::{IndexBuilder, NameState, NodeIndex};
use crate::rrset::{MalformedRrset, StoredNode, StoredRrset, encode_node};

/// Bumped whenever the layout of any tree changes incompatibly.
pub const SCHEMA_VERSION: u32 = 4;

/// Zone id 0 is never allocated: its key space holds the store's own records.
const STORE_RECORDS: [u8; 4] = [0, 0, 0, 0];
/// First key of zone data (zone id 1).
const FIRST_ZONE_KEY: [u8; 4] = [0, 0, 0, 1];
const ZONE_META_TAG: u8 = b'z';
const ZONEFILE_KEY_TAG: u8 = b'f';
const JOURNAL_TAG: u8 = b'j';
const SCHEMA_KEY: &[u8] = b"schema_version";

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("store I/O failed: {0}")]
    Sled(#[from] sled::Error),
    #[error(
        "store schema version is {found}, this build reads version {expected}; \
         export with the matching release, then import"
    )]
    SchemaMismatch { found: String, expected: u32 },
    #[error("store at {0} has data but no schema version; refusing to guess its layout")]
    MissingSchema(String),
    #[error(transparent)]
    Malformed(#[from] MalformedRrset),
    #[error("zone metadata for {origin} is unreadable: {reason}")]
    ZoneMeta { origin: String, reason: String },
    #[error(
        "the store is corrupt: the value at key {key} {reason}; run 'mimidns store verify' and restore from a backup"
    )]
    Corrupt { key: String, reason: &'static str },
    #[error(
        "the store cannot be opened (sled failed while reading it): it is corrupt; restore the data directory from a backup"
    )]
    Unreadable,
    #[error("the store is being reopened after a write failure; try again")]
    Reopening,
    #[error("cannot record acknowledged serials beside the store: {0}")]
    Acknowledged(std::io::Error),
    #[error("cannot write or remove the clean-shutdown marker {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// What [`Store::verify`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries read (nodes, zone metadata, zone-file keys).
    pub entries: u64,
    /// Nodes among them.
    pub nodes: u64,
    /// Problems, one line each (empty: the store is sound).
    pub problems: Vec<String>,
}

/// What the store remembers about one zone.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ZoneMeta {
    /// Prefix of all of the zone's RRset keys.
    pub id: u32,
    /// The origin in presentation form, for logs and listings.
    pub origin: String,
    /// Current SOA serial.
    pub serial: u32,
    /// SHA-256 (hex) of the zone file content last loaded.
    pub file_digest: String,
    /// Name keys (hex) of the delegation points below the apex.
    #[serde(default)]
    pub cuts: Vec<String>,
    /// Name keys (hex) of the DNAME owners.
    #[serde(default)]
    pub dnames: Vec<String>,
    /// Whether any wildcard owner was ever written to the zone.
    #[serde(default)]
    pub has_wildcards: bool,
    /// Identifiers published under the zone's discovery label.
    #[serde(default)]
    pub identifiers: u64,
    /// The last commit that changed the zone: when, and through what.
    #[serde(default)]
    pub last_change: Option<LastChange>,
    /// Sequence number of the oldest changeset kept in the journal.
    #[serde(default)]
    pub journal_first: u64,
    /// Sequence number the next changeset gets.
    #[serde(default)]
    pub journal_next: u64,
    /// Bytes the kept changesets take.
    #[serde(default)]
    pub journal_bytes: u64,
}

impl ZoneMeta {
    /// A zone new to the store: nothing below the apex known yet, no journal.
    pub fn new(id: u32, origin: String, serial: u32) -> Self {
        Self {
            id,
            origin,
            serial,
            file_digest: String::new(),
            cuts: Vec::new(),
            dnames: Vec::new(),
            has_wildcards: false,
            identifiers: 0,
            last_change: None,
            journal_first: 0,
            journal_next: 0,
            journal_bytes: 0,
        }
    }
}

/// When a zone last changed and what changed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LastChange {
    /// Seconds since the Unix epoch.
    pub at: u64,
    pub source: ChangeSource,
}

impl LastChange {
    pub fn now(source: ChangeSource) -> Self {
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self { at, source }
    }
}

/// What a zone's content came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeSource {
    /// The zone file (first load or a changed file).
    File,
    /// The admin API.
    Admin,
    /// A zone transfer (when this server is a secondary).
    Transfer,
}

/// One RRset write inside a commit: a value to store, or `None` to delete.
#[derive(Clone, Debug)]
pub struct RrsetWrite {
    pub key: RrsetKey,
    pub value: Option<Vec<u8>>,
}

/// Everything one commit changes in one zone, applied atomically.
#[derive(Clone, Debug, Default)]
pub struct ZoneCommit {
    pub origin_key: Vec<u8>,
    pub meta: Option<ZoneMeta>,
    pub rrsets: Vec<RrsetWrite>,
    /// Keys to add to (true) or remove from (false) the zone file's key list.
    pub zonefile_keys: Vec<(RrsetKey, bool)>,
    /// Record this commit in the zone's journal as the change from the
    /// first serial to the second (needs `meta`).
    pub journal: Option<(u32, u32)>,
}

/// A node as one commit left it: its key and value (`None`: removed).
type WrittenNode = (Vec<u8>, Option<Vec<u8>>);

/// One RRset change inside a node: its type and the new value (or deletion).
type NodeChange<'a> = (u16, Option<&'a [u8]>);

/// File in the store directory that a clean close leaves behind.
const CLEAN_SHUTDOWN_FILE: &str = "clean-shutdown";

/// How the process that used the store before ended, as seen at open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PreviousShutdown {
    /// There was no store: it was created now.
    #[default]
    NewStore,
    /// The store was closed by [`Store::close`].
    Clean,
    /// The process ended without closing it (killed, crashed, power lost);
    /// sled replayed its log, and everything acknowledged is there.
    Unclean,
}

/// Why the store is not healthy, for `/health` and the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreProblem {
    /// A value failed its checksum or layout check: it is not served
    /// (SERVFAIL) and the condition stays until the store is restored.
    Corrupt(String),
    /// A write or flush failed (for example, the disk is full); it clears
    /// once a write succeeds again.
    Failing(String),
}

/// The open sled database and its `nodes` tree. Replaced as a whole when
/// the store is reopened after a write failure ([`Store::reopen`]).
struct SledHandles {
    db: sled::Db,
    /// The `nodes` tree: nodes, zone metadata and zone-file keys.
    nodes: sled::Tree,
}

/// Where and how the store was opened, to open it again.
#[derive(Clone)]
struct OpenedAt {
    dir: std::path::PathBuf,
    cache_capacity_bytes: u64,
}

#[derive(Clone)]
pub struct Store {
    /// sled, or `None` while it is being reopened.
    sled: std::sync::Arc<std::sync::RwLock<Option<std::sync::Arc<SledHandles>>>>,
    opened_at: Option<OpenedAt>,
    /// The last problem seen, if any (see [`Store::problem`]).
    problem: std::sync::Arc<std::sync::Mutex<Option<StoreProblem>>>,
    /// Serials made durable, recorded outside sled.
    acknowledged: std::sync::Arc<AcknowledgedSerials>,
    /// In-memory copy of `nodes` for reads, once built ([`Store::build_index`]).
    index: std::sync::Arc<NodeIndex>,
    /// Held through every commit: a commit reads the nodes it merges into
    /// before its batch (from the index, or from sled before the index is
    /// built), which is only sound if no other commit runs in between.
    commit_lock: std::sync::Arc<std::sync::Mutex<()>>,
    /// How the previous process ended (seen at open).
    previous_shutdown: PreviousShutdown,
    /// How much journal each zone keeps.
    journal_limits: std::sync::Arc<std::sync::Mutex<journal::JournalLimits>>,
}

impl Store {
    /// Opens (or creates) the store in `dir`, checking the schema version.
    pub fn open(dir: &Path, cache_capacity_bytes: u64) -> Result<Self, StoreError> {
        // The marker a clean close leaves; taken away while the store is open.
        let marker = dir.join(CLEAN_SHUTDOWN_FILE);
        let marked_clean = marker.exists();
        let db = open_sled(dir, cache_capacity_bytes)?;
        let previous_shutdown = match (db.was_recovered(), marked_clean) {
            (false, _) => PreviousShutdown::NewStore,
            (true, true) => PreviousShutdown::Clean,
            (true, false) => PreviousShutdown::Unclean,
        };
        if marked_clean {
            std::fs::remove_file(&marker).map_err(|e| StoreError::Io {
                path: marker.display().to_string(),
                source: e,
            })?;
        }
        let mut store = Self::from_db(db, &dir.display().to_string())?;
        store.previous_shutdown = previous_shutdown;
        store.opened_at = Some(OpenedAt {
            dir: dir.to_path_buf(),
            cache_capacity_bytes,
        });
        store.acknowledged = std::sync::Arc::new(AcknowledgedSerials::open(dir)?);
        Ok(store)
    }

    /// The open sled handles (cheap: one reference count).
    fn sled(&self) -> Result<std::sync::Arc<SledHandles>, StoreError> {
        self.sled
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(StoreError::Reopening)
    }

    /// Closes sled and opens it again from disk. After a failed write (a
    /// full disk) sled refuses every later operation until it is reopened
    /// (its error is sticky); whatever it had applied in memory but not
    /// written is gone afterwards, so the caller must rebuild what it
    /// derived from the store (the index, the zone map). Waits up to a few
    /// seconds for in-flight operations to let go of the old handles.
    pub fn reopen(&self) -> Result<(), StoreError> {
        let Some(opened_at) = &self.opened_at else {
            return Ok(());
        };
        let mut slot = self.sled.write().unwrap_or_else(|e| e.into_inner());
        if let Some(mut old) = slot.take() {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            loop {
                match std::sync::Arc::try_unwrap(old) {
                    Ok(handles) => {
                        drop(handles);
                        break;
                    }
                    Err(shared) if std::time::Instant::now() < deadline => {
                        old = shared;
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                    Err(shared) => {
                        *slot = Some(shared);
                        return Err(StoreError::Reopening);
                    }
                }
            }
        }
        let db = open_sled(&opened_at.dir, opened_at.cache_capacity_bytes)?;
        let nodes = db.open_tree("nodes")?;
        *slot = Some(std::sync::Arc::new(SledHandles { db, nodes }));
        drop(slot);
        self.index.clear();
        *self.problem.lock().unwrap_or_else(|e| e.into_inner()) = None;
        tracing::info!("store reopened after a write failure");
        Ok(())
    }
}

/// Opens the sled database in `dir`.
fn open_sled(dir: &Path, cache_capacity_bytes: u64) -> Result<sled::Db, StoreError> {
    {
        let config = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_capacity_bytes)
            .flush_every_ms(Some(500));
        // sled panics on some corrupt files instead of returning an error
        // (spacejam/sled#1533): that must be a clear refusal, not a crash
        // loop. The panic hook has already withheld the message.
        let db = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || config.open()))
            .map_err(|_| StoreError::Unreadable)??;
        Ok(db)
    }
}

impl Store {
    /// The serial of each zone's last acknowledged (durable) commit, by
    /// origin key, as recorded outside sled. A zone whose stored serial is
    /// behind it lost acknowledged writes.
    pub fn acknowledged_serials(&self) -> Vec<(Vec<u8>, u32)> {
        self.acknowledged.serials()
    }

    /// A store that lives only in memory (unit tests).
    pub fn temporary() -> Result<Self, StoreError> {
        let db = sled::Config::new().temporary(true).open()?;
        Self::from_db(db, "(temporary)")
    }

    fn from_db(db: sled::Db, location: &str) -> Result<Self, StoreError> {
        let meta = db.open_tree("meta")?;
        let nodes = db.open_tree("nodes")?;
        match meta.get(SCHEMA_KEY)? {
            Some(found) if found.as_ref() == SCHEMA_VERSION.to_be_bytes() => {}
            Some(found) => {
                return Err(StoreError::SchemaMismatch {
                    found: format!("{:?}", found.as_ref()),
                    expected: SCHEMA_VERSION,
                });
            }
            None if nodes.is_empty() => {
                meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
                db.flush()?;
            }
            None => return Err(StoreError::MissingSchema(location.to_string())),
        }
        Ok(Self {
            sled: std::sync::Arc::new(std::sync::RwLock::new(Some(std::sync::Arc::new(
                SledHandles { db, nodes },
            )))),
            opened_at: None,
            problem: std::sync::Arc::default(),
            acknowledged: std::sync::Arc::default(),
            index: std::sync::Arc::default(),
            commit_lock: std::sync::Arc::default(),
            previous_shutdown: PreviousShutdown::default(),
            journal_limits: std::sync::Arc::default(),
        })
    }

    /// The store's current problem, if any: corruption found by a read, or
    /// a write that failed and has not succeeded since.
    pub fn problem(&self) -> Option<StoreProblem> {
        self.problem
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Remembers what a read or write ran into (corruption is never
    /// downgraded to a write failure) and passes the error on.
    fn noted<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(error) = &result {
            let mut problem = self.problem.lock().unwrap_or_else(|e| e.into_inner());
            match error {
                StoreError::Corrupt { .. } | StoreError::Malformed(_) | StoreError::Unreadable => {
                    if !matches!(*problem, Some(StoreProblem::Corrupt(_))) {
                        tracing::error!(error = %error, "store corruption detected");
                    }
                    *problem = Some(StoreProblem::Corrupt(error.to_string()));
                }
                StoreError::Sled(_) | StoreError::Acknowledged(_) if problem.is_none() => {
                    *problem = Some(StoreProblem::Failing(error.to_string()));
                }
                _ => {}
            }
        }
        result
    }

    /// A write reached disk: a write failure is over.
    fn write_succeeded(&self) {
        let mut problem = self.problem.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(*problem, Some(StoreProblem::Failing(_))) {
            *problem = None;
        }
    }

    /// How the process that used the store before ended.
    pub fn previous_shutdown(&self) -> PreviousShutdown {
        self.previous_shutdown
    }

    /// Flushes and marks the store as closed cleanly, so the next start can
    /// tell a clean stop from a crash. Call once, at shutdown; a write after
    /// it is still durable but the next start reports an unclean stop.
    pub async fn close(&self) -> Result<(), StoreError> {
        self.flush().await?;
        self.mark_closed()
    }

    /// [`Store::close`] for callers outside the runtime (the CLI).
    pub fn close_blocking(&self) -> Result<(), StoreError> {
        self.flush_blocking()?;
        self.mark_closed()
    }

    fn mark_closed(&self) -> Result<(), StoreError> {
        if let Some(opened_at) = &self.opened_at {
            let marker = opened_at.dir.join(CLEAN_SHUTDOWN_FILE);
            std::fs::write(&marker, b"").map_err(|e| StoreError::Io {
                path: marker.display().to_string(),
                source: e,
            })?;
        }
        Ok(())
    }

    pub fn size_on_disk(&self) -> u64 {
        self.sled()
            .ok()
            .and_then(|sled| sled.db.size_on_disk().ok())
            .unwrap_or(0)
    }

    /// What the name `node` is: its RRsets, an empty non-terminal, or
    /// nothing. One hash probe in memory; in sled one read and, for a name
    /// without RRsets, one ordered seek. Never a scan.
    pub fn name_state(&self, node: &NodeKey) -> Result<NameState, StoreError> {
        if self.index.is_ready() {
            return Ok(self.index.state(node.as_bytes()));
        }
        if let Some(stored) = self.sled_node(node)? {
            return Ok(NameState::Node(stored));
        }
        // Anything below the name has the node key as a prefix.
        let below = self
            .sled()?
            .nodes
            .scan_prefix(node.as_bytes())
            .keys()
            .next();
        Ok(match below.transpose()? {
            Some(_) => NameState::EmptyNonTerminal,
            None => NameState::Absent,
        })
    }

    /// All RRsets of the name `node`.
    pub fn node(&self, node: &NodeKey) -> Result<Option<StoredNode>, StoreError> {
        if !self.index.is_ready() {
            return self.sled_node(node);
        }
        Ok(match self.index.state(node.as_bytes()) {
            NameState::Node(node) => Some(node),
            NameState::EmptyNonTerminal | NameState::Absent => None,
        })
    }

    /// The node as sled holds it: one read.
    fn sled_node(&self, node: &NodeKey) -> Result<Option<StoredNode>, StoreError> {
        let key = node.stored();
        self.noted((|| match self.sled()?.nodes.get(&key)? {
            Some(bytes) => Ok(Some(StoredNode::parse(unseal(&key, bytes)?)?)),
            None => Ok(None),
        })())
    }

    /// Copies every node into memory so reads no longer go to sled; commits
    /// keep the copy current. Commits wait while it runs. Returns the number
    /// of nodes.
    pub fn build_index(&self) -> Result<usize, StoreError> {
        // No commit may start while the copy is taken: one that read sled
        // before the index was ready would not update it.
        let _serialized = self.commit_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut nodes = IndexBuilder::default();
        for item in self.sled()?.nodes.range(FIRST_ZONE_KEY..) {
            let (key, value) = self.noted(item.map_err(StoreError::from))?;
            let node = self.noted(
                unseal(&key, value).and_then(|v| StoredNode::parse(v).map_err(StoreError::from)),
            )?;
            nodes.insert(&key, node);
        }
        let count = nodes.len();
        self.index.install(nodes);
        Ok(count)
    }

    /// Reads every entry of the store and checks its checksum and layout,
    /// and that each zone's identifier count matches the identifiers
    /// stored. Reads sled, never the index. For `mimidns store verify`.
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        let mut report = VerifyReport::default();
        for item in self.sled()?.nodes.iter() {
            let (key, value) = item?;
            report.entries += 1;
            let problem = match unseal(&key, value) {
                Err(e) => Some(e.to_string()),
                Ok(value) if key.starts_with(&STORE_RECORDS) => {
                    match key.get(STORE_RECORDS.len()) {
                        Some(&ZONE_META_TAG) => decode_meta(&value).err().map(|e| e.to_string()),
                        Some(&ZONEFILE_KEY_TAG) => None,
                        Some(&JOURNAL_TAG) => journal::decode(&value)
                            .is_none()
                            .then(|| "a journal entry that does not decode".to_string()),
                        _ => Some(format!(
                            "unknown store record at key {}",
                            data_encoding::HEXLOWER.encode(&key)
                        )),
                    }
                }
                Ok(value) => {
                    report.nodes += 1;
                    StoredNode::parse(value)
                        .err()
                        .map(|e| format!("{e} at key {}", data_encoding::HEXLOWER.encode(&key)))
                }
            };
            report.problems.extend(problem);
        }
        Ok(report)
    }

    /// Whether reads are served from the in-memory index.
    pub fn index_ready(&self) -> bool {
        self.index.is_ready()
    }

    /// The RRset at `key`, if any.
    pub fn rrset(&self, key: &RrsetKey) -> Result<Option<StoredRrset>, StoreError> {
        Ok(self
            .node(&key.node())?
            .and_then(|node| node.rrset(key.record_type())))
    }

    /// Whether any RRset exists at the name `node` or below it.
    pub fn node_exists(&self, node: &NodeKey) -> Result<bool, StoreError> {
        Ok(!matches!(self.name_state(node)?, NameState::Absent))
    }

    /// Whether any name exists below `node`, the node itself not counted.
    /// One ordered seek in sled (the admin path's check before a DNAME; not
    /// on the query path).
    pub fn has_descendants(&self, node: &NodeKey) -> Result<bool, StoreError> {
        // A node's own entry is node key ‖ 0x00; a descendant's key
        // continues with a label octet, which is never 0x00.
        let prefix = node.as_bytes();
        let mut start = prefix.to_vec();
        start.push(crate::name_key::NODE_END + 1);
        let next = self
            .sled()?
            .nodes
            .range(start..)
            .keys()
            .next()
            .transpose()?;
        Ok(next.is_some_and(|key| key.starts_with(prefix)))
    }

    /// Types of the RRsets owned by the node itself, at most `limit` of them.
    pub fn node_types(&self, node: &NodeKey, limit: usize) -> Result<Vec<u16>, StoreError> {
        Ok(self
            .node(node)?
            .map(|node| node.rrsets().map(|(t, _)| t).take(limit).collect())
            .unwrap_or_default())
    }

    /// RRsets at and below the name `under` (a whole zone for
    /// `NodeKey::new(id, &[])`), in canonical order (export and
    /// reconciliation; never on the query path).
    pub fn scan<'a>(
        &'a self,
        under: &NodeKey,
    ) -> impl Iterator<Item = Result<(RrsetKey, StoredRrset), StoreError>> + use<'a> {
        let entries: Entries = match self.sled() {
            Ok(sled) => Box::new(
                sled.nodes
                    .scan_prefix(under.as_bytes())
                    .map(|item| item.map_err(StoreError::from)),
            ),
            Err(e) => Box::new(std::iter::once(Err(e))),
        };
        expand_nodes(entries)
    }

    /// Like [`Store::scan`], leaving out the names at and below `skip`
    /// (the discovery subtree, say): two ordered range reads around it, so
    /// the cost does not depend on how much the skipped subtree holds.
    pub fn scan_outside<'a>(
        &'a self,
        under: &NodeKey,
        skip: &NodeKey,
    ) -> impl Iterator<Item = Result<(RrsetKey, StoredRrset), StoreError>> + use<'a> {
        let prefix = under.as_bytes().to_vec();
        let skip_start = skip.as_bytes().to_vec();
        // Every key below `skip` starts with it; the first key after them is
        // `skip` with its last octet (a label's 0x00 end) raised by one.
        let mut skip_end = skip_start.clone();
        if let Some(last) = skip_end.last_mut() {
            *last = last.saturating_add(1);
        }
        let entries: Entries = match self.sled() {
            Ok(sled) => {
                let before = sled.nodes.range(prefix.clone()..skip_start);
                let after = sled.nodes.range(skip_end..);
                Box::new(
                    before
                        .chain(after)
                        .map(|item| item.map_err(StoreError::from))
                        .take_while(
                            move |item| !matches!(item, Ok((key, _)) if !key.starts_with(&prefix)),
                        ),
                )
            }
            Err(e) => Box::new(std::iter::once(Err(e))),
        };
        expand_nodes(entries)
    }

    /// The keys the zone file declared, for one zone.
    pub fn zonefile_keys(&self, zone_id: u32) -> Result<Vec<RrsetKey>, StoreError> {
        let prefix = store_record_key(ZONEFILE_KEY_TAG, &zone_prefix(zone_id));
        let tag_len = STORE_RECORDS.len() + 1;
        self.sled()?
            .nodes
            .scan_prefix(prefix)
            .map(|item| {
                let (key, value) = item?;
                unseal(&key, value)?;
                RrsetKey::from_bytes(&key[tag_len..]).ok_or_else(|| StoreError::Corrupt {
                    key: data_encoding::HEXLOWER.encode(&key),
                    reason: "a zone-file key that is not an RRset key",
                })
            })
            .collect()
    }

    pub fn zone_meta(&self, origin_key: &[u8]) -> Result<Option<ZoneMeta>, StoreError> {
        let key = store_record_key(ZONE_META_TAG, origin_key);
        self.noted((|| match self.sled()?.nodes.get(&key)? {
            Some(bytes) => Ok(Some(decode_meta(&unseal(&key, bytes)?)?)),
            None => Ok(None),
        })())
    }

    /// Every zone the store knows, keyed by origin key.
    pub fn zone_metas(&self) -> Result<Vec<(Vec<u8>, ZoneMeta)>, StoreError> {
        let tag_len = STORE_RECORDS.len() + 1;
        self.sled()?
            .nodes
            .scan_prefix(store_record_key(ZONE_META_TAG, &[]))
            .map(|item| {
                let (key, value) = item?;
                let value = unseal(&key, value)?;
                Ok((key[tag_len..].to_vec(), decode_meta(&value)?))
            })
            .collect()
    }

    /// A zone id no other zone uses.
    pub fn allocate_zone_id(&self) -> Result<u32, StoreError> {
        let highest = self
            .zone_metas()?
            .into_iter()
            .map(|(_, meta)| meta.id)
            .max()
            .unwrap_or(0);
        Ok(highest + 1)
    }

    /// Applies a commit atomically: concurrent readers see all of it or none
    /// of it (sled takes its write lock for a batch; reads take the read
    /// lock), and so does crash recovery. Not durable until [`Store::flush`]
    /// returns.
    pub fn commit(&self, commit: &ZoneCommit) -> Result<(), StoreError> {
        let mut meta = commit.meta.clone();
        // Group RRset writes by node: each node is read, merged and rewritten once.
        let mut nodes: BTreeMap<NodeKey, Vec<NodeChange<'_>>> = BTreeMap::new();
        for write in &commit.rrsets {
            nodes
                .entry(write.key.node())
                .or_default()
                .push((write.key.record_type(), write.value.as_deref()));
        }
        let _serialized = self.commit_lock.lock().unwrap_or_else(|e| e.into_inner());
        // The current nodes come from the index once it is built, from sled
        // before ([`Store::node`]); commits are serialized and `build_index`
        // takes the same lock, so neither the nodes nor readiness change meanwhile.
        let index_ready = self.index.is_ready();
        let mut merged: Vec<WrittenNode> = Vec::with_capacity(nodes.len());
        let mut changeset = commit
            .journal
            .map(|(from_serial, to_serial)| journal::Changeset {
                from_serial,
                to_serial,
                ..journal::Changeset::default()
            });
        for (node, changes) in &nodes {
            let current = self.node(node)?;
            if let Some(changeset) = &mut changeset {
                journal::diff_node(changeset, node.name_key(), current.as_ref(), changes)?;
            }
            merged.push((node.stored(), merge_node(current.as_ref(), changes)));
        }
        let mut batch = sled::Batch::default();
        if let (Some(changeset), Some(meta)) = (&changeset, &mut meta) {
            self.journal_into(&mut batch, meta, changeset)?;
        }
        let meta_bytes = match &meta {
            Some(meta) => Some(serde_json::to_vec(meta).map_err(|e| StoreError::ZoneMeta {
                origin: meta.origin.clone(),
                reason: e.to_string(),
            })?),
            None => None,
        };
        for (node_key, node) in &merged {
            match node {
                Some(node) => batch.insert(node_key.as_slice(), seal(node_key, node)),
                None => batch.remove(node_key.as_slice()),
            }
        }
        for (key, present) in &commit.zonefile_keys {
            let key = store_record_key(ZONEFILE_KEY_TAG, key.as_bytes());
            if *present {
                let sealed = seal(&key, &[]);
                batch.insert(key, sealed);
            } else {
                batch.remove(key);
            }
        }
        if let Some(bytes) = meta_bytes {
            let key = store_record_key(ZONE_META_TAG, &commit.origin_key);
            let sealed = seal(&key, &bytes);
            batch.insert(key, sealed);
        }
        self.noted(
            self.sled()
                .and_then(|sled| sled.nodes.apply_batch(batch).map_err(StoreError::from)),
        )?;
        if let Some(meta) = &meta {
            self.acknowledged.committed(&commit.origin_key, meta.serial);
        }
        // The index follows only once sled holds the commit.
        if index_ready {
            let mut changes = Vec::with_capacity(merged.len());
            for (key, node) in merged {
                let node = match node {
                    Some(bytes) => Some(StoredNode::parse(bytes.into())?),
                    None => None,
                };
                changes.push((key, node));
            }
            self.index.apply(changes);
        }
        Ok(())
    }

    /// Sets how much journal each zone keeps (from `[transfer]`).
    pub fn set_journal_limits(&self, limits: journal::JournalLimits) {
        *self
            .journal_limits
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = limits;
    }

    /// Adds `changeset` to the zone's journal in `batch` and drops the
    /// oldest changesets past the limits; updates the journal fields of `meta`.
    fn journal_into(
        &self,
        batch: &mut sled::Batch,
        meta: &mut ZoneMeta,
        changeset: &journal::Changeset,
    ) -> Result<(), StoreError> {
        let limits = *self
            .journal_limits
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let entry_key = |sequence: u64| {
            let mut rest = zone_prefix(meta.id).to_vec();
            rest.extend_from_slice(&sequence.to_be_bytes());
            store_record_key(JOURNAL_TAG, &rest)
        };
        let encoded = journal::encode(changeset);
        let key = entry_key(meta.journal_next);
        meta.journal_bytes += encoded.len() as u64;
        batch.insert(key.as_slice(), seal(&key, &encoded));
        meta.journal_next += 1;
        if meta.journal_first >= meta.journal_next {
            meta.journal_first = meta.journal_next - 1;
        }
        let sled = self.sled()?;
        while meta.journal_next - meta.journal_first > limits.max_changes.max(1)
            || (meta.journal_bytes > limits.max_bytes && meta.journal_next - meta.journal_first > 1)
        {
            let oldest = entry_key(meta.journal_first);
            let size = sled
                .nodes
                .get(&oldest)?
                .map_or(0, |value| value.len().saturating_sub(4) as u64);
            batch.remove(oldest);
            meta.journal_bytes = meta.journal_bytes.saturating_sub(size);
            meta.journal_first += 1;
        }
        Ok(())
    }

    /// The zone's journal, oldest changeset first.
    pub fn journal(&self, zone_id: u32) -> Result<Vec<journal::Changeset>, StoreError> {
        let prefix = store_record_key(JOURNAL_TAG, &zone_prefix(zone_id));
        self.sled()?
            .nodes
            .scan_prefix(prefix)
            .map(|item| {
                let (key, value) = item?;
                let value = unseal(&key, value)?;
                journal::decode(&value).ok_or_else(|| StoreError::Corrupt {
                    key: data_encoding::HEXLOWER.encode(&key),
                    reason: "a journal entry that does not decode",
                })
            })
            .collect()
    }

    /// Makes everything committed so far durable. The fsync runs on tokio's
    /// blocking pool: sled's own `flush_async` runs it on sled's small thread
    /// pool, where concurrent flushes can take every thread while holding
    /// sled's read lock and deadlock against a commit, which takes sled's write
    /// lock (spacejam/sled#1308).
    pub async fn flush(&self) -> Result<(), StoreError> {
        let sled = self.sled()?;
        let committed = self.acknowledged.snapshot();
        match tokio::task::spawn_blocking(move || sled.db.flush()).await {
            Ok(result) => {
                self.noted(result.map_err(StoreError::from))?;
                self.noted(self.acknowledged.write(committed))?;
                self.write_succeeded();
                Ok(())
            }
            Err(e) => Err(StoreError::Sled(sled::Error::ReportableBug(format!(
                "flush task failed: {e}"
            )))),
        }
    }

    /// Blocking flush, for start-up and shutdown.
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        let committed = self.acknowledged.snapshot();
        self.sled()?.db.flush()?;
        self.acknowledged.write(committed)
    }
}

type Entries = Box<dyn Iterator<Item = Result<(sled::IVec, sled::IVec), StoreError>>>;

/// Node entries read from sled → the RRsets they hold, checked.
fn expand_nodes(
    entries: Entries,
) -> impl Iterator<Item = Result<(RrsetKey, StoredRrset), StoreError>> {
    entries.flat_map(|item| {
        let expanded: Vec<Result<(RrsetKey, StoredRrset), StoreError>> = match item {
            Err(e) => vec![Err(e)],
            Ok((key, value)) => match unseal(&key, value)
                .and_then(|value| StoredNode::parse(value).map_err(StoreError::from))
            {
                Err(e) => vec![Err(e)],
                Ok(stored) => match NodeKey::from_stored(&key) {
                    None => vec![Err(StoreError::Corrupt {
                        key: data_encoding::HEXLOWER.encode(&key),
                        reason: "a node entry without its end marker",
                    })],
                    Some(node) => stored
                        .rrsets()
                        .map(|(record_type, rrset)| Ok((node.rrset(record_type), rrset)))
                        .collect(),
                },
            },
        };
        expanded
    })
}

/// `0x00000000 ‖ tag ‖ rest`: a key in the store's own key space.
fn store_record_key(tag: u8, rest: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(STORE_RECORDS.len() + 1 + rest.len());
    key.extend_from_slice(&STORE_RECORDS);
    key.push(tag);
    key.extend_from_slice(rest);
    key
}

/// A node with one commit's RRset changes applied: `None` once no RRset is left.
fn merge_node(current: Option<&StoredNode>, changes: &[NodeChange<'_>]) -> Option<Vec<u8>> {
    let mut merged: Vec<(u16, Vec<u8>)> = current
        .map(|node| node.rrsets().map(|(t, r)| (t, r.raw().to_vec())).collect())
        .unwrap_or_default();
    for (record_type, value) in changes {
        merged.retain(|(t, _)| t != record_type);
        if let Some(value) = value {
            merged.push((*record_type, value.to_vec()));
        }
    }
    if merged.is_empty() {
        None
    } else {
        Some(encode_node(&mut merged))
    }
}

fn decode_meta(bytes: &[u8]) -> Result<ZoneMeta, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::ZoneMeta {
        origin: String::from_utf8_lossy(bytes).chars().take(80).collect(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::integrity::CHECKSUM_LEN;
    use super::*;
    use crate::name_key::name_key;
    use crate::rrset::{RrsetOwner, encode_rrset};
    use hickory_proto::rr::Name;

    fn node(zone: u32, name: &str) -> NodeKey {
        NodeKey::new(zone, &name_key(&Name::from_ascii(name).expect("name")))
    }

    fn key(zone: u32, name: &str, rtype: u16) -> RrsetKey {
        node(zone, name).rrset(rtype)
    }

    fn put(store: &Store, keys: &[RrsetKey]) {
        let commit = ZoneCommit {
            rrsets: keys
                .iter()
                .map(|k| RrsetWrite {
                    key: k.clone(),
                    value: Some(encode_rrset(RrsetOwner::Admin, 60, &[vec![127, 0, 0, 1]])),
                })
                .collect(),
            ..ZoneCommit::default()
        };
        store.commit(&commit).expect("commit");
    }

    #[test]
    fn exists_below_and_exact_lookups_respect_zones() {
        let store = Store::temporary().expect("store");
        put(
            &store,
            &[
                key(1, "a.b.example.", 1),
                key(1, "z.example.", 16),
                key(2, "a.example.", 1),
            ],
        );
        assert!(
            store.node_exists(&node(1, "b.example.")).expect("ok"),
            "empty non-terminal"
        );
        assert!(!store.node_exists(&node(1, "c.example.")).expect("ok"));
        assert!(
            !store.node_exists(&node(1, "a.example.")).expect("ok"),
            "zones are separate"
        );
        assert!(store.node(&node(1, "b.example.")).expect("ok").is_none());
        let (rtype, _) = store
            .node(&node(1, "z.example."))
            .expect("ok")
            .and_then(|node| node.first())
            .expect("some");
        assert_eq!(rtype, 16);
        assert!(
            store
                .rrset(&key(1, "z.example.", 16))
                .expect("ok")
                .is_some()
        );
        assert!(store.rrset(&key(1, "z.example.", 1)).expect("ok").is_none());
    }

    #[test]
    fn zone_metadata_and_zone_file_keys_share_the_tree_without_mixing_with_nodes() {
        let store = Store::temporary().expect("store");
        let meta = ZoneMeta {
            file_digest: "d".into(),
            ..ZoneMeta::new(1, "example.".into(), 7)
        };
        let declared = key(1, "a.example.", 1);
        let commit = ZoneCommit {
            origin_key: name_key(&Name::from_ascii("example.").expect("name")),
            meta: Some(meta.clone()),
            rrsets: vec![RrsetWrite {
                key: declared.clone(),
                value: Some(encode_rrset(
                    RrsetOwner::ZoneFile,
                    60,
                    &[vec![192, 0, 2, 1]],
                )),
            }],
            zonefile_keys: vec![(declared.clone(), true)],
            journal: None,
        };
        store.commit(&commit).expect("commit");
        assert_eq!(store.zone_metas().expect("metas").len(), 1);
        assert_eq!(
            store.zone_meta(&commit.origin_key).expect("meta"),
            Some(meta)
        );
        assert_eq!(store.zonefile_keys(1).expect("keys"), vec![declared]);
        assert!(store.zonefile_keys(2).expect("keys").is_empty());
        let scanned: Vec<_> = store
            .scan(&NodeKey::new(1, &[]))
            .collect::<Result<_, _>>()
            .expect("scan");
        assert_eq!(scanned.len(), 1, "only the zone's RRset");
        assert_eq!(
            store.build_index().expect("index"),
            1,
            "metadata is no node"
        );
        assert_eq!(store.allocate_zone_id().expect("id"), 2);
    }

    #[test]
    fn schema_version_is_checked_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = Store::open(dir.path(), 1 << 20).expect("create");
            put(&store, &[key(1, "a.example.", 1)]);
            store.flush_blocking().expect("flush");
        }
        {
            let db = sled::open(dir.path()).expect("raw open");
            db.open_tree("meta")
                .expect("tree")
                .insert(SCHEMA_KEY, &99u32.to_be_bytes())
                .expect("insert");
            db.flush().expect("flush");
        }
        match Store::open(dir.path(), 1 << 20) {
            Err(StoreError::SchemaMismatch { .. }) => {}
            other => panic!("expected a schema mismatch, got {:?}", other.map(|_| ())),
        }
    }

    /// Per name: the node's types, whether anything is at or below it.
    type Observation = (Option<Vec<u16>>, bool);

    fn observe(store: &Store, names: &[&str]) -> Vec<Observation> {
        names
            .iter()
            .map(|name| {
                let prefix = node(1, name);
                let node = store
                    .node(&prefix)
                    .expect("node")
                    .map(|n| n.rrsets().map(|(t, _)| t).collect());
                let exists = store.node_exists(&prefix).expect("exists");
                (node, exists)
            })
            .collect()
    }

    #[test]
    fn the_memory_index_answers_like_sled_and_follows_commits() {
        let store = Store::temporary().expect("store");
        put(
            &store,
            &[
                key(1, "a.b.example.", 1),
                key(1, "z.example.", 16),
                key(1, "z.example.", 64),
            ],
        );
        let names = [
            "example.",
            "b.example.",
            "a.b.example.",
            "c.example.",
            "z.example.",
            "y.z.example.",
        ];
        let from_sled = observe(&store, &names);
        assert_eq!(store.build_index().expect("index"), 2);
        assert!(store.index_ready());
        assert_eq!(
            observe(&store, &names),
            from_sled,
            "same answers from memory"
        );
        // A commit reaches the index: z loses TXT, c appears, a.b disappears.
        let commit = ZoneCommit {
            rrsets: vec![
                RrsetWrite {
                    key: key(1, "z.example.", 16),
                    value: None,
                },
                RrsetWrite {
                    key: key(1, "c.example.", 1),
                    value: Some(encode_rrset(RrsetOwner::Admin, 1, &[vec![1, 2, 3, 4]])),
                },
                RrsetWrite {
                    key: key(1, "a.b.example.", 1),
                    value: None,
                },
            ],
            ..ZoneCommit::default()
        };
        store.commit(&commit).expect("commit");
        let seen = observe(&store, &names);
        assert!(!seen[1].1, "b.example. is gone with its only child");
        assert_eq!(seen[3].0, Some(vec![1]), "c.example. appeared");
        assert_eq!(seen[4].0, Some(vec![64]), "z.example. kept SVCB only");
        assert!(
            store
                .rrset(&key(1, "z.example.", 16))
                .expect("rrset")
                .is_none()
        );
    }

    /// Regression: a flipped byte in a stored value was served (or made
    /// sled panic); now it fails its checksum, is reported and not served.
    #[test]
    fn a_flipped_byte_is_detected_not_served() {
        let store = Store::temporary().expect("store");
        put(&store, &[key(1, "a.example.", 1), key(1, "b.example.", 1)]);
        assert!(store.verify().expect("verify").problems.is_empty());
        let node_key = node(1, "a.example.").stored();
        let mut stored = store
            .sled()
            .expect("sled")
            .nodes
            .get(&node_key)
            .expect("get")
            .expect("present")
            .to_vec();
        let last = stored.len() - CHECKSUM_LEN - 1;
        stored[last] ^= 0x01; // 127.0.0.1 becomes 127.0.0.0
        store
            .sled()
            .expect("sled")
            .nodes
            .insert(&node_key, stored)
            .expect("raw insert");
        let error = store.node(&node(1, "a.example.")).expect_err("corrupt");
        assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
        assert!(error.to_string().contains("store verify"), "{error}");
        assert!(matches!(store.problem(), Some(StoreProblem::Corrupt(_))));
        assert!(store.node(&node(1, "b.example.")).expect("sound").is_some());
        let report = store.verify().expect("verify");
        assert_eq!(report.problems.len(), 1, "{report:?}");
        assert!(
            store.build_index().is_err(),
            "the index refuses corrupt data"
        );
    }

    /// A value copied to another key fails too (the key is in the checksum).
    #[test]
    fn a_value_at_the_wrong_key_is_detected() {
        let store = Store::temporary().expect("store");
        put(&store, &[key(1, "a.example.", 1)]);
        let from = node(1, "a.example.").stored();
        let to = node(1, "c.example.").stored();
        let value = store
            .sled()
            .expect("sled")
            .nodes
            .get(&from)
            .expect("get")
            .expect("present");
        store
            .sled()
            .expect("sled")
            .nodes
            .insert(&to, value)
            .expect("raw insert");
        assert!(store.node(&node(1, "c.example.")).is_err());
    }

    /// The serials acknowledged after a flush are kept outside sled and
    /// read back on open.
    #[test]
    fn acknowledged_serials_survive_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = Store::open(dir.path(), 1 << 20).expect("open");
            let commit = ZoneCommit {
                origin_key: vec![7, 0],
                meta: Some(ZoneMeta {
                    id: 1,
                    origin: "example.".into(),
                    serial: 41,
                    file_digest: String::new(),
                    cuts: vec![],
                    dnames: vec![],
                    has_wildcards: false,
                    identifiers: 0,
                    last_change: Some(LastChange::now(ChangeSource::Admin)),
                    journal_first: 0,
                    journal_next: 0,
                    journal_bytes: 0,
                }),
                ..ZoneCommit::default()
            };
            store.commit(&commit).expect("commit");
            store.flush_blocking().expect("flush");
        }
        let store = Store::open(dir.path(), 1 << 20).expect("reopen");
        assert_eq!(store.acknowledged_serials(), vec![(vec![7, 0], 41)]);
    }

    /// A journaled commit writes its changeset in the same batch, records
    /// replaced RDATA as removed and added, and drops the oldest changesets
    /// past the limit.
    #[test]
    fn journaled_commits_record_their_changes_and_keep_the_newest() {
        let store = Store::temporary().expect("store");
        store.set_journal_limits(journal::JournalLimits {
            max_changes: 2,
            max_bytes: 1 << 20,
        });
        let origin_key = name_key(&Name::from_ascii("example.").expect("name"));
        let mut meta = ZoneMeta::new(1, "example.".into(), 1);
        let target = key(1, "a.example.", 1);
        for (serial, address) in [(2u32, 1u8), (3, 2), (4, 3)] {
            meta.serial = serial;
            let commit = ZoneCommit {
                origin_key: origin_key.clone(),
                meta: Some(meta.clone()),
                rrsets: vec![RrsetWrite {
                    key: target.clone(),
                    value: Some(encode_rrset(
                        RrsetOwner::Admin,
                        60,
                        &[vec![192, 0, 2, address]],
                    )),
                }],
                zonefile_keys: vec![],
                journal: Some((serial - 1, serial)),
            };
            store.commit(&commit).expect("commit");
            meta = store.zone_meta(&origin_key).expect("meta").expect("stored");
        }
        let entries = store.journal(1).expect("journal");
        assert_eq!(entries.len(), 2, "the oldest was dropped");
        assert_eq!((entries[0].from_serial, entries[1].to_serial), (2, 4));
        assert_eq!(entries[1].removed[0].rdata, vec![192, 0, 2, 2]);
        assert_eq!(entries[1].added[0].rdata, vec![192, 0, 2, 3]);
        assert_eq!((meta.journal_first, meta.journal_next), (1, 3));
        assert!(store.verify().expect("verify").problems.is_empty());
    }
}
