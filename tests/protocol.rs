//! Protocol edges against the real server on 127.0.0.1:0: EDNS(0)
//! (RFC 6891), truncation and TCP fallback (RFC 1035 §4.2.1, RFC 7766),
//! malformed input (RFC 1035 §4.1.1), opcodes, TCP pipelining, idle timeout
//! and the connection cap.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::RecordType;

fn on_server<F: FnOnce(SocketAddr) + Send + 'static>(test: F) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let server = start_server(&repo_path("tests/zones")).await;
        let address = server.address;
        tokio::task::spawn_blocking(move || test(address))
            .await
            .expect("test body");
        server.server.shutdown().await;
    });
}

fn raw_query(name: &str, record_type: RecordType, ask: Ask) -> Vec<u8> {
    query_message(name, record_type, ask)
        .to_vec()
        .expect("encode")
}

#[test]
fn edns_opt_is_echoed_with_our_payload_and_do_bit() {
    on_server(|address| {
        let reply = ask(
            address,
            "host.example.test.",
            RecordType::A,
            Ask {
                edns: Some(4096),
                dnssec_ok: true,
                tcp: false,
            },
        );
        let edns = reply.edns.expect("OPT present (RFC 6891 §6.1.1)");
        assert_eq!(edns.max_payload(), 1232);
        assert!(edns.flags().dnssec_ok, "DO copied (RFC 3225 §3)");
        let plain = ask(
            address,
            "host.example.test.",
            RecordType::A,
            Ask::UDP_NO_EDNS,
        );
        assert!(plain.edns.is_none(), "no OPT without EDNS in the query");
    });
}

#[test]
fn edns_version_above_zero_is_badvers() {
    on_server(|address| {
        let mut packet = raw_query("host.example.test.", RecordType::A, Ask::UDP);
        // The OPT record is last: name(1) type(2) class(2) ext-rcode(1) version(1) ...
        let version_at = packet.len() - 11 + 6;
        packet[version_at] = 1;
        let reply = Message::from_vec(&exchange_raw(address, &packet, false).expect("reply"))
            .expect("decodes");
        assert_eq!(
            u16::from(reply.metadata.response_code),
            16,
            "BADVERS (RFC 6891 §6.1.3)"
        );
        assert_eq!(reply.edns.expect("OPT").version(), 0);
        assert!(reply.answers.is_empty());
    });
}

#[test]
fn unknown_edns_options_are_ignored() {
    on_server(|address| {
        let mut packet = raw_query("host.example.test.", RecordType::A, Ask::UDP);
        let len_at = packet.len() - 2;
        packet[len_at..].copy_from_slice(&8u16.to_be_bytes());
        packet.extend_from_slice(&[0xFF, 0x0A, 0, 4, 1, 2, 3, 4]);
        let reply = Message::from_vec(&exchange_raw(address, &packet, false).expect("reply"))
            .expect("decodes");
        assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
        assert_eq!(reply.answers.len(), 1);
    });
}

#[test]
fn oversize_udp_answers_truncate_and_tcp_has_them_whole() {
    on_server(|address| {
        // 12 TXT records of ~210 bytes: over 512 and over 1232.
        for ask_how in [Ask::UDP_NO_EDNS, Ask::UDP] {
            let reply = ask(address, "big.example.test.", RecordType::TXT, ask_how);
            assert!(reply.metadata.truncation, "TC set ({ask_how:?})");
            assert!(
                reply.answers.is_empty(),
                "the RRset is not split (RFC 2181 §9)"
            );
        }
        let full = ask(address, "big.example.test.", RecordType::TXT, Ask::TCP);
        assert!(!full.metadata.truncation);
        assert_eq!(full.answers.len(), 12);
        // 500 bytes of TXT: TC without EDNS, whole with the 1232-byte EDNS payload.
        assert!(
            ask(
                address,
                "mid.example.test.",
                RecordType::TXT,
                Ask::UDP_NO_EDNS
            )
            .metadata
            .truncation
        );
        let with_edns = ask(address, "mid.example.test.", RecordType::TXT, Ask::UDP);
        assert!(!with_edns.metadata.truncation);
        assert_eq!(with_edns.answers.len(), 1);
        // A client advertising less than 512 is treated as 512 (RFC 6891 §6.2.5).
        let tiny = ask(
            address,
            "host.example.test.",
            RecordType::A,
            Ask {
                edns: Some(100),
                dnssec_ok: false,
                tcp: false,
            },
        );
        assert_eq!(tiny.answers.len(), 1);
    });
}

