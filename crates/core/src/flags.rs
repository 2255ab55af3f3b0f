//! Data-quality flags.
//!
//! Where [`Quality`](crate::Quality) is the source's own verdict on a value,
//! [`DataQualityFlags`] are Flowline's: the stream processor sets one bit for
//! each check a sample failed or each thing done to it, so a trend can show
//! why a point looks odd and an aggregate can leave suspect points out.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

bitflags::bitflags! {
    /// What Flowline found or did to a sample, one bit per reason.
    ///
    /// Two bytes per sample. The default is empty: nothing found.
    #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
    pub struct DataQualityFlags: u16 {
        /// The value lies outside the tag's valid range.
        const OUT_OF_RANGE = 1 << 0;
        /// The value changed faster than the tag's rate-of-change limit.
        const RATE_OF_CHANGE = 1 << 1;
        /// The value has not moved over the stuck-detection window.
        const STUCK = 1 << 2;
        /// The value is an isolated excursion from its neighbours.
        const SPIKE = 1 << 3;
        /// The sample follows a gap longer than the tag's expected interval.
        const GAP = 1 << 4;
        /// The sample arrived after its event-time window had closed.
        const LATE = 1 << 5;
        /// The value was estimated or interpolated, not measured.
        const ESTIMATED = 1 << 6;
        /// The value was converted from the source's unit to the tag's unit.
        const UNIT_CONVERTED = 1 << 7;
        /// The source reported the value as bad or uncertain.
        const SOURCE_BAD = 1 << 8;
    }
}

/// The text name and the human reason of each flag, in bit order.
const DESCRIPTIONS: &[(DataQualityFlags, &str, &str)] = &[
    (
        DataQualityFlags::OUT_OF_RANGE,
        "out-of-range",
        "value outside the tag's valid range",
    ),
    (
        DataQualityFlags::RATE_OF_CHANGE,
        "rate-of-change",
        "value changed faster than the tag's rate-of-change limit",
    ),
    (
        DataQualityFlags::STUCK,
        "stuck",
        "value has not moved over the stuck-detection window",
    ),
    (
        DataQualityFlags::SPIKE,
        "spike",
        "isolated excursion from neighbouring values",
    ),
    (
        DataQualityFlags::GAP,
        "gap",
        "follows a gap longer than the expected interval",
    ),
    (
        DataQualityFlags::LATE,
        "late",
        "arrived after its event-time window closed",
    ),
    (
        DataQualityFlags::ESTIMATED,
        "estimated",
        "value estimated or interpolated, not measured",
    ),
    (
        DataQualityFlags::UNIT_CONVERTED,
        "unit-converted",
        "converted from the source unit to the tag unit",
    ),
    (
        DataQualityFlags::SOURCE_BAD,
        "source-bad",
        "source reported bad or uncertain quality",
    ),
];

/// A flag name that is not one of Flowline's data-quality flags.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown data-quality flag `{0}`: expected one of {names}", names = flag_names())]
pub struct FlagError(String);

fn flag_names() -> String {
    let names: Vec<&str> = DESCRIPTIONS.iter().map(|(_, name, _)| *name).collect();
    names.join(", ")
}

impl DataQualityFlags {
    /// The text name and the human reason of each flag set here, in bit
    /// order, for screens and reports.
    pub fn reasons(self) -> impl Iterator<Item = (&'static str, &'static str)> {
        DESCRIPTIONS
            .iter()
            .filter(move |(flag, _, _)| self.contains(*flag))
            .map(|(_, name, reason)| (*name, *reason))
    }
}

impl fmt::Display for DataQualityFlags {
    /// The names of the flags set, joined by `|`; empty when none is set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, (name, _)) in self.reasons().enumerate() {
            if index > 0 {
                f.write_str("|")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

impl FromStr for DataQualityFlags {
    type Err = FlagError;

    /// Reads names joined by `|`, as [`Display`](fmt::Display) writes them.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut flags = DataQualityFlags::empty();
        for name in text
            .split('|')
            .map(str::trim)
            .filter(|name| !name.is_empty())
        {
            let (flag, _, _) = DESCRIPTIONS
                .iter()
                .find(|(_, known, _)| *known == name)
                .ok_or_else(|| FlagError(name.to_owned()))?;
            flags |= *flag;
        }
        Ok(flags)
    }
}

impl Serialize for DataQualityFlags {
    /// A list of names in human-readable formats, the bits otherwise.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_seq(self.reasons().map(|(name, _)| name))
        } else {
            serializer.serialize_u16(self.bits())
        }
    }
}

impl<'de> Deserialize<'de> for DataQualityFlags {
    /// Unknown bits from a newer writer are kept, not dropped, so a record
    /// passing through an older service loses nothing.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let names = Vec::<String>::deserialize(deserializer)?;
            names.join("|").parse().map_err(serde::de::Error::custom)
        } else {
            u16::deserialize(deserializer).map(DataQualityFlags::from_bits_retain)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_has_a_name_and_a_reason() {
        for flag in DataQualityFlags::all().iter() {
            let described = DESCRIPTIONS
                .iter()
                .filter(|(known, _, _)| *known == flag)
                .count();
            assert_eq!(described, 1, "flag {flag:?} must be described exactly once");
        }
        assert_eq!(DESCRIPTIONS.len(), DataQualityFlags::all().iter().count());
    }

    #[test]
    fn text_form_round_trips() {
        let flags = DataQualityFlags::STUCK | DataQualityFlags::UNIT_CONVERTED;
        assert_eq!(flags.to_string(), "stuck|unit-converted");
        assert_eq!(
            "stuck|unit-converted".parse::<DataQualityFlags>().unwrap(),
            flags
        );
        assert_eq!(
            "".parse::<DataQualityFlags>().unwrap(),
            DataQualityFlags::empty()
        );
    }

    #[test]
    fn unknown_flag_names_are_rejected_by_name() {
        let error = "stuck|wobbly".parse::<DataQualityFlags>().unwrap_err();
        assert!(error.to_string().contains("`wobbly`"), "{error}");
    }

    #[test]
    fn reasons_explain_each_flag_set() {
        let flags = DataQualityFlags::OUT_OF_RANGE | DataQualityFlags::LATE;
        let reasons: Vec<_> = flags.reasons().map(|(_, reason)| reason).collect();
        assert_eq!(reasons.len(), 2);
        assert!(reasons[0].contains("valid range"));
    }

    #[test]
    fn json_is_a_list_of_names() {
        let flags = DataQualityFlags::SPIKE | DataQualityFlags::GAP;
        assert_eq!(serde_json::to_string(&flags).unwrap(), r#"["spike","gap"]"#);
    }
}
