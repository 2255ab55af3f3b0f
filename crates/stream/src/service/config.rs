//! The processor service's settings: `[processor]` in the configuration
//! file. The group it reads in, how much it takes at a time, how often it
//! commits, where its checkpoints live, and the operators' own sections
//! (`time`, `validate`, `compression`, `cep`) as [`StreamConfig`] has
//! them.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cep::demo_patterns;
use crate::config::{CepConfig, CompressionConfig, StreamConfig, TimeConfig, ValidateConfig};

/// The most records one poll may take.
pub const MAX_BATCH_SIZE: u32 = 1_000_000;

/// The longest a transaction may stay open, in milliseconds: a minute,
/// well inside Kafka's default transaction timeout.
pub const MAX_COMMIT_INTERVAL_MS: u64 = 60_000;

/// The directory used, under the data directory, when
/// [`ProcessorConfig::state_dir`] is empty.
const DEFAULT_STATE_DIR: &str = "processor";

/// The processor: `[processor]`. Every key has a default that runs the
/// demo field in `flowline up`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessorConfig {
    /// The consumer group the processor reads `raw-sensor-data` in; the
    /// instances of one group share its partitions. The default is
    /// `flowline-processor`.
    pub group_id: String,
    /// Names this instance's transactional producer across restarts; on
    /// Kafka a new producer with the same id fences the old one. Each
    /// instance of a group needs its own, kept from run to run (a
    /// StatefulSet's pod name). The default is `flowline-processor-0`.
    pub transactional_id: String,
    /// The most records one poll takes from `raw-sensor-data`: the bound
    /// on what is in the processor's hands between polls. The default is
    /// 8,192.
    pub batch_size: u32,
    /// The longest a transaction stays open, in milliseconds: outputs
    /// become visible downstream, and offsets and checkpoints are
    /// committed, at least this often while records arrive. Shorter
    /// means fresher outputs; longer means fewer checkpoints written.
    /// The default is 100.
    pub commit_interval_ms: u64,
    /// Directory of the checkpoints of the pipelines' state, one
    /// directory per group and partition; created when missing. Empty, the
    /// default, means `processor` under the data directory. On Kafka,
    /// instances that share a group must share this directory (a shared
    /// volume) for state to move with its partition.
    pub state_dir: PathBuf,
    /// Whether to watch for the demo field's patterns (the processor's
    /// `cep/demo.toml`) as well as those of `cep.patterns`. The default is
    /// true.
    pub demo_patterns: bool,
    /// Limits on event time, and the watermark.
    pub time: TimeConfig,
    /// Stuck, spike and gap detection.
    pub validate: ValidateConfig,
    /// Deadband and swinging-door compression.
    pub compression: CompressionConfig,
    /// Patterns over wells, beside the demo patterns.
    pub cep: CepConfig,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        ProcessorConfig {
            group_id: "flowline-processor".to_owned(),
            transactional_id: "flowline-processor-0".to_owned(),
            batch_size: 8_192,
            commit_interval_ms: 100,
            state_dir: PathBuf::new(),
            demo_patterns: true,
            time: TimeConfig::default(),
            validate: ValidateConfig::default(),
            compression: CompressionConfig::default(),
            cep: CepConfig::default(),
        }
    }
}

impl ProcessorConfig {
    /// The operators' configuration: the four sections, with the demo
    /// patterns first when `demo_patterns` says so.
    pub fn stream_config(&self) -> StreamConfig {
        let mut cep = self.cep.clone();
        if self.demo_patterns {
            cep.patterns.splice(0..0, demo_patterns());
        }
        StreamConfig {
            time: self.time.clone(),
            validate: self.validate.clone(),
            compression: self.compression.clone(),
            cep,
        }
    }

    /// The checkpoint directory: `state_dir` when set, else `processor`
    /// under `data_dir`.
    pub fn state_dir_under(&self, data_dir: &Path) -> PathBuf {
        if self.state_dir.as_os_str().is_empty() {
            data_dir.join(DEFAULT_STATE_DIR)
        } else {
            self.state_dir.clone()
        }
    }

