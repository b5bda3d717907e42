//! Reading and checking RFC 1035 master files (`zones/*.zone`).
//!
//! This module owns the master-file syntax and the zone-level checks a
//! serious server runs before it serves anything: one SOA at the apex, NS at
//! the apex, glue for in-zone name servers, no CNAME beside other data, no
//! record outside the zone, label/name/TXT-string lengths, SVCB parameters in
//! ascending key order. Every error names the file, the line and the problem.
//!
//! The lexical layer (comments, quotes, parentheses, `$ORIGIN`, `$TTL`,
//! `$INCLUDE`, blank owners) is done here so each record keeps its line
//! number; each record's RDATA is then handed to hickory-proto's parser with
//! an absolute owner, TTL and class, so type-specific syntax (SVCB, TXT, …) is
//! hickory's. The output is a [`ZoneContent`] of RRsets in wire form. It must
//! not touch the store or the network.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use hickory_proto::rr::rdata::svcb::SVCB;
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_proto::serialize::txt::{Parser, parse_ttl};
use sha2::{Digest, Sha256};
use thiserror::Error;

mod lexer;
pub mod rdata;
mod svcb;

use lexer::{Entry, split_entries};

use crate::name_key::{name_key, rrset_key, split_rrset_key};
use crate::rrset::rdata_to_wire;
use crate::zone_rules;

/// How deep `$INCLUDE` may nest.
const MAX_INCLUDE_DEPTH: usize = 8;
/// The most bytes one zone's files (the zone file and everything it
/// includes) may hold together.
pub const MAX_ZONE_BYTES: u64 = 1 << 30;

/// Where a record came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

#[derive(Debug, Error)]
pub enum ZoneFileError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{location}: {message}")]
    Invalid { location: Location, message: String },
    #[error("{file}: {message}")]
    Zone { file: PathBuf, message: String },
}

fn invalid(location: &Location, message: impl Into<String>) -> ZoneFileError {
    ZoneFileError::Invalid {
        location: location.clone(),
        message: message.into(),
    }
}

/// One RRset of a zone, ready to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneRrset {
    pub name: Name,
    pub record_type: RecordType,
    pub ttl: u32,
    /// Wire-form RDATAs, duplicates removed, in file order.
    pub rdatas: Vec<Vec<u8>>,
    pub location: Location,
}

/// A checked zone: its origin, SOA and RRsets keyed by RRset key (name key ‖ 0 ‖ type).
#[derive(Clone, Debug)]
pub struct ZoneContent {
    pub origin: Name,
    pub soa_serial: u32,
    pub rrsets: BTreeMap<Vec<u8>, ZoneRrset>,
    /// SHA-256 over the RRsets in canonical order: equal content, equal digest.
    pub digest: String,
    /// Non-fatal findings (for example occluded data below a delegation).
    pub warnings: Vec<String>,
}

/// A record as read, before RRsets are formed.
struct ParsedRecord {
    name: Name,
    ttl: u32,
    record_type: RecordType,
    /// RDATA in wire form, names uncompressed.
    wire: Vec<u8>,
    location: Location,
}

struct ReadState {
    /// `$INCLUDE` may only read regular files inside this directory (the
    /// canonical zones directory), so a zone file cannot publish
    /// `/etc/shadow` or block on a FIFO.
    include_root: PathBuf,
    /// Bytes the zone's files may still add up to.
    bytes_left: u64,
    origin: Name,
    default_ttl: Option<u32>,
    last_ttl: Option<u32>,
    last_owner: Option<Name>,
}

impl ReadState {
    fn new(include_root: PathBuf, origin: &Name) -> Self {
        Self {
            include_root,
            bytes_left: MAX_ZONE_BYTES,
            origin: origin.clone(),
            default_ttl: None,
            last_ttl: None,
            last_owner: None,
        }
    }
}

/// A master-file name: ASCII with `\\` escapes, case kept, relative to `origin`
/// unless it ends in a dot (RFC 1035 §5.1).
pub fn parse_ascii_name(text: &str, origin: &Name) -> Result<Name, String> {
    let labels = rdata::name_labels(text, &origin_labels(origin))?;
    let mut name = Name::from_labels(labels).map_err(|e| format!("bad name '{text}': {e}"))?;
    name.set_fqdn(true);
    Ok(name)
}

/// A name's labels, as [`rdata`] takes an origin.
fn origin_labels(origin: &Name) -> Vec<Vec<u8>> {
    origin.iter().map(<[u8]>::to_vec).collect()
}

fn parse_name(text: &str, origin: &Name, location: &Location) -> Result<Name, ZoneFileError> {
    let name = parse_ascii_name(text, origin).map_err(|message| invalid(location, message))?;
    check_name_lengths(&name, location)?;
    Ok(name)
}

