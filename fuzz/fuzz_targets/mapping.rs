//! Mappings → SVCB/TXT RDATA → mappings: whatever validates round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimidns::mapping::{Mapping, mapping_rdatas, mappings_from_rdatas, validate_mappings};

fuzz_target!(|body: &[u8]| {
    let Ok(mappings) = serde_json::from_slice::<Vec<Mapping>>(body) else {
        return;
    };
    let Ok(valid) = validate_mappings(&mappings, 64) else {
        return;
    };
    let rdatas = mapping_rdatas(&valid).expect("valid mappings encode");
    let back = mappings_from_rdatas(
        rdatas.svcb.iter().map(Vec::as_slice),
        rdatas.txt.iter().map(Vec::as_slice),
    );
    assert_eq!(back.len(), valid.len(), "every mapping comes back");
    for mapping in &valid {
        assert!(back.contains(mapping), "{mapping:?} round-trips");
    }
});
