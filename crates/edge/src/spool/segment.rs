//! Segment files of the spool: `flowline_bus::disk` segments whose frames
//! each hold one batch, with the number of its samples as the frame's
//! meta. Creating them, verifying them when the spool opens (a torn tail
//! of the newest is cut; other damage is an error, see
//! `flowline_bus::disk`), and reading single batches.

use std::fs::File;
use std::path::{Path, PathBuf};

use flowline_bus::disk::{self, Cut, DiskError, SegmentHeader};
use flowline_core::Sample;

use super::error::SpoolError;
use super::format::{SEGMENT, decode_payload};

/// Ending of segment file names; the rest of the name is the id.
pub(crate) const SEGMENT_SUFFIX: &str = ".seg";

/// The file name of segment `id`, such as `00000000000000000007.seg`.
pub(crate) fn file_name(id: u64) -> String {
    disk::file_name(id, SEGMENT_SUFFIX)
}

/// Creates segment `id` in `dir` holding only its header, durably.
/// Returns the file open for appends.
pub(crate) fn create(dir: &Path, id: u64, flags: u16) -> Result<(PathBuf, File), SpoolError> {
    let header = SegmentHeader { id, flags }.encode(&SEGMENT);
    Ok(disk::create_durably(dir, &file_name(id), &header)?)
}

/// What verifying a segment found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scan {
    /// Bytes of intact data, header included: where the next record goes.
    pub(crate) bytes: u64,
    /// Samples in its intact records.
    pub(crate) samples: u64,
    /// Its intact records.
    pub(crate) records: u64,
    /// Samples and records before `cursor_offset`, when it was asked for
    /// and lies within the intact data.
    pub(crate) before_cursor: Option<(u64, u64)>,
    /// The damaged tail cut from the segment, if any.
    pub(crate) cut: Option<Cut>,
}

/// Verifies segment `id` at `path`: its header and every record's
/// checksums. `newest` says whether a crash may have damaged its tail;
/// if so, a damaged tail is cut off the file, which is then synced.
/// `cursor_offset`, if given, must be a record boundary.
///
/// Slow path: runs once per segment when the spool opens.
pub(crate) fn scan(
    path: &Path,
    id: u64,
    newest: bool,
    cursor_offset: Option<u64>,
) -> Result<Scan, SpoolError> {
    let (mut samples, mut records, mut before_cursor) = (0, 0, None);
    let verified = disk::scan(path, &SEGMENT, id, newest, &mut |at, frame, _| {
        if cursor_offset == Some(at) {
            before_cursor = Some((samples, records));
        }
        samples += u64::from(frame.meta);
        records += 1;
        Ok(())
    })?;
    if cursor_offset == Some(verified.bytes) {
        before_cursor = Some((samples, records));
    }

    if let Some(offset) = cursor_offset
        && offset <= verified.bytes
        && before_cursor.is_none()
    {
        return Err(DiskError::corrupt(
            path,
            offset,
            "expected the cursor to point at a record boundary, found it inside a record"
                .to_owned(),
        )
        .into());
    }
    Ok(Scan {
        bytes: verified.bytes,
        samples,
        records,
        before_cursor,
        cut: verified.cut,
    })
}

/// Reads the samples of the record at `offset` of segment `path`, using
/// `buffer` for its payload. Damage found here appeared after the spool
/// verified the segment, so it is corruption.
pub(crate) fn read_samples(
    file: &File,
    path: &Path,
    offset: u64,
    header: disk::FrameHeader,
    buffer: &mut Vec<u8>,
) -> Result<Vec<Sample>, SpoolError> {
    disk::read_payload(file, path, offset, header, buffer)?;
    decode_payload(buffer, header, path, offset)
}

/// Reads and checks the header of the record at `offset` of `path`.
pub(crate) fn read_record_header(
    file: &File,
    path: &Path,
    offset: u64,
) -> Result<disk::FrameHeader, SpoolError> {
    Ok(disk::read_frame_header(file, path, offset)?)
}
