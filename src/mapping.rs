//! Mappings and the DNS records that publish them.
//!
//! A mapping says: this identifier can be reached at `provider` as `ssi`,
//! through the endpoint `target` (port, ALPN), with `priority` (lower is
//! preferred) and optional tags. At the hashed owner name each mapping becomes
//!
//! * one SVCB record in ServiceMode (RFC 9460): `priority target alpn=… port=…`
//! * one TXT record of DNS-SD style key=value strings (RFC 6763 §6), in order:
//!   `v=mimi1`, `pri=`, `provider=`, `ssi=`, `target=`, then one `tag=` per tag.
//!
//! A client joins the two through `target`. This module validates mappings,
//! turns them into wire RDATA and back; it knows nothing of the store, of HTTP
//! or of identifiers. See docs/PROFILE.md.

use std::collections::HashSet;

use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::rdata::svcb::{Alpn, SVCB, SvcParamKey, SvcParamValue};
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_proto::serialize::binary::{BinDecoder, Restrict};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::rrset::rdata_to_wire;

pub const PROFILE_VERSION: &str = "v=mimi1";
/// Most ALPN protocol ids in one mapping's SVCB record.
pub const MAX_ALPN_PER_MAPPING: usize = 8;
/// Most tags on one mapping.
pub const MAX_TAGS_PER_MAPPING: usize = 16;
/// Most octets one identifier's TXT or SVCB RRset may take in a response
/// (owner pointer, type, class, TTL and length per record, plus the RDATA):
/// with the header, the question (an owner is at most 255 octets), an OPT
/// and the SOA it stays below the 65,535 octets of a TCP message, so every
/// accepted write can be served (RFC 7766).
pub const MAX_RRSET_RESPONSE_BYTES: usize = 64_000;
pub const DEFAULT_ALPN: &str = "h2";

fn default_alpn() -> Vec<String> {
    vec![DEFAULT_ALPN.to_string()]
}

fn default_priority() -> u16 {
    1
}

/// One way to reach the person behind an identifier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// The messaging provider's domain.
    pub provider: String,
    /// The person's service-specific identifier at that provider.
    pub ssi: String,
    /// The provider's endpoint host (SVCB TargetName).
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default = "default_alpn")]
    pub alpn: Vec<String>,
    /// 1..=65535, lower is preferred (SVCB SvcPriority).
    #[serde(default = "default_priority")]
    pub priority: u16,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum MappingError {
    #[error("an identifier needs at least one mapping")]
    Empty,
    #[error("{count} mappings; this zone allows at most {max} per identifier")]
    TooMany { count: usize, max: usize },
    #[error("mapping {index}: {field} {problem}")]
    Field {
        index: usize,
        field: &'static str,
        problem: String,
    },
    #[error("mappings {first} and {second} have the same provider and ssi")]
    Duplicate { first: usize, second: usize },
    #[error(
        "mappings {first} and {second} share an endpoint (target and priority) but differ in port or ALPN; one SVCB record is one endpoint: give them different priorities"
    )]
    EndpointConflict { first: usize, second: usize },
    #[error(
        "the {rrset} records of these mappings take {bytes} octets in a response; at most {MAX_RRSET_RESPONSE_BYTES} fit in one DNS message over TCP: use fewer or shorter mappings"
    )]
    TooLarge { rrset: &'static str, bytes: usize },
}

/// Octets an RRset of these RDATAs takes in a response, owner compressed.
pub fn rrset_response_bytes(rdatas: &[Vec<u8>]) -> usize {
    rdatas.iter().map(|rdata| 12 + rdata.len()).sum()
}

fn field(index: usize, field: &'static str, problem: impl Into<String>) -> MappingError {
    MappingError::Field {
        index,
        field,
        problem: problem.into(),
    }
}

/// A host or domain name as a DNS name: lower-case, absolute.
fn host_name(text: &str) -> Result<Name, String> {
    let domain = crate::identifier::normalize_domain(text)?;
    let mut name = Name::from_ascii(&domain).map_err(|e| e.to_string())?;
    name.set_fqdn(true);
    Ok(name)
}

fn printable(text: &str) -> bool {
    !text.is_empty() && !text.chars().any(char::is_control)
}

