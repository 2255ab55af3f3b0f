//! Dead letters: records set aside with the reason and their origin, on
//! `dlq`.

use flowline_bus::{ConsumedRecord, Topic};
use flowline_core::Timestamp;

use crate::avro::{self, Reader};
use crate::error::DecodeError;
use crate::schema::SchemaKind;
use crate::wire::WireRecord;

/// A record that could not be decoded, validated or delivered: why, where
/// it came from, and its key and value byte for byte, so it can be looked
/// at and replayed. It keeps the correlation id of the record it holds
/// (in its own record's header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter<'a> {
    /// Why, as a short stable label, such as
    /// [`DecodeError::reason`](crate::DecodeError::reason) gives.
    pub reason: &'a str,
    /// Why, in words: what was expected and what was found.
    pub message: &'a str,
    /// The topic it was read from.
    pub source_topic: Topic,
    /// The partition it was read from.
    pub source_partition: u32,
    /// Its offset there.
    pub source_offset: u64,
    /// When it was set aside.
    pub time: Timestamp,
    /// Its key.
    pub original_key: &'a [u8],
    /// Its value.
    pub original_value: &'a [u8],
}

impl<'a> DeadLetter<'a> {
    /// The dead letter of `record`, set aside at `time` for `reason`
    /// (explained by `message`).
    pub fn of(
        record: &ConsumedRecord<'a>,
        reason: &'a str,
        message: &'a str,
        time: Timestamp,
    ) -> Self {
        DeadLetter {
            reason,
            message,
            source_topic: record.topic,
            source_partition: record.partition,
            source_offset: record.offset,
            time,
            original_key: record.key,
            original_value: record.value,
        }
    }
}

impl<'a> WireRecord<'a> for DeadLetter<'a> {
    const KIND: SchemaKind = SchemaKind::DeadLetter;

    fn write(&self, out: &mut Vec<u8>) {
        avro::put_string(out, self.reason);
        avro::put_string(out, self.message);
        avro::put_string(out, self.source_topic.base_name());
        let partition = i32::try_from(self.source_partition)
            .expect("bug: Kafka numbers partitions with 32-bit signed integers");
        avro::put_int(out, partition);
        let offset = i64::try_from(self.source_offset)
            .expect("bug: Kafka numbers offsets with 64-bit signed integers");
        avro::put_long(out, offset);
        avro::put_long(out, self.time.as_micros());
        avro::put_bytes(out, self.original_key);
        avro::put_bytes(out, self.original_value);
    }

    fn read(reader: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let reason = reader.string("reason")?;
        let message = reader.string("message")?;
        let topic_at = reader.position();
        let topic = reader.string("source_topic")?;
        let source_topic = Topic::from_base_name(topic)
            .ok_or_else(|| reader.unknown_name("source_topic", topic_at, "topic", topic))?;
        Ok(DeadLetter {
            reason,
            message,
            source_topic,
            source_partition: reader.non_negative_int("source_partition")?,
            source_offset: reader.u64_long("source_offset")?,
            time: Timestamp::from_micros(reader.long("time")?),
            original_key: reader.bytes("original_key")?,
            original_value: reader.bytes("original_value")?,
        })
    }
}
