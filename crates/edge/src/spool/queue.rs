//! The spool: a durable, bounded first-in first-out queue of sample
//! batches in a directory of segment files.
//!
//! Batches are appended to the newest segment; the oldest unacknowledged
//! one is found through the cursor, which only moves forward when the
//! consumer acknowledges what it forwarded. Segments behind the cursor are
//! deleted. When an append would pass `max_bytes`, the oldest segments are
//! deleted whether forwarded or not, and their unforwarded samples counted
//! as dropped, so the poller is never held up by a full buffer.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flowline_core::Sample;

use super::config::{FsyncMode, SpoolConfig};
use super::error::SpoolError;
use super::events;
use flowline_bus::disk::{self, DiskError, FLAG_INTERVAL_SYNC, SEGMENT_HEADER_LEN};

use super::format::{CursorRecord, encode_record};
use super::segment::{self, SEGMENT_SUFFIX};

/// Name of the cursor file in the spool directory.
const CURSOR_FILE: &str = "cursor";
/// Name of the lock file that keeps a second spool out of the directory.
const LOCK_FILE: &str = "lock";
/// Where the first record of a segment starts.
const FIRST_RECORD: u64 = SEGMENT_HEADER_LEN as u64;

/// A durable FIFO of sample batches; see the module documentation.
///
/// With [`FsyncMode::Always`], a batch is on the disk when
/// [`Spool::append`] returns; an acknowledgment is on the disk when
/// [`Spool::acknowledge`] returns. One spool at a time may have a
/// directory open; a second, in this process or another, gets
/// [`SpoolError::Locked`].
#[derive(Debug)]
pub struct Spool {
    /// The spool directory.
    dir: PathBuf,
    /// Its configuration, validated.
    config: SpoolConfig,
    /// Held open for its lock while the spool lives.
    _lock: File,
    /// The segments, oldest first. The cursor is in the first one.
    segments: VecDeque<SegmentInfo>,
    /// The newest segment open for appends, while it takes them. Segments
    /// found when the spool opened never take appends again.
    writer: Option<File>,
    /// Where the oldest unacknowledged record starts, in the first
    /// segment.
    cursor: SpoolPosition,
    /// Id of the next segment to create.
    next_id: u64,
    /// Samples in all segments, acknowledged ones in the first included.
    samples: u64,
    /// Records in all segments, acknowledged ones in the first included.
    records: u64,
    /// Bytes of all segment files.
    bytes: u64,
    /// Samples deleted unforwarded since the spool opened.
    dropped_samples: u64,
    /// When the oldest unsynced append was written, under interval fsync.
    unsynced_since: Option<Instant>,
    /// Why appends are refused, after a write that could not be undone.
    broken: Option<String>,
    /// Reused for encoding appended batches.
    encode_buffer: Vec<u8>,
    /// Reused for reading records.
    read_buffer: Vec<u8>,
    /// The segment last read from and its file, kept open for the next
    /// peek.
    reader: Option<(u64, File)>,
}

/// A segment in the spool.
#[derive(Debug)]
struct SegmentInfo {
    /// Its id.
    id: u64,
    /// Its file.
    path: PathBuf,
    /// Bytes in it, header included: where its next record would go.
    bytes: u64,
    /// Samples in its records.
    samples: u64,
    /// Its records.
    records: u64,
}

/// A place in the spool: just after one batch and before the next.
/// Handed out by [`Spool::peek`] and given back to [`Spool::acknowledge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpoolPosition {
    /// Id of the segment.
    segment: u64,
    /// Byte offset in the segment.
    offset: u64,
    /// Samples in the segment before `offset`.
    samples_before: u64,
    /// Records in the segment before `offset`.
    records_before: u64,
}

impl SpoolPosition {
    /// The start of segment `segment`.
    fn start_of(segment: u64) -> SpoolPosition {
        SpoolPosition {
            segment,
            offset: FIRST_RECORD,
            samples_before: 0,
            records_before: 0,
        }
    }
}

/// A batch read back from the spool, with the position just after it.
#[derive(Debug, Clone, PartialEq)]
pub struct SpooledBatch {
    /// The samples, as appended.
    pub samples: Vec<Sample>,
    /// Acknowledge this to remove the batch, and every batch before it.
    pub end: SpoolPosition,
}

