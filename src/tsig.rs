//! TSIG (RFC 8945): shared-secret keys, verifying a signed request,
//! signing responses — every message of a multi-message transfer, each MAC
//! covering the one before (§5.3.1) — and signing the NOTIFYs this server
//! sends. HMAC-SHA256 and HMAC-SHA512. Keys come from the configuration;
//! secrets are never logged or shown. This module works on message bytes
//! and knows nothing of zones or sockets.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use thiserror::Error;

use crate::wire::rtype;

/// TSIG error codes (RFC 8945 §3).
pub mod error {
    pub const BADSIG: u16 = 16;
    pub const BADKEY: u16 = 17;
    pub const BADTIME: u16 = 18;
}

/// Class ANY, the class of a TSIG record.
const CLASS_ANY: u16 = 255;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum TsigKeyError {
    #[error("TSIG key '{0}': the name is not a valid domain name")]
    BadName(String),
    #[error(
        "TSIG key '{name}': algorithm '{algorithm}' is not supported (hmac-sha256, hmac-sha512)"
    )]
    Algorithm { name: String, algorithm: String },
    #[error("TSIG key '{0}': the secret is not base64, or shorter than 16 octets")]
    Secret(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    HmacSha256,
    HmacSha512,
}

impl Algorithm {
    pub fn from_text(text: &str) -> Option<Self> {
        match text.trim_end_matches('.').to_ascii_lowercase().as_str() {
            "hmac-sha256" => Some(Self::HmacSha256),
            "hmac-sha512" => Some(Self::HmacSha512),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::HmacSha256 => "hmac-sha256",
            Self::HmacSha512 => "hmac-sha512",
        }
    }

    /// The algorithm name in (uncompressed, lower-case) wire form.
    fn wire(self) -> Vec<u8> {
        let mut wire = vec![self.name().len() as u8];
        wire.extend_from_slice(self.name().as_bytes());
        wire.push(0);
        wire
    }

    fn mac(self, secret: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        fn run<M: Mac + hmac::digest::KeyInit>(secret: &[u8], parts: &[&[u8]]) -> Vec<u8> {
            let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(secret) else {
                return Vec::new();
            };
            for part in parts {
                mac.update(part);
            }
            mac.finalize().into_bytes().to_vec()
        }
        match self {
            Self::HmacSha256 => run::<Hmac<sha2::Sha256>>(secret, parts),
            Self::HmacSha512 => run::<Hmac<sha2::Sha512>>(secret, parts),
        }
    }
}

/// One shared secret.
pub struct TsigKey {
    /// Presentation name, lower case, without the final dot.
    pub name: String,
    name_wire: Vec<u8>,
    pub algorithm: Algorithm,
    secret: Vec<u8>,
}

impl std::fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("TsigKey")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl PartialEq for TsigKey {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.algorithm == other.algorithm && self.secret == other.secret
    }
}

impl Eq for TsigKey {}

impl TsigKey {
    /// `secret` in base64 (as Knot, NSD and BIND write it).
    pub fn new(name: &str, algorithm: &str, secret: &str) -> Result<Self, TsigKeyError> {
        let lower = name.trim_end_matches('.').to_ascii_lowercase();
        let mut name_wire = Vec::new();
        for label in lower.split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(TsigKeyError::BadName(name.to_string()));
            }
            name_wire.push(label.len() as u8);
            name_wire.extend_from_slice(label.as_bytes());
        }
        name_wire.push(0);
        if name_wire.len() > 255 {
            return Err(TsigKeyError::BadName(name.to_string()));
        }
        let algorithm = Algorithm::from_text(algorithm).ok_or_else(|| TsigKeyError::Algorithm {
            name: lower.clone(),
            algorithm: algorithm.to_string(),
        })?;
        let secret = data_encoding::BASE64
            .decode(secret.trim().as_bytes())
            .ok()
            .filter(|s| s.len() >= 16)
            .ok_or_else(|| TsigKeyError::Secret(lower.clone()))?;
        Ok(Self {
            name: lower,
            name_wire,
            algorithm,
            secret,
        })
    }

    /// A new random key: 32 octets of secret.
    pub fn generate(name: &str, algorithm: Algorithm) -> Result<(Self, String), TsigKeyError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|_| TsigKeyError::Secret(name.to_string()))?;
        let text = data_encoding::BASE64.encode(&secret);
        Ok((Self::new(name, algorithm.name(), &text)?, text))
    }
}