#[test]
fn malformed_queries_get_formerr_or_are_dropped() {
    on_server(|address| {
        let good = raw_query("host.example.test.", RecordType::A, Ask::UDP_NO_EDNS);
        // Too short for a header: dropped.
        assert_eq!(exchange_raw(address, &good[..5], false), None);
        // A response (QR=1): dropped, never answered (no loops).
        let mut response = good.clone();
        response[2] |= 0x80;
        assert_eq!(exchange_raw(address, &response, false), None);
        let formerr = |packet: &[u8], what: &str| {
            for tcp in [false, true] {
                let reply = exchange_raw(address, packet, tcp)
                    .unwrap_or_else(|| panic!("a reply to {what}"));
                let message = Message::from_vec(&reply).expect("decodes");
                assert_eq!(
                    message.metadata.response_code,
                    ResponseCode::FormErr,
                    "{what}"
                );
                assert_eq!(
                    message.metadata.id,
                    u16::from_be_bytes([packet[0], packet[1]]),
                    "{what}: id echoed"
                );
            }
        };
        formerr(&good[..good.len() - 3], "a cut question");
        let mut two = good.clone();
        two[5] = 2;
        two.extend_from_slice(&good[12..]);
        formerr(&two, "two questions");
        let mut trailing = good.clone();
        trailing.push(0);
        formerr(&trailing, "trailing garbage");
        let mut two_opts = raw_query("host.example.test.", RecordType::A, Ask::UDP);
        two_opts.extend_from_slice(&[0, 0, 41, 4, 0xD0, 0, 0, 0, 0, 0, 0]);
        two_opts[11] = 2;
        formerr(&two_opts, "two OPT records");
        // The server is still fine.
        assert_eq!(
            ask(address, "host.example.test.", RecordType::A, Ask::UDP)
                .answers
                .len(),
            1
        );
    });
}

#[test]
fn random_packets_never_crash_or_stall_the_server() {
    on_server(|address| {
        let good = raw_query("host.example.test.", RecordType::A, Ask::UDP);
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        // A deterministic xorshift so a failure is reproducible.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..5000 {
            let mut packet = good.clone();
            let flips = 1 + (next() % 6) as usize;
            for _ in 0..flips {
                let at = (next() as usize) % packet.len();
                packet[at] = next() as u8;
            }
            if round % 7 == 0 {
                packet.truncate((next() as usize) % packet.len());
            }
            socket.send_to(&packet, address).expect("send");
        }
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(
            ask(address, "host.example.test.", RecordType::A, Ask::UDP)
                .answers
                .len(),
            1
        );
        assert_eq!(
            ask(address, "host.example.test.", RecordType::A, Ask::TCP)
                .answers
                .len(),
            1
        );
    });
}

/// NOTIFY (RFC 1996) is answered — opcode NOTIFY, same ID, question echoed —
/// so a sender stops retrying: REFUSED for a zone served here as primary,
/// NOTAUTH for another; other opcodes are NOTIMP, other classes REFUSED.
#[test]
fn notify_is_answered_other_opcodes_are_notimp_and_other_classes_refused() {
    on_server(|address| {
        for (zone, rcode) in [
            ("example.test.", ResponseCode::Refused),
            ("elsewhere.example.", ResponseCode::NotAuth),
        ] {
            let mut notify = query_message(zone, RecordType::SOA, Ask::UDP);
            notify.metadata.op_code = OpCode::Notify;
            notify.metadata.authoritative = true;
            let bytes = notify.to_vec().expect("encode");
            let reply = Message::from_vec(&exchange_raw(address, &bytes, false).expect("reply"))
                .expect("decodes");
            assert_eq!(reply.metadata.response_code, rcode, "{zone}");
            assert_eq!(reply.metadata.op_code, OpCode::Notify);
            assert_eq!(reply.metadata.id, notify.metadata.id);
            assert_eq!(reply.queries.len(), 1);
        }
        let mut update = query_message("example.test.", RecordType::SOA, Ask::UDP);
        update.metadata.op_code = OpCode::Update;
        let reply = Message::from_vec(
            &exchange_raw(address, &update.to_vec().expect("encode"), false).expect("reply"),
        )
        .expect("decodes");
        assert_eq!(reply.metadata.response_code, ResponseCode::NotImp);
        let mut chaos = raw_query("version.bind.", RecordType::TXT, Ask::UDP_NO_EDNS);
        let class_at = chaos.len() - 2;
        chaos[class_at..].copy_from_slice(&3u16.to_be_bytes());
        let reply = Message::from_vec(&exchange_raw(address, &chaos, false).expect("reply"))
            .expect("decodes");
        assert_eq!(reply.metadata.response_code, ResponseCode::Refused);
    });
}

