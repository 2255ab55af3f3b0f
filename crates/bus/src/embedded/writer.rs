//! The one writer of the embedded log: appends batches and transactions
//! to partitions, commits to the control log, rolls segments, applies
//! retention, and hands the sync thread what it must sync.
//!
//! Every write of the whole log goes through this one lock, so a commit
//! is never interleaved with another write to its partitions: its records
//! are contiguous, and nothing follows them until its commit record is
//! written. That is what lets recovery cut an uncommitted transaction by
//! cutting a partition's tail.
//!
//! LIMITATION: appends and commits of all partitions are serialised by
//! this lock; one writer does well over what the pipeline needs (see
//! bench/README.md), and syncs happen outside it.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::api::Committed;
use crate::config::BusConfig;
use crate::disk::DiskError;
use crate::error::BusError;
use crate::partitioner::choose_partition;
use crate::record::RecordBatch;
use crate::topic::{Topic, TopicPartition};

use super::Layout;
use super::control::ControlLog;
use super::events;
use super::format::{TRANSACTIONAL, encode_record, record_len};
use super::partition::Partition;
use super::segment::{FIRST_RECORD, Segment};

/// The writer: see the module documentation.
#[derive(Debug)]
pub(crate) struct Writer {
    /// The log's directory.
    pub(crate) dir: PathBuf,
    /// Its configuration, validated.
    config: BusConfig,
    /// Flags of the segments it creates.
    flags: u16,
    /// Where each topic's partitions are in `partitions`.
    layout: Layout,
    /// Every partition.
    partitions: Vec<Arc<Partition>>,
    /// The control log.
    pub(crate) control: ControlLog,
    /// Why writes are refused, after a failure that could not be undone.
    pub(crate) broken: Option<String>,
    /// Partitions written since the last sync, by index.
    dirty: Vec<usize>,
    /// Whether the control log was written since the last sync.
    control_dirty: bool,
    /// Counts writes; the sync thread reports up to which it synced.
    ticket: u64,
    /// Reused: records encoded for one partition.
    encode: Vec<u8>,
    /// Reused: the partition of each record of a batch.
    chosen: Vec<u32>,
    /// Reused: record indices of a batch, grouped by partition.
    order: Vec<u32>,
    /// Reused: per partition of a topic, where its records start in
    /// `order` and how many bytes they take.
    runs: Vec<(usize, u64)>,
}

/// What one write changed in a partition, to undo it.
#[derive(Debug, Clone, Copy)]
struct Mark {
    /// The partition, by index.
    index: usize,
    /// Its written end before.
    end: u64,
    /// Bytes of its newest segment before.
    bytes: u64,
}

/// What the sync thread must sync: the segments written since the last
/// sync, the control log, and what becomes visible once they are.
#[derive(Debug, Default)]
pub(crate) struct SyncWork {
    /// The write count this work covers.
    pub(crate) ticket: u64,
    /// Each written partition, its newest segment, and its written end.
    pub(crate) segments: Vec<(Arc<Partition>, Arc<Segment>, u64)>,
    /// The control log's file, if it was written.
    pub(crate) control: Option<(Arc<File>, PathBuf)>,
}

impl Writer {
    /// The writer of `partitions`, laid out as `layout`, and `control`.
    pub(crate) fn new(
        dir: PathBuf,
        config: BusConfig,
        flags: u16,
        layout: Layout,
        partitions: Vec<Arc<Partition>>,
        control: ControlLog,
    ) -> Writer {
        Writer {
            dir,
            config,
            flags,
            layout,
            partitions,
            control,
            broken: None,
            dirty: Vec::new(),
            control_dirty: false,
            ticket: 0,
            encode: Vec::new(),
            chosen: Vec::new(),
            order: Vec::new(),
            runs: Vec::new(),
        }
    }

    /// Appends `batch` to `topic` outside a transaction. Returns the
    /// write's ticket for the sync thread.
    pub(crate) fn send(&mut self, topic: Topic, batch: &RecordBatch) -> Result<u64, BusError> {
        self.check_usable()?;
        let mut marks = Vec::new();
        let result = self.write_batch(topic, batch, 0, &mut marks);
        self.finish(result, &marks)
    }

