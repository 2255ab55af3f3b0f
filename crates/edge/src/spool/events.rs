//! Everything store-and-forward logs and counts, in one place.
//!
//! Metrics:
//! - `flowline_gateway_spool_samples` (gauge): samples spooled and not yet
//!   forwarded.
//! - `flowline_gateway_spool_bytes` (gauge): bytes of segment files.
//! - `flowline_gateway_spool_spooling` (gauge): 1 while batches go to the
//!   spool instead of straight to the bus, else 0.
//! - `flowline_gateway_spool_appended_samples_total` (counter): samples
//!   written to the spool.
//! - `flowline_gateway_spool_forwarded_samples_total` (counter): spooled
//!   samples the bus accepted.
//! - `flowline_gateway_spool_dropped_samples_total` (counter): samples
//!   deleted unforwarded because the spool was full.
//! - `flowline_gateway_spool_torn_tails_total` (counter): damaged tails cut
//!   when the spool opened.
//! - `flowline_gateway_spool_forward_failures_total` (counter): failed
//!   attempts to forward spooled samples.
//!
//! An outage of the bus is logged when it begins, while it lasts at most
//! once per [`REPORT_INTERVAL`] with counts, and when it ends; never once
//! per batch.

use std::path::Path;
use std::time::{Duration, Instant};

use super::error::SpoolError;
use flowline_bus::disk::Cut;

/// Shortest time between two reports of the same ongoing trouble.
pub(crate) const REPORT_INTERVAL: Duration = Duration::from_secs(60);

/// The spool's size changed.
pub(crate) fn levels(samples: u64, bytes: u64) {
    metrics::gauge!("flowline_gateway_spool_samples").set(samples as f64);
    metrics::gauge!("flowline_gateway_spool_bytes").set(bytes as f64);
}

/// A spool opened and verified its segments.
pub(crate) fn opened(dir: &Path, segments: usize, samples: u64, bytes: u64, took: Duration) {
    levels(samples, bytes);
    tracing::info!(
        dir = %dir.display(),
        segments,
        samples,
        bytes,
        took_ms = took.as_millis() as u64,
        "spool opened"
    );
}

/// A damaged tail, left by a crash, was cut from a segment.
pub(crate) fn torn_tail_cut(path: &Path, cut: &Cut) {
    metrics::counter!("flowline_gateway_spool_torn_tails_total").increment(1);
    tracing::warn!(
        file = %path.display(),
        offset = cut.offset,
        bytes = cut.bytes,
        intact_records = cut.intact_frames,
        reason = %cut.reason,
        "spool: cut the damaged tail a crash left in a segment"
    );
}

/// Stale files of an interrupted operation were removed when the spool
/// opened.
pub(crate) fn stale_file_removed(path: &Path) {
    tracing::debug!(file = %path.display(), "spool: removed a file left by an interrupted write");
}

/// The file of an acknowledged segment could not be deleted; the next
/// open tries again.
pub(crate) fn remove_failed(path: &Path, error: &std::io::Error) {
    tracing::warn!(
        file = %path.display(),
        %error,
        "spool: cannot delete an acknowledged segment; the next start deletes it"
    );
}

/// A batch was appended.
pub(crate) fn appended(samples: usize) {
    metrics::counter!("flowline_gateway_spool_appended_samples_total").increment(samples as u64);
}

/// The spool was full: the oldest segment was deleted with `samples`
/// unforwarded samples in it. Happens at most once per segment, so it is
/// not rate-limited.
pub(crate) fn samples_dropped(path: &Path, samples: u64, dropped_total: u64, max_bytes: u64) {
    metrics::counter!("flowline_gateway_spool_dropped_samples_total").increment(samples);
    tracing::warn!(
        file = %path.display(),
        samples,
        dropped_total,
        max_bytes,
        "spool full: deleted the oldest segment and the samples in it"
    );
}

/// The spool could not sync when it was closed or its forwarder stopped;
/// batches of the last
/// fsync interval may not survive a power cut.
pub(crate) fn close_sync_failed(dir: &Path, error: &SpoolError) {
    tracing::error!(dir = %dir.display(), %error, "spool: cannot sync while closing");
}

