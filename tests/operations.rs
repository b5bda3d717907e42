//! Faults found when mimidns was deployed as an operator would deploy it:
//! wildcard listen addresses, reloads, bad zone files, restarts. Each test
//! starts the real server; the ones that bind wildcard addresses run only
//! inside the private network namespace of `./test.sh` (root).

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

fn in_private_netns() -> bool {
    if std::env::var_os("MIMIDNS_NETNS").is_some_and(|v| v == "1") {
        return true;
    }
    eprintln!("skipped: needs root in a private network namespace (./test.sh as root)");
    false
}

/// Sends `packet` from a socket connected to `to`: the kernel delivers only
/// replies whose source is exactly `to`, as a resolver's check does.
fn ask_connected(to: SocketAddr, packet: &[u8]) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.connect(to).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .expect("timeout");
    socket.send(packet).expect("send");
    let mut buffer = vec![0u8; 65535];
    let length = socket.recv(&mut buffer).ok()?;
    Some(buffer[..length].to_vec())
}

/// Regression: on 0.0.0.0 a query to 127.0.0.2 was answered from 127.0.0.1
/// (the routing table's choice), and resolvers drop such replies. The reply
/// now leaves from the address the query was sent to (IP_PKTINFO).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_replies_leave_from_the_address_the_query_was_sent_to() {
    if !in_private_netns() {
        return;
    }
    let server = start_server_with(
        &repo_path("tests/zones"),
        tempfile::tempdir().expect("data dir"),
        |config| config.listen = vec!["0.0.0.0:0".parse().expect("address")],
    )
    .await;
    let port = server.address.port();
    tokio::task::spawn_blocking(move || {
        let packet = query_message("host.example.test.", RecordType::A, Ask::UDP)
            .to_vec()
            .expect("encode");
        for destination in ["127.0.0.1", "127.0.0.2", "127.0.0.53"] {
            let to: SocketAddr = format!("{destination}:{port}").parse().expect("address");
            let reply = ask_connected(to, &packet)
                .unwrap_or_else(|| panic!("no reply from {to} (it came from elsewhere?)"));
            let reply = Message::from_vec(&reply).expect("decodes");
            assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
            assert_eq!(reply.answers.len(), 1, "{to}");
        }
    })
    .await
    .expect("queries");
    server.server.shutdown().await;
}

const GOOD_ZONE: &str = "$TTL 300
@    IN SOA ns1 hostmaster 1 3600 900 604800 60
     IN NS  ns1
ns1  IN A   192.0.2.1
www  IN A   192.0.2.80
";

/// A zone directory holding `files` (name, text).
fn zone_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("zones dir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write zone");
    }
    dir
}

fn rcode_of(address: SocketAddr, name: &str) -> ResponseCode {
    ask(address, name, RecordType::A, Ask::UDP)
        .metadata
        .response_code
}

/// Regression: one bad zone file stopped every zone from being served. It
/// is reported with file:line and skipped; the other zones are served.
/// Once a zone has loaded, a later bad file leaves the store's copy served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_zone_file_is_reported_and_skipped() {
    let zones = zone_dir(&[
        ("good.test.zone", GOOD_ZONE),
        (
            "bad.test.zone",
            "$TTL 300\n@ IN SOA ns1 hm 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 300.1.1.1\n",
        ),
    ]);
    let data = tempfile::tempdir().expect("data");
    let server = start_server_with(zones.path(), data, |_| {}).await;
    let bad = server
        .server
        .zones
        .iter()
        .find(|z| z.origin.starts_with("bad.test"))
        .expect("bad.test reported");
    let problem = bad.problem.as_deref().expect("a problem");
    assert!(problem.contains("bad.test.zone:4"), "{problem}");
    assert!(!bad.served);
    let address = server.address;
    tokio::task::spawn_blocking(move || {
        assert_eq!(rcode_of(address, "www.good.test."), ResponseCode::NoError);
        assert_eq!(rcode_of(address, "ns1.bad.test."), ResponseCode::Refused);
    })
    .await
    .expect("queries");
    let data = server.data_dir;
    server.server.shutdown().await;
    // good.test's file breaks; the store still holds its last good load.
    std::fs::write(zones.path().join("good.test.zone"), "$TTL 300\n@ IN SOA\n").expect("write");
    let server = start_server_in(zones.path(), data).await;
    let good = server
        .server
        .zones
        .iter()
        .find(|z| z.origin == "good.test.")
        .expect("good.test reported");
    assert!(good.served && good.problem.is_some(), "{good:?}");
    let address = server.address;
    tokio::task::spawn_blocking(move || {
        assert_eq!(rcode_of(address, "www.good.test."), ResponseCode::NoError);
    })
    .await
    .expect("queries");
    server.server.shutdown().await;
}

