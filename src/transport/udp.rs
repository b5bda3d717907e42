//! UDP: worker threads each receive a batch of datagrams with one
//! `recvmmsg(2)`, answer them in place and send the answers with one
//! `sendmmsg(2)` — two system calls per batch instead of two per query, as
//! NSD does. Each worker owns its buffers; the socket is shared. On a
//! wildcard address the kernel reports each datagram's destination address
//! (`IP_PKTINFO` / `IPV6_PKTINFO`, asked for by [`super::bind`]) and the
//! reply names it as its source, so a query sent to 127.0.0.2 (or an anycast
//! address) is answered from that address, not from whichever the routing
//! table picks.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::metrics::QueryCounters;
use crate::query::Transport;
use crate::responder::Responder;

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

/// Room for one control message of either packet-info kind, aligned for cmsghdr.
type ControlBuffer = [u64; 8];

/// The address a datagram was sent to, as the kernel reported it.
#[derive(Clone, Copy)]
enum Destination {
    V4(libc::in_pktinfo),
    V6(libc::in6_pktinfo),
}

/// The destination reported in a received message's control data, if any.
fn destination(header: &libc::msghdr) -> Option<Destination> {
    // SAFETY: `header` was filled by recvmmsg; the CMSG macros walk the
    // control buffer it points at within msg_controllen.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(header);
        while !cmsg.is_null() {
            let data = libc::CMSG_DATA(cmsg);
            match ((*cmsg).cmsg_level, (*cmsg).cmsg_type) {
                (libc::IPPROTO_IP, libc::IP_PKTINFO) => {
                    return Some(Destination::V4(std::ptr::read_unaligned(data.cast())));
                }
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                    return Some(Destination::V6(std::ptr::read_unaligned(data.cast())));
                }
                _ => cmsg = libc::CMSG_NXTHDR(header, cmsg),
            }
        }
    }
    None
}

/// Writes the control message that makes a reply leave from `destination`;
/// returns its length for msg_controllen.
fn reply_source(buffer: &mut ControlBuffer, destination: Destination) -> usize {
    let (level, kind, data): (i32, i32, Vec<u8>) = match destination {
        Destination::V4(info) => {
            // The reply's source is the address the query was sent to;
            // interface 0 lets routing pick the way out.
            let reply = libc::in_pktinfo {
                ipi_ifindex: 0,
                ipi_spec_dst: info.ipi_addr,
                ipi_addr: libc::in_addr { s_addr: 0 },
            };
            // SAFETY: in_pktinfo is plain old data.
            let bytes = unsafe {
                std::slice::from_raw_parts(
                    (&reply as *const libc::in_pktinfo).cast::<u8>(),
                    std::mem::size_of::<libc::in_pktinfo>(),
                )
            };
            (libc::IPPROTO_IP, libc::IP_PKTINFO, bytes.to_vec())
        }
        Destination::V6(info) => {
            // SAFETY: in6_pktinfo is plain old data.
            let bytes = unsafe {
                std::slice::from_raw_parts(
                    (&info as *const libc::in6_pktinfo).cast::<u8>(),
                    std::mem::size_of::<libc::in6_pktinfo>(),
                )
            };
            (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, bytes.to_vec())
        }
    };
    // SAFETY: a zeroed msghdr whose control buffer is `buffer`, large
    // enough (64 octets) for one cmsg of either kind; CMSG_* stay inside it.
    unsafe {
        let mut header: libc::msghdr = std::mem::zeroed();
        header.msg_control = buffer.as_mut_ptr().cast();
        header.msg_controllen = std::mem::size_of::<ControlBuffer>();
        let cmsg = libc::CMSG_FIRSTHDR(&header);
        (*cmsg).cmsg_level = level;
        (*cmsg).cmsg_type = kind;
        (*cmsg).cmsg_len = libc::CMSG_LEN(data.len() as u32) as usize;
        std::ptr::copy_nonoverlapping(data.as_ptr(), libc::CMSG_DATA(cmsg), data.len());
        libc::CMSG_SPACE(data.len() as u32) as usize
    }
}

/// The sender of a datagram.
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
    responder: Arc<Responder>,
    shutdown: CancellationToken,
    counters: Arc<UdpCounters>,
    query_counters: Arc<QueryCounters>,
) {
    let fd = socket.as_raw_fd();
    let mut buffers = vec![[0u8; SLOT]; BATCH];
    // SAFETY: all-zero bytes are a valid value of these plain C structs.
    let mut addresses: [libc::sockaddr_storage; BATCH] = unsafe { std::mem::zeroed() };
    let mut responses: Vec<Vec<u8>> = vec![Vec::new(); BATCH];
    let mut receive_control: [ControlBuffer; BATCH] = [[0; 8]; BATCH];
    let mut send_control: [ControlBuffer; BATCH] = [[0; 8]; BATCH];
    let mut destinations: [Option<Destination>; BATCH] = [None; BATCH];
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
            header.msg_control = receive_control[slot].as_mut_ptr().cast();
            header.msg_controllen = std::mem::size_of::<ControlBuffer>();
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
            let Some(from) = peer(&addresses[slot]).filter(|from| from.port() != 0) else {
                counters.port_zero_dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            destinations[slot] = destination(&receive_headers[slot].msg_hdr);
            let packet = &buffers[slot][..length];
            let Some(response) = responder.respond(packet, Transport::Udp, from, &query_counters)
            else {
                continue;
            };
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
            if let Some(destination) = destinations[slot] {
                header.msg_controllen = reply_source(&mut send_control[index], destination);
                header.msg_control = send_control[index].as_mut_ptr().cast();
            }
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
