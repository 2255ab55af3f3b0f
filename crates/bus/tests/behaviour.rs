//! What any bus backend must do, written against the backend-neutral
//! traits so that the same checks run on every backend: here on the
//! embedded log (with `fsync = "always"` and `"interval"`), later on
//! Kafka.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{number_of, numbered, numbered_in, read_all, small_config};
use flowline_bus::{
    Bus, BusConfig, CommitOffset, ConsumedBatch, Consumer, EmbeddedBus, FsyncPolicy, OffsetReset,
    Polled, Producer, Topic, TopicPartition, TransactionalProducer, partition_for_key,
};

/// Both fsync policies of the embedded log, each in a fresh directory.
fn embedded_buses() -> Vec<(tempfile::TempDir, EmbeddedBus)> {
    [FsyncPolicy::Always, FsyncPolicy::Interval]
        .into_iter()
        .map(|fsync| {
            let dir = tempfile::tempdir().unwrap();
            let config = BusConfig {
                fsync,
                fsync_interval_ms: 5,
                ..small_config(3)
            };
            let bus = EmbeddedBus::open(dir.path(), config).unwrap();
            (dir, bus)
        })
        .collect()
}

/// Polls until `want` records have arrived or five seconds pass.
async fn poll_until<C: Consumer>(consumer: &mut C, want: usize) -> Vec<(TopicPartition, u64, u64)> {
    let mut batch = ConsumedBatch::new();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.len() < want && Instant::now() < deadline {
        if let Polled::Records(_) = consumer
            .poll(&mut batch, 1000, Duration::from_millis(100))
            .await
            .unwrap()
        {
            got.extend(
                batch
                    .iter()
                    .map(|r| (r.topic_partition(), r.offset, number_of(r.value))),
            );
        }
    }
    got
}

/// Records come back from the partition their key names, in order, with
/// offsets counting up from 0, their headers and their timestamps.
async fn records_round_trip_by_key<B: Bus>(bus: &B) {
    let producer = bus.producer().unwrap();
    producer
        .send(Topic::RawSensorData, &numbered(0..100))
        .await
        .unwrap();
    producer
        .send(Topic::RawSensorData, &numbered(100..250))
        .await
        .unwrap();

    let mut consumer = bus.consumer("round-trip", OffsetReset::Earliest).unwrap();
    consumer.subscribe(&[Topic::RawSensorData]).unwrap();
    let mut batch = ConsumedBatch::new();
    let polled = consumer
        .poll(&mut batch, 10, Duration::from_secs(1))
        .await
        .unwrap();
    let all: Vec<TopicPartition> = (0..bus.partitions(Topic::RawSensorData))
        .map(|p| TopicPartition::new(Topic::RawSensorData, p))
        .collect();
    assert_eq!(
        polled,
        Polled::Assigned(all),
        "the assignment comes before records"
    );

    let got = poll_until(&mut consumer, 250).await;
    assert_eq!(got.len(), 250);
    let mut by_partition: BTreeMap<TopicPartition, Vec<(u64, u64)>> = BTreeMap::new();
    for (tp, offset, number) in got {
        let key = format!("key-{number}");
        assert_eq!(
            tp.partition,
            partition_for_key(key.as_bytes(), bus.partitions(Topic::RawSensorData)),
            "record {number} is in the partition of its key"
        );
        by_partition.entry(tp).or_default().push((offset, number));
    }
    for (tp, records) in by_partition {
        let offsets: Vec<u64> = records.iter().map(|&(offset, _)| offset).collect();
        assert_eq!(
            offsets,
            (0..records.len() as u64).collect::<Vec<_>>(),
            "{tp}"
        );
        assert!(
            records.windows(2).all(|w| w[0].1 < w[1].1),
            "{tp} in send order"
        );
    }
    assert!(consumer.lag().iter().all(|&(_, lag)| lag == 0));
}

/// A poll returns at most what it is asked for, and a waiting poll wakes
/// as soon as records arrive rather than at its timeout.
async fn polls_are_bounded_and_wake_promptly<B: Bus>(bus: &B)
where
    B::Producer: 'static,
{
    let mut consumer = bus.consumer("bounded", OffsetReset::Latest).unwrap();
    consumer
        .assign(&[TopicPartition::new(Topic::Alerts, 0)])
        .unwrap();
    let producer = bus.producer().unwrap();
    let mut batch = ConsumedBatch::new();

    let send = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let records = numbered_in(0..50, Some(0));
        producer.send(Topic::Alerts, &records).await.unwrap();
        Instant::now()
    });
    let polled = consumer
        .poll(&mut batch, 7, Duration::from_secs(10))
        .await
        .unwrap();
    let woke = Instant::now();
    let sent = send.await.unwrap();
    assert_eq!(polled, Polled::Records(7));
    assert_eq!(batch.len(), 7);
    assert!(
        woke.duration_since(sent) < Duration::from_millis(500),
        "the poll woke {:?} after the send returned",
        woke.duration_since(sent)
    );
    let first: Vec<u64> = batch.iter().map(|r| number_of(r.value)).collect();
    assert_eq!(first, (0..7).collect::<Vec<_>>());
    assert_eq!(
        consumer.lag(),
        [(TopicPartition::new(Topic::Alerts, 0), 43)]
    );

    consumer
        .seek(TopicPartition::new(Topic::Alerts, 0), 45)
        .unwrap();
    let polled = consumer
        .poll(&mut batch, 100, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(polled, Polled::Records(5));
    assert_eq!(
        consumer.position(TopicPartition::new(Topic::Alerts, 0)),
        Some(50)
    );
    let polled = consumer
        .poll(&mut batch, 100, Duration::from_millis(30))
        .await
        .unwrap();
    assert_eq!(
        polled,
        Polled::Records(0),
        "nothing more: the timeout passes"
    );
}