#[test]
fn tcp_pipelined_queries_all_answered_in_order() {
    on_server(|address| {
        let mut stream = TcpStream::connect(address).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(3)))
            .expect("timeout");
        let names = [
            "host.example.test.",
            "missing.example.test.",
            "big.example.test.",
            "www.example.test.",
        ];
        let requests: Vec<Message> = names
            .iter()
            .map(|n| query_message(n, RecordType::TXT, Ask::TCP_NO_EDNS))
            .collect();
        let mut burst = Vec::new();
        for request in &requests {
            let bytes = request.to_vec().expect("encode");
            burst.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
            burst.extend_from_slice(&bytes);
        }
        stream
            .write_all(&burst)
            .expect("one write with all queries");
        for request in &requests {
            let reply =
                Message::from_vec(&read_tcp_message(&mut stream).expect("reply")).expect("decodes");
            assert_eq!(reply.metadata.id, request.metadata.id);
            assert!(!reply.metadata.truncation, "TCP never truncates these");
        }
    });
}

#[test]
fn idle_tcp_connections_are_closed() {
    on_server(|address| {
        let mut stream = TcpStream::connect(address).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(6)))
            .expect("timeout");
        let started = Instant::now();
        // The test server's idle timeout is 2 s: the server closes, read sees EOF.
        assert_eq!(read_tcp_message(&mut stream), None);
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(1500) && waited < Duration::from_secs(5),
            "closed after {waited:?}"
        );
    });
}

#[test]
fn tcp_connection_cap_keeps_udp_alive() {
    on_server(|address| {
        // The test server allows 8 connections; hold 40 open.
        let held: Vec<TcpStream> = (0..40)
            .filter_map(|_| TcpStream::connect(address).ok())
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        for _ in 0..20 {
            assert_eq!(
                ask(address, "host.example.test.", RecordType::A, Ask::UDP)
                    .answers
                    .len(),
                1
            );
        }
        // Connections over the cap were closed by the server at once.
        let mut closed = 0;
        for mut stream in held {
            stream
                .set_read_timeout(Some(Duration::from_millis(50)))
                .expect("timeout");
            let mut byte = [0u8; 1];
            if matches!(std::io::Read::read(&mut stream, &mut byte), Ok(0)) {
                closed += 1;
            }
        }
        assert!(closed >= 30, "{closed} of 40 connections were closed");
    });
}

