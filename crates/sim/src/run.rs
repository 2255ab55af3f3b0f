//! Running the simulator: step the model from the wall clock and serve it
//! over Modbus until told to stop.

use std::sync::Arc;
use std::time::Instant;

use flowline_core::Timestamp;
use tokio::net::TcpListener;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::error::SimError;
use crate::events;
use crate::modbus::serve_modbus;
use crate::simulator::Simulator;

/// Steps `sim` every [`step_interval_ms`](crate::SimConfig::step_interval_ms)
/// to the wall-clock time and serves it over Modbus TCP on `modbus`, until
/// `cancel` is cancelled. If either stops with an error, the other stops too
/// and the error is returned.
///
/// The HTTP API is not served here: mount [`router`](crate::router) where
/// the binary serves HTTP, over the same `sim`.
pub async fn run(
    sim: Arc<Simulator>,
    modbus: TcpListener,
    cancel: CancellationToken,
) -> Result<(), SimError> {
    let stop = cancel.child_token();
    let serving = async {
        let served = serve_modbus(Arc::clone(&sim), modbus, stop.clone()).await;
        stop.cancel();
        served
    };
    let stepping = async {
        let stepped = step_until_cancelled(Arc::clone(&sim), stop.clone()).await;
        stop.cancel();
        stepped
    };
    let (served, stepped) = tokio::join!(serving, stepping);
    served.and(stepped)
}

/// Steps `sim` on its interval until `cancel` is cancelled. A step runs on
/// a blocking thread so a large field never stalls the servers; ticks
/// missed while a step overran are skipped, not made up.
async fn step_until_cancelled(
    sim: Arc<Simulator>,
    cancel: CancellationToken,
) -> Result<(), SimError> {
    let interval = sim.config().step_interval();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut overruns = events::Overruns::default();
    loop {
        tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            _ = ticker.tick() => {}
        }
        let started = Instant::now();
        let stepping = Arc::clone(&sim);
        tokio::task::spawn_blocking(move || stepping.step(Timestamp::now()))
            .await
            .map_err(|error| SimError::StepPanicked(error.to_string()))?;
        overruns.record(started.elapsed(), interval);
    }
}
