//! Records: what producers send and consumers receive.
//!
//! A record is a key, a value, headers (name → bytes) and a timestamp in
//! microseconds. Every record Flowline sends carries a `correlation-id`
//! header, so that a sample can be followed from the gateway to the
//! historian and into the dead-letter queue.
//!
//! Records travel in batches packed into one buffer ([`RecordBatch`] to
//! send, [`ConsumedBatch`] to receive), so that neither end allocates per
//! record; both are meant to be reused from batch to batch.

use std::fmt;

use flowline_core::Timestamp;

use crate::error::BusError;
use crate::topic::{Topic, TopicPartition};

/// Name of the header that carries a record's correlation id.
pub const CORRELATION_ID_HEADER: &str = "correlation-id";

/// The id that follows a reading (and whatever is made from it) through
/// every topic. Random, printed and carried in the header as a UUID in
/// its usual 36-character text form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CorrelationId(uuid::Uuid);

impl CorrelationId {
    /// A new random id.
    pub fn random() -> Self {
        CorrelationId(uuid::Uuid::new_v4())
    }

    /// The id whose header value is `bytes`; `None` if they are not a
    /// UUID in text form.
    pub fn from_header(bytes: &[u8]) -> Option<Self> {
        uuid::Uuid::try_parse_ascii(bytes).ok().map(CorrelationId)
    }

    /// The id whose 128 bits are `bits`, as [`CorrelationId::to_bits`]
    /// gave them: for code that carries ids without depending on the bus.
    pub fn from_bits(bits: u128) -> Self {
        CorrelationId(uuid::Uuid::from_u128(bits))
    }

    /// The id's 128 bits.
    pub fn to_bits(self) -> u128 {
        self.0.as_u128()
    }

    /// The header value: the UUID's 36 ASCII characters.
    pub fn to_header(self) -> [u8; 36] {
        let mut text = [0; 36];
        self.0.hyphenated().encode_lower(&mut text);
        text
    }
}

impl fmt::Display for CorrelationId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(formatter)
    }
}

/// One header of a record: a name and opaque bytes. Names may repeat, as
/// in Kafka.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// The header's name.
    pub name: &'a str,
    /// Its value.
    pub value: &'a [u8],
}

/// A record to send.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// The key: records with the same key go to the same partition, in
    /// order.
    pub key: &'a [u8],
    /// The value.
    pub value: &'a [u8],
    /// When the record happened, in microseconds since the Unix epoch.
    pub timestamp: Timestamp,
    /// Stored as the record's first header, `correlation-id`.
    pub correlation_id: CorrelationId,
    /// Further headers.
    pub headers: &'a [Header<'a>],
    /// The partition to write to; `None`, the usual, picks it from the
    /// key (see [`crate::partition_for_key`]).
    pub partition: Option<u32>,
}

/// The headers of a record, packed: each is the name's length (u16), the
/// name, the value's length (u32) and the value. The embedded log stores
/// this block as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Headers<'a>(&'a [u8]);

impl<'a> Headers<'a> {
    /// Headers packed as this type describes; `None` if `bytes` are not
    /// such a block.
    pub fn from_packed(bytes: &'a [u8]) -> Option<Self> {
        let headers = Headers(bytes);
        let mut rest = bytes;
        while !rest.is_empty() {
            let (_, after) = split_header(rest)?;
            rest = after;
        }
        Some(headers)
    }

    /// The packed bytes.
    pub fn packed(self) -> &'a [u8] {
        self.0
    }

    /// The headers, in order.
    pub fn iter(self) -> impl Iterator<Item = Header<'a>> {
        let mut rest = self.0;
        std::iter::from_fn(move || {
            let (header, after) = split_header(rest)?;
            rest = after;
            Some(header)
        })
    }

    /// The value of the first header named `name`.
    pub fn get(self, name: &str) -> Option<&'a [u8]> {
        self.iter()
            .find(|header| header.name == name)
            .map(|header| header.value)
    }

    /// The record's correlation id, if it has a valid one.
    pub fn correlation_id(self) -> Option<CorrelationId> {
        self.get(CORRELATION_ID_HEADER)
            .and_then(CorrelationId::from_header)
    }
}

/// The first header packed in `bytes` and what follows it; `None` if the
/// bytes are not a whole header.
fn split_header(bytes: &[u8]) -> Option<(Header<'_>, &[u8])> {
    let name_len = usize::from(u16::from_le_bytes([*bytes.first()?, *bytes.get(1)?]));
    let name = std::str::from_utf8(bytes.get(2..2 + name_len)?).ok()?;
    let at = 2 + name_len;
    let value_len = u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize;
    let value = bytes.get(at + 4..(at + 4).checked_add(value_len)?)?;
    Some((Header { name, value }, &bytes[at + 4 + value_len..]))
}

