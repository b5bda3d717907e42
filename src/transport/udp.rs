//! UDP: several tasks receive on one socket, each answering in place.

use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::catalog::Catalog;
use crate::query::{Transport, answer_packet};

/// Largest datagram read; bigger ones are cut and then fail to parse (FORMERR).
const RECEIVE_BUFFER: usize = 65535;

/// Receives and answers until `shutdown` fires.
pub async fn serve(
    socket: Arc<UdpSocket>,
    catalog: Arc<Catalog>,
    shutdown: CancellationToken,
    log_queries: bool,
) {
    let mut buffer = vec![0u8; RECEIVE_BUFFER];
    loop {
        let received = tokio::select! {
            _ = shutdown.cancelled() => return,
            received = socket.recv_from(&mut buffer) => received,
        };
        let (length, peer) = match received {
            Ok(received) => received,
            Err(e) => {
                // ICMP errors from earlier sends surface here on Linux; keep going.
                debug!(error = %e, "UDP receive error");
                continue;
            }
        };
        let packet = &buffer[..length];
        let Some(response) = answer_packet(&catalog, packet, Transport::Udp) else {
            continue;
        };
        if log_queries {
            info!(%peer, transport = "udp", bytes = response.len(), "query answered");
        }
        if let Err(e) = socket.send_to(&response, peer).await {
            debug!(%peer, error = %e, "UDP send failed");
        }
    }
}
