//! Values and data types.
//!
//! Most field data are floating-point measurements, but a running flag is a
//! boolean, a stroke counter an integer and a pump state a word such as
//! `running`. [`Value`] holds any of them; [`DataType`] is what the catalog
//! says a tag's values must be.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A tag's value at one instant.
///
/// In human-readable formats (JSON, YAML) a value is a bare scalar: `42.5`,
/// `7`, `true`, `"running"`. In binary formats it is tagged with its
/// variant, since those formats cannot tell an integer from a float
/// without being told.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A measurement, in the tag's engineering unit.
    Float(f64),
    /// A count or an enumeration code.
    Integer(i64),
    /// An on/off state.
    Boolean(bool),
    /// A status or enumeration word. Shared, so copying a sample does not
    /// copy the text.
    String(Arc<str>),
}

/// The kind of value a tag carries. The default is [`DataType::Float`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    /// 64-bit floating point.
    #[default]
    Float,
    /// 64-bit signed integer.
    Integer,
    /// True or false.
    Boolean,
    /// UTF-8 text.
    String,
}

/// A data type name that Flowline does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown data type `{0}`: expected float, integer, boolean or string")]
pub struct DataTypeError(String);

impl Value {
    /// What a sample carries when its source had no value: not a number.
    /// Its quality is then bad and says why. Never a silent zero.
    pub const MISSING: Value = Value::Float(f64::NAN);

    /// Whether this is [`Value::MISSING`] (any NaN).
    pub fn is_missing(&self) -> bool {
        matches!(self, Value::Float(value) if value.is_nan())
    }

    /// The data type this value belongs to.
    pub fn data_type(&self) -> DataType {
        match self {
            Value::Float(_) => DataType::Float,
            Value::Integer(_) => DataType::Integer,
            Value::Boolean(_) => DataType::Boolean,
            Value::String(_) => DataType::String,
        }
    }

    /// The value as a number, for range checks and aggregates: booleans
    /// count as 0 and 1, text has no number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(value) => Some(*value),
            Value::Integer(value) => Some(*value as f64),
            Value::Boolean(value) => Some(f64::from(u8::from(*value))),
            Value::String(_) => None,
        }
    }
}

/// The binary form: an externally tagged enum.
#[derive(Serialize, Deserialize)]
enum Tagged {
    Float(f64),
    Integer(i64),
    Boolean(bool),
    String(Arc<str>),
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            return match self {
                Value::Float(value) => serializer.serialize_f64(*value),
                Value::Integer(value) => serializer.serialize_i64(*value),
                Value::Boolean(value) => serializer.serialize_bool(*value),
                Value::String(value) => serializer.serialize_str(value),
            };
        }
        let tagged = match self {
            Value::Float(value) => Tagged::Float(*value),
            Value::Integer(value) => Tagged::Integer(*value),
            Value::Boolean(value) => Tagged::Boolean(*value),
            Value::String(value) => Tagged::String(Arc::clone(value)),
        };
        tagged.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Value {
    /// Reads a scalar in human-readable formats (integers stay integers,
    /// numbers with a fraction or exponent become floats), the tagged form
    /// otherwise.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            return deserializer.deserialize_any(ValueVisitor);
        }
        Ok(match Tagged::deserialize(deserializer)? {
            Tagged::Float(value) => Value::Float(value),
            Tagged::Integer(value) => Value::Integer(value),
            Tagged::Boolean(value) => Value::Boolean(value),
            Tagged::String(value) => Value::String(value),
        })
    }
}

struct ValueVisitor;

impl Visitor<'_> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number, a boolean or a string")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Boolean(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Integer(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Value, E> {
        i64::try_from(value)
            .map(Value::Integer)
            .map_err(|_| E::custom(format!("integer {value} is larger than {}", i64::MAX)))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Value, E> {
        Ok(Value::Float(value))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(Arc::from(value)))
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Float(value) => write!(f, "{value}"),
            Value::Integer(value) => write!(f, "{value}"),
            Value::Boolean(value) => write!(f, "{value}"),
            Value::String(value) => f.write_str(value),
        }
    }
}

impl DataType {
    /// The lowercase name used in files and on the wire.
    pub fn name(self) -> &'static str {
        match self {
            DataType::Float => "float",
            DataType::Integer => "integer",
            DataType::Boolean => "boolean",
            DataType::String => "string",
        }
    }

    /// Whether values of this type are numbers that units, ranges and
    /// deadbands apply to.
    pub fn is_numeric(self) -> bool {
        matches!(self, DataType::Float | DataType::Integer)
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DataType {
    type Err = DataTypeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "float" => Ok(DataType::Float),
            "integer" => Ok(DataType::Integer),
            "boolean" => Ok(DataType::Boolean),
            "string" => Ok(DataType::String),
            _ => Err(DataTypeError(text.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_value_is_not_a_number_and_never_zero() {
        assert!(Value::MISSING.is_missing());
        assert_eq!(Value::MISSING.as_f64().map(f64::is_nan), Some(true));
        assert!(!Value::Float(0.0).is_missing());
    }

    #[test]
    fn values_know_their_type_and_number() {
        assert_eq!(Value::Integer(3).data_type(), DataType::Integer);
        assert_eq!(Value::Boolean(true).as_f64(), Some(1.0));
        assert_eq!(Value::String("running".into()).as_f64(), None);
    }

    #[test]
    fn json_keeps_integers_and_floats_apart() {
        let values = vec![
            Value::Float(1.0),
            Value::Integer(1),
            Value::String("off".into()),
        ];
        let json = serde_json::to_string(&values).unwrap();
        assert_eq!(json, r#"[1.0,1,"off"]"#);
        assert_eq!(serde_json::from_str::<Vec<Value>>(&json).unwrap(), values);
    }

    #[test]
    fn data_type_names_round_trip_and_unknown_ones_are_named() {
        for data_type in [
            DataType::Float,
            DataType::Integer,
            DataType::Boolean,
            DataType::String,
        ] {
            assert_eq!(data_type.name().parse::<DataType>().unwrap(), data_type);
        }
        let error = "double".parse::<DataType>().unwrap_err();
        assert!(error.to_string().contains("`double`"));
    }
}
