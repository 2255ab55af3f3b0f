//! The knobs of the bus: which backend carries it, topic names and
//! partitions, how the embedded log stores, syncs and retains records, and
//! how to reach Kafka ([`BusConfig`]).
//!
//! Every key has a default that runs a pilot; `validate` checks the
//! values together and names the key at fault.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::disk::SEGMENT_HEADER_LEN;
use crate::error::BusError;
use crate::kafka::KafkaConfig;
use crate::topic::Topic;

/// One mebibyte, in bytes.
const MIB: u64 = 1024 * 1024;
/// One day, in milliseconds.
const DAY_MS: u64 = 24 * 60 * 60 * 1000;
/// The smallest segment the log accepts, in bytes.
const MIN_SEGMENT_BYTES: u64 = 4096;
/// The largest segment the log accepts, in bytes: positions in a segment
/// are kept as 32-bit numbers in its index.
const MAX_SEGMENT_BYTES: u64 = u32::MAX as u64;
/// The most partitions a topic may have.
const MAX_PARTITIONS: u32 = 1024;
/// The longest topic name Kafka accepts.
const MAX_TOPIC_NAME: usize = 249;
/// The directory used, under the data directory, when [`BusConfig::dir`]
/// is empty.
const DEFAULT_DIR_NAME: &str = "bus";

/// The event bus: topic names and partitions, and the embedded log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusConfig {
    /// Which log carries the topics. The default is
    /// [`BusBackend::Embedded`].
    pub backend: BusBackend,
    /// Directory of the embedded log; created when missing. Empty, the
    /// default, means `bus` under the process's data directory (see
    /// [`BusConfig::dir_under`]).
    pub dir: PathBuf,
    /// Put before every topic's name, on a broker and on disk:
    /// `flowline.raw-sensor-data`. Letters, digits, `.`, `_` and `-`, as
    /// Kafka allows. The default is `flowline.`.
    pub prefix: String,
    /// Partitions of each topic, unless `topics` says otherwise. A key
    /// always goes to the same partition, so more partitions let more
    /// consumers share a topic. A topic's partitions can be increased
    /// later (keys then move) but never decreased. The default is 4.
    pub partitions: u32,
    /// Size at which a segment file is closed and a new one started, in
    /// bytes. Retention deletes whole segments, so smaller segments
    /// delete more finely; larger ones make fewer files. Between 4 KiB and
    /// 4 GiB. The default is 64 MiB.
    pub segment_bytes: u64,
    /// When appended records and commits are forced to the disk. The
    /// default is [`FsyncPolicy::Always`].
    pub fsync: FsyncPolicy,
    /// With [`FsyncPolicy::Interval`], the longest time an append or
    /// commit waits before it is synced (and visible to consumers), in
    /// milliseconds. The default is 100.
    pub fsync_interval_ms: u64,
    /// Most bytes each partition keeps, unless `topics` says otherwise;
    /// when passed, its oldest segments are deleted, read or not. The
    /// active segment is never deleted. The default is 1 GiB.
    pub retention_bytes: u64,
    /// Longest each partition keeps a record, by the record's timestamp,
    /// in milliseconds, unless `topics` says otherwise. A segment is
    /// deleted once its newest record is older. The default is 7 days.
    pub retention_ms: u64,
    /// Most bytes of records a transaction may hold before it commits;
    /// the embedded log keeps them in memory until then. At most
    /// `segment_bytes`. The default is 16 MiB.
    pub max_transaction_bytes: u64,
    /// Settings of single topics, by name without prefix, such as
    /// `[bus.topics.dlq]`.
    pub topics: BTreeMap<String, TopicConfig>,
    /// How to reach Kafka with `backend = "kafka"`: `[bus.kafka]`.
    pub kafka: KafkaConfig,
}

/// Which log carries the bus.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusBackend {
    /// The embedded log on local disk ([`crate::EmbeddedBus`]): one
    /// machine, no broker to run. The default.
    #[default]
    Embedded,
    /// A Kafka cluster ([`crate::KafkaBus`]), as `[bus.kafka]` says. Topic
    /// names, partitions and retention come from this section as for the
    /// embedded log; the embedded log's own settings are not used.
    Kafka,
}

/// Settings of one topic that differ from the bus-wide ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopicConfig {
    /// Its partitions; the default is [`BusConfig::partitions`].
    pub partitions: Option<u32>,
    /// Its retention by size per partition; the default is
    /// [`BusConfig::retention_bytes`].
    pub retention_bytes: Option<u64>,
    /// Its retention by age; the default is [`BusConfig::retention_ms`].
    pub retention_ms: Option<u64>,
}

