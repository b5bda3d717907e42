//! TCP (RFC 7766): length-prefixed messages, pipelined queries answered in
//! order, an idle timeout, and caps — on open connections in all, on open
//! connections per client prefix, and on queries per connection — so a TCP
//! flood from one network cannot starve UDP service, other clients, or
//! exhaust file descriptors.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::metrics::{QueryCounters, TcpRefusals};
use crate::query::Transport;
use crate::rate_limit::ClientPrefix;
use crate::responder::Responder;

#[derive(Debug, Clone, Copy)]
pub struct TcpLimits {
    pub max_connections: usize,
    pub idle_timeout: Duration,
    /// Open connections one client prefix may hold.
    pub max_per_prefix: usize,
    /// Queries answered on one connection before it is closed (0: no cap).
    pub max_queries_per_connection: u64,
    /// Prefix lengths that make one client (as the rate limiter uses).
    pub ipv4_prefix: u8,
    pub ipv6_prefix: u8,
}

/// Open connections per client prefix, shared by every TCP listener.
#[derive(Debug, Default)]
pub struct PrefixConnections(Mutex<HashMap<ClientPrefix, usize>>);

/// One open connection counted against its prefix; uncounted when dropped.
struct PrefixSlot {
    table: Arc<PrefixConnections>,
    prefix: ClientPrefix,
}

impl PrefixConnections {
    fn claim(self: &Arc<Self>, prefix: ClientPrefix, max: usize) -> Option<PrefixSlot> {
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(prefix).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(PrefixSlot {
            table: self.clone(),
            prefix,
        })
    }
}

impl Drop for PrefixSlot {
    fn drop(&mut self) {
        let mut open = self.table.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.prefix) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.prefix);
            }
        }
    }
}

/// What a TCP listener shares with the rest of the server.
pub struct TcpShared {
    pub responder: Arc<Responder>,
    /// Zone transfers (AXFR, IXFR) are answered here, not by the responder.
    pub transfers: Arc<crate::transfer::Transfers>,
    pub counters: Arc<QueryCounters>,
    pub refusals: Arc<TcpRefusals>,
    pub prefixes: Arc<PrefixConnections>,
}

/// Accepts connections until `shutdown` fires. A connection over the cap is
/// closed at once (RFC 7766 §6.2.2 lets a server close connections to manage
/// its resources).
pub async fn serve(
    listener: TcpListener,
    shared: Arc<TcpShared>,
    shutdown: CancellationToken,
    limits: TcpLimits,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut refused = 0u64;
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                warn!(error = %e, "TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            shared
                .refusals
                .over_global_cap
                .fetch_add(1, Ordering::Relaxed);
            refused += 1;
            if refused.is_power_of_two() {
                warn!(
                    refused,
                    max = limits.max_connections,
                    "TCP connection cap reached; closing new connections"
                );
            }
            drop(stream);
            continue;
        };
        let prefix = ClientPrefix::new(peer.ip(), limits.ipv4_prefix, limits.ipv6_prefix);
        let Some(prefix_slot) = shared.prefixes.claim(prefix, limits.max_per_prefix) else {
            let count = shared
                .refusals
                .over_prefix_cap
                .fetch_add(1, Ordering::Relaxed)
                + 1;
            if count.is_power_of_two() {
                warn!(
                    %prefix,
                    max = limits.max_per_prefix,
                    "TCP connections per prefix at the cap; closing new ones from it"
                );
            }
            drop(stream);
            continue;
        };
        let shared = shared.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                result = connection(stream, peer, &shared, limits) => {
                    if let Err(e) = result {
                        debug!(%peer, error = %e, "TCP connection ended");
                    }
                }
            }
            drop(prefix_slot);
            drop(slot);
        });
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: &TcpShared,
    limits: TcpLimits,
) -> std::io::Result<()> {
    let idle_timeout = limits.idle_timeout;
    let _ = stream.set_nodelay(true);
    let (reader, mut writer) = stream.into_split();
    let mut answered = 0u64;
    let mut reader = BufReader::new(reader);
    let mut message = Vec::with_capacity(512);
    loop {
        // The idle timeout covers the wait for the next query and the time to
        // read it whole, so a slow-drip client cannot hold a slot forever.
        let read = tokio::time::timeout(idle_timeout, async {
            let length = match reader.read_u16().await {
                Ok(length) => usize::from(length),
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
                Err(e) => return Err(e),
            };
            message.resize(length, 0);
            reader.read_exact(&mut message).await?;
            Ok(Some(()))
        })
        .await;
        match read {
            Err(_) => return Ok(()),
            Ok(Ok(None)) => return Ok(()),
            Ok(Err(e)) => return Err(e),
            Ok(Ok(Some(()))) => {}
        }
        if crate::transfer::is_transfer_request(&message) {
            shared
                .transfers
                .serve(&message, peer.ip(), &mut writer, idle_timeout)
                .await?;
            continue;
        }
        let Some(response) =
            shared
                .responder
                .respond(&message, Transport::Tcp, peer, &shared.counters)
        else {
            continue;
        };
        let mut framed = Vec::with_capacity(response.len() + 2);
        framed.extend_from_slice(&(response.len() as u16).to_be_bytes());
        framed.extend_from_slice(&response);
        tokio::time::timeout(idle_timeout, writer.write_all(&framed))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "write timed out"))??;
        answered += 1;
        // RFC 7766 §6.2.3: a server may close a connection when it chooses;
        // the client opens another for what it still has to ask.
        if limits.max_queries_per_connection > 0 && answered >= limits.max_queries_per_connection {
            return Ok(());
        }
    }
}
