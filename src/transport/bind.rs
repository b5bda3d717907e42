//! Making the DNS sockets: one UDP socket and one TCP listener per address,
//! on the same port.
//!
//! It owns the socket options the listeners depend on: `IPV6_V6ONLY` on
//! IPv6 sockets, so `[::]:53` and `0.0.0.0:53` can both be served (a
//! dual-stack `[::]` socket takes the IPv4 port too and the second bind
//! fails, as Knot and NSD avoid the same way); `SO_REUSEADDR` on TCP, so a
//! restart does not wait out TIME_WAIT; and, on a wildcard address, asking
//! the kernel for each datagram's destination address (`IP_PKTINFO`,
//! `IPV6_RECVPKTINFO`) so the UDP reply can leave from it. It binds and
//! nothing more: no reading, no answering.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::fd::AsRawFd;

use socket2::{Domain, Protocol, Socket, Type};

/// Pending TCP connections the kernel queues before `accept`.
const TCP_BACKLOG: i32 = 1024;

fn socket(address: SocketAddr, kind: Type, protocol: Protocol) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(address), kind, Some(protocol))?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    Ok(socket)
}

/// Turns on the kernel's report of each datagram's destination address.
fn request_destination_addresses(socket: &Socket, ipv6: bool) -> std::io::Result<()> {
    let one: libc::c_int = 1;
    let (level, option) = if ipv6 {
        (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO)
    } else {
        (libc::IPPROTO_IP, libc::IP_PKTINFO)
    };
    // SAFETY: a valid socket, an int option and its size.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            option,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if result != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A UDP socket bound to `address`. Blocking: the UDP workers wait in
/// `recvmmsg` on threads of their own.
pub fn udp(address: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = socket(address, Type::DGRAM, Protocol::UDP)?;
    if address.ip().is_unspecified() {
        request_destination_addresses(&socket, address.is_ipv6())?;
    }
    socket.bind(&address.into())?;
    Ok(socket.into())
}

/// A TCP listener bound to `address`, non-blocking (for tokio).
pub fn tcp(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = socket(address, Type::STREAM, Protocol::TCP)?;
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(TCP_BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Binds UDP and TCP on the same address; with port 0, on the same free port.
pub fn pair(address: SocketAddr) -> std::io::Result<(UdpSocket, TcpListener)> {
    for _ in 0..16 {
        let udp = udp(address)?;
        let bound = udp.local_addr()?;
        match tcp(bound) {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if address.port() == 0 && e.kind() == std::io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        "no port free for both UDP and TCP",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: `[::]` was dual-stack and took the IPv4 port, so the
    /// shipped `listen = ["0.0.0.0:53", "[::]:53"]` failed with EADDRINUSE.
    #[test]
    fn ipv4_and_ipv6_wildcards_share_a_port() {
        // Wildcard addresses only inside the test's private network namespace.
        if std::env::var_os("MIMIDNS_NETNS").is_none() {
            eprintln!("skipped: needs MIMIDNS_NETNS=1 (./test.sh as root)");
            return;
        }
        let (udp4, _tcp4) = pair("127.0.0.1:0".parse().expect("address")).expect("v4");
        let port = udp4.local_addr().expect("bound").port();
        drop(udp4);
        let any4: SocketAddr = format!("0.0.0.0:{port}").parse().expect("address");
        let any6: SocketAddr = format!("[::]:{port}").parse().expect("address");
        let Ok(first) = pair(any4) else {
            return; // the port was taken meanwhile; nothing to learn
        };
        match pair(any6) {
            Ok(_) => {}
            // No IPv6 on this machine at all.
            Err(e) if e.raw_os_error() == Some(libc::EAFNOSUPPORT) => {}
            Err(e) => panic!("[::]:{port} beside 0.0.0.0:{port}: {e}"),
        }
        drop(first);
    }
}
