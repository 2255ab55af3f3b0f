//! Segment files: creating them so that a crash never leaves a half-made
//! one, verifying them when the spool opens, and reading single records.
//!
//! Recovery rests on one fact about how segments are written: records are
//! only ever appended to the newest segment, and a segment is synced in
//! full before a newer one is created. So damage a crash can cause lies in
//! the tail of the newest segment and reaches to its end. Damage anywhere
//! else, or damage followed by an intact record, was not caused by a crash
//! of ours and is reported as corruption rather than cut. One exception,
//! marked in the segment's header: with interval fsync the unsynced tail
//! may be persisted out of order, so in such a segment everything from the
//! first damage on is cut, intact records included, and the cut is logged.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use flowline_core::Sample;

use super::error::SpoolError;
use super::format::{
    FLAG_INTERVAL_SYNC, RECORD_HEADER_LEN, RecordHeader, SEGMENT_HEADER_LEN, SegmentHeader,
    decode_payload,
};

/// Ending of segment file names; the rest of the name is the id.
const SEGMENT_SUFFIX: &str = ".seg";
/// Ending of files being created; a crash may leave one behind.
pub(crate) const TEMPORARY_SUFFIX: &str = ".tmp";
/// Digits of the zero-padded id in a segment name, so that names sort in
/// id order.
const ID_DIGITS: usize = 20;
/// Read buffer for verifying a segment, in bytes.
const SCAN_BUFFER_BYTES: usize = 256 * 1024;

/// The file name of segment `id`, such as `00000000000000000007.seg`.
pub(crate) fn file_name(id: u64) -> String {
    format!("{id:0ID_DIGITS$}{SEGMENT_SUFFIX}")
}

/// The id in a segment file name; `None` for any other name.
pub(crate) fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != ID_DIGITS || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Creates segment `id` in `dir` holding only its header, durably: the
/// header is written to a temporary file and synced, which is then renamed
/// into place and the directory synced. Returns the file open for appends.
pub(crate) fn create(dir: &Path, id: u64, flags: u16) -> Result<(PathBuf, File), SpoolError> {
    let path = dir.join(file_name(id));
    let temporary = dir.join(format!("{}{TEMPORARY_SUFFIX}", file_name(id)));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temporary)
        .map_err(|error| SpoolError::io("create", &temporary, error))?;
    file.write_all(&SegmentHeader { id, flags }.encode())
        .and_then(|()| file.sync_all())
        .map_err(|error| SpoolError::io("write the header of", &temporary, error))?;
    fs::rename(&temporary, &path).map_err(|error| SpoolError::io("rename", &temporary, error))?;
    sync_dir(dir)?;
    Ok((path, file))
}

/// Syncs directory `dir`, making creations, renames and removals in it
/// durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|error| SpoolError::io("sync directory", dir, error))
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

/// A damaged tail cut from the newest segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cut {
    /// Offset of the first damaged byte, now the segment's end.
    pub(crate) offset: u64,
    /// Bytes removed.
    pub(crate) bytes: u64,
    /// Intact records among the removed bytes; only ever non-zero in a
    /// segment written with interval fsync.
    pub(crate) intact_records: u64,
    /// What was damaged, expected against found.
    pub(crate) reason: String,
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
    let file = File::open(path).map_err(|error| SpoolError::io("open", path, error))?;
    let file_len = file
        .metadata()
        .map_err(|error| SpoolError::io("read the size of", path, error))?
        .len();
    let mut reader = BufReader::with_capacity(SCAN_BUFFER_BYTES, &file);

    let header = read_segment_header(&mut reader, path)?;
    if header.id != id {
        return Err(SpoolError::corrupt(
            path,
            12,
            format!(
                "expected segment id {id} as in the file name, found {}",
                header.id
            ),
        ));
    }

    let mut scan = Scan {
        bytes: SEGMENT_HEADER_LEN as u64,
        samples: 0,
        records: 0,
        before_cursor: None,
        cut: None,
    };
    let mut payload = Vec::new();
    loop {
        if cursor_offset == Some(scan.bytes) {
            scan.before_cursor = Some((scan.samples, scan.records));
        }
        let remaining = file_len - scan.bytes;
        if remaining == 0 {
            break;
        }
        match next_record(&mut reader, remaining, &mut payload, path)? {
            Ok(record) => {
                scan.bytes += record.record_len();
                scan.samples += u64::from(record.samples);
                scan.records += 1;
            }
            Err(damage) => {
                let interval = header.flags & FLAG_INTERVAL_SYNC != 0;
                let cut =
                    judge_damage(&file, path, scan.bytes, file_len, damage, newest, interval)?;
                cut_tail(path, cut.offset)?;
                scan.cut = Some(cut);
                break;
            }
        }
    }

    if let Some(offset) = cursor_offset
        && offset <= scan.bytes
        && scan.before_cursor.is_none()
    {
        return Err(SpoolError::corrupt(
            path,
            offset,
            "expected the cursor to point at a record boundary, found it inside a record"
                .to_owned(),
        ));
    }
    Ok(scan)
}

