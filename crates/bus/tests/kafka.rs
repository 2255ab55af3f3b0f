//! What the Kafka backend does beyond the shared behaviour: fencing and
//! abortable transactions, idempotent retries, consumer group rebalances,
//! and the checks it makes of the cluster on connecting. Against
//! librdkafka's mock cluster, whose brokers fail requests on demand.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::brokers::{Mock, kafka_config};
use common::{numbered, read_expecting};
use flowline_bus::{
    Bus, BusError, ConsumedBatch, Consumer, KafkaBus, OffsetReset, Polled, Producer, Topic,
    TopicConfig, TopicPartition, TransactionalProducer,
};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

/// How long the mock cluster needs at most to show a record to a new
/// consumer.
const SETTLE: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_the_broker_says_is_fenced_fails_for_good_with_a_fenced_error() {
    // The mock cluster gives a second producer with the same
    // transactional id a new producer id rather than fencing the first, so
    // the broker's verdict is injected.
    let mock = Mock::new(1);
    let bus = mock.bus(&kafka_config(&mock.bootstrap(), 2)).await;
    let mut producer = bus.transactional_producer("processor-0").unwrap();
    producer.begin().unwrap();
    producer
        .send(Topic::ProcessedData, &numbered(0..5))
        .await
        .unwrap();
    mock.cluster.request_errors(
        RDKafkaApiKey::EndTxn,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_PRODUCER_FENCED],
    );

    let error = producer.commit().await.unwrap_err();
    assert!(
        matches!(&error, BusError::Fenced { transactional_id, .. } if transactional_id == "processor-0"),
        "{error}"
    );
    assert!(
        matches!(producer.begin(), Err(BusError::Fenced { .. })),
        "a fenced producer stays fenced"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_the_broker_refuses_must_be_aborted_and_the_next_one_commits() {
    let mock = Mock::new(1);
    let bus = mock.bus(&kafka_config(&mock.bootstrap(), 2)).await;
    let mut producer = bus.transactional_producer("processor-1").unwrap();
    mock.cluster.request_errors(
        RDKafkaApiKey::AddPartitionsToTxn,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED],
    );

    producer.begin().unwrap();
    let sent = producer.send(Topic::Alerts, &numbered(0..3)).await;
    let committed = match sent {
        Ok(()) => producer.commit().await,
        Err(error) => Err(error),
    };
    let error = committed.unwrap_err();
    assert!(
        matches!(&error, BusError::TransactionAbortable { transactional_id, .. } if transactional_id == "processor-1"),
        "{error}"
    );
    assert!(error.to_string().contains("abort it"), "{error}");

    producer.abort().await.unwrap();
    producer.begin().unwrap();
    producer
        .send(Topic::Alerts, &numbered(10..13))
        .await
        .unwrap();
    producer.commit().await.unwrap();
    let numbers: BTreeSet<u64> = read_expecting(&bus, Topic::Alerts, 3, SETTLE)
        .await
        .iter()
        .map(|read| read.number)
        .collect();
    assert!((10..13).all(|n| numbers.contains(&n)), "{numbers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_retries_through_broker_errors_and_writes_each_record_once_in_order() {
    let mock = Mock::new(1);
    let bus = mock.bus(&kafka_config(&mock.bootstrap(), 1)).await;
    let producer = bus.producer().unwrap();
    producer
        .send(Topic::RawSensorData, &numbered(0..10))
        .await
        .unwrap();
    mock.cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
        ],
    );
    producer
        .send(Topic::RawSensorData, &numbered(10..200))
        .await
        .unwrap();

    let read = read_expecting(&bus, Topic::RawSensorData, 200, SETTLE).await;
    let mut numbers: Vec<u64> = read.iter().map(|read| read.number).collect();
    assert_eq!(numbers.len(), 200, "every record once");
    let in_offset_order = numbers.clone();
    numbers.sort_unstable();
    assert_eq!(numbers, (0..200).collect::<Vec<_>>());
    assert_eq!(in_offset_order, numbers, "in the order sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_consumers_of_a_group_share_the_partitions_and_hear_of_the_rebalance() {
    let mock = Mock::new(1);
    let mut config = kafka_config(&mock.bootstrap(), 4);
    for (key, value) in [
        ("session.timeout.ms", "6000"),
        ("heartbeat.interval.ms", "500"),
        ("max.poll.interval.ms", "10000"),
    ] {
        config
            .kafka
            .properties
            .insert(key.to_owned(), value.to_owned());
    }
    let bus = mock.bus(&config).await;
    let all: Vec<TopicPartition> = (0..4)
        .map(|p| TopicPartition::new(Topic::RawSensorData, p))
        .collect();

    let mut first = bus.consumer("share", OffsetReset::Earliest).unwrap();
    first.subscribe(&[Topic::RawSensorData]).unwrap();
    let mut batch = ConsumedBatch::new();
    assert_eq!(
        news(&mut first, &mut batch, Duration::from_secs(15)).await,
        Some(Polled::Assigned(all.clone()))
    );

    let mut second = bus.consumer("share", OffsetReset::Earliest).unwrap();
    second.subscribe(&[Topic::RawSensorData]).unwrap();
    let mut other = ConsumedBatch::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut revoked = false;
    let shared = |first: &flowline_bus::KafkaConsumer, second: &flowline_bus::KafkaConsumer| {
        let mut shared = first.assignment();
        shared.extend(second.assignment());
        shared.sort();
        shared
    };
    loop {
        let settled = revoked
            && !first.assignment().is_empty()
            && !second.assignment().is_empty()
            && shared(&first, &second) == all;
        if settled || Instant::now() >= deadline {
            break;
        }
        let held = first.assignment();
        if let Some(Polled::Revoked(partitions)) =
            news(&mut first, &mut batch, Duration::from_millis(100)).await
        {
            assert_eq!(partitions, held, "a member gives up what it had");
            revoked = true;
        }
        news(&mut second, &mut other, Duration::from_millis(100)).await;
    }
    assert!(revoked, "the first member heard of the rebalance");
    assert!(!first.assignment().is_empty() && !second.assignment().is_empty());
    assert_eq!(
        shared(&first, &second),
        all,
        "together they hold every partition once"
    );
}

