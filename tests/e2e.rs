//! End to end on the real binary: publish through the admin socket with the
//! CLI, see the records with `kdig`, discover them with `mimidns resolve`,
//! delete, restart, `kill -9` right after acknowledged writes, NDJSON import,
//! and no plaintext identifier in the store files or the logs.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::*;

const BINARY: &str = env!("CARGO_BIN_EXE_mimidns");
const ZONE: &str = "discovery.example";
const PHONE: &str = "+1 (415) 555-0100";
const PHONE_DIGITS: &str = "4155550100";
const EMAIL: &str = "alice.e2e@example.com";
const PHONE_OWNER: &str =
    "2m77qv3f00d9ntuv514ic09ul2j94uv21us595bvjee9d0rtpta0._mimi.discovery.example.";

struct Instance {
    child: Child,
    address: SocketAddr,
    socket: PathBuf,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data: &Path, port: u16, log: &Path) -> Instance {
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("log file");
    let child = Command::new(BINARY)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--zones-dir",
        ])
        .arg(repo_path("zones"))
        .arg("--data-dir")
        .arg(data)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .expect("mimidns starts");
    let address: SocketAddr = ([127, 0, 0, 1], port).into();
    wait_for_dns(address, "discovery.example.");
    let socket = data.join("admin.sock");
    for _ in 0..50 {
        if socket.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Instance {
        child,
        address,
        socket,
    }
}

fn cli(args: &[&str]) -> Output {
    Command::new(BINARY).args(args).output().expect("cli runs")
}

