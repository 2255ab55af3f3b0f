//! Records through a real bus, the embedded log: what a producer encodes
//! with its key and correlation id is what a consumer decodes, on the
//! partition of its well; a record that does not decode becomes a dead
//! letter that keeps its bytes, its origin and its correlation id.

use std::time::{Duration, Instant};

use flowline_bus::{
    Bus, BusConfig, ConsumedBatch, Consumer, CorrelationId, EmbeddedBus, OffsetReset, Polled,
    Producer, Record, RecordBatch, Topic, partition_for_key,
};
use flowline_core::{AssetId, Quality, Sample, TagId, Timestamp, Value};
use flowline_schemas::key::{sample_key, well_key};
use flowline_schemas::{
    AlertRecord, Codec, DeadLetter, DecodeError, EvidenceRecord, RecordEncoder,
};

/// Partitions of every topic.
const PARTITIONS: u32 = 4;

/// An embedded bus in a fresh directory, kept with it.
fn bus() -> (EmbeddedBus, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = BusConfig {
        partitions: PARTITIONS,
        ..BusConfig::default()
    };
    (EmbeddedBus::open(dir.path(), config).unwrap(), dir)
}

/// Sends `batch` to `topic`.
async fn send(bus: &EmbeddedBus, topic: Topic, batch: &RecordBatch) {
    bus.producer().unwrap().send(topic, batch).await.unwrap();
}

