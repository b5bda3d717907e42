//! Zone signing keys: a combined signing key (CSK, flags 257) per zone,
//! ECDSA P-256 with SHA-256 (algorithm 13, the default) or Ed25519
//! (algorithm 15), kept as a PKCS#8 file of mode 0600 named
//! `K<zone>+<algorithm>+<key tag>.pk8` in the key directory. A key file
//! readable by anyone else is refused, and no private key is ever logged
//! or shown. This module reads and writes key files; the signing keys,
//! DNSKEY, key tag (RFC 4034 Appendix B) and DS (RFC 4509) are
//! hickory-proto's (`dnssec-ring`).
//!
//! Rollover: every key file of a zone is published in its DNSKEY RRset;
//! the one named in `<zone>.active` signs (the first key, when there is no
//! such file). `keys generate` on a zone that has a key adds a published,
//! inactive one; `keys activate` switches signing to it; `keys retire`
//! removes a key that no longer signs. Between steps wait at least the
//! DNSKEY TTL, so resolvers have the new key set before it is needed.

use std::path::{Path, PathBuf};

use hickory_proto::dnssec::crypto::{EcdsaSigningKey, Ed25519SigningKey};
use hickory_proto::dnssec::rdata::{DNSKEY, DS};
use hickory_proto::dnssec::{Algorithm as DnssecAlgorithm, DigestType, SigningKey, TBS};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
use rustls_pki_types::PrivatePkcs8KeyDer;
use thiserror::Error;

/// DNSSEC algorithm 13: ECDSA P-256 with SHA-256 (RFC 6605).
pub const ALGORITHM_ECDSAP256SHA256: u8 = 13;
/// DNSSEC algorithm 15: Ed25519 (RFC 8080).
pub const ALGORITHM_ED25519: u8 = 15;

/// The signing algorithms offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    EcdsaP256Sha256,
    Ed25519,
}

impl Algorithm {
    pub fn number(self) -> u8 {
        match self {
            Self::EcdsaP256Sha256 => ALGORITHM_ECDSAP256SHA256,
            Self::Ed25519 => ALGORITHM_ED25519,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::EcdsaP256Sha256 => "ECDSAP256SHA256",
            Self::Ed25519 => "ED25519",
        }
    }

    pub fn from_text(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "ecdsap256sha256" | "13" => Some(Self::EcdsaP256Sha256),
            "ed25519" | "15" => Some(Self::Ed25519),
            _ => None,
        }
    }
}

impl Algorithm {
    fn dnssec(self) -> DnssecAlgorithm {
        match self {
            Self::EcdsaP256Sha256 => DnssecAlgorithm::ECDSAP256SHA256,
            Self::Ed25519 => DnssecAlgorithm::ED25519,
        }
    }
}
/// Flags of a key that signs keys and data: ZONE and SEP (RFC 4034 §2.1.1).
pub const FLAGS_CSK: u16 = 257;

#[derive(Debug, Error)]
pub enum KeyError {
    #[error("key file {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error(
        "key file {0} is readable by group or others (mode {1:o}); chmod 600 it — a private key must be the server's alone"
    )]
    Mode(PathBuf, u32),
    #[error("key file {0} is not an ECDSA P-256 or Ed25519 PKCS#8 key")]
    NotAKey(PathBuf),
    #[error("key file {0} belongs to zone {1}, not to {2}")]
    Foreign(PathBuf, String, String),
    #[error("the system random generator failed")]
    Random,
    #[error(
        "key file {0}: the algorithm in its name is not one this server signs with (13 ECDSAP256SHA256, 15 ED25519)"
    )]
    UnknownAlgorithm(PathBuf),
    #[error("zone {0} has no key with tag {1}")]
    NoSuchKey(String, u16),
    #[error("key {1} signs zone {0}; activate another key first")]
    Active(String, u16),
}

/// One zone key, loaded.
pub struct ZoneKey {
    /// hickory-proto's signing key (dnssec-ring).
    signer: Box<dyn SigningKey>,
    /// DNSKEY and DS RDATA, wire form (hickory-proto's DNSKEY and DS).
    dnskey: Vec<u8>,
    ds: Vec<u8>,
    pub algorithm: Algorithm,
    pub tag: u16,
    pub path: PathBuf,
}

