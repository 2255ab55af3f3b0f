//! OPC UA data values into samples, and Flowline values into OPC UA
//! variants.
//!
//! A data value from a read or a subscription becomes one [`Sample`]: its
//! status code is the sample's quality, bit for bit; its source timestamp,
//! when the server gives one, is the sample's time; a value Flowline cannot
//! hold (an array, a date, a structure) is [`Value::MISSING`] with
//! `BadTypeMismatch`, never a silent zero. Writes go the other way, into
//! the variant type of the node's data type, with range checks.

use std::sync::Arc;

use flowline_core::{DataType, Quality, Sample, TagId, Timestamp, Value};
use opcua::types::{DataTypeId, DataValue, DateTime, NodeId, Variant};

/// OPC UA times count 100-nanosecond ticks from 1601-01-01T00:00:00Z; this
/// many ticks separate that instant from the Unix epoch.
const UNIX_EPOCH_TICKS: i64 = 116_444_736_000_000_000;
/// 100-nanosecond ticks in a microsecond.
const TICKS_PER_MICROSECOND: i64 = 10;

/// The instant of an OPC UA time; `None` for the null time (no time given).
pub(crate) fn timestamp(time: &DateTime) -> Option<Timestamp> {
    if time.is_null() {
        return None;
    }
    let micros = (time.ticks() - UNIX_EPOCH_TICKS).div_euclid(TICKS_PER_MICROSECOND);
    Some(Timestamp::from_micros(micros))
}

/// The sample of `tag` for a data value received at `received`.
///
/// Fast path: called for every value from the server; allocates only for
/// text values.
pub(crate) fn sample(tag: TagId, data: &DataValue, received: Timestamp) -> Sample {
    let time = data
        .source_timestamp
        .as_ref()
        .and_then(timestamp)
        .unwrap_or(received);
    let quality = Quality::from_bits(data.status.map_or(0, |status| status.bits()));
    let (value, quality) = if quality.is_bad() {
        (Value::MISSING, quality)
    } else {
        match data
            .value
            .as_ref()
            .map_or(Err(Quality::BAD_WAITING_FOR_INITIAL_DATA), value)
        {
            Ok(value) => (value, quality),
            Err(reason) => (Value::MISSING, reason),
        }
    };
    let mut sample = Sample::new(tag, time, value).with_quality(quality);
    sample.received = received;
    sample
}

/// A sample of `tag` without a value, whose quality says why.
pub(crate) fn missing(tag: TagId, quality: Quality, received: Timestamp) -> Sample {
    Sample::new(tag, received, Value::MISSING).with_quality(quality)
}

/// The Flowline value of a variant, or the quality that says why it has
/// none: `BadTypeMismatch` for types Flowline does not hold,
/// `BadOutOfRange` for unsigned 64-bit integers beyond `i64`,
/// `BadSensorFailure` for NaN and infinite numbers (as from Modbus), and
/// `BadWaitingForInitialData` for an empty variant.
pub(crate) fn value(variant: &Variant) -> Result<Value, Quality> {
    Ok(match variant {
        Variant::Empty => return Err(Quality::BAD_WAITING_FOR_INITIAL_DATA),
        Variant::Boolean(value) => Value::Boolean(*value),
        Variant::SByte(value) => Value::Integer(i64::from(*value)),
        Variant::Byte(value) => Value::Integer(i64::from(*value)),
        Variant::Int16(value) => Value::Integer(i64::from(*value)),
        Variant::UInt16(value) => Value::Integer(i64::from(*value)),
        Variant::Int32(value) => Value::Integer(i64::from(*value)),
        Variant::UInt32(value) => Value::Integer(i64::from(*value)),
        Variant::Int64(value) => Value::Integer(*value),
        Variant::UInt64(value) => {
            Value::Integer(i64::try_from(*value).map_err(|_| Quality::BAD_OUT_OF_RANGE)?)
        }
        Variant::Float(value) => finite(f64::from(*value))?,
        Variant::Double(value) => finite(*value)?,
        Variant::String(text) => Value::String(Arc::from(text.as_ref())),
        _ => return Err(Quality::BAD_TYPE_MISMATCH),
    })
}

