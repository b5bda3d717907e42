//! Shared helpers for the integration tests: an in-process server on
//! 127.0.0.1:0 with a temporary data directory, and a raw DNS client that
//! sees every header bit and section (hickory-proto messages over std sockets).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};
use mimidns::config::Config;
use mimidns::server::RunningServer;

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

pub struct TestServer {
    pub server: RunningServer,
    pub address: SocketAddr,
    pub data_dir: tempfile::TempDir,
}

/// Starts mimidns in-process on 127.0.0.1:0 serving `zones_dir`.
pub async fn start_server(zones_dir: &Path) -> TestServer {
    let data_dir = tempfile::tempdir().expect("data dir");
    start_server_in(zones_dir, data_dir).await
}

pub async fn start_server_in(zones_dir: &Path, data_dir: tempfile::TempDir) -> TestServer {
    start_server_with(zones_dir, data_dir, |_| {}).await
}

/// The production rate limits, with the tests' usual client (127.0.0.1)
/// exempt: most tests ask as fast as they can from it. tests/limits.rs
/// limits clients on 127.0.0.2 and up, which stay subject to them.
pub fn test_limits() -> mimidns::rate_limit::LimitSettings {
    mimidns::rate_limit::LimitSettings {
        exempt: vec!["127.0.0.1/32".parse().expect("prefix")],
        ..Default::default()
    }
}

/// Starts mimidns with the test defaults changed by `adjust`.
pub async fn start_server_with(
    zones_dir: &Path,
    data_dir: tempfile::TempDir,
    adjust: impl FnOnce(&mut Config),
) -> TestServer {
    let mut config = Config {
        listen: vec!["127.0.0.1:0".parse().expect("address")],
        zones_dir: zones_dir.to_path_buf(),
        data_dir: data_dir.path().to_path_buf(),
        tcp_max_connections: 8,
        tcp_idle_timeout: Duration::from_secs(2),
        // On in every test, so each test also checks that writes invalidate it.
        answer_cache_entries: 10_000,
        limits: test_limits(),
        ..Config::default()
    };
    adjust(&mut config);
    let server = mimidns::server::start(&config)
        .await
        .expect("server starts");
    let address = server.udp_addresses[0];
    TestServer {
        server,
        address,
        data_dir,
    }
}

/// How to ask.
#[derive(Clone, Copy, Debug)]
pub struct Ask {
    pub edns: Option<u16>,
    pub dnssec_ok: bool,
    pub tcp: bool,
}

impl Ask {
    pub const UDP: Ask = Ask {
        edns: Some(1232),
        dnssec_ok: false,
        tcp: false,
    };
    pub const TCP: Ask = Ask {
        edns: Some(1232),
        dnssec_ok: false,
        tcp: true,
    };
    pub const UDP_NO_EDNS: Ask = Ask {
        edns: None,
        dnssec_ok: false,
        tcp: false,
    };
    pub const TCP_NO_EDNS: Ask = Ask {
        edns: None,
        dnssec_ok: false,
        tcp: true,
    };
}

pub fn query_message(name: &str, record_type: RecordType, ask: Ask) -> Message {
    let mut message = Message::new(next_id(), MessageType::Query, OpCode::Query);
    let mut query = Query::query(Name::from_ascii(name).expect("name"), record_type);
    query.set_query_class(DNSClass::IN);
    message.add_query(query);
    if let Some(payload) = ask.edns {
        let mut edns = Edns::new();
        edns.set_max_payload(payload);
        edns.set_dnssec_ok(ask.dnssec_ok);
        message.set_edns(edns);
    }
    message
}

fn next_id() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(1000);
    NEXT.fetch_add(7, Ordering::Relaxed)
}

