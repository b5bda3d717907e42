//! Accepting admin connections without letting a slow or greedy client
//! starve the server.
//!
//! Both admin listeners (the Unix socket and the optional TCP one) run
//! through [`serve`]: at most `max_connections` connections are open at
//! once (more are closed at accept), a request's headers must arrive within
//! `header_timeout` (a connection idle between requests is closed after it
//! too), and the body must arrive within `body_timeout` (enforced where the
//! body is read, in `http`). It owns the connections only: routes, bodies
//! and authentication are `http`'s.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::serve::Listener;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// How long an open connection may take to finish after shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Limits on one admin listener's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Time to receive a request's headers (and the longest a connection
    /// may sit idle between requests).
    pub header_timeout: Duration,
    /// Time to receive a request's whole body once its headers are in.
    pub body_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 64,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
        }
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown`; then
/// lets open connections finish their request (up to a grace period).
pub async fn serve<L: Listener>(
    mut listener: L,
    router: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Full: close at once rather than queue; the client sees EOF.
            warn!(
                max = limits.max_connections,
                "admin connection refused: too many open"
            );
            drop(stream);
            continue;
        };
        let service = TowerToHyperService::new(router.clone());
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let _slot = slot;
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    tokio::time::timeout(SHUTDOWN_GRACE, connection.as_mut())
                        .await
                        .unwrap_or(Ok(()))
                }
            };
            if let Err(error) = result {
                debug!(error = %error, "admin connection ended with an error");
            }
        });
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
    }
    while connections.join_next().await.is_some() {}
}
