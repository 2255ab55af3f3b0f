//! The processor's loop: poll `raw-sensor-data`, run each partition's
//! pipeline, send the outputs in the open transaction, and commit them
//! with the offsets and checkpoints they correspond to.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::time::{Duration, Instant};

use flowline_bus::{
    Bus, BusConfig, BusError, CommitOffset, ConsumedBatch, Consumer, FsyncPolicy, OffsetReset,
    Polled, Topic, TopicPartition, TransactionalProducer,
};
use flowline_catalog::SnapshotHandle;
use flowline_core::{Sample, Timestamp};
use flowline_schemas::Codec;
use tokio_util::sync::CancellationToken;

use super::config::ProcessorConfig;
use super::emit::Outputs;
use super::error::ProcessorError;
use super::events::{self, DecodeLog};
use super::store::{CheckpointStore, Saved};
use crate::checkpoint::Checkpoint;
use crate::config::StreamConfig;
use crate::output::Output;
use crate::pipeline::Pipeline;

/// How long a poll waits for records when no transaction is open: how
/// soon a stop is noticed.
const IDLE_POLL: Duration = Duration::from_millis(100);

/// How long to wait before polling again after a poll failed in a way
/// that may pass (a broker restarting).
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// What the processor needs to know of the bus it runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusLimits {
    /// The most bytes of records a transaction may hold
    /// (`bus.max_transaction_bytes`). A transaction is committed once it
    /// holds half of this, so that one more poll's outputs always fit.
    pub transaction_bytes: u64,
    /// How long a commit that returned may still be taken back by a power
    /// cut: `bus.fsync_interval_ms` on the embedded log with `fsync =
    /// "interval"`, else zero. The checkpoint a commit supersedes is kept
    /// this long after it, so that the commit before stays restorable.
    pub durable_after: Duration,
}

impl BusLimits {
    /// The limits of the bus `config` describes.
    pub fn of(config: &BusConfig) -> Self {
        let durable_after = match (config.backend, config.fsync) {
            (flowline_bus::BusBackend::Embedded, FsyncPolicy::Interval) => {
                Duration::from_millis(config.fsync_interval_ms)
            }
            _ => Duration::ZERO,
        };
        BusLimits {
            transaction_bytes: config.max_transaction_bytes,
            durable_after,
        }
    }
}

/// One partition of `raw-sensor-data` the processor holds: its pipeline
/// and where it stands.
#[derive(Debug)]
struct Held {
    /// The partition.
    partition: TopicPartition,
    /// Its operators and their state.
    pipeline: Pipeline,
    /// The next offset to process: one past the last record processed.
    next: u64,
    /// Where it started when assigned, for a partition with nothing
    /// committed: where an abort takes it back to.
    start: u64,
    /// The checkpoint committed with its offset, if any.
    committed: Option<Saved>,
    /// Whether records were processed since the last commit.
    dirty: bool,
    /// Generations a commit superseded, with when: deleted once that
    /// commit is durable.
    superseded: VecDeque<(u64, Instant)>,
    /// This poll's samples of the partition, in offset order.
    samples: Vec<Sample>,
    /// Their origins: the bits of their records' correlation ids.
    origins: Vec<u128>,
    /// Their records' places in the poll's batch.
    sources: Vec<usize>,
}

impl Held {
    /// Where the partition resumes after an abort: its commit, or where
    /// it started.
    fn resume_offset(&self) -> u64 {
        self.committed.map_or(self.start, |saved| saved.generation)
    }
}

