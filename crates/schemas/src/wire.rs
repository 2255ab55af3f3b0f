//! The Confluent wire format around an Avro body, and the helpers that put
//! encoded records into batches and take them out of consumed ones.

use std::sync::Arc;

use flowline_bus::{BusError, ConsumedRecord, CorrelationId, Record, RecordBatch};
use flowline_core::Timestamp;

use crate::avro::Reader;
use crate::error::DecodeError;
use crate::schema::{SchemaIds, SchemaKind};

/// The first byte of every record value: format 0 of the Confluent wire
/// format.
pub const MAGIC: u8 = 0;

/// Bytes before the Avro body: the magic byte and the schema id.
pub const HEADER_LEN: usize = 5;

/// A type that travels as an Avro record of one of Flowline's schemas.
/// Implemented by this crate's record types only (only it can read from a
/// [`Reader`]).
pub trait WireRecord<'a>: Sized {
    /// The schema it is written with.
    const KIND: SchemaKind;

    /// Appends the Avro body of the newest version of [`Self::KIND`].
    fn write(&self, out: &mut Vec<u8>);

    /// Reads an Avro body of the newest version of [`Self::KIND`]. When a
    /// schema gains a version, its reader learns to read the older ones
    /// too (by the version the schema id stands for).
    fn read(reader: &mut Reader<'a>) -> Result<Self, DecodeError>;
}

/// Encodes and decodes records in the Confluent wire format with one
/// installation's schema ids. Cheap to clone: the ids are shared.
#[derive(Debug, Clone)]
pub struct Codec {
    /// The ids to write and to recognise.
    ids: Arc<SchemaIds>,
}

/// A decoded record value with the correlation id of its record.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded<T> {
    /// The value.
    pub value: T,
    /// The record's correlation id.
    pub correlation_id: CorrelationId,
}

impl Codec {
    /// A codec writing and reading with `ids`.
    pub fn new(ids: SchemaIds) -> Self {
        Codec { ids: Arc::new(ids) }
    }

    /// A codec with the ids of embedded mode (`schemas/registry.toml`).
    pub fn embedded() -> Self {
        Codec::new(SchemaIds::embedded())
    }

    /// The ids it writes and recognises.
    pub fn ids(&self) -> &SchemaIds {
        &self.ids
    }

    /// Appends `record` to `out` in the wire format: the magic byte, the
    /// id of the newest version of its schema (four bytes, big-endian),
    /// then its Avro body.
    ///
    /// Fast path: allocates only when `out` must grow, so a buffer reused
    /// from record to record soon stops allocating.
    pub fn encode<'a, T: WireRecord<'a>>(&self, record: &T, out: &mut Vec<u8>) {
        out.push(MAGIC);
        out.extend_from_slice(&self.ids.newest_id(T::KIND).to_be_bytes());
        record.write(out);
    }

    /// Decodes a record value written in the wire format with `T`'s
    /// schema. Strings and bytes in the result borrow from `bytes`.
    ///
    /// Fast path: nothing is allocated, except the text of a string value
    /// and the lists of alerts.
    pub fn decode<'a, T: WireRecord<'a>>(&self, bytes: &'a [u8]) -> Result<T, DecodeError> {
        let Some(header) = bytes.get(..HEADER_LEN) else {
            return Err(DecodeError::NoHeader { len: bytes.len() });
        };
        if header[0] != MAGIC {
            return Err(DecodeError::UnknownMagic { found: header[0] });
        }
        let id = u32::from_be_bytes([header[1], header[2], header[3], header[4]]);
        let entry = self
            .ids
            .lookup(id)
            .ok_or(DecodeError::UnknownSchemaId { id })?;
        if entry.kind != T::KIND {
            return Err(DecodeError::WrongSchema {
                id,
                found: entry.kind,
                version: entry.version,
                expected: T::KIND,
            });
        }
        if entry.version != T::KIND.newest_version() {
            return Err(DecodeError::UnsupportedVersion {
                id,
                schema: entry.kind,
                version: entry.version,
            });
        }

        let mut reader = Reader::new(bytes, HEADER_LEN, T::KIND);
        let value = T::read(&mut reader)?;
        reader.finish()?;
        Ok(value)
    }

    /// Decodes a consumed record's value, with its correlation id; a
    /// record without one is an error like a bad value.
    pub fn decode_record<'a, T: WireRecord<'a>>(
        &self,
        record: &ConsumedRecord<'a>,
    ) -> Result<Decoded<T>, DecodeError> {
        let correlation_id = record
            .correlation_id()
            .ok_or(DecodeError::MissingCorrelationId)?;
        let value = self.decode(record.value)?;
        Ok(Decoded {
            value,
            correlation_id,
        })
    }
}

/// Puts records into batches in the wire format, each with a key, a
/// timestamp and its correlation id: what every producer of Flowline's
/// topics goes through. Keeps one buffer for the encoded value, so
/// encoding allocates nothing once it has grown.
#[derive(Debug, Clone)]
pub struct RecordEncoder {
    /// The codec.
    codec: Codec,
    /// The value being encoded, reused.
    value: Vec<u8>,
}

