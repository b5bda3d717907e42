//! Typed keys of the store's `nodes` tree, and the one place their bytes
//! are put together.
//!
//! A node key is `zone id (4 octets, big-endian) ‖ name key`
//! ([`crate::name_key`]); sled keeps the node's RRsets under `node key ‖
//! 0x00`; an RRset key is `node key ‖ 0x00 ‖ type (u16, big-endian)`. The
//! name key's labels end in 0x00 and never contain it, so every name below a
//! node has the node key as a prefix and sorts after the node's own entry.
//! Everything else passes these types around and never splices bytes by
//! hand. It knows nothing of sled, values or DNS messages.

use crate::name_key::{NODE_END, push_label, split_rrset_key};

/// Octets of the zone id at the front of every key.
const ZONE_ID_LEN: usize = 4;

/// The prefix every key of one zone starts with.
pub(crate) fn zone_prefix(zone_id: u32) -> [u8; ZONE_ID_LEN] {
    zone_id.to_be_bytes()
}

/// One name in one zone: `zone id ‖ name key`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeKey(Vec<u8>);

impl NodeKey {
    pub fn new(zone_id: u32, name_key: &[u8]) -> Self {
        let mut key = Vec::with_capacity(ZONE_ID_LEN + name_key.len() + 3);
        key.extend_from_slice(&zone_prefix(zone_id));
        key.extend_from_slice(name_key);
        Self(key)
    }

    /// The name one label below this one (`label` as in a DNS name).
    pub fn child(&self, label: &[u8]) -> Self {
        let mut key = self.0.clone();
        push_label(&mut key, label);
        Self(key)
    }

    /// The key of this name's RRset of `record_type`.
    pub fn rrset(&self, record_type: u16) -> RrsetKey {
        let mut key = Vec::with_capacity(self.0.len() + 3);
        key.extend_from_slice(&self.0);
        key.push(NODE_END);
        key.extend_from_slice(&record_type.to_be_bytes());
        RrsetKey(key)
    }

    pub fn zone_id(&self) -> u32 {
        zone_id_of(&self.0)
    }

    /// The name key, without the zone id.
    pub fn name_key(&self) -> &[u8] {
        &self.0[ZONE_ID_LEN..]
    }

    /// Every name at or below this one has this prefix.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The sled key holding this node's RRsets (`node key ‖ 0x00`).
    pub(crate) fn stored(&self) -> Vec<u8> {
        let mut key = Vec::with_capacity(self.0.len() + 1);
        key.extend_from_slice(&self.0);
        key.push(NODE_END);
        key
    }

    /// The node whose RRsets sled keeps under `stored`, if it is one.
    pub(crate) fn from_stored(stored: &[u8]) -> Option<Self> {
        match stored.split_last() {
            Some((&NODE_END, node)) if node.len() >= ZONE_ID_LEN => Some(Self(node.to_vec())),
            _ => None,
        }
    }
}

/// One RRset in one zone: `zone id ‖ name key ‖ 0x00 ‖ type`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RrsetKey(Vec<u8>);

impl RrsetKey {
    pub fn new(zone_id: u32, name_key: &[u8], record_type: u16) -> Self {
        NodeKey::new(zone_id, name_key).rrset(record_type)
    }

    /// The RRset of a zone given by its zone-relative key (`name key ‖
    /// 0x00 ‖ type`, [`crate::name_key::rrset_key`]); `None` if `relative`
    /// is not laid out like one.
    pub fn in_zone(zone_id: u32, relative: &[u8]) -> Option<Self> {
        let (name_key, record_type) = split_rrset_key(relative)?;
        Some(Self::new(zone_id, name_key, record_type))
    }

    /// An RRset key read back from the store; `None` if the bytes are not one.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (node, _) = split_rrset_key(bytes)?;
        (node.len() >= ZONE_ID_LEN).then(|| Self(bytes.to_vec()))
    }

    pub fn node(&self) -> NodeKey {
        NodeKey(self.node_bytes().to_vec())
    }

    fn node_bytes(&self) -> &[u8] {
        &self.0[..self.0.len() - 3]
    }

    pub fn record_type(&self) -> u16 {
        let at = self.0.len() - 2;
        u16::from_be_bytes([self.0[at], self.0[at + 1]])
    }

    pub fn zone_id(&self) -> u32 {
        zone_id_of(&self.0)
    }

    /// The name key, without the zone id.
    pub fn name_key(&self) -> &[u8] {
        &self.node_bytes()[ZONE_ID_LEN..]
    }

    /// The zone-relative key (`name key ‖ 0x00 ‖ type`).
    pub fn relative(&self) -> &[u8] {
        &self.0[ZONE_ID_LEN..]
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

fn zone_id_of(key: &[u8]) -> u32 {
    let mut id = [0u8; ZONE_ID_LEN];
    id.copy_from_slice(&key[..ZONE_ID_LEN]);
    u32::from_be_bytes(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name_key::{name_key, rrset_key};
    use hickory_proto::rr::Name;

    #[test]
    fn keys_are_laid_out_once_and_read_back() {
        let name = name_key(&Name::from_ascii("a.example.test.").expect("name"));
        let node = NodeKey::new(7, &name);
        assert_eq!(node.zone_id(), 7);
        assert_eq!(node.name_key(), name.as_slice());
        assert_eq!(node.as_bytes(), [&[0, 0, 0, 7][..], &name].concat());
        let rrset = node.rrset(16);
        assert_eq!(rrset.as_bytes(), [node.as_bytes(), &[0, 0, 16]].concat());
        assert_eq!((rrset.zone_id(), rrset.record_type()), (7, 16));
        assert_eq!(rrset.node(), node);
        assert_eq!(rrset.name_key(), name.as_slice());
        assert_eq!(rrset.relative(), rrset_key(&name, 16).as_slice());
        assert_eq!(
            RrsetKey::in_zone(7, &rrset_key(&name, 16)),
            Some(rrset.clone())
        );
        assert_eq!(RrsetKey::from_bytes(rrset.as_bytes()), Some(rrset));
        assert_eq!(NodeKey::from_stored(&node.stored()), Some(node.clone()));
        assert!(node.child(b"*").as_bytes().starts_with(node.as_bytes()));
        assert_eq!(RrsetKey::in_zone(7, b"no"), None);
        assert_eq!(RrsetKey::from_bytes(&[0, 0, 16]), None);
    }
}