/// Appends `header` to a packed header block. The caller has checked that
/// its name fits in a u16 and its value in a u32.
fn pack_header(block: &mut Vec<u8>, name: &str, value: &[u8]) {
    block.extend_from_slice(&(name.len() as u16).to_le_bytes());
    block.extend_from_slice(name.as_bytes());
    block.extend_from_slice(&(value.len() as u32).to_le_bytes());
    block.extend_from_slice(value);
}

/// Where one record's bytes are in a batch's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Packed {
    /// Start of the key in the buffer.
    pub(crate) start: usize,
    /// Bytes of the key.
    pub(crate) key_len: u32,
    /// Bytes of the value, which follows the key.
    pub(crate) value_len: u32,
    /// Bytes of the packed headers, which follow the value.
    pub(crate) headers_len: u32,
    /// The record's timestamp.
    pub(crate) timestamp: Timestamp,
}

impl Packed {
    /// The key, value and headers of this record in `data`.
    fn parts(self, data: &[u8]) -> (&[u8], &[u8], Headers<'_>) {
        let key_end = self.start + self.key_len as usize;
        let value_end = key_end + self.value_len as usize;
        let headers_end = value_end + self.headers_len as usize;
        (
            &data[self.start..key_end],
            &data[key_end..value_end],
            Headers(&data[value_end..headers_end]),
        )
    }

    /// Bytes of key, value and headers together.
    pub(crate) fn body_len(self) -> usize {
        self.key_len as usize + self.value_len as usize + self.headers_len as usize
    }
}

/// Records to send, packed into one buffer: push records, send the batch,
/// clear it and push again. The records may go to different partitions.
#[derive(Debug, Clone, Default)]
pub struct RecordBatch {
    /// Keys, values and packed headers, record after record.
    data: Vec<u8>,
    /// Each record's place in `data`, and its partition if chosen.
    records: Vec<(Packed, Option<u32>)>,
}

/// A record in a [`RecordBatch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchedRecord<'a> {
    /// The key.
    pub key: &'a [u8],
    /// The value.
    pub value: &'a [u8],
    /// The headers, `correlation-id` first.
    pub headers: Headers<'a>,
    /// The timestamp.
    pub timestamp: Timestamp,
    /// The partition chosen when it was pushed, if any.
    pub partition: Option<u32>,
}

impl RecordBatch {
    /// An empty batch.
    pub fn new() -> Self {
        RecordBatch::default()
    }

    /// Adds a record. Fails, adding nothing, when a header's name is over
    /// 65,535 bytes, or a key, value or the headers together over 4 GiB.
    ///
    /// Fast path: copies the record's bytes into the batch's buffer, which
    /// allocates only when it must grow.
    pub fn push(&mut self, record: Record<'_>) -> Result<(), BusError> {
        let start = self.data.len();
        self.data.extend_from_slice(record.key);
        self.data.extend_from_slice(record.value);
        let headers_start = self.data.len();
        pack_header(
            &mut self.data,
            CORRELATION_ID_HEADER,
            &record.correlation_id.to_header(),
        );
        for header in record.headers {
            if u16::try_from(header.name.len()).is_err() {
                self.data.truncate(start);
                return Err(BusError::RecordTooLarge {
                    what: "header name",
                    bytes: header.name.len() as u64,
                    limit: u64::from(u16::MAX),
                });
            }
            pack_header(&mut self.data, header.name, header.value);
        }

        let lengths = [
            ("key", record.key.len()),
            ("value", record.value.len()),
            ("headers", self.data.len() - headers_start),
        ]
        .map(|(what, len)| {
            u32::try_from(len).map_err(|_| BusError::RecordTooLarge {
                what,
                bytes: len as u64,
                limit: u64::from(u32::MAX),
            })
        });
        let [Ok(key_len), Ok(value_len), Ok(headers_len)] = lengths else {
            self.data.truncate(start);
            let [key, value, headers] = lengths;
            return Err(key.and(value).and(headers).unwrap_err());
        };
        let packed = Packed {
            start,
            key_len,
            value_len,
            headers_len,
            timestamp: record.timestamp,
        };
        self.records.push((packed, record.partition));
        Ok(())
    }

    /// Removes every record, keeping the buffers for reuse.
    pub fn clear(&mut self) {
        self.data.clear();
        self.records.clear();
    }

