//! Starting and stopping the whole server in-process.
//!
//! [`start`] opens the store, reconciles the zone files, binds every listen
//! address over UDP and TCP (the same port for both, also for port 0) and
//! returns a [`RunningServer`] with the bound addresses, so tests and `main`
//! use one code path. It wires parts together and holds no DNS logic.

use std::net::SocketAddr;
use std::sync::Arc;

use thiserror::Error;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::admin::http::{self as admin_http, AdminListenError};
use crate::admin::service::AdminService;
use crate::catalog::{Catalog, CatalogError, ZoneLoadReport};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::query::Transport;
use crate::rate_limit::Limiter;
use crate::responder::Responder;
use crate::server_identity::ServerIdentity;
use crate::store::{PreviousShutdown, Store, StoreError};
use crate::transport::{bind, tcp, udp};

#[derive(Debug, Error)]
pub enum ServerError {
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open the store in {path}: {source}")]
    Store { path: String, source: StoreError },
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Admin(#[from] AdminListenError),
    #[error(
        "[[transfer.zone]] origin = \"{0}\" names no zone file (<origin>.zone) in the zones directory"
    )]
    UnknownTransferZone(String),
    #[error(transparent)]
    Keys(#[from] crate::dnssec::keys::KeyError),
    #[error(
        "dnssec.zones names {0}, which has no key in {1}; make one with `mimidns keys generate --zone {0}`"
    )]
    NoKey(String, String),
    #[error("dnssec.zones names {0}, which is not served from a zone file here")]
    UnknownSignedZone(String),
}

impl ServerError {
    /// Whether the store itself is damaged: starting again cannot help,
    /// so `main` exits with [`EXIT_CORRUPT_STORE`] and systemd stops retrying.
    pub fn is_corrupt_store(&self) -> bool {
        let store = match self {
            Self::Store { source, .. } => source,
            Self::Catalog(CatalogError::Store(source)) => source,
            Self::Catalog(CatalogError::LostWrites { .. }) => return true,
            _ => return false,
        };
        matches!(store, StoreError::Corrupt { .. } | StoreError::Unreadable)
    }
}

/// Exit status of `mimidns serve` when the store is corrupt (see
/// `RestartPreventExitStatus` in deploy/mimidns.service).
pub const EXIT_CORRUPT_STORE: u8 = 3;

