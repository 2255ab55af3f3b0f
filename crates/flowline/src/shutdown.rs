//! Stopping on SIGINT or SIGTERM.
//!
//! The first signal cancels the returned token: every service stops taking
//! new work and finishes what it has, within `shutdown_timeout_ms`. A second
//! signal stops the process at once.

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// Exit status after a second signal, as shells report an interrupt.
const FORCED_EXIT_STATUS: i32 = 130;

/// A token cancelled by the first SIGINT or SIGTERM.
pub fn on_signal() -> std::io::Result<CancellationToken> {
    let token = CancellationToken::new();
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let cancel = token.clone();
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        };
        tracing::info!(signal = name, "stopping; a second signal stops at once");
        cancel.cancel();
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        tracing::warn!("second signal: stopping without finishing in-flight work");
        std::process::exit(FORCED_EXIT_STATUS);
    });
    Ok(token)
}
