//! What the admin API does, independent of HTTP: validate a request fully,
//! then turn it into one atomic catalog write (one SOA serial bump, durable
//! before it returns). A request that fails validation changes nothing.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_proto::serialize::binary::{BinDecoder, Restrict};
use thiserror::Error;

use super::api::{
    BatchOperation, IdentifierRecord, PutRrset, RrsetRecord, WriteResult, ZoneSummary,
};
use crate::catalog::RrsetWrites;
use crate::catalog::{Catalog, CatalogError, ServedZone};
use crate::identifier::{HashedIdentifier, hash_identifier};
use crate::mapping::{Mapping, mapping_rdatas, mappings_from_rdatas, validate_mappings};
use crate::name_key::{labels_from_name_key, name_key, push_label};
use crate::rrset::{RrsetOwner, StoredRrset, encode_rrset};
use crate::store::{RrsetKey, RrsetWrite, StoreError};
use crate::wire::rtype;
use crate::zone_file::{parse_ascii_name, rdata_wire_from_text};
use crate::zone_rules;

/// Most operations in one batch.
pub const MAX_BATCH_OPERATIONS: usize = 10_000;

/// Error kinds, each with a stable code and an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    UnknownZone,
    BadIdentifier,
    BadMapping,
    NotFound,
    Conflict,
    BadRequest,
    PayloadTooLarge,
    Timeout,
    Unauthorized,
    Internal,
}

impl ErrorKind {
    pub fn code(self) -> &'static str {
        match self {
            Self::UnknownZone => "unknown_zone",
            Self::BadIdentifier => "bad_identifier",
            Self::BadMapping => "bad_mapping",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::BadRequest => "bad_request",
            Self::PayloadTooLarge => "payload_too_large",
            Self::Timeout => "request_timeout",
            Self::Unauthorized => "unauthorized",
            Self::Internal => "internal",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            Self::UnknownZone | Self::NotFound => 404,
            Self::BadIdentifier | Self::BadRequest => 400,
            Self::BadMapping => 422,
            Self::Conflict => 409,
            Self::PayloadTooLarge => 413,
            Self::Timeout => 408,
            Self::Unauthorized => 401,
            Self::Internal => 500,
        }
    }
}

/// An admin request failed; the message says what is wrong (never the plaintext identifier).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{message}")]
pub struct AdminError {
    pub kind: ErrorKind,
    pub message: String,
}

impl AdminError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    fn in_operation(self, index: usize) -> Self {
        Self {
            message: format!("operation {index}: {}", self.message),
            ..self
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        Self::new(ErrorKind::Internal, e.to_string())
    }
}

impl From<CatalogError> for AdminError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::UnknownZone(zone) => {
                Self::new(ErrorKind::UnknownZone, format!("zone {zone} is not served"))
            }
            CatalogError::SecondaryZone(zone) => Self::new(
                ErrorKind::Conflict,
                format!(
                    "zone {zone} is a secondary: its content comes from its primary by zone transfer; write to the primary"
                ),
            ),
            other => Self::new(ErrorKind::Internal, other.to_string()),
        }
    }
}

type Writes = crate::catalog::RrsetWrites;

/// Normalizes and hashes an identifier; a bad one is the client's error.
fn hash(identifier: &str) -> Result<HashedIdentifier, AdminError> {
    hash_identifier(identifier)
        .map_err(|e| AdminError::new(ErrorKind::BadIdentifier, e.to_string()))
}

/// An identifier's TXT and SVCB RRsets, validated and encoded.
struct EncodedMappings {
    txt: Vec<u8>,
    svcb: Vec<u8>,
}

