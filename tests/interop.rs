//! Interoperability with real DNS software, using the built `mimidns` binary:
//! `kdig` and `dig` straight at it, and an unbound recursive resolver that
//! reaches it only by delegation — Knot serves the parent zone `example.`
//! with NS and glue for `discovery.example.` pointing at mimidns.
//!
//! Delegation means port 53, so these tests need their own network
//! namespace: `./test.sh` runs the suite inside `unshare -n` as root, where
//! 127.0.0.0/8 is private and nothing can leave the machine. Elsewhere they
//! fail with instructions, unless MIMIDNS_SKIP_NETNS=1 says to skip them.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

const MIMIDNS_IP: &str = "127.0.0.2";
const PARENT_IP: &str = "127.0.0.3";
const RESOLVER_IP: &str = "127.0.0.4";

const CHILD_ZONE: &str = "$TTL 300
@     IN SOA ns1 hostmaster 2026010101 3600 900 604800 60
      IN NS  ns1
ns1   IN A   127.0.0.2
chat  IN A   192.0.2.10
      IN AAAA 2001:db8::10
_mimi._tcp.chat IN SVCB 1 chat alpn=h2,h3 port=8443
www   IN CNAME chat
txt   IN TXT \"v=mimi1\" \"provider=discovery.example\"
";

const PARENT_ZONE: &str = "$TTL 300
@         IN SOA ns hostmaster 1 3600 900 604800 60
          IN NS  ns
ns        IN A   127.0.0.3
discovery IN NS  ns1.discovery
ns1.discovery IN A 127.0.0.2
";

fn spawn(program: &Path, args: &[&str], name: &'static str) -> Daemon {
    let child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{name} starts: {e}"));
    Daemon { child, name }
}

fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(require_tool(program))
        .args(args)
        .output()
        .expect("tool runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

struct Setup {
    dirs: tempfile::TempDir,
    _daemons: Vec<Daemon>,
}

fn start_all() -> Setup {
    let dirs = tempfile::tempdir().expect("tempdir");
    let root = dirs.path();
    let zones = root.join("zones");
    std::fs::create_dir_all(&zones).expect("zones dir");
    std::fs::write(zones.join("discovery.example.zone"), CHILD_ZONE).expect("child zone");
    let mut daemons = Vec::new();
    daemons.push(spawn(
        Path::new(env!("CARGO_BIN_EXE_mimidns")),
        &[
            "serve",
            "--listen",
            &format!("{MIMIDNS_IP}:53"),
            "--zones-dir",
            zones.to_str().expect("utf8"),
            "--data-dir",
            root.join("data").to_str().expect("utf8"),
        ],
        "mimidns",
    ));
    wait_for_dns(
        format!("{MIMIDNS_IP}:53").parse().expect("addr"),
        "discovery.example.",
    );

    let parent = root.join("parent");
    std::fs::create_dir_all(parent.join("db")).expect("parent dir");
    std::fs::write(parent.join("example.zone"), PARENT_ZONE).expect("parent zone");
    let knot_conf = format!(
        "server:\n    listen: {PARENT_IP}@53\n    rundir: {dir}\n    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n\
         database:\n    storage: {dir}/db\nlog:\n  - target: stderr\n    any: warning\n\
         template:\n  - id: default\n    storage: {dir}\n    zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\n\
         zone:\n  - domain: example\n    file: example.zone\n",
        dir = parent.display()
    );
    std::fs::write(parent.join("knot.conf"), knot_conf).expect("knot.conf");
    daemons.push(spawn(
        &require_tool("knotd"),
        &["-c", parent.join("knot.conf").to_str().expect("utf8")],
        "knotd",
    ));
    wait_for_dns(format!("{PARENT_IP}:53").parse().expect("addr"), "example.");

    let resolver = root.join("unbound");
    std::fs::create_dir_all(&resolver).expect("unbound dir");
    // Only loopback: the parent is a stub zone at PARENT_IP; no root hints are used.
    let unbound_conf = format!(
        "server:\n  interface: {RESOLVER_IP}\n  port: 53\n  do-not-query-localhost: no\n  access-control: 127.0.0.0/8 allow\n\
         \x20 chroot: \"\"\n  username: \"\"\n  directory: \"{dir}\"\n  pidfile: \"{dir}/unbound.pid\"\n  use-syslog: no\n\
         \x20 module-config: \"iterator\"\n  do-ip6: no\n  verbosity: 1\n  num-threads: 1\n\
         stub-zone:\n  name: \"example.\"\n  stub-addr: {PARENT_IP}\n\
         remote-control:\n  control-enable: no\n",
        dir = resolver.display()
    );
    std::fs::write(resolver.join("unbound.conf"), unbound_conf).expect("unbound.conf");
    daemons.push(spawn(
        &require_tool("unbound"),
        &[
            "-d",
            "-c",
            resolver.join("unbound.conf").to_str().expect("utf8"),
        ],
        "unbound",
    ));
    for _ in 0..50 {
        if run(
            "kdig",
            &[
                "+short",
                "+timeout=1",
                "+retry=0",
                &format!("@{RESOLVER_IP}"),
                "example.",
                "SOA",
            ],
        )
        .contains("hostmaster")
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Setup {
        dirs,
        _daemons: daemons,
    }
}

#[test]
fn kdig_dig_and_unbound_by_delegation() {
    if !in_private_netns() {
        return;
    }
    let setup = start_all();
    let at_mimidns = format!("@{MIMIDNS_IP}");

    // kdig straight at the binary: authoritative answer, AA set, RA clear.
    let direct = run(
        "kdig",
        &["+norec", &at_mimidns, "chat.discovery.example.", "A"],
    );
    assert!(direct.contains("status: NOERROR"), "{direct}");
    assert!(
        direct.contains("Flags: qr aa;"),
        "AA set, RA clear:\n{direct}"
    );
    assert!(direct.contains("192.0.2.10"), "{direct}");
    let nx = run(
        "kdig",
        &["+norec", &at_mimidns, "nothing.discovery.example.", "TXT"],
    );
    assert!(
        nx.contains("status: NXDOMAIN") && nx.contains("SOA"),
        "{nx}"
    );
    let svcb = run(
        "kdig",
        &[
            "+norec",
            &at_mimidns,
            "_mimi._tcp.chat.discovery.example.",
            "SVCB",
        ],
    );
    assert!(
        svcb.contains("alpn=h2,h3") || svcb.contains("alpn=\"h2,h3\""),
        "{svcb}"
    );
    assert!(
        svcb.contains("ADDITIONAL SECTION") && svcb.contains("2001:db8::10"),
        "target addresses in additional:\n{svcb}"
    );
    let tcp = run(
        "dig",
        &[
            "+norec",
            "+tcp",
            &at_mimidns,
            "txt.discovery.example.",
            "TXT",
        ],
    );
    assert!(
        tcp.contains("\"v=mimi1\" \"provider=discovery.example\""),
        "{tcp}"
    );
    let refused = run("dig", &["+norec", &at_mimidns, "example.org.", "A"]);
    assert!(refused.contains("status: REFUSED"), "{refused}");

    // Through unbound, which only knows the parent: it must follow the referral.
    let at_resolver = format!("@{RESOLVER_IP}");
    let resolved = run("kdig", &[&at_resolver, "chat.discovery.example.", "AAAA"]);
    assert!(
        resolved.contains("status: NOERROR") && resolved.contains("2001:db8::10"),
        "{resolved}"
    );
    let flags = resolved
        .lines()
        .find(|l| l.contains("Flags:"))
        .unwrap_or_default();
    assert!(
        flags.contains(" ra"),
        "the resolver's answer is recursive:\n{resolved}"
    );
    let cname = run(
        "kdig",
        &["+short", &at_resolver, "www.discovery.example.", "A"],
    );
    assert!(
        cname.contains("chat.discovery.example.") && cname.contains("192.0.2.10"),
        "{cname}"
    );
    let txt = run(
        "dig",
        &["+short", &at_resolver, "txt.discovery.example.", "TXT"],
    );
    assert!(txt.contains("\"v=mimi1\""), "{txt}");
    let svcb = run(
        "kdig",
        &[
            "+short",
            &at_resolver,
            "_mimi._tcp.chat.discovery.example.",
            "SVCB",
        ],
    );
    assert!(
        svcb.contains("chat.discovery.example.") && svcb.contains("8443"),
        "{svcb}"
    );
    let nx = run("kdig", &[&at_resolver, "nothing.discovery.example.", "A"]);
    assert!(nx.contains("status: NXDOMAIN"), "{nx}");

    // Discovery through the resolver: publish with the CLI, resolve through unbound.
    let binary = env!("CARGO_BIN_EXE_mimidns");
    let socket = setup.dirs.path().join("data/admin.sock");
    let put = Command::new(binary)
        .args([
            "admin",
            "--socket",
            socket.to_str().expect("utf8"),
            "put",
            "bob@example.com",
            "--provider",
            "chat.example",
        ])
        .args([
            "--ssi",
            "mimi://chat.example/u/bob",
            "--target",
            "chat.discovery.example",
            "--port",
            "8443",
            "--priority",
            "5",
        ])
        .output()
        .expect("admin put");
    assert!(
        put.status.success(),
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    let resolver = format!("{RESOLVER_IP}:53");
    let found = Command::new(binary)
        .args([
            "resolve",
            "Bob@Example.COM",
            "--zone",
            "discovery.example",
            "--server",
            &resolver,
        ])
        .output()
        .expect("resolve");
    let found_text = String::from_utf8_lossy(&found.stdout);
    assert_eq!(
        found.status.code(),
        Some(0),
        "{found_text}{}",
        String::from_utf8_lossy(&found.stderr)
    );
    assert!(
        found_text.contains("chat.example (priority 5)") && found_text.contains("2001:db8::10"),
        "{found_text}"
    );
    let missing = Command::new(binary)
        .args([
            "resolve",
            "nobody@example.com",
            "--zone",
            "discovery.example",
            "--server",
            &resolver,
        ])
        .output()
        .expect("resolve");
    assert_eq!(
        missing.status.code(),
        Some(1),
        "NXDOMAIN through the resolver is 'not found'"
    );
}
