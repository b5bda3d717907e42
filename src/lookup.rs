//! Authoritative resolution of one question against the served zones.
//!
//! This is RFC 1034 §4.3.2's algorithm for an authoritative-only server:
//! find the zone (longest match), stop at a delegation (referral, RFC 1034
//! §4.3.2 step 3b), match the name exactly, follow CNAMEs inside the zone
//! (step 3a, RFC 6604 for the final RCODE), synthesize from a wildcard
//! (RFC 4592), synthesize a CNAME below a DNAME (RFC 6672 §3.2), and
//! otherwise deny with NXDOMAIN or NODATA (RFC 2308).
//! Every step is a keyed lookup or one ordered seek in the store; the cost of
//! a query depends on the number of labels in the name, never on the size of
//! the zone. It produces an [`Answer`] of RRsets by section and does not
//! touch wire formatting or transport.

use std::borrow::Cow;
use std::sync::Arc;

use crate::catalog::{ServedZone, ZoneMap};
use crate::name_key::push_label;
use crate::node_index::NameState;
use crate::rrset::{RrsetOwner, StoredNode, StoredRrset, encode_rrset};
use crate::store::{Store, StoreError};
use crate::wire::{label_offsets, rcode, rdata_target, rtype};
use crate::zone_rules::DNAME;

/// Longest CNAME chain followed inside a zone.
const MAX_CNAME_CHAIN: usize = 8;
/// Most distinct targets whose addresses go into the additional section.
const MAX_ADDITIONAL_TARGETS: usize = 8;

/// One RRset to write, with the owner name in wire form.
#[derive(Debug, Clone)]
pub struct RrsetOut<'q> {
    pub owner: Cow<'q, [u8]>,
    pub record_type: u16,
    pub ttl: u32,
    pub rrset: StoredRrset,
}

#[derive(Debug, Default)]
pub struct Answer<'q> {
    pub rcode: u16,
    pub authoritative: bool,
    /// The zone that answered (none for REFUSED).
    pub zone: Option<Arc<ServedZone>>,
    /// A referral: glue in the additional section is required (RFC 9471).
    pub referral: bool,
    pub answer: Vec<RrsetOut<'q>>,
    pub authority: Vec<RrsetOut<'q>>,
    pub additional: Vec<RrsetOut<'q>>,
}

impl Answer<'_> {
    fn refused() -> Self {
        Self {
            rcode: rcode::REFUSED,
            ..Self::default()
        }
    }
}

/// A name split into labels with the store key of each of its suffixes.
struct KeyedName {
    label_offsets: Vec<usize>,
    key: Vec<u8>,
    /// `suffix_key_len[i]`: length of the key of the suffix starting at label i.
    suffix_key_len: Vec<usize>,
}

impl KeyedName {
    fn new(wire: &[u8]) -> Option<Self> {
        let label_offsets = label_offsets(wire)?;
        let count = label_offsets.len();
        let mut key = Vec::with_capacity(wire.len() + 8);
        let mut suffix_key_len = vec![0; count + 1];
        for index in (0..count).rev() {
            let at = label_offsets[index];
            push_label(&mut key, &wire[at + 1..at + 1 + usize::from(wire[at])]);
            suffix_key_len[index] = key.len();
        }
        Some(Self {
            label_offsets,
            key,
            suffix_key_len,
        })
    }

    fn labels(&self) -> usize {
        self.label_offsets.len()
    }

    fn suffix_key(&self, index: usize) -> &[u8] {
        &self.key[..self.suffix_key_len[index]]
    }
}

/// What a name holds for the question type.
enum NodeMatch {
    Found(StoredRrset, u16),
    Cname(StoredRrset),
    NoData,
    NxDomain,
}

/// What a name that owns RRsets holds for `qtype`.
fn match_types(stored: &StoredNode, qtype: u16) -> NodeMatch {
    if qtype == rtype::ANY {
        // RFC 8482 §4.1: answer ANY with one RRset of the node, not all of them.
        return match stored.first() {
            Some((record_type, rrset)) => NodeMatch::Found(rrset, record_type),
            None => NodeMatch::NoData,
        };
    }
    if let Some(rrset) = stored.rrset(qtype) {
        return NodeMatch::Found(rrset, qtype);
    }
    if qtype != rtype::CNAME
        && let Some(rrset) = stored.rrset(rtype::CNAME)
    {
        return NodeMatch::Cname(rrset);
    }
    NodeMatch::NoData
}

