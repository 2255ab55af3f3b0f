//! Kafka's consumer: a consumer group member reading committed records
//! only, whose rebalances come out of `poll`.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use flowline_core::Timestamp;
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::{CommitMode, Consumer as _, ConsumerGroupMetadata, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers as _, Message, OwnedMessage};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::context::{BusContext, Change};
use super::producer::offset_list;
use super::{KafkaBus, TopicNames, blocking, broker_error, events};
use crate::api::{CommitOffset, Committed, Consumer, OffsetReset, Polled};
use crate::error::BusError;
use crate::record::{ConsumedBatch, Header};
use crate::throttle::Throttle;
use crate::topic::{Topic, TopicPartition};

/// Shortest time between two reports of a consumer's lag.
const LAG_REPORT_INTERVAL: Duration = Duration::from_secs(1);

/// librdkafka's consumer, as the bus makes it.
type Client = StreamConsumer<BusContext>;

/// Reads committed records in a Kafka consumer group; see [`Consumer`]
/// and the module documentation of [`crate::kafka`].
pub struct KafkaConsumer {
    /// The bus.
    bus: KafkaBus,
    /// librdkafka's consumer; shared with calls on blocking threads.
    client: Arc<Client>,
    /// The group.
    group: String,
    /// What to do without a committed offset.
    reset: OffsetReset,
    /// Assigned partitions and the next offset to read from each.
    positions: BTreeMap<TopicPartition, u64>,
    /// A record that arrived together with a rebalance, kept until the
    /// rebalance is reported.
    held: Option<OwnedMessage>,
    /// When lag was last reported.
    lag_reported: Throttle,
}

impl std::fmt::Debug for KafkaConsumer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("KafkaConsumer")
            .field("group", &self.group)
            .field("positions", &self.positions)
            .finish_non_exhaustive()
    }
}

impl KafkaConsumer {
    /// A consumer of `group` for `bus` with `config`.
    pub(crate) fn new(
        bus: KafkaBus,
        config: &ClientConfig,
        group: &str,
        reset: OffsetReset,
    ) -> Result<Self, BusError> {
        let context = BusContext::new(format!("consumer {group}"), bus.inner.names.clone());
        let client = Client::from_config_and_context(config, context)
            .map_err(|error| broker_error(&format!("make a consumer of group {group}"), &error))?;
        Ok(KafkaConsumer {
            bus,
            client: Arc::new(client),
            group: group.to_owned(),
            reset,
            positions: BTreeMap::new(),
            held: None,
            lag_reported: Throttle::default(),
        })
    }

    /// The group's metadata, for a transaction's offsets.
    pub(crate) fn group_metadata(&self) -> Result<ConsumerGroupMetadata, BusError> {
        self.client
            .group_metadata()
            .ok_or_else(|| BusError::Broker {
                operation: format!("read the metadata of group {}", self.group),
                reason: "librdkafka has none for this consumer".to_owned(),
                retriable: false,
            })
    }

    /// Reports `change`: records the positions of assigned partitions, or
    /// forgets revoked ones.
    async fn report(&mut self, change: Change) -> Result<Polled, BusError> {
        match change {
            Change::Assigned(partitions) => {
                let client = Arc::clone(&self.client);
                let (names, group, reset, timeout) = self.lookup_settings();
                let starts = blocking(move || {
                    start_offsets(&client, &names, &group, reset, &partitions, timeout)
                })
                .await
                .map_err(|error| self.lookup_error(&error))??;
                let partitions: Vec<TopicPartition> = starts.iter().map(|s| s.0).collect();
                self.positions
                    .extend(starts.into_iter().map(|(tp, next, _)| (tp, next)));
                events::rebalanced(&self.group, "assigned", &partitions);
                Ok(Polled::Assigned(partitions))
            }
            Change::Revoked(partitions) => {
                for partition in &partitions {
                    self.positions.remove(partition);
                }
                let names = &self.bus.inner.names;
                if let Some(held) = &self.held {
                    let tp = names.partition(held.topic(), held.partition());
                    if tp.is_none_or(|tp| partitions.contains(&tp)) {
                        self.held = None;
                    }
                }
                events::rebalanced(&self.group, "revoked", &partitions);
                Ok(Polled::Revoked(partitions))
            }
        }
    }

