//! Metrics and stats against the real server: the Prometheus endpoint
//! passes `promtool check metrics` (Debian package `prometheus`), its
//! counters move with real traffic over UDP and TCP and with admin writes,
//! and `GET /v1/metrics`, `GET /v1/stats` and `mimidns admin stats` say the
//! same.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::*;
use hickory_proto::rr::RecordType;
use mimidns::admin::service::AdminService;
use mimidns::config::Config;

/// `GET path` over plain HTTP/1.0; the body.
fn http_get(address: SocketAddr, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: metrics\r\n\r\n").expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let (head, body) = response.split_once("\r\n\r\n").expect("head and body");
    (head.to_string(), body.to_string())
}

/// The value of the sample whose name and labels are exactly `series`.
fn sample(exposition: &str, series: &str) -> f64 {
    exposition
        .lines()
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no sample {series} in:\n{exposition}"))
}

fn promtool_check(exposition: &str) {
    let promtool = require_tool("promtool");
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(exposition.as_bytes())
        .expect("feed promtool");
    let output = child.wait_with_output().expect("promtool ends");
    assert!(
        output.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_endpoint_passes_promtool_and_counts_real_traffic() {
    let server = start_server_with(
        &repo_path("tests/zones"),
        tempfile::tempdir().expect("data"),
        |config: &mut Config| {
            config.metrics_listen = Some("127.0.0.1:0".parse().expect("address"));
        },
    )
    .await;
    let metrics_address = server.server.metrics_address.expect("metrics listener");
    let address = server.address;
    let service = AdminService::new(server.server.catalog.clone())
        .with_metrics(server.server.metrics.clone());
    let mapping = sample_mapping("alice");
    for i in 0..3 {
        service
            .put_identifier(
                "example.test",
                &format!("+1415555010{i}"),
                std::slice::from_ref(&mapping),
            )
            .await
            .expect("put");
    }
    let before = tokio::task::spawn_blocking(move || http_get(metrics_address, "/metrics"))
        .await
        .expect("scrape");
    assert!(before.0.contains("200 OK"), "{}", before.0);
    assert!(
        before.0.contains("text/plain; version=0.0.4"),
        "{}",
        before.0
    );
    promtool_check(&before.1);
    assert_eq!(
        sample(&before.1, "mimidns_admin_writes_total"),
        3.0,
        "admin writes counted"
    );
    assert_eq!(sample(&before.1, "mimidns_admin_commit_seconds_count"), 3.0);
    assert_eq!(
        sample(
            &before.1,
            "mimidns_zone_identifiers{zone=\"example.test.\"}"
        ),
        3.0
    );

    tokio::task::spawn_blocking(move || {
        for _ in 0..10 {
            ask(address, "host.example.test.", RecordType::A, Ask::UDP);
        }
        for _ in 0..4 {
            ask(address, "nope.example.test.", RecordType::AAAA, Ask::TCP);
        }
        ask(address, "elsewhere.invalid.", RecordType::TXT, Ask::UDP);
    })
    .await
    .expect("queries");
    let (_, after) = tokio::task::spawn_blocking(move || http_get(metrics_address, "/metrics"))
        .await
        .expect("scrape");
    promtool_check(&after);
    let moved = |series: &str| sample(&after, series) - sample(&before.1, series);
    assert_eq!(
        moved("mimidns_queries_total{transport=\"udp\",qtype=\"A\"}"),
        10.0
    );
    assert_eq!(
        moved("mimidns_queries_total{transport=\"tcp\",qtype=\"AAAA\"}"),
        4.0
    );
    assert_eq!(
        moved("mimidns_responses_total{transport=\"tcp\",rcode=\"NXDOMAIN\"}"),
        4.0
    );
    assert_eq!(
        moved("mimidns_responses_total{transport=\"udp\",rcode=\"REFUSED\"}"),
        1.0
    );
    assert_eq!(sample(&after, "mimidns_index_ready"), 1.0);
    let serial = zone_serial(&server.server);
    assert_eq!(
        sample(&after, "mimidns_zone_serial{zone=\"example.test.\"}"),
        f64::from(serial)
    );

    // The admin socket says the same, as text and as JSON (CLI).
    let socket = server.server.admin_socket.clone();
    let client = mimidns::admin::client::AdminClient::new(&socket);
    let (status, body) = client
        .request(hyper::Method::GET, "/v1/metrics", None)
        .await
        .expect("admin metrics");
    assert!(status.is_success());
    let admin_text = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(
        sample(
            &admin_text,
            "mimidns_queries_total{transport=\"udp\",qtype=\"A\"}"
        ),
        sample(
            &after,
            "mimidns_queries_total{transport=\"udp\",qtype=\"A\"}"
        )
    );
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_mimidns"))
            .args(["admin", "--json", "--socket"])
            .arg(&socket)
            .arg("stats")
            .output()
            .expect("admin stats runs")
    })
    .await
    .expect("cli");
    assert!(output.status.success(), "{output:?}");
    let stats: mimidns::metrics::Stats =
        serde_json::from_slice(&output.stdout).expect("stats JSON");
    assert_eq!(stats.queries["tcp"], 4);
    assert!(stats.queries["udp"] >= 11);
    assert_eq!(stats.responses_by_rcode["NXDOMAIN"], 4);
    assert_eq!(stats.admin_writes, 3);
    assert_eq!(stats.zones[0].identifiers, 3);
    server.server.shutdown().await;
}
