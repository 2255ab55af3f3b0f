//! Segment files of checksummed frames: the bytes that both the bus's
//! embedded log and the gateway's store-and-forward spool keep on disk,
//! and how a file left by a crash is verified and repaired.
//!
//! Integers are little-endian; checksums are CRC-32 (IEEE) as computed by
//! `crc32fast`. A segment file is a header followed by frames:
//!
//! ```text
//! segment header, 24 bytes
//!   0..8    magic, one per kind of file (FileKind::magic)
//!   8..10   format version (u16)
//!   10..12  flags (u16); bit 0: written with interval fsync
//!   12..20  segment id (u64), the number in the file name
//!   20..24  CRC-32 of bytes 0..20
//! frame, 16 + payload_len bytes
//!   0..4    payload_len (u32)
//!   4..8    meta (u32): what the owner says about the payload, such as
//!           the samples in a spooled batch or a bus record's attributes
//!   8..12   CRC-32 of the payload
//!   12..16  CRC-32 of bytes 0..12, so a damaged length is never trusted
//!   16..    payload
//! ```
//!
//! Recovery rests on one fact about how the owners write segments: frames
//! are only ever appended to the newest segment, and a segment is synced
//! in full before a newer one is created. So damage a crash can cause lies
//! in the tail of the newest segment and reaches to its end. Damage
//! anywhere else, or damage followed by an intact frame, was not caused by
//! a crash and is reported as corruption rather than cut. One exception,
//! marked in the segment's header: with interval fsync the unsynced tail
//! may reach the disk out of order after a power cut, so in such a segment
//! everything from the first damage on is cut, intact frames included.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Size of a segment header, in bytes.
pub const SEGMENT_HEADER_LEN: usize = 24;
/// Size of a frame header, in bytes.
pub const FRAME_HEADER_LEN: usize = 16;
/// Segment flag: the segment was written with interval fsync, so a crash
/// may have left damage anywhere in its unsynced tail.
pub const FLAG_INTERVAL_SYNC: u16 = 1;
/// Ending of files being created; a crash may leave one behind.
pub const TEMPORARY_SUFFIX: &str = ".tmp";
/// Digits of the zero-padded id in a segment name, so that names sort in
/// id order.
const ID_DIGITS: usize = 20;
/// Read buffer for verifying a segment, in bytes.
const SCAN_BUFFER_BYTES: usize = 256 * 1024;

/// What kind of segment file a directory holds: its magic bytes, the
/// format version this build reads and writes, and names for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileKind {
    /// First bytes of every file of this kind.
    pub magic: [u8; 8],
    /// The format version this build reads and writes.
    pub version: u16,
    /// Every segment flag this build knows; a file with others is from a
    /// newer build.
    pub known_flags: u16,
    /// What such a file is, for messages: "spool segment".
    pub name: &'static str,
    /// Whose format it is, for messages: "spool".
    pub format: &'static str,
}

/// Why a segment file could not be read, written or trusted.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// A file operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done, such as `sync` or `read the header of`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// Another owner, in this process or another, has the directory open.
    #[error("{} is in use: another process holds its lock file", dir.display())]
    Locked {
        /// The directory.
        dir: PathBuf,
    },
    /// A file does not start with the magic bytes of its kind: it was not
    /// written by Flowline.
    #[error(
        "{} is not a Flowline {kind}: expected magic {expected:?} at offset 0, found {found:?}",
        path.display()
    )]
    Foreign {
        /// The file.
        path: PathBuf,
        /// The kind of file expected, such as "bus segment".
        kind: &'static str,
        /// The magic bytes of that kind.
        expected: String,
        /// What the file starts with, as lossy text.
        found: String,
    },
    /// A file was written in a format version this build cannot read,
    /// presumably by a newer Flowline.
    #[error(
        "{} is in {format} format version {found}; this build reads version {supported} only",
        path.display()
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// Whose format, such as "bus".
        format: &'static str,
        /// The version the file declares.
        found: u16,
        /// The version this build reads and writes.
        supported: u16,
    },
    /// A file is damaged where a crash cannot have damaged it. Nothing is
    /// skipped silently.
    #[error("{} is corrupt at offset {offset}: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Byte offset of the damaged header or frame.
        offset: u64,
        /// What was expected and what was found.
        reason: String,
    },
}