    /// What a lookup of start offsets needs, owned for a blocking thread.
    fn lookup_settings(&self) -> (TopicNames, String, OffsetReset, Duration) {
        (
            self.bus.inner.names.clone(),
            self.group.clone(),
            self.reset,
            self.bus.inner.timeout,
        )
    }

    /// The error for a failed lookup of committed offsets.
    fn lookup_error(&self, error: &KafkaError) -> BusError {
        broker_error(
            &format!("fetch the committed offsets of group {}", self.group),
            error,
        )
    }

    /// Adds a record to `batch` and moves the position past it.
    fn take(&mut self, batch: &mut ConsumedBatch, message: &impl Message) {
        take_into(&self.bus.inner.names, &mut self.positions, batch, message);
    }

    /// Starts a lookup of the assigned partitions' ends (last stable
    /// offsets) on a blocking thread, unless one ran within
    /// [`LAG_REPORT_INTERVAL`] or is under way; [`Consumer::lag`] measures
    /// against what it finds.
    fn refresh_ends(&self) {
        let context = Arc::clone(self.client.context());
        if self.positions.is_empty() || !context.start_lookup(LAG_REPORT_INTERVAL) {
            return;
        }
        let client = Arc::clone(&self.client);
        let names = self.bus.inner.names.clone();
        let partitions: Vec<TopicPartition> = self.positions.keys().copied().collect();
        let timeout = self.bus.inner.timeout;
        tokio::task::spawn_blocking(move || {
            let found = partitions.into_iter().filter_map(|tp| {
                let name = names.name(tp.topic);
                let (_, high) = client
                    .fetch_watermarks(name, tp.partition as i32, timeout)
                    .ok()?;
                Some((tp, u64::try_from(high).ok()?))
            });
            let found: Vec<(TopicPartition, u64)> = found.collect();
            client.context().finish_lookup(found);
        });
    }

    /// Reports the lag of every assigned partition, at most once per
    /// [`LAG_REPORT_INTERVAL`].
    fn report_lag(&mut self) {
        if !self.lag_reported.due(LAG_REPORT_INTERVAL) {
            return;
        }
        for (tp, lag) in self.lag() {
            events::lag(&self.group, tp, lag);
        }
    }

    /// Waits up to `timeout` for a record or a rebalance: `Ok(None)` when
    /// a record was added to `batch`, `Ok(Some(..))` with what to return
    /// otherwise.
    async fn wait_first(
        &mut self,
        batch: &mut ConsumedBatch,
        timeout: Duration,
    ) -> Result<Option<Polled>, BusError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let client = Arc::clone(&self.client);
        loop {
            if let Some(change) = client.context().take_change() {
                return self.report(change).await.map(Some);
            }
            tokio::select! {
                biased;
                () = client.context().changed() => {}
                received = client.recv() => {
                    let message = received.map_err(|error| self.read_error(&error))?;
                    if client.context().has_change() {
                        self.held = Some(message.detach());
                        continue;
                    }
                    self.take(batch, &message);
                    return Ok(None);
                }
                () = tokio::time::sleep_until(deadline) => return Ok(Some(Polled::Records(0))),
            }
        }
    }

    /// The error for a failed read.
    fn read_error(&self, error: &KafkaError) -> BusError {
        broker_error(&format!("read for group {}", self.group), error)
    }
}

impl Consumer for KafkaConsumer {
    fn group(&self) -> &str {
        &self.group
    }

    fn subscribe(&mut self, topics: &[Topic]) -> Result<(), BusError> {
        let names: Vec<&str> = topics
            .iter()
            .map(|&topic| self.bus.inner.names.name(topic))
            .collect();
        self.client
            .subscribe(&names)
            .map_err(|error| broker_error(&format!("subscribe to {names:?}"), &error))
    }

