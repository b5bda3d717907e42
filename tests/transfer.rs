//! mimidns as a primary: Knot and NSD follow it as secondaries over AXFR
//! with TSIG, are told of every new serial by NOTIFY, and end up serving
//! exactly what the primary serves; transfers without the key, with a wrong
//! key or from an address not allowed are refused. Daemons listen on
//! 127.0.0.x high ports inside the private network namespace of
//! `./test.sh` (nothing can leave the machine).

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use mimidns::admin::service::AdminService;
use mimidns::config::Config;
use mimidns::transfer::{TransferAcl, TransferPolicy, ZoneTransfer};
use mimidns::tsig::{TsigKey, TsigKeys};

const SECRET: &str = "bWltaWRucy10cmFuc2Zlci10ZXN0LXNlY3JldC0zMmJ5dGVz";
const WRONG: &str = "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZy1zZWNy";

fn wait_serial(address: SocketAddr, serial: u32, what: &str, log: &Path) {
    if let Err(has) = wait_for_serial(address, serial) {
        panic!(
            "{what} never served serial {serial} (has {has:?}); its log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
}

fn mapping(i: usize) -> mimidns::mapping::Mapping {
    sample_mapping(&format!("user{i}"))
}

/// Transfer settings for example.test: these `allow-transfer` entries,
/// NOTIFY targets and NOTIFY key.
fn allow(entries: &[&str], notify: Vec<SocketAddr>, notify_key: Option<&str>) -> TransferPolicy {
    let mut zones = std::collections::BTreeMap::new();
    zones.insert(
        "example.test".to_string(),
        ZoneTransfer {
            allow: entries
                .iter()
                .map(|entry| TransferAcl::parse(entry).expect("acl"))
                .collect(),
            notify,
            notify_key: notify_key.map(str::to_string),
            ..ZoneTransfer::default()
        },
    );
    TransferPolicy { zones }
}

fn address(ip: &str) -> SocketAddr {
    format!("{ip}:{}", free_port()).parse().expect("address")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knot_and_nsd_follow_a_mimidns_primary_over_axfr_with_tsig_and_notify() {
    if !in_private_netns() {
        return;
    }
    let knot_address = address("127.0.0.21");
    let nsd_address = address("127.0.0.22");
    let key = TsigKey::new("xfr.key", "hmac-sha256", SECRET).expect("key");
    let server = start_server_with(
        &repo_path("tests/zones"),
        tempfile::tempdir().expect("data"),
        |config: &mut Config| {
            config.tsig_keys = TsigKeys::new(vec![key]);
            config.transfer = allow(
                &["127.0.0.0/8 key:xfr.key"],
                vec![knot_address, nsd_address],
                Some("xfr.key"),
            );
        },
    )
    .await;
    let primary = server.address;
    let dirs = tempfile::tempdir().expect("dirs");
    let knot_dir = dirs.path().join("knot");
    std::fs::create_dir_all(knot_dir.join("db")).expect("knot dir");
    let knot_conf = format!(
        "server:\n    listen: {kip}@{kport}\n    rundir: {dir}\n    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n\
         database:\n    storage: {dir}/db\nlog:\n  - target: stderr\n    any: info\n\
         key:\n  - id: xfr.key\n    algorithm: hmac-sha256\n    secret: {SECRET}\n\
         remote:\n  - id: primary\n    address: {pip}@{pport}\n    key: xfr.key\n\
         acl:\n  - id: from_primary\n    address: {pip}\n    key: xfr.key\n    action: notify\n  - id: to_test\n    address: 127.0.0.0/8\n    action: transfer\n\
         template:\n  - id: default\n    storage: {dir}\n    zonefile-sync: -1\n\
         zone:\n  - domain: example.test.\n    master: primary\n    acl: [from_primary, to_test]\n",
        kip = knot_address.ip(),
        kport = knot_address.port(),
        pip = primary.ip(),
        pport = primary.port(),
        dir = knot_dir.display()
    );
    std::fs::write(knot_dir.join("knot.conf"), knot_conf).expect("knot.conf");
    let knot_log = dirs.path().join("knot.log");
    let nsd_dir = dirs.path().join("nsd");
    std::fs::create_dir_all(&nsd_dir).expect("nsd dir");
    let nsd_conf = format!(
        "server:\n    ip-address: {nip}@{nport}\n    port: {nport}\n    server-count: 1\n    username: \"\"\n    chroot: \"\"\n    database: \"\"\n\
         \x20   zonesdir: \"{dir}\"\n    zonelistfile: \"{dir}/zone.list\"\n    xfrdfile: \"{dir}/xfrd.state\"\n    xfrdir: \"{dir}\"\n\
         \x20   pidfile: \"{dir}/nsd.pid\"\n    verbosity: 2\n    rrl-ratelimit: 0\n\
         remote-control:\n    control-enable: no\n\
         key:\n    name: xfr.key\n    algorithm: hmac-sha256\n    secret: \"{SECRET}\"\n\
         zone:\n    name: example.test\n    zonefile: example.test.zone\n    request-xfr: {pip}@{pport} xfr.key\n    allow-notify: {pip} xfr.key\n    provide-xfr: 127.0.0.0/8 NOKEY\n",
        nip = nsd_address.ip(),
        nport = nsd_address.port(),
        pip = primary.ip(),
        pport = primary.port(),
        dir = nsd_dir.display()
    );
    std::fs::write(nsd_dir.join("nsd.conf"), nsd_conf).expect("nsd.conf");
    let nsd_log = dirs.path().join("nsd.log");
    let daemons = vec![
        spawn_logged(
            &require_tool("knotd"),
            &["-c", knot_dir.join("knot.conf").to_str().expect("utf8")],
            &knot_log,
            "knotd",
        ),
        spawn_logged(
            &require_tool("nsd"),
            &["-d", "-c", nsd_dir.join("nsd.conf").to_str().expect("utf8")],
            &nsd_log,
            "nsd",
        ),
    ];
    let first_serial = zone_serial(&server.server);
    let (kl, nl) = (knot_log.clone(), nsd_log.clone());
    tokio::task::spawn_blocking(move || {
        wait_serial(knot_address, first_serial, "Knot", &kl);
        wait_serial(nsd_address, first_serial, "NSD", &nl);
    })
    .await
    .expect("initial transfer");

    // 1,000 admin writes; NOTIFY brings both secondaries to the last serial.
    let service = AdminService::new(server.server.catalog.clone());
    let started = Instant::now();
    let mut last = first_serial;
    for i in 0..1000 {
        last = service
            .put_identifier("example.test", &format!("+1650555{i:04}"), &[mapping(i)])
            .await
            .expect("put")
            .serial;
    }
    let writes = started.elapsed();
    let (kl, nl) = (knot_log.clone(), nsd_log.clone());
    let caught_up = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        wait_serial(knot_address, last, "Knot", &kl);
        wait_serial(nsd_address, last, "NSD", &nl);
        started.elapsed()
    })
    .await
    .expect("notified transfers");
    eprintln!("1,000 writes in {writes:?}; both secondaries at serial {last} {caught_up:?} later");
    let knot_text = std::fs::read_to_string(&knot_log).expect("knot log");
    assert!(
        knot_text.contains("IXFR, incoming") && knot_text.contains("finished"),
        "Knot followed by IXFR:\n{knot_text}"
    );
    let owner = format!(
        "{}._mimi.example.test.",
        mimidns::identifier::hash_identifier("+16505550999")
            .expect("hash")
            .label
    );
    for secondary in [knot_address, nsd_address] {
        let text = kdig_at(secondary, &["+short", &owner, "TXT"]);
        assert!(text.contains("ssi=user999"), "{secondary}: {text}");
    }
    let (ours, knot, nsd) = tokio::task::spawn_blocking(move || {
        (
            kdig_axfr(primary, Some(SECRET)),
            kdig_axfr(knot_address, None),
            kdig_axfr(nsd_address, None),
        )
    })
    .await
    .expect("axfr");
    assert!(ours.len() > 2000, "{} records", ours.len());
    assert_eq!(knot, ours, "Knot's copy differs from the primary");
    assert_eq!(nsd, ours, "NSD's copy differs from the primary");
    let stats = server.server.metrics.stats();
    assert!(
        stats.transfers_axfr >= 3 && stats.transfers_ixfr >= 1,
        "{stats:?}"
    );
    assert!(stats.notify_acknowledged >= 2, "{stats:?}");
    drop(daemons);
    server.server.shutdown().await;
}

/// A raw AXFR over TCP from `source`, optionally signed; the first reply.
fn raw_axfr(source: &str, to: SocketAddr, key: Option<&TsigKey>) -> Message {
    let mut query = query_message("example.test.", RecordType::AXFR, Ask::TCP_NO_EDNS)
        .to_vec()
        .expect("encode");
    if let Some(key) = key {
        mimidns::tsig::sign_request(&mut query, key, mimidns::tsig::now());
    }
    let reply = tcp_exchange(&mut tcp_from(source, to), &query).expect("a reply");
    Message::from_vec(&reply).expect("decodes")
}

/// Transfers are refused by default, without the key, with a wrong key
/// (NOTAUTH, TSIG error BADSIG) and from an address not allowed; with the
/// key from an allowed address the whole zone comes, SOA first and last,
/// every message signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_are_refused_unless_address_and_key_are_allowed() {
    let key = TsigKey::new("xfr.key", "hmac-sha256", SECRET).expect("key");
    let wrong = TsigKey::new("xfr.key", "hmac-sha256", WRONG).expect("key");
    let unknown = TsigKey::new("other.key", "hmac-sha256", SECRET).expect("key");
    let default = start_server(&repo_path("tests/zones")).await;
    let configured = start_server_with(
        &repo_path("tests/zones"),
        tempfile::tempdir().expect("data"),
        |config: &mut Config| {
            config.tsig_keys = TsigKeys::new(vec![
                TsigKey::new("xfr.key", "hmac-sha256", SECRET).expect("key"),
            ]);
            config.transfer = allow(&["127.0.0.1 key:xfr.key"], Vec::new(), None);
        },
    )
    .await;
    let (plain, guarded) = (default.address, configured.address);
    tokio::task::spawn_blocking(move || {
        let rcode = |m: &Message| m.metadata.response_code;
        assert_eq!(
            rcode(&raw_axfr("127.0.0.1", plain, None)),
            ResponseCode::Refused,
            "off by default"
        );
        assert_eq!(
            rcode(&raw_axfr("127.0.0.1", guarded, None)),
            ResponseCode::Refused,
            "no key"
        );
        let bad = raw_axfr("127.0.0.1", guarded, Some(&wrong));
        assert_eq!(rcode(&bad), ResponseCode::NotAuth, "wrong key");
        assert!(bad.answers.is_empty());
        let unknown_key = raw_axfr("127.0.0.1", guarded, Some(&unknown));
        assert_eq!(rcode(&unknown_key), ResponseCode::NotAuth, "unknown key");
        if std::net::UdpSocket::bind("127.0.0.2:0").is_ok() {
            let elsewhere = raw_axfr("127.0.0.2", guarded, Some(&key));
            assert_eq!(
                rcode(&elsewhere),
                ResponseCode::Refused,
                "address not allowed"
            );
        }
        let good = raw_axfr("127.0.0.1", guarded, Some(&key));
        assert_eq!(rcode(&good), ResponseCode::NoError);
        assert_eq!(
            good.answers.first().map(|r| r.record_type()),
            Some(RecordType::SOA)
        );
        // The answer is signed: a TSIG record closes it.
        assert!(
            good.signature.is_some(),
            "the transfer carries no TSIG: {good:?}"
        );
        assert!(
            raw_axfr("127.0.0.1", guarded, None).signature.is_none(),
            "an unsigned request gets no TSIG"
        );
        // kdig checks every message's TSIG; a failure is reported, not a zone.
        let text = kdig_at(
            guarded,
            &[
                "-y",
                &format!("hmac-sha256:xfr.key:{SECRET}"),
                "example.test.",
                "AXFR",
            ],
        );
        assert!(
            !text.contains("failed") && !text.contains(";; ERROR"),
            "{text}"
        );
        let soas = text.lines().filter(|l| l.contains("\tSOA\t")).count();
        assert_eq!(soas, 2, "SOA first and last:\n{text}");
    })
    .await
    .expect("clients");
    default.server.shutdown().await;
    configured.server.shutdown().await;
}

