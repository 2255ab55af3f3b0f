//! The embedded log's bytes on disk: records in partition segments, the
//! sparse index of a closed segment, and the control log's records.
//! Integers are little-endian; checksums are CRC-32 (IEEE).
//!
//! A partition segment is a segment file of `crate::disk` (24-byte
//! header with magic `FLWBUSLG`, segment id = the offset of its first
//! record) whose frames each hold one record:
//!
//! ```text
//! frame, 16 + 24 + key_len + value_len + headers_len bytes
//!   0..16   frame header (crate::disk): payload_len, meta, checksums
//!           meta bit 0: the record was written by a transaction
//!   16..24  offset (u64)
//!   24..32  timestamp (i64): microseconds since the Unix epoch, UTC
//!   32..36  key_len (u32)
//!   36..40  value_len (u32)
//!   40..    key, value, then the headers to the end of the payload:
//!           each is name_len (u16), name (UTF-8), value_len (u32), value
//! ```
//!
//! When a segment is closed its sparse index is written beside it
//! (`00000000000000000000.idx` for `00000000000000000000.seg`), so that
//! opening the log need not read closed segments:
//!
//! ```text
//! index file, 60 + 8 × entries bytes
//!   0..8    magic "FLWBUSIX"
//!   8..10   format version (u16), 1
//!   10..12  reserved, zero
//!   12..20  base offset (u64): the segment's first offset
//!   20..28  end offset (u64): one past the segment's last record
//!   28..36  segment bytes (u64): the length of the file it describes
//!   36..44  largest record timestamp (i64); i64::MIN when empty
//!   44..52  first offset written by a transaction (u64); u64::MAX if none
//!   52..56  entries (u32)
//!   56..    entries: offset minus base (u32), byte position (u32)
//!   last 4  CRC-32 of all bytes before
//! ```
//!
//! The control log (directory `control`, magic `FLWBUSCT`, segment ids
//! counting up) holds one postcard-encoded [`ControlRecord`] per frame.
//! Its newest segment starts with a snapshot of the whole state; each
//! later frame is one commit.

use std::path::Path;

use flowline_core::Timestamp;
use serde::{Deserialize, Serialize};

use crate::disk::{
    self, DiskError, FLAG_INTERVAL_SYNC, FRAME_HEADER_LEN, FileKind, FrameHeader, u32_at, u64_at,
};
use crate::record::Packed;

/// Partition segments.
pub(crate) const LOG_SEGMENT: FileKind = FileKind {
    magic: *b"FLWBUSLG",
    version: 1,
    known_flags: FLAG_INTERVAL_SYNC,
    name: "bus segment",
    format: "bus",
};

/// Control log segments.
pub(crate) const CONTROL_SEGMENT: FileKind = FileKind {
    magic: *b"FLWBUSCT",
    version: 1,
    known_flags: FLAG_INTERVAL_SYNC,
    name: "bus control segment",
    format: "bus",
};

/// Index files.
pub(crate) const INDEX: FileKind = FileKind {
    magic: *b"FLWBUSIX",
    version: 1,
    known_flags: 0,
    name: "bus index",
    format: "bus",
};

/// Ending of segment file names.
pub(crate) const SEGMENT_SUFFIX: &str = ".seg";
/// Ending of index file names.
pub(crate) const INDEX_SUFFIX: &str = ".idx";
/// Bytes of a record's payload before its key.
pub(crate) const RECORD_PREFIX_LEN: usize = 24;
/// Bytes of a record frame before its key.
pub(crate) const RECORD_HEADER_LEN: usize = FRAME_HEADER_LEN + RECORD_PREFIX_LEN;
/// Frame meta bit: the record was written by a transaction.
pub(crate) const TRANSACTIONAL: u32 = 1;
/// Bytes of an index file before its entries.
const INDEX_HEADER_LEN: usize = 56;
/// Bytes of one index entry.
const INDEX_ENTRY_LEN: usize = 8;

/// Appends the record `packed` of `data` with `offset` to `buffer` as one
/// frame; `meta` is [`TRANSACTIONAL`] or 0. The caller has checked that
/// the record fits a frame.
///
/// Fast path: one copy of the record's bytes and one checksum pass.
pub(crate) fn encode_record(
    buffer: &mut Vec<u8>,
    offset: u64,
    packed: Packed,
    data: &[u8],
    meta: u32,
) {
    let start = disk::start_frame(buffer);
    buffer.extend_from_slice(&offset.to_le_bytes());
    buffer.extend_from_slice(&packed.timestamp.as_micros().to_le_bytes());
    buffer.extend_from_slice(&packed.key_len.to_le_bytes());
    buffer.extend_from_slice(&packed.value_len.to_le_bytes());
    buffer.extend_from_slice(&data[packed.start..packed.start + packed.body_len()]);
    if let Err(len) = disk::finish_frame(buffer, start, meta) {
        unreachable!("bug: a record payload of {len} bytes passed the size checks");
    }
}