fn admin(instance: &Instance, args: &[&str]) -> Output {
    let mut all = vec!["admin", "--socket", instance.socket.to_str().expect("utf8")];
    all.extend_from_slice(args);
    cli(&all)
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn kdig(instance: &Instance, name: &str, record_type: &str) -> String {
    let output = Command::new(require_tool("kdig"))
        .args([
            "+norec",
            "+timeout=2",
            "+retry=1",
            "-p",
            &instance.address.port().to_string(),
            "@127.0.0.1",
            name,
            record_type,
        ])
        .output()
        .expect("kdig runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn resolve(instance: &Instance, identifier: &str) -> Output {
    cli(&[
        "resolve",
        identifier,
        "--zone",
        ZONE,
        "--server",
        &instance.address.to_string(),
    ])
}

fn put_phone(instance: &Instance, identifier: &str, ssi: &str) -> Output {
    admin(
        instance,
        &[
            "put",
            identifier,
            "--zone",
            ZONE,
            "--provider",
            "chat.example",
            "--ssi",
            ssi,
            "--target",
            "chat.discovery.example",
            "--port",
            "8443",
            "--alpn",
            "h2",
            "--alpn",
            "h3",
            "--priority",
            "10",
        ],
    )
}

/// Every file below `dir`, read as bytes.
fn files_below(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.push((path, bytes));
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn publish_dig_resolve_delete_restart_and_no_plaintext_anywhere() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let port = free_port();
    let instance = start(&data, port, &log);

    let put = put_phone(&instance, PHONE, "mimi://chat.example/u/e2e-user");
    assert!(put.status.success(), "{}", text(&put));
    // The server-side normalization path too: a plaintext email over the API.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let client = mimidns::admin::client::AdminClient::new(&instance.socket);
        let body = serde_json::json!({"mappings": [{"provider": "mail.example", "ssi": "e2e-mail-user", "target": "chat.discovery.example"}]});
        let path = format!("/v1/zones/{ZONE}/identifiers/{}", mimidns::admin::client::encode_segment(EMAIL));
        let _: mimidns::admin::api::WriteResult = client.call(hyper::Method::PUT, &path, Some(&body)).await.expect("plaintext put");
    });

    let txt = kdig(&instance, PHONE_OWNER, "TXT");
    assert!(
        txt.contains("status: NOERROR")
            && txt.contains("\"v=mimi1\" \"pri=10\" \"provider=chat.example\""),
        "{txt}"
    );
    let svcb = kdig(&instance, PHONE_OWNER, "SVCB");
    assert!(
        svcb.contains("10 chat.discovery.example.") && svcb.contains("8443"),
        "{svcb}"
    );
    let found = resolve(&instance, "tel:+14155550100");
    assert_eq!(found.status.code(), Some(0), "{}", text(&found));
    assert!(
        text(&found).contains("chat.example (priority 10)") && text(&found).contains("192.0.2.10"),
        "{}",
        text(&found)
    );
    let json = cli(&[
        "resolve",
        EMAIL,
        "--zone",
        ZONE,
        "--server",
        &instance.address.to_string(),
        "--json",
    ]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("resolve --json");
    assert_eq!(value["providers"][0]["provider"], "mail.example");

    let deleted = admin(&instance, &["delete", PHONE, "--zone", ZONE]);
    assert!(deleted.status.success(), "{}", text(&deleted));
    assert!(kdig(&instance, PHONE_OWNER, "TXT").contains("status: NXDOMAIN"));
    assert_eq!(
        resolve(&instance, PHONE).status.code(),
        Some(1),
        "not found after delete"
    );
    assert_eq!(
        admin(&instance, &["get", PHONE, "--zone", ZONE])
            .status
            .code(),
        Some(1)
    );

    // Restart: still served, at once.
    let again = put_phone(&instance, PHONE, "mimi://chat.example/u/e2e-user");
    assert!(again.status.success());
    drop(instance);
    let instance = start(&data, port, &log);
    assert!(
        kdig(&instance, PHONE_OWNER, "TXT").contains("provider=chat.example"),
        "served after restart"
    );
    assert_eq!(resolve(&instance, EMAIL).status.code(), Some(0));
    drop(instance);

    // Privacy: no plaintext identifier in the store files or in the debug logs.
    for (path, bytes) in files_below(&data)
        .into_iter()
        .chain([(log.clone(), std::fs::read(&log).expect("log"))])
    {
        for secret in [PHONE_DIGITS, "+14155550100", EMAIL, "alice.e2e"] {
            assert!(
                !contains(&bytes, secret),
                "{} contains the plaintext {secret}",
                path.display()
            );
        }
    }
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let port = free_port();
    for round in 0..20 {
        let mut instance = start(&data, port, &log);
        let identifier = format!("+4930123{round:04}");
        let put = put_phone(&instance, &identifier, &format!("kill9-{round}"));
        assert!(put.status.success(), "round {round}: {}", text(&put));
        // SIGKILL right after the acknowledgement.
        instance.child.kill().expect("kill -9");
        instance.child.wait().expect("reaped");
    }
    let instance = start(&data, port, &log);
    for round in 0..20 {
        let got = admin(
            &instance,
            &[
                "get",
                &format!("+4930123{round:04}"),
                "--zone",
                ZONE,
                "--json",
            ],
        );
        assert!(
            got.status.success(),
            "acknowledged write {round} lost after kill -9: {}",
            text(&got)
        );
        assert!(text(&got).contains(&format!("kill9-{round}")));
    }
}

#[test]
fn ndjson_import_reports_bad_lines_and_counts() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let instance = start(&data, free_port(), &log);
    let file = dir.path().join("import.ndjson");
    let mut lines = String::new();
    for i in 0..1500 {
        if i == 700 {
            lines.push_str("{\"identifier\": \"4930 no plus\", \"mappings\": [{\"provider\": \"p.example\", \"ssi\": \"u\", \"target\": \"t.example\"}]}\n");
        }
        if i == 900 {
            lines.push_str("not json\n");
        }
        lines.push_str(&format!("{{\"identifier\": \"user{i}@import.example\", \"mappings\": [{{\"provider\": \"p.example\", \"ssi\": \"u{i}\", \"target\": \"t.example\", \"port\": 443}}]}}\n"));
    }
    std::fs::write(&file, lines).expect("write");
    let import = admin(
        &instance,
        &[
            "import",
            file.to_str().expect("utf8"),
            "--zone",
            ZONE,
            "--batch-size",
            "400",
        ],
    );
    let output = text(&import);
    assert_eq!(
        import.status.code(),
        Some(1),
        "bad lines make the exit code 1: {output}"
    );
    assert!(
        output.contains("line 701:") && output.contains("E.164"),
        "{output}"
    );
    assert!(
        output.contains("line 902:") && output.contains("not a JSON object"),
        "{output}"
    );
    assert!(
        output.contains("imported 1500 identifiers") && output.contains("2 lines rejected"),
        "{output}"
    );
    let export = admin(&instance, &["export", "--zone", ZONE]);
    assert_eq!(
        String::from_utf8_lossy(&export.stdout).lines().count(),
        1500
    );
    let zones = admin(&instance, &["zones", "--json"]);
    let zones: serde_json::Value = serde_json::from_slice(&zones.stdout).expect("zones json");
    assert_eq!(zones[0]["identifiers"], 1500);
    // An export re-imports as is (identifiers stay hashed).
    let exported = dir.path().join("export.ndjson");
    std::fs::write(&exported, &export.stdout).expect("write export");
    let reimport = admin(
        &instance,
        &["import", exported.to_str().expect("utf8"), "--zone", ZONE],
    );
    assert!(reimport.status.success(), "{}", text(&reimport));
    assert!(text(&reimport).contains("imported 1500 identifiers"));
    // Batches go out while earlier ones are still committing; an identifier
    // that comes back in a later line still ends with that line's mappings.
    let repeated = dir.path().join("repeated.ndjson");
    let line = |who: &str, ssi: &str| {
        format!(
            "{{\"identifier\": \"{who}@import.example\", \"mappings\": [{{\"provider\": \"p.example\", \"ssi\": \"{ssi}\", \"target\": \"t.example\"}}]}}\n"
        )
    };
    let mut lines = line("user7", "first");
    for other in ["user1", "user2", "user3"] {
        lines.push_str(&line(other, "again"));
    }
    lines.push_str(&line("user7", "second"));
    std::fs::write(&repeated, lines).expect("write");
    let again = admin(
        &instance,
        &[
            "import",
            repeated.to_str().expect("utf8"),
            "--zone",
            ZONE,
            "--batch-size",
            "2",
        ],
    );
    assert!(again.status.success(), "{}", text(&again));
    let got = admin(
        &instance,
        &["get", "user7@import.example", "--zone", ZONE, "--json"],
    );
    assert!(
        text(&got).contains("second") && !text(&got).contains("first"),
        "the later line wins: {}",
        text(&got)
    );
}