/// `mimidns tsig generate` prints keys that Knot (`knotc conf-check`), NSD
/// (`nsd-checkconf`) and mimidns accept; a configuration holding a secret must be mode 0600,
/// and per-zone transfer settings for a zone without a file are refused by
/// `--check-config`.
#[test]
fn generated_keys_load_in_knot_and_mimidns_and_secrets_need_mode_0600() {
    use std::os::unix::fs::PermissionsExt;
    let generate = |format: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_mimidns"))
            .args(["tsig", "generate", "xfr.example.test", "--format", format])
            .output()
            .expect("runs");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).expect("utf8")
    };
    let dir = tempfile::tempdir().expect("dir");
    let knot_conf = dir.path().join("knot.conf");
    std::fs::write(
        &knot_conf,
        format!(
            "server:\n    rundir: {}\n{}",
            dir.path().display(),
            generate("knot")
        ),
    )
    .expect("knot.conf");
    let check = Command::new(require_tool("knotc"))
        .args(["-c", knot_conf.to_str().expect("utf8"), "conf-check"])
        .output()
        .expect("knotc runs");
    assert!(check.status.success(), "Knot refused the key: {check:?}");
    let nsd_conf = dir.path().join("nsd.conf");
    std::fs::write(
        &nsd_conf,
        format!(
            "server:\n    zonesdir: \"{}\"\n{}",
            dir.path().display(),
            generate("nsd")
        ),
    )
    .expect("nsd.conf");
    let check = Command::new(require_tool("nsd-checkconf"))
        .arg(&nsd_conf)
        .output()
        .expect("nsd-checkconf runs");
    assert!(check.status.success(), "NSD refused the key: {check:?}");

    std::fs::copy(
        repo_path("tests/zones/example.test.zone"),
        dir.path().join("example.test.zone"),
    )
    .expect("zone");
    let config = dir.path().join("mimidns.toml");
    let base = format!(
        "[server]\nlisten = [\"127.0.0.1:{}\"]\nzones-dir = \"{}\"\n{}",
        free_port(),
        dir.path().display(),
        generate("mimidns")
    );
    let check_config = |text: &str, mode: u32| {
        std::fs::write(&config, text).expect("config");
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(mode)).expect("chmod");
        Command::new(env!("CARGO_BIN_EXE_mimidns"))
            .args(["serve", "--check-config", "--config"])
            .arg(&config)
            .output()
            .expect("runs")
    };
    let good = format!(
        "{base}[[transfer.zone]]\norigin = \"example.test\"\nallow-transfer = [\"127.0.0.1 key:xfr.example.test\"]\n"
    );
    let output = check_config(&good, 0o600);
    assert!(output.status.success(), "{output:?}");
    let output = check_config(&good, 0o644);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("readable by group or others"),
        "{output:?}"
    );
    let typo = format!("{base}[[transfer.zone]]\norigin = \"typo.test\"\n");
    let output = check_config(&typo, 0o600);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("typo.test"),
        "{output:?}"
    );
    let unknown_key = format!(
        "{base}[[transfer.zone]]\norigin = \"example.test\"\nallow-transfer = [\"key:nope\"]\n"
    );
    let output = check_config(&unknown_key, 0o600);
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no [[tsig-key]] defines"),
        "{output:?}"
    );
}

