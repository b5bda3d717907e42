//! DNS behaviour of the server, as data: each case is a query and the
//! response it must get (RCODE, flags, sections), with the RFC section it
//! checks. Every case runs over UDP and over TCP against the real server
//! started in-process on 127.0.0.1:0, once for each read path: sled, the
//! in-memory index, and the index behind the answer cache.

mod common;

use common::*;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;

struct Case {
    rfc: &'static str,
    name: &'static str,
    qtype: RecordType,
    rcode: ResponseCode,
    aa: bool,
    /// Expected answer records as "owner ttl TYPE rdata" (owner lower-case).
    answer: &'static [&'static str],
    /// Expected authority records, same form.
    authority: &'static [&'static str],
    /// Records that must be in the additional section (others may be too).
    additional: &'static [&'static str],
}

const SOA: &str = "example.test. 120 SOA ns1.example.test. hostmaster.example.test. 2024060101 3600 900 604800 120";

const CASES: &[Case] = &[
    Case {
        rfc: "RFC 1034 §4.3.2 step 3a: exact match",
        name: "host.example.test.",
        qtype: RecordType::A,
        rcode: ResponseCode::NoError,
        aa: true,
        answer: &["host.example.test. 300 A 192.0.2.10"],
        authority: &[],
        additional: &[],
    },
    Case {
        rfc: "RFC 4343: names match case-insensitively",
        name: "HoSt.ExAmPlE.TeSt.",
        qtype: RecordType::AAAA,
        rcode: ResponseCode::NoError,
        aa: true,
        answer: &["host.example.test. 300 AAAA 2001:db8::10"],
        authority: &[],
        additional: &[],
    },
    Case {
        rfc: "RFC 2308 §2.2: NODATA carries the SOA, TTL min(SOA TTL, MINIMUM)",
        name: "host.example.test.",
        qtype: RecordType::MX,
        rcode: ResponseCode::NoError,
        aa: true,
        answer: &[],
        authority: &[SOA],
        additional: &[],
    },
    Case {
        rfc: "RFC 2308 §2.1: NXDOMAIN carries the SOA",
        name: "missing.example.test.",
        qtype: RecordType::A,
        rcode: ResponseCode::NXDomain,
        aa: true,
        answer: &[],
        authority: &[SOA],
        additional: &[],
    },
    Case {
        rfc: "RFC 8020 / RFC 4592 §2.2.2: an empty non-terminal exists (NODATA)",
        name: "b.example.test.",
        qtype: RecordType::A,
        rcode: ResponseCode::NoError,
        aa: true,
        answer: &[],
        authority: &[SOA],
        additional: &[],
    },
    Case {
        rfc: "RFC 1035 §3.3.11: apex NS with glue in additional",
        name: "example.test.",
        qtype: RecordType::NS,
        rcode: ResponseCode::NoError,
        aa: true,
        answer: &[
            "example.test. 300 NS ns1.example.test.",
            "example.test. 300 NS ns2.elsewhere.example.",
        ],
        authority: &[],
        additional: &[
            "ns1.example.test. 300 A 192.0.2.1",
            "ns1.example.test. 300 AAAA 2001:db8::1",
        ],
    },
    Case {
        rfc: "RFC 1035 §3.3.13: SOA at the apex",
        name: "example.test.",
        qtype: RecordType::SOA,
        rcode: ResponseCode::NoError,
        aa: true,
        answer: &[
            "example.test. 300 SOA ns1.example.test. hostmaster.example.test. 2024060101 3600 900 604800 120",
        ],
        authority: &[],
        additional: &[],
    },
    Case {
        rfc: "RFC 9460 §4.1: SVCB target addresses in additional",
        name: "_mimi._tcp.svc.example.test.",
        qtype: RecordType::SVCB,
        rcode: ResponseCode::NoError,
        aa: true,
        answer: &[
            "_mimi._tcp.svc.example.test. 300 SVCB 1 host.example.test. alpn=h2,h3, port=8443",
        ],
        authority: &[],
        additional: &[
            "host.example.test. 300 A 192.0.2.10",
            "host.example.test. 300 AAAA 2001:db8::10",
        ],
    },
    Case {
        rfc: "RFC 9460 §2.5.2: target \".\" is the owner; its address is additional",
        name: "svc2.example.test.",
        qtype: RecordType::SVCB,
        rcode: ResponseCode::NoError,
        aa: true,
        answer: &["svc2.example.test. 300 SVCB 2 . alpn=h2,"],
        authority: &[],
        additional: &["svc2.example.test. 300 A 192.0.2.12"],
    },
    Case {
        rfc: "RFC 9460 §9: HTTPS with in-zone target",
        name: "web.example.test.",
        qtype: RecordType::HTTPS,
        rcode: ResponseCode::NoError,
        aa: true,
        answer: &["web.example.test. 300 HTTPS 1 host.example.test. alpn=h3,"],
        authority: &[],
        additional: &["host.example.test. 300 A 192.0.2.10"],
    },
    Case {
        rfc: "RFC 1034 §4.3.2 step 3a: CNAME chain followed inside the zone",
        name: "chain.example.test.",
        qtype: RecordType::A,
        rcode: ResponseCode::NoError,
        aa: true,
        answer: &[
            "chain.example.test. 300 CNAME www.example.test.",
            "www.example.test. 300 CNAME host.example.test.",
            "host.example.test. 300 A 192.0.2.10",
        ],
        authority: &[],
        additional: &[],
    },
    Case {
        rfc: "RFC 6604 §2.1: RCODE of the last name in a CNAME chain",
        name: "dangling.example.test.",
        qtype: RecordType::A,
        rcode: ResponseCode::NXDomain,
        aa: true,
        answer: &["dangling.example.test. 300 CNAME nothere.example.test."],
        authority: &[SOA],
        additional: &[],
    },
    Case {
        rfc: "RFC 6672 §3.2: a DNAME rewrites names below it; the CNAME is synthesized and chased in the zone",
        name: "www.old.example.test.",
        qtype: RecordType::A,
        rcode: ResponseCode::NoError,
        aa: true,
        answer: &[
            "old.example.test. 300 DNAME example.test.",
            "www.old.example.test. 300 CNAME www.example.test.",
            "www.example.test. 300 CNAME host.example.test.",
            "host.example.test. 300 A 192.0.2.10",
        ],
        authority: &[],
        additional: &[],
    },
    Case {
        rfc: "RFC 6672 §3.2 / RFC 6604: the rewritten name does not exist",
        name: "nothere.old.example.test.",
        qtype: RecordType::A,
        rcode: ResponseCode::NXDomain,
        aa: true,
        answer: &[
            "old.example.test. 300 DNAME example.test.",
            "nothere.old.example.test. 300 CNAME nothere.example.test.",
        ],
        authority: &[SOA],
        additional: &[],
    },
    Case {
        rfc: "RFC 6672 §2.3: the DNAME owner itself is not rewritten",
        name: "old.example.test.",
        qtype: RecordType::TXT,
        rcode: ResponseCode::NoError,
        aa: true,
        answer: &["old.example.test. 300 TXT beside the DNAME"],
        authority: &[],
        additional: &[],
    },
    Case {
        rfc: "RFC 6672 §2.2: a rewrite longer than 255 octets is YXDOMAIN",
        name: "ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee.long.example.test.",
        qtype: RecordType::A,
        rcode: ResponseCode::YXDomain,
        aa: true,
        answer: &[
            "long.example.test. 300 DNAME aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc.example.org.",
        ],
        authority: &[],
        additional: &[],
    },
    Case {
        rfc: "RFC 1034 §3.6.2: CNAME query returns the CNAME itself",
        name: "www.example.test.",
        qtype: RecordType::CNAME,
        rcode: ResponseCode::NoError,
        aa: true,
        answer: &["www.example.test. 300 CNAME host.example.test."],
        authority: &[],
        additional: &[],
    },
    Case {
        rfc: "RFC 1034 §4.3.2: CNAME out of zone is not followed",
        name: "out.example.test.",
        qtype: RecordType::A,
        rcode: ResponseCode::NoError,
        aa: true,
        answer: &["out.example.test. 300 CNAME target.example.org."],
        authority: &[],
        additional: &[],
    },
    Case {
        rfc: "RFC 4592 §3.3.1: wildcard synthesis with the query name as owner",
        name: "anything.wild.example.test.",
        qtype: RecordType::TXT,
        rcode: ResponseCode::NoError,
        aa: true,
        answer: &["anything.wild.example.test. 300 TXT wildcard"],
        authority: &[],
        additional: &[],
    },
    Case {
        rfc: "RFC 4592 §2.2.1: wildcard node NODATA for a missing type",
        name: "x.wild.example.test.",
        qtype: RecordType::MX,
        rcode: ResponseCode::NoError,
        aa: true,
        answer: &[],
        authority: &[SOA],
        additional: &[],
    },
    Case {
        rfc: "RFC 1034 §4.3.2 step 3b: referral below a cut, AA clear, glue",
        name: "www.deleg.example.test.",
        qtype: RecordType::A,
        rcode: ResponseCode::NoError,
        aa: false,
        answer: &[],
        authority: &[
            "deleg.example.test. 300 NS ns.deleg.example.test.",
            "deleg.example.test. 300 NS ns.other.example.",
        ],
        additional: &["ns.deleg.example.test. 300 A 192.0.2.53"],
    },
    Case {
        rfc: "RFC 4035 §3.1.4.1: DS at the cut is answered by the parent",
        name: "deleg.example.test.",
        qtype: RecordType::DS,
        rcode: ResponseCode::NoError,
        aa: true,
        answer: &[],
        authority: &[SOA],
        additional: &[],
    },
    Case {
        rfc: "RFC 1035 §4.3.1: a name in no served zone is REFUSED",
        name: "example.org.",
        qtype: RecordType::A,
        rcode: ResponseCode::Refused,
        aa: false,
        answer: &[],
        authority: &[],
        additional: &[],
    },
    Case {
        rfc: "RFC 8482 §4.1: ANY gets one RRset, not the node",
        name: "host.example.test.",
        qtype: RecordType::ANY,
        rcode: ResponseCode::NoError,
        aa: true,
        answer: &["host.example.test. 300 A 192.0.2.10"],
        authority: &[],
        additional: &[],
    },
    Case {
        rfc: "RFC 5936 §2.2: AXFR is refused (no allow-transfer for the zone)",
        name: "example.test.",
        qtype: RecordType::AXFR,
        rcode: ResponseCode::Refused,
        aa: false,
        answer: &[],
        authority: &[],
        additional: &[],
    },
];