    fn assign(&mut self, partitions: &[TopicPartition]) -> Result<(), BusError> {
        for &tp in partitions {
            let count = self.bus.inner.partitions[tp.topic.index()];
            if tp.partition >= count {
                return Err(BusError::UnknownPartition {
                    topic: tp.topic.base_name().to_owned(),
                    partition: tp.partition,
                    partitions: count,
                });
            }
        }
        let (names, group, reset, timeout) = self.lookup_settings();
        let starts = start_offsets(&self.client, &names, &group, reset, partitions, timeout)
            .map_err(|error| self.lookup_error(&error))??;
        let mut list = TopicPartitionList::with_capacity(starts.len());
        for (tp, _, offset) in &starts {
            list.add_partition_offset(names.name(tp.topic), tp.partition as i32, *offset)
                .map_err(|error| broker_error("build an assignment", &error))?;
        }
        self.client
            .assign(&list)
            .map_err(|error| broker_error(&format!("assign {partitions:?}"), &error))?;
        self.positions = starts.into_iter().map(|(tp, next, _)| (tp, next)).collect();
        self.held = None;
        Ok(())
    }

    fn assignment(&self) -> Vec<TopicPartition> {
        self.positions.keys().copied().collect()
    }

    async fn poll(
        &mut self,
        batch: &mut ConsumedBatch,
        max_records: usize,
        timeout: Duration,
    ) -> Result<Polled, BusError> {
        batch.clear();
        self.refresh_ends();
        if let Some(change) = self.client.context().take_change() {
            return self.report(change).await;
        }
        if max_records == 0 {
            return Ok(Polled::Records(0));
        }
        match self.held.take() {
            Some(held) => self.take(batch, &held),
            None => {
                if let Some(polled) = self.wait_first(batch, timeout).await? {
                    return Ok(polled);
                }
            }
        }

        // Fast path: take what librdkafka already holds, without waiting.
        let client = Arc::clone(&self.client);
        while batch.len() < max_records {
            let Some(received) = now_or_never(client.recv()) else {
                break;
            };
            let message = received.map_err(|error| self.read_error(&error))?;
            if client.context().has_change() {
                self.held = Some(message.detach());
                break;
            }
            self.take(batch, &message);
        }
        self.report_lag();
        Ok(Polled::Records(batch.len()))
    }

    fn seek(&mut self, partition: TopicPartition, offset: u64) -> Result<(), BusError> {
        if !self.positions.contains_key(&partition) {
            return Err(BusError::NotAssigned { partition });
        }
        let at = i64::try_from(offset).map_err(|_| BusError::OffsetOutOfRange {
            partition,
            offset,
            earliest: 0,
            latest: i64::MAX as u64,
        })?;
        let name = self.bus.inner.names.name(partition.topic);
        self.client
            .seek(
                name,
                partition.partition as i32,
                Offset::Offset(at),
                self.bus.inner.timeout,
            )
            .map_err(|error| broker_error(&format!("seek {partition} to {offset}"), &error))?;
        if let Some(held) = &self.held
            && self
                .bus
                .inner
                .names
                .partition(held.topic(), held.partition())
                == Some(partition)
        {
            self.held = None;
        }
        self.positions.insert(partition, offset);
        Ok(())
    }

    fn position(&self, partition: TopicPartition) -> Option<u64> {
        self.positions.get(&partition).copied()
    }

    async fn commit(&mut self, offsets: &[CommitOffset]) -> Result<(), BusError> {
        let list = offset_list(&self.bus, offsets)?;
        let client = Arc::clone(&self.client);
        blocking(move || client.commit(&list, CommitMode::Sync))
            .await
            .map_err(|error| {
                broker_error(&format!("commit offsets of group {}", self.group), &error)
            })
    }

    async fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<Vec<Option<Committed>>, BusError> {
        let client = Arc::clone(&self.client);
        let (names, _, _, timeout) = self.lookup_settings();
        let wanted = partitions.to_vec();
        blocking(move || committed_offsets(&client, &names, &wanted, timeout))
            .await
            .map_err(|error| self.lookup_error(&error))
    }

