//! The rules a zone's content obeys, in one place for both ways data gets
//! in: the zone-file loader and the admin API.
//!
//! It owns which types a zone may hold, the TTL ceiling, which types stand
//! alone at a name (CNAME, RFC 1034 §3.6.2 and RFC 2181 §10.1; DNAME, RFC
//! 6672 §2.4), which types are one record per name, what may sit below a
//! delegation point (glue, RFC 1034 §4.2.1) or below a DNAME (nothing, RFC
//! 6672 §2.4), which in-zone name servers need glue, and the zone's shape —
//! its delegation points, DNAME owners and whether it has wildcards — kept
//! current as RRsets are written, so the query path finds them without a
//! scan. It knows names only as name keys ([`crate::name_key`]) and types
//! as numbers; it reads no store and formats no messages.

use std::collections::HashSet;

use crate::wire::rtype;

/// RFC 2181 §8: a TTL is at most 2^31 − 1.
pub const MAX_TTL: u32 = i32::MAX as u32;

/// DNAME's type code (RFC 6672).
pub const DNAME: u16 = 39;

/// Why a piece of zone content breaks a rule. The messages say which rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleViolation {
    #[error("{0} is a query or meta type, not a record type a zone can hold")]
    NotStorable(String),
    #[error("TTL {0} is above 2147483647 (RFC 2181 §8)")]
    TtlTooLarge(u32),
    #[error("a name has at most one {0} record")]
    Singleton(String),
    #[error("{0} at the zone apex (it would sit beside SOA and NS)")]
    AtApex(String),
    #[error("{added} beside {present} at one name ({rule})")]
    Exclusive {
        added: String,
        present: String,
        rule: &'static str,
    },
    #[error(
        "{0} is below a delegation point; only glue (A, AAAA) may sit there, and only NS and DS at the cut itself"
    )]
    BelowDelegation(String),
    #[error("no data may sit below a DNAME (RFC 6672 §2.4)")]
    BelowDname,
    #[error("a DNAME cannot be placed where names exist below it (RFC 6672 §2.4)")]
    DnameOverDescendants,
}

/// Types that only exist in queries or transfers (RFC 6895 §3.1): a zone
/// never holds them.
pub fn check_storable(
    record_type: u16,
    type_name: impl Fn() -> String,
) -> Result<(), RuleViolation> {
    match record_type {
        rtype::OPT
        | rtype::TSIG
        | rtype::IXFR
        | rtype::AXFR
        | rtype::MAILB
        | rtype::MAILA
        | rtype::ANY
        | 0
        | 249 => Err(RuleViolation::NotStorable(type_name())),
        _ => Ok(()),
    }
}

/// The TTL ceiling (RFC 2181 §8).
pub fn check_ttl(ttl: u32) -> Result<u32, RuleViolation> {
    if ttl > MAX_TTL {
        return Err(RuleViolation::TtlTooLarge(ttl));
    }
    Ok(ttl)
}

/// Types of which a name holds one record at most: CNAME (RFC 1034
/// §3.6.2), DNAME (RFC 6672 §2.4), SOA (RFC 1035 §5.2).
pub fn check_rrset_size(
    record_type: u16,
    records: usize,
    type_name: impl Fn() -> String,
) -> Result<(), RuleViolation> {
    if records > 1 && matches!(record_type, rtype::CNAME | DNAME | rtype::SOA) {
        return Err(RuleViolation::Singleton(type_name()));
    }
    Ok(())
}

/// Whether `added` may join the RRsets of types `present` at one name.
/// CNAME stands alone (RFC 1034 §3.6.2, RFC 2181 §10.1) and may not be at
/// the apex; DNAME may sit beside anything but a CNAME (RFC 6672 §2.4).
pub fn check_node(
    added: u16,
    present: &[u16],
    at_apex: bool,
    type_name: impl Fn(u16) -> String,
) -> Result<(), RuleViolation> {
    if added == rtype::CNAME && at_apex {
        return Err(RuleViolation::AtApex(type_name(added)));
    }
    let clash = present
        .iter()
        .copied()
        .filter(|&t| t != added)
        .find(|&t| added == rtype::CNAME || t == rtype::CNAME);
    if let Some(present) = clash {
        let rule = if added == DNAME || present == DNAME {
            "RFC 6672 §2.4: a DNAME name has no CNAME"
        } else {
            "RFC 1034 §3.6.2: a CNAME name has no other data"
        };
        return Err(RuleViolation::Exclusive {
            added: type_name(added),
            present: type_name(present),
            rule,
        });
    }
    Ok(())
}

