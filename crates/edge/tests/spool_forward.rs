//! Store-and-forward in front of a bus that goes away and comes back: the
//! bus here is a channel behind a switch, a real publisher, not a mock.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use flowline_core::{Sample, TagId, Timestamp, Value};
use flowline_edge::{
    ChannelPublisher, ForwardConfig, FsyncMode, PublishError, SamplePublisher, Spool, SpoolConfig,
    StoreAndForward,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Samples in each test batch.
const BATCH: u64 = 5;

/// A bus that can be switched off: refuses every batch while down.
#[derive(Clone, Debug)]
struct SwitchedBus {
    /// Where accepted batches go.
    channel: ChannelPublisher,
    /// Whether the bus accepts batches.
    up: Arc<AtomicBool>,
}

impl SwitchedBus {
    /// A bus, up, and the receiver of what it accepts.
    fn new() -> (SwitchedBus, mpsc::Receiver<Vec<Sample>>) {
        let (channel, receiver) = ChannelPublisher::new(100_000);
        let up = Arc::new(AtomicBool::new(true));
        (SwitchedBus { channel, up }, receiver)
    }

    /// Switches the bus on or off.
    fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }
}

impl SamplePublisher for SwitchedBus {
    async fn publish(&self, samples: Vec<Sample>) -> Result<(), PublishError> {
        if !self.up.load(Ordering::SeqCst) {
            return Err(PublishError("bus switched off by the test".to_owned()));
        }
        self.channel.publish(samples).await
    }
}

/// Batch number `n`: `BATCH` samples whose values count up from
/// `n * BATCH`.
fn batch(n: u64) -> Vec<Sample> {
    (n * BATCH..(n + 1) * BATCH)
        .map(|value| {
            Sample::new(
                TagId(1),
                Timestamp::from_micros(value as i64),
                Value::Integer(value as i64),
            )
        })
        .collect()
}

/// The sample numbers of everything received so far.
fn drain(receiver: &mut mpsc::Receiver<Vec<Sample>>) -> Vec<u64> {
    let mut numbers = Vec::new();
    while let Ok(batch) = receiver.try_recv() {
        numbers.extend(batch.iter().map(|sample| match sample.value {
            Value::Integer(n) => n as u64,
            ref other => panic!("unexpected value {other:?}"),
        }));
    }
    numbers
}

/// Fast retries, so the tests do not wait long.
fn quick() -> ForwardConfig {
    ForwardConfig {
        publish_timeout_ms: 1_000,
        retry_initial_ms: 5,
        retry_max_ms: 40,
        forward_max_samples: 4 * BATCH as usize,
        ..ForwardConfig::default()
    }
}

/// Waits until `condition` holds, for at most ten seconds.
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    for _ in 0..1_000 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_spools_and_recovery_forwards_everything_in_order_once() {
    for fsync in [FsyncMode::Always, FsyncMode::Interval] {
        outage_and_recovery(SpoolConfig {
            fsync,
            fsync_interval_ms: 5,
            ..SpoolConfig::default()
        })
        .await;
    }
}

