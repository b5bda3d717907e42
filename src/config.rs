//! Configuration: defaults, then the TOML file, then command-line flags.
//!
//! The file format is a versioned serde type with kebab-case keys; unknown
//! keys are rejected, and every error names the file and, for syntax and
//! type errors, the line. The result is one validated, immutable [`Config`].
//! `deploy/mimidns.toml` documents every key with its default. This module
//! reads files and nothing else: it does not bind sockets or open the store.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
}

/// The configuration file, as written (every field optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConfigFile {
    /// Format version; only 1 exists.
    pub version: Option<u32>,
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub tcp: TcpSection,
    #[serde(default)]
    pub store: StoreSection,
    #[serde(default)]
    pub log: LogSection,
    #[serde(default)]
    pub discovery: DiscoverySection,
    #[serde(default)]
    pub admin: AdminSection,
    #[serde(default)]
    pub rate_limit: RateLimitSection,
    #[serde(default)]
    pub metrics: MetricsSection,
    /// `[[tsig-key]]`: shared secrets for zone transfers and NOTIFY.
    #[serde(default)]
    pub tsig_key: Vec<TsigKeySection>,
    #[serde(default)]
    pub transfer: TransferSection,
    #[serde(default)]
    pub dnssec: DnssecSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DnssecSection {
    /// Where zone keys are kept (default `<data-dir>/keys`).
    pub key_dir: Option<PathBuf>,
    /// Zones signed online (each needs a key: `mimidns keys generate`).
    #[serde(default)]
    pub zones: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TsigKeySection {
    pub name: String,
    pub algorithm: Option<String>,
    /// The secret in base64, in this file (which must then be mode 0600).
    pub secret: Option<String>,
    /// A file (mode 0600) holding the base64 secret.
    pub secret_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TransferSection {
    /// Changesets each zone's journal keeps for IXFR.
    pub journal_max_changes: Option<u64>,
    /// Bytes each zone's journal may take.
    pub journal_max_bytes: Option<u64>,
    /// `[[transfer.zone]]`: per-zone transfer and NOTIFY settings.
    #[serde(default)]
    pub zone: Vec<TransferZoneSection>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TransferZoneSection {
    pub origin: String,
    #[serde(default)]
    pub allow_transfer: Vec<String>,
    #[serde(default)]
    pub notify: Vec<SocketAddr>,
    pub notify_key: Option<String>,
    /// This server is a secondary for the zone: its primary's address.
    pub primary: Option<SocketAddr>,
    /// The key transfers from the primary are signed with.
    pub primary_key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RateLimitSection {
    pub ipv4_prefix: Option<u8>,
    pub ipv6_prefix: Option<u8>,
    pub exempt: Option<Vec<String>>,
    pub table_size: Option<usize>,
    pub responses_per_second: Option<u32>,
    pub slip: Option<u32>,
    pub negative_per_second: Option<u32>,
    pub negative_burst: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MetricsSection {
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DiscoverySection {
    pub label: Option<String>,
    pub ttl: Option<u32>,
    pub max_mappings: Option<usize>,
    /// Per-zone overrides: `[[discovery.zone]] origin = "…"`.
    #[serde(default)]
    pub zone: Vec<DiscoveryZone>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DiscoveryZone {
    pub origin: String,
    pub label: Option<String>,
    pub ttl: Option<u32>,
    pub max_mappings: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AdminSection {
    pub socket: Option<PathBuf>,
    pub tcp_listen: Option<SocketAddr>,
    pub token_file: Option<PathBuf>,
    pub allow_non_loopback: Option<bool>,
    pub max_body_kb: Option<usize>,
    pub max_connections: Option<usize>,
    pub header_timeout_secs: Option<u64>,
    pub body_timeout_secs: Option<u64>,
    pub socket_group: Option<String>,
}

/// How identifiers are published in one zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoverySettings {
    /// The label under the apex that holds hashed names (`_mimi`).
    pub label: String,
    /// TTL of mapping records.
    pub ttl: u32,
    /// Most mappings per identifier.
    pub max_mappings: usize,
}

impl Default for DiscoverySettings {
    fn default() -> Self {
        Self {
            label: "_mimi".into(),
            ttl: 300,
            max_mappings: 16,
        }
    }
}

/// Discovery settings for every zone: defaults plus per-zone overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiscoveryPolicy {
    pub defaults: DiscoverySettings,
    /// Keyed by lower-case origin without the trailing dot.
    pub zones: std::collections::BTreeMap<String, DiscoverySettings>,
}

impl DiscoveryPolicy {
    /// Per-zone overrides whose origin is none of `served` (presentation
    /// names, any case, trailing dot or not).
    pub fn unknown_origins(&self, served: &[String]) -> Vec<String> {
        let served: Vec<String> = served
            .iter()
            .map(|o| o.trim_end_matches('.').to_ascii_lowercase())
            .collect();
        self.zones
            .keys()
            .filter(|origin| !served.contains(origin))
            .cloned()
            .collect()
    }

    pub fn for_zone(&self, origin: &str) -> DiscoverySettings {
        let key = origin.trim_end_matches('.').to_ascii_lowercase();
        self.zones
            .get(&key)
            .cloned()
            .unwrap_or_else(|| self.defaults.clone())
    }
}

/// The admin API's listeners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSettings {
    /// Unix socket; `None` means `<data-dir>/admin.sock`.
    pub socket: Option<PathBuf>,
    pub tcp_listen: Option<SocketAddr>,
    pub token_file: Option<PathBuf>,
    /// Group that may use the Unix socket (mode 0660); `None`: owner only (0600).
    pub socket_group: Option<String>,
    pub max_body_bytes: usize,
    /// How slow clients are cut off, on each admin listener.
    pub limits: crate::admin::listener::ConnectionLimits,
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            socket: None,
            tcp_listen: None,
            token_file: None,
            socket_group: None,
            max_body_bytes: 8 << 20,
            limits: crate::admin::listener::ConnectionLimits::default(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServerSection {
    pub listen: Option<Vec<SocketAddr>>,
    pub zones_dir: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub udp_workers: Option<usize>,
    pub identity: Option<String>,
    pub nsid: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TcpSection {
    pub max_connections: Option<usize>,
    pub idle_timeout_secs: Option<u64>,
    pub max_connections_per_prefix: Option<usize>,
    pub max_queries_per_connection: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StoreSection {
    pub cache_mb: Option<u64>,
    pub answer_cache_entries: Option<usize>,
    pub memory_index: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LogSection {
    pub level: Option<String>,
    pub queries: Option<bool>,
    pub format: Option<LogFormat>,
}

/// How log lines are written.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line (tracing-subscriber's JSON layer).
    Json,
}

/// Values given on the command line; they override the file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Overrides {
    pub listen: Vec<SocketAddr>,
    pub zones_dir: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
}

/// The validated configuration the server runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Each address is served over UDP and TCP.
    pub listen: Vec<SocketAddr>,
    pub zones_dir: PathBuf,
    pub data_dir: PathBuf,
    /// Threads receiving on each UDP socket.
    pub udp_workers: usize,
    pub tcp_max_connections: usize,
    pub tcp_idle_timeout: Duration,
    pub tcp_max_per_prefix: usize,
    pub tcp_max_queries_per_connection: u64,
    pub store_cache_bytes: u64,
    /// Responses kept ready for repeated questions (0: off).
    pub answer_cache_entries: usize,
    /// Serve reads from an in-memory copy of the store, built after start-up.
    pub memory_index: bool,
    pub log_level: String,
    /// Log every query at info level (off: queries are logged at debug only).
    pub log_queries: bool,
    pub log_format: LogFormat,
    pub discovery: DiscoveryPolicy,
    pub admin: AdminSettings,
    /// RRL and the negative-answer budget (discovery labels filled in from `discovery`).
    pub limits: crate::rate_limit::LimitSettings,
    /// `server.identity`: CH TXT `id.server.` / `hostname.bind.`.
    pub identity: Option<String>,
    /// `server.nsid`, decoded.
    pub nsid: Option<Vec<u8>>,
    /// Where the Prometheus endpoint listens (off when `None`).
    pub metrics_listen: Option<SocketAddr>,
    /// TSIG keys by name.
    pub tsig_keys: crate::tsig::TsigKeys,
    /// Who may transfer which zone, and whom to NOTIFY.
    pub transfer: crate::transfer::TransferPolicy,
    /// How much journal (IXFR history) each zone keeps.
    pub journal_limits: crate::store::journal::JournalLimits,
    /// Zone keys' directory; `None` means `<data-dir>/keys`.
    pub key_dir: Option<PathBuf>,
    /// Zones signed online (lower case, no final dot).
    pub signed_zones: Vec<String>,
    /// Where this configuration came from, to read it again on reload.
    pub source: ConfigSource,
}

/// The file and flags a configuration was built from.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ConfigSource {
    pub file: Option<PathBuf>,
    pub overrides: Overrides,
}

impl ConfigSource {
    /// Builds the configuration again from the same file and flags.
    pub fn load(&self) -> Result<Config, ConfigError> {
        Config::load(self.file.as_deref(), &self.overrides)
    }
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:5353";

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: vec![DEFAULT_LISTEN.parse().expect("constant address parses")],
            zones_dir: PathBuf::from("zones"),
            data_dir: PathBuf::from("data"),
            udp_workers: 2,
            tcp_max_connections: 256,
            tcp_idle_timeout: Duration::from_secs(10),
            tcp_max_per_prefix: 64,
            tcp_max_queries_per_connection: 0,
            store_cache_bytes: 256 << 20,
            answer_cache_entries: crate::catalog::DEFAULT_CACHE_ENTRIES,
            memory_index: true,
            log_level: "info".into(),
            log_queries: false,
            log_format: LogFormat::Text,
            discovery: DiscoveryPolicy::default(),
            admin: AdminSettings::default(),
            limits: crate::rate_limit::LimitSettings::default(),
            identity: None,
            nsid: None,
            metrics_listen: None,
            tsig_keys: crate::tsig::TsigKeys::default(),
            transfer: crate::transfer::TransferPolicy::default(),
            journal_limits: crate::store::journal::JournalLimits::default(),
            key_dir: None,
            signed_zones: Vec::new(),
            source: ConfigSource::default(),
        }
    }
}

impl Config {
    /// Builds the configuration: defaults < `path` (if any) < `overrides`.
    pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let file = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                toml::from_str::<ConfigFile>(&text).map_err(|e| ConfigError::Parse {
                    path: path.to_path_buf(),
                    message: e.to_string().trim_end().replace('\n', "\n  "),
                })?
            }
            None => ConfigFile::default(),
        };
        let origin = path.map_or_else(|| "command line".to_string(), |p| p.display().to_string());
        let mut config = Self::from_file(file, overrides, &origin)?;
        config.source = ConfigSource {
            file: path.map(Path::to_path_buf),
            overrides: overrides.clone(),
        };
        Ok(config)
    }

    fn from_file(
        file: ConfigFile,
        overrides: &Overrides,
        origin: &str,
    ) -> Result<Self, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            origin: origin.to_string(),
            message,
        };
        if let Some(version) = file.version
            && version != 1
        {
            return Err(invalid(format!(
                "version = {version} is not supported; this build reads version 1"
            )));
        }
        let defaults = Self::default();
        let mut config = Self {
            listen: file.server.listen.unwrap_or(defaults.listen),
            zones_dir: file.server.zones_dir.unwrap_or(defaults.zones_dir),
            data_dir: file.server.data_dir.unwrap_or(defaults.data_dir),
            udp_workers: file.server.udp_workers.unwrap_or(defaults.udp_workers),
            tcp_max_connections: file
                .tcp
                .max_connections
                .unwrap_or(defaults.tcp_max_connections),
            tcp_idle_timeout: file
                .tcp
                .idle_timeout_secs
                .map_or(defaults.tcp_idle_timeout, Duration::from_secs),
            tcp_max_per_prefix: file
                .tcp
                .max_connections_per_prefix
                .unwrap_or(defaults.tcp_max_per_prefix),
            tcp_max_queries_per_connection: file
                .tcp
                .max_queries_per_connection
                .unwrap_or(defaults.tcp_max_queries_per_connection),
            store_cache_bytes: file
                .store
                .cache_mb
                .map_or(defaults.store_cache_bytes, |mb| mb << 20),
            answer_cache_entries: file
                .store
                .answer_cache_entries
                .unwrap_or(defaults.answer_cache_entries),
            memory_index: file.store.memory_index.unwrap_or(defaults.memory_index),
            log_level: file.log.level.unwrap_or(defaults.log_level),
            log_queries: file.log.queries.unwrap_or(defaults.log_queries),
            log_format: file.log.format.unwrap_or_default(),
            discovery: discovery_policy(&file.discovery).map_err(&invalid)?,
            limits: limit_settings(&file.rate_limit).map_err(&invalid)?,
            identity: file.server.identity.clone(),
            nsid: file
                .server
                .nsid
                .as_deref()
                .map(crate::server_identity::parse_nsid)
                .transpose()
                .map_err(&invalid)?,
            metrics_listen: file.metrics.listen,
            tsig_keys: tsig_keys(&file.tsig_key, origin).map_err(&invalid)?,
            transfer: crate::transfer::TransferPolicy::default(),
            journal_limits: crate::store::journal::JournalLimits {
                max_changes: file
                    .transfer
                    .journal_max_changes
                    .unwrap_or(defaults.journal_limits.max_changes),
                max_bytes: file
                    .transfer
                    .journal_max_bytes
                    .unwrap_or(defaults.journal_limits.max_bytes),
            },
            key_dir: file.dnssec.key_dir.clone(),
            signed_zones: file
                .dnssec
                .zones
                .iter()
                .map(|z| z.trim_end_matches('.').to_ascii_lowercase())
                .collect(),
            source: ConfigSource::default(),
            admin: AdminSettings {
                socket: file.admin.socket,
                tcp_listen: file.admin.tcp_listen,
                token_file: file.admin.token_file,
                socket_group: file.admin.socket_group,
                max_body_bytes: file
                    .admin
                    .max_body_kb
                    .map_or(defaults.admin.max_body_bytes, |kb| kb << 10),
                limits: crate::admin::listener::ConnectionLimits {
                    max_connections: file
                        .admin
                        .max_connections
                        .unwrap_or(defaults.admin.limits.max_connections),
                    header_timeout: file
                        .admin
                        .header_timeout_secs
                        .map_or(defaults.admin.limits.header_timeout, Duration::from_secs),
                    body_timeout: file
                        .admin
                        .body_timeout_secs
                        .map_or(defaults.admin.limits.body_timeout, Duration::from_secs),
                },
            },
        };
        if let Some(address) = config.admin.tcp_listen {
            if config.admin.token_file.is_none() {
                return Err(invalid(
                    "admin.tcp-listen needs admin.token-file (the bearer token)".into(),
                ));
            }
            if !address.ip().is_loopback() && !file.admin.allow_non_loopback.unwrap_or(false) {
                return Err(invalid(format!(
                    "admin.tcp-listen = {address} is not a loopback address; set admin.allow-non-loopback = true to allow it (plain HTTP)"
                )));
            }
        }
        let limits = &config.admin.limits;
        if limits.max_connections == 0
            || limits.header_timeout.is_zero()
            || limits.body_timeout.is_zero()
        {
            return Err(invalid(
                "admin.max-connections, admin.header-timeout-secs and admin.body-timeout-secs must be at least 1".into(),
            ));
        }
        if config.admin.max_body_bytes < 1024 {
            return Err(invalid("admin.max-body-kb must be at least 1".into()));
        }
        if !overrides.listen.is_empty() {
            config.listen = overrides.listen.clone();
        }
        if let Some(dir) = &overrides.zones_dir {
            config.zones_dir = dir.clone();
        }
        if let Some(dir) = &overrides.data_dir {
            config.data_dir = dir.clone();
        }
        if config.listen.is_empty() {
            return Err(invalid(
                "server.listen is empty; give at least one address".into(),
            ));
        }
        if !(1..=64).contains(&config.udp_workers) {
            return Err(invalid(format!(
                "server.udp-workers = {} is out of range 1..=64",
                config.udp_workers
            )));
        }
        if config.tcp_max_connections == 0 {
            return Err(invalid("tcp.max-connections must be at least 1".into()));
        }
        config.transfer = transfer_policy(&file.transfer, &config.tsig_keys).map_err(&invalid)?;
        if config.journal_limits.max_changes == 0 || config.journal_limits.max_bytes < 4096 {
            return Err(invalid(
                "transfer.journal-max-changes must be at least 1 and transfer.journal-max-bytes at least 4096".into(),
            ));
        }
        if config.tcp_max_per_prefix == 0 {
            return Err(invalid(
                "tcp.max-connections-per-prefix must be at least 1".into(),
            ));
        }
        if let Some(identity) = &config.identity
            && (identity.is_empty() || identity.len() > 255)
        {
            return Err(invalid(
                "server.identity must be 1 to 255 octets (one TXT string)".into(),
            ));
        }
        // Every discovery label is a place where identifiers live.
        let mut labels: Vec<Vec<u8>> = std::iter::once(&config.discovery.defaults)
            .chain(config.discovery.zones.values())
            .map(|settings| settings.label.to_ascii_lowercase().into_bytes())
            .collect();
        labels.sort();
        labels.dedup();
        config.limits.discovery_labels = labels;
        if config.tcp_idle_timeout.is_zero() {
            return Err(invalid("tcp.idle-timeout-secs must be at least 1".into()));
        }
        if config.store_cache_bytes < 1 << 20 {
            return Err(invalid("store.cache-mb must be at least 1".into()));
        }
        if tracing_subscriber::EnvFilter::try_new(&config.log_level).is_err() {
            return Err(invalid(format!(
                "log.level = '{}' is not a valid level or filter",
                config.log_level
            )));
        }
        Ok(config)
    }
}