/// Reads `topic` from the start until `want` records arrived (or ten
/// seconds passed), handing each to `take`.
async fn consume(
    bus: &EmbeddedBus,
    topic: Topic,
    want: usize,
    mut take: impl FnMut(&flowline_bus::ConsumedRecord<'_>),
) {
    let mut consumer = bus.consumer("test", OffsetReset::Earliest).unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut batch = ConsumedBatch::new();
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen < want {
        assert!(
            Instant::now() < deadline,
            "{seen} of {want} records arrived"
        );
        if let Polled::Records(count) = consumer
            .poll(&mut batch, 1_000, Duration::from_millis(100))
            .await
            .unwrap()
        {
            for record in batch.iter() {
                take(&record);
            }
            seen += count;
        }
    }
}

/// Sample `index` of a field with samples of four wells and of a
/// separator outside them.
fn sample(index: u32) -> (Sample, Option<AssetId>, AssetId) {
    let well = (index % 5 < 4).then_some(AssetId(10 + index % 5));
    let asset = AssetId(100 + index % 5);
    let mut sample = Sample::new(
        TagId(1_000 + index),
        Timestamp::from_micros(1_800_000_000_000_000 + i64::from(index)),
        Value::Float(f64::from(index) / 4.0),
    );
    if index.is_multiple_of(7) {
        sample.value = Value::MISSING;
        sample.quality = Quality::BAD_NO_COMMUNICATION;
    }
    (sample, well, asset)
}

#[tokio::test]
async fn samples_arrive_decoded_with_their_correlation_ids_on_their_wells_partition() {
    let (bus, _dir) = bus();
    let mut encoder = RecordEncoder::new(Codec::embedded());
    let mut batch = RecordBatch::new();
    let mut sent = Vec::new();
    for index in 0..200 {
        let (sample, well, asset) = sample(index);
        let correlation_id = CorrelationId::random();
        let key = sample_key(well, asset);
        encoder
            .push(
                &mut batch,
                key.as_bytes(),
                &sample,
                sample.time,
                correlation_id,
            )
            .unwrap();
        sent.push((sample, correlation_id, well.unwrap_or(asset)));
    }
    send(&bus, Topic::RawSensorData, &batch).await;

    let codec = Codec::embedded();
    let mut received = Vec::new();
    consume(&bus, Topic::RawSensorData, sent.len(), |record| {
        let decoded = codec.decode_record::<Sample>(record).unwrap();
        received.push((decoded, record.partition, record.timestamp));
    })
    .await;

    received.sort_by_key(|(decoded, _, _)| decoded.value.tag);
    assert_eq!(received.len(), sent.len());
    for ((decoded, partition, timestamp), (sample, correlation_id, owner)) in
        received.iter().zip(&sent)
    {
        assert_eq!(decoded.correlation_id, *correlation_id);
        assert_eq!(decoded.value.tag, sample.tag);
        assert_eq!(decoded.value.quality, sample.quality);
        assert_eq!(decoded.value.value.is_missing(), sample.value.is_missing());
        if !sample.value.is_missing() {
            assert_eq!(decoded.value.value, sample.value);
        }
        assert_eq!(*timestamp, sample.time);
        let expected = partition_for_key(well_key(*owner).as_bytes(), PARTITIONS);
        assert_eq!(*partition, expected, "tag {} of asset {owner}", sample.tag);
    }
}

#[tokio::test]
async fn an_alert_lands_with_its_wells_samples_and_keeps_the_correlation_id() {
    let (bus, _dir) = bus();
    let mut encoder = RecordEncoder::new(Codec::embedded());
    let well = AssetId(13);
    let correlation_id = CorrelationId::random();
    let alert = AlertRecord {
        pattern: "esp-broken-shaft",
        severity: flowline_core::Criticality::Critical,
        well,
        well_path: "north/pad-1/w-04",
        time: Timestamp::from_seconds(1_800_000_100),
        evidence: vec![EvidenceRecord {
            role: "now",
            name: "esp/motor-current",
            tag: TagId(77),
            time: Timestamp::from_seconds(1_800_000_100),
            value: 3.5,
        }],
    };
    let mut batch = RecordBatch::new();
    encoder
        .push(
            &mut batch,
            well_key(well).as_bytes(),
            &alert,
            alert.time,
            correlation_id,
        )
        .unwrap();
    send(&bus, Topic::Alerts, &batch).await;

    let codec = Codec::embedded();
    consume(&bus, Topic::Alerts, 1, |record| {
        let decoded = codec.decode_record::<AlertRecord<'_>>(record).unwrap();
        assert_eq!(decoded.value, alert);
        assert_eq!(decoded.correlation_id, correlation_id);
        let samples_partition =
            partition_for_key(sample_key(Some(well), AssetId(130)).as_bytes(), PARTITIONS);
        assert_eq!(record.partition, samples_partition);
    })
    .await;
}

#[tokio::test]
async fn a_record_that_does_not_decode_becomes_a_dead_letter_with_its_bytes_and_origin() {
    let (bus, _dir) = bus();
    let correlation_id = CorrelationId::random();
    let garbage = b"{\"tag\": 7, \"value\": 1.5}";
    let mut batch = RecordBatch::new();
    batch
        .push(Record {
            key: b"w-07",
            value: garbage,
            timestamp: Timestamp::from_seconds(1_800_000_000),
            correlation_id,
            headers: &[],
            partition: Some(2),
        })
        .unwrap();
    send(&bus, Topic::RawSensorData, &batch).await;

    let codec = Codec::embedded();
    let mut encoder = RecordEncoder::new(codec.clone());
    let mut letters = RecordBatch::new();
    consume(&bus, Topic::RawSensorData, 1, |record| {
        let error = codec.decode_record::<Sample>(record).unwrap_err();
        assert_eq!(error, DecodeError::UnknownMagic { found: b'{' });
        let message = error.to_string();
        let letter = DeadLetter::of(
            record,
            error.reason(),
            &message,
            Timestamp::from_seconds(1_800_000_001),
        );
        let id = record.correlation_id().unwrap();
        encoder
            .push(&mut letters, record.key, &letter, letter.time, id)
            .unwrap();
    })
    .await;
    send(&bus, Topic::Dlq, &letters).await;

    consume(&bus, Topic::Dlq, 1, |record| {
        let decoded = codec.decode_record::<DeadLetter<'_>>(record).unwrap();
        assert_eq!(decoded.correlation_id, correlation_id);
        let letter = decoded.value;
        assert_eq!(letter.reason, "unknown-magic-byte");
        assert_eq!(
            letter.message,
            "unknown magic byte: expected 0x00, found 0x7b at offset 0"
        );
        assert_eq!(
            (
                letter.source_topic,
                letter.source_partition,
                letter.source_offset
            ),
            (Topic::RawSensorData, 2, 0)
        );
        assert_eq!(
            (letter.original_key, letter.original_value),
            (&b"w-07"[..], &garbage[..])
        );
    })
    .await;
}
