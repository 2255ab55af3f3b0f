//! `flowline sim`: the field simulator as its own process, and the piece of
//! `flowline up --demo` that starts it beside the gateway.
//!
//! The simulator builds the demo field of `[demo]` with the physics and
//! faults of `[sim.field]`, steps it from the wall clock, serves every tag
//! over Modbus TCP on `sim.modbus_listen` and over OPC UA on
//! `sim.opcua_listen` (secured as `[sim.opcua]` says, its certificate in
//! `pki/sim-opcua` under `data_dir` by default), and serves its
//! fault-injection API over HTTP on `sim.http_listen` (see
//! [`flowline_sim::router`]).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use flowline_catalog::demo_field;
use flowline_catalog::modbus::write_point_list;
use flowline_core::Timestamp;
use flowline_sim::{FaultSpec, OpcUaServer, Simulator, point_list};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::process::Process;

/// Where a started simulator serves.
#[derive(Clone, Debug)]
pub struct Served {
    /// Its Modbus TCP server.
    pub modbus: SocketAddr,
    /// Its OPC UA server's endpoint URL.
    pub opcua: String,
    /// Its fault-injection HTTP API.
    pub http: SocketAddr,
}

/// What `flowline sim` was asked on its command line.
#[derive(Debug, Default)]
pub struct SimOptions {
    /// Faults to schedule instead of `sim.field.faults`.
    pub faults: Option<Vec<FaultSpec>>,
    /// A file to write the Modbus point list to before serving.
    pub write_points: Option<std::path::PathBuf>,
}

/// Runs the simulator until a signal stops it.
pub async fn run(
    config: &Config,
    options: SimOptions,
    metrics: PrometheusHandle,
) -> anyhow::Result<()> {
    let mut config = config.clone();
    if let Some(faults) = options.faults {
        config.sim.field.faults = faults;
    }
    if let Some(file) = &options.write_points {
        write_points(&config, file)?;
    }
    let mut process = Process::start(&config, metrics).await?;
    let served = start(&mut process, &config).await?;
    tracing::info!(
        admin = %format_args!("http://{}", process.admin_address),
        modbus = %served.modbus,
        opcua = served.opcua,
        http = %format_args!("http://{}", served.http),
        startup_ms = process.startup_ms(),
        "simulator is up"
    );
    process.wait().await
}

/// Builds the demo field and starts serving it inside `process`.
pub async fn start(process: &mut Process, config: &Config) -> anyhow::Result<Served> {
    process.health.starting("simulator", "building the field");
    let document = demo_field(config.demo_layout());
    let sim = Simulator::new(&document, config.sim.field.clone(), Timestamp::now())
        .context("cannot start the simulator (sim.field)")?;
    let sim = Arc::new(sim);

    let modbus = bind(&config.sim.modbus_listen, "sim.modbus_listen").await?;
    let http = bind(&config.sim.http_listen, "sim.http_listen").await?;
    let opcua = bind(&config.sim.opcua_listen, "sim.opcua_listen").await?;
    let mut opcua_config = config.sim.opcua.clone();
    opcua_config.pki_dir = opcua_config.pki_dir_under(&config.data_dir);
    let opcua = OpcUaServer::new(Arc::clone(&sim), &document, &opcua_config, opcua)
        .context("cannot start the simulator's OPC UA server (sim.opcua)")?;
    let served = Served {
        modbus: modbus.local_addr()?,
        opcua: opcua.url().to_owned(),
        http: http.local_addr()?,
    };

    let shutdown = process.shutdown.clone();
    let stepping = Arc::clone(&sim);
    process.spawn(async move { Ok(flowline_sim::run(stepping, modbus, shutdown).await?) });
    let shutdown = process.shutdown.clone();
    process.spawn(async move { Ok(opcua.serve(shutdown).await?) });
    let shutdown = process.shutdown.clone();
    let api = flowline_sim::router(sim);
    process.spawn(async move {
        axum::serve(http, api)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .context("the simulator's HTTP API stopped")
    });
    process.health.ready("simulator");
    Ok(served)
}

/// Writes the simulator's Modbus point list, for `gateway.points`.
fn write_points(config: &Config, file: &Path) -> anyhow::Result<()> {
    let points = point_list(&demo_field(config.demo_layout()))?;
    std::fs::write(file, write_point_list(&points))
        .with_context(|| format!("cannot write the point list to {}", file.display()))?;
    tracing::info!(file = %file.display(), points = points.len(), "point list written");
    Ok(())
}

async fn bind(address: &str, key: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} ({key})"))
}
