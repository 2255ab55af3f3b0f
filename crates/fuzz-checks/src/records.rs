//! Record values on the bus: the Avro codec of `flowline_schemas` in the
//! Confluent wire format.

use flowline_core::{CommandOutcome, Sample, SignedCommand};
use flowline_schemas::{
    AlertRecord, Codec, DeadLetter, DecodeError, HEADER_LEN, MAGIC, ProcessedRecord, SchemaKind,
    WireRecord,
};

/// The first byte picks the schema (its value modulo six, in the order of
/// `SchemaKind::ALL`) and whether the rest is a whole record value (top
/// bit set) or a body to put behind that schema's header, so the fuzzer
/// reaches the bodies without guessing ids.
///
/// A value decodes or is refused with an error whose offset lies inside
/// it; what decodes encodes to at most as many bytes (a NaN double
/// becomes null, over-long integers and sized array blocks shrink) and
/// decodes again to a record that encodes to the very same bytes.
pub fn records(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let codec = Codec::embedded();
    let kind = SchemaKind::ALL[usize::from(selector) % SchemaKind::ALL.len()];
    let value = if selector & 0x80 != 0 {
        rest.to_vec()
    } else {
        let mut value = vec![MAGIC];
        value.extend_from_slice(&codec.ids().newest_id(kind).to_be_bytes());
        value.extend_from_slice(rest);
        value
    };
    let reencode: Reencode = match kind {
        SchemaKind::RawSample => |codec, value| reencode::<Sample>(codec, value),
        SchemaKind::ProcessedSample => |codec, value| reencode::<ProcessedRecord<'_>>(codec, value),
        SchemaKind::Alert => |codec, value| reencode::<AlertRecord<'_>>(codec, value),
        SchemaKind::DeadLetter => |codec, value| reencode::<DeadLetter<'_>>(codec, value),
        SchemaKind::Command => |codec, value| reencode::<SignedCommand>(codec, value),
        SchemaKind::CommandOutcome => |codec, value| reencode::<CommandOutcome>(codec, value),
    };

    let encoded = match reencode(&codec, &value) {
        Ok(encoded) => encoded,
        Err(error) => return check_error(&error, &value),
    };
    assert!(
        encoded.len() <= value.len(),
        "a {}-byte value encodes back to {} bytes",
        value.len(),
        encoded.len()
    );
    let twice = reencode(&codec, &encoded)
        .unwrap_or_else(|error| panic!("an encoded record does not decode: {error}"));
    assert_eq!(twice, encoded, "a decoded record encodes to other bytes");
}

/// Decodes a value with a codec and encodes the record again.
type Reencode = fn(&Codec, &[u8]) -> Result<Vec<u8>, DecodeError>;

/// Decodes `value` as a `T` and encodes it again.
fn reencode<'a, T: WireRecord<'a>>(codec: &Codec, value: &'a [u8]) -> Result<Vec<u8>, DecodeError> {
    let record = codec.decode::<T>(value)?;
    let mut encoded = Vec::new();
    codec.encode(&record, &mut encoded);
    Ok(encoded)
}

/// An error names a place inside the value, and says something.
fn check_error(error: &DecodeError, value: &[u8]) {
    let message = error.to_string();
    assert!(!message.is_empty() && !error.reason().is_empty());
    match error.offset() {
        Some(offset) => assert!(
            offset <= value.len(),
            "{message}: offset {offset} past the {}-byte value",
            value.len()
        ),
        None => assert!(value.len() < HEADER_LEN, "{message}"),
    }
}