/// Checks one mapping and returns it with provider and target in canonical form.
pub fn validate_mapping(index: usize, mapping: &Mapping) -> Result<Mapping, MappingError> {
    let provider = host_name(&mapping.provider)
        .map_err(|e| field(index, "provider", format!("is not a valid domain: {e}")))?;
    let literal = mapping.target.trim_end_matches('.');
    let literal = literal
        .strip_prefix('[')
        .and_then(|l| l.strip_suffix(']'))
        .unwrap_or(literal);
    if literal.parse::<std::net::IpAddr>().is_ok() {
        return Err(field(
            index,
            "target",
            "is an IP address; SVCB TargetName is a host name (publish its A/AAAA records instead)",
        ));
    }
    let target = host_name(&mapping.target)
        .map_err(|e| field(index, "target", format!("is not a valid host name: {e}")))?;
    if mapping.priority == 0 {
        return Err(field(
            index,
            "priority",
            "must be 1 to 65535 (0 is SVCB AliasMode)",
        ));
    }
    if mapping.port == Some(0) {
        return Err(field(index, "port", "must be 1 to 65535"));
    }
    if !printable(&mapping.ssi) {
        return Err(field(
            index,
            "ssi",
            "must be non-empty text without control characters",
        ));
    }
    if mapping.alpn.is_empty() {
        return Err(field(index, "alpn", "must list at least one protocol"));
    }
    if mapping.alpn.len() > MAX_ALPN_PER_MAPPING {
        return Err(field(
            index,
            "alpn",
            format!(
                "lists {} protocols; at most {MAX_ALPN_PER_MAPPING}",
                mapping.alpn.len()
            ),
        ));
    }
    if mapping.tags.len() > MAX_TAGS_PER_MAPPING {
        return Err(field(
            index,
            "tags",
            format!(
                "has {} entries; at most {MAX_TAGS_PER_MAPPING}",
                mapping.tags.len()
            ),
        ));
    }
    let mut seen = HashSet::new();
    for alpn in &mapping.alpn {
        if alpn.is_empty()
            || alpn.len() > 255
            || alpn
                .chars()
                .any(|c| !c.is_ascii_graphic() || c == ',' || c == '\\')
        {
            return Err(field(
                index,
                "alpn",
                "entries must be 1-255 printable ASCII characters without ',' or '\\'",
            ));
        }
        if !seen.insert(alpn) {
            return Err(field(index, "alpn", "lists a protocol twice"));
        }
    }
    for tag in &mapping.tags {
        if !printable(tag) {
            return Err(field(
                index,
                "tags",
                "entries must be non-empty text without control characters",
            ));
        }
    }
    let canonical = Mapping {
        provider: provider.to_ascii().trim_end_matches('.').to_string(),
        target: target.to_ascii().trim_end_matches('.').to_string(),
        ..mapping.clone()
    };
    // RFC 6763 §6.1: each string is at most 255 bytes; longer values are an error, not a split.
    for (name, string) in txt_strings(&canonical).iter().enumerate().skip(3) {
        if string.len() > 255 {
            let which = match name {
                3 => "ssi",
                4 => "target",
                _ => "tags",
            };
            return Err(field(
                index,
                which,
                format!("makes a TXT string of {} bytes; at most 255", string.len()),
            ));
        }
    }
    Ok(canonical)
}

/// Validates a whole set: count, each mapping, no duplicate (provider, ssi).
pub fn validate_mappings(mappings: &[Mapping], max: usize) -> Result<Vec<Mapping>, MappingError> {
    if mappings.is_empty() {
        return Err(MappingError::Empty);
    }
    if mappings.len() > max {
        return Err(MappingError::TooMany {
            count: mappings.len(),
            max,
        });
    }
    let canonical: Vec<Mapping> = mappings
        .iter()
        .enumerate()
        .map(|(i, m)| validate_mapping(i, m))
        .collect::<Result<_, _>>()?;
    for (second, mapping) in canonical.iter().enumerate() {
        if let Some(first) = canonical[..second]
            .iter()
            .position(|m| m.provider == mapping.provider && m.ssi == mapping.ssi)
        {
            return Err(MappingError::Duplicate { first, second });
        }
        // The TXT record finds its SVCB by target and priority (PROFILE.md):
        // two mappings there must describe the same endpoint.
        if let Some(first) = canonical[..second].iter().position(|m| {
            m.target == mapping.target
                && m.priority == mapping.priority
                && (m.port != mapping.port || m.alpn != mapping.alpn)
        }) {
            return Err(MappingError::EndpointConflict { first, second });
        }
    }
    Ok(canonical)
}

fn txt_strings(mapping: &Mapping) -> Vec<String> {
    let mut strings = vec![
        PROFILE_VERSION.to_string(),
        format!("pri={}", mapping.priority),
        format!("provider={}", mapping.provider),
        format!("ssi={}", mapping.ssi),
        format!("target={}", mapping.target),
    ];
    strings.extend(mapping.tags.iter().map(|tag| format!("tag={tag}")));
    strings
}

/// The wire RDATAs that publish a set of mappings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingRdatas {
    pub svcb: Vec<Vec<u8>>,
    pub txt: Vec<Vec<u8>>,
}