/// An IXFR request for the zone with the client's serial in the authority section.
fn ixfr_request(serial: u32) -> Vec<u8> {
    use hickory_proto::rr::rdata::SOA;
    use hickory_proto::rr::{Name, RData, Record};
    let mut message = query_message("example.test.", RecordType::IXFR, Ask::TCP_NO_EDNS);
    let origin = Name::from_ascii("example.test.").expect("name");
    let soa = SOA::new(
        Name::from_ascii("ns1.example.test.").expect("name"),
        Name::from_ascii("hostmaster.example.test.").expect("name"),
        serial,
        3600,
        900,
        604800,
        120,
    );
    message
        .authorities
        .push(Record::from_rdata(origin, 300, RData::SOA(soa)));
    message.to_vec().expect("encode")
}

/// Every message of a transfer until the SOA closes it.
fn transfer_messages(to: SocketAddr, request: &[u8]) -> Vec<Message> {
    let mut stream = TcpStream::connect(to).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut framed = (request.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(request);
    stream.write_all(&framed).expect("write");
    let mut messages: Vec<Message> = Vec::new();
    let mut soas = 0;
    let mut first_serial = None;
    while let Some(bytes) = read_tcp_message(&mut stream) {
        let message = Message::from_vec(&bytes).expect("decodes");
        for record in &message.answers {
            if let hickory_proto::rr::RData::SOA(soa) = &record.data {
                soas += 1;
                let first = *first_serial.get_or_insert(soa.serial);
                // The transfer ends with the SOA it began with (after at
                // least one more record, or at once for a single SOA).
                if soas > 1 && soa.serial == first && record != &message.answers[0] {
                    messages.push(message);
                    return messages;
                }
            }
        }
        let single = message.answers.len() == 1 && soas == 1;
        messages.push(message);
        if single {
            return messages;
        }
    }
    messages
}

fn soa_serial(record: &hickory_proto::rr::Record) -> Option<u32> {
    match &record.data {
        hickory_proto::rr::RData::SOA(soa) => Some(soa.serial),
        _ => None,
    }
}

/// The journal: IXFR from a serial it still holds is the condensed
/// difference (new SOA, old SOA, removed, new SOA, added, new SOA), written
/// in the same commit as the data; from a serial older than the journal
/// reaches (journal-max-changes) the whole zone; from the current serial
/// the single SOA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ixfr_sends_the_condensed_journal_or_the_whole_zone() {
    let server = start_server_with(
        &repo_path("tests/zones"),
        tempfile::tempdir().expect("data"),
        |config: &mut Config| {
            config.journal_limits.max_changes = 5;
            config.transfer = allow(&["127.0.0.1"], Vec::new(), None);
        },
    )
    .await;
    let service = AdminService::new(server.server.catalog.clone());
    let start = zone_serial(&server.server);
    for i in 0..10 {
        service
            .put_identifier("example.test", &format!("+1650555{i:04}"), &[mapping(i)])
            .await
            .expect("put");
    }
    // One identifier removed again, one changed: condensing must show only the net change.
    service
        .delete_identifier("example.test", "+16505550009")
        .await
        .expect("delete");
    let last = service
        .put_identifier("example.test", "+16505550008", &[mapping(80)])
        .await
        .expect("put")
        .serial;
    let address = server.address;
    tokio::task::spawn_blocking(move || {
        let recent = last - 3;
        let messages = transfer_messages(address, &ixfr_request(recent));
        let records: Vec<&hickory_proto::rr::Record> =
            messages.iter().flat_map(|m| &m.answers).collect();
        let serials: Vec<Option<u32>> = records.iter().map(|r| soa_serial(r)).collect();
        assert_eq!(serials.first(), Some(&Some(last)), "new SOA first");
        assert_eq!(serials.get(1), Some(&Some(recent)), "then the client's SOA");
        assert_eq!(serials.last(), Some(&Some(last)), "new SOA last");
        assert_eq!(
            serials.iter().filter(|s| s.is_some()).count(),
            4,
            "{records:?}"
        );
        let texts: Vec<String> = records.iter().map(|r| r.to_string()).collect();
        // Since `recent`: 7 and 8 published, 9 published and removed again, 8 changed.
        assert!(texts.iter().any(|t| t.contains("ssi=user80")), "{texts:#?}");
        assert!(
            !texts.iter().any(|t| t.contains("ssi=user9")),
            "added then removed cancels: {texts:#?}"
        );

        let old = transfer_messages(address, &ixfr_request(start));
        let records: Vec<&hickory_proto::rr::Record> =
            old.iter().flat_map(|m| &m.answers).collect();
        assert_eq!(soa_serial(records[0]), Some(last));
        assert_eq!(soa_serial(records[1]), None, "the whole zone, AXFR-style");
        assert!(records.len() > 40);

        // Over UDP (RFC 1995 §2): the single SOA, whatever the client has.
        let udp = Message::from_vec(
            &exchange_raw(address, &ixfr_request(recent), false).expect("UDP reply"),
        )
        .expect("decodes");
        assert_eq!(udp.answers.len(), 1);
        assert_eq!(soa_serial(&udp.answers[0]), Some(last));
        let current = transfer_messages(address, &ixfr_request(last));
        let records: Vec<&hickory_proto::rr::Record> =
            current.iter().flat_map(|m| &m.answers).collect();
        assert_eq!(records.len(), 1, "current: the single SOA");
        assert_eq!(soa_serial(records[0]), Some(last));
    })
    .await
    .expect("client");
    let journal = server
        .server
        .catalog
        .store()
        .journal(
            server
                .server
                .catalog
                .zones()
                .values()
                .next()
                .expect("zone")
                .id,
        )
        .expect("journal");
    assert_eq!(
        journal.len(),
        5,
        "journal-max-changes keeps the newest five"
    );
    assert_eq!(journal.last().map(|c| c.to_serial), Some(last));
    server.server.shutdown().await;
}

