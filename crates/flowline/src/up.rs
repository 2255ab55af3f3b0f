//! `flowline up`: the whole platform in one process.
//!
//! Starts, in order: the admin endpoints (so `/healthz` answers while the
//! rest starts), the catalog (migrated, and loaded with the demo field when
//! empty or when `--demo` asks), and the catalog refresher that picks up
//! changes made by other processes. Later services join the same list.
//! On SIGINT or SIGTERM each stops taking new work, finishes what it has
//! within `shutdown_timeout_ms`, and the process exits.

use std::time::{Duration, Instant};

use anyhow::Context;
use flowline_catalog::{Catalog, ImportMode, demo_field};
use flowline_core::AssetKind;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::admin::{self, Health};
use crate::config::Config;
use crate::{open_catalog, shutdown};

/// Who the history names for changes `flowline up` makes itself.
const DEMO_ACTOR: &str = "flowline:demo";

/// Runs the platform until a signal stops it.
pub async fn run(config: &Config, demo: bool, metrics: PrometheusHandle) -> anyhow::Result<()> {
    let started = Instant::now();
    let shutdown = shutdown::on_signal()?;
    let health = Health::default();
    let mut services = JoinSet::new();

    let listen = config.admin_listen();
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (admin.listen)"))?;
    let admin_address = listener.local_addr()?;
    health.starting("catalog", "opening the database");
    services.spawn(admin::serve(
        listener,
        health.clone(),
        metrics,
        shutdown.clone(),
    ));

    let catalog = open_catalog(config).await?;
    if demo || catalog.snapshot().assets().len() == 0 {
        load_demo(&catalog, config).await?;
    }
    health.ready("catalog");
    let interval = Duration::from_millis(config.catalog.refresh_interval_ms);
    services.spawn(refresh_catalog(catalog.clone(), interval, shutdown.clone()));

    let snapshot = catalog.snapshot();
    let wells = snapshot
        .assets()
        .filter(|asset| asset.spec.kind == AssetKind::Well)
        .count();
    tracing::info!(
        admin = %format_args!("http://{admin_address}"),
        database = catalog.database().url(),
        wells,
        tags = snapshot.tags().len(),
        catalog_version = snapshot.version(),
        startup_ms = started.elapsed().as_millis() as u64,
        "flowline is up"
    );

    shutdown.cancelled().await;
    health.starting("catalog", "stopping");
    let grace = Duration::from_millis(config.shutdown_timeout_ms);
    if tokio::time::timeout(grace, drain(&mut services))
        .await
        .is_err()
    {
        tracing::warn!(
            timeout_ms = config.shutdown_timeout_ms,
            "gave up waiting for in-flight work"
        );
    }
    catalog.database().close().await;
    tracing::info!("flowline stopped");
    Ok(())
}

/// Waits for every service task, logging those that failed.
async fn drain(services: &mut JoinSet<std::io::Result<()>>) {
    while let Some(outcome) = services.join_next().await {
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%error, "service failed while stopping"),
            Err(error) => tracing::error!(%error, "service task panicked"),
        }
    }
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

/// Picks up catalog changes made by other processes until `shutdown`.
async fn refresh_catalog(
    catalog: Catalog,
    interval: Duration,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = ticks.tick() => {}
        }
        // Log when refreshing starts failing and when it recovers, not on
        // every tick in between.
        match catalog.refresh().await {
            Ok(_) if failing => {
                failing = false;
                tracing::info!("catalog refresh recovered");
            }
            Ok(_) => {}
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(%error, "catalog refresh failed; serving the last snapshot");
            }
            Err(_) => {}
        }
    }
}
