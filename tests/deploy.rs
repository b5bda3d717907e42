//! The deploy/ files: the production example configuration is valid for this
//! build, and the systemd unit passes `systemd-analyze verify` where systemd
//! is installed.

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
