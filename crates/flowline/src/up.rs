//! `flowline up`: the whole platform in one process.
//!
//! Starts, in order: the admin endpoints (so `/healthz` answers while the
//! rest starts), the catalog (migrated, and loaded with the demo field when
//! empty or when `--demo` asks), and the catalog refresher that picks up
//! changes made by other processes. Later services join the same list.
//! On SIGINT or SIGTERM each stops taking new work, finishes what it has
//! within `shutdown_timeout_ms`, and the process exits.

use std::time::Duration;

use anyhow::Context;
use flowline_catalog::{Catalog, ImportMode, demo_field};
use flowline_core::AssetKind;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::Config;
use crate::open_catalog;
use crate::process::Process;

/// Who the history names for changes `flowline up` makes itself.
const DEMO_ACTOR: &str = "flowline:demo";

/// Runs the platform until a signal stops it.
pub async fn run(config: &Config, demo: bool, metrics: PrometheusHandle) -> anyhow::Result<()> {
    let mut process = Process::start(config, metrics).await?;
    process.health.starting("catalog", "opening the database");
    let catalog = open_catalog(config).await?;
    if demo || catalog.snapshot().assets().len() == 0 {
        load_demo(&catalog, config).await?;
    }
    process.health.ready("catalog");
    let interval = Duration::from_millis(config.catalog.refresh_interval_ms);
    process.refresh_catalog(catalog.clone(), interval);

    let snapshot = catalog.snapshot();
    let wells = snapshot
        .assets()
        .filter(|asset| asset.spec.kind == AssetKind::Well)
        .count();
    tracing::info!(
        admin = %format_args!("http://{}", process.admin_address),
        database = catalog.database().url(),
        wells,
        tags = snapshot.tags().len(),
        catalog_version = snapshot.version(),
        startup_ms = process.startup_ms(),
        "flowline is up"
    );

    let outcome = process.wait().await;
    catalog.database().close().await;
    outcome
}

async fn load_demo(catalog: &Catalog, config: &Config) -> anyhow::Result<()> {
    let layout = config.demo_layout();
    let report = catalog
        .import(&demo_field(layout), ImportMode::AllOrNothing, DEMO_ACTOR)
        .await
        .context("cannot load the demo field into the catalog")?;
    tracing::info!(
        pads = layout.pads,
        wells_per_pad = layout.wells_per_pad,
        tags_created = report.tags.created,
        tags_updated = report.tags.updated,
        "demo field loaded"
    );
    Ok(())
}
