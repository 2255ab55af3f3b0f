//! How long one simulation step takes for a large field: 200 pads of 25
//! wells (5,000 wells, about 60,000 tags), so we can show that 50,000 tags
//! at 1 Hz fit in one core.
//!
//! `simulator` is what `run` does each second: physics, measurement and
//! the Modbus register image. `model` is the physics and measurement alone.
//! Run with `cargo bench -p flowline-sim --bench step`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowline_catalog::{DemoLayout, demo_field};
use flowline_core::Timestamp;
use flowline_sim::{FieldModel, SimConfig, Simulator};

/// 2026-01-01T00:00:00Z.
const START_S: i64 = 1_767_225_600;
/// One step a second, as `run` does by default.
const STEP_MICROS: i64 = 1_000_000;

fn step_a_field_of_5000_wells(criterion: &mut Criterion) {
    let document = demo_field(DemoLayout {
        pads: 200,
        wells_per_pad: 25,
    });
    let start = Timestamp::from_seconds(START_S);
    let mut group = criterion.benchmark_group("step 5000 wells");
    group.throughput(Throughput::Elements(document.tags.len() as u64));

    let sim = Simulator::new(&document, SimConfig::default(), start).unwrap();
    let mut now = start;
    group.bench_function("simulator", |bencher| {
        bencher.iter(|| {
            now = now.saturating_add_micros(STEP_MICROS);
            sim.step(black_box(now));
        });
    });

    let mut model = FieldModel::new(&document, 1, start).unwrap();
    let mut now = start;
    group.bench_function("model", |bencher| {
        bencher.iter(|| {
            now = now.saturating_add_micros(STEP_MICROS);
            model.step(black_box(now));
        });
    });
    group.finish();
}

criterion_group!(benches, step_a_field_of_5000_wells);
criterion_main!(benches);
