//! Any bytes as an admin request body: never a panic in decoding or
//! validation; mappings that validate encode to RDATA.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimidns::admin::api::{Batch, PutIdentifier, PutRrset};
use mimidns::mapping::{mapping_rdatas, validate_mappings};

fuzz_target!(|body: &[u8]| {
    if let Ok(put) = serde_json::from_slice::<PutIdentifier>(body)
        && let Ok(valid) = validate_mappings(&put.mappings, 16)
    {
        let _ = mapping_rdatas(&valid);
    }
    let _ = serde_json::from_slice::<Batch>(body);
    if let Ok(rrset) = serde_json::from_slice::<PutRrset>(body) {
        let origin = hickory_proto::rr::Name::from_ascii("example.test.").expect("origin");
        for text in &rrset.rdata {
            for record_type in [
                hickory_proto::rr::RecordType::A,
                hickory_proto::rr::RecordType::TXT,
                hickory_proto::rr::RecordType::SVCB,
                hickory_proto::rr::RecordType::MX,
                hickory_proto::rr::RecordType::CAA,
            ] {
                let _ = mimidns::zone_file::rdata_wire_from_text(&origin, record_type, text, &origin);
            }
        }
    }
});
