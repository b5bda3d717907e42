//! Writing a DNS response into one buffer, with name compression and a size
//! limit.
//!
//! Owner names are compressed against names already written (RFC 1035
//! §4.1.4), comparing case-insensitively, so an answer whose owner is the
//! question name points at the question and carries the client's case (the
//! 0x20 echo). RDATA is copied verbatim (names inside RDATA stay
//! uncompressed, always legal; RFC 3597 §4). Whole RRsets are written or
//! none of an RRset is (RFC 2181 §9): when one does not fit, the caller learns
//! so and decides whether that sets TC.

use super::request::{FLAG_AA, FLAG_CD, FLAG_QR, FLAG_RD, FLAG_TC};
use super::rtype;

/// Bytes an OPT record without options takes (RFC 6891 §6.1.2).
pub const OPT_RECORD_LEN: usize = 11;

/// The response would not fit in the size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// Response sections in wire order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Answer = 0,
    Authority = 1,
    Additional = 2,
}

pub struct ResponseWriter {
    buf: Vec<u8>,
    limit: usize,
    counts: [u16; 3],
    /// Offsets of names (and name suffixes) already in the buffer.
    name_offsets: Vec<u16>,
    /// A record to write after the OPT ([`ResponseWriter::trailing_record`]).
    trailer: Option<Vec<u8>>,
}

/// Header fields of a response.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    pub id: u16,
    pub opcode: u8,
    pub request_flags: u16,
    pub authoritative: bool,
    pub rcode: u16,
}

impl ResponseWriter {
    /// Starts a response; `limit` is the largest size the transport allows,
    /// with room for the OPT record already taken off by the caller.
    pub fn new(limit: usize) -> Self {
        let mut buf = Vec::with_capacity(limit.min(4096));
        buf.resize(12, 0);
        Self {
            buf,
            limit,
            counts: [0; 3],
            name_offsets: Vec::with_capacity(16),
            trailer: None,
        }
    }

    /// Copies the question (name, type, class) as the client sent it.
    pub fn question(&mut self, question: &[u8]) {
        let start = self.buf.len();
        self.buf.extend_from_slice(question);
        let mut at = 0;
        while at < question.len() && question[at] != 0 && question[at] <= 63 {
            if let Ok(offset) = u16::try_from(start + at) {
                self.name_offsets.push(offset);
            }
            at += 1 + usize::from(question[at]);
        }
        self.buf[4..6].copy_from_slice(&1u16.to_be_bytes());
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.len() <= 12
    }

    /// Compares the wire name `name` (uncompressed) with the name at `offset`
    /// in the buffer (possibly compressed), case-insensitively.
    fn same_name_at(&self, name: &[u8], mut offset: usize) -> bool {
        let mut at = 0;
        let mut hops = 0;
        loop {
            let Some(&length) = self.buf.get(offset) else {
                return false;
            };
            if length >= 0xC0 {
                let Some(&low) = self.buf.get(offset + 1) else {
                    return false;
                };
                offset = usize::from(u16::from_be_bytes([length & 0x3F, low]));
                hops += 1;
                if hops > 32 {
                    return false;
                }
                continue;
            }
            if name.get(at) != Some(&length) {
                return false;
            }
            if length == 0 {
                return true;
            }
            let size = usize::from(length);
            let (Some(ours), Some(theirs)) = (
                name.get(at + 1..at + 1 + size),
                self.buf.get(offset + 1..offset + 1 + size),
            ) else {
                return false;
            };
            if !ours.eq_ignore_ascii_case(theirs) {
                return false;
            }
            at += 1 + size;
            offset += 1 + size;
        }
    }

    /// Writes a wire name, compressing its longest suffix already present.
    fn name(&mut self, name: &[u8]) {
        let mut at = 0;
        let mut new_offsets = [0u16; 128];
        let mut new_count = 0;
        while at < name.len() && name[at] != 0 {
            let suffix = &name[at..];
            if let Some(&offset) = self
                .name_offsets
                .iter()
                .find(|&&offset| self.same_name_at(suffix, usize::from(offset)))
            {
                self.buf.extend_from_slice(&(0xC000 | offset).to_be_bytes());
                self.name_offsets
                    .extend_from_slice(&new_offsets[..new_count]);
                return;
            }
            let size = usize::from(name[at]);
            if let Ok(offset) = u16::try_from(self.buf.len())
                && offset < 0x4000
                && new_count < new_offsets.len()
            {
                new_offsets[new_count] = offset;
                new_count += 1;
            }
            self.buf.extend_from_slice(&name[at..at + 1 + size]);
            at += 1 + size;
        }
        self.buf.push(0);
        self.name_offsets
            .extend_from_slice(&new_offsets[..new_count]);
    }