/// An open transaction's records are invisible; its commit shows all of
/// them and commits its offsets, with their metadata, at once; an aborted
/// one never appears.
async fn transactions_are_read_committed<B: Bus>(bus: &B) {
    let input = TopicPartition::new(Topic::RawSensorData, 0);
    let mut consumer = bus.consumer("processor", OffsetReset::Earliest).unwrap();
    consumer.assign(&[input]).unwrap();
    let mut producer = bus.transactional_producer("processor-0").unwrap();

    producer.begin().unwrap();
    producer
        .send(Topic::ProcessedData, &numbered(0..40))
        .await
        .unwrap();
    producer
        .send(Topic::Dlq, &numbered(1000..1003))
        .await
        .unwrap();
    let offsets = [CommitOffset {
        partition: input,
        offset: 17,
        metadata: "checkpoint-1".to_owned(),
    }];
    producer.send_offsets(&consumer, &offsets).await.unwrap();
    assert!(
        read_all(bus, Topic::ProcessedData).await.is_empty(),
        "open: invisible"
    );
    assert_eq!(consumer.committed(&[input]).await.unwrap(), [None]);

    producer.commit().await.unwrap();
    let mut seen = read_all(bus, Topic::ProcessedData).await;
    for _ in 0..100 {
        if seen.len() == 40 {
            break;
        }
        // Under interval fsync a commit becomes visible at the next sync.
        tokio::time::sleep(Duration::from_millis(10)).await;
        seen = read_all(bus, Topic::ProcessedData).await;
    }
    let numbers: std::collections::BTreeSet<u64> = seen.iter().map(|r| r.number).collect();
    assert_eq!(numbers, (0..40).collect());
    assert_eq!(read_all(bus, Topic::Dlq).await.len(), 3);
    let committed = consumer.committed(&[input]).await.unwrap();
    assert_eq!(committed[0].as_ref().unwrap().offset, 17);
    assert_eq!(committed[0].as_ref().unwrap().metadata, "checkpoint-1");

    producer.begin().unwrap();
    producer
        .send(Topic::ProcessedData, &numbered(40..80))
        .await
        .unwrap();
    producer
        .send_offsets(
            &consumer,
            &[CommitOffset {
                offset: 99,
                ..offsets[0].clone()
            }],
        )
        .await
        .unwrap();
    producer.abort().await.unwrap();
    producer.begin().unwrap();
    producer
        .send(Topic::ProcessedData, &numbered(80..81))
        .await
        .unwrap();
    producer.commit().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let numbers: Vec<u64> = read_all(bus, Topic::ProcessedData)
        .await
        .iter()
        .map(|r| r.number)
        .collect();
    assert_eq!(numbers.len(), 41, "the aborted 40 never appear");
    assert!(numbers.iter().all(|&n| !(40..80).contains(&n)));
    assert_eq!(
        consumer.committed(&[input]).await.unwrap()[0]
            .as_ref()
            .unwrap()
            .offset,
        17
    );
}

/// A new consumer of a group starts where the group committed.
async fn a_group_resumes_from_its_commit<B: Bus>(bus: &B) {
    let producer = bus.producer().unwrap();
    let tp = TopicPartition::new(Topic::ControlCommands, 1);
    let records = numbered_in(0..10, Some(1));
    producer
        .send(Topic::ControlCommands, &records)
        .await
        .unwrap();

    let mut first = bus.consumer("commands", OffsetReset::Earliest).unwrap();
    first.assign(&[tp]).unwrap();
    let got = poll_until(&mut first, 10).await;
    assert_eq!(got.len(), 10);
    first
        .commit(&[CommitOffset {
            partition: tp,
            offset: 6,
            metadata: String::new(),
        }])
        .await
        .unwrap();

    let mut second = bus.consumer("commands", OffsetReset::Earliest).unwrap();
    second.assign(&[tp]).unwrap();
    assert_eq!(second.position(tp), Some(6));
    let got = poll_until(&mut second, 4).await;
    let numbers: Vec<u64> = got.iter().map(|&(_, _, n)| n).collect();
    assert_eq!(numbers, [6, 7, 8, 9]);
    assert!(matches!(
        second.seek(TopicPartition::new(Topic::Dlq, 0), 0),
        Err(flowline_bus::BusError::NotAssigned { .. })
    ));
}

#[tokio::test]
async fn records_come_back_from_the_partition_of_their_key_in_order() {
    for (_dir, bus) in embedded_buses() {
        records_round_trip_by_key(&bus).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poll_returns_at_most_what_it_asks_and_wakes_when_records_arrive() {
    for (_dir, bus) in embedded_buses() {
        polls_are_bounded_and_wake_promptly(&bus).await;
    }
}

#[tokio::test]
async fn a_transaction_is_invisible_until_it_commits_records_and_offsets_together() {
    for (_dir, bus) in embedded_buses() {
        transactions_are_read_committed(&bus).await;
    }
}

#[tokio::test]
async fn a_new_consumer_of_a_group_starts_at_the_committed_offset() {
    for (_dir, bus) in embedded_buses() {
        a_group_resumes_from_its_commit(&bus).await;
    }
}
