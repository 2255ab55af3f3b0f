//! What librdkafka calls back into: its log lines, errors and statistics
//! (handed to `events`), and a consumer's rebalances (queued for
//! [`crate::Consumer::poll`] to report); and the partition ends a
//! consumer's lag is measured against.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::{ClientContext, Statistics, TopicPartitionList};
use tokio::sync::Notify;

use super::{TopicNames, events};
use crate::topic::TopicPartition;

/// A change of a consumer's assignment, waiting to be reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// The group gave these partitions.
    Assigned(Vec<TopicPartition>),
    /// The group took these partitions.
    Revoked(Vec<TopicPartition>),
}

/// The context of every client the bus makes.
pub(crate) struct BusContext {
    /// Names the client in logs and metrics: `producer`, `admin`,
    /// `consumer processor`, `transactional processor-0`.
    client: String,
    /// Topic names, to read partitions of callbacks.
    names: TopicNames,
    /// Holds back repeated log lines.
    limit: events::RateLimit,
    /// Rebalances not yet reported.
    changes: Mutex<VecDeque<Change>>,
    /// Woken when a rebalance is queued.
    changed: Notify,
    /// Each assigned partition's end (its last stable offset) as last
    /// looked up, and when.
    ends: Mutex<(HashMap<TopicPartition, u64>, Option<Instant>)>,
    /// Whether a lookup of the ends is under way.
    looking_up: AtomicBool,
}

impl BusContext {
    /// The context of the client named `client`.
    pub(crate) fn new(client: String, names: TopicNames) -> Self {
        BusContext {
            client,
            names,
            limit: events::RateLimit::default(),
            changes: Mutex::new(VecDeque::new()),
            changed: Notify::new(),
            ends: Mutex::new((HashMap::new(), None)),
            looking_up: AtomicBool::new(false),
        }
    }

    /// The oldest rebalance not yet reported.
    pub(crate) fn take_change(&self) -> Option<Change> {
        lock(&self.changes).pop_front()
    }

    /// Whether a rebalance waits to be reported.
    pub(crate) fn has_change(&self) -> bool {
        !lock(&self.changes).is_empty()
    }

    /// Resolves once a rebalance was queued since the last call.
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }

    /// The end of `partition` as last looked up, if it was.
    pub(crate) fn end(&self, partition: TopicPartition) -> Option<u64> {
        lock(&self.ends).0.get(&partition).copied()
    }

    /// Whether the ends should be looked up again: none is under way, and
    /// the last is older than `interval`. Marks a lookup as under way.
    pub(crate) fn start_lookup(&self, interval: Duration) -> bool {
        let due = lock(&self.ends)
            .1
            .is_none_or(|last| last.elapsed() >= interval);
        due && !self.looking_up.swap(true, Ordering::AcqRel)
    }

    /// Records the ends a lookup found, and that it is over.
    pub(crate) fn finish_lookup(&self, found: impl IntoIterator<Item = (TopicPartition, u64)>) {
        let mut ends = lock(&self.ends);
        ends.0.extend(found);
        ends.1 = Some(Instant::now());
        self.looking_up.store(false, Ordering::Release);
    }

    /// The partitions of `list` that are the bus's.
    fn partitions(&self, list: &TopicPartitionList) -> Vec<TopicPartition> {
        let mut partitions: Vec<TopicPartition> = list
            .elements()
            .iter()
            .filter_map(|element| self.names.partition(element.topic(), element.partition()))
            .collect();
        partitions.sort();
        partitions
    }

    /// Queues `change` and wakes a waiting poll.
    fn queue(&self, change: Change) {
        lock(&self.changes).push_back(change);
        self.changed.notify_one();
    }
}

impl ClientContext for BusContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, facility: &str, message: &str) {
        events::client_log(&self.limit, &self.client, level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let code = error
            .rdkafka_error_code()
            .map_or_else(|| "unknown".to_owned(), |code| format!("{code:?}"));
        events::client_error(&self.limit, &self.client, &code, reason);
    }

    fn stats(&self, statistics: Statistics) {
        events::statistics(&self.client, &statistics);
    }
}

impl ConsumerContext for BusContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            self.queue(Change::Revoked(self.partitions(list)));
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => self.queue(Change::Assigned(self.partitions(list))),
            Rebalance::Revoke(_) => {}
            Rebalance::Error(error) => {
                events::client_error(&self.limit, &self.client, "rebalance", &error.to_string());
            }
        }
    }
}

/// `mutex`, locked.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .expect("bug: a kafka context's lock was poisoned")
}