impl Config {
    /// The admin socket path: configured, or `<data-dir>/admin.sock`.
    pub fn key_dir(&self) -> PathBuf {
        self.key_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("keys"))
    }

    pub fn admin_socket(&self) -> PathBuf {
        self.admin
            .socket
            .clone()
            .unwrap_or_else(|| self.data_dir.join("admin.sock"))
    }
}

/// Whether a file that holds secrets is readable by anyone but its owner.
fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
}

fn tsig_keys(sections: &[TsigKeySection], origin: &str) -> Result<crate::tsig::TsigKeys, String> {
    let mut keys = Vec::new();
    for section in sections {
        let name = &section.name;
        let secret = match (&section.secret, &section.secret_file) {
            (Some(secret), None) => {
                let file = Path::new(origin);
                if file.exists() && readable_by_others(file) {
                    return Err(format!(
                        "tsig-key '{name}': this file holds a secret and is readable by group or others; chmod 600 it, or use secret-file"
                    ));
                }
                secret.clone()
            }
            (None, Some(path)) => {
                if readable_by_others(path) {
                    return Err(format!(
                        "tsig-key '{name}': {} is readable by group or others; chmod 600 it",
                        path.display()
                    ));
                }
                std::fs::read_to_string(path)
                    .map_err(|e| format!("tsig-key '{name}': {}: {e}", path.display()))?
            }
            _ => {
                return Err(format!(
                    "tsig-key '{name}': give exactly one of secret and secret-file"
                ));
            }
        };
        let algorithm = section.algorithm.as_deref().unwrap_or("hmac-sha256");
        let key = crate::tsig::TsigKey::new(name, algorithm, &secret).map_err(|e| e.to_string())?;
        if keys
            .iter()
            .any(|k: &crate::tsig::TsigKey| k.name == key.name)
        {
            return Err(format!("tsig-key '{name}' is defined twice"));
        }
        keys.push(key);
    }
    Ok(crate::tsig::TsigKeys::new(keys))
}