impl DiskError {
    /// An I/O error while doing `action` on `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        DiskError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// Damage at `offset` of `path`.
    pub fn corrupt(path: impl Into<PathBuf>, offset: u64, reason: String) -> Self {
        DiskError::Corrupt {
            path: path.into(),
            offset,
            reason,
        }
    }
}

/// The decoded header of a segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The segment's id: the number in its file name.
    pub id: u64,
    /// Its flags, such as [`FLAG_INTERVAL_SYNC`].
    pub flags: u16,
}

impl SegmentHeader {
    /// The header's bytes for a file of `kind`.
    pub fn encode(self, kind: &FileKind) -> [u8; SEGMENT_HEADER_LEN] {
        let mut bytes = [0; SEGMENT_HEADER_LEN];
        bytes[0..8].copy_from_slice(&kind.magic);
        bytes[8..10].copy_from_slice(&kind.version.to_le_bytes());
        bytes[10..12].copy_from_slice(&self.flags.to_le_bytes());
        bytes[12..20].copy_from_slice(&self.id.to_le_bytes());
        let crc = crc32fast::hash(&bytes[0..20]);
        bytes[20..24].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Reads the header at the start of `bytes`, the first bytes of the
    /// file `path` of `kind` (fewer than a header if the file is shorter).
    pub fn decode(bytes: &[u8], kind: &FileKind, path: &Path) -> Result<Self, DiskError> {
        check_magic(bytes, kind, path)?;
        let Some(bytes) = bytes.first_chunk::<SEGMENT_HEADER_LEN>() else {
            return Err(DiskError::corrupt(
                path,
                0,
                format!(
                    "expected a {SEGMENT_HEADER_LEN}-byte segment header, found a file of {} bytes",
                    bytes.len()
                ),
            ));
        };
        check_version(u16_at(bytes, 8), kind, path)?;
        check_crc(&bytes[0..20], u32_at(bytes, 20), path, "segment header")?;
        let flags = u16_at(bytes, 10);
        if flags & !kind.known_flags != 0 {
            return Err(DiskError::corrupt(
                path,
                10,
                format!(
                    "expected segment flags within {:#06x}, found {flags:#06x}",
                    kind.known_flags
                ),
            ));
        }
        Ok(SegmentHeader {
            id: u64_at(bytes, 12),
            flags,
        })
    }
}

/// The decoded header of a frame whose own checksum matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Size of the payload, in bytes.
    pub payload_len: u32,
    /// What the owner says about the payload.
    pub meta: u32,
    /// CRC-32 of the payload.
    pub payload_crc: u32,
}

impl FrameHeader {
    /// Reads a frame header; `None` when its checksum does not match, so
    /// nothing in it can be trusted.
    pub fn decode(bytes: &[u8; FRAME_HEADER_LEN]) -> Option<FrameHeader> {
        if crc32fast::hash(&bytes[0..12]) != u32_at(bytes, 12) {
            return None;
        }
        Some(FrameHeader {
            payload_len: u32_at(bytes, 0),
            meta: u32_at(bytes, 4),
            payload_crc: u32_at(bytes, 8),
        })
    }

    /// Size of the whole frame, header included, in bytes.
    pub fn frame_len(self) -> u64 {
        FRAME_HEADER_LEN as u64 + u64::from(self.payload_len)
    }

    /// Whether `payload` is the payload this header describes.
    pub fn matches(self, payload: &[u8]) -> bool {
        payload.len() == self.payload_len as usize && crc32fast::hash(payload) == self.payload_crc
    }
}

/// Starts a frame at the end of `buffer`: reserves its header and returns
/// where it starts. Write the payload after it, then call
/// [`finish_frame`].
pub fn start_frame(buffer: &mut Vec<u8>) -> usize {
    let start = buffer.len();
    buffer.extend_from_slice(&[0; FRAME_HEADER_LEN]);
    start
}

