//! Regression tests for the faults found when the server was attacked,
//! fuzzed and compared with Knot and NSD (issue "Hardening"). Each test is
//! named after the fault it pins and fails on the code that had it.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{Ask, query_message, repo_path, start_server};
use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Sends `payload` to `to` from source port 0 through a raw socket (the
/// kernel adds the IP header; we write the UDP header ourselves).
fn send_from_port_zero(raw: i32, to: SocketAddr, payload: &[u8]) {
    let SocketAddr::V4(to) = to else {
        panic!("IPv4 only")
    };
    let length = (8 + payload.len()) as u16;
    let mut datagram = Vec::with_capacity(usize::from(length));
    datagram.extend_from_slice(&0u16.to_be_bytes()); // source port 0
    datagram.extend_from_slice(&to.port().to_be_bytes());
    datagram.extend_from_slice(&length.to_be_bytes());
    datagram.extend_from_slice(&0u16.to_be_bytes()); // no checksum (IPv4 allows it)
    datagram.extend_from_slice(payload);
    let address = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(*to.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: the buffer and address live across the call; lengths match them.
    let sent = unsafe {
        libc::sendto(
            raw,
            datagram.as_ptr().cast(),
            datagram.len(),
            0,
            (&address as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    assert_eq!(sent, datagram.len() as isize, "raw send");
}

/// A failed `sendmmsg` for one reply (to source port 0) used to drop the rest
/// of its batch: with a quarter of the queries from port 0, legitimate
/// clients got almost nothing back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_zero_queries_do_not_silence_the_server() {
    if !is_root() {
        eprintln!("skipped: a raw socket (port-0 source) needs root");
        return;
    }
    let server = start_server(&repo_path("tests/zones")).await;
    let address = server.address;
    let counters = server.server.udp_counters.clone();
    let handle = tokio::task::spawn_blocking(move || {
        // SAFETY: plain socket creation; the descriptor is closed below.
        let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_UDP) };
        assert!(raw >= 0, "raw socket: {}", std::io::Error::last_os_error());
        let client = UdpSocket::bind("127.0.0.1:0").expect("bind");
        client
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let poison = query_message("example.test.", RecordType::SOA, Ask::UDP)
            .to_vec()
            .expect("encode");
        // Three port-0 queries, then a legitimate one, back to back so they
        // share the server's receive batch; then wait for its answer (one
        // round at a time, so no socket buffer overflows).
        let rounds = 300;
        let mut unanswered = 0;
        let mut buffer = [0u8; 4096];
        for round in 0..rounds {
            for _ in 0..3 {
                send_from_port_zero(raw, address, &poison);
            }
            let mut query = query_message("www.example.test.", RecordType::A, Ask::UDP);
            query.metadata.id = round as u16;
            client
                .send_to(&query.to_vec().expect("encode"), address)
                .expect("send");
            let deadline = Instant::now() + Duration::from_millis(500);
            let mut answered = false;
            while !answered && Instant::now() < deadline {
                if let Ok((length, _)) = client.recv_from(&mut buffer) {
                    let reply = Message::from_vec(&buffer[..length]).expect("reply decodes");
                    answered = reply.metadata.id == round as u16;
                }
            }
            unanswered += usize::from(!answered);
        }
        // SAFETY: closing the descriptor opened above.
        unsafe { libc::close(raw) };
        unanswered
    });
    let unanswered = handle.await.expect("client thread");
    assert_eq!(unanswered, 0, "legitimate queries went unanswered");
    assert_eq!(
        counters.port_zero_dropped.load(Ordering::Relaxed),
        900,
        "every port-0 query is counted and dropped"
    );
    server.server.shutdown().await;
}

use hyper::Method;
use mimidns::admin::api::{ApiError, IdentifierRecord, PutIdentifier, PutRrset, WriteResult};
use mimidns::admin::client::{AdminClient, encode_segment};
use mimidns::mapping::Mapping;

const ZONE: &str = "example.test.";

fn chat_mapping(ssi: &str) -> Mapping {
    Mapping {
        provider: "chat.example".into(),
        ssi: ssi.into(),
        target: "host.example.test".into(),
        port: None,
        alpn: vec!["h2".into()],
        priority: 1,
        tags: vec![],
    }
}

/// Regression: a backslash-newline in admin RDATA smuggled `$INCLUDE /path`
/// into hickory's master-file parser, which read the file and published it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_rdata_cannot_include_files() {
    let server = start_server(&repo_path("tests/zones")).await;
    let client = AdminClient::new(&server.server.admin_socket);
    let secret_dir = tempfile::tempdir().expect("tempdir");
    let secret = secret_dir.path().join("secret.zone");
    std::fs::write(&secret, "leak 60 IN TXT \"hunter2\"\n").expect("write");
    let path = format!("/v1/zones/{ZONE}/rrsets/probe/TXT");
    for rdata in [
        format!("\"x\\\n$INCLUDE {} \"", secret.display()),
        format!("x\\\n$INCLUDE {}", secret.display()),
        format!("\"x\"\n$INCLUDE {}", secret.display()),
        format!("( \"x\"\n$INCLUDE {} )", secret.display()),
    ] {
        let body = PutRrset {
            ttl: 60,
            rdata: vec![rdata.clone()],
        };
        let bytes = serde_json::to_vec(&body).expect("json");
        let (status, reply) = client
            .request(Method::PUT, &path, Some(bytes))
            .await
            .expect("request");
        if status.is_success() {
            // Accepted as one TXT record: the line break is data, not a directive.
            let read: mimidns::admin::api::RrsetRecord = client
                .call(Method::GET, &path, None::<&()>)
                .await
                .expect("get");
            assert_eq!(read.rdata.len(), 1, "{rdata:?}: {read:?}");
        } else {
            let error: ApiError = serde_json::from_slice(&reply).expect("JSON error");
            assert_eq!(status.as_u16(), 400, "{rdata:?}: {error:?}");
        }
        for name in ["leak.example.test.", "leak.probe.example.test."] {
            let address = server.address;
            let reply = tokio::task::spawn_blocking(move || {
                common::ask(address, name, RecordType::TXT, Ask::UDP)
            })
            .await
            .expect("query");
            assert!(reply.answers.is_empty(), "{rdata:?} published {name}");
        }
    }
    server.server.shutdown().await;
}

/// Regression: non-ASCII email addresses panicked in the admin handler (and
/// the panic message logged the plaintext address).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internationalized_identifiers_are_published_over_the_api() {
    let server = start_server(&repo_path("tests/zones")).await;
    let client = AdminClient::new(&server.server.admin_socket);
    for identifier in ["иван@mail.ru", "josé@example.com", "用户@example.cn"] {
        let path = format!(
            "/v1/zones/{ZONE}/identifiers/{}",
            encode_segment(identifier)
        );
        let body = PutIdentifier {
            mappings: vec![chat_mapping("u1")],
        };
        let _: WriteResult = client
            .call(Method::PUT, &path, Some(&body))
            .await
            .unwrap_or_else(|e| panic!("put #{}: {e}", identifier.len()));
        let read: IdentifierRecord = client
            .call(Method::GET, &path, None::<&()>)
            .await
            .expect("get");
        assert_eq!(read.mappings.len(), 1);
    }
    server.server.shutdown().await;
}

