//! The embedded backend: a durable, segmented, append-only log on local
//! disk with Kafka's semantics, for running Flowline on one machine.
//!
//! # On disk
//!
//! ```text
//! data/bus/
//!   lock                                 held while a process has the log open
//!   control/00000000000000000003.seg     the control log: commits, group offsets
//!   flowline.raw-sensor-data-0/          one directory per topic partition
//!     00000000000000000000.seg           records from offset 0
//!     00000000000000000000.idx           its sparse index, once closed
//!     00000000000001234567.seg           the newest segment takes appends
//! ```
//!
//! The byte layouts are in `format.rs` and `crate::disk`.
//!
//! # What survives what
//!
//! - A send or commit that returned is durable as `fsync` says: with
//!   `always` it survives a power cut; with `interval` it survives a
//!   crash of the process and a power cut loses at most the last interval,
//!   whole transactions only.
//! - Consumers see a record only once it is synced (and, if written by a
//!   transaction, committed), so nothing is ever made from a record that a
//!   power cut takes back.
//! - A transaction's records are kept in memory until it commits, then
//!   written and committed under one lock: consumers never see part of
//!   one. A crash before its commit record leaves records without a
//!   commit at a partition's tail; opening the log cuts them, and any
//!   commit whose records a power cut lost, with every later commit.
//! - A torn tail (a record half written when the process died) is cut
//!   when the log opens and logged with file and offset. Damage a crash
//!   cannot explain is an error naming file and offset, and the log does
//!   not open: move the file aside or restore it.
//! - A transactional and a non-transactional producer may write the same
//!   partition: writes are serialised by the writer's lock, and a
//!   transaction's records stay contiguous.
//! - Retention deletes whole closed segments by size or age per topic,
//!   read or not, as Kafka does; a consumer left behind gets
//!   [`BusError::OffsetOutOfRange`] or moves as its [`OffsetReset`] says,
//!   and the move is logged and counted.

mod consumer;
mod control;
mod events;
mod format;
mod partition;
mod producer;
mod segment;
mod writer;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;

use crate::api::{Bus, OffsetReset};
use crate::config::{BusConfig, FsyncPolicy};
use crate::disk::{self, DiskError, FLAG_INTERVAL_SYNC};
use crate::error::BusError;
use crate::topic::{Topic, TopicPartition};

pub use consumer::EmbeddedConsumer;
pub use producer::{EmbeddedProducer, EmbeddedTransactionalProducer};

use control::ControlLog;
use partition::Partition;
use writer::Writer;

/// Name of the lock file in the log's directory.
const LOCK_FILE: &str = "lock";
/// Name of the control log's directory.
const CONTROL_DIR: &str = "control";
/// How often the sync thread applies retention by age.
const RETENTION_CHECK_INTERVAL: Duration = Duration::from_secs(60);
/// How long the sync thread sleeps, with nothing asked of it, before it
/// looks for work anyway.
const IDLE_WAKE: Duration = Duration::from_millis(500);

/// The embedded log, open: see the module documentation. Cheap to clone;
/// clones share the log, which closes (with a final sync) when the last
/// one, and every producer and consumer, is dropped.
#[derive(Debug, Clone)]
pub struct EmbeddedBus {
    /// Stops the sync thread when the last handle goes; dropped before
    /// `inner`, so that the thread's reference is gone when `inner` is
    /// dropped and the log closes at once.
    _sync_thread: Arc<SyncThread>,
    /// The shared state.
    inner: Arc<Inner>,
}

/// The sync thread, stopped and joined when dropped.
#[derive(Debug)]
struct SyncThread {
    /// Wakes the thread.
    signal: Arc<Signal>,
    /// The thread, until joined.
    handle: Option<thread::JoinHandle<()>>,
}

impl Drop for SyncThread {
    fn drop(&mut self) {
        self.signal.stop();
        if let Some(handle) = self.handle.take() {
            // A panic on the thread is a bug it has already reported.
            let _ = handle.join();
        }
    }
}

/// Where each topic's partitions are in the flat list of partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Index of each topic's first partition, by [`Topic::index`].
    starts: [usize; Topic::ALL.len()],
    /// Partitions of each topic.
    counts: [u32; Topic::ALL.len()],
}