impl std::fmt::Debug for ZoneKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZoneKey")
            .field("tag", &self.tag)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The zone's origin as a file-name part: lower case, no final dot.
fn zone_part(origin: &str) -> String {
    origin.trim_end_matches('.').to_ascii_lowercase()
}

/// The key tag of DNSKEY RDATA (RFC 4034 Appendix B), as hickory-proto computes it.
pub fn key_tag(dnskey_rdata: &[u8]) -> u16 {
    DNSKEY::calculate_key_tag_internal(dnskey_rdata)
}

fn wire<T: BinEncodable>(value: &T) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut encoder = BinEncoder::new(&mut bytes);
    value.emit(&mut encoder).ok()?;
    Some(bytes)
}

impl ZoneKey {
    /// DNSKEY RDATA: flags 257, protocol 3, algorithm, the public key.
    pub fn dnskey_rdata(&self) -> Vec<u8> {
        self.dnskey.clone()
    }

    /// DS RDATA with a SHA-256 digest (RFC 4509) for the parent zone.
    pub fn ds_rdata(&self) -> Vec<u8> {
        self.ds.clone()
    }

    /// A signature over `data` (the canonical RRSIG input, built by
    /// `sign::rrsig`): 64 octets either way.
    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
        self.signer.sign(&TBS::from(data)).unwrap_or_default()
    }

    fn from_pkcs8(
        pkcs8: &[u8],
        algorithm: Algorithm,
        origin: &str,
        path: PathBuf,
    ) -> Result<Self, KeyError> {
        let not_a_key = || KeyError::NotAKey(path.clone());
        let der = PrivatePkcs8KeyDer::from(pkcs8.to_vec());
        let signer: Box<dyn SigningKey> = match algorithm {
            Algorithm::EcdsaP256Sha256 => Box::new(
                EcdsaSigningKey::from_pkcs8(&der, algorithm.dnssec()).map_err(|_| not_a_key())?,
            ),
            Algorithm::Ed25519 => {
                Box::new(Ed25519SigningKey::from_pkcs8(&der).map_err(|_| not_a_key())?)
            }
        };
        let public = signer.to_public_key().map_err(|_| not_a_key())?;
        let dnskey = DNSKEY::with_flags(FLAGS_CSK, public);
        let tag = dnskey.calculate_key_tag().map_err(|_| not_a_key())?;
        let mut name =
            hickory_proto::rr::Name::from_ascii(zone_part(origin)).map_err(|_| not_a_key())?;
        name.set_fqdn(true);
        let digest = dnskey
            .to_digest(&name, DigestType::SHA256)
            .map_err(|_| not_a_key())?;
        let ds = DS::new(
            tag,
            algorithm.dnssec(),
            DigestType::SHA256,
            digest.as_ref().to_vec(),
        );
        Ok(Self {
            dnskey: wire(&dnskey).ok_or_else(not_a_key)?,
            ds: wire(&ds).ok_or_else(not_a_key)?,
            signer,
            algorithm,
            tag,
            path,
        })
    }
}

/// Makes a new key for `origin` in `dir` (created 0700 if missing); the file
/// is written with mode 0600 before any key material goes into it.
pub fn generate(dir: &Path, origin: &str, algorithm: Algorithm) -> Result<ZoneKey, KeyError> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e| KeyError::Io(path, e)
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(dir))?;
    // A key added beside others is published only: pin the key that signs
    // now, or a new key with a lower tag would take over.
    if active_tag(dir, origin)?.is_none()
        && let Some(current) = load(dir, origin)?.first()
    {
        activate(dir, origin, current.tag)?;
    }
    let pkcs8: Vec<u8> = match algorithm {
        Algorithm::EcdsaP256Sha256 => EcdsaSigningKey::generate_pkcs8(algorithm.dnssec())
            .map_err(|_| KeyError::Random)?
            .secret_pkcs8_der()
            .to_vec(),
        Algorithm::Ed25519 => Ed25519SigningKey::generate_pkcs8()
            .map_err(|_| KeyError::Random)?
            .secret_pkcs8_der()
            .to_vec(),
    };
    let probe = ZoneKey::from_pkcs8(&pkcs8, algorithm, origin, PathBuf::new())?;
    let path = dir.join(format!(
        "K{}+{:03}+{:05}.pk8",
        zone_part(origin),
        algorithm.number(),
        probe.tag
    ));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(io(&path))?;
    file.write_all(&pkcs8)
        .and_then(|()| file.sync_all())
        .map_err(io(&path))?;
    ZoneKey::from_pkcs8(&pkcs8, algorithm, origin, path)
}