/// `admin reload`: a changed file is applied at once, a file that breaks
/// leaves its zone served as it was and is reported with file:line, and the
/// server answers throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_applies_changed_zones_and_keeps_broken_ones_served() {
    let zones = zone_dir(&[("good.test.zone", GOOD_ZONE)]);
    let server = start_server_with(zones.path(), tempfile::tempdir().expect("data"), |_| {}).await;
    let address = server.address;
    let changed = GOOD_ZONE.replace(
        "www  IN A   192.0.2.80",
        "www  IN A   192.0.2.81\nnew  IN A   192.0.2.82",
    );
    std::fs::write(zones.path().join("good.test.zone"), changed).expect("write");
    let report = server.server.reloader.reload().await.expect("reload");
    assert_eq!(report.zones.len(), 1);
    assert!(report.zones[0].changed && report.zones[0].problem.is_none());
    tokio::task::spawn_blocking(move || {
        let reply = ask(address, "new.good.test.", RecordType::A, Ask::UDP);
        assert_eq!(
            section_texts(&reply.answers),
            ["new.good.test. 300 A 192.0.2.82"]
        );
    })
    .await
    .expect("queries");
    std::fs::write(
        zones.path().join("good.test.zone"),
        format!("{GOOD_ZONE}broken IN A 192.0.2.999\n"),
    )
    .expect("write");
    let report = server.server.reloader.reload().await.expect("reload");
    let problem = report.zones[0].problem.as_deref().expect("reported");
    assert!(problem.contains("good.test.zone:6"), "{problem}");
    assert!(report.zones[0].served);
    tokio::task::spawn_blocking(move || {
        let reply = ask(address, "www.good.test.", RecordType::A, Ask::UDP);
        assert_eq!(
            section_texts(&reply.answers),
            ["www.good.test. 300 A 192.0.2.81"]
        );
    })
    .await
    .expect("queries");
    server.server.shutdown().await;
}

/// The server as a process: `mimidns serve` with its log captured.
struct Process {
    child: std::process::Child,
    log: std::path::PathBuf,
    address: SocketAddr,
}

fn spawn_server(zones: &std::path::Path, data: &std::path::Path, log_name: &str) -> Process {
    let port = free_port();
    let address: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
    let log = data.with_file_name(format!(
        "{}-{log_name}.log",
        data.file_name().and_then(|n| n.to_str()).unwrap_or("data")
    ));
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_mimidns"))
        .args(["serve", "--listen", &address.to_string()])
        .arg("--zones-dir")
        .arg(zones)
        .arg("--data-dir")
        .arg(data)
        .env("RUST_LOG", "info")
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("mimidns starts");
    wait_for_dns(address, "good.test.");
    Process {
        child,
        log,
        address,
    }
}

fn signal(process: &Process, signal: i32) {
    // SAFETY: kill(2) on the PID of a child this test started.
    let result = unsafe { libc::kill(process.child.id() as i32, signal) };
    assert_eq!(result, 0, "kill");
}

fn log_of(process: &Process) -> String {
    std::fs::read_to_string(&process.log).expect("log")
}

