//! Presentation-format RDATA → wire form, written against the RFCs rather
//! than through hickory's master-file parser.
//!
//! It owns the field grammar of the record types a zone commonly holds —
//! names (`@`, relative, `\DDD` and `\X` escapes), character-strings
//! (quoted or not, escapes decoded to the octets they name), integers,
//! addresses, base64 and hex — and RFC 3597's generic `\# length hex` form
//! for every type, known or not. Each type's data must be consumed exactly:
//! a missing or extra field is an error naming the type. SVCB and HTTPS
//! go to [`super::svcb`]; types not listed here go to hickory's parser (the
//! caller decides). It reads tokens only: no files, no directives, no line breaks.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Why a record's data did not parse; the message names the field.
pub type RdataResult<T> = Result<T, String>;

/// Decodes one presentation token's escapes (RFC 1035 §5.1): `\DDD` is the
/// octet DDD, `\X` is X; quotes around the whole token are removed.
pub fn unescape(token: &str) -> RdataResult<Vec<u8>> {
    let inner = token
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(token);
    let bytes = inner.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] != b'\\' {
            out.push(bytes[at]);
            at += 1;
            continue;
        }
        let digits = bytes.get(at + 1..at + 4);
        match digits {
            Some(d) if d.iter().all(u8::is_ascii_digit) => {
                let value = u32::from(d[0] - b'0') * 100
                    + u32::from(d[1] - b'0') * 10
                    + u32::from(d[2] - b'0');
                let octet =
                    u8::try_from(value).map_err(|_| format!("escape \\{value} is above 255"))?;
                out.push(octet);
                at += 4;
            }
            _ => {
                let next = bytes.get(at + 1).ok_or("a lone backslash ends the token")?;
                out.push(*next);
                at += 2;
            }
        }
    }
    Ok(out)
}

/// The labels of a presentation name, and whether it ends in a dot.
/// Escaped dots stay inside their label.
fn split_labels(text: &str) -> RdataResult<(Vec<Vec<u8>>, bool)> {
    if text == "." {
        return Ok((Vec::new(), true));
    }
    let bytes = text.as_bytes();
    let mut labels = Vec::new();
    let mut start = 0;
    let mut at = 0;
    let mut absolute = false;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => at += 2,
            b'.' => {
                if at == start {
                    return Err(format!("empty label in name '{text}'"));
                }
                labels.push(unescape(&text[start..at])?);
                start = at + 1;
                at += 1;
                if at == bytes.len() {
                    absolute = true;
                }
            }
            _ => at += 1,
        }
    }
    if start < bytes.len() {
        labels.push(unescape(&text[start..])?);
    }
    Ok((labels, absolute))
}

/// The labels of a name in presentation form, relative ones completed with
/// `origin`'s labels; `@` is the origin (RFC 1035 §5.1). Checks RFC 1035
/// §2.3.4 lengths: labels of 1 to 63 octets, at most 255 in wire form.
pub fn name_labels(text: &str, origin: &[Vec<u8>]) -> RdataResult<Vec<Vec<u8>>> {
    let mut labels = if text == "@" {
        origin.to_vec()
    } else {
        let (mut labels, absolute) = split_labels(text)?;
        if !absolute {
            labels.extend_from_slice(origin);
        }
        labels
    };
    if let Some(long) = labels.iter().find(|l| l.len() > 63) {
        return Err(format!(
            "label of {} octets in name '{text}' (at most 63)",
            long.len()
        ));
    }
    let wire_length: usize = labels.iter().map(|l| l.len() + 1).sum::<usize>() + 1;
    if wire_length > 255 {
        return Err(format!("name '{text}' is longer than 255 octets"));
    }
    labels.shrink_to_fit();
    Ok(labels)
}

fn push_name(out: &mut Vec<u8>, labels: &[Vec<u8>]) {
    for label in labels {
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    out.push(0);
}

/// Reads one record's fields from its tokens, in order.
struct Fields<'t> {
    record_type: &'t str,
    tokens: &'t [String],
    at: usize,
    origin: &'t [Vec<u8>],
    out: Vec<u8>,
}