/// What has happened since the last commit.
#[derive(Debug, Default)]
struct Cycle {
    /// When its first record was processed; `None` while nothing is
    /// waiting to commit.
    started: Option<Instant>,
    /// Whether the producer's transaction has begun.
    begun: bool,
    /// Input records processed.
    input: u64,
    /// Records sent, per topic: processed-data, alerts, dlq.
    output: [u64; 3],
    /// Their estimated size.
    bytes: u64,
    /// Dead letters by reason.
    reasons: Vec<(&'static str, u64)>,
}

/// The processor service: reads `raw-sensor-data` in a consumer group
/// with one [`Pipeline`] per partition, and writes `processed-data`,
/// `alerts` and `dlq` exactly once (see the module documentation of
/// [`crate::service`]).
pub struct Processor<B: Bus> {
    /// Its settings.
    config: ProcessorConfig,
    /// The operators' settings, for new and restored pipelines.
    stream: StreamConfig,
    /// The bus's limits.
    limits: BusLimits,
    /// The catalog.
    snapshots: SnapshotHandle,
    /// Decodes raw samples.
    codec: Codec,
    /// Reads `raw-sensor-data`.
    consumer: B::Consumer,
    /// Writes the outputs and commits the offsets.
    producer: B::TransactionalProducer,
    /// The checkpoint files.
    store: CheckpointStore,
    /// The partitions held, by number.
    held: BTreeMap<u32, Held>,
    /// What waits to be committed.
    cycle: Cycle,
    /// The most records the next poll takes.
    poll_limit: u32,
    /// The poll's records.
    batch: ConsumedBatch,
    /// A pipeline's output for a poll, reused.
    output: Output,
    /// The poll's outputs, encoded.
    outputs: Outputs,
    /// Rate limits the logging of undecodable records.
    decode_log: DecodeLog,
}

impl<B: Bus> Processor<B> {
    /// A processor on `bus` with `config`, reading the catalog from
    /// `snapshots`, decoding and encoding with `codec`, keeping its
    /// checkpoints under `state_dir`. Makes its consumer (subscribed to
    /// `raw-sensor-data`) and its transactional producer; the partitions
    /// arrive once it runs.
    pub fn new(
        bus: &B,
        config: &ProcessorConfig,
        limits: BusLimits,
        state_dir: &Path,
        snapshots: SnapshotHandle,
        codec: Codec,
    ) -> Result<Self, ProcessorError> {
        let stream = config.stream_config();
        stream.validate()?;
        let mut consumer = bus.consumer(&config.group_id, OffsetReset::Earliest)?;
        consumer.subscribe(&[Topic::RawSensorData])?;
        let producer = bus.transactional_producer(&config.transactional_id)?;
        Ok(Processor {
            config: config.clone(),
            stream,
            limits,
            snapshots,
            outputs: Outputs::new(codec.clone()),
            codec,
            consumer,
            producer,
            store: CheckpointStore::new(state_dir, &config.group_id),
            held: BTreeMap::new(),
            cycle: Cycle::default(),
            poll_limit: config.batch_size,
            batch: ConsumedBatch::new(),
            output: Output::default(),
            decode_log: DecodeLog::default(),
        })
    }

    /// Processes until `shutdown` is cancelled, then commits what it has
    /// processed and returns. Returns early only when it cannot go on
    /// (see [`ProcessorError`]); what it committed stays committed.
    pub async fn run(mut self, shutdown: CancellationToken) -> Result<(), ProcessorError> {
        events::started(
            &self.config.group_id,
            &self.config.transactional_id,
            self.config.batch_size,
        );
        while !shutdown.is_cancelled() {
            self.step().await?;
        }
        self.commit().await?;
        events::stopped(&self.config.group_id);
        Ok(())
    }

    /// One poll and what it brought, then a commit if one is due.
    async fn step(&mut self) -> Result<(), ProcessorError> {
        let interval = Duration::from_millis(self.config.commit_interval_ms);
        let timeout = match self.cycle.started {
            Some(started) => interval
                .saturating_sub(started.elapsed())
                .max(Duration::from_millis(1)),
            None => IDLE_POLL,
        };
        let limit = self.poll_limit as usize;
        let polled = match self.consumer.poll(&mut self.batch, limit, timeout).await {
            Ok(polled) => polled,
            Err(BusError::Broker {
                retriable: true, ..
            }) => {
                tokio::time::sleep(RETRY_PAUSE).await;
                return Ok(());
            }
            Err(error) => return Err(error.into()),
        };
        match polled {
            Polled::Records(0) => {}
            Polled::Records(_) => self.process().await?,
            Polled::Assigned(partitions) => self.assign(&partitions).await?,
            Polled::Revoked(partitions) => self.revoke(&partitions).await?,
        }
        let lag = self.consumer.lag().iter().map(|(_, lag)| lag).sum();
        let in_transaction = self.cycle.output.iter().sum::<u64>() as usize;
        events::depths(self.batch.len(), in_transaction, self.cycle.bytes, lag);

        let due = self
            .cycle
            .started
            .is_some_and(|started| started.elapsed() >= interval)
            || self.cycle.bytes >= self.limits.transaction_bytes / 2;
        if due {
            self.commit().await?;
        }
        Ok(())
    }