/// The keys this server knows.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TsigKeys(Vec<Arc<TsigKey>>);

impl TsigKeys {
    pub fn new(keys: Vec<TsigKey>) -> Self {
        Self(keys.into_iter().map(Arc::new).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&Arc<TsigKey>> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        self.0.iter().find(|key| key.name == name)
    }

    fn by_wire(&self, name_wire: &[u8]) -> Option<&Arc<TsigKey>> {
        self.0
            .iter()
            .find(|key| key.name_wire.eq_ignore_ascii_case(name_wire))
    }
}

/// The TSIG record at the end of a message, located and read.
struct TsigRecord {
    /// Where the record starts (the message without it ends there).
    start: usize,
    /// Owner (the key name), uncompressed wire form.
    key_name: Vec<u8>,
    algorithm: Vec<u8>,
    time_signed: u64,
    fudge: u16,
    mac: Vec<u8>,
    original_id: u16,
    error: u16,
    other: Vec<u8>,
}

fn u16_at(message: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([
        *message.get(at)?,
        *message.get(at + 1)?,
    ]))
}

/// The TSIG record, if the last additional record is one.
fn find_tsig(message: &[u8]) -> Option<TsigRecord> {
    let counts: Vec<u16> = (0..4)
        .map(|i| u16_at(message, 4 + 2 * i))
        .collect::<Option<_>>()?;
    // No additional records, no TSIG: most queries stop here.
    if counts[3] == 0 {
        return None;
    }
    let mut at = 12;
    for _ in 0..counts[0] {
        at = crate::wire::read_compressed_name(message, at)?.1 + 4;
    }
    let records = u32::from(counts[1]) + u32::from(counts[2]) + u32::from(counts[3]);
    let mut last = None;
    for _ in 0..records {
        let start = at;
        let (owner, after) = crate::wire::read_compressed_name(message, at)?;
        let record_type = u16_at(message, after)?;
        let rdlength = usize::from(u16_at(message, after + 8)?);
        let rdata = after + 10;
        at = rdata + rdlength;
        if at > message.len() {
            return None;
        }
        last = Some((start, owner, record_type, rdata, rdlength));
    }
    let (start, key_name, record_type, rdata, rdlength) = last?;
    if record_type != rtype::TSIG || counts[3] == 0 || at != message.len() {
        return None;
    }
    let end = rdata + rdlength;
    let (algorithm, mut p) = crate::wire::read_compressed_name(message, rdata)?;
    let time = message.get(p..p + 6)?;
    let time_signed = time.iter().fold(0u64, |t, &b| (t << 8) | u64::from(b));
    let fudge = u16_at(message, p + 6)?;
    let mac_size = usize::from(u16_at(message, p + 8)?);
    p += 10;
    let mac = message.get(p..p + mac_size)?.to_vec();
    p += mac_size;
    let original_id = u16_at(message, p)?;
    let error = u16_at(message, p + 2)?;
    let other_len = usize::from(u16_at(message, p + 4)?);
    let other = message.get(p + 6..p + 6 + other_len)?.to_vec();
    if p + 6 + other_len != end {
        return None;
    }
    Some(TsigRecord {
        start,
        key_name,
        algorithm,
        time_signed,
        fudge,
        mac,
        original_id,
        error,
        other,
    })
}

/// What a request's TSIG says.
#[derive(Debug)]
pub enum RequestTsig {
    /// No TSIG record.
    Unsigned,
    /// Signed with a key we know, MAC and time good.
    Valid(ResponseSigner),
    /// Signed, but not acceptably: answer NOTAUTH with this TSIG error
    /// (RFC 8945 §5.2); `signer` is set for BADTIME (the MAC was good, so
    /// the error response is signed).
    Failed {
        error: u16,
        /// The unsigned TSIG record for the error response (BADKEY, BADSIG).
        record: Vec<u8>,
        signer: Option<ResponseSigner>,
    },
}