/// The names a CNAME chain (given or synthesized from a DNAME) has
/// passed: a loop ends where it started, each RR given once (RFC 2181 §5,
/// RFC 1034 §3.6.2).
#[derive(Default)]
struct ChainWalk {
    visited: Vec<Vec<u8>>,
}

impl ChainWalk {
    /// The next name of the chain, from `name` to `target`, while it stays
    /// in this zone (as Knot and NSD do) and has not been visited: its
    /// keys, the index of the apex in it, and the owner to write.
    fn step<'q>(
        &mut self,
        zone: &ServedZone,
        name: &KeyedName,
        apex_index: usize,
        target: Vec<u8>,
    ) -> Option<(KeyedName, usize, Cow<'q, [u8]>)> {
        let next = KeyedName::new(&target)?;
        let zone_labels = name.labels() - apex_index;
        if next.labels() < zone_labels || !next.key.starts_with(&zone.origin_key) {
            return None;
        }
        self.visited.push(name.key.clone());
        if self.visited.contains(&next.key) {
            return None;
        }
        let next_apex = next.labels() - zone_labels;
        Some((next, next_apex, Cow::Owned(target)))
    }
}

/// The wire name from offset `at` on (an ancestor of `owner`), borrowed
/// from the question where the owner is.
fn owner_suffix(owner: Cow<'_, [u8]>, at: usize) -> Cow<'_, [u8]> {
    match owner {
        Cow::Borrowed(wire) => Cow::Borrowed(&wire[at..]),
        Cow::Owned(mut wire) => {
            wire.drain(..at);
            Cow::Owned(wire)
        }
    }
}

pub struct Resolver<'a> {
    pub zones: &'a ZoneMap,
    pub store: &'a Store,
}

