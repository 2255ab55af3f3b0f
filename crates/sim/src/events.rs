//! Everything the simulator logs and counts, in one place.
//!
//! Metrics:
//! - `flowline_sim_steps_total` (counter): model steps taken.
//! - `flowline_sim_step_duration_seconds` (histogram): time per step,
//!   physics and register image together.
//! - `flowline_sim_step_overruns_total` (counter): steps that took longer
//!   than the step interval.
//! - `flowline_sim_wells`, `flowline_sim_tags` (gauges): the field's size.
//! - `flowline_sim_faults_total{kind, event}` (counter): faults `injected`,
//!   `started`, `ended` and `cleared`.
//! - `flowline_sim_writes_total{source, outcome}` (counter): setpoint and
//!   command writes from `modbus`, `opcua` or `api`, `accepted` or
//!   `refused`.
//! - `flowline_sim_modbus_requests_total{function, outcome}` (counter):
//!   Modbus requests by function and by `ok` or exception.
//!
//! The OPC UA server's own events are in `opcua/events.rs`.
//!
//! Log fields use the same names everywhere: `tag`, `asset`, `fault_id`,
//! `kind`, `source`, `function`, `unit`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use flowline_core::Value;
use tokio_modbus::ExceptionCode;

use crate::model::FaultStatus;

/// How often a repeated warning is logged at most.
const REPEAT_INTERVAL: Duration = Duration::from_secs(60);

/// A model was built and is ready to step.
pub(crate) fn field_built(wells: usize, pads: usize, tags: usize, seed: u64) {
    metrics::gauge!("flowline_sim_wells").set(wells as f64);
    metrics::gauge!("flowline_sim_tags").set(tags as f64);
    tracing::info!(wells, pads, tags, seed, "simulated field built");
}

/// A step finished.
pub(crate) fn step_finished(took: Duration) {
    metrics::counter!("flowline_sim_steps_total").increment(1);
    metrics::histogram!("flowline_sim_step_duration_seconds").record(took.as_secs_f64());
}

/// Logs steps that take longer than the step interval: when they start to,
/// at most once a minute while they keep doing so (with how many were not
/// logged), and when they keep pace again.
#[derive(Debug, Default)]
pub(crate) struct Overruns {
    /// When the last warning was logged, while steps overrun.
    last_logged: Option<Instant>,
    /// Overruns since the last warning.
    unlogged: u64,
}

impl Overruns {
    /// A step took `took` against an interval of `interval`.
    pub(crate) fn record(&mut self, took: Duration, interval: Duration) {
        if took <= interval {
            if self.last_logged.take().is_some() {
                tracing::info!(
                    interval_ms = interval.as_millis() as u64,
                    "steps keep pace again"
                );
            }
            self.unlogged = 0;
            return;
        }
        metrics::counter!("flowline_sim_step_overruns_total").increment(1);
        let due = self
            .last_logged
            .is_none_or(|last| last.elapsed() >= REPEAT_INTERVAL);
        if due {
            tracing::warn!(
                took_ms = took.as_millis() as u64,
                interval_ms = interval.as_millis() as u64,
                overruns_not_logged = self.unlogged,
                "simulation step took longer than the step interval"
            );
            self.last_logged = Some(Instant::now());
            self.unlogged = 0;
        } else {
            self.unlogged += 1;
        }
    }
}

/// A fault was injected, on a schedule or on demand.
pub(crate) fn fault_injected(fault: &FaultStatus) {
    fault_event(fault, "injected");
    tracing::info!(
        fault_id = fault.id,
        asset = %fault.target,
        kind = fault.kind.name(),
        start = %fault.start,
        end = fault.end.map(|end| end.to_string()),
        "fault injected"
    );
}

/// A fault began to act.
pub(crate) fn fault_started(fault: &FaultStatus) {
    fault_event(fault, "started");
    tracing::info!(fault_id = fault.id, asset = %fault.target, kind = fault.kind.name(), "fault started");
}

/// A fault reached its end.
pub(crate) fn fault_ended(fault: &FaultStatus) {
    fault_event(fault, "ended");
    tracing::info!(
        fault_id = fault.id,
        asset = %fault.target,
        kind = fault.kind.name(),
        was_active = fault.active,
        "fault ended"
    );
}

/// A fault was cleared by hand.
pub(crate) fn fault_cleared(fault: &FaultStatus) {
    fault_event(fault, "cleared");
    tracing::info!(fault_id = fault.id, asset = %fault.target, kind = fault.kind.name(), "fault cleared");
}

fn fault_event(fault: &FaultStatus, event: &'static str) {
    let labels = [("kind", fault.kind.name()), ("event", event)];
    metrics::counter!("flowline_sim_faults_total", &labels).increment(1);
}

/// A setpoint or command was written.
pub(crate) fn write_accepted(tag: &str, value: &Value, source: &'static str) {
    let labels = [("source", source), ("outcome", "accepted")];
    metrics::counter!("flowline_sim_writes_total", &labels).increment(1);
    tracing::info!(tag, value = %value, source, "setpoint written");
}

/// A write was refused.
pub(crate) fn write_refused(tag: &str, reason: &dyn std::fmt::Display, source: &'static str) {
    let labels = [("source", source), ("outcome", "refused")];
    metrics::counter!("flowline_sim_writes_total", &labels).increment(1);
    tracing::info!(tag, %reason, source, "setpoint write refused");
}

/// The Modbus server listens.
pub(crate) fn modbus_listening(address: SocketAddr, units: usize, points: usize) {
    tracing::info!(%address, units, points, "Modbus TCP server listening");
}

/// The Modbus server stopped.
pub(crate) fn modbus_stopped(address: SocketAddr) {
    tracing::info!(%address, "Modbus TCP server stopped");
}

/// A Modbus connection ended with an error (a client sent garbage or went
/// away mid-frame).
pub(crate) fn modbus_connection_failed(error: &std::io::Error) {
    tracing::debug!(%error, "Modbus connection closed with an error");
}

/// A Modbus request was answered.
pub(crate) fn modbus_request(function: &'static str, unit: u8, outcome: Result<(), ExceptionCode>) {
    let outcome_label = match outcome {
        Ok(()) => "ok",
        Err(code) => exception_name(code),
    };
    let labels = [("function", function), ("outcome", outcome_label)];
    metrics::counter!("flowline_sim_modbus_requests_total", &labels).increment(1);
    if outcome.is_err() {
        tracing::debug!(
            function,
            unit,
            exception = outcome_label,
            "Modbus exception"
        );
    }
}

/// A short name for an exception code, for labels.
fn exception_name(code: ExceptionCode) -> &'static str {
    match code {
        ExceptionCode::IllegalFunction => "illegal-function",
        ExceptionCode::IllegalDataAddress => "illegal-data-address",
        ExceptionCode::IllegalDataValue => "illegal-data-value",
        ExceptionCode::ServerDeviceFailure => "server-device-failure",
        ExceptionCode::GatewayTargetDevice => "gateway-target-device",
        _ => "other",
    }
}
