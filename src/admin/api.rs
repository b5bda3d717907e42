//! Request, response and error types of the admin API (version 1), shared by
//! the server ([`super::http`]) and the CLI ([`super::client`]).
//!
//! | method | path | body → response |
//! |---|---|---|
//! | GET | `/health` | → [`Health`] |
//! | GET | `/v1/zones` | → `[ZoneSummary]` |
//! | PUT | `/v1/zones/{zone}/identifiers/{identifier}` | [`PutIdentifier`] → [`WriteResult`] |
//! | GET | `/v1/zones/{zone}/identifiers/{identifier}` | → [`IdentifierRecord`] |
//! | DELETE | `/v1/zones/{zone}/identifiers/{identifier}` | → [`WriteResult`] |
//! | POST | `/v1/zones/{zone}/batch` | [`Batch`] → [`WriteResult`] |
//! | GET | `/v1/zones/{zone}/export` | → NDJSON of [`IdentifierRecord`] |
//! | GET | `/v1/zones/{zone}/rrsets/{name}/{type}` | → [`RrsetRecord`] |
//! | PUT | `/v1/zones/{zone}/rrsets/{name}/{type}` | [`PutRrset`] → [`WriteResult`] |
//! | DELETE | `/v1/zones/{zone}/rrsets/{name}/{type}` | → [`WriteResult`] |
//!
//! `{identifier}` is a phone number, email address or MIMI URI (normalized
//! and hashed by the server) or `hash:<label>` (the CLI always sends this
//! form, so plaintext never crosses the socket). Errors are [`ApiError`].

use serde::{Deserialize, Serialize};

use crate::mapping::Mapping;

pub const API_PREFIX: &str = "/v1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    pub status: String,
    pub zones: usize,
    /// Whether queries are answered from the in-memory index yet (it is
    /// built in the background after start-up; sled answers meanwhile).
    pub memory_index_ready: bool,
    /// `ok`, or what is wrong with the store (`corrupt: …` stays until it
    /// is restored; `failing: …` clears once a write succeeds again).
    pub store: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneSummary {
    pub origin: String,
    pub serial: u32,
    pub identifiers: u64,
    pub discovery_label: String,
    pub ttl: u32,
    pub max_mappings: usize,
    /// What last changed the zone (`file`, `admin`, `transfer`); absent for
    /// a zone not changed since this was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_change_source: Option<crate::store::ChangeSource>,
    /// When, in seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_change_unix: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutIdentifier {
    pub mappings: Vec<Mapping>,
}

/// An identifier as stored: only its hashed reference, never the plaintext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentifierRecord {
    /// `hash:<label>`
    pub identifier: String,
    /// The owner name of its records.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub owner: String,
    pub mappings: Vec<Mapping>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, tag = "op", rename_all = "lowercase")]
pub enum BatchOperation {
    Put {
        identifier: String,
        mappings: Vec<Mapping>,
    },
    Delete {
        identifier: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    pub operations: Vec<BatchOperation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteResult {
    /// The zone's SOA serial after the write.
    pub serial: u32,
    /// Operations applied (1 for a single put or delete).
    pub applied: usize,
    /// For single-identifier writes: `hash:<label>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutRrset {
    pub ttl: u32,
    /// RDATA in presentation form, one per record, names relative to the zone.
    pub rdata: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RrsetRecord {
    pub name: String,
    #[serde(rename = "type")]
    pub record_type: String,
    pub ttl: u32,
    pub rdata: Vec<String>,
    /// "zone-file" or "admin".
    pub source: String,
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiError {
    /// Stable machine-readable code, e.g. `bad_identifier`.
    pub code: String,
    /// What is wrong, for a person.
    pub message: String,
}
