//! Identifiers: normalization to a canonical form and hashing to one DNS label.
//!
//! An identifier is a phone number (E.164), an email address, or a MIMI URI.
//! Its canonical form (`tel:+14155550100`, `mailto:alice@example.com`,
//! `mimi://host/u/user`) is hashed with SHA-256 and encoded base32hex
//! (RFC 4648 §7), lower-case, unpadded: 52 characters, one label. A caller may
//! also pass the label itself as `hash:<label>`. See docs/PROFILE.md.
//!
//! Privacy: nothing here logs, and neither errors nor `Debug` output contain
//! the identifier they are about. The canonical form is handed back only to
//! the caller that asked (`mimidns hash`); the server keeps only the label.

use std::fmt;

use sha2::{Digest, Sha256};
use thiserror::Error;
use unicode_normalization::UnicodeNormalization;

/// Length of a hashed label: ceil(256 / 5).
pub const LABEL_LEN: usize = 52;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IdentifierKind {
    Phone,
    Email,
    Mimi,
    /// A precomputed label (`hash:<label>`); the kind of the original is unknown.
    Hash,
}

/// Why an identifier was rejected. Messages never repeat the input.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum IdentifierError {
    #[error("identifier is empty")]
    Empty,
    #[error(
        "phone number is not in E.164 form: it needs a leading '+' and the country code (a national number cannot be hashed unambiguously)"
    )]
    PhoneWithoutPlus,
    #[error(
        "phone number contains a character other than digits and the separators space, '-', '.', '(' and ')'"
    )]
    PhoneCharacter,
    #[error("phone number has {0} digits; E.164 allows 2 to 15")]
    PhoneDigits(usize),
    #[error("phone number cannot start with 0 after the '+'")]
    PhoneLeadingZero,
    #[error("phone number has ';' parameters; give the bare number")]
    PhoneParameters,
    #[error("email address has no '@'")]
    EmailNoAt,
    #[error("email address has an empty local part or domain")]
    EmailEmptyPart,
    #[error("email address has a quoted local part; quoted local parts are not supported")]
    EmailQuoted,
    #[error(
        "email local part contains white space, a control character or '@', or is longer than 64 bytes"
    )]
    EmailLocalPart,
    #[error("email domain is not a valid domain name: {0}")]
    EmailDomain(String),
    #[error("MIMI URI must look like mimi://host/path")]
    MimiUri,
    #[error("hash label must be {LABEL_LEN} base32hex characters (0-9, a-v)")]
    HashLabel,
    #[error(
        "not a recognized identifier: expected +E.164 phone number, email address, mimi:// URI or hash:<label>"
    )]
    Unrecognized,
}

/// A canonical identifier. `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Canonical {
    pub kind: IdentifierKind,
    text: String,
}

impl fmt::Debug for Canonical {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Canonical({:?}, <redacted>)", self.kind)
    }
}

impl Canonical {
    /// The canonical text, e.g. `tel:+14155550100` (empty for `hash:` input).
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// What the server keeps: the kind (when known) and the hashed label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashedIdentifier {
    pub kind: IdentifierKind,
    pub label: String,
}

impl HashedIdentifier {
    /// The form the admin API and exports use: `hash:<label>`.
    pub fn reference(&self) -> String {
        format!("hash:{}", self.label)
    }
}

/// SHA-256 of the canonical form, base32hex, lower-case, unpadded.
pub fn hash_label(canonical: &str) -> String {
    let digest = Sha256::digest(canonical.as_bytes());
    data_encoding::BASE32HEX_NOPAD
        .encode(&digest)
        .to_ascii_lowercase()
}

/// Normalizes any accepted input to its canonical form.
pub fn normalize(input: &str) -> Result<Canonical, IdentifierError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(IdentifierError::Empty);
    }
    if let Some(label) = strip_ascii_prefix(trimmed, "hash:") {
        let label = parse_hash_label(label)?;
        return Ok(Canonical {
            kind: IdentifierKind::Hash,
            text: label,
        });
    }
    if let Some(number) = strip_ascii_prefix(trimmed, "tel:") {
        return normalize_phone(number);
    }
    if let Some(address) = strip_ascii_prefix(trimmed, "mailto:") {
        return normalize_email(address);
    }
    if let Some(rest) = strip_ascii_prefix(trimmed, "mimi://") {
        return normalize_mimi(rest);
    }
    if trimmed.starts_with('+') {
        return normalize_phone(trimmed);
    }
    if trimmed.contains('@') {
        return normalize_email(trimmed);
    }
    if trimmed
        .chars()
        .all(|c| c.is_ascii_digit() || " -.()".contains(c))
    {
        return Err(IdentifierError::PhoneWithoutPlus);
    }
    Err(IdentifierError::Unrecognized)
}

