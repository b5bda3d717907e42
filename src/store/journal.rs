//! The journal: what each commit changed in a zone, record by record, kept
//! in the store beside the data so IXFR (RFC 1995) can send a secondary only
//! what changed since its serial.
//!
//! A changeset is written in the same sled batch as the change it describes
//! (one crash-consistent unit) under `0x00000000 ‖ 'j' ‖ zone id ‖ sequence`,
//! and the oldest ones are dropped in that batch when the zone's journal
//! passes its limits. This module computes changesets from the nodes a
//! commit merges, encodes and decodes them, and condenses a run of them into
//! one difference; it knows record types only to single out the SOA.

use std::collections::HashSet;

use crate::rrset::{StoredNode, StoredRrset};
use crate::wire::rtype;

/// One resource record in a changeset.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JournalRecord {
    /// The owner as a name key (see `name_key`).
    pub name_key: Vec<u8>,
    pub record_type: u16,
    pub ttl: u32,
    pub rdata: Vec<u8>,
}

/// What one commit changed: serial `from` became `to`; the SOA records are
/// among `removed` and `added` like any other.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changeset {
    pub from_serial: u32,
    pub to_serial: u32,
    pub removed: Vec<JournalRecord>,
    pub added: Vec<JournalRecord>,
}

/// How much journal a zone keeps (oldest changesets are dropped first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalLimits {
    pub max_changes: u64,
    pub max_bytes: u64,
}

impl Default for JournalLimits {
    fn default() -> Self {
        Self {
            max_changes: 10_000,
            max_bytes: 64 << 20,
        }
    }
}

fn records(name_key: &[u8], record_type: u16, rrset: Option<&StoredRrset>) -> Vec<JournalRecord> {
    rrset.map_or_else(Vec::new, |rrset| {
        rrset
            .rdatas()
            .map(|rdata| JournalRecord {
                name_key: name_key.to_vec(),
                record_type,
                ttl: rrset.ttl(),
                rdata: rdata.to_vec(),
            })
            .collect()
    })
}

/// Adds to `changeset` what replacing RRsets of type `changes` in `current`
/// (the node at `name_key`) changes: records that go, records that come.
/// A TTL change replaces every record of the RRset.
pub fn diff_node(
    changeset: &mut Changeset,
    name_key: &[u8],
    current: Option<&StoredNode>,
    changes: &[(u16, Option<&[u8]>)],
) -> Result<(), crate::rrset::MalformedRrset> {
    for &(record_type, value) in changes {
        let old = current.and_then(|node| {
            node.rrsets()
                .find(|(t, _)| *t == record_type)
                .map(|(_, rrset)| rrset)
        });
        let new = match value {
            Some(bytes) => Some(StoredRrset::parse(bytes.to_vec().into())?),
            None => None,
        };
        let old = records(name_key, record_type, old.as_ref());
        let new = records(name_key, record_type, new.as_ref());
        changeset
            .removed
            .extend(old.iter().filter(|r| !new.contains(r)).cloned());
        changeset
            .added
            .extend(new.iter().filter(|r| !old.contains(r)).cloned());
    }
    Ok(())
}