    /// Writes one RDATA: verbatim, except the names RFC 3597 §4 lets a
    /// server compress (the types of RFC 1035: NS, CNAME, SOA, PTR, MX),
    /// which are compressed like owner names, as Knot and NSD do.
    fn rdata(&mut self, record_type: u16, rdata: &[u8]) {
        use super::wire_name_len;
        let whole_name = |bytes: &[u8]| wire_name_len(bytes) == Some(bytes.len());
        match record_type {
            rtype::NS | rtype::CNAME | rtype::PTR if whole_name(rdata) => self.name(rdata),
            rtype::MX if rdata.len() > 2 && whole_name(&rdata[2..]) => {
                self.buf.extend_from_slice(&rdata[..2]);
                self.name(&rdata[2..]);
            }
            rtype::SOA => {
                let mname = wire_name_len(rdata);
                let rname = mname.and_then(|m| Some(m + wire_name_len(rdata.get(m..)?)?));
                match (mname, rname) {
                    (Some(mname), Some(rname)) if rdata.len() == rname + 20 => {
                        self.name(&rdata[..mname]);
                        self.name(&rdata[mname..rname]);
                        self.buf.extend_from_slice(&rdata[rname..]);
                    }
                    _ => self.buf.extend_from_slice(rdata),
                }
            }
            _ => self.buf.extend_from_slice(rdata),
        }
    }

    /// Writes a whole RRset of class IN, or nothing of it if it does not fit.
    pub fn rrset<'r>(
        &mut self,
        section: Section,
        owner: &[u8],
        record_type: u16,
        ttl: u32,
        rdatas: impl Iterator<Item = &'r [u8]>,
    ) -> Result<(), Full> {
        self.rrset_in_class(section, owner, super::CLASS_IN, record_type, ttl, rdatas)
    }

    /// Writes a whole RRset of `class` (CH for the server's identity,
    /// RFC 4892), or nothing of it if it does not fit.
    pub fn rrset_in_class<'r>(
        &mut self,
        section: Section,
        owner: &[u8],
        class: u16,
        record_type: u16,
        ttl: u32,
        rdatas: impl Iterator<Item = &'r [u8]>,
    ) -> Result<(), Full> {
        let mark = self.buf.len();
        let names_mark = self.name_offsets.len();
        let mut written = 0u16;
        for rdata in rdatas {
            self.name(owner);
            self.buf.extend_from_slice(&record_type.to_be_bytes());
            self.buf.extend_from_slice(&class.to_be_bytes());
            self.buf.extend_from_slice(&ttl.to_be_bytes());
            let length_at = self.buf.len();
            self.buf.extend_from_slice(&[0, 0]);
            self.rdata(record_type, rdata);
            let length = (self.buf.len() - length_at - 2) as u16;
            self.buf[length_at..length_at + 2].copy_from_slice(&length.to_be_bytes());
            written += 1;
            if self.buf.len() > self.limit {
                self.buf.truncate(mark);
                self.name_offsets.truncate(names_mark);
                return Err(Full);
            }
        }
        self.counts[section as usize] += written;
        Ok(())
    }

    /// A whole record (wire form, names uncompressed) to put last in the
    /// additional section, after the OPT: a TSIG record (RFC 8945 §5.1).
    pub fn trailing_record(&mut self, record: Vec<u8>) {
        self.trailer = Some(record);
    }

    /// Finishes the message: header, then the OPT record if the request had EDNS.
    /// `extended_rcode` carries the upper 8 bits of a 12-bit RCODE (RFC 6891 §6.1.3).
    pub fn finish(
        mut self,
        header: Header,
        truncated: bool,
        opt: Option<OptRecord<'_>>,
    ) -> Vec<u8> {
        let mut flags = FLAG_QR | (u16::from(header.opcode & 0x0F) << 11);
        flags |= header.request_flags & (FLAG_RD | FLAG_CD);
        if header.authoritative {
            flags |= FLAG_AA;
        }
        if truncated {
            flags |= FLAG_TC;
        }
        flags |= header.rcode & 0x000F;
        self.buf[0..2].copy_from_slice(&header.id.to_be_bytes());
        self.buf[2..4].copy_from_slice(&flags.to_be_bytes());
        let mut additional = self.counts[2];
        if let Some(opt) = opt {
            self.buf.push(0);
            self.buf.extend_from_slice(&rtype::OPT.to_be_bytes());
            self.buf.extend_from_slice(&opt.udp_payload.to_be_bytes());
            self.buf.push((header.rcode >> 4) as u8);
            self.buf.push(0);
            self.buf.extend_from_slice(
                &(u16::from(opt.dnssec_ok) << 15 | u16::from(opt.compact_ok) << 14).to_be_bytes(),
            );
            match opt.nsid {
                // RFC 5001 §2.3: the NSID option, its payload the server's identifier.
                Some(nsid) => {
                    self.buf
                        .extend_from_slice(&((nsid.len() + 4) as u16).to_be_bytes());
                    self.buf.extend_from_slice(&EDNS_NSID.to_be_bytes());
                    self.buf
                        .extend_from_slice(&(nsid.len() as u16).to_be_bytes());
                    self.buf.extend_from_slice(nsid);
                }
                None => self.buf.extend_from_slice(&0u16.to_be_bytes()),
            }
            additional += 1;
        }
        if let Some(trailer) = self.trailer.take() {
            self.buf.extend_from_slice(&trailer);
            additional += 1;
        }
        self.buf[6..8].copy_from_slice(&self.counts[0].to_be_bytes());
        self.buf[8..10].copy_from_slice(&self.counts[1].to_be_bytes());
        self.buf[10..12].copy_from_slice(&additional.to_be_bytes());
        self.buf
    }
}

