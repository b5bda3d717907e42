//! The serial of each zone's last acknowledged commit, kept outside sled.
//!
//! sled can lose the tail of its log to corruption and still open. Comparing
//! its zone serials with this file on open (the catalog does, see
//! `catalog::check_acknowledged`) turns that into a refusal to start instead
//! of silently serving a store without acknowledged writes. This module owns
//! the file only; it knows no serial arithmetic.

use std::collections::BTreeMap;
use std::path::Path;

use super::StoreError;

/// The serial of each zone's last durable commit, kept in a file beside
/// sled's (`acknowledged-serials`), written after every flush. sled can
/// lose a tail of its log to corruption and still open; comparing its zone
/// serials with this file on open turns that into a refusal to start
/// instead of silently serving a store without acknowledged writes.
///
/// The file is replaced by rename (no fsync of its own): it survives a
/// killed process; after a power loss it may be older than the truth,
/// which can only miss a loss, never report one that did not happen.
#[derive(Default)]
pub(super) struct AcknowledgedSerials {
    path: Option<std::path::PathBuf>,
    /// Per origin key (hex): (commit sequence, serial) of the last commit.
    committed: std::sync::Mutex<BTreeMap<String, (u64, u32)>>,
    /// What the file holds; merged by commit sequence, so a slow flush
    /// never writes an older serial over a newer one.
    written: std::sync::Mutex<BTreeMap<String, (u64, u32)>>,
    sequence: std::sync::atomic::AtomicU64,
}

pub(super) const ACKNOWLEDGED_FILE: &str = "acknowledged-serials";

impl AcknowledgedSerials {
    pub(super) fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(ACKNOWLEDGED_FILE);
        let written: BTreeMap<String, (u64, u32)> = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|_| StoreError::Corrupt {
                key: ACKNOWLEDGED_FILE.into(),
                reason: "is not the JSON this server writes",
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(StoreError::Acknowledged(e)),
        };
        let sequence = written.values().map(|(seq, _)| *seq).max().unwrap_or(0);
        Ok(Self {
            path: Some(path),
            committed: std::sync::Mutex::new(written.clone()),
            written: std::sync::Mutex::new(written),
            sequence: std::sync::atomic::AtomicU64::new(sequence),
        })
    }

    pub(super) fn committed(&self, origin_key: &[u8], serial: u32) {
        let sequence = self
            .sequence
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        self.committed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                data_encoding::HEXLOWER.encode(origin_key),
                (sequence, serial),
            );
    }

    /// What has been committed so far (taken before a flush makes it durable).
    pub(super) fn snapshot(&self) -> BTreeMap<String, (u64, u32)> {
        self.committed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Records `durable` (a snapshot taken before a flush that succeeded).
    pub(super) fn write(&self, durable: BTreeMap<String, (u64, u32)>) -> Result<(), StoreError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        let mut changed = false;
        for (zone, entry) in durable {
            if written.get(&zone).is_none_or(|old| old.0 < entry.0) {
                written.insert(zone, entry);
                changed = true;
            }
        }
        if !changed {
            return Ok(());
        }
        let bytes = serde_json::to_vec(&*written).unwrap_or_default();
        let temporary = path.with_extension("tmp");
        std::fs::write(&temporary, bytes)
            .and_then(|()| std::fs::rename(&temporary, path))
            .map_err(StoreError::Acknowledged)
    }

    /// Serial of the last acknowledged commit of each zone (origin key).
    pub(super) fn serials(&self) -> Vec<(Vec<u8>, u32)> {
        self.written
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(|(zone, (_, serial))| {
                Some((
                    data_encoding::HEXLOWER.decode(zone.as_bytes()).ok()?,
                    *serial,
                ))
            })
            .collect()
    }
}
