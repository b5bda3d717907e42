//! Any packet through the whole query path (parse, checks, lookup, response
//! writer) against the test zone: never a panic, and every reply is a
//! well-formed DNS message with the request's ID. Every reply also goes
//! through the rate limiter's rewrites (REFUSED, TC), which must stay
//! well-formed.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mimidns::catalog::Catalog;
use mimidns::query::{Transport, answer_packet};
use mimidns::rate_limit::{Verdict, rewrite};
use mimidns::server_identity::ServerIdentity;

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let store = mimidns::store::Store::temporary().expect("store");
        let zones = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/zones");
        let (catalog, _) = Catalog::load(store, &zones, &Default::default()).expect("zones load");
        catalog.with_cache_capacity(1000)
    })
}

fuzz_target!(|packet: &[u8]| {
    // NSID and CH TXT id.server configured, so their paths are fuzzed too.
    let identity = ServerIdentity::new(Some("fuzz.example"), Some(b"fuzz-nsid"));
    for transport in [Transport::Udp, Transport::Tcp] {
        if let Some(reply) = answer_packet(catalog(), &identity, packet, transport) {
            assert!(reply.len() >= 12);
            assert_eq!(reply[..2], packet[..2], "reply ID is the request's");
            if transport == Transport::Udp {
                assert!(reply.len() <= 1232, "UDP reply within the advertised size");
            }
            hickory_proto::op::Message::from_vec(&reply).expect("reply is well-formed DNS");
            for verdict in [Verdict::Refuse, Verdict::Truncate] {
                if let Some(rewritten) = rewrite(&reply, verdict) {
                    hickory_proto::op::Message::from_vec(&rewritten)
                        .expect("rewritten reply is well-formed DNS");
                }
            }
        }
    }
});
