//! Parsing a DNS query from packet bytes without allocating.
//!
//! Accepts exactly what an authoritative server should (RFC 1035 §4.1,
//! RFC 6891 §6.1): one question with an uncompressed name, any records in the
//! answer and authority sections skipped, at most one OPT in the additional
//! section, and no trailing bytes. A packet whose header cannot be read, or
//! that is itself a response, is dropped; any other defect is a FORMERR.

use super::rtype;

/// Header flag bits (RFC 1035 §4.1.1).
pub const FLAG_QR: u16 = 0x8000;
pub const FLAG_AA: u16 = 0x0400;
pub const FLAG_TC: u16 = 0x0200;
pub const FLAG_RD: u16 = 0x0100;
pub const FLAG_CD: u16 = 0x0010;

/// The EDNS(0) parameters of a request (RFC 6891 §6.1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edns {
    pub udp_payload: u16,
    pub version: u8,
    pub dnssec_ok: bool,
    /// The request carries an (empty) NSID option (RFC 5001 §2.1).
    pub nsid: bool,
    /// The Compact Answers OK flag (RFC 9824 §4): NXDOMAIN may be kept.
    pub compact_ok: bool,
}

/// A TSIG record at the end of a request (RFC 8945 §4.2), as much of it as
/// an error response needs: names in uncompressed wire form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TsigRecord<'a> {
    pub key_name: &'a [u8],
    pub algorithm: &'a [u8],
    /// Time Signed (48 bits) and Fudge, as sent.
    pub time_and_fudge: &'a [u8],
    pub original_id: u16,
}

/// A parsed query; the question name is borrowed from the packet, case kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query<'a> {
    pub id: u16,
    pub opcode: u8,
    pub flags: u16,
    /// The question exactly as sent: name, type and class.
    pub question: &'a [u8],
    pub qname: &'a [u8],
    pub qtype: u16,
    pub qclass: u16,
    pub edns: Option<Edns>,
    /// A TSIG record, last in the additional section (RFC 8945 §5.1).
    pub tsig: Option<TsigRecord<'a>>,
}