impl Spool {
    /// Opens the spool in `dir`, creating the directory if needed, and
    /// verifies every unacknowledged record. A damaged tail left by a
    /// crash is cut and logged; any other damage is an error naming the
    /// file and offset. `config.dir` is not consulted: the caller resolves
    /// it (see [`SpoolConfig::dir_under`]).
    pub fn open(dir: impl AsRef<Path>, config: SpoolConfig) -> Result<Spool, SpoolError> {
        let started = Instant::now();
        let dir = dir.as_ref().to_owned();
        config.validate()?;
        fs::create_dir_all(&dir).map_err(|error| SpoolError::io("create", &dir, error))?;
        let lock = disk::lock_dir(&dir, LOCK_FILE)?;

        let listing = list(&dir)?;
        let stored_cursor = read_cursor(&dir)?;
        let cursor_segment = stored_cursor.map_or(0, |cursor| cursor.segment);
        let newest = listing.last().copied();
        let last_id = newest.unwrap_or(0).max(cursor_segment);
        let next_id = last_id
            .checked_add(1)
            .ok_or_else(|| no_id_left(&dir, newest == Some(last_id)))?;

        let mut spool = Spool {
            dir,
            config,
            _lock: lock,
            segments: VecDeque::with_capacity(listing.len()),
            writer: None,
            cursor: SpoolPosition::start_of(next_id),
            next_id,
            samples: 0,
            records: 0,
            bytes: 0,
            dropped_samples: 0,
            unsynced_since: None,
            broken: None,
            encode_buffer: Vec::new(),
            read_buffer: Vec::new(),
            reader: None,
        };
        for id in listing {
            if id < cursor_segment {
                spool.remove_acknowledged(id)?;
            } else {
                let cursor = stored_cursor.filter(|cursor| cursor.segment == id);
                spool.recover(id, Some(id) == newest, cursor.map(|cursor| cursor.offset))?;
            }
        }
        spool.skip_finished_segments();

        events::opened(
            &spool.dir,
            spool.segments.len(),
            spool.len_samples(),
            spool.bytes,
            started.elapsed(),
        );
        Ok(spool)
    }

    /// Appends `samples` as one batch. With [`FsyncMode::Always`] the batch
    /// is on the disk when this returns. Deletes the oldest segments first
    /// if the batch would not otherwise fit in `max_bytes`. An empty batch
    /// is not stored.
    ///
    /// Fast path: one encode into a reused buffer, one write, one sync.
    pub fn append(&mut self, samples: &[Sample]) -> Result<(), SpoolError> {
        if samples.is_empty() {
            return Ok(());
        }
        if let Some(reason) = &self.broken {
            return Err(SpoolError::Broken {
                dir: self.dir.clone(),
                reason: reason.clone(),
            });
        }
        encode_record(samples, &mut self.encode_buffer)?;
        let record_len = self.encode_buffer.len() as u64;
        let limit = self.config.segment_bytes - FIRST_RECORD;
        if record_len > limit {
            return Err(SpoolError::BatchTooLarge {
                samples: samples.len(),
                bytes: record_len,
                limit,
            });
        }

        let active_full = self
            .active()
            .is_some_and(|active| active.bytes + record_len > self.config.segment_bytes);
        if active_full {
            self.seal()?;
        }
        self.make_room(record_len)?;
        if self.writer.is_none() {
            self.start_segment()?;
        }

        self.write_record(samples.len() as u64)?;
        events::appended(samples.len());
        events::levels(self.len_samples(), self.bytes);
        Ok(())
    }

    /// The oldest unacknowledged batches, oldest first, holding together
    /// at most `max_samples` samples, except that the first batch is
    /// returned whatever its size. Empty when the spool is. Removes
    /// nothing: the same batches come back until they are acknowledged.
    pub fn peek(&mut self, max_samples: usize) -> Result<Vec<SpooledBatch>, SpoolError> {
        let mut batches = Vec::new();
        let mut taken = 0_usize;
        let mut position = self.cursor;

        for segment in &self.segments {
            if position.segment != segment.id {
                position = SpoolPosition::start_of(segment.id);
            }
            while position.offset < segment.bytes {
                let file = reader_for(&mut self.reader, segment)?;
                let header = segment::read_record_header(file, &segment.path, position.offset)?;
                let count = header.meta as usize;
                if !batches.is_empty() && taken + count > max_samples {
                    return Ok(batches);
                }
                let samples = segment::read_samples(
                    file,
                    &segment.path,
                    position.offset,
                    header,
                    &mut self.read_buffer,
                )?;

                position.offset += header.frame_len();
                position.samples_before += u64::from(header.meta);
                position.records_before += 1;
                batches.push(SpooledBatch {
                    samples,
                    end: position,
                });
                taken += count;
                if taken >= max_samples {
                    return Ok(batches);
                }
            }
        }
        Ok(batches)
    }

