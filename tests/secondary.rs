//! mimidns as a secondary: of a mimidns primary (AXFR, then IXFR on
//! NOTIFY, TSIG), of a Knot primary, chained on to a third server; admin
//! writes to a secondary zone are refused with 409; `kill -9` during a
//! transfer leaves the old serial, served, and it catches up; past EXPIRE
//! without its primary the zone is answered SERVFAIL.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use mimidns::admin::service::AdminService;
use mimidns::config::Config;
use mimidns::transfer::{TransferAcl, TransferPolicy, ZoneTransfer};
use mimidns::tsig::{TsigKey, TsigKeys};

const SECRET: &str = "bWltaWRucy10cmFuc2Zlci10ZXN0LXNlY3JldC0zMmJ5dGVz";

fn key() -> TsigKeys {
    TsigKeys::new(vec![
        TsigKey::new("xfr.key", "hmac-sha256", SECRET).expect("key"),
    ])
}

fn zone(settings: ZoneTransfer) -> TransferPolicy {
    let mut zones = std::collections::BTreeMap::new();
    zones.insert("example.test".to_string(), settings);
    TransferPolicy { zones }
}

fn acl(entry: &str) -> Vec<TransferAcl> {
    vec![TransferAcl::parse(entry).expect("acl")]
}

async fn wait_serial(address: SocketAddr, serial: u32, what: &str) {
    let served = tokio::task::spawn_blocking(move || wait_for_serial(address, serial))
        .await
        .expect("query");
    if let Err(has) = served {
        panic!("{what} never served serial {serial} (has {has:?})");
    }
}

fn empty_zones() -> tempfile::TempDir {
    tempfile::tempdir().expect("zones dir")
}

/// A mimidns secondary of `primary` on `listen` that transfers with the
/// TSIG key `xfr.key`; the zones dir is returned so it outlives the server.
async fn start_tsig_secondary(
    listen: SocketAddr,
    primary: SocketAddr,
) -> (tempfile::TempDir, TestServer) {
    let zones = empty_zones();
    let server = start_server_with(
        zones.path(),
        tempfile::tempdir().expect("data"),
        |config: &mut Config| {
            config.listen = vec![listen];
            config.tsig_keys = key();
            config.transfer = zone(ZoneTransfer {
                allow: acl("127.0.0.1"),
                primary: Some(primary),
                primary_key: Some("xfr.key".into()),
                ..ZoneTransfer::default()
            });
        },
    )
    .await;
    (zones, server)
}