fn finite(number: f64) -> Result<Value, Quality> {
    if number.is_finite() {
        Ok(Value::Float(number))
    } else {
        Err(Quality::BAD_SENSOR_FAILURE)
    }
}

/// The built-in OPC UA types a tag's node may hold, as named by a
/// variable's `DataType` attribute.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum WireType {
    Boolean,
    SByte,
    Byte,
    Int16,
    UInt16,
    Int32,
    UInt32,
    Int64,
    UInt64,
    Float,
    Double,
    String,
}

impl WireType {
    /// The wire type of data type `data_type`, if Flowline can hold its
    /// values. The abstract `Number`, `Integer` and `UInteger` are written
    /// as `Double`, `Int64` and `UInt64`; `Duration` is a `Double`.
    pub(crate) fn of(data_type: &NodeId) -> Option<WireType> {
        Some(match data_type.as_data_type_id().ok()? {
            DataTypeId::Boolean => WireType::Boolean,
            DataTypeId::SByte => WireType::SByte,
            DataTypeId::Byte => WireType::Byte,
            DataTypeId::Int16 => WireType::Int16,
            DataTypeId::UInt16 => WireType::UInt16,
            DataTypeId::Int32 => WireType::Int32,
            DataTypeId::UInt32 => WireType::UInt32,
            DataTypeId::Int64 | DataTypeId::Integer => WireType::Int64,
            DataTypeId::UInt64 | DataTypeId::UInteger => WireType::UInt64,
            DataTypeId::Float => WireType::Float,
            DataTypeId::Double | DataTypeId::Number | DataTypeId::Duration => WireType::Double,
            DataTypeId::String => WireType::String,
            _ => return None,
        })
    }

    /// The Flowline data type of values of this type.
    pub(crate) fn data_type(self) -> DataType {
        match self {
            WireType::Boolean => DataType::Boolean,
            WireType::Float | WireType::Double => DataType::Float,
            WireType::String => DataType::String,
            _ => DataType::Integer,
        }
    }