/// Regression: SIGHUP killed the server (exit 129, no log line), and every
/// start said "store recovered after an unclean shutdown", even after a
/// clean stop. Now SIGHUP reloads, a clean stop is reported as clean on the
/// next start, a kill -9 as unclean, and the log has no colour codes.
#[test]
fn sighup_reloads_and_restarts_tell_clean_from_unclean() {
    let zones = zone_dir(&[("good.test.zone", GOOD_ZONE)]);
    let data_parent = tempfile::tempdir().expect("data");
    let data = data_parent.path().join("data");
    let mut first = spawn_server(zones.path(), &data, "first");
    assert!(
        log_of(&first).contains("new store created"),
        "{}",
        log_of(&first)
    );
    std::fs::write(
        zones.path().join("good.test.zone"),
        format!("{GOOD_ZONE}hup IN A 192.0.2.90\n"),
    )
    .expect("write");
    signal(&first, libc::SIGHUP);
    let mut reloaded = false;
    for _ in 0..50 {
        if ask(first.address, "hup.good.test.", RecordType::A, Ask::UDP)
            .answers
            .len()
            == 1
        {
            reloaded = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(reloaded, "SIGHUP did not reload: {}", log_of(&first));
    assert!(
        first.child.try_wait().expect("status").is_none(),
        "SIGHUP ended the server"
    );
    signal(&first, libc::SIGTERM);
    let status = first.child.wait().expect("exit");
    assert!(status.success(), "{status:?}");
    assert!(
        !log_of(&first).contains('\u{1b}'),
        "ANSI codes in a log file"
    );

    let mut second = spawn_server(zones.path(), &data, "second");
    let log = log_of(&second);
    assert!(log.contains("closed cleanly"), "{log}");
    assert!(!log.contains("not closed cleanly"), "{log}");
    second.child.kill().expect("kill -9");
    second.child.wait().expect("reaped");

    let mut third = spawn_server(zones.path(), &data, "third");
    let log = log_of(&third);
    assert!(log.contains("not closed cleanly"), "{log}");
    signal(&third, libc::SIGTERM);
    assert!(third.child.wait().expect("exit").success());
}

/// Regression: `admin … | head` panicked on the closed pipe ("failed
/// printing to stdout"), and with --json errors were plain text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_ends_quietly_on_a_closed_pipe_and_reports_json_errors() {
    let server = start_server(&repo_path("tests/zones")).await;
    let socket = server.server.admin_socket.clone();
    tokio::task::spawn_blocking(move || {
        let binary = env!("CARGO_BIN_EXE_mimidns");
        let mut child = std::process::Command::new(binary)
            .arg("admin")
            .arg("--socket")
            .arg(&socket)
            .arg("zones")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("starts");
        drop(child.stdout.take()); // the reader is gone before anything is written
        let output = child.wait_with_output().expect("ends");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            output.status.signal(),
            Some(libc::SIGPIPE),
            "{:?} {stderr}",
            output.status
        );

        let output = std::process::Command::new(binary)
            .args([
                "admin",
                "--socket",
                "/nonexistent/admin.sock",
                "--json",
                "zones",
            ])
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(2));
        let error: serde_json::Value =
            serde_json::from_slice(&output.stderr).expect("the error is JSON");
        assert!(
            error["error"]
                .as_str()
                .is_some_and(|e| e.contains("/nonexistent/admin.sock")),
            "{error}"
        );
        let output = std::process::Command::new(binary)
            .arg("admin")
            .arg("--socket")
            .arg(&socket)
            .args(["--json", "get", "+14155550199"])
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(1));
        let error: serde_json::Value =
            serde_json::from_slice(&output.stderr).expect("not found is JSON");
        assert_eq!(error["code"], "not_found");
    })
    .await
    .expect("cli");
    server.server.shutdown().await;
}

fn cli(socket: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_mimidns"))
        .arg("admin")
        .arg("--socket")
        .arg(socket)
        .args(args)
        .output()
        .expect("mimidns admin runs")
}