impl<'a> Resolver<'a> {
    /// Answers `qname`/`qtype`; `qname` is the question's wire name (case kept).
    pub fn resolve<'q>(&self, qname: &'q [u8], qtype: u16) -> Result<Answer<'q>, StoreError> {
        let Some(name) = KeyedName::new(qname) else {
            return Ok(Answer::refused());
        };
        let Some((zone, apex_index)) = self.find_zone(&name, qtype) else {
            return Ok(Answer::refused());
        };
        let mut answer = Answer {
            authoritative: true,
            zone: Some(zone.clone()),
            ..Answer::default()
        };
        let mut owner: Cow<'q, [u8]> = Cow::Borrowed(qname);
        let mut name = name;
        let mut apex_index = apex_index;
        let mut walk = ChainWalk::default();
        for _ in 0..=MAX_CNAME_CHAIN {
            let cut = self.delegation(&zone, &name, apex_index, qtype);
            // RFC 6672 §3.2: a DNAME above the name rewrites it, unless a
            // cut sits higher (a larger label index is nearer the apex).
            if let Some(dname_index) = self.dname_above(&zone, &name, apex_index)
                && cut.is_none_or(|cut_index| dname_index > cut_index)
            {
                let target =
                    self.synthesize(&zone, &mut answer, owner.clone(), &name, dname_index)?;
                match target.and_then(|t| walk.step(&zone, &name, apex_index, t)) {
                    Some(next) => (name, apex_index, owner) = next,
                    None => return Ok(answer),
                }
                continue;
            }
            if let Some(cut_index) = cut {
                if answer.answer.is_empty() {
                    let mut referral = self.referral(&zone, owner, &name, cut_index)?;
                    referral.zone = Some(zone.clone());
                    return Ok(referral);
                }
                // RFC 1034 §4.3.2 step 3b: a CNAME led below a cut; the
                // answer so far plus the referral for the rest.
                let referral = self.referral(&zone, owner, &name, cut_index)?;
                answer.referral = true;
                answer.authority.extend(referral.authority);
                answer.additional.extend(referral.additional);
                return Ok(answer);
            }
            match self.match_node(&zone, &name, apex_index, qtype)? {
                NodeMatch::Found(rrset, record_type) => {
                    let out = RrsetOut {
                        owner,
                        record_type,
                        ttl: rrset.ttl(),
                        rrset,
                    };
                    self.add_additional(&zone, &out, &mut answer)?;
                    answer.answer.push(out);
                    return Ok(answer);
                }
                NodeMatch::Cname(rrset) => {
                    let target = rrset
                        .rdatas()
                        .next()
                        .and_then(|rdata| rdata_target(rtype::CNAME, rdata))
                        .map(<[u8]>::to_vec);
                    answer.answer.push(RrsetOut {
                        owner,
                        record_type: rtype::CNAME,
                        ttl: rrset.ttl(),
                        rrset,
                    });
                    match target.and_then(|t| walk.step(&zone, &name, apex_index, t)) {
                        Some(next) => (name, apex_index, owner) = next,
                        None => return Ok(answer),
                    }
                }
                NodeMatch::NoData => {
                    answer.authority.push(self.negative_soa(&zone));
                    return Ok(answer);
                }
                NodeMatch::NxDomain => {
                    answer.rcode = rcode::NXDOMAIN;
                    answer.authority.push(self.negative_soa(&zone));
                    return Ok(answer);
                }
            }
        }
        Ok(answer)
    }

    /// The served zone closest enclosing the name, and the index of its apex
    /// label. DS at a zone's apex belongs to the parent side of the cut
    /// (RFC 4035 §3.1.4.1): when the parent is served here too, it answers.
    fn find_zone(&self, name: &KeyedName, qtype: u16) -> Option<(Arc<ServedZone>, usize)> {
        let mut found = (0..=name.labels()).filter_map(|index| {
            self.zones
                .get(name.suffix_key(index))
                .map(|zone| (zone.clone(), index))
        });
        let closest = found.next()?;
        if closest.1 == 0 && qtype == rtype::DS {
            return Some(found.next().unwrap_or(closest));
        }
        Some(closest)
    }

    /// The highest delegation point at or above the name, below the apex.
    /// A DS query at the cut itself belongs to the parent (RFC 4035 §3.1.4.1).
    fn delegation(
        &self,
        zone: &ServedZone,
        name: &KeyedName,
        apex_index: usize,
        qtype: u16,
    ) -> Option<usize> {
        if zone.shape.cuts.is_empty() {
            return None;
        }
        (0..apex_index).rev().find(|&index| {
            zone.shape.cuts.contains(name.suffix_key(index)) && !(index == 0 && qtype == rtype::DS)
        })
    }

    /// The highest DNAME owner strictly above the name, at or below the apex.
    fn dname_above(&self, zone: &ServedZone, name: &KeyedName, apex_index: usize) -> Option<usize> {
        if zone.shape.dnames.is_empty() {
            return None;
        }
        (1..=apex_index)
            .rev()
            .find(|&index| zone.shape.dnames.contains(name.suffix_key(index)))
    }

    /// Adds the DNAME at label `dname_index` of the name and the CNAME it
    /// synthesizes (RFC 6672 §3.2: owner the name, TTL the DNAME's, target
    /// the name with the DNAME owner replaced by its target). Returns that
    /// target, or `None` when the answer is complete: the new name would be
    /// longer than 255 octets (YXDOMAIN, RFC 6672 §2.2), or the DNAME is
    /// gone (SERVFAIL: the zone map is newer than the store read).
    fn synthesize<'q>(
        &self,
        zone: &ServedZone,
        answer: &mut Answer<'q>,
        owner: Cow<'q, [u8]>,
        name: &KeyedName,
        dname_index: usize,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let key = zone.rrset_key(name.suffix_key(dname_index), DNAME);
        let Some(dname) = self.store.rrset(&key)? else {
            answer.rcode = rcode::SERVFAIL;
            return Ok(None);
        };
        let Some(dname_target) = dname.rdatas().next().map(<[u8]>::to_vec) else {
            answer.rcode = rcode::SERVFAIL;
            return Ok(None);
        };
        let at = name.label_offsets[dname_index];
        let ttl = dname.ttl();
        answer.answer.push(RrsetOut {
            owner: owner_suffix(owner.clone(), at),
            record_type: DNAME,
            ttl,
            rrset: dname,
        });
        let mut target = owner[..at].to_vec();
        target.extend_from_slice(&dname_target);
        if target.len() > 255 {
            answer.rcode = rcode::YXDOMAIN;
            return Ok(None);
        }
        let cname =
            StoredRrset::parse(encode_rrset(RrsetOwner::Server, ttl, &[target.clone()]).into())?;
        answer.answer.push(RrsetOut {
            owner,
            record_type: rtype::CNAME,
            ttl,
            rrset: cname,
        });
        Ok(Some(target))
    }

    fn match_node(
        &self,
        zone: &ServedZone,
        name: &KeyedName,
        apex_index: usize,
        qtype: u16,
    ) -> Result<NodeMatch, StoreError> {
        let node = zone.node_key(&name.key);
        match self.store.name_state(&node)? {
            NameState::Node(stored) => return Ok(match_types(&stored, qtype)),
            // No RRsets at the name but some below it: NODATA (RFC 8020).
            NameState::EmptyNonTerminal => return Ok(NodeMatch::NoData),
            NameState::Absent => {}
        }
        if zone.shape.has_wildcards {
            // RFC 4592 §3.3.1: the closest encloser is the longest existing ancestor.
            for index in 1..=apex_index {
                let ancestor = zone.node_key(name.suffix_key(index));
                if index == apex_index || self.store.node_exists(&ancestor)? {
                    let wildcard = ancestor.child(b"*");
                    return Ok(match self.store.name_state(&wildcard)? {
                        NameState::Node(stored) => match_types(&stored, qtype),
                        NameState::EmptyNonTerminal => NodeMatch::NoData,
                        NameState::Absent => NodeMatch::NxDomain,
                    });
                }
            }
        }
        Ok(NodeMatch::NxDomain)
    }

    fn negative_soa<'q>(&self, zone: &ServedZone) -> RrsetOut<'q> {
        RrsetOut {
            owner: Cow::Owned(zone.origin_wire.clone()),
            record_type: rtype::SOA,
            ttl: zone.negative_ttl,
            rrset: zone.soa.clone(),
        }
    }

    fn referral<'q>(
        &self,
        zone: &ServedZone,
        owner: Cow<'q, [u8]>,
        name: &KeyedName,
        cut_index: usize,
    ) -> Result<Answer<'q>, StoreError> {
        let mut answer = Answer {
            referral: true,
            ..Answer::default()
        };
        let ns_key = zone.rrset_key(name.suffix_key(cut_index), rtype::NS);
        let Some(ns) = self.store.rrset(&ns_key)? else {
            // The cut vanished between the map snapshot and this read.
            answer.rcode = rcode::SERVFAIL;
            return Ok(answer);
        };
        let out = RrsetOut {
            owner: owner_suffix(owner, name.label_offsets[cut_index]),
            record_type: rtype::NS,
            ttl: ns.ttl(),
            rrset: ns,
        };
        self.add_additional(zone, &out, &mut answer)?;
        answer.authority.push(out);
        Ok(answer)
    }

    /// A and AAAA of in-zone targets of NS, MX, SRV, SVCB and HTTPS records
    /// (RFC 1035 §3.3.9/§4.3.2 step 6, RFC 9460 §4.1), glue included.
    fn add_additional<'q>(
        &self,
        zone: &ServedZone,
        out: &RrsetOut<'q>,
        answer: &mut Answer<'q>,
    ) -> Result<(), StoreError> {
        if !matches!(
            out.record_type,
            rtype::NS | rtype::MX | rtype::SRV | rtype::SVCB | rtype::HTTPS
        ) {
            return Ok(());
        }
        let mut targets: Vec<Vec<u8>> = Vec::new();
        for rdata in out.rrset.rdatas() {
            let Some(mut target) = rdata_target(out.record_type, rdata) else {
                continue;
            };
            // RFC 9460 §2.5.2: "." in ServiceMode means the owner name itself.
            if target == [0] && matches!(out.record_type, rtype::SVCB | rtype::HTTPS) {
                if rdata.get(..2) == Some(&[0, 0]) {
                    continue;
                }
                target = &out.owner;
            }
            if targets.len() < MAX_ADDITIONAL_TARGETS
                && !targets.iter().any(|t| t.eq_ignore_ascii_case(target))
            {
                targets.push(target.to_vec());
            }
        }
        for target in targets {
            let Some(name) = KeyedName::new(&target) else {
                continue;
            };
            if !name.key.starts_with(&zone.origin_key) {
                continue;
            }
            let Some(addresses) = self.store.node(&zone.node_key(&name.key))? else {
                continue;
            };
            for record_type in [rtype::A, rtype::AAAA] {
                if let Some(rrset) = addresses.rrset(record_type) {
                    answer.additional.push(RrsetOut {
                        owner: Cow::Owned(target.clone()),
                        record_type,
                        ttl: rrset.ttl(),
                        rrset,
                    });
                }
            }
        }
        Ok(())
    }
}