pub struct RunningServer {
    pub udp_addresses: Vec<SocketAddr>,
    pub tcp_addresses: Vec<SocketAddr>,
    pub zones: Vec<ZoneLoadReport>,
    pub catalog: Arc<Catalog>,
    /// The admin API's Unix socket.
    pub admin_socket: std::path::PathBuf,
    /// The admin API's TCP address, when configured.
    pub admin_tcp: Option<SocketAddr>,
    /// What the UDP workers dropped (port-0 sources, failed sends).
    pub udp_counters: Arc<udp::UdpCounters>,
    /// Every counter the server keeps (Prometheus, `admin stats`).
    pub metrics: Arc<Metrics>,
    /// The Prometheus endpoint's address, when configured.
    pub metrics_address: Option<SocketAddr>,
    /// Re-reads the configuration and the zone files (SIGHUP, `admin reload`).
    pub reloader: Arc<crate::reload::Reloader>,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
    /// Builds the in-memory index; not a listener, so not in `tasks`.
    index_task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for RunningServer {
    /// A server dropped without [`RunningServer::shutdown`] still stops its workers.
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl RunningServer {
    /// Stops every listener and waits for them; flushes the store.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        while self.tasks.join_next().await.is_some() {}
        if let Some(index_task) = self.index_task.take() {
            let _ = index_task.await;
        }
        if let Err(e) = self.catalog.store().close().await {
            warn!(error = %e, "closing the store failed");
        }
    }

    /// Resolves when a listener task ends on its own (it should not).
    pub async fn wait(&mut self) {
        let _ = self.tasks.join_next().await;
    }
}

/// Puts the zone's DNSKEY, CDNSKEY and CDS (RFC 7344) at its apex, as
/// server-managed RRsets, when they are not there already (one commit).
async fn publish_keys(
    catalog: &Catalog,
    origin: &hickory_proto::rr::Name,
    zone: &crate::catalog::ServedZone,
    dnskeys: Vec<Vec<u8>>,
    active: Vec<u8>,
    ds: Vec<u8>,
) -> Result<(), ServerError> {
    const DNSKEY: u16 = 48;
    const CDS: u16 = 59;
    const CDNSKEY: u16 = 60;
    let ttl = zone.soa.ttl();
    let mut writes = Vec::new();
    // The DNSKEY RRset holds every key; CDNSKEY and CDS (RFC 7344) the
    // active one, for parents that follow them.
    for (record_type, rdatas) in [(DNSKEY, dnskeys), (CDNSKEY, vec![active]), (CDS, vec![ds])] {
        let key = zone.rrset_key(&zone.origin_key, record_type);
        let value = crate::rrset::encode_rrset(crate::rrset::RrsetOwner::Server, ttl, &rdatas);
        let stored = catalog.store().rrset(&key).map_err(CatalogError::from)?;
        if stored.is_none_or(|s| s.raw() != value.as_slice()) {
            writes.push(crate::store::RrsetWrite {
                key,
                value: Some(value),
            });
        }
    }
    if !writes.is_empty() {
        catalog.apply(origin, writes).await?;
    }
    Ok(())
}

/// The zones configured with a `primary`: this server is their secondary.
fn secondary_zones(config: &Config) -> Vec<crate::secondary::SecondaryZone> {
    config
        .transfer
        .zones
        .iter()
        .filter_map(|(origin, settings)| {
            let primary = settings.primary?;
            let mut name = hickory_proto::rr::Name::from_ascii(origin).ok()?;
            name.set_fqdn(true);
            Some(crate::secondary::SecondaryZone {
                discovery: config.discovery.for_zone(origin),
                origin: name.to_lowercase(),
                primary,
                key: settings
                    .primary_key
                    .as_deref()
                    .and_then(|key| config.tsig_keys.get(key))
                    .cloned(),
            })
        })
        .collect()
}

/// Opens the store, loads the zones and starts serving.
pub async fn start(config: &Config) -> Result<RunningServer, ServerError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| ServerError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    let store_dir = config.data_dir.join("store");
    let store =
        Store::open(&store_dir, config.store_cache_bytes).map_err(|source| ServerError::Store {
            path: store_dir.display().to_string(),
            source,
        })?;
    store.set_journal_limits(config.journal_limits);
    match store.previous_shutdown() {
        PreviousShutdown::NewStore => info!(path = %store_dir.display(), "new store created"),
        PreviousShutdown::Clean => {
            info!(path = %store_dir.display(), "store opened (it was closed cleanly)")
        }
        PreviousShutdown::Unclean => warn!(
            path = %store_dir.display(),
            "the store was not closed cleanly (the process was killed or crashed); sled replayed its log, and every acknowledged write is there"
        ),
    }
    let secondaries = secondary_zones(config);
    let secondary_names: Vec<String> = secondaries.iter().map(|z| z.origin.to_ascii()).collect();
    let (catalog, zones) = Catalog::load_files(
        store,
        &config.zones_dir,
        &config.discovery,
        &secondary_names,
    )?;
    let secondary_origins: Vec<_> = secondaries
        .iter()
        .map(|zone| (zone.origin.clone(), zone.discovery.clone()))
        .collect();
    let catalog = catalog.with_secondaries(&secondary_origins)?;
    for (origin, settings) in &config.transfer.zones {
        if settings.primary.is_some() {
            continue;
        }
        let served = zones
            .iter()
            .any(|z| z.origin.trim_end_matches('.').eq_ignore_ascii_case(origin));
        if !served {
            return Err(ServerError::UnknownTransferZone(origin.clone()));
        }
    }
    let mut catalog = catalog.with_cache_capacity(config.answer_cache_entries);
    let mut published = Vec::new();
    for origin_text in &config.signed_zones {
        let mut origin = hickory_proto::rr::Name::from_ascii(origin_text)
            .map_err(|_| ServerError::UnknownSignedZone(origin_text.clone()))?;
        origin.set_fqdn(true);
        let origin = origin.to_lowercase();
        let zone = catalog
            .zone(&origin)
            .filter(|_| catalog.secondary(&origin).is_none())
            .ok_or_else(|| ServerError::UnknownSignedZone(origin_text.clone()))?;
        let key_dir = config.key_dir();
        let mut keys = crate::dnssec::keys::signing_order(&key_dir, origin_text)?;
        if keys.is_empty() {
            return Err(ServerError::NoKey(
                origin_text.clone(),
                key_dir.display().to_string(),
            ));
        }
        // Every key is published; the first (the active one) signs.
        let dnskeys: Vec<Vec<u8>> = keys.iter().map(|key| key.dnskey_rdata()).collect();
        let key = keys.remove(0);
        published.push((
            origin.clone(),
            zone,
            dnskeys,
            key.dnskey_rdata(),
            key.ds_rdata(),
        ));
        info!(zone = %origin, key_tag = key.tag, "signing online");
        catalog = catalog.with_signer(
            &origin,
            crate::dnssec::ZoneSigner::new(key, keys, &crate::wire::name_to_wire(&origin)),
        );
    }
    let catalog = Arc::new(catalog);
    for (origin, zone, dnskeys, active, ds) in published {
        publish_keys(&catalog, &origin, &zone, dnskeys, active, ds).await?;
    }
    // Bind everything first: a start that fails leaves nothing running.
    let mut dns_listeners = Vec::new();
    for &address in &config.listen {
        let bind_error = |source| ServerError::Bind { address, source };
        let (udp_socket, tcp_listener) = bind::pair(address).map_err(bind_error)?;
        let bound = udp_socket.local_addr().map_err(bind_error)?;
        // The UDP workers block in recvmmsg on threads of their own.
        udp_socket
            .set_read_timeout(Some(udp::SHUTDOWN_POLL))
            .map_err(bind_error)?;
        let tcp_listener = TcpListener::from_std(tcp_listener).map_err(bind_error)?;
        dns_listeners.push((bound, Arc::new(udp_socket), tcp_listener));
    }
    let admin_socket = config.admin_socket();
    let unix_listener =
        admin_http::bind_unix(&admin_socket, config.admin.socket_group.as_deref()).await?;
    let metrics_listener = match config.metrics_listen {
        Some(address) => Some(
            TcpListener::bind(address)
                .await
                .map_err(|source| ServerError::Bind { address, source })?,
        ),
        None => None,
    };
    let mut admin_tcp_listener = None;
    if let (Some(address), Some(token_file)) = (config.admin.tcp_listen, &config.admin.token_file) {
        let token = admin_http::read_token(token_file)?;
        let listener = admin_http::bind_tcp(address).await?;
        let bound = listener
            .local_addr()
            .map_err(|source| ServerError::Bind { address, source })?;
        admin_tcp_listener = Some((bound, listener, token));
    }

