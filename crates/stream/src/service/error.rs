//! Why the processor service stopped. Bad input never stops it (it goes
//! to `dlq`); these are failures of what it stands on: the bus, the
//! checkpoint files, its configuration.

use std::path::PathBuf;

use flowline_bus::{BusError, TopicPartition};

use crate::error::{CheckpointError, ConfigError};

/// Why the processor service cannot go on. Nothing it committed is lost:
/// a new instance resumes from the group's committed offsets and the
/// checkpoints they name.
#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    /// The bus refused or failed an operation that retrying here cannot
    /// fix (a fenced producer, a broken log, a closed bus).
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The operators' configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A checkpoint file could not be written, read, listed or deleted.
    #[error("cannot {operation} checkpoint {}: {source}", path.display())]
    CheckpointIo {
        /// What was being done: "write", "read", "list", "delete".
        operation: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The checkpoint a committed offset names is not the one written
    /// with it.
    #[error(
        "checkpoint {} of {partition} is not the one committed: expected {expected}, found \
         {found}",
        path.display()
    )]
    CheckpointMismatch {
        /// The partition.
        partition: TopicPartition,
        /// The file.
        path: PathBuf,
        /// What the commit's metadata says.
        expected: String,
        /// What the file holds.
        found: String,
    },
    /// The metadata of a committed offset names a checkpoint this build
    /// cannot use.
    #[error(
        "the offset {offset} committed for {partition} carries metadata `{metadata}`, which \
         names no checkpoint of generation {offset} this build reads"
    )]
    UnknownMetadata {
        /// The partition.
        partition: TopicPartition,
        /// The committed offset.
        offset: u64,
        /// Its metadata.
        metadata: String,
    },
    /// A checkpoint file holds no state this build can restore.
    #[error("checkpoint {} of {partition} cannot be restored: {source}", path.display())]
    Checkpoint {
        /// The partition.
        partition: TopicPartition,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: CheckpointError,
    },
    /// One poll's outputs do not fit in a transaction.
    #[error(
        "a poll of {records} records yields about {bytes} bytes of output, over the {limit} \
         bytes a transaction may hold (bus.max_transaction_bytes): lower processor.batch_size"
    )]
    OutputTooLarge {
        /// Records polled.
        records: usize,
        /// The output's estimated size.
        bytes: u64,
        /// What a transaction may hold.
        limit: u64,
    },
}