/// What the response's OPT record says (RFC 6891 §6.1.3).
#[derive(Debug, Clone, Copy)]
pub struct OptRecord<'a> {
    pub udp_payload: u16,
    pub dnssec_ok: bool,
    /// The NSID payload, when the request asked for it and one is configured.
    pub nsid: Option<&'a [u8]>,
    /// Compact Answers OK (RFC 9824 §4): set when a signed denial kept NXDOMAIN.
    pub compact_ok: bool,
}

/// EDNS option code of NSID (RFC 5001 §2.3).
pub const EDNS_NSID: u16 = 3;

impl OptRecord<'_> {
    /// Octets the record takes in a message.
    pub fn wire_len(&self) -> usize {
        OPT_RECORD_LEN + self.nsid.map_or(0, |nsid| 4 + nsid.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Message;

    const QUESTION: &[u8] = b"\x03WwW\x07example\x04test\x00\x00\x10\x00\x01";

    fn header(rcode: u16) -> Header {
        Header {
            id: 7,
            opcode: 0,
            request_flags: FLAG_RD,
            authoritative: true,
            rcode,
        }
    }

    #[test]
    fn owner_equal_to_question_points_at_it() {
        let mut writer = ResponseWriter::new(512);
        writer.question(QUESTION);
        writer
            .rrset(
                Section::Answer,
                b"\x03www\x07EXAMPLE\x04test\x00",
                16,
                300,
                [&b"\x02hi"[..]].into_iter(),
            )
            .expect("fits");
        writer
            .rrset(
                Section::Authority,
                b"\x07example\x04test\x00",
                2,
                300,
                [&b"\x02ns\x00"[..]].into_iter(),
            )
            .expect("fits");
        let bytes = writer.finish(
            header(0),
            false,
            Some(OptRecord {
                udp_payload: 1232,
                dnssec_ok: false,
                nsid: None,
                compact_ok: false,
            }),
        );
        // Answer owner is a pointer to offset 12; authority owner points at "example".
        let answer_at = 12 + QUESTION.len();
        assert_eq!(&bytes[answer_at..answer_at + 2], &[0xC0, 12]);
        let message = Message::from_vec(&bytes).expect("hickory decodes it");
        assert_eq!(message.answers[0].name.to_string(), "WwW.example.test.");
        assert_eq!(message.authorities[0].name.to_string(), "example.test.");
        assert!(message.metadata.authoritative && message.metadata.recursion_desired);
        assert_eq!(message.edns.as_ref().map(|e| e.max_payload()), Some(1232));
    }

    #[test]
    fn an_rrset_that_does_not_fit_leaves_nothing_behind() {
        let mut writer = ResponseWriter::new(100);
        writer.question(QUESTION);
        let big = [0u8; 40];
        let result = writer.rrset(
            Section::Answer,
            b"\x01x\x00",
            16,
            1,
            [&big[..], &big[..]].into_iter(),
        );
        assert_eq!(result, Err(Full));
        assert_eq!(writer.len(), 12 + QUESTION.len());
        let bytes = writer.finish(header(0), true, None);
        let message = Message::from_vec(&bytes).expect("decodes");
        assert!(message.metadata.truncation);
        assert!(message.answers.is_empty());
    }

    #[test]
    fn extended_rcode_goes_into_opt() {
        let mut writer = ResponseWriter::new(512);
        writer.question(QUESTION);
        let bytes = writer.finish(
            header(16),
            false,
            Some(OptRecord {
                udp_payload: 1232,
                dnssec_ok: false,
                nsid: None,
                compact_ok: false,
            }),
        );
        let message = Message::from_vec(&bytes).expect("decodes");
        assert_eq!(u16::from(message.metadata.response_code), 16);
    }
}