/// A mimidns secondary of a mimidns primary with TSIG: the first AXFR,
/// then every admin write on the primary reaches it (NOTIFY, IXFR); a third
/// server follows the secondary (chained); admin writes to the secondary
/// are refused with 409 and change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mimidns_secondary_follows_its_primary_and_passes_it_on() {
    let secondary_address: SocketAddr = format!("127.0.0.1:{}", free_port())
        .parse()
        .expect("address");
    let primary = start_server_with(
        &repo_path("tests/zones"),
        tempfile::tempdir().expect("data"),
        |config: &mut Config| {
            config.tsig_keys = key();
            config.transfer = zone(ZoneTransfer {
                allow: acl("127.0.0.1 key:xfr.key"),
                notify: vec![secondary_address],
                notify_key: Some("xfr.key".into()),
                ..ZoneTransfer::default()
            });
        },
    )
    .await;
    let primary_address = primary.address;
    let (_secondary_zones, secondary) =
        start_tsig_secondary(secondary_address, primary_address).await;
    wait_serial(
        secondary_address,
        zone_serial(&primary.server),
        "the secondary",
    )
    .await;
    let service = AdminService::new(primary.server.catalog.clone());
    let mut last = 0;
    for i in 0..50 {
        last = service
            .put_identifier(
                "example.test",
                &format!("+1415555{i:04}"),
                &[sample_mapping(&format!("u{i}"))],
            )
            .await
            .expect("put")
            .serial;
    }
    wait_serial(secondary_address, last, "the secondary after 50 writes").await;
    let third_zones = empty_zones();
    let third = start_server_with(
        third_zones.path(),
        tempfile::tempdir().expect("data"),
        |config: &mut Config| {
            // Per-zone discovery settings may name a secondary zone.
            config.discovery.zones.insert(
                "example.test".into(),
                mimidns::config::DiscoverySettings {
                    ttl: 600,
                    ..Default::default()
                },
            );
            config.transfer = zone(ZoneTransfer {
                allow: acl("127.0.0.1"),
                primary: Some(secondary_address),
                ..ZoneTransfer::default()
            });
        },
    )
    .await;
    wait_serial(third.address, last, "the chained third server").await;
    let addresses = (primary_address, secondary_address, third.address);
    let (ours, theirs, chained) = tokio::task::spawn_blocking(move || {
        (
            kdig_axfr(addresses.0, None),
            kdig_axfr(addresses.1, None),
            kdig_axfr(addresses.2, None),
        )
    })
    .await
    .expect("axfr");
    assert!(ours.is_empty(), "the primary refuses unsigned transfers");
    let signed = tokio::task::spawn_blocking(move || kdig_axfr(addresses.0, Some(SECRET)))
        .await
        .expect("axfr");
    assert_eq!(
        theirs, signed,
        "the secondary serves exactly the primary's zone"
    );
    assert!(theirs.len() > 60, "{theirs:?}");
    assert_eq!(chained, theirs, "the chained copy equals the secondary's");
    let texts = theirs.join("\n");
    assert!(texts.contains("ssi=u49"), "{texts}");
    let secondary_service = AdminService::new(secondary.server.catalog.clone());
    let refused = secondary_service
        .put_identifier("example.test", "+14155559999", &[sample_mapping("x")])
        .await
        .expect_err("a secondary zone takes no admin writes");
    assert_eq!(
        refused.kind,
        mimidns::admin::service::ErrorKind::Conflict,
        "{refused:?}"
    );
    assert_eq!(zone_serial(&secondary.server), last, "nothing changed");
    // A backup of a secondary: the export, no zone file (the primary has it).
    let socket = secondary.server.admin_socket.clone();
    let backup_dir = tempfile::tempdir().expect("backup").path().join("b");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_mimidns"))
            .args(["admin", "--json", "--socket"])
            .arg(&socket)
            .arg("backup")
            .arg(&backup_dir)
            .output()
            .expect("backup runs")
    })
    .await
    .expect("backup");
    assert!(output.status.success(), "{output:?}");
    let manifest: serde_json::Value = serde_json::from_slice(&output.stdout).expect("manifest");
    assert_eq!(manifest["zones"][0]["zone_file"], serde_json::Value::Null);
    assert_eq!(manifest["zones"][0]["identifiers"], 50);
    third.server.shutdown().await;
    secondary.server.shutdown().await;
    primary.server.shutdown().await;
}