    /// Writes a transaction: its batches, then its commit record with
    /// `offsets`. On failure nothing of it stays. Returns the write's
    /// ticket for the sync thread.
    pub(crate) fn commit(
        &mut self,
        transactional_id: &str,
        batches: &[(Topic, RecordBatch)],
        offsets: &[(String, TopicPartition, Committed)],
    ) -> Result<u64, BusError> {
        self.check_usable()?;
        let mut marks = Vec::new();
        let mut result = Ok(());
        for (topic, batch) in batches {
            result = self.write_batch(*topic, batch, TRANSACTIONAL, &mut marks);
            if result.is_err() {
                break;
            }
        }
        if result.is_ok() {
            let ends: Vec<(TopicPartition, u64)> = marks
                .iter()
                .map(|mark| {
                    let partition = &self.partitions[mark.index];
                    (partition.tp, partition.written_end())
                })
                .collect();
            result = self.append_control(transactional_id, &ends, offsets);
        }
        let ticket = self.finish(result, &marks)?;
        if self.control.wants_snapshot() {
            self.snapshot_control()?;
        }
        Ok(ticket)
    }

    /// Commits `offsets` outside a transaction. Returns the write's
    /// ticket for the sync thread.
    pub(crate) fn commit_offsets(
        &mut self,
        offsets: &[(String, TopicPartition, Committed)],
    ) -> Result<u64, BusError> {
        self.commit("", &[], offsets)
    }

    /// The group's committed offset of `partition`.
    pub(crate) fn committed(&self, group: &str, partition: TopicPartition) -> Option<Committed> {
        self.control
            .state
            .offsets
            .get(&(group.to_owned(), partition))
            .cloned()
    }

    /// The ticket of the latest write: waiting for it waits for every
    /// write so far.
    pub(crate) fn ticket(&self) -> u64 {
        self.ticket
    }

    /// Takes what was written since the last call, for the sync thread.
    pub(crate) fn take_sync_work(&mut self) -> SyncWork {
        let segments = self
            .dirty
            .drain(..)
            .map(|index| {
                let partition = Arc::clone(&self.partitions[index]);
                let segment = partition.newest();
                let end = segment.state().end;
                (partition, segment, end)
            })
            .collect();
        let control = std::mem::take(&mut self.control_dirty).then(|| self.control.file());
        SyncWork {
            ticket: self.ticket,
            segments,
            control,
        }
    }

    /// Deletes the oldest closed segments of every partition beyond its
    /// topic's retention by size or age, `now` being the current time.
    pub(crate) fn enforce_retention(&mut self, now: SystemTime) -> Result<(), BusError> {
        for index in 0..self.partitions.len() {
            self.enforce_retention_of(index, now)?;
        }
        Ok(())
    }

    /// Refuses writes after a failure that could not be undone.
    fn check_usable(&self) -> Result<(), BusError> {
        match &self.broken {
            None => Ok(()),
            Some(reason) => Err(BusError::Broken {
                dir: self.dir.clone(),
                reason: reason.clone(),
            }),
        }
    }

    /// Ends a write: on success counts it and returns its ticket; on
    /// failure cuts what it wrote, and breaks the writer if that fails.
    fn finish(&mut self, result: Result<(), BusError>, marks: &[Mark]) -> Result<u64, BusError> {
        if let Err(error) = result {
            for mark in marks {
                let partition = &self.partitions[mark.index];
                if let Err(undo) = partition.newest().cut(mark.end, mark.bytes) {
                    let reason = format!("cannot undo a failed write to {}: {undo}", partition.tp);
                    events::broken(&self.dir, &reason);
                    self.broken = Some(reason);
                }
            }
            return Err(error);
        }
        self.ticket += 1;
        Ok(self.ticket)
    }

    /// Writes `batch` to `topic`, each record to its partition, with
    /// frame meta `meta`; notes in `marks` what it changed.
    fn write_batch(
        &mut self,
        topic: Topic,
        batch: &RecordBatch,
        meta: u32,
        marks: &mut Vec<Mark>,
    ) -> Result<(), BusError> {
        self.group_by_partition(topic, batch)?;
        let limit = self.config.segment_bytes - FIRST_RECORD;
        for (partition, &(_, bytes)) in self.runs.iter().enumerate() {
            if bytes > limit {
                return Err(BusError::BatchTooLarge {
                    partition: TopicPartition::new(topic, partition as u32),
                    records: self
                        .chosen
                        .iter()
                        .filter(|&&p| p == partition as u32)
                        .count(),
                    bytes,
                    limit,
                });
            }
        }
        for partition in 0..self.runs.len() {
            let (start, bytes) = self.runs[partition];
            let end = self
                .runs
                .get(partition + 1)
                .map_or(self.order.len(), |run| run.0);
            if start < end {
                let index = self
                    .layout
                    .index(TopicPartition::new(topic, partition as u32));
                self.write_run(index, batch, start..end, bytes, meta, marks)?;
            }
        }
        Ok(())
    }

