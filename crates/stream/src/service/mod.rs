//! The processor service: the operators wired to the bus. It reads
//! `raw-sensor-data` in a consumer group and writes `processed-data`,
//! `alerts` and `dlq`, exactly once, on any [`Bus`](flowline_bus::Bus)
//! (the embedded log or Kafka).
//!
//! # One cycle
//!
//! 1. **Poll** at most `batch_size` records. The bus hands out
//!    partitions first (`Assigned`): each gets its own [`Pipeline`],
//!    restored from the checkpoint its committed offset names.
//! 2. **Decode** each record as a raw sample. One that cannot be decoded
//!    (garbage bytes, an unknown schema id, a missing correlation id, …)
//!    becomes a dead letter with the decoder's reason, its bytes and its
//!    topic, partition and offset.
//! 3. **Process** each partition's samples, in offset order, through its
//!    pipeline. Samples the pipeline refuses (an unknown tag, a broken
//!    value, an impossible time) become dead letters too.
//! 4. **Send** processed samples to `processed-data`, pattern events to
//!    `alerts` and dead letters to `dlq`, in the open transaction. A
//!    slow send holds up the next poll: nothing queues in between.
//! 5. **Commit**, every `commit_interval_ms` (or once the transaction
//!    holds half of what it may): write and sync each moved partition's
//!    checkpoint under the generation of its next offset, add the offsets
//!    to the transaction with the checkpoint's generation, length and
//!    CRC-32 as their metadata, and commit.
//!
//! # Exactly once
//!
//! Outputs, input offsets and the reference to the state they were made
//! with commit in one bus transaction; the checkpoint file itself is
//! durable before the transaction commits, and named by the offset it
//! corresponds to. A crash at any moment leaves either the old commit
//! (its outputs invisible to `read_committed` readers, its checkpoint
//! still on disk) or the new one. A restart restores each partition's
//! pipeline from the checkpoint its committed offset names and resumes
//! at that offset; since a pipeline's output depends only on its samples
//! and their order (never on batch boundaries or the clock), what it
//! writes again is what the lost transaction held (a dead letter's time
//! aside, which says when it was set aside). One pipeline
//! per partition keeps that true whatever the polls bring together.
//!
//! When a transaction cannot commit (Kafka's abortable errors, or a
//! poll's outputs that do not fit in one), the processor aborts it,
//! restores the partitions that moved from their committed checkpoints
//! and seeks back to their committed offsets. A fenced producer stops
//! the service: another instance owns the transactional id.
//!
//! # Partitions move with their state
//!
//! A partition's state is its pipeline's, checkpointed on its own; raw
//! samples are keyed by [`partition_key`](crate::partition_key), so a
//! well's tags and its patterns share a partition. On a revocation the
//! processor commits what it processed and drops the partition's
//! pipeline; its next owner restores it from the checkpoint the commit
//! names, which it finds in `state_dir`.
//!
//! LIMITATION: checkpoints are files. Instances of one group on Kafka
//! must share `state_dir` (a shared volume) for a partition's state to
//! follow it to another machine; a changelog topic written in the same
//! transaction would lift that.
//!
//! LIMITATION: a checkpoint holds a partition's whole state, so each
//! commit writes the state of every partition that moved: for 60,000
//! tags a few megabytes. `commit_interval_ms` trades output freshness
//! against that cost; an incremental checkpoint would cut it.
//!
//! LIMITATION: when partitions are added to `raw-sensor-data`, keys move
//! between partitions but state does not follow them: a tag's history
//! and a well's pattern windows start again in the new partition.
//! [`Checkpoint::split`](crate::Checkpoint::split) and
//! [`Checkpoint::merge`](crate::Checkpoint::merge) are the pieces such a
//! move would use.
//!
//! # Backpressure
//!
//! The processor holds at most one poll of records and one open
//! transaction (at most `bus.max_transaction_bytes`) at a time, and
//! awaits every send before it polls again: a slow sink slows
//! consumption, and what waits stays in `raw-sensor-data`, on disk or in
//! the brokers, not in memory. Consumer lag and the depths of the poll
//! and the transaction are exported as metrics.
//!
//! [`Pipeline`]: crate::Pipeline

mod config;
mod emit;
mod error;
mod events;
mod processor;
mod store;

pub use config::{MAX_BATCH_SIZE, MAX_COMMIT_INTERVAL_MS, ProcessorConfig};
pub use emit::{alert_record, processed_record};
pub use error::ProcessorError;
pub use processor::{BusLimits, Processor};