/// Regression: `admin export` left out the records written through the
/// rrsets API, so the documented upgrade path (export, import) lost them;
/// and `rrsets/api.example.test/A` silently created
/// `api.example.test.example.test.`. Exports now carry those RRsets and
/// imports put them back; ambiguous names are refused; the CLI lists, reads,
/// writes and deletes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_and_import_round_trip_every_record() {
    let first = start_server(&repo_path("tests/zones")).await;
    let second = start_server(&repo_path("tests/zones")).await;
    let (from, to) = (
        first.server.admin_socket.clone(),
        second.server.admin_socket.clone(),
    );
    let to_address = second.address;
    let scratch = tempfile::tempdir().expect("scratch");
    let export_file = scratch.path().join("export.ndjson");
    tokio::task::spawn_blocking(move || {
        let ok = |output: std::process::Output| {
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8_lossy(&output.stdout).into_owned()
        };
        let ambiguous = cli(
            &from,
            &["rrsets", "put", "api.example.test", "A", "192.0.2.7"],
        );
        assert!(!ambiguous.status.success());
        assert!(String::from_utf8_lossy(&ambiguous.stderr).contains("ambiguous"));
        ok(cli(
            &from,
            &["rrsets", "put", "api.example.test.", "A", "192.0.2.7"],
        ));
        ok(cli(
            &from,
            &[
                "rrsets",
                "put",
                "moved",
                "DNAME",
                "--ttl",
                "60",
                "example.org.",
            ],
        ));
        ok(cli(
            &from,
            &[
                "put",
                "+14155550100",
                "--provider",
                "chat.example",
                "--ssi",
                "u1",
                "--target",
                "host.example.test",
            ],
        ));
        let listed = ok(cli(&from, &["rrsets", "list"]));
        assert!(
            listed.contains("api.example.test. 300 IN A 192.0.2.7"),
            "{listed}"
        );
        assert!(
            listed.contains("moved.example.test. 60 IN DNAME example.org."),
            "{listed}"
        );
        assert!(
            !listed.contains("host.example.test."),
            "zone-file RRsets are not listed: {listed}"
        );
        let exported = ok(cli(&from, &["export"]));
        assert_eq!(
            exported.lines().filter(|l| l.contains("\"rrset\"")).count(),
            2,
            "{exported}"
        );
        std::fs::write(&export_file, &exported).expect("write export");
        let imported = cli(&to, &["import", export_file.to_str().expect("path")]);
        assert!(
            imported.status.success(),
            "{}",
            String::from_utf8_lossy(&imported.stderr)
        );
        assert_eq!(
            ok(cli(&to, &["export"])),
            exported,
            "the export round-trips"
        );
        let reply = ask(to_address, "api.example.test.", RecordType::A, Ask::UDP);
        assert_eq!(
            section_texts(&reply.answers),
            ["api.example.test. 300 A 192.0.2.7"]
        );
        ok(cli(&to, &["rrsets", "delete", "api.example.test.", "A"]));
        let gone = cli(&to, &["rrsets", "get", "api", "A"]);
        assert_eq!(gone.status.code(), Some(1));
        assert_eq!(
            ask(to_address, "api.example.test.", RecordType::A, Ask::UDP)
                .metadata
                .response_code,
            ResponseCode::NXDomain
        );
    })
    .await
    .expect("cli");
    first.server.shutdown().await;
    second.server.shutdown().await;
}

/// A datagram socket standing in for systemd's NOTIFY_SOCKET.
fn notify_socket(dir: &std::path::Path) -> (std::os::unix::net::UnixDatagram, std::path::PathBuf) {
    let path = dir.join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&path).expect("notify socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    (socket, path)
}

fn next_notification(socket: &std::os::unix::net::UnixDatagram) -> String {
    let mut buffer = [0u8; 512];
    let length = socket.recv(&mut buffer).expect("a notification");
    String::from_utf8_lossy(&buffer[..length]).into_owned()
}

/// systemd Type=notify: READY=1 comes only once the server answers, SIGHUP
/// brings RELOADING=1 (with MONOTONIC_USEC) then READY=1 again, and SIGTERM
/// STOPPING=1 — what `systemctl start`, `reload` and `stop` wait for.
#[test]
fn systemd_is_told_ready_reloading_and_stopping() {
    let zones = zone_dir(&[("good.test.zone", GOOD_ZONE)]);
    let scratch = tempfile::tempdir().expect("scratch");
    let (notifications, notify_path) = notify_socket(scratch.path());
    let port = free_port();
    let address: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mimidns"))
        .args(["serve", "--listen", &address.to_string()])
        .arg("--zones-dir")
        .arg(zones.path())
        .arg("--data-dir")
        .arg(scratch.path().join("data"))
        .env("NOTIFY_SOCKET", &notify_path)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("mimidns starts");
    let ready = next_notification(&notifications);
    assert!(ready.contains("READY=1"), "{ready}");
    // Ready means serving: the first query after READY=1 is answered.
    let reply = ask(address, "good.test.", RecordType::SOA, Ask::UDP);
    assert_eq!(reply.answers.len(), 1);
    // SAFETY: kill(2) on the PID of a child this test started.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGHUP) }, 0);
    let reloading = next_notification(&notifications);
    assert!(
        reloading.contains("RELOADING=1") && reloading.contains("MONOTONIC_USEC="),
        "{reloading}"
    );
    assert!(next_notification(&notifications).contains("READY=1"));
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    assert!(next_notification(&notifications).contains("STOPPING=1"));
    assert!(child.wait().expect("exit").success());
}

