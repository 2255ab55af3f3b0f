//! The simulator's configuration: one struct, every key documented, with
//! defaults that run the demo field out of the box.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::fault::FaultSpec;

/// The shortest step interval accepted, in milliseconds.
pub const MIN_STEP_INTERVAL_MS: u64 = 10;
/// The longest step interval accepted, in milliseconds.
pub const MAX_STEP_INTERVAL_MS: u64 = 60_000;

/// How the simulator runs.
///
/// In TOML, for example:
///
/// ```toml
/// seed = 7
/// step_interval_ms = 1000
/// faults = ["north/pad-1/w-01:gas-lock@300s+600s"]
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Seed of the random draws: the design of every well and all
    /// measurement noise. The same seed and the same step times give the
    /// same values. The default is 1.
    pub seed: u64,
    /// How often the model steps, in milliseconds: each step advances the
    /// physics to the wall-clock time and refreshes what the servers serve.
    /// From 10 to 60,000; the default is 1,000 (1 Hz).
    pub step_interval_ms: u64,
    /// Faults to inject, in the schedule syntax of [`crate::fault`], with
    /// offsets from the start of the simulation. The default is none.
    pub faults: Vec<FaultSpec>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            step_interval_ms: 1_000,
            faults: Vec::new(),
        }
    }
}

impl SimConfig {
    /// Checks every key; the error names the first bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let interval = self.step_interval_ms;
        if !(MIN_STEP_INTERVAL_MS..=MAX_STEP_INTERVAL_MS).contains(&interval) {
            return Err(ConfigError {
                key: "step_interval_ms",
                expected: format!("{MIN_STEP_INTERVAL_MS} to {MAX_STEP_INTERVAL_MS} milliseconds"),
                found: interval.to_string(),
            });
        }
        Ok(())
    }

    /// The step interval as a duration.
    pub fn step_interval(&self) -> Duration {
        Duration::from_millis(self.step_interval_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_configuration_steps_once_a_second_with_seed_one() {
        let config: SimConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, SimConfig::default());
        assert_eq!(config.step_interval(), Duration::from_secs(1));
        assert!(config.validate().is_ok());
    }

    #[test]
    fn a_bad_interval_names_its_key_and_the_accepted_range() {
        let config = SimConfig {
            step_interval_ms: 5,
            ..SimConfig::default()
        };
        let error = config.validate().unwrap_err().to_string();
        assert_eq!(
            error,
            "simulator configuration `step_interval_ms`: expected 10 to 60000 milliseconds, \
             found 5"
        );
    }

    #[test]
    fn faults_are_read_in_the_schedule_syntax_and_bad_ones_are_named() {
        let json = r#"{"seed": 7, "faults": ["north/pad-1/w-01:gas-lock@300s+600s"]}"#;
        let config: SimConfig = serde_json::from_str(json).unwrap();
        assert_eq!(config.seed, 7);
        assert_eq!(
            config.faults[0].to_string(),
            "north/pad-1/w-01:gas-lock@5m+10m"
        );
        let error = serde_json::from_str::<SimConfig>(r#"{"faults": ["north/a:melt"]}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown fault `melt`"), "{error}");
        let error = serde_json::from_str::<SimConfig>(r#"{"sead": 1}"#).unwrap_err();
        assert!(
            error.to_string().contains("unknown field `sead`"),
            "{error}"
        );
    }
}
