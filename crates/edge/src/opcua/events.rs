//! Everything the OPC UA connector logs and counts, in one place.
//!
//! Metrics, labelled by `device` (the endpoint's name) and, where it says
//! so, `reason` or `outcome`:
//! - `flowline_gateway_device_up` (gauge): 1 while connected, 0 while down.
//! - `flowline_gateway_opcua_connects_total{outcome}` (counter) and
//!   `flowline_gateway_opcua_connect_seconds` (histogram): connection
//!   attempts and how long the successful ones took.
//! - `flowline_gateway_samples_total`, `flowline_gateway_bad_samples_total
//!   {reason}` (counters): samples published, and those without a value by
//!   quality.
//! - `flowline_gateway_polls_total`, `flowline_gateway_poll_seconds`,
//!   `flowline_gateway_overruns_total`: reads in `poll` mode.
//! - `flowline_gateway_opcua_dropped_samples_total` (counter): samples the
//!   subscription delivered faster than the publisher took them.
//! - `flowline_gateway_opcua_writes_total{outcome}` (counter).
//! - `flowline_gateway_publish_failures_total` (counter).
//!
//! The metric names shared with the Modbus connector mean the same there.
//! A server that goes down is logged once when it goes down, then at most
//! once a minute with a count while it stays down, and once when it comes
//! back; refused items and unusable values likewise.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use flowline_core::{Quality, Sample, TagId};
use tokio::time::Instant;

use super::address::NodeAddress;
use super::session::Status;
use crate::PublishError;

/// How often a persisting problem is logged again.
const REPEAT_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// A problem that recurs: logged the first time, then once per interval.
#[derive(Default)]
struct Repeated {
    count: u64,
    last_logged: Option<Instant>,
}

impl Repeated {
    /// Counts one more occurrence; returns how many went unlogged before
    /// it when this one should be logged.
    fn should_log(&mut self) -> Option<u64> {
        self.count += 1;
        let due = self
            .last_logged
            .is_none_or(|at| at.elapsed() >= REPEAT_LOG_INTERVAL);
        if !due {
            return None;
        }
        self.last_logged = Some(Instant::now());
        Some(std::mem::take(&mut self.count) - 1)
    }
}

struct Outage {
    since: Instant,
    reason: String,
    failures: u64,
    last_logged: Instant,
}

/// What the connector knows and says about one OPC UA server.
pub(crate) struct EndpointStatus {
    name: String,
    url: String,
    ever_connected: bool,
    down: Option<Outage>,
    item_problems: Repeated,
    value_problems: Repeated,
    polling_logged: bool,
}

impl EndpointStatus {
    pub(crate) fn new(name: &str, url: &str) -> Self {
        metrics::gauge!("flowline_gateway_device_up", "device" => name.to_owned()).set(0.0);
        EndpointStatus {
            name: name.to_owned(),
            url: url.to_owned(),
            ever_connected: false,
            down: None,
            item_problems: Repeated::default(),
            value_problems: Repeated::default(),
            polling_logged: false,
        }
    }

    /// A session was opened in `took`.
    pub(crate) fn connected(&mut self, took: Duration) {
        let device = self.name.clone();
        metrics::gauge!("flowline_gateway_device_up", "device" => device.clone()).set(1.0);
        metrics::counter!(
            "flowline_gateway_opcua_connects_total", "device" => device.clone(), "outcome" => "ok"
        )
        .increment(1);
        metrics::histogram!("flowline_gateway_opcua_connect_seconds", "device" => device)
            .record(took.as_secs_f64());
        let connect_ms = took.as_secs_f64() * 1e3;
        match self.down.take() {
            Some(outage) => tracing::info!(
                device = self.name,
                endpoint = self.url,
                down_for_s = outage.since.elapsed().as_secs(),
                failures = outage.failures,
                connect_ms,
                "device is back"
            ),
            None => tracing::info!(
                device = self.name,
                endpoint = self.url,
                connect_ms,
                "device connected"
            ),
        }
        self.ever_connected = true;
    }

    /// The connection failed or broke because of `reason`; returns the
    /// quality to give the points that cannot be read.
    pub(crate) fn failed(&mut self, reason: &str) -> Quality {
        let device = self.name.clone();
        metrics::gauge!("flowline_gateway_device_up", "device" => device.clone()).set(0.0);
        metrics::counter!(
            "flowline_gateway_opcua_connects_total", "device" => device, "outcome" => "failed"
        )
        .increment(1);
        match &mut self.down {
            None => {
                tracing::warn!(
                    device = self.name,
                    endpoint = self.url,
                    reason,
                    "device is down"
                );
                let now = Instant::now();
                self.down = Some(Outage {
                    since: now,
                    reason: reason.to_owned(),
                    failures: 1,
                    last_logged: now,
                });
            }
            Some(outage) => {
                outage.failures += 1;
                outage.reason = reason.to_owned();
                if outage.last_logged.elapsed() >= REPEAT_LOG_INTERVAL {
                    outage.last_logged = Instant::now();
                    tracing::warn!(
                        device = self.name,
                        endpoint = self.url,
                        reason,
                        failures = outage.failures,
                        down_for_s = outage.since.elapsed().as_secs(),
                        "device still down"
                    );
                }
            }
        }
        self.quality_while_down()
    }

    /// The quality of points while the server cannot be reached: a lost
    /// connection, or one never made since the gateway started.
    pub(crate) fn quality_while_down(&self) -> Quality {
        if self.ever_connected {
            Quality::BAD_COMMUNICATION_ERROR
        } else {
            Quality::BAD_NO_COMMUNICATION
        }
    }

