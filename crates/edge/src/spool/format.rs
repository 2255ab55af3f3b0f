//! The spool's bytes on disk: segment headers, record framing and the
//! cursor file. Integers are little-endian; checksums are CRC-32 (IEEE)
//! as computed by `crc32fast`.
//!
//! A segment file is a header followed by records:
//!
//! ```text
//! segment header, 24 bytes
//!   0..8    magic "FLWSPOOL"
//!   8..10   format version (u16), 1
//!   10..12  flags (u16); bit 0: written with interval fsync
//!   12..20  segment id (u64), the number in the file name
//!   20..24  CRC-32 of bytes 0..20
//! record, 16 + payload_len bytes
//!   0..4    payload_len (u32)
//!   4..8    samples (u32): samples in the batch
//!   8..12   CRC-32 of the payload
//!   12..16  CRC-32 of bytes 0..12, so a damaged length is never trusted
//!   16..    payload: the batch as a postcard-encoded sequence of samples
//! ```
//!
//! The cursor file holds the position of the oldest unacknowledged
//! record:
//!
//! ```text
//!   0..8    magic "FLWCURSR"
//!   8..10   format version (u16), 1
//!   10..12  reserved, zero
//!   12..20  segment id (u64)
//!   20..28  byte offset in that segment (u64)
//!   28..32  CRC-32 of bytes 0..28
//! ```

use std::path::Path;

use flowline_bus::disk::{self, DiskError, FLAG_INTERVAL_SYNC, FileKind, FrameHeader};
use flowline_core::Sample;

use super::error::SpoolError;

/// Spool segments: the layout of `flowline_bus::disk` with the spool's
/// magic. A frame's meta is the number of samples in its batch.
pub(crate) const SEGMENT: FileKind = FileKind {
    magic: *b"FLWSPOOL",
    version: FORMAT_VERSION,
    known_flags: FLAG_INTERVAL_SYNC,
    name: "spool segment",
    format: "spool",
};
/// The cursor file: only its magic and version are checked this way.
const CURSOR: FileKind = FileKind {
    magic: *b"FLWCURSR",
    version: FORMAT_VERSION,
    known_flags: 0,
    name: "spool segment",
    format: "spool",
};
/// The format version this build reads and writes, for segments and cursor.
const FORMAT_VERSION: u16 = 1;
/// Size of the cursor file, in bytes.
pub(crate) const CURSOR_LEN: usize = 32;

/// Encodes `samples` as one record into `buffer`, replacing its contents;
/// the buffer is reused from batch to batch.
///
/// Fast path: runs once per appended batch and allocates only when the
/// buffer must grow.
pub(crate) fn encode_record(samples: &[Sample], buffer: &mut Vec<u8>) -> Result<(), SpoolError> {
    buffer.clear();
    let start = disk::start_frame(buffer);
    postcard::to_io(samples, &mut *buffer).map_err(|source| SpoolError::Encode {
        samples: samples.len(),
        source,
    })?;
    let finished = u32::try_from(samples.len())
        .ok()
        .and_then(|count| disk::finish_frame(buffer, start, count).ok());
    finished.ok_or_else(|| SpoolError::BatchTooLarge {
        samples: samples.len(),
        bytes: buffer.len() as u64,
        limit: u64::from(u32::MAX),
    })
}

/// Decodes the payload of the record at `offset` of `path`, checking that
/// it holds as many samples as its header says.
pub(crate) fn decode_payload(
    payload: &[u8],
    header: FrameHeader,
    path: &Path,
    offset: u64,
) -> Result<Vec<Sample>, SpoolError> {
    let samples: Vec<Sample> = postcard::from_bytes(payload).map_err(|error| {
        DiskError::corrupt(
            path,
            offset,
            format!(
                "expected a batch of {} samples, found undecodable bytes ({error})",
                header.meta
            ),
        )
    })?;
    if samples.len() != header.meta as usize {
        return Err(DiskError::corrupt(
            path,
            offset,
            format!(
                "expected {} samples as the record header says, found {}",
                header.meta,
                samples.len()
            ),
        )
        .into());
    }
    Ok(samples)
}

