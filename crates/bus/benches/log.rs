//! Throughput of the embedded log: appending batches of 1,000 records
//! with 40-byte values (fsync every send, and every 100 ms), consuming
//! them, and how long opening a log of a few GB takes with its index files
//! and without them (rebuilt by scanning).
//!
//! `cargo bench -p flowline-bus --bench log`. The log lives in a
//! temporary directory under the target directory, on the disk the
//! benchmark runs from, since sync cost is the point: run it where the
//! data directory would be. `BUS_BENCH_OPEN_MB` sets the size of the log
//! that is opened (default 2,048 MB).

use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use flowline_bus::{
    Bus, BusConfig, ConsumedBatch, Consumer, CorrelationId, EmbeddedBus, FsyncPolicy, OffsetReset,
    Producer, Record, RecordBatch, Topic, TopicPartition,
};
use flowline_core::Timestamp;

/// Records in each sent batch.
const BATCH_RECORDS: u64 = 1_000;
/// Bytes of each record's value: a sample's worth.
const VALUE_BYTES: usize = 40;

/// One batch: keys of a thousand tags spread over the partitions, 40-byte
/// values, one correlation id for the batch as the gateway sends a poll,
/// stamped now so that retention by age keeps them.
fn batch() -> RecordBatch {
    let correlation_id = CorrelationId::random();
    let now = Timestamp::now();
    let mut batch = RecordBatch::new();
    let value = [0x5a; VALUE_BYTES];
    for tag in 0..BATCH_RECORDS {
        let key = format!("tag-{tag:05}");
        batch
            .push(Record {
                key: key.as_bytes(),
                value: &value,
                timestamp: now,
                correlation_id,
                headers: &[],
                partition: None,
            })
            .unwrap();
    }
    batch
}

/// A log in a fresh directory under the target directory.
fn log(fsync: FsyncPolicy, partitions: u32) -> (tempfile::TempDir, EmbeddedBus) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let config = BusConfig {
        partitions,
        fsync,
        fsync_interval_ms: 100,
        retention_bytes: 512 << 20,
        ..BusConfig::default()
    };
    let bus = EmbeddedBus::open(dir.path(), config).unwrap();
    (dir, bus)
}

/// Sends one batch per iteration.
fn append(criterion: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let batch = batch();
    let mut group = criterion.benchmark_group("bus_append");
    group.throughput(Throughput::Elements(BATCH_RECORDS));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(5));
    for (name, fsync, partitions) in [
        (
            "fsync_interval_100ms_4_partitions",
            FsyncPolicy::Interval,
            4,
        ),
        ("fsync_always_4_partitions", FsyncPolicy::Always, 4),
        ("fsync_always_1_partition", FsyncPolicy::Always, 1),
    ] {
        let (_dir, bus) = log(fsync, partitions);
        let producer = bus.producer().unwrap();
        group.bench_function(name, |bench| {
            bench.iter(|| {
                runtime
                    .block_on(producer.send(Topic::RawSensorData, &batch))
                    .unwrap()
            })
        });
    }
    group.finish();
}

/// Reads back 200 batches per iteration with a consumer polling 1,000
/// records at a time.
fn consume(criterion: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let batch = batch();
    let batches = 200;
    let (_dir, bus) = log(FsyncPolicy::Interval, 4);
    let producer = bus.producer().unwrap();
    runtime.block_on(async {
        for _ in 0..batches {
            producer.send(Topic::RawSensorData, &batch).await.unwrap();
        }
        bus.flush().await.unwrap();
    });
    let partitions: Vec<TopicPartition> = (0..4)
        .map(|p| TopicPartition::new(Topic::RawSensorData, p))
        .collect();

    let mut group = criterion.benchmark_group("bus_consume");
    group.throughput(Throughput::Elements(batches * BATCH_RECORDS));
    group.sample_size(20);
    group.bench_function("poll_1000", |bench| {
        let mut records = ConsumedBatch::new();
        bench.iter_batched(
            || {
                let mut consumer = bus.consumer("bench", OffsetReset::Earliest).unwrap();
                consumer.assign(&partitions).unwrap();
                consumer
            },
            |mut consumer| {
                runtime.block_on(async {
                    let mut read = 0;
                    while read < batches * BATCH_RECORDS {
                        consumer
                            .poll(&mut records, 1_000, Duration::from_secs(1))
                            .await
                            .unwrap();
                        read += records.len() as u64;
                    }
                })
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// Opens a log of `BUS_BENCH_OPEN_MB` in four partitions, as a restart
/// after a crash would, with the index files of its closed segments and
/// with them deleted (every closed segment scanned and its index
/// rewritten).
fn open(criterion: &mut Criterion) {
    let megabytes: u64 = std::env::var("BUS_BENCH_OPEN_MB").map_or(2048, |mb| {
        mb.parse().expect("BUS_BENCH_OPEN_MB is a number")
    });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let batch = batch();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let config = BusConfig {
        fsync: FsyncPolicy::Interval,
        retention_bytes: 1 << 40,
        ..BusConfig::default()
    };
    let written = Instant::now();
    {
        let bus = EmbeddedBus::open(dir.path(), config.clone()).unwrap();
        let producer = bus.producer().unwrap();
        let batch_bytes = 145 * BATCH_RECORDS;
        runtime.block_on(async {
            for _ in 0..(megabytes << 20) / batch_bytes {
                producer.send(Topic::RawSensorData, &batch).await.unwrap();
            }
            bus.flush().await.unwrap();
        });
    }
    eprintln!(
        "wrote a log of {megabytes} MB in {:.1} s",
        written.elapsed().as_secs_f64()
    );

    let mut group = criterion.benchmark_group("bus_open");
    group.sample_size(10);
    group.bench_function(format!("{megabytes}_mb_with_index_files"), |bench| {
        bench.iter(|| drop(EmbeddedBus::open(dir.path(), config.clone()).unwrap()))
    });
    group.bench_function(format!("{megabytes}_mb_rebuilding_indexes"), |bench| {
        bench.iter_batched(
            || delete_index_files(dir.path()),
            |()| drop(EmbeddedBus::open(dir.path(), config.clone()).unwrap()),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// Deletes every index file of the log in `dir`.
fn delete_index_files(dir: &std::path::Path) {
    for partition in std::fs::read_dir(dir).unwrap() {
        let partition = partition.unwrap().path();
        if !partition.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&partition).unwrap() {
            let file = file.unwrap().path();
            if file.extension().is_some_and(|ext| ext == "idx") {
                std::fs::remove_file(file).unwrap();
            }
        }
    }
}

criterion_group!(benches, append, consume, open);
criterion_main!(benches);
