//! Everything the embedded log logs and counts, in one place.
//!
//! Metrics, labelled by `topic` and `partition` where they concern one:
//! - `flowline_bus_appended_records_total`, `flowline_bus_appended_bytes_total`
//!   (counters): records and bytes written to partitions.
//! - `flowline_bus_fsyncs_total` (counter): files synced.
//! - `flowline_bus_consumer_lag` (gauge, also by `group`): committed
//!   records past a consumer's position, reported at most once a second
//!   per consumer.
//! - `flowline_bus_offset_resets_total` (counter, also by `group`): times a
//!   consumer's position was out of range and was moved.
//! - `flowline_bus_transactions_total` (counter, by `outcome`: committed or
//!   aborted).
//! - `flowline_bus_torn_tails_total` (counter): damaged tails cut on open.
//! - `flowline_bus_uncommitted_records_cut_total` (counter): records of
//!   transactions that never committed, cut on open.
//! - `flowline_bus_retention_deleted_segments_total` and
//!   `flowline_bus_retention_deleted_records_total` (counters, by `reason`).
//!
//! What happens once (open, repairs, deletions, resets) is logged; what
//! happens per batch is only counted.

use std::path::Path;
use std::time::Duration;

use crate::disk::Cut;
use crate::error::BusError;
use crate::topic::TopicPartition;

/// The log opened and recovered.
pub(crate) fn opened(dir: &Path, partitions: usize, records: u64, took: Duration) {
    tracing::info!(
        dir = %dir.display(),
        partitions,
        records,
        took_ms = took.as_millis() as u64,
        "bus opened"
    );
}

/// `records` records of `bytes` bytes on disk were appended to a
/// partition.
pub(crate) fn appended(tp: TopicPartition, records: usize, bytes: usize) {
    let labels = labels(tp);
    metrics::counter!("flowline_bus_appended_records_total", &labels).increment(records as u64);
    metrics::counter!("flowline_bus_appended_bytes_total", &labels).increment(bytes as u64);
}

/// `files` files were synced.
pub(crate) fn fsynced(files: usize) {
    if files > 0 {
        metrics::counter!("flowline_bus_fsyncs_total").increment(files as u64);
    }
}

/// A torn tail, left by a crash, was cut from a partition's newest
/// segment.
pub(crate) fn torn_tail_cut(tp: TopicPartition, path: &Path, cut: &Cut) {
    metrics::counter!("flowline_bus_torn_tails_total", &labels(tp)).increment(1);
    tracing::warn!(
        topic = %tp.topic,
        partition = tp.partition,
        file = %path.display(),
        offset = cut.offset,
        bytes = cut.bytes,
        intact_records = cut.intact_frames,
        reason = %cut.reason,
        "bus: cut the damaged tail a crash left in a segment"
    );
}

/// A torn tail was cut from the control log.
pub(crate) fn control_tail_cut(path: &Path, cut: &Cut) {
    metrics::counter!("flowline_bus_torn_tails_total", "topic" => "control").increment(1);
    tracing::warn!(
        file = %path.display(),
        offset = cut.offset,
        bytes = cut.bytes,
        reason = %cut.reason,
        "bus: cut the damaged tail a crash left in the control log"
    );
}

/// `records` records from `first` on, written by a transaction that never
/// committed, were cut.
pub(crate) fn uncommitted_cut(tp: TopicPartition, first: u64, records: u64) {
    metrics::counter!("flowline_bus_uncommitted_records_cut_total", &labels(tp)).increment(records);
    tracing::info!(
        topic = %tp.topic,
        partition = tp.partition,
        first_offset = first,
        records,
        "bus: cut the records of a transaction that did not commit before the last stop"
    );
}

/// `lost` commits, from one that ends `tp` at `end`, were cut from the
/// control log: a power cut lost records they made visible.
pub(crate) fn commits_lost(path: &Path, lost: usize, tp: TopicPartition, end: u64) {
    tracing::warn!(
        file = %path.display(),
        commits = lost,
        topic = %tp.topic,
        partition = tp.partition,
        end,
        "bus: a power cut lost records of the last commits; they are rolled back whole"
    );
}

/// A closed segment's index file was missing or stale and was rebuilt.
pub(crate) fn index_rebuilt(path: &Path) {
    tracing::info!(file = %path.display(), "bus: rebuilt the index of a segment");
}

/// A temporary file of an interrupted write was removed on open.
pub(crate) fn stale_file_removed(path: &Path) {
    tracing::debug!(file = %path.display(), "bus: removed a file left by an interrupted write");
}

/// A partition started a new segment.
pub(crate) fn segment_rolled(tp: TopicPartition, path: &Path) {
    tracing::debug!(
        topic = %tp.topic,
        partition = tp.partition,
        file = %path.display(),
        "bus: started a new segment"
    );
}

/// Retention deleted a segment of `records` records.
pub(crate) fn retention_deleted(
    tp: TopicPartition,
    path: &Path,
    records: u64,
    reason: &'static str,
) {
    let mut labels = labels(tp);
    labels.push(("reason", reason.to_owned()));
    metrics::counter!("flowline_bus_retention_deleted_segments_total", &labels).increment(1);
    metrics::counter!("flowline_bus_retention_deleted_records_total", &labels).increment(records);
    tracing::info!(
        topic = %tp.topic,
        partition = tp.partition,
        file = %path.display(),
        records,
        reason,
        "bus: retention deleted a segment"
    );
}

/// Applying retention failed; the sync thread tries again later.
pub(crate) fn retention_failed(error: &BusError) {
    tracing::error!(%error, "bus: cannot apply retention");
}

/// A write or sync failed and could not be undone: the log refuses
/// writes until reopened.
pub(crate) fn broken(dir: &Path, reason: &str) {
    tracing::error!(dir = %dir.display(), reason, "bus: refusing writes until reopened");
}

/// A consumer's position was out of range and moved as its reset policy
/// says.
pub(crate) fn offset_reset(
    group: &str,
    tp: TopicPartition,
    from: u64,
    to: u64,
    earliest: u64,
    latest: u64,
) {
    let mut labels = labels(tp);
    labels.push(("group", group.to_owned()));
    metrics::counter!("flowline_bus_offset_resets_total", &labels).increment(1);
    tracing::warn!(
        group,
        topic = %tp.topic,
        partition = tp.partition,
        from,
        to,
        earliest,
        latest,
        "bus: consumer position out of range (behind retention or past the end); moved"
    );
}

/// A consumer's lag in one partition.
pub(crate) fn lag(group: &str, tp: TopicPartition, lag: u64) {
    let mut labels = labels(tp);
    labels.push(("group", group.to_owned()));
    metrics::gauge!("flowline_bus_consumer_lag", &labels).set(lag as f64);
}

/// A transaction committed.
pub(crate) fn committed(transactional_id: &str, records: usize, offsets: usize) {
    metrics::counter!("flowline_bus_transactions_total", "outcome" => "committed").increment(1);
    tracing::trace!(
        transactional_id,
        records,
        offsets,
        "bus: transaction committed"
    );
}

/// A transaction was aborted.
pub(crate) fn aborted(transactional_id: &str, records: usize) {
    metrics::counter!("flowline_bus_transactions_total", "outcome" => "aborted").increment(1);
    tracing::debug!(transactional_id, records, "bus: transaction aborted");
}

/// The labels of a partition.
fn labels(tp: TopicPartition) -> Vec<(&'static str, String)> {
    vec![
        ("topic", tp.topic.base_name().to_owned()),
        ("partition", tp.partition.to_string()),
    ]
}