/// A position in the spool as the cursor file stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CursorRecord {
    /// Segment id.
    pub(crate) segment: u64,
    /// Byte offset in that segment.
    pub(crate) offset: u64,
}

impl CursorRecord {
    /// The cursor file's bytes.
    pub(crate) fn encode(self) -> [u8; CURSOR_LEN] {
        let mut bytes = [0; CURSOR_LEN];
        bytes[0..8].copy_from_slice(&CURSOR.magic);
        bytes[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes[12..20].copy_from_slice(&self.segment.to_le_bytes());
        bytes[20..28].copy_from_slice(&self.offset.to_le_bytes());
        let crc = crc32fast::hash(&bytes[0..28]);
        bytes[28..32].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Reads the cursor file `path`, whose contents are `bytes`.
    pub(crate) fn decode(bytes: &[u8], path: &Path) -> Result<CursorRecord, SpoolError> {
        disk::check_magic(bytes, &CURSOR, path)?;
        let Ok(bytes) = <&[u8; CURSOR_LEN]>::try_from(bytes) else {
            return Err(DiskError::corrupt(
                path,
                0,
                format!(
                    "expected a cursor of {CURSOR_LEN} bytes, found {} bytes",
                    bytes.len()
                ),
            )
            .into());
        };
        disk::check_version(disk::u16_at(bytes, 8), &CURSOR, path)?;
        disk::check_crc(&bytes[0..28], disk::u32_at(bytes, 28), path, "cursor")?;
        Ok(CursorRecord {
            segment: disk::u64_at(bytes, 12),
            offset: disk::u64_at(bytes, 20),
        })
    }
}

#[cfg(test)]
mod tests {
    use flowline_bus::disk::SegmentHeader;
    use flowline_core::{TagId, Timestamp, Value};

    use super::*;

    fn path() -> &'static Path {
        Path::new("/spool/00000000000000000007.seg")
    }

    #[test]
    fn a_segment_header_is_magic_version_flags_id_and_checksum() {
        let bytes = SegmentHeader {
            id: 7,
            flags: FLAG_INTERVAL_SYNC,
        }
        .encode(&SEGMENT);
        let mut expected = Vec::new();
        expected.extend_from_slice(b"FLWSPOOL"); // magic
        expected.extend_from_slice(&[0x01, 0x00]); // format version 1
        expected.extend_from_slice(&[0x01, 0x00]); // flags: interval fsync
        expected.extend_from_slice(&[0x07, 0, 0, 0, 0, 0, 0, 0]); // segment id 7
        let crc = crc32fast::hash(&expected);
        expected.extend_from_slice(&crc.to_le_bytes()); // checksum of the 20 bytes above
        assert_eq!(bytes.as_slice(), expected.as_slice());
        assert_eq!(
            SegmentHeader::decode(&bytes, &SEGMENT, path()).unwrap(),
            SegmentHeader {
                id: 7,
                flags: FLAG_INTERVAL_SYNC
            }
        );
    }

    #[test]
    fn a_file_of_someone_else_is_refused_as_foreign() {
        let error =
            SegmentHeader::decode(b"PK\x03\x04 a zip file, say", &SEGMENT, path()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "/spool/00000000000000000007.seg is not a Flowline spool segment: expected magic \
             \"FLWSPOOL\" at offset 0, found \"PK\\u{3}\\u{4} a z\""
        );
    }

    #[test]
    fn a_segment_from_a_newer_format_is_refused_by_version() {
        let mut bytes = SegmentHeader { id: 7, flags: 0 }.encode(&SEGMENT);
        bytes[8] = 2; // format version 2
        let error = SegmentHeader::decode(&bytes, &SEGMENT, path()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "/spool/00000000000000000007.seg is in spool format version 2; this build reads \
             version 1 only"
        );
    }

    #[test]
    fn a_damaged_segment_header_is_corrupt_at_offset_zero() {
        let mut bytes = SegmentHeader { id: 7, flags: 0 }.encode(&SEGMENT);
        bytes[12] ^= 0x40; // segment id flipped
        let error = SegmentHeader::decode(&bytes, &SEGMENT, path()).unwrap_err();
        assert!(
            error.to_string().starts_with(
                "/spool/00000000000000000007.seg is corrupt at offset 0: expected segment header \
                 checksum"
            ),
            "{error}"
        );
    }

    #[test]
    fn a_record_is_length_count_checksums_and_postcard_payload() {
        let sample = Sample::new(TagId(3), Timestamp::from_micros(5), Value::Integer(1));
        let mut buffer = Vec::new();
        encode_record(std::slice::from_ref(&sample), &mut buffer).unwrap();

        let payload = postcard::to_allocvec(&vec![sample.clone()]).unwrap();
        assert_eq!(
            payload[0], 0x01,
            "postcard starts a sequence with its length"
        );
        let mut expected = Vec::new();
        expected.extend_from_slice(&(payload.len() as u32).to_le_bytes()); // payload_len
        expected.extend_from_slice(&[0x01, 0, 0, 0]); // one sample
        expected.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes()); // payload crc
        let header_crc = crc32fast::hash(&expected);
        expected.extend_from_slice(&header_crc.to_le_bytes()); // crc of the 12 bytes above
        expected.extend_from_slice(&payload);
        assert_eq!(buffer, expected);

        let header = FrameHeader::decode(buffer[..16].try_into().unwrap()).unwrap();
        assert!(header.matches(&buffer[16..]));
        assert_eq!(header.frame_len(), buffer.len() as u64);
        assert_eq!(
            decode_payload(&buffer[16..], header, path(), 24).unwrap(),
            vec![sample]
        );
    }