    /// Records in the batch.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Bytes of keys, values and headers in the batch.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    /// The records, in the order pushed.
    pub fn iter(&self) -> impl Iterator<Item = BatchedRecord<'_>> {
        self.records.iter().map(|&(packed, partition)| {
            let (key, value, headers) = packed.parts(&self.data);
            BatchedRecord {
                key,
                value,
                headers,
                timestamp: packed.timestamp,
                partition,
            }
        })
    }

    /// The packed records with their chosen partitions, and the buffer
    /// they point into: for backends that copy them out in bulk.
    pub(crate) fn packed(&self) -> (&[(Packed, Option<u32>)], &[u8]) {
        (&self.records, &self.data)
    }

    /// Appends every record of `other`, as a transaction gathers what is
    /// sent in it.
    pub(crate) fn extend_from(&mut self, other: &RecordBatch) {
        let shift = self.data.len();
        self.data.extend_from_slice(&other.data);
        self.records
            .extend(other.records.iter().map(|&(packed, partition)| {
                (
                    Packed {
                        start: packed.start + shift,
                        ..packed
                    },
                    partition,
                )
            }));
    }
}

/// A record a consumer received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumedRecord<'a> {
    /// The topic it was read from.
    pub topic: Topic,
    /// The partition it was read from.
    pub partition: u32,
    /// Its offset in that partition.
    pub offset: u64,
    /// Its timestamp.
    pub timestamp: Timestamp,
    /// Its key.
    pub key: &'a [u8],
    /// Its value.
    pub value: &'a [u8],
    /// Its headers.
    pub headers: Headers<'a>,
}

impl ConsumedRecord<'_> {
    /// The partition it was read from, with its topic.
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition::new(self.topic, self.partition)
    }

    /// The record's correlation id, if it carries a valid one.
    pub fn correlation_id(&self) -> Option<CorrelationId> {
        self.headers.correlation_id()
    }
}

/// Where a consumed record is: its partition and offset, and its bytes
/// in the batch's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConsumedEntry {
    /// Its partition.
    pub(crate) partition: TopicPartition,
    /// Its offset.
    pub(crate) offset: u64,
    /// Its bytes.
    pub(crate) packed: Packed,
}

/// Records received by one poll, packed into one buffer. Poll into the
/// same batch again and again: it keeps its buffers.
#[derive(Debug, Clone, Default)]
pub struct ConsumedBatch {
    /// Record bytes, as read; may hold bytes between records.
    data: Vec<u8>,
    /// The records.
    records: Vec<ConsumedEntry>,
}

impl ConsumedBatch {
    /// An empty batch.
    pub fn new() -> Self {
        ConsumedBatch::default()
    }

    /// Removes every record, keeping the buffers for reuse.
    pub fn clear(&mut self) {
        self.data.clear();
        self.records.clear();
    }

