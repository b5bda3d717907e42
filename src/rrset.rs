//! The stored form of one RRset: who owns it, its TTL and its RDATAs in wire form.
//!
//! Values in the `rrsets` tree are `[owner u8][ttl u32 BE]([rdlength u16 BE][rdata])*`.
//! RDATA is kept exactly as it goes on the wire (names uncompressed), so the
//! query path copies bytes and never re-encodes. This module validates the
//! layout once when a value is read and turns hickory `RData` into stored wire
//! form at ingest; it must not touch sled or build DNS messages.

use hickory_proto::rr::RData;
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};
use thiserror::Error;

/// Who wrote an RRset: the zone file owns what it declares, the admin API the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RrsetOwner {
    ZoneFile = 1,
    Admin = 2,
    /// Maintained by the server itself (the SOA, whose serial it manages).
    Server = 3,
}

impl RrsetOwner {
    fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Self::ZoneFile),
            2 => Some(Self::Admin),
            3 => Some(Self::Server),
            _ => None,
        }
    }
}

/// A stored RRset value failed its layout check (a corrupt or foreign store).
#[derive(Debug, Error, PartialEq, Eq)]
#[error("stored RRset value is malformed: {0}")]
pub struct MalformedRrset(&'static str);

/// RDATA could not be put in wire form.
#[derive(Debug, Error)]
pub enum RdataError {
    #[error("record data does not encode: {0}")]
    Encode(String),
    #[error("record data is {0} bytes; at most 65535 fit")]
    TooLong(usize),
}

/// Encodes one RDATA in wire form with uncompressed names.
pub fn rdata_to_wire(rdata: &RData) -> Result<Vec<u8>, RdataError> {
    let mut buffer = Vec::with_capacity(64);
    {
        let mut encoder = BinEncoder::new(&mut buffer);
        encoder.set_name_encoding(NameEncoding::Uncompressed);
        rdata
            .emit(&mut encoder)
            .map_err(|e| RdataError::Encode(e.to_string()))?;
    }
    if buffer.len() > usize::from(u16::MAX) {
        return Err(RdataError::TooLong(buffer.len()));
    }
    Ok(buffer)
}

/// Builds a stored value. RDATAs must each fit in a u16 length (checked by
/// [`rdata_to_wire`]); duplicates must already be removed.
pub fn encode_rrset(owner: RrsetOwner, ttl: u32, rdatas: &[Vec<u8>]) -> Vec<u8> {
    let size = 5 + rdatas.iter().map(|r| r.len() + 2).sum::<usize>();
    let mut value = Vec::with_capacity(size);
    value.push(owner as u8);
    value.extend_from_slice(&ttl.to_be_bytes());
    for rdata in rdatas {
        let length = u16::try_from(rdata.len()).unwrap_or(u16::MAX);
        value.extend_from_slice(&length.to_be_bytes());
        value.extend_from_slice(&rdata[..usize::from(length)]);
    }
    value
}

/// A validated view of a stored value; cheap to clone (sled's `IVec` is shared).
#[derive(Clone, Debug)]
pub struct StoredRrset {
    bytes: sled::IVec,
}

impl StoredRrset {
    /// Checks the layout once so iteration afterwards cannot fail.
    pub fn parse(bytes: sled::IVec) -> Result<Self, MalformedRrset> {
        if bytes.len() < 5 {
            return Err(MalformedRrset("shorter than its header"));
        }
        if RrsetOwner::from_byte(bytes[0]).is_none() {
            return Err(MalformedRrset("unknown owner byte"));
        }
        let mut rest = &bytes[5..];
        if rest.is_empty() {
            return Err(MalformedRrset("no records"));
        }
        while !rest.is_empty() {
            if rest.len() < 2 {
                return Err(MalformedRrset("truncated length"));
            }
            let length = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            if rest.len() < 2 + length {
                return Err(MalformedRrset("truncated record"));
            }
            rest = &rest[2 + length..];
        }
        Ok(Self { bytes })
    }

    pub fn owner(&self) -> RrsetOwner {
        RrsetOwner::from_byte(self.bytes[0]).unwrap_or(RrsetOwner::Admin)
    }

    pub fn ttl(&self) -> u32 {
        u32::from_be_bytes([self.bytes[1], self.bytes[2], self.bytes[3], self.bytes[4]])
    }

    /// The RDATAs in stored order.
    pub fn rdatas(&self) -> RdataIter<'_> {
        RdataIter {
            rest: &self.bytes[5..],
        }
    }

    pub fn raw(&self) -> &[u8] {
        &self.bytes
    }
}

