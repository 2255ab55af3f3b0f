//! What publishing to the bus counts, in one place.
//!
//! Metric: `flowline_gateway_published_samples_total` (counter): samples
//! the bus took as durable on `raw-sensor-data`, straight or forwarded
//! from the spool. A failed publish is not logged here: store-and-forward
//! spools the batch and says so.

/// The bus took `samples` samples.
pub(crate) fn published(samples: usize) {
    metrics::counter!("flowline_gateway_published_samples_total").increment(samples as u64);
}
