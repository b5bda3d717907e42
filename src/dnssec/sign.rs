//! RRSIGs over RRsets (RFC 4034 §3, §6): the canonical form of an RRset —
//! owner in lower case, names inside RDATA in lower case for the types RFC
//! 4034 §6.2 (as amended by RFC 6840 §5.1) lists, records sorted as octet
//! strings — and the RRSIG RDATA that signs it. Validity windows are
//! quantized so every instance signing with the same key makes the same
//! inception and expiration at the same time.

use crate::wire::{rtype, wire_name_len};

use super::keys::ZoneKey;

/// RRSIG type code.
pub const RRSIG: u16 = 46;

/// Signature validity: from an hour ago (clock skew) to the end of the week
/// after the current one, in seconds since the epoch.
pub fn validity(now: u64) -> (u32, u32) {
    const WEEK: u64 = 7 * 24 * 3600;
    let inception = now.saturating_sub(3600);
    let expiration = (now / WEEK + 2) * WEEK;
    (inception as u32, expiration as u32)
}

/// The number of labels of an owner, not counting the root or a leading `*`.
pub fn label_count(owner: &[u8]) -> u8 {
    let mut count = 0u8;
    let mut at = 0;
    while let Some(&length) = owner.get(at) {
        if length == 0 {
            break;
        }
        count += 1;
        at += 1 + usize::from(length);
    }
    if owner.get(..2) == Some(b"\x01*") {
        count -= 1;
    }
    count
}

fn lower_name_at(rdata: &mut [u8], at: usize) -> Option<usize> {
    let length = wire_name_len(rdata.get(at..)?)?;
    rdata[at..at + length].make_ascii_lowercase();
    Some(at + length)
}

/// RDATA in canonical form: embedded names lower-cased where the type calls for it.
pub fn canonical_rdata(record_type: u16, rdata: &[u8]) -> Vec<u8> {
    const DNAME: u16 = 39;
    let mut out = rdata.to_vec();
    let _ = (|| -> Option<()> {
        match record_type {
            rtype::NS | rtype::CNAME | rtype::PTR | DNAME | 3 | 4 | 7 | 8 | 9 => {
                lower_name_at(&mut out, 0)?;
            }
            // MX, AFSDB, RT, KX: a 16-bit field, then a name.
            rtype::MX | 18 | 21 | 36 => {
                lower_name_at(&mut out, 2)?;
            }
            // SRV: priority, weight, port, target.
            rtype::SRV => {
                lower_name_at(&mut out, 6)?;
            }
            // SOA, RP, MINFO: two names first.
            rtype::SOA | 17 | 14 => {
                let next = lower_name_at(&mut out, 0)?;
                lower_name_at(&mut out, next)?;
            }
            // NAPTR: order, preference, three strings, replacement.
            35 => {
                let mut at = 4;
                for _ in 0..3 {
                    at += 1 + usize::from(*out.get(at)?);
                }
                lower_name_at(&mut out, at)?;
            }
            _ => {}
        }
        Some(())
    })();
    out
}

/// The RRSIG RDATA signing the RRset (`owner`, `record_type`, `ttl`,
/// `rdatas`) with `key` for the zone `signer` (lower-case wire form).
pub fn rrsig<'r>(
    key: &ZoneKey,
    signer: &[u8],
    owner: &[u8],
    record_type: u16,
    ttl: u32,
    rdatas: impl Iterator<Item = &'r [u8]>,
    (inception, expiration): (u32, u32),
) -> Vec<u8> {
    let mut rdata = Vec::with_capacity(18 + signer.len() + 64);
    rdata.extend_from_slice(&record_type.to_be_bytes());
    rdata.push(key.algorithm.number());
    rdata.push(label_count(owner));
    rdata.extend_from_slice(&ttl.to_be_bytes());
    rdata.extend_from_slice(&expiration.to_be_bytes());
    rdata.extend_from_slice(&inception.to_be_bytes());
    rdata.extend_from_slice(&key.tag.to_be_bytes());
    rdata.extend(signer.iter().map(u8::to_ascii_lowercase));
    let owner: Vec<u8> = owner.iter().map(u8::to_ascii_lowercase).collect();
    let mut canonical: Vec<Vec<u8>> = rdatas.map(|r| canonical_rdata(record_type, r)).collect();
    canonical.sort();
    canonical.dedup();
    let mut data = rdata.clone();
    for rdata in &canonical {
        data.extend_from_slice(&owner);
        data.extend_from_slice(&record_type.to_be_bytes());
        data.extend_from_slice(&crate::wire::CLASS_IN.to_be_bytes());
        data.extend_from_slice(&ttl.to_be_bytes());
        data.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        data.extend_from_slice(rdata);
    }
    rdata.extend_from_slice(&key.sign(&data));
    rdata
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_skip_the_root_and_a_wildcard() {
        assert_eq!(label_count(b"\x03www\x07example\x00"), 2);
        assert_eq!(label_count(b"\x01*\x07example\x00"), 1);
        assert_eq!(label_count(b"\x00"), 0);
    }

    #[test]
    fn canonical_rdata_lowers_embedded_names_only_where_listed() {
        assert_eq!(
            canonical_rdata(rtype::NS, b"\x02NS\x07Example\x00"),
            b"\x02ns\x07example\x00"
        );
        assert_eq!(
            canonical_rdata(rtype::MX, b"\x00\x0a\x04MAIL\x00"),
            b"\x00\x0a\x04mail\x00"
        );
        assert_eq!(canonical_rdata(rtype::TXT, b"\x02AB"), b"\x02AB");
        let mut soa = b"\x02NS\x00\x02HM\x00".to_vec();
        soa.extend_from_slice(&[0; 20]);
        assert_eq!(
            &canonical_rdata(rtype::SOA, &soa)[..8],
            b"\x02ns\x00\x02hm\x00"
        );
        // SVCB target names are not lower-cased (RFC 9460 is not in RFC 4034's list).
        assert_eq!(
            canonical_rdata(rtype::SVCB, b"\x00\x01\x04HOST\x00"),
            b"\x00\x01\x04HOST\x00"
        );
    }

    #[test]
    fn validity_windows_are_quantized() {
        let (a_in, a_out) = validity(1_800_000_000);
        let (_, b_out) = validity(1_800_000_000 + 3600);
        assert_eq!(a_in, 1_800_000_000 - 3600);
        assert_eq!(a_out, b_out, "one expiration per week");
        assert!(u64::from(a_out) > 1_800_000_000 + 7 * 24 * 3600);
    }
}