/// The first rebalance or record a consumer reports within `timeout`.
async fn news<C: Consumer>(
    consumer: &mut C,
    batch: &mut ConsumedBatch,
    timeout: Duration,
) -> Option<Polled> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        match consumer
            .poll(batch, 100, Duration::from_millis(50))
            .await
            .unwrap()
        {
            Polled::Records(0) => {}
            polled => return Some(polled),
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_to_a_cluster_without_the_topics_names_create_topics_when_it_is_off() {
    let mock = Mock::new(1);
    let mut config = kafka_config(&mock.bootstrap(), 2);
    config.kafka.create_topics = false;
    let error = KafkaBus::connect(&config).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with("invalid bus configuration: kafka.create_topics: the cluster at "),
        "{message}"
    );
    assert!(
        message.contains(&Topic::RawSensorData.name_with(&config.prefix)),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_with_other_partitions_than_configured_is_refused_by_its_key() {
    let mock = Mock::new(1);
    let config = kafka_config(&mock.bootstrap(), 2);
    mock.bus(&config).await;

    let mut other = config.clone();
    other.topics.insert(
        "alerts".to_owned(),
        TopicConfig {
            partitions: Some(5),
            ..TopicConfig::default()
        },
    );
    let error = KafkaBus::connect(&other).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "invalid bus configuration: topics.alerts.partitions: expected 5 partitions of \
             {}alerts as configured, the cluster has 2: keys would land elsewhere than the \
             configuration says",
            config.prefix
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_nobody_answers_at_is_a_retriable_broker_error() {
    let mut config = kafka_config("127.0.0.1:1", 1);
    config.kafka.request_timeout_ms = 1000;
    let error = KafkaBus::connect(&config).await.unwrap_err();
    assert!(
        matches!(&error, BusError::Broker { retriable: true, operation, .. }
            if operation == "read the cluster's metadata"),
        "{error:?}"
    );
}
