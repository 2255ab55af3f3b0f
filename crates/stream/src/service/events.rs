//! Everything the processor service logs and counts, in one place; the
//! operators' own counts are in the crate's `events` module.
//!
//! Metrics (the `metrics` facade; the binary installs the recorder):
//! - `flowline_processor_input_records_total` (counter): records of
//!   `raw-sensor-data` whose processing committed: the samples that went
//!   through the processor, end to end.
//! - `flowline_processor_output_records_total{topic}` (counter): records
//!   committed to `processed-data`, `alerts` and `dlq`.
//! - `flowline_processor_dead_letters_total{reason}` (counter): records
//!   committed to `dlq`, by the reason they carry.
//! - `flowline_processor_transactions_total{outcome}` (counter):
//!   transactions `committed` and `aborted`.
//! - `flowline_processor_commit_duration_seconds` (histogram): writing
//!   the checkpoints and committing, per transaction.
//! - `flowline_processor_checkpoint_bytes` (gauge): the checkpoints the
//!   last commit wrote.
//! - `flowline_processor_lag_records` (gauge): committed records of
//!   `raw-sensor-data` past the processor's position, over its partitions
//!   (the bus's `flowline_bus_consumer_lag` has them one by one).
//! - `flowline_processor_queue_depth{queue}` (gauge): records in the
//!   processor's hands: `poll`, what the last poll took (at most
//!   `batch_size`); `transaction`, outputs sent in the open transaction
//!   and not yet committed. `flowline_processor_transaction_bytes`
//!   (gauge) is the open transaction's size.
//! - `flowline_processor_partitions` (gauge): partitions assigned.
//!
//! Assignments, aborts, shrunk polls and stops are logged; records that
//! cannot be decoded are logged once per reason, then at most once a
//! minute per reason with the count since.

use std::time::Duration;

use flowline_bus::{ConsumedRecord, TopicPartition};
use rustc_hash::FxHashMap;

use crate::events::Repeated;

/// When each reason for refusing undecodable records was last logged.
#[derive(Debug, Default)]
pub(crate) struct DecodeLog {
    /// By reason.
    reasons: FxHashMap<&'static str, Repeated>,
}

/// The service started.
pub(crate) fn started(group: &str, transactional_id: &str, batch_size: u32) {
    tracing::info!(group, transactional_id, batch_size, "processor started");
}

/// The group gave the processor `partition`, which resumes at `offset`
/// from the checkpoint of `generation` (none: from a fresh state).
pub(crate) fn assigned(
    group: &str,
    partition: TopicPartition,
    offset: u64,
    generation: Option<u64>,
    checkpoint_bytes: usize,
) {
    tracing::info!(
        group,
        partition = %partition,
        offset,
        checkpoint_generation = generation,
        checkpoint_bytes,
        "partition assigned"
    );
}

/// A partition was committed without a checkpoint of the processor's: it
/// starts at the committed offset from a fresh state.
pub(crate) fn no_checkpoint(group: &str, partition: TopicPartition, offset: u64) {
    tracing::warn!(
        group,
        partition = %partition,
        offset,
        "committed offset carries no checkpoint; the pipeline starts with no state"
    );
}

/// The group took `partitions` away.
pub(crate) fn revoked(group: &str, partitions: &[TopicPartition]) {
    let partitions: Vec<String> = partitions.iter().map(ToString::to_string).collect();
    tracing::info!(group, ?partitions, "partitions revoked");
}

/// How many partitions the processor holds.
pub(crate) fn partitions(count: usize) {
    metrics::gauge!("flowline_processor_partitions").set(count as f64);
}

/// A record could not be decoded and goes to `dlq`.
pub(crate) fn undecodable(
    log: &mut DecodeLog,
    record: &ConsumedRecord<'_>,
    reason: &'static str,
    message: &str,
) {
    let Some(since_last) = log.reasons.entry(reason).or_default().due() else {
        return;
    };
    tracing::warn!(
        reason,
        partition = %record.topic_partition(),
        offset = record.offset,
        also_refused_since_last_log = since_last,
        "record cannot be decoded, sent to dlq: {message}"
    );
}

/// What one committed transaction carried.
#[derive(Debug, Default)]
pub(crate) struct Committed<'a> {
    /// Input records whose processing it committed.
    pub(crate) input: u64,
    /// Records it wrote, per topic: processed-data, alerts, dlq.
    pub(crate) output: [(&'static str, u64); 3],
    /// Dead letters by reason.
    pub(crate) reasons: &'a [(&'static str, u64)],
    /// Bytes of the checkpoints it wrote.
    pub(crate) checkpoint_bytes: u64,
    /// How long checkpointing and committing took.
    pub(crate) took: Duration,
}

/// A transaction committed.
pub(crate) fn committed(committed: &Committed<'_>) {
    metrics::counter!("flowline_processor_input_records_total").increment(committed.input);
    for (topic, count) in committed.output {
        metrics::counter!("flowline_processor_output_records_total", "topic" => topic)
            .increment(count);
    }
    for &(reason, count) in committed.reasons {
        metrics::counter!("flowline_processor_dead_letters_total", "reason" => reason)
            .increment(count);
    }
    metrics::counter!("flowline_processor_transactions_total", "outcome" => "committed")
        .increment(1);
    metrics::histogram!("flowline_processor_commit_duration_seconds")
        .record(committed.took.as_secs_f64());
    metrics::gauge!("flowline_processor_checkpoint_bytes").set(committed.checkpoint_bytes as f64);
}

/// A transaction was aborted because of `reason`; every partition goes
/// back to its last commit.
pub(crate) fn aborted(reason: &str, partitions: usize) {
    metrics::counter!("flowline_processor_transactions_total", "outcome" => "aborted").increment(1);
    tracing::warn!(
        partitions,
        "transaction aborted; resuming from the last commit: {reason}"
    );
}

/// Polls take at most `records` records until the next commit, since a
/// poll's outputs did not fit in a transaction.
pub(crate) fn poll_shrunk(records: u32, output_bytes: u64, limit: u64) {
    tracing::warn!(
        records,
        output_bytes,
        limit,
        "a poll's outputs did not fit in a transaction; polling fewer records"
    );
}

/// What is in the processor's hands after a poll, and how far behind it
/// is.
pub(crate) fn depths(polled: usize, in_transaction: usize, transaction_bytes: u64, lag: u64) {
    metrics::gauge!("flowline_processor_queue_depth", "queue" => "poll").set(polled as f64);
    metrics::gauge!("flowline_processor_queue_depth", "queue" => "transaction")
        .set(in_transaction as f64);
    metrics::gauge!("flowline_processor_transaction_bytes").set(transaction_bytes as f64);
    metrics::gauge!("flowline_processor_lag_records").set(lag as f64);
}

/// Superseded or uncommitted checkpoint files were deleted.
pub(crate) fn checkpoints_deleted(partition: TopicPartition, files: usize) {
    if files > 0 {
        tracing::debug!(partition = %partition, files, "checkpoint files deleted");
    }
}

/// The service stopped after committing what it had processed.
pub(crate) fn stopped(group: &str) {
    tracing::info!(group, "processor stopped");
}
