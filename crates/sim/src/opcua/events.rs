//! Everything the simulator's OPC UA server logs and counts, in one place.
//!
//! Metrics:
//! - `flowline_sim_opcua_refresh_duration_seconds` (histogram): time to
//!   copy one step's values into the address space and hand the changes to
//!   subscriptions.
//! - `flowline_sim_opcua_logins_total{identity, outcome}` (counter):
//!   session activations by `anonymous` or `user`, `accepted` or
//!   `refused`.
//!
//! Writes are counted with the simulator's other writes
//! (`flowline_sim_writes_total{source="opcua"}`).
//!
//! Log fields: `url`, `endpoints`, `tags`, `users`, `user`, `reason`,
//! `certificate`, `not_after`.

use std::path::Path;
use std::time::Duration;

/// The server was built and listens.
pub(super) fn listening(url: &str, endpoints: &str, tags: usize, users: usize) {
    tracing::info!(url, endpoints, tags, users, "OPC UA server listening");
}

/// The server stopped.
pub(super) fn stopped(url: &str) {
    tracing::info!(url, "OPC UA server stopped");
}

/// The server made its certificate and key, on its first start.
pub(super) fn certificate_created(certificate: &Path) {
    tracing::info!(
        certificate = %certificate.display(),
        "OPC UA server certificate created; clients that verify servers must trust it"
    );
}

/// The server's certificate expires soon or has expired.
pub(super) fn certificate_expiring(certificate: &Path, not_after: &str) {
    tracing::warn!(
        certificate = %certificate.display(),
        not_after,
        "OPC UA server certificate expires within 30 days or has expired; delete it and its \
         key to have a new one made at the next start"
    );
}

/// The values of one step reached the address space.
pub(super) fn refreshed(took: Duration) {
    metrics::histogram!("flowline_sim_opcua_refresh_duration_seconds").record(took.as_secs_f64());
}

/// A session was activated.
pub(super) fn login_accepted(user: Option<&str>) {
    login("accepted", user);
    tracing::debug!(user, "OPC UA login accepted");
}

/// A session activation was refused. Names the user, never the password.
pub(super) fn login_refused(user: Option<&str>, reason: &str) {
    login("refused", user);
    tracing::warn!(user, reason, "OPC UA login refused");
}

fn login(outcome: &'static str, user: Option<&str>) {
    let identity = if user.is_some() { "user" } else { "anonymous" };
    let labels = [("identity", identity), ("outcome", outcome)];
    metrics::counter!("flowline_sim_opcua_logins_total", &labels).increment(1);
}