/// Fills in the header of the frame that starts at `start` of `buffer`
/// and runs to its end: length, `meta` and both checksums. Returns the
/// payload's length when it does not fit the 32-bit length field.
///
/// Fast path: one checksum pass over the payload.
pub fn finish_frame(buffer: &mut [u8], start: usize, meta: u32) -> Result<(), usize> {
    let payload = &buffer[start + FRAME_HEADER_LEN..];
    let payload_len = u32::try_from(payload.len()).map_err(|_| payload.len())?;
    let payload_crc = crc32fast::hash(payload);
    let header = &mut buffer[start..start + FRAME_HEADER_LEN];
    header[0..4].copy_from_slice(&payload_len.to_le_bytes());
    header[4..8].copy_from_slice(&meta.to_le_bytes());
    header[8..12].copy_from_slice(&payload_crc.to_le_bytes());
    let header_crc = crc32fast::hash(&header[0..12]);
    header[12..16].copy_from_slice(&header_crc.to_le_bytes());
    Ok(())
}

/// The file name of segment `id` with `suffix`, such as
/// `00000000000000000007.seg`.
pub fn file_name(id: u64, suffix: &str) -> String {
    format!("{id:0ID_DIGITS$}{suffix}")
}

/// The id in a file name made by [`file_name`] with `suffix`; `None` for
/// any other name.
pub fn parse_file_name(name: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_suffix(suffix)?;
    if digits.len() != ID_DIGITS || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Writes `bytes` to the file `name` in `dir` durably and atomically: to
/// a temporary file first, synced, renamed into place, directory synced.
/// Returns the file, open for reading and appending.
pub fn create_durably(dir: &Path, name: &str, bytes: &[u8]) -> Result<(PathBuf, File), DiskError> {
    let path = dir.join(name);
    let temporary = dir.join(format!("{name}{TEMPORARY_SUFFIX}"));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temporary)
        .map_err(|error| DiskError::io("create", &temporary, error))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|error| DiskError::io("write", &temporary, error))?;
    fs::rename(&temporary, &path).map_err(|error| DiskError::io("rename", &temporary, error))?;
    sync_dir(dir)?;
    Ok((path, file))
}

/// Syncs directory `dir`, making creations, renames and removals in it
/// durable.
pub fn sync_dir(dir: &Path) -> Result<(), DiskError> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|error| DiskError::io("sync directory", dir, error))
}

/// Takes the lock file `name` of `dir`, which is held while the returned
/// file stays open; fails with [`DiskError::Locked`] if another owner
/// holds it.
pub fn lock_dir(dir: &Path, name: &str) -> Result<File, DiskError> {
    let path = dir.join(name);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|error| DiskError::io("open", &path, error))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(DiskError::Locked {
            dir: dir.to_owned(),
        }),
        Err(TryLockError::Error(error)) => Err(DiskError::io("lock", path, error)),
    }
}

/// The ids in the names of the files of `dir` made by [`file_name`] with
/// `suffix`, in order, after removing the temporary files an interrupted
/// [`create_durably`] left; those are returned too, for the caller to
/// log. Other files are left alone.
pub fn list_ids(dir: &Path, suffix: &str) -> Result<(Vec<u64>, Vec<PathBuf>), DiskError> {
    let entries = fs::read_dir(dir).map_err(|error| DiskError::io("list", dir, error))?;
    let mut ids = Vec::new();
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| DiskError::io("list", dir, error))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(id) = parse_file_name(name, suffix) {
            ids.push(id);
        } else if name.ends_with(TEMPORARY_SUFFIX) {
            let path = entry.path();
            fs::remove_file(&path).map_err(|error| DiskError::io("remove", &path, error))?;
            removed.push(path);
        }
    }
    ids.sort_unstable();
    Ok((ids, removed))
}

/// Cuts the file at `path` to `len` bytes and syncs it, so the cut holds
/// even if the machine fails next.
pub fn cut_tail(path: &Path, len: u64) -> Result<(), DiskError> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|error| DiskError::io("open for repair", path, error))?;
    file.set_len(len)
        .and_then(|()| file.sync_all())
        .map_err(|error| DiskError::io("cut the damaged tail of", path, error))
}

/// What verifying a segment found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// The segment's header.
    pub header: SegmentHeader,
    /// Bytes of intact data, header included: where the next frame goes.
    pub bytes: u64,
    /// Its intact frames.
    pub frames: u64,
    /// The damaged tail cut from the segment, if any.
    pub cut: Option<Cut>,
}

/// A damaged tail cut from the newest segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// Offset of the first damaged byte, now the segment's end.
    pub offset: u64,
    /// Bytes removed.
    pub bytes: u64,
    /// Intact frames among the removed bytes; only ever non-zero in a
    /// segment written with interval fsync.
    pub intact_frames: u64,
    /// What was damaged, expected against found.
    pub reason: String,
}