/// When the embedded log forces what it wrote to the disk.
///
/// Records not yet synced survive a crash of the process (the kernel
/// holds them) but not a power cut. Either way a consumer sees a record
/// only once it is synced, so nothing downstream is ever made from a
/// record that a power cut then takes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsyncPolicy {
    /// Every send and commit is synced before it returns: what the bus
    /// accepted survives a power cut. Sends that arrive together share
    /// one sync, but each waits for one, which bounds a single producer
    /// to the disk's sync rate (a few hundred to a few thousand batches a
    /// second). The default.
    Always,
    /// Sends and commits return once written; a background sync runs at
    /// most `fsync_interval_ms` later, and then they become visible. Much
    /// faster on slow disks; a power cut loses the last interval, whole
    /// transactions only.
    Interval,
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            backend: BusBackend::Embedded,
            dir: PathBuf::new(),
            prefix: "flowline.".to_owned(),
            partitions: 4,
            segment_bytes: 64 * MIB,
            fsync: FsyncPolicy::Always,
            fsync_interval_ms: 100,
            retention_bytes: 1024 * MIB,
            retention_ms: 7 * DAY_MS,
            max_transaction_bytes: 16 * MIB,
            topics: BTreeMap::new(),
            kafka: KafkaConfig::default(),
        }
    }
}

impl BusConfig {
    /// The log's directory: `dir` when set, else `bus` under `data_dir`.
    pub fn dir_under(&self, data_dir: &Path) -> PathBuf {
        if self.dir.as_os_str().is_empty() {
            data_dir.join(DEFAULT_DIR_NAME)
        } else {
            self.dir.clone()
        }
    }

    /// Partitions of `topic`.
    pub fn partitions_of(&self, topic: Topic) -> u32 {
        self.topic(topic)
            .and_then(|config| config.partitions)
            .unwrap_or(self.partitions)
    }

    /// Retention by size of each partition of `topic`, in bytes.
    pub fn retention_bytes_of(&self, topic: Topic) -> u64 {
        self.topic(topic)
            .and_then(|config| config.retention_bytes)
            .unwrap_or(self.retention_bytes)
    }

    /// Retention by age of `topic`.
    pub fn retention_of(&self, topic: Topic) -> Duration {
        let ms = self
            .topic(topic)
            .and_then(|config| config.retention_ms)
            .unwrap_or(self.retention_ms);
        Duration::from_millis(ms)
    }

    /// How long an append may wait for its sync; `None` when every append
    /// is synced before it returns.
    pub fn sync_interval(&self) -> Option<Duration> {
        match self.fsync {
            FsyncPolicy::Always => None,
            FsyncPolicy::Interval => Some(Duration::from_millis(self.fsync_interval_ms)),
        }
    }

    /// The key that sets the partitions of `topic`, for errors:
    /// `topics.NAME.partitions` when the topic has a section, else
    /// `partitions`.
    pub(crate) fn partitions_key(&self, topic: Topic) -> String {
        if self.topics.contains_key(topic.base_name()) {
            format!("topics.{}.partitions", topic.base_name())
        } else {
            "partitions".to_owned()
        }
    }

    /// The settings of `topic` in `topics`, if any.
    fn topic(&self, topic: Topic) -> Option<&TopicConfig> {
        self.topics.get(topic.base_name())
    }

    /// Checks that the values can work together; the error names the key.
    pub fn validate(&self) -> Result<(), BusError> {
        self.validate_prefix()?;
        if !(MIN_SEGMENT_BYTES..=MAX_SEGMENT_BYTES).contains(&self.segment_bytes) {
            return Err(BusError::config(
                "segment_bytes",
                format!(
                    "expected {MIN_SEGMENT_BYTES} to {MAX_SEGMENT_BYTES} bytes, found {}",
                    self.segment_bytes
                ),
            ));
        }
        if self.fsync == FsyncPolicy::Interval && self.fsync_interval_ms == 0 {
            return Err(BusError::config(
                "fsync_interval_ms",
                "expected at least 1 with fsync = \"interval\", found 0".to_owned(),
            ));
        }
        let largest = self.segment_bytes - SEGMENT_HEADER_LEN as u64;
        if !(1..=largest).contains(&self.max_transaction_bytes) {
            return Err(BusError::config(
                "max_transaction_bytes",
                format!(
                    "expected 1 to {largest} bytes (what a segment of segment_bytes holds), \
                     found {}",
                    self.max_transaction_bytes
                ),
            ));
        }
        check_partitions("partitions", self.partitions)?;
        check_retention("retention_ms", self.retention_ms)?;
        check_retention("retention_bytes", self.retention_bytes)?;
        for (name, topic) in &self.topics {
            if Topic::from_base_name(name).is_none() {
                let names: Vec<&str> = Topic::ALL.iter().map(|topic| topic.base_name()).collect();
                return Err(BusError::config(
                    format!("topics.{name}"),
                    format!("expected one of {}, found {name:?}", names.join(", ")),
                ));
            }
            if let Some(partitions) = topic.partitions {
                check_partitions(&format!("topics.{name}.partitions"), partitions)?;
            }
            if let Some(ms) = topic.retention_ms {
                check_retention(&format!("topics.{name}.retention_ms"), ms)?;
            }
            if let Some(bytes) = topic.retention_bytes {
                check_retention(&format!("topics.{name}.retention_bytes"), bytes)?;
            }
        }
        if self.backend == BusBackend::Kafka {
            self.kafka.validate()?;
        }
        Ok(())
    }