    let shutdown = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let mut udp_addresses = Vec::new();
    let mut tcp_addresses = Vec::new();
    let metrics = Arc::new(Metrics::new(catalog.clone()));
    let udp_counters = metrics.udp.clone();
    let transfers = Arc::new(crate::transfer::Transfers::new(
        catalog.clone(),
        config.transfer.clone(),
        config.tsig_keys.clone(),
        config.data_dir.clone(),
        metrics.transfers.clone(),
    ));
    let responder = Arc::new(
        Responder::new(
            catalog.clone(),
            ServerIdentity::new(config.identity.as_deref(), config.nsid.as_deref()),
            Limiter::new(config.limits.clone()),
            config.log_queries,
        )
        .with_tsig_keys(config.tsig_keys.clone())
        .with_transfers(transfers.clone()),
    );
    let tcp_shared = Arc::new(tcp::TcpShared {
        transfers: transfers.clone(),
        responder: responder.clone(),
        counters: metrics.worker(Transport::Tcp),
        refusals: metrics.tcp.clone(),
        prefixes: Arc::default(),
    });
    let tcp_limits = tcp::TcpLimits {
        max_connections: config.tcp_max_connections,
        idle_timeout: config.tcp_idle_timeout,
        max_per_prefix: config.tcp_max_per_prefix,
        max_queries_per_connection: config.tcp_max_queries_per_connection,
        ipv4_prefix: config.limits.ipv4_prefix,
        ipv6_prefix: config.limits.ipv6_prefix,
    };
    for (bound, udp_socket, tcp_listener) in dns_listeners {
        udp_addresses.push(bound);
        tcp_addresses.push(bound);
        for _ in 0..config.udp_workers {
            let (socket, responder, shutdown) =
                (udp_socket.clone(), responder.clone(), shutdown.clone());
            let (counters, query_counters) = (udp_counters.clone(), metrics.worker(Transport::Udp));
            tasks.spawn_blocking(move || {
                udp::serve(socket, responder, shutdown, counters, query_counters)
            });
        }
        tasks.spawn(tcp::serve(
            tcp_listener,
            tcp_shared.clone(),
            shutdown.clone(),
            tcp_limits,
        ));
    }
    crate::secondary::spawn(catalog.clone(), secondaries, shutdown.clone(), &mut tasks);
    crate::notify::spawn(
        catalog.clone(),
        &config.transfer,
        &config.tsig_keys,
        metrics.transfers.clone(),
        shutdown.clone(),
        &mut tasks,
    );
    let mut metrics_address = None;
    if let Some(listener) = metrics_listener {
        metrics_address = listener.local_addr().ok();
        tasks.spawn(crate::admin::http::serve_metrics(
            listener,
            metrics.clone(),
            shutdown.clone(),
        ));
    }
    let reloader = Arc::new(crate::reload::Reloader::new(
        catalog.clone(),
        config.clone(),
    ));
    let service = Arc::new(
        AdminService::new(catalog.clone())
            .with_reloader(reloader.clone())
            .with_metrics(metrics.clone()),
    );
    let limits = config.admin.limits;
    let router = admin_http::router(service, config.admin.max_body_bytes, limits.body_timeout);
    tasks.spawn(admin_http::serve_unix(
        unix_listener,
        router.clone(),
        limits,
        shutdown.clone(),
    ));
    let mut admin_tcp = None;
    if let Some((bound, listener, token)) = admin_tcp_listener {
        admin_tcp = Some(bound);
        tasks.spawn(admin_http::serve_tcp(
            listener,
            router,
            token,
            limits,
            shutdown.clone(),
        ));
    }
    let summary: Vec<String> = zones
        .iter()
        .map(|z| {
            format!(
                "{} (serial {}, {} zone-file RRsets)",
                z.origin, z.serial, z.file_rrsets
            )
        })
        .collect();
    info!(
        zones = %summary.join(", "),
        listen = ?udp_addresses,
        admin_socket = %admin_socket.display(),
        store_bytes = catalog.store().size_on_disk(),
        "mimidns serving"
    );
    let index_task = config.memory_index.then(|| {
        let catalog = catalog.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            match catalog.build_index().await {
                Ok(nodes) => info!(
                    nodes,
                    ms = started.elapsed().as_millis() as u64,
                    "in-memory index ready; reads no longer go to sled"
                ),
                Err(e) => tracing::warn!(error = %e, "in-memory index failed; reads stay on sled"),
            }
        })
    });
    Ok(RunningServer {
        udp_addresses,
        tcp_addresses,
        zones,
        catalog,
        admin_socket,
        admin_tcp,
        udp_counters,
        metrics,
        metrics_address,
        reloader,
        shutdown,
        tasks,
        index_task,
    })
}
