//! The admin API end to end against the server started in-process: writes
//! are visible over DNS at once and bump the serial once; every class of bad
//! input gets a 4xx `{code, message}` and leaves the store unchanged;
//! concurrent writers; batches are atomic for DNS readers; the socket's
//! permissions and ownership rules; the token-guarded TCP listener.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use hyper::Method;
use mimidns::admin::api::{
    ApiError, Batch, BatchOperation, IdentifierRecord, PutIdentifier, PutRrset, WriteResult,
    ZoneSummary,
};
use mimidns::admin::client::{AdminClient, encode_segment};
use mimidns::identifier::hash_identifier;
use mimidns::mapping::Mapping;

const ZONE: &str = "example.test.";

fn mapping(provider: &str, ssi: &str, priority: u16, port: Option<u16>) -> Mapping {
    Mapping {
        provider: provider.into(),
        ssi: ssi.into(),
        target: "host.example.test".into(),
        port,
        alpn: vec!["h2".into()],
        priority,
        tags: vec![],
    }
}

fn identifier_path(identifier: &str) -> String {
    format!(
        "/v1/zones/{}/identifiers/{}",
        ZONE,
        encode_segment(identifier)
    )
}

fn owner(identifier: &str) -> String {
    format!(
        "{}._mimi.example.test.",
        hash_identifier(identifier).expect("valid").label
    )
}

async fn serial(client: &AdminClient) -> u32 {
    let zones: Vec<ZoneSummary> = client
        .call(Method::GET, "/v1/zones", None::<&()>)
        .await
        .expect("zones");
    zones[0].serial
}

async fn export(client: &AdminClient) -> String {
    let (status, body) = client
        .request(Method::GET, &format!("/v1/zones/{ZONE}/export"), None)
        .await
        .expect("export");
    assert!(status.is_success());
    String::from_utf8(body.to_vec()).expect("utf8")
}

