//! `flowline processor`: the stream processor as its own process, and the
//! piece of `flowline up` that starts it beside the gateway.
//!
//! The processor reads `raw-sensor-data` in the consumer group
//! `processor.group_id`, cleans, validates, enriches, flags and
//! compresses the samples and watches the wells for patterns, and writes
//! `processed-data`, `alerts` and `dlq` in transactions that also commit
//! its input offsets and name the checkpoints of its state (under
//! `data_dir`, or `processor.state_dir`): see
//! [`flowline_stream::service`].

use anyhow::Context;
use flowline_catalog::Catalog;
use flowline_schemas::Codec;
use flowline_stream::service::{BusLimits, Processor};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::bus::{self, OpenBus, ServiceBus};
use crate::config::Config;
use crate::process::Process;
use crate::start_with_catalog;

/// Runs the processor until a signal stops it. On the embedded bus it
/// holds the log's lock, so no other process (`flowline gateway`) can
/// open it meanwhile: `flowline up` runs both in one process.
pub async fn run(config: &Config, metrics: PrometheusHandle) -> anyhow::Result<()> {
    let (mut process, catalog) = start_with_catalog(config, metrics).await?;
    let (open, codec) = bus::open(config).await?;
    match &open {
        OpenBus::Embedded(bus) => start(&mut process, config, bus, &catalog, codec)?,
        OpenBus::Kafka(bus) => start(&mut process, config, bus, &catalog, codec)?,
    }
    tracing::info!(
        admin = %format_args!("http://{}", process.admin_address),
        bus = open.location(config),
        group = config.processor.group_id,
        startup_ms = process.startup_ms(),
        "processor is up"
    );
    let outcome = process.wait().await;
    catalog.database().close().await;
    outcome
}

/// Starts the processor on `bus` inside `process`, reading the catalog
/// of `catalog` and writing with `codec`.
pub fn start<B: ServiceBus>(
    process: &mut Process,
    config: &Config,
    bus: &B,
    catalog: &Catalog,
    codec: Codec,
) -> anyhow::Result<()> {
    process
        .health
        .starting("processor", "joining its consumer group");
    let state_dir = config.processor.state_dir_under(&config.data_dir);
    let processor = Processor::new(
        bus,
        &config.processor,
        BusLimits::of(&config.bus),
        &state_dir,
        catalog.snapshots(),
        codec,
    )
    .context("cannot start the processor")?;
    let shutdown = process.shutdown.clone();
    process.spawn(async move {
        processor
            .run(shutdown)
            .await
            .context("the processor stopped")
    });
    process.health.ready("processor");
    Ok(())
}
