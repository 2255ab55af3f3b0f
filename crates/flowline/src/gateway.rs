//! `flowline gateway`: the edge gateway as its own process, and the piece of
//! `flowline up` that starts it.
//!
//! The gateway polls the Modbus endpoints in `[gateway]` for the points of
//! the catalog (or of a point-list file), reads the OPC UA servers for the
//! catalog's OPC UA tags, and publishes the samples through
//! store-and-forward: while what consumes them does not take them, they
//! wait in the spool under `data_dir` (or `gateway.spool.dir`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use flowline_catalog::Catalog;
use flowline_catalog::modbus::read_point_list;
use flowline_core::Sample;
use flowline_edge::{
    ChannelPublisher, Gateway, GatewayConfig, Spool, StoreAndForward, catalog_points,
};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::open_catalog;
use crate::process::Process;

/// Batches of samples in flight between the gateway and what consumes them.
const SAMPLE_QUEUE_BATCHES: usize = 256;

/// Runs the gateway until a signal stops it.
pub async fn run(config: &Config, metrics: PrometheusHandle) -> anyhow::Result<()> {
    let mut process = Process::start(config, metrics).await?;
    process.health.starting("catalog", "opening the database");
    let catalog = open_catalog(config).await?;
    process.health.ready("catalog");
    process.refresh_catalog(
        catalog.clone(),
        Duration::from_millis(config.catalog.refresh_interval_ms),
    );
    start(&mut process, &config.gateway, &config.data_dir, &catalog)?;
    tracing::info!(
        admin = %format_args!("http://{}", process.admin_address),
        startup_ms = process.startup_ms(),
        "gateway is up"
    );
    let outcome = process.wait().await;
    catalog.database().close().await;
    outcome
}

/// Plans the gateway's points and starts reading them inside `process`,
/// spooling under `data_dir` unless `gateway.spool.dir` says otherwise.
pub fn start(
    process: &mut Process,
    config: &GatewayConfig,
    data_dir: &Path,
    catalog: &Catalog,
) -> anyhow::Result<()> {
    process.health.starting("gateway", "planning points");
    let snapshot = catalog.snapshot();
    let points = if config.points.is_empty() {
        catalog_points(&snapshot)?
    } else {
        let text = std::fs::read_to_string(&config.points)
            .with_context(|| format!("cannot read gateway.points {}", config.points))?;
        read_point_list(&text).map_err(|errors| {
            let lines: Vec<String> = errors
                .iter()
                .map(|error| format!("{}: {error}", config.points))
                .collect();
            anyhow::anyhow!("{}", lines.join("\n"))
        })?
    };
    let plan = flowline_edge::plan(config, &snapshot, &points)?;
    let modbus_devices = plan.devices.len();
    let opcua_servers = plan.opcua.len();
    let tags = plan.addresses.len();

    let spool_dir = config.spool.dir_under(data_dir);
    let spool = Spool::open(&spool_dir, config.spool.clone())
        .with_context(|| format!("cannot open the spool in {}", spool_dir.display()))?;
    let (channel, samples) = ChannelPublisher::new(SAMPLE_QUEUE_BATCHES);
    process.spawn(consume(samples));
    let shutdown = process.shutdown.clone();
    let publisher = StoreAndForward::start(channel, spool, config.forward.clone(), shutdown)?;
    let gateway = Gateway::start(
        plan,
        config.timings(),
        Arc::new(publisher.clone()),
        process.shutdown.clone(),
    );
    process.spawn(async move {
        gateway.stopped().await;
        publisher.stopped().await;
        Ok(())
    });
    process.health.ready("gateway");
    tracing::info!(
        modbus_devices,
        opcua_servers,
        tags,
        spool = %spool_dir.display(),
        "gateway reading"
    );
    Ok(())
}

/// Takes the gateway's batches off its queue.
///
/// LIMITATION: the event bus does not exist yet, so samples stop here: the
/// gateway's metrics count them, and nothing stores them.
async fn consume(mut samples: mpsc::Receiver<Vec<Sample>>) -> anyhow::Result<()> {
    while let Some(batch) = samples.recv().await {
        metrics::counter!("flowline_samples_consumed_total").increment(batch.len() as u64);
    }
    Ok(())
}
