//! Logs and metrics for every service in the process.
//!
//! Logs go to standard error (standard output carries command results such
//! as an export): readable lines on a terminal, one JSON object per line
//! otherwise, as `log.format` says. Metrics are kept in memory in Prometheus
//! form and served at `/metrics` on the admin port.

use std::io::IsTerminal;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Starts logging. `level` overrides `config.level`, for commands that
/// should stay quiet unless asked.
pub fn init_logging(config: &LogConfig, level: &str) -> anyhow::Result<()> {
    let filter = EnvFilter::builder().parse(level)?;
    let json = match config.format {
        LogFormat::Auto => !std::io::stderr().is_terminal(),
        LogFormat::Human => false,
        LogFormat::Json => true,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init();
    } else {
        builder.with_target(false).init();
    }
    Ok(())
}

/// Installs the process-wide metrics recorder and returns the handle that
/// renders it.
pub fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new().install_recorder()?;
    metrics::gauge!("flowline_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    Ok(handle)
}
