//! SVCB and HTTPS RDATA (RFC 9460) from presentation form to wire form.
//!
//! It owns the SvcParam grammar of RFC 9460 §2.1 and Appendix A: a value is
//! a character-string whose `\DDD` escapes name decimal octets (RFC 1035
//! §5.1), value lists are split on unescaped commas after that decoding
//! (Appendix A.1), keys are known names or `keyNNNNN`, params are written in
//! ascending key order, a key appears once, and every key `mandatory` lists
//! must be present (§8). AliasMode records with SvcParams load (§2.4.2:
//! receivers ignore them), as in Knot. hickory's parser is not used: it reads `\DDD` as
//! octal. It reads tokens only; the zone-file reader splits them.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::rdata::{RdataResult, name_labels, unescape};

const MANDATORY: u16 = 0;
const ALPN: u16 = 1;
const NO_DEFAULT_ALPN: u16 = 2;
const PORT: u16 = 3;
const IPV4HINT: u16 = 4;
const ECH: u16 = 5;
const IPV6HINT: u16 = 6;
const DOHPATH: u16 = 7;
const OHTTP: u16 = 8;
/// RFC 9460 §14.3.2: the "Invalid key".
const INVALID_KEY: u16 = 65535;

const KEY_NAMES: &[(&str, u16)] = &[
    ("mandatory", MANDATORY),
    ("alpn", ALPN),
    ("no-default-alpn", NO_DEFAULT_ALPN),
    ("port", PORT),
    ("ipv4hint", IPV4HINT),
    ("ech", ECH),
    ("ipv6hint", IPV6HINT),
    ("dohpath", DOHPATH),
    ("ohttp", OHTTP),
];

/// A SvcParamKey from its presentation name or `keyNNNNN`.
fn key_code(name: &str) -> RdataResult<u16> {
    if let Some((_, code)) = KEY_NAMES.iter().find(|(n, _)| *n == name) {
        return Ok(*code);
    }
    let code = name
        .strip_prefix("key")
        .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| digits.parse::<u16>().ok())
        .ok_or_else(|| format!("unknown SvcParamKey '{name}'"))?;
    if code == INVALID_KEY {
        return Err("key65535 is the reserved invalid key (RFC 9460 §14.3.2)".into());
    }
    Ok(code)
}

fn key_name(code: u16) -> String {
    KEY_NAMES
        .iter()
        .find(|(_, c)| *c == code)
        .map_or_else(|| format!("key{code}"), |(n, _)| (*n).to_string())
}

/// RFC 9460 Appendix A.1: a decoded value split on commas, where `\,` is
/// a comma inside an item and `\\` a backslash.
fn value_list(decoded: &[u8]) -> RdataResult<Vec<Vec<u8>>> {
    let mut items: Vec<Vec<u8>> = Vec::new();
    let mut item = Vec::new();
    let mut bytes = decoded.iter();
    while let Some(&byte) = bytes.next() {
        match byte {
            b'\\' => {
                let escaped = bytes
                    .next()
                    .ok_or("a value list ends in a lone backslash")?;
                item.push(*escaped);
            }
            b',' => items.push(std::mem::take(&mut item)),
            other => item.push(other),
        }
    }
    items.push(item);
    if items.iter().any(Vec::is_empty) {
        return Err("a value list has an empty item".into());
    }
    Ok(items)
}

/// ipv4hint / ipv6hint: comma-separated addresses, concatenated.
fn address_list<A: std::str::FromStr>(
    text: &str,
    family: &str,
    octets: impl Fn(A) -> Vec<u8>,
) -> RdataResult<Vec<u8>> {
    let mut out = Vec::new();
    for item in text.split(',') {
        let address: A = item
            .parse()
            .map_err(|_| format!("hint '{item}' is not an {family} address"))?;
        out.extend(octets(address));
    }
    Ok(out)
}

/// The wire value of one SvcParam.
fn param_value(key: u16, value: Option<&str>) -> RdataResult<Vec<u8>> {
    let name = key_name(key);
    let decoded = value.map(unescape).transpose()?;
    let required = || {
        decoded
            .clone()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("SvcParam {name} needs a value"))
    };
    let text = || {
        let bytes = required()?;
        String::from_utf8(bytes).map_err(|_| format!("SvcParam {name} is not text"))
    };
    Ok(match key {
        MANDATORY => {
            let mut keys = Vec::new();
            for item in value_list(&required()?)? {
                let item =
                    String::from_utf8(item).map_err(|_| "mandatory lists key names".to_string())?;
                let code = key_code(&item)?;
                if code == MANDATORY {
                    return Err("mandatory may not list itself (RFC 9460 §8)".into());
                }
                if keys.contains(&code) {
                    return Err(format!("mandatory lists {item} twice"));
                }
                keys.push(code);
            }
            keys.sort_unstable();
            keys.iter().flat_map(|k| k.to_be_bytes()).collect()
        }
        ALPN => {
            let mut out = Vec::new();
            for id in value_list(&required()?)? {
                let length = u8::try_from(id.len())
                    .map_err(|_| "an ALPN id is longer than 255 octets".to_string())?;
                out.push(length);
                out.extend_from_slice(&id);
            }
            out
        }
        NO_DEFAULT_ALPN | OHTTP => {
            if decoded.is_some_and(|v| !v.is_empty()) {
                return Err(format!("SvcParam {name} takes no value"));
            }
            Vec::new()
        }
        PORT => {
            let port: u16 = text()?
                .parse()
                .map_err(|_| "port is not a number from 0 to 65535".to_string())?;
            port.to_be_bytes().to_vec()
        }
        IPV4HINT => address_list(&text()?, "IPv4", |a: Ipv4Addr| a.octets().to_vec())?,
        IPV6HINT => address_list(&text()?, "IPv6", |a: Ipv6Addr| a.octets().to_vec())?,
        ECH => data_encoding::BASE64
            .decode(text()?.as_bytes())
            .map_err(|_| "ech is not base64".to_string())?,
        DOHPATH => text()?.into_bytes(),
        _ => decoded.unwrap_or_default(),
    })
}