    /// Records in the batch.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The records, in the order received: by offset within a partition.
    pub fn iter(&self) -> impl Iterator<Item = ConsumedRecord<'_>> {
        self.records.iter().map(|entry| self.record(entry))
    }

    /// The record at `index` in the order received, if there is one: to
    /// go back to a record's bytes after working on its decoded value.
    pub fn get(&self, index: usize) -> Option<ConsumedRecord<'_>> {
        self.records.get(index).map(|entry| self.record(entry))
    }

    /// The record `entry` describes.
    fn record(&self, entry: &ConsumedEntry) -> ConsumedRecord<'_> {
        let (key, value, headers) = entry.packed.parts(&self.data);
        ConsumedRecord {
            topic: entry.partition.topic,
            partition: entry.partition.partition,
            offset: entry.offset,
            timestamp: entry.packed.timestamp,
            key,
            value,
            headers,
        }
    }

    /// Adds a received record by copying its bytes: for backends whose
    /// client hands out records one by one.
    pub fn push(
        &mut self,
        partition: TopicPartition,
        offset: u64,
        timestamp: Timestamp,
        key: &[u8],
        value: &[u8],
        headers: &[Header<'_>],
    ) {
        self.push_each(
            partition,
            offset,
            timestamp,
            key,
            value,
            headers.iter().copied(),
        );
    }

    /// Like [`ConsumedBatch::push`], with the headers from an iterator, so
    /// that a backend copies them from its client's records without
    /// gathering them first.
    pub(crate) fn push_each<'h>(
        &mut self,
        partition: TopicPartition,
        offset: u64,
        timestamp: Timestamp,
        key: &[u8],
        value: &[u8],
        headers: impl Iterator<Item = Header<'h>>,
    ) {
        let start = self.data.len();
        self.data.extend_from_slice(key);
        self.data.extend_from_slice(value);
        let headers_start = self.data.len();
        for header in headers {
            pack_header(&mut self.data, header.name, header.value);
        }
        let packed = Packed {
            start,
            key_len: key.len() as u32,
            value_len: value.len() as u32,
            headers_len: (self.data.len() - headers_start) as u32,
            timestamp,
        };
        self.records.push(ConsumedEntry {
            partition,
            offset,
            packed,
        });
    }

    /// The buffer and the records, for a backend that reads record bytes
    /// straight into the buffer and then adds records pointing into it.
    pub(crate) fn parts_mut(&mut self) -> (&mut Vec<u8>, &mut Vec<ConsumedEntry>) {
        (&mut self.data, &mut self.records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record<'a>(key: &'a [u8], value: &'a [u8], headers: &'a [Header<'a>]) -> Record<'a> {
        Record {
            key,
            value,
            timestamp: Timestamp::from_micros(1_700_000_000_000_001),
            correlation_id: CorrelationId::random(),
            headers,
            partition: None,
        }
    }

    #[test]
    fn a_batch_gives_back_what_was_pushed_with_the_correlation_id_first() {
        let mut batch = RecordBatch::new();
        let extra = [Header {
            name: "schema",
            value: b"\x00\x00\x00\x00\x07",
        }];
        let first = record(b"tag-1", b"value one", &extra);
        batch.push(first).unwrap();
        batch
            .push(Record {
                partition: Some(3),
                ..record(b"", b"", &[])
            })
            .unwrap();

        let records: Vec<_> = batch.iter().collect();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].key, b"tag-1");
        assert_eq!(records[0].value, b"value one");
        assert_eq!(records[0].timestamp, first.timestamp);
        assert_eq!(
            records[0].headers.correlation_id(),
            Some(first.correlation_id)
        );
        let names: Vec<&str> = records[0].headers.iter().map(|h| h.name).collect();
        assert_eq!(names, ["correlation-id", "schema"]);
        assert_eq!(
            records[0].headers.get("schema"),
            Some(&b"\x00\x00\x00\x00\x07"[..])
        );
        assert_eq!(records[1].partition, Some(3));
        assert_eq!(records[1].key, b"");

        batch.clear();
        assert!(batch.is_empty());
        assert_eq!(batch.bytes(), 0);
    }

    #[test]
    fn a_correlation_id_travels_as_36_characters_of_uuid_text() {
        let id = CorrelationId::random();
        let header = id.to_header();
        assert_eq!(std::str::from_utf8(&header).unwrap(), id.to_string());
        assert_eq!(header[8], b'-');
        assert_eq!(CorrelationId::from_header(&header), Some(id));
        assert_eq!(CorrelationId::from_header(b"not an id"), None);
        assert_eq!(CorrelationId::from_bits(id.to_bits()), id);
    }

    #[test]
    fn a_header_name_longer_than_its_length_field_is_refused_and_nothing_added() {
        let mut batch = RecordBatch::new();
        let name = "n".repeat(70_000);
        let headers = [Header {
            name: &name,
            value: b"",
        }];
        let error = batch.push(record(b"k", b"v", &headers)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "a record's header name of 70000 bytes is over the limit of 65535 bytes"
        );
        assert!(batch.is_empty());
        assert_eq!(batch.bytes(), 0);
    }

    #[test]
    fn packed_headers_that_run_past_their_block_are_refused() {
        let mut block = Vec::new();
        pack_header(&mut block, "a", b"xyz");
        assert!(Headers::from_packed(&block).is_some());
        assert!(Headers::from_packed(&block[..block.len() - 1]).is_none());
        assert!(Headers::from_packed(&[0xff, 0xff, b'a']).is_none());
        assert_eq!(block, [1, 0, b'a', 3, 0, 0, 0, b'x', b'y', b'z']);
    }

    #[test]
    fn a_consumed_batch_keeps_each_record_apart() {
        let mut batch = ConsumedBatch::new();
        let partition = TopicPartition::new(Topic::Alerts, 1);
        let headers = [Header {
            name: "h",
            value: b"1",
        }];
        batch.push(
            partition,
            41,
            Timestamp::from_micros(5),
            b"k",
            b"v1",
            &headers,
        );
        batch.push(partition, 42, Timestamp::from_micros(6), b"", b"v2", &[]);
        let records: Vec<_> = batch.iter().collect();
        assert_eq!(
            (records[0].offset, records[0].key, records[0].value),
            (41, &b"k"[..], &b"v1"[..])
        );
        assert_eq!(records[0].headers.get("h"), Some(&b"1"[..]));
        assert_eq!(records[0].correlation_id(), None);
        assert_eq!(records[1].topic_partition(), partition);
        assert_eq!(records[1].value, b"v2");
        assert_eq!(batch.get(1), Some(records[1]));
        assert_eq!(batch.get(2), None);
    }
}
