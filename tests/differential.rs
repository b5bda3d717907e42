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
            ("www.old.example.test.", RecordType::A),
            ("WWW.Old.example.test.", RecordType::AAAA),
            ("old.example.test.", RecordType::DNAME),
            ("old.example.test.", RecordType::TXT),
            ("old.example.test.", RecordType::A),
            ("nothere.old.example.test.", RecordType::A),
            ("a.b.old.example.test.", RecordType::A),
            ("x.ext.example.test.", RecordType::A),
            ("x.ext.example.test.", RecordType::CNAME),
            ("x.ext.example.test.", RecordType::DNAME),
            ("short.long.example.test.", RecordType::A),
            ("ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.long.example.test.", RecordType::A),
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
        let (mut knot_bytes, mut our_bytes) = (0, 0);
        for &(name, record_type) in questions {
            // Names in NS/CNAME/SOA/MX/PTR RDATA are compressed as Knot
            // compresses them: no reply is larger than Knot's.
            let request = query_message(name, record_type, Ask::TCP)
                .to_vec()
                .expect("encode");
            let knot_reply = exchange_raw(knot, &request, true).expect("knot");
            let our_reply = exchange_raw(ours, &request, true).expect("mimidns");
            // (Only where both carry the same number of additional records:
            // mimidns also gives the owner's addresses for an SVCB target
            // of ".", RFC 9460 §4.1; Knot does not.)
            if knot_reply[10..12] != our_reply[10..12] {
                continue;
            }
            knot_bytes += knot_reply.len();
            our_bytes += our_reply.len();
            if our_reply.len() > knot_reply.len() {
                differences.push(format!(
                    "{name} {record_type}: {} octets, Knot {}",
                    our_reply.len(),
                    knot_reply.len()
                ));
            }
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
        eprintln!("reply octets over TCP: mimidns {our_bytes}, Knot {knot_bytes}");
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

/// Expands a possibly compressed name at `at` in `packet`; returns the
/// uncompressed wire name (lower-cased) and where the name ended.
fn expand_name(packet: &[u8], mut at: usize) -> (Vec<u8>, usize) {
    let mut name = Vec::new();
    let mut end = None;
    for _ in 0..128 {
        let length = packet[at];
        if length >= 0xC0 {
            end.get_or_insert(at + 2);
            at = usize::from(u16::from_be_bytes([length & 0x3F, packet[at + 1]]));
            continue;
        }
        name.push(length);
        if length == 0 {
            break;
        }
        name.extend(
            packet[at + 1..at + 1 + usize::from(length)]
                .iter()
                .map(u8::to_ascii_lowercase),
        );
        at += 1 + usize::from(length);
    }
    let end = end.unwrap_or(at + 1);
    (name, end)
}

/// The answer section of a raw reply as (owner, type, TTL, RDATA) with
/// names inside RDATA expanded where RFC 3597 §4 lets a server compress
/// them (NS, CNAME, SOA, PTR, MX), sorted: equal lists mean the same octets.
type RawRecord = (Vec<u8>, u16, u32, Vec<u8>);

fn raw_answers(packet: &[u8]) -> (u8, Vec<RawRecord>) {
    let rcode = packet[3] & 0x0F;
    let ancount = u16::from_be_bytes([packet[6], packet[7]]);
    let (_, mut at) = expand_name(packet, 12);
    at += 4;
    let mut records = Vec::new();
    for _ in 0..ancount {
        let (owner, after) = expand_name(packet, at);
        at = after;
        let record_type = u16::from_be_bytes([packet[at], packet[at + 1]]);
        let ttl = u32::from_be_bytes([
            packet[at + 4],
            packet[at + 5],
            packet[at + 6],
            packet[at + 7],
        ]);
        let length = usize::from(u16::from_be_bytes([packet[at + 8], packet[at + 9]]));
        let start = at + 10;
        let rdata = match record_type {
            2 | 5 | 12 => expand_name(packet, start).0,
            15 => [
                &packet[start..start + 2],
                &expand_name(packet, start + 2).0[..],
            ]
            .concat(),
            6 => {
                let (mname, after) = expand_name(packet, start);
                let (rname, after) = expand_name(packet, after);
                [mname, rname, packet[after..after + 20].to_vec()].concat()
            }
            _ => packet[start..start + length].to_vec(),
        };
        records.push((owner, record_type, ttl, rdata));
        at = start + length;
    }
    records.sort();
    (rcode, records)
}

/// Regression: zone files that Knot accepts failed to load (RFC 3597 syntax,
/// `@` in RDATA, escaped owner names, DS at a delegation, LOC/RP/URI/EUI48/…)
/// and `\DDD` escapes were decoded wrongly. The conformance zone loads in
/// both, and every answer is the same octets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zone_file_conformance_matches_knot() {
    let zones = repo_path("tests/zones-conformance");
    let server = start_server(&zones).await;
    let ours = server.address;
    tokio::task::spawn_blocking(move || {
        let (_knot, knot, _run) = start_knot(&zones, "conformance.test", "conformance.test.zone");
        let questions: &[(&str, u16)] = &[
            ("conformance.test.", 6),
            ("generic.conformance.test.", 65534),
            ("generic.conformance.test.", 1),
            ("empty.conformance.test.", 65533),
            ("mx.conformance.test.", 15),
            ("srv.conformance.test.", 33),
            ("ptr.conformance.test.", 12),
            ("cn.conformance.test.", 5),
            ("_sip._udp.conformance.test.", 33),
            ("a\\032space.conformance.test.", 16),
            ("q\\\"uote.conformance.test.", 16),
            ("high\\200.conformance.test.", 16),
            ("nul\\000.conformance.test.", 16),
            ("esc.conformance.test.", 16),
            ("esc.conformance.test.", 13),
            ("esc.conformance.test.", 35),
            ("esc.conformance.test.", 257),
            ("child.conformance.test.", 43),
            ("types.conformance.test.", 29),
            ("types.conformance.test.", 17),
            ("types.conformance.test.", 18),
            ("types.conformance.test.", 256),
            ("types.conformance.test.", 99),
            ("types.conformance.test.", 108),
            ("types.conformance.test.", 109),
            ("types.conformance.test.", 42),
            ("types.conformance.test.", 36),
            ("types.conformance.test.", 49),
            ("types.conformance.test.", 45),
            ("types.conformance.test.", 44),
            ("types.conformance.test.", 52),
            ("conformance.test.", 63),
            ("svc.conformance.test.", 64),
            ("svc.conformance.test.", 65),
        ];
        let mut differences = Vec::new();
        for &(name, code) in questions {
            // hickory reads `\DDD` in names as octal: build the name with
            // mimidns's own (RFC 1035 §5.1, decimal) parser.
            let mut message = query_message(".", RecordType::from(code), Ask::UDP);
            let root = hickory_proto::rr::Name::root();
            let qname = mimidns::zone_file::parse_ascii_name(name, &root).expect("name");
            let mut question = hickory_proto::op::Query::query(qname, RecordType::from(code));
            question.set_query_class(hickory_proto::rr::DNSClass::IN);
            message.queries = vec![question];
            let request = message.to_vec().expect("encode");
            let expected = raw_answers(&exchange_raw(knot, &request, false).expect("knot answers"));
            let got = raw_answers(&exchange_raw(ours, &request, false).expect("mimidns answers"));
            assert!(!expected.1.is_empty(), "Knot has {name} type {code}");
            if expected != got {
                differences.push(format!(
                    "{name} TYPE{code}\n  knot:    {expected:?}\n  mimidns: {got:?}"
                ));
            }
        }
        assert!(
            differences.is_empty(),
            "{} of {} answers differ:\n{}",
            differences.len(),
            questions.len(),
            differences.join("\n")
        );
    })
    .await
    .expect("comparison ran");
    server.server.shutdown().await;
}
