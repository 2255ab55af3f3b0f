//! One segment file of a partition: creating it, verifying it when the
//! log opens, its sparse index, and finding and reading records in it.
//!
//! A segment is written by one writer at a time and read by any number
//! of consumers at once, each with its own position: the file is shared
//! and read and written with positioned calls, and consumers never read
//! past what the partition has made visible.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crate::disk::{
    self, DiskError, FRAME_HEADER_LEN, FrameHeader, SEGMENT_HEADER_LEN, SegmentHeader,
};

use super::format::{
    INDEX_SUFFIX, IndexFile, LOG_SEGMENT, RecordFrame, SEGMENT_SUFFIX, decode_record,
};

/// Where the first record of a segment starts.
pub(crate) const FIRST_RECORD: u64 = SEGMENT_HEADER_LEN as u64;
/// Bytes of records between two entries of the sparse index: a seek
/// reads at most this much to find its record.
const INDEX_INTERVAL_BYTES: u64 = 4096;
/// Bytes read at a time when walking or reading records.
pub(crate) const READ_CHUNK_BYTES: usize = 64 * 1024;

/// One segment file.
#[derive(Debug)]
pub(crate) struct Segment {
    /// The offset of its first record, the number in its name.
    pub(crate) base: u64,
    /// The file.
    pub(crate) path: PathBuf,
    /// The file, open for reading and (while newest) appending.
    pub(crate) file: File,
    /// What has been written to it.
    state: Mutex<SegmentState>,
}

/// What has been written to a segment, kept by its writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentState {
    /// Bytes in the file, header included: where the next record goes.
    pub(crate) bytes: u64,
    /// One past the offset of its last record.
    pub(crate) end: u64,
    /// Its largest record timestamp, in microseconds; `i64::MIN` if empty.
    pub(crate) max_timestamp: i64,
    /// Its first record written by a transaction.
    pub(crate) first_transactional: Option<u64>,
    /// Offset minus base, and byte position, of a record every
    /// [`INDEX_INTERVAL_BYTES`].
    pub(crate) index: Vec<(u32, u32)>,
}

impl SegmentState {
    /// The state of an empty segment starting at `base`.
    fn empty(base: u64) -> SegmentState {
        SegmentState {
            bytes: FIRST_RECORD,
            end: base,
            max_timestamp: i64::MIN,
            first_transactional: None,
            index: Vec::new(),
        }
    }

    /// Takes note of a record of `len` bytes at `position`, just written
    /// or found, with `offset` and `timestamp` (in microseconds).
    pub(crate) fn add(
        &mut self,
        base: u64,
        position: u64,
        len: u64,
        offset: u64,
        timestamp: i64,
        transactional: bool,
    ) {
        let indexed_up_to = self.index.last().map_or(0, |&(_, at)| u64::from(at));
        if self.index.is_empty() || position - indexed_up_to >= INDEX_INTERVAL_BYTES {
            // Both fit: a segment is at most 4 GiB, and so holds fewer
            // than 2^32 records.
            self.index.push(((offset - base) as u32, position as u32));
        }
        self.bytes = position + len;
        self.end = offset + 1;
        self.max_timestamp = self.max_timestamp.max(timestamp);
        if transactional && self.first_transactional.is_none() {
            self.first_transactional = Some(offset);
        }
    }
}

impl Segment {
    /// Creates the empty segment starting at offset `base` in `dir`,
    /// durably.
    pub(crate) fn create(dir: &Path, base: u64, flags: u16) -> Result<Segment, DiskError> {
        let header = SegmentHeader { id: base, flags }.encode(&LOG_SEGMENT);
        let (path, file) =
            disk::create_durably(dir, &disk::file_name(base, SEGMENT_SUFFIX), &header)?;
        Ok(Segment {
            base,
            path,
            file,
            state: Mutex::new(SegmentState::empty(base)),
        })
    }

