//! Encoding and decoding throughput of raw and processed samples, the
//! records the processor reads and writes a million of a second.
//!
//! `cargo bench -p flowline-schemas --bench codec`; criterion reports
//! records per second as elem/s. Input: 1,000 samples of a 50-tag well
//! with mostly float values and a few integers, booleans, words and gaps,
//! encoded into (and decoded from) one reused buffer per batch.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowline_core::{
    AssetId, Criticality, DataQualityFlags, Quality, Sample, TagId, Timestamp, Unit, Value,
};
use flowline_schemas::{Codec, ProcessedRecord};

/// Samples per batch.
const BATCH: usize = 1_000;

/// A batch of samples like the gateway's: mostly floats.
fn samples() -> Vec<Sample> {
    (0..BATCH)
        .map(|index| {
            let value = match index % 20 {
                0 => Value::Integer(index as i64),
                1 => Value::Boolean(index.is_multiple_of(3)),
                2 => Value::String("running".into()),
                3 => Value::MISSING,
                _ => Value::Float(100.0 + index as f64 * 0.37),
            };
            let time = Timestamp::from_micros(1_800_000_000_000_000 + index as i64 * 20_000);
            Sample {
                tag: TagId(1_000 + (index % 50) as u32),
                time,
                received: time.saturating_add_micros(1_500),
                quality: if value.is_missing() {
                    Quality::BAD_SENSOR_FAILURE
                } else {
                    Quality::GOOD
                },
                value,
                flags: DataQualityFlags::empty(),
            }
        })
        .collect()
}

/// The tag paths of the well, one per tag.
fn paths() -> Vec<String> {
    (0..50)
        .map(|tag| format!("north/pad-1/w-01/esp/sensor-{tag:02}"))
        .collect()
}

/// The processed record of `sample`, whose path is in `paths`.
fn processed<'a>(sample: &Sample, paths: &'a [String]) -> ProcessedRecord<'a> {
    ProcessedRecord {
        sample: sample.clone(),
        tag_path: &paths[(sample.tag.0 % 50) as usize],
        score: 0.9,
        asset: AssetId(77),
        well: Some(AssetId(12)),
        pad: Some(AssetId(3)),
        field: Some(AssetId(1)),
        unit: Some(Unit::Bar),
        criticality: Criticality::High,
        catalog_version: 42,
    }
}

fn bench(c: &mut Criterion) {
    let codec = Codec::embedded();
    let samples = samples();
    let paths = paths();
    let records: Vec<ProcessedRecord<'_>> = samples
        .iter()
        .map(|sample| processed(sample, &paths))
        .collect();

    // Each record's encoding, end to end in one buffer, with its offsets.
    let mut buffer = Vec::with_capacity(64 * BATCH);
    let mut encoded_raw = Vec::new();
    for sample in &samples {
        let start = buffer.len();
        codec.encode(sample, &mut buffer);
        encoded_raw.push(start..buffer.len());
    }
    let raw_bytes = buffer.clone();
    buffer.clear();
    let mut encoded_processed = Vec::new();
    for record in &records {
        let start = buffer.len();
        codec.encode(record, &mut buffer);
        encoded_processed.push(start..buffer.len());
    }
    let processed_bytes = buffer.clone();

    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("encode raw sample", |b| {
        b.iter(|| {
            buffer.clear();
            for sample in &samples {
                codec.encode(sample, &mut buffer);
            }
            buffer.len()
        })
    });
    group.bench_function("decode raw sample", |b| {
        b.iter(|| {
            let mut tags = 0_u64;
            for range in &encoded_raw {
                let sample: Sample = codec.decode(&raw_bytes[range.clone()]).unwrap();
                tags += u64::from(sample.tag.0);
            }
            tags
        })
    });
    group.bench_function("encode processed sample", |b| {
        b.iter(|| {
            buffer.clear();
            for record in &records {
                codec.encode(record, &mut buffer);
            }
            buffer.len()
        })
    });
    group.bench_function("decode processed sample", |b| {
        b.iter(|| {
            let mut versions = 0_u64;
            for range in &encoded_processed {
                let record: ProcessedRecord<'_> =
                    codec.decode(&processed_bytes[range.clone()]).unwrap();
                versions += record.catalog_version;
            }
            versions
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