    /// Removes every batch up to `position`, durably: the cursor file is
    /// replaced and synced before anything is deleted, and before this
    /// returns. A position already behind the cursor, such as one in a
    /// segment deleted because the spool was full, changes nothing.
    pub fn acknowledge(&mut self, position: SpoolPosition) -> Result<(), SpoolError> {
        if position <= self.cursor {
            return Ok(());
        }
        let known = self
            .segments
            .iter()
            .find(|segment| segment.id == position.segment)
            .is_some_and(|segment| position.offset <= segment.bytes);
        if !known {
            let end = self.end();
            return Err(SpoolError::UnknownPosition {
                segment: position.segment,
                offset: position.offset,
                end_segment: end.segment,
                end_offset: end.offset,
            });
        }

        // Once the cursor file holds, so must the spool in memory, or the
        // next peek would hand out acknowledged batches again.
        self.write_cursor(position)?;
        while self
            .segments
            .front()
            .is_some_and(|front| front.id < position.segment)
        {
            let acknowledged = self.pop_front();
            delete_acknowledged(&acknowledged.path);
        }
        self.cursor = position;
        self.skip_finished_segments();
        events::levels(self.len_samples(), self.bytes);
        Ok(())
    }

    /// Forces appended batches to the disk now. Under
    /// [`FsyncMode::Interval`] the owner calls this every
    /// `fsync_interval_ms`; [`super::StoreAndForward`] does.
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        if self.unsynced_since.is_none() {
            return Ok(());
        }
        let path = self.active().map(|active| active.path.clone());
        if let (Some(writer), Some(path)) = (&self.writer, path) {
            writer
                .sync_data()
                .map_err(|error| SpoolError::io("sync", path, error))?;
        }
        self.unsynced_since = None;
        Ok(())
    }

    /// Syncs and closes the spool. Dropping it does the same but can only
    /// log a failure.
    pub fn close(mut self) -> Result<(), SpoolError> {
        self.sync()
    }

    /// Samples appended and not yet acknowledged.
    pub fn len_samples(&self) -> u64 {
        let acknowledged = self
            .segments
            .front()
            .map_or(0, |_| self.cursor.samples_before);
        self.samples - acknowledged
    }

    /// Batches appended and not yet acknowledged.
    pub fn len_batches(&self) -> u64 {
        let acknowledged = self
            .segments
            .front()
            .map_or(0, |_| self.cursor.records_before);
        self.records - acknowledged
    }

    /// Whether every appended batch has been acknowledged (or dropped).
    pub fn is_empty(&self) -> bool {
        self.len_batches() == 0
    }

    /// Bytes the segment files take on disk, headers included.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Samples deleted unforwarded because the spool was full, since it
    /// opened. Also counted by `flowline_gateway_spool_dropped_samples_total`.
    pub fn dropped_samples(&self) -> u64 {
        self.dropped_samples
    }

    /// The spool directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How long appended batches may wait for a sync; `None` when every
    /// append is synced.
    pub fn sync_interval(&self) -> Option<Duration> {
        self.config.sync_interval()
    }

    /// Verifies segment `id` found at open and adds it; `newest` if no
    /// segment follows it, `cursor_offset` if the cursor is in it.
    fn recover(
        &mut self,
        id: u64,
        newest: bool,
        cursor_offset: Option<u64>,
    ) -> Result<(), SpoolError> {
        let path = self.dir.join(segment::file_name(id));
        let scan = segment::scan(&path, id, newest, cursor_offset)?;
        if let Some(cut) = &scan.cut {
            events::torn_tail_cut(&path, cut);
        }
        if self.segments.is_empty() {
            // The cursor is in the first segment kept. If it pointed past
            // the intact data, the records it acknowledged were never
            // synced and a crash took them; nothing there is unforwarded.
            let (samples_before, records_before) = match (cursor_offset, scan.before_cursor) {
                (_, Some(before)) => before,
                (Some(_), None) => (scan.samples, scan.records),
                (None, None) => (0, 0),
            };
            self.cursor = SpoolPosition {
                segment: id,
                offset: cursor_offset.map_or(FIRST_RECORD, |offset| offset.min(scan.bytes)),
                samples_before,
                records_before,
            };
        }
        self.samples += scan.samples;
        self.records += scan.records;
        self.bytes += scan.bytes;
        self.segments.push_back(SegmentInfo {
            id,
            path,
            bytes: scan.bytes,
            samples: scan.samples,
            records: scan.records,
        });
        Ok(())
    }

    /// Deletes segment `id`, found at open wholly behind the cursor: its
    /// deletion was interrupted.
    fn remove_acknowledged(&self, id: u64) -> Result<(), SpoolError> {
        let path = self.dir.join(segment::file_name(id));
        fs::remove_file(&path).map_err(|error| SpoolError::io("remove", &path, error))?;
        events::stale_file_removed(&path);
        Ok(())
    }

    /// Deletes closed segments the cursor has reached the end of, moving
    /// the cursor to the start of the next.
    fn skip_finished_segments(&mut self) {
        while let Some(front) = self.segments.front() {
            let writing = self.writer.is_some() && self.segments.len() == 1;
            if writing || self.cursor.offset < front.bytes {
                return;
            }
            let finished = self.pop_front();
            delete_acknowledged(&finished.path);
        }
    }

    /// Forgets the first segment, moving the cursor to the start of the
    /// next one (or of the next to be created). The caller deletes its
    /// file.
    fn pop_front(&mut self) -> SegmentInfo {
        let front = self
            .segments
            .pop_front()
            .expect("bug: pop_front called on an empty spool");
        if self.reader.as_ref().is_some_and(|(id, _)| *id == front.id) {
            self.reader = None;
        }
        self.samples -= front.samples;
        self.records -= front.records;
        self.bytes -= front.bytes;
        let next = self.segments.front().map_or(self.next_id, |next| next.id);
        self.cursor = SpoolPosition::start_of(next);
        front
    }

    /// Deletes the oldest closed segments until a record of `record_len`
    /// bytes fits in `max_bytes`, counting their unacknowledged samples
    /// as dropped.
    fn make_room(&mut self, record_len: u64) -> Result<(), SpoolError> {
        let new_segment = if self.writer.is_none() {
            FIRST_RECORD
        } else {
            0
        };
        let needed = record_len + new_segment;
        let mut removed_any = false;
        while self.bytes + needed > self.config.max_bytes {
            let closed = self.segments.len() - usize::from(self.writer.is_some());
            if closed == 0 {
                break;
            }
            let unacknowledged = self.segments[0].samples - self.cursor.samples_before;
            let dropped = self.pop_front();
            self.dropped_samples += unacknowledged;
            removed_any = true;
            events::samples_dropped(
                &dropped.path,
                unacknowledged,
                self.dropped_samples,
                self.config.max_bytes,
            );
            fs::remove_file(&dropped.path)
                .map_err(|error| SpoolError::io("remove", &dropped.path, error))?;
        }
        if removed_any {
            // Without this a crash could bring deleted segments back, and
            // with them samples already counted as dropped.
            disk::sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Closes the newest segment to appends, syncing what it holds first.
    fn seal(&mut self) -> Result<(), SpoolError> {
        self.sync()?;
        self.writer = None;
        Ok(())
    }

    /// Creates the next segment and makes it the one appends go to.
    fn start_segment(&mut self) -> Result<(), SpoolError> {
        let id = self.next_id;
        let flags = match self.config.fsync {
            FsyncMode::Always => 0,
            FsyncMode::Interval => FLAG_INTERVAL_SYNC,
        };
        let (path, file) = segment::create(&self.dir, id, flags)?;
        self.next_id += 1;
        if self.segments.is_empty() {
            self.cursor = SpoolPosition::start_of(id);
        }
        self.segments.push_back(SegmentInfo {
            id,
            path,
            bytes: FIRST_RECORD,
            samples: 0,
            records: 0,
        });
        self.bytes += FIRST_RECORD;
        self.writer = Some(file);
        Ok(())
    }

    /// Writes the encoded record in the buffer to the newest segment and
    /// syncs it as the policy says. On failure the partial record is cut
    /// off again; if even that fails, the spool refuses further appends.
    fn write_record(&mut self, samples: u64) -> Result<(), SpoolError> {
        let (Some(writer), Some(active)) = (&self.writer, self.segments.back_mut()) else {
            unreachable!("bug: write_record without a segment open for appends");
        };
        let offset = active.bytes;
        let sync_now = match self.config.sync_interval() {
            None => true,
            Some(interval) => self
                .unsynced_since
                .is_some_and(|since| since.elapsed() >= interval),
        };

        let written = writer
            .write_all_at(&self.encode_buffer, offset)
            .and_then(|()| if sync_now { writer.sync_data() } else { Ok(()) });
        if let Err(error) = written {
            if let Err(undo) = writer.set_len(offset) {
                self.broken = Some(format!(
                    "cannot cut a failed write off {} at offset {offset}: {undo}",
                    active.path.display()
                ));
            }
            return Err(SpoolError::io("append to", active.path.clone(), error));
        }

        let record_len = self.encode_buffer.len() as u64;
        active.bytes += record_len;
        active.samples += samples;
        active.records += 1;
        self.bytes += record_len;
        self.samples += samples;
        self.records += 1;
        if sync_now {
            self.unsynced_since = None;
        } else if self.unsynced_since.is_none() {
            self.unsynced_since = Some(Instant::now());
        }
        Ok(())
    }

    /// Replaces the cursor file with `position`, durably: written to a
    /// temporary file, synced, renamed over the old one, directory synced.
    fn write_cursor(&self, position: SpoolPosition) -> Result<(), SpoolError> {
        let bytes = CursorRecord {
            segment: position.segment,
            offset: position.offset,
        }
        .encode();
        disk::create_durably(&self.dir, CURSOR_FILE, &bytes)?;
        Ok(())
    }

    /// The newest segment, if appends go to it.
    fn active(&self) -> Option<&SegmentInfo> {
        self.writer.as_ref().and(self.segments.back())
    }

    /// Where the spool ends: just after its newest record.
    fn end(&self) -> SpoolPosition {
        match self.segments.back() {
            None => self.cursor,
            Some(newest) => SpoolPosition {
                segment: newest.id,
                offset: newest.bytes,
                samples_before: newest.samples,
                records_before: newest.records,
            },
        }
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if let Err(error) = self.sync() {
            events::close_sync_failed(&self.dir, &error);
        }
    }
}

/// The file of `segment`, open for reading: the one in `reader` if it is
/// that segment's, else newly opened and kept there for the next read.
fn reader_for<'a>(
    reader: &'a mut Option<(u64, File)>,
    segment: &SegmentInfo,
) -> Result<&'a File, SpoolError> {
    if reader.as_ref().is_none_or(|(open, _)| *open != segment.id) {
        let file = File::open(&segment.path)
            .map_err(|error| SpoolError::io("open", &segment.path, error))?;
        *reader = Some((segment.id, file));
    }
    let (_, file) = reader.as_ref().expect("bug: the reader was just opened");
    Ok(file)
}

