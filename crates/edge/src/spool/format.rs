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

use flowline_core::Sample;

use super::error::SpoolError;

/// First bytes of every segment file.
pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"FLWSPOOL";
/// First bytes of the cursor file.
pub(crate) const CURSOR_MAGIC: [u8; 8] = *b"FLWCURSR";
/// The format version this build reads and writes, for segments and cursor.
pub(crate) const FORMAT_VERSION: u16 = 1;
/// Size of a segment header, in bytes.
pub(crate) const SEGMENT_HEADER_LEN: usize = 24;
/// Size of a record header, in bytes.
pub(crate) const RECORD_HEADER_LEN: usize = 16;
/// Size of the cursor file, in bytes.
pub(crate) const CURSOR_LEN: usize = 32;
/// Segment flag: the segment was written with interval fsync, so a crash
/// may have left damage anywhere in its unsynced tail.
pub(crate) const FLAG_INTERVAL_SYNC: u16 = 1;
/// Every flag this build knows; a segment with others is from a newer build.
const KNOWN_FLAGS: u16 = FLAG_INTERVAL_SYNC;

/// The decoded header of a segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    /// The segment's id.
    pub(crate) id: u64,
    /// Its flags, such as [`FLAG_INTERVAL_SYNC`].
    pub(crate) flags: u16,
}

impl SegmentHeader {
    /// The header's bytes.
    pub(crate) fn encode(self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut bytes = [0; SEGMENT_HEADER_LEN];
        bytes[0..8].copy_from_slice(&SEGMENT_MAGIC);
        bytes[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes[10..12].copy_from_slice(&self.flags.to_le_bytes());
        bytes[12..20].copy_from_slice(&self.id.to_le_bytes());
        let crc = crc32fast::hash(&bytes[0..20]);
        bytes[20..24].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Reads the header at the start of `bytes`, the first bytes of the
    /// file `path` (fewer than a header if the file is shorter).
    pub(crate) fn decode(bytes: &[u8], path: &Path) -> Result<SegmentHeader, SpoolError> {
        check_magic(bytes, &SEGMENT_MAGIC, path)?;
        let Some(bytes) = bytes.first_chunk::<SEGMENT_HEADER_LEN>() else {
            return Err(SpoolError::corrupt(
                path,
                0,
                format!(
                    "expected a {SEGMENT_HEADER_LEN}-byte segment header, found a file of {} bytes",
                    bytes.len()
                ),
            ));
        };
        check_version(u16_at(bytes, 8), path)?;
        check_crc(&bytes[0..20], u32_at(bytes, 20), path, "segment header")?;
        let flags = u16_at(bytes, 10);
        if flags & !KNOWN_FLAGS != 0 {
            return Err(SpoolError::corrupt(
                path,
                10,
                format!("expected segment flags within {KNOWN_FLAGS:#06x}, found {flags:#06x}"),
            ));
        }
        Ok(SegmentHeader {
            id: u64_at(bytes, 12),
            flags,
        })
    }
}

/// The decoded header of a record whose own checksum matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordHeader {
    /// Size of the payload, in bytes.
    pub(crate) payload_len: u32,
    /// Samples in the batch.
    pub(crate) samples: u32,
    /// CRC-32 of the payload.
    pub(crate) payload_crc: u32,
}

impl RecordHeader {
    /// Reads a record header; `None` when its checksum does not match, so
    /// nothing in it can be trusted.
    pub(crate) fn decode(bytes: &[u8; RECORD_HEADER_LEN]) -> Option<RecordHeader> {
        if crc32fast::hash(&bytes[0..12]) != u32_at(bytes, 12) {
            return None;
        }
        Some(RecordHeader {
            payload_len: u32_at(bytes, 0),
            samples: u32_at(bytes, 4),
            payload_crc: u32_at(bytes, 8),
        })
    }

    /// Size of the whole record, header included, in bytes.
    pub(crate) fn record_len(self) -> u64 {
        RECORD_HEADER_LEN as u64 + u64::from(self.payload_len)
    }