impl<'t> Fields<'t> {
    fn next(&mut self, what: &str) -> RdataResult<&'t str> {
        let token = self
            .tokens
            .get(self.at)
            .ok_or_else(|| format!("{} data lacks its {what}", self.record_type))?;
        self.at += 1;
        Ok(token)
    }

    fn rest(&mut self) -> &'t [String] {
        let rest = &self.tokens[self.at.min(self.tokens.len())..];
        self.at = self.tokens.len();
        rest
    }

    fn number<T: TryFrom<u64>>(&mut self, what: &str) -> RdataResult<T> {
        let token = self.next(what)?;
        token
            .parse::<u64>()
            .ok()
            .and_then(|n| T::try_from(n).ok())
            .ok_or_else(|| {
                format!(
                    "{} {what} '{token}' is not a number in range",
                    self.record_type
                )
            })
    }

    fn u8(&mut self, what: &str) -> RdataResult<()> {
        let value: u8 = self.number(what)?;
        self.out.push(value);
        Ok(())
    }

    fn u16(&mut self, what: &str) -> RdataResult<()> {
        let value: u16 = self.number(what)?;
        self.out.extend_from_slice(&value.to_be_bytes());
        Ok(())
    }

    fn u32(&mut self, what: &str) -> RdataResult<()> {
        let value: u32 = self.number(what)?;
        self.out.extend_from_slice(&value.to_be_bytes());
        Ok(())
    }

    /// A 32-bit time with optional units (`1h30m`), as SOA timers allow.
    fn ttl(&mut self, what: &str) -> RdataResult<()> {
        let token = self.next(what)?;
        let value = hickory_proto::serialize::txt::parse_ttl(token)
            .map_err(|_| format!("{} {what} '{token}' is not a time", self.record_type))?;
        self.out.extend_from_slice(&value.to_be_bytes());
        Ok(())
    }

    fn name(&mut self, what: &str) -> RdataResult<()> {
        let token = self.next(what)?;
        let labels = name_labels(token, self.origin)?;
        push_name(&mut self.out, &labels);
        Ok(())
    }

    fn ipv4(&mut self) -> RdataResult<()> {
        let token = self.next("address")?;
        let address: Ipv4Addr = token
            .parse()
            .map_err(|_| format!("'{token}' is not an IPv4 address"))?;
        self.out.extend_from_slice(&address.octets());
        Ok(())
    }

    fn ipv6(&mut self) -> RdataResult<()> {
        let token = self.next("address")?;
        let address: Ipv6Addr = token
            .parse()
            .map_err(|_| format!("'{token}' is not an IPv6 address"))?;
        self.out.extend_from_slice(&address.octets());
        Ok(())
    }

    /// One character-string (RFC 1035 §3.3): length octet, then the octets.
    fn character_string(&mut self, what: &str) -> RdataResult<()> {
        let token = self.next(what)?;
        push_character_string(&mut self.out, token)
    }

    fn base64_rest(&mut self, what: &str, required: bool) -> RdataResult<()> {
        let text: String = self.rest().concat();
        if text.is_empty() && required {
            return Err(format!("{} data lacks its {what}", self.record_type));
        }
        let bytes = data_encoding::BASE64
            .decode(text.as_bytes())
            .map_err(|_| format!("{} {what} is not base64", self.record_type))?;
        self.out.extend_from_slice(&bytes);
        Ok(())
    }

    fn hex_rest(&mut self, what: &str) -> RdataResult<()> {
        let text: String = self.rest().concat();
        if text.is_empty() {
            return Err(format!("{} data lacks its {what}", self.record_type));
        }
        let bytes = data_encoding::HEXUPPER_PERMISSIVE
            .decode(text.as_bytes())
            .map_err(|_| format!("{} {what} is not hexadecimal", self.record_type))?;
        self.out.extend_from_slice(&bytes);
        Ok(())
    }

    fn finish(self) -> RdataResult<Vec<u8>> {
        if self.at < self.tokens.len() {
            return Err(format!(
                "{} data has {} fields too many (from '{}')",
                self.record_type,
                self.tokens.len() - self.at,
                self.tokens[self.at]
            ));
        }
        if self.out.len() > usize::from(u16::MAX) {
            return Err(format!(
                "{} data is longer than 65535 octets",
                self.record_type
            ));
        }
        Ok(self.out)
    }
}