    /// Opens segment `base` of `dir`, verifying every record, and cuts a
    /// damaged tail if `newest`. Returns the segment and the cut.
    pub(crate) fn open_verified(
        dir: &Path,
        base: u64,
        newest: bool,
    ) -> Result<(Segment, Option<disk::Cut>), DiskError> {
        let path = dir.join(disk::file_name(base, SEGMENT_SUFFIX));
        let mut state = SegmentState::empty(base);
        let scan = disk::scan(
            &path,
            &LOG_SEGMENT,
            base,
            newest,
            &mut |at, frame, payload| {
                let record = decode_record(frame, payload, &path, at)?;
                if record.offset != state.end {
                    return Err(DiskError::corrupt(
                        &path,
                        at,
                        format!(
                            "expected the record of offset {}, found offset {}",
                            state.end, record.offset
                        ),
                    ));
                }
                let timestamp = record.packed.timestamp.as_micros();
                let transactional = record.transactional();
                state.add(
                    base,
                    at,
                    frame.frame_len(),
                    record.offset,
                    timestamp,
                    transactional,
                );
                Ok(())
            },
        )?;
        state.bytes = scan.bytes;
        let file = open_file(&path)?;
        let segment = Segment {
            base,
            path,
            file,
            state: Mutex::new(state),
        };
        Ok((segment, scan.cut))
    }

    /// Opens closed segment `base` of `dir` from its index file, or, when
    /// that is missing or does not describe the file, by verifying the
    /// segment and writing the index again. Returns whether it rebuilt.
    pub(crate) fn open_closed(dir: &Path, base: u64) -> Result<(Segment, bool), DiskError> {
        let path = dir.join(disk::file_name(base, SEGMENT_SUFFIX));
        let index_path = dir.join(disk::file_name(base, INDEX_SUFFIX));
        let file = open_file(&path)?;
        let len = file
            .metadata()
            .map_err(|error| DiskError::io("read the size of", &path, error))?
            .len();
        let index = match fs::read(&index_path) {
            Ok(bytes) => IndexFile::decode(&bytes, &index_path).ok(),
            Err(error) if error.kind() == io::ErrorKind::NotFound => None,
            Err(error) => return Err(DiskError::io("read", index_path, error)),
        };
        if let Some(index) = index.filter(|index| index.base == base && index.bytes == len) {
            let state = SegmentState {
                bytes: index.bytes,
                end: index.end,
                max_timestamp: index.max_timestamp,
                first_transactional: index.first_transactional,
                index: index.entries,
            };
            let segment = Segment {
                base,
                path,
                file,
                state: Mutex::new(state),
            };
            return Ok((segment, false));
        }
        let (segment, _) = Segment::open_verified(dir, base, false)?;
        segment.write_index()?;
        Ok((segment, true))
    }