/// A mimidns secondary of a Knot primary (TSIG): what Knot serves, it
/// serves, record for record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mimidns_secondary_follows_a_knot_primary() {
    if !in_private_netns() {
        return;
    }
    let knot_address: SocketAddr = format!("127.0.0.31:{}", free_port())
        .parse()
        .expect("address");
    let secondary_address: SocketAddr = format!("127.0.0.1:{}", free_port())
        .parse()
        .expect("address");
    let dir = tempfile::tempdir().expect("dir");
    std::fs::create_dir_all(dir.path().join("db")).expect("db");
    std::fs::copy(
        repo_path("tests/zones/example.test.zone"),
        dir.path().join("example.test.zone"),
    )
    .expect("zone");
    std::fs::write(
        dir.path().join("knot.conf"),
        format!(
            "server:\n    listen: {ip}@{port}\n    rundir: {dir}\n    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n\
             database:\n    storage: {dir}/db\nlog:\n  - target: stderr\n    any: info\n\
             key:\n  - id: xfr.key\n    algorithm: hmac-sha256\n    secret: {SECRET}\n\
             remote:\n  - id: mimidns\n    address: {secondary_ip}@{secondary_port}\n    key: xfr.key\n\
             acl:\n  - id: xfr\n    address: 127.0.0.0/8\n    key: xfr.key\n    action: transfer\n  - id: plain\n    address: 127.0.0.0/8\n    action: transfer\n\
             template:\n  - id: default\n    storage: {dir}\n    zonefile-sync: -1\n    zonefile-load: difference\n    journal-content: changes\n\
             zone:\n  - domain: example.test.\n    file: example.test.zone\n    notify: mimidns\n    acl: [xfr, plain]\n",
            ip = knot_address.ip(),
            port = knot_address.port(),
            secondary_ip = secondary_address.ip(),
            secondary_port = secondary_address.port(),
            dir = dir.path().display()
        ),
    )
    .expect("knot.conf");
    let _knot = spawn_logged(
        &require_tool("knotd"),
        &["-c", dir.path().join("knot.conf").to_str().expect("utf8")],
        &dir.path().join("knot.log"),
        "knotd",
    );
    wait_for_dns(knot_address, "example.test.");
    let (_secondary_zones, secondary) = start_tsig_secondary(secondary_address, knot_address).await;
    let knot_serial = tokio::task::spawn_blocking(move || soa_serial_at(knot_address))
        .await
        .expect("query")
        .expect("Knot's serial");
    wait_serial(secondary.address, knot_serial, "the secondary of Knot").await;
    let ours = secondary.address;
    let (from_knot, from_us) =
        tokio::task::spawn_blocking(move || (kdig_axfr(knot_address, None), kdig_axfr(ours, None)))
            .await
            .expect("axfr");
    assert!(from_knot.len() > 40, "{from_knot:?}");
    assert_eq!(
        from_us, from_knot,
        "the secondary serves exactly Knot's zone"
    );
    // A change on Knot: a new serial and a record; Knot NOTIFYs, mimidns
    // takes the difference by IXFR and serves it.
    let zone_file = dir.path().join("example.test.zone");
    let text = std::fs::read_to_string(&zone_file).expect("zone");
    let next = knot_serial + 1;
    let changed = text.replacen(&knot_serial.to_string(), &next.to_string(), 1)
        + "knotadded IN A 192.0.2.77\n";
    std::fs::write(&zone_file, changed).expect("zone");
    let reload = Command::new(require_tool("knotc"))
        .args([
            "-c",
            dir.path().join("knot.conf").to_str().expect("utf8"),
            "zone-reload",
            "example.test.",
        ])
        .output()
        .expect("knotc");
    assert!(reload.status.success(), "{reload:?}");
    wait_serial(secondary.address, next, "the secondary after Knot's change").await;
    let reply = tokio::task::spawn_blocking(move || {
        ask(ours, "knotadded.example.test.", RecordType::A, Ask::UDP)
    })
    .await
    .expect("query");
    assert_eq!(section_texts(&reply.answers).len(), 1, "{reply:?}");
    let knot_log = std::fs::read_to_string(dir.path().join("knot.log")).expect("log");
    assert!(
        knot_log.contains("IXFR, outgoing"),
        "Knot sent an IXFR:\n{knot_log}"
    );
    secondary.server.shutdown().await;
}