/// Wire RDATAs of a validated set, duplicates merged.
pub fn mapping_rdatas(mappings: &[Mapping]) -> Result<MappingRdatas, MappingError> {
    let mut svcb_rdatas: Vec<Vec<u8>> = Vec::new();
    let mut txt_rdatas: Vec<Vec<u8>> = Vec::new();
    for (index, mapping) in mappings.iter().enumerate() {
        let target = host_name(&mapping.target).map_err(|e| field(index, "target", e))?;
        // RFC 9460 §2.2: SvcParams in ascending key order (alpn = 1, port = 3).
        let mut params = vec![(
            SvcParamKey::Alpn,
            SvcParamValue::Alpn(Alpn(mapping.alpn.clone())),
        )];
        if let Some(port) = mapping.port {
            params.push((SvcParamKey::Port, SvcParamValue::Port(port)));
        }
        let svcb = RData::SVCB(SVCB::new(mapping.priority, target, params));
        let svcb = rdata_to_wire(&svcb).map_err(|e| field(index, "endpoint", e.to_string()))?;
        if !svcb_rdatas.contains(&svcb) {
            svcb_rdatas.push(svcb);
        }
        let txt = RData::TXT(TXT::new(txt_strings(mapping)));
        let txt = rdata_to_wire(&txt).map_err(|e| field(index, "txt", e.to_string()))?;
        if !txt_rdatas.contains(&txt) {
            txt_rdatas.push(txt);
        }
    }
    for (rrset, rdatas) in [("TXT", &txt_rdatas), ("SVCB", &svcb_rdatas)] {
        let bytes = rrset_response_bytes(rdatas);
        if bytes > MAX_RRSET_RESPONSE_BYTES {
            return Err(MappingError::TooLarge { rrset, bytes });
        }
    }
    Ok(MappingRdatas {
        svcb: svcb_rdatas,
        txt: txt_rdatas,
    })
}

/// The character-strings of a TXT RDATA.
pub fn txt_rdata_strings(rdata: &[u8]) -> Vec<String> {
    let mut strings = Vec::new();
    let mut rest = rdata;
    while let Some((&length, tail)) = rest.split_first() {
        let Some(string) = tail.get(..usize::from(length)) else {
            break;
        };
        strings.push(String::from_utf8_lossy(string).into_owned());
        rest = &tail[usize::from(length)..];
    }
    strings
}

/// Decodes SVCB wire RDATA.
pub fn svcb_from_wire(rdata: &[u8]) -> Option<SVCB> {
    let mut decoder = BinDecoder::new(rdata);
    match RData::read(
        &mut decoder,
        RecordType::SVCB,
        Restrict::new(rdata.len() as u16),
    ) {
        Ok(RData::SVCB(svcb)) => Some(svcb),
        _ => None,
    }
}