fn check(case: &Case, reply: &Message, transport: &str) {
    let context = format!("{} ({}) over {transport}", case.name, case.rfc);
    assert_eq!(reply.metadata.response_code, case.rcode, "rcode: {context}");
    assert_eq!(reply.metadata.authoritative, case.aa, "AA: {context}");
    assert!(
        !reply.metadata.recursion_available,
        "RA must be clear: {context}"
    );
    assert!(!reply.metadata.truncation, "TC: {context}");
    let expected = |records: &[&str]| {
        let mut texts: Vec<String> = records.iter().map(|r| r.to_string()).collect();
        texts.sort();
        texts
    };
    assert_eq!(
        section_texts(&reply.answers),
        expected(case.answer),
        "answer: {context}"
    );
    assert_eq!(
        section_texts(&reply.authorities),
        expected(case.authority),
        "authority: {context}"
    );
    let additional = section_texts(&reply.additionals);
    for record in case.additional {
        assert!(
            additional.contains(&record.to_string()),
            "additional lacks {record}: {context}; has {additional:?}"
        );
    }
    assert_eq!(reply.queries.len(), 1, "question echoed: {context}");
    assert_eq!(
        reply.queries[0].name().to_ascii(),
        case.name,
        "question case kept (0x20): {context}"
    );
    let edns = reply
        .edns
        .as_ref()
        .expect("OPT in the reply to an EDNS query (RFC 6891 §6.1.1)");
    assert_eq!(edns.max_payload(), 1232, "advertised payload: {context}");
}

