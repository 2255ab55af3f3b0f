//! Append throughput of the spool, in samples per second, with every
//! append synced and with interval syncing.
//!
//! A batch is 100 samples, one poll of a hundred tags. The spool lives in
//! a temporary directory on the disk the benchmark runs from, since sync
//! cost is the point of the comparison: run it where the gateway's data
//! directory would be. `cargo bench -p flowline-edge --bench spool`.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowline_core::{Sample, TagId, Timestamp, Value};
use flowline_edge::{FsyncMode, Spool, SpoolConfig};

/// Samples in each appended batch.
const BATCH_SAMPLES: u32 = 100;

/// One poll's batch: a float from each of `BATCH_SAMPLES` tags.
fn poll_batch() -> Vec<Sample> {
    let time = Timestamp::from_micros(1_764_000_000_000_000);
    (0..BATCH_SAMPLES)
        .map(|tag| Sample::new(TagId(tag), time, Value::Float(f64::from(tag) * 1.5)))
        .collect()
}

/// Appends one batch per iteration to a spool synced as `fsync` says.
fn append(criterion: &mut Criterion) {
    let batch = poll_batch();
    let mut group = criterion.benchmark_group("spool_append");
    group.throughput(Throughput::Elements(u64::from(BATCH_SAMPLES)));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(5));
    for (name, fsync) in [
        ("fsync_always", FsyncMode::Always),
        ("fsync_interval_100ms", FsyncMode::Interval),
    ] {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let config = SpoolConfig {
            max_bytes: 256 << 20,
            segment_bytes: 16 << 20,
            fsync,
            fsync_interval_ms: 100,
            ..SpoolConfig::default()
        };
        let mut spool = Spool::open(dir.path(), config).unwrap();
        group.bench_function(name, |bench| bench.iter(|| spool.append(&batch).unwrap()));
    }
    group.finish();
}

criterion_group!(benches, append);
criterion_main!(benches);
