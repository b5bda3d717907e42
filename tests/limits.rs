//! Enumeration limits and rate limiting against the real server: the
//! negative-answer budget on UDP and TCP, RRL's slip and drop, and the TCP
//! caps per prefix and per connection. Clients send from their own loopback
//! addresses (127.0.0.2, 127.0.0.3, …: all of 127/8 reaches `lo`), so each
//! is a client of its own to the limiter.

mod common;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use mimidns::admin::service::AdminService;
use mimidns::config::Config;
use mimidns::identifier::hash_identifier;

fn owner(identifier: &str) -> String {
    let label = hash_identifier(identifier).expect("hashes").label;
    format!("{label}._mimi.example.test.")
}

/// A UDP socket bound to one loopback address: one client.
fn client(address: &str) -> UdpSocket {
    let socket = UdpSocket::bind(format!("{address}:0")).expect("bind a loopback address");
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    socket
}

/// Sends every query in `names` (TXT) from `socket`, 50 in flight at most,
/// and returns each reply by ID.
fn send_all(socket: &UdpSocket, to: SocketAddr, names: &[String]) -> HashMap<u16, Message> {
    let mut replies = HashMap::new();
    let mut buffer = vec![0u8; 4096];
    for chunk in names.chunks(50) {
        for name in chunk {
            let query = query_message(name, RecordType::TXT, Ask::UDP);
            socket
                .send_to(&query.to_vec().expect("encode"), to)
                .expect("send");
        }
        // Until the chunk is answered, or the server has been silent for
        // the socket's timeout (RRL drops some on purpose).
        let mut received = 0;
        while received < chunk.len() {
            let Ok((length, _)) = socket.recv_from(&mut buffer) else {
                break;
            };
            if let Ok(message) = Message::from_vec(&buffer[..length]) {
                replies.insert(message.metadata.id, message);
                received += 1;
            }
        }
    }
    replies
}

fn is_negative(message: &Message) -> bool {
    message.metadata.response_code == ResponseCode::NXDomain
        || (message.metadata.response_code == ResponseCode::NoError
            && message.answers.is_empty()
            && !message.metadata.truncation)
}

fn loopback_clients_work() -> bool {
    if UdpSocket::bind("127.0.0.2:0").is_ok() {
        return true;
    }
    eprintln!("skipped: 127.0.0.2 cannot be bound here");
    false
}