/// `admin.socket-group`: the socket gets that group and mode 0660 (an
/// admin group reaches it without root); without it, 0600.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_socket_group_gets_mode_0660() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let plain = start_server(&repo_path("tests/zones")).await;
    let metadata = std::fs::metadata(&plain.server.admin_socket).expect("socket");
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
    plain.server.shutdown().await;
    let gid = mimidns::admin::http::group_id("nogroup").expect("Debian has nogroup");
    let grouped = start_server_with(
        &repo_path("tests/zones"),
        tempfile::tempdir().expect("data"),
        |config| config.admin.socket_group = Some("nogroup".into()),
    )
    .await;
    let metadata = std::fs::metadata(&grouped.server.admin_socket).expect("socket");
    assert_eq!(metadata.permissions().mode() & 0o777, 0o660);
    assert_eq!(metadata.gid(), gid);
    grouped.server.shutdown().await;
    assert!(matches!(
        mimidns::admin::http::group_id("no-such-group-here"),
        Err(mimidns::admin::http::AdminListenError::UnknownGroup(_))
    ));
}

/// NSID (RFC 5001) and CH TXT id.server / hostname.bind (RFC 4892), read by
/// a real client (kdig): sent when configured and asked for, never
/// otherwise; off by default (REFUSED, no NSID).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nsid_and_id_server_identify_the_instance_when_configured() {
    let configured = start_server_with(
        &repo_path("tests/zones"),
        tempfile::tempdir().expect("data"),
        |config| {
            config.identity = Some("ns1.fra.example.net".into());
            config.nsid = Some(b"ns1-fra".to_vec());
        },
    )
    .await;
    let plain = start_server(&repo_path("tests/zones")).await;
    let (with, without) = (configured.address, plain.address);
    tokio::task::spawn_blocking(move || {
        let asked = kdig_at(with, &["+nsid", "host.example.test.", "A"]);
        assert!(
            asked.contains("NSID: 6E73312D667261 \"ns1-fra\""),
            "{asked}"
        );
        assert!(asked.contains("192.0.2.10"), "{asked}");
        let not_asked = kdig_at(with, &["host.example.test.", "A"]);
        assert!(!not_asked.contains("NSID"), "{not_asked}");
        for name in ["id.server.", "hostname.bind.", "ID.SERVER."] {
            let chaos = kdig_at(with, &["+short", "CH", "TXT", name]);
            assert_eq!(chaos.trim(), "\"ns1.fra.example.net\"", "{name}");
        }
        let other = kdig_at(with, &["CH", "TXT", "version.bind."]);
        assert!(other.contains("status: REFUSED"), "{other}");
        let off = kdig_at(without, &["+nsid", "CH", "TXT", "id.server."]);
        assert!(
            off.contains("status: REFUSED") && !off.contains("NSID"),
            "{off}"
        );
    })
    .await
    .expect("kdig");
    configured.server.shutdown().await;
    plain.server.shutdown().await;
}

/// `log.format = "json"`: every line is one JSON object; with query logging
/// on, names under `_mimi.` are never written (only `<redacted>._mimi.…`).
#[test]
fn json_logs_and_query_logs_never_carry_identifier_names() {
    let zones = zone_dir(&[("good.test.zone", GOOD_ZONE)]);
    let scratch = tempfile::tempdir().expect("scratch");
    let port = free_port();
    let address: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
    let config = scratch.path().join("mimidns.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = [\"{address}\"]\nzones-dir = \"{}\"\ndata-dir = \"{}\"\n[log]\nformat = \"json\"\nqueries = true\n",
            zones.path().display(),
            scratch.path().join("data").display()
        ),
    )
    .expect("config");
    let log = scratch.path().join("log");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mimidns"))
        .args(["serve", "--config"])
        .arg(&config)
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("mimidns starts");
    wait_for_dns(address, "good.test.");
    let label = mimidns::identifier::hash_identifier("+14155550100")
        .expect("hash")
        .label;
    let secret = format!("{label}._mimi.good.test.");
    ask(address, &secret, RecordType::TXT, Ask::UDP);
    ask(address, &secret, RecordType::SVCB, Ask::TCP);
    ask(address, "www.good.test.", RecordType::A, Ask::UDP);
    // SAFETY: kill(2) on the PID of a child this test started.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    assert!(child.wait().expect("exit").success());
    let text = std::fs::read_to_string(&log).expect("log");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let queries: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["message"] == "query answered")
        // wait_for_dns asked for the apex first.
        .skip(1)
        .collect();
    assert_eq!(queries.len(), 3, "{text}");
    assert!(
        !text.contains(&label),
        "a hashed identifier name reached the log:\n{text}"
    );
    assert_eq!(queries[0]["qname"], "<redacted>._mimi.good.test.");
    assert_eq!(queries[1]["transport"], "tcp");
    assert_eq!(queries[2]["qname"], "www.good.test.");
}

