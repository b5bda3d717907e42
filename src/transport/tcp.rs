//! TCP (RFC 7766): length-prefixed messages, pipelined queries answered in
//! order, an idle timeout, and a cap on open connections so a TCP flood
//! cannot starve UDP service or exhaust file descriptors.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::catalog::Catalog;
use crate::panic_guard::guarded;
use crate::query::{Transport, answer_packet};

pub struct TcpLimits {
    pub max_connections: usize,
    pub idle_timeout: Duration,
}

/// Accepts connections until `shutdown` fires. A connection over the cap is
/// closed at once (RFC 7766 §6.2.2 lets a server close connections to manage
/// its resources).
pub async fn serve(
    listener: TcpListener,
    catalog: Arc<Catalog>,
    shutdown: CancellationToken,
    limits: TcpLimits,
    log_queries: bool,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let idle_timeout = limits.idle_timeout;
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
        let catalog = catalog.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                result = connection(stream, &catalog, idle_timeout, log_queries) => {
                    if let Err(e) = result {
                        debug!(%peer, error = %e, "TCP connection ended");
                    }
                }
            }
            drop(slot);
        });
    }
}

async fn connection(
    stream: TcpStream,
    catalog: &Catalog,
    idle_timeout: Duration,
    log_queries: bool,
) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr()?;
    let (reader, mut writer) = stream.into_split();
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
        let Some(response) = guarded(|| answer_packet(catalog, &message, Transport::Tcp)).flatten()
        else {
            continue;
        };
        if log_queries {
            info!(%peer, transport = "tcp", bytes = response.len(), "query answered");
        }
        let mut framed = Vec::with_capacity(response.len() + 2);
        framed.extend_from_slice(&(response.len() as u16).to_be_bytes());
        framed.extend_from_slice(&response);
        tokio::time::timeout(idle_timeout, writer.write_all(&framed))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "write timed out"))??;
    }
}
