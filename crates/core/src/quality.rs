//! Sample quality, as an OPC UA status code.
//!
//! Devices and SCADA servers report how far a value can be trusted. Flowline
//! keeps that verdict as the device's own OPC UA `StatusCode` (OPC 10000-4,
//! section 7.39), all 32 bits, so a quality read from a PLC reaches the
//! historian, the alarms and the screen unchanged. Modbus devices, which have
//! no quality of their own, are given the nearest OPC UA code by the gateway.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How far a sample can be trusted: an OPC UA status code.
///
/// The two top bits give the [`Severity`]; the next fourteen the sub-status
/// (why); the low sixteen carry info bits such as the [`Limit`]. All bits are
/// preserved. The default is [`Quality::GOOD`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Quality(u32);

/// The coarse verdict of a [`Quality`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The value is reliable.
    Good,
    /// The value may be used, with care.
    Uncertain,
    /// The value is not usable.
    Bad,
}

/// Whether the value is held at a limit of its source (the OPC UA limit bits).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Limit {
    /// The value moves freely.
    None,
    /// The value is at its low limit.
    Low,
    /// The value is at its high limit.
    High,
    /// The value is constant and cannot move.
    Constant,
}

/// A quality that could not be read from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown quality `{0}`: expected an OPC UA status name such as GoodLocalOverride or \
     BadSensorFailure, optionally with |Low, |High or |Constant, or a code such as 0x808C0000"
)]
pub struct QualityError(String);

const SEVERITY_SHIFT: u32 = 30;
const CODE_MASK: u32 = 0xFFFF_0000;
const LIMIT_SHIFT: u32 = 8;
const LIMIT_MASK: u32 = 0b11 << LIMIT_SHIFT;
/// Bit 10: the info bits describe a data value. OPC UA requires it set
/// whenever limit bits are used.
const INFO_TYPE_DATA_VALUE: u32 = 1 << 10;

