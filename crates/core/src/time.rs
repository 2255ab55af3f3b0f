//! Timestamps.
//!
//! Every sample, change and event in Flowline carries a [`Timestamp`]: a UTC
//! instant counted in microseconds since the Unix epoch. Microseconds match
//! what the production stores keep (PostgreSQL `timestamptz`, ClickHouse
//! `DateTime64(6)`, Parquet and Iceberg `timestamp` in micros), so a time read
//! from a device reaches every store without rounding twice.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A UTC instant with microsecond precision.
///
/// Stored as a signed count of microseconds since 1970-01-01T00:00:00Z, which
/// covers ±292,000 years. Ordering is chronological. The text form is
/// RFC 3339 with six fractional digits, such as `2026-12-03T19:17:49.123456Z`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

/// A timestamp that could not be read from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp `{text}`: expected RFC 3339 such as 2026-12-03T19:17:49Z ({reason})")]
pub struct TimestampError {
    text: String,
    reason: String,
}

impl Timestamp {
    /// The Unix epoch, 1970-01-01T00:00:00Z.
    pub const UNIX_EPOCH: Timestamp = Timestamp(0);

    /// The instant `micros` microseconds after the Unix epoch.
    pub const fn from_micros(micros: i64) -> Self {
        Timestamp(micros)
    }

    /// The instant `millis` milliseconds after the Unix epoch.
    pub const fn from_millis(millis: i64) -> Self {
        Timestamp(millis.saturating_mul(1_000))
    }

    /// The instant `seconds` seconds after the Unix epoch.
    pub const fn from_seconds(seconds: i64) -> Self {
        Timestamp(seconds.saturating_mul(1_000_000))
    }

    /// Microseconds since the Unix epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// The current time from the system clock.
    pub fn now() -> Self {
        Timestamp(Utc::now().timestamp_micros())
    }

    /// This instant moved by `micros` microseconds, saturating at the ends
    /// of the range.
    pub const fn saturating_add_micros(self, micros: i64) -> Self {
        Timestamp(self.0.saturating_add(micros))
    }

    /// Microseconds from `earlier` to `self`; negative if `earlier` is later.
    pub const fn micros_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// This instant as a chrono date-time, for formatting and calendar work.
    pub fn to_datetime(self) -> DateTime<Utc> {
        // Every i64 of microseconds is within chrono's range, which spans
        // ±262,000 years only for dates; clamp the rare remainder.
        DateTime::from_timestamp_micros(self.0).unwrap_or(if self.0 < 0 {
            DateTime::<Utc>::MIN_UTC
        } else {
            DateTime::<Utc>::MAX_UTC
        })
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(time: DateTime<Utc>) -> Self {
        Timestamp(time.timestamp_micros())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            &self
                .to_datetime()
                .to_rfc3339_opts(SecondsFormat::Micros, true),
        )
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    /// Reads RFC 3339 with any offset; the result is converted to UTC.
    /// Digits beyond microseconds are truncated.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        DateTime::parse_from_rfc3339(text.trim())
            .map(|time| Timestamp(time.timestamp_micros()))
            .map_err(|error| TimestampError {
                text: text.to_owned(),
                reason: error.to_string(),
            })
    }
}

impl Serialize for Timestamp {
    /// RFC 3339 text in human-readable formats, microseconds otherwise.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            serializer.serialize_i64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            text.parse().map_err(serde::de::Error::custom)
        } else {
            i64::deserialize(deserializer).map(Timestamp)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_keeps_microseconds_and_is_utc() {
        let time: Timestamp = "2026-12-03T20:17:49.123456+01:00".parse().unwrap();
        assert_eq!(time.to_string(), "2026-12-03T19:17:49.123456Z");
        assert_eq!(time.as_micros() % 1_000_000, 123_456);
    }

    #[test]
    fn text_without_zone_is_rejected_with_the_text_in_the_error() {
        let error = "2026-12-03 19:17".parse::<Timestamp>().unwrap_err();
        assert!(error.to_string().contains("`2026-12-03 19:17`"), "{error}");
    }

    #[test]
    fn constructors_agree() {
        assert_eq!(Timestamp::from_seconds(2), Timestamp::from_millis(2_000));
        assert_eq!(Timestamp::from_millis(2), Timestamp::from_micros(2_000));
        let later = Timestamp::from_seconds(10);
        assert_eq!(later.micros_since(Timestamp::from_seconds(4)), 6_000_000);
        assert_eq!(
            Timestamp::from_seconds(4).saturating_add_micros(6_000_000),
            later
        );
        assert_eq!(
            Timestamp::from_micros(i64::MAX)
                .saturating_add_micros(1)
                .as_micros(),
            i64::MAX
        );
    }

    #[test]
    fn json_round_trip_is_rfc3339() {
        let time = Timestamp::from_micros(1_700_000_000_000_001);
        let json = serde_json::to_string(&time).unwrap();
        assert_eq!(json, "\"2023-11-14T22:13:20.000001Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), time);
    }
}
