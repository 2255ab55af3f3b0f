//! One partition of the embedded log: its segments, oldest first, and the
//! end of what consumers may see.
//!
//! Offsets below the visible end are never rewritten while the log is
//! open, so consumers read them without a lock: the writer appends past
//! the visible end and moves it only once what it wrote is synced (and,
//! for a transaction, committed). Segments are only ever added at the end
//! (a roll) or removed at the front (retention).

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::disk::{self, DiskError};
use crate::error::BusError;
use crate::record::{ConsumedBatch, ConsumedEntry, Packed};
use crate::topic::TopicPartition;

use super::events;
use super::format::SEGMENT_SUFFIX;
use super::segment::{FIRST_RECORD, READ_CHUNK_BYTES, Segment};

/// One partition.
#[derive(Debug)]
pub(crate) struct Partition {
    /// Which partition.
    pub(crate) tp: TopicPartition,
    /// Its directory.
    pub(crate) dir: PathBuf,
    /// Its segments, oldest first; never empty.
    segments: RwLock<Vec<Arc<Segment>>>,
    /// One past the last offset consumers may read.
    visible_end: AtomicU64,
}

/// Where a consumer is in a partition.
#[derive(Debug, Clone)]
pub(crate) struct Cursor {
    /// The next offset to read.
    pub(crate) next: u64,
    /// The segment holding it and its byte position there, once found.
    found: Option<(Arc<Segment>, u64)>,
}

impl Cursor {
    /// A cursor at `offset`.
    pub(crate) fn at(offset: u64) -> Cursor {
        Cursor {
            next: offset,
            found: None,
        }
    }
}

impl Partition {
    /// Opens the partition in `dir`, creating it if missing: reads closed
    /// segments from their index files and verifies the newest, cutting a
    /// damaged tail. `flags` are the flags of segments it creates.
    /// Nothing is visible until [`Partition::publish`].
    pub(crate) fn open(dir: PathBuf, tp: TopicPartition, flags: u16) -> Result<Self, BusError> {
        fs::create_dir_all(&dir).map_err(|error| DiskError::io("create", &dir, error))?;
        let (bases, stale) = disk::list_ids(&dir, SEGMENT_SUFFIX)?;
        stale
            .iter()
            .for_each(|path| events::stale_file_removed(path));
        let mut segments = Vec::with_capacity(bases.len().max(1));
        let Some((&newest, closed)) = bases.split_last() else {
            segments.push(Arc::new(Segment::create(&dir, 0, flags)?));
            return Ok(Partition::with(dir, tp, segments));
        };
        for &base in closed {
            let (segment, rebuilt) = Segment::open_closed(&dir, base)?;
            if rebuilt {
                events::index_rebuilt(&segment.path);
            }
            segments.push(Arc::new(segment));
        }
        let (segment, cut) = Segment::open_verified(&dir, newest, true)?;
        if let Some(cut) = cut {
            events::torn_tail_cut(tp, &segment.path, &cut);
        }
        segments.push(Arc::new(segment));

        for pair in segments.windows(2) {
            let end = pair[0].state().end;
            if end != pair[1].base {
                return Err(DiskError::corrupt(
                    &pair[1].path,
                    12,
                    format!(
                        "expected the segment after {} to start at offset {end}, found {}",
                        pair[0].path.display(),
                        pair[1].base
                    ),
                )
                .into());
            }
        }
        Ok(Partition::with(dir, tp, segments))
    }

    /// A partition of `segments`, none visible yet.
    fn with(dir: PathBuf, tp: TopicPartition, segments: Vec<Arc<Segment>>) -> Self {
        let start = segments[0].base;
        Partition {
            tp,
            dir,
            segments: RwLock::new(segments),
            visible_end: AtomicU64::new(start),
        }
    }