fn push_character_string(out: &mut Vec<u8>, token: &str) -> RdataResult<()> {
    let bytes = unescape(token)?;
    let length = u8::try_from(bytes.len()).map_err(|_| {
        format!(
            "character-string of {} octets (at most 255 per string)",
            bytes.len()
        )
    })?;
    out.push(length);
    out.extend_from_slice(&bytes);
    Ok(())
}

/// RFC 3597 §5: `\# <length> <hex>…`, for any type.
fn generic(tokens: &[String]) -> RdataResult<Vec<u8>> {
    let length: usize = tokens
        .get(1)
        .and_then(|t| t.parse().ok())
        .ok_or("\\# needs the data length in octets")?;
    let hex: String = tokens[2.min(tokens.len())..].concat();
    let bytes = data_encoding::HEXUPPER_PERMISSIVE
        .decode(hex.as_bytes())
        .map_err(|_| "\\# data is not hexadecimal".to_string())?;
    if bytes.len() != length {
        return Err(format!(
            "\\# says {length} octets but the data has {}",
            bytes.len()
        ));
    }
    Ok(bytes)
}

/// Type codes this module parses itself.
pub mod code {
    pub const A: u16 = 1;
    pub const NS: u16 = 2;
    pub const CNAME: u16 = 5;
    pub const SOA: u16 = 6;
    pub const MB: u16 = 7;
    pub const MG: u16 = 8;
    pub const MR: u16 = 9;
    pub const PTR: u16 = 12;
    pub const HINFO: u16 = 13;
    pub const MX: u16 = 15;
    pub const TXT: u16 = 16;
    pub const RP: u16 = 17;
    pub const AFSDB: u16 = 18;
    pub const RT: u16 = 21;
    pub const AAAA: u16 = 28;
    pub const LOC: u16 = 29;
    pub const SRV: u16 = 33;
    pub const NAPTR: u16 = 35;
    pub const KX: u16 = 36;
    pub const DNAME: u16 = 39;
    pub const APL: u16 = 42;
    pub const DS: u16 = 43;
    pub const SSHFP: u16 = 44;
    pub const IPSECKEY: u16 = 45;
    pub const DNSKEY: u16 = 48;
    pub const DHCID: u16 = 49;
    pub const TLSA: u16 = 52;
    pub const SMIMEA: u16 = 53;
    pub const CDS: u16 = 59;
    pub const CDNSKEY: u16 = 60;
    pub const OPENPGPKEY: u16 = 61;
    pub const ZONEMD: u16 = 63;
    pub const SVCB: u16 = 64;
    pub const HTTPS: u16 = 65;
    pub const SPF: u16 = 99;
    pub const EUI48: u16 = 108;
    pub const EUI64: u16 = 109;
    pub const URI: u16 = 256;
    pub const CAA: u16 = 257;
}

/// The code of a type mnemonic this module parses (case-insensitive).
pub fn type_code(mnemonic: &str) -> Option<u16> {
    TYPE_NAMES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(mnemonic))
        .map(|&(_, code)| code)
}

/// The mnemonic of a type this module parses.
pub fn type_name(record_type: u16) -> Option<&'static str> {
    TYPE_NAMES
        .iter()
        .find(|&&(_, code)| code == record_type)
        .map(|&(name, _)| name)
}

const TYPE_NAMES: &[(&str, u16)] = &[
    ("A", code::A),
    ("NS", code::NS),
    ("CNAME", code::CNAME),
    ("SOA", code::SOA),
    ("MB", code::MB),
    ("MG", code::MG),
    ("MR", code::MR),
    ("PTR", code::PTR),
    ("HINFO", code::HINFO),
    ("MX", code::MX),
    ("TXT", code::TXT),
    ("RP", code::RP),
    ("AFSDB", code::AFSDB),
    ("RT", code::RT),
    ("AAAA", code::AAAA),
    ("LOC", code::LOC),
    ("SRV", code::SRV),
    ("NAPTR", code::NAPTR),
    ("KX", code::KX),
    ("DNAME", code::DNAME),
    ("APL", code::APL),
    ("DS", code::DS),
    ("SSHFP", code::SSHFP),
    ("IPSECKEY", code::IPSECKEY),
    ("DNSKEY", code::DNSKEY),
    ("DHCID", code::DHCID),
    ("TLSA", code::TLSA),
    ("SMIMEA", code::SMIMEA),
    ("CDS", code::CDS),
    ("CDNSKEY", code::CDNSKEY),
    ("OPENPGPKEY", code::OPENPGPKEY),
    ("ZONEMD", code::ZONEMD),
    ("SVCB", code::SVCB),
    ("HTTPS", code::HTTPS),
    ("SPF", code::SPF),
    ("EUI48", code::EUI48),
    ("EUI64", code::EUI64),
    ("URI", code::URI),
    ("CAA", code::CAA),
];