fn active_file(dir: &Path, origin: &str) -> PathBuf {
    dir.join(format!("{}.active", zone_part(origin)))
}

/// The tag of the key that signs `origin`, if one was chosen.
pub fn active_tag(dir: &Path, origin: &str) -> Result<Option<u16>, KeyError> {
    let path = active_file(dir, origin);
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| KeyError::NotAKey(path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(KeyError::Io(path, e)),
    }
}

/// Makes the key `tag` the one that signs `origin`.
pub fn activate(dir: &Path, origin: &str, tag: u16) -> Result<(), KeyError> {
    if !load(dir, origin)?.iter().any(|key| key.tag == tag) {
        return Err(KeyError::NoSuchKey(zone_part(origin), tag));
    }
    let path = active_file(dir, origin);
    std::fs::write(&path, format!("{tag}\n")).map_err(|e| KeyError::Io(path, e))
}

/// Removes the key `tag` of `origin`; the key that signs cannot go.
pub fn retire(dir: &Path, origin: &str, tag: u16) -> Result<PathBuf, KeyError> {
    let keys = load(dir, origin)?;
    let key = keys
        .iter()
        .find(|key| key.tag == tag)
        .ok_or_else(|| KeyError::NoSuchKey(zone_part(origin), tag))?;
    let active = active_tag(dir, origin)?.or_else(|| keys.first().map(|k| k.tag));
    if active == Some(tag) {
        return Err(KeyError::Active(zone_part(origin), tag));
    }
    std::fs::remove_file(&key.path).map_err(|e| KeyError::Io(key.path.clone(), e))?;
    Ok(key.path.clone())
}

/// The keys of `origin`: the one that signs first, then the others
/// (published only). Empty when the zone has none.
pub fn signing_order(dir: &Path, origin: &str) -> Result<Vec<ZoneKey>, KeyError> {
    let mut keys = load(dir, origin)?;
    if let Some(tag) = active_tag(dir, origin)? {
        let at = keys
            .iter()
            .position(|key| key.tag == tag)
            .ok_or_else(|| KeyError::NoSuchKey(zone_part(origin), tag))?;
        let active = keys.remove(at);
        keys.insert(0, active);
    }
    Ok(keys)
}