/// The process-wide panic hook reports where, never what: run this test
/// binary again as a child that panics with a secret, and read its stderr.
#[test]
fn panic_messages_never_reach_the_log() {
    const CHILD: &str = "MIMIDNS_PANIC_CHILD";
    if std::env::var_os(CHILD).is_some() {
        mimidns::panic_guard::install_redacting_hook();
        panic!("the identifier was +14155550100");
    }
    let output = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args([
            "--exact",
            "panic_messages_never_reach_the_log",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .expect("child runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "the child panicked");
    assert!(stderr.contains("internal error (panic) at"), "{stderr}");
    assert!(!stderr.contains("4155550100"), "{stderr}");
    assert!(!stdout.contains("4155550100"), "{stdout}");
}

/// Regression: the CNAME-beside-other-data check ran outside the write lock,
/// so a PUT of A and a PUT of CNAME at one name could both succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_cname_and_other_data_never_both_land() {
    let server = start_server(&repo_path("tests/zones")).await;
    let socket = server.server.admin_socket.clone();
    for round in 0..40 {
        let name = format!("race{round}");
        let put = |record_type: &'static str, rdata: &'static str| {
            let client = AdminClient::new(&socket);
            let path = format!("/v1/zones/{ZONE}/rrsets/{name}/{record_type}");
            tokio::spawn(async move {
                let body = PutRrset {
                    ttl: 60,
                    rdata: vec![rdata.into()],
                };
                let bytes = serde_json::to_vec(&body).expect("json");
                client
                    .request(Method::PUT, &path, Some(bytes))
                    .await
                    .expect("request")
                    .0
            })
        };
        let a = put("A", "192.0.2.1");
        let cname = put("CNAME", "www.example.test.");
        let (a, cname) = (a.await.expect("task"), cname.await.expect("task"));
        assert!(
            !(a.is_success() && cname.is_success()),
            "round {round}: both A and CNAME were accepted at one name"
        );
        assert!(
            a.is_success() || cname.is_success(),
            "round {round}: one lands"
        );
        if !a.is_success() {
            assert_eq!(a.as_u16(), 409);
        }
        if !cname.is_success() {
            assert_eq!(cname.as_u16(), 409);
        }
    }
    server.server.shutdown().await;
}

/// Regression: `admin put --add` was a GET then a PUT in the client, so
/// concurrent appends lost mappings. Appends now happen on the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_all_land() {
    let server = start_server(&repo_path("tests/zones")).await;
    let path = format!(
        "/v1/zones/{ZONE}/identifiers/{}/mappings",
        encode_segment("+14155550123")
    );
    let mut tasks = Vec::new();
    for index in 0..12 {
        let client = AdminClient::new(&server.server.admin_socket);
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            let body = PutIdentifier {
                mappings: vec![chat_mapping(&format!("user-{index}"))],
            };
            let _: WriteResult = client
                .call(Method::POST, &path, Some(&body))
                .await
                .expect("append");
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let client = AdminClient::new(&server.server.admin_socket);
    let read: IdentifierRecord = client
        .call(Method::GET, path.trim_end_matches("/mappings"), None::<&()>)
        .await
        .expect("get");
    assert_eq!(read.mappings.len(), 12, "every append landed");
    // Past the zone's limit an append is refused and changes nothing.
    let too_many = PutIdentifier {
        mappings: (0..5)
            .map(|i| chat_mapping(&format!("extra-{i}")))
            .collect(),
    };
    let (status, _) = client
        .request(
            Method::POST,
            &path,
            Some(serde_json::to_vec(&too_many).expect("json")),
        )
        .await
        .expect("request");
    assert_eq!(status.as_u16(), 422);
    let read: IdentifierRecord = client
        .call(Method::GET, path.trim_end_matches("/mappings"), None::<&()>)
        .await
        .expect("get");
    assert_eq!(read.mappings.len(), 12);
    server.server.shutdown().await;
}

mod admin_listeners {
    use std::time::{Duration, Instant};

    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
    use tokio::net::{TcpStream, UnixStream};

    use super::common::{Ask, repo_path, start_server_with};
    use mimidns::admin::listener::ConnectionLimits;

    const LIMITS: ConnectionLimits = ConnectionLimits {
        max_connections: 4,
        header_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(2),
    };

    async fn start(token_file: Option<std::path::PathBuf>) -> super::common::TestServer {
        start_server_with(
            &repo_path("tests/zones"),
            tempfile::tempdir().expect("data dir"),
            |config| {
                config.admin.limits = LIMITS;
                if let Some(token_file) = token_file {
                    config.admin.tcp_listen = Some("127.0.0.1:0".parse().expect("address"));
                    config.admin.token_file = Some(token_file);
                }
            },
        )
        .await
    }

    /// Reads until EOF or `limit`; returns what came and when the stream ended.
    async fn read_until_closed(
        stream: &mut (impl AsyncRead + Unpin),
        limit: Duration,
    ) -> (String, Option<Duration>) {
        let started = Instant::now();
        let mut received = Vec::new();
        let mut buffer = [0u8; 1024];
        loop {
            match tokio::time::timeout_at((started + limit).into(), stream.read(&mut buffer)).await
            {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    return (
                        String::from_utf8_lossy(&received).into(),
                        Some(started.elapsed()),
                    );
                }
                Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
                Err(_) => return (String::from_utf8_lossy(&received).into(), None),
            }
        }
    }

    async fn write(stream: &mut (impl AsyncWrite + Unpin), bytes: &str) {
        stream.write_all(bytes.as_bytes()).await.expect("write");
    }

    /// Regression: a client that sends half a header and waits held its
    /// connection (and descriptor) forever.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slow_headers_are_cut_off() {
        let server = start(None).await;
        let mut stream = UnixStream::connect(&server.server.admin_socket)
            .await
            .expect("connect");
        write(&mut stream, "GET /v1/zones HTTP/1.1\r\nHost: x\r\n").await;
        let (_, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
        let closed = closed.expect("the server closes a connection whose headers stall");
        assert!(closed < Duration::from_secs(4), "closed after {closed:?}");
        // An idle connection that never sends anything is closed too.
        let mut idle = UnixStream::connect(&server.server.admin_socket)
            .await
            .expect("connect");
        let (_, closed) = read_until_closed(&mut idle, Duration::from_secs(5)).await;
        assert!(closed.is_some(), "an idle connection is closed");
        server.server.shutdown().await;
    }

    /// A body that stalls gets 408 once the body timeout passes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slow_bodies_get_408() {
        let server = start(None).await;
        let mut stream = UnixStream::connect(&server.server.admin_socket)
            .await
            .expect("connect");
        write(
            &mut stream,
            "POST /v1/zones/example.test./batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"oper",
        )
        .await;
        let (reply, _) = read_until_closed(&mut stream, Duration::from_secs(6)).await;
        assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
        assert!(reply.contains("request_timeout"), "{reply}");
        server.server.shutdown().await;
    }

    /// Regression: idle admin connections were unbounded and could take every
    /// descriptor; now the extra ones are closed at once and DNS is unaffected.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn admin_connections_are_capped() {
        let server = start(None).await;
        let socket = server.server.admin_socket.clone();
        let mut held = Vec::new();
        for _ in 0..LIMITS.max_connections {
            let mut stream = UnixStream::connect(&socket).await.expect("connect");
            write(&mut stream, "GET /health HTTP/1.1\r\nHost: x\r\n").await;
            held.push(stream);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut extra = UnixStream::connect(&socket).await.expect("connect");
        let _ = extra
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await;
        let (reply, closed) = read_until_closed(&mut extra, Duration::from_millis(800)).await;
        assert!(
            closed.is_some() && reply.is_empty(),
            "over the cap: {reply:?}"
        );
        let address = server.address;
        let dns = tokio::task::spawn_blocking(move || {
            super::common::ask(
                address,
                "example.test.",
                hickory_proto::rr::RecordType::SOA,
                Ask::UDP,
            )
        })
        .await
        .expect("query");
        assert_eq!(dns.answers.len(), 1, "DNS still answers");
        drop(held);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut again = UnixStream::connect(&socket).await.expect("connect");
        write(
            &mut again,
            "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        let (reply, _) = read_until_closed(&mut again, Duration::from_secs(3)).await;
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        server.server.shutdown().await;
    }

    /// The bearer token is checked on the headers: a wrong one gets 401 at
    /// once, without the server waiting for the announced body.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn token_is_checked_before_the_body() {
        let token_dir = tempfile::tempdir().expect("tempdir");
        let token_file = token_dir.path().join("token");
        std::fs::write(&token_file, "0123456789abcdef0123").expect("token");
        let server = start(Some(token_file)).await;
        let address = server.server.admin_tcp.expect("tcp listener");
        let mut stream = TcpStream::connect(address).await.expect("connect");
        write(
            &mut stream,
            "PUT /v1/zones/example.test./identifiers/%2B14155550100 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong-token-wrong-token\r\nContent-Type: application/json\r\nContent-Length: 4000000\r\n\r\n",
        )
        .await;
        let started = Instant::now();
        let mut buffer = [0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
            .await
            .expect("an answer before the body")
            .expect("read");
        let reply = String::from_utf8_lossy(&buffer[..n]);
        assert!(reply.starts_with("HTTP/1.1 401"), "{reply}");
        assert!(
            started.elapsed() < LIMITS.body_timeout,
            "answered without waiting"
        );
        server.server.shutdown().await;
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_type().expect("type").is_file() {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Regression: one flipped byte in the store made sled panic on open (a
/// restart loop) or silently lost an acknowledged identifier. Flip a byte
/// of each stored mapping in turn: the server either refuses to start
/// (exit 3, "corrupt") or serves every acknowledged identifier correctly or
/// with SERVFAIL (and /health says the store is corrupt) — never a wrong
/// answer, never NXDOMAIN for data it acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flipped_bytes_in_the_store_are_never_served_silently() {
    use hickory_proto::op::ResponseCode;
    let pristine = tempfile::tempdir().expect("data dir");
    let count = 30;
    let mut owners = Vec::new();
    {
        let server = common::start_server_in(
            &repo_path("tests/zones"),
            tempfile::TempDir::new_in(pristine.path()).expect("sub"),
        )
        .await;
        let client = AdminClient::new(&server.server.admin_socket);
        for index in 0..count {
            let identifier = format!("+1415555{index:04}");
            let path = format!(
                "/v1/zones/{ZONE}/identifiers/{}",
                encode_segment(&identifier)
            );
            let body = PutIdentifier {
                mappings: vec![chat_mapping(&format!("flipmark-{index:04}"))],
            };
            let result: WriteResult = client
                .call(Method::PUT, &path, Some(&body))
                .await
                .expect("put");
            owners.push((index, result.identifier.expect("reference")));
        }
        let data = server.data_dir.path().to_path_buf();
        server.server.shutdown().await;
        copy_dir(&data, &pristine.path().join("data"));
    }
    let pristine_data = pristine.path().join("data");
    let db = std::fs::read(pristine_data.join("store/db")).expect("sled file");
    let marker = b"flipmark-";
    let offsets: Vec<usize> = db
        .windows(marker.len())
        .enumerate()
        .filter(|(_, window)| *window == marker)
        .map(|(at, _)| at + marker.len() + 2)
        .collect();
    assert!(!offsets.is_empty(), "the mappings are in the sled file");
    let step = offsets.len().div_ceil(10).max(1);
    let binary = env!("CARGO_BIN_EXE_mimidns");
    let mut outcomes = std::collections::BTreeMap::<&str, usize>::new();
    for &offset in offsets.iter().step_by(step) {
        let trial = tempfile::tempdir().expect("trial");
        let data = trial.path().join("data");
        copy_dir(&pristine_data, &data);
        let mut bytes = std::fs::read(data.join("store/db")).expect("read");
        bytes[offset] ^= 0x04;
        std::fs::write(data.join("store/db"), &bytes).expect("write");
        let port = common::free_port();
        let mut child = std::process::Command::new(binary)
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--zones-dir",
            ])
            .arg(repo_path("tests/zones"))
            .arg("--data-dir")
            .arg(&data)
            .env("RUST_LOG", "error")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("server starts");
        let address: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut serving = false;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().expect("wait") {
                let mut stderr = String::new();
                use std::io::Read;
                child
                    .stderr
                    .take()
                    .expect("stderr")
                    .read_to_string(&mut stderr)
                    .expect("read");
                assert_eq!(status.code(), Some(3), "offset {offset}: {stderr}");
                assert!(stderr.contains("corrupt"), "offset {offset}: {stderr}");
                *outcomes.entry("refused to start").or_default() += 1;
                break;
            }
            let probe = query_message(ZONE, RecordType::SOA, Ask::UDP)
                .to_vec()
                .expect("encode");
            if common::exchange_raw(address, &probe, false).is_some() {
                serving = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if serving {
            let mut servfails = 0;
            for (index, reference) in &owners {
                let label = reference.trim_start_matches("hash:");
                let name = format!("{label}._mimi.{ZONE}");
                let reply = common::ask(address, &name, RecordType::TXT, Ask::UDP);
                match reply.metadata.response_code {
                    ResponseCode::ServFail => servfails += 1,
                    ResponseCode::NoError => {
                        let text: String =
                            reply.answers.iter().map(|r| r.data.to_string()).collect();
                        assert!(
                            text.contains(&format!("flipmark-{index:04}")),
                            "offset {offset}: identifier {index} served wrong data: {text}"
                        );
                    }
                    other => panic!(
                        "offset {offset}: identifier {index} answered {other}: an acknowledged write lost silently"
                    ),
                }
            }
            if servfails > 0 {
                let health = AdminClient::new(&data.join("admin.sock"))
                    .request(Method::GET, "/health", None)
                    .await
                    .expect("health");
                assert_eq!(health.0.as_u16(), 503, "offset {offset}");
                assert!(String::from_utf8_lossy(&health.1).contains("corrupt"));
                *outcomes
                    .entry("served, damaged names SERVFAIL")
                    .or_default() += 1;
            } else {
                *outcomes.entry("served, all intact").or_default() += 1;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            serving || outcomes.contains_key("refused to start"),
            "offset {offset}: neither served nor refused"
        );
    }
    eprintln!("outcomes: {outcomes:?}");
}

/// Whether the suite runs in its own mount namespace (./test.sh as root),
/// where a test may mount a small tmpfs without touching the host.
fn in_private_mount_namespace() -> bool {
    std::env::var_os("MIMIDNS_MOUNTNS").is_some_and(|v| v == "1") && is_root()
}

/// Unmounts when dropped.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Regression: after the disk filled up, writes failed until a restart
/// (sled's error is sticky) while /health said ok. Now /health reports the
/// failing store, and writes work again once space is freed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_recover_after_the_disk_was_full() {
    if !in_private_mount_namespace() {
        eprintln!("skipped: needs ./test.sh as root (a private mount namespace for a small tmpfs)");
        return;
    }
    let outer = tempfile::tempdir().expect("tempdir");
    let mount_point = outer.path().join("small");
    std::fs::create_dir(&mount_point).expect("mkdir");
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=12m", "tmpfs"])
        .arg(&mount_point)
        .status()
        .expect("mount runs");
    assert!(status.success(), "mount tmpfs");
    let _mounted = Mounted(mount_point.clone());
    let data = tempfile::TempDir::new_in(&mount_point).expect("data dir");
    let data_path = data.path().to_path_buf();
    let server = common::start_server_with(&repo_path("tests/zones"), data, |config| {
        config.memory_index = true;
    })
    .await;
    let client = AdminClient::new(&server.server.admin_socket);
    let put = |index: usize| {
        let path = format!(
            "/v1/zones/{ZONE}/identifiers/{}",
            encode_segment(&format!("+1415556{index:04}"))
        );
        let body = serde_json::to_vec(&PutIdentifier {
            mappings: vec![chat_mapping(&format!("full-{index:04}"))],
        })
        .expect("json");
        (path, body)
    };
    for index in 0..5 {
        let (path, body) = put(index);
        let (status, _) = client
            .request(Method::PUT, &path, Some(body))
            .await
            .expect("put");
        assert!(status.is_success());
    }
    // Fill the disk.
    let filler = mount_point.join("filler");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&filler).expect("filler");
        let chunk = vec![0u8; 64 << 10];
        while file.write_all(&chunk).is_ok() {}
        let _ = file.sync_all();
    }
    // Write until sled itself fails (it has space reserved in its segments,
    // so the first failures may be the acknowledged-serials file alone).
    let mut acknowledged: Vec<usize> = (0..5).collect();
    let mut sled_failed = false;
    let mut index = 5;
    while index < 20_000 && !sled_failed {
        let operations: Vec<mimidns::admin::api::BatchOperation> = (index..index + 50)
            .map(|i| mimidns::admin::api::BatchOperation::Put {
                identifier: format!("+1415556{i:04}"),
                mappings: vec![chat_mapping(&format!("full-{i:04}-{}", "x".repeat(150)))],
            })
            .collect();
        let body = serde_json::to_vec(&mimidns::admin::api::Batch { operations }).expect("json");
        let path = format!("/v1/zones/{ZONE}/batch");
        let (status, reply) = client
            .request(Method::POST, &path, Some(body))
            .await
            .expect("batch");
        if status.is_success() {
            acknowledged.extend(index..index + 50);
        } else {
            assert_eq!(status.as_u16(), 500);
            let (status, body) = client
                .request(Method::GET, "/health", None)
                .await
                .expect("health");
            assert_eq!(status.as_u16(), 503, "{}", String::from_utf8_lossy(&body));
            assert!(String::from_utf8_lossy(&body).contains("failing"));
            sled_failed = String::from_utf8_lossy(&reply).contains("store I/O failed");
        }
        index += 50;
    }
    assert!(sled_failed, "sled reports the full disk");
    eprintln!("sled failed on a full disk after {index} writes");
    let (status, body) = client
        .request(Method::GET, "/health", None)
        .await
        .expect("health");
    assert_eq!(status.as_u16(), 503, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("failing"));
    // Free the space: the next write works, and health is ok again.
    std::fs::remove_file(&filler).expect("remove filler");
    let (path, body) = put(9999);
    let (status, reply) = client
        .request(Method::PUT, &path, Some(body))
        .await
        .expect("put");
    assert!(status.is_success(), "{}", String::from_utf8_lossy(&reply));
    let (status, _) = client
        .request(Method::GET, "/health", None)
        .await
        .expect("health");
    assert_eq!(status.as_u16(), 200);
    acknowledged.push(9999);
    // Everything acknowledged is served, before and after a restart.
    let check = |address: SocketAddr| {
        let acknowledged = acknowledged.clone();
        tokio::task::spawn_blocking(move || {
            for index in acknowledged {
                let label = mimidns::identifier::hash_identifier(&format!("+1415556{index:04}"))
                    .expect("hash")
                    .label;
                let reply = common::ask(
                    address,
                    &format!("{label}._mimi.{ZONE}"),
                    RecordType::TXT,
                    Ask::UDP,
                );
                assert_eq!(reply.answers.len(), 1, "identifier {index}");
            }
        })
    };
    check(server.address).await.expect("served");
    server.server.shutdown().await;
    let config_dir = data_path;
    let restarted = common::start_server_with(
        &repo_path("tests/zones"),
        tempfile::TempDir::new_in(&mount_point).expect("scratch"),
        |config| config.data_dir = config_dir,
    )
    .await;
    check(restarted.address)
        .await
        .expect("served after restart");
    restarted.server.shutdown().await;
}

/// Regression: unbounded tags and ALPN lists, oversized RRsets that no
/// message could carry, IP literals as SVCB targets and extra RDATA fields
/// were accepted. Each now gets a 4xx that says what is wrong, and the
/// store is untouched (the serial does not move).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_or_malformed_writes_are_refused_and_change_nothing() {
    let server = start_server(&repo_path("tests/zones")).await;
    let client = AdminClient::new(&server.server.admin_socket);
    let serial = |client: &AdminClient| {
        let client = client.clone();
        async move {
            let zones: Vec<mimidns::admin::api::ZoneSummary> = client
                .call(Method::GET, "/v1/zones", None::<&()>)
                .await
                .expect("zones");
            zones[0].serial
        }
    };
    let before = serial(&client).await;
    let path = format!(
        "/v1/zones/{ZONE}/identifiers/{}",
        encode_segment("+14155550199")
    );
    let with = |change: &dyn Fn(&mut Mapping)| {
        let mut mapping = chat_mapping("u");
        change(&mut mapping);
        serde_json::to_vec(&PutIdentifier {
            mappings: vec![mapping],
        })
        .expect("json")
    };
    let many_mappings = serde_json::to_vec(&PutIdentifier {
        mappings: (0..16)
            .map(|i| {
                let mut mapping = chat_mapping(&format!("{i}-{}", "s".repeat(240)));
                mapping.tags = (0..16).map(|t| format!("{t}{}", "t".repeat(240))).collect();
                mapping
            })
            .collect(),
    })
    .expect("json");
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (
            with(&|m| m.tags = (0..17).map(|i| i.to_string()).collect()),
            422,
            "at most 16",
        ),
        (
            with(&|m| m.alpn = (0..9).map(|i| format!("p{i}")).collect()),
            422,
            "at most 8",
        ),
        (with(&|m| m.target = "192.0.2.1".into()), 422, "IP address"),
        (
            with(&|m| m.target = "[2001:db8::1]".into()),
            422,
            "IP address",
        ),
        (many_mappings, 422, "fit in one DNS message"),
    ];
    for (body, status, message) in cases {
        let (got, reply) = client
            .request(Method::PUT, &path, Some(body))
            .await
            .expect("put");
        let error: ApiError = serde_json::from_slice(&reply).expect("JSON error");
        assert_eq!(got.as_u16(), status, "{error:?}");
        assert!(error.message.contains(message), "{error:?} lacks {message}");
    }
    let rrset_path = format!("/v1/zones/{ZONE}/rrsets/extra/A");
    let body = serde_json::to_vec(&PutRrset {
        ttl: 60,
        rdata: vec!["192.0.2.1 192.0.2.2".into()],
    })
    .expect("json");
    let (got, reply) = client
        .request(Method::PUT, &rrset_path, Some(body))
        .await
        .expect("put");
    assert_eq!(got.as_u16(), 400, "{}", String::from_utf8_lossy(&reply));
    assert!(String::from_utf8_lossy(&reply).contains("too many"));
    assert_eq!(serial(&client).await, before, "nothing was written");
    server.server.shutdown().await;
}

/// Regression: a regular file at the admin socket path was deleted at
/// start. It is refused, named, and left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regular_file_at_the_socket_path_is_refused_not_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("admin.sock");
    std::fs::write(&socket, "precious").expect("file");
    let error = mimidns::admin::http::bind_unix(&socket, None)
        .await
        .expect_err("refused");
    assert!(error.to_string().contains("not a socket"), "{error}");
    assert_eq!(
        std::fs::read_to_string(&socket).expect("still there"),
        "precious"
    );
}
