//! The whole operator chain on one core: cleanse, event time, validate,
//! score, enrich, patterns and noise reduction, per sample.
//!
//! Input: the demo field at 200 pads × 25 wells (5,000 wells, 50,800
//! tags), read by the field simulator once a second for a minute, values
//! rounded to two decimals as a PLC's display would show them. Each
//! measured iteration is the next second of the field: all 50,800 samples,
//! in batches of 8,192, through a pipeline that has already seen the
//! seconds before (its windows, doors and pattern states are warm). The
//! minute of readings repeats with the clock moving on. Criterion reports
//! samples per second as elem/s; one pipeline is one core.
//!
//! Two configurations: the processor as it runs (demo patterns,
//! compression on), and compression off, where every sample is emitted.
//!
//! Run with `cargo bench -p flowline-stream --bench pipeline`.

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use flowline_catalog::{DemoLayout, Snapshot, demo_field};
use flowline_core::{Sample, Timestamp, Value};
use flowline_sim::FieldModel;
use flowline_stream::{Output, Pipeline, StreamConfig, demo_patterns};

/// Seconds of field recorded, then replayed with the clock moving on.
const RECORDED_S: usize = 60;

/// Samples per call to the pipeline, as a bus consumer would poll them.
const BATCH: usize = 8_192;

/// 2026-01-01T00:00:00Z.
const START_S: i64 = 1_767_225_600;

/// The large demo field's catalog, and a minute of its readings, one
/// `Vec` per second.
fn recorded_field() -> (Snapshot, Vec<Vec<Sample>>) {
    let document = demo_field(DemoLayout {
        pads: 200,
        wells_per_pad: 25,
    });
    let snapshot = Snapshot::of_document(1, &document);
    let start = Timestamp::from_seconds(START_S);
    let mut model = FieldModel::new(&document, 7, start).expect("the demo field builds");
    let ids: Vec<_> = model
        .tags()
        .map(|(_, path)| {
            snapshot
                .tag_by_path(path.as_str())
                .expect("same field")
                .tag
                .id
        })
        .collect();
    let seconds = (1..=RECORDED_S as i64)
        .map(|second| {
            let now = Timestamp::from_seconds(START_S + second);
            model.step(now);
            model
                .tags()
                .map(|(index, _)| {
                    let reading = model.reading_at(index);
                    let value = match reading.value {
                        Some(Value::Float(value)) => Value::Float((value * 100.0).round() / 100.0),
                        Some(value) => value,
                        None => Value::MISSING,
                    };
                    Sample::new(ids[index.get()], now, value).with_quality(reading.quality)
                })
                .collect()
        })
        .collect();
    (snapshot, seconds)
}

/// The samples of second `second` of the replay.
fn second_of(recorded: &[Vec<Sample>], second: usize) -> Vec<Sample> {
    let shift_us = (second / RECORDED_S * RECORDED_S) as i64 * 1_000_000;
    recorded[second % RECORDED_S]
        .iter()
        .map(|sample| {
            let mut sample = sample.clone();
            sample.time = sample.time.saturating_add_micros(shift_us);
            sample.received = sample.time;
            sample
        })
        .collect()
}

fn chain(c: &mut Criterion) {
    let (snapshot, recorded) = recorded_field();
    let tags = recorded[0].len();
    let mut group = c.benchmark_group(format!("operator chain ({tags} tags, one core)"));
    group.throughput(Throughput::Elements(tags as u64));
    group.sample_size(30);

    let mut running = StreamConfig::default();
    running.cep.patterns = demo_patterns();
    let mut uncompressed = running.clone();
    uncompressed.compression.enabled = false;

    for (name, config) in [
        ("demo patterns, compression on", running),
        ("demo patterns, compression off", uncompressed),
    ] {
        let mut pipeline = Pipeline::new(config).expect("valid configuration");
        let mut output = Output::default();
        // Warm up: two minutes of the field, so windows and doors are full.
        let mut second = 0;
        while second < 2 * RECORDED_S {
            pipeline.process(&snapshot, &second_of(&recorded, second), &mut output);
            output.clear();
            second += 1;
        }
        group.bench_function(name, |b| {
            b.iter_batched_ref(
                || {
                    second += 1;
                    second_of(&recorded, second)
                },
                |samples| {
                    for batch in samples.chunks(BATCH) {
                        pipeline.process(&snapshot, black_box(batch), &mut output);
                    }
                    black_box(output.processed.len());
                    output.clear();
                },
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, chain);
criterion_main!(benches);
