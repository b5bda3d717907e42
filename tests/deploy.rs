//! The deploy/ files: the production example configuration is valid for this
//! build, and the systemd unit passes `systemd-analyze verify` and keeps its
//! `systemd-analyze security` exposure at or below 2.0 where systemd is
//! installed.

mod common;

use common::repo_path;
use mimidns::config::{Config, Overrides};

#[test]
fn production_example_config_is_valid() {
    let config = Config::load(
        Some(&repo_path("deploy/mimidns.toml")),
        &Overrides::default(),
    )
    .expect("deploy/mimidns.toml is valid");
    assert!(config.listen.iter().any(|a| a.port() == 53));
    assert_eq!(
        config.data_dir,
        std::path::PathBuf::from("/var/lib/mimidns")
    );
}

#[test]
fn systemd_unit_verifies() {
    let Ok(output) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        eprintln!("skipped: systemd-analyze is not installed");
        return;
    };
    assert!(output.status.success());
    // Point the unit at the freshly built binary so verify can check ExecStart.
    let unit = std::fs::read_to_string(repo_path("deploy/mimidns.service")).expect("unit");
    let unit = unit.replace("/usr/local/bin/mimidns", env!("CARGO_BIN_EXE_mimidns"));
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mimidns.service");
    std::fs::write(&path, unit).expect("write unit");
    let verify = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("verify runs");
    let stderr = String::from_utf8_lossy(&verify.stderr);
    let own_problems: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("mimidns.service"))
        .collect();
    assert!(
        verify.status.success() && own_problems.is_empty(),
        "systemd-analyze verify failed:\n{stderr}"
    );
    // The sandbox stays tight: exposure at most 2.0 ("OK") on systemd's scale.
    let security = std::process::Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(&path)
        .output()
        .expect("security runs");
    let report = String::from_utf8_lossy(&security.stdout);
    let exposure: f64 = report
        .lines()
        .find_map(|line| {
            let rest = line.split("Overall exposure level for").nth(1)?;
            rest.split(':')
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no exposure level in:\n{report}"));
    assert!(
        exposure <= 2.0,
        "systemd-analyze security: {exposure} > 2.0\n{report}"
    );
    let unit_text = std::fs::read_to_string(&path).expect("unit");
    for line in [
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "SupplementaryGroups=mimidns-admin",
    ] {
        assert!(unit_text.contains(line), "the unit lacks {line}");
    }
}

#[test]
fn check_config_names_the_file_and_line_of_a_bad_zone_and_fails() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("bad.test.zone"),
        "$TTL 60\n@ SOA ns hm 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\nbroken A 999.1.1.1\n",
    )
    .expect("zone");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mimidns"))
        .args(["serve", "--check-config", "--zones-dir"])
        .arg(dir.path())
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "a bad zone must fail the check");
    assert!(
        stderr.contains("bad.test.zone:5:") && stderr.contains("is not an IPv4 address"),
        "{stderr}"
    );
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "[server]\nlisten = [\"127.0.0.1:53\"]\nworkers = 3\n",
    )
    .expect("config");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mimidns"))
        .args(["serve", "--check-config", "--config"])
        .arg(&config)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("bad.toml") && stderr.contains("line 3") && stderr.contains("workers"),
        "{stderr}"
    );
}