/// Deletes the file of a segment wholly acknowledged. A failure is only
/// logged: the acknowledgment holds, and the next open deletes the file.
fn delete_acknowledged(path: &Path) {
    if let Err(error) = fs::remove_file(path) {
        events::remove_failed(path, &error);
    }
}

/// The ids of the segments in `dir`, in order, after removing temporary
/// files an interrupted write left. Other files are left alone.
fn list(dir: &Path) -> Result<Vec<u64>, SpoolError> {
    let (ids, stale) = disk::list_ids(dir, SEGMENT_SUFFIX)?;
    stale
        .iter()
        .for_each(|path| events::stale_file_removed(path));
    Ok(ids)
}

/// The error for a spool whose segment file name (`in_segment_name`) or
/// cursor holds the largest segment id, which leaves no id for the next
/// segment. Only damage or a hand-made file can get there: a spool would
/// need 2^64 segments.
fn no_id_left(dir: &Path, in_segment_name: bool) -> SpoolError {
    let reason = format!(
        "expected a segment id below {}, found {}: no id is left for the next segment",
        u64::MAX,
        u64::MAX
    );
    if in_segment_name {
        DiskError::corrupt(dir.join(segment::file_name(u64::MAX)), 0, reason).into()
    } else {
        // Where the cursor file holds its segment id.
        DiskError::corrupt(dir.join(CURSOR_FILE), 12, reason).into()
    }
}

/// The cursor stored in `dir`, if there is one.
fn read_cursor(dir: &Path) -> Result<Option<CursorRecord>, SpoolError> {
    let path = dir.join(CURSOR_FILE);
    match fs::read(&path) {
        Ok(bytes) => CursorRecord::decode(&bytes, &path).map(Some),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(SpoolError::io("read", path, error)),
    }
}