/// Parses one record's data. `Ok(None)`: the type is not one this module
/// knows (the caller may try hickory's parser); `\#` works for every type.
pub fn parse(
    record_type: u16,
    type_name: &str,
    tokens: &[String],
    origin: &[Vec<u8>],
) -> RdataResult<Option<Vec<u8>>> {
    if tokens.first().is_some_and(|t| t == "\\#") {
        return generic(tokens).map(Some);
    }
    let mut f = Fields {
        record_type: type_name,
        tokens,
        at: 0,
        origin,
        out: Vec::with_capacity(64),
    };
    match record_type {
        code::A => f.ipv4()?,
        code::AAAA => f.ipv6()?,
        code::NS | code::CNAME | code::PTR | code::DNAME | code::MB | code::MG | code::MR => {
            f.name("target")?
        }
        code::SVCB | code::HTTPS => return super::svcb::svcb(type_name, tokens, origin).map(Some),
        code::MX | code::AFSDB | code::RT | code::KX => {
            f.u16("preference")?;
            f.name("target")?;
        }
        code::SRV => {
            f.u16("priority")?;
            f.u16("weight")?;
            f.u16("port")?;
            f.name("target")?;
        }
        code::SOA => {
            f.name("MNAME")?;
            f.name("RNAME")?;
            f.u32("serial")?;
            f.ttl("refresh")?;
            f.ttl("retry")?;
            f.ttl("expire")?;
            f.ttl("minimum")?;
        }
        code::TXT | code::SPF => {
            if tokens.is_empty() {
                return Err(format!("{type_name} data needs at least one string"));
            }
            for token in f.rest() {
                push_character_string(&mut f.out, token)?;
            }
        }
        code::HINFO => {
            f.character_string("CPU")?;
            f.character_string("OS")?;
        }
        code::RP => {
            f.name("mailbox")?;
            f.name("TXT name")?;
        }
        code::NAPTR => {
            f.u16("order")?;
            f.u16("preference")?;
            f.character_string("flags")?;
            f.character_string("services")?;
            f.character_string("regexp")?;
            f.name("replacement")?;
        }
        code::CAA => {
            f.u8("flags")?;
            let tag = unescape(f.next("tag")?)?;
            if tag.is_empty() || tag.len() > 255 || !tag.iter().all(u8::is_ascii_alphanumeric) {
                return Err("CAA tag must be 1 to 255 letters and digits".into());
            }
            f.out.push(tag.len() as u8);
            f.out.extend_from_slice(&tag);
            // RFC 8659 §4.1.1: the value is the rest of the RDATA, no length.
            let value = unescape(f.next("value")?)?;
            f.out.extend_from_slice(&value);
        }
        code::URI => {
            f.u16("priority")?;
            f.u16("weight")?;
            // RFC 7553 §4.5: the target is a quoted string, no length octet.
            let target = unescape(f.next("target")?)?;
            if target.is_empty() {
                return Err("URI target is empty".into());
            }
            f.out.extend_from_slice(&target);
        }
        code::EUI48 | code::EUI64 => {
            let token = f.next("address")?;
            let octets = if record_type == code::EUI48 { 6 } else { 8 };
            let parts: Vec<&str> = token.split('-').collect();
            if parts.len() != octets || parts.iter().any(|p| p.len() != 2) {
                return Err(format!(
                    "{type_name} address '{token}' must be {octets} hex pairs joined by '-'"
                ));
            }
            for part in parts {
                let octet = u8::from_str_radix(part, 16)
                    .map_err(|_| format!("{type_name} address '{token}' is not hexadecimal"))?;
                f.out.push(octet);
            }
        }
        code::DS | code::CDS => {
            f.u16("key tag")?;
            f.u8("algorithm")?;
            f.u8("digest type")?;
            f.hex_rest("digest")?;
        }
        code::DNSKEY | code::CDNSKEY => {
            f.u16("flags")?;
            f.u8("protocol")?;
            f.u8("algorithm")?;
            f.base64_rest("public key", true)?;
        }
        code::ZONEMD => {
            f.u32("serial")?;
            f.u8("scheme")?;
            f.u8("hash algorithm")?;
            f.hex_rest("digest")?;
        }
        code::SSHFP => {
            f.u8("algorithm")?;
            f.u8("fingerprint type")?;
            f.hex_rest("fingerprint")?;
        }
        code::TLSA | code::SMIMEA => {
            f.u8("usage")?;
            f.u8("selector")?;
            f.u8("matching type")?;
            f.hex_rest("certificate data")?;
        }
        code::DHCID | code::OPENPGPKEY => f.base64_rest("data", true)?,
        code::IPSECKEY => ipseckey(&mut f)?,
        code::APL => {
            for item in f.rest() {
                push_apl_item(&mut f.out, item)?;
            }
        }
        code::LOC => {
            let rest = f.rest().to_vec();
            f.out = loc(&rest)?;
        }
        _ => return Ok(None),
    }
    f.finish().map(Some)
}

