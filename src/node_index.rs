//! An in-memory, ordered copy of the store's nodes, for the query path.
//!
//! sled's read path is most of the cost of a query (see docs/PERFORMANCE.md).
//! Once built — in the background after start-up, so the server answers from
//! sled at once and from memory seconds later — this index holds every node
//! in a `BTreeMap` with the same keys and order as the store, so an exact
//! lookup, "anything at or below this name" and "the preceding name" keep
//! their meaning and stay one ordered operation each. Every commit updates it
//! under one write lock after sled accepted the transaction, so readers see a
//! commit whole or not at all. sled remains the only durable copy; this
//! module never touches disk.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::rrset::StoredNode;

pub type NodeMap = BTreeMap<Box<[u8]>, StoredNode>;

#[derive(Default)]
pub struct NodeIndex {
    ready: AtomicBool,
    nodes: RwLock<NodeMap>,
}

impl NodeIndex {
    /// Whether the index holds every node and may answer.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Installs a complete copy of the nodes; from now on it answers.
    pub fn install(&self, nodes: NodeMap) {
        *self.nodes.write().unwrap_or_else(|e| e.into_inner()) = nodes;
        self.ready.store(true, Ordering::Release);
    }

    /// The node stored under `key` (zone id ‖ name key ‖ 0x00).
    pub fn node(&self, key: &[u8]) -> Option<StoredNode> {
        self.nodes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    /// Whether any node key starts with `prefix`.
    pub fn exists_below(&self, prefix: &[u8]) -> bool {
        let nodes = self.nodes.read().unwrap_or_else(|e| e.into_inner());
        nodes
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .next()
            .is_some_and(|(key, _)| key.starts_with(prefix))
    }

    /// The greatest node key below `key` and at or above `floor`.
    pub fn predecessor(&self, floor: &[u8], key: &[u8]) -> Option<Vec<u8>> {
        let nodes = self.nodes.read().unwrap_or_else(|e| e.into_inner());
        nodes
            .range::<[u8], _>((Bound::Included(floor), Bound::Excluded(key)))
            .next_back()
            .map(|(key, _)| key.to_vec())
    }

    /// Applies one commit's node changes together.
    pub fn apply(&self, changes: Vec<(Vec<u8>, Option<StoredNode>)>) {
        if !self.is_ready() {
            return;
        }
        let mut nodes = self.nodes.write().unwrap_or_else(|e| e.into_inner());
        for (key, node) in changes {
            match node {
                Some(node) => {
                    nodes.insert(key.into_boxed_slice(), node);
                }
                None => {
                    nodes.remove(key.as_slice());
                }
            }
        }
    }
}
