//! Live reload: reading the configuration and the zone files again while
//! serving, on SIGHUP or `mimidns admin reload`.
//!
//! It owns the decision of what a reload can change: the zone files and the
//! per-zone discovery settings are applied (through
//! [`Catalog::reload`]); settings that belong to sockets, the store or the
//! admin listeners are reported as needing a restart and left as they are.
//! A configuration that no longer parses changes nothing. It does not
//! touch sockets or the store itself.

use std::sync::Arc;

use serde::Serialize;
use thiserror::Error;
use tokio::sync::Mutex;
use tracing::{info, warn};

use crate::catalog::{Catalog, CatalogError, ZoneLoadReport};
use crate::config::{Config, ConfigError};

#[derive(Debug, Error)]
pub enum ReloadError {
    #[error("the configuration was not reloaded: {0}")]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

/// One zone after a reload.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ZoneReload {
    pub origin: String,
    pub serial: u32,
    /// Whether the zone is served (as before, when its file failed).
    pub served: bool,
    /// Whether the zone file's content changed and was applied.
    pub changed: bool,
    /// Why the zone file did not load: file:line and the problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl From<&ZoneLoadReport> for ZoneReload {
    fn from(report: &ZoneLoadReport) -> Self {
        Self {
            origin: report.origin.clone(),
            serial: report.serial,
            served: report.served,
            changed: report.file_changed,
            problem: report.problem.clone(),
        }
    }
}

/// What a reload did.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ReloadReport {
    pub zones: Vec<ZoneReload>,
    /// Settings that changed in the file but take effect only on restart.
    pub restart_needed: Vec<String>,
}

pub struct Reloader {
    catalog: Arc<Catalog>,
    /// The configuration in effect; reloads are serialized on it.
    running: Mutex<Config>,
}

impl Reloader {
    pub fn new(catalog: Arc<Catalog>, config: Config) -> Self {
        Self {
            catalog,
            running: Mutex::new(config),
        }
    }

    /// The zones directory in effect.
    pub async fn zones_dir(&self) -> std::path::PathBuf {
        self.running.lock().await.zones_dir.clone()
    }

    pub async fn reload(&self) -> Result<ReloadReport, ReloadError> {
        let mut running = self.running.lock().await;
        // Without a file the configuration came from defaults and flags,
        // which cannot change: only the zone files are read again.
        let fresh = match running.source.file {
            Some(_) => running.source.load()?,
            None => running.clone(),
        };
        let restart_needed = restart_needed(&running, &fresh);
        let reports = self
            .catalog
            .reload(&fresh.zones_dir, &fresh.discovery)
            .await?;
        let zones: Vec<ZoneReload> = reports.iter().map(ZoneReload::from).collect();
        for zone in &zones {
            match &zone.problem {
                Some(problem) => {
                    warn!(zone = %zone.origin, served = zone.served, "reload: {problem}")
                }
                None => {
                    info!(zone = %zone.origin, serial = zone.serial, changed = zone.changed, "reloaded")
                }
            }
        }
        for setting in &restart_needed {
            warn!(setting = %setting, "changed in the configuration; takes effect on restart");
        }
        // What a reload applies is now in effect; the rest stays as running.
        running.zones_dir = fresh.zones_dir;
        running.discovery = fresh.discovery;
        Ok(ReloadReport {
            zones,
            restart_needed,
        })
    }
}

/// Settings that differ between `running` and `fresh` and that only a
/// restart applies.
fn restart_needed(running: &Config, fresh: &Config) -> Vec<String> {
    let mut changed = Vec::new();
    let mut check = |name: &str, differs: bool| {
        if differs {
            changed.push(name.to_string());
        }
    };
    check("server.listen", running.listen != fresh.listen);
    check("server.data-dir", running.data_dir != fresh.data_dir);
    check(
        "server.udp-workers",
        running.udp_workers != fresh.udp_workers,
    );
    check(
        "tcp",
        running.tcp_max_connections != fresh.tcp_max_connections
            || running.tcp_idle_timeout != fresh.tcp_idle_timeout
            || running.tcp_max_per_prefix != fresh.tcp_max_per_prefix
            || running.tcp_max_queries_per_connection != fresh.tcp_max_queries_per_connection,
    );
    check(
        "server.identity / server.nsid",
        running.identity != fresh.identity || running.nsid != fresh.nsid,
    );
    check("rate-limit", running.limits != fresh.limits);
    check("metrics", running.metrics_listen != fresh.metrics_listen);
    check(
        "transfer / tsig-key",
        running.transfer != fresh.transfer
            || running.tsig_keys != fresh.tsig_keys
            || running.journal_limits != fresh.journal_limits,
    );
    check(
        "store",
        running.store_cache_bytes != fresh.store_cache_bytes
            || running.answer_cache_entries != fresh.answer_cache_entries
            || running.memory_index != fresh.memory_index,
    );
    check(
        "log",
        running.log_level != fresh.log_level
            || running.log_queries != fresh.log_queries
            || running.log_format != fresh.log_format,
    );
    check("admin", running.admin != fresh.admin);
    changed
}