/// Rebuilds mappings from the stored RDATAs (admin reads and export).
pub fn mappings_from_rdatas<'a>(
    svcb: impl Iterator<Item = &'a [u8]>,
    txt: impl Iterator<Item = &'a [u8]>,
) -> Vec<Mapping> {
    let endpoints: Vec<SVCB> = svcb.filter_map(svcb_from_wire).collect();
    let mut mappings = Vec::new();
    for rdata in txt {
        let strings = txt_rdata_strings(rdata);
        if strings.first().map(String::as_str) != Some(PROFILE_VERSION) {
            continue;
        }
        let value = |key: &str| {
            strings
                .iter()
                .find_map(|s| s.strip_prefix(key).map(str::to_string))
        };
        let (Some(provider), Some(ssi), Some(target)) =
            (value("provider="), value("ssi="), value("target="))
        else {
            continue;
        };
        let priority = value("pri=").and_then(|p| p.parse().ok()).unwrap_or(1);
        let tags = strings
            .iter()
            .filter_map(|s| s.strip_prefix("tag=").map(str::to_string))
            .collect();
        let same_target = |svcb: &&SVCB| {
            svcb.target_name
                .to_ascii()
                .trim_end_matches('.')
                .eq_ignore_ascii_case(&target)
        };
        let endpoint = endpoints
            .iter()
            .filter(same_target)
            .find(|svcb| svcb.svc_priority == priority)
            .or_else(|| endpoints.iter().find(same_target));
        let (alpn, port) = match endpoint {
            Some(svcb) => (
                svcb.svc_params
                    .iter()
                    .find_map(|(_, value)| match value {
                        SvcParamValue::Alpn(alpn) => Some(alpn.0.clone()),
                        _ => None,
                    })
                    .unwrap_or_default(),
                svcb.svc_params.iter().find_map(|(_, value)| match value {
                    SvcParamValue::Port(port) => Some(*port),
                    _ => None,
                }),
            ),
            None => (Vec::new(), None),
        };
        mappings.push(Mapping {
            provider,
            ssi,
            target,
            port,
            alpn,
            priority,
            tags,
        });
    }
    mappings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Mapping {
        Mapping {
            provider: "Chat.Example".into(),
            ssi: "mimi://chat.example/u/alice".into(),
            target: "mimi.chat.example.".into(),
            port: Some(8443),
            alpn: vec!["h2".into(), "h3".into()],
            priority: 10,
            tags: vec!["work".into()],
        }
    }

    #[test]
    fn mapping_becomes_svcb_and_txt_and_back() {
        let set = validate_mappings(&[sample()], 16).expect("valid");
        assert_eq!(set[0].provider, "chat.example");
        assert_eq!(set[0].target, "mimi.chat.example");
        let MappingRdatas { svcb, txt } = mapping_rdatas(&set).expect("records");
        assert_eq!(
            txt_rdata_strings(&txt[0]),
            [
                "v=mimi1",
                "pri=10",
                "provider=chat.example",
                "ssi=mimi://chat.example/u/alice",
                "target=mimi.chat.example",
                "tag=work"
            ]
        );
        let endpoint = svcb_from_wire(&svcb[0]).expect("svcb decodes");
        assert_eq!(endpoint.svc_priority, 10);
        assert_eq!(endpoint.target_name.to_ascii(), "mimi.chat.example.");
        let keys: Vec<u16> = endpoint
            .svc_params
            .iter()
            .map(|(k, _)| u16::from(*k))
            .collect();
        assert_eq!(keys, [1, 3], "alpn before port (RFC 9460 §2.2)");
        let back = mappings_from_rdatas(
            svcb.iter().map(Vec::as_slice),
            txt.iter().map(Vec::as_slice),
        );
        assert_eq!(back, set);
    }

    #[test]
    fn defaults_apply_from_json() {
        let mapping: Mapping =
            serde_json::from_str(r#"{"provider":"p.example","ssi":"u","target":"t.example"}"#)
                .expect("json");
        assert_eq!(mapping.alpn, ["h2"]);
        assert_eq!(mapping.priority, 1);
        assert!(
            serde_json::from_str::<Mapping>(
                r#"{"provider":"p.example","ssi":"u","target":"t.example","colour":1}"#
            )
            .is_err()
        );
    }

    #[test]
    fn invalid_mappings_say_what_is_wrong() {
        let check = |change: fn(&mut Mapping), expect: &str| {
            let mut mapping = sample();
            change(&mut mapping);
            let error = validate_mappings(&[mapping], 16)
                .expect_err("invalid")
                .to_string();
            assert!(error.contains(expect), "{error}");
        };
        check(|m| m.priority = 0, "priority");
        check(|m| m.port = Some(0), "port");
        check(|m| m.provider = "not a domain".into(), "provider");
        check(|m| m.target = "".into(), "target");
        check(|m| m.ssi = "x".repeat(260), "at most 255");
        check(|m| m.tags = vec!["t".repeat(252)], "tags");
        check(|m| m.alpn = vec![], "alpn");
        check(|m| m.alpn = vec!["h2".into(), "h2".into()], "twice");
        check(|m| m.ssi = "bad\nline".into(), "ssi");
        assert_eq!(validate_mappings(&[], 16), Err(MappingError::Empty));
        assert_eq!(
            validate_mappings(&[sample(), sample()], 1),
            Err(MappingError::TooMany { count: 2, max: 1 })
        );
        assert_eq!(
            validate_mappings(&[sample(), sample()], 16),
            Err(MappingError::Duplicate {
                first: 0,
                second: 1
            })
        );
    }

    /// Regression (found by the `mapping` fuzz target): two mappings on one
    /// target and priority with different ports were both accepted, and the
    /// second came back from DNS with the first one's endpoint. Now refused;
    /// sharing an identical endpoint stays allowed and round-trips.
    #[test]
    fn mappings_on_one_endpoint_must_agree_on_it() {
        let first = sample();
        let mut second = sample();
        second.ssi = "someone-else".into();
        second.port = Some(8444);
        assert_eq!(
            validate_mappings(&[first.clone(), second.clone()], 16),
            Err(MappingError::EndpointConflict {
                first: 0,
                second: 1
            })
        );
        second.port = first.port;
        let valid = validate_mappings(&[first, second], 16).expect("one shared endpoint");
        let rdatas = mapping_rdatas(&valid).expect("encodes");
        let back = mappings_from_rdatas(
            rdatas.svcb.iter().map(Vec::as_slice),
            rdatas.txt.iter().map(Vec::as_slice),
        );
        for mapping in &valid {
            assert!(back.contains(mapping), "{mapping:?}");
        }
    }
}