fn transfer_policy(
    section: &TransferSection,
    keys: &crate::tsig::TsigKeys,
) -> Result<crate::transfer::TransferPolicy, String> {
    let mut policy = crate::transfer::TransferPolicy::default();
    for zone in &section.zone {
        let origin = zone.origin.trim_end_matches('.').to_ascii_lowercase();
        let what = format!("[[transfer.zone]] origin = \"{origin}\"");
        let mut allow = Vec::new();
        for entry in &zone.allow_transfer {
            let acl = crate::transfer::TransferAcl::parse(entry)
                .map_err(|e| format!("{what}: allow-transfer {e}"))?;
            if let Some(key) = &acl.key
                && keys.get(key).is_none()
            {
                return Err(format!(
                    "{what}: allow-transfer names key '{key}', which no [[tsig-key]] defines"
                ));
            }
            allow.push(acl);
        }
        if let Some(key) = &zone.notify_key
            && keys.get(key).is_none()
        {
            return Err(format!(
                "{what}: notify-key '{key}' is not defined by any [[tsig-key]]"
            ));
        }
        if let Some(key) = &zone.primary_key
            && keys.get(key).is_none()
        {
            return Err(format!(
                "{what}: primary-key '{key}' is not defined by any [[tsig-key]]"
            ));
        }
        if zone.primary_key.is_some() && zone.primary.is_none() {
            return Err(format!("{what}: primary-key without primary"));
        }
        let settings = crate::transfer::ZoneTransfer {
            allow,
            primary: zone.primary,
            primary_key: zone
                .primary_key
                .as_ref()
                .map(|k| k.trim_end_matches('.').to_ascii_lowercase()),
            notify: zone.notify.clone(),
            notify_key: zone
                .notify_key
                .as_ref()
                .map(|k| k.trim_end_matches('.').to_ascii_lowercase()),
        };
        if policy.zones.insert(origin.clone(), settings).is_some() {
            return Err(format!("{what} appears twice"));
        }
    }
    Ok(policy)
}

