//! Everything the harness logs, in one place: progress on standard
//! error, so that standard output holds only the results.
//!
//! Fields: `benchmark`, `run`, `runs`, `address`, `url`, `pid`.

use std::net::SocketAddr;

/// The simulator child listens.
pub fn simulator_ready(address: SocketAddr, pads: u32, wells_per_pad: u32, pid: u32) {
    tracing::info!(%address, pads, wells_per_pad, pid, "simulator serving Modbus TCP");
}

/// The simulator child serves OPC UA too.
pub fn simulator_serving_opcua(url: &str) {
    tracing::info!(url, "simulator serving OPC UA");
}

/// A run of both sides finished.
pub fn run_finished(benchmark: &str, run: usize, runs: usize) {
    tracing::info!(benchmark, run, runs, "run finished");
}

/// A measuring window of one side finished.
pub fn window_finished(benchmark: &str, case: &str, run: usize, tags_per_second: f64) {
    tracing::info!(benchmark, case, run, tags_per_second, "window measured");
}

/// Samples without a value arrived while measuring: the figures count
/// them as polled, and the table says how many there were.
pub fn bad_samples(case: &str, bad: u64) {
    tracing::warn!(case, bad, "samples without a good value while measuring");
}