    /// What has been written to the segment, locked: only the writer
    /// changes it.
    pub(crate) fn state(&self) -> MutexGuard<'_, SegmentState> {
        self.state
            .lock()
            .expect("bug: a segment's state lock was poisoned")
    }

    /// Writes the index file of this segment, which is closed: no record
    /// is appended to it again.
    pub(crate) fn write_index(&self) -> Result<(), DiskError> {
        let state = self.state().clone();
        let index = IndexFile {
            base: self.base,
            end: state.end,
            bytes: state.bytes,
            max_timestamp: state.max_timestamp,
            first_transactional: state.first_transactional,
            entries: state.index,
        };
        let dir = self
            .path
            .parent()
            .expect("bug: a segment path has a directory");
        disk::create_durably(
            dir,
            &disk::file_name(self.base, INDEX_SUFFIX),
            &index.encode(),
        )?;
        Ok(())
    }

    /// Deletes the segment's files: its records have passed retention,
    /// or were never committed.
    pub(crate) fn delete(&self) -> Result<(), DiskError> {
        let index = self.path.with_extension(&INDEX_SUFFIX[1..]);
        match fs::remove_file(&index) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(DiskError::io("remove", index, error)),
        }
        fs::remove_file(&self.path).map_err(|error| DiskError::io("remove", &self.path, error))
    }

    /// Cuts the segment to end before the record of `offset`, at byte
    /// `position`, durably; removes its index file, since it is the
    /// newest segment again.
    pub(crate) fn cut(&self, offset: u64, position: u64) -> Result<(), DiskError> {
        let index = self.path.with_extension(&INDEX_SUFFIX[1..]);
        if let Err(error) = fs::remove_file(&index)
            && error.kind() != io::ErrorKind::NotFound
        {
            return Err(DiskError::io("remove", index, error));
        }
        disk::cut_tail(&self.path, position)?;
        let mut state = self.state();
        state.bytes = position;
        state.end = offset;
        state.index.retain(|&(_, at)| u64::from(at) < position);
        if state
            .first_transactional
            .is_some_and(|first| first >= offset)
        {
            state.first_transactional = None;
        }
        Ok(())
    }

    /// The byte position of the record of `offset`, which this segment
    /// holds: from the sparse index, then record by record.
    pub(crate) fn position_of(&self, offset: u64) -> Result<u64, DiskError> {
        let (from_offset, from_position) = {
            let state = self.state();
            let relative = offset - self.base;
            let at = state
                .index
                .partition_point(|&(entry, _)| u64::from(entry) <= relative);
            match at.checked_sub(1).map(|at| state.index[at]) {
                Some((entry, position)) => (self.base + u64::from(entry), u64::from(position)),
                None => (self.base, FIRST_RECORD),
            }
        };
        let mut found = None;
        self.walk(from_offset, from_position, &mut |record, position| {
            if record.offset == offset {
                found = Some(position);
            }
            record.offset < offset
        })?;
        found.ok_or_else(|| {
            DiskError::corrupt(
                &self.path,
                from_position,
                format!("expected the record of offset {offset} after this position, found none"),
            )
        })
    }

    /// Visits the records from `offset` at byte `position` to the end of
    /// what was written, with their positions, until `visit` returns
    /// false. Checks frame headers and offsets but not payload checksums,
    /// which consumers check as they read.
    pub(crate) fn walk(
        &self,
        mut offset: u64,
        mut position: u64,
        visit: &mut dyn FnMut(RecordFrame, u64) -> bool,
    ) -> Result<(), DiskError> {
        let written = self.state().bytes;
        let mut chunk = Vec::new();
        let mut want = READ_CHUNK_BYTES;
        while position < written {
            chunk.resize(want.min((written - position) as usize), 0);
            self.file
                .read_exact_at(&mut chunk, position)
                .map_err(|error| disk::read_error(&self.path, position, error))?;
            let mut at = 0;
            while let Some((record, len)) = self.frame_at(&chunk[at..], position, offset, false)? {
                if !visit(record, position) {
                    return Ok(());
                }
                at += len;
                position += len as u64;
                offset += 1;
            }
            want = READ_CHUNK_BYTES;
            if at == 0 {
                // A record larger than the chunk: read it whole next.
                let frame = disk::read_frame_header(&self.file, &self.path, position)?;
                if frame.frame_len() > written - position {
                    return Err(DiskError::corrupt(
                        &self.path,
                        position,
                        format!(
                            "expected a record of {} bytes, found {} bytes written",
                            frame.frame_len(),
                            written - position
                        ),
                    ));
                }
                want = frame.frame_len() as usize;
            }
        }
        Ok(())
    }

    /// The record at the start of `bytes`, read from byte `position`,
    /// which must have offset `offset`, and its length; `None` if `bytes`
    /// do not hold the whole record. Checks the payload checksum if
    /// `verify`.
    pub(crate) fn frame_at(
        &self,
        bytes: &[u8],
        position: u64,
        offset: u64,
        verify: bool,
    ) -> Result<Option<(RecordFrame, usize)>, DiskError> {
        let Some(header) = bytes.first_chunk::<FRAME_HEADER_LEN>() else {
            return Ok(None);
        };
        let Some(frame) = FrameHeader::decode(header) else {
            return Err(DiskError::corrupt(
                &self.path,
                position,
                "expected a record header whose checksum matches, found one whose checksum \
                 does not"
                    .to_owned(),
            ));
        };
        let len = frame.frame_len() as usize;
        let Some(payload) = bytes.get(FRAME_HEADER_LEN..len) else {
            return Ok(None);
        };
        if verify && !frame.matches(payload) {
            return Err(DiskError::corrupt(
                &self.path,
                position,
                format!(
                    "expected payload checksum {:#010x}, found {:#010x}",
                    frame.payload_crc,
                    crc32fast::hash(payload)
                ),
            ));
        }
        let record = decode_record(frame, payload, &self.path, position)?;
        check_offset(&self.path, position, offset, record.offset)?;
        Ok(Some((record, len)))
    }
}

/// Refuses a record at `position` of `path` whose offset is not the one
/// that belongs there.
fn check_offset(path: &Path, position: u64, expected: u64, found: u64) -> Result<(), DiskError> {
    if expected == found {
        return Ok(());
    }
    Err(DiskError::corrupt(
        path,
        position,
        format!("expected the record of offset {expected}, found offset {found}"),
    ))
}

/// Opens the segment file `path` for reading and writing.
fn open_file(path: &Path) -> Result<File, DiskError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|error| DiskError::io("open", path, error))
}
