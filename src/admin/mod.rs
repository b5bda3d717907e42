//! The admin API: HTTP/1.1 + JSON on a Unix socket (and, optionally, on a
//! loopback TCP port behind a bearer token).
//!
//! ```text
//!   mimidns admin (CLI) ──► client ──► unix socket ──► http ──► service ──► catalog ──► store
//!                           (api types shared by both ends)
//! ```
//!
//! [`api`] holds every request, response and error type, shared by the
//! server and the CLI. [`service`] validates requests fully and turns them
//! into one atomic catalog write each; it knows no HTTP. [`http`] maps routes
//! and errors to HTTP and binds the listeners; [`listener`] caps and times
//! out their connections. [`client`] is the CLI's thin
//! HTTP client. Nothing in this module logs or returns a plaintext
//! identifier: identifiers are hashed on arrival.

pub mod api;
pub mod client;
pub mod http;
pub mod listener;
pub mod service;
