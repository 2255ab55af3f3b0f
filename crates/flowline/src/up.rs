//! `flowline up`: the whole platform in one process.
//!
//! Starts, in order: the admin endpoints (so `/healthz` answers while the
//! rest starts), the catalog (migrated, and loaded with the demo field when
//! empty or when `--demo` asks), the catalog refresher that picks up
//! changes made by other processes, the event bus (the embedded log under
//! `data_dir`, or Kafka), the field simulator (with `--demo`, or when no
//! field is configured: `gateway.modbus` and `gateway.opcua` both empty),
//! which serves Modbus TCP and OPC UA, the gateway, which reads the
//! simulator as one more Modbus endpoint and publishes to
//! `raw-sensor-data`, and the processor, which turns those samples into
//! `processed-data`, `alerts` and `dlq`. Later services join the same
//! list. On SIGINT or SIGTERM each stops taking new work, finishes what it
//! has within `shutdown_timeout_ms`, and the process exits.

use std::time::Duration;

use anyhow::Context;
use flowline_catalog::{Catalog, ImportMode, demo_field};
use flowline_core::AssetKind;
use flowline_edge::{GatewayConfig, ModbusEndpoint};
use flowline_schemas::Codec;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::bus::{self, OpenBus, ServiceBus};
use crate::config::Config;
use crate::process::Process;
use crate::sim::Served;
use crate::{gateway, open_catalog, processor, sim};

/// The name of the simulator's Modbus endpoint in the gateway.
const SIM_ENDPOINT: &str = "simulator";

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

    let simulate = demo || (config.gateway.modbus.is_empty() && config.gateway.opcua.is_empty());
    let mut gateway_config = config.gateway.clone();
    let served = if simulate {
        let served = sim::start(&mut process, config).await?;
        add_simulator(&mut gateway_config, config, &served);
        Some(served)
    } else {
        None
    };
    let (open, codec) = bus::open(config).await?;
    match &open {
        OpenBus::Embedded(bus) => {
            start_services(&mut process, config, &gateway_config, bus, &catalog, codec)?
        }
        OpenBus::Kafka(bus) => {
            start_services(&mut process, config, &gateway_config, bus, &catalog, codec)?
        }
    }

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
        bus = open.location(config),
        simulator_modbus = served.as_ref().map(|served| served.modbus.to_string()),
        simulator_opcua = served.as_ref().map(|served| served.opcua.as_str()),
        simulator_http = served.as_ref().map(|served| format!("http://{}", served.http)),
        startup_ms = process.startup_ms(),
        "flowline is up"
    );

    let outcome = process.wait().await;
    catalog.database().close().await;
    outcome
}

/// Starts the services that talk over `bus`: the gateway, publishing to
/// it, and the processor, reading from it.
fn start_services<B: ServiceBus>(
    process: &mut Process,
    config: &Config,
    gateway_config: &GatewayConfig,
    bus: &B,
    catalog: &Catalog,
    codec: Codec,
) -> anyhow::Result<()> {
    let data_dir = &config.data_dir;
    gateway::start(
        process,
        gateway_config,
        data_dir,
        catalog,
        bus,
        codec.clone(),
    )?;
    processor::start(process, config, bus, catalog, codec)
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

/// Adds the simulator's Modbus server to the gateway's endpoints, serving
/// the demo field's units (one per pad) so that configured endpoints keep
/// the others.
fn add_simulator(gateway: &mut GatewayConfig, config: &Config, served: &Served) {
    let pads = u8::try_from(config.demo.pads).expect("bug: demo.pads is checked when loaded");
    gateway.modbus.push(ModbusEndpoint {
        name: SIM_ENDPOINT.to_owned(),
        address: served.modbus.to_string(),
        units: (1..=pads).collect(),
    });
}