impl RecordEncoder {
    /// An encoder writing with `codec`.
    pub fn new(codec: Codec) -> Self {
        RecordEncoder {
            codec,
            value: Vec::with_capacity(256),
        }
    }

    /// The codec it writes with.
    pub fn codec(&self) -> &Codec {
        &self.codec
    }

    /// Encodes `record` and adds it to `batch` with `key` (see
    /// [`crate::key`]), `timestamp` and `correlation_id` (carried in the
    /// `correlation-id` header). Fails, adding nothing, only when the
    /// record is too large for the batch.
    pub fn push<'a, T: WireRecord<'a>>(
        &mut self,
        batch: &mut RecordBatch,
        key: &[u8],
        record: &T,
        timestamp: Timestamp,
        correlation_id: CorrelationId,
    ) -> Result<(), BusError> {
        self.value.clear();
        self.codec.encode(record, &mut self.value);
        batch.push(Record {
            key,
            value: &self.value,
            timestamp,
            correlation_id,
            headers: &[],
            partition: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use flowline_bus::{CORRELATION_ID_HEADER, Headers, Topic};
    use flowline_core::{AssetId, Sample, TagId, Value};

    use super::*;
    use crate::records::AlertRecord;

    fn sample() -> Sample {
        Sample::new(
            TagId(5),
            Timestamp::from_seconds(1_800_000_000),
            Value::Integer(3),
        )
    }

    fn encoded() -> Vec<u8> {
        let mut bytes = Vec::new();
        Codec::embedded().encode(&sample(), &mut bytes);
        bytes
    }

    #[test]
    fn encoding_appends_to_what_the_buffer_holds() {
        let mut bytes = b"kept".to_vec();
        Codec::embedded().encode(&sample(), &mut bytes);
        assert_eq!(&bytes[..4], b"kept");
        assert_eq!(bytes[4..], encoded());
    }

    #[test]
    fn a_value_shorter_than_the_header_or_with_another_magic_byte_is_refused() {
        let codec = Codec::embedded();
        assert_eq!(
            codec.decode::<Sample>(&[0, 0, 0]).unwrap_err().to_string(),
            "record of 3 bytes is shorter than the 5-byte header (magic byte and schema id)"
        );
        let mut bytes = encoded();
        bytes[0] = 1;
        assert_eq!(
            codec.decode::<Sample>(&bytes).unwrap_err(),
            DecodeError::UnknownMagic { found: 1 }
        );
    }

    #[test]
    fn an_unknown_schema_id_and_another_schemas_id_are_named() {
        let codec = Codec::embedded();
        let mut bytes = encoded();
        bytes[1..5].copy_from_slice(&77_u32.to_be_bytes());
        assert_eq!(
            codec.decode::<Sample>(&bytes).unwrap_err().to_string(),
            "unknown schema id 77 at offset 1"
        );
        let error = codec.decode::<AlertRecord<'_>>(&encoded()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "schema id 1 is raw-sample v1; expected alert"
        );
        assert_eq!(error.reason(), "wrong-schema");
    }

    #[test]
    fn every_cut_of_a_record_is_a_truncation_error_and_extra_bytes_are_refused() {
        let codec = Codec::embedded();
        let bytes = encoded();
        for len in HEADER_LEN..bytes.len() {
            let error = codec.decode::<Sample>(&bytes[..len]).unwrap_err();
            assert_eq!(error.reason(), "truncated", "cut at {len}: {error}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            codec.decode::<Sample>(&longer).unwrap_err().to_string(),
            format!(
                "raw-sample record ends at offset {}, but the value has {} bytes",
                bytes.len(),
                bytes.len() + 1
            )
        );
    }

    #[test]
    fn every_record_pushed_carries_its_correlation_id_and_key() {
        let mut encoder = RecordEncoder::new(Codec::embedded());
        let mut batch = RecordBatch::new();
        let ids: Vec<CorrelationId> = (0..3).map(|_| CorrelationId::random()).collect();
        for (index, id) in ids.iter().enumerate() {
            let key = crate::key::sample_key(None, AssetId(index as u32));
            encoder
                .push(&mut batch, key.as_bytes(), &sample(), sample().time, *id)
                .unwrap();
        }
        let records: Vec<_> = batch.iter().collect();
        assert_eq!(records.len(), 3);
        for (index, (record, id)) in records.iter().zip(&ids).enumerate() {
            assert_eq!(record.headers.correlation_id(), Some(*id));
            assert_eq!(record.key, [0, 0, 0, index as u8]);
            assert_eq!(record.value, encoded());
        }
    }

    #[test]
    fn a_consumed_record_without_a_correlation_id_is_an_error() {
        let bytes = encoded();
        let record = ConsumedRecord {
            topic: Topic::RawSensorData,
            partition: 0,
            offset: 0,
            timestamp: sample().time,
            key: b"",
            value: &bytes,
            headers: Headers::from_packed(b"").unwrap(),
        };
        let error = Codec::embedded()
            .decode_record::<Sample>(&record)
            .unwrap_err();
        assert_eq!(error, DecodeError::MissingCorrelationId);
        assert_eq!(error.reason(), "missing-correlation-id");
        assert_eq!(CORRELATION_ID_HEADER, "correlation-id");
    }
}