/// Reads and checks the segment header at the start of `reader`.
fn read_segment_header(reader: &mut impl Read, path: &Path) -> Result<SegmentHeader, SpoolError> {
    let mut bytes = Vec::with_capacity(SEGMENT_HEADER_LEN);
    reader
        .take(SEGMENT_HEADER_LEN as u64)
        .read_to_end(&mut bytes)
        .map_err(|error| SpoolError::io("read the header of", path, error))?;
    SegmentHeader::decode(&bytes, path)
}

/// Reads the next record from `reader`, with `remaining` bytes left in
/// the file, into `payload`. The inner error describes damage; the outer
/// one is a failure to read.
fn next_record(
    reader: &mut impl Read,
    remaining: u64,
    payload: &mut Vec<u8>,
    path: &Path,
) -> Result<Result<RecordHeader, String>, SpoolError> {
    if remaining < RECORD_HEADER_LEN as u64 {
        return Ok(Err(format!(
            "expected a {RECORD_HEADER_LEN}-byte record header, found {remaining} bytes"
        )));
    }
    let mut header_bytes = [0; RECORD_HEADER_LEN];
    read_exact(reader, &mut header_bytes, path)?;
    let Some(header) = RecordHeader::decode(&header_bytes) else {
        return Ok(Err(
            "expected a record header whose checksum matches, found one whose \
                       checksum does not"
                .to_owned(),
        ));
    };
    if header.record_len() > remaining {
        return Ok(Err(format!(
            "expected a record of {} bytes, found {remaining} bytes left in the file",
            header.record_len()
        )));
    }
    payload.resize(header.payload_len as usize, 0);
    read_exact(reader, payload, path)?;
    if !header.matches(payload) {
        return Ok(Err(format!(
            "expected payload checksum {:#010x}, found {:#010x}",
            header.payload_crc,
            crc32fast::hash(payload)
        )));
    }
    Ok(Ok(header))
}

/// `read_exact` with the file named in its error.
fn read_exact(reader: &mut impl Read, buffer: &mut [u8], path: &Path) -> Result<(), SpoolError> {
    reader
        .read_exact(buffer)
        .map_err(|error| SpoolError::io("read", path, error))
}

/// Decides whether damage at `offset` is a torn tail to cut or corruption
/// to report; see the module documentation for the rule.
fn judge_damage(
    file: &File,
    path: &Path,
    offset: u64,
    file_len: u64,
    reason: String,
    newest: bool,
    interval: bool,
) -> Result<Cut, SpoolError> {
    if !newest {
        return Err(SpoolError::corrupt(
            path,
            offset,
            format!("{reason}, in a segment that was closed and synced before a newer one"),
        ));
    }
    let intact_records = intact_records_after(file, path, offset, file_len)?;
    if intact_records > 0 && !interval {
        return Err(SpoolError::corrupt(
            path,
            offset,
            format!("{reason}, followed by {intact_records} intact records, so not a torn tail"),
        ));
    }
    Ok(Cut {
        offset,
        bytes: file_len - offset,
        intact_records,
        reason,
    })
}