/// Regression: the shipped `listen = ["0.0.0.0:53", "[::]:53"]` failed with
/// EADDRINUSE (the `[::]` socket was dual-stack and took the IPv4 port too).
/// Starts the server with the production listen addresses inside the
/// private network namespace of `./test.sh` and asks over both families.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_listen_addresses_start() {
    if std::env::var_os("MIMIDNS_NETNS").is_none_or(|v| v != "1") {
        eprintln!("skipped: needs root in a private network namespace (./test.sh as root)");
        return;
    }
    let mut config = Config::load(
        Some(&repo_path("deploy/mimidns.toml")),
        &Overrides::default(),
    )
    .expect("deploy/mimidns.toml is valid");
    let data = tempfile::tempdir().expect("data dir");
    config.zones_dir = repo_path("tests/zones");
    config.data_dir = data.path().to_path_buf();
    config.admin.socket = Some(data.path().join("admin.sock"));
    config.admin.tcp_listen = None;
    // The unit's admin group does not exist on a test machine; a group that
    // does (Debian's nogroup) takes its place. tests/operations.rs checks
    // the socket's group and mode.
    assert_eq!(config.admin.socket_group.as_deref(), Some("mimidns-admin"));
    config.admin.socket_group = Some("nogroup".into());
    let server = mimidns::server::start(&config)
        .await
        .expect("the production listen addresses bind");
    let ipv6 = std::net::UdpSocket::bind("[::1]:0").is_ok();
    tokio::task::spawn_blocking(move || {
        let mut targets = vec!["127.0.0.1:53"];
        if ipv6 {
            targets.push("[::1]:53");
        }
        for target in targets {
            let address: std::net::SocketAddr = target.parse().expect("address");
            let reply = common::ask(
                address,
                "host.example.test.",
                hickory_proto::rr::RecordType::A,
                common::Ask::TCP,
            );
            assert_eq!(reply.answers.len(), 1, "{target}");
        }
    })
    .await
    .expect("queries");
    server.shutdown().await;
}

/// Regression: `--check-config` passed configurations that start-up then
/// refused (systemd restart-looped). It now catches listen addresses that
/// cannot be bound or are in use, a missing token file, and per-zone
/// settings for a zone that has no file — and passes a good one.
#[test]
fn check_config_catches_what_start_up_would_refuse() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::copy(
        repo_path("tests/zones/example.test.zone"),
        dir.path().join("example.test.zone"),
    )
    .expect("zone");
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let taken_port = taken.local_addr().expect("addr").port();
    let taken_tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken_tcp_port = taken_tcp.local_addr().expect("addr").port();
    let free = common::free_port();
    let zones = dir.path().display().to_string();
    let cases = [
        // 192.0.2.1 (TEST-NET-1) is no address of this machine.
        (
            format!("[server]\nlisten = [\"192.0.2.1:{free}\"]\n"),
            "192.0.2.1",
        ),
        (
            format!("[server]\nlisten = [\"127.0.0.1:{taken_port}\"]\n"),
            "already in use",
        ),
        (
            format!("[server]\nlisten = [\"127.0.0.1:{free}\", \"127.0.0.1:{free}\"]\n"),
            "twice",
        ),
        (
            format!(
                "[server]\nlisten = [\"127.0.0.1:{free}\"]\n[admin]\ntcp-listen = \"127.0.0.1:{free}\"\ntoken-file = \"/nonexistent/token\"\n"
            ),
            "/nonexistent/token",
        ),
        (
            format!(
                "[server]\nlisten = [\"127.0.0.1:{free}\"]\n[[discovery.zone]]\norigin = \"typo.test\"\nttl = 60\n"
            ),
            "typo.test",
        ),
        (
            format!(
                "[server]\nlisten = [\"127.0.0.1:{free}\"]\n[admin]\nsocket-group = \"no-such-group-here\"\n"
            ),
            "no such group",
        ),
        (
            format!(
                "[server]\nlisten = [\"127.0.0.1:{free}\"]\n[metrics]\nlisten = \"127.0.0.1:{taken_tcp_port}\"\n"
            ),
            "metrics.listen",
        ),
    ];
    for (index, (text, expected)) in cases.iter().enumerate() {
        let config = dir.path().join(format!("case{index}.toml"));
        std::fs::write(&config, format!("{text}\n")).expect("config");
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_mimidns"))
            .args(["serve", "--check-config", "--zones-dir", &zones, "--config"])
            .arg(&config)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "case {index} passed: {text}");
        assert!(stderr.contains(expected), "case {index}: {stderr}");
    }
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        format!("[server]\nlisten = [\"127.0.0.1:{free}\"]\n"),
    )
    .expect("config");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mimidns"))
        .args(["serve", "--check-config", "--zones-dir", &zones, "--config"])
        .arg(&good)
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    drop(taken);
}
