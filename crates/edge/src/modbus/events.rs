//! Everything the Modbus connector logs and counts, in one place.
//!
//! Metrics, labelled by `device` (and `group`, `reason`):
//! - `flowline_gateway_device_up` (gauge): 1 while connected, 0 while down.
//! - `flowline_gateway_polls_total` (counter) and
//!   `flowline_gateway_poll_seconds` (histogram): polls and their duration.
//! - `flowline_gateway_samples_total`, `flowline_gateway_bad_samples_total`
//!   (counters): samples produced, and those without a value by reason.
//! - `flowline_gateway_overruns_total` (counter): polls that started late
//!   because the previous one took longer than the interval.
//!
//! A device that goes down is logged once when it goes down, then at most
//! once a minute with a count while it stays down, and once when it comes
//! back; likewise repeated read failures and bad values.

use std::net::SocketAddr;
use std::time::Duration;

use flowline_core::{Sample, TagId};
use tokio::time::Instant;

use super::plan::Read;
use super::quality::ReadFailure;
use crate::PublishError;

/// How often a persisting problem is logged again.
const REPEAT_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// What the connector knows and says about one device.
pub(crate) struct DeviceStatus {
    name: String,
    endpoint: SocketAddr,
    ever_connected: bool,
    down: Option<Outage>,
    read_problems: Repeated,
    value_problems: Repeated,
}

struct Outage {
    since: Instant,
    reason: String,
    failures: u64,
    last_logged: Instant,
}

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

impl DeviceStatus {
    pub(crate) fn new(name: String, endpoint: SocketAddr) -> Self {
        metrics::gauge!("flowline_gateway_device_up", "device" => name.clone()).set(0.0);
        DeviceStatus {
            name,
            endpoint,
            ever_connected: false,
            down: None,
            read_problems: Repeated::default(),
            value_problems: Repeated::default(),
        }
    }

    /// A connection was made.
    pub(crate) fn connected(&mut self) {
        metrics::gauge!("flowline_gateway_device_up", "device" => self.name.clone()).set(1.0);
        match self.down.take() {
            Some(outage) => tracing::info!(
                device = self.name,
                endpoint = %self.endpoint,
                down_for_s = outage.since.elapsed().as_secs(),
                failures = outage.failures,
                "device is back"
            ),
            None => {
                tracing::info!(device = self.name, endpoint = %self.endpoint, "device connected")
            }
        }
        self.ever_connected = true;
    }

    /// The connection failed or broke; returns the failure to give the
    /// points that could not be read.
    pub(crate) fn failed(&mut self, reason: &str) -> ReadFailure {
        metrics::gauge!("flowline_gateway_device_up", "device" => self.name.clone()).set(0.0);
        match &mut self.down {
            None => {
                let endpoint = self.endpoint;
                tracing::warn!(device = self.name, %endpoint, reason, "device is down");
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
                        endpoint = %self.endpoint,
                        reason,
                        failures = outage.failures,
                        down_for_s = outage.since.elapsed().as_secs(),
                        "device still down"
                    );
                }
            }
        }
        self.failure_while_down()
    }

    /// The failure for points polled while waiting to connect again.
    pub(crate) fn failure_while_down(&self) -> ReadFailure {
        let reason = self
            .down
            .as_ref()
            .map_or_else(String::new, |outage| outage.reason.clone());
        if self.ever_connected {
            ReadFailure::Communication(reason)
        } else {
            ReadFailure::NeverConnected(reason)
        }
    }

    /// A request failed while the connection stayed usable (an exception).
    pub(crate) fn read_failed(&mut self, read: &Read, failure: &ReadFailure) {
        let labels = [
            ("device", self.name.clone()),
            ("reason", failure.label().to_owned()),
        ];
        metrics::counter!("flowline_gateway_bad_samples_total", &labels)
            .increment(read.points.len() as u64);
        if matches!(failure, ReadFailure::Exception(_))
            && let Some(unlogged) = self.read_problems.should_log()
        {
            tracing::warn!(
                device = self.name,
                unit = read.unit,
                table = read.table.name(),
                start = read.start,
                count = read.count,
                %failure,
                unlogged,
                "read refused by the device"
            );
        }
    }

    /// A value could not be decoded.
    pub(crate) fn bad_value(&mut self, tag: TagId, failure: &ReadFailure) {
        let labels = [
            ("device", self.name.clone()),
            ("reason", failure.label().to_owned()),
        ];
        metrics::counter!("flowline_gateway_bad_samples_total", &labels).increment(1);
        if let Some(unlogged) = self.value_problems.should_log() {
            tracing::warn!(device = self.name, tag = tag.0, %failure, unlogged, "unusable value");
        }
    }

    /// A group was polled.
    pub(crate) fn polled(&self, group: &str, samples: &[Sample], took: Duration) {
        let labels = [("device", self.name.clone()), ("group", group.to_owned())];
        metrics::counter!("flowline_gateway_polls_total", &labels).increment(1);
        metrics::histogram!("flowline_gateway_poll_seconds", &labels).record(took.as_secs_f64());
        metrics::counter!("flowline_gateway_samples_total", "device" => self.name.clone())
            .increment(samples.len() as u64);
    }

    /// A poll started late.
    pub(crate) fn overrun(&self, group: &str) {
        let labels = [("device", self.name.clone()), ("group", group.to_owned())];
        metrics::counter!("flowline_gateway_overruns_total", &labels).increment(1);
    }

    /// The publisher refused a batch; it is lost unless store-and-forward
    /// sits in front of the publisher.
    pub(crate) fn publish_failed(&self, error: &PublishError) {
        metrics::counter!("flowline_gateway_publish_failures_total", "device" => self.name.clone())
            .increment(1);
        tracing::error!(device = self.name, %error, "samples dropped: the publisher refused them");
    }
}