async fn dns(
    address: std::net::SocketAddr,
    name: &str,
    record_type: RecordType,
) -> hickory_proto::op::Message {
    let name = name.to_string();
    tokio::task::spawn_blocking(move || ask(address, &name, record_type, Ask::UDP))
        .await
        .expect("query")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_is_visible_over_dns_at_once_and_bumps_the_serial_once() {
    let server = start_server(&repo_path("tests/zones")).await;
    let client = AdminClient::new(&server.server.admin_socket);
    let before = serial(&client).await;
    let put = PutIdentifier {
        mappings: vec![
            mapping(
                "chat.example",
                "mimi://chat.example/u/alice",
                10,
                Some(8443),
            ),
            mapping("other.example", "alice2", 20, None),
        ],
    };
    let result: WriteResult = client
        .call(
            Method::PUT,
            &identifier_path("+1 (415) 555-0100"),
            Some(&put),
        )
        .await
        .expect("put");
    assert_eq!(result.serial, before.wrapping_add(1));
    assert_eq!(
        result.identifier.as_deref(),
        Some("hash:2m77qv3f00d9ntuv514ic09ul2j94uv21us595bvjee9d0rtpta0")
    );
    let name = owner("tel:+14155550100");
    let txt = dns(server.address, &name, RecordType::TXT).await;
    assert_eq!(txt.metadata.response_code, ResponseCode::NoError);
    assert_eq!(txt.answers.len(), 2);
    assert!(txt.answers.iter().all(|r| r.ttl == 300));
    let svcb = dns(server.address, &name, RecordType::SVCB).await;
    assert_eq!(svcb.answers.len(), 2);
    assert!(
        svcb.additionals
            .iter()
            .any(|r| r.record_type() == RecordType::A),
        "target glue in additional"
    );
    let soa = dns(server.address, ZONE, RecordType::SOA).await;
    match &soa.answers[0].data {
        RData::SOA(soa) => assert_eq!(
            soa.serial, result.serial,
            "SOA serial served is the new one"
        ),
        other => panic!("not an SOA: {other:?}"),
    }
    // GET by any form of the same identifier returns the hashed reference only.
    let record: IdentifierRecord = client
        .call(
            Method::GET,
            &identifier_path("tel:+14155550100"),
            None::<&()>,
        )
        .await
        .expect("get");
    assert_eq!(record.mappings.len(), 2);
    assert_eq!(
        record.identifier,
        "hash:2m77qv3f00d9ntuv514ic09ul2j94uv21us595bvjee9d0rtpta0"
    );
    let zones: Vec<ZoneSummary> = client
        .call(Method::GET, "/v1/zones", None::<&()>)
        .await
        .expect("zones");
    assert_eq!(zones[0].identifiers, 1);
    // Delete: NXDOMAIN at once.
    let deleted: WriteResult = client
        .call(
            Method::DELETE,
            &identifier_path("+14155550100"),
            None::<&()>,
        )
        .await
        .expect("delete");
    assert_eq!(deleted.serial, result.serial.wrapping_add(1));
    assert_eq!(
        dns(server.address, &name, RecordType::TXT)
            .await
            .metadata
            .response_code,
        ResponseCode::NXDomain
    );
    let zones: Vec<ZoneSummary> = client
        .call(Method::GET, "/v1/zones", None::<&()>)
        .await
        .expect("zones");
    assert_eq!(zones[0].identifiers, 0);
    server.server.shutdown().await;
}

/// Sends a raw request and checks a 4xx with a JSON `{code, message}`.
async fn expect_error(
    client: &AdminClient,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
    status: u16,
    code: &str,
    message_part: &str,
) {
    let (got_status, bytes) = client
        .request(method.clone(), path, body)
        .await
        .expect("request");
    let error: ApiError = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        panic!(
            "{method} {path}: not a JSON error: {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    assert_eq!(got_status.as_u16(), status, "{method} {path}: {error:?}");
    assert_eq!(error.code, code, "{method} {path}: {error:?}");
    assert!(
        error.message.contains(message_part),
        "{method} {path}: '{}' lacks '{message_part}'",
        error.message
    );
}

/// A 9 MiB body (the limit is 8 MiB). Sent over a raw socket: the server
/// answers 413 before reading it all and may close while the client still
/// writes, which an HTTP client library reports as a write error instead of
/// the response; so write errors are ignored here and the response is read.
async fn oversized_body_is_413(socket: &std::path::Path, path: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let size = 9 << 20;
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
    );
    let writing = tokio::spawn(async move {
        if writer.write_all(head.as_bytes()).await.is_ok() {
            let _ = writer.write_all(&vec![b' '; size]).await;
        }
    });
    let mut response = Vec::new();
    let mut buffer = [0u8; 4096];
    while !response.windows(4).any(|w| w == b"\r\n\r\n") || !response.ends_with(b"}") {
        match tokio::time::timeout(Duration::from_secs(10), reader.read(&mut buffer)).await {
            Ok(Ok(n)) if n > 0 => response.extend_from_slice(&buffer[..n]),
            _ => break,
        }
    }
    writing.abort();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    let error: ApiError =
        serde_json::from_str(body).unwrap_or_else(|_| panic!("not a JSON error: {text}"));
    assert_eq!(error.code, "payload_too_large");
    assert!(error.message.contains("larger than"), "{}", error.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_4xx_and_changes_nothing() {
    let server = start_server(&repo_path("tests/zones")).await;
    let client = AdminClient::new(&server.server.admin_socket);
    let seed = PutIdentifier {
        mappings: vec![mapping("chat.example", "seed", 1, None)],
    };
    let _: WriteResult = client
        .call(
            Method::PUT,
            &identifier_path("seed@example.com"),
            Some(&seed),
        )
        .await
        .expect("seed");
    let rrset = PutRrset {
        ttl: 60,
        rdata: vec!["192.0.2.77".into()],
    };
    let _: WriteResult = client
        .call(
            Method::PUT,
            &format!("/v1/zones/{ZONE}/rrsets/adm/A"),
            Some(&rrset),
        )
        .await
        .expect("rrset");
    let export_before = export(&client).await;
    let serial_before = serial(&client).await;
    let json = |value: serde_json::Value| Some(serde_json::to_vec(&value).expect("json"));
    let good_mapping =
        serde_json::json!({"provider": "chat.example", "ssi": "u", "target": "host.example.test"});
    let put = |mappings: serde_json::Value| json(serde_json::json!({ "mappings": mappings }));
    let alice = identifier_path("alice@example.com");

    expect_error(
        &client,
        Method::PUT,
        &format!(
            "/v1/zones/nowhere.test./identifiers/{}",
            encode_segment("alice@example.com")
        ),
        put(serde_json::json!([good_mapping])),
        404,
        "unknown_zone",
        "not served",
    )
    .await;
    expect_error(
        &client,
        Method::PUT,
        &identifier_path("4155550100"),
        put(serde_json::json!([good_mapping])),
        400,
        "bad_identifier",
        "E.164",
    )
    .await;
    expect_error(
        &client,
        Method::PUT,
        &identifier_path("alice@bad_domain"),
        put(serde_json::json!([good_mapping])),
        400,
        "bad_identifier",
        "domain",
    )
    .await;
    expect_error(
        &client,
        Method::PUT,
        &alice,
        put(serde_json::json!([{"provider": "not a domain", "ssi": "u", "target": "h.example"}])),
        422,
        "bad_mapping",
        "provider",
    )
    .await;
    expect_error(
        &client,
        Method::PUT,
        &alice,
        put(serde_json::json!([{"provider": "p.example", "ssi": "u", "target": "-bad-.example"}])),
        422,
        "bad_mapping",
        "target",
    )
    .await;
    expect_error(&client, Method::PUT, &alice, put(serde_json::json!([{"provider": "p.example", "ssi": "u", "target": "h.example", "priority": 0}])), 422, "bad_mapping", "priority").await;
    expect_error(&client, Method::PUT, &alice, put(serde_json::json!([{"provider": "p.example", "ssi": "u", "target": "h.example", "priority": 70000}])), 400, "bad_request", "priority").await;
    expect_error(&client, Method::PUT, &alice, put(serde_json::json!([{"provider": "p.example", "ssi": "x".repeat(300), "target": "h.example"}])), 422, "bad_mapping", "at most 255").await;
    expect_error(
        &client,
        Method::PUT,
        &alice,
        put(serde_json::json!([good_mapping, good_mapping])),
        422,
        "bad_mapping",
        "same provider and ssi",
    )
    .await;
    let many: Vec<serde_json::Value> = (0..17).map(|i| serde_json::json!({"provider": "p.example", "ssi": format!("u{i}"), "target": "h.example"})).collect();
    expect_error(
        &client,
        Method::PUT,
        &alice,
        put(serde_json::Value::Array(many)),
        422,
        "bad_mapping",
        "at most 16",
    )
    .await;
    expect_error(
        &client,
        Method::PUT,
        &alice,
        put(serde_json::json!([])),
        422,
        "bad_mapping",
        "at least one",
    )
    .await;
    expect_error(
        &client,
        Method::PUT,
        &alice,
        Some(b"{\"mappings\": [".to_vec()),
        400,
        "bad_request",
        "not valid",
    )
    .await;
    expect_error(
        &client,
        Method::PUT,
        &alice,
        json(serde_json::json!({"mappings": [good_mapping], "extra": 1})),
        400,
        "bad_request",
        "unknown field",
    )
    .await;
    oversized_body_is_413(&server.server.admin_socket, &alice).await;
    // CNAME conflicts (RFC 1034 §3.6.2): www is a CNAME in the zone file; adm has an A.
    let a = json(serde_json::json!({"ttl": 60, "rdata": ["192.0.2.1"]}));
    expect_error(
        &client,
        Method::PUT,
        &format!("/v1/zones/{ZONE}/rrsets/www/A"),
        a.clone(),
        409,
        "conflict",
        "CNAME",
    )
    .await;
    expect_error(
        &client,
        Method::PUT,
        &format!("/v1/zones/{ZONE}/rrsets/adm/CNAME"),
        json(serde_json::json!({"ttl": 60, "rdata": ["host"]})),
        409,
        "conflict",
        "CNAME",
    )
    .await;
    expect_error(
        &client,
        Method::PUT,
        &format!("/v1/zones/{ZONE}/rrsets/host/A"),
        a.clone(),
        409,
        "conflict",
        "zone file",
    )
    .await;
    expect_error(
        &client,
        Method::PUT,
        &format!("/v1/zones/{ZONE}/rrsets/@/SOA"),
        json(serde_json::json!({"ttl": 60, "rdata": ["a b 1 2 3 4 5"]})),
        409,
        "conflict",
        "SOA",
    )
    .await;
    expect_error(
        &client,
        Method::PUT,
        &format!("/v1/zones/{ZONE}/rrsets/x._mimi/TXT"),
        json(serde_json::json!({"ttl": 60, "rdata": ["\"x\""]})),
        409,
        "conflict",
        "identifiers API",
    )
    .await;
    expect_error(
        &client,
        Method::PUT,
        &format!("/v1/zones/{ZONE}/rrsets/new/A"),
        json(serde_json::json!({"ttl": 60, "rdata": ["300.1.2.3"]})),
        400,
        "bad_request",
        "rdata 0",
    )
    .await;
    expect_error(
        &client,
        Method::PUT,
        &format!("/v1/zones/{ZONE}/rrsets/new.example.org./A"),
        a.clone(),
        400,
        "bad_request",
        "not in zone",
    )
    .await;
    expect_error(
        &client,
        Method::PUT,
        &format!("/v1/zones/{ZONE}/rrsets/new/WXYZ"),
        a.clone(),
        400,
        "bad_request",
        "unknown record type",
    )
    .await;
    // A batch with one bad operation applies nothing.
    let batch = serde_json::json!({"operations": [
        {"op": "put", "identifier": "bob@example.com", "mappings": [good_mapping]},
        {"op": "put", "identifier": "carol@example.com", "mappings": [{"provider": "p.example", "ssi": "u", "target": "h.example", "priority": 0}]},
    ]});
    expect_error(
        &client,
        Method::POST,
        &format!("/v1/zones/{ZONE}/batch"),
        json(batch),
        422,
        "bad_mapping",
        "operation 1",
    )
    .await;
    let repeated = serde_json::json!({"operations": [
        {"op": "put", "identifier": "bob@example.com", "mappings": [good_mapping]},
        {"op": "delete", "identifier": "mailto:BOB@example.com"},
    ]});
    expect_error(
        &client,
        Method::POST,
        &format!("/v1/zones/{ZONE}/batch"),
        json(repeated),
        400,
        "bad_request",
        "repeats",
    )
    .await;
    expect_error(
        &client,
        Method::DELETE,
        &identifier_path("nobody@example.com"),
        None,
        404,
        "not_found",
        "no mappings",
    )
    .await;
    expect_error(
        &client,
        Method::GET,
        "/v1/nothing",
        None,
        404,
        "not_found",
        "no such endpoint",
    )
    .await;

    assert_eq!(export(&client).await, export_before, "store unchanged");
    assert_eq!(serial(&client).await, serial_before, "serial unchanged");
    assert_eq!(
        dns(server.address, &owner("bob@example.com"), RecordType::TXT)
            .await
            .metadata
            .response_code,
        ResponseCode::NXDomain
    );
    server.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_rrsets_can_be_read_written_and_deleted() {
    let server = start_server(&repo_path("tests/zones")).await;
    let client = AdminClient::new(&server.server.admin_socket);
    let path = format!("/v1/zones/{ZONE}/rrsets/api-svc/SVCB");
    let body = PutRrset {
        ttl: 120,
        rdata: vec!["1 host port=8443 alpn=h3,h2".into()],
    };
    let _: WriteResult = client
        .call(Method::PUT, &path, Some(&body))
        .await
        .expect("put");
    let answer = dns(server.address, "api-svc.example.test.", RecordType::SVCB).await;
    assert_eq!(answer.answers.len(), 1);
    assert_eq!(answer.answers[0].ttl, 120);
    assert!(
        answer
            .additionals
            .iter()
            .any(|r| r.record_type() == RecordType::AAAA),
        "glue for the relative target"
    );
    let read: mimidns::admin::api::RrsetRecord = client
        .call(Method::GET, &path, None::<&()>)
        .await
        .expect("get");
    assert_eq!(read.source, "admin");
    let soa: mimidns::admin::api::RrsetRecord = client
        .call(
            Method::GET,
            &format!("/v1/zones/{ZONE}/rrsets/@/SOA"),
            None::<&()>,
        )
        .await
        .expect("soa");
    assert_eq!(soa.source, "zone-file");
    let _: WriteResult = client
        .call(Method::DELETE, &path, None::<&()>)
        .await
        .expect("delete");
    assert_eq!(
        dns(server.address, "api-svc.example.test.", RecordType::SVCB)
            .await
            .metadata
            .response_code,
        ResponseCode::NXDomain
    );
    server.server.shutdown().await;
}

/// The admin path applies the zone-file loader's rules (src/zone_rules.rs):
/// a DNAME is served with its synthesized CNAME (RFC 6672 §3.2), nothing may
/// be written below it or beside it as a CNAME, it may not cover existing
/// names, and below a delegation only glue is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dname_and_placement_rules_hold_for_admin_writes() {
    let server = start_server(&repo_path("tests/zones")).await;
    let client = AdminClient::new(&server.server.admin_socket);
    let rrset = |name: &str, t: &str| format!("/v1/zones/{ZONE}/rrsets/{name}/{t}");
    let body = |rdata: &[&str]| {
        Some(serde_json::to_vec(&serde_json::json!({"ttl": 60, "rdata": rdata})).expect("json"))
    };
    assert_eq!(
        dns(server.address, "x.moved.example.test.", RecordType::A)
            .await
            .metadata
            .response_code,
        ResponseCode::NXDomain
    );
    let _: WriteResult = client
        .call(
            Method::PUT,
            &rrset("moved", "DNAME"),
            Some(&PutRrset {
                ttl: 60,
                rdata: vec!["example.org.".into()],
            }),
        )
        .await
        .expect("put DNAME");
    let answer = dns(server.address, "x.moved.example.test.", RecordType::A).await;
    assert_eq!(
        section_texts(&answer.answers),
        [
            "moved.example.test. 60 DNAME example.org.",
            "x.moved.example.test. 60 CNAME x.example.org.",
        ]
    );
    // (name, type, RDATA, status, code, part of the message)
    type Refused<'a> = (&'a str, &'a str, &'a [&'a str], u16, &'a str, &'a str);
    let checks: &[Refused] = &[
        (
            "a.moved",
            "A",
            &["192.0.2.1"],
            409,
            "conflict",
            "below a DNAME",
        ),
        (
            "moved",
            "CNAME",
            &["host"],
            409,
            "conflict",
            "DNAME name has no CNAME",
        ),
        ("www", "DNAME", &["example.org."], 409, "conflict", "CNAME"),
        (
            "b",
            "DNAME",
            &["example.org."],
            409,
            "conflict",
            "names exist below it",
        ),
        (
            "two",
            "DNAME",
            &["a.example.", "b.example."],
            400,
            "bad_request",
            "at most one DNAME",
        ),
        (
            "x.deleg",
            "TXT",
            &["\"t\""],
            409,
            "conflict",
            "below a delegation point",
        ),
        (
            "deleg",
            "MX",
            &["10 host"],
            409,
            "conflict",
            "below a delegation point",
        ),
        (
            "q",
            "ANY",
            &["x"],
            400,
            "bad_request",
            "not a record type a zone can hold",
        ),
    ];
    let before = export(&client).await;
    for (name, record_type, rdata, status, code, message) in checks {
        expect_error(
            &client,
            Method::PUT,
            &rrset(name, record_type),
            body(rdata),
            *status,
            code,
            message,
        )
        .await;
    }
    assert_eq!(
        export(&client).await,
        before,
        "refused writes changed nothing"
    );
    // Glue below the delegation is fine.
    let _: WriteResult = client
        .call(
            Method::PUT,
            &rrset("ns2.deleg", "A"),
            Some(&PutRrset {
                ttl: 60,
                rdata: vec!["192.0.2.54".into()],
            }),
        )
        .await
        .expect("glue");
    let _: WriteResult = client
        .call(Method::DELETE, &rrset("moved", "DNAME"), None::<&()>)
        .await
        .expect("delete DNAME");
    assert_eq!(
        dns(server.address, "x.moved.example.test.", RecordType::A)
            .await
            .metadata
            .response_code,
        ResponseCode::NXDomain,
        "the rewrite ends with the DNAME"
    );
    let _: WriteResult = client
        .call(
            Method::PUT,
            &rrset("a.moved", "A"),
            Some(&PutRrset {
                ttl: 60,
                rdata: vec!["192.0.2.1".into()],
            }),
        )
        .await
        .expect("a name where the DNAME was");
    server.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_all_land_with_strictly_increasing_serials() {
    let server = start_server(&repo_path("tests/zones")).await;
    let socket = server.server.admin_socket.clone();
    let start_serial = serial(&AdminClient::new(&socket)).await;
    let mut writers = Vec::new();
    for writer in 0..8u32 {
        let socket = socket.clone();
        writers.push(tokio::spawn(async move {
            let client = AdminClient::new(&socket);
            let mut serials = Vec::with_capacity(500);
            for i in 0..500u32 {
                let put = PutIdentifier {
                    mappings: vec![mapping("chat.example", &format!("w{writer}-{i}"), 1, None)],
                };
                let result: WriteResult = client
                    .call(
                        Method::PUT,
                        &identifier_path(&format!("+1555{writer:02}{i:05}")),
                        Some(&put),
                    )
                    .await
                    .expect("put");
                serials.push(result.serial);
            }
            serials
        }));
    }
    let mut all = Vec::with_capacity(4000);
    for writer in writers {
        let serials = writer.await.expect("writer");
        assert!(
            serials.windows(2).all(|w| w[1] > w[0]),
            "one writer's serials increase"
        );
        all.extend(serials);
    }
    all.sort_unstable();
    all.dedup();
    assert_eq!(
        all.len(),
        4000,
        "every write bumped the serial exactly once"
    );
    let client = AdminClient::new(&socket);
    assert_eq!(serial(&client).await, start_serial + 4000);
    assert_eq!(export(&client).await.lines().count(), 4000);
    let zones: Vec<ZoneSummary> = client
        .call(Method::GET, "/v1/zones", None::<&()>)
        .await
        .expect("zones");
    assert_eq!(zones[0].identifiers, 4000);
    server.server.shutdown().await;
}

/// The generation a reply carries: the SVCB port, or the TXT `pri=`.
fn generation(message: &hickory_proto::op::Message) -> u32 {
    match message.answers.first().map(|r| &r.data) {
        Some(RData::SVCB(svcb)) => svcb
            .svc_params
            .iter()
            .find_map(|(_, v)| match v {
                hickory_proto::rr::rdata::svcb::SvcParamValue::Port(p) => Some(u32::from(*p)),
                _ => None,
            })
            .unwrap_or(0),
        Some(RData::TXT(txt)) => txt
            .txt_data
            .iter()
            .find_map(|s| {
                std::str::from_utf8(s)
                    .ok()?
                    .strip_prefix("pri=")?
                    .parse()
                    .ok()
            })
            .unwrap_or(0),
        _ => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_never_see_a_half_applied_batch() {
    let server = start_server(&repo_path("tests/zones")).await;
    let client = Arc::new(AdminClient::new(&server.server.admin_socket));
    let identifiers: Vec<String> = (0..20).map(|i| format!("batch{i}@example.com")).collect();
    let batch_for = |generation: u16| Batch {
        operations: identifiers
            .iter()
            .map(|identifier| BatchOperation::Put {
                identifier: identifier.clone(),
                mappings: vec![mapping("chat.example", "u", generation, Some(generation))],
            })
            .collect(),
    };
    let _: WriteResult = client
        .call(
            Method::POST,
            &format!("/v1/zones/{ZONE}/batch"),
            Some(&batch_for(1)),
        )
        .await
        .expect("first batch");
    let first = owner(&identifiers[0]);
    let last = owner(&identifiers[19]);
    let address = server.address;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader_stop = stop.clone();
    /// Stops the reader however the writer side ends, so a failure cannot hang the test.
    struct StopOnDrop(Arc<std::sync::atomic::AtomicBool>);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
    let stop_guard = StopOnDrop(stop.clone());
    let reader = tokio::task::spawn_blocking(move || {
        let mut checks = 0;
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while !reader_stop.load(std::sync::atomic::Ordering::Relaxed)
            && std::time::Instant::now() < deadline
        {
            // Read the last name, then the first, then the first's SVCB: each
            // later read must be at least as new as an earlier one.
            let g_last = generation(&ask(address, &last, RecordType::TXT, Ask::UDP));
            let g_first = generation(&ask(address, &first, RecordType::TXT, Ask::UDP));
            let g_first_svcb = generation(&ask(address, &first, RecordType::SVCB, Ask::UDP));
            assert!(
                g_first >= g_last,
                "saw generation {g_last} at the last name but {g_first} at the first afterwards"
            );
            assert!(
                g_first_svcb >= g_first,
                "TXT of generation {g_first} but SVCB of {g_first_svcb} afterwards"
            );
            checks += 1;
        }
        checks
    });
    for generation in 2..=150u16 {
        let _: WriteResult = client
            .call(
                Method::POST,
                &format!("/v1/zones/{ZONE}/batch"),
                Some(&batch_for(generation)),
            )
            .await
            .expect("batch");
    }
    drop(stop_guard);
    let checks = reader.await.expect("reader held");
    assert!(checks > 10, "the reader ran ({checks} checks)");
    server.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_socket_is_private_and_never_stolen() {
    let server = start_server(&repo_path("tests/zones")).await;
    let socket = server.server.admin_socket.clone();
    let mode = std::fs::metadata(&socket)
        .expect("socket")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "admin socket mode");
    // A second instance on the same socket refuses to start.
    let config = mimidns::config::Config {
        listen: vec!["127.0.0.1:0".parse().expect("addr")],
        zones_dir: repo_path("tests/zones"),
        data_dir: tempfile::tempdir().expect("dir").keep(),
        admin: mimidns::config::AdminSettings {
            socket: Some(socket.clone()),
            ..Default::default()
        },
        ..Default::default()
    };
    let error = match mimidns::server::start(&config).await {
        Ok(_) => panic!("a second server took over a live admin socket"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("in use"), "{error}");
    let client = AdminClient::new(&socket);
    let health: mimidns::admin::api::Health = client
        .call(Method::GET, "/health", None::<&()>)
        .await
        .expect("still served");
    assert_eq!(health.status, "ok");
    server.server.shutdown().await;
    // A stale socket file (no listener) is replaced.
    let stale_dir = tempfile::tempdir().expect("dir");
    let stale = stale_dir.path().join("admin.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).expect("bind"));
    assert!(stale.exists());
    let config = mimidns::config::Config {
        admin: mimidns::config::AdminSettings {
            socket: Some(stale.clone()),
            ..Default::default()
        },
        ..config
    };
    let second = mimidns::server::start(&config)
        .await
        .expect("stale socket replaced");
    let health: mimidns::admin::api::Health = AdminClient::new(&stale)
        .call(Method::GET, "/health", None::<&()>)
        .await
        .expect("health");
    assert_eq!(health.zones, 1);
    // The index is built in the background; health says when it answers.
    let mut ready = health.memory_index_ready;
    for _ in 0..200 {
        if ready {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let health: mimidns::admin::api::Health = AdminClient::new(&stale)
            .call(Method::GET, "/health", None::<&()>)
            .await
            .expect("health");
        ready = health.memory_index_ready;
    }
    assert!(ready, "the in-memory index never reported ready");
    second.shutdown().await;
}

async fn http_status(address: std::net::SocketAddr, token: Option<&str>) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!("GET /v1/zones HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut response))
        .await
        .expect("in time")
        .expect("read");
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_admin_listener_requires_the_bearer_token() {
    let dir = tempfile::tempdir().expect("dir");
    let token_file = dir.path().join("token");
    let token = "s3cret-token-for-tests-0123456789";
    std::fs::write(&token_file, format!("{token}\n")).expect("token");
    let config = mimidns::config::Config {
        listen: vec!["127.0.0.1:0".parse().expect("addr")],
        zones_dir: repo_path("tests/zones"),
        data_dir: dir.path().join("data"),
        admin: mimidns::config::AdminSettings {
            tcp_listen: Some("127.0.0.1:0".parse().expect("addr")),
            token_file: Some(token_file),
            ..Default::default()
        },
        ..Default::default()
    };
    let server = mimidns::server::start(&config).await.expect("starts");
    let address = server.admin_tcp.expect("admin TCP bound");
    assert_eq!(http_status(address, None).await, 401);
    assert_eq!(
        http_status(address, Some("s3cret-token-for-tests-0123456788")).await,
        401
    );
    assert_eq!(http_status(address, Some("short")).await, 401);
    assert_eq!(http_status(address, Some(token)).await, 200);
    server.shutdown().await;
}