    /// Checks that the prefix makes topic names Kafka accepts.
    fn validate_prefix(&self) -> Result<(), BusError> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if let Some(bad) = self.prefix.chars().find(|&c| !allowed(c)) {
            return Err(BusError::config(
                "prefix",
                format!(
                    "expected letters, digits, '.', '_' and '-' only, found {bad:?} in {:?}",
                    self.prefix
                ),
            ));
        }
        let longest = Topic::ALL
            .iter()
            .map(|topic| topic.base_name().len())
            .max()
            .unwrap_or(0);
        if self.prefix.len() + longest > MAX_TOPIC_NAME {
            return Err(BusError::config(
                "prefix",
                format!(
                    "expected at most {} characters, so that topic names stay within Kafka's \
                     {MAX_TOPIC_NAME}, found {}",
                    MAX_TOPIC_NAME - longest,
                    self.prefix.len()
                ),
            ));
        }
        Ok(())
    }
}

/// Checks a partition count.
fn check_partitions(key: &str, partitions: u32) -> Result<(), BusError> {
    if (1..=MAX_PARTITIONS).contains(&partitions) {
        return Ok(());
    }
    Err(BusError::config(
        key,
        format!("expected 1 to {MAX_PARTITIONS}, found {partitions}"),
    ))
}

/// Checks a retention limit, which must leave something to keep.
fn check_retention(key: &str, value: u64) -> Result<(), BusError> {
    if value > 0 {
        return Ok(());
    }
    Err(BusError::config(
        key,
        "expected at least 1, found 0".to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_sync_every_append() {
        let config = BusConfig::default();
        config.validate().unwrap();
        assert_eq!(config.sync_interval(), None);
        assert_eq!(config.partitions_of(Topic::Dlq), 4);
        assert_eq!(
            config.retention_of(Topic::Alerts),
            Duration::from_secs(7 * 86_400)
        );
        assert_eq!(
            config.dir_under(Path::new("/var/lib/flowline")),
            PathBuf::from("/var/lib/flowline/bus")
        );
    }

    #[test]
    fn a_topic_section_overrides_the_bus_wide_settings() {
        let config: BusConfig = toml::from_str(
            "partitions = 8\nretention_ms = 1000\n[topics.dlq]\npartitions = 1\n\
             retention_bytes = 4096\n",
        )
        .unwrap();
        config.validate().unwrap();
        assert_eq!(config.partitions_of(Topic::Dlq), 1);
        assert_eq!(config.partitions_of(Topic::Alerts), 8);
        assert_eq!(config.retention_bytes_of(Topic::Dlq), 4096);
        assert_eq!(config.retention_of(Topic::Dlq), Duration::from_secs(1));
    }

    #[test]
    fn bad_values_are_refused_by_key() {
        let cases: [(&str, &str); 6] = [
            (
                "prefix = \"flow line\"",
                "invalid bus configuration: prefix: expected letters, digits, '.', '_' and '-' \
                 only, found ' ' in \"flow line\"",
            ),
            (
                "segment_bytes = 100",
                "invalid bus configuration: segment_bytes: expected 4096 to 4294967295 bytes, \
                 found 100",
            ),
            (
                "fsync = \"interval\"\nfsync_interval_ms = 0",
                "invalid bus configuration: fsync_interval_ms: expected at least 1 with fsync = \
                 \"interval\", found 0",
            ),
            (
                "segment_bytes = 4096\nmax_transaction_bytes = 5000",
                "invalid bus configuration: max_transaction_bytes: expected 1 to 4072 bytes \
                 (what a segment of segment_bytes holds), found 5000",
            ),
            (
                "[topics.alarms]\npartitions = 2",
                "invalid bus configuration: topics.alarms: expected one of raw-sensor-data, \
                 processed-data, alerts, control-commands, dlq, found \"alarms\"",
            ),
            (
                "[topics.alerts]\npartitions = 0",
                "invalid bus configuration: topics.alerts.partitions: expected 1 to 1024, found 0",
            ),
        ];
        for (text, expected) in cases {
            let config: BusConfig = toml::from_str(text).unwrap();
            assert_eq!(
                config.validate().unwrap_err().to_string(),
                expected,
                "{text}"
            );
        }
    }
}