    /// The segments, oldest first.
    pub(crate) fn segments(&self) -> RwLockReadGuard<'_, Vec<Arc<Segment>>> {
        self.segments
            .read()
            .expect("bug: a partition's segment lock was poisoned")
    }

    /// The segments, for the writer to add or remove one.
    pub(crate) fn segments_mut(&self) -> RwLockWriteGuard<'_, Vec<Arc<Segment>>> {
        self.segments
            .write()
            .expect("bug: a partition's segment lock was poisoned")
    }

    /// The newest segment, which takes appends.
    pub(crate) fn newest(&self) -> Arc<Segment> {
        let segments = self.segments();
        Arc::clone(segments.last().expect("bug: a partition without segments"))
    }

    /// The oldest offset held.
    pub(crate) fn log_start(&self) -> u64 {
        self.segments()[0].base
    }

    /// One past the last offset written, visible or not.
    pub(crate) fn written_end(&self) -> u64 {
        self.newest().state().end
    }

    /// One past the last offset consumers may read.
    pub(crate) fn visible_end(&self) -> u64 {
        self.visible_end.load(Ordering::Acquire)
    }

    /// Lets consumers read up to `end`, which is durable.
    pub(crate) fn publish(&self, end: u64) {
        self.visible_end.fetch_max(end, Ordering::AcqRel);
    }

    /// The first record at or after `committed_end` that a transaction
    /// wrote: one whose commit never became durable.
    pub(crate) fn first_uncommitted(&self, committed_end: u64) -> Result<Option<u64>, BusError> {
        for segment in self.segments().iter() {
            let (end, first) = {
                let state = segment.state();
                (state.end, state.first_transactional)
            };
            let Some(first) = first else { continue };
            if end <= committed_end {
                continue;
            }
            if first >= committed_end {
                return Ok(Some(first));
            }
            let position = segment.position_of(committed_end)?;
            let mut found = None;
            segment.walk(committed_end, position, &mut |record, _| {
                if record.transactional() {
                    found = Some(record.offset);
                }
                found.is_none()
            })?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// Removes every record from `offset` on, durably: deletes the
    /// segments after it and cuts the one holding it. Only while the log
    /// opens, before anything is visible.
    pub(crate) fn truncate(&self, offset: u64) -> Result<(), BusError> {
        let mut segments = self.segments_mut();
        while segments.len() > 1 && segments.last().is_some_and(|last| last.base > offset) {
            let removed = segments.pop().expect("bug: checked non-empty");
            removed.delete()?;
        }
        let last = segments.last().expect("bug: a partition without segments");
        if last.state().end > offset {
            let position = if offset == last.base {
                FIRST_RECORD
            } else {
                last.position_of(offset)?
            };
            last.cut(offset, position)?;
        }
        disk::sync_dir(&self.dir)?;
        Ok(())
    }

    /// Reads into `batch` at most `max` records from `cursor` on, all
    /// below `until`, which is at most the visible end; returns how many
    /// it read and advances the cursor past them.
    ///
    /// Fast path: reads whole chunks of records straight into the batch's
    /// buffer and checks each record's checksums in place.
    pub(crate) fn read(
        &self,
        cursor: &mut Cursor,
        until: u64,
        max: usize,
        batch: &mut ConsumedBatch,
    ) -> Result<usize, BusError> {
        let mut count = 0;
        let mut want = READ_CHUNK_BYTES;
        while count < max && cursor.next < until {
            let (segment, position) = match &cursor.found {
                Some((segment, position)) => (Arc::clone(segment), *position),
                None => {
                    let found = self.locate(cursor.next)?;
                    cursor.found = Some(found.clone());
                    found
                }
            };

            let (data, _) = batch.parts_mut();
            let chunk_start = data.len();
            data.resize(chunk_start + want, 0);
            let read = read_up_to(&segment, &mut data[chunk_start..], position)?;
            data.truncate(chunk_start + read);

            let mut at = chunk_start;
            let mut position = position;
            while count < max && cursor.next < until {
                let (data, records) = batch.parts_mut();
                let Some((record, len)) =
                    segment.frame_at(&data[at..], position, cursor.next, true)?
                else {
                    break;
                };
                let packed = Packed {
                    start: at + record.packed.start,
                    ..record.packed
                };
                records.push(ConsumedEntry {
                    partition: self.tp,
                    offset: record.offset,
                    packed,
                });
                at += len;
                position += len as u64;
                cursor.next += 1;
                count += 1;
            }
            batch.parts_mut().0.truncate(at);
            cursor.found = Some((Arc::clone(&segment), position));

            want = READ_CHUNK_BYTES;
            if at == chunk_start && count < max && cursor.next < until {
                want = self.step_past_chunk(cursor, &segment, position, read)?;
            }
        }
        Ok(count)
    }

    /// The read at `position` of `segment` returned `read` bytes without a
    /// whole record: the record is larger than a chunk (returns the size
    /// to read next), or the segment ends there and the record is in the
    /// next segment (moves the cursor there).
    fn step_past_chunk(
        &self,
        cursor: &mut Cursor,
        segment: &Arc<Segment>,
        position: u64,
        read: usize,
    ) -> Result<usize, BusError> {
        if read >= disk::FRAME_HEADER_LEN {
            let frame = disk::read_frame_header(&segment.file, &segment.path, position)?;
            if frame.frame_len() as usize > read {
                return Ok(frame.frame_len() as usize);
            }
        }
        let next = self
            .segments()
            .iter()
            .find(|next| next.base == cursor.next)
            .cloned();
        let Some(next) = next else {
            return Err(DiskError::corrupt(
                &segment.path,
                position,
                format!(
                    "expected the record of offset {} here or in the next segment, found \
                     the end of the file",
                    cursor.next
                ),
            )
            .into());
        };
        cursor.found = Some((next, FIRST_RECORD));
        Ok(READ_CHUNK_BYTES)
    }

    /// The segment holding `offset`, which is held, and its position
    /// there.
    fn locate(&self, offset: u64) -> Result<(Arc<Segment>, u64), BusError> {
        let segment = {
            let segments = self.segments();
            let at = segments.partition_point(|segment| segment.base <= offset);
            Arc::clone(&segments[at.max(1) - 1])
        };
        let position = if offset == segment.base {
            FIRST_RECORD
        } else {
            segment.position_of(offset)?
        };
        Ok((segment, position))
    }
}

/// Reads from `position` of `segment` into `buffer` until it is full or
/// the file ends; returns the bytes read.
fn read_up_to(segment: &Segment, buffer: &mut [u8], position: u64) -> Result<usize, DiskError> {
    let mut read = 0;
    while read < buffer.len() {
        match segment
            .file
            .read_at(&mut buffer[read..], position + read as u64)
        {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(DiskError::io("read", &segment.path, error)),
        }
    }
    Ok(read)
}
