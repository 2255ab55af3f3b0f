//! The control log: where transactions commit and consumer groups keep
//! their offsets.
//!
//! A commit is one frame here (checksummed, and synced before the commit
//! returns under `fsync = "always"`): where the transaction's records end
//! in each partition it wrote, and the consumer offsets it commits. When
//! the log opens, transactional records past the end of the last commit
//! of their partition are cut: they belong to a transaction that never
//! committed.
//!
//! The newest control segment starts with a snapshot of the whole state;
//! when it passes [`CONTROL_SEGMENT_BYTES`] a new segment with a fresh
//! snapshot replaces it, so the log never grows without bound.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::api::Committed;
use crate::disk::{self, DiskError, SegmentHeader};
use crate::error::BusError;
use crate::topic::{Topic, TopicPartition};

use super::events;
use super::format::{CONTROL_SEGMENT, ControlRecord, GroupOffset, PartitionEnd, SEGMENT_SUFFIX};

/// Size past which the control log starts a new segment with a snapshot,
/// in bytes.
const CONTROL_SEGMENT_BYTES: u64 = 1024 * 1024;

/// What the control log says: committed ends and consumer offsets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ControlState {
    /// Where each partition's committed transactional records end.
    pub(crate) ends: BTreeMap<TopicPartition, u64>,
    /// Each group's committed offsets.
    pub(crate) offsets: BTreeMap<(String, TopicPartition), Committed>,
}

impl ControlState {
    /// Applies a commit's `ends` and `offsets`.
    fn apply(
        &mut self,
        ends: &[(TopicPartition, u64)],
        offsets: &[(String, TopicPartition, Committed)],
    ) {
        for &(partition, end) in ends {
            let slot = self.ends.entry(partition).or_default();
            *slot = (*slot).max(end);
        }
        for (group, partition, committed) in offsets {
            self.offsets
                .insert((group.clone(), *partition), committed.clone());
        }
    }

    /// The whole state as a snapshot record.
    fn snapshot(&self) -> ControlRecord {
        ControlRecord::Snapshot {
            ends: self
                .ends
                .iter()
                .map(|(partition, &end)| partition_end(*partition, end))
                .collect(),
            offsets: self
                .offsets
                .iter()
                .map(|((group, partition), committed)| group_offset(group, *partition, committed))
                .collect(),
        }
    }
}

/// The control log, open for appends.
#[derive(Debug)]
pub(crate) struct ControlLog {
    /// Its directory.
    dir: PathBuf,
    /// Flags of the segments it creates.
    flags: u16,
    /// Id of the current segment.
    id: u64,
    /// The current segment's file.
    path: PathBuf,
    /// Its file, shared with the sync thread.
    file: Arc<File>,
    /// Bytes in it.
    bytes: u64,
    /// The state, with every appended commit applied.
    pub(crate) state: ControlState,
    /// Reused for encoding records.
    buffer: Vec<u8>,
}

/// A commit read back when the log opens, with where it starts.
#[derive(Debug)]
pub(crate) struct Recovered {
    /// Byte position of its frame.
    pub(crate) position: u64,
    /// Partition ends it names.
    pub(crate) ends: Vec<(TopicPartition, u64)>,
    /// Offsets it commits.
    pub(crate) offsets: Vec<(String, TopicPartition, Committed)>,
}