/// Publishes through an outage of the bus on a spool configured as
/// `spool_config`, and checks what arrives.
async fn outage_and_recovery(spool_config: SpoolConfig) {
    let dir = tempfile::tempdir().unwrap();
    let (bus, mut received) = SwitchedBus::new();
    let spool = Spool::open(dir.path(), spool_config).unwrap();
    let shutdown = CancellationToken::new();
    let publisher = StoreAndForward::start(bus.clone(), spool, quick(), shutdown.clone()).unwrap();

    for n in 0..5 {
        publisher.publish(batch(n)).await.unwrap();
    }
    assert!(!publisher.is_spooling());
    assert_eq!(
        drain(&mut received),
        (0..5 * BATCH).collect::<Vec<_>>(),
        "straight through"
    );

    bus.set_up(false);
    for n in 5..25 {
        publisher.publish(batch(n)).await.unwrap();
    }
    assert!(publisher.is_spooling());
    assert_eq!(publisher.spooled_samples(), 20 * BATCH);
    assert!(
        drain(&mut received).is_empty(),
        "nothing reaches a bus that is down"
    );

    bus.set_up(true);
    for n in 25..30 {
        publisher.publish(batch(n)).await.unwrap();
    }
    eventually("the spool is drained", || !publisher.is_spooling()).await;
    assert_eq!(publisher.spooled_samples(), 0);

    for n in 30..35 {
        publisher.publish(batch(n)).await.unwrap();
    }
    assert!(
        !publisher.is_spooling(),
        "publishing straight through again"
    );
    assert_eq!(
        drain(&mut received),
        (5 * BATCH..35 * BATCH).collect::<Vec<_>>(),
        "every batch once, in order, the spooled ones before those published after the bus \
         returned"
    );
    assert_eq!(publisher.dropped_samples(), 0);

    shutdown.cancel();
    publisher.stopped().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_that_times_out_is_spooled_and_forwarded_once_the_bus_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (stuck, mut received) = ChannelPublisher::new(1);
    let spool = Spool::open(dir.path(), SpoolConfig::default()).unwrap();
    let config = ForwardConfig {
        publish_timeout_ms: 50,
        ..quick()
    };
    let shutdown = CancellationToken::new();
    let publisher = StoreAndForward::start(stuck, spool, config, shutdown.clone()).unwrap();

    publisher.publish(batch(0)).await.unwrap();
    publisher.publish(batch(1)).await.unwrap();
    assert!(
        publisher.is_spooling(),
        "the full channel did not answer in time"
    );
    publisher.publish(batch(2)).await.unwrap();

    let mut numbers = Vec::new();
    while numbers.len() < 3 * BATCH as usize {
        let batch = tokio::time::timeout(Duration::from_secs(10), received.recv())
            .await
            .expect("the spooled batches arrive")
            .unwrap();
        numbers.extend(batch.iter().map(|sample| sample.time.as_micros() as u64));
    }
    assert_eq!(numbers, (0..3 * BATCH).collect::<Vec<_>>());
    eventually("the spool is drained", || !publisher.is_spooling()).await;
    assert!(received.try_recv().is_err(), "no batch arrives twice");

    shutdown.cancel();
    publisher.stopped().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_spooled_before_a_restart_are_forwarded_before_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut spool = Spool::open(dir.path(), SpoolConfig::default()).unwrap();
    for n in 0..3 {
        spool.append(&batch(n)).unwrap();
    }
    spool.close().unwrap();

    let (bus, mut received) = SwitchedBus::new();
    let spool = Spool::open(dir.path(), SpoolConfig::default()).unwrap();
    let shutdown = CancellationToken::new();
    let publisher = StoreAndForward::start(bus, spool, quick(), shutdown.clone()).unwrap();
    assert!(
        publisher.is_spooling(),
        "a spool that is not empty is drained first"
    );
    for n in 3..6 {
        publisher.publish(batch(n)).await.unwrap();
    }
    eventually("the spool is drained", || !publisher.is_spooling()).await;
    assert_eq!(drain(&mut received), (0..6 * BATCH).collect::<Vec<_>>());

    shutdown.cancel();
    publisher.stopped().await;
    drop(publisher);
    let spool = Spool::open(dir.path(), SpoolConfig::default()).unwrap();
    assert!(
        spool.is_empty(),
        "what was forwarded stays acknowledged across a restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_forwards_what_the_bus_will_take_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (bus, mut received) = SwitchedBus::new();
    let spool = Spool::open(dir.path(), SpoolConfig::default()).unwrap();
    let config = ForwardConfig {
        retry_initial_ms: 60_000,
        retry_max_ms: 60_000,
        ..quick()
    };
    let shutdown = CancellationToken::new();
    let publisher = StoreAndForward::start(bus.clone(), spool, config, shutdown.clone()).unwrap();

    bus.set_up(false);
    for n in 0..10 {
        publisher.publish(batch(n)).await.unwrap();
    }
    // The forwarder tries at once, fails, and pauses for a minute: only
    // the flush at shutdown can forward now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(publisher.spooled_samples(), 10 * BATCH);
    bus.set_up(true);
    shutdown.cancel();
    publisher.stopped().await;
    assert_eq!(drain(&mut received), (0..10 * BATCH).collect::<Vec<_>>());
    assert_eq!(publisher.spooled_samples(), 0);

    bus.set_up(false);
    publisher.publish(batch(10)).await.unwrap();
    drop(publisher);
    let mut spool = Spool::open(dir.path(), SpoolConfig::default()).unwrap();
    let left = spool.peek(usize::MAX).unwrap();
    assert_eq!(
        left.len(),
        1,
        "a batch spooled after shutdown waits for the next start"
    );
    assert_eq!(left[0].samples, batch(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_drops_the_oldest_and_forwards_the_rest_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (bus, mut received) = SwitchedBus::new();
    let spool_config = SpoolConfig {
        segment_bytes: 4096,
        max_bytes: 2 * 4096,
        ..SpoolConfig::default()
    };
    let spool = Spool::open(dir.path(), spool_config).unwrap();
    let shutdown = CancellationToken::new();
    let publisher = StoreAndForward::start(bus.clone(), spool, quick(), shutdown.clone()).unwrap();

    bus.set_up(false);
    let published = 200;
    for n in 0..published {
        publisher.publish(batch(n)).await.unwrap();
    }
    let dropped = publisher.dropped_samples();
    assert!(dropped > 0, "200 batches do not fit in 8 KiB");
    assert_eq!(publisher.spooled_samples() + dropped, published * BATCH);

    bus.set_up(true);
    eventually("the spool is drained", || !publisher.is_spooling()).await;
    assert_eq!(
        drain(&mut received),
        (dropped..published * BATCH).collect::<Vec<_>>(),
        "the oldest samples were dropped, the rest arrive once and in order"
    );

    shutdown.cancel();
    publisher.stopped().await;
}