    /// Decodes the poll's records, runs each partition's pipeline on its
    /// samples, and sends the outputs in the open transaction.
    async fn process(&mut self) -> Result<(), ProcessorError> {
        let snapshot = self.snapshots.load_full();
        let now = Timestamp::now();
        self.outputs.clear();

        // Fast path: decoding, straight into each partition's batch.
        for (index, record) in self.batch.iter().enumerate() {
            let held = self.held.get_mut(&record.partition).unwrap_or_else(|| {
                panic!(
                    "bug: a record of {} arrived before its assignment",
                    record.topic_partition()
                )
            });
            held.next = record.offset + 1;
            held.dirty = true;
            match self.codec.decode_record::<Sample>(&record) {
                Ok(decoded) => {
                    held.samples.push(decoded.value);
                    held.origins.push(decoded.correlation_id.to_bits());
                    held.sources.push(index);
                }
                Err(error) => {
                    let message = error.to_string();
                    events::undecodable(&mut self.decode_log, &record, error.reason(), &message);
                    self.outputs
                        .dead_letter(&record, error.reason(), &message, now)?;
                }
            }
        }

        for held in self.held.values_mut() {
            if held.samples.is_empty() {
                continue;
            }
            self.output.clear();
            held.pipeline
                .process_traced(&snapshot, &held.samples, &held.origins, &mut self.output);
            for sample in &self.output.processed {
                self.outputs.processed(sample, &snapshot)?;
            }
            for event in &self.output.events {
                self.outputs.alert(event, &snapshot)?;
            }
            for rejected in &self.output.rejected {
                let record = self
                    .batch
                    .get(held.sources[rejected.index])
                    .expect("bug: a rejected sample's record is in the poll");
                let message = rejected.reason.to_string();
                self.outputs
                    .dead_letter(&record, rejected.reason.label(), &message, now)?;
            }
            held.samples.clear();
            held.origins.clear();
            held.sources.clear();
        }
        self.send().await
    }

    /// Sends the poll's outputs in the open transaction, beginning one if
    /// needed. Outputs that do not fit make the processor go back to the
    /// last commit and poll fewer records.
    async fn send(&mut self) -> Result<(), ProcessorError> {
        let records = self.batch.len();
        self.cycle.started.get_or_insert_with(Instant::now);
        self.cycle.input += records as u64;
        if self.outputs.len() == 0 {
            return Ok(());
        }

        let bytes = self.outputs.bytes();
        let limit = self.limits.transaction_bytes;
        if bytes > limit.saturating_sub(self.cycle.bytes) {
            if records <= 1 {
                return Err(ProcessorError::OutputTooLarge {
                    records,
                    bytes,
                    limit,
                });
            }
            self.poll_limit = (records as u32 / 2).max(1);
            events::poll_shrunk(self.poll_limit, bytes, limit);
            return self
                .rewind("a poll's outputs do not fit in the transaction")
                .await;
        }

        if !self.cycle.begun {
            self.producer.begin()?;
            self.cycle.begun = true;
        }
        let mut failed = None;
        for (index, (topic, batch)) in self.outputs.batches().into_iter().enumerate() {
            if batch.is_empty() {
                continue;
            }
            if let Err(error) = self.producer.send(topic, batch).await {
                failed = Some(error);
                break;
            }
            self.cycle.output[index] += batch.len() as u64;
        }
        match failed {
            None => {}
            Some(error @ BusError::TransactionAbortable { .. }) => {
                return self.rewind(&error.to_string()).await;
            }
            Some(error) => return Err(error.into()),
        }
        self.cycle.bytes += bytes;
        for &(reason, count) in self.outputs.reasons() {
            match self
                .cycle
                .reasons
                .iter_mut()
                .find(|(known, _)| *known == reason)
            {
                Some((_, total)) => *total += count,
                None => self.cycle.reasons.push((reason, count)),
            }
        }
        Ok(())
    }