/// Declares the named status codes Flowline knows by name, as associated
/// constants and as the table that [`Quality::name`] and parsing read.
macro_rules! named_codes {
    ($($(#[$doc:meta])* $constant:ident = $code:literal, $name:literal;)*) => {
        impl Quality {
            $($(#[$doc])* pub const $constant: Quality = Quality($code);)*
        }

        /// Every named code with its OPC UA name, for lookups both ways.
        const NAMED: &[(u32, &str)] = &[$(($code, $name)),*];
    };
}

named_codes! {
    /// The value is reliable.
    GOOD = 0x0000_0000, "Good";
    /// The value was overridden locally, by hand, at the source.
    GOOD_LOCAL_OVERRIDE = 0x0096_0000, "GoodLocalOverride";
    /// A written value was accepted but clamped to the allowed range.
    GOOD_CLAMPED = 0x0030_0000, "GoodClamped";
    /// The value may be used with care; no reason given.
    UNCERTAIN = 0x4000_0000, "Uncertain";
    /// Communication failed; this is the last value that was good.
    UNCERTAIN_NO_COMMUNICATION_LAST_USABLE_VALUE = 0x408F_0000,
        "UncertainNoCommunicationLastUsableValue";
    /// Whatever updated this value has stopped doing so.
    UNCERTAIN_LAST_USABLE_VALUE = 0x4090_0000, "UncertainLastUsableValue";
    /// The value was substituted by hand.
    UNCERTAIN_SUBSTITUTE_VALUE = 0x4091_0000, "UncertainSubstituteValue";
    /// The value is an initial value, not yet updated from its source.
    UNCERTAIN_INITIAL_VALUE = 0x4092_0000, "UncertainInitialValue";
    /// The value is at one of the sensor's limits.
    UNCERTAIN_SENSOR_NOT_ACCURATE = 0x4093_0000, "UncertainSensorNotAccurate";
    /// The value is outside the range defined for it.
    UNCERTAIN_ENGINEERING_UNITS_EXCEEDED = 0x4094_0000, "UncertainEngineeringUnitsExceeded";
    /// The value is derived from fewer good sources than required.
    UNCERTAIN_SUB_NORMAL = 0x4095_0000, "UncertainSubNormal";
    /// The value is simulated.
    UNCERTAIN_SIMULATED_VALUE = 0x4209_0000, "UncertainSimulatedValue";
    /// The value is not usable; no reason given.
    BAD = 0x8000_0000, "Bad";
    /// A low-level communication error occurred.
    BAD_COMMUNICATION_ERROR = 0x8005_0000, "BadCommunicationError";
    /// The read timed out.
    BAD_TIMEOUT = 0x800A_0000, "BadTimeout";
    /// Communication is defined but not established, and no last value exists.
    BAD_NO_COMMUNICATION = 0x8031_0000, "BadNoCommunication";
    /// The source has not produced a first value yet.
    BAD_WAITING_FOR_INITIAL_DATA = 0x8032_0000, "BadWaitingForInitialData";
    /// The source does not know the requested point.
    BAD_NODE_ID_UNKNOWN = 0x8034_0000, "BadNodeIdUnknown";
    /// The value was out of range.
    BAD_OUT_OF_RANGE = 0x803C_0000, "BadOutOfRange";
    /// The value's type does not match what was expected.
    BAD_TYPE_MISMATCH = 0x8074_0000, "BadTypeMismatch";
    /// The configuration at the source makes the value unusable.
    BAD_CONFIGURATION_ERROR = 0x8089_0000, "BadConfigurationError";
    /// The value should come from another source but was never connected.
    BAD_NOT_CONNECTED = 0x808A_0000, "BadNotConnected";
    /// The device that produces the value has failed.
    BAD_DEVICE_FAILURE = 0x808B_0000, "BadDeviceFailure";
    /// The sensor that measures the value has failed.
    BAD_SENSOR_FAILURE = 0x808C_0000, "BadSensorFailure";
    /// The source is out of service.
    BAD_OUT_OF_SERVICE = 0x808D_0000, "BadOutOfService";
    /// Data is missing because collection stopped or was lost.
    BAD_DATA_LOST = 0x809D_0000, "BadDataLost";
}

impl Quality {
    /// The quality with exactly these 32 status-code bits.
    pub const fn from_bits(bits: u32) -> Self {
        Quality(bits)
    }

    /// All 32 status-code bits, as a device would send them.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// The severity and sub-status without the info bits, for comparing
    /// the reason of two qualities.
    pub const fn code(self) -> Quality {
        Quality(self.0 & CODE_MASK)
    }

    /// The coarse verdict. The reserved severity `0b11` counts as bad, as
    /// the OPC UA specification asks.
    pub const fn severity(self) -> Severity {
        match self.0 >> SEVERITY_SHIFT {
            0b00 => Severity::Good,
            0b01 => Severity::Uncertain,
            _ => Severity::Bad,
        }
    }

    /// Whether the value is reliable.
    pub const fn is_good(self) -> bool {
        matches!(self.severity(), Severity::Good)
    }

    /// Whether the value may be used with care.
    pub const fn is_uncertain(self) -> bool {
        matches!(self.severity(), Severity::Uncertain)
    }

    /// Whether the value is not usable.
    pub const fn is_bad(self) -> bool {
        matches!(self.severity(), Severity::Bad)
    }

    /// Whether the value is held at a limit of its source.
    pub const fn limit(self) -> Limit {
        match (self.0 & LIMIT_MASK) >> LIMIT_SHIFT {
            0b00 => Limit::None,
            0b01 => Limit::Low,
            0b10 => Limit::High,
            _ => Limit::Constant,
        }
    }

    /// This quality with its limit bits set to `limit`; the info type is
    /// marked as a data value, as OPC UA requires when limit bits are used.
    #[must_use]
    pub const fn with_limit(self, limit: Limit) -> Self {
        let bits = match limit {
            Limit::None => 0b00,
            Limit::Low => 0b01,
            Limit::High => 0b10,
            Limit::Constant => 0b11,
        };
        Quality((self.0 & !LIMIT_MASK) | INFO_TYPE_DATA_VALUE | (bits << LIMIT_SHIFT))
    }

    /// The OPC UA name of this quality's code, if Flowline knows it by name.
    pub fn name(self) -> Option<&'static str> {
        let code = self.0 & CODE_MASK;
        NAMED
            .iter()
            .find(|(known, _)| *known == code)
            .map(|(_, name)| *name)
    }
}

impl fmt::Display for Quality {
    /// The OPC UA name, with `|Low`, `|High` or `|Constant` when a limit is
    /// set; a quality with other info bits or an unnamed code is shown as
    /// hexadecimal so nothing is hidden.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.0 & !CODE_MASK;
        let limit_only = info == 0 || info == (self.0 & LIMIT_MASK) | INFO_TYPE_DATA_VALUE;
        match self.name() {
            Some(name) if limit_only => {
                f.write_str(name)?;
                match self.limit() {
                    Limit::None => Ok(()),
                    limit => write!(f, "|{limit:?}"),
                }
            }
            _ => write!(f, "0x{:08X}", self.0),
        }
    }
}

impl FromStr for Quality {
    type Err = QualityError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || QualityError(text.to_owned());
        let trimmed = text.trim();
        if let Some(hex) = trimmed
            .strip_prefix("0x")
            .or_else(|| trimmed.strip_prefix("0X"))
        {
            return u32::from_str_radix(hex, 16)
                .map(Quality)
                .map_err(|_| error());
        }

        let (name, limit) = match trimmed.split_once('|') {
            Some((name, limit)) => (name, Some(limit)),
            None => (trimmed, None),
        };
        let code = NAMED
            .iter()
            .find(|(_, known)| known.eq_ignore_ascii_case(name))
            .map(|(code, _)| Quality(*code))
            .ok_or_else(error)?;
        match limit {
            None => Ok(code),
            Some(limit) => {
                let limit = match limit.to_ascii_lowercase().as_str() {
                    "none" => Limit::None,
                    "low" => Limit::Low,
                    "high" => Limit::High,
                    "constant" => Limit::Constant,
                    _ => return Err(error()),
                };
                Ok(code.with_limit(limit))
            }
        }
    }
}

impl Serialize for Quality {
    /// The text form in human-readable formats, the 32 bits otherwise.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_u32(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Quality {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            text.parse().map_err(serde::de::Error::custom)
        } else {
            u32::deserialize(deserializer).map(Quality)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_comes_from_the_top_two_bits() {
        assert_eq!(Quality::GOOD_LOCAL_OVERRIDE.severity(), Severity::Good);
        assert_eq!(
            Quality::UNCERTAIN_LAST_USABLE_VALUE.severity(),
            Severity::Uncertain
        );
        assert_eq!(Quality::BAD_SENSOR_FAILURE.severity(), Severity::Bad);
        // The reserved severity 0b11 must never be mistaken for usable data.
        assert!(Quality::from_bits(0xC000_0000).is_bad());
    }

    #[test]
    fn every_bit_from_a_device_survives_a_round_trip() {
        // BadSensorFailure, info type = data value, limit = High, overflow.
        let from_device = Quality::from_bits(0x808C_0000 | 1 << 10 | 0b10 << 8 | 1 << 7);
        let text = from_device.to_string();
        assert_eq!(text, "0x808C0680");
        assert_eq!(text.parse::<Quality>().unwrap(), from_device);
        assert_eq!(from_device.code(), Quality::BAD_SENSOR_FAILURE);
        assert_eq!(from_device.limit(), Limit::High);
    }

    #[test]
    fn named_codes_with_limits_read_and_print_by_name() {
        let quality = Quality::UNCERTAIN_SENSOR_NOT_ACCURATE.with_limit(Limit::Low);
        assert_eq!(quality.to_string(), "UncertainSensorNotAccurate|Low");
        assert_eq!(
            "uncertainsensornotaccurate|low".parse::<Quality>().unwrap(),
            quality
        );
        assert_eq!("Good".parse::<Quality>().unwrap(), Quality::GOOD);
    }

    #[test]
    fn unknown_names_are_rejected_with_the_name_in_the_error() {
        let error = "PrettyGood".parse::<Quality>().unwrap_err();
        assert!(error.to_string().contains("`PrettyGood`"), "{error}");
        assert!("Good|Sideways".parse::<Quality>().is_err());
    }

    #[test]
    fn codes_unknown_by_name_are_kept_and_shown_in_hex() {
        let quality = Quality::from_bits(0x80AB_0000);
        assert_eq!(quality.name(), None);
        assert_eq!(quality.to_string(), "0x80AB0000");
        assert!(quality.is_bad());
    }

    #[test]
    fn json_uses_names() {
        let json = serde_json::to_string(&Quality::BAD_COMMUNICATION_ERROR).unwrap();
        assert_eq!(json, "\"BadCommunicationError\"");
        let back: Quality = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Quality::BAD_COMMUNICATION_ERROR);
    }
}