    #[test]
    fn a_record_header_with_a_flipped_length_is_not_trusted() {
        let sample = Sample::new(TagId(3), Timestamp::from_micros(5), Value::Float(2.5));
        let mut buffer = Vec::new();
        encode_record(&[sample], &mut buffer).unwrap();
        buffer[1] ^= 0x01; // payload_len off by 256
        assert_eq!(FrameHeader::decode(buffer[..16].try_into().unwrap()), None);
    }

    #[test]
    fn a_cursor_is_magic_version_segment_offset_and_checksum() {
        let cursor = CursorRecord {
            segment: 2,
            offset: 300,
        };
        let bytes = cursor.encode();
        let mut expected = Vec::new();
        expected.extend_from_slice(b"FLWCURSR"); // magic
        expected.extend_from_slice(&[0x01, 0x00]); // format version 1
        expected.extend_from_slice(&[0x00, 0x00]); // reserved
        expected.extend_from_slice(&[0x02, 0, 0, 0, 0, 0, 0, 0]); // segment 2
        expected.extend_from_slice(&[0x2c, 0x01, 0, 0, 0, 0, 0, 0]); // offset 300
        let crc = crc32fast::hash(&expected);
        expected.extend_from_slice(&crc.to_le_bytes()); // checksum of the 28 bytes above
        assert_eq!(bytes.as_slice(), expected.as_slice());
        assert_eq!(
            CursorRecord::decode(&bytes, Path::new("cursor")).unwrap(),
            cursor
        );
    }

    #[test]
    fn a_short_cursor_is_corrupt_and_names_its_length() {
        let bytes = CursorRecord {
            segment: 2,
            offset: 300,
        }
        .encode();
        let error = CursorRecord::decode(&bytes[..20], Path::new("/spool/cursor")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "/spool/cursor is corrupt at offset 0: expected a cursor of 32 bytes, found 20 bytes"
        );
    }
}