/// The answer cache really answers: a store write that bypasses the
/// catalog (so nothing invalidates the cache) is not seen until the cache
/// is invalidated. With the cache off the second question would already see
/// it, and this test fails. Hits carry each client's ID, case and RD.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_answers_are_served_and_carry_each_clients_id_case_and_flags() {
    use hickory_proto::rr::Name;
    use mimidns::name_key::name_key;
    use mimidns::rrset::{RrsetOwner, encode_rrset};
    use mimidns::store::{RrsetWrite, ZoneCommit};

    let server = start_server(&repo_path("tests/zones")).await;
    let address = server.address;
    let catalog = server.server.catalog.clone();
    let first = tokio::task::spawn_blocking(move || {
        ask(address, "host.example.test.", RecordType::A, Ask::UDP)
    })
    .await
    .expect("query");
    assert_eq!(
        section_texts(&first.answers),
        ["host.example.test. 300 A 192.0.2.10"]
    );
    // Change the A RRset underneath the cache.
    let zone = catalog
        .zone(&Name::from_ascii("example.test.").expect("origin"))
        .expect("zone");
    let key = zone.rrset_key(
        &name_key(&Name::from_ascii("host.example.test.").expect("name")),
        mimidns::wire::rtype::A,
    );
    catalog
        .store()
        .commit(&ZoneCommit {
            origin_key: zone.origin_key.clone(),
            rrsets: vec![RrsetWrite {
                key,
                value: Some(encode_rrset(
                    RrsetOwner::ZoneFile,
                    300,
                    &[vec![192, 0, 2, 99]],
                )),
            }],
            ..ZoneCommit::default()
        })
        .expect("commit");
    let (cached, request) = tokio::task::spawn_blocking(move || {
        // The same question again, differently cased and without RD.
        let mut request = query_message("HoSt.ExAmPlE.tEsT.", RecordType::A, Ask::UDP);
        request.metadata.recursion_desired = false;
        let reply = Message::from_vec(
            &exchange_raw(address, &request.to_vec().expect("encode"), false).expect("reply"),
        )
        .expect("decodes");
        (reply, request)
    })
    .await
    .expect("query");
    assert_eq!(
        section_texts(&cached.answers),
        ["host.example.test. 300 A 192.0.2.10"],
        "the second answer comes from the cache, not the store"
    );
    assert_eq!(cached.metadata.id, request.metadata.id);
    assert!(
        !cached.metadata.recursion_desired,
        "RD copied from this request"
    );
    assert_eq!(cached.queries[0].name().to_ascii(), "HoSt.ExAmPlE.tEsT.");
    assert_eq!(
        cached.answers[0].name.to_ascii(),
        "HoSt.ExAmPlE.tEsT.",
        "owner follows the question's case"
    );
    catalog.answer_cache().invalidate();
    let fresh = tokio::task::spawn_blocking(move || {
        ask(address, "host.example.test.", RecordType::A, Ask::UDP)
    })
    .await
    .expect("query");
    assert_eq!(
        section_texts(&fresh.answers),
        ["host.example.test. 300 A 192.0.2.99"],
        "after invalidation the store's answer"
    );
    server.server.shutdown().await;
}

/// Regression: an unknown opcode with no question got FORMERR; the opcode
/// is checked first (RFC 1035 §4.1.1), and RD is not copied outside QUERY.
#[test]
fn unknown_opcode_without_a_question_is_notimp() {
    on_server(|address| {
        // ID 0x4242, opcode 15, RD set, no sections at all.
        let packet = [0x42, 0x42, 0x79, 0x00, 0, 0, 0, 0, 0, 0, 0, 0];
        for tcp in [false, true] {
            let reply = exchange_raw(address, &packet, tcp).expect("a reply");
            assert_eq!(reply[3] & 0x0F, 4, "NOTIMP over tcp={tcp}");
            assert_eq!(reply[2] & 0x01, 0, "RD not copied for a non-QUERY opcode");
            assert_eq!(u16::from_be_bytes([reply[0], reply[1]]), 0x4242);
        }
    });
}

/// Regression: a FORMERR to a query with EDNS had no OPT (RFC 6891 §7),
/// and BADVERS dropped the question.
#[test]
fn formerr_to_an_edns_query_carries_an_opt_and_badvers_keeps_the_question() {
    on_server(|address| {
        let mut trailing = raw_query("host.example.test.", RecordType::A, Ask::UDP);
        trailing.push(0);
        let reply = Message::from_vec(&exchange_raw(address, &trailing, false).expect("reply"))
            .expect("decodes");
        assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);
        assert!(reply.edns.is_some(), "OPT in the FORMERR to an EDNS query");
        let mut packet = raw_query("host.example.test.", RecordType::A, Ask::UDP);
        let version_at = packet.len() - 11 + 6;
        packet[version_at] = 1;
        let reply = Message::from_vec(&exchange_raw(address, &packet, false).expect("reply"))
            .expect("decodes");
        assert_eq!(u16::from(reply.metadata.response_code), 16);
        assert_eq!(reply.queries.len(), 1, "BADVERS keeps the question");
    });
}

/// A TSIG record: `name` of the key, hmac-sha256, a MAC of 32 bytes.
fn tsig_record(original_id: u16) -> Vec<u8> {
    let mut record = b"\x03key\x07example\x00".to_vec();
    record.extend_from_slice(&250u16.to_be_bytes());
    record.extend_from_slice(&255u16.to_be_bytes());
    record.extend_from_slice(&0u32.to_be_bytes());
    let mut rdata = b"\x0bhmac-sha256\x00".to_vec();
    rdata.extend_from_slice(&[0, 0, 0x65, 0x00, 0x00, 0x00]); // time signed
    rdata.extend_from_slice(&300u16.to_be_bytes()); // fudge
    rdata.extend_from_slice(&32u16.to_be_bytes());
    rdata.extend_from_slice(&[0xAB; 32]);
    rdata.extend_from_slice(&original_id.to_be_bytes());
    rdata.extend_from_slice(&[0, 0, 0, 0]); // error, other length
    record.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    record.extend_from_slice(&rdata);
    record
}

