//! What the bus's integration tests share: a small log, records made
//! from numbers, and reading a topic back whole.

#![allow(dead_code)]

pub mod brokers;

use std::path::Path;
use std::time::{Duration, Instant};

use flowline_bus::{
    Bus, BusConfig, ConsumedBatch, Consumer, CorrelationId, EmbeddedBus, OffsetReset, Polled,
    Record, RecordBatch, Topic, TopicPartition,
};
use flowline_core::Timestamp;

/// A log with small segments, so that tests roll them, and `partitions`
/// partitions of every topic.
pub fn small_config(partitions: u32) -> BusConfig {
    BusConfig {
        partitions,
        segment_bytes: 16 * 1024,
        max_transaction_bytes: 8 * 1024,
        ..BusConfig::default()
    }
}

/// Opens the log in `dir` with `config`.
pub fn open(dir: &Path, config: &BusConfig) -> EmbeddedBus {
    EmbeddedBus::open(dir, config.clone()).unwrap()
}

/// A batch of records numbered `numbers`: key `key-N`, value `value-N`
/// padded to 40 bytes, timestamp now.
pub fn numbered(numbers: impl IntoIterator<Item = u64>) -> RecordBatch {
    numbered_in(numbers, None)
}

/// Like [`numbered`], all to `partition` if given.
pub fn numbered_in(numbers: impl IntoIterator<Item = u64>, partition: Option<u32>) -> RecordBatch {
    let mut batch = RecordBatch::new();
    let now = Timestamp::now();
    for n in numbers {
        let key = format!("key-{n}");
        let value = format!("value-{n:034}");
        batch
            .push(Record {
                key: key.as_bytes(),
                value: value.as_bytes(),
                timestamp: now,
                correlation_id: CorrelationId::random(),
                headers: &[],
                partition,
            })
            .unwrap();
    }
    batch
}

/// The number of a record made by [`numbered`].
pub fn number_of(value: &[u8]) -> u64 {
    let text = std::str::from_utf8(value).unwrap();
    text.strip_prefix("value-").unwrap().parse().unwrap()
}

/// A record read back: partition, offset and number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Read {
    /// Where it was.
    pub partition: TopicPartition,
    /// Its offset.
    pub offset: u64,
    /// Its number.
    pub number: u64,
}

/// Every visible record of `topic`, read by a fresh consumer of a group of
/// its own, in partition and offset order, until a poll of 50 ms brings
/// nothing: for the embedded log, which serves a new consumer at once.
pub async fn read_all<B: Bus>(bus: &B, topic: Topic) -> Vec<Read> {
    read_expecting(bus, topic, 0, Duration::from_millis(50)).await
}

/// Every visible record of `topic`, read by a fresh consumer of a group of
/// its own, in partition and offset order: polls until `expected` records
/// have come (or ten seconds passed), then until nothing more comes for
/// `settle`, so that records beyond those expected are seen too. A broker
/// takes longer than the embedded log to serve a new consumer; `settle`
/// is how long the backend needs at most.
pub async fn read_expecting<B: Bus>(
    bus: &B,
    topic: Topic,
    expected: usize,
    settle: Duration,
) -> Vec<Read> {
    let mut consumer = bus
        .consumer(
            &format!("reader-{}", CorrelationId::random()),
            OffsetReset::Earliest,
        )
        .unwrap();
    let partitions: Vec<TopicPartition> = (0..bus.partitions(topic))
        .map(|partition| TopicPartition::new(topic, partition))
        .collect();
    consumer.assign(&partitions).unwrap();
    let mut batch = ConsumedBatch::new();
    let mut read = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let wait = if read.len() < expected && Instant::now() < deadline {
            Duration::from_millis(200)
        } else {
            settle
        };
        let polled = consumer.poll(&mut batch, 500, wait).await.unwrap();
        assert_eq!(polled, Polled::Records(batch.len()));
        if batch.is_empty() && (read.len() >= expected || Instant::now() >= deadline) {
            break;
        }
        read.extend(batch.iter().map(|record| Read {
            partition: record.topic_partition(),
            offset: record.offset,
            number: number_of(record.value),
        }));
    }
    read.sort();
    read
}
