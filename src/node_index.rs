//! An in-memory, hashed copy of the store's nodes, for the query path.
//!
//! sled's read path is most of the cost of a query (see docs/PERFORMANCE.md).
//! Once built — in the background after start-up, so the server answers from
//! sled at once and from memory seconds later — this index holds every node
//! in a hash map keyed by `zone id ‖ name key` (the store key without its
//! end-of-node marker). The query path asks only two things of a name: "what
//! does it own" and "does anything exist at or below it" (empty non-terminals,
//! RFC 8020; the closest encloser, RFC 4592). Both are one hash probe: every
//! ancestor of a stored name has an entry that counts the stored names below
//! it, so an empty non-terminal is an entry without RRsets and a name that
//! does not exist has no entry at all. A lookup therefore costs the same at
//! ten names as at ten million (an ordered map costs a dozen scattered key
//! comparisons per lookup at a million names). Every commit updates the map
//! under one write lock after sled accepted the commit, so readers see
//! a commit whole or not at all. sled remains the only durable copy and the
//! only ordered one (export, reconciliation); this module never touches disk.

use std::hash::BuildHasher;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use sled::IVec;

use crate::rrset::StoredNode;

/// Bytes of the zone id at the start of every key.
const ZONE_ID_LEN: usize = 4;
/// Bytes of the key-length header of a record.
const KEY_LEN_BYTES: usize = 2;

/// What one name is, as the query path needs to know it.
#[derive(Clone, Debug)]
pub enum NameState {
    /// Nothing is stored at or below the name.
    Absent,
    /// The name owns no RRsets but names below it do (RFC 8020).
    EmptyNonTerminal,
    /// The name's RRsets.
    Node(StoredNode),
}

/// One name in one shared allocation — `[key length u16 BE][key][node]`,
/// an empty node part marking an empty non-terminal — so a probe that
/// compares the key has the RRsets in the same cache lines; and the count
/// of stored names below it.
struct IndexRecord {
    bytes: IVec,
    descendants: u64,
}

impl IndexRecord {
    /// `key` is at most `u16::MAX` bytes ([`node_name`] checks).
    fn new(key: &[u8], node: Option<&StoredNode>, descendants: u64) -> Self {
        let node_bytes = node.map(StoredNode::raw).unwrap_or_default();
        let key_len = u16::try_from(key.len()).unwrap_or(u16::MAX);
        let mut bytes = Vec::with_capacity(KEY_LEN_BYTES + key.len() + node_bytes.len());
        bytes.extend_from_slice(&key_len.to_be_bytes());
        bytes.extend_from_slice(&key[..usize::from(key_len)]);
        bytes.extend_from_slice(node_bytes);
        Self {
            bytes: bytes.into(),
            descendants,
        }
    }

    fn node_start(&self) -> usize {
        KEY_LEN_BYTES + usize::from(u16::from_be_bytes([self.bytes[0], self.bytes[1]]))
    }

    fn key(&self) -> &[u8] {
        &self.bytes[KEY_LEN_BYTES..self.node_start()]
    }

    fn has_node(&self) -> bool {
        self.node_start() < self.bytes.len()
    }

    fn state(&self) -> NameState {
        let start = self.node_start();
        if start < self.bytes.len() {
            let node = self.bytes.subslice(start, self.bytes.len() - start);
            NameState::Node(StoredNode::from_parsed(node))
        } else {
            NameState::EmptyNonTerminal
        }
    }
}

/// The records and the seeded hasher that places them.
#[derive(Default)]
struct Records {
    table: HashTable<IndexRecord>,
    hasher: foldhash::fast::RandomState,
}

impl Records {
    fn get(&self, key: &[u8]) -> Option<&IndexRecord> {
        self.table
            .find(self.hasher.hash_one(key), |record| record.key() == key)
    }

    fn get_mut(&mut self, key: &[u8]) -> Option<&mut IndexRecord> {
        self.table
            .find_mut(self.hasher.hash_one(key), |record| record.key() == key)
    }

    /// Inserts the record, replacing the one with the same key.
    fn put(&mut self, record: IndexRecord) {
        let hasher = &self.hasher;
        let hash = hasher.hash_one(record.key());
        match self.table.entry(
            hash,
            |existing| existing.key() == record.key(),
            |existing| hasher.hash_one(existing.key()),
        ) {
            Entry::Occupied(mut occupied) => *occupied.get_mut() = record,
            Entry::Vacant(vacant) => {
                vacant.insert(record);
            }
        }
    }

