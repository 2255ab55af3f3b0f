//! The processor's configuration: one documented struct with defaults that
//! run the demo field, checked as a whole before a [`Pipeline`] starts.
//!
//! In a configuration file it sits under the processor's section; every
//! key has a default, so an empty section is valid:
//!
//! ```toml
//! [time]
//! max_future_ms = 300000       # 5 minutes
//! max_age_ms = 604800000       # 7 days
//! allowed_lateness_ms = 30000
//!
//! [validate]
//! stuck_window_ms = 600000
//! stuck_min_samples = 5
//! spike_window = 15
//! spike_sigmas = 6.0
//! spike_min_jump_fraction = 0.05
//! gap_after_ms = 300000
//!
//! [compression]
//! enabled = true
//! max_interval_ms = 600000
//!
//! [cep]
//! sweep_interval_ms = 5000
//! # [[cep.patterns]] … see `cep::Pattern`
//! ```
//!
//! [`Pipeline`]: crate::Pipeline

use serde::{Deserialize, Serialize};

use crate::cep::Pattern;
use crate::error::{ConfigError, ConfigProblem};

/// The most samples a spike-detection window may hold.
pub const MAX_SPIKE_WINDOW: usize = 15;

/// The longest time limit any key accepts: 365 days in milliseconds, far
/// inside the range of a timestamp's arithmetic.
pub const MAX_DURATION_MS: u64 = 365 * 86_400_000;

/// Everything the processor can be told. The default runs the demo field.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamConfig {
    /// Limits on event time, and the watermark.
    pub time: TimeConfig,
    /// Stuck, spike and gap detection.
    pub validate: ValidateConfig,
    /// Deadband and swinging-door compression.
    pub compression: CompressionConfig,
    /// Complex event processing: patterns over wells.
    pub cep: CepConfig,
}

/// Limits on a sample's event time, and the watermark.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeConfig {
    /// How far a sample's time may run ahead of the time the gateway
    /// received it before the sample is refused (its device's clock is
    /// wrong), in milliseconds. The default is 300,000 (5 minutes).
    pub max_future_ms: u64,
    /// How far a sample's time may lag behind the time the gateway received
    /// it before the sample is refused, in milliseconds. The default is
    /// 604,800,000 (7 days); refused samples wait in the dead-letter queue
    /// for a backfill.
    pub max_age_ms: u64,
    /// How far behind the newest event time a sample may be and still count
    /// as on time, in milliseconds. Older samples are flagged late, never
    /// dropped. The default is 30,000.
    pub allowed_lateness_ms: u64,
}

impl Default for TimeConfig {
    fn default() -> Self {
        TimeConfig {
            max_future_ms: 300_000,
            max_age_ms: 7 * 86_400_000,
            allowed_lateness_ms: 30_000,
        }
    }
}

/// Windows and thresholds of the checks that need a tag's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ValidateConfig {
    /// How long a measurement must repeat exactly the same value to be
    /// flagged stuck, in milliseconds; 0 turns stuck detection off. The
    /// default is 600,000 (10 minutes).
    pub stuck_window_ms: u64,
    /// How many identical samples in a row, at least, before a value counts
    /// as stuck, so a tag read rarely is not flagged on two readings. The
    /// default is 5.
    pub stuck_min_samples: u32,
    /// How many recent values the spike check compares a jump with, from 3
    /// to [`MAX_SPIKE_WINDOW`]. The default is 15: fewer make the median
    /// absolute deviation of a noisy tag too often small by chance.
    pub spike_window: usize,
    /// How many robust standard deviations (1.4826 × the median absolute
    /// deviation of the window) from the window's median make a spike. The
    /// default is 6.
    pub spike_sigmas: f64,
    /// The smallest jump that can be a spike, as a fraction of the tag's
    /// valid span; tags without both ends of a valid range are not checked.
    /// Above 0 and at most 1. The default is 0.05 (5 %).
    pub spike_min_jump_fraction: f64,
    /// A sample that follows the tag's previous one by more than this is
    /// flagged as following a gap, in milliseconds; 0 turns it off. The
    /// default is 300,000 (5 minutes).
    pub gap_after_ms: u64,
}

impl Default for ValidateConfig {
    fn default() -> Self {
        ValidateConfig {
            stuck_window_ms: 600_000,
            stuck_min_samples: 5,
            spike_window: 15,
            spike_sigmas: 6.0,
            spike_min_jump_fraction: 0.05,
            gap_after_ms: 300_000,
        }
    }
}

/// Noise reduction: which samples reach `processed-data`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompressionConfig {
    /// Whether the deadband and the swinging door hold back samples; when
    /// false every accepted sample is emitted. The default is true.
    pub enabled: bool,
    /// The longest a tag may go without an archived point while it keeps
    /// reporting, in milliseconds. The default is 600,000 (10 minutes).
    pub max_interval_ms: u64,
}

