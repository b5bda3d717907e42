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
