//! Everything the processor logs and counts, in one place.
//!
//! Metrics (the `metrics` facade; the binary installs the recorder):
//! - `flowline_stream_samples_received_total`,
//!   `flowline_stream_samples_accepted_total`,
//!   `flowline_stream_samples_archived_total` (counters): samples in,
//!   samples processed, and samples emitted to `processed-data` after
//!   noise reduction; received minus archived is what compression saved.
//! - `flowline_stream_samples_rejected_total{reason}` (counter): samples
//!   sent to the dead-letter queue, by [`RejectReason::label`].
//! - `flowline_stream_duplicates_total`, `flowline_stream_out_of_order_total`,
//!   `flowline_stream_late_total` (counters): duplicates dropped, samples
//!   older than their tag's newest, samples behind the watermark.
//! - `flowline_stream_flagged_total{flag}` (counter): accepted samples by
//!   data-quality flag.
//! - `flowline_stream_watermark_seconds` (gauge): the watermark, in Unix
//!   seconds of event time.
//! - `flowline_stream_pattern_events_total{pattern, severity}` (counter):
//!   pattern matches.
//!
//! Refused samples are logged once per reason, then at most once a minute
//! per reason with the count since; every pattern match is logged.

use std::time::{Duration, Instant};

use flowline_core::{DataQualityFlags, NodePath, Timestamp};

use crate::cep::PatternEvent;
use crate::error::{REJECT_REASONS, RejectReason};
use crate::output::{Counts, Rejected};

/// How often a recurring reason for refusing samples is logged again.
const REPEAT_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// When each reject reason was last logged, and how many went unlogged
/// since; kept by the pipeline for logging only, never checkpointed.
#[derive(Clone, Debug, Default)]
pub(crate) struct RejectLog {
    reasons: [Repeated; REJECT_REASONS],
}

#[derive(Clone, Debug, Default)]
/// When one recurring reason was last logged, and how many went
/// unlogged since.
pub(crate) struct Repeated {
    last_logged: Option<Instant>,
    unlogged: u64,
}

impl Repeated {
    /// Whether one more occurrence is to be logged now: if so, how many
    /// went unlogged since the last one logged; if not, it is counted.
    pub(crate) fn due(&mut self) -> Option<u64> {
        let due = self
            .last_logged
            .is_none_or(|at| at.elapsed() >= REPEAT_LOG_INTERVAL);
        if !due {
            self.unlogged += 1;
            return None;
        }
        self.last_logged = Some(Instant::now());
        Some(std::mem::take(&mut self.unlogged))
    }
}

/// A sample was refused.
pub(crate) fn sample_rejected(log: &mut RejectLog, rejected: &Rejected) {
    let Some(since_last) = log.reasons[rejected.reason.code()].due() else {
        return;
    };
    tracing::warn!(
        reason = rejected.reason.label(),
        tag = rejected.sample.tag.0,
        also_refused_since_last_log = since_last,
        "sample refused: {}",
        rejected.reason
    );
}

/// A batch was processed.
pub(crate) fn batch_processed(counts: &Counts, watermark: Option<Timestamp>) {
    metrics::counter!("flowline_stream_samples_received_total").increment(counts.received);
    metrics::counter!("flowline_stream_samples_accepted_total").increment(counts.accepted);
    metrics::counter!("flowline_stream_samples_archived_total").increment(counts.archived);
    for (label, count) in RejectReason::LABELS.iter().zip(counts.rejected) {
        if count > 0 {
            metrics::counter!("flowline_stream_samples_rejected_total", "reason" => *label)
                .increment(count);
        }
    }
    metrics::counter!("flowline_stream_duplicates_total").increment(counts.duplicates);
    metrics::counter!("flowline_stream_out_of_order_total").increment(counts.out_of_order);
    metrics::counter!("flowline_stream_late_total").increment(counts.late);
    for flag in DataQualityFlags::all().iter() {
        let count = counts.with_flag(flag);
        if count > 0 {
            let name = flag.to_string();
            metrics::counter!("flowline_stream_flagged_total", "flag" => name).increment(count);
        }
    }
    if let Some(watermark) = watermark {
        let seconds = watermark.as_micros() as f64 / 1e6;
        metrics::gauge!("flowline_stream_watermark_seconds").set(seconds);
    }
}

/// A pattern matched.
pub(crate) fn pattern_matched(event: &PatternEvent) {
    let labels = [
        ("pattern", event.pattern.to_string()),
        ("severity", event.severity.to_string()),
    ];
    metrics::counter!("flowline_stream_pattern_events_total", &labels).increment(1);
    tracing::info!(
        pattern = &*event.pattern,
        severity = %event.severity,
        well = event.well.0,
        time = %event.time,
        evidence = event.evidence.len(),
        "pattern matched"
    );
}

/// A tag attribute the processor reads could not be used.
pub(crate) fn bad_attribute(path: &NodePath, attribute: &str, problem: &str) {
    tracing::warn!(tag = %path, attribute, "tag attribute not usable: {problem}");
}
