//! UDP: worker threads each receive a batch of datagrams with one
//! `recvmmsg(2)`, answer them in place and send the answers with one
//! `sendmmsg(2)` — two system calls per batch instead of two per query, as
//! NSD does. Each worker owns its buffers; the socket is shared.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::catalog::Catalog;
use crate::panic_guard::guarded;
use crate::query::{Transport, answer_packet};

/// Datagrams received (and answered) per system call at most.
const BATCH: usize = 32;
/// Bytes kept of each datagram; a longer one is cut and fails to parse (FORMERR).
const SLOT: usize = 4096;
/// How often a worker blocked on an idle socket looks at the shutdown token.
pub const SHUTDOWN_POLL: Duration = Duration::from_millis(200);

/// What the UDP workers dropped, for operators and tests.
#[derive(Debug, Default)]
pub struct UdpCounters {
    /// Datagrams from source port 0: no reply can reach it (sending one
    /// fails with EINVAL), so they are not answered at all.
    pub port_zero_dropped: AtomicU64,
    /// Replies the kernel refused to send (each skipped alone; the rest of
    /// its batch is still sent).
    pub send_failed: AtomicU64,
}

/// The source port of a datagram, if the family is one we serve.
fn source_port(address: &libc::sockaddr_storage) -> Option<u16> {
    peer(address).map(|from| from.port())
}

/// The sender of a datagram, for the query log.
fn peer(address: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(address.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is large enough for.
            let v4 =
                unsafe { &*(address as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::from((
                std::net::Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr)),
                u16::from_be(v4.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let v6 = unsafe {
                &*(address as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            Some(SocketAddr::from((
                std::net::Ipv6Addr::from(v6.sin6_addr.s6_addr),
                u16::from_be(v6.sin6_port),
            )))
        }
        _ => None,
    }
}

/// Receives and answers until `shutdown` fires. `socket` must be blocking
/// with a read timeout of [`SHUTDOWN_POLL`].
pub fn serve(
    socket: Arc<UdpSocket>,
    catalog: Arc<Catalog>,
    shutdown: CancellationToken,
    log_queries: bool,
    counters: Arc<UdpCounters>,
) {
    let fd = socket.as_raw_fd();
    let mut buffers = vec![[0u8; SLOT]; BATCH];
    // SAFETY: all-zero bytes are a valid value of these plain C structs.
    let mut addresses: [libc::sockaddr_storage; BATCH] = unsafe { std::mem::zeroed() };
    let mut responses: Vec<Vec<u8>> = vec![Vec::new(); BATCH];
    while !shutdown.is_cancelled() {
        // SAFETY: as above.
        let mut receive_iovecs: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
        let mut receive_headers: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for slot in 0..BATCH {
            receive_iovecs[slot] = libc::iovec {
                iov_base: buffers[slot].as_mut_ptr().cast(),
                iov_len: SLOT,
            };
            let header = &mut receive_headers[slot].msg_hdr;
            header.msg_name = (&mut addresses[slot] as *mut libc::sockaddr_storage).cast();
            header.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            header.msg_iov = &mut receive_iovecs[slot];
            header.msg_iovlen = 1;
        }
        // SAFETY: every header points at a live buffer and address of this
        // worker; the kernel writes at most BATCH entries.
        let received = unsafe {
            libc::recvmmsg(
                fd,
                receive_headers.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if received < 0 {
            let error = std::io::Error::last_os_error();
            if !matches!(
                error.kind(),
                std::io::ErrorKind::WouldBlock
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::Interrupted
            ) {
                // ICMP errors from earlier sends surface here on Linux; keep going.
                debug!(error = %error, "UDP receive error");
            }
            continue;
        }
        let received = (received as usize).min(BATCH);
        let mut answered = [0usize; BATCH];
        let mut answer_count = 0;
        for slot in 0..received {
            let length = (receive_headers[slot].msg_len as usize).min(SLOT);
            // A reply to port 0 always fails; answering it would only
            // waste work (and once cost the rest of the batch).
            if source_port(&addresses[slot]) == Some(0) {
                counters.port_zero_dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let packet = &buffers[slot][..length];
            let Some(response) =
                guarded(|| answer_packet(&catalog, packet, Transport::Udp)).flatten()
            else {
                continue;
            };
            if log_queries {
                let from = peer(&addresses[slot]);
                info!(peer = ?from, transport = "udp", bytes = response.len(), "query answered");
            }
            responses[slot] = response;
            answered[answer_count] = slot;
            answer_count += 1;
        }
        // SAFETY: as above.
        let mut send_iovecs: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
        let mut send_headers: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for (index, &slot) in answered[..answer_count].iter().enumerate() {
            send_iovecs[index] = libc::iovec {
                iov_base: responses[slot].as_mut_ptr().cast(),
                iov_len: responses[slot].len(),
            };
            let header = &mut send_headers[index].msg_hdr;
            header.msg_name = (&mut addresses[slot] as *mut libc::sockaddr_storage).cast();
            header.msg_namelen = receive_headers[slot].msg_hdr.msg_namelen;
            header.msg_iov = &mut send_iovecs[index];
            header.msg_iovlen = 1;
        }
        let mut sent = 0;
        while sent < answer_count {
            // SAFETY: the headers from `sent` on point at live responses and addresses.
            let result = unsafe {
                libc::sendmmsg(
                    fd,
                    send_headers[sent..].as_mut_ptr(),
                    (answer_count - sent) as u32,
                    0,
                )
            };
            if result <= 0 {
                let error = std::io::Error::last_os_error();
                match error.kind() {
                    std::io::ErrorKind::Interrupted => continue,
                    // The socket is blocking: a full send buffer cannot
                    // report WouldBlock, so every other error belongs to
                    // the datagram at `sent` alone. Skip just that one.
                    _ => {
                        counters.send_failed.fetch_add(1, Ordering::Relaxed);
                        debug!(error = %error, "UDP send failed; skipping that reply");
                        sent += 1;
                        continue;
                    }
                }
            }
            sent += result as usize;
        }
    }
}