/// Regression: a query signed with TSIG got a normal unsigned answer. No
/// key is known here: NOTAUTH with TSIG error BADKEY (RFC 8945 §5.2.1);
/// a TSIG that is not the last record is FORMERR (§5.1).
#[test]
fn tsig_queries_get_notauth_badkey_and_misplaced_tsig_is_formerr() {
    on_server(|address| {
        let mut packet = raw_query("host.example.test.", RecordType::A, Ask::UDP);
        let id = u16::from_be_bytes([packet[0], packet[1]]);
        packet.extend_from_slice(&tsig_record(id));
        packet[11] = 2; // OPT, then TSIG
        for tcp in [false, true] {
            let reply = Message::from_vec(&exchange_raw(address, &packet, tcp).expect("reply"))
                .expect("decodes");
            assert_eq!(
                reply.metadata.response_code,
                ResponseCode::NotAuth,
                "tcp={tcp}"
            );
            assert!(reply.answers.is_empty(), "nothing answered unsigned");
            let tsig = reply
                .signature
                .as_ref()
                .map(|record| record.name.to_ascii())
                .or_else(|| {
                    reply
                        .additionals
                        .iter()
                        .find(|r| u16::from(r.record_type()) == 250)
                        .map(|r| r.name.to_ascii())
                });
            // The raw bytes carry the error: BADKEY (17) before the other length.
            let raw = exchange_raw(address, &packet, tcp).expect("reply");
            assert_eq!(
                &raw[raw.len() - 4..raw.len() - 2],
                &17u16.to_be_bytes(),
                "BADKEY"
            );
            assert_eq!(
                tsig.as_deref(),
                Some("key.example."),
                "TSIG RR in the reply"
            );
        }
        // TSIG before the OPT: not last, FORMERR.
        let mut misplaced = raw_query("host.example.test.", RecordType::A, Ask::UDP_NO_EDNS);
        misplaced.extend_from_slice(&tsig_record(0));
        misplaced.extend_from_slice(&[0, 0, 41, 4, 0xD0, 0, 0, 0, 0, 0, 0]);
        misplaced[11] = 2;
        let reply = exchange_raw(address, &misplaced, false).expect("reply");
        assert_eq!(reply[3] & 0x0F, 1, "FORMERR");
    });
}

/// MAILA and MAILB are looked up like any type (NODATA at a name that
/// exists), as Knot answers them, not FORMERR.
#[test]
fn maila_and_mailb_are_nodata() {
    on_server(|address| {
        for qtype in [253u16, 254] {
            let reply = ask(
                address,
                "host.example.test.",
                RecordType::from(qtype),
                Ask::UDP,
            );
            assert_eq!(
                reply.metadata.response_code,
                ResponseCode::NoError,
                "{qtype}"
            );
            assert!(reply.answers.is_empty());
            assert_eq!(reply.authorities.len(), 1, "SOA for negative caching");
        }
    });
}

/// Regression: with a parent and its child both served, DS at the child's
/// apex was answered from the child (NODATA); it belongs to the parent
/// (RFC 4035 §3.1.4.1). Other types at the apex stay the child's.
#[test]
fn ds_at_a_served_child_apex_is_answered_by_the_parent() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let server = start_server(&repo_path("tests/zones-nested")).await;
        let address = server.address;
        tokio::task::spawn_blocking(move || {
            let ds = ask(address, "child.parent.test.", RecordType::DS, Ask::UDP);
            assert_eq!(ds.metadata.response_code, ResponseCode::NoError);
            assert!(ds.metadata.authoritative);
            assert_eq!(ds.answers.len(), 1, "the parent's DS");
            assert_eq!(ds.answers[0].record_type(), RecordType::DS);
            let soa = ask(address, "child.parent.test.", RecordType::SOA, Ask::UDP);
            assert_eq!(soa.answers.len(), 1);
            assert!(
                soa.answers[0].data.to_string().contains(" 7 "),
                "the child's SOA"
            );
            let www = ask(address, "www.child.parent.test.", RecordType::A, Ask::UDP);
            assert_eq!(www.answers.len(), 1, "the child answers below its apex");
        })
        .await
        .expect("test body");
        server.server.shutdown().await;
    });
}