impl Layout {
    /// The layout of the partitions `config` asks for.
    fn of(config: &BusConfig) -> Layout {
        let counts = Topic::ALL.map(|topic| config.partitions_of(topic));
        let mut starts = [0; Topic::ALL.len()];
        for index in 1..starts.len() {
            starts[index] = starts[index - 1] + counts[index - 1] as usize;
        }
        Layout { starts, counts }
    }

    /// Partitions of `topic`.
    pub(crate) fn partitions(&self, topic: Topic) -> u32 {
        self.counts[topic.index()]
    }

    /// Index of `partition`, which exists, in the flat list.
    pub(crate) fn index(&self, partition: TopicPartition) -> usize {
        self.starts[partition.topic.index()] + partition.partition as usize
    }

    /// Every partition, in the order of the flat list.
    fn all(&self) -> impl Iterator<Item = TopicPartition> + '_ {
        Topic::ALL.into_iter().flat_map(move |topic| {
            (0..self.partitions(topic)).map(move |partition| TopicPartition::new(topic, partition))
        })
    }
}

/// What the log's handles share.
#[derive(Debug)]
struct Inner {
    /// The log's directory.
    dir: PathBuf,
    /// Its configuration, validated.
    config: BusConfig,
    /// Where each topic's partitions are in `partitions`.
    layout: Layout,
    /// Every partition.
    partitions: Vec<Arc<Partition>>,
    /// The writer.
    writer: Mutex<Writer>,
    /// Counts what became visible: consumers wait for it to change.
    published: watch::Sender<u64>,
    /// How far the sync thread has synced.
    synced: watch::Sender<Synced>,
    /// Wakes the sync thread.
    signal: Arc<Signal>,
    /// Held open for its lock while the log is open.
    _lock: File,
}

/// How far the sync thread has synced: writes up to `ticket`, or it
/// failed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Synced {
    /// Every write with a ticket up to this is durable and visible.
    ticket: u64,
    /// Why syncing failed, if it did; the log then takes no more writes.
    failure: Option<String>,
}

/// Wakes the sync thread: a request to sync now, or to stop.
#[derive(Debug, Default)]
struct Signal {
    /// (sync requested, stop requested).
    state: Mutex<(bool, bool)>,
    /// Notified when either is set.
    condvar: Condvar,
}

impl Signal {
    /// Asks for a sync as soon as possible.
    fn request_sync(&self) {
        self.lock().0 = true;
        self.condvar.notify_one();
    }

    /// Asks the thread to stop.
    fn stop(&self) {
        self.lock().1 = true;
        self.condvar.notify_one();
    }

    /// Waits until a sync is requested, `timeout` passes, or a stop is
    /// requested; returns whether to stop. Clears the request.
    fn wait(&self, timeout: Duration) -> bool {
        let state = self.lock();
        let (mut state, _) = self
            .condvar
            .wait_timeout_while(state, timeout, |(sync, stop)| !*sync && !*stop)
            .expect("bug: the sync signal's lock was poisoned");
        state.0 = false;
        state.1
    }

    /// The state, locked.
    fn lock(&self) -> MutexGuard<'_, (bool, bool)> {
        self.state
            .lock()
            .expect("bug: the sync signal's lock was poisoned")
    }
}

