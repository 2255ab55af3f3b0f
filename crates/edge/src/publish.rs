//! Where the gateway's samples go.
//!
//! Connectors publish through the [`SamplePublisher`] trait and never know
//! what is behind it: the event bus's `raw-sensor-data` topic
//! ([`BusPublisher`]), a channel inside the process ([`ChannelPublisher`]),
//! and store-and-forward around either. Replacing one needs no change to
//! the connectors.

use std::future::Future;

use flowline_bus::{CorrelationId, Producer, RecordBatch, Topic};
use flowline_catalog::SnapshotHandle;
use flowline_core::Sample;
use flowline_schemas::key::sample_key;
use flowline_schemas::{Codec, RecordEncoder};
use tokio::sync::mpsc;

/// Why a batch could not be published. The batch was not accepted: the
/// caller still owns it and may retry or spool it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot publish samples: {0}")]
pub struct PublishError(pub String);

/// Accepts batches of samples from connectors.
///
/// `publish` returns `Ok` only once the batch is accepted for good: after
/// that, losing it is the publisher's fault, not the caller's. It waits
/// (applies backpressure) rather than buffer without bound.
pub trait SamplePublisher: Send + Sync + 'static {
    /// Publishes one batch, in order.
    fn publish(
        &self,
        samples: Vec<Sample>,
    ) -> impl Future<Output = Result<(), PublishError>> + Send;
}

/// Publishes into a bounded in-process channel; the receiver's owner
/// consumes the batches. Waits when the channel is full; fails when the
/// receiver is gone.
#[derive(Clone, Debug)]
pub struct ChannelPublisher {
    sender: mpsc::Sender<Vec<Sample>>,
}

impl ChannelPublisher {
    /// A publisher and the receiver of its batches, holding at most
    /// `capacity` batches in flight.
    pub fn new(capacity: usize) -> (ChannelPublisher, mpsc::Receiver<Vec<Sample>>) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        (ChannelPublisher { sender }, receiver)
    }
}

impl SamplePublisher for ChannelPublisher {
    async fn publish(&self, samples: Vec<Sample>) -> Result<(), PublishError> {
        self.sender
            .send(samples)
            .await
            .map_err(|_| PublishError("the receiving end has stopped".to_owned()))
    }
}

/// Publishes to `raw-sensor-data` through a bus producer: each sample
/// encoded as a raw-sample record in the Confluent wire format, keyed by
/// its tag's well (else asset) as the catalog snapshot says
/// ([`sample_key`], the key the processor partitions its state by), with
/// one correlation id for all the samples of a batch, and the time the
/// gateway received it as the record's timestamp. `publish` returns once
/// the bus says the batch is durable, so store-and-forward spools what
/// the bus does not take.
///
/// A tag the snapshot does not know gets an empty key; the processor
/// sends its samples to `dlq`.
#[derive(Debug, Clone)]
pub struct BusPublisher<P> {
    /// The producer.
    producer: P,
    /// The catalog, for keys.
    snapshots: SnapshotHandle,
    /// Encodes the samples.
    codec: Codec,
}

impl<P: Producer> BusPublisher<P> {
    /// A publisher sending through `producer`, keying by `snapshots` and
    /// encoding with `codec`.
    pub fn new(producer: P, snapshots: SnapshotHandle, codec: Codec) -> Self {
        BusPublisher {
            producer,
            snapshots,
            codec,
        }
    }

    /// `samples` as records, all with `correlation_id`.
    fn encode(
        &self,
        samples: &[Sample],
        correlation_id: CorrelationId,
    ) -> Result<RecordBatch, PublishError> {
        let snapshot = self.snapshots.load();
        let mut encoder = RecordEncoder::new(self.codec.clone());
        let mut batch = RecordBatch::new();
        for sample in samples {
            let key = snapshot
                .tag(sample.tag)
                .map(|entry| sample_key(entry.well, entry.asset));
            let key = key.as_ref().map_or(&[][..], |key| key.as_bytes());
            encoder
                .push(&mut batch, key, sample, sample.received, correlation_id)
                .map_err(|error| PublishError(format!("tag {}: {error}", sample.tag)))?;
        }
        Ok(batch)
    }
}