    fn remove(&mut self, key: &[u8]) {
        if let Ok(found) = self
            .table
            .find_entry(self.hasher.hash_one(key), |record| record.key() == key)
        {
            found.remove();
        }
    }
}

/// A complete set of nodes being assembled off the query path; handed to
/// [`NodeIndex::install`] when done.
#[derive(Default)]
pub struct IndexBuilder {
    records: Records,
    nodes: usize,
}

impl IndexBuilder {
    /// Adds the node stored under the sled key `node_key` (zone id ‖ name key ‖ 0x00).
    pub fn insert(&mut self, node_key: &[u8], node: StoredNode) {
        if let Some(name) = node_name(node_key) {
            set_node(&mut self.records, name, Some(node));
            self.nodes += 1;
        }
    }

    /// Stored names added so far.
    pub fn len(&self) -> usize {
        self.nodes
    }

    pub fn is_empty(&self) -> bool {
        self.nodes == 0
    }
}

#[derive(Default)]
pub struct NodeIndex {
    ready: AtomicBool,
    records: RwLock<Records>,
}

impl NodeIndex {
    /// Whether the index holds every node and may answer.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Installs a complete copy of the nodes; from now on it answers.
    pub fn install(&self, built: IndexBuilder) {
        *self.records.write().unwrap_or_else(|e| e.into_inner()) = built.records;
        self.ready.store(true, Ordering::Release);
    }

    /// Drops the copy: reads go back to sled until it is built again
    /// (after the store is reopened, the copy may hold writes sled lost).
    pub fn clear(&self) {
        self.ready.store(false, Ordering::Release);
        *self.records.write().unwrap_or_else(|e| e.into_inner()) = Records::default();
    }

    /// What the name `name` (zone id ‖ name key) is: one hash probe.
    pub fn state(&self, name: &[u8]) -> NameState {
        self.records
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .map_or(NameState::Absent, IndexRecord::state)
    }

    /// Applies one commit's node changes together; keys are sled node keys
    /// (zone id ‖ name key ‖ 0x00), `None` removes the node.
    pub fn apply(&self, changes: Vec<(Vec<u8>, Option<StoredNode>)>) {
        if !self.is_ready() {
            return;
        }
        let mut records = self.records.write().unwrap_or_else(|e| e.into_inner());
        for (node_key, node) in changes {
            if let Some(name) = node_name(&node_key) {
                set_node(&mut records, name, node);
            }
        }
    }
}

/// The name part (zone id ‖ name key) of a sled node key.
fn node_name(node_key: &[u8]) -> Option<&[u8]> {
    match node_key.split_last() {
        Some((&crate::name_key::NODE_END, name))
            if (ZONE_ID_LEN..=usize::from(u16::MAX)).contains(&name.len()) =>
        {
            Some(name)
        }
        _ => None,
    }
}

/// Sets (or clears) the RRsets of `name` and keeps the ancestors' counts of
/// stored names below them in step.
fn set_node(records: &mut Records, name: &[u8], node: Option<StoredNode>) {
    let (was_stored, descendants) = records
        .get(name)
        .map_or((false, 0), |record| (record.has_node(), record.descendants));
    let is_stored = node.is_some();
    if is_stored || descendants > 0 {
        records.put(IndexRecord::new(name, node.as_ref(), descendants));
    } else {
        records.remove(name);
    }
    if was_stored == is_stored {
        return;
    }
    for ancestor in ancestors(name) {
        if is_stored {
            match records.get_mut(ancestor) {
                Some(record) => record.descendants += 1,
                None => records.put(IndexRecord::new(ancestor, None, 1)),
            }
        } else if let Some(record) = records.get_mut(ancestor) {
            record.descendants = record.descendants.saturating_sub(1);
            if record.descendants == 0 && !record.has_node() {
                records.remove(ancestor);
            }
        }
    }
}

