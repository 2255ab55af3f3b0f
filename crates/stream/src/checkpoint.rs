//! Checkpoints: the pipeline's whole keyed state as bytes, to be saved
//! atomically with the input offsets it corresponds to, and split or merged
//! by key when partitions move between processor instances.
//!
//! The state is keyed two ways: per tag ([`StateKey::Tag`]: validation
//! history, noise reduction and the samples it holds back) and per well
//! ([`StateKey::Well`]: pattern windows and rule states). The event clock
//! belongs to the partition as a whole; a split gives every part a copy.
//! For a well's patterns to see all its tags, the raw samples must be
//! partitioned by [`partition_key`], and a partition's state moves with
//! it: `split` it by the same key, `merge` the parts a new owner receives.
//!
//! The bytes are the magic `FLSC`, a little-endian format number, then the
//! state in postcard. A restore reads only its own format.

use flowline_catalog::TagEntry;
use flowline_core::{AssetId, TagId};
use flowline_schemas::RecordKey;
use flowline_schemas::key::sample_key;
use serde::{Deserialize, Serialize};

use crate::cep::WellState;
use crate::clock::EventClock;
use crate::error::CheckpointError;
use crate::tags::TagState;

/// The magic bytes a checkpoint starts with.
pub const CHECKPOINT_MAGIC: [u8; 4] = *b"FLSC";

/// The checkpoint format this build writes and reads. Format 2 added the
/// origin of the samples noise reduction holds back.
pub const CHECKPOINT_FORMAT: u16 = 2;

/// The length of the magic and the format number.
const HEADER_LEN: usize = 6;

/// The key of one piece of state.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum StateKey {
    /// A tag's validation and noise-reduction state.
    Tag(TagId),
    /// A well's pattern state.
    Well(AssetId),
}

impl std::fmt::Display for StateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateKey::Tag(id) => write!(f, "tag {id}"),
            StateKey::Well(id) => write!(f, "well {id}"),
        }
    }
}

/// The key of a tag's samples, raw and processed, so that its state, and
/// its well's, live in one partition: [`sample_key`] of the tag's well
/// and asset (the well, or for a tag outside any well, such as a
/// separator's or a tank's, the asset that holds it). The gateway keys
/// the samples it publishes by the same function.
pub fn partition_key(entry: &TagEntry) -> RecordKey {
    sample_key(entry.well, entry.asset)
}

/// A pipeline's state at one moment, in a form that survives a restart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    clock: EventClock,
    /// Per-tag state, ordered by tag id.
    tags: Vec<(TagId, TagState)>,
    /// The tag names the patterns used, by index, so well states can be
    /// fitted to another pattern list.
    names: Vec<String>,
    /// The pattern ids, by index.
    patterns: Vec<String>,
    /// Per-well state, ordered by well id.
    wells: Vec<(AssetId, WellState)>,
}

/// A checkpoint taken apart, for the pipeline.
pub(crate) struct Parts {
    pub(crate) clock: EventClock,
    pub(crate) tags: Vec<(TagId, TagState)>,
    pub(crate) names: Vec<String>,
    pub(crate) patterns: Vec<String>,
    pub(crate) wells: Vec<(AssetId, WellState)>,
}

impl Checkpoint {
    /// A checkpoint of a pipeline's parts.
    pub(crate) fn from_parts(parts: Parts) -> Checkpoint {
        Checkpoint {
            clock: parts.clock,
            tags: parts.tags,
            names: parts.names,
            patterns: parts.patterns,
            wells: parts.wells,
        }
    }

    /// The parts, for a pipeline to continue from.
    pub(crate) fn into_parts(self) -> Parts {
        Parts {
            clock: self.clock,
            tags: self.tags,
            names: self.names,
            patterns: self.patterns,
            wells: self.wells,
        }
    }