/// One address asks 10,000 random nonexistent identifiers while a resolver
/// on another address asks for real ones: the enumerator gets at most the
/// budget (burst + rate × time) of negative answers, over UDP and over the
/// TCP fallback together, and the resolver loses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enumerator_gets_at_most_the_budget_and_the_resolver_loses_nothing() {
    if !loopback_clients_work() {
        return;
    }
    const RATE: u32 = 20;
    const BURST: u32 = 100;
    let server = start_server_with(
        &repo_path("tests/zones"),
        tempfile::tempdir().expect("data"),
        |config: &mut Config| {
            config.limits.negative_per_second = RATE;
            config.limits.negative_burst = BURST;
            // Each client is one address here (all of 127/8 is one /24 otherwise).
            config.limits.ipv4_prefix = 32;
        },
    )
    .await;
    let service = AdminService::new(server.server.catalog.clone());
    let real: Vec<String> = (0..50).map(|i| format!("+1415555{i:04}")).collect();
    for identifier in &real {
        service
            .put_identifier("example.test", identifier, &[sample_mapping("alice")])
            .await
            .expect("put");
    }
    let address = server.address;
    let started = Instant::now();
    let enumerator = tokio::task::spawn_blocking(move || {
        let socket = client("127.0.0.2");
        let guesses: Vec<String> = (0..10_000)
            .map(|i| owner(&format!("+4930{:08}", 1_000_000 + i * 7919)))
            .collect();
        let replies = send_all(&socket, address, &guesses);
        let negative = replies.values().filter(|m| is_negative(m)).count();
        let refused = replies
            .values()
            .filter(|m| m.metadata.response_code == ResponseCode::Refused)
            .count();
        // The TC fallback is no way around it: TCP draws on the same budget.
        let mut tcp_negative = 0;
        for guess in guesses.iter().take(20) {
            let reply = ask_from("127.0.0.2", address, guess);
            if is_negative(&reply) {
                tcp_negative += 1;
            }
        }
        (negative, refused, tcp_negative)
    });
    let resolver = tokio::task::spawn_blocking(move || {
        let socket = client("127.0.0.3");
        let mut answered = 0;
        for round in 0..4 {
            let names: Vec<String> = real.iter().map(|i| owner(i)).collect();
            let replies = send_all(&socket, address, &names);
            answered += replies
                .values()
                .filter(|m| {
                    m.metadata.response_code == ResponseCode::NoError && m.answers.len() == 1
                })
                .count();
            if round < 3 {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        answered
    });
    let (negative, refused, tcp_negative) = enumerator.await.expect("enumerator");
    let answered = resolver.await.expect("resolver");
    let elapsed = started.elapsed().as_secs_f64();
    let budget = f64::from(BURST) + f64::from(RATE) * elapsed + 1.0;
    eprintln!(
        "enumerator: {negative} negative over UDP, {tcp_negative} over TCP, {refused} refused in {elapsed:.2} s (budget {budget:.0}); resolver: {answered}/200 answered"
    );
    assert!(
        (negative + tcp_negative) as f64 <= budget,
        "{negative} + {tcp_negative} negative answers exceed the budget of {budget:.0}"
    );
    assert!(negative >= BURST as usize, "the burst itself was answered");
    assert!(refused > 1000, "the rest were refused: {refused}");
    assert_eq!(answered, 200, "the resolver lost answers");
    let stats = server.server.metrics.stats();
    assert!(stats.budget_refused as usize >= refused, "{stats:?}");
    server.server.shutdown().await;
}

/// A TCP query (TXT) from a given source address.
fn ask_from(source: &str, to: SocketAddr, name: &str) -> Message {
    let query = query_message(name, RecordType::TXT, Ask::TCP)
        .to_vec()
        .expect("encode");
    let reply = tcp_exchange(&mut tcp_from(source, to), &query).expect("reply");
    Message::from_vec(&reply).expect("decodes")
}

/// RRL: past the rate, every second limited UDP answer is an empty TC=1
/// reply and the others are dropped; the same question over TCP is answered
/// in full; another client is not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rrl_slips_and_drops_over_udp_and_spares_tcp_and_other_clients() {
    if !loopback_clients_work() {
        return;
    }
    let server = start_server_with(
        &repo_path("tests/zones"),
        tempfile::tempdir().expect("data"),
        |config: &mut Config| {
            config.limits.rrl_responses_per_second = 20;
            config.limits.rrl_slip = 2;
            config.limits.ipv4_prefix = 32;
        },
    )
    .await;
    let address = server.address;
    let started = Instant::now();
    let (full, truncated, silent, tcp, other) = tokio::task::spawn_blocking(move || {
        let socket = client("127.0.0.4");
        let names = vec!["host.example.test.".to_string(); 200];
        let replies = send_all(&socket, address, &names);
        let full = replies.values().filter(|m| !m.answers.is_empty()).count();
        let truncated = replies
            .values()
            .filter(|m| m.metadata.truncation && m.answers.is_empty())
            .count();
        let silent = 200 - replies.len();
        let tcp = ask_from("127.0.0.4", address, "host.example.test.");
        let other_client = client("127.0.0.5");
        let other = send_all(&other_client, address, &names[..5]);
        let other = other.values().filter(|m| !m.answers.is_empty()).count();
        (full, truncated, silent, tcp, other)
    })
    .await
    .expect("client");
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!("RRL: {full} answered, {truncated} truncated, {silent} dropped in {elapsed:.2} s");
    let allowed = 20.0 + 20.0 * elapsed + 1.0;
    assert!(
        full >= 20 && full as f64 <= allowed,
        "{full} full answers at 20/s (at most {allowed:.0})"
    );
    let limited = 200 - full;
    assert!(
        truncated.abs_diff(silent) <= 2 && truncated + silent == limited,
        "{truncated} slipped and {silent} dropped of {limited} limited: slip 2 halves them"
    );
    assert_eq!(tcp.answers.len(), 1, "TCP is not rate limited");
    assert_eq!(other, 5, "another client has its own buckets");
    let stats = server.server.metrics.stats();
    assert_eq!(stats.rrl_truncated as usize, truncated);
    assert_eq!(stats.rrl_dropped as usize, silent);
    server.server.shutdown().await;
}

fn query_on(stream: &mut TcpStream, name: &str) -> Option<Message> {
    let query = query_message(name, RecordType::A, Ask::TCP)
        .to_vec()
        .expect("encode");
    Message::from_vec(&tcp_exchange(stream, &query)?).ok()
}

/// One prefix may hold `max-connections-per-prefix` TCP connections; the
/// next is closed at once while other prefixes still connect, and a
/// connection is closed after `max-queries-per-connection` answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connections_are_capped_per_prefix_and_queries_per_connection() {
    if !loopback_clients_work() {
        return;
    }
    let server = start_server_with(
        &repo_path("tests/zones"),
        tempfile::tempdir().expect("data"),
        |config: &mut Config| {
            config.tcp_max_per_prefix = 2;
            config.tcp_max_queries_per_connection = 3;
            config.limits.ipv4_prefix = 32;
        },
    )
    .await;
    let address = server.address;
    let metrics = Arc::clone(&server.server.metrics);
    tokio::task::spawn_blocking(move || {
        let mut first = tcp_from("127.0.0.6", address);
        let mut second = tcp_from("127.0.0.6", address);
        assert!(query_on(&mut first, "host.example.test.").is_some());
        assert!(query_on(&mut second, "host.example.test.").is_some());
        let mut third = tcp_from("127.0.0.6", address);
        assert!(
            query_on(&mut third, "host.example.test.").is_none(),
            "a third connection from one prefix is closed"
        );
        let mut elsewhere = tcp_from("127.0.0.7", address);
        assert!(query_on(&mut elsewhere, "host.example.test.").is_some());
        // `first` has answered one query; two more, then it is closed.
        assert!(query_on(&mut first, "host.example.test.").is_some());
        assert!(query_on(&mut first, "host.example.test.").is_some());
        assert!(
            query_on(&mut first, "host.example.test.").is_none(),
            "closed after three queries"
        );
        // Its slot is free again: a new connection from the prefix works.
        std::thread::sleep(Duration::from_millis(100));
        let mut again = tcp_from("127.0.0.6", address);
        assert!(query_on(&mut again, "host.example.test.").is_some());
    })
    .await
    .expect("client");
    assert_eq!(metrics.stats().tcp_refused_prefix_cap, 1);
    server.server.shutdown().await;
}
