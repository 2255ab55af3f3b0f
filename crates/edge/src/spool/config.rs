//! The knobs of store-and-forward: how much the disk buffer may hold and
//! how hard it syncs ([`SpoolConfig`]), and how the forwarder talks to the
//! bus behind it ([`ForwardConfig`]).
//!
//! Both structs deserialise with serde defaults that work out of the box,
//! and both are checked by `validate`, whose error names the offending key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::SpoolError;

/// One kibibyte, in bytes.
const KIB: u64 = 1024;
/// One mebibyte, in bytes.
const MIB: u64 = 1024 * KIB;
/// One gibibyte, in bytes.
const GIB: u64 = 1024 * MIB;

/// The smallest segment the spool accepts, in bytes. Smaller segments
/// would spend most of their space and fsyncs on headers and file
/// creation.
pub(crate) const MIN_SEGMENT_BYTES: u64 = 4 * KIB;

/// The largest segment the spool accepts, in bytes: record lengths are
/// stored as 32-bit numbers.
pub(crate) const MAX_SEGMENT_BYTES: u64 = u32::MAX as u64;

/// The directory used, under the data directory, when
/// [`SpoolConfig::dir`] is empty.
const DEFAULT_DIR_NAME: &str = "spool";

/// The disk buffer of store-and-forward.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpoolConfig {
    /// Directory holding the segment files and the cursor; created when
    /// missing. Empty, the default, means `spool` under the process's data
    /// directory (see [`SpoolConfig::dir_under`]).
    pub dir: PathBuf,
    /// Most bytes the segment files may hold together. When an append
    /// would pass it, the oldest segments are deleted, samples not yet
    /// forwarded included, and counted as dropped. Must be at least twice
    /// `segment_bytes`. The default is 1 GiB.
    pub max_bytes: u64,
    /// Size at which a segment file is closed and a new one started, in
    /// bytes; also the largest batch the spool accepts. The buffer is
    /// trimmed one whole segment at a time, so smaller segments trim more
    /// finely and larger ones create files less often. Between 4 KiB and
    /// 4 GiB. The default is 64 MiB.
    pub segment_bytes: u64,
    /// When appended batches are forced to the disk. The default is
    /// [`FsyncMode::Always`].
    pub fsync: FsyncMode,
    /// With [`FsyncMode::Interval`], the longest time an appended batch
    /// may stay in the page cache before it is synced, in milliseconds.
    /// Ignored with [`FsyncMode::Always`]. The default is 100.
    pub fsync_interval_ms: u64,
}

/// When the spool forces appended batches to the disk.
///
/// A batch that is not yet synced survives a crash of the gateway process
/// (the kernel still holds it) but not a power cut or kernel crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsyncMode {
    /// Every append is synced before it returns, so a batch the spool
    /// accepted survives a power cut. Costs one `fdatasync` per batch,
    /// which limits appends to the disk's sync rate (a few hundred to a
    /// few thousand batches per second). The default.
    Always,
    /// Appends are synced at most `fsync_interval_ms` after they return.
    /// Much faster on slow disks; a power cut may lose the batches of the
    /// last interval, and a crash may then leave damage anywhere in the
    /// unsynced tail of the newest segment, which recovery cuts.
    Interval,
}

/// How store-and-forward publishes to the bus behind it and drains the
/// spool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForwardConfig {
    /// How long one publish to the bus may take before it counts as
    /// failed, in milliseconds. A pass-through batch that times out is
    /// spooled; a timed-out publish that the bus did in fact take is then
    /// sent twice. The default is 2,000.
    pub publish_timeout_ms: u64,
    /// The first pause after a failed forward, in milliseconds; each
    /// further failure doubles it up to `retry_max_ms`. The default is 100.
    pub retry_initial_ms: u64,
    /// The longest pause between forwarding attempts while the bus stays
    /// down, in milliseconds. The default is 10,000.
    pub retry_max_ms: u64,
    /// Most samples forwarded in one publish while draining the spool.
    /// Whole spooled batches are merged up to this many (a single larger
    /// batch goes alone). It is also the most a crash can send twice. The
    /// default is 10,000.
    pub forward_max_samples: usize,
    /// How long forwarding goes on after shutdown is requested, in
    /// milliseconds; what is left stays spooled for the next start. The
    /// default is 5,000.
    pub shutdown_flush_ms: u64,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        SpoolConfig {
            dir: PathBuf::new(),
            max_bytes: GIB,
            segment_bytes: 64 * MIB,
            fsync: FsyncMode::Always,
            fsync_interval_ms: 100,
        }
    }
}

impl Default for ForwardConfig {
    fn default() -> Self {
        ForwardConfig {
            publish_timeout_ms: 2_000,
            retry_initial_ms: 100,
            retry_max_ms: 10_000,
            forward_max_samples: 10_000,
            shutdown_flush_ms: 5_000,
        }
    }
}