fn limit_settings(section: &RateLimitSection) -> Result<crate::rate_limit::LimitSettings, String> {
    let defaults = crate::rate_limit::LimitSettings::default();
    let mut exempt = Vec::new();
    for text in section.exempt.iter().flatten() {
        // A bare address is a prefix of its full length.
        let net = text
            .parse::<ipnet::IpNet>()
            .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| {
                format!("rate-limit.exempt: '{text}' is not an address or a prefix (CIDR)")
            })?;
        exempt.push(net.trunc());
    }
    let settings = crate::rate_limit::LimitSettings {
        ipv4_prefix: section.ipv4_prefix.unwrap_or(defaults.ipv4_prefix),
        ipv6_prefix: section.ipv6_prefix.unwrap_or(defaults.ipv6_prefix),
        exempt,
        table_size: section.table_size.unwrap_or(defaults.table_size),
        rrl_responses_per_second: section
            .responses_per_second
            .unwrap_or(defaults.rrl_responses_per_second),
        rrl_slip: section.slip.unwrap_or(defaults.rrl_slip),
        negative_per_second: section
            .negative_per_second
            .unwrap_or(defaults.negative_per_second),
        negative_burst: section.negative_burst.unwrap_or(defaults.negative_burst),
        discovery_labels: defaults.discovery_labels,
    };
    if !(8..=32).contains(&settings.ipv4_prefix) {
        return Err(format!(
            "rate-limit.ipv4-prefix = {} is out of range 8..=32",
            settings.ipv4_prefix
        ));
    }
    if !(16..=128).contains(&settings.ipv6_prefix) {
        return Err(format!(
            "rate-limit.ipv6-prefix = {} is out of range 16..=128",
            settings.ipv6_prefix
        ));
    }
    if !(1024..=1 << 24).contains(&settings.table_size) {
        return Err(format!(
            "rate-limit.table-size = {} is out of range 1024..=16777216",
            settings.table_size
        ));
    }
    if settings.rrl_slip > 100 {
        return Err(format!(
            "rate-limit.slip = {} is out of range 0..=100",
            settings.rrl_slip
        ));
    }
    if settings.negative_per_second > 0 && settings.negative_burst == 0 {
        return Err("rate-limit.negative-burst must be at least 1 while the budget is on".into());
    }
    Ok(settings)
}

