//! What can go wrong on the bus.
//!
//! Every message names the topic, partition, offset, file or key
//! concerned, and says what was expected and what was found.

use std::path::PathBuf;

use crate::disk::DiskError;
use crate::topic::TopicPartition;

/// Why a bus operation failed. Unless the variant says otherwise nothing
/// was written, and the operation may be retried.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The configuration cannot work.
    #[error("invalid bus configuration: {key}: {message}")]
    Config {
        /// The key at fault, such as `segment_bytes` or
        /// `topics.alerts.partitions`.
        key: String,
        /// What was expected and what was found.
        message: String,
    },
    /// A file of the embedded log could not be read, written or trusted.
    #[error(transparent)]
    Disk(#[from] DiskError),
    /// A record's part is larger than its length field can say.
    #[error("a record's {what} of {bytes} bytes is over the limit of {limit} bytes")]
    RecordTooLarge {
        /// Which part: "key", "value", "headers", "header name".
        what: &'static str,
        /// Its size.
        bytes: u64,
        /// The largest size allowed.
        limit: u64,
    },
    /// The records of one send for one partition do not fit in a segment.
    #[error(
        "{records} records for {partition} take {bytes} bytes; a segment holds at most \
         {limit} bytes of records (segment_bytes): send smaller batches"
    )]
    BatchTooLarge {
        /// The partition.
        partition: TopicPartition,
        /// Records in the batch for that partition.
        records: usize,
        /// Their size on disk.
        bytes: u64,
        /// What a segment holds.
        limit: u64,
    },
    /// A transaction holds more than it may before it is committed.
    #[error(
        "a transaction would hold {bytes} bytes of records, over max_transaction_bytes \
         ({limit}): commit more often"
    )]
    TransactionTooLarge {
        /// What it would hold.
        bytes: u64,
        /// `max_transaction_bytes`.
        limit: u64,
    },
    /// A partition that does not exist.
    #[error("{topic} has {partitions} partitions, so partition {partition} does not exist")]
    UnknownPartition {
        /// The topic's name, without prefix.
        topic: String,
        /// The partition asked for.
        partition: u32,
        /// How many the topic has.
        partitions: u32,
    },
    /// A consumer was asked about a partition it is not assigned.
    #[error("this consumer is not assigned {partition}")]
    NotAssigned {
        /// The partition.
        partition: TopicPartition,
    },
    /// A consumer's position is outside the records its partition holds:
    /// retention deleted them (it fell behind), or it is past the end.
    /// The consumer's `OffsetReset::Error` policy reports this instead
    /// of moving the position.
    #[error(
        "offset {offset} of {partition} is out of range: the partition holds offsets \
         {earliest} to {latest} (earliest is {earliest})"
    )]
    OffsetOutOfRange {
        /// The partition.
        partition: TopicPartition,
        /// The offset asked for.
        offset: u64,
        /// The oldest offset still held.
        earliest: u64,
        /// The offset the next record will get.
        latest: u64,
    },
    /// A consumer whose reset policy is `OffsetReset::Error` was given a
    /// partition for which its group has committed no offset.
    #[error("group {group} has no committed offset for {partition}, and its reset policy is error")]
    NoCommittedOffset {
        /// The group.
        group: String,
        /// The partition.
        partition: TopicPartition,
    },
    /// A transactional call came in the wrong order, such as a send with
    /// no transaction begun.
    #[error("transaction misuse: {0}")]
    TransactionState(&'static str),
    /// An earlier write or sync failed in a way that could not be undone,
    /// so the bus takes no more writes until it is reopened, which
    /// repairs the files.
    #[error("bus {} refuses writes until reopened: {reason}", dir.display())]
    Broken {
        /// The bus directory.
        dir: PathBuf,
        /// The failure that broke it.
        reason: String,
    },
    /// The bus was closed.
    #[error("the bus is closed")]
    Closed,
    /// A Kafka broker or the Kafka client refused or failed an operation
    /// for a reason no other variant describes; `retriable` says whether
    /// the same call may succeed later (a broker restarting, a leader
    /// moving, a timeout).
    #[error("kafka: cannot {operation}: {reason}")]
    Broker {
        /// What was being done, such as "send to flowline.alerts" or
        /// "fetch the committed offsets of group processor".
        operation: String,
        /// What the client or broker said.
        reason: String,
        /// Whether trying again may succeed.
        retriable: bool,
    },
    /// The open transaction can no longer commit (a record was refused,
    /// an offset commit was fenced by a rebalance, the transaction timed
    /// out). Abort it, move the consumer back to the group's committed
    /// offsets and process those records again in a new transaction.
    #[error(
        "the transaction of {transactional_id} must be aborted: {reason}; abort it, seek the \
         consumer back to the group's committed offsets and process again"
    )]
    TransactionAbortable {
        /// The producer's transactional id.
        transactional_id: String,
        /// What went wrong.
        reason: String,
    },
    /// Another producer with the same transactional id started (or the
    /// producer hit an error it cannot recover from): this producer can
    /// send nothing more. Drop it and its consumer; a new instance resumes
    /// from the group's committed offsets.
    #[error(
        "producer {transactional_id} is fenced or failed for good: {reason}; drop it and resume \
         with a new producer from the group's committed offsets"
    )]
    Fenced {
        /// The producer's transactional id.
        transactional_id: String,
        /// What the broker or client said.
        reason: String,
    },
}

impl BusError {
    /// The error for key `key` holding a value that cannot work.
    pub(crate) fn config(key: impl Into<String>, message: String) -> Self {
        BusError::Config {
            key: key.into(),
            message,
        }
    }
}