    /// Commits what was processed since the last commit: writes the
    /// checkpoint of every partition that moved, then sends its offset
    /// with the checkpoint's metadata and commits the transaction, so
    /// that outputs, offsets and state become durable together.
    async fn commit(&mut self) -> Result<(), ProcessorError> {
        if self.cycle.started.is_none() {
            return Ok(());
        }
        let began = Instant::now();
        // The partitions' checkpoints are written side by side.
        let mut writes = Vec::new();
        for held in self.held.values().filter(|held| held.dirty) {
            let bytes = held.pipeline.checkpoint().to_bytes();
            let store = self.store.clone();
            let (partition, generation) = (held.partition, held.next);
            let write =
                tokio::task::spawn_blocking(move || store.write(partition, generation, &bytes));
            writes.push((partition, write));
        }
        let mut saved = Vec::with_capacity(writes.len());
        for (partition, write) in writes {
            saved.push((partition, joined(write.await)?));
        }
        let offsets: Vec<CommitOffset> = saved
            .iter()
            .map(|(partition, saved)| CommitOffset {
                partition: *partition,
                offset: saved.generation,
                metadata: saved.metadata(),
            })
            .collect();

        if !self.cycle.begun {
            self.producer.begin()?;
            self.cycle.begun = true;
        }
        let result = match self.producer.send_offsets(&self.consumer, &offsets).await {
            Ok(()) => self.producer.commit().await,
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => {}
            Err(error @ BusError::TransactionAbortable { .. }) => {
                return self.rewind(&error.to_string()).await;
            }
            Err(error) => return Err(error.into()),
        }

        let now = Instant::now();
        for (partition, saved) in &saved {
            let held = self
                .held
                .get_mut(&partition.partition)
                .expect("bug: a committed partition is held");
            if let Some(old) = held.committed.replace(*saved) {
                held.superseded.push_back((old.generation, now));
            }
            held.dirty = false;
        }
        let cycle = std::mem::take(&mut self.cycle);
        events::committed(&events::Committed {
            input: cycle.input,
            output: [
                (Topic::ProcessedData.base_name(), cycle.output[0]),
                (Topic::Alerts.base_name(), cycle.output[1]),
                (Topic::Dlq.base_name(), cycle.output[2]),
            ],
            reasons: &cycle.reasons,
            checkpoint_bytes: saved.iter().map(|(_, saved)| saved.bytes).sum(),
            took: began.elapsed(),
        });
        self.poll_limit = self
            .poll_limit
            .saturating_mul(2)
            .min(self.config.batch_size);
        self.delete_superseded().await
    }

    /// Deletes the checkpoints superseded by commits that are durable by
    /// now.
    async fn delete_superseded(&mut self) -> Result<(), ProcessorError> {
        let mut due = Vec::new();
        for held in self.held.values_mut() {
            while let Some(&(generation, at)) = held.superseded.front() {
                if at.elapsed() < self.limits.durable_after {
                    break;
                }
                held.superseded.pop_front();
                due.push((held.partition, generation));
            }
        }
        if due.is_empty() {
            return Ok(());
        }
        let store = self.store.clone();
        blocking(move || {
            for (partition, generation) in due {
                store.remove(partition, generation)?;
            }
            Ok(())
        })
        .await
    }

    /// Aborts the open transaction (for `reason`) and takes every
    /// partition that moved since the last commit back to it: its state
    /// restored from the committed checkpoint, its position to the
    /// committed offset. The records since are processed again.
    async fn rewind(&mut self, reason: &str) -> Result<(), ProcessorError> {
        if self.cycle.begun {
            self.producer.abort().await?;
        }
        self.cycle = Cycle::default();
        let mut rewound = 0;
        for held in self.held.values_mut().filter(|held| held.dirty) {
            let (pipeline, _) =
                load(&self.store, &self.stream, held.partition, held.committed).await?;
            held.pipeline = pipeline;
            held.next = held.resume_offset();
            held.dirty = false;
            match self.consumer.seek(held.partition, held.next) {
                // A partition the group took away before this abort: its
                // new owner resumes from the commit anyway.
                Ok(()) | Err(BusError::NotAssigned { .. }) => {}
                Err(error) => return Err(error.into()),
            }
            rewound += 1;
        }
        events::aborted(reason, rewound);
        Ok(())
    }

