//! Kafka's producers: idempotent sends, and transactions that commit
//! records and consumer offsets together.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::config::FromClientConfigAndContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header as KafkaHeader, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer as _};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::context::BusContext;
use super::{KafkaBus, KafkaConsumer, blocking, broker_error, events};
use crate::api::{Bus, CommitOffset, Producer, TransactionalProducer};
use crate::error::BusError;
use crate::partitioner::choose_partition;
use crate::record::RecordBatch;
use crate::topic::Topic;

/// How long a send waits before it tries again when librdkafka's queue is
/// full and none of its own records is pending.
const QUEUE_FULL_BACKOFF: Duration = Duration::from_millis(10);

/// The producer all of the bus's producers are.
type Client = FutureProducer<BusContext>;

/// Sends records outside transactions, idempotently; see [`Producer`].
/// A send returns once every record is acknowledged by all in-sync
/// replicas (`acks=all`).
#[derive(Clone)]
pub struct KafkaProducer {
    /// The bus.
    bus: KafkaBus,
    /// librdkafka's producer.
    client: Client,
}

impl std::fmt::Debug for KafkaProducer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("KafkaProducer")
            .finish_non_exhaustive()
    }
}

impl KafkaProducer {
    /// A producer for `bus` with `config`.
    pub(crate) fn new(bus: KafkaBus, config: &ClientConfig) -> Result<Self, BusError> {
        let context = BusContext::new("producer".to_owned(), bus.inner.names.clone());
        let client = Client::from_config_and_context(config, context)
            .map_err(|error| broker_error("make a producer", &error))?;
        Ok(KafkaProducer { bus, client })
    }
}

impl Producer for KafkaProducer {
    async fn send(&self, topic: Topic, records: &RecordBatch) -> Result<(), BusError> {
        let mut pending = VecDeque::with_capacity(records.len());
        let name = self.bus.topic_name(topic);
        enqueue(&self.bus, &self.client, topic, records, &mut pending).await?;
        while let Some(delivery) = pending.pop_front() {
            delivered(name, delivery).await?;
        }
        events::sent(topic, records.len());
        Ok(())
    }
}

/// Hands every record of `records` to librdkafka for `topic`, to the
/// partition the bus chooses, keeping each delivery in `pending`. When
/// librdkafka's queue is full, waits for the oldest pending delivery.
async fn enqueue(
    bus: &KafkaBus,
    client: &Client,
    topic: Topic,
    records: &RecordBatch,
    pending: &mut VecDeque<DeliveryFuture>,
) -> Result<(), BusError> {
    let name = bus.topic_name(topic);
    let partitions = bus.inner.partitions[topic.index()];
    for record in records.iter() {
        let partition = choose_partition(topic, record.partition, record.key, partitions)?;
        let mut headers = OwnedHeaders::new_with_capacity(2);
        for header in record.headers.iter() {
            headers = headers.insert(KafkaHeader {
                key: header.name,
                value: Some(header.value),
            });
        }
        let mut future_record = FutureRecord::to(name)
            .key(record.key)
            .payload(record.value)
            .partition(partition as i32)
            .timestamp(record.timestamp.as_micros().div_euclid(1000))
            .headers(headers);
        loop {
            match client.send_result(future_record) {
                Ok(delivery) => {
                    pending.push_back(delivery);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    future_record = back;
                    match pending.pop_front() {
                        Some(delivery) => delivered(name, delivery).await?,
                        None => tokio::time::sleep(QUEUE_FULL_BACKOFF).await,
                    }
                }
                Err((error, _)) => return Err(broker_error(&format!("send to {name}"), &error)),
            }
        }
    }
    Ok(())
}

/// Waits for one record's delivery to `name`.
async fn delivered(name: &str, delivery: DeliveryFuture) -> Result<(), BusError> {
    match delivery.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((error, _))) => Err(broker_error(&format!("send to {name}"), &error)),
        Err(_) => Err(BusError::Closed),
    }
}

/// Sends records and consumer offsets in Kafka transactions; see
/// [`TransactionalProducer`]. Made with `init_transactions`, which fences
/// any older producer with the same transactional id and aborts what it
/// left open.
pub struct KafkaTransactionalProducer {
    /// The bus.
    bus: KafkaBus,
    /// librdkafka's transactional producer.
    client: Client,
    /// Its transactional id.
    transactional_id: String,
    /// Deliveries of the open transaction's records not yet awaited.
    pending: VecDeque<DeliveryFuture>,
}

impl std::fmt::Debug for KafkaTransactionalProducer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("KafkaTransactionalProducer")
            .field("transactional_id", &self.transactional_id)
            .finish_non_exhaustive()
    }
}

impl KafkaTransactionalProducer {
    /// A transactional producer named `transactional_id` for `bus`, with
    /// `config`; waits for `init_transactions`.
    pub(crate) fn new(
        bus: KafkaBus,
        config: &ClientConfig,
        transactional_id: &str,
    ) -> Result<Self, BusError> {
        let context = BusContext::new(
            format!("transactional {transactional_id}"),
            bus.inner.names.clone(),
        );
        let client = Client::from_config_and_context(config, context)
            .map_err(|error| broker_error("make a transactional producer", &error))?;
        let producer = KafkaTransactionalProducer {
            bus,
            client,
            transactional_id: transactional_id.to_owned(),
            pending: VecDeque::new(),
        };
        producer
            .client
            .init_transactions(producer.bus.inner.timeout)
            .map_err(|error| producer.transaction_error("initialise transactions", &error))?;
        Ok(producer)
    }

