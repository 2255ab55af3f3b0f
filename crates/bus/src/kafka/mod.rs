//! The Kafka backend: the bus's traits over librdkafka (through
//! `rdkafka`), for running Flowline's services as separate processes on a
//! Kafka cluster.
//!
//! # How each call maps to Kafka
//!
//! - [`KafkaBus::connect`] reads the cluster's metadata and creates the
//!   five topics that are missing (`create_topics`), with the partitions
//!   and retention of `[bus]`; a topic with another partition count than
//!   configured is an error, since keys would land elsewhere than the
//!   configuration says.
//! - Producers are idempotent (`enable.idempotence`, `acks=all`): a
//!   retry after a lost acknowledgement never writes a record twice, and
//!   records of a partition stay in order. The partition is chosen by the
//!   bus ([`crate::partition_for_key`]) and passed explicitly, so a key
//!   lands where it lands on the embedded log. Headers go as Kafka
//!   headers, `correlation-id` first.
//! - Consumers read with `isolation.level=read_committed` and never commit
//!   on their own. [`Consumer::subscribe`] joins the group; librdkafka's
//!   rebalance callbacks come out of [`Consumer::poll`] as
//!   [`Polled::Assigned`] and [`Polled::Revoked`], before any record of an
//!   assigned partition. [`Consumer::assign`] takes partitions without
//!   the group, at the group's committed offsets.
//! - [`TransactionalProducer`] is Kafka's transactional producer:
//!   `init_transactions` when made (fencing any older producer with the
//!   same transactional id), then begin, send, `send_offsets_to_transaction`
//!   with the consumer's group metadata, commit or abort. Errors say what
//!   to do: [`BusError::TransactionAbortable`] (abort, seek back to the
//!   committed offsets, process again) or [`BusError::Fenced`] (drop the
//!   producer; another instance took over).
//! - Committed offsets carry their metadata (`OffsetAndMetadata`), so a
//!   processor's checkpoint reference commits with its offsets.
//!
//! # Differences from the embedded log
//!
//! - Timestamps: Kafka keeps milliseconds, so a record's microseconds are
//!   cut to the millisecond below.
//! - Lag ([`Consumer::lag`]) is the distance from the consumer's position
//!   to the partition's last stable offset as last looked up: each poll
//!   starts a lookup on a blocking thread when the last is a second old.
//!   It counts offsets, so transaction markers and aborted records count
//!   too; a partition not yet looked up has a lag of 0.
//! - Offsets within a partition are not contiguous: transaction markers
//!   take offsets of their own, so the offsets a consumer sees may skip.
//! - A revocation is reported after librdkafka gave the partitions up;
//!   an offset commit for them may then be refused, and inside a
//!   transaction that makes the transaction abortable. Exactly-once holds
//!   either way: the next owner starts from the last committed offsets.
//!
//! # Blocking calls
//!
//! Some of librdkafka's calls wait for a broker: making a transactional
//! producer (`init_transactions`), [`Consumer::assign`] (which looks up the
//! group's committed offsets) and [`Consumer::seek`]. They wait at most
//! `request_timeout_ms`; the async calls run such waits on tokio's
//! blocking threads. Consumers must be made inside a tokio runtime.

mod config;
mod consumer;
mod context;
mod events;
mod producer;

use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::config::FromClientConfigAndContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::metadata::Metadata;

use crate::api::{Bus, OffsetReset};
use crate::config::BusConfig;
use crate::error::BusError;
use crate::topic::{Topic, TopicPartition};

pub use config::{KafkaConfig, SaslMechanism, SecurityProtocol};
pub use consumer::KafkaConsumer;
pub use producer::{KafkaProducer, KafkaTransactionalProducer};

use context::BusContext;

#[cfg(doc)]
use crate::api::{Consumer, Polled, TransactionalProducer};