impl EmbeddedBus {
    /// Opens the log in `dir`, creating it if needed, and recovers it:
    /// cuts torn tails and uncommitted transactions, verifies the newest
    /// segment of every partition, and starts its sync thread. Needs a
    /// tokio runtime only for its async calls. `config.dir` is not
    /// consulted: the caller resolves it ([`BusConfig::dir_under`]).
    pub fn open(dir: impl AsRef<Path>, config: BusConfig) -> Result<EmbeddedBus, BusError> {
        let started = Instant::now();
        config.validate()?;
        let dir = dir.as_ref().to_owned();
        fs::create_dir_all(&dir).map_err(|error| DiskError::io("create", &dir, error))?;
        let lock = disk::lock_dir(&dir, LOCK_FILE)?;
        let flags = match config.fsync {
            FsyncPolicy::Always => 0,
            FsyncPolicy::Interval => FLAG_INTERVAL_SYNC,
        };
        let layout = Layout::of(&config);
        check_partition_counts(&dir, &config)?;

        let (mut control, commits) = ControlLog::open(dir.join(CONTROL_DIR), flags)?;
        let mut partitions = Vec::new();
        for tp in layout.all() {
            let name = partition_dir_name(&config.prefix, tp);
            partitions.push(Arc::new(Partition::open(dir.join(name), tp, flags)?));
        }
        control.keep(commits, |tp| {
            (tp.partition < layout.partitions(tp.topic))
                .then(|| partitions[layout.index(tp)].written_end())
        })?;
        for partition in &partitions {
            recover_partition(partition, &control)?;
        }

        let records: u64 = partitions
            .iter()
            .map(|partition| partition.written_end() - partition.log_start())
            .sum();
        events::opened(&dir, partitions.len(), records, started.elapsed());
        let writer = Writer::new(
            dir.clone(),
            config.clone(),
            flags,
            layout,
            partitions.clone(),
            control,
        );
        let inner = Arc::new(Inner {
            dir,
            config,
            layout,
            partitions,
            writer: Mutex::new(writer),
            published: watch::Sender::new(0),
            synced: watch::Sender::new(Synced::default()),
            signal: Arc::new(Signal::default()),
            _lock: lock,
        });
        let sync_thread = start_sync_thread(&inner)?;
        Ok(EmbeddedBus {
            _sync_thread: Arc::new(sync_thread),
            inner,
        })
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Syncs everything written so far and makes it visible, whatever the
    /// fsync policy; returns once done.
    pub async fn flush(&self) -> Result<(), BusError> {
        let ticket = self.inner.writer().ticket();
        self.inner.wait_synced(ticket).await
    }

    /// Applies retention now, as the log does after each segment roll and
    /// every minute.
    pub fn enforce_retention(&self) -> Result<(), BusError> {
        self.inner.writer().enforce_retention(SystemTime::now())
    }

    /// The oldest offset `partition` holds and one past its last visible
    /// record.
    pub fn offsets(&self, partition: TopicPartition) -> Result<(u64, u64), BusError> {
        let partition = self.inner.partition(partition)?;
        Ok((partition.log_start(), partition.visible_end()))
    }
}

impl Bus for EmbeddedBus {
    type Producer = EmbeddedProducer;
    type Consumer = EmbeddedConsumer;
    type TransactionalProducer = EmbeddedTransactionalProducer;

    fn producer(&self) -> Result<EmbeddedProducer, BusError> {
        Ok(EmbeddedProducer::new(self.clone()))
    }

    fn transactional_producer(
        &self,
        transactional_id: &str,
    ) -> Result<EmbeddedTransactionalProducer, BusError> {
        Ok(EmbeddedTransactionalProducer::new(
            self.clone(),
            transactional_id,
        ))
    }

    fn consumer(&self, group: &str, reset: OffsetReset) -> Result<EmbeddedConsumer, BusError> {
        Ok(EmbeddedConsumer::new(self.clone(), group, reset))
    }

    fn partitions(&self, topic: Topic) -> u32 {
        self.inner.layout.partitions(topic)
    }
}

impl Inner {
    /// The writer, locked.
    fn writer(&self) -> MutexGuard<'_, Writer> {
        self.writer
            .lock()
            .expect("bug: the writer's lock was poisoned")
    }

    /// `partition`, if it exists.
    fn partition(&self, partition: TopicPartition) -> Result<&Arc<Partition>, BusError> {
        let partitions = self.layout.partitions(partition.topic);
        if partition.partition >= partitions {
            return Err(BusError::UnknownPartition {
                topic: partition.topic.base_name().to_owned(),
                partition: partition.partition,
                partitions,
            });
        }
        Ok(&self.partitions[self.layout.index(partition)])
    }

    /// Waits until the write with `ticket` is durable and visible, as the
    /// fsync policy says: with `always` until it is synced, with
    /// `interval` not at all.
    async fn settle(&self, ticket: u64) -> Result<(), BusError> {
        match self.config.fsync {
            FsyncPolicy::Always => self.wait_synced(ticket).await,
            FsyncPolicy::Interval => Ok(()),
        }
    }

    /// Asks for a sync and waits until the write with `ticket` is synced.
    async fn wait_synced(&self, ticket: u64) -> Result<(), BusError> {
        let mut synced = self.synced.subscribe();
        self.signal.request_sync();
        let result = synced
            .wait_for(|synced| synced.ticket >= ticket || synced.failure.is_some())
            .await;
        match result.map(|synced| synced.failure.clone()) {
            Ok(None) => Ok(()),
            Ok(Some(reason)) => Err(BusError::Broken {
                dir: self.dir.clone(),
                reason,
            }),
            Err(_) => Err(BusError::Closed),
        }
    }

