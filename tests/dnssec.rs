//! Online signing with compact denial (RFC 9824), checked by real
//! validators: `delv` with the zone's DS as trust anchor, and a validating
//! `unbound` that reaches the server as a stub. Positive answers, denial of
//! names that do not exist (NOERROR, NSEC at the name, next name
//! `\000.qname`), NODATA, an admin write validating at once, a restart
//! keeping the key, a wrong anchor failing, and key files with loose modes
//! refused at start.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use common::*;
use hickory_proto::rr::RecordType;
use mimidns::admin::service::AdminService;
use mimidns::config::Config;

/// `delv` against `address` with `anchor` (DS presentation) as the trust anchor.
fn delv(address: SocketAddr, anchor: &str, name: &str, qtype: &str) -> String {
    let dir = tempfile::tempdir().expect("dir");
    let fields: Vec<&str> = anchor.split_whitespace().collect();
    let anchors = dir.path().join("anchors.conf");
    std::fs::write(
        &anchors,
        format!(
            "trust-anchors {{\n  {} static-ds {} {} {} \"{}\";\n}};\n",
            fields[0], fields[3], fields[4], fields[5], fields[6]
        ),
    )
    .expect("anchors");
    let output = Command::new(require_tool("delv"))
        .arg(format!("@{}", address.ip()))
        .args(["-p", &address.port().to_string(), "-a"])
        .arg(&anchors)
        .args(["+root=example.test", name, qtype])
        .output()
        .expect("delv runs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The DS line `mimidns keys ds` prints for the zone.
fn ds_line(data_dir: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_mimidns"))
        .args(["keys", "ds", "--zone", "example.test", "--data-dir"])
        .arg(data_dir)
        .output()
        .expect("keys ds runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .expect("utf8")
        .trim()
        .to_string()
}

fn generate_key(data_dir: &Path) {
    let output = Command::new(env!("CARGO_BIN_EXE_mimidns"))
        .args(["keys", "generate", "--zone", "example.test", "--data-dir"])
        .arg(data_dir)
        .output()
        .expect("keys generate runs");
    assert!(output.status.success(), "{output:?}");
}

fn signed(config: &mut Config) {
    config.signed_zones = vec!["example.test".into()];
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delv_validates_answers_and_compact_denials() {
    let data = tempfile::tempdir().expect("data");
    generate_key(data.path());
    let anchor = ds_line(data.path());
    let wrong_data = tempfile::tempdir().expect("other");
    generate_key(wrong_data.path());
    let wrong_anchor = ds_line(wrong_data.path());
    let data_path = data.path().to_path_buf();
    let server = start_server_with(&repo_path("tests/zones"), data, signed).await;
    let address = server.address;
    let service = AdminService::new(server.server.catalog.clone());
    service
        .put_identifier("example.test", "+14155550100", &[sample_mapping("alice")])
        .await
        .expect("put");
    let owner = format!(
        "{}._mimi.example.test.",
        mimidns::identifier::hash_identifier("+14155550100")
            .expect("hash")
            .label
    );
    let (anchor2, owner2) = (anchor.clone(), owner.clone());
    tokio::task::spawn_blocking(move || {
        for (name, qtype) in [
            ("host.example.test.", "A"),
            ("example.test.", "DNSKEY"),
            ("example.test.", "SOA"),
            (owner2.as_str(), "TXT"),
            (owner2.as_str(), "SVCB"),
            ("anything.wild.example.test.", "A"),
        ] {
            let text = delv(address, &anchor2, name, qtype);
            assert!(
                text.contains("; fully validated"),
                "{name} {qtype}:\n{text}"
            );
        }
        for (name, qtype, bitmap) in [
            ("nope.example.test.", "A", "RRSIG NSEC TYPE128"),
            ("host.example.test.", "MX", "A TXT AAAA RRSIG NSEC"),
            ("b.example.test.", "A", "RRSIG NSEC"),
        ] {
            let text = delv(address, &anchor2, name, qtype);
            assert!(
                text.contains("negative response, fully validated"),
                "{name} {qtype}:\n{text}"
            );
            // Compact denial: the NSEC covers the name asked and nothing else.
            let next = format!("NSEC \\000.{name} {bitmap}");
            assert!(text.contains(&next), "{name}: no `{next}` in\n{text}");
        }
        // No DS at the delegation: proved by the parent (RFC 4035 §3.1.4.1).
        let text = delv(address, &anchor2, "deleg.example.test.", "DS");
        assert!(
            text.contains("negative response, fully validated"),
            "{text}"
        );
        // The referral itself carries the proof (RFC 9824 §3.3): NS
        // unsigned, an NSEC at the cut with next name `deleg\000`, its RRSIG.
        let referral = kdig_at(
            address,
            &["+dnssec", "+norec", "www.deleg.example.test.", "A"],
        );
        let authority: Vec<&str> = referral
            .lines()
            .skip_while(|l| !l.contains("AUTHORITY SECTION"))
            .take_while(|l| !l.contains("ADDITIONAL SECTION"))
            .collect();
        let has = |needle: &str| authority.iter().any(|l| l.contains(needle));
        assert!(
            has("NSEC\tdeleg\\000.example.test. NS RRSIG NSEC"),
            "{referral}"
        );
        assert!(has("RRSIG\tNSEC 13"), "{referral}");
        assert!(!has("RRSIG\tNS "), "NS at a cut is not signed: {referral}");
        let wrong = delv(address, &wrong_anchor, "host.example.test.", "A");
        assert!(!wrong.contains("fully validated"), "{wrong}");
        // DO=0 answers carry no signatures, as before.
        let plain = ask(address, "host.example.test.", RecordType::A, Ask::UDP);
        assert!(
            plain
                .answers
                .iter()
                .all(|r| r.record_type() != RecordType::RRSIG)
        );
        let signed = ask(
            address,
            "host.example.test.",
            RecordType::A,
            Ask {
                dnssec_ok: true,
                ..Ask::UDP
            },
        );
        assert!(
            signed
                .answers
                .iter()
                .any(|r| r.record_type() == RecordType::RRSIG)
        );
        let nx = ask(
            address,
            "nope.example.test.",
            RecordType::A,
            Ask {
                dnssec_ok: true,
                ..Ask::UDP
            },
        );
        assert_eq!(
            nx.metadata.response_code,
            hickory_proto::op::ResponseCode::NoError,
            "RFC 9824: NXDOMAIN becomes NOERROR"
        );
        // RFC 9824 §4: with Compact Answers OK the NXDOMAIN is kept and the flag echoed.
        let mut co = query_message(
            "nope.example.test.",
            RecordType::A,
            Ask {
                dnssec_ok: true,
                ..Ask::UDP
            },
        )
        .to_vec()
        .expect("encode");
        let flags_at = co.len() - 4;
        co[flags_at] |= 0x40;
        let reply = exchange_raw(address, &co, false).expect("reply");
        assert_eq!(reply[3] & 0x0F, 3, "NXDOMAIN kept with CO");
        assert_eq!(
            reply[reply.len() - 4] & 0xC0,
            0xC0,
            "DO and CO echoed in the OPT"
        );
        // Type RRSIG: the signatures of every RRset at the name.
        let rrsig = kdig_at(
            address,
            &["+dnssec", "+short", "host.example.test.", "RRSIG"],
        );
        for covered in ["A 13", "AAAA 13", "TXT 13"] {
            assert!(
                rrsig.lines().any(|l| l.starts_with(covered)),
                "{covered} in\n{rrsig}"
            );
        }
        let nxname = ask(
            address,
            "host.example.test.",
            RecordType::Unknown(128),
            Ask::UDP,
        );
        assert_eq!(
            nxname.metadata.response_code,
            hickory_proto::op::ResponseCode::FormErr,
            "a query for NXNAME"
        );
    })
    .await
    .expect("delv");
    // A write validates at once; a deleted identifier is denied at once.
    service
        .put_identifier("example.test", "+14155550199", &[sample_mapping("bob")])
        .await
        .expect("put");
    service
        .delete_identifier("example.test", "+14155550100")
        .await
        .expect("delete");
    let fresh = format!(
        "{}._mimi.example.test.",
        mimidns::identifier::hash_identifier("+14155550199")
            .expect("hash")
            .label
    );
    let (anchor3, owner3) = (anchor.clone(), owner.clone());
    tokio::task::spawn_blocking(move || {
        let text = delv(address, &anchor3, &fresh, "TXT");
        assert!(
            text.contains("; fully validated") && text.contains("ssi=bob"),
            "{text}"
        );
        let text = delv(address, &anchor3, &owner3, "TXT");
        assert!(
            text.contains("negative response, fully validated"),
            "{text}"
        );
    })
    .await
    .expect("delv");
    // A restart keeps the key and the signing.
    drop(service);
    server.server.shutdown().await;
    let server = start_server_with(
        &repo_path("tests/zones"),
        tempfile::TempDir::new_in("/tmp").expect("unused"),
        |config: &mut Config| {
            signed(config);
            config.data_dir = data_path.clone();
            config.admin.socket = Some(data_path.join("admin2.sock"));
        },
    )
    .await;
    let address = server.address;
    tokio::task::spawn_blocking(move || {
        let text = delv(address, &anchor, "host.example.test.", "A");
        assert!(text.contains("; fully validated"), "{text}");
    })
    .await
    .expect("delv");
    server.server.shutdown().await;
}

/// A validating unbound, with the zone's DS as its trust anchor and the
/// server as a stub: AD=1 on answers and on compact denials; SERVFAIL when
/// the anchor is another key's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbound_validates_with_the_ds_as_anchor() {
    if !in_private_netns() {
        return;
    }
    let data = tempfile::tempdir().expect("data");
    generate_key(data.path());
    let anchor = ds_line(data.path());
    let other = tempfile::tempdir().expect("other");
    generate_key(other.path());
    let wrong_anchor = ds_line(other.path());
    let server = start_server_with(&repo_path("tests/zones"), data, signed).await;
    let address = server.address;
    // The unsigned child zone behind the delegation deleg.example.test
    // (glue 192.0.2.53, an address this namespace gives to lo).
    let _ = Command::new("ip")
        .args(["addr", "add", "192.0.2.53/32", "dev", "lo"])
        .status()
        .expect("ip runs");
    let addresses = Command::new("ip")
        .args(["addr", "show", "dev", "lo"])
        .output()
        .expect("ip runs");
    assert!(
        String::from_utf8_lossy(&addresses.stdout).contains("192.0.2.53/32"),
        "cannot add 192.0.2.53 to lo"
    );
    let child_zones = tempfile::tempdir().expect("child zones");
    std::fs::write(
        child_zones.path().join("deleg.example.test.zone"),
        "$TTL 300\n@ IN SOA ns hostmaster 1 3600 900 604800 60\n  IN NS ns\nns IN A 192.0.2.53\nwww IN A 192.0.2.80\n",
    )
    .expect("child zone");
    let child = start_server_with(
        child_zones.path(),
        tempfile::tempdir().expect("data"),
        |config: &mut Config| {
            config.listen = vec!["192.0.2.53:53".parse().expect("address")];
        },
    )
    .await;
    let dir = tempfile::tempdir().expect("unbound");
    let mut daemons = Vec::new();
    let mut resolvers = Vec::new();
    for (index, anchor) in [anchor, wrong_anchor].iter().enumerate() {
        let resolver: SocketAddr = format!("127.0.0.{}:{}", 41 + index, free_port())
            .parse()
            .expect("address");
        let conf = dir.path().join(format!("unbound{index}.conf"));
        std::fs::write(
            &conf,
            format!(
                "server:\n  interface: {ip}@{port}\n  port: {port}\n  do-not-query-localhost: no\n  access-control: 127.0.0.0/8 allow\n\
                 \x20 chroot: \"\"\n  username: \"\"\n  directory: \"{dir}\"\n  pidfile: \"{dir}/unbound{index}.pid\"\n  use-syslog: no\n\
                 \x20 module-config: \"validator iterator\"\n  trust-anchor: \"{anchor}\"\n  do-ip6: no\n  num-threads: 1\n\
                 \x20 local-zone: \"test.\" nodefault\n\
                 stub-zone:\n  name: \"example.test.\"\n  stub-addr: {sip}@{sport}\n\
                 remote-control:\n  control-enable: no\n",
                ip = resolver.ip(),
                port = resolver.port(),
                dir = dir.path().display(),
                sip = address.ip(),
                sport = address.port(),
            ),
        )
        .expect("unbound.conf");
        daemons.push(Daemon {
            child: Command::new(require_tool("unbound"))
                .args(["-d", "-c"])
                .arg(&conf)
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("unbound starts"),
            name: "unbound",
        });
        resolvers.push(resolver);
    }
    tokio::task::spawn_blocking(move || {
        let recursive = Ask {
            dnssec_ok: true,
            ..Ask::UDP
        };
        let query = |resolver: SocketAddr, name: &str, qtype: RecordType| {
            for _ in 0..50 {
                let mut message = query_message(name, qtype, recursive);
                message.metadata.recursion_desired = true;
                if let Some(reply) =
                    exchange_raw(resolver, &message.to_vec().expect("encode"), false)
                {
                    return hickory_proto::op::Message::from_vec(&reply).expect("decodes");
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            panic!("unbound at {resolver} does not answer");
        };
        for (name, qtype) in [
            ("host.example.test.", RecordType::A),
            ("nope.example.test.", RecordType::A),
            ("host.example.test.", RecordType::MX),
        ] {
            let reply = query(resolvers[0], name, qtype);
            assert_eq!(
                reply.metadata.response_code,
                hickory_proto::op::ResponseCode::NoError,
                "{name}"
            );
            assert!(
                reply.metadata.authentic_data,
                "AD for {name} {qtype:?}: {reply:?}"
            );
        }
        // An unsigned child: the signed parent proves there is no DS (an
        // NSEC at the cut), so the answer is insecure — not bogus.
        let insecure = query(resolvers[0], "www.deleg.example.test.", RecordType::A);
        assert_eq!(
            insecure.metadata.response_code,
            hickory_proto::op::ResponseCode::NoError,
            "{insecure:?}"
        );
        assert_eq!(insecure.answers.len(), 1, "{insecure:?}");
        assert!(
            !insecure.metadata.authentic_data,
            "an unsigned child is insecure"
        );
        let bogus = query(resolvers[1], "host.example.test.", RecordType::A);
        assert_eq!(
            bogus.metadata.response_code,
            hickory_proto::op::ResponseCode::ServFail
        );
    })
    .await
    .expect("unbound");
    drop(daemons);
    child.server.shutdown().await;
    server.server.shutdown().await;
}

/// A key file others can read, or a signed zone without a key, stops the
/// start with a clear message; nothing is served half-signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loose_key_files_and_missing_keys_are_refused_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let data = tempfile::tempdir().expect("data");
    let mut config = Config {
        listen: vec!["127.0.0.1:0".parse().expect("address")],
        zones_dir: repo_path("tests/zones"),
        data_dir: data.path().to_path_buf(),
        signed_zones: vec!["example.test".into()],
        ..Config::default()
    };
    let error = mimidns::server::start(&config).await.err().expect("no key");
    assert!(
        error
            .to_string()
            .contains("mimidns keys generate --zone example.test"),
        "{error}"
    );
    generate_key(data.path());
    let key = std::fs::read_dir(data.path().join("keys"))
        .expect("keys")
        .next()
        .expect("a key")
        .expect("entry")
        .path();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let error = mimidns::server::start(&config)
        .await
        .err()
        .expect("loose mode");
    assert!(error.to_string().contains("chmod 600"), "{error}");
    std::fs::write(&key, b"not a key").expect("corrupt");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let error = mimidns::server::start(&config)
        .await
        .err()
        .expect("corrupt key");
    assert!(error.to_string().contains("not an ECDSA P-256"), "{error}");
    config.signed_zones = vec!["unknown.test".into()];
    let error = mimidns::server::start(&config)
        .await
        .err()
        .expect("unknown zone");
    assert!(error.to_string().contains("unknown.test"), "{error}");
}

/// Zone walking (the attack compact denial exists to stop): following NSEC
/// next names from the apex never reaches a name of the zone — each next
/// name is `\000.` plus the name asked — while the zone holds identifiers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walking_the_nsec_next_names_learns_nothing() {
    let data = tempfile::tempdir().expect("data");
    generate_key(data.path());
    let server = start_server_with(&repo_path("tests/zones"), data, signed).await;
    let service = AdminService::new(server.server.catalog.clone());
    for i in 0..20 {
        service
            .put_identifier(
                "example.test",
                &format!("+1415555{i:04}"),
                &[sample_mapping("u")],
            )
            .await
            .expect("put");
    }
    let address = server.address;
    tokio::task::spawn_blocking(move || {
        let mut name = "_mimi.example.test.".to_string();
        for step in 0..12 {
            let text = kdig_at(address, &["+dnssec", "+norec", &name, "NSEC"]);
            let next = text
                .lines()
                .filter(|l| !l.starts_with(';'))
                .find_map(|l| {
                    let fields: Vec<&str> = l.split_whitespace().collect();
                    (fields.get(3) == Some(&"NSEC")).then(|| fields.get(4).map(|s| s.to_string()))
                })
                .flatten()
                .unwrap_or_else(|| panic!("step {step}: no NSEC for {name}:\n{text}"));
            assert_eq!(
                next.to_ascii_lowercase(),
                format!("\\000.{}", name.to_ascii_lowercase()),
                "step {step}: the NSEC of {name} names another name"
            );
            assert!(
                !next.contains("._mimi.example.test.") || next.starts_with("\\000."),
                "{next}"
            );
            name = next;
        }
    })
    .await
    .expect("walk");
    server.server.shutdown().await;
}

fn keys_cli(data_dir: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_mimidns"))
        .arg("keys")
        .args(args)
        .args(["--zone", "example.test", "--data-dir"])
        .arg(data_dir)
        .output()
        .expect("keys runs");
    assert!(output.status.success(), "{args:?}: {output:?}");
    String::from_utf8(output.stdout).expect("utf8")
}

/// A CSK rollover: a second key is published, then activated (the DNSKEY
/// RRset carries both keys' signatures, so resolvers trusting either DS
/// validate throughout), then the old key is retired; `keys activate`
/// refuses nothing it should not and `keys retire` refuses the active key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rollover_keeps_validating_with_either_ds() {
    let data = tempfile::tempdir().expect("data");
    let data_path = data.path().to_path_buf();
    generate_key(&data_path);
    let old_ds = ds_line(&data_path);
    let old_tag: u16 = old_ds
        .split_whitespace()
        .nth(3)
        .expect("tag")
        .parse()
        .expect("tag");
    let start = |data_path: std::path::PathBuf, socket: &'static str| async move {
        start_server_with(
            &repo_path("tests/zones"),
            tempfile::TempDir::new().expect("unused"),
            move |config: &mut Config| {
                signed(config);
                config.data_dir = data_path.clone();
                config.admin.socket = Some(data_path.join(socket));
            },
        )
        .await
    };
    let check = |address: SocketAddr, anchor: String, valid: bool| async move {
        tokio::task::spawn_blocking(move || {
            let text = delv(address, &anchor, "host.example.test.", "A");
            assert_eq!(
                text.contains("; fully validated"),
                valid,
                "{anchor}:\n{text}"
            );
        })
        .await
        .expect("delv");
    };
    // Step 1: publish a second key.
    let generated = keys_cli(&data_path, &["generate"]);
    assert!(generated.contains("does not sign yet"), "{generated}");
    let list = keys_cli(&data_path, &["list"]);
    let new_tag: u16 = list
        .lines()
        .find(|l| l.contains("published"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{list}"));
    let ds_lines = keys_cli(&data_path, &["ds"]);
    let new_ds = ds_lines
        .lines()
        .find(|l| l.contains(&format!(" DS {new_tag} ")))
        .expect("new DS")
        .to_string();
    let server = start(data_path.clone(), "a.sock").await;
    check(server.address, old_ds.clone(), true).await;
    check(server.address, new_ds.clone(), true).await;
    server.server.shutdown().await;
    // Step 2: the new key signs.
    let refused = Command::new(env!("CARGO_BIN_EXE_mimidns"))
        .args([
            "keys",
            "retire",
            "--zone",
            "example.test",
            "--tag",
            &old_tag.to_string(),
            "--data-dir",
        ])
        .arg(&data_path)
        .output()
        .expect("runs");
    assert!(
        !refused.status.success(),
        "the active key cannot be retired"
    );
    keys_cli(&data_path, &["activate", "--tag", &new_tag.to_string()]);
    let server = start(data_path.clone(), "b.sock").await;
    let address = server.address;
    let signed_by = tokio::task::spawn_blocking(move || {
        kdig_at(address, &["+dnssec", "+short", "host.example.test.", "A"])
    })
    .await
    .expect("kdig");
    assert!(
        signed_by.contains(&format!(" {new_tag} example.test.")),
        "{signed_by}"
    );
    check(server.address, old_ds.clone(), true).await;
    check(server.address, new_ds.clone(), true).await;
    server.server.shutdown().await;
    // Step 3: the old key goes.
    keys_cli(&data_path, &["retire", "--tag", &old_tag.to_string()]);
    let server = start(data_path.clone(), "c.sock").await;
    check(server.address, new_ds, true).await;
    check(server.address, old_ds, false).await;
    server.server.shutdown().await;
    drop(data);
}

/// An Ed25519 key (algorithm 15, RFC 8080) signs as well as the default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ed25519_keys_validate_too() {
    let data = tempfile::tempdir().expect("data");
    keys_cli(data.path(), &["generate", "--algorithm", "ed25519"]);
    let list = keys_cli(data.path(), &["list"]);
    assert!(list.contains("ED25519 (15)"), "{list}");
    let anchor = ds_line(data.path());
    assert_eq!(anchor.split_whitespace().nth(4), Some("15"), "{anchor}");
    let server = start_server_with(&repo_path("tests/zones"), data, signed).await;
    let address = server.address;
    tokio::task::spawn_blocking(move || {
        let text = delv(address, &anchor, "host.example.test.", "A");
        assert!(text.contains("; fully validated"), "{text}");
        let text = delv(address, &anchor, "nope.example.test.", "A");
        assert!(
            text.contains("negative response, fully validated"),
            "{text}"
        );
    })
    .await
    .expect("delv");
    server.server.shutdown().await;
}

/// Canonical form (RFC 4034 §6.2): names inside NS, MX, SRV, CNAME and SOA
/// RDATA are lower-cased before signing, SVCB targets are not; a zone that
/// writes them in capitals still validates, and so do multi-record RRsets
/// (sorted as octet strings).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capitals_in_rdata_names_still_validate() {
    let zones = tempfile::tempdir().expect("zones");
    std::fs::write(
        zones.path().join("example.test.zone"),
        "$TTL 300\n@ IN SOA NS1.Example.TEST. HostMaster.EXAMPLE.test. 1 3600 900 604800 120\n\
         \x20 IN NS NS1.Example.TEST.\n  IN NS ns2.OTHER.example.\nNS1 IN A 192.0.2.1\n\
         host IN A 192.0.2.10\n  IN A 192.0.2.9\n  IN A 192.0.2.11\n\
         mx IN MX 10 HOST.Example.Test.\n  IN MX 5 Host.EXAMPLE.test.\n\
         srv IN SRV 0 0 443 HOST.example.TEST.\nalias IN CNAME HOST.Example.test.\n\
         svc IN SVCB 1 HOST.Example.Test. alpn=h2\n\
         child IN NS ns.child\nns.child IN A 192.0.2.54\n\
         child IN DS 12345 13 2 0000000000000000000000000000000000000000000000000000000000000000\n",
    )
    .expect("zone");
    let data = tempfile::tempdir().expect("data");
    generate_key(data.path());
    let anchor = ds_line(data.path());
    let server = start_server_with(zones.path(), data, signed).await;
    let address = server.address;
    tokio::task::spawn_blocking(move || {
        for (name, qtype) in [
            ("example.test.", "SOA"),
            ("example.test.", "NS"),
            ("host.example.test.", "A"),
            ("mx.example.test.", "MX"),
            ("srv.example.test.", "SRV"),
            ("alias.example.test.", "CNAME"),
            ("svc.example.test.", "SVCB"),
            // The DS of a signed child is the parent's, signed by it.
            ("child.example.test.", "DS"),
        ] {
            let text = delv(address, &anchor, name, qtype);
            assert!(
                text.contains("; fully validated"),
                "{name} {qtype}:\n{text}"
            );
        }
        // A referral to it carries the DS and its RRSIG, the NS unsigned.
        let (_, referral) = kdig_shape(address, "www.child.example.test.", "A");
        assert_eq!(
            referral,
            vec![
                "AUTHORITY child.example.test. DS ".to_string(),
                "AUTHORITY child.example.test. NS ".to_string(),
                "AUTHORITY child.example.test. RRSIG DS".to_string(),
            ],
            "{referral:?}"
        );
    })
    .await
    .expect("delv");
    server.server.shutdown().await;
}

/// One section of a `kdig +dnssec` answer: (owner, type, first RDATA field
/// when NSEC) per record, sorted.
fn kdig_shape(address: SocketAddr, name: &str, qtype: &str) -> (String, Vec<String>) {
    let text = kdig_at(address, &["+dnssec", "+norec", name, qtype]);
    let header = text
        .lines()
        .filter(|l| l.starts_with(";; ->>HEADER") || l.starts_with(";; Flags"))
        .map(|l| {
            l.split(';')
                .filter(|part| part.contains("status") || part.contains("Flags"))
                .collect::<Vec<_>>()
                .join(";")
        })
        .collect::<Vec<_>>()
        .join(" ");
    let mut section = "";
    let mut records: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line
            .strip_prefix(";; ")
            .and_then(|l| l.strip_suffix(" SECTION:"))
        {
            section = if name == "QUESTION" { "" } else { name };
            continue;
        }
        // Additional data is compared by tests/differential.rs; here the
        // answer and authority sections, where the signatures are.
        if line.starts_with(';') || line.is_empty() || section.is_empty() || section == "ADDITIONAL"
        {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let record_type = fields.get(3).copied().unwrap_or("");
        let detail = match record_type {
            "NSEC" => fields[4..].join(" "),
            "RRSIG" => fields
                .get(4)
                .map(|covered| covered.to_string())
                .unwrap_or_default(),
            _ => String::new(),
        };
        records.push(format!(
            "{section} {} {record_type} {detail}",
            fields[0].to_ascii_lowercase()
        ));
    }
    records.sort();
    (header, records)
}

/// The response shapes of RFC 9824 against Knot 3.2's onlinesign module on
/// the same zone: the same RCODE, flags and sections, record for record
/// (owners, types, what each RRSIG covers), for answers, NODATA, wildcards
/// and referrals — except where Knot 3.2 predates RFC 9824, which the
/// README lists: the bitmap of a nonexistent name (Knot: "AAAA RRSIG NSEC",
/// RFC 9824 §3.1: "RRSIG NSEC NXNAME"), of an empty non-terminal (Knot
/// treats it as nonexistent; §3.2: "RRSIG NSEC"), and the next name of the
/// NSEC at a delegation (Knot: `\000.sub.zone`, below the cut; §3.3:
/// `sub\000.zone`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_shapes_match_knot_onlinesign_where_rfc_9824_agrees() {
    if !in_private_netns() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    std::fs::create_dir_all(dir.path().join("db")).expect("db");
    std::fs::copy(
        repo_path("tests/zones/example.test.zone"),
        dir.path().join("example.test.zone"),
    )
    .expect("zone");
    let knot_address: SocketAddr = format!("127.0.0.61:{}", free_port())
        .parse()
        .expect("address");
    std::fs::write(
        dir.path().join("knot.conf"),
        format!(
            "server:\n    listen: {ip}@{port}\n    rundir: {dir}\n    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n\
             database:\n    storage: {dir}/db\nlog:\n  - target: stderr\n    any: warning\n\
             policy:\n  - id: csk\n    algorithm: ecdsap256sha256\n    single-type-signing: on\n\
             mod-onlinesign:\n  - id: online\n    policy: csk\n\
             template:\n  - id: default\n    storage: {dir}\n    zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\n\
             zone:\n  - domain: example.test.\n    file: example.test.zone\n    module: mod-onlinesign/online\n",
            ip = knot_address.ip(),
            port = knot_address.port(),
            dir = dir.path().display()
        ),
    )
    .expect("knot.conf");
    let _knot = Daemon {
        child: Command::new(require_tool("knotd"))
            .args(["-c", dir.path().join("knot.conf").to_str().expect("utf8")])
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("knotd starts"),
        name: "knotd",
    };
    wait_for_dns(knot_address, "example.test.");
    let data = tempfile::tempdir().expect("data");
    generate_key(data.path());
    let server = start_server_with(&repo_path("tests/zones"), data, signed).await;
    let ours = server.address;
    tokio::task::spawn_blocking(move || {
        for (name, qtype) in [
            ("host.example.test.", "A"),
            ("example.test.", "SOA"),
            ("host.example.test.", "MX"),
            ("x.wild.example.test.", "A"),
            ("www.example.test.", "A"),
            ("svc2.example.test.", "SVCB"),
            ("nope.example.test.", "A"),
            ("b.example.test.", "A"),
            ("www.deleg.example.test.", "A"),
        ] {
            let (knot_header, knot) = kdig_shape(knot_address, name, qtype);
            let (our_header, mut mine) = kdig_shape(ours, name, qtype);
            assert_eq!(our_header, knot_header, "{name} {qtype}: header");
            // The documented differences, mapped onto Knot's form.
            for record in &mut mine {
                *record = record
                    .replace("RRSIG NSEC TYPE128", "AAAA RRSIG NSEC")
                    .replace(
                        "deleg\\000.example.test. NS",
                        "\\000.deleg.example.test. NS",
                    );
                if name == "b.example.test." {
                    *record = record.replace(
                        "NSEC \\000.b.example.test. RRSIG NSEC",
                        "NSEC \\000.b.example.test. AAAA RRSIG NSEC",
                    );
                }
            }
            assert_eq!(mine, knot, "{name} {qtype}: sections");
        }
    })
    .await
    .expect("kdig");
    server.server.shutdown().await;
}