/// `text` without an ASCII `prefix` matched case-insensitively. Works on
/// bytes, so a multi-byte character where the prefix would end (`иван@…`)
/// is simply no match, never a slice off a char boundary.
fn strip_ascii_prefix<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.as_bytes().get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix.as_bytes()) {
        // The matched bytes are ASCII, so `prefix.len()` is a char boundary.
        text.get(prefix.len()..)
    } else {
        None
    }
}

/// Normalizes and hashes; the canonical form is dropped.
pub fn hash_identifier(input: &str) -> Result<HashedIdentifier, IdentifierError> {
    let canonical = normalize(input)?;
    let label = match canonical.kind {
        IdentifierKind::Hash => canonical.text,
        _ => hash_label(&canonical.text),
    };
    Ok(HashedIdentifier {
        kind: canonical.kind,
        label,
    })
}

fn parse_hash_label(label: &str) -> Result<String, IdentifierError> {
    let label = label.to_ascii_lowercase();
    if label.len() != LABEL_LEN
        || !label
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'v').contains(&b))
    {
        return Err(IdentifierError::HashLabel);
    }
    // The last character carries only 1 bit of the digest (256 = 51*5 + 1).
    match data_encoding::BASE32HEX_NOPAD.decode(label.to_ascii_uppercase().as_bytes()) {
        Ok(bytes) if bytes.len() == 32 => Ok(label),
        _ => Err(IdentifierError::HashLabel),
    }
}

fn normalize_phone(number: &str) -> Result<Canonical, IdentifierError> {
    if number.contains(';') {
        return Err(IdentifierError::PhoneParameters);
    }
    let Some(rest) = number.trim().strip_prefix('+') else {
        return Err(IdentifierError::PhoneWithoutPlus);
    };
    let mut digits = String::with_capacity(15);
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return Err(IdentifierError::PhoneCharacter),
        }
    }
    if !(2..=15).contains(&digits.len()) {
        return Err(IdentifierError::PhoneDigits(digits.len()));
    }
    if digits.starts_with('0') {
        return Err(IdentifierError::PhoneLeadingZero);
    }
    Ok(Canonical {
        kind: IdentifierKind::Phone,
        text: format!("tel:+{digits}"),
    })
}

/// A domain in canonical form: IDNA A-labels, lower-case, no trailing dot.
pub fn normalize_domain(domain: &str) -> Result<String, String> {
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    if domain.is_empty() {
        return Err("it is empty".into());
    }
    let ascii = idna::domain_to_ascii_strict(domain)
        .map_err(|_| "it is not a valid internationalized domain name".to_string())?;
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return Err("it needs at least two labels".into());
    }
    if labels.iter().any(|l| l.is_empty() || l.len() > 63) || ascii.len() > 253 {
        return Err(
            "a label is empty or longer than 63 octets, or the name is longer than 253".into(),
        );
    }
    Ok(ascii.to_ascii_lowercase())
}

fn normalize_email(address: &str) -> Result<Canonical, IdentifierError> {
    if address.starts_with('"') {
        return Err(IdentifierError::EmailQuoted);
    }
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Err(IdentifierError::EmailNoAt);
    };
    if local.is_empty() || domain.is_empty() {
        return Err(IdentifierError::EmailEmptyPart);
    }
    // Lower-case the decomposed form, then compose: lower-casing a composed
    // string can emit combining marks out of canonical order (`İ̞` lowers to
    // `i`, U+0307, U+031E), so NFC-then-lower is not idempotent; this order is.
    let local: String = local
        .nfd()
        .collect::<String>()
        .to_lowercase()
        .nfc()
        .collect();
    if local.len() > 64
        || local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '@' || c == '"')
    {
        return Err(IdentifierError::EmailLocalPart);
    }
    let domain = normalize_domain(domain).map_err(IdentifierError::EmailDomain)?;
    Ok(Canonical {
        kind: IdentifierKind::Email,
        text: format!("mailto:{local}@{domain}"),
    })
}