impl ControlLog {
    /// Opens the control log in `dir`, creating it with an empty snapshot
    /// if missing. Returns it with the snapshot applied, and the commits
    /// after the snapshot for the caller to check against the partitions
    /// and apply ([`ControlLog::keep`]).
    pub(crate) fn open(dir: PathBuf, flags: u16) -> Result<(Self, Vec<Recovered>), BusError> {
        fs::create_dir_all(&dir).map_err(|error| DiskError::io("create", &dir, error))?;
        let (ids, stale) = disk::list_ids(&dir, SEGMENT_SUFFIX)?;
        stale
            .iter()
            .for_each(|path| events::stale_file_removed(path));
        let Some((&newest, older)) = ids.split_last() else {
            let log = ControlLog::create(dir, 0, flags, ControlState::default())?;
            return Ok((log, Vec::new()));
        };
        let path = dir.join(disk::file_name(newest, SEGMENT_SUFFIX));
        let mut snapshot = None;
        let mut commits = Vec::new();
        let scan = disk::scan(
            &path,
            &CONTROL_SEGMENT,
            newest,
            true,
            &mut |at, _, payload| {
                let record: ControlRecord = postcard::from_bytes(payload).map_err(|error| {
                    DiskError::corrupt(
                        &path,
                        at,
                        format!("expected a control record, found undecodable bytes ({error})"),
                    )
                })?;
                match (record, snapshot.is_some()) {
                    (ControlRecord::Snapshot { ends, offsets }, false) => {
                        let mut state = ControlState::default();
                        state.apply(
                            &ends_of(&ends, &path, at)?,
                            &offsets_of(&offsets, &path, at)?,
                        );
                        snapshot = Some(state);
                    }
                    (ControlRecord::Commit { ends, offsets, .. }, true) => {
                        commits.push(Recovered {
                            position: at,
                            ends: ends_of(&ends, &path, at)?,
                            offsets: offsets_of(&offsets, &path, at)?,
                        })
                    }
                    (_, had_snapshot) => {
                        let expected = if had_snapshot {
                            "a commit"
                        } else {
                            "a snapshot first"
                        };
                        return Err(DiskError::corrupt(
                            &path,
                            at,
                            format!("expected {expected}, found another kind of control record"),
                        ));
                    }
                }
                Ok(())
            },
        )?;
        if let Some(cut) = &scan.cut {
            events::control_tail_cut(&path, cut);
        }
        let Some(state) = snapshot else {
            return Err(DiskError::corrupt(
                &path,
                disk::SEGMENT_HEADER_LEN as u64,
                "expected a snapshot as the first control record, found none".to_owned(),
            )
            .into());
        };
        // Older segments were replaced by this one; a crash kept them.
        for &id in older {
            let stale = dir.join(disk::file_name(id, SEGMENT_SUFFIX));
            fs::remove_file(&stale).map_err(|error| DiskError::io("remove", &stale, error))?;
            events::stale_file_removed(&stale);
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|error| DiskError::io("open", &path, error))?;
        let log = ControlLog {
            dir,
            flags,
            id: newest,
            path,
            file: Arc::new(file),
            bytes: scan.bytes,
            state,
            buffer: Vec::new(),
        };
        Ok((log, commits))
    }

    /// Creates control segment `id` in `dir` holding a snapshot of
    /// `state`, durably.
    fn create(dir: PathBuf, id: u64, flags: u16, state: ControlState) -> Result<Self, BusError> {
        let mut bytes = SegmentHeader { id, flags }
            .encode(&CONTROL_SEGMENT)
            .to_vec();
        encode(&state.snapshot(), &mut bytes);
        let (path, file) =
            disk::create_durably(&dir, &disk::file_name(id, SEGMENT_SUFFIX), &bytes)?;
        Ok(ControlLog {
            dir,
            flags,
            id,
            path,
            file: Arc::new(file),
            bytes: bytes.len() as u64,
            state,
            buffer: Vec::new(),
        })
    }

    /// Keeps the recovered commits up to the first that names a partition
    /// end past what `intact_end` says the partition holds: a power cut
    /// kept that commit but lost records it made visible. That commit and
    /// every later one are cut from the log, and the rest applied.
    pub(crate) fn keep(
        &mut self,
        commits: Vec<Recovered>,
        intact_end: impl Fn(TopicPartition) -> Option<u64>,
    ) -> Result<(), BusError> {
        for (kept, commit) in commits.iter().enumerate() {
            let lost = commit
                .ends
                .iter()
                .find(|&&(partition, end)| intact_end(partition).is_none_or(|intact| end > intact));
            if let Some(&(partition, end)) = lost {
                events::commits_lost(&self.path, commits.len() - kept, partition, end);
                disk::cut_tail(&self.path, commit.position)?;
                self.bytes = commit.position;
                return Ok(());
            }
            self.state.apply(&commit.ends, &commit.offsets);
        }
        Ok(())
    }