/// How long [`KafkaBus::connect`] waits, at most, for topics it created to
/// show in the cluster's metadata.
const TOPIC_CREATION_WAIT: Duration = Duration::from_secs(30);

/// A Kafka cluster carrying the bus: see the module documentation. Cheap
/// to clone; producers and consumers are made from it.
#[derive(Clone)]
pub struct KafkaBus {
    /// What its producers and consumers share.
    inner: Arc<Shared>,
}

impl std::fmt::Debug for KafkaBus {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("KafkaBus")
            .field("bootstrap_servers", &self.inner.bootstrap_servers)
            .field("names", &self.inner.names)
            .field("partitions", &self.inner.partitions)
            .finish_non_exhaustive()
    }
}

/// What a bus's clients share.
struct Shared {
    /// The settings every client starts from, the password included.
    client: ClientConfig,
    /// `bootstrap.servers`, for messages.
    bootstrap_servers: String,
    /// Topic names on the cluster.
    names: TopicNames,
    /// Partitions of each topic, by [`Topic::index`], as the cluster has
    /// them.
    partitions: [u32; Topic::ALL.len()],
    /// Longest wait for a broker's answer.
    timeout: Duration,
    /// `transaction.timeout.ms`.
    transaction_timeout_ms: u64,
}

/// The five topics' names on the cluster, with the prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicNames {
    /// By [`Topic::index`].
    names: [String; Topic::ALL.len()],
}

impl TopicNames {
    /// The names under `prefix`.
    fn new(prefix: &str) -> Self {
        TopicNames {
            names: Topic::ALL.map(|topic| topic.name_with(prefix)),
        }
    }

    /// The name of `topic`.
    pub(crate) fn name(&self, topic: Topic) -> &str {
        &self.names[topic.index()]
    }

    /// The topic named `name`, if it is one of the five.
    pub(crate) fn topic(&self, name: &str) -> Option<Topic> {
        Topic::ALL
            .into_iter()
            .find(|topic| self.names[topic.index()] == name)
    }

    /// The partition `partition` of the topic named `name`, if it is one
    /// of the five.
    pub(crate) fn partition(&self, name: &str, partition: i32) -> Option<TopicPartition> {
        let topic = self.topic(name)?;
        Some(TopicPartition::new(topic, u32::try_from(partition).ok()?))
    }
}

impl KafkaBus {
    /// Reaches the cluster `config.kafka` names, creates the topics that
    /// are missing (when `create_topics` says so) and checks that each
    /// has the configured partitions. `config.backend` is not consulted.
    pub async fn connect(config: &BusConfig) -> Result<KafkaBus, BusError> {
        let kafka = &config.kafka;
        let validated = BusConfig {
            backend: crate::config::BusBackend::Kafka,
            ..config.clone()
        };
        validated.validate()?;
        let password = kafka.password()?;
        let client = kafka.client_config(password.as_deref())?;
        let names = TopicNames::new(&config.prefix);
        let timeout = Duration::from_millis(kafka.request_timeout_ms);

        let admin: AdminClient<BusContext> = AdminClient::from_config_and_context(
            &client,
            BusContext::new("admin".to_owned(), names.clone()),
        )
        .map_err(|error| broker_error("make an admin client", &error))?;
        let admin = Arc::new(admin);
        let metadata = fetch_metadata(&admin, timeout).await?;
        let missing: Vec<Topic> = Topic::ALL
            .into_iter()
            .filter(|&topic| find_topic(&metadata, names.name(topic)).is_none())
            .collect();
        let mut created = Vec::new();
        if !missing.is_empty() {
            if !kafka.create_topics {
                let missing: Vec<&str> = missing.iter().map(|&t| names.name(t)).collect();
                return Err(BusError::config(
                    "kafka.create_topics",
                    format!(
                        "the cluster at {} lacks topics {missing:?}, and create_topics is false: \
                         create them or set create_topics = true",
                        kafka.bootstrap_servers
                    ),
                ));
            }
            created = create_topics(&admin, config, &names, &missing, timeout).await?;
        }

        let partitions = wait_for_partitions(&admin, config, &names, timeout).await?;
        events::connected(&kafka.bootstrap_servers, metadata.brokers().len(), &created);
        Ok(KafkaBus {
            inner: Arc::new(Shared {
                client,
                bootstrap_servers: kafka.bootstrap_servers.clone(),
                names,
                partitions,
                timeout,
                transaction_timeout_ms: kafka.transaction_timeout_ms,
            }),
        })
    }