/// SVCB or HTTPS RDATA: `SvcPriority TargetName SvcParams…`.
pub fn svcb(type_name: &str, tokens: &[String], origin: &[Vec<u8>]) -> RdataResult<Vec<u8>> {
    let priority: u16 = tokens
        .first()
        .ok_or_else(|| format!("{type_name} data lacks its SvcPriority"))?
        .parse()
        .map_err(|_| format!("{type_name} SvcPriority is not a number from 0 to 65535"))?;
    let target = tokens
        .get(1)
        .ok_or_else(|| format!("{type_name} data lacks its TargetName"))?;
    let mut out = priority.to_be_bytes().to_vec();
    for label in name_labels(target, origin)? {
        out.push(label.len() as u8);
        out.extend_from_slice(&label);
    }
    out.push(0);
    let mut params: Vec<(u16, Vec<u8>)> = Vec::new();
    for token in &tokens[2..] {
        let (key, value) = match token.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (token.as_str(), None),
        };
        let code = key_code(&key.to_ascii_lowercase())?;
        if params.iter().any(|(k, _)| *k == code) {
            return Err(format!("SvcParam {} appears twice", key_name(code)));
        }
        let value = param_value(code, value)?;
        if value.len() > usize::from(u16::MAX) {
            return Err(format!("SvcParam {} is too long", key_name(code)));
        }
        params.push((code, value));
    }
    params.sort_by_key(|(key, _)| *key);
    if let Some((_, listed)) = params.iter().find(|(key, _)| *key == MANDATORY) {
        for key in listed.chunks(2).map(|k| u16::from_be_bytes([k[0], k[1]])) {
            if !params.iter().any(|(k, _)| *k == key) {
                return Err(format!(
                    "mandatory lists {} but the record lacks it (RFC 9460 §8)",
                    key_name(key)
                ));
            }
        }
    }
    for (key, value) in params {
        out.extend_from_slice(&key.to_be_bytes());
        out.extend_from_slice(&(value.len() as u16).to_be_bytes());
        out.extend_from_slice(&value);
    }
    if out.len() > usize::from(u16::MAX) {
        return Err(format!("{type_name} data is longer than 65535 octets"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(text: &str) -> RdataResult<Vec<u8>> {
        let tokens: Vec<String> = text.split(' ').map(str::to_string).collect();
        svcb("SVCB", &tokens, &[b"example".to_vec(), b"test".to_vec()])
    }

    #[test]
    fn params_are_sorted_and_encoded() {
        let got = wire("1 host port=8443 alpn=h2,h3 ipv4hint=192.0.2.1").expect("parses");
        let mut want = vec![0, 1];
        want.extend_from_slice(b"\x04host\x07example\x04test\x00");
        want.extend_from_slice(&[0, 1, 0, 6, 2, b'h', b'2', 2, b'h', b'3']);
        want.extend_from_slice(&[0, 3, 0, 2, 0x20, 0xFB]);
        want.extend_from_slice(&[0, 4, 0, 4, 192, 0, 2, 1]);
        assert_eq!(got, want);
    }

    #[test]
    fn decimal_escapes_name_octets() {
        // "\255\000" is the octets 255 and 0, not octal (hickory's reading).
        let got = wire(r#"1 . key65000="\255\000""#).expect("parses");
        assert_eq!(&got[3..], &[0xFD, 0xE8, 0, 2, 255, 0]);
        // Appendix A.1 / D.2: an escaped comma stays inside an ALPN id.
        let got = wire(r#"1 . alpn="f\\\\oo\\,bar,h2""#).expect("parses");
        assert_eq!(&got[3..7], &[0, 1, 0, 12]);
        assert_eq!(&got[7..], b"\x08f\\oo,bar\x02h2");
    }

    #[test]
    fn malformed_params_are_errors() {
        for (text, problem) in [
            ("1 . port=1 port=2", "twice"),
            ("1 . mandatory=port", "lacks it"),
            ("1 . mandatory=mandatory", "itself"),
            ("1 . no-default-alpn=x", "no value"),
            ("1 . port=70000", "port"),
            ("1 . key65535=x", "invalid key"),
            ("1 . bogus=1", "unknown SvcParamKey"),
            ("1 . alpn=h2,,h3", "empty item"),
            ("1 . ipv6hint=192.0.2.1", "IPv6"),
            ("1", "TargetName"),
        ] {
            let error = wire(text).expect_err(text);
            assert!(error.contains(problem), "{text}: {error}");
        }
    }
}