fn check_name_lengths(name: &Name, location: &Location) -> Result<(), ZoneFileError> {
    for label in name.iter() {
        if label.len() > 63 {
            return Err(invalid(
                location,
                format!("label of {} octets in '{name}' (at most 63)", label.len()),
            ));
        }
    }
    if name.len() > 255 {
        return Err(invalid(
            location,
            format!("name '{name}' is longer than 255 octets"),
        ));
    }
    Ok(())
}

fn is_class(token: &str) -> bool {
    matches!(
        token.to_ascii_uppercase().as_str(),
        "IN" | "CH" | "CS" | "HS" | "ANY" | "NONE"
    ) || token.to_ascii_uppercase().starts_with("CLASS")
}

fn read_file(
    path: &Path,
    state: &mut ReadState,
    depth: usize,
    records: &mut Vec<ParsedRecord>,
) -> Result<(), ZoneFileError> {
    let text = read_bounded(path, &mut state.bytes_left)?;
    read_text(&text, path, state, depth, records)
}

/// Reads the entries of one file's text (`path` names it in errors and
/// anchors its `$INCLUDE`s).
fn read_text(
    text: &str,
    path: &Path,
    state: &mut ReadState,
    depth: usize,
    records: &mut Vec<ParsedRecord>,
) -> Result<(), ZoneFileError> {
    for entry in split_entries(text, path)? {
        let location = Location {
            file: path.to_path_buf(),
            line: entry.line,
        };
        let first = entry.tokens[0].as_str();
        if !entry.blank_owner && first.starts_with('$') {
            read_directive(&entry, path, state, depth, records, &location)?;
            continue;
        }
        let (owner, rest) = if entry.blank_owner {
            let owner = state
                .last_owner
                .clone()
                .ok_or_else(|| invalid(&location, "record has no owner and no previous owner"))?;
            (owner, &entry.tokens[..])
        } else {
            (
                parse_name(first, &state.origin, &location)?,
                &entry.tokens[1..],
            )
        };
        state.last_owner = Some(owner.clone());
        records.push(read_record(owner, rest, state, &location)?);
    }
    Ok(())
}

/// Reads one zone or included file: a regular file (not a FIFO or a
/// device), within the zone's remaining byte budget.
fn read_bounded(path: &Path, bytes_left: &mut u64) -> Result<String, ZoneFileError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let read_error = |source| ZoneFileError::Read {
        file: path.to_path_buf(),
        source,
    };
    // O_NONBLOCK: opening a FIFO must not wait for a writer (regular files
    // ignore the flag).
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(read_error)?;
    let metadata = file.metadata().map_err(read_error)?;
    if !metadata.is_file() {
        return Err(ZoneFileError::Zone {
            file: path.to_path_buf(),
            message: "not a regular file".into(),
        });
    }
    let mut bytes = Vec::new();
    file.take(*bytes_left + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > *bytes_left {
        return Err(ZoneFileError::Zone {
            file: path.to_path_buf(),
            message: format!("the zone's files are larger than {MAX_ZONE_BYTES} bytes together"),
        });
    }
    *bytes_left -= bytes.len() as u64;
    String::from_utf8(bytes).map_err(|_| ZoneFileError::Zone {
        file: path.to_path_buf(),
        message: "not UTF-8 text (write other octets as \\DDD escapes)".into(),
    })
}

/// The file an `$INCLUDE` names, relative to the including file; it must
/// resolve (links followed) to a file inside the zones directory.
fn include_path(
    including: &Path,
    named: &str,
    root: &Path,
    location: &Location,
) -> Result<PathBuf, ZoneFileError> {
    let joined = including.parent().unwrap_or(Path::new(".")).join(named);
    let resolved = joined
        .canonicalize()
        .map_err(|e| invalid(location, format!("$INCLUDE {named}: {e}")))?;
    if !resolved.starts_with(root) {
        return Err(invalid(
            location,
            format!(
                "$INCLUDE {named}: only files inside the zones directory {} may be included",
                root.display()
            ),
        ));
    }
    Ok(resolved)
}

fn read_directive(
    entry: &Entry,
    path: &Path,
    state: &mut ReadState,
    depth: usize,
    records: &mut Vec<ParsedRecord>,
    location: &Location,
) -> Result<(), ZoneFileError> {
    let directive = entry.tokens[0].to_ascii_uppercase();
    let argument = entry.tokens.get(1).map(String::as_str);
    match (directive.as_str(), argument) {
        ("$ORIGIN", Some(name)) => {
            let origin = parse_ascii_name(name, &state.origin)
                .map_err(|e| invalid(location, format!("bad $ORIGIN: {e}")))?;
            state.origin = origin;
        }
        ("$TTL", Some(ttl)) => {
            let ttl =
                parse_ttl(ttl).map_err(|e| invalid(location, format!("bad $TTL '{ttl}': {e}")))?;
            state.default_ttl = Some(ttl);
        }
        ("$INCLUDE", Some(file)) => {
            if depth >= MAX_INCLUDE_DEPTH {
                return Err(invalid(location, "$INCLUDE nested too deeply"));
            }
            let included = include_path(path, file, &state.include_root, location)?;
            let saved_origin = state.origin.clone();
            if let Some(origin) = entry.tokens.get(2) {
                state.origin = parse_ascii_name(origin, &state.origin)
                    .map_err(|e| invalid(location, format!("bad $INCLUDE origin: {e}")))?;
            }
            read_file(&included, state, depth + 1, records)?;
            // RFC 1035 §5.1: the origin reverts after an $INCLUDE.
            state.origin = saved_origin;
        }
        (other, None) if ["$ORIGIN", "$TTL", "$INCLUDE"].contains(&other) => {
            return Err(invalid(location, format!("{other} needs an argument")));
        }
        (other, _) => return Err(invalid(location, format!("unknown directive {other}"))),
    }
    Ok(())
}

