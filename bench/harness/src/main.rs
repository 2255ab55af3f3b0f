//! `flowline-bench`: the measuring side of the benchmarks in `bench/`.
//!
//! The scripts there build this binary and call it; it starts the field
//! simulator as a Modbus TCP server (and an OPC UA server, when the
//! comparison needs one) in a process of its own, runs Flowline's code and
//! the peer's client (pymodbus or asyncua, from `.venv`) against the same
//! server in one run, and prints one table per comparison: figure,
//! Flowline, peer, ratio.
//!
//! - `flowline-bench sim`: the simulator serving Modbus TCP, and OPC UA
//!   with `--opcua-listen`, until its standard input closes (what the
//!   others start as a child).
//! - `flowline-bench modbus`: connect time and the time to read 100 tags,
//!   the gateway's Modbus connector against pymodbus's client.
//! - `flowline-bench opcua`: connect time and the time to read 100 tags,
//!   without security and over Basic256Sha256 SignAndEncrypt, the
//!   gateway's OPC UA client against asyncua's client.
//! - `flowline-bench throughput`: the real gateway polling a field of
//!   about 50,000 tags, with the CPU it and the simulator use.

mod cpu;
mod events;
mod field;
mod latency;
mod opcua;
mod peer;
mod sim;
mod stats;
mod targets;
mod throughput;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Worker threads of the runtime the gateway side runs on: the two cores
/// the requirements are stated for.
const WORKER_THREADS: usize = 2;

/// What is logged unless `RUST_LOG` says otherwise: warnings, and the
/// harness's progress. The OPC UA stack warns that a client has no
/// configured endpoints (it is given one per session) and that a transport
/// closed "Good" each time a session is closed on purpose: the OPC UA
/// benchmark does both hundreds of times, so those two are kept to errors.
const DEFAULT_LOG_FILTER: &str = "warn,flowline_bench=info,opcua_client::config=error,\
                                  opcua_client::session::event_loop=error";

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "flowline-bench",
    about = "Flowline's benchmarks against their peers"
)]
struct Cli {
    /// What to run.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the simulated field over Modbus TCP (and OPC UA, with
    /// `--opcua-listen`) until standard input closes; prints `listening
    /// IP:PORT` once it listens, then `opcua URL` when it serves OPC UA.
    Sim(sim::ServeArgs),
    /// Connect and read-100-tags latency: Flowline's connector against
    /// pymodbus, side by side against one simulator.
    Modbus(targets::LatencyArgs),
    /// Connect and read-100-tags latency over OPC UA, without security and
    /// over Basic256Sha256 SignAndEncrypt: Flowline's client against
    /// asyncua, side by side against one simulator.
    Opcua(targets::LatencyArgs),
    /// Gateway throughput and CPU polling a field of about 50,000 tags.
    Throughput(throughput::ThroughputArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .enable_all()
        .build()?;
    // The measuring side runs as a task on a worker thread, as the
    // gateway's device tasks do: a future driven by `block_on` from the
    // main thread would pay a cross-thread wake-up on every I/O wait that
    // the gateway never pays.
    runtime.block_on(async {
        tokio::spawn(async move {
            match cli.command {
                Command::Sim(args) => sim::serve(args).await,
                Command::Modbus(args) => latency::compare(args).await,
                Command::Opcua(args) => opcua::compare(args).await,
                Command::Throughput(args) => throughput::measure(args).await,
            }
        })
        .await?
    })
}