/// Bytes the record `packed` takes on disk, frame included.
pub(crate) fn record_len(packed: Packed) -> u64 {
    RECORD_HEADER_LEN as u64 + packed.body_len() as u64
}

/// A record frame read back: what its prefix says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordFrame {
    /// The frame's header.
    pub(crate) frame: FrameHeader,
    /// The record's offset.
    pub(crate) offset: u64,
    /// Its bytes: where its key starts, relative to the frame's start, and
    /// the lengths of key, value and headers.
    pub(crate) packed: Packed,
}

impl RecordFrame {
    /// Whether a transaction wrote the record.
    pub(crate) fn transactional(self) -> bool {
        self.frame.meta & TRANSACTIONAL != 0
    }
}

/// Reads the record whose checked payload is `payload`, with frame
/// header `frame`, at byte `position` of `path`: its prefix must be
/// whole and its lengths add up.
pub(crate) fn decode_record(
    frame: FrameHeader,
    payload: &[u8],
    path: &Path,
    position: u64,
) -> Result<RecordFrame, DiskError> {
    let Some(prefix) = payload.first_chunk::<RECORD_PREFIX_LEN>() else {
        return Err(DiskError::corrupt(
            path,
            position,
            format!(
                "expected a record payload of at least {RECORD_PREFIX_LEN} bytes, found {}",
                payload.len()
            ),
        ));
    };
    let key_len = u32_at(prefix, 16);
    let value_len = u32_at(prefix, 20);
    let body = payload.len() - RECORD_PREFIX_LEN;
    let Some(headers_len) = body
        .checked_sub(key_len as usize)
        .and_then(|rest| rest.checked_sub(value_len as usize))
    else {
        return Err(DiskError::corrupt(
            path,
            position,
            format!(
                "expected a key of {key_len} and a value of {value_len} bytes to fit in a record \
                 body of {body} bytes"
            ),
        ));
    };
    Ok(RecordFrame {
        frame,
        offset: u64_at(prefix, 0),
        packed: Packed {
            start: RECORD_HEADER_LEN,
            key_len,
            value_len,
            headers_len: headers_len as u32,
            timestamp: Timestamp::from_micros(u64_at(prefix, 8) as i64),
        },
    })
}

/// A closed segment's summary and sparse index, as its index file holds
/// them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IndexFile {
    /// The segment's first offset.
    pub(crate) base: u64,
    /// One past its last record.
    pub(crate) end: u64,
    /// The length of the segment file.
    pub(crate) bytes: u64,
    /// Its largest record timestamp, in microseconds; `i64::MIN` if empty.
    pub(crate) max_timestamp: i64,
    /// Its first record written by a transaction.
    pub(crate) first_transactional: Option<u64>,
    /// Offset minus base, and byte position, of some of its records.
    pub(crate) entries: Vec<(u32, u32)>,
}

impl IndexFile {
    /// The file's bytes.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(INDEX_HEADER_LEN + 8 * self.entries.len() + 4);
        bytes.extend_from_slice(&INDEX.magic);
        bytes.extend_from_slice(&INDEX.version.to_le_bytes());
        bytes.extend_from_slice(&[0, 0]);
        bytes.extend_from_slice(&self.base.to_le_bytes());
        bytes.extend_from_slice(&self.end.to_le_bytes());
        bytes.extend_from_slice(&self.bytes.to_le_bytes());
        bytes.extend_from_slice(&self.max_timestamp.to_le_bytes());
        let first = self.first_transactional.unwrap_or(u64::MAX);
        bytes.extend_from_slice(&first.to_le_bytes());
        bytes.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        for &(relative, position) in &self.entries {
            bytes.extend_from_slice(&relative.to_le_bytes());
            bytes.extend_from_slice(&position.to_le_bytes());
        }
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Reads the index file `path`, whose contents are `bytes`.
    pub(crate) fn decode(bytes: &[u8], path: &Path) -> Result<IndexFile, DiskError> {
        disk::check_magic(bytes, &INDEX, path)?;
        if bytes.len() < INDEX_HEADER_LEN + 4 {
            return Err(DiskError::corrupt(
                path,
                0,
                format!(
                    "expected an index of at least {} bytes, found {}",
                    INDEX_HEADER_LEN + 4,
                    bytes.len()
                ),
            ));
        }
        disk::check_version(disk::u16_at(bytes, 8), &INDEX, path)?;
        let (covered, crc) = bytes.split_at(bytes.len() - 4);
        disk::check_crc(covered, u32_at(crc, 0), path, "index")?;
        let count = u32_at(bytes, 52) as usize;
        let entries_bytes = &covered[INDEX_HEADER_LEN..];
        if entries_bytes.len() != count * INDEX_ENTRY_LEN {
            return Err(DiskError::corrupt(
                path,
                52,
                format!(
                    "expected {count} entries of {INDEX_ENTRY_LEN} bytes, found {} bytes",
                    entries_bytes.len()
                ),
            ));
        }
        let first = u64_at(bytes, 44);
        Ok(IndexFile {
            base: u64_at(bytes, 12),
            end: u64_at(bytes, 20),
            bytes: u64_at(bytes, 28),
            max_timestamp: u64_at(bytes, 36) as i64,
            first_transactional: (first != u64::MAX).then_some(first),
            entries: entries_bytes
                .chunks_exact(INDEX_ENTRY_LEN)
                .map(|entry| (u32_at(entry, 0), u32_at(entry, 4)))
                .collect(),
        })
    }
}