fn read_record(
    owner: Name,
    tokens: &[String],
    state: &mut ReadState,
    location: &Location,
) -> Result<ParsedRecord, ZoneFileError> {
    let mut ttl = None;
    let mut index = 0;
    // [TTL] [CLASS] TYPE or [CLASS] [TTL] TYPE (RFC 1035 §5.1).
    while index < tokens.len() && index < 2 {
        let token = tokens[index].as_str();
        if ttl.is_none() && token.starts_with(|c: char| c.is_ascii_digit()) {
            ttl = Some(
                parse_ttl(token)
                    .map_err(|e| invalid(location, format!("bad TTL '{token}': {e}")))?,
            );
        } else if is_class(token) {
            if !token.eq_ignore_ascii_case("IN") {
                return Err(invalid(
                    location,
                    format!("class {token} is not served; only IN"),
                ));
            }
        } else {
            break;
        }
        index += 1;
    }
    let type_token = tokens
        .get(index)
        .ok_or_else(|| invalid(location, "record has no type"))?;
    let record_type = parse_record_type(type_token)
        .ok_or_else(|| invalid(location, format!("unknown record type '{type_token}'")))?;
    zone_rules::check_storable(u16::from(record_type), || record_type.to_string())
        .map_err(|e| invalid(location, e.to_string()))?;
    let ttl = match ttl.or(state.default_ttl).or(state.last_ttl) {
        Some(ttl) => ttl,
        None => {
            return Err(invalid(
                location,
                "record has no TTL and no $TTL is in effect",
            ));
        }
    };
    state.last_ttl = Some(ttl);
    let wire = record_wire(&owner, record_type, &tokens[index + 1..], &state.origin)
        .map_err(|message| invalid(location, message))?;
    Ok(ParsedRecord {
        name: owner,
        ttl,
        record_type,
        wire,
        location: location.clone(),
    })
}

/// A type mnemonic, or RFC 3597's `TYPEnnn`.
fn parse_record_type(token: &str) -> Option<RecordType> {
    if let Some(code) = rdata::type_code(token) {
        return Some(RecordType::from(code));
    }
    let upper = token.to_ascii_uppercase();
    if let Some(number) = upper.strip_prefix("TYPE")
        && let Ok(code) = number.parse::<u16>()
    {
        return Some(RecordType::from(code));
    }
    RecordType::from_str(&upper).ok()
}

/// One record's RDATA in wire form: RFC 3597 `\#` or the types
/// [`rdata`] parses itself, else hickory's per-type parser (SVCB, HTTPS,
/// and the rest), checked and encoded.
fn record_wire(
    owner: &Name,
    record_type: RecordType,
    tokens: &[String],
    origin: &Name,
) -> Result<Vec<u8>, String> {
    let code = u16::from(record_type);
    let type_name = rdata::type_name(code).map_or_else(
        || match record_type {
            RecordType::Unknown(code) => format!("TYPE{code}"),
            known => known.to_string(),
        },
        str::to_string,
    );
    if let Some(wire) = rdata::parse(code, &type_name, tokens, &origin_labels(origin))? {
        return Ok(wire);
    }
    if matches!(record_type, RecordType::Unknown(_)) {
        return Err(format!(
            "{type_name} data must be in RFC 3597 form: \\# <length> <hex>"
        ));
    }
    let rdata = rdata_from_tokens(owner, 0, record_type, tokens, origin)?;
    if rdata.record_type() != record_type {
        return Err(format!(
            "data parses as {}, not {record_type}",
            rdata.record_type()
        ));
    }
    let location = Location {
        file: PathBuf::from("(record)"),
        line: 0,
    };
    check_rdata(rdata, &location).map_err(|e| match e {
        ZoneFileError::Invalid { message, .. } => message,
        other => other.to_string(),
    })
}