/// Whether an RRset of `record_type` is served where a cut sits at or above
/// it: glue addresses below or at the cut, NS and DS at the cut itself
/// (RFC 1034 §4.2.1, RFC 4035 §2.4). Anything else there is occluded.
pub fn served_under_cut(record_type: u16, at_cut: bool) -> bool {
    matches!(record_type, rtype::A | rtype::AAAA)
        || (at_cut && matches!(record_type, rtype::NS | rtype::DS))
}

/// Whether an NS target inside the zone needs glue: any target at or below
/// the origin does (RFC 1034 §4.2.1; RFC 9471 makes it required in
/// referrals).
pub fn needs_glue(origin_key: &[u8], target_key: &[u8]) -> bool {
    target_key.starts_with(origin_key)
}

/// The node keys (name keys without a zone id) of the points that change
/// how names below them are answered: delegation points (NS below the
/// apex) and DNAME owners, plus whether a wildcard owner was ever written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZoneShape {
    pub cuts: HashSet<Vec<u8>>,
    pub dnames: HashSet<Vec<u8>>,
    pub has_wildcards: bool,
}

impl ZoneShape {
    /// Follows one RRset write (`present`: stored, not removed) at `node`.
    pub fn note_write(&mut self, origin_key: &[u8], node: &[u8], record_type: u16, present: bool) {
        let set = match record_type {
            rtype::NS if node != origin_key => &mut self.cuts,
            DNAME => &mut self.dnames,
            _ => {
                self.has_wildcards |= present && is_wildcard(node);
                return;
            }
        };
        if present {
            set.insert(node.to_vec());
        } else {
            set.remove(node);
        }
        self.has_wildcards |= present && is_wildcard(node);
    }

    /// The highest delegation point at or above `node` (itself included),
    /// below the apex; `None` where no cut encloses the node.
    pub fn enclosing_cut<'k>(&self, origin_key: &[u8], node: &'k [u8]) -> Option<&'k [u8]> {
        if self.cuts.is_empty() {
            return None;
        }
        ancestors(origin_key, node).find(|ancestor| self.cuts.contains(*ancestor))
    }

    /// The highest DNAME owner strictly above `node`.
    pub fn enclosing_dname<'k>(&self, origin_key: &[u8], node: &'k [u8]) -> Option<&'k [u8]> {
        if self.dnames.is_empty() {
            return None;
        }
        ancestors(origin_key, node)
            .filter(|ancestor| ancestor.len() < node.len())
            .find(|ancestor| self.dnames.contains(*ancestor))
    }

    /// Where an RRset of `record_type` at `node` may be written, given the
    /// cuts and DNAMEs above it.
    pub fn check_placement(
        &self,
        origin_key: &[u8],
        node: &[u8],
        record_type: u16,
        type_name: impl Fn() -> String,
    ) -> Result<(), RuleViolation> {
        if self.enclosing_dname(origin_key, node).is_some() {
            return Err(RuleViolation::BelowDname);
        }
        if let Some(cut) = self.enclosing_cut(origin_key, node)
            && !served_under_cut(record_type, cut == node)
        {
            return Err(RuleViolation::BelowDelegation(type_name()));
        }
        Ok(())
    }
}

/// Whether the leftmost label of a name key is `*`.
fn is_wildcard(node: &[u8]) -> bool {
    crate::name_key::labels_from_name_key(node)
        .is_some_and(|labels| labels.first().is_some_and(|l| l == b"*"))
}