fn normalize_mimi(rest: &str) -> Result<Canonical, IdentifierError> {
    let (host, path) = rest.split_at(rest.find('/').ok_or(IdentifierError::MimiUri)?);
    if path.len() < 2 || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(IdentifierError::MimiUri);
    }
    let host = normalize_domain(host).map_err(|_| IdentifierError::MimiUri)?;
    Ok(Canonical {
        kind: IdentifierKind::Mimi,
        text: format!("mimi://{host}{path}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: prefix checks sliced bytes at non-char boundaries, so
    /// these panicked (and the panic message carried the identifier).
    #[test]
    fn internationalized_addresses_normalize_without_panicking() {
        for (input, canonical) in [
            ("иван@mail.ru", "mailto:иван@mail.ru"),
            ("josé@example.com", "mailto:josé@example.com"),
            ("用户@example.cn", "mailto:用户@example.cn"),
            ("ÄRGER@Bücher.de", "mailto:ärger@xn--bcher-kva.de"),
            (
                "δοκιμή@παράδειγμα.δοκιμή",
                "mailto:δοκιμή@xn--hxajbheg2az3al.xn--jxalpdlp",
            ),
            ("मेल@उदाहरण.भारत", "mailto:मेल@xn--p1b6ci4b4b3a.xn--h2brj9c"),
            ("mailto:Ünal@münchen.de", "mailto:ünal@xn--mnchen-3ya.de"),
        ] {
            let normalized = normalize(input).expect("valid internationalized address");
            assert_eq!(normalized.text(), canonical, "{input}");
            assert_eq!(
                hash_identifier(input).expect("hashes").label.len(),
                LABEL_LEN
            );
        }
    }

    /// Regression (found by the `identifier` fuzz target): lower-casing after
    /// NFC left `İ` + U+031E as `i` U+0307 U+031E, whose NFC reorders the
    /// marks, so the canonical form did not normalize to itself.
    #[test]
    fn email_normalization_is_idempotent_when_lower_casing_adds_marks() {
        let input = "eвİ\u{31e}@ȰİиA.Ȱȵ";
        let once = normalize(input).expect("valid address");
        let twice = normalize(once.text()).expect("canonical form is accepted");
        assert_eq!(once.text(), twice.text());
        for input in [
            "İ\u{31e}x@example.com",
            "ǅ\u{0323}\u{0301}@example.com",
            "ΪΪ@example.com",
        ] {
            let once = normalize(input).expect("valid address");
            assert_eq!(
                normalize(once.text()).expect("accepted").text(),
                once.text(),
                "{input}"
            );
        }
    }

    /// Every short string over an alphabet that mixes the ASCII prefixes with
    /// multi-byte characters: an answer, never a panic.
    #[test]
    fn no_input_panics_near_a_prefix_boundary() {
        let alphabet = [
            "t", "e", "l", ":", "h", "a", "s", "m", "/", "@", "+", "1", "é", "и", "用", "😀",
        ];
        let mut inputs = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = inputs
                .iter()
                .flat_map(|prefix| alphabet.iter().map(move |c| format!("{prefix}{c}")))
                .collect();
            inputs.extend(longer);
            inputs.dedup();
        }
        for prefix in ["hash:", "tel:", "mailto:", "mimi://", "HASH:", "Tel:"] {
            for tail in ["é", "и@x.ru", "用", "😀@a.b"] {
                inputs.push(format!("{prefix}{tail}"));
                inputs.push(format!("{}{tail}", &prefix[..prefix.len() - 1]));
            }
        }
        for input in &inputs {
            let _ = normalize(input);
        }
    }

    #[test]
    fn profile_vectors_hold() {
        assert_eq!(
            hash_label("tel:+14155550100"),
            "2m77qv3f00d9ntuv514ic09ul2j94uv21us595bvjee9d0rtpta0"
        );
        assert_eq!(
            hash_label("mailto:alice@example.com"),
            "3b3qhrr4hku6f09cih8hemu3qt7u60q58uvh63lqcsjfgama37jg"
        );
        assert_eq!(
            hash_identifier("Alice@EXAMPLE.com").expect("valid").label,
            hash_identifier("mailto:alice@example.com")
                .expect("valid")
                .label
        );
    }

    #[test]
    fn phone_forms_normalize_to_e164() {
        for input in [
            "+1 (415) 555-0100",
            "+1.415.555.0100",
            "tel:+14155550100",
            "TEL:+1-415-555-0100",
            " +14155550100 ",
        ] {
            let canonical = normalize(input).expect("valid phone");
            assert_eq!(canonical.text(), "tel:+14155550100", "{input}");
            assert_eq!(canonical.kind, IdentifierKind::Phone);
        }
    }

    #[test]
    fn bad_phones_are_rejected_with_the_reason() {
        assert_eq!(
            normalize("4155550100"),
            Err(IdentifierError::PhoneWithoutPlus)
        );
        assert_eq!(
            normalize("(415) 555-0100"),
            Err(IdentifierError::PhoneWithoutPlus)
        );
        assert_eq!(
            normalize("tel:4155550100"),
            Err(IdentifierError::PhoneWithoutPlus)
        );
        assert_eq!(
            normalize("+1 415 CALL NOW"),
            Err(IdentifierError::PhoneCharacter)
        );
        assert_eq!(
            normalize("tel:+14155550100;ext=1"),
            Err(IdentifierError::PhoneParameters)
        );
        assert_eq!(
            normalize("+1234567890123456"),
            Err(IdentifierError::PhoneDigits(16))
        );
        assert_eq!(normalize("+1"), Err(IdentifierError::PhoneDigits(1)));
        assert_eq!(
            normalize("+0123456"),
            Err(IdentifierError::PhoneLeadingZero)
        );
    }

    #[test]
    fn email_forms_normalize() {
        assert_eq!(
            normalize("Alice@Example.COM").expect("valid").text(),
            "mailto:alice@example.com"
        );
        assert_eq!(
            normalize("MAILTO:alice@example.com.")
                .expect("valid")
                .text(),
            "mailto:alice@example.com"
        );
        assert_eq!(
            normalize("bob@Bücher.example").expect("valid").text(),
            "mailto:bob@xn--bcher-kva.example"
        );
        // NFC: "e" + combining acute equals precomposed "é".
        assert_eq!(
            normalize("re\u{301}my@example.com"),
            normalize("r\u{e9}my@example.com")
        );
        assert_eq!(
            normalize("ÉLODIE@example.com").expect("valid").text(),
            "mailto:élodie@example.com"
        );
    }

    #[test]
    fn bad_emails_are_rejected() {
        assert_eq!(
            normalize("mailto:alice.example.com"),
            Err(IdentifierError::EmailNoAt)
        );
        assert_eq!(
            normalize("@example.com"),
            Err(IdentifierError::EmailEmptyPart)
        );
        assert_eq!(normalize("alice@"), Err(IdentifierError::EmailEmptyPart));
        assert_eq!(
            normalize("\"a b\"@example.com"),
            Err(IdentifierError::EmailQuoted)
        );
        assert_eq!(
            normalize("a b@example.com"),
            Err(IdentifierError::EmailLocalPart)
        );
        assert!(matches!(
            normalize("alice@exa mple.com"),
            Err(IdentifierError::EmailDomain(_))
        ));
        assert!(matches!(
            normalize("alice@localhost"),
            Err(IdentifierError::EmailDomain(_))
        ));
        assert!(matches!(
            normalize("alice@-bad-.com"),
            Err(IdentifierError::EmailDomain(_))
        ));
    }

    #[test]
    fn mimi_uris_lower_case_scheme_and_host_only() {
        assert_eq!(
            normalize("MIMI://Chat.Example/u/Alice")
                .expect("valid")
                .text(),
            "mimi://chat.example/u/Alice"
        );
        assert_eq!(
            normalize("mimi://chat.example"),
            Err(IdentifierError::MimiUri)
        );
        assert_eq!(normalize("mimi:///u/alice"), Err(IdentifierError::MimiUri));
    }

    #[test]
    fn hash_labels_pass_through_validated() {
        let label = "2m77qv3f00d9ntuv514ic09ul2j94uv21us595bvjee9d0rtpta0";
        let hashed = hash_identifier(&format!("hash:{}", label.to_uppercase())).expect("valid");
        assert_eq!(hashed.label, label);
        assert_eq!(hashed.kind, IdentifierKind::Hash);
        assert_eq!(hash_identifier("hash:abc"), Err(IdentifierError::HashLabel));
        assert_eq!(
            hash_identifier(&format!("hash:{}w", &label[..51])),
            Err(IdentifierError::HashLabel)
        );
        // A final character with bits beyond the digest does not decode.
        assert_eq!(
            hash_identifier(&format!("hash:{}v", &label[..51])),
            Err(IdentifierError::HashLabel)
        );
    }

    #[test]
    fn errors_and_debug_never_contain_the_identifier() {
        let secret = "+1 415 CALL NOW";
        let error = normalize(secret).expect_err("invalid");
        assert!(!error.to_string().contains("415"));
        let canonical = normalize("+14155550100").expect("valid");
        assert!(!format!("{canonical:?}").contains("415"));
        let email_error = normalize("alice@-bad-.com").expect_err("invalid");
        assert!(
            !email_error.to_string().contains("alice") && !email_error.to_string().contains("bad")
        );
    }

    #[test]
    fn unrecognized_inputs() {
        assert_eq!(normalize(""), Err(IdentifierError::Empty));
        assert_eq!(normalize("alice"), Err(IdentifierError::Unrecognized));
    }
}