    /// The name of `topic` on the cluster, with the prefix.
    pub fn topic_name(&self, topic: Topic) -> &str {
        self.inner.names.name(topic)
    }

    /// The settings of an idempotent producer.
    fn producer_config(&self) -> ClientConfig {
        let mut config = self.inner.client.clone();
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("partitioner", "murmur2_random");
        config
    }
}

impl Bus for KafkaBus {
    type Producer = KafkaProducer;
    type Consumer = KafkaConsumer;
    type TransactionalProducer = KafkaTransactionalProducer;

    fn producer(&self) -> Result<KafkaProducer, BusError> {
        KafkaProducer::new(self.clone(), &self.producer_config())
    }

    fn transactional_producer(
        &self,
        transactional_id: &str,
    ) -> Result<KafkaTransactionalProducer, BusError> {
        let mut config = self.producer_config();
        config.set("transactional.id", transactional_id).set(
            "transaction.timeout.ms",
            self.inner.transaction_timeout_ms.to_string(),
        );
        KafkaTransactionalProducer::new(self.clone(), &config, transactional_id)
    }

    fn consumer(&self, group: &str, reset: OffsetReset) -> Result<KafkaConsumer, BusError> {
        let mut config = self.inner.client.clone();
        let reset_name = match reset {
            OffsetReset::Earliest => "earliest",
            OffsetReset::Latest => "latest",
            OffsetReset::Error => "error",
        };
        config
            .set("group.id", group)
            .set("isolation.level", "read_committed")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .set("auto.offset.reset", reset_name);
        KafkaConsumer::new(self.clone(), &config, group, reset)
    }

    fn partitions(&self, topic: Topic) -> u32 {
        self.inner.partitions[topic.index()]
    }
}

/// The cluster's metadata, all topics.
async fn fetch_metadata(
    admin: &Arc<AdminClient<BusContext>>,
    timeout: Duration,
) -> Result<Metadata, BusError> {
    let admin = Arc::clone(admin);
    blocking(move || admin.inner().fetch_metadata(None, timeout))
        .await
        .map_err(|error| broker_error("read the cluster's metadata", &error))
}

/// The metadata of the topic named `name`, if the cluster has it.
fn find_topic<'a>(
    metadata: &'a Metadata,
    name: &str,
) -> Option<&'a rdkafka::metadata::MetadataTopic> {
    metadata
        .topics()
        .iter()
        .find(|topic| topic.name() == name && topic.error().is_none())
}

/// Creates `missing` with the partitions and retention of `config`;
/// returns their names. A topic someone else created meanwhile is fine.
async fn create_topics(
    admin: &AdminClient<BusContext>,
    config: &BusConfig,
    names: &TopicNames,
    missing: &[Topic],
    timeout: Duration,
) -> Result<Vec<String>, BusError> {
    // -1 asks the brokers for their default.replication.factor.
    let replication = match config.kafka.replication_factor {
        0 => -1,
        factor => i32::from(factor),
    };
    let settings: Vec<(Topic, String, String)> = missing
        .iter()
        .map(|&topic| {
            (
                topic,
                config.retention_bytes_of(topic).to_string(),
                config.retention_of(topic).as_millis().to_string(),
            )
        })
        .collect();
    let new_topics: Vec<NewTopic<'_>> = settings
        .iter()
        .map(|(topic, bytes, ms)| {
            NewTopic::new(
                names.name(*topic),
                config.partitions_of(*topic) as i32,
                TopicReplication::Fixed(replication),
            )
            .set("retention.bytes", bytes)
            .set("retention.ms", ms)
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(timeout));
    let results = admin
        .create_topics(&new_topics, &options)
        .await
        .map_err(|error| broker_error("create topics", &error))?;
    let mut created = Vec::new();
    for result in results {
        match result {
            Ok(name) => created.push(name),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(BusError::Broker {
                    operation: format!("create topic {name}"),
                    reason: code.to_string(),
                    retriable: false,
                });
            }
        }
    }
    Ok(created)
}

