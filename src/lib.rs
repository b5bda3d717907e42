//! mimidns: an authoritative DNS nameserver for MIMI messaging-user discovery.
//!
//! ```text
//!   UDP / TCP sockets ──► transport ──► query ──► lookup ──► store (sled)
//!        (transport/)      (limits)    (wire/    (RFC 1034    ▲   ordered keys:
//!                                      request,   §4.3.2)     │   name_key
//!                                      response)              │
//!   zones/*.zone ──► zone_file ──► catalog ───────────────────┘
//!                    (checks)      (served zones, serials, every write)
//! ```
//!
//! `server::start` wires these together and returns the bound addresses;
//! `main.rs` is a thin command line over this library.

pub mod admin;
pub mod allocator;
pub mod answer_cache;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod dnssec;
pub mod identifier;
pub mod lookup;
pub mod mapping;
pub mod metrics;
pub mod name_key;
pub mod node_index;
pub mod notify;
pub mod panic_guard;
pub mod query;
pub mod rate_limit;
pub mod reload;
pub mod responder;
pub mod rrset;
pub mod secondary;
pub mod server;
pub mod server_identity;
pub mod store;
pub mod transfer;
pub mod transport;
pub mod tsig;
pub mod wire;
pub mod zone_file;
pub mod zone_rules;