impl<P: Producer + 'static> SamplePublisher for BusPublisher<P> {
    async fn publish(&self, samples: Vec<Sample>) -> Result<(), PublishError> {
        let batch = self.encode(&samples, CorrelationId::random())?;
        self.producer
            .send(Topic::RawSensorData, &batch)
            .await
            .map_err(|error| PublishError(format!("send to {}: {error}", Topic::RawSensorData)))?;
        crate::publish_events::published(samples.len());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use flowline_bus::{
        Bus, BusConfig, ConsumedBatch, Consumer, EmbeddedBus, OffsetReset, Polled, TopicPartition,
    };
    use flowline_catalog::{DemoLayout, Snapshot, demo_field};
    use flowline_core::{TagId, Timestamp, Value};

    use super::*;

    #[tokio::test]
    async fn batches_arrive_in_order_and_a_closed_channel_is_an_error() {
        let (publisher, mut receiver) = ChannelPublisher::new(4);
        for n in 0..3 {
            let sample = Sample::new(
                TagId(n),
                Timestamp::from_seconds(i64::from(n)),
                Value::Integer(1),
            );
            publisher.publish(vec![sample]).await.unwrap();
        }
        for n in 0..3 {
            assert_eq!(receiver.recv().await.unwrap()[0].tag, TagId(n));
        }
        drop(receiver);
        let error = publisher.publish(Vec::new()).await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "cannot publish samples: the receiving end has stopped"
        );
    }

    #[tokio::test]
    async fn samples_reach_raw_sensor_data_keyed_by_well_with_one_correlation_id_a_batch() {
        let dir = tempfile::tempdir().unwrap();
        let config = BusConfig {
            partitions: 1,
            ..BusConfig::default()
        };
        let bus = EmbeddedBus::open(dir.path(), config).unwrap();
        let snapshot = Snapshot::of_document(1, &demo_field(DemoLayout::default()));
        let entry = snapshot
            .tag_by_path("north/pad-1/w-01/tubing-pressure")
            .unwrap();
        let (tag, well) = (entry.tag.id, entry.well.unwrap());
        let publisher = BusPublisher::new(
            bus.producer().unwrap(),
            SnapshotHandle::new(snapshot),
            Codec::embedded(),
        );
        let time = Timestamp::from_seconds(1_800_000_000);
        let known = Sample::new(tag, time, Value::Float(41.5));
        let unknown = Sample::new(TagId(999_999), time, Value::Float(1.0));
        publisher
            .publish(vec![known.clone(), unknown.clone()])
            .await
            .unwrap();
        publisher.publish(vec![known.clone()]).await.unwrap();

        let mut consumer = bus.consumer("reader", OffsetReset::Earliest).unwrap();
        consumer
            .assign(&[TopicPartition::new(Topic::RawSensorData, 0)])
            .unwrap();
        let mut batch = ConsumedBatch::new();
        let polled = consumer
            .poll(&mut batch, 10, std::time::Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(polled, Polled::Records(3));
        let records: Vec<_> = batch.iter().collect();
        let codec = Codec::embedded();
        let first = codec.decode_record::<Sample>(&records[0]).unwrap();
        assert_eq!(first.value, known);
        assert_eq!(records[0].key, sample_key(Some(well), well).as_bytes());
        assert_eq!(records[0].timestamp, known.received);
        assert_eq!(records[1].key, b"", "a tag the catalog does not know");
        assert_eq!(
            codec.decode_record::<Sample>(&records[1]).unwrap().value,
            unknown
        );
        assert_eq!(records[0].correlation_id(), records[1].correlation_id());
        assert_ne!(records[0].correlation_id(), records[2].correlation_id());
    }
}