    /// Every value that cannot work, as (key below `processor`, what was
    /// expected and found).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        for (key, value) in [
            ("group_id", &self.group_id),
            ("transactional_id", &self.transactional_id),
        ] {
            if value.trim().is_empty() {
                problems.push((key.to_owned(), "expected a name, found none".to_owned()));
            }
        }
        if !(1..=MAX_BATCH_SIZE).contains(&self.batch_size) {
            problems.push((
                "batch_size".to_owned(),
                format!(
                    "expected 1 to {MAX_BATCH_SIZE} records, found {}",
                    self.batch_size
                ),
            ));
        }
        if !(1..=MAX_COMMIT_INTERVAL_MS).contains(&self.commit_interval_ms) {
            problems.push((
                "commit_interval_ms".to_owned(),
                format!(
                    "expected 1 to {MAX_COMMIT_INTERVAL_MS} ms, found {}",
                    self.commit_interval_ms
                ),
            ));
        }
        if let Err(error) = self.stream_config().validate() {
            // With the demo patterns first, the user's patterns sit after
            // them: name them as the file does.
            let shift = if self.demo_patterns {
                demo_patterns().len()
            } else {
                0
            };
            for problem in error.problems {
                problems.push((unshift_pattern_index(&problem.key, shift), problem.message));
            }
        }
        problems
    }
}

/// `key` with a pattern index (`cep.patterns[N]…`) moved back by `shift`,
/// so that it names the pattern of `cep.patterns` in the file; a problem
/// of a demo pattern (below `shift`, a bug) is named `demo_patterns`.
fn unshift_pattern_index(key: &str, shift: usize) -> String {
    let Some(rest) = key.strip_prefix("cep.patterns[") else {
        return key.to_owned();
    };
    let Some((index, tail)) = rest.split_once(']') else {
        return key.to_owned();
    };
    match index.parse::<usize>() {
        Ok(index) if index >= shift => format!("cep.patterns[{}]{tail}", index - shift),
        Ok(_) => "demo_patterns".to_owned(),
        Err(_) => key.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_watch_the_demo_patterns() {
        let config = ProcessorConfig::default();
        assert_eq!(config.problems(), Vec::<(String, String)>::new());
        assert_eq!(config.stream_config().cep.patterns, demo_patterns());
        let without = ProcessorConfig {
            demo_patterns: false,
            ..ProcessorConfig::default()
        };
        assert!(without.stream_config().cep.patterns.is_empty());
        assert_eq!(
            config.state_dir_under(Path::new("data")),
            Path::new("data/processor")
        );
    }

    #[test]
    fn every_bad_value_is_named_by_its_key_with_the_users_pattern_index() {
        let text = r#"
            group_id = " "
            batch_size = 0
            commit_interval_ms = 600000
            [validate]
            spike_window = 1
            [[cep.patterns]]
            id = "esp-underload"
            description = "a second pattern with a demo pattern's id"
            severity = "low"
            rule = { kind = "absence", for_s = 0, tag = "esp/frequency" }
        "#;
        let config: ProcessorConfig = toml::from_str(text).unwrap();
        let problems = config.problems();
        let keys: Vec<&str> = problems.iter().map(|(key, _)| key.as_str()).collect();
        assert_eq!(
            keys[..4],
            [
                "group_id",
                "batch_size",
                "commit_interval_ms",
                "validate.spike_window"
            ]
        );
        assert!(
            keys[4..]
                .iter()
                .all(|key| key.starts_with("cep.patterns[0]")),
            "{problems:#?}"
        );
        assert_eq!(
            problems[2].1, "expected 1 to 60000 ms, found 600000",
            "{problems:#?}"
        );
    }

    #[test]
    fn a_pattern_index_moves_back_past_the_demo_patterns() {
        assert_eq!(
            unshift_pattern_index("cep.patterns[9].rule.for_s", 8),
            "cep.patterns[1].rule.for_s"
        );
        assert_eq!(
            unshift_pattern_index("cep.patterns[3].id", 8),
            "demo_patterns"
        );
        assert_eq!(
            unshift_pattern_index("time.max_age_ms", 8),
            "time.max_age_ms"
        );
    }
}
