//! What can go wrong: a configuration that does not make sense, a
//! checkpoint that cannot be read, and the reasons a sample is refused.

use std::fmt;

use flowline_core::{DataType, TagId, Timestamp};

/// A configuration the processor refuses, with every problem found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid stream configuration: {}", Problems(.problems))]
pub struct ConfigError {
    /// Each problem, in the order of the keys.
    pub problems: Vec<ConfigProblem>,
}

/// One problem with one configuration key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}`: {message}")]
pub struct ConfigProblem {
    /// The key's dotted path below the stream configuration, such as
    /// `cep.patterns[2].rule.for_s`.
    pub key: String,
    /// What is wrong: what was expected and what was found.
    pub message: String,
}

/// Joins problems with `; ` for one-line error messages.
struct Problems<'a>(&'a [ConfigProblem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// A checkpoint that cannot be read or combined.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The bytes do not start with the checkpoint's magic number.
    #[error("not a stream checkpoint: expected the magic bytes {expected:?}, found {found:?}")]
    NotACheckpoint {
        /// The magic bytes a checkpoint starts with.
        expected: [u8; 4],
        /// The first bytes found (fewer when the input is shorter).
        found: Vec<u8>,
    },
    /// The checkpoint was written by a format this build does not read.
    #[error("stream checkpoint format {found} is not supported: expected {expected}")]
    UnsupportedFormat {
        /// The format this build writes and reads.
        expected: u16,
        /// The format of the checkpoint.
        found: u16,
    },
    /// The body could not be decoded.
    #[error("stream checkpoint of {length} bytes is corrupt: {source}")]
    Corrupt {
        /// The length of the whole checkpoint.
        length: usize,
        /// What the decoder found.
        source: postcard::Error,
    },
    /// Two parts being merged both hold the state of one key.
    #[error("stream checkpoints overlap: both hold the state of {key}")]
    Overlap {
        /// The key held twice.
        key: crate::StateKey,
    },
    /// Two parts being merged were written with different pattern lists.
    #[error(
        "stream checkpoints were written with different patterns: expected {expected:?}, found \
         {found:?}"
    )]
    PatternsDiffer {
        /// The pattern ids of the first part.
        expected: Vec<String>,
        /// The pattern ids of the part that differs.
        found: Vec<String>,
    },
}

/// Why a sample was refused and sent to the dead-letter queue instead of
/// being processed. Each reason has a short label for metrics
/// ([`RejectReason::label`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RejectReason {
    /// The catalog has no tag with the sample's id.
    #[error("tag {tag} is not in the catalog (version {catalog_version})")]
    UnknownTag {
        /// The id the sample carries.
        tag: TagId,
        /// The catalog version looked in.
        catalog_version: u64,
    },
    /// The value is not a number or infinite while its quality says good:
    /// the device or the gateway is broken, since an honest gap carries a
    /// bad quality.
    #[error("tag {tag}: value {value} is not finite although its quality is good")]
    NotFinite {
        /// The tag.
        tag: TagId,
        /// The value received.
        value: f64,
    },
    /// The value does not fit the tag's data type.
    #[error("tag {tag}: expected a {expected} value, found {found} `{value}`")]
    TypeMismatch {
        /// The tag.
        tag: TagId,
        /// The catalog's data type.
        expected: DataType,
        /// The type of the value received.
        found: DataType,
        /// The value received, as text.
        value: String,
    },
    /// The tag's `source_unit` attribute cannot be converted to its unit.
    #[error("tag {tag}: attribute `source_unit` {problem}")]
    SourceUnit {
        /// The tag.
        tag: TagId,
        /// What is wrong with the attribute.
        problem: String,
    },
    /// The sample's time is further ahead of its receive time than
    /// `time.max_future_ms` allows: the device's clock is wrong.
    #[error(
        "tag {tag}: time {time} is {ahead_ms} ms ahead of its receive time {received}; at \
         most {limit_ms} ms allowed"
    )]
    FromTheFuture {
        /// The tag.
        tag: TagId,
        /// The sample's event time.
        time: Timestamp,
        /// When the gateway received it.
        received: Timestamp,
        /// How far ahead, in milliseconds.
        ahead_ms: i64,
        /// The configured limit, in milliseconds.
        limit_ms: u64,
    },
    /// The sample's time is further behind its receive time than
    /// `time.max_age_ms` allows.
    #[error(
        "tag {tag}: time {time} is {age_ms} ms older than its receive time {received}; at \
         most {limit_ms} ms allowed"
    )]
    TooOld {
        /// The tag.
        tag: TagId,
        /// The sample's event time.
        time: Timestamp,
        /// When the gateway received it.
        received: Timestamp,
        /// How far behind, in milliseconds.
        age_ms: i64,
        /// The configured limit, in milliseconds.
        limit_ms: u64,
    },
}

/// How many reject reasons there are, for per-reason counters.
pub(crate) const REJECT_REASONS: usize = 6;

impl RejectReason {
    /// A short, stable name for metric labels and logs: `unknown-tag`,
    /// `not-finite`, `type-mismatch`, `source-unit`, `from-the-future` or
    /// `too-old`.
    pub fn label(&self) -> &'static str {
        Self::LABELS[self.code()]
    }

    /// Every label, by [`code`](Self::code).
    pub(crate) const LABELS: [&'static str; REJECT_REASONS] = [
        "unknown-tag",
        "not-finite",
        "type-mismatch",
        "source-unit",
        "from-the-future",
        "too-old",
    ];

    /// The position of this reason in [`LABELS`](Self::LABELS).
    pub(crate) fn code(&self) -> usize {
        match self {
            RejectReason::UnknownTag { .. } => 0,
            RejectReason::NotFinite { .. } => 1,
            RejectReason::TypeMismatch { .. } => 2,
            RejectReason::SourceUnit { .. } => 3,
            RejectReason::FromTheFuture { .. } => 4,
            RejectReason::TooOld { .. } => 5,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_list_every_problem_with_its_key() {
        let error = ConfigError {
            problems: vec![
                ConfigProblem {
                    key: "time.allowed_lateness_ms".into(),
                    message: "must be at most 86400000, found 99999999999".into(),
                },
                ConfigProblem {
                    key: "cep.patterns[0].id".into(),
                    message: "must not be empty".into(),
                },
            ],
        };
        assert_eq!(
            error.to_string(),
            "invalid stream configuration: `time.allowed_lateness_ms`: must be at most \
             86400000, found 99999999999; `cep.patterns[0].id`: must not be empty"
        );
    }

    #[test]
    fn reject_reasons_name_the_tag_and_what_was_expected() {
        let reason = RejectReason::FromTheFuture {
            tag: TagId(7),
            time: Timestamp::from_seconds(600),
            received: Timestamp::from_seconds(0),
            ahead_ms: 600_000,
            limit_ms: 300_000,
        };
        let text = reason.to_string();
        assert!(
            text.starts_with("tag 7: time 1970-01-01T00:10:00"),
            "{text}"
        );
        assert!(text.contains("at most 300000 ms allowed"), "{text}");
        assert_eq!(reason.label(), "from-the-future");
    }
}