impl Default for CompressionConfig {
    fn default() -> Self {
        CompressionConfig {
            enabled: true,
            max_interval_ms: 600_000,
        }
    }
}

/// Complex event processing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CepConfig {
    /// How often, in event time, the processor looks for silent tags
    /// (absence patterns) and for held-back points that have waited longer
    /// than `compression.max_interval_ms`, in milliseconds. The default is
    /// 5,000.
    pub sweep_interval_ms: u64,
    /// The patterns to watch for, evaluated per well. The default is none.
    pub patterns: Vec<Pattern>,
}

impl Default for CepConfig {
    fn default() -> Self {
        CepConfig {
            sweep_interval_ms: 5_000,
            patterns: Vec::new(),
        }
    }
}

impl StreamConfig {
    /// Checks every key; the error lists each problem with its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Problems::default();
        let time = &self.time;
        problems.duration("time.max_future_ms", time.max_future_ms, false);
        problems.duration("time.max_age_ms", time.max_age_ms, false);
        problems.duration("time.allowed_lateness_ms", time.allowed_lateness_ms, true);

        let validate = &self.validate;
        problems.duration("validate.stuck_window_ms", validate.stuck_window_ms, true);
        if validate.stuck_min_samples < 2 {
            problems.push(
                "validate.stuck_min_samples",
                format!("must be at least 2, found {}", validate.stuck_min_samples),
            );
        }
        if !(3..=MAX_SPIKE_WINDOW).contains(&validate.spike_window) {
            problems.push(
                "validate.spike_window",
                format!(
                    "must be from 3 to {MAX_SPIKE_WINDOW}, found {}",
                    validate.spike_window
                ),
            );
        }
        if !(validate.spike_sigmas.is_finite() && validate.spike_sigmas > 0.0) {
            problems.push(
                "validate.spike_sigmas",
                format!("must be above 0, found {}", validate.spike_sigmas),
            );
        }
        let fraction = validate.spike_min_jump_fraction;
        if !(fraction > 0.0 && fraction <= 1.0) {
            problems.push(
                "validate.spike_min_jump_fraction",
                format!("must be above 0 and at most 1, found {fraction}"),
            );
        }
        problems.duration("validate.gap_after_ms", validate.gap_after_ms, true);

        let interval = self.compression.max_interval_ms;
        problems.duration("compression.max_interval_ms", interval, false);
        let sweep = self.cep.sweep_interval_ms;
        problems.duration("cep.sweep_interval_ms", sweep, false);

        crate::cep::check_patterns(&self.cep.patterns, &mut problems);
        problems.into_result()
    }
}

/// Collects configuration problems as they are found.
#[derive(Default)]
pub(crate) struct Problems(Vec<ConfigProblem>);

impl Problems {
    /// Records that `key` is wrong.
    pub(crate) fn push(&mut self, key: impl Into<String>, message: String) {
        self.0.push(ConfigProblem {
            key: key.into(),
            message,
        });
    }

    /// Checks a duration key: at most [`MAX_DURATION_MS`], and above zero
    /// unless `zero_allowed`.
    pub(crate) fn duration(&mut self, key: &str, value: u64, zero_allowed: bool) {
        self.bounded(key, value, zero_allowed, MAX_DURATION_MS);
    }

    /// Checks that `value` is at most `max`, and above zero unless
    /// `zero_allowed`.
    pub(crate) fn bounded(&mut self, key: &str, value: u64, zero_allowed: bool, max: u64) {
        if value == 0 && !zero_allowed {
            self.push(key, "must be above 0, found 0".to_owned());
        } else if value > max {
            self.push(key, format!("must be at most {max}, found {value}"));
        }
    }

    /// Every problem found, as an error, or nothing.
    fn into_result(self) -> Result<(), ConfigError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems: self.0 })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_configuration_is_valid_and_an_empty_file_gives_it() {
        StreamConfig::default().validate().unwrap();
        let parsed: StreamConfig = toml::from_str("").unwrap();
        assert_eq!(parsed, StreamConfig::default());
    }

    #[test]
    fn every_bad_key_is_named_with_what_was_expected() {
        let text = "
            [time]
            max_future_ms = 0
            [validate]
            spike_window = 40
            spike_min_jump_fraction = 1.5
            [compression]
            max_interval_ms = 99999999999
        ";
        let config: StreamConfig = toml::from_str(text).unwrap();
        let error = config.validate().unwrap_err();
        let keys: Vec<&str> = error.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "time.max_future_ms",
                "validate.spike_window",
                "validate.spike_min_jump_fraction",
                "compression.max_interval_ms",
            ]
        );
        let text = error.to_string();
        assert!(
            text.contains("`validate.spike_window`: must be from 3 to 15, found 40"),
            "{text}"
        );
    }

    #[test]
    fn unknown_keys_are_refused_not_ignored() {
        let error = toml::from_str::<StreamConfig>("[time]\nlateness_ms = 5").unwrap_err();
        assert!(error.to_string().contains("lateness_ms"), "{error}");
    }
}
