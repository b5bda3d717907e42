//! Any string as an identifier: never a panic; a canonical form normalizes
//! to itself, and its label is 52 base32hex characters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimidns::identifier::{IdentifierKind, LABEL_LEN, hash_identifier, normalize};

fuzz_target!(|bytes: &[u8]| {
    let Ok(input) = std::str::from_utf8(bytes) else {
        return;
    };
    let Ok(canonical) = normalize(input) else {
        return;
    };
    let hashed = hash_identifier(input).expect("normalizes, so hashes");
    assert_eq!(hashed.label.len(), LABEL_LEN);
    if canonical.kind != IdentifierKind::Hash {
        let again = normalize(canonical.text()).expect("canonical form is accepted");
        assert_eq!(again.text(), canonical.text(), "normalization is idempotent");
    }
});
