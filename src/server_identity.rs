//! How a server names itself to those who ask: the NSID EDNS option
//! (RFC 5001) and the `id.server.` / `hostname.bind.` CHAOS TXT records
//! (RFC 4892), so an operator can tell anycast instances apart. Both are
//! off unless configured (`server.nsid`, `server.identity`). This module
//! turns the configured values into wire bytes; it knows nothing else.

/// Names that ask for the server's identity in class CH (RFC 4892 §2.2,
/// and the older BIND name), lower case, wire form.
const IDENTITY_NAMES: [&[u8]; 2] = [b"\x02id\x06server\x00", b"\x08hostname\x04bind\x00"];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerIdentity {
    /// TXT RDATA answering `id.server. CH TXT`, when configured.
    identity_txt: Option<Vec<u8>>,
    /// NSID payload, when configured.
    nsid: Option<Vec<u8>>,
}

impl ServerIdentity {
    /// `identity`: the text for CH TXT (at most 255 octets); `nsid`: the
    /// NSID payload (at most 128 octets by convention; Knot allows the same).
    pub fn new(identity: Option<&str>, nsid: Option<&[u8]>) -> Self {
        let identity_txt = identity.map(|text| {
            let bytes = &text.as_bytes()[..text.len().min(255)];
            let mut rdata = Vec::with_capacity(bytes.len() + 1);
            rdata.push(bytes.len() as u8);
            rdata.extend_from_slice(bytes);
            rdata
        });
        Self {
            identity_txt,
            nsid: nsid.map(<[u8]>::to_vec),
        }
    }

    pub fn nsid(&self) -> Option<&[u8]> {
        self.nsid.as_deref()
    }

    /// The TXT RDATA for a CH question for `qname`, if `qname` asks for the
    /// identity and one is configured.
    pub fn chaos_txt(&self, qname: &[u8]) -> Option<&[u8]> {
        let asked = IDENTITY_NAMES
            .iter()
            .any(|name| name.eq_ignore_ascii_case(qname));
        self.identity_txt.as_deref().filter(|_| asked)
    }
}

/// Parses `server.nsid`: `0x` and hex digits for raw octets, else the text itself.
pub fn parse_nsid(value: &str) -> Result<Vec<u8>, String> {
    let bytes = match value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))
    {
        Some(hex) => data_encoding::HEXLOWER_PERMISSIVE
            .decode(hex.as_bytes())
            .map_err(|_| {
                format!("server.nsid = '{value}': after 0x, an even number of hex digits")
            })?,
        None => value.as_bytes().to_vec(),
    };
    if bytes.is_empty() || bytes.len() > 128 {
        return Err(format!(
            "server.nsid must be 1 to 128 octets, not {}",
            bytes.len()
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_answers_only_its_names_and_only_when_set() {
        let identity = ServerIdentity::new(Some("ns1.fra"), None);
        assert_eq!(
            identity.chaos_txt(b"\x02ID\x06Server\x00"),
            Some(&b"\x07ns1.fra"[..])
        );
        assert!(identity.chaos_txt(b"\x08hostname\x04bind\x00").is_some());
        assert_eq!(identity.chaos_txt(b"\x07version\x04bind\x00"), None);
        assert_eq!(
            ServerIdentity::default().chaos_txt(b"\x02id\x06server\x00"),
            None
        );
        assert_eq!(identity.nsid(), None);
    }

    #[test]
    fn nsid_is_text_or_hex() {
        assert_eq!(parse_nsid("ns1").unwrap(), b"ns1");
        assert_eq!(parse_nsid("0x6e7331").unwrap(), b"ns1");
        assert!(parse_nsid("0x6e7").is_err());
        assert!(parse_nsid("").is_err());
        assert!(parse_nsid(&"x".repeat(129)).is_err());
    }
}