    /// Takes the partitions of `raw-sensor-data` the group gave: each
    /// resumes from the checkpoint its committed offset names, at that
    /// offset.
    async fn assign(&mut self, partitions: &[TopicPartition]) -> Result<(), ProcessorError> {
        let new: Vec<TopicPartition> = partitions
            .iter()
            .copied()
            .filter(|tp| tp.topic == Topic::RawSensorData && !self.held.contains_key(&tp.partition))
            .collect();
        let committed = self.consumer.committed(&new).await?;
        for (partition, committed) in new.into_iter().zip(committed) {
            let position = self.consumer.position(partition);
            let (saved, start) = match committed {
                None => (None, position.unwrap_or(0)),
                Some(committed) if committed.metadata.is_empty() => {
                    events::no_checkpoint(&self.config.group_id, partition, committed.offset);
                    (None, committed.offset)
                }
                Some(committed) => {
                    let saved = Saved::parse(&committed.metadata)
                        .filter(|saved| saved.generation == committed.offset)
                        .ok_or_else(|| ProcessorError::UnknownMetadata {
                            partition,
                            offset: committed.offset,
                            metadata: committed.metadata.clone(),
                        })?;
                    (Some(saved), committed.offset)
                }
            };
            let (pipeline, bytes) = load(&self.store, &self.stream, partition, saved).await?;
            let store = self.store.clone();
            let keep = saved.map(|saved| saved.generation);
            let deleted = blocking(move || store.clean(partition, keep)).await?;
            events::checkpoints_deleted(partition, deleted);
            if position != Some(start) {
                self.consumer.seek(partition, start)?;
            }
            events::assigned(&self.config.group_id, partition, start, keep, bytes);
            self.held.insert(
                partition.partition,
                Held {
                    partition,
                    pipeline,
                    next: start,
                    start,
                    committed: saved,
                    dirty: false,
                    superseded: VecDeque::new(),
                    samples: Vec::new(),
                    origins: Vec::new(),
                    sources: Vec::new(),
                },
            );
        }
        events::partitions(self.held.len());
        Ok(())
    }

    /// Gives up partitions the group took away, after committing what was
    /// processed of them; their state stays in their checkpoints for the
    /// next owner.
    async fn revoke(&mut self, partitions: &[TopicPartition]) -> Result<(), ProcessorError> {
        self.commit().await?;
        for partition in partitions {
            if partition.topic == Topic::RawSensorData {
                self.held.remove(&partition.partition);
            }
        }
        events::revoked(&self.config.group_id, partitions);
        events::partitions(self.held.len());
        Ok(())
    }
}

/// A pipeline for `partition`: restored from the checkpoint `saved`
/// describes, or new without one; with the checkpoint's size.
async fn load(
    store: &CheckpointStore,
    stream: &StreamConfig,
    partition: TopicPartition,
    saved: Option<Saved>,
) -> Result<(Pipeline, usize), ProcessorError> {
    let Some(saved) = saved else {
        return Ok((Pipeline::new(stream.clone())?, 0));
    };
    let reader = store.clone();
    let bytes = blocking(move || reader.read(partition, &saved)).await?;
    let checkpoint =
        Checkpoint::from_bytes(&bytes).map_err(|source| ProcessorError::Checkpoint {
            partition,
            path: store.path(partition, saved.generation),
            source,
        })?;
    Ok((Pipeline::restore(stream.clone(), checkpoint)?, bytes.len()))
}

/// Runs file work on tokio's blocking threads, so that syncing a
/// checkpoint does not hold up the runtime's workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ProcessorError> + Send + 'static,
) -> Result<T, ProcessorError> {
    joined(tokio::task::spawn_blocking(work).await)
}

/// The outcome of work on a blocking thread; its panic goes on here.
fn joined<T>(
    outcome: Result<Result<T, ProcessorError>, tokio::task::JoinError>,
) -> Result<T, ProcessorError> {
    outcome.unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))
}