/// What [`scan`] calls for each intact frame: its byte offset, its
/// header and its payload. An error stops the scan.
pub type Visit<'a> = dyn FnMut(u64, FrameHeader, &[u8]) -> Result<(), DiskError> + 'a;

/// Verifies segment `id` of `kind` at `path`: its header and every
/// frame's checksums, handing each intact frame to `visit` with its byte
/// offset. `newest` says whether a crash may have damaged its tail; if
/// so, a damaged tail is cut off the file, which is then synced. An error
/// from `visit` stops the scan and is returned.
///
/// Slow path: runs once per segment when its owner opens.
pub fn scan(
    path: &Path,
    kind: &FileKind,
    id: u64,
    newest: bool,
    visit: &mut Visit<'_>,
) -> Result<Scan, DiskError> {
    let file = File::open(path).map_err(|error| DiskError::io("open", path, error))?;
    let file_len = file
        .metadata()
        .map_err(|error| DiskError::io("read the size of", path, error))?
        .len();
    let mut reader = BufReader::with_capacity(SCAN_BUFFER_BYTES, &file);

    let header = read_segment_header(&mut reader, kind, path)?;
    if header.id != id {
        return Err(DiskError::corrupt(
            path,
            12,
            format!(
                "expected segment id {id} as in the file name, found {}",
                header.id
            ),
        ));
    }

    let mut scan = Scan {
        header,
        bytes: SEGMENT_HEADER_LEN as u64,
        frames: 0,
        cut: None,
    };
    let mut payload = Vec::new();
    while scan.bytes < file_len {
        match next_frame(&mut reader, file_len - scan.bytes, &mut payload, path)? {
            Ok(frame) => {
                visit(scan.bytes, frame, &payload)?;
                scan.bytes += frame.frame_len();
                scan.frames += 1;
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
    Ok(scan)
}

/// Reads and checks the segment header at the start of `reader`.
fn read_segment_header(
    reader: &mut impl Read,
    kind: &FileKind,
    path: &Path,
) -> Result<SegmentHeader, DiskError> {
    let mut bytes = Vec::with_capacity(SEGMENT_HEADER_LEN);
    reader
        .take(SEGMENT_HEADER_LEN as u64)
        .read_to_end(&mut bytes)
        .map_err(|error| DiskError::io("read the header of", path, error))?;
    SegmentHeader::decode(&bytes, kind, path)
}

/// Reads the next frame from `reader`, with `remaining` bytes left in the
/// file, into `payload`. The inner error describes damage; the outer one
/// is a failure to read.
fn next_frame(
    reader: &mut impl Read,
    remaining: u64,
    payload: &mut Vec<u8>,
    path: &Path,
) -> Result<Result<FrameHeader, String>, DiskError> {
    if remaining < FRAME_HEADER_LEN as u64 {
        return Ok(Err(format!(
            "expected a {FRAME_HEADER_LEN}-byte record header, found {remaining} bytes"
        )));
    }
    let mut header_bytes = [0; FRAME_HEADER_LEN];
    read_exact(reader, &mut header_bytes, path)?;
    let Some(header) = FrameHeader::decode(&header_bytes) else {
        return Ok(Err(
            "expected a record header whose checksum matches, found one whose checksum does not"
                .to_owned(),
        ));
    };
    if header.frame_len() > remaining {
        return Ok(Err(format!(
            "expected a record of {} bytes, found {remaining} bytes left in the file",
            header.frame_len()
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
fn read_exact(reader: &mut impl Read, buffer: &mut [u8], path: &Path) -> Result<(), DiskError> {
    reader
        .read_exact(buffer)
        .map_err(|error| DiskError::io("read", path, error))
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
) -> Result<Cut, DiskError> {
    if !newest {
        return Err(DiskError::corrupt(
            path,
            offset,
            format!("{reason}, in a segment that was closed and synced before a newer one"),
        ));
    }
    let intact_frames = intact_frames_after(file, path, offset, file_len)?;
    if intact_frames > 0 && !interval {
        return Err(DiskError::corrupt(
            path,
            offset,
            format!("{reason}, followed by {intact_frames} intact records, so not a torn tail"),
        ));
    }
    Ok(Cut {
        offset,
        bytes: file_len - offset,
        intact_frames,
        reason,
    })
}

/// Counts the intact frames that follow damage at `offset`: the first
/// place after it where a whole frame checks out, and the chain of frames
/// from there.
///
/// Slow path: tries every byte offset, which a frame header's own
/// checksum makes cheap; runs only when a segment is damaged.
fn intact_frames_after(
    file: &File,
    path: &Path,
    offset: u64,
    file_len: u64,
) -> Result<u64, DiskError> {
    let mut tail = vec![0; (file_len - offset) as usize];
    file.read_exact_at(&mut tail, offset)
        .map_err(|error| DiskError::io("read", path, error))?;

    let Some(start) = (1..tail.len()).find(|&at| intact_frame_len(&tail[at..]).is_some()) else {
        return Ok(0);
    };
    let mut frames = 0;
    let mut at = start;
    while let Some(len) = intact_frame_len(&tail[at..]) {
        frames += 1;
        at += len;
    }
    Ok(frames)
}

/// The length of the intact frame at the start of `bytes`, if there is
/// one.
fn intact_frame_len(bytes: &[u8]) -> Option<usize> {
    let header = FrameHeader::decode(bytes.first_chunk::<FRAME_HEADER_LEN>()?)?;
    let len = usize::try_from(header.frame_len()).ok()?;
    let payload = bytes.get(FRAME_HEADER_LEN..len)?;
    header.matches(payload).then_some(len)
}

/// Reads and checks the header of the frame at `offset` of `path`. Damage
/// found here appeared after the owner verified the segment, so it is
/// corruption.
pub fn read_frame_header(file: &File, path: &Path, offset: u64) -> Result<FrameHeader, DiskError> {
    let mut bytes = [0; FRAME_HEADER_LEN];
    file.read_exact_at(&mut bytes, offset)
        .map_err(|error| read_error(path, offset, error))?;
    FrameHeader::decode(&bytes).ok_or_else(|| {
        DiskError::corrupt(
            path,
            offset,
            "expected a record header whose checksum matches, found one whose checksum does not"
                .to_owned(),
        )
    })
}

/// Reads the payload of the frame at `offset` of `path`, whose header is
/// `header`, into `buffer`, and checks it.
pub fn read_payload(
    file: &File,
    path: &Path,
    offset: u64,
    header: FrameHeader,
    buffer: &mut Vec<u8>,
) -> Result<(), DiskError> {
    buffer.resize(header.payload_len as usize, 0);
    file.read_exact_at(buffer, offset + FRAME_HEADER_LEN as u64)
        .map_err(|error| read_error(path, offset, error))?;
    if header.matches(buffer) {
        return Ok(());
    }
    Err(DiskError::corrupt(
        path,
        offset,
        format!(
            "expected payload checksum {:#010x}, found {:#010x}",
            header.payload_crc,
            crc32fast::hash(buffer)
        ),
    ))
}

/// The error for a failed read of the frame at `offset`: a file that is
/// shorter than its owner verified it to be is corruption, anything else
/// an I/O failure.
pub fn read_error(path: &Path, offset: u64, error: io::Error) -> DiskError {
    if error.kind() == io::ErrorKind::UnexpectedEof {
        return DiskError::corrupt(
            path,
            offset,
            "expected a whole record, found the end of the file".to_owned(),
        );
    }
    DiskError::io("read", path, error)
}

/// Refuses bytes that do not start with the magic of `kind`: a file of
/// someone else's, or one cut short before its magic was written.
pub fn check_magic(bytes: &[u8], kind: &FileKind, path: &Path) -> Result<(), DiskError> {
    let found = &bytes[..bytes.len().min(kind.magic.len())];
    if found == kind.magic {
        return Ok(());
    }
    Err(DiskError::Foreign {
        path: path.to_owned(),
        kind: kind.name,
        expected: String::from_utf8_lossy(&kind.magic).into_owned(),
        found: String::from_utf8_lossy(found).into_owned(),
    })
}

/// Refuses a format version other than the one of `kind`.
pub fn check_version(found: u16, kind: &FileKind, path: &Path) -> Result<(), DiskError> {
    if found == kind.version {
        return Ok(());
    }
    Err(DiskError::UnsupportedVersion {
        path: path.to_owned(),
        format: kind.format,
        found,
        supported: kind.version,
    })
}

/// Refuses a header whose checksum does not match; `what` names it.
pub fn check_crc(covered: &[u8], stored: u32, path: &Path, what: &str) -> Result<(), DiskError> {
    let computed = crc32fast::hash(covered);
    if computed == stored {
        return Ok(());
    }
    Err(DiskError::corrupt(
        path,
        0,
        format!("expected {what} checksum {computed:#010x}, found {stored:#010x}"),
    ))
}

/// The little-endian u16 at `at`; the caller has checked the length.
pub fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

/// The little-endian u32 at `at`; the caller has checked the length.
pub fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

/// The little-endian u64 at `at`; the caller has checked the length.
pub fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kind of file for these tests.
    const KIND: FileKind = FileKind {
        magic: *b"FLWTESTS",
        version: 3,
        known_flags: FLAG_INTERVAL_SYNC,
        name: "test segment",
        format: "test",
    };

    fn path() -> &'static Path {
        Path::new("/data/00000000000000000007.seg")
    }

    #[test]
    fn a_file_of_another_kind_is_foreign_and_a_newer_version_unsupported() {
        let error = SegmentHeader::decode(b"PK\x03\x04 zip", &KIND, path()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "/data/00000000000000000007.seg is not a Flowline test segment: expected magic \
             \"FLWTESTS\" at offset 0, found \"PK\\u{3}\\u{4} zip\""
        );
        let mut bytes = SegmentHeader { id: 7, flags: 0 }.encode(&KIND);
        bytes[8] = 4; // format version 4
        let error = SegmentHeader::decode(&bytes, &KIND, path()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "/data/00000000000000000007.seg is in test format version 4; this build reads \
             version 3 only"
        );
    }

    #[test]
    fn a_frame_is_length_meta_checksums_and_payload() {
        let mut buffer = vec![0xee]; // a byte of an earlier frame
        let start = start_frame(&mut buffer);
        buffer.extend_from_slice(b"payload");
        finish_frame(&mut buffer, start, 9).unwrap();

        let mut expected = vec![0xee];
        expected.extend_from_slice(&[7, 0, 0, 0]); // payload_len
        expected.extend_from_slice(&[9, 0, 0, 0]); // meta
        expected.extend_from_slice(&crc32fast::hash(b"payload").to_le_bytes());
        let header_crc = crc32fast::hash(&expected[1..13]);
        expected.extend_from_slice(&header_crc.to_le_bytes()); // crc of the 12 bytes above
        expected.extend_from_slice(b"payload");
        assert_eq!(buffer, expected);

        let header = FrameHeader::decode(buffer[1..17].try_into().unwrap()).unwrap();
        assert_eq!(header.meta, 9);
        assert!(header.matches(b"payload"));
        assert!(!header.matches(b"payloaD"));
    }

    #[test]
    fn a_frame_header_with_a_flipped_length_is_not_trusted() {
        let mut buffer = Vec::new();
        let start = start_frame(&mut buffer);
        buffer.extend_from_slice(b"abc");
        finish_frame(&mut buffer, start, 0).unwrap();
        buffer[1] ^= 0x01; // payload_len off by 256
        assert_eq!(FrameHeader::decode(buffer[..16].try_into().unwrap()), None);
    }

    #[test]
    fn file_names_are_zero_padded_ids_that_sort_in_order() {
        assert_eq!(file_name(7, ".seg"), "00000000000000000007.seg");
        assert_eq!(parse_file_name("00000000000000000007.seg", ".seg"), Some(7));
        assert_eq!(
            parse_file_name(&file_name(u64::MAX, ".seg"), ".seg"),
            Some(u64::MAX)
        );
        assert!(file_name(9, ".seg") < file_name(10, ".seg"));
        for other in [
            "7.seg",
            "00000000000000000007.seg.tmp",
            "cursor",
            "0000000000000000000x.seg",
        ] {
            assert_eq!(parse_file_name(other, ".seg"), None, "{other}");
        }
    }

    /// Writes a segment of `frames` frames of 10 bytes each and returns
    /// its path.
    fn segment_with(dir: &Path, frames: usize, flags: u16) -> PathBuf {
        let mut bytes = SegmentHeader { id: 7, flags }.encode(&KIND).to_vec();
        for n in 0..frames {
            let start = start_frame(&mut bytes);
            bytes.extend_from_slice(&[n as u8; 10]);
            finish_frame(&mut bytes, start, n as u32).unwrap();
        }
        let (path, _) = create_durably(dir, &file_name(7, ".seg"), &bytes).unwrap();
        path
    }

    #[test]
    fn a_scan_visits_every_frame_and_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = segment_with(dir.path(), 3, 0);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&[0x55; 9]).unwrap(); // half a frame header

        let mut seen = Vec::new();
        let scan = scan(&path, &KIND, 7, true, &mut |at, frame, payload| {
            seen.push((at, frame.meta, payload[0]));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, [(24, 0, 0), (50, 1, 1), (76, 2, 2)]);
        assert_eq!(scan.bytes, 24 + 3 * 26);
        let cut = scan.cut.unwrap();
        assert_eq!((cut.offset, cut.bytes, cut.intact_frames), (102, 9, 0));
        assert_eq!(fs::metadata(&path).unwrap().len(), 102);
    }

    #[test]
    fn damage_followed_by_intact_frames_is_corruption_unless_synced_by_interval() {
        for (flags, cut) in [(0, false), (FLAG_INTERVAL_SYNC, true)] {
            let dir = tempfile::tempdir().unwrap();
            let path = segment_with(dir.path(), 3, flags);
            let file = OpenOptions::new().write(true).open(&path).unwrap();
            file.write_all_at(&[0xff], 24 + 26 + 20).unwrap(); // second payload

            let result = scan(&path, &KIND, 7, true, &mut |_, _, _| Ok(()));
            if cut {
                let cut = result.unwrap().cut.unwrap();
                assert_eq!((cut.offset, cut.intact_frames), (50, 1));
            } else {
                assert_eq!(
                    result.unwrap_err().to_string(),
                    format!(
                        "{} is corrupt at offset 50: expected payload checksum {:#010x}, found \
                         {:#010x}, followed by 1 intact records, so not a torn tail",
                        path.display(),
                        crc32fast::hash(&[1; 10]),
                        crc32fast::hash(&[1, 1, 1, 1, 0xff, 1, 1, 1, 1, 1]),
                    )
                );
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn a_segment_cut_anywhere_keeps_exactly_its_whole_frames(
            payloads in proptest::collection::vec(
                proptest::collection::vec(proptest::num::u8::ANY, 0..40),
                0..12,
            ),
            cut_at in 0.0..=1.0_f64,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut bytes = SegmentHeader { id: 7, flags: 0 }.encode(&KIND).to_vec();
            let mut ends = vec![bytes.len()];
            for payload in &payloads {
                let start = start_frame(&mut bytes);
                bytes.extend_from_slice(payload);
                finish_frame(&mut bytes, start, payload.len() as u32).unwrap();
                ends.push(bytes.len());
            }
            let keep = SEGMENT_HEADER_LEN
                + ((bytes.len() - SEGMENT_HEADER_LEN) as f64 * cut_at) as usize;
            let (path, _) = create_durably(dir.path(), "00000000000000000007.seg", &bytes[..keep])
                .unwrap();

            let mut seen = Vec::new();
            let scan = scan(&path, &KIND, 7, true, &mut |_, frame, payload| {
                assert_eq!(frame.meta as usize, payload.len());
                seen.push(payload.to_vec());
                Ok(())
            })
            .unwrap();
            let whole = ends.iter().filter(|&&end| end <= keep).count() - 1;
            proptest::prop_assert_eq!(&seen[..], &payloads[..whole]);
            proptest::prop_assert_eq!(scan.bytes as usize, ends[whole]);
            proptest::prop_assert_eq!(fs::metadata(&path).unwrap().len() as usize, ends[whole]);
        }
    }

    #[test]
    fn damage_in_a_segment_that_is_not_the_newest_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let path = segment_with(dir.path(), 2, 0);
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(60).unwrap();
        let error = scan(&path, &KIND, 7, false, &mut |_, _, _| Ok(())).unwrap_err();
        assert!(
            error
                .to_string()
                .ends_with("in a segment that was closed and synced before a newer one"),
            "{error}"
        );
        assert_eq!(fs::metadata(&path).unwrap().len(), 60, "nothing cut");
    }
}
