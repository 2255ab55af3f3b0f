//! `flowline gateway`: the edge gateway as its own process, and the piece of
//! `flowline up` that starts it.
//!
//! The gateway polls the Modbus endpoints in `[gateway]` for the points of
//! the catalog (or of a point-list file), reads the OPC UA servers for the
//! catalog's OPC UA tags, and publishes the samples to the bus's
//! `raw-sensor-data` through store-and-forward: while the bus does not
//! take them, they wait in the spool under `data_dir` (or
//! `gateway.spool.dir`).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use flowline_catalog::Catalog;
use flowline_catalog::modbus::read_point_list;
use flowline_edge::{BusPublisher, Gateway, GatewayConfig, Spool, StoreAndForward, catalog_points};
use flowline_schemas::Codec;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::bus::{self, OpenBus, ServiceBus};
use crate::config::Config;
use crate::process::Process;
use crate::start_with_catalog;

/// Runs the gateway until a signal stops it. On the embedded bus it holds
/// the log's lock, so no other process (`flowline processor`) can open it
/// meanwhile: `flowline up` runs both in one process.
pub async fn run(config: &Config, metrics: PrometheusHandle) -> anyhow::Result<()> {
    let (mut process, catalog) = start_with_catalog(config, metrics).await?;
    let (open, codec) = bus::open(config).await?;
    let (gateway, data_dir) = (&config.gateway, &config.data_dir);
    match &open {
        OpenBus::Embedded(bus) => start(&mut process, gateway, data_dir, &catalog, bus, codec)?,
        OpenBus::Kafka(bus) => start(&mut process, gateway, data_dir, &catalog, bus, codec)?,
    }
    tracing::info!(
        admin = %format_args!("http://{}", process.admin_address),
        bus = open.location(config),
        startup_ms = process.startup_ms(),
        "gateway is up"
    );
    let outcome = process.wait().await;
    catalog.database().close().await;
    outcome
}

/// Plans the gateway's points and starts reading them inside `process`,
/// publishing to `bus` with `codec`, spooling under `data_dir` unless
/// `gateway.spool.dir` says otherwise.
pub fn start<B: ServiceBus>(
    process: &mut Process,
    config: &GatewayConfig,
    data_dir: &Path,
    catalog: &Catalog,
    bus: &B,
    codec: Codec,
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
    let bus = BusPublisher::new(bus.producer()?, catalog.snapshots(), codec);
    let shutdown = process.shutdown.clone();
    let publisher = StoreAndForward::start(bus, spool, config.forward.clone(), shutdown)?;
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