    /// Appends a commit of `ends` and `offsets` by `transactional_id`,
    /// unsynced, and applies it. On failure nothing is applied and the
    /// log is as before, unless the partial frame cannot be cut off
    /// again, which is returned as the second error.
    pub(crate) fn append(
        &mut self,
        transactional_id: &str,
        ends: &[(TopicPartition, u64)],
        offsets: &[(String, TopicPartition, Committed)],
    ) -> Result<(), (BusError, Option<String>)> {
        let record = ControlRecord::Commit {
            transactional_id: transactional_id.to_owned(),
            ends: ends
                .iter()
                .map(|&(partition, end)| partition_end(partition, end))
                .collect(),
            offsets: offsets
                .iter()
                .map(|(group, partition, committed)| group_offset(group, *partition, committed))
                .collect(),
        };
        self.buffer.clear();
        encode(&record, &mut self.buffer);
        if let Err(error) = self.file.write_all_at(&self.buffer, self.bytes) {
            let undo = self.file.set_len(self.bytes).err().map(|undo| {
                format!(
                    "cannot cut a failed write off {} at offset {}: {undo}",
                    self.path.display(),
                    self.bytes
                )
            });
            return Err((DiskError::io("append to", &self.path, error).into(), undo));
        }
        self.bytes += self.buffer.len() as u64;
        self.state.apply(ends, offsets);
        Ok(())
    }

    /// Whether the current segment is large enough to be replaced by a
    /// snapshot.
    pub(crate) fn wants_snapshot(&self) -> bool {
        self.bytes > CONTROL_SEGMENT_BYTES
    }

    /// Replaces the current segment by a new one holding a snapshot. The
    /// caller has synced every partition first, so the snapshot names no
    /// record a power cut could take.
    pub(crate) fn snapshot(&mut self) -> Result<(), BusError> {
        let state = std::mem::take(&mut self.state);
        let next = ControlLog::create(self.dir.clone(), self.id + 1, self.flags, state)?;
        let old = std::mem::replace(self, next);
        fs::remove_file(&old.path).map_err(|error| DiskError::io("remove", &old.path, error))?;
        disk::sync_dir(&self.dir)?;
        Ok(())
    }

    /// The current segment's file, for the sync thread.
    pub(crate) fn file(&self) -> (Arc<File>, PathBuf) {
        (Arc::clone(&self.file), self.path.clone())
    }
}

/// Appends `record` to `buffer` as one frame.
fn encode(record: &ControlRecord, buffer: &mut Vec<u8>) {
    let start = disk::start_frame(buffer);
    if let Err(error) = postcard::to_io(record, &mut *buffer) {
        unreachable!("bug: a control record does not encode: {error}");
    }
    if let Err(len) = disk::finish_frame(buffer, start, 0) {
        unreachable!("bug: a control record of {len} bytes");
    }
}

/// A partition end as the control log stores it.
fn partition_end(partition: TopicPartition, end: u64) -> PartitionEnd {
    PartitionEnd {
        topic: partition.topic.base_name().to_owned(),
        partition: partition.partition,
        end,
    }
}

/// A group offset as the control log stores it.
fn group_offset(group: &str, partition: TopicPartition, committed: &Committed) -> GroupOffset {
    GroupOffset {
        group: group.to_owned(),
        topic: partition.topic.base_name().to_owned(),
        partition: partition.partition,
        offset: committed.offset,
        metadata: committed.metadata.clone(),
    }
}

/// The partition of a stored topic name and number.
fn partition_of(
    topic: &str,
    partition: u32,
    path: &Path,
    at: u64,
) -> Result<TopicPartition, DiskError> {
    let Some(topic) = Topic::from_base_name(topic) else {
        return Err(DiskError::corrupt(
            path,
            at,
            format!("expected the name of a topic, found {topic:?}"),
        ));
    };
    Ok(TopicPartition::new(topic, partition))
}

/// Stored partition ends, decoded.
fn ends_of(
    ends: &[PartitionEnd],
    path: &Path,
    at: u64,
) -> Result<Vec<(TopicPartition, u64)>, DiskError> {
    ends.iter()
        .map(|end| Ok((partition_of(&end.topic, end.partition, path, at)?, end.end)))
        .collect()
}

/// Stored group offsets, decoded.
fn offsets_of(
    offsets: &[GroupOffset],
    path: &Path,
    at: u64,
) -> Result<Vec<(String, TopicPartition, Committed)>, DiskError> {
    offsets
        .iter()
        .map(|offset| {
            let committed = Committed {
                offset: offset.offset,
                metadata: offset.metadata.clone(),
            };
            let partition = partition_of(&offset.topic, offset.partition, path, at)?;
            Ok((offset.group.clone(), partition, committed))
        })
        .collect()
}
