//! The backend-neutral bus: what producers, consumers and transactions
//! can do, whichever log is behind them.
//!
//! The traits follow Kafka's client model closely, so that the Kafka
//! backend maps each call onto one rdkafka call, and the embedded log
//! behaves as a one-broker Kafka with `isolation.level=read_committed`:
//!
//! - [`Producer::send`] sends a batch; it returns once the batch is
//!   durable as the backend's policy says (the embedded log's fsync
//!   policy; Kafka's `acks=all`).
//! - [`Consumer`] reads in a consumer group. Its partitions are explicit:
//!   [`Consumer::subscribe`] lets the group hand them out, and the change
//!   arrives from [`Consumer::poll`] as [`Polled::Assigned`] or
//!   [`Polled::Revoked`], before any record of an assigned partition (the
//!   embedded log hands all partitions to its one process; Kafka shares
//!   them among the group's members). A consumer only ever sees committed
//!   records.
//! - [`TransactionalProducer`] sends records and consumer offsets as one
//!   atomic unit: after `commit` consumers see all of the records and the
//!   group sees all of the offsets; after `abort` or a crash, none.
//!
//! # Checkpointing state with the offsets
//!
//! A committed offset carries metadata ([`CommitOffset::metadata`]), as
//! Kafka's `OffsetAndMetadata` does (up to 4,096 bytes there by default).
//! A processor that keeps keyed state writes its checkpoint where it
//! likes (a file named by a checkpoint id; on Kafka, a changelog topic in
//! the same transaction) and puts the reference in the metadata of the
//! offsets it commits in the transaction. Offsets and the reference then
//! become durable together or not at all; after a restart,
//! [`Consumer::committed`] gives both back.

use std::future::Future;
use std::time::Duration;

use crate::error::BusError;
use crate::record::{ConsumedBatch, RecordBatch};
use crate::topic::{Topic, TopicPartition};

/// Where a consumer starts in a partition for which its group has no
/// committed offset, and what it does when its position is out of range
/// (deleted by retention, or past the end). Kafka's `auto.offset.reset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetReset {
    /// From the oldest record held.
    Earliest,
    /// From the next record to arrive.
    Latest,
    /// Nowhere: polling fails with [`BusError::OffsetOutOfRange`].
    Error,
}

/// An offset to commit for a consumer group: the next offset to read in a
/// partition, and metadata stored with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOffset {
    /// The partition.
    pub partition: TopicPartition,
    /// The offset of the next record to read: one past the last record
    /// processed.
    pub offset: u64,
    /// Stored with the offset; empty if unused. See the module
    /// documentation for its use as a checkpoint reference.
    pub metadata: String,
}

/// An offset a consumer group committed, with its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The next offset to read.
    pub offset: u64,
    /// The metadata committed with it.
    pub metadata: String,
}

/// What a poll brought.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Polled {
    /// This many records were put into the batch; zero when the timeout
    /// passed first.
    Records(usize),
    /// The group gave this consumer these partitions; they are now part
    /// of its assignment, positioned at the group's committed offsets.
    Assigned(Vec<TopicPartition>),
    /// The group took these partitions away; commit what was processed of
    /// them before polling again, or another member repeats it.
    Revoked(Vec<TopicPartition>),
}

/// Sends records outside transactions.
pub trait Producer: Send + Sync {
    /// Sends `records` to `topic`, each to the partition its key (or its
    /// explicit partition) names, in order within a partition. Returns
    /// once they are durable as the backend's policy says.
    fn send(
        &self,
        topic: Topic,
        records: &RecordBatch,
    ) -> impl Future<Output = Result<(), BusError>> + Send;
}

/// Reads committed records in a consumer group.
pub trait Consumer: Send {
    /// The consumer group.
    fn group(&self) -> &str;

    /// Asks the group for partitions of `topics`; they arrive from
    /// [`Consumer::poll`] as [`Polled::Assigned`].
    fn subscribe(&mut self, topics: &[Topic]) -> Result<(), BusError>;

