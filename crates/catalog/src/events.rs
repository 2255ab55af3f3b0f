//! Everything the catalog logs and counts, in one place.
//!
//! Metrics:
//! - `flowline_catalog_version` (gauge): version of the installed snapshot.
//! - `flowline_catalog_tags`, `flowline_catalog_assets` (gauges): its size.
//! - `flowline_catalog_snapshot_swaps_total` (counter): snapshots installed.
//! - `flowline_catalog_changes_total{entity, operation}` (counter): changes
//!   this process applied.

use std::time::Duration;

use crate::Snapshot;
use crate::plan::Step;

/// A new snapshot replaced the one readers used.
pub(crate) fn snapshot_installed(snapshot: &Snapshot, took: Duration) {
    metrics::gauge!("flowline_catalog_version").set(snapshot.version() as f64);
    metrics::gauge!("flowline_catalog_tags").set(snapshot.tags().len() as f64);
    metrics::gauge!("flowline_catalog_assets").set(snapshot.assets().len() as f64);
    metrics::counter!("flowline_catalog_snapshot_swaps_total").increment(1);
    tracing::info!(
        version = snapshot.version(),
        tags = snapshot.tags().len(),
        assets = snapshot.assets().len(),
        took_ms = took.as_millis() as u64,
        "catalog snapshot installed"
    );
}

/// A write committed.
pub(crate) fn changes_committed(actor: &str, steps: &[Step], version: u64) {
    for step in steps {
        let (entity, operation) = step.labels();
        let labels = [("entity", entity), ("operation", operation)];
        metrics::counter!("flowline_catalog_changes_total", &labels).increment(1);
    }
    tracing::info!(actor, changes = steps.len(), version, "catalog changed");
}