/// How the server reads: straight from sled, or from the in-memory node
/// index (waited for, so no case is answered by the other path by chance),
/// and whether finished answers are cached.
#[derive(Clone, Copy, Debug)]
struct ReadPath {
    memory_index: bool,
    answer_cache: bool,
}

async fn run_cases(path: ReadPath) {
    let server = start_server_with(
        &repo_path("tests/zones"),
        tempfile::tempdir().expect("data dir"),
        |config| {
            config.memory_index = path.memory_index;
            config.answer_cache_entries = if path.answer_cache { 10_000 } else { 0 };
        },
    )
    .await;
    let store = server.server.catalog.store().clone();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while path.memory_index && !store.index_ready() {
        assert!(
            std::time::Instant::now() < deadline,
            "the in-memory index was not ready in 30 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(store.index_ready(), path.memory_index, "{path:?}");
    let address = server.address;
    // With the cache on, each question is asked twice: the second answer
    // comes from the cache and must be the same.
    let rounds = if path.answer_cache { 2 } else { 1 };
    tokio::task::spawn_blocking(move || {
        for case in CASES {
            for round in 0..rounds {
                let label = format!("{path:?} round {round}");
                check(
                    case,
                    &ask(address, case.name, case.qtype, Ask::UDP),
                    &format!("UDP, {label}"),
                );
                check(
                    case,
                    &ask(address, case.name, case.qtype, Ask::TCP),
                    &format!("TCP, {label}"),
                );
            }
        }
    })
    .await
    .expect("cases ran");
    assert_eq!(store.index_ready(), path.memory_index, "{path:?}");
    server.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behaviour_cases_reading_from_sled() {
    run_cases(ReadPath {
        memory_index: false,
        answer_cache: false,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behaviour_cases_reading_from_the_memory_index() {
    run_cases(ReadPath {
        memory_index: true,
        answer_cache: false,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behaviour_cases_through_the_answer_cache() {
    run_cases(ReadPath {
        memory_index: true,
        answer_cache: true,
    })
    .await;
}