fn put_record(out: &mut Vec<u8>, record: &JournalRecord) {
    out.extend_from_slice(&(record.name_key.len() as u16).to_be_bytes());
    out.extend_from_slice(&record.name_key);
    out.extend_from_slice(&record.record_type.to_be_bytes());
    out.extend_from_slice(&record.ttl.to_be_bytes());
    out.extend_from_slice(&(record.rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(&record.rdata);
}

pub fn encode(changeset: &Changeset) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + 64 * (changeset.removed.len() + changeset.added.len()));
    out.extend_from_slice(&changeset.from_serial.to_be_bytes());
    out.extend_from_slice(&changeset.to_serial.to_be_bytes());
    for list in [&changeset.removed, &changeset.added] {
        out.extend_from_slice(&(list.len() as u32).to_be_bytes());
        for record in list {
            put_record(&mut out, record);
        }
    }
    out
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let slice = self.bytes.get(self.at..self.at + n)?;
        self.at += n;
        Some(slice)
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

pub fn decode(bytes: &[u8]) -> Option<Changeset> {
    let mut reader = Reader { bytes, at: 0 };
    let mut changeset = Changeset {
        from_serial: reader.u32()?,
        to_serial: reader.u32()?,
        ..Changeset::default()
    };
    for list in [&mut changeset.removed, &mut changeset.added] {
        let count = reader.u32()?;
        for _ in 0..count {
            let name_length = usize::from(reader.u16()?);
            let name_key = reader.take(name_length)?.to_vec();
            let record_type = reader.u16()?;
            let ttl = reader.u32()?;
            let rdata_length = usize::from(reader.u16()?);
            let rdata = reader.take(rdata_length)?.to_vec();
            list.push(JournalRecord {
                name_key,
                record_type,
                ttl,
                rdata,
            });
        }
    }
    (reader.at == bytes.len()).then_some(changeset)
}

/// A run of changesets (each starting where the one before ended) as one
/// difference: records added and later removed cancel out, as do records
/// removed and added back. SOA records are left out (the caller has them).
pub fn condense(changesets: &[Changeset]) -> (Vec<JournalRecord>, Vec<JournalRecord>) {
    let mut removed: Vec<Option<JournalRecord>> = Vec::new();
    let mut added: Vec<Option<JournalRecord>> = Vec::new();
    let mut removed_at: std::collections::HashMap<JournalRecord, usize> = Default::default();
    let mut added_at: std::collections::HashMap<JournalRecord, usize> = Default::default();
    for changeset in changesets {
        for record in changeset
            .removed
            .iter()
            .filter(|r| r.record_type != rtype::SOA)
        {
            if let Some(at) = added_at.remove(record) {
                added[at] = None;
            } else if !removed_at.contains_key(record) {
                removed_at.insert(record.clone(), removed.len());
                removed.push(Some(record.clone()));
            }
        }
        for record in changeset
            .added
            .iter()
            .filter(|r| r.record_type != rtype::SOA)
        {
            if let Some(at) = removed_at.remove(record) {
                removed[at] = None;
            } else if !added_at.contains_key(record) {
                added_at.insert(record.clone(), added.len());
                added.push(Some(record.clone()));
            }
        }
    }
    let keep = |list: Vec<Option<JournalRecord>>| list.into_iter().flatten().collect();
    (keep(removed), keep(added))
}

/// The changesets from serial `from` on, if the journal reaches back that
/// far and runs unbroken; `entries` in sequence order.
pub fn since(entries: Vec<Changeset>, from: u32) -> Option<Vec<Changeset>> {
    let start = entries.iter().position(|c| c.from_serial == from)?;
    let run: Vec<Changeset> = entries.into_iter().skip(start).collect();
    let unbroken = run
        .windows(2)
        .all(|pair| pair[0].to_serial == pair[1].from_serial);
    let distinct: HashSet<u32> = run.iter().map(|c| c.from_serial).collect();
    (unbroken && distinct.len() == run.len()).then_some(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &[u8], rdata: &[u8]) -> JournalRecord {
        JournalRecord {
            name_key: name.to_vec(),
            record_type: rtype::TXT,
            ttl: 300,
            rdata: rdata.to_vec(),
        }
    }

    fn soa(serial: u32) -> JournalRecord {
        JournalRecord {
            name_key: b"example".to_vec(),
            record_type: rtype::SOA,
            ttl: 60,
            rdata: serial.to_be_bytes().to_vec(),
        }
    }

    fn changeset(from: u32, removed: Vec<JournalRecord>, added: Vec<JournalRecord>) -> Changeset {
        let mut removed = removed;
        let mut added = added;
        removed.push(soa(from));
        added.push(soa(from + 1));
        Changeset {
            from_serial: from,
            to_serial: from + 1,
            removed,
            added,
        }
    }

    #[test]
    fn changesets_round_trip_and_refuse_garbage() {
        let c = changeset(
            7,
            vec![record(b"a", b"\x01x")],
            vec![record(b"b", b"\x01y")],
        );
        assert_eq!(decode(&encode(&c)), Some(c.clone()));
        let mut bytes = encode(&c);
        bytes.push(0);
        assert_eq!(decode(&bytes), None);
        assert_eq!(decode(&encode(&c)[..10]), None);
    }

    #[test]
    fn condensing_cancels_add_then_remove_and_remove_then_add() {
        let (a, b, c) = (record(b"a", b"1"), record(b"b", b"2"), record(b"c", b"3"));
        let run = vec![
            changeset(1, vec![], vec![a.clone(), b.clone()]),
            changeset(2, vec![a.clone(), c.clone()], vec![]),
            changeset(3, vec![], vec![c.clone()]),
        ];
        let (removed, added) = condense(&run);
        assert_eq!(removed, Vec::<JournalRecord>::new());
        assert_eq!(added, vec![b]);
    }

    #[test]
    fn since_needs_the_serial_and_an_unbroken_run() {
        let run = vec![
            changeset(1, vec![], vec![]),
            changeset(2, vec![], vec![]),
            changeset(3, vec![], vec![]),
        ];
        assert_eq!(since(run.clone(), 2).map(|r| r.len()), Some(2));
        assert_eq!(since(run.clone(), 9), None);
        let broken = vec![changeset(1, vec![], vec![]), changeset(5, vec![], vec![])];
        assert_eq!(since(broken, 1), None);
    }
}
