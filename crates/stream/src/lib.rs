//! Flowline's stream processor: the operators between `raw-sensor-data`
//! and `processed-data`, `alerts` and `dlq`.
//!
//! A [`Pipeline`] takes batches of raw [`Sample`]s from the gateway and the
//! current catalog [`Snapshot`], and yields an [`Output`]: processed
//! samples, pattern events with their evidence, and refused samples with
//! the reason. Per tag, in order:
//!
//! 1. **Cleanse** (module `cleanse`): honest gaps kept, broken
//!    values and impossible times refused, values converted to the tag's
//!    catalog type and unit (from its `source_unit` attribute).
//! 2. **Event time**: a watermark per pipeline (one pipeline per
//!    partition); late samples flagged, duplicates dropped, out-of-order
//!    samples kept.
//! 3. **Validate** (module `validate`): valid range, rate of
//!    change, stuck values, spikes.
//! 4. **Score** ([`quality_score`]) and **enrich** with the tag's asset,
//!    well, pad, field, unit and criticality, as ids.
//! 5. **Complex event processing** ([`cep`]): declarative patterns per
//!    well: threshold for a duration, change within a window, sequence,
//!    absence.
//! 6. **Noise reduction** (module `compress`): deadband and
//!    swinging-door compression; exceptions always pass.
//!
//! Everything is synchronous and deterministic: the output depends only on
//! the input samples and their order, never on batch boundaries or the
//! wall clock. The keyed state (per tag and per well) is saved as a
//! [`Checkpoint`] and restored with [`Pipeline::restore`], to continue
//! exactly where it stopped; it splits and merges by [`StateKey`] so it can
//! move with its partition.
//!
//! The operators do no input or output. The [`service`] wires them to the
//! bus: it reads `raw-sensor-data`, writes the topics, and commits
//! checkpoints with input offsets, exactly once.
//!
//! [`Sample`]: flowline_core::Sample
//! [`Snapshot`]: flowline_catalog::Snapshot

pub mod cep;
mod checkpoint;
mod cleanse;
mod clock;
mod compress;
mod config;
mod error;
mod events;
mod output;
mod pipeline;
mod plan;
mod score;
pub mod service;
mod tags;
mod validate;

pub use cep::{Evidence, EvidenceRole, Pattern, PatternEvent, Rule, demo_patterns};
pub use checkpoint::{CHECKPOINT_FORMAT, CHECKPOINT_MAGIC, Checkpoint, StateKey, partition_key};
pub use config::{
    CepConfig, CompressionConfig, MAX_DURATION_MS, MAX_SPIKE_WINDOW, StreamConfig, TimeConfig,
    ValidateConfig,
};
pub use error::{CheckpointError, ConfigError, ConfigProblem, RejectReason};
pub use output::{Counts, Enrichment, Output, ProcessedSample, Rejected};
pub use pipeline::Pipeline;
pub use plan::{COMPRESSION_DEVIATION_ATTRIBUTE, SOURCE_UNIT_ATTRIBUTE};
pub use score::quality_score;