    /// Why the server is down, for writes refused meanwhile.
    pub(crate) fn down_reason(&self) -> String {
        self.down.as_ref().map_or_else(
            || "not connected yet".to_owned(),
            |outage| outage.reason.clone(),
        )
    }

    /// A point cannot be read at all on this server (its node id does not
    /// resolve, or the server refused its monitored item).
    pub(crate) fn point_refused(&mut self, tag: TagId, node: &NodeAddress, reason: &str) {
        if let Some(unlogged) = self.item_problems.should_log() {
            tracing::warn!(
                device = self.name,
                tag = tag.0,
                node = %node,
                reason,
                unlogged,
                "point cannot be read"
            );
        }
    }

    /// The server refused a deadband filter; the item is monitored without.
    pub(crate) fn deadband_refused(&mut self, tag: TagId, status: Status) {
        if let Some(unlogged) = self.item_problems.should_log() {
            tracing::info!(
                device = self.name,
                tag = tag.0,
                %status,
                unlogged,
                "deadband refused by the server; every change is reported"
            );
        }
    }

    /// A subscription was made with `items` monitored items.
    pub(crate) fn subscribed(&self, items: usize, refused: usize) {
        tracing::info!(device = self.name, items, refused, "subscription created");
    }

    /// The server refused subscriptions; the points are read periodically.
    pub(crate) fn polling_instead(&mut self, status: Status, interval: Duration) {
        if std::mem::replace(&mut self.polling_logged, true) {
            return;
        }
        tracing::warn!(
            device = self.name,
            %status,
            interval_ms = interval.as_millis() as u64,
            "server refuses subscriptions; reading periodically instead"
        );
    }

    /// Samples are about to be published.
    pub(crate) fn publishing(&mut self, samples: &[Sample]) {
        let device = self.name.clone();
        metrics::counter!("flowline_gateway_samples_total", "device" => device.clone())
            .increment(samples.len() as u64);
        let mut first_bad = None;
        for sample in samples.iter().filter(|sample| sample.value.is_missing()) {
            let reason = sample.quality.to_string();
            metrics::counter!(
                "flowline_gateway_bad_samples_total", "device" => device.clone(), "reason" => reason
            )
            .increment(1);
            first_bad.get_or_insert(sample);
        }
        if let Some(sample) = first_bad
            && self.down.is_none()
            && let Some(unlogged) = self.value_problems.should_log()
        {
            tracing::warn!(
                device = self.name,
                tag = sample.tag.0,
                quality = %sample.quality,
                unlogged,
                "sample without a value"
            );
        }
    }

    /// A periodic read of every point finished.
    pub(crate) fn polled(&self, took: Duration) {
        let device = self.name.clone();
        metrics::counter!("flowline_gateway_polls_total", "device" => device.clone()).increment(1);
        metrics::histogram!("flowline_gateway_poll_seconds", "device" => device)
            .record(took.as_secs_f64());
    }

    /// A periodic read started late.
    pub(crate) fn overrun(&self) {
        metrics::counter!("flowline_gateway_overruns_total", "device" => self.name.clone())
            .increment(1);
    }

    /// Samples were dropped because the publisher fell behind the server.
    pub(crate) fn dropped(&self, samples: u64) {
        metrics::counter!(
            "flowline_gateway_opcua_dropped_samples_total", "device" => self.name.clone()
        )
        .increment(samples);
        tracing::error!(
            device = self.name,
            samples,
            "samples dropped: the subscription delivered faster than the publisher took them"
        );
    }

    /// The publisher refused a batch; it is lost unless store-and-forward
    /// sits in front of the publisher.
    pub(crate) fn publish_failed(&self, error: &PublishError) {
        metrics::counter!("flowline_gateway_publish_failures_total", "device" => self.name.clone())
            .increment(1);
        tracing::error!(device = self.name, %error, "samples dropped: the publisher refused them");
    }

    /// A write finished; `outcome` is `confirmed` or why not.
    pub(crate) fn wrote(&self, node: &NodeAddress, outcome: Result<(), String>) {
        let label = if outcome.is_ok() {
            "confirmed"
        } else {
            "failed"
        };
        metrics::counter!(
            "flowline_gateway_opcua_writes_total", "device" => self.name.clone(), "outcome" => label
        )
        .increment(1);
        match outcome {
            Ok(()) => tracing::info!(device = self.name, node = %node, "write confirmed"),
            Err(reason) => tracing::warn!(device = self.name, node = %node, reason, "write failed"),
        }
    }

    /// The device task stopped on shutdown.
    pub(crate) fn stopped(&self) {
        metrics::gauge!("flowline_gateway_device_up", "device" => self.name.clone()).set(0.0);
        tracing::info!(device = self.name, "device task stopped");
    }
}

/// A browse of a server's address space finished.
pub(crate) fn browsed(endpoint: &str, nodes: usize, assets: usize, tags: usize, took: Duration) {
    tracing::info!(
        device = endpoint,
        nodes,
        assets,
        tags,
        took_ms = took.as_millis() as u64,
        "address space browsed"
    );
}

/// A browse stopped at its node limit.
pub(crate) fn browse_limit(endpoint: &str, limit: usize) {
    tracing::warn!(device = endpoint, limit, "browse stopped at its node limit");
}

/// Paths of trust-list files already reported as unreadable, so each is
/// reported once per process, not once per connection attempt.
static REPORTED_CERTIFICATES: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// A file in the trust list is not a certificate the gateway can read.
pub(crate) fn unreadable_certificate(path: &Path, reason: &str) {
    let shown = path.display().to_string();
    let mut reported = REPORTED_CERTIFICATES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if reported
        .get_or_insert_with(HashSet::new)
        .insert(shown.clone())
    {
        tracing::warn!(
            path = shown,
            reason,
            "file in the OPC UA trust list is ignored"
        );
    }
}