fn rdata_from_tokens(
    owner: &Name,
    ttl: u32,
    record_type: RecordType,
    tokens: &[String],
    origin: &Name,
) -> Result<RData, String> {
    let mut rdata_tokens: Vec<String> = tokens.to_vec();
    // hickory's SVCB/HTTPS parser ignores the origin for TargetName: make a
    // relative target absolute here (RFC 9460 §2.1 presentation format).
    if matches!(record_type, RecordType::SVCB | RecordType::HTTPS) && rdata_tokens.len() >= 2 {
        rdata_tokens[1] = parse_ascii_name(&rdata_tokens[1], origin)?.to_ascii();
    }
    let rdata_text = rdata_tokens
        .iter()
        .map(|token| one_line_token(token))
        .collect::<Vec<_>>()
        .join(" ");
    if rdata_text.is_empty() {
        return Err(format!("{record_type} record has no data"));
    }
    parse_rdata(owner, ttl, record_type, &rdata_text, origin)
}

/// A token with every control character written as a `\DDD` escape (RFC
/// 1035 §5.1), so the record handed to hickory's master-file parser is one
/// line: an escaped or quoted line break can never start a new entry (such
/// as an `$INCLUDE` smuggled in through the admin API's RDATA).
fn one_line_token(token: &str) -> String {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(next) if next.is_ascii_control() => {
                    out.push_str(&format!("\\{:03}", next as u32));
                }
                Some(next) => {
                    out.push('\\');
                    out.push(next);
                }
                None => out.push('\\'),
            },
            c if c.is_ascii_control() => out.push_str(&format!("\\{:03}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Parses and checks the presentation form of one RDATA (as in a zone file,
/// names relative to `origin`) into wire form; used by the admin API.
pub fn rdata_wire_from_text(
    owner: &Name,
    record_type: RecordType,
    text: &str,
    origin: &Name,
) -> Result<Vec<u8>, String> {
    let location = Location {
        file: PathBuf::from("(request)"),
        line: 1,
    };
    let mut entries = split_entries(text, &location.file).map_err(|e| e.to_string())?;
    if entries.len() > 1 {
        return Err(
            "the data spans more than one record (a line break outside quotes or parentheses)"
                .into(),
        );
    }
    let tokens: Vec<String> = entries.pop().map(|entry| entry.tokens).unwrap_or_default();
    record_wire(owner, record_type, &tokens, origin)
}

/// Parses one record's RDATA with hickory's master-file parser, so relative
/// names inside RDATA resolve against the current origin.
fn parse_rdata(
    owner: &Name,
    ttl: u32,
    record_type: RecordType,
    rdata: &str,
    origin: &Name,
) -> Result<RData, String> {
    let text = format!("$ORIGIN {origin}\n{owner} {ttl} IN {record_type} {rdata}\n");
    let (_, rrsets) = Parser::new(text, None, Some(origin.clone()))
        .parse()
        .map_err(|e| format!("bad {record_type} data '{rdata}': {e}"))?;
    rrsets
        .into_values()
        .flat_map(|set| set.records_without_rrsigs().cloned().collect::<Vec<_>>())
        .map(|record| record.data)
        .next()
        .ok_or_else(|| format!("bad {record_type} data '{rdata}': no record parsed"))
}

/// Normalizes and checks one RDATA; returns it in wire form.
fn check_rdata(rdata: RData, location: &Location) -> Result<Vec<u8>, ZoneFileError> {
    let rdata = match rdata {
        RData::TXT(txt) => {
            if let Some(long) = txt.txt_data.iter().find(|s| s.len() > 255) {
                return Err(invalid(
                    location,
                    format!(
                        "TXT string of {} bytes (at most 255 per string)",
                        long.len()
                    ),
                ));
            }
            RData::TXT(txt)
        }
        RData::SVCB(svcb) => RData::SVCB(sort_svc_params(svcb, location)?),
        RData::HTTPS(https) => RData::HTTPS(hickory_proto::rr::rdata::HTTPS(sort_svc_params(
            https.0, location,
        )?)),
        other => other,
    };
    for name in rdata_names(&rdata) {
        check_name_lengths(name, location)?;
    }
    rdata_to_wire(&rdata).map_err(|e| invalid(location, e.to_string()))
}

/// RFC 9460 §2.2: SvcParamKeys must appear in increasing order, each at most once.
pub fn sort_svc_params(mut svcb: SVCB, location: &Location) -> Result<SVCB, ZoneFileError> {
    svcb.svc_params.sort_by_key(|(key, _)| u16::from(*key));
    if let Some(pair) = svcb
        .svc_params
        .windows(2)
        .find(|pair| u16::from(pair[0].0) == u16::from(pair[1].0))
    {
        return Err(invalid(
            location,
            format!("SvcParamKey {} appears twice", pair[0].0),
        ));
    }
    Ok(svcb)
}

/// Names carried inside RDATA that the additional-section and glue logic care about.
fn rdata_names(rdata: &RData) -> Vec<&Name> {
    match rdata {
        RData::NS(ns) => vec![&ns.0],
        RData::CNAME(cname) => vec![&cname.0],
        RData::MX(mx) => vec![&mx.exchange],
        RData::SRV(srv) => vec![&srv.target],
        RData::SVCB(svcb) => vec![&svcb.target_name],
        RData::HTTPS(https) => vec![&https.0.target_name],
        RData::SOA(soa) => vec![&soa.mname, &soa.rname],
        _ => vec![],
    }
}

/// Origin a zone file declares by its name: `zones/example.test.zone` → `example.test.`.
pub fn origin_from_file_name(path: &Path) -> Result<Name, ZoneFileError> {
    let stem = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".zone"))
        .ok_or_else(|| ZoneFileError::Zone {
            file: path.to_path_buf(),
            message: "zone file names must be '<origin>.zone'".into(),
        })?;
    let mut origin = Name::from_ascii(stem).map_err(|e| ZoneFileError::Zone {
        file: path.to_path_buf(),
        message: format!("file name does not give a valid origin '{stem}': {e}"),
    })?;
    origin.set_fqdn(true);
    Ok(origin.to_lowercase())
}