/// `kill -9` of a secondary while it transfers: it restarts on the old
/// serial, serving, and catches up. Past EXPIRE without its primary the
/// zone is answered SERVFAIL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_secondary_keeps_its_old_serial_and_an_expired_one_answers_servfail() {
    // A primary zone with short timers: refresh 1 s, retry 1 s, expire 4 s.
    let primary_zones = tempfile::tempdir().expect("zones");
    std::fs::write(
        primary_zones.path().join("example.test.zone"),
        "$TTL 60\n@ IN SOA ns1 hostmaster 1 1 1 4 60\n  IN NS ns1\nns1 IN A 192.0.2.1\nhost IN A 192.0.2.10\n",
    )
    .expect("zone");
    let secondary_address: SocketAddr = format!("127.0.0.1:{}", free_port())
        .parse()
        .expect("address");
    let primary = start_server_with(
        primary_zones.path(),
        tempfile::tempdir().expect("data"),
        |config: &mut Config| {
            config.transfer = zone(ZoneTransfer {
                allow: acl("127.0.0.1"),
                notify: vec![secondary_address],
                ..ZoneTransfer::default()
            });
        },
    )
    .await;
    let service = AdminService::new(primary.server.catalog.clone());
    let bulk = |base: usize| -> Vec<mimidns::admin::api::BatchOperation> {
        (0..1000)
            .map(|i| mimidns::admin::api::BatchOperation::Put {
                identifier: format!("+1999{:07}", base + i),
                mappings: vec![sample_mapping(&format!("b{i}"))],
            })
            .collect()
    };
    for chunk in 0..10 {
        service
            .batch("example.test", &bulk(chunk * 1000))
            .await
            .expect("batch");
    }
    let scratch = tempfile::tempdir().expect("scratch");
    let config = scratch.path().join("secondary.toml");
    std::fs::create_dir_all(scratch.path().join("zones")).expect("zones");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = [\"{secondary_address}\"]\nzones-dir = \"{zones}\"\ndata-dir = \"{data}\"\n\
             [log]\nlevel = \"info\"\n[[transfer.zone]]\norigin = \"example.test\"\nprimary = \"{primary}\"\n",
            zones = scratch.path().join("zones").display(),
            data = scratch.path().join("data").display(),
            primary = primary.address
        ),
    )
    .expect("config");
    let log = scratch.path().join("secondary.log");
    // Killed when dropped, also when an assertion fails.
    let start = |log: &Path| Daemon {
        child: Command::new(env!("CARGO_BIN_EXE_mimidns"))
            .args(["serve", "--config"])
            .arg(&config)
            .stderr(std::fs::File::create(log).expect("log"))
            .spawn()
            .expect("secondary starts"),
        name: "mimidns secondary",
    };
    let mut child = start(&log);
    let first = zone_serial(&primary.server);
    wait_serial(secondary_address, first, "the secondary").await;
    // Large changes, and kill -9 as soon as the secondary starts taking one.
    let started_before = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .matches("transfer started")
        .count();
    for chunk in 10..30 {
        service
            .batch("example.test", &bulk(chunk * 1000))
            .await
            .expect("batch");
    }
    let second = zone_serial(&primary.server);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.matches("transfer started").count() > started_before {
            break;
        }
        assert!(Instant::now() < deadline, "no transfer started:\n{text}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    child.child.kill().expect("kill -9");
    child.child.wait().expect("reaped");
    // What the killed secondary left on disk: one whole serial, the old
    // one unless the commit beat the kill, and a store that verifies.
    {
        let store = mimidns::store::Store::open(&scratch.path().join("data/store"), 1 << 20)
            .expect("the store opens after kill -9");
        let origin = hickory_proto::rr::Name::from_ascii("example.test.").expect("name");
        let meta = store
            .zone_meta(&mimidns::name_key::name_key(&origin))
            .expect("meta")
            .expect("the zone is there");
        // Each batch is one serial and 1,000 identifiers: a whole serial
        // has exactly its own count.
        assert!(
            (first..=second).contains(&meta.serial),
            "serial {} after kill",
            meta.serial
        );
        let expected_identifiers = 10_000 + u64::from(meta.serial - first) * 1000;
        assert_eq!(
            meta.identifiers, expected_identifiers,
            "a half-applied transfer"
        );
        assert!(store.verify().expect("verify").problems.is_empty());
        eprintln!(
            "after kill -9 during the transfer: serial {} (old {first}, new {second})",
            meta.serial
        );
        store.close_blocking().expect("close");
    }
    let relog = scratch.path().join("secondary-2.log");
    let child = start(&relog);
    wait_serial(secondary_address, second, "the restarted secondary").await;
    // Its copy is whole: 30,000 identifiers.
    let owner = format!(
        "{}._mimi.example.test.",
        mimidns::identifier::hash_identifier("+19990029999")
            .expect("hash")
            .label
    );
    let reply = tokio::task::spawn_blocking(move || {
        ask(secondary_address, &owner, RecordType::TXT, Ask::UDP)
    })
    .await
    .expect("query");
    assert_eq!(reply.answers.len(), 1);
    // The primary goes away: after EXPIRE (4 s) the secondary answers SERVFAIL.
    primary.server.shutdown().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let reply = tokio::task::spawn_blocking(move || {
            ask(
                secondary_address,
                "host.example.test.",
                RecordType::A,
                Ask::UDP,
            )
        })
        .await
        .expect("query");
        if reply.metadata.response_code == ResponseCode::ServFail {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never expired: {:?}",
            reply.metadata.response_code
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop(child);
}