/// RFC 4025 §3: precedence, gateway type, algorithm, gateway, public key.
fn ipseckey(f: &mut Fields<'_>) -> RdataResult<()> {
    f.u8("precedence")?;
    let gateway_type: u8 = f.number("gateway type")?;
    f.out.push(gateway_type);
    f.u8("algorithm")?;
    match gateway_type {
        0 => {
            let token = f.next("gateway")?;
            if token != "." {
                return Err("IPSECKEY gateway type 0 takes '.' as its gateway".into());
            }
        }
        1 => f.ipv4()?,
        2 => f.ipv6()?,
        3 => {
            // A wire name, never completed with the origin (RFC 4025 §3.3).
            let token = f.next("gateway")?;
            let (labels, _) = split_labels(token)?;
            push_name(&mut f.out, &name_labels(".", &labels)?);
        }
        other => return Err(format!("IPSECKEY gateway type {other} is not 0 to 3")),
    }
    f.base64_rest("public key", false)
}

/// RFC 3123 §4: `[!]afi:address/prefix`, the address cut after its last
/// non-zero octet.
fn push_apl_item(out: &mut Vec<u8>, item: &str) -> RdataResult<()> {
    let bad = || format!("APL item '{item}' is not [!]family:address/prefix");
    let (negated, item_body) = match item.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, item),
    };
    let (family, rest) = item_body.split_once(':').ok_or_else(bad)?;
    let (address, prefix) = rest.split_once('/').ok_or_else(bad)?;
    let prefix: u8 = prefix.parse().map_err(|_| bad())?;
    let (family, mut bytes, max) = match family {
        "1" => (
            1u16,
            address
                .parse::<Ipv4Addr>()
                .map_err(|_| bad())?
                .octets()
                .to_vec(),
            32,
        ),
        "2" => (
            2u16,
            address
                .parse::<Ipv6Addr>()
                .map_err(|_| bad())?
                .octets()
                .to_vec(),
            128,
        ),
        _ => return Err(bad()),
    };
    if prefix > max {
        return Err(bad());
    }
    while bytes.last() == Some(&0) {
        bytes.pop();
    }
    out.extend_from_slice(&family.to_be_bytes());
    out.push(prefix);
    out.push((u8::from(negated) << 7) | bytes.len() as u8);
    out.extend_from_slice(&bytes);
    Ok(())
}