pub struct AdminService {
    catalog: Arc<Catalog>,
    reloader: Option<Arc<crate::reload::Reloader>>,
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl AdminService {
    pub fn new(catalog: Arc<Catalog>) -> Self {
        Self {
            catalog,
            reloader: None,
            metrics: None,
        }
    }

    /// Counts writes and their commit latency into `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The server's counters, when it keeps them.
    pub fn metrics(&self) -> Option<&Arc<crate::metrics::Metrics>> {
        self.metrics.as_ref()
    }

    /// One admin write: [`Catalog::apply_with`], timed until it is durable.
    async fn commit<E: From<CatalogError>>(
        &self,
        origin: &Name,
        build: impl FnOnce(&ServedZone) -> Result<RrsetWrites, E>,
    ) -> Result<u32, E> {
        if self.catalog.secondary(origin).is_some() {
            return Err(CatalogError::SecondaryZone(origin.to_string()).into());
        }
        let started = std::time::Instant::now();
        let result = self.catalog.apply_with(origin, build).await;
        if let Some(metrics) = &self.metrics {
            metrics.admin_write(started.elapsed(), result.is_ok());
        }
        result
    }

    /// Lets `POST /v1/reload` re-read the configuration and zone files.
    pub fn with_reloader(mut self, reloader: Arc<crate::reload::Reloader>) -> Self {
        self.reloader = Some(reloader);
        self
    }

    /// The text of a served zone's file in the zones directory, as it is
    /// on disk now (for backups).
    pub async fn zone_file(&self, zone: &str) -> Result<String, AdminError> {
        let served = self.zone(zone)?;
        let reloader = self.reloader.as_ref().ok_or_else(|| {
            AdminError::new(ErrorKind::NotFound, "this server has no zones directory")
        })?;
        if self.catalog.secondary(&served.origin).is_some() {
            return Err(AdminError::new(
                ErrorKind::NotFound,
                "a secondary zone has no zone file; its primary holds the source",
            ));
        }
        let dir = reloader.zones_dir().await;
        let internal = |e: String| AdminError::new(ErrorKind::Internal, e);
        let files = crate::catalog::zone_files(&dir).map_err(|e| internal(e.to_string()))?;
        for file in files {
            let origin = crate::zone_file::origin_from_file_name(&file);
            if origin.is_ok_and(|origin| origin.to_lowercase() == served.origin) {
                return tokio::fs::read_to_string(&file)
                    .await
                    .map_err(|e| internal(format!("{}: {e}", file.display())));
            }
        }
        Err(AdminError::new(
            ErrorKind::NotFound,
            "the zone's file is no longer in the zones directory",
        ))
    }

    /// Reloads the configuration and the zone files (as SIGHUP does).
    pub async fn reload(&self) -> Result<crate::reload::ReloadReport, AdminError> {
        let reloader = self.reloader.as_ref().ok_or_else(|| {
            AdminError::new(
                ErrorKind::Conflict,
                "this server was started without a reloader",
            )
        })?;
        reloader.reload().await.map_err(|e| match e {
            // The request is fine; the file on disk is not. Nothing changed.
            crate::reload::ReloadError::Config(_) => {
                AdminError::new(ErrorKind::Conflict, e.to_string())
            }
            crate::reload::ReloadError::Catalog(e) => AdminError::from(e),
        })
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    fn zone(&self, zone: &str) -> Result<Arc<ServedZone>, AdminError> {
        let unknown = || {
            AdminError::new(
                ErrorKind::UnknownZone,
                format!("zone '{zone}' is not served"),
            )
        };
        let mut name = Name::from_ascii(zone).map_err(|_| unknown())?;
        name.set_fqdn(true);
        self.catalog.zone(&name.to_lowercase()).ok_or_else(unknown)
    }

    pub fn zones(&self) -> Vec<ZoneSummary> {
        let mut zones: Vec<ZoneSummary> = self
            .catalog
            .zones()
            .values()
            .map(|zone| ZoneSummary {
                origin: zone.origin.to_ascii(),
                serial: zone.serial,
                identifiers: zone.identifiers,
                discovery_label: zone.discovery.label.clone(),
                ttl: zone.discovery.ttl,
                max_mappings: zone.discovery.max_mappings,
                last_change_source: zone.last_change.map(|c| c.source),
                last_change_unix: zone.last_change.map(|c| c.at),
            })
            .collect();
        zones.sort_by(|a, b| a.origin.cmp(&b.origin));
        zones
    }

    fn identifier_node(zone: &ServedZone, hashed: &HashedIdentifier) -> Vec<u8> {
        let mut node = zone.discovery_key.clone();
        push_label(&mut node, hashed.label.as_bytes());
        node
    }

    fn owner_name(zone: &ServedZone, hashed: &HashedIdentifier) -> String {
        format!(
            "{}.{}.{}",
            hashed.label,
            zone.discovery.label,
            zone.origin.to_ascii()
        )
    }

    fn stored(&self, key: &RrsetKey) -> Result<Option<StoredRrset>, AdminError> {
        Ok(self.catalog.store().rrset(key)?)
    }

    /// Validates mappings and encodes their RRsets; reads no stored data,
    /// so it runs before the write lock is taken.
    fn encode_mappings(
        zone: &ServedZone,
        mappings: &[Mapping],
    ) -> Result<EncodedMappings, AdminError> {
        let mappings = validate_mappings(mappings, zone.discovery.max_mappings)
            .map_err(|e| AdminError::new(ErrorKind::BadMapping, e.to_string()))?;
        let crate::mapping::MappingRdatas { svcb, txt } = mapping_rdatas(&mappings)
            .map_err(|e| AdminError::new(ErrorKind::BadMapping, e.to_string()))?;
        let ttl = zone.discovery.ttl;
        Ok(EncodedMappings {
            txt: encode_rrset(RrsetOwner::Admin, ttl, &txt),
            svcb: encode_rrset(RrsetOwner::Admin, ttl, &svcb),
        })
    }

    /// The writes that replace an identifier's mappings; runs under the
    /// write lock (it checks what is stored at the name).
    fn put_writes(
        &self,
        zone: &ServedZone,
        hashed: &HashedIdentifier,
        encoded: EncodedMappings,
    ) -> Result<Writes, AdminError> {
        let node = Self::identifier_node(zone, hashed);
        self.check_identifier_node(zone, &node)?;
        Ok(vec![
            RrsetWrite {
                key: zone.rrset_key(&node, rtype::TXT),
                value: Some(encoded.txt),
            },
            RrsetWrite {
                key: zone.rrset_key(&node, rtype::SVCB),
                value: Some(encoded.svcb),
            },
        ])
    }

    /// The mappings stored for an identifier (empty when none are).
    fn stored_mappings(
        &self,
        zone: &ServedZone,
        hashed: &HashedIdentifier,
    ) -> Result<Option<Vec<Mapping>>, AdminError> {
        let node = Self::identifier_node(zone, hashed);
        let txt = self.stored(&zone.rrset_key(&node, rtype::TXT))?;
        let svcb = self.stored(&zone.rrset_key(&node, rtype::SVCB))?;
        if txt.is_none() && svcb.is_none() {
            return Ok(None);
        }
        Ok(Some(mappings_from_rdatas(
            svcb.iter().flat_map(|s| s.rdatas()),
            txt.iter().flat_map(|t| t.rdatas()),
        )))
    }

    /// RRsets at an identifier's name must all be ours to replace.
    fn check_identifier_node(&self, zone: &ServedZone, node: &[u8]) -> Result<(), AdminError> {
        let Some(stored) = self.catalog.store().node(&zone.node_key(node))? else {
            return Ok(());
        };
        for (record_type, rrset) in stored.rrsets() {
            if record_type == rtype::CNAME || rrset.owner() == RrsetOwner::ZoneFile {
                return Err(AdminError::new(
                    ErrorKind::Conflict,
                    "the zone file declares records at this identifier's name; remove them from the zone file first",
                ));
            }
        }
        Ok(())
    }

    fn delete_writes(
        &self,
        zone: &ServedZone,
        hashed: &HashedIdentifier,
    ) -> Result<Writes, AdminError> {
        let node = Self::identifier_node(zone, hashed);
        let txt = zone.rrset_key(&node, rtype::TXT);
        let svcb = zone.rrset_key(&node, rtype::SVCB);
        if self.stored(&txt)?.is_none() && self.stored(&svcb)?.is_none() {
            return Err(AdminError::new(
                ErrorKind::NotFound,
                "no mappings are published for this identifier",
            ));
        }
        self.check_identifier_node(zone, &node)?;
        Ok(vec![
            RrsetWrite {
                key: txt,
                value: None,
            },
            RrsetWrite {
                key: svcb,
                value: None,
            },
        ])
    }

    pub async fn put_identifier(
        &self,
        zone: &str,
        identifier: &str,
        mappings: &[Mapping],
    ) -> Result<WriteResult, AdminError> {
        let served = self.zone(zone)?;
        let hashed = hash(identifier)?;
        let encoded = Self::encode_mappings(&served, mappings)?;
        let serial = self
            .commit(&served.origin, |zone| {
                self.put_writes(zone, &hashed, encoded)
            })
            .await?;
        Ok(WriteResult {
            serial,
            applied: 1,
            identifier: Some(hashed.reference()),
        })
    }

    /// Appends mappings to an identifier's set (creating it when there is
    /// none), reading the current set under the write lock so concurrent
    /// appends all land.
    pub async fn add_mappings(
        &self,
        zone: &str,
        identifier: &str,
        mappings: &[Mapping],
    ) -> Result<WriteResult, AdminError> {
        let served = self.zone(zone)?;
        let hashed = hash(identifier)?;
        if mappings.is_empty() {
            return Err(AdminError::new(
                ErrorKind::BadMapping,
                "mappings is empty; give at least one to add",
            ));
        }
        // Validate the new ones alone first, so their errors name their own index.
        Self::encode_mappings(&served, mappings)?;
        let serial = self
            .commit(&served.origin, |zone| {
                let mut all = self.stored_mappings(zone, &hashed)?.unwrap_or_default();
                all.extend_from_slice(mappings);
                let encoded = Self::encode_mappings(zone, &all)?;
                self.put_writes(zone, &hashed, encoded)
            })
            .await?;
        Ok(WriteResult {
            serial,
            applied: mappings.len(),
            identifier: Some(hashed.reference()),
        })
    }

    pub async fn delete_identifier(
        &self,
        zone: &str,
        identifier: &str,
    ) -> Result<WriteResult, AdminError> {
        let served = self.zone(zone)?;
        let hashed = hash(identifier)?;
        let serial = self
            .commit(&served.origin, |zone| self.delete_writes(zone, &hashed))
            .await?;
        Ok(WriteResult {
            serial,
            applied: 1,
            identifier: Some(hashed.reference()),
        })
    }

    pub fn get_identifier(
        &self,
        zone: &str,
        identifier: &str,
    ) -> Result<IdentifierRecord, AdminError> {
        let served = self.zone(zone)?;
        let hashed = hash(identifier)?;
        let mappings = self.stored_mappings(&served, &hashed)?.ok_or_else(|| {
            AdminError::new(
                ErrorKind::NotFound,
                "no mappings are published for this identifier",
            )
        })?;
        Ok(IdentifierRecord {
            identifier: hashed.reference(),
            owner: Self::owner_name(&served, &hashed),
            mappings,
        })
    }

    /// Applies puts and deletes all together or not at all.
    pub async fn batch(
        &self,
        zone: &str,
        operations: &[BatchOperation],
    ) -> Result<WriteResult, AdminError> {
        let served = self.zone(zone)?;
        if operations.is_empty() || operations.len() > MAX_BATCH_OPERATIONS {
            return Err(AdminError::new(
                ErrorKind::BadRequest,
                format!(
                    "a batch holds 1 to {MAX_BATCH_OPERATIONS} operations, not {}",
                    operations.len()
                ),
            ));
        }
        let mut seen: HashMap<String, usize> = HashMap::with_capacity(operations.len());
        let mut hashed = Vec::with_capacity(operations.len());
        for (index, operation) in operations.iter().enumerate() {
            let identifier = match operation {
                BatchOperation::Put { identifier, .. } | BatchOperation::Delete { identifier } => {
                    identifier
                }
            };
            let operation_hash = hash(identifier).map_err(|e| e.in_operation(index))?;
            if let Some(first) = seen.insert(operation_hash.label.clone(), index) {
                return Err(AdminError::new(
                    ErrorKind::BadRequest,
                    format!("operation {index} repeats the identifier of operation {first}"),
                ));
            }
            hashed.push(operation_hash);
        }
        let mut encoded = Vec::with_capacity(operations.len());
        for (index, operation) in operations.iter().enumerate() {
            encoded.push(match operation {
                BatchOperation::Put { mappings, .. } => Some(
                    Self::encode_mappings(&served, mappings).map_err(|e| e.in_operation(index))?,
                ),
                BatchOperation::Delete { .. } => None,
            });
        }
        let serial = self
            .commit(&served.origin, |zone| {
                let mut writes = Vec::with_capacity(operations.len() * 2);
                for (index, (encoded, operation_hash)) in
                    encoded.into_iter().zip(&hashed).enumerate()
                {
                    let operation_writes = match encoded {
                        Some(encoded) => self.put_writes(zone, operation_hash, encoded),
                        None => self.delete_writes(zone, operation_hash),
                    }
                    .map_err(|e| e.in_operation(index))?;
                    writes.extend(operation_writes);
                }
                Ok::<_, AdminError>(writes)
            })
            .await?;
        Ok(WriteResult {
            serial,
            applied: operations.len(),
            identifier: None,
        })
    }

    /// Every identifier of a zone with its mappings, in canonical order,
    /// sent in chunks of NDJSON lines (runs on a blocking thread).
    /// Streams a zone's identifiers and admin-written RRsets as NDJSON
    /// chunks to `send` (which returns `false` to stop). `consistent` holds
    /// the write lock throughout, so the export is the zone at one serial
    /// (admin writes wait; queries do not): for backups, whose reader keeps
    /// up. `started` gets the serial the export began at. Blocking: call it
    /// off the async workers.
    pub fn export(
        &self,
        zone: &str,
        consistent: bool,
        started: impl FnOnce(u32),
        mut send: impl FnMut(String) -> bool,
    ) -> Result<(), AdminError> {
        let _writes_held = consistent.then(|| self.catalog.hold_writes_blocking());
        let served = self.zone(zone)?;
        started(served.serial);
        let discovery = served.node_key(&served.discovery_key);
        let mut current: Option<(Vec<u8>, Option<StoredRrset>, Option<StoredRrset>)> = None;
        let mut chunk = String::new();
        let flush = |node: Vec<u8>,
                     txt: Option<StoredRrset>,
                     svcb: Option<StoredRrset>,
                     chunk: &mut String|
         -> Option<()> {
            let label = labels_from_name_key(&node)?.into_iter().next()?;
            let record = IdentifierRecord {
                identifier: format!("hash:{}", String::from_utf8_lossy(&label)),
                owner: String::new(),
                mappings: mappings_from_rdatas(
                    svcb.iter().flat_map(|s| s.rdatas()),
                    txt.iter().flat_map(|t| t.rdatas()),
                ),
            };
            chunk.push_str(&serde_json::to_string(&record).ok()?);
            chunk.push('\n');
            Some(())
        };
        for item in self.catalog.store().scan(&discovery) {
            let (key, stored) = item?;
            let (node, record_type) = (key.name_key(), key.record_type());
            if !served.is_identifier_node(node) {
                continue;
            }
            if current
                .as_ref()
                .is_some_and(|(n, _, _)| n.as_slice() != node)
            {
                if let Some((n, t, s)) = current.take() {
                    flush(n, t, s, &mut chunk);
                }
                if chunk.len() > 64 << 10 && !send(std::mem::take(&mut chunk)) {
                    return Ok(());
                }
            }
            let entry = current.get_or_insert_with(|| (node.to_vec(), None, None));
            match record_type {
                rtype::TXT => entry.1 = Some(stored),
                rtype::SVCB => entry.2 = Some(stored),
                _ => {}
            }
        }
        if let Some((n, t, s)) = current.take() {
            flush(n, t, s, &mut chunk);
        }
        // Then the records written through the rrsets API, so an export
        // holds everything a re-import needs (the zone file has the rest).
        for record in self.admin_rrsets(&served)? {
            let line = serde_json::json!({ "rrset": record });
            chunk.push_str(&line.to_string());
            chunk.push('\n');
            if chunk.len() > 64 << 10 && !send(std::mem::take(&mut chunk)) {
                return Ok(());
            }
        }
        if !chunk.is_empty() {
            send(chunk);
        }
        Ok(())
    }

    /// The RRsets written through the rrsets API (outside the discovery
    /// subtree), in canonical order; the identifiers are not read.
    fn admin_rrsets(&self, zone: &ServedZone) -> Result<Vec<RrsetRecord>, AdminError> {
        let whole_zone = zone.node_key(&[]);
        let discovery = zone.node_key(&zone.discovery_key);
        let mut records = Vec::new();
        for item in self.catalog.store().scan_outside(&whole_zone, &discovery) {
            let (key, stored) = item?;
            if stored.owner() != RrsetOwner::Admin {
                continue;
            }
            let Some(labels) = labels_from_name_key(key.name_key()) else {
                continue;
            };
            let owner = Name::from_labels(labels)
                .map_err(|e| AdminError::new(ErrorKind::Internal, e.to_string()))?;
            records.push(rrset_record(
                &owner,
                RecordType::from(key.record_type()),
                &stored,
            ));
        }
        Ok(records)
    }

    /// Every RRset of a zone written through the rrsets API.
    pub fn list_rrsets(&self, zone: &str) -> Result<Vec<RrsetRecord>, AdminError> {
        let served = self.zone(zone)?;
        self.admin_rrsets(&served)
    }

    fn rrset_target(
        &self,
        zone: &ServedZone,
        name: &str,
        record_type: &str,
    ) -> Result<(Name, Vec<u8>, RecordType), AdminError> {
        // "api.example.test" in zone example.test could mean the name
        // itself or api.example.test.example.test: refuse to guess.
        let origin = zone.origin.to_ascii();
        let origin = origin.trim_end_matches('.').to_ascii_lowercase();
        let lower = name.to_ascii_lowercase();
        if !name.ends_with('.') && (lower == origin || lower.ends_with(&format!(".{origin}"))) {
            return Err(AdminError::new(
                ErrorKind::BadRequest,
                format!(
                    "the name '{name}' is ambiguous: write it absolute with a final dot ('{name}.') or relative to {origin}. without the zone's name"
                ),
            ));
        }
        let owner = parse_ascii_name(name, &zone.origin)
            .map_err(|e| AdminError::new(ErrorKind::BadRequest, e))?;
        if !zone.origin.zone_of(&owner) {
            return Err(AdminError::new(
                ErrorKind::BadRequest,
                format!("'{owner}' is not in zone {}", zone.origin),
            ));
        }
        let record_type =
            RecordType::from_str(&record_type.to_ascii_uppercase()).map_err(|_| {
                AdminError::new(
                    ErrorKind::BadRequest,
                    format!("unknown record type '{record_type}'"),
                )
            })?;
        if matches!(record_type, RecordType::SOA) {
            return Err(AdminError::new(
                ErrorKind::Conflict,
                "the SOA is managed by the server (its serial moves on every change)",
            ));
        }
        zone_rules::check_storable(u16::from(record_type), || record_type.to_string())
            .map_err(|e| AdminError::new(ErrorKind::BadRequest, e.to_string()))?;
        let node = name_key(&owner);
        if zone.in_discovery_tree(&node) {
            return Err(AdminError::new(
                ErrorKind::Conflict,
                format!(
                    "names under {}.{} are managed through the identifiers API",
                    zone.discovery.label, zone.origin
                ),
            ));
        }
        Ok((owner, node, record_type))
    }

    pub fn get_rrset(
        &self,
        zone: &str,
        name: &str,
        record_type: &str,
    ) -> Result<RrsetRecord, AdminError> {
        let served = self.zone(zone)?;
        let (owner, node, record_type) =
            self.rrset_target(&served, name, record_type).or_else(|e| {
                // Reading the SOA is fine; only writing it is not.
                if record_type.eq_ignore_ascii_case("SOA") {
                    let owner = parse_ascii_name(name, &served.origin)
                        .map_err(|e| AdminError::new(ErrorKind::BadRequest, e))?;
                    Ok((owner.clone(), name_key(&owner), RecordType::SOA))
                } else {
                    Err(e)
                }
            })?;
        let stored = self
            .stored(&served.rrset_key(&node, u16::from(record_type)))?
            .ok_or_else(|| {
                AdminError::new(
                    ErrorKind::NotFound,
                    format!("no {record_type} RRset at {owner}"),
                )
            })?;
        Ok(rrset_record(&owner, record_type, &stored))
    }

    pub async fn put_rrset(
        &self,
        zone: &str,
        name: &str,
        record_type: &str,
        body: &PutRrset,
    ) -> Result<WriteResult, AdminError> {
        let served = self.zone(zone)?;
        let (owner, node, record_type) = self.rrset_target(&served, name, record_type)?;
        if body.rdata.is_empty() {
            return Err(AdminError::new(
                ErrorKind::BadRequest,
                "rdata is empty; use DELETE to remove an RRset",
            ));
        }
        zone_rules::check_ttl(body.ttl)
            .map_err(|e| AdminError::new(ErrorKind::BadRequest, e.to_string()))?;
        let mut rdatas: Vec<Vec<u8>> = Vec::with_capacity(body.rdata.len());
        for (index, text) in body.rdata.iter().enumerate() {
            let wire =
                rdata_wire_from_text(&owner, record_type, text, &served.origin).map_err(|e| {
                    AdminError::new(ErrorKind::BadRequest, format!("rdata {index}: {e}"))
                })?;
            if !rdatas.contains(&wire) {
                rdatas.push(wire);
            }
        }
        let bytes = crate::mapping::rrset_response_bytes(&rdatas);
        if bytes > crate::mapping::MAX_RRSET_RESPONSE_BYTES {
            return Err(AdminError::new(
                ErrorKind::BadRequest,
                format!(
                    "the RRset takes {bytes} octets in a response; at most {} fit in one DNS message over TCP",
                    crate::mapping::MAX_RRSET_RESPONSE_BYTES
                ),
            ));
        }
        zone_rules::check_rrset_size(u16::from(record_type), rdatas.len(), || {
            record_type.to_string()
        })
        .map_err(|e| AdminError::new(ErrorKind::BadRequest, e.to_string()))?;
        if record_type == RecordType::NS && node == served.origin_key {
            return Err(AdminError::new(
                ErrorKind::Conflict,
                "the apex NS RRset belongs to the zone file",
            ));
        }
        let key = served.rrset_key(&node, u16::from(record_type));
        let value = encode_rrset(RrsetOwner::Admin, body.ttl, &rdatas);
        let serial = self
            .commit(&served.origin, |zone| {
                self.check_rrset_writable(zone, &node, u16::from(record_type))?;
                Ok::<_, AdminError>(vec![RrsetWrite {
                    key,
                    value: Some(value),
                }])
            })
            .await?;
        Ok(WriteResult {
            serial,
            applied: 1,
            identifier: None,
        })
    }

    pub async fn delete_rrset(
        &self,
        zone: &str,
        name: &str,
        record_type: &str,
    ) -> Result<WriteResult, AdminError> {
        let served = self.zone(zone)?;
        let (owner, node, record_type) = self.rrset_target(&served, name, record_type)?;
        let key = served.rrset_key(&node, u16::from(record_type));
        let serial = self
            .commit(&served.origin, |_| {
                let stored = self.stored(&key)?.ok_or_else(|| {
                    AdminError::new(
                        ErrorKind::NotFound,
                        format!("no {record_type} RRset at {owner}"),
                    )
                })?;
                if stored.owner() != RrsetOwner::Admin {
                    return Err(AdminError::new(
                        ErrorKind::Conflict,
                        format!(
                            "the {record_type} RRset at {owner} belongs to the zone file; edit the zone file"
                        ),
                    ));
                }
                Ok(vec![RrsetWrite { key, value: None }])
            })
            .await?;
        Ok(WriteResult {
            serial,
            applied: 1,
            identifier: None,
        })
    }

    /// The zone file's RRsets are not the API's to change; what may share a
    /// name and what may sit below a cut or a DNAME are [`zone_rules`]'s,
    /// the same rules the zone-file loader applies.
    fn check_rrset_writable(
        &self,
        zone: &ServedZone,
        node: &[u8],
        record_type: u16,
    ) -> Result<(), AdminError> {
        if let Some(stored) = self.stored(&zone.rrset_key(node, record_type))?
            && stored.owner() != RrsetOwner::Admin
        {
            return Err(AdminError::new(
                ErrorKind::Conflict,
                "this RRset belongs to the zone file; edit the zone file",
            ));
        }
        let type_name = |code: u16| RecordType::from(code).to_string();
        let conflict =
            |e: zone_rules::RuleViolation| AdminError::new(ErrorKind::Conflict, e.to_string());
        let prefix = zone.node_key(node);
        let present = self.catalog.store().node_types(&prefix, 64)?;
        zone_rules::check_node(
            record_type,
            &present,
            node == zone.origin_key.as_slice(),
            type_name,
        )
        .map_err(conflict)?;
        zone.shape
            .check_placement(&zone.origin_key, node, record_type, || {
                type_name(record_type)
            })
            .map_err(conflict)?;
        if record_type == zone_rules::DNAME && self.catalog.store().has_descendants(&prefix)? {
            return Err(conflict(zone_rules::RuleViolation::DnameOverDescendants));
        }
        Ok(())
    }
}

/// Presentation form of one stored RDATA (TXT strings quoted and escaped, as
/// hickory's TXT `Display` is lossy).
pub fn presentation(record_type: RecordType, rdata: &[u8]) -> String {
    if record_type == RecordType::TXT {
        return crate::mapping::txt_rdata_strings(rdata)
            .iter()
            .map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect::<Vec<_>>()
            .join(" ");
    }
    if record_type == RecordType::DNAME
        && let Some(target) = crate::wire::name_from_wire(rdata)
    {
        // hickory-proto 0.26 reads DNAME as opaque data.
        return target.to_ascii();
    }
    let mut decoder = BinDecoder::new(rdata);
    // Anything hickory reads as opaque (its Display would be base64) is
    // written in RFC 3597 form, which the zone-file parser reads back.
    match RData::read(&mut decoder, record_type, Restrict::new(rdata.len() as u16)) {
        Ok(RData::TXT(TXT { .. })) | Ok(RData::Unknown { .. }) | Ok(RData::NULL(_)) | Err(_) => {
            format!(
                "\\# {} {}",
                rdata.len(),
                data_encoding::HEXUPPER.encode(rdata)
            )
        }
        Ok(parsed) => parsed.to_string(),
    }
}

/// An RRset as the rrsets API shows it: presentation RDATA and where it came from.
fn rrset_record(owner: &Name, record_type: RecordType, stored: &StoredRrset) -> RrsetRecord {
    RrsetRecord {
        name: owner.to_ascii(),
        record_type: record_type.to_string(),
        ttl: stored.ttl(),
        rdata: stored
            .rdatas()
            .map(|rdata| presentation(record_type, rdata))
            .collect(),
        source: match stored.owner() {
            RrsetOwner::Admin => "admin".into(),
            _ => "zone-file".into(),
        },
    }
}