/// Reads, parses and checks one zone file whose origin is `origin`.
pub fn load_zone_file(path: &Path, origin: &Name) -> Result<ZoneContent, ZoneFileError> {
    let directory = path.parent().unwrap_or(Path::new("."));
    let include_root = directory
        .canonicalize()
        .or_else(|_| Path::new(".").canonicalize())
        .map_err(|source| ZoneFileError::Read {
            file: path.to_path_buf(),
            source,
        })?;
    let mut state = ReadState::new(include_root, origin);
    let mut records = Vec::new();
    read_file(path, &mut state, 0, &mut records)?;
    build_zone(path, origin, records)
}

/// The SERIAL of SOA RDATA in wire form.
fn soa_serial_of(wire: &[u8]) -> Option<u32> {
    let mname = crate::wire::wire_name_len(wire)?;
    let rname = crate::wire::wire_name_len(wire.get(mname..)?)?;
    let fixed = wire.get(mname + rname..)?;
    (fixed.len() == 20).then(|| u32::from_be_bytes([fixed[0], fixed[1], fixed[2], fixed[3]]))
}

/// Parses and checks a zone given as text (for tests and fuzzing): no file
/// is read, so every `$INCLUDE` is refused.
pub fn parse_zone_text(text: &str, origin: &Name) -> Result<ZoneContent, ZoneFileError> {
    let path = PathBuf::from("(text)");
    // No directory can be a prefix of this: includes never resolve.
    let mut state = ReadState::new(PathBuf::from("/nonexistent/\0"), origin);
    let mut records = Vec::new();
    read_text(text, &path, &mut state, 0, &mut records)?;
    build_zone(&path, origin, records)
}

fn build_zone(
    path: &Path,
    origin: &Name,
    records: Vec<ParsedRecord>,
) -> Result<ZoneContent, ZoneFileError> {
    let zone_error = |message: String| ZoneFileError::Zone {
        file: path.to_path_buf(),
        message,
    };
    let mut rrsets: BTreeMap<Vec<u8>, ZoneRrset> = BTreeMap::new();
    let mut warnings = Vec::new();
    let mut soa_serial = None;
    for record in records {
        let location = &record.location;
        if !origin.zone_of(&record.name) {
            return Err(invalid(
                location,
                format!("'{}' is outside the zone {origin}", record.name),
            ));
        }
        let record_type = record.record_type;
        if record_type == RecordType::SOA {
            if record.name.to_lowercase() != *origin {
                return Err(invalid(
                    location,
                    format!("SOA at '{}', not at the apex {origin}", record.name),
                ));
            }
            if soa_serial.is_some() {
                return Err(invalid(
                    location,
                    "a second SOA record; a zone has exactly one",
                ));
            }
            soa_serial = Some(soa_serial_of(&record.wire).ok_or_else(|| {
                invalid(location, "SOA data is not MNAME RNAME and five numbers")
            })?);
        }
        let wire = record.wire;
        // RFC 2181 §8: resolvers read larger TTLs as 0; serve the ceiling,
        // as a zone file that Knot and NSD load must load here.
        let ttl = zone_rules::check_ttl(record.ttl).unwrap_or_else(|e| {
            warnings.push(format!("{location}: {e}; using {}", zone_rules::MAX_TTL));
            zone_rules::MAX_TTL
        });
        let key = rrset_key(&name_key(&record.name), u16::from(record_type));
        let rrset = rrsets.entry(key).or_insert_with(|| ZoneRrset {
            name: record.name.to_lowercase(),
            record_type,
            ttl,
            rdatas: Vec::new(),
            location: location.clone(),
        });
        if rrset.ttl != ttl {
            // RFC 2181 §5.2: TTLs of an RRset must match; keep the first, as Knot does.
            warnings.push(format!(
                "{location}: TTL {} differs from {} earlier in the {} RRset at {}; using {}",
                ttl, rrset.ttl, record_type, rrset.name, rrset.ttl
            ));
        }
        // RFC 2181 §5: duplicate records in an RRset are dropped.
        if !rrset.rdatas.contains(&wire) {
            rrset.rdatas.push(wire);
        }
        zone_rules::check_rrset_size(u16::from(record_type), rrset.rdatas.len(), || {
            record_type.to_string()
        })
        .map_err(|e| invalid(location, format!("{e}: a second one at '{}'", rrset.name)))?;
    }
    let soa_serial =
        soa_serial.ok_or_else(|| zone_error(format!("no SOA record at the apex {origin}")))?;
    check_structure(origin, &rrsets, &mut warnings)?;
    let mut hasher = Sha256::new();
    for (key, rrset) in &rrsets {
        hasher.update((key.len() as u32).to_be_bytes());
        hasher.update(key);
        hasher.update(rrset.ttl.to_be_bytes());
        for rdata in &rrset.rdatas {
            hasher.update((rdata.len() as u32).to_be_bytes());
            hasher.update(rdata);
        }
    }
    let digest = data_encoding::HEXLOWER.encode(&hasher.finalize());
    Ok(ZoneContent {
        origin: origin.clone(),
        soa_serial,
        rrsets,
        digest,
        warnings,
    })
}

