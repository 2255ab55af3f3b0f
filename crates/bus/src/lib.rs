//! Flowline's event bus: the topics services talk through, the records
//! they carry, and the embedded log that carries them on one machine.
//!
//! - [`Topic`]: the five topics, named with a configurable prefix.
//! - [`RecordBatch`], [`ConsumedBatch`]: records (key, value, headers with
//!   a `correlation-id`, timestamp) packed into reusable buffers.
//! - [`partition_for_key`]: Kafka's default partitioner, so a key lands on
//!   the same partition on every backend.
//! - [`Producer`], [`Consumer`], [`TransactionalProducer`], [`Bus`]: what
//!   any backend offers, modelled on Kafka's clients; a behavioural test
//!   written against them runs on every backend.
//! - [`EmbeddedBus`]: the backend for a single machine, a durable,
//!   segmented, append-only log with consumer groups and read-committed
//!   transactions ([`embedded`] describes what survives what).
//! - [`KafkaBus`]: the backend for a cluster, over librdkafka: idempotent
//!   producers, consumer groups, and transactions that commit records and
//!   consumer offsets together ([`kafka`] maps each call to Kafka's).
//! - [`disk`]: segment files of checksummed frames, shared with the
//!   gateway's store-and-forward spool.
//! - [`BusConfig`]: the settings, for the `[bus]` section of the
//!   configuration, with `backend` choosing the embedded log or Kafka.

mod api;
mod config;
pub mod disk;
pub mod embedded;
mod error;
pub mod kafka;
mod partitioner;
mod record;
mod throttle;
mod topic;

pub use api::{
    Bus, CommitOffset, Committed, Consumer, OffsetReset, Polled, Producer, TransactionalProducer,
};
pub use config::{BusBackend, BusConfig, FsyncPolicy, TopicConfig};
pub use embedded::{
    EmbeddedBus, EmbeddedConsumer, EmbeddedProducer, EmbeddedTransactionalProducer,
};
pub use error::BusError;
pub use kafka::{
    KafkaBus, KafkaConfig, KafkaConsumer, KafkaProducer, KafkaTransactionalProducer, SaslMechanism,
    SecurityProtocol,
};
pub use partitioner::{murmur2, partition_for_key};
pub use record::{
    BatchedRecord, CORRELATION_ID_HEADER, ConsumedBatch, ConsumedRecord, CorrelationId, Header,
    Headers, Record, RecordBatch,
};
pub use topic::{Topic, TopicPartition};