/// Why a packet is not a query we answer normally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Not answerable at all: too short for a header, or a response.
    Drop,
    /// Malformed: answer FORMERR with this header data (RFC 1035 §4.1.1),
    /// and an OPT if the request had a readable one (RFC 6891 §7).
    FormErr {
        id: u16,
        opcode: u8,
        flags: u16,
        edns: Option<Edns>,
    },
    /// An opcode other than QUERY: NOTIMP, decided from the header alone
    /// (RFC 1035 §4.1.1), whatever the rest of the message holds.
    NotImp { id: u16, opcode: u8 },
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn u8(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(byte)
    }

    fn u16(&mut self) -> Option<u16> {
        let pair = self.bytes.get(self.at..self.at + 2)?;
        self.at += 2;
        Some(u16::from_be_bytes([pair[0], pair[1]]))
    }

    /// An uncompressed name (TSIG owner and algorithm names, RFC 8945 §4.2).
    fn uncompressed_name(&mut self) -> Option<&'a [u8]> {
        let start = self.at;
        loop {
            let length = self.u8()?;
            match length {
                0 => break,
                1..=63 => self.skip(usize::from(length))?,
                _ => return None,
            }
            if self.at - start > 255 {
                return None;
            }
        }
        Some(&self.bytes[start..self.at])
    }

    fn skip(&mut self, count: usize) -> Option<()> {
        if self.bytes.len() < self.at + count {
            return None;
        }
        self.at += count;
        Some(())
    }

    /// Skips a possibly compressed name in a record.
    fn skip_name(&mut self) -> Option<()> {
        let mut total = 0usize;
        loop {
            let length = self.u8()?;
            match length {
                0 => return Some(()),
                1..=63 => {
                    total += usize::from(length) + 1;
                    if total > 255 {
                        return None;
                    }
                    self.skip(usize::from(length))?;
                }
                0xC0..=0xFF => {
                    self.u8()?;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

/// The Compact Answers OK flag in the EDNS header (RFC 9824 §4).
pub const COMPACT_OK: u16 = 0x4000;

/// Opcode NOTIFY (RFC 1996 §3).
pub const OPCODE_NOTIFY: u8 = 4;

/// Parses a query. See the module documentation for what is accepted.
pub fn parse(packet: &[u8]) -> Result<Query<'_>, Rejection> {
    if packet.len() < 12 {
        return Err(Rejection::Drop);
    }
    let id = u16::from_be_bytes([packet[0], packet[1]]);
    let flags = u16::from_be_bytes([packet[2], packet[3]]);
    if flags & FLAG_QR != 0 {
        return Err(Rejection::Drop);
    }
    let opcode = ((flags >> 11) & 0x0F) as u8;
    // QUERY, and NOTIFY (RFC 1996), which has the same layout.
    if opcode != 0 && opcode != OPCODE_NOTIFY {
        return Err(Rejection::NotImp { id, opcode });
    }
    let formerr = Rejection::FormErr {
        id,
        opcode,
        flags,
        edns: None,
    };
    let count = |at: usize| u16::from_be_bytes([packet[at], packet[at + 1]]);
    let (qdcount, ancount, nscount, arcount) = (count(4), count(6), count(8), count(10));
    if qdcount != 1 {
        return Err(formerr);
    }
    let mut cursor = Cursor {
        bytes: packet,
        at: 12,
    };
    // Question name: uncompressed labels only (nothing precedes it to point at).
    let mut name_length = 0usize;
    loop {
        let length = cursor.u8().ok_or(formerr)?;
        name_length += 1 + usize::from(length);
        if name_length > 255 {
            return Err(formerr);
        }
        match length {
            0 => break,
            1..=63 => cursor.skip(usize::from(length)).ok_or(formerr)?,
            _ => return Err(formerr),
        }
    }
    let qname = &packet[12..cursor.at];
    let qtype = cursor.u16().ok_or(formerr)?;
    let qclass = cursor.u16().ok_or(formerr)?;
    let question = &packet[12..cursor.at];
    for _ in 0..u32::from(ancount) + u32::from(nscount) {
        cursor.skip_name().ok_or(formerr)?;
        cursor.skip(8).ok_or(formerr)?;
        let rdlength = cursor.u16().ok_or(formerr)?;
        cursor.skip(usize::from(rdlength)).ok_or(formerr)?;
    }
    let mut edns = None;
    let mut tsig = None;
    for index in 0..arcount {
        // From here on a FORMERR carries the OPT if one was read.
        let formerr = Rejection::FormErr {
            id,
            opcode,
            flags,
            edns,
        };
        let name_start = cursor.at;
        cursor.skip_name().ok_or(formerr)?;
        let record_type = cursor.u16().ok_or(formerr)?;
        if record_type == rtype::TSIG {
            // RFC 8945 §5.1: TSIG is the last record, or the message is FORMERR.
            if index + 1 != arcount {
                return Err(formerr);
            }
            let mut record = Cursor {
                bytes: packet,
                at: name_start,
            };
            tsig = Some(read_tsig(&mut record).ok_or(formerr)?);
            cursor.at = record.at;
            continue;
        }
        let class = cursor.u16().ok_or(formerr)?;
        // The extended-RCODE byte is meaningful only in responses.
        cursor.u8().ok_or(formerr)?;
        let version = cursor.u8().ok_or(formerr)?;
        let edns_flags = cursor.u16().ok_or(formerr)?;
        let rdlength = usize::from(cursor.u16().ok_or(formerr)?);
        let rdata_start = cursor.at;
        cursor.skip(rdlength).ok_or(formerr)?;
        if record_type != rtype::OPT {
            continue;
        }
        // RFC 6891 §6.1.1: one OPT, owned by the root; more than one is FORMERR.
        if edns.is_some() || cursor.bytes[name_start] != 0 || rdata_start != name_start + 11 {
            return Err(formerr);
        }
        // Options must tile the RDATA exactly (§6.1.2); unknown ones are ignored.
        let mut options = Cursor {
            bytes: &packet[rdata_start..rdata_start + rdlength],
            at: 0,
        };
        let mut nsid = false;
        while options.at < rdlength {
            let code = options.u16().ok_or(formerr)?;
            let option_length = options.u16().ok_or(formerr)?;
            options.skip(usize::from(option_length)).ok_or(formerr)?;
            nsid |= code == crate::wire::response::EDNS_NSID;
        }
        edns = Some(Edns {
            udp_payload: class,
            version,
            dnssec_ok: edns_flags & 0x8000 != 0,
            nsid,
            compact_ok: edns_flags & COMPACT_OK != 0,
        });
    }
    if cursor.at != packet.len() {
        return Err(Rejection::FormErr {
            id,
            opcode,
            flags,
            edns,
        });
    }
    Ok(Query {
        id,
        opcode,
        flags,
        question,
        qname,
        qtype,
        qclass,
        edns,
        tsig,
    })
}

/// Reads a whole TSIG record from its owner name on; `None` if it is
/// malformed (compressed names, fields past its RDATA).
fn read_tsig<'a>(record: &mut Cursor<'a>) -> Option<TsigRecord<'a>> {
    let key_name = record.uncompressed_name()?;
    record.skip(8)?; // type, class, TTL
    let rdlength = usize::from(record.u16()?);
    let rdata_end = record.at + rdlength;
    let algorithm = record.uncompressed_name()?;
    let time_start = record.at;
    record.skip(8)?; // Time Signed (6), Fudge (2)
    let time_and_fudge = &record.bytes[time_start..record.at];
    let mac_size = usize::from(record.u16()?);
    record.skip(mac_size)?;
    let original_id = record.u16()?;
    record.skip(2)?; // Error
    let other_length = usize::from(record.u16()?);
    record.skip(other_length)?;
    (record.at == rdata_end).then_some(TsigRecord {
        key_name,
        algorithm,
        time_and_fudge,
        original_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &[u8], extra: &[u8], arcount: u16) -> Vec<u8> {
        let mut packet = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0];
        packet.extend_from_slice(&arcount.to_be_bytes());
        packet.extend_from_slice(name);
        packet.extend_from_slice(&[0, 16, 0, 1]);
        packet.extend_from_slice(extra);
        packet
    }

    const OPT: &[u8] = &[0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0, 0, 0];

    #[test]
    fn plain_and_edns_queries_parse() {
        let packet = query(b"\x01A\x04test\x00", &[], 0);
        let q = parse(&packet).expect("parses");
        assert_eq!((q.id, q.qtype, q.qclass, q.opcode), (0x1234, 16, 1, 0));
        assert_eq!(q.qname, b"\x01A\x04test\x00");
        assert_eq!(q.edns, None);
        let packet = query(b"\x00", OPT, 1);
        let q = parse(&packet).expect("parses");
        assert_eq!(
            q.edns,
            Some(Edns {
                udp_payload: 1232,
                version: 0,
                dnssec_ok: true,
                nsid: false,
                compact_ok: false,
            })
        );
    }

    #[test]
    fn unknown_edns_options_are_skipped() {
        let opt = [
            0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 8, 0xFF, 0x01, 0, 4, 1, 2, 3, 4,
        ];
        let packet = query(b"\x00", &opt, 1);
        assert!(parse(&packet).is_ok());
    }

    #[test]
    fn defects_are_formerr_or_drop() {
        assert_eq!(parse(&[0; 11]), Err(Rejection::Drop));
        let mut response = query(b"\x00", &[], 0);
        response[2] |= 0x80;
        assert_eq!(parse(&response), Err(Rejection::Drop));
        let formerr =
            |packet: &[u8]| matches!(parse(packet), Err(Rejection::FormErr { id: 0x1234, .. }));
        assert!(formerr(&query(b"\x01a", &[], 0)), "truncated name");
        assert!(formerr(&query(b"\xc0\x0c", &[], 0)), "pointer in question");
        assert!(formerr(&query(b"\x00", &[1], 0)), "trailing byte");
        let mut two_opts = OPT.to_vec();
        two_opts.extend_from_slice(OPT);
        assert!(formerr(&query(b"\x00", &two_opts, 2)), "two OPT records");
        let bad_option = [0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 3, 0, 1, 0];
        assert!(
            formerr(&query(b"\x00", &bad_option, 1)),
            "option overruns OPT"
        );
        let mut two_questions = query(b"\x00", &[0, 0, 16, 0, 1], 0);
        two_questions[5] = 2;
        assert!(formerr(&two_questions), "two questions");
        let long: Vec<u8> = std::iter::repeat_n(
            b"\x3f"
                .iter()
                .chain([b'a'; 63].iter())
                .copied()
                .collect::<Vec<u8>>(),
            5,
        )
        .flatten()
        .chain([0])
        .collect();
        assert!(formerr(&query(&long, &[], 0)), "name over 255 octets");
    }
}
