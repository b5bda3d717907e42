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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServerSection {
    pub listen: Option<Vec<SocketAddr>>,
    pub zones_dir: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub udp_workers: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TcpSection {
    pub max_connections: Option<usize>,
    pub idle_timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StoreSection {
    pub cache_mb: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LogSection {
    pub level: Option<String>,
    pub queries: Option<bool>,
}

/// Values given on the command line; they override the file.
#[derive(Debug, Default, Clone)]
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
    /// Tasks receiving on each UDP socket.
    pub udp_workers: usize,
    pub tcp_max_connections: usize,
    pub tcp_idle_timeout: Duration,
    pub store_cache_bytes: u64,
    pub log_level: String,
    /// Log every query at info level (off: queries are logged at debug only).
    pub log_queries: bool,
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
            store_cache_bytes: 256 << 20,
            log_level: "info".into(),
            log_queries: false,
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
        Self::from_file(file, overrides, &origin)
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
            store_cache_bytes: file
                .store
                .cache_mb
                .map_or(defaults.store_cache_bytes, |mb| mb << 20),
            log_level: file.log.level.unwrap_or(defaults.log_level),
            log_queries: file.log.queries.unwrap_or(defaults.log_queries),
        };
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

#[cfg(test)]
mod tests {
    use super::*;

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
