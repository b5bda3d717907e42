//! Any text as a zone file (lexer, RDATA parsers, zone checks): never a
//! panic; a zone that loads has an SOA serial and well-formed wire RDATA.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let origin = hickory_proto::rr::Name::from_ascii("example.test.").expect("origin");
    if let Ok(zone) = mimidns::zone_file::parse_zone_text(text, &origin) {
        for rrset in zone.rrsets.values() {
            assert!(!rrset.rdatas.is_empty());
            assert!(rrset.rdatas.iter().all(|r| r.len() <= usize::from(u16::MAX)));
        }
    }
});