    /// The OPC UA name of the type.
    pub(crate) fn name(self) -> &'static str {
        match self {
            WireType::Boolean => "Boolean",
            WireType::SByte => "SByte",
            WireType::Byte => "Byte",
            WireType::Int16 => "Int16",
            WireType::UInt16 => "UInt16",
            WireType::Int32 => "Int32",
            WireType::UInt32 => "UInt32",
            WireType::Int64 => "Int64",
            WireType::UInt64 => "UInt64",
            WireType::Float => "Float",
            WireType::Double => "Double",
            WireType::String => "String",
        }
    }

    /// `value` as a variant of this type; an error says what the type takes
    /// and what was given. Integers accept whole floats; floats accept
    /// integers; nothing turns into text or a boolean.
    pub(crate) fn variant(self, value: &Value) -> Result<Variant, String> {
        let name = self.name();
        let mismatch = || format!("a {name} node takes {}, not {value}", self.takes());
        match (self, value) {
            (WireType::Boolean, Value::Boolean(flag)) => Ok(Variant::Boolean(*flag)),
            (WireType::String, Value::String(text)) => Ok(Variant::String(text.as_ref().into())),
            (WireType::Float, Value::Float(_) | Value::Integer(_)) => {
                let number = value.as_f64().expect("bug: numbers have a number");
                if number.is_finite() && number.abs() <= f64::from(f32::MAX) {
                    Ok(Variant::Float(number as f32))
                } else {
                    Err(format!(
                        "a Float node takes finite numbers within ±3.4e38, not {value}"
                    ))
                }
            }
            (WireType::Double, Value::Float(number)) if number.is_finite() => {
                Ok(Variant::Double(*number))
            }
            (WireType::Double, Value::Integer(number)) => Ok(Variant::Double(*number as f64)),
            (WireType::Boolean | WireType::String | WireType::Double, _) => Err(mismatch()),
            (WireType::Float, _) => Err(mismatch()),
            (integer, _) => integer.integer(value).ok_or_else(|| {
                let (lo, hi) = integer.bounds();
                format!("a {name} node takes whole numbers from {lo} to {hi}, not {value}")
            }),
        }
    }

    /// What values of this type look like, for error messages.
    fn takes(self) -> &'static str {
        match self {
            WireType::Boolean => "true or false",
            WireType::String => "text",
            WireType::Float | WireType::Double => "numbers",
            _ => "whole numbers",
        }
    }

    /// The smallest and largest value of an integer type.
    fn bounds(self) -> (i128, i128) {
        match self {
            WireType::SByte => (i8::MIN.into(), i8::MAX.into()),
            WireType::Byte => (0, u8::MAX.into()),
            WireType::Int16 => (i16::MIN.into(), i16::MAX.into()),
            WireType::UInt16 => (0, u16::MAX.into()),
            WireType::Int32 => (i32::MIN.into(), i32::MAX.into()),
            WireType::UInt32 => (0, u32::MAX.into()),
            WireType::Int64 => (i64::MIN.into(), i64::MAX.into()),
            WireType::UInt64 => (0, u64::MAX.into()),
            _ => (0, 0),
        }
    }

    /// `value` as a variant of this integer type, if it is a whole number
    /// within the type's bounds.
    fn integer(self, value: &Value) -> Option<Variant> {
        let whole: i128 = match value {
            Value::Integer(number) => i128::from(*number),
            // Whole floats within i64 convert exactly; others are refused.
            Value::Float(number) if number.fract() == 0.0 && number.abs() < 9.2e18 => {
                *number as i128
            }
            _ => return None,
        };
        let (lo, hi) = self.bounds();
        if whole < lo || whole > hi {
            return None;
        }
        Some(match self {
            WireType::SByte => Variant::SByte(whole as i8),
            WireType::Byte => Variant::Byte(whole as u8),
            WireType::Int16 => Variant::Int16(whole as i16),
            WireType::UInt16 => Variant::UInt16(whole as u16),
            WireType::Int32 => Variant::Int32(whole as i32),
            WireType::UInt32 => Variant::UInt32(whole as u32),
            WireType::Int64 => Variant::Int64(whole as i64),
            WireType::UInt64 => Variant::UInt64(whole as u64),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use opcua::types::StatusCode;

    use super::*;

    #[test]
    fn opc_ua_ticks_since_1601_become_unix_microseconds() {
        let time = DateTime::parse_from_rfc3339("2024-05-01T06:30:00.250123Z").unwrap();
        let expected: Timestamp = "2024-05-01T06:30:00.250123Z".parse().unwrap();
        assert_eq!(timestamp(&time), Some(expected));
        assert_eq!(timestamp(&DateTime::null()), None);
        let before_1970 = DateTime::parse_from_rfc3339("1969-12-31T23:59:59.999999Z").unwrap();
        assert_eq!(timestamp(&before_1970), Some(Timestamp::from_micros(-1)));
    }

    #[test]
    fn a_good_value_keeps_its_source_time_and_the_receive_time() {
        let source = DateTime::parse_from_rfc3339("2024-05-01T06:30:00Z").unwrap();
        let data = DataValue {
            value: Some(Variant::Double(42.5)),
            source_timestamp: Some(source),
            ..DataValue::default()
        };
        let received = Timestamp::from_seconds(1_800_000_000);
        let sample = sample(TagId(7), &data, received);
        assert_eq!(sample.value, Value::Float(42.5));
        assert_eq!(sample.time, timestamp(&source).unwrap());
        assert_eq!(sample.received, received);
        assert!(sample.quality.is_good());

        let no_source = DataValue::value_only(Variant::Int32(-7));
        let sample = super::sample(TagId(7), &no_source, received);
        assert_eq!((sample.value, sample.time), (Value::Integer(-7), received));
    }

    #[test]
    fn a_bad_status_is_kept_bit_for_bit_and_the_value_is_missing() {
        // BadSensorFailure with the overflow info bit, as a server may send.
        let status = StatusCode::from(0x808C_0480);
        let data = DataValue {
            value: Some(Variant::Double(0.0)),
            status: Some(status),
            ..DataValue::default()
        };
        let sample = sample(TagId(1), &data, Timestamp::from_seconds(1));
        assert!(sample.value.is_missing(), "never a silent zero");
        assert_eq!(sample.quality.bits(), 0x808C_0480);

        let uncertain = DataValue {
            value: Some(Variant::Float(1.5)),
            status: Some(StatusCode::UncertainLastUsableValue),
            ..DataValue::default()
        };
        let sample = super::sample(TagId(1), &uncertain, Timestamp::from_seconds(1));
        assert_eq!(sample.value, Value::Float(1.5), "uncertain values are kept");
        assert_eq!(sample.quality, Quality::UNCERTAIN_LAST_USABLE_VALUE);
    }

    #[test]
    fn types_flowline_does_not_hold_are_missing_with_the_reason() {
        let cases = [
            (Variant::from(DateTime::now()), Quality::BAD_TYPE_MISMATCH),
            (Variant::from(vec![1.0f64, 2.0]), Quality::BAD_TYPE_MISMATCH),
            (Variant::UInt64(u64::MAX), Quality::BAD_OUT_OF_RANGE),
            (Variant::Double(f64::NAN), Quality::BAD_SENSOR_FAILURE),
            (Variant::Empty, Quality::BAD_WAITING_FOR_INITIAL_DATA),
        ];
        for (variant, quality) in cases {
            assert_eq!(value(&variant), Err(quality), "{variant:?}");
        }
        assert_eq!(value(&Variant::UInt16(513)), Ok(Value::Integer(513)));
        assert_eq!(value(&Variant::Boolean(true)), Ok(Value::Boolean(true)));
        assert_eq!(
            value(&Variant::from("auto")),
            Ok(Value::String("auto".into()))
        );
    }

    #[test]
    fn writes_are_encoded_in_the_node_type_or_refused_with_its_range() {
        assert_eq!(
            WireType::UInt16.variant(&Value::Integer(513)),
            Ok(Variant::UInt16(513))
        );
        assert_eq!(
            WireType::Int32.variant(&Value::Float(12.0)),
            Ok(Variant::Int32(12))
        );
        assert_eq!(
            WireType::Double.variant(&Value::Integer(3)),
            Ok(Variant::Double(3.0))
        );
        assert_eq!(
            WireType::UInt16
                .variant(&Value::Integer(70_000))
                .unwrap_err(),
            "a UInt16 node takes whole numbers from 0 to 65535, not 70000"
        );
        assert_eq!(
            WireType::Boolean.variant(&Value::Integer(1)).unwrap_err(),
            "a Boolean node takes true or false, not 1"
        );
        assert_eq!(
            WireType::Double.variant(&Value::MISSING).unwrap_err(),
            "a Double node takes numbers, not NaN"
        );
    }

    #[test]
    fn built_in_data_types_map_to_flowline_types() {
        let of = |id: DataTypeId| WireType::of(&id.into()).map(WireType::data_type);
        assert_eq!(of(DataTypeId::Double), Some(DataType::Float));
        assert_eq!(of(DataTypeId::UInt16), Some(DataType::Integer));
        assert_eq!(of(DataTypeId::Boolean), Some(DataType::Boolean));
        assert_eq!(of(DataTypeId::String), Some(DataType::String));
        assert_eq!(of(DataTypeId::DateTime), None);
        assert_eq!(WireType::of(&NodeId::new(2, 5000u32)), None);
    }
}
