//! Differential test: the same zone file served by Knot DNS and by mimidns;
//! the same questions to both; RCODE, AA and TC flags, answer and authority
//! sections must match. The additional section is not compared: RFC 1035
//! §4.3.2 step 6 leaves its content to the server, and mimidns adds the
//! owner's addresses for a ServiceMode SVCB with TargetName "." (RFC 9460
//! §2.5.2, §4.1), which Knot does not.
//!
//! knotd runs on a free loopback port with a private run directory and no
//! remote peers configured, so it sends nothing off the machine.

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};

use common::*;
use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;

fn start_knot(
    zones_dir: &std::path::Path,
    zone: &str,
    file: &str,
) -> (Daemon, SocketAddr, tempfile::TempDir) {
    let knotd = require_tool("knotd");
    let run = tempfile::tempdir().expect("run dir");
    let port = free_port();
    let config = format!(
        "server:\n    listen: 127.0.0.1@{port}\n    rundir: {run}\n    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n\
         database:\n    storage: {run}/db\n\
         log:\n  - target: stderr\n    any: warning\n\
         template:\n  - id: default\n    storage: {zones}\n    zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\n\
         zone:\n  - domain: {zone}\n    file: {file}\n",
        run = run.path().display(),
        zones = zones_dir.display(),
    );
    let config_path = run.path().join("knot.conf");
    std::fs::write(&config_path, config).expect("write knot.conf");
    let child = Command::new(knotd)
        .arg("-c")
        .arg(&config_path)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("knotd starts");
    let address: SocketAddr = ([127, 0, 0, 1], port).into();
    let daemon = Daemon {
        child,
        name: "knotd",
    };
    wait_for_dns(address, zone);
    (daemon, address, run)
}

/// Record texts with names compared case-insensitively: Knot compresses
/// names inside NS/CNAME/MX RDATA against the question, so they take the
/// question's case; mimidns copies RDATA as stored. Both are the same name
/// (RFC 4343 §3). TXT data is case-sensitive and compared as is.
fn section(records: &[hickory_proto::rr::Record]) -> Vec<String> {
    let mut texts: Vec<String> = records
        .iter()
        .map(|record| {
            let text = record_text(record);
            if record.record_type() == RecordType::TXT {
                text
            } else {
                text.to_ascii_lowercase()
            }
        })
        .collect();
    texts.sort();
    texts
}

/// What must agree between the two servers.
fn comparable(reply: &Message) -> (String, bool, bool, Vec<String>, Vec<String>) {
    (
        format!("{:?}", reply.metadata.response_code),
        reply.metadata.authoritative,
        reply.metadata.truncation,
        section(&reply.answers),
        section(&reply.authorities),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mimidns_answers_like_knot() {
    let zones = repo_path("tests/zones");
    let server = start_server(&zones).await;
    let ours = server.address;
    let zones_for_knot = zones.clone();
    tokio::task::spawn_blocking(move || {
        let (_knot, knot, _run) = start_knot(&zones_for_knot, "example.test", "example.test.zone");
        let questions: &[(&str, RecordType)] = &[
            ("host.example.test.", RecordType::A),
            ("host.example.test.", RecordType::AAAA),
            ("host.example.test.", RecordType::TXT),
            ("HOST.example.TEST.", RecordType::A),
            ("host.example.test.", RecordType::MX),
            ("missing.example.test.", RecordType::A),
            ("deeper.missing.example.test.", RecordType::TXT),
            ("b.example.test.", RecordType::A),
            ("a.b.example.test.", RecordType::A),
            ("example.test.", RecordType::SOA),
            ("example.test.", RecordType::NS),
            ("Example.Test.", RecordType::NS),
            ("example.test.", RecordType::TXT),
            ("_mimi._tcp.svc.example.test.", RecordType::SVCB),
            ("_tcp.svc.example.test.", RecordType::SVCB),
            ("svc2.example.test.", RecordType::SVCB),
            ("alias.example.test.", RecordType::SVCB),
            ("web.example.test.", RecordType::HTTPS),
            ("web.example.test.", RecordType::SVCB),
            ("www.example.test.", RecordType::A),
            ("www.example.test.", RecordType::CNAME),
            ("chain.example.test.", RecordType::AAAA),
            ("out.example.test.", RecordType::A),
            ("dangling.example.test.", RecordType::A),
            ("loop1.example.test.", RecordType::A),
            ("selfloop.example.test.", RecordType::TXT),
            ("todeleg.example.test.", RecordType::A),
            ("mx.example.test.", RecordType::MX),
            ("x.wild.example.test.", RecordType::TXT),
            ("x.wild.example.test.", RecordType::A),
            ("x.wild.example.test.", RecordType::MX),
            ("y.x.wild.example.test.", RecordType::TXT),
            ("wild.example.test.", RecordType::TXT),
            ("deleg.example.test.", RecordType::NS),
            ("deleg.example.test.", RecordType::A),
            ("deleg.example.test.", RecordType::DS),
            ("www.deleg.example.test.", RecordType::A),
            ("ns.deleg.example.test.", RecordType::A),
            ("big.example.test.", RecordType::TXT),
            ("mid.example.test.", RecordType::TXT),
            ("example.org.", RecordType::A),
            ("test.", RecordType::SOA),
        ];
        let mut differences = Vec::new();
        let mut compared = 0;
        for &(name, record_type) in questions {
            for how in [Ask::UDP, Ask::UDP_NO_EDNS, Ask::TCP] {
                let expected = comparable(&ask(knot, name, record_type, how));
                let got = comparable(&ask(ours, name, record_type, how));
                compared += 1;
                if expected != got {
                    differences.push(format!(
                        "{name} {record_type} {how:?}\n  knot:    {expected:?}\n  mimidns: {got:?}"
                    ));
                }
            }
        }
        assert!(
            differences.is_empty(),
            "{} of {compared} answers differ:\n{}",
            differences.len(),
            differences.join("\n")
        );
    })
    .await
    .expect("comparison ran");
    server.server.shutdown().await;
}
