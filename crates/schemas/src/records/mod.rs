//! The record types of Flowline's topics and their Avro layouts, one
//! module a schema, written by hand for the fixed schemas under
//! `schemas/`: fields in the order of the newest `.avsc`, no intermediate
//! value trees. `tests/avro_interop.rs` proves each layout against the
//! `.avsc` with an Avro implementation nobody here wrote.

mod alert;
mod command;
mod dead_letter;
mod sample;

use flowline_core::{Criticality, Value};

pub use alert::{AlertRecord, EvidenceRecord};
pub use dead_letter::DeadLetter;
pub use sample::ProcessedRecord;

use crate::avro::{self, Reader};
use crate::error::DecodeError;

/// Branches of the value union `["null", "double", "long", "boolean",
/// "string"]`.
const VALUE_BRANCHES: usize = 5;

/// Appends a [`Value`] as the value union. Any NaN, [`Value::MISSING`],
/// is `null`: the source had no value.
fn put_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Float(number) if number.is_nan() => avro::put_index(out, 0),
        Value::Float(number) => {
            avro::put_index(out, 1);
            avro::put_double(out, *number);
        }
        Value::Integer(number) => {
            avro::put_index(out, 2);
            avro::put_long(out, *number);
        }
        Value::Boolean(state) => {
            avro::put_index(out, 3);
            avro::put_boolean(out, *state);
        }
        Value::String(text) => {
            avro::put_index(out, 4);
            avro::put_string(out, text);
        }
    }
}

/// Reads the value union; `null` is [`Value::MISSING`]. A string value is
/// the one thing a sample allocates.
fn read_value(reader: &mut Reader<'_>, field: &'static str) -> Result<Value, DecodeError> {
    Ok(match reader.union_index(field, VALUE_BRANCHES)? {
        0 => Value::MISSING,
        1 => Value::Float(reader.double(field)?),
        2 => Value::Integer(reader.long(field)?),
        3 => Value::Boolean(reader.boolean(field)?),
        _ => Value::String(reader.string(field)?.into()),
    })
}

/// The symbols of the `Criticality` enum, in the `.avsc`'s order.
const CRITICALITIES: [Criticality; 4] = [
    Criticality::Low,
    Criticality::Medium,
    Criticality::High,
    Criticality::Critical,
];

/// Appends a [`Criticality`] as its symbol's index.
fn put_criticality(out: &mut Vec<u8>, criticality: Criticality) {
    let index = CRITICALITIES
        .iter()
        .position(|known| *known == criticality)
        .expect("bug: every criticality is a symbol of the enum");
    avro::put_index(out, index);
}

/// Reads a `Criticality` symbol.
fn read_criticality(
    reader: &mut Reader<'_>,
    field: &'static str,
) -> Result<Criticality, DecodeError> {
    Ok(CRITICALITIES[reader.enum_index(field, CRITICALITIES.len())?])
}