/// Zone-wide checks, by the rules in [`zone_rules`]: apex NS, glue, what
/// may share a name (CNAME, DNAME), nothing below a DNAME, occluded data
/// below a cut (a warning: Knot and NSD load it and do not serve it).
fn check_structure(
    origin: &Name,
    rrsets: &BTreeMap<Vec<u8>, ZoneRrset>,
    warnings: &mut Vec<String>,
) -> Result<(), ZoneFileError> {
    let origin_key = name_key(origin);
    let apex_ns_key = rrset_key(&origin_key, u16::from(RecordType::NS));
    if !rrsets.contains_key(&apex_ns_key) {
        let soa = rrsets.get(&rrset_key(&origin_key, u16::from(RecordType::SOA)));
        let location = soa.map(|s| s.location.clone()).unwrap_or(Location {
            file: PathBuf::new(),
            line: 0,
        });
        return Err(invalid(
            &location,
            format!("no NS records at the apex {origin}"),
        ));
    }
    let has_address = |name: &Name| {
        let key = name_key(name);
        rrsets.contains_key(&rrset_key(&key, u16::from(RecordType::A)))
            || rrsets.contains_key(&rrset_key(&key, u16::from(RecordType::AAAA)))
    };
    let type_name = |code: u16| RecordType::from(code).to_string();
    let mut shape = zone_rules::ZoneShape::default();
    for (key, rrset) in rrsets {
        let Some((node, record_type)) = split_rrset_key(key) else {
            continue;
        };
        shape.note_write(&origin_key, node, record_type, true);
        if rrset.record_type == RecordType::NS {
            for rdata in &rrset.rdatas {
                let target = crate::wire::name_from_wire(rdata)
                    .ok_or_else(|| invalid(&rrset.location, "NS data does not decode"))?;
                if zone_rules::needs_glue(&origin_key, &name_key(&target)) && !has_address(&target)
                {
                    return Err(invalid(
                        &rrset.location,
                        format!(
                            "name server '{target}' is inside the zone but has no A or AAAA record (glue)"
                        ),
                    ));
                }
            }
        }
        // The types already seen at this node (keys sort a node's RRsets together).
        let earlier: Vec<(u16, &ZoneRrset)> = rrsets
            .range(node.to_vec()..key.clone())
            .filter_map(|(k, r)| split_rrset_key(k).map(|(n, t)| (n, t, r)))
            .filter(|(n, _, _)| *n == node)
            .map(|(_, t, r)| (t, r))
            .collect();
        let types: Vec<u16> = earlier.iter().map(|(t, _)| *t).collect();
        zone_rules::check_node(
            record_type,
            &types,
            node == origin_key.as_slice(),
            type_name,
        )
        .map_err(|e| {
            // Point at the line that came last: the one that broke the rule.
            let location = earlier
                .iter()
                .map(|(_, r)| &r.location)
                .chain([&rrset.location])
                .max_by_key(|l| (l.file.clone(), l.line))
                .unwrap_or(&rrset.location);
            invalid(location, format!("{e} at '{}'", rrset.name))
        })?;
    }
    for (key, rrset) in rrsets {
        let Some((node, record_type)) = split_rrset_key(key) else {
            continue;
        };
        match shape.check_placement(&origin_key, node, record_type, || type_name(record_type)) {
            Ok(()) => {}
            Err(zone_rules::RuleViolation::BelowDname) => {
                return Err(invalid(
                    &rrset.location,
                    format!(
                        "{} at '{}': no data may sit below a DNAME (RFC 6672 §2.4)",
                        rrset.record_type, rrset.name
                    ),
                ));
            }
            Err(_) => warnings.push(format!(
                "{}: {} at '{}' is below a delegation and will not be served (occluded)",
                rrset.location, rrset.record_type, rrset.name
            )),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn load(text: &str) -> Result<ZoneContent, ZoneFileError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("example.test.zone");
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .expect("write");
        let origin = origin_from_file_name(&path).expect("origin");
        load_zone_file(&path, &origin)
    }

    const GOOD: &str = concat!(
        "$TTL 300\n",
        "@ IN SOA ns1 hostmaster ( 2024010101 ; serial\n",
        "  3600 900 604800 60 )\n",
        "  IN NS ns1\n",
        "ns1 IN A 192.0.2.1\n",
        "svc 600 IN SVCB 1 host port=8443 alpn=h2\n",
        "host IN A 192.0.2.2\n",
        "txt IN TXT \"a b\" \"c;d\" ; comment\n",
        "a.b.c IN A 192.0.2.3\n",
    );

    #[test]
    fn a_good_zone_loads_with_relative_names_and_multiline_soa() {
        let zone = load(GOOD).expect("loads");
        assert_eq!(zone.soa_serial, 2024010101);
        assert_eq!(zone.rrsets.len(), 7);
        let svc = zone
            .rrsets
            .values()
            .find(|r| r.record_type == RecordType::SVCB)
            .expect("svcb");
        assert_eq!(svc.ttl, 600);
        // The relative TargetName was completed with the origin.
        assert!(
            svc.rdatas[0]
                .windows(19)
                .any(|w| w == b"\x04host\x07example\x04test\x00")
        );
        // Params were sorted: alpn (1) before port (3).
        assert!(
            svc.rdatas[0].windows(2).position(|w| w == [0, 1])
                < svc.rdatas[0].windows(2).position(|w| w == [0, 3])
        );
        let txt = zone
            .rrsets
            .values()
            .find(|r| r.record_type == RecordType::TXT)
            .expect("txt");
        assert_eq!(txt.rdatas[0], b"\x03a b\x03c;d");
    }

    #[test]
    fn same_content_same_digest() {
        let a = load(GOOD).expect("a");
        let b = load(&GOOD.replace("; serial", "; another comment")).expect("b");
        assert_eq!(a.digest, b.digest);
        let c = load(&GOOD.replace("192.0.2.3", "192.0.2.4")).expect("c");
        assert_ne!(a.digest, c.digest);
    }

    fn error_of(text: &str) -> String {
        match load(text) {
            Ok(_) => panic!("zone should not load:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "x IN CNAME host\nx IN A 192.0.2.9\n",
                ":11:",
                "CNAME beside A at one name (RFC 1034 §3.6.2",
            ),
            (
                "out.example.org. IN A 192.0.2.9\n",
                ":10:",
                "outside the zone",
            ),
            ("bad IN A 300.1.1.1\n", ":10:", "is not an IPv4 address"),
            ("t IN TXT \"", ":10:", "not closed"),
            (
                &format!("t IN TXT \"{}\"\n", "x".repeat(256)),
                ":10:",
                "at most 255",
            ),
            (
                &format!("{} IN A 192.0.2.9\n", "l".repeat(64)),
                ":10:",
                "at most 63",
            ),
            (
                "s IN SVCB 1 host alpn=h2 alpn=h3\n",
                ":10:",
                "appears twice",
            ),
            ("@ IN SOA ns1 hm 1 2 3 4 5\n", ":10:", "second SOA"),
            ("q IN NS ns.q\n", ":10:", "no A or AAAA"),
            ("@ IN CNAME host\n", "", "CNAME"),
            ("$FOO bar\n", ":10:", "unknown directive"),
            ("x IN WXYZ 1\n", ":10:", "unknown record type"),
            ("x CH TXT \"a\"\n", ":10:", "only IN"),
            (
                "d IN DNAME example.org.\nx.d IN A 192.0.2.9\n",
                ":11:",
                "below a DNAME",
            ),
            (
                "d IN DNAME a.example.\nd IN DNAME b.example.\n",
                ":11:",
                "at most one DNAME",
            ),
            (
                "d IN DNAME a.example.\nd IN CNAME host\n",
                ":11:",
                "DNAME name has no CNAME",
            ),
            (
                "q IN AXFR \\# 0\n",
                ":10:",
                "not a record type a zone can hold",
            ),
        ];
        for (extra, line, problem) in cases {
            let message = error_of(&format!("{GOOD}{extra}"));
            assert!(message.contains("example.test.zone"), "{message}");
            assert!(message.contains(line), "expected line {line} in: {message}");
            assert!(
                message.contains(problem),
                "expected '{problem}' in: {message}"
            );
        }
    }

    #[test]
    fn zone_level_requirements() {
        assert!(error_of("$TTL 60\n@ IN NS ns1\nns1 IN A 192.0.2.1\n").contains("no SOA"));
        assert!(error_of("$TTL 60\n@ IN SOA ns1 hm 1 2 3 4 5\n").contains("no NS"));
        assert!(error_of("@ IN SOA ns1 hm 1 2 3 4 5\n").contains("no TTL"));
    }

    #[test]
    fn dname_loads_and_ttls_above_the_ceiling_are_clamped() {
        let zone = load(&format!(
            "{GOOD}old IN DNAME example.org.\nold IN TXT \"beside\"\nbig 3000000000 IN A 192.0.2.8\n"
        ))
        .expect("loads");
        let big = zone
            .rrsets
            .values()
            .find(|r| r.name.to_ascii() == "big.example.test.")
            .expect("big");
        assert_eq!(big.ttl, zone_rules::MAX_TTL);
        assert_eq!(zone.warnings.len(), 1, "{:?}", zone.warnings);
        assert!(zone.warnings[0].contains("RFC 2181 §8"));
        assert!(zone.rrsets.values().any(
            |r| r.record_type == RecordType::DNAME && r.rdatas[0] == b"\x07example\x03org\x00"
        ));
    }

    #[test]
    fn occluded_data_is_a_warning() {
        let zone = load(&format!(
            "{GOOD}sub IN NS ns.sub\nns.sub IN A 192.0.2.7\nwww.sub IN TXT \"x\"\n"
        ))
        .expect("loads");
        assert_eq!(zone.warnings.len(), 1, "{:?}", zone.warnings);
        assert!(zone.warnings[0].contains("occluded"));
    }

    fn zone_dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("write");
        }
        dir
    }

    fn load_from(dir: &Path) -> Result<ZoneContent, ZoneFileError> {
        let path = dir.join("example.test.zone");
        let origin = origin_from_file_name(&path).expect("origin");
        load_zone_file(&path, &origin)
    }

    #[test]
    fn include_inside_the_zones_directory_loads() {
        let dir = zone_dir_with(&[
            ("example.test.zone", &format!("{GOOD}$INCLUDE part.inc\n")),
            ("part.inc", "extra IN A 192.0.2.9\n"),
        ]);
        let zone = load_from(dir.path()).expect("loads");
        assert!(
            zone.rrsets
                .values()
                .any(|r| r.name.to_ascii() == "extra.example.test.")
        );
    }

    /// Regression: `$INCLUDE` read any file on the machine and published it.
    #[test]
    fn include_outside_the_zones_directory_is_refused() {
        let outside = tempfile::tempdir().expect("tempdir");
        std::fs::write(outside.path().join("secret"), "secret IN TXT \"hunter2\"\n")
            .expect("write");
        for target in [
            outside.path().join("secret").display().to_string(),
            "../secret".to_string(),
            "/etc/hostname".to_string(),
        ] {
            let dir =
                zone_dir_with(&[("example.test.zone", &format!("{GOOD}$INCLUDE {target}\n"))]);
            let error = load_from(dir.path())
                .expect_err("must not load")
                .to_string();
            assert!(
                error.contains("only files inside the zones directory")
                    || error.contains("No such file"),
                "{target}: {error}"
            );
        }
        // A link inside the directory that points out of it is refused too.
        let dir = zone_dir_with(&[("example.test.zone", &format!("{GOOD}$INCLUDE link.inc\n"))]);
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("link.inc"))
            .expect("symlink");
        let error = load_from(dir.path())
            .expect_err("must not load")
            .to_string();
        assert!(
            error.contains("only files inside the zones directory"),
            "{error}"
        );
    }

    /// Regression: a FIFO (or /dev/zero) behind `$INCLUDE` blocked or ate memory.
    #[test]
    fn include_of_a_non_regular_file_is_refused() {
        let dir = zone_dir_with(&[("example.test.zone", &format!("{GOOD}$INCLUDE pipe.inc\n"))]);
        let fifo = dir.path().join("pipe.inc");
        let c_path = std::ffi::CString::new(fifo.display().to_string()).expect("path");
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
        let error = load_from(dir.path())
            .expect_err("must not load")
            .to_string();
        assert!(error.contains("not a regular file"), "{error}");
    }

    #[test]
    fn extra_fields_in_fixed_layout_rdata_are_errors() {
        assert!(error_of(&format!("{GOOD}two IN A 192.0.2.1 192.0.2.2\n")).contains("too many"));
        assert!(error_of(&format!("{GOOD}mx IN MX 10 a b\n")).contains("too many"));
    }

    #[test]
    fn control_characters_become_escapes() {
        assert_eq!(one_line_token("a\\\nb"), "a\\010b");
        assert_eq!(one_line_token("\"a\nb\""), "\"a\\010b\"");
        assert_eq!(one_line_token("a\\.b"), "a\\.b");
    }
}