/// Every key of `origin` in `dir`, oldest tag first; a key file others can
/// read, or one that is not a key, is an error (nothing half-loaded).
pub fn load(dir: &Path, origin: &str) -> Result<Vec<ZoneKey>, KeyError> {
    use std::os::unix::fs::PermissionsExt;
    let prefix = format!("K{}+", zone_part(origin));
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(KeyError::Io(dir.to_path_buf(), e)),
    };
    let mut keys = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !name.starts_with(&prefix) || !name.ends_with(".pk8") {
            continue;
        }
        let algorithm = match name[prefix.len()..].get(..4) {
            Some("013+") => Algorithm::EcdsaP256Sha256,
            Some("015+") => Algorithm::Ed25519,
            // Another zone whose name starts like this one's (`K<zone>.x+…`).
            _ if !name[prefix.len()..].starts_with(|c: char| c.is_ascii_digit()) => continue,
            _ => return Err(KeyError::UnknownAlgorithm(path)),
        };
        let metadata = std::fs::metadata(&path).map_err(|e| KeyError::Io(path.clone(), e))?;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::Mode(path, mode));
        }
        let pkcs8 = std::fs::read(&path).map_err(|e| KeyError::Io(path.clone(), e))?;
        keys.push(ZoneKey::from_pkcs8(&pkcs8, algorithm, origin, path)?);
    }
    keys.sort_by_key(|key| key.tag);
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_tag_matches_rfc_4034_appendix_b() {
        // The DNSKEY of RFC 4034 §5.4's example (key tag 60485).
        let rdata = data_encoding::BASE64
            .decode(b"AQOeiiR0GOMYkDshWoSKz9XzfwJr1AYtsmx3TGkJaNXVbfi/2pHm822aJ5iI9BMzNXxeYCmZDRD99WYwYqUSdjMmmAphXdvxegXd/M5+X7OrzKBaMbCVdFLUUh6DhweJBjEVv5f2wwjM9XzcnOf+EPbtG9DMBmADjFDc2w/rljwvFw==")
            .unwrap();
        let mut dnskey = vec![1, 0, 3, 5];
        dnskey.extend_from_slice(&rdata);
        assert_eq!(key_tag(&dnskey), 60485);
    }

    #[test]
    fn keys_are_generated_0600_loaded_and_looser_modes_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let keys_dir = dir.path().join("keys");
        let key = generate(&keys_dir, "Example.TEST.", Algorithm::EcdsaP256Sha256).unwrap();
        let mode = std::fs::metadata(&key.path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let loaded = load(&keys_dir, "example.test").unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].tag, key.tag);
        assert_eq!(loaded[0].dnskey_rdata(), key.dnskey_rdata());
        assert_eq!(key.dnskey_rdata().len(), 4 + 64);
        assert_eq!(key.ds_rdata().len(), 36);
        assert_eq!(key.sign(b"data").len(), 64);
        assert!(load(&keys_dir, "other.test").unwrap().is_empty());
        std::fs::set_permissions(&key.path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            load(&keys_dir, "example.test"),
            Err(KeyError::Mode(_, 0o644))
        ));
        std::fs::set_permissions(&key.path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(keys_dir.join("Kexample.test+013+00001.pk8"), b"junk").unwrap();
        std::fs::set_permissions(
            keys_dir.join("Kexample.test+013+00001.pk8"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        assert!(matches!(
            load(&keys_dir, "example.test"),
            Err(KeyError::NotAKey(_))
        ));
        assert!(!format!("{key:?}").contains("pair"));
        std::fs::remove_file(keys_dir.join("Kexample.test+013+00001.pk8")).unwrap();
        std::fs::write(keys_dir.join("Kexample.test+008+00002.pk8"), b"rsa").unwrap();
        assert!(matches!(
            load(&keys_dir, "example.test"),
            Err(KeyError::UnknownAlgorithm(_))
        ));
    }

    #[test]
    fn rollover_publishes_activates_and_retires() {
        let dir = tempfile::tempdir().unwrap();
        let first = generate(dir.path(), "example.test", Algorithm::EcdsaP256Sha256).unwrap();
        let second = generate(dir.path(), "example.test", Algorithm::EcdsaP256Sha256).unwrap();
        let order = signing_order(dir.path(), "example.test").unwrap();
        assert_eq!(order.len(), 2, "both published");
        assert_eq!(
            order[0].tag, first.tag,
            "the first key signs until another is activated, whatever the tags"
        );
        let other = second.tag;
        assert!(matches!(
            retire(dir.path(), "example.test", order[0].tag),
            Err(KeyError::Active(_, _))
        ));
        let old = order[0].tag;
        activate(dir.path(), "example.test", other).unwrap();
        assert_eq!(
            signing_order(dir.path(), "example.test").unwrap()[0].tag,
            other
        );
        retire(dir.path(), "example.test", old).unwrap();
        assert_eq!(signing_order(dir.path(), "example.test").unwrap().len(), 1);
        assert!(matches!(
            activate(dir.path(), "example.test", 1),
            Err(KeyError::NoSuchKey(_, 1))
        ));
    }
}