/// Counts the intact records that follow damage at `offset`: the first
/// place after it where a whole record checks out, and the chain of
/// records from there.
///
/// Slow path: tries every byte offset, which a record header's own
/// checksum makes cheap; runs only when a segment is damaged.
fn intact_records_after(
    file: &File,
    path: &Path,
    offset: u64,
    file_len: u64,
) -> Result<u64, SpoolError> {
    let mut tail = vec![0; (file_len - offset) as usize];
    file.read_exact_at(&mut tail, offset)
        .map_err(|error| SpoolError::io("read", path, error))?;

    let Some(start) = (1..tail.len()).find(|&at| intact_record_len(&tail[at..]).is_some()) else {
        return Ok(0);
    };
    let mut records = 0;
    let mut at = start;
    while let Some(len) = intact_record_len(&tail[at..]) {
        records += 1;
        at += len;
    }
    Ok(records)
}

/// The length of the intact record at the start of `bytes`, if there is
/// one.
fn intact_record_len(bytes: &[u8]) -> Option<usize> {
    let header = RecordHeader::decode(bytes.first_chunk::<RECORD_HEADER_LEN>()?)?;
    let len = usize::try_from(header.record_len()).ok()?;
    let payload = bytes.get(RECORD_HEADER_LEN..len)?;
    header.matches(payload).then_some(len)
}

/// Cuts the file at `path` to `len` bytes and syncs it, so the cut holds
/// even if the machine fails next.
fn cut_tail(path: &Path, len: u64) -> Result<(), SpoolError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|error| SpoolError::io("open for repair", path, error))?;
    file.set_len(len)
        .and_then(|()| file.sync_all())
        .map_err(|error| SpoolError::io("cut the damaged tail of", path, error))
}

/// Reads the samples of the record at `offset` of segment `path`, whose
/// header is `header`, using `buffer` for its payload. Damage found here
/// appeared after the spool verified the segment, so it is corruption.
pub(crate) fn read_samples(
    file: &File,
    path: &Path,
    offset: u64,
    header: RecordHeader,
    buffer: &mut Vec<u8>,
) -> Result<Vec<Sample>, SpoolError> {
    buffer.resize(header.payload_len as usize, 0);
    file.read_exact_at(buffer, offset + RECORD_HEADER_LEN as u64)
        .map_err(|error| read_error(path, offset, error))?;
    if !header.matches(buffer) {
        return Err(SpoolError::corrupt(
            path,
            offset,
            format!(
                "expected payload checksum {:#010x}, found {:#010x}",
                header.payload_crc,
                crc32fast::hash(buffer)
            ),
        ));
    }
    decode_payload(buffer, header, path, offset)
}

/// Reads and checks the header of the record at `offset` of `path`.
pub(crate) fn read_record_header(
    file: &File,
    path: &Path,
    offset: u64,
) -> Result<RecordHeader, SpoolError> {
    let mut bytes = [0; RECORD_HEADER_LEN];
    file.read_exact_at(&mut bytes, offset)
        .map_err(|error| read_error(path, offset, error))?;
    RecordHeader::decode(&bytes).ok_or_else(|| {
        SpoolError::corrupt(
            path,
            offset,
            "expected a record header whose checksum matches, found one whose checksum does not"
                .to_owned(),
        )
    })
}

/// The error for a failed read of the record at `offset`: a file that is
/// shorter than the spool verified it to be is corruption, anything else
/// an I/O failure.
fn read_error(path: &Path, offset: u64, error: io::Error) -> SpoolError {
    if error.kind() == io::ErrorKind::UnexpectedEof {
        return SpoolError::corrupt(
            path,
            offset,
            "expected a whole record, found the end of the file".to_owned(),
        );
    }
    SpoolError::io("read", path, error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_are_zero_padded_ids_that_sort_in_order() {
        assert_eq!(file_name(7), "00000000000000000007.seg");
        assert_eq!(parse_file_name("00000000000000000007.seg"), Some(7));
        assert_eq!(parse_file_name(&file_name(u64::MAX)), Some(u64::MAX));
        assert!(file_name(9) < file_name(10));
        for other in [
            "7.seg",
            "00000000000000000007.seg.tmp",
            "cursor",
            "0000000000000000000x.seg",
        ] {
            assert_eq!(parse_file_name(other), None, "{other}");
        }
    }
}