/// RFC 1876 §3: `d [m [s]] N|S d [m [s]] E|W alt[m] [size[m] [hp[m] [vp[m]]]]`.
fn loc(tokens: &[String]) -> RdataResult<Vec<u8>> {
    let bad = |why: &str| format!("LOC data: {why}");
    let mut at = 0;
    let mut coordinate = |positive: char, negative: char, max_degrees: u32| -> RdataResult<u32> {
        let mut parts: Vec<&str> = Vec::new();
        let hemisphere = loop {
            let token = tokens
                .get(at)
                .ok_or_else(|| bad("a coordinate is cut short"))?;
            at += 1;
            let upper = token.to_ascii_uppercase();
            if upper.len() == 1 && (upper.starts_with(positive) || upper.starts_with(negative)) {
                break upper.starts_with(positive);
            }
            parts.push(token);
            if parts.len() > 3 {
                return Err(bad(
                    "a coordinate has more than degrees, minutes and seconds",
                ));
            }
        };
        let degrees: u32 = parts
            .first()
            .and_then(|d| d.parse().ok())
            .filter(|d| *d <= max_degrees)
            .ok_or_else(|| bad("degrees out of range"))?;
        let minutes: u32 = parts
            .get(1)
            .map_or(Some(0), |m| m.parse().ok())
            .filter(|m| *m < 60)
            .ok_or_else(|| bad("minutes out of range"))?;
        let seconds = parts
            .get(2)
            .map_or(Some(0.0), |s| s.parse::<f64>().ok())
            .filter(|s| (0.0..60.0).contains(s))
            .ok_or_else(|| bad("seconds out of range"))?;
        let thousandths = (f64::from(degrees * 3600 + minutes * 60) + seconds) * 1000.0;
        let thousandths = thousandths.round() as i64;
        if thousandths > i64::from(max_degrees) * 3_600_000 {
            return Err(bad("coordinate out of range"));
        }
        let offset = if hemisphere {
            thousandths
        } else {
            -thousandths
        };
        Ok((i64::from(1u32 << 31) + offset) as u32)
    };
    let latitude = coordinate('N', 'S', 90)?;
    let longitude = coordinate('E', 'W', 180)?;
    let meters = |token: &str| -> RdataResult<f64> {
        token
            .trim_end_matches(['m', 'M'])
            .parse::<f64>()
            .map_err(|_| bad("a distance is not a number of meters"))
    };
    let altitude = meters(tokens.get(at).ok_or_else(|| bad("no altitude"))?)?;
    at += 1;
    let altitude_cm = (altitude * 100.0).round() + 10_000_000.0;
    if !(0.0..=f64::from(u32::MAX)).contains(&altitude_cm) {
        return Err(bad("altitude out of range"));
    }
    // Size, horizontal and vertical precision: defaults 1m, 10000m, 10m.
    let mut precisions = [100.0f64, 1_000_000.0, 1_000.0];
    for slot in &mut precisions {
        if let Some(token) = tokens.get(at) {
            *slot = (meters(token)? * 100.0).round();
            at += 1;
        }
    }
    if at != tokens.len() {
        return Err(bad("fields too many"));
    }
    let encode = |centimeters: f64| -> RdataResult<u8> {
        // RFC 1876: mantissa (4 bits) × 10^exponent (4 bits) centimeters.
        let mut exponent = 0u8;
        let mut value = centimeters;
        while value >= 10.0 && exponent < 9 {
            value /= 10.0;
            exponent += 1;
        }
        if value >= 10.0 || centimeters < 0.0 {
            return Err(bad("a precision is out of range"));
        }
        Ok(((value.round() as u8).min(9) << 4) | exponent)
    };
    let mut out = vec![0u8];
    for centimeters in precisions {
        out.push(encode(centimeters)?);
    }
    out.extend_from_slice(&latitude.to_be_bytes());
    out.extend_from_slice(&longitude.to_be_bytes());
    out.extend_from_slice(&(altitude_cm as u32).to_be_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Vec<Vec<u8>> {
        vec![b"example".to_vec(), b"test".to_vec()]
    }

    fn wire(record_type: u16, text: &str) -> Vec<u8> {
        let tokens: Vec<String> = text.split_whitespace().map(String::from).collect();
        parse(record_type, "T", &tokens, &origin())
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .expect("known type")
    }

    #[test]
    fn escapes_decode_to_the_octets_they_name() {
        assert_eq!(unescape(r#""\255\000""#).expect("ok"), vec![255, 0]);
        assert_eq!(unescape(r#"a\"b\\c"#).expect("ok"), b"a\"b\\c");
        assert_eq!(unescape(r"\065\.").expect("ok"), b"A.");
        assert!(unescape(r"\256").is_err());
    }

    #[test]
    fn txt_with_escapes_is_served_as_those_octets() {
        assert_eq!(wire(code::TXT, r#""\255\000""#), vec![2, 255, 0]);
        let tokens = vec![r#""a b""#.to_string(), "c".to_string()];
        assert_eq!(
            parse(code::TXT, "TXT", &tokens, &origin()).expect("ok"),
            Some(b"\x03a b\x01c".to_vec())
        );
    }

    #[test]
    fn names_take_at_escapes_and_the_origin() {
        assert_eq!(wire(code::CNAME, "@"), b"\x07example\x04test\x00");
        assert_eq!(
            wire(code::MX, "10 mail"),
            b"\x00\x0a\x04mail\x07example\x04test\x00"
        );
        assert_eq!(wire(code::PTR, r"a\.b.c."), b"\x03a.b\x01c\x00");
        assert_eq!(wire(code::NS, r"\000\032_x."), b"\x04\x00 _x\x00");
        assert!(parse(code::NS, "NS", &["a..b".into()], &origin()).is_err());
    }

    #[test]
    fn generic_syntax_works_for_any_type() {
        let tokens: Vec<String> = ["\\#", "4", "0102", "0304"].map(String::from).to_vec();
        assert_eq!(
            parse(65534, "TYPE65534", &tokens, &origin()).expect("ok"),
            Some(vec![1, 2, 3, 4])
        );
        assert_eq!(
            parse(code::A, "A", &tokens, &origin()).expect("ok"),
            Some(vec![1, 2, 3, 4])
        );
        let short: Vec<String> = ["\\#", "5", "01020304"].map(String::from).to_vec();
        assert!(parse(65534, "TYPE65534", &short, &origin()).is_err());
    }

    #[test]
    fn common_types_encode_as_knot_does() {
        // Wire forms checked against dnspython's (dns.rdata.from_text(…).to_wire()).
        assert_eq!(
            wire(code::EUI48, "00-00-5e-00-53-2a"),
            vec![0, 0, 0x5e, 0, 0x53, 0x2a]
        );
        assert_eq!(
            wire(code::URI, r#"10 1 "ftp://ftp1.example.com/public""#),
            [&[0, 10, 0, 1][..], b"ftp://ftp1.example.com/public"].concat()
        );
        assert_eq!(
            wire(code::CAA, r#"0 issue "ca.example.net""#),
            [&[0, 5][..], b"issue", b"ca.example.net"].concat()
        );
        assert_eq!(
            wire(code::APL, "1:192.168.32.0/21 !1:192.168.38.0/28"),
            vec![0, 1, 21, 3, 192, 168, 32, 0, 1, 28, 0x83, 192, 168, 38]
        );
        assert_eq!(
            wire(
                code::LOC,
                "52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m"
            ),
            vec![
                0, 0, 22, 19, 139, 60, 240, 24, 129, 12, 188, 224, 0, 152, 149, 184
            ]
        );
        assert_eq!(
            wire(code::LOC, "42 21 54 N 71 06 18 W -24m 30m"),
            vec![
                0, 51, 22, 19, 137, 23, 45, 208, 112, 190, 21, 240, 0, 152, 141, 32
            ]
        );
        assert_eq!(
            wire(code::DS, "12345 13 2 0123456789abcdef 0123456789ABCDEF"),
            [
                &[0x30, 0x39, 13, 2][..],
                &[1, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef].repeat(2)
            ]
            .concat()
        );
        assert_eq!(
            wire(code::IPSECKEY, "10 1 2 192.0.2.38 AQID"),
            vec![10, 1, 2, 192, 0, 2, 38, 1, 2, 3]
        );
    }

    #[test]
    fn missing_and_extra_fields_are_errors() {
        let tokens = |t: &str| t.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert!(parse(code::A, "A", &tokens("192.0.2.1 192.0.2.2"), &origin()).is_err());
        assert!(parse(code::SRV, "SRV", &tokens("1 2 3"), &origin()).is_err());
        assert!(parse(code::MX, "MX", &tokens("70000 a."), &origin()).is_err());
        assert_eq!(
            parse(64, "SVCB", &tokens("1 ."), &origin()).expect("ok"),
            Some(vec![0, 1, 0]),
            "SVCB is parsed here too"
        );
        assert_eq!(
            parse(34463, "TYPE34463", &tokens("x"), &origin()).expect("ok"),
            None,
            "a type without a grammar goes to the caller"
        );
    }
}