/// Sends raw bytes and returns the raw reply (None on timeout or close).
pub fn exchange_raw(address: SocketAddr, packet: &[u8], tcp: bool) -> Option<Vec<u8>> {
    if tcp {
        let mut stream = TcpStream::connect(address).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(3)))
            .expect("timeout");
        let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(packet);
        stream.write_all(&framed).expect("write");
        read_tcp_message(&mut stream)
    } else {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_millis(1500)))
            .expect("timeout");
        socket.send_to(packet, address).expect("send");
        let mut buffer = vec![0u8; 65535];
        match socket.recv_from(&mut buffer) {
            Ok((length, _)) => Some(buffer[..length].to_vec()),
            Err(_) => None,
        }
    }
}

pub fn read_tcp_message(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut length = [0u8; 2];
    stream.read_exact(&mut length).ok()?;
    let mut message = vec![0u8; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut message).ok()?;
    Some(message)
}

pub fn ask(address: SocketAddr, name: &str, record_type: RecordType, how: Ask) -> Message {
    let request = query_message(name, record_type, how);
    let bytes = request.to_vec().expect("encode");
    let reply = exchange_raw(address, &bytes, how.tcp).expect("a reply");
    let message = Message::from_vec(&reply).expect("reply decodes");
    assert_eq!(message.metadata.id, request.metadata.id, "reply id matches");
    message
}

/// A record in a comparable form: lower-case owner, TTL, type, RDATA text.
pub fn record_text(record: &Record) -> String {
    // hickory-proto 0.26 reads DNAME as opaque data; show its target name.
    let data = match &record.data {
        hickory_proto::rr::RData::Unknown { rdata, .. }
            if record.record_type() == hickory_proto::rr::RecordType::DNAME =>
        {
            mimidns::wire::name_from_wire(&rdata.anything)
                .map_or_else(|| record.data.to_string(), |name| name.to_ascii())
        }
        other => other.to_string(),
    };
    format!(
        "{} {} {} {}",
        record.name.to_ascii().to_ascii_lowercase(),
        record.ttl,
        record.record_type(),
        data
    )
}

pub fn section_texts(records: &[Record]) -> Vec<String> {
    let mut texts: Vec<String> = records.iter().map(record_text).collect();
    texts.sort();
    texts
}