/// Iterates the RDATAs of a validated [`StoredRrset`].
#[derive(Clone)]
pub struct RdataIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for RdataIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.len() < 2 {
            return None;
        }
        let length = usize::from(u16::from_be_bytes([self.rest[0], self.rest[1]]));
        let rdata = self.rest.get(2..2 + length)?;
        self.rest = &self.rest[2 + length..];
        Some(rdata)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::TXT;

    #[test]
    fn value_round_trips() {
        let rdatas = vec![vec![1, 2, 3], vec![], vec![9; 300]];
        let value = encode_rrset(RrsetOwner::Admin, 300, &rdatas);
        let stored = StoredRrset::parse(value.into()).expect("valid");
        assert_eq!(stored.owner(), RrsetOwner::Admin);
        assert_eq!(stored.ttl(), 300);
        let back: Vec<Vec<u8>> = stored.rdatas().map(<[u8]>::to_vec).collect();
        assert_eq!(back, rdatas);
    }

    #[test]
    fn malformed_values_are_rejected() {
        assert!(StoredRrset::parse(vec![1, 0, 0].into()).is_err());
        assert!(StoredRrset::parse(vec![9, 0, 0, 0, 1, 0, 0].into()).is_err());
        assert!(StoredRrset::parse(vec![1, 0, 0, 0, 1, 0, 5, 1].into()).is_err());
        assert!(StoredRrset::parse(vec![1, 0, 0, 0, 1].into()).is_err());
    }

    #[test]
    fn txt_rdata_is_length_prefixed_strings() {
        let rdata = RData::TXT(TXT::new(vec!["ab".into(), "c".into()]));
        assert_eq!(rdata_to_wire(&rdata).expect("encodes"), b"\x02ab\x01c");
    }
}

/// All RRsets of one name, stored under one key (so a query needs one read):
/// `([type u16 BE][length u32 BE][RRset value])*`, sorted by type.
#[derive(Clone, Debug)]
pub struct StoredNode {
    bytes: sled::IVec,
}

/// Builds a node value from (type, RRset value) pairs; sorts by type.
pub fn encode_node(rrsets: &mut [(u16, Vec<u8>)]) -> Vec<u8> {
    rrsets.sort_by_key(|(record_type, _)| *record_type);
    let size = rrsets.iter().map(|(_, value)| value.len() + 6).sum();
    let mut node = Vec::with_capacity(size);
    for (record_type, value) in rrsets.iter() {
        node.extend_from_slice(&record_type.to_be_bytes());
        node.extend_from_slice(&(value.len() as u32).to_be_bytes());
        node.extend_from_slice(value);
    }
    node
}

impl StoredNode {
    /// Checks the framing and every RRset once.
    pub fn parse(bytes: sled::IVec) -> Result<Self, MalformedRrset> {
        let mut at = 0;
        if bytes.is_empty() {
            return Err(MalformedRrset("empty node"));
        }
        while at < bytes.len() {
            let header = bytes
                .get(at..at + 6)
                .ok_or(MalformedRrset("truncated node header"))?;
            let length = u32::from_be_bytes([header[2], header[3], header[4], header[5]]) as usize;
            if bytes.len() < at + 6 + length {
                return Err(MalformedRrset("truncated node entry"));
            }
            StoredRrset::parse(bytes.subslice(at + 6, length))?;
            at += 6 + length;
        }
        Ok(Self { bytes })
    }

    /// Re-wraps bytes that [`StoredNode::parse`] accepted before (the
    /// in-memory index keeps parsed nodes beside their keys); never for
    /// bytes read from disk.
    pub(crate) fn from_parsed(bytes: sled::IVec) -> Self {
        Self { bytes }
    }

    /// The node's bytes as stored.
    pub fn raw(&self) -> &[u8] {
        &self.bytes
    }

    /// (type, RRset) pairs in type order.
    pub fn rrsets(&self) -> impl Iterator<Item = (u16, StoredRrset)> + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            let header = self.bytes.get(at..at + 6)?;
            let record_type = u16::from_be_bytes([header[0], header[1]]);
            let length = u32::from_be_bytes([header[2], header[3], header[4], header[5]]) as usize;
            let rrset = StoredRrset {
                bytes: self.bytes.subslice(at + 6, length),
            };
            at += 6 + length;
            Some((record_type, rrset))
        })
    }

    pub fn rrset(&self, record_type: u16) -> Option<StoredRrset> {
        self.rrsets()
            .find(|(t, _)| *t == record_type)
            .map(|(_, rrset)| rrset)
    }

    pub fn first(&self) -> Option<(u16, StoredRrset)> {
        self.rrsets().next()
    }
}

#[cfg(test)]
mod node_tests {
    use super::*;

    #[test]
    fn node_round_trips_sorted_by_type() {
        let txt = encode_rrset(RrsetOwner::Admin, 300, &[b"\x01a".to_vec()]);
        let svcb = encode_rrset(RrsetOwner::Admin, 300, &[vec![0, 1, 0]]);
        let node =
            StoredNode::parse(encode_node(&mut [(64, svcb.clone()), (16, txt.clone())]).into())
                .expect("valid");
        let types: Vec<u16> = node.rrsets().map(|(t, _)| t).collect();
        assert_eq!(types, [16, 64]);
        assert_eq!(node.rrset(64).expect("svcb").raw(), svcb.as_slice());
        assert_eq!(node.first().expect("first").0, 16);
        assert!(node.rrset(1).is_none());
        assert!(StoredNode::parse(vec![0, 16, 0, 0, 0, 9, 1].into()).is_err());
    }
}
