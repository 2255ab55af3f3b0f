//! What can go wrong with the spool.
//!
//! Every message names the file, and the byte offset when there is one,
//! and says what was expected and what was found, so that an operator can
//! decide from the log alone whether to move a damaged spool aside.

use std::io;
use std::path::PathBuf;

use flowline_bus::disk::DiskError;

/// Why a spool operation failed. Unless the variant says otherwise, the
/// spool is unchanged and the operation may be retried.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The configuration cannot work.
    #[error("invalid spool configuration: {key}: {message}")]
    Config {
        /// The key at fault, such as `max_bytes`.
        key: &'static str,
        /// What was expected and what was found.
        message: String,
    },
    /// A file operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done, such as `sync` or `read the cursor`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// Another spool, in this process or another, has the directory open.
    #[error("spool directory {} is in use: another process holds its lock file", dir.display())]
    Locked {
        /// The spool directory.
        dir: PathBuf,
    },
    /// A segment file does not start with the spool's magic bytes: it was
    /// not written by Flowline's spool.
    #[error(
        "{} is not a Flowline spool segment: expected magic {expected:?} at offset 0, \
         found {found:?}",
        path.display()
    )]
    Foreign {
        /// The file.
        path: PathBuf,
        /// The magic bytes of a spool file.
        expected: String,
        /// What the file starts with, as lossy text.
        found: String,
    },
    /// A spool file was written in a format version this build cannot
    /// read, presumably by a newer Flowline.
    #[error(
        "{} is in spool format version {found}; this build reads version {supported} only",
        path.display()
    )]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version the file declares.
        found: u16,
        /// The version this build reads and writes.
        supported: u16,
    },
    /// A segment or cursor file is damaged where a crash cannot have
    /// damaged it: its header, a record in a closed segment, or a record
    /// followed by intact ones. Nothing is skipped silently; move the
    /// spool aside (or restore the file) to start again.
    #[error("{} is corrupt at offset {offset}: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Byte offset of the damaged header or record.
        offset: u64,
        /// What was expected and what was found.
        reason: String,
    },
    /// A batch is larger than a segment may hold.
    #[error(
        "a batch of {samples} samples encodes to {bytes} bytes; a segment holds records of at \
         most {limit} bytes (segment_bytes)"
    )]
    BatchTooLarge {
        /// Samples in the batch.
        samples: usize,
        /// Size of its record, header included, in bytes.
        bytes: u64,
        /// The largest record a segment holds, in bytes.
        limit: u64,
    },
    /// A batch could not be encoded; a bug, since every sample encodes.
    #[error("cannot encode a batch of {samples} samples: {source}")]
    Encode {
        /// Samples in the batch.
        samples: usize,
        /// What the encoder said.
        source: postcard::Error,
    },
    /// An acknowledged position is not one this spool handed out.
    #[error(
        "cannot acknowledge segment {segment} offset {offset}: the spool ends at segment \
         {end_segment} offset {end_offset}"
    )]
    UnknownPosition {
        /// Segment of the position.
        segment: u64,
        /// Offset of the position.
        offset: u64,
        /// Segment where the spool ends.
        end_segment: u64,
        /// Offset where the spool ends.
        end_offset: u64,
    },
    /// An earlier write failed and its partial record could not be cut
    /// off, so the spool takes no more batches until it is reopened, which
    /// cuts the partial record.
    #[error("spool {} refuses appends until reopened: {reason}", dir.display())]
    Broken {
        /// The spool directory.
        dir: PathBuf,
        /// The failure that broke it.
        reason: String,
    },
}

impl SpoolError {
    /// An I/O error while doing `action` on `path`.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        SpoolError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

impl From<DiskError> for SpoolError {
    fn from(error: DiskError) -> Self {
        match error {
            DiskError::Io {
                action,
                path,
                source,
            } => SpoolError::Io {
                action,
                path,
                source,
            },
            DiskError::Locked { dir } => SpoolError::Locked { dir },
            DiskError::Foreign {
                path,
                expected,
                found,
                ..
            } => SpoolError::Foreign {
                path,
                expected,
                found,
            },
            DiskError::UnsupportedVersion {
                path,
                found,
                supported,
                ..
            } => SpoolError::UnsupportedVersion {
                path,
                found,
                supported,
            },
            DiskError::Corrupt {
                path,
                offset,
                reason,
            } => SpoolError::Corrupt {
                path,
                offset,
                reason,
            },
        }
    }
}