/// Spooled samples were forwarded.
pub(crate) fn forwarded(samples: usize) {
    metrics::counter!("flowline_gateway_spool_forwarded_samples_total").increment(samples as u64);
}

/// The forwarding task stopped at shutdown.
pub(crate) fn forwarder_stopped(samples_left: u64) {
    tracing::info!(
        samples_left,
        "store-and-forward stopped; spooled samples are forwarded at the next start"
    );
}

/// One outage of the bus, from the first batch spooled to the spool
/// drained: begins, reports at a bounded rate, ends, each logged once.
#[derive(Debug)]
pub(crate) struct Outage {
    /// When it began.
    began: Instant,
    /// When it was last reported.
    last_report: Instant,
    /// Failed attempts to forward since it began.
    failures: u64,
    /// Samples forwarded since it began.
    forwarded_samples: u64,
}

impl Outage {
    /// An outage begins: the bus failed with `reason`.
    pub(crate) fn begin(reason: &str, spooled_samples: u64) -> Outage {
        metrics::gauge!("flowline_gateway_spool_spooling").set(1.0);
        tracing::warn!(
            reason,
            spooled_samples,
            "bus unreachable: spooling samples to disk until it returns"
        );
        Outage::new()
    }

    /// The spool held samples when the gateway started, left by an outage
    /// that outlived the last run; they are forwarded before new ones.
    pub(crate) fn carried_over(spooled_samples: u64) -> Outage {
        metrics::gauge!("flowline_gateway_spool_spooling").set(1.0);
        tracing::info!(
            spooled_samples,
            "spool holds samples from before this start: forwarding them before new ones"
        );
        Outage::new()
    }

    /// An outage starting now.
    fn new() -> Outage {
        let now = Instant::now();
        Outage {
            began: now,
            last_report: now,
            failures: 0,
            forwarded_samples: 0,
        }
    }

    /// An attempt to forward failed; reported at most once per
    /// [`REPORT_INTERVAL`], with what has happened since.
    pub(crate) fn forward_failed(&mut self, reason: &str, spooled_samples: u64, dropped: u64) {
        metrics::counter!("flowline_gateway_spool_forward_failures_total").increment(1);
        self.failures += 1;
        if self.last_report.elapsed() < REPORT_INTERVAL {
            return;
        }
        self.last_report = Instant::now();
        tracing::warn!(
            reason,
            down_s = self.began.elapsed().as_secs(),
            failures = self.failures,
            spooled_samples,
            dropped_samples_total = dropped,
            "bus still unreachable: samples still spooling"
        );
    }

    /// Spooled samples were forwarded.
    pub(crate) fn forwarded(&mut self, samples: usize) {
        forwarded(samples);
        self.forwarded_samples += samples as u64;
    }

    /// The spool is drained; batches go straight to the bus again.
    pub(crate) fn end(self) {
        metrics::gauge!("flowline_gateway_spool_spooling").set(0.0);
        tracing::info!(
            took_ms = self.began.elapsed().as_millis() as u64,
            failures = self.failures,
            forwarded_samples = self.forwarded_samples,
            "spool drained: forwarded what it held, publishing straight through again"
        );
    }
}

/// The same failure repeating, such as a disk that refuses syncs: logged
/// the first time and then at most once per [`REPORT_INTERVAL`], with the
/// number of repeats in between.
#[derive(Debug, Default)]
pub(crate) struct Repeating {
    /// When it was last logged.
    last_report: Option<Instant>,
    /// Repeats since then.
    unreported: u64,
}

impl Repeating {
    /// `what` failed again with `error`.
    pub(crate) fn failed(&mut self, what: &'static str, error: &SpoolError) {
        if self
            .last_report
            .is_some_and(|last| last.elapsed() < REPORT_INTERVAL)
        {
            self.unreported += 1;
            return;
        }
        tracing::error!(what, %error, repeats = self.unreported, "spool operation failing");
        self.last_report = Some(Instant::now());
        self.unreported = 0;
    }
}