/// Name keys of `node` and its ancestors strictly below `origin_key`,
/// highest first.
fn ancestors<'k>(origin_key: &[u8], node: &'k [u8]) -> impl Iterator<Item = &'k [u8]> {
    let start = if node.starts_with(origin_key) {
        origin_key.len()
    } else {
        node.len()
    };
    // Each label in a name key ends with 0x00, and content bytes are never
    // 0x00 (name_key escapes them), so label ends are the zero bytes.
    node.iter()
        .enumerate()
        .skip(start)
        .filter(|(_, b)| **b == 0)
        .map(move |(at, _)| &node[..=at])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name_key::name_key;
    use hickory_proto::rr::Name;

    fn key(name: &str) -> Vec<u8> {
        name_key(&Name::from_ascii(name).expect("name"))
    }

    fn name(t: u16) -> String {
        format!("TYPE{t}")
    }

    #[test]
    fn cname_stands_alone_and_dname_refuses_only_cname() {
        assert!(check_node(rtype::CNAME, &[rtype::A], false, name).is_err());
        assert!(check_node(rtype::A, &[rtype::CNAME], false, name).is_err());
        assert!(check_node(rtype::CNAME, &[rtype::CNAME], false, name).is_ok());
        assert!(check_node(rtype::CNAME, &[], true, name).is_err());
        assert!(check_node(DNAME, &[rtype::A, rtype::NS], true, name).is_ok());
        assert!(check_node(DNAME, &[rtype::CNAME], false, name).is_err());
        assert!(check_node(rtype::CNAME, &[DNAME], false, name).is_err());
        assert!(check_node(rtype::A, &[DNAME, rtype::TXT], false, name).is_ok());
    }

    #[test]
    fn singletons_types_and_ttls() {
        assert!(check_rrset_size(rtype::CNAME, 2, || "CNAME".into()).is_err());
        assert!(check_rrset_size(DNAME, 2, || "DNAME".into()).is_err());
        assert!(check_rrset_size(rtype::A, 2, || "A".into()).is_ok());
        for t in [
            rtype::OPT,
            rtype::TSIG,
            rtype::AXFR,
            rtype::IXFR,
            rtype::ANY,
            rtype::MAILA,
        ] {
            assert!(check_storable(t, || name(t)).is_err(), "{t}");
        }
        assert!(check_storable(DNAME, || name(DNAME)).is_ok());
        assert_eq!(check_ttl(MAX_TTL), Ok(MAX_TTL));
        assert_eq!(
            check_ttl(MAX_TTL + 1),
            Err(RuleViolation::TtlTooLarge(MAX_TTL + 1))
        );
    }

    #[test]
    fn shape_follows_writes_and_places_data() {
        let origin = key("example.test.");
        let mut shape = ZoneShape::default();
        shape.note_write(&origin, &origin, rtype::NS, true);
        assert!(shape.cuts.is_empty(), "apex NS is no cut");
        shape.note_write(&origin, &key("sub.example.test."), rtype::NS, true);
        shape.note_write(&origin, &key("old.example.test."), DNAME, true);
        shape.note_write(&origin, &key("*.w.example.test."), rtype::A, true);
        assert!(shape.has_wildcards);
        let place = |shape: &ZoneShape, n: &str, t: u16| {
            shape.check_placement(&origin, &key(n), t, || name(t))
        };
        assert!(
            place(&shape, "a.sub.example.test.", rtype::A).is_ok(),
            "glue"
        );
        assert!(place(&shape, "sub.example.test.", rtype::DS).is_ok());
        assert_eq!(
            place(&shape, "a.sub.example.test.", rtype::TXT),
            Err(RuleViolation::BelowDelegation("TYPE16".into()))
        );
        assert_eq!(
            place(&shape, "x.old.example.test.", rtype::A),
            Err(RuleViolation::BelowDname)
        );
        assert!(
            place(&shape, "old.example.test.", rtype::A).is_ok(),
            "beside the DNAME"
        );
        assert_eq!(
            shape.enclosing_dname(&origin, &key("a.b.old.example.test.")),
            Some(key("old.example.test.").as_slice())
        );
        shape.note_write(&origin, &key("old.example.test."), DNAME, false);
        assert!(place(&shape, "x.old.example.test.", rtype::A).is_ok());
        assert!(needs_glue(&origin, &key("ns.example.test.")));
        assert!(!needs_glue(&origin, &key("ns.other.test.")));
    }
}