/// A free loopback port for a third-party daemon (bind both, then release).
pub fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = udp.local_addr().expect("addr").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Waits until something answers DNS for `zone` on `address` over UDP.
pub fn wait_for_dns(address: SocketAddr, zone: &str) {
    for _ in 0..100 {
        let request = query_message(zone, RecordType::SOA, Ask::UDP);
        if let Some(reply) = exchange_raw(address, &request.to_vec().expect("encode"), false)
            && Message::from_vec(&reply).is_ok_and(|m| m.answers.len() == 1)
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("nothing answers DNS for {zone} on {address}");
}

/// The path of a required interop tool; fails clearly when it is missing.
pub fn require_tool(tool: &str) -> PathBuf {
    let paths = std::env::var_os("PATH").unwrap_or_default();
    for dir in
        std::env::split_paths(&paths).chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
    {
        let candidate = dir.join(tool);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("{tool} is not installed; ./test.sh (and .ci/run) install it with apt-get");
}

/// A child process, killed by its PID when dropped.
pub struct Daemon {
    pub child: std::process::Child,
    pub name: &'static str,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the test runs in the private network namespace of `./test.sh`;
/// outside it, fails with instructions unless MIMIDNS_SKIP_NETNS=1 says to
/// skip (then `false`).
pub fn in_private_netns() -> bool {
    if std::env::var_os("MIMIDNS_NETNS").is_some_and(|v| v == "1") {
        return true;
    }
    if std::env::var_os("MIMIDNS_SKIP_NETNS").is_some_and(|v| v == "1") {
        eprintln!("skipped: needs root in a private network namespace (./test.sh as root)");
        return false;
    }
    panic!(
        "this test needs a private network namespace: run ./test.sh as root, or set MIMIDNS_SKIP_NETNS=1"
    );
}

/// A TCP connection to `to` from the loopback address `source` (a client of
/// its own to the rate limiter and the transfer ACLs).
pub fn tcp_from(source: &str, to: SocketAddr) -> TcpStream {
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    let bind: SocketAddr = format!("{source}:0").parse().expect("address");
    socket.bind(&bind.into()).expect("bind");
    socket.connect(&to.into()).expect("connect");
    let stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    stream
}

/// Writes `message` framed for TCP and reads one framed reply.
pub fn tcp_exchange(stream: &mut TcpStream, message: &[u8]) -> Option<Vec<u8>> {
    let mut framed = (message.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(message);
    stream.write_all(&framed).ok()?;
    read_tcp_message(stream)
}

/// One mapping to chat.example for user `ssi`.
pub fn sample_mapping(ssi: &str) -> mimidns::mapping::Mapping {
    mimidns::mapping::Mapping {
        provider: "chat.example".into(),
        ssi: ssi.into(),
        target: "host.example.test".into(),
        port: None,
        alpn: vec!["mimi".into()],
        priority: 10,
        tags: Vec::new(),
    }
}

/// The serial of the (first) zone a test server serves.
pub fn zone_serial(server: &RunningServer) -> u32 {
    server
        .catalog
        .zones()
        .values()
        .next()
        .expect("a served zone")
        .serial
}

/// Every record of example.test. by `kdig AXFR` from `address` (signed with
/// hmac-sha256 key `xfr.key` when `secret` is given): lower-case, white
/// space collapsed, sorted, the SOA once, no TSIG lines.
pub fn kdig_axfr(address: SocketAddr, secret: Option<&str>) -> Vec<String> {
    let mut command = std::process::Command::new(require_tool("kdig"));
    command
        .arg(format!("@{}", address.ip()))
        .args(["-p", &address.port().to_string()])
        .args(["+nocomments", "+nostats", "+noheader"]);
    if let Some(secret) = secret {
        command.args(["-y", &format!("hmac-sha256:xfr.key:{secret}")]);
    }
    let output = command
        .args(["example.test.", "AXFR"])
        .output()
        .expect("kdig runs");
    let mut records: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with(';') && !l.contains("TSIG"))
        .map(|l| {
            l.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_ascii_lowercase()
        })
        .collect();
    records.sort();
    records.dedup();
    records
}

/// The SOA serial of example.test. at `address` (UDP), if it answers one.
/// Polls `address` until it serves `serial` for example.test, for up to
/// 30 s; on timeout, the serial it serves instead.
pub fn wait_for_serial(address: SocketAddr, serial: u32) -> Result<(), Option<u32>> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if soa_serial_at(address) == Some(serial) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(soa_serial_at(address))
}

pub fn soa_serial_at(address: SocketAddr) -> Option<u32> {
    let reply = exchange_raw(
        address,
        &query_message("example.test.", RecordType::SOA, Ask::UDP)
            .to_vec()
            .expect("encode"),
        false,
    )?;
    let message = hickory_proto::op::Message::from_vec(&reply).ok()?;
    message.answers.iter().find_map(|r| match &r.data {
        hickory_proto::rr::RData::SOA(soa) => Some(soa.serial),
        _ => None,
    })
}

/// `kdig @address -p port ARGS`: what it printed.
pub fn kdig_at(address: SocketAddr, args: &[&str]) -> String {
    let output = std::process::Command::new(require_tool("kdig"))
        .arg(format!("@{}", address.ip()))
        .args(["-p", &address.port().to_string()])
        .args(args)
        .output()
        .expect("kdig runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Starts a daemon with its stderr in `log`; killed when dropped.
pub fn spawn_logged(program: &Path, args: &[&str], log: &Path, name: &'static str) -> Daemon {
    let child = std::process::Command::new(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(log).expect("log"))
        .spawn()
        .unwrap_or_else(|e| panic!("{name} starts: {e}"));
    Daemon { child, name }
}