/// Waits until the cluster's metadata shows all five topics, and checks
/// their partition counts against `config`.
async fn wait_for_partitions(
    admin: &Arc<AdminClient<BusContext>>,
    config: &BusConfig,
    names: &TopicNames,
    timeout: Duration,
) -> Result<[u32; Topic::ALL.len()], BusError> {
    let deadline = tokio::time::Instant::now() + TOPIC_CREATION_WAIT;
    loop {
        let metadata = fetch_metadata(admin, timeout).await?;
        let found = Topic::ALL.map(|topic| {
            find_topic(&metadata, names.name(topic)).map(|found| found.partitions().len() as u32)
        });
        if let Some(missing) = Topic::ALL.into_iter().find(|t| found[t.index()].is_none()) {
            if tokio::time::Instant::now() >= deadline {
                return Err(BusError::Broker {
                    operation: format!("find topic {}", names.name(missing)),
                    reason: format!(
                        "it is not in the cluster's metadata {} s after it was created",
                        TOPIC_CREATION_WAIT.as_secs()
                    ),
                    retriable: true,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let mut partitions = [0; Topic::ALL.len()];
        for topic in Topic::ALL {
            let held = found[topic.index()].unwrap_or_default();
            let configured = config.partitions_of(topic);
            if held != configured {
                return Err(BusError::config(
                    config.partitions_key(topic),
                    format!(
                        "expected {configured} partitions of {} as configured, the cluster has \
                         {held}: keys would land elsewhere than the configuration says",
                        names.name(topic)
                    ),
                ));
            }
            partitions[topic.index()] = held;
        }
        return Ok(partitions);
    }
}

/// Runs a call that waits for a broker on tokio's blocking threads.
pub(crate) async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, KafkaError> + Send + 'static,
) -> Result<T, KafkaError> {
    tokio::task::spawn_blocking(call)
        .await
        .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))
}

/// The error for a failed client call.
pub(crate) fn broker_error(operation: &str, error: &KafkaError) -> BusError {
    let retriable = match error {
        KafkaError::Transaction(error) => error.is_retriable(),
        other => other.rdkafka_error_code().is_some_and(is_retriable_code),
    };
    BusError::Broker {
        operation: operation.to_owned(),
        reason: error.to_string(),
        retriable,
    }
}

/// Whether an error code says that the same call may succeed later.
fn is_retriable_code(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::OperationTimedOut
            | RDKafkaErrorCode::RequestTimedOut
            | RDKafkaErrorCode::AllBrokersDown
            | RDKafkaErrorCode::BrokerTransportFailure
            | RDKafkaErrorCode::QueueFull
            | RDKafkaErrorCode::LeaderNotAvailable
            | RDKafkaErrorCode::NotLeaderForPartition
            | RDKafkaErrorCode::NotCoordinator
            | RDKafkaErrorCode::CoordinatorNotAvailable
            | RDKafkaErrorCode::CoordinatorLoadInProgress
            | RDKafkaErrorCode::NotEnoughReplicas
            | RDKafkaErrorCode::NotEnoughReplicasAfterAppend
            | RDKafkaErrorCode::RebalanceInProgress
            | RDKafkaErrorCode::NetworkException
    )
}