    /// Whether `payload` is the payload this header describes.
    pub(crate) fn matches(self, payload: &[u8]) -> bool {
        payload.len() == self.payload_len as usize && crc32fast::hash(payload) == self.payload_crc
    }
}

/// Encodes `samples` as one record into `buffer`, replacing its contents;
/// the buffer is reused from batch to batch.
///
/// Fast path: runs once per appended batch and allocates only when the
/// buffer must grow.
pub(crate) fn encode_record(samples: &[Sample], buffer: &mut Vec<u8>) -> Result<(), SpoolError> {
    buffer.clear();
    buffer.extend_from_slice(&[0; RECORD_HEADER_LEN]);
    postcard::to_io(samples, &mut *buffer).map_err(|source| SpoolError::Encode {
        samples: samples.len(),
        source,
    })?;

    let payload_len = buffer.len() - RECORD_HEADER_LEN;
    let (Ok(payload_len), Ok(count)) = (u32::try_from(payload_len), u32::try_from(samples.len()))
    else {
        return Err(SpoolError::BatchTooLarge {
            samples: samples.len(),
            bytes: buffer.len() as u64,
            limit: u64::from(u32::MAX),
        });
    };
    let payload_crc = crc32fast::hash(&buffer[RECORD_HEADER_LEN..]);
    buffer[0..4].copy_from_slice(&payload_len.to_le_bytes());
    buffer[4..8].copy_from_slice(&count.to_le_bytes());
    buffer[8..12].copy_from_slice(&payload_crc.to_le_bytes());
    let header_crc = crc32fast::hash(&buffer[0..12]);
    buffer[12..16].copy_from_slice(&header_crc.to_le_bytes());
    Ok(())
}

/// Decodes the payload of the record at `offset` of `path`, checking that
/// it holds as many samples as its header says.
pub(crate) fn decode_payload(
    payload: &[u8],
    header: RecordHeader,
    path: &Path,
    offset: u64,
) -> Result<Vec<Sample>, SpoolError> {
    let samples: Vec<Sample> = postcard::from_bytes(payload).map_err(|error| {
        SpoolError::corrupt(
            path,
            offset,
            format!(
                "expected a batch of {} samples, found undecodable bytes ({error})",
                header.samples
            ),
        )
    })?;
    if samples.len() != header.samples as usize {
        return Err(SpoolError::corrupt(
            path,
            offset,
            format!(
                "expected {} samples as the record header says, found {}",
                header.samples,
                samples.len()
            ),
        ));
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
        bytes[0..8].copy_from_slice(&CURSOR_MAGIC);
        bytes[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes[12..20].copy_from_slice(&self.segment.to_le_bytes());
        bytes[20..28].copy_from_slice(&self.offset.to_le_bytes());
        let crc = crc32fast::hash(&bytes[0..28]);
        bytes[28..32].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Reads the cursor file `path`, whose contents are `bytes`.
    pub(crate) fn decode(bytes: &[u8], path: &Path) -> Result<CursorRecord, SpoolError> {
        check_magic(bytes, &CURSOR_MAGIC, path)?;
        let Ok(bytes) = <&[u8; CURSOR_LEN]>::try_from(bytes) else {
            return Err(SpoolError::corrupt(
                path,
                0,
                format!(
                    "expected a cursor of {CURSOR_LEN} bytes, found {} bytes",
                    bytes.len()
                ),
            ));
        };
        check_version(u16_at(bytes, 8), path)?;
        check_crc(&bytes[0..28], u32_at(bytes, 28), path, "cursor")?;
        Ok(CursorRecord {
            segment: u64_at(bytes, 12),
            offset: u64_at(bytes, 20),
        })
    }
}

/// Refuses a file that does not start with `magic`: a file of someone
/// else's, or one cut short before its magic was written.
fn check_magic(bytes: &[u8], magic: &[u8; 8], path: &Path) -> Result<(), SpoolError> {
    let found = &bytes[..bytes.len().min(magic.len())];
    if found == magic {
        return Ok(());
    }
    Err(SpoolError::Foreign {
        path: path.to_owned(),
        expected: String::from_utf8_lossy(magic).into_owned(),
        found: String::from_utf8_lossy(found).into_owned(),
    })
}

/// Refuses a format version other than this build's.
fn check_version(found: u16, path: &Path) -> Result<(), SpoolError> {
    if found == FORMAT_VERSION {
        return Ok(());
    }
    Err(SpoolError::UnsupportedVersion {
        path: path.to_owned(),
        found,
        supported: FORMAT_VERSION,
    })
}

/// Refuses a header whose checksum does not match; `what` names it.
fn check_crc(covered: &[u8], stored: u32, path: &Path, what: &str) -> Result<(), SpoolError> {
    let computed = crc32fast::hash(covered);
    if computed == stored {
        return Ok(());
    }
    Err(SpoolError::corrupt(
        path,
        0,
        format!("expected {what} checksum {computed:#010x}, found {stored:#010x}"),
    ))
}

/// The little-endian u16 at `at`; the caller has checked the length.
fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

/// The little-endian u32 at `at`; the caller has checked the length.
fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

/// The little-endian u64 at `at`; the caller has checked the length.
fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
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
        .encode();
        let mut expected = Vec::new();
        expected.extend_from_slice(b"FLWSPOOL"); // magic
        expected.extend_from_slice(&[0x01, 0x00]); // format version 1
        expected.extend_from_slice(&[0x01, 0x00]); // flags: interval fsync
        expected.extend_from_slice(&[0x07, 0, 0, 0, 0, 0, 0, 0]); // segment id 7
        let crc = crc32fast::hash(&expected);
        expected.extend_from_slice(&crc.to_le_bytes()); // checksum of the 20 bytes above
        assert_eq!(bytes.as_slice(), expected.as_slice());
        assert_eq!(
            SegmentHeader::decode(&bytes, path()).unwrap(),
            SegmentHeader {
                id: 7,
                flags: FLAG_INTERVAL_SYNC
            }
        );
    }

    #[test]
    fn a_file_of_someone_else_is_refused_as_foreign() {
        let error = SegmentHeader::decode(b"PK\x03\x04 a zip file, say", path()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "/spool/00000000000000000007.seg is not a Flowline spool segment: expected magic \
             \"FLWSPOOL\" at offset 0, found \"PK\\u{3}\\u{4} a z\""
        );
    }

    #[test]
    fn a_segment_from_a_newer_format_is_refused_by_version() {
        let mut bytes = SegmentHeader { id: 7, flags: 0 }.encode();
        bytes[8] = 2; // format version 2
        let error = SegmentHeader::decode(&bytes, path()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "/spool/00000000000000000007.seg is in spool format version 2; this build reads \
             version 1 only"
        );
    }

    #[test]
    fn a_damaged_segment_header_is_corrupt_at_offset_zero() {
        let mut bytes = SegmentHeader { id: 7, flags: 0 }.encode();
        bytes[12] ^= 0x40; // segment id flipped
        let error = SegmentHeader::decode(&bytes, path()).unwrap_err();
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

        let header = RecordHeader::decode(buffer[..16].try_into().unwrap()).unwrap();
        assert!(header.matches(&buffer[16..]));
        assert_eq!(header.record_len(), buffer.len() as u64);
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
        assert_eq!(RecordHeader::decode(buffer[..16].try_into().unwrap()), None);
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