impl SpoolConfig {
    /// The spool directory: `dir` when set, else `spool` under
    /// `data_dir`.
    pub fn dir_under(&self, data_dir: &Path) -> PathBuf {
        if self.dir.as_os_str().is_empty() {
            data_dir.join(DEFAULT_DIR_NAME)
        } else {
            self.dir.clone()
        }
    }

    /// Checks that the values can work together; the error names the key.
    pub fn validate(&self) -> Result<(), SpoolError> {
        if !(MIN_SEGMENT_BYTES..=MAX_SEGMENT_BYTES).contains(&self.segment_bytes) {
            return Err(invalid(
                "segment_bytes",
                format!(
                    "expected {MIN_SEGMENT_BYTES} to {MAX_SEGMENT_BYTES} bytes, found {}",
                    self.segment_bytes
                ),
            ));
        }
        if self.max_bytes < self.segment_bytes.saturating_mul(2) {
            return Err(invalid(
                "max_bytes",
                format!(
                    "expected at least twice segment_bytes ({} bytes), found {}",
                    self.segment_bytes.saturating_mul(2),
                    self.max_bytes
                ),
            ));
        }
        if self.fsync == FsyncMode::Interval && self.fsync_interval_ms == 0 {
            return Err(invalid(
                "fsync_interval_ms",
                "expected at least 1 with fsync = \"interval\", found 0".to_owned(),
            ));
        }
        Ok(())
    }

    /// How long an appended batch may wait for its sync; `None` when every
    /// append is synced.
    pub fn sync_interval(&self) -> Option<Duration> {
        match self.fsync {
            FsyncMode::Always => None,
            FsyncMode::Interval => Some(Duration::from_millis(self.fsync_interval_ms)),
        }
    }
}

impl ForwardConfig {
    /// Checks that the values can work together; the error names the key.
    pub fn validate(&self) -> Result<(), SpoolError> {
        let positive = [
            ("publish_timeout_ms", self.publish_timeout_ms),
            ("retry_initial_ms", self.retry_initial_ms),
            ("forward_max_samples", self.forward_max_samples as u64),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(invalid(key, "expected at least 1, found 0".to_owned()));
            }
        }
        if self.retry_max_ms < self.retry_initial_ms {
            return Err(invalid(
                "retry_max_ms",
                format!(
                    "expected at least retry_initial_ms ({}), found {}",
                    self.retry_initial_ms, self.retry_max_ms
                ),
            ));
        }
        Ok(())
    }

    /// [`ForwardConfig::publish_timeout_ms`] as a duration.
    pub(crate) fn publish_timeout(&self) -> Duration {
        Duration::from_millis(self.publish_timeout_ms)
    }
}

/// The error for key `key` holding a value that cannot work.
fn invalid(key: &'static str, message: String) -> SpoolError {
    SpoolError::Config { key, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_sync_every_append() {
        let spool = SpoolConfig::default();
        spool.validate().unwrap();
        assert_eq!(spool.sync_interval(), None);
        assert_eq!(spool.max_bytes, 1 << 30);
        assert_eq!(spool.segment_bytes, 64 << 20);
        ForwardConfig::default().validate().unwrap();
    }

    #[test]
    fn an_empty_dir_means_spool_under_the_data_directory() {
        let mut config = SpoolConfig::default();
        assert_eq!(
            config.dir_under(Path::new("/var/lib/flowline")),
            PathBuf::from("/var/lib/flowline/spool")
        );
        config.dir = PathBuf::from("/mnt/buffer");
        assert_eq!(
            config.dir_under(Path::new("/var/lib/flowline")),
            PathBuf::from("/mnt/buffer")
        );
    }

    #[test]
    fn a_bound_smaller_than_two_segments_is_rejected_by_key() {
        let config = SpoolConfig {
            max_bytes: 100 << 20,
            ..SpoolConfig::default()
        };
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            "invalid spool configuration: max_bytes: expected at least twice segment_bytes \
             (134217728 bytes), found 104857600"
        );
    }

    #[test]
    fn a_zero_interval_and_a_zero_timeout_are_rejected_by_key() {
        let spool = SpoolConfig {
            fsync: FsyncMode::Interval,
            fsync_interval_ms: 0,
            ..SpoolConfig::default()
        };
        assert!(
            spool
                .validate()
                .unwrap_err()
                .to_string()
                .contains("fsync_interval_ms")
        );
        let forward = ForwardConfig {
            publish_timeout_ms: 0,
            ..ForwardConfig::default()
        };
        assert!(
            forward
                .validate()
                .unwrap_err()
                .to_string()
                .contains("publish_timeout_ms")
        );
    }
}
