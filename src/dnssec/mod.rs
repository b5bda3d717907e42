//! DNSSEC online signing (issue "DNSSEC"): zone keys and RRset signatures.
//!
//! `keys` owns key files (PKCS#8, mode 0600) and the DNSKEY/DS forms of a
//! key; `sign` makes RRSIGs over RRsets in canonical form (RFC 4034 §6).
//! Nothing here decides what a response holds.

pub mod keys;
pub mod sign;
