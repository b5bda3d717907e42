//! DNS wire format on the query path: request parsing and response writing.
//!
//! The query path reads a request straight from the packet bytes
//! ([`request`]) and writes the response straight into one buffer
//! ([`response`]), copying stored RDATA verbatim. Nothing here allocates per
//! record or decodes RDATA. This module knows the DNS message layout (RFC 1035
//! §4, RFC 6891 §6) and nothing about zones or the store.

pub mod request;
pub mod response;

use hickory_proto::rr::Name;

/// RCODEs used by the server (RFC 1035 §4.1.1, RFC 6891 §9).
pub mod rcode {
    pub const NOERROR: u16 = 0;
    pub const FORMERR: u16 = 1;
    pub const SERVFAIL: u16 = 2;
    pub const NXDOMAIN: u16 = 3;
    pub const NOTIMP: u16 = 4;
    pub const REFUSED: u16 = 5;
    pub const YXDOMAIN: u16 = 6;
    pub const NOTAUTH: u16 = 9;
    pub const BADVERS: u16 = 16;
}

/// Record types the query path treats specially.
pub mod rtype {
    pub const A: u16 = 1;
    pub const NS: u16 = 2;
    pub const CNAME: u16 = 5;
    pub const SOA: u16 = 6;
    pub const PTR: u16 = 12;
    pub const MX: u16 = 15;
    pub const TXT: u16 = 16;
    pub const AAAA: u16 = 28;
    pub const SRV: u16 = 33;
    pub const OPT: u16 = 41;
    pub const DS: u16 = 43;
    pub const DNSKEY: u16 = 48;
    pub const SVCB: u16 = 64;
    pub const HTTPS: u16 = 65;
    pub const TSIG: u16 = 250;
    pub const IXFR: u16 = 251;
    pub const AXFR: u16 = 252;
    pub const MAILB: u16 = 253;
    pub const MAILA: u16 = 254;
    pub const ANY: u16 = 255;
}

pub const CLASS_IN: u16 = 1;
/// CHAOS, for the server's identity (RFC 4892).
pub const CLASS_CH: u16 = 3;

/// Offsets of each label's length byte in an uncompressed wire name, leftmost
/// first; `None` if the name is not a well-formed uncompressed name.
pub fn label_offsets(wire: &[u8]) -> Option<Vec<usize>> {
    let mut offsets = Vec::with_capacity(8);
    let mut at = 0;
    loop {
        let length = usize::from(*wire.get(at)?);
        if length == 0 {
            return (at + 1 == wire.len()).then_some(offsets);
        }
        if length > 63 {
            return None;
        }
        offsets.push(at);
        at += 1 + length;
    }
}

/// Length of the uncompressed wire name at the start of `bytes`.
pub fn wire_name_len(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let length = usize::from(*bytes.get(at)?);
        if length == 0 {
            return Some(at + 1);
        }
        if length > 63 {
            return None;
        }
        at += 1 + length;
        if at > 255 {
            return None;
        }
    }
}

/// Reads a possibly compressed name at `at` in `message`: the name
/// uncompressed, and the offset just after it where it stands. `None` for a
/// malformed name, a pointer loop or a name over 255 octets.
pub fn read_compressed_name(message: &[u8], mut at: usize) -> Option<(Vec<u8>, usize)> {
    let mut name = Vec::new();
    let mut end = None;
    for _ in 0..128 {
        let length = *message.get(at)?;
        if length & 0xC0 == 0xC0 {
            let pointer = usize::from(u16::from_be_bytes([length & 0x3F, *message.get(at + 1)?]));
            end.get_or_insert(at + 2);
            at = pointer;
            continue;
        }
        if length > 63 {
            return None;
        }
        name.extend_from_slice(message.get(at..at + 1 + usize::from(length))?);
        at += 1 + usize::from(length);
        if length == 0 {
            return (name.len() <= 255).then(|| (name, end.unwrap_or(at)));
        }
    }
    None
}

/// Decodes the uncompressed wire name at the start of `bytes` (zone checks, logs).
pub fn name_from_wire(bytes: &[u8]) -> Option<Name> {
    let length = wire_name_len(bytes)?;
    let offsets = label_offsets(&bytes[..length])?;
    let labels = offsets
        .iter()
        .map(|&at| &bytes[at + 1..at + 1 + usize::from(bytes[at])]);
    let mut name = Name::from_labels(labels).ok()?;
    name.set_fqdn(true);
    Some(name)
}

/// Wire form (uncompressed, case kept) of a name.
pub fn name_to_wire(name: &Name) -> Vec<u8> {
    let mut wire = Vec::with_capacity(name.len() + 2);
    for label in name.iter() {
        wire.push(label.len() as u8);
        wire.extend_from_slice(label);
    }
    wire.push(0);
    wire
}

/// The name in the RDATA of types whose additional-section processing needs
/// a target (RFC 1035 §3.3, RFC 2782, RFC 9460 §2.2), with its offset.
pub fn rdata_target(record_type: u16, rdata: &[u8]) -> Option<&[u8]> {
    let start = match record_type {
        rtype::NS | rtype::CNAME => 0,
        rtype::MX | rtype::SVCB | rtype::HTTPS => 2,
        rtype::SRV => 6,
        _ => return None,
    };
    let rest = rdata.get(start..)?;
    let length = wire_name_len(rest)?;
    Some(&rest[..length])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        let name = Name::from_ascii("Www.Example.test.").expect("name");
        let wire = name_to_wire(&name);
        assert_eq!(wire, b"\x03Www\x07Example\x04test\x00");
        assert_eq!(label_offsets(&wire), Some(vec![0, 4, 12]));
        assert_eq!(name_from_wire(&wire), Some(name));
        assert_eq!(label_offsets(b"\x00"), Some(vec![]));
        assert_eq!(label_offsets(b"\x03ab"), None);
        assert_eq!(label_offsets(b"\xc0\x0c"), None);
    }

    #[test]
    fn targets_are_found_in_rdata() {
        assert_eq!(
            rdata_target(rtype::SVCB, b"\x00\x01\x01a\x00\x00\x01"),
            Some(&b"\x01a\x00"[..])
        );
        assert_eq!(
            rdata_target(rtype::NS, b"\x01a\x00"),
            Some(&b"\x01a\x00"[..])
        );
        assert_eq!(rdata_target(rtype::TXT, b"\x01a"), None);
    }
}