    /// Takes exactly `partitions`, without the group handing them out,
    /// positioned at the group's committed offsets.
    fn assign(&mut self, partitions: &[TopicPartition]) -> Result<(), BusError>;

    /// The partitions this consumer reads.
    fn assignment(&self) -> Vec<TopicPartition>;

    /// Clears `batch` and puts into it at most `max_records` records from
    /// the assigned partitions, waiting up to `timeout` for the first
    /// one; or reports a change of assignment. Advances the consumer's
    /// position past the records returned.
    fn poll(
        &mut self,
        batch: &mut ConsumedBatch,
        max_records: usize,
        timeout: Duration,
    ) -> impl Future<Output = Result<Polled, BusError>> + Send;

    /// Makes `offset` the next record read from `partition`.
    fn seek(&mut self, partition: TopicPartition, offset: u64) -> Result<(), BusError>;

    /// The next offset this consumer reads from `partition`, if assigned.
    fn position(&self, partition: TopicPartition) -> Option<u64>;

    /// Commits `offsets` for the group, outside any transaction; durable
    /// when this returns, as the backend's policy says.
    fn commit(
        &mut self,
        offsets: &[CommitOffset],
    ) -> impl Future<Output = Result<(), BusError>> + Send;

    /// The group's committed offsets of `partitions`, in the same order;
    /// `None` where it has none.
    fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> impl Future<Output = Result<Vec<Option<Committed>>, BusError>> + Send;

    /// How many committed records each assigned partition holds past this
    /// consumer's position.
    fn lag(&self) -> Vec<(TopicPartition, u64)>;
}

/// Sends records and consumer offsets in transactions: all or nothing.
/// One transaction is open at a time, as with Kafka's producer.
pub trait TransactionalProducer: Send {
    /// The consumer whose offsets go into transactions; on Kafka its group
    /// metadata fences a stale member of the group.
    type Consumer: Consumer;

    /// Begins a transaction.
    fn begin(&mut self) -> Result<(), BusError>;

    /// Sends `records` to `topic` in the open transaction. Consumers see
    /// them only once it commits.
    fn send(
        &mut self,
        topic: Topic,
        records: &RecordBatch,
    ) -> impl Future<Output = Result<(), BusError>> + Send;

    /// Adds `offsets` of `consumer`'s group to the open transaction.
    fn send_offsets(
        &mut self,
        consumer: &Self::Consumer,
        offsets: &[CommitOffset],
    ) -> impl Future<Output = Result<(), BusError>> + Send;

    /// Commits the open transaction: its records become visible and its
    /// offsets committed, together. Durable when this returns, as the
    /// backend's policy says (the embedded log's `fsync = "interval"`
    /// syncs it, and shows it, within the interval).
    fn commit(&mut self) -> impl Future<Output = Result<(), BusError>> + Send;

    /// Aborts the open transaction: nothing of it is ever seen.
    fn abort(&mut self) -> impl Future<Output = Result<(), BusError>> + Send;
}

/// A bus: where producers and consumers come from.
pub trait Bus {
    /// Its producer.
    type Producer: Producer;
    /// Its consumer.
    type Consumer: Consumer;
    /// Its transactional producer.
    type TransactionalProducer: TransactionalProducer<Consumer = Self::Consumer>;

    /// A producer of records outside transactions.
    fn producer(&self) -> Result<Self::Producer, BusError>;

    /// A transactional producer. `transactional_id` names it across
    /// restarts: on Kafka a new producer with the same id fences the old.
    fn transactional_producer(
        &self,
        transactional_id: &str,
    ) -> Result<Self::TransactionalProducer, BusError>;

    /// A consumer in `group`, reading only committed records.
    fn consumer(&self, group: &str, reset: OffsetReset) -> Result<Self::Consumer, BusError>;

    /// Partitions of `topic`.
    fn partitions(&self, topic: Topic) -> u32;
}
