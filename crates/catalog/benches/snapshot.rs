//! Catalog snapshot lookups, the processor's per-sample cost.
//!
//! Builds a snapshot of a large demo field (5,000 wells on 200 pads, about
//! 51,000 tags) and measures, per lookup: by tag id on a held snapshot (the
//! processor's fast path, once per sample), by id including the atomic
//! load of the current snapshot (once per batch in practice, here per
//! lookup as a worst case), and by path (the gateway's slower path when it
//! binds a device point). Criterion reports lookups per second as elem/s.
//!
//! Run with `cargo bench -p flowline-catalog --bench snapshot`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowline_catalog::{DemoLayout, Snapshot, SnapshotHandle, demo_field};
use flowline_core::TagId;

/// Lookups per measured iteration, so loop overhead is shared.
const LOOKUPS: usize = 1_000;

fn large_snapshot() -> Snapshot {
    let document = demo_field(DemoLayout {
        pads: 200,
        wells_per_pad: 25,
    });
    Snapshot::of_document(1, &document)
}

/// Tag ids in a scattered order, as samples from many devices arrive.
fn scattered_ids(count: u32) -> Vec<TagId> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..LOOKUPS)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            TagId((state >> 33) as u32 % count + 1)
        })
        .collect()
}

fn lookups(c: &mut Criterion) {
    let snapshot = large_snapshot();
    let tag_count = snapshot.tags().len() as u32;
    let ids = scattered_ids(tag_count);
    let paths: Vec<String> = ids
        .iter()
        .map(|id| snapshot.tag(*id).unwrap().tag.spec.path.to_string())
        .collect();
    let handle = SnapshotHandle::new(snapshot);

    let mut group = c.benchmark_group(format!("catalog snapshot ({tag_count} tags)"));
    group.throughput(Throughput::Elements(LOOKUPS as u64));

    let held = handle.load_full();
    group.bench_function("tag by id", |b| {
        b.iter(|| {
            for id in &ids {
                black_box(held.tag(black_box(*id)));
            }
        })
    });
    group.bench_function("load snapshot + tag by id", |b| {
        b.iter(|| {
            for id in &ids {
                black_box(handle.load().tag(black_box(*id)).map(|entry| entry.asset));
            }
        })
    });
    group.bench_function("tag by path", |b| {
        b.iter(|| {
            for path in &paths {
                black_box(held.tag_by_path(black_box(path)));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, lookups);
criterion_main!(benches);