/// AXFR of a 100,000-identifier zone while admin writes go on: every
/// transfer is the zone at exactly the serial its SOA names — as many
/// identifiers as were committed by then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axfr_during_writes_is_one_consistent_serial() {
    const BASE: usize = 100_000;
    let server = start_server_with(
        &repo_path("tests/zones"),
        tempfile::tempdir().expect("data"),
        |config: &mut Config| {
            config.transfer = allow(&["127.0.0.1"], Vec::new(), None);
        },
    )
    .await;
    let service = std::sync::Arc::new(AdminService::new(server.server.catalog.clone()));
    // The base set in batches of 1,000 (one commit each).
    for chunk in 0..BASE / 1000 {
        let operations: Vec<_> = (0..1000)
            .map(|i| mimidns::admin::api::BatchOperation::Put {
                identifier: format!("+1212{:07}", chunk * 1000 + i),
                mappings: vec![mapping(i)],
            })
            .collect();
        service
            .batch("example.test", &operations)
            .await
            .expect("batch");
    }
    let base_serial = zone_serial(&server.server);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (service, done) = (service.clone(), done.clone());
        tokio::spawn(async move {
            for i in 0..1500 {
                service
                    .put_identifier("example.test", &format!("+1313{i:07}"), &[mapping(i)])
                    .await
                    .expect("put");
            }
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        })
    };
    let address = server.address;
    let transfers = tokio::task::spawn_blocking(move || {
        let request = query_message("example.test.", RecordType::AXFR, Ask::TCP_NO_EDNS)
            .to_vec()
            .expect("encode");
        // Transfer after transfer until the writer is done (and once more).
        let mut last_round = false;
        std::iter::from_fn(move || {
            if last_round {
                return None;
            }
            last_round = done.load(std::sync::atomic::Ordering::SeqCst);
            Some(())
        })
        .map(|()| {
            let messages = transfer_messages(address, &request);
            let records: Vec<hickory_proto::rr::Record> =
                messages.into_iter().flat_map(|m| m.answers).collect();
            let serial = soa_serial(&records[0]).expect("SOA first");
            let identifiers = records
                .iter()
                .filter(|r| {
                    r.record_type() == RecordType::TXT
                        && r.name.to_ascii().ends_with("._mimi.example.test.")
                })
                .map(|r| r.name.to_ascii())
                .collect::<std::collections::HashSet<_>>()
                .len();
            (serial, identifiers)
        })
        .collect::<Vec<_>>()
    })
    .await
    .expect("transfers");
    writer.await.expect("writer");
    for (serial, identifiers) in &transfers {
        let committed = BASE + (serial - base_serial) as usize;
        assert_eq!(
            *identifiers, committed,
            "AXFR at serial {serial} is not that serial's zone"
        );
    }
    eprintln!("AXFRs during writes (serial, identifiers): {transfers:?}");
    server.server.shutdown().await;
}
