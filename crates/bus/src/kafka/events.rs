//! Everything the Kafka backend logs and counts, in one place, including
//! what librdkafka itself reports (its log lines, errors and statistics).
//!
//! Metrics, labelled by `topic` and `partition` where they concern one:
//! - `flowline_bus_kafka_sent_records_total` (counter, by `topic`):
//!   records the brokers acknowledged outside transactions.
//! - `flowline_bus_transactions_total` (counter, by `outcome`: committed,
//!   aborted), as the embedded log counts them.
//! - `flowline_bus_consumer_lag` (gauge, also by `group`): records past a
//!   consumer's position, from librdkafka's statistics, as the embedded
//!   log reports it.
//! - `flowline_bus_kafka_client_errors_total` (counter, by `code`): errors
//!   librdkafka reported outside any call (a broker down, a failed login).
//! - `flowline_bus_kafka_queued_messages` (gauge, by `client`): messages
//!   waiting in a producer's queue.
//! - `flowline_bus_kafka_broker_rtt_us` (gauge, by `client` and `broker`):
//!   average round trip to each broker, in microseconds.
//!
//! librdkafka's warnings and errors are logged at most once per
//! [`REPEAT_INTERVAL`] for each kind (facility or error code), with the
//! count of those held back; a connection that stays down is logged when
//! it goes down and then every interval, not once per retry.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::Statistics;
use rdkafka::config::RDKafkaLogLevel;

use crate::topic::{Topic, TopicPartition};

/// Shortest time between two log lines of the same kind from one client.
pub(crate) const REPEAT_INTERVAL: Duration = Duration::from_secs(10);

/// Holds back repeated log lines: per kind, one line per
/// [`REPEAT_INTERVAL`], counting the others.
#[derive(Debug, Default)]
pub(crate) struct RateLimit {
    /// Per kind: when it was last logged and how many were held back
    /// since.
    last: Mutex<HashMap<String, (Instant, u64)>>,
}

impl RateLimit {
    /// Whether a line of `kind` may be logged now; if so, how many were
    /// held back before it.
    fn admit(&self, kind: &str) -> Option<u64> {
        let mut last = self
            .last
            .lock()
            .expect("bug: the rate limit's lock was poisoned");
        let now = Instant::now();
        match last.get_mut(kind) {
            Some((at, held)) if now.duration_since(*at) < REPEAT_INTERVAL => {
                *held += 1;
                None
            }
            Some((at, held)) => {
                *at = now;
                Some(std::mem::take(held))
            }
            None => {
                last.insert(kind.to_owned(), (now, 0));
                Some(0)
            }
        }
    }
}

/// The bus reached the cluster and found or created its topics.
pub(crate) fn connected(bootstrap_servers: &str, brokers: usize, created: &[String]) {
    tracing::info!(
        bootstrap_servers,
        brokers,
        created_topics = ?created,
        "bus: connected to kafka"
    );
}

/// A log line of librdkafka from `client`.
pub(crate) fn client_log(
    limit: &RateLimit,
    client: &str,
    level: RDKafkaLogLevel,
    facility: &str,
    message: &str,
) {
    let serious = matches!(
        level,
        RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error
            | RDKafkaLogLevel::Warning
    );
    if !serious {
        tracing::debug!(client, facility, message, "librdkafka");
        return;
    }
    let Some(held_back) = limit.admit(facility) else {
        return;
    };
    if matches!(level, RDKafkaLogLevel::Warning) {
        tracing::warn!(client, facility, message, held_back, "librdkafka");
    } else {
        tracing::error!(client, facility, message, held_back, "librdkafka");
    }
}

/// librdkafka reported an error outside any call: a broker went down, a
/// login failed, all brokers are unreachable.
pub(crate) fn client_error(limit: &RateLimit, client: &str, code: &str, error: &str) {
    metrics::counter!("flowline_bus_kafka_client_errors_total", "code" => code.to_owned())
        .increment(1);
    if let Some(held_back) = limit.admit(code) {
        tracing::warn!(client, code, %error, held_back, "bus: kafka client error");
    }
}

/// librdkafka's periodic statistics of `client`; `lag` is called with
/// each consumed partition's lag.
pub(crate) fn statistics(client: &str, statistics: &Statistics) {
    metrics::gauge!("flowline_bus_kafka_queued_messages", "client" => client.to_owned())
        .set(statistics.msg_cnt as f64);
    for broker in statistics.brokers.values() {
        if let Some(rtt) = &broker.rtt {
            metrics::gauge!(
                "flowline_bus_kafka_broker_rtt_us",
                "client" => client.to_owned(),
                "broker" => broker.name.clone(),
            )
            .set(rtt.avg as f64);
        }
    }
}

/// A consumer's lag in one partition.
pub(crate) fn lag(group: &str, tp: TopicPartition, lag: u64) {
    metrics::gauge!(
        "flowline_bus_consumer_lag",
        "group" => group.to_owned(),
        "topic" => tp.topic.base_name(),
        "partition" => tp.partition.to_string(),
    )
    .set(lag as f64);
}

/// The brokers acknowledged `records` records sent to `topic`.
pub(crate) fn sent(topic: Topic, records: usize) {
    metrics::counter!("flowline_bus_kafka_sent_records_total", "topic" => topic.base_name())
        .increment(records as u64);
}

/// The group gave a consumer partitions, or took them away.
pub(crate) fn rebalanced(group: &str, change: &'static str, partitions: &[TopicPartition]) {
    let partitions: Vec<String> = partitions.iter().map(ToString::to_string).collect();
    tracing::info!(group, change, ?partitions, "bus: consumer group rebalanced");
}

/// A transaction ended.
pub(crate) fn transaction_ended(transactional_id: &str, outcome: &'static str) {
    metrics::counter!("flowline_bus_transactions_total", "outcome" => outcome).increment(1);
    tracing::trace!(transactional_id, outcome, "bus: kafka transaction ended");
}

/// A transaction failed: it must be aborted, or the producer is fenced.
pub(crate) fn transaction_failed(transactional_id: &str, error: &crate::BusError) {
    tracing::warn!(transactional_id, %error, "bus: kafka transaction failed");
}