/// The proper ancestors of `name` (zone id ‖ name key), each as zone id ‖
/// name key, down to the zone id alone (the root). A name key ends every
/// label with 0x00 and escapes 0x00 inside labels, so each 0x00 but the
/// last ends an ancestor.
fn ancestors(name: &[u8]) -> impl Iterator<Item = &[u8]> {
    let labels = name.get(ZONE_ID_LEN..).unwrap_or_default();
    let last = labels.len().saturating_sub(1);
    std::iter::once(&name[..ZONE_ID_LEN.min(name.len())]).chain(
        labels
            .iter()
            .enumerate()
            .filter(move |&(at, &byte)| byte == crate::name_key::NODE_END && at < last)
            .map(move |(at, _)| &name[..ZONE_ID_LEN + at + 1]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name_key::name_key;
    use crate::rrset::{RrsetOwner, encode_node, encode_rrset};
    use hickory_proto::rr::Name;

    fn name(text: &str) -> Vec<u8> {
        let mut key = 7u32.to_be_bytes().to_vec();
        key.extend(name_key(&Name::from_ascii(text).expect("name")));
        key
    }

    fn node_key(text: &str) -> Vec<u8> {
        let mut key = name(text);
        key.push(crate::name_key::NODE_END);
        key
    }

    fn a_node() -> StoredNode {
        let rrset = encode_rrset(RrsetOwner::Admin, 60, &[vec![192, 0, 2, 1]]);
        StoredNode::parse(encode_node(&mut [(1, rrset)]).into()).expect("node")
    }

    #[test]
    fn ancestors_are_every_enclosing_name_down_to_the_root() {
        let key = name("a.b.example.");
        let found: Vec<&[u8]> = ancestors(&key).collect();
        assert_eq!(
            found,
            vec![
                &name(".")[..],
                &name("example.")[..],
                &name("b.example.")[..]
            ]
        );
        // A label holding 0x00 is escaped, so it does not split.
        let mut zero = Name::from_ascii("example.").expect("name");
        zero = zero.prepend_label(&[0u8, b'x'][..]).expect("label");
        let mut key = 7u32.to_be_bytes().to_vec();
        key.extend(name_key(&zero));
        assert_eq!(ancestors(&key).count(), 2);
    }

    fn node_of(index: &NodeIndex, name: &[u8]) -> Option<StoredNode> {
        match index.state(name) {
            NameState::Node(node) => Some(node),
            _ => None,
        }
    }

    fn exists(index: &NodeIndex, name: &[u8]) -> bool {
        !matches!(index.state(name), NameState::Absent)
    }

    #[test]
    fn empty_non_terminals_come_and_go_with_the_names_below_them() {
        let mut built = IndexBuilder::default();
        built.insert(&node_key("a.b.example."), a_node());
        built.insert(&node_key("c.b.example."), a_node());
        assert_eq!(built.len(), 2);
        let index = NodeIndex::default();
        index.install(built);
        assert!(exists(&index, &name("b.example.")));
        assert!(
            node_of(&index, &name("b.example.")).is_none(),
            "empty non-terminal"
        );
        assert!(node_of(&index, &name("a.b.example.")).is_some());
        assert!(!exists(&index, &name("x.example.")));

        index.apply(vec![(node_key("a.b.example."), None)]);
        assert!(exists(&index, &name("b.example.")), "c is left");
        assert!(!exists(&index, &name("a.b.example.")));
        index.apply(vec![(node_key("c.b.example."), None)]);
        assert!(!exists(&index, &name("b.example.")));
        assert!(!exists(&index, &name("example.")));

        // A name that is both stored and an ancestor keeps its RRsets when
        // its children go, and its entry when its RRsets go.
        index.apply(vec![
            (node_key("b.example."), Some(a_node())),
            (node_key("x.b.example."), Some(a_node())),
        ]);
        index.apply(vec![(node_key("x.b.example."), None)]);
        assert!(node_of(&index, &name("b.example.")).is_some());
        index.apply(vec![
            (node_key("x.b.example."), Some(a_node())),
            (node_key("b.example."), None),
        ]);
        assert!(node_of(&index, &name("b.example.")).is_none());
        assert!(exists(&index, &name("b.example.")));
        // Rewriting a stored name does not count it twice.
        index.apply(vec![(node_key("x.b.example."), Some(a_node()))]);
        index.apply(vec![(node_key("x.b.example."), None)]);
        assert!(!exists(&index, &name("example.")));
    }
}