    /// Chooses each record's partition and groups the records by it in
    /// `order`, with each partition's run and bytes in `runs`.
    ///
    /// Fast path: a counting sort into reused buffers.
    fn group_by_partition(&mut self, topic: Topic, batch: &RecordBatch) -> Result<(), BusError> {
        let partitions = self.layout.partitions(topic);
        let (records, data) = batch.packed();
        self.chosen.clear();
        self.runs.clear();
        self.runs.resize(partitions as usize, (0, 0));
        for &(packed, explicit) in records {
            let key = &data[packed.start..packed.start + packed.key_len as usize];
            let partition = choose_partition(topic, explicit, key, partitions)?;
            self.chosen.push(partition);
            let run = &mut self.runs[partition as usize];
            run.0 += 1;
            run.1 += record_len(packed);
        }
        let mut start = 0;
        for run in &mut self.runs {
            let count = run.0;
            run.0 = start;
            start += count;
        }
        self.order.clear();
        self.order.resize(records.len(), 0);
        let mut next: Vec<usize> = self.runs.iter().map(|run| run.0).collect();
        for (record, &partition) in self.chosen.iter().enumerate() {
            let slot = &mut next[partition as usize];
            self.order[*slot] = record as u32;
            *slot += 1;
        }
        Ok(())
    }

    /// Writes the records `order[run]` of `batch`, `bytes` together, to
    /// partition `index`: rolls its segment first if they do not fit,
    /// then writes them with one call.
    fn write_run(
        &mut self,
        index: usize,
        batch: &RecordBatch,
        run: std::ops::Range<usize>,
        bytes: u64,
        meta: u32,
        marks: &mut Vec<Mark>,
    ) -> Result<(), BusError> {
        let partition = Arc::clone(&self.partitions[index]);
        let mut segment = partition.newest();
        let full = {
            let state = segment.state();
            state.end > segment.base && state.bytes + bytes > self.config.segment_bytes
        };
        if full {
            segment = self.roll(index)?;
        }
        let (position, first) = {
            let state = segment.state();
            (state.bytes, state.end)
        };

        let (records, data) = batch.packed();
        self.encode.clear();
        for (offset, &record) in (first..).zip(&self.order[run.clone()]) {
            encode_record(
                &mut self.encode,
                offset,
                records[record as usize].0,
                data,
                meta,
            );
        }
        if let Err(error) =
            std::os::unix::fs::FileExt::write_all_at(&segment.file, &self.encode, position)
        {
            if let Err(undo) = segment.file.set_len(position) {
                let reason = format!(
                    "cannot cut a failed write off {} at offset {position}: {undo}",
                    segment.path.display()
                );
                events::broken(&self.dir, &reason);
                self.broken = Some(reason);
            }
            return Err(DiskError::io("append to", &segment.path, error).into());
        }
        marks.push(Mark {
            index,
            end: first,
            bytes: position,
        });

        let records_written = run.len();
        let mut state = segment.state();
        let mut at = position;
        for (offset, &record) in (first..).zip(&self.order[run]) {
            let packed = records[record as usize].0;
            let len = record_len(packed);
            let timestamp = packed.timestamp.as_micros();
            state.add(
                segment.base,
                at,
                len,
                offset,
                timestamp,
                meta & TRANSACTIONAL != 0,
            );
            at += len;
        }
        drop(state);
        events::appended(partition.tp, records_written, self.encode.len());
        if !self.dirty.contains(&index) {
            self.dirty.push(index);
        }
        Ok(())
    }

    /// Appends a commit to the control log.
    fn append_control(
        &mut self,
        transactional_id: &str,
        ends: &[(TopicPartition, u64)],
        offsets: &[(String, TopicPartition, Committed)],
    ) -> Result<(), BusError> {
        match self.control.append(transactional_id, ends, offsets) {
            Ok(()) => {
                self.control_dirty = true;
                Ok(())
            }
            Err((error, undo)) => {
                if let Some(reason) = undo {
                    events::broken(&self.dir, &reason);
                    self.broken = Some(reason);
                }
                Err(error)
            }
        }
    }

    /// Closes the newest segment of partition `index`, synced and indexed,
    /// and starts the next; then applies retention to the partition.
    fn roll(&mut self, index: usize) -> Result<Arc<Segment>, BusError> {
        let partition = Arc::clone(&self.partitions[index]);
        let old = partition.newest();
        old.file
            .sync_data()
            .map_err(|error| DiskError::io("sync", &old.path, error))?;
        events::fsynced(1);
        old.write_index()?;
        let end = old.state().end;
        let segment = Arc::new(Segment::create(&partition.dir, end, self.flags)?);
        partition.segments_mut().push(Arc::clone(&segment));
        events::segment_rolled(partition.tp, &segment.path);
        self.enforce_retention_of(index, SystemTime::now())?;
        Ok(segment)
    }

