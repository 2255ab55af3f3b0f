//! The `flowline` binary: every Flowline service behind one command line.
//!
//! `flowline up` runs the whole platform in one process; the other
//! subcommands administer it (`catalog`, `config`) or, as the platform
//! grows, run one service each for a cluster.

mod admin;
mod bus;
mod catalog_cli;
mod config;
mod gateway;
mod process;
mod processor;
mod shutdown;
mod sim;
mod telemetry;
mod up;

use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use flowline_catalog::Catalog;
use flowline_db::Database;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::catalog_cli::CatalogCommand;
use crate::config::{Config, Loaded};

/// Flowline: real-time monitoring and analytics for oil and gas fields.
#[derive(Debug, Parser)]
#[command(name = "flowline", version, max_term_width = 100)]
struct Cli {
    /// Configuration file. Default: flowline.toml in the working directory,
    /// if it exists; otherwise built-in defaults.
    #[arg(long, global = true, env = config::CONFIG_FILE_ENV, value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the whole platform in one process, on embedded defaults.
    ///
    /// An empty catalog is loaded with the demo field.
    Up {
        /// Load (or refresh) the demo field even if the catalog has assets.
        #[arg(long)]
        demo: bool,
    },
    /// Run the edge gateway: read the Modbus devices and OPC UA servers in
    /// [gateway] and publish to the bus's raw-sensor-data.
    Gateway,
    /// Run the stream processor: read raw-sensor-data in the consumer
    /// group of [processor] and write processed-data, alerts and dlq,
    /// exactly once.
    Processor,
    /// Run the field simulator: the demo field of [demo], served over
    /// Modbus TCP, with its fault-injection HTTP API.
    Sim {
        /// Faults to schedule instead of sim.field.faults, such as
        /// `north/pad-1/w-01:gas-lock@300s+600s` (comma-separated).
        #[arg(long, value_name = "SCHEDULE", value_parser = parse_faults)]
        faults: Option<Vec<flowline_sim::FaultSpec>>,
        /// Write the simulator's Modbus point list (CSV, for
        /// gateway.points) to FILE before serving.
        #[arg(long, value_name = "FILE")]
        write_points: Option<PathBuf>,
    },
    /// Manage the tag catalog.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Check or show the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print the version.
    Version,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Check a configuration file and the FLOWLINE_* environment; print
    /// every problem with its file, line and key.
    Check {
        /// The file to check; default as for --config.
        file: Option<PathBuf>,
    },
    /// Print the effective configuration as TOML.
    Show,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let file = match &cli.command {
        Command::Config(ConfigCommand::Check { file: Some(file) }) => Some(file.clone()),
        _ => config::resolve_file(cli.config.clone()),
    };
    let loaded = config::load(file.as_deref(), std::env::vars());
    match cli.command {
        Command::Version => {
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "flowline {} ({}-{})",
                env!("CARGO_PKG_VERSION"),
                std::env::consts::ARCH,
                std::env::consts::OS
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config(ConfigCommand::Check { .. }) => Ok(check(file, loaded)),
        Command::Config(ConfigCommand::Show) => {
            let text = toml::to_string(&loaded?.config)?;
            std::io::stdout().lock().write_all(text.as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Up { demo } => serve(loaded?.config, |config, metrics| async move {
            up::run(&config, demo, metrics).await
        }),
        Command::Gateway => serve(loaded?.config, |config, metrics| async move {
            gateway::run(&config, metrics).await
        }),
        Command::Processor => serve(loaded?.config, |config, metrics| async move {
            processor::run(&config, metrics).await
        }),
        Command::Sim {
            faults,
            write_points,
        } => serve(loaded?.config, |config, metrics| async move {
            let options = sim::SimOptions {
                faults,
                write_points,
            };
            sim::run(&config, options, metrics).await
        }),
        Command::Catalog(command) => {
            let config = loaded?.config;
            // One-shot commands stay quiet unless a level was chosen.
            let level = if config.log.level == config::LogConfig::default().level {
                "warn"
            } else {
                &config.log.level
            };
            telemetry::init_logging(&config.log, level)?;
            runtime()?.block_on(catalog_cli::run(&config, command))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Reads a fault schedule from the command line.
fn parse_faults(text: &str) -> Result<Vec<flowline_sim::FaultSpec>, String> {
    flowline_sim::parse_schedule(text).map_err(|error| error.to_string())
}

/// `flowline config check`: every problem on standard error, exit 1 if any.
fn check(file: Option<PathBuf>, loaded: Result<Loaded, config::ConfigErrors>) -> ExitCode {
    let name = file.map_or_else(|| "defaults".to_owned(), |file| file.display().to_string());
    match loaded {
        Ok(loaded) => {
            let from_environment = match loaded.environment.len() {
                0 => String::new(),
                _ => format!(
                    ", with {} from the environment",
                    loaded.environment.join(", ")
                ),
            };
            let mut out = std::io::stdout().lock();
            // A closed standard output is no reason to fail a check.
            let _ = writeln!(out, "{name}: ok{from_environment}");
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("{name}: {} problems", errors.0.len());
            ExitCode::FAILURE
        }
    }
}

/// Runs a long-running command: logs at the configured level, metrics for
/// `/metrics`, and a runtime until `service` returns.
fn serve<F, Service>(config: Config, service: F) -> anyhow::Result<ExitCode>
where
    F: FnOnce(Config, PrometheusHandle) -> Service,
    Service: Future<Output = anyhow::Result<()>>,
{
    telemetry::init_logging(&config.log, &config.log.level)?;
    let metrics = telemetry::install_metrics()?;
    runtime()?.block_on(service(config, metrics))?;
    Ok(ExitCode::SUCCESS)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Starts a service's [`Process`] and opens its catalog, refreshed every
/// `catalog.refresh_interval_ms` from then on.
pub(crate) async fn start_with_catalog(
    config: &Config,
    metrics: PrometheusHandle,
) -> anyhow::Result<(process::Process, Catalog)> {
    let mut process = process::Process::start(config, metrics).await?;
    process.health.starting("catalog", "opening the database");
    let catalog = open_catalog(config).await?;
    process.health.ready("catalog");
    let interval = std::time::Duration::from_millis(config.catalog.refresh_interval_ms);
    process.refresh_catalog(catalog.clone(), interval);
    Ok((process, catalog))
}

/// Opens the configured database and the catalog in it, creating the data
/// directory for the default SQLite file.
pub(crate) async fn open_catalog(config: &Config) -> anyhow::Result<Catalog> {
    if config.database.url.is_empty() {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create data_dir {}", config.data_dir.display()))?;
    }
    let url = config.database_url();
    let database = Database::connect(&url, config.database.max_connections).await?;
    Catalog::open(database)
        .await
        .with_context(|| format!("cannot open the catalog in {}", flowline_db::redact(&url)))
}