    /// The error for a failed transactional call: fenced or fatal,
    /// abortable, or another broker error.
    fn transaction_error(&self, operation: &str, error: &KafkaError) -> BusError {
        let error = match error {
            KafkaError::Transaction(inner) if inner.is_fatal() => BusError::Fenced {
                transactional_id: self.transactional_id.clone(),
                reason: format!("{operation}: {}", inner.string()),
            },
            KafkaError::Transaction(inner) if inner.txn_requires_abort() => {
                BusError::TransactionAbortable {
                    transactional_id: self.transactional_id.clone(),
                    reason: format!("{operation}: {}", inner.string()),
                }
            }
            other => broker_error(&format!("{operation} of {}", self.transactional_id), other),
        };
        events::transaction_failed(&self.transactional_id, &error);
        error
    }

    /// Runs a transactional call that waits for a broker, retrying it
    /// while librdkafka says a retry may succeed, until the request
    /// timeout.
    async fn retrying(
        &self,
        operation: &str,
        call: impl Fn(&Client) -> Result<(), KafkaError> + Clone + Send + 'static,
    ) -> Result<(), BusError> {
        let deadline = tokio::time::Instant::now() + self.bus.inner.timeout;
        loop {
            let client = self.client.clone();
            let attempt = call.clone();
            match blocking(move || attempt(&client)).await {
                Ok(()) => return Ok(()),
                Err(KafkaError::Transaction(error))
                    if error.is_retriable() && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => return Err(self.transaction_error(operation, &error)),
            }
        }
    }

    /// Waits for the open transaction's deliveries; a refused record
    /// makes the transaction abortable.
    async fn await_deliveries(&mut self) -> Result<(), BusError> {
        while let Some(delivery) = self.pending.pop_front() {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((error, message))) => {
                    let error = BusError::TransactionAbortable {
                        transactional_id: self.transactional_id.clone(),
                        reason: format!(
                            "a record for {} was refused: {error}",
                            rdkafka::Message::topic(&message)
                        ),
                    };
                    events::transaction_failed(&self.transactional_id, &error);
                    self.pending.clear();
                    return Err(error);
                }
                Err(_) => return Err(BusError::Closed),
            }
        }
        Ok(())
    }
}

impl TransactionalProducer for KafkaTransactionalProducer {
    type Consumer = KafkaConsumer;

    fn begin(&mut self) -> Result<(), BusError> {
        self.client
            .begin_transaction()
            .map_err(|error| self.transaction_error("begin a transaction", &error))
    }

    async fn send(&mut self, topic: Topic, records: &RecordBatch) -> Result<(), BusError> {
        let mut pending = std::mem::take(&mut self.pending);
        let result = enqueue(&self.bus, &self.client, topic, records, &mut pending).await;
        self.pending = pending;
        result.map_err(|error| match error {
            BusError::Broker { reason, .. } => BusError::TransactionAbortable {
                transactional_id: self.transactional_id.clone(),
                reason,
            },
            other => other,
        })
    }

    async fn send_offsets(
        &mut self,
        consumer: &KafkaConsumer,
        offsets: &[CommitOffset],
    ) -> Result<(), BusError> {
        let list = Arc::new(offset_list(&self.bus, offsets)?);
        let metadata = Arc::new(consumer.group_metadata()?);
        let timeout = self.bus.inner.timeout;
        self.retrying("send offsets to the transaction", move |client| {
            client.send_offsets_to_transaction(&list, &metadata, timeout)
        })
        .await
    }

    async fn commit(&mut self) -> Result<(), BusError> {
        self.await_deliveries().await?;
        let timeout = self.bus.inner.timeout;
        self.retrying("commit the transaction", move |client| {
            client.commit_transaction(timeout)
        })
        .await?;
        events::transaction_ended(&self.transactional_id, "committed");
        Ok(())
    }

    async fn abort(&mut self) -> Result<(), BusError> {
        self.pending.clear();
        let timeout = self.bus.inner.timeout;
        self.retrying("abort the transaction", move |client| {
            client.abort_transaction(timeout)
        })
        .await?;
        events::transaction_ended(&self.transactional_id, "aborted");
        Ok(())
    }
}

/// `offsets` as librdkafka's list, with their metadata.
pub(crate) fn offset_list(
    bus: &KafkaBus,
    offsets: &[CommitOffset],
) -> Result<TopicPartitionList, BusError> {
    let mut list = TopicPartitionList::with_capacity(offsets.len());
    for offset in offsets {
        let tp = offset.partition;
        let partitions = bus.partitions(tp.topic);
        if tp.partition >= partitions {
            return Err(BusError::UnknownPartition {
                topic: tp.topic.base_name().to_owned(),
                partition: tp.partition,
                partitions,
            });
        }
        let at = i64::try_from(offset.offset).map_err(|_| BusError::OffsetOutOfRange {
            partition: tp,
            offset: offset.offset,
            earliest: 0,
            latest: i64::MAX as u64,
        })?;
        let mut element = list.add_partition(bus.topic_name(tp.topic), tp.partition as i32);
        element
            .set_offset(Offset::Offset(at))
            .map_err(|error| broker_error("build an offset list", &error))?;
        element.set_metadata(&offset.metadata);
    }
    Ok(list)
}