    /// Syncs what was written since the last round and makes it visible.
    fn sync_round(&self) {
        let work = self.writer().take_sync_work();
        let mut files = work.segments.len();
        let mut result: Result<(), DiskError> = Ok(());
        for (_, segment, _) in &work.segments {
            result = result.and_then(|()| {
                segment
                    .file
                    .sync_data()
                    .map_err(|error| DiskError::io("sync", &segment.path, error))
            });
        }
        if let Some((file, path)) = &work.control {
            files += 1;
            result = result.and_then(|()| {
                file.sync_data()
                    .map_err(|error| DiskError::io("sync", path, error))
            });
        }
        events::fsynced(files);

        if let Err(error) = result {
            // The kernel may have dropped the pages it could not write, so
            // nothing after them can be trusted until the log reopens.
            let reason = error.to_string();
            events::broken(&self.dir, &reason);
            self.writer().broken = Some(reason.clone());
            self.synced
                .send_modify(|synced| synced.failure = Some(reason));
            return;
        }
        for (partition, _, end) in &work.segments {
            partition.publish(*end);
        }
        if !work.segments.is_empty() {
            self.published.send_modify(|count| *count += 1);
        }
        self.synced
            .send_modify(|synced| synced.ticket = synced.ticket.max(work.ticket));
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.sync_round();
    }
}

/// Starts the thread that syncs `inner` as its policy says and applies
/// retention every [`RETENTION_CHECK_INTERVAL`], until it is stopped.
fn start_sync_thread(inner: &Arc<Inner>) -> Result<SyncThread, BusError> {
    let signal = Arc::clone(&inner.signal);
    let interval = inner.config.sync_interval();
    let thread_inner = Arc::clone(inner);
    let handle = thread::Builder::new()
        .name("flowline-bus-sync".to_owned())
        .spawn(move || {
            let inner = thread_inner;
            let mut last_retention = Instant::now();
            loop {
                let stop = inner.signal.wait(interval.unwrap_or(IDLE_WAKE));
                inner.sync_round();
                if last_retention.elapsed() >= RETENTION_CHECK_INTERVAL {
                    last_retention = Instant::now();
                    if let Err(error) = inner.writer().enforce_retention(SystemTime::now()) {
                        events::retention_failed(&error);
                    }
                }
                if stop {
                    return;
                }
            }
        })
        .map_err(|error| DiskError::io("start the sync thread of", &inner.dir, error))?;
    Ok(SyncThread {
        signal,
        handle: Some(handle),
    })
}

/// Cuts the records of `partition` that a transaction wrote after its
/// last commit, syncs what stays and makes it visible.
fn recover_partition(partition: &Partition, control: &ControlLog) -> Result<(), BusError> {
    let committed_end = control.state.ends.get(&partition.tp).copied().unwrap_or(0);
    if let Some(first) = partition.first_uncommitted(committed_end)? {
        let end = partition.written_end();
        partition.truncate(first)?;
        events::uncommitted_cut(partition.tp, first, end - first);
    }
    let newest = partition.newest();
    newest
        .file
        .sync_data()
        .map_err(|error| DiskError::io("sync", &newest.path, error))?;
    partition.publish(partition.written_end());
    Ok(())
}

/// The directory of `partition` under `prefix`: `flowline.alerts-0`.
fn partition_dir_name(prefix: &str, partition: TopicPartition) -> String {
    format!(
        "{}-{}",
        partition.topic.name_with(prefix),
        partition.partition
    )
}

/// Refuses a configuration with fewer partitions of a topic than the log
/// in `dir` holds: their records would be lost from view.
fn check_partition_counts(dir: &Path, config: &BusConfig) -> Result<(), BusError> {
    for topic in Topic::ALL {
        let configured = config.partitions_of(topic);
        let mut held = configured;
        while dir
            .join(partition_dir_name(
                &config.prefix,
                TopicPartition::new(topic, held),
            ))
            .is_dir()
        {
            held += 1;
        }
        if held > configured {
            return Err(BusError::config(
                config.partitions_key(topic),
                format!(
                    "expected at least {held} partitions of {}, as the log in {} holds; \
                     partitions can be added but not removed, found {configured}",
                    topic.name_with(&config.prefix),
                    dir.display()
                ),
            ));
        }
    }
    Ok(())
}