fn discovery_settings(
    base: &DiscoverySettings,
    label: &Option<String>,
    ttl: Option<u32>,
    max: Option<usize>,
    what: &str,
) -> Result<DiscoverySettings, String> {
    let settings = DiscoverySettings {
        label: label.clone().unwrap_or_else(|| base.label.clone()),
        ttl: ttl.unwrap_or(base.ttl),
        max_mappings: max.unwrap_or(base.max_mappings),
    };
    let label_ok = !settings.label.is_empty()
        && settings.label.len() <= 63
        && settings
            .label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !label_ok {
        return Err(format!(
            "{what}label = '{}' must be one DNS label of letters, digits, '-' or '_'",
            settings.label
        ));
    }
    // RFC 2181 §8: TTLs are at most 2^31 - 1.
    if settings.ttl > i32::MAX as u32 {
        return Err(format!(
            "{what}ttl = {} is above 2147483647 (RFC 2181 §8)",
            settings.ttl
        ));
    }
    if !(1..=64).contains(&settings.max_mappings) {
        return Err(format!(
            "{what}max-mappings = {} is out of range 1..=64",
            settings.max_mappings
        ));
    }
    Ok(settings)
}

fn discovery_policy(section: &DiscoverySection) -> Result<DiscoveryPolicy, String> {
    let defaults = discovery_settings(
        &DiscoverySettings::default(),
        &section.label,
        section.ttl,
        section.max_mappings,
        "discovery.",
    )?;
    let mut zones = std::collections::BTreeMap::new();
    for zone in &section.zone {
        let origin = zone.origin.trim_end_matches('.').to_ascii_lowercase();
        if origin.is_empty() {
            return Err("discovery.zone.origin is empty".into());
        }
        let settings = discovery_settings(
            &defaults,
            &zone.label,
            zone.ttl,
            zone.max_mappings,
            &format!("discovery.zone[{origin}]."),
        )?;
        if zones.insert(origin.clone(), settings).is_some() {
            return Err(format!("discovery.zone for {origin} is given twice"));
        }
    }
    Ok(DiscoveryPolicy { defaults, zones })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_and_admin_sections() {
        let text = "[discovery]\nttl = 60\n[[discovery.zone]]\norigin = \"Example.Test.\"\nlabel = \"_disc\"\n[admin]\nmax-body-kb = 16\n";
        let config = load_text(text, &Overrides::default()).expect("valid");
        let zone = config.discovery.for_zone("example.test.");
        assert_eq!(
            (zone.label.as_str(), zone.ttl, zone.max_mappings),
            ("_disc", 60, 16)
        );
        assert_eq!(config.discovery.for_zone("other.test").label, "_mimi");
        assert_eq!(config.admin.max_body_bytes, 16 << 10);
        assert_eq!(config.admin_socket(), PathBuf::from("data/admin.sock"));
        let bad = load_text("[discovery]\nlabel = \"a.b\"\n", &Overrides::default())
            .expect_err("bad label");
        assert!(bad.to_string().contains("one DNS label"), "{bad}");
        let tcp = load_text(
            "[admin]\ntcp-listen = \"127.0.0.1:8053\"\n",
            &Overrides::default(),
        )
        .expect_err("needs token");
        assert!(tcp.to_string().contains("token-file"), "{tcp}");
        let remote = load_text(
            "[admin]\ntcp-listen = \"192.0.2.1:8053\"\ntoken-file = \"/t\"\n",
            &Overrides::default(),
        )
        .expect_err("remote");
        assert!(remote.to_string().contains("loopback"), "{remote}");
    }

    fn load_text(text: &str, overrides: &Overrides) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("mimidns.toml");
        std::fs::write(&path, text).expect("write");
        Config::load(Some(&path), overrides)
    }

    #[test]
    fn no_file_gives_the_defaults() {
        assert_eq!(
            Config::load(None, &Overrides::default()).expect("defaults"),
            Config::default()
        );
    }

    #[test]
    fn file_then_flags_override_defaults() {
        let text = "version = 1\n[server]\nlisten = [\"127.0.0.1:53\"]\ndata-dir = \"/var/lib/x\"\n[tcp]\nmax-connections = 9\n";
        let flags = Overrides {
            listen: vec!["127.0.0.2:5300".parse().expect("addr")],
            ..Overrides::default()
        };
        let config = load_text(text, &flags).expect("valid");
        assert_eq!(config.listen, flags.listen);
        assert_eq!(config.data_dir, PathBuf::from("/var/lib/x"));
        assert_eq!(config.tcp_max_connections, 9);
        assert_eq!(config.zones_dir, PathBuf::from("zones"));
    }

    #[test]
    fn errors_name_the_file_line_and_key() {
        let unknown =
            load_text("[server]\nlisen = []\n", &Overrides::default()).expect_err("unknown key");
        let message = unknown.to_string();
        assert!(
            message.contains("mimidns.toml")
                && message.contains("line 2")
                && message.contains("lisen"),
            "{message}"
        );
        let typed = load_text("[tcp]\nmax-connections = \"many\"\n", &Overrides::default())
            .expect_err("type");
        assert!(typed.to_string().contains("line 2"), "{typed}");
        let range =
            load_text("[server]\nudp-workers = 0\n", &Overrides::default()).expect_err("range");
        assert!(range.to_string().contains("udp-workers"), "{range}");
        let version = load_text("version = 2\n", &Overrides::default()).expect_err("version");
        assert!(version.to_string().contains("version 1"), "{version}");
    }
}