/// One record of the control log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ControlRecord {
    /// The whole state, at the start of each control segment.
    Snapshot {
        /// Where each partition's committed transactional records end.
        ends: Vec<PartitionEnd>,
        /// Every consumer group's committed offsets.
        offsets: Vec<GroupOffset>,
    },
    /// A transaction's commit, or offsets committed outside one.
    Commit {
        /// The transactional producer; empty outside a transaction.
        transactional_id: String,
        /// Where the transaction's records end in each partition it wrote.
        ends: Vec<PartitionEnd>,
        /// The consumer offsets it commits.
        offsets: Vec<GroupOffset>,
    },
}

/// Where a partition's committed transactional records end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PartitionEnd {
    /// The topic's name without prefix.
    pub(crate) topic: String,
    /// The partition.
    pub(crate) partition: u32,
    /// One past the last committed record.
    pub(crate) end: u64,
}

/// A consumer group's committed offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GroupOffset {
    /// The group.
    pub(crate) group: String,
    /// The topic's name without prefix.
    pub(crate) topic: String,
    /// The partition.
    pub(crate) partition: u32,
    /// The next offset to read.
    pub(crate) offset: u64,
    /// The metadata committed with it.
    pub(crate) metadata: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_frame_is_frame_header_offset_timestamp_lengths_and_body() {
        let data = b"keyvalue\x01\x00h\x01\x00\x00\x00v";
        let packed = Packed {
            start: 0,
            key_len: 3,
            value_len: 5,
            headers_len: 8,
            timestamp: Timestamp::from_micros(-2),
        };
        let mut buffer = Vec::new();
        encode_record(&mut buffer, 258, packed, data, TRANSACTIONAL);
        assert_eq!(buffer.len() as u64, record_len(packed));

        let mut expected_payload = Vec::new();
        expected_payload.extend_from_slice(&[2, 1, 0, 0, 0, 0, 0, 0]); // offset 258
        expected_payload.extend_from_slice(&[0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]); // -2 µs
        expected_payload.extend_from_slice(&[3, 0, 0, 0]); // key_len
        expected_payload.extend_from_slice(&[5, 0, 0, 0]); // value_len
        expected_payload.extend_from_slice(data); // key, value, headers
        assert_eq!(&buffer[16..], expected_payload.as_slice());
        assert_eq!(
            &buffer[0..4],
            &(expected_payload.len() as u32).to_le_bytes()
        ); // payload_len
        assert_eq!(&buffer[4..8], &[1, 0, 0, 0]); // meta: transactional

        let frame = FrameHeader::decode(buffer[..16].try_into().unwrap()).unwrap();
        let record = decode_record(frame, &buffer[16..], Path::new("p"), 24).unwrap();
        assert_eq!(record.offset, 258);
        assert!(record.transactional());
        assert_eq!(
            record.packed,
            Packed {
                start: 40,
                ..packed
            }
        );
    }

    #[test]
    fn a_record_whose_lengths_overrun_its_payload_is_corrupt() {
        let mut payload = vec![0; 30];
        payload[16..20].copy_from_slice(&7_u32.to_le_bytes()); // key of 7 bytes
        let frame = FrameHeader {
            payload_len: 30,
            meta: 0,
            payload_crc: 0,
        };
        let error = decode_record(frame, &payload, Path::new("/bus/p/0.seg"), 99).unwrap_err();
        assert_eq!(
            error.to_string(),
            "/bus/p/0.seg is corrupt at offset 99: expected a key of 7 and a value of 0 bytes to \
             fit in a record body of 6 bytes"
        );
    }

    #[test]
    fn an_index_file_round_trips_and_refuses_damage() {
        let index = IndexFile {
            base: 1000,
            end: 1500,
            bytes: 70_000,
            max_timestamp: 1_700_000_000_000_000,
            first_transactional: Some(1200),
            entries: vec![(0, 24), (37, 4130)],
        };
        let bytes = index.encode();
        assert_eq!(bytes.len(), 56 + 16 + 4);
        assert_eq!(&bytes[0..8], b"FLWBUSIX");
        let path = Path::new("/bus/t-0/00000000000000001000.idx");
        assert_eq!(IndexFile::decode(&bytes, path).unwrap(), index);

        let mut damaged = bytes.clone();
        damaged[30] ^= 1;
        assert!(
            IndexFile::decode(&damaged, path)
                .unwrap_err()
                .to_string()
                .contains("expected index checksum")
        );
        let empty = IndexFile {
            first_transactional: None,
            entries: Vec::new(),
            ..index
        };
        assert_eq!(IndexFile::decode(&empty.encode(), path).unwrap(), empty);
    }
}
