//! What command write-back logs and counts, in one place.
//!
//! Metric: `flowline_gateway_commands_total{outcome}` (counter). Every
//! command's outcome is logged with its id and tag: commands are rare and
//! each one matters.

use flowline_core::{Command, CommandOutcome, Outcome};

use crate::command::Refusal;

/// A command was refused before anything was written.
pub(crate) fn refused(command: &Command, refusal: &Refusal) {
    tracing::warn!(command = command.id, tag = command.tag.0, %refusal, "command refused");
}

/// A command finished.
pub(crate) fn finished(outcome: &CommandOutcome) {
    let label = match &outcome.outcome {
        Outcome::Confirmed { .. } => "confirmed",
        Outcome::Failed { .. } => "failed",
        Outcome::TimedOut => "timed_out",
        Outcome::Refused { .. } => "refused",
    };
    metrics::counter!("flowline_gateway_commands_total", "outcome" => label).increment(1);
    tracing::info!(
        command = outcome.command_id,
        tag = outcome.tag.0,
        outcome = label,
        "command finished"
    );
}