    /// The checkpoint as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(HEADER_LEN + 64 * self.tags.len());
        bytes.extend_from_slice(&CHECKPOINT_MAGIC);
        bytes.extend_from_slice(&CHECKPOINT_FORMAT.to_le_bytes());
        postcard::to_io(self, &mut bytes).expect("bug: a checkpoint always encodes into memory");
        bytes
    }

    /// Reads a checkpoint written by [`to_bytes`](Self::to_bytes).
    pub fn from_bytes(bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
        let magic = &bytes[..bytes.len().min(CHECKPOINT_MAGIC.len())];
        if magic != CHECKPOINT_MAGIC {
            return Err(CheckpointError::NotACheckpoint {
                expected: CHECKPOINT_MAGIC,
                found: magic.to_vec(),
            });
        }
        let format = bytes
            .get(CHECKPOINT_MAGIC.len()..HEADER_LEN)
            .map_or(0, |word| u16::from_le_bytes([word[0], word[1]]));
        if format != CHECKPOINT_FORMAT {
            return Err(CheckpointError::UnsupportedFormat {
                expected: CHECKPOINT_FORMAT,
                found: format,
            });
        }
        postcard::from_bytes(&bytes[HEADER_LEN..]).map_err(|source| CheckpointError::Corrupt {
            length: bytes.len(),
            source,
        })
    }

    /// Every key with state here, tags first, each in id order.
    pub fn keys(&self) -> impl Iterator<Item = StateKey> + '_ {
        let tags = self.tags.iter().map(|(id, _)| StateKey::Tag(*id));
        tags.chain(self.wells.iter().map(|(id, _)| StateKey::Well(*id)))
    }

    /// Splits the state into `parts` checkpoints, giving each key to the
    /// part `owner` names (below `parts`). Every part keeps the event
    /// clock.
    ///
    /// # Panics
    ///
    /// When `owner` names a part that does not exist: a bug in the caller.
    pub fn split(self, parts: usize, mut owner: impl FnMut(StateKey) -> usize) -> Vec<Checkpoint> {
        let mut split: Vec<Checkpoint> = (0..parts)
            .map(|_| Checkpoint {
                clock: self.clock,
                tags: Vec::new(),
                names: self.names.clone(),
                patterns: self.patterns.clone(),
                wells: Vec::new(),
            })
            .collect();
        let mut part_of = |key: StateKey| {
            let part = owner(key);
            assert!(part < parts, "bug: {key} given to part {part} of {parts}");
            part
        };
        for (id, state) in self.tags {
            split[part_of(StateKey::Tag(id))].tags.push((id, state));
        }
        for (id, state) in self.wells {
            split[part_of(StateKey::Well(id))].wells.push((id, state));
        }
        split
    }

    /// Joins checkpoints of disjoint keys written with the same patterns,
    /// such as the partitions a processor instance takes over.
    pub fn merge(
        parts: impl IntoIterator<Item = Checkpoint>,
    ) -> Result<Option<Checkpoint>, CheckpointError> {
        let mut parts = parts.into_iter();
        let Some(mut merged) = parts.next() else {
            return Ok(None);
        };
        for part in parts {
            if part.patterns != merged.patterns || part.names != merged.names {
                return Err(CheckpointError::PatternsDiffer {
                    expected: merged.patterns,
                    found: part.patterns,
                });
            }
            merged.clock = merged.clock.merge(part.clock);
            merged.tags.extend(part.tags);
            merged.wells.extend(part.wells);
        }
        merged.tags.sort_by_key(|(id, _)| *id);
        merged.wells.sort_by_key(|(id, _)| *id);
        let tag_twice = merged.tags.windows(2).find(|pair| pair[0].0 == pair[1].0);
        if let Some(pair) = tag_twice {
            return Err(CheckpointError::Overlap {
                key: StateKey::Tag(pair[0].0),
            });
        }
        let well_twice = merged.wells.windows(2).find(|pair| pair[0].0 == pair[1].0);
        if let Some(pair) = well_twice {
            return Err(CheckpointError::Overlap {
                key: StateKey::Well(pair[0].0),
            });
        }
        Ok(Some(merged))
    }
}
