//! Sockets: UDP receive loops and TCP connections (RFC 1035 §4.2, RFC 7766).
//!
//! The transports move bytes between sockets and [`crate::query`]; they own
//! the limits that protect the server — how many TCP connections may be open,
//! how long an idle one may stay — and never look inside a message beyond its
//! TCP length prefix.

pub mod bind;
pub mod tcp;
pub mod udp;