    /// Deletes the oldest closed segments of partition `index` beyond its
    /// topic's retention.
    // LIMITATION: the newest segment is never deleted and rolls by size
    // only, so a quiet topic keeps its records past retention_ms until it
    // fills a segment (Kafka rolls by age too, segment.ms).
    fn enforce_retention_of(&mut self, index: usize, now: SystemTime) -> Result<(), BusError> {
        let partition = Arc::clone(&self.partitions[index]);
        let topic = partition.tp.topic;
        let max_bytes = self.config.retention_bytes_of(topic);
        let max_age = self.config.retention_of(topic);
        let oldest_kept = now
            .checked_sub(max_age)
            .unwrap_or(UNIX_EPOCH)
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_micros() as i64;
        loop {
            let mut segments = partition.segments_mut();
            if segments.len() < 2 {
                return Ok(());
            }
            let bytes: u64 = segments.iter().map(|segment| segment.state().bytes).sum();
            let (newest_timestamp, records) = {
                let state = segments[0].state();
                (state.max_timestamp, state.end - segments[0].base)
            };
            let too_big = bytes > max_bytes;
            let too_old = newest_timestamp < oldest_kept;
            if !too_big && !too_old {
                return Ok(());
            }
            let removed = segments.remove(0);
            drop(segments);
            removed.delete()?;
            crate::disk::sync_dir(&partition.dir)?;
            let reason = if too_big {
                "retention_bytes"
            } else {
                "retention_ms"
            };
            events::retention_deleted(partition.tp, &removed.path, records, reason);
        }
    }

    /// Syncs every partition written since the last sync, then replaces
    /// the control log's segment by a snapshot.
    fn snapshot_control(&mut self) -> Result<(), BusError> {
        for &index in &self.dirty {
            let segment = self.partitions[index].newest();
            segment
                .file
                .sync_data()
                .map_err(|error| DiskError::io("sync", &segment.path, error))?;
        }
        events::fsynced(self.dirty.len());
        self.control.snapshot()?;
        self.control_dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use flowline_core::Timestamp;

    use super::*;
    use crate::api::{Bus, Consumer, OffsetReset, Producer, TransactionalProducer};
    use crate::embedded::EmbeddedBus;
    use crate::record::{ConsumedBatch, CorrelationId, Record};

    /// A batch of `count` records for partition 0 with values `from..`.
    fn batch(from: u8, count: u8) -> RecordBatch {
        let mut batch = RecordBatch::new();
        for value in from..from + count {
            batch
                .push(Record {
                    key: b"k",
                    value: &[value],
                    timestamp: Timestamp::now(),
                    correlation_id: CorrelationId::random(),
                    headers: &[],
                    partition: Some(0),
                })
                .unwrap();
        }
        batch
    }

    /// The values visible in `topic` partition 0 of `bus`.
    async fn values(bus: &EmbeddedBus, topic: Topic) -> Vec<u8> {
        let mut consumer = bus.consumer("check", OffsetReset::Earliest).unwrap();
        consumer.assign(&[TopicPartition::new(topic, 0)]).unwrap();
        let mut batch = ConsumedBatch::new();
        consumer
            .poll(&mut batch, 100, Duration::from_millis(10))
            .await
            .unwrap();
        batch.iter().map(|record| record.value[0]).collect()
    }

    #[tokio::test]
    async fn records_a_transaction_wrote_without_its_commit_record_are_cut_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let config = BusConfig {
            partitions: 1,
            ..BusConfig::default()
        };
        {
            let bus = EmbeddedBus::open(dir.path(), config.clone()).unwrap();
            let mut producer = bus.transactional_producer("t").unwrap();
            producer.begin().unwrap();
            producer.send(Topic::Alerts, &batch(0, 3)).await.unwrap();
            producer.commit().await.unwrap();
            let plain = bus.producer().unwrap();
            plain.send(Topic::Alerts, &batch(3, 2)).await.unwrap();

            // What a crash between a commit's records and its commit
            // record leaves: the records, and no commit.
            let mut marks = Vec::new();
            let mut writer = bus.inner.writer();
            writer
                .write_batch(Topic::Alerts, &batch(5, 4), TRANSACTIONAL, &mut marks)
                .unwrap();
            assert_eq!(bus.inner.partitions[2].written_end(), 9);
        }
        let bus = EmbeddedBus::open(dir.path(), config).unwrap();
        assert_eq!(values(&bus, Topic::Alerts).await, [0, 1, 2, 3, 4]);
        assert_eq!(
            bus.offsets(TopicPartition::new(Topic::Alerts, 0)).unwrap(),
            (0, 5)
        );
    }
}