/// The current time in seconds since the epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn push_u48(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_be_bytes()[2..]);
}

/// The TSIG variables after the message (§4.3.3): name, class, TTL,
/// algorithm, time, fudge, error, other.
fn variables(
    key_name: &[u8],
    algorithm: &[u8],
    time: u64,
    fudge: u16,
    error: u16,
    other: &[u8],
) -> Vec<u8> {
    let mut v = Vec::with_capacity(key_name.len() + algorithm.len() + 22 + other.len());
    v.extend(key_name.iter().map(u8::to_ascii_lowercase));
    v.extend_from_slice(&CLASS_ANY.to_be_bytes());
    v.extend_from_slice(&0u32.to_be_bytes());
    v.extend(algorithm.iter().map(u8::to_ascii_lowercase));
    push_u48(&mut v, time);
    v.extend_from_slice(&fudge.to_be_bytes());
    v.extend_from_slice(&error.to_be_bytes());
    v.extend_from_slice(&(other.len() as u16).to_be_bytes());
    v.extend_from_slice(other);
    v
}

/// A whole TSIG record in wire form.
#[allow(clippy::too_many_arguments)]
fn record(
    key_name: &[u8],
    algorithm: &[u8],
    time: u64,
    fudge: u16,
    mac: &[u8],
    original_id: u16,
    error: u16,
    other: &[u8],
) -> Vec<u8> {
    let mut rdata = Vec::with_capacity(algorithm.len() + 16 + mac.len() + other.len());
    rdata.extend_from_slice(algorithm);
    push_u48(&mut rdata, time);
    rdata.extend_from_slice(&fudge.to_be_bytes());
    rdata.extend_from_slice(&(mac.len() as u16).to_be_bytes());
    rdata.extend_from_slice(mac);
    rdata.extend_from_slice(&original_id.to_be_bytes());
    rdata.extend_from_slice(&error.to_be_bytes());
    rdata.extend_from_slice(&(other.len() as u16).to_be_bytes());
    rdata.extend_from_slice(other);
    let mut out = Vec::with_capacity(key_name.len() + 10 + rdata.len());
    out.extend_from_slice(key_name);
    out.extend_from_slice(&rtype::TSIG.to_be_bytes());
    out.extend_from_slice(&CLASS_ANY.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(&rdata);
    out
}

impl TsigRecord {
    /// The TSIG variables of this record (§4.3.3).
    fn variables(&self) -> Vec<u8> {
        variables(
            &self.key_name,
            &self.algorithm,
            self.time_signed,
            self.fudge,
            self.error,
            &self.other,
        )
    }
}

/// The message as it was before the TSIG was added: without the record,
/// ARCOUNT one less, the original ID.
fn unsigned_message(message: &[u8], tsig: &TsigRecord) -> Vec<u8> {
    let mut unsigned = message[..tsig.start].to_vec();
    unsigned[0..2].copy_from_slice(&tsig.original_id.to_be_bytes());
    let arcount = u16::from_be_bytes([unsigned[10], unsigned[11]]).saturating_sub(1);
    unsigned[10..12].copy_from_slice(&arcount.to_be_bytes());
    unsigned
}

fn with_length(mac: &[u8]) -> Vec<u8> {
    let mut out = (mac.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(mac);
    out
}

/// The MAC `tsig` should carry under `key`: over the request MAC (for a
/// response), the message as it was before signing, and every TSIG variable.
fn expected_mac(
    key: &TsigKey,
    message: &[u8],
    tsig: &TsigRecord,
    request_mac: Option<&[u8]>,
) -> Vec<u8> {
    let unsigned = unsigned_message(message, tsig);
    let vars = tsig.variables();
    let prior = request_mac.map(with_length).unwrap_or_default();
    key.algorithm.mac(&key.secret, &[&prior, &unsigned, &vars])
}

/// Checks a request's TSIG against `keys` at time `now`.
pub fn verify_request(message: &[u8], keys: &TsigKeys, now: u64) -> RequestTsig {
    let Some(tsig) = find_tsig(message) else {
        return RequestTsig::Unsigned;
    };
    let failed = |error: u16| RequestTsig::Failed {
        error,
        record: record(
            &tsig.key_name,
            &tsig.algorithm,
            tsig.time_signed,
            tsig.fudge,
            &[],
            tsig.original_id,
            error,
            &[],
        ),
        signer: None,
    };
    let Some(key) = keys.by_wire(&tsig.key_name) else {
        return failed(error::BADKEY);
    };
    if !key.algorithm.wire().eq_ignore_ascii_case(&tsig.algorithm) {
        return failed(error::BADKEY);
    }
    let expected = expected_mac(key, message, &tsig, None);
    // RFC 8945 §5.2.2: a truncated MAC shorter than half (or 10 octets) is
    // refused; we accept only the full MAC. Compared in constant time.
    use subtle::ConstantTimeEq;
    if tsig.mac.len() != expected.len() || !bool::from(tsig.mac.ct_eq(&expected)) {
        return failed(error::BADSIG);
    }
    let signer = ResponseSigner {
        key: key.clone(),
        key_name: tsig.key_name.clone(),
        prior_mac: tsig.mac.clone(),
        first: true,
        fudge: tsig.fudge,
    };
    if now.abs_diff(tsig.time_signed) > u64::from(tsig.fudge) {
        return RequestTsig::Failed {
            error: error::BADTIME,
            record: Vec::new(),
            signer: Some(signer),
        };
    }
    RequestTsig::Valid(signer)
}

/// The request as it was before it was signed (the TSIG record removed,
/// ARCOUNT one less, the original ID), to answer it like any other.
pub fn unsigned_request(message: &[u8]) -> Option<Vec<u8>> {
    find_tsig(message).map(|tsig| unsigned_message(message, &tsig))
}

/// The NOTAUTH reply to a request whose TSIG failed (RFC 8945 §5.2): the
/// header and question of the request, and the TSIG error — unsigned, or
/// signed for BADTIME. `None` when the request has no readable question.
pub fn error_reply(
    request: &[u8],
    error: u16,
    record: &[u8],
    signer: Option<ResponseSigner>,
) -> Option<Vec<u8>> {
    let question_end = 12 + crate::wire::wire_name_len(request.get(12..)?)? + 4;
    if request.len() < question_end || request[4..6] != [0, 1] {
        return None;
    }
    let mut reply = request[..question_end].to_vec();
    reply[2] = (reply[2] & 0x79) | 0x80; // QR, opcode and RD kept, AA and TC clear
    reply[3] = (reply[3] & 0x10) | 9; // CD kept, NOTAUTH
    reply[6..12].fill(0);
    match signer {
        Some(mut signer) => signer.sign(&mut reply, now(), error),
        None => {
            reply.extend_from_slice(record);
            reply[10..12].copy_from_slice(&1u16.to_be_bytes());
        }
    }
    Some(reply)
}

/// Signs the responses to one signed request, in order.
#[derive(Debug)]
pub struct ResponseSigner {
    key: Arc<TsigKey>,
    key_name: Vec<u8>,
    prior_mac: Vec<u8>,
    first: bool,
    fudge: u16,
}

impl ResponseSigner {
    pub fn key(&self) -> &TsigKey {
        &self.key
    }

    /// Octets the TSIG record adds to a message.
    pub fn overhead(&self) -> usize {
        self.key_name.len() + 10 + self.key.algorithm.wire().len() + 16 + 64
    }

    /// Appends a TSIG record to `message` (a finished response), with TSIG
    /// error `error` (0 normally). The first response's MAC covers the
    /// request's MAC and all variables; each later one covers the previous
    /// MAC, the message and the timers only (RFC 8945 §5.3.1).
    pub fn sign(&mut self, message: &mut Vec<u8>, now: u64, error: u16) {
        let algorithm = self.key.algorithm.wire();
        let other: Vec<u8> = if error == error::BADTIME {
            now.to_be_bytes()[2..].to_vec()
        } else {
            Vec::new()
        };
        let prior = with_length(&self.prior_mac);
        let mac = if self.first {
            let vars = variables(&self.key_name, &algorithm, now, self.fudge, error, &other);
            self.key
                .algorithm
                .mac(&self.key.secret, &[&prior, message, &vars])
        } else {
            let mut timers = Vec::with_capacity(8);
            push_u48(&mut timers, now);
            timers.extend_from_slice(&self.fudge.to_be_bytes());
            self.key
                .algorithm
                .mac(&self.key.secret, &[&prior, message, &timers])
        };
        let id = u16::from_be_bytes([message[0], message[1]]);
        message.extend_from_slice(&record(
            &self.key_name,
            &algorithm,
            now,
            self.fudge,
            &mac,
            id,
            error,
            &other,
        ));
        let arcount = u16::from_be_bytes([message[10], message[11]]).saturating_add(1);
        message[10..12].copy_from_slice(&arcount.to_be_bytes());
        self.prior_mac = mac;
        self.first = false;
    }
}

/// Signs a request this server sends (a NOTIFY); returns the MAC.
pub fn sign_request(message: &mut Vec<u8>, key: &TsigKey, now: u64) -> Vec<u8> {
    let algorithm = key.algorithm.wire();
    let fudge = 300;
    let vars = variables(&key.name_wire, &algorithm, now, fudge, 0, &[]);
    let mac = key.algorithm.mac(&key.secret, &[message, &vars]);
    let id = u16::from_be_bytes([message[0], message[1]]);
    message.extend_from_slice(&record(
        &key.name_wire,
        &algorithm,
        now,
        fudge,
        &mac,
        id,
        0,
        &[],
    ));
    let arcount = u16::from_be_bytes([message[10], message[11]]).saturating_add(1);
    message[10..12].copy_from_slice(&arcount.to_be_bytes());
    mac
}

/// Checks the messages of a signed multi-message answer (a zone transfer
/// in) in order: the first must be signed and cover the request's MAC;
/// later ones may be unsigned (RFC 8945 §5.3.1 allows up to 99 between
/// signed ones), and each signed one covers the previous MAC, the unsigned
/// messages since, itself and the timers.
#[derive(Debug)]
pub struct ResponseVerifier {
    key: Arc<TsigKey>,
    prior_mac: Vec<u8>,
    first: bool,
    pending: Vec<u8>,
    unsigned_run: usize,
}

impl ResponseVerifier {
    pub fn new(key: Arc<TsigKey>, request_mac: Vec<u8>) -> Self {
        Self {
            key,
            prior_mac: request_mac,
            first: true,
            pending: Vec::new(),
            unsigned_run: 0,
        }
    }

    /// Whether `message` is acceptable as the next message.
    pub fn verify(&mut self, message: &[u8]) -> bool {
        let Some(tsig) = find_tsig(message) else {
            self.unsigned_run += 1;
            self.pending.extend_from_slice(message);
            return !self.first && self.unsigned_run < 100;
        };
        if !tsig.key_name.eq_ignore_ascii_case(&self.key.name_wire) || tsig.error != 0 {
            return false;
        }
        let unsigned = unsigned_message(message, &tsig);
        let prior = with_length(&self.prior_mac);
        let expected = if self.first {
            let vars = tsig.variables();
            self.key
                .algorithm
                .mac(&self.key.secret, &[&prior, &unsigned, &vars])
        } else {
            let mut timers = Vec::with_capacity(8);
            push_u48(&mut timers, tsig.time_signed);
            timers.extend_from_slice(&tsig.fudge.to_be_bytes());
            self.key.algorithm.mac(
                &self.key.secret,
                &[&prior, &self.pending, &unsigned, &timers],
            )
        };
        use subtle::ConstantTimeEq;
        if tsig.mac.len() != expected.len() || !bool::from(tsig.mac.ct_eq(&expected)) {
            return false;
        }
        self.prior_mac = tsig.mac;
        self.first = false;
        self.pending.clear();
        self.unsigned_run = 0;
        true
    }

    /// Whether the answer ended on a signed message.
    pub fn finished_signed(&self) -> bool {
        !self.first && self.pending.is_empty()
    }
}

/// Checks a signed response to a request we signed with `key` and `request_mac`.
pub fn verify_response(message: &[u8], key: &TsigKey, request_mac: &[u8]) -> bool {
    let Some(tsig) = find_tsig(message) else {
        return false;
    };
    if !tsig.key_name.eq_ignore_ascii_case(&key.name_wire) || tsig.error != 0 {
        return false;
    }
    let expected = expected_mac(key, message, &tsig, Some(request_mac));
    use subtle::ConstantTimeEq;
    tsig.mac.len() == expected.len() && bool::from(tsig.mac.ct_eq(&expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> TsigKey {
        TsigKey::new(
            "xfr.key.",
            "hmac-sha256",
            "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0",
        )
        .expect("key")
    }

    fn query() -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(b"\x07example\x04test\x00\x00\xfc\x00\x01");
        q
    }

    #[test]
    fn a_signed_request_verifies_and_tampering_is_badsig() {
        let keys = TsigKeys::new(vec![key()]);
        let mut signed = query();
        sign_request(&mut signed, &keys.0[0], 1_000_000);
        assert!(matches!(
            verify_request(&signed, &keys, 1_000_010),
            RequestTsig::Valid(_)
        ));
        let mut tampered = signed.clone();
        tampered[15] ^= 1;
        assert!(matches!(
            verify_request(&tampered, &keys, 1_000_010),
            RequestTsig::Failed {
                error: error::BADSIG,
                ..
            }
        ));
        assert!(matches!(
            verify_request(&signed, &keys, 1_000_000 + 301),
            RequestTsig::Failed {
                error: error::BADTIME,
                signer: Some(_),
                ..
            }
        ));
        let other = TsigKeys::new(vec![
            TsigKey::new(
                "other.",
                "hmac-sha256",
                "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0",
            )
            .unwrap(),
        ]);
        assert!(matches!(
            verify_request(&signed, &other, 1_000_010),
            RequestTsig::Failed {
                error: error::BADKEY,
                ..
            }
        ));
        assert!(matches!(
            verify_request(&query(), &keys, 0),
            RequestTsig::Unsigned
        ));
    }

    #[test]
    fn responses_chain_their_macs() {
        let keys = TsigKeys::new(vec![key()]);
        let mut request = query();
        let request_mac = sign_request(&mut request, &keys.0[0], 5);
        let RequestTsig::Valid(mut signer) = verify_request(&request, &keys, 5) else {
            panic!("valid");
        };
        let mut first = query();
        first[2] |= 0x80;
        signer.sign(&mut first, 6, 0);
        assert!(verify_response(&first, &keys.0[0], &request_mac));
        let first_mac = find_tsig(&first).unwrap().mac;
        let mut second = query();
        signer.sign(&mut second, 7, 0);
        // The second MAC covers the first MAC, the message and the timers.
        let tsig = find_tsig(&second).unwrap();
        let unsigned = unsigned_message(&second, &tsig);
        let expected = Algorithm::HmacSha256.mac(
            &keys.0[0].secret,
            &[
                &with_length(&first_mac),
                &unsigned,
                &[0, 0, 0, 0, 0, 7, 1, 44],
            ],
        );
        assert_eq!(tsig.mac, expected);
    }

    #[test]
    fn keys_are_checked_and_never_shown() {
        assert!(TsigKey::new("k", "hmac-md5", "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0").is_err());
        assert!(TsigKey::new("k", "hmac-sha256", "c2hvcnQ=").is_err());
        assert!(!format!("{:?}", key()).contains("c2Vj"));
        let (generated, text) = TsigKey::generate("new.key", Algorithm::HmacSha256).unwrap();
        assert_eq!(
            data_encoding::BASE64.decode(text.as_bytes()).unwrap().len(),
            32
        );
        assert_eq!(generated.name, "new.key");
    }
}