/// `--version` names the git revision the binary was built from.
#[test]
fn version_names_the_git_revision() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mimidns"))
        .arg("--version")
        .output()
        .expect("runs");
    let version = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        version.starts_with(&format!("mimidns {} (git ", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    if let Some(head) = head.ok().filter(|o| o.status.success()) {
        let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
        assert!(version.contains(&head), "{version} does not name {head}");
    }
}

/// `admin backup DIR` writes, per zone, the export at one serial and the
/// zone file, and a manifest; restoring it (zone file + import) into a new
/// server gives the same export. `admin zones --json` says what last
/// changed each zone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_is_consistent_and_restores_and_zones_show_the_last_change() {
    let original = start_server(&repo_path("tests/zones")).await;
    let socket = original.server.admin_socket.clone();
    let scratch = tempfile::tempdir().expect("scratch");
    let backup = scratch.path().join("backup");
    let restored_zones = scratch.path().join("zones");
    std::fs::create_dir(&restored_zones).expect("zones dir");
    let (backup_dir, zones_dir) = (backup.clone(), restored_zones.clone());
    let export = tokio::task::spawn_blocking(move || {
        let ok = |output: std::process::Output| {
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8_lossy(&output.stdout).into_owned()
        };
        let zones: serde_json::Value =
            serde_json::from_str(&ok(cli(&socket, &["--json", "zones"]))).expect("JSON");
        assert_eq!(zones[0]["last_change_source"], "file", "{zones}");
        for i in 0..5 {
            ok(cli(
                &socket,
                &[
                    "put",
                    &format!("+1415555020{i}"),
                    "--provider",
                    "chat.example",
                    "--ssi",
                    "u",
                    "--target",
                    "host.example.test",
                ],
            ));
        }
        ok(cli(
            &socket,
            &["rrsets", "put", "api.example.test.", "A", "192.0.2.7"],
        ));
        let zones: serde_json::Value =
            serde_json::from_str(&ok(cli(&socket, &["--json", "zones"]))).expect("JSON");
        assert_eq!(zones[0]["last_change_source"], "admin", "{zones}");
        assert!(
            zones[0]["last_change_unix"]
                .as_u64()
                .is_some_and(|t| t > 1_700_000_000)
        );
        let serial = zones[0]["serial"].as_u64().expect("serial");
        let manifest: serde_json::Value = serde_json::from_str(&ok(cli(
            &socket,
            &["--json", "backup", backup_dir.to_str().expect("path")],
        )))
        .expect("manifest JSON");
        assert_eq!(
            manifest["zones"][0]["serial"].as_u64(),
            Some(serial),
            "{manifest}"
        );
        assert_eq!(manifest["zones"][0]["identifiers"], 5);
        let on_disk: serde_json::Value = serde_json::from_slice(
            &std::fs::read(backup_dir.join("manifest.json")).expect("manifest.json"),
        )
        .expect("JSON");
        assert_eq!(on_disk, manifest);
        assert_eq!(
            std::fs::read(backup_dir.join("example.test.zone")).expect("zone file"),
            std::fs::read(repo_path("tests/zones/example.test.zone")).expect("original")
        );
        // A second backup into the same (now full) directory is refused.
        let again = cli(&socket, &["backup", backup_dir.to_str().expect("path")]);
        assert!(!again.status.success());
        assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
        std::fs::copy(
            backup_dir.join("example.test.zone"),
            zones_dir.join("example.test.zone"),
        )
        .expect("restore the zone file");
        ok(cli(&socket, &["export"]))
    })
    .await
    .expect("cli");
    let restored = start_server(&restored_zones).await;
    let socket = restored.server.admin_socket.clone();
    let restored_export = tokio::task::spawn_blocking(move || {
        let import = cli(
            &socket,
            &[
                "import",
                backup.join("example.test.ndjson").to_str().expect("path"),
            ],
        );
        assert!(
            import.status.success(),
            "{}",
            String::from_utf8_lossy(&import.stderr)
        );
        String::from_utf8_lossy(&cli(&socket, &["export"]).stdout).into_owned()
    })
    .await
    .expect("restore");
    assert_eq!(
        restored_export, export,
        "the restored server exports the same"
    );
    original.server.shutdown().await;
    restored.server.shutdown().await;
}