    fn lag(&self) -> Vec<(TopicPartition, u64)> {
        let context = self.client.context();
        self.positions
            .iter()
            .map(|(&tp, &next)| {
                (
                    tp,
                    context.end(tp).map_or(0, |end| end.saturating_sub(next)),
                )
            })
            .collect()
    }
}

/// Adds `message` to `batch` as a record of the bus and moves its
/// partition's position past it. A record of a topic that is not the
/// bus's is a bug: the consumer only ever reads the bus's topics.
fn take_into(
    names: &TopicNames,
    positions: &mut BTreeMap<TopicPartition, u64>,
    batch: &mut ConsumedBatch,
    message: &impl Message,
) {
    let tp = names
        .partition(message.topic(), message.partition())
        .expect("bug: a record of a topic the consumer never asked for");
    let offset = u64::try_from(message.offset()).expect("bug: a record without an offset");
    let timestamp = message
        .timestamp()
        .to_millis()
        .map_or(Timestamp::from_micros(0), Timestamp::from_millis);
    let headers = message.headers();
    let headers = headers.into_iter().flat_map(|headers| {
        headers.iter().map(|header| Header {
            name: header.key,
            value: header.value.unwrap_or_default(),
        })
    });
    batch.push_each(
        tp,
        offset,
        timestamp,
        message.key().unwrap_or_default(),
        message.payload().unwrap_or_default(),
        headers,
    );
    positions.insert(tp, offset + 1);
}

/// Where a consumer of `group` starts in each of `partitions`: the
/// group's committed offset, or where `reset` says. Returns each
/// partition, its next offset as a number, and the offset to hand to
/// librdkafka. Waits for the brokers.
#[allow(clippy::type_complexity)]
fn start_offsets(
    client: &Client,
    names: &TopicNames,
    group: &str,
    reset: OffsetReset,
    partitions: &[TopicPartition],
    timeout: Duration,
) -> Result<Result<Vec<(TopicPartition, u64, Offset)>, BusError>, KafkaError> {
    let committed = committed_offsets(client, names, partitions, timeout)?;
    let mut starts = Vec::with_capacity(partitions.len());
    for (&tp, committed) in partitions.iter().zip(committed) {
        let start = match (committed, reset) {
            (Some(committed), _) => (committed.offset, Offset::Offset(committed.offset as i64)),
            (None, OffsetReset::Error) => {
                return Ok(Err(BusError::NoCommittedOffset {
                    group: group.to_owned(),
                    partition: tp,
                }));
            }
            (None, reset) => {
                let (low, high) =
                    client.fetch_watermarks(names.name(tp.topic), tp.partition as i32, timeout)?;
                match reset {
                    OffsetReset::Earliest => (low.max(0) as u64, Offset::Beginning),
                    _ => (high.max(0) as u64, Offset::End),
                }
            }
        };
        starts.push((tp, start.0, start.1));
    }
    Ok(Ok(starts))
}

/// The committed offsets, with metadata, of `partitions` for the
/// client's group. Waits for the brokers.
fn committed_offsets(
    client: &Client,
    names: &TopicNames,
    partitions: &[TopicPartition],
    timeout: Duration,
) -> Result<Vec<Option<Committed>>, KafkaError> {
    let mut list = TopicPartitionList::with_capacity(partitions.len());
    for tp in partitions {
        list.add_partition(names.name(tp.topic), tp.partition as i32);
    }
    let found = client.committed_offsets(list, timeout)?;
    Ok(partitions
        .iter()
        .map(|tp| {
            let element = found.find_partition(names.name(tp.topic), tp.partition as i32)?;
            match element.offset() {
                Offset::Offset(offset) if offset >= 0 => Some(Committed {
                    offset: offset as u64,
                    metadata: element.metadata().to_owned(),
                }),
                _ => None,
            }
        })
        .collect())
}

/// Polls `future` once, without waiting: its output if it is ready.
fn now_or_never<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}
