//! The query path does not scan: lookups in a zone of 1,000,000 names cost
//! the same order of time as in a zone of 1,000 names. Hits, NODATA and
//! NXDOMAIN (the case hickory's in-memory zone answers by scanning) are each
//! timed over the same number of lookups at both sizes; the ratio is asserted
//! loosely: B-tree depth grows with log n and 1M names overflow the CPU
//! caches, so about 2x is expected; a scan would be about 1000x. Both read
//! paths are measured: sled, and the in-memory node index.

mod common;

use std::time::{Duration, Instant};

use common::repo_path;
use hickory_proto::rr::Name;
use mimidns::catalog::Catalog;
use mimidns::lookup::Resolver;
use mimidns::name_key::name_key;
use mimidns::rrset::{RrsetOwner, encode_rrset};
use mimidns::store::{RrsetWrite, Store, ZoneCommit};
use mimidns::wire::{name_to_wire, rtype};

fn label(index: u64) -> String {
    format!(
        "{:016x}{:016x}",
        index.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        index
    )
}

fn build(names: u64) -> (tempfile::TempDir, Catalog) {
    let data = tempfile::tempdir().expect("data");
    let store = Store::open(data.path(), 256 << 20).expect("store");
    let (catalog, _) = Catalog::load(
        store.clone(),
        &repo_path("tests/zones"),
        &Default::default(),
    )
    .expect("catalog");
    let zone = catalog
        .zone(&Name::from_ascii("example.test.").expect("origin"))
        .expect("zone");
    let value = encode_rrset(RrsetOwner::Admin, 300, &[b"\x07v=mimi1".to_vec()]);
    let mut written = 0;
    while written < names {
        let batch = (names - written).min(50_000);
        let mut commit = ZoneCommit {
            origin_key: zone.origin_key.clone(),
            ..ZoneCommit::default()
        };
        for index in written..written + batch {
            let name =
                Name::from_ascii(format!("{}._mimi.example.test.", label(index))).expect("name");
            commit.rrsets.push(RrsetWrite {
                key: zone.rrset_key(&name_key(&name), rtype::TXT),
                value: Some(value.clone()),
            });
        }
        store.commit(&commit).expect("commit");
        written += batch;
    }
    (data, catalog)
}

/// Time for `rounds` lookups of each kind: (hit, nodata, nxdomain).
fn time_lookups(catalog: &Catalog, names: u64, rounds: u64) -> [Duration; 3] {
    let zones = catalog.zones();
    let resolver = Resolver {
        zones: &zones,
        store: catalog.store(),
    };
    let mut result = [Duration::ZERO; 3];
    for (slot, (qtype, existing, expect)) in [
        (rtype::TXT, true, 0u16),
        (rtype::A, true, 0),
        (rtype::TXT, false, 3),
    ]
    .into_iter()
    .enumerate()
    {
        let queries: Vec<Vec<u8>> = (0..rounds)
            .map(|i| {
                let index = (i * 7919) % names;
                let text = if existing {
                    label(index)
                } else {
                    format!("{}zz", &label(index)[..30])
                };
                name_to_wire(
                    &Name::from_ascii(format!("{text}._mimi.example.test.")).expect("name"),
                )
            })
            .collect();
        let started = Instant::now();
        for query in &queries {
            let answer = resolver.resolve(query, qtype).expect("lookup");
            assert_eq!(
                answer.rcode,
                expect,
                "{:?} {:?}",
                mimidns::wire::name_from_wire(query),
                answer
            );
            assert_eq!(answer.answer.len(), usize::from(slot == 0));
        }
        result[slot] = started.elapsed();
    }
    result
}

fn compare(path: &str, small: &Catalog, large: &Catalog, large_names: u64, rounds: u64) {
    // Warm both caches once, then measure.
    time_lookups(small, 1_000, rounds);
    time_lookups(large, large_names, rounds);
    let small_times = time_lookups(small, 1_000, rounds);
    let large_times = time_lookups(large, large_names, rounds);
    for (kind, (s, l)) in ["hit", "NODATA", "NXDOMAIN"]
        .iter()
        .zip(small_times.iter().zip(large_times.iter()))
    {
        let ratio = l.as_secs_f64() / s.as_secs_f64();
        eprintln!(
            "{path} {kind}: 1k names {s:?}, {large_names} names {l:?} for {rounds} lookups (ratio {ratio:.2})"
        );
        assert!(
            ratio < 8.0,
            "{path}: {kind} lookups are {ratio:.1}x slower at {large_names} names than at 1k: the query path scans"
        );
    }
}

#[test]
fn lookup_cost_does_not_grow_with_zone_size() {
    let rounds = 20_000;
    let large_names = std::env::var("SCALE_NAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let (_small_dir, small) = build(1_000);
    let (_large_dir, large) = build(large_names);
    // Both read paths: sled first, then the in-memory index the server
    // builds at start (the path that serves once it is ready).
    assert!(!small.store().index_ready() && !large.store().index_ready());
    compare("sled", &small, &large, large_names, rounds);
    small.store().build_index().expect("index");
    large.store().build_index().expect("index");
    assert!(small.store().index_ready() && large.store().index_ready());
    compare("index", &small, &large, large_names, rounds);
}
