//! What the pipeline yields for a batch: processed samples for
//! `processed-data`, pattern events for `alerts`, refused samples for
//! `dlq`, and counts for metrics.

use flowline_catalog::Snapshot;
use flowline_core::{AssetId, Criticality, DataQualityFlags, NodePath, Sample, Unit};
use serde::{Deserialize, Serialize};

use crate::cep::PatternEvent;
use crate::error::{REJECT_REASONS, RejectReason};

/// A sample the processor has cleaned, checked, enriched and flagged, and
/// that noise reduction let through: one point for the historian.
///
/// It carries ids, not paths, so emitting it allocates nothing; the
/// encoder resolves names with [`ProcessedSample::path`] against the
/// snapshot of [`catalog_version`](Enrichment::catalog_version).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProcessedSample {
    /// The sample: its value in the tag's catalog unit and of its catalog
    /// data type, its source quality unchanged, and Flowline's flags.
    pub sample: Sample,
    /// How far the value can be trusted, from 0 (not at all) to 1; see
    /// [`quality_score`](crate::quality_score).
    pub score: f32,
    /// Where the tag sits and what it is.
    pub enrichment: Enrichment,
    /// Where the sample came from, as the caller named it when it was
    /// processed ([`Pipeline::process_traced`]): the bits of the
    /// correlation id of its record on the bus, so that the processed
    /// record carries the id of the raw one even when noise reduction
    /// held it back for a while. 0 when the caller named none.
    ///
    /// [`Pipeline::process_traced`]: crate::Pipeline::process_traced
    pub origin: u128,
}

/// What the catalog says about a sample's tag, copied onto every processed
/// sample of it.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Enrichment {
    /// The asset that holds the tag.
    pub asset: AssetId,
    /// The well above the tag, if any.
    pub well: Option<AssetId>,
    /// The pad above the tag, if any.
    pub pad: Option<AssetId>,
    /// The field at the top of the tag's branch.
    pub field: Option<AssetId>,
    /// The tag's engineering unit, the value's unit.
    pub unit: Option<Unit>,
    /// How much the tag matters.
    pub criticality: Criticality,
    /// The catalog version these came from.
    pub catalog_version: u64,
}

impl ProcessedSample {
    /// The tag's path in `snapshot`, for encoders that write names.
    pub fn path<'a>(&self, snapshot: &'a Snapshot) -> Option<&'a NodePath> {
        snapshot
            .tag(self.sample.tag)
            .map(|entry| &entry.tag.spec.path)
    }
}

/// A sample the processor refused, for the dead-letter queue.
#[derive(Clone, Debug, PartialEq)]
pub struct Rejected {
    /// The sample's position in the batch, so the caller can find its
    /// source record and offset.
    pub index: usize,
    /// The sample as it arrived.
    pub sample: Sample,
    /// Why it was refused.
    pub reason: RejectReason,
}

/// What happened to a batch's samples, for metrics.
///
/// Every received sample is counted once as rejected, duplicate or
/// accepted. Archived counts what was emitted, which noise reduction may
/// have held back from an earlier batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Samples in the batch.
    pub received: u64,
    /// Samples accepted: cleaned and processed.
    pub accepted: u64,
    /// Samples refused, by [`RejectReason::label`] order.
    pub rejected: [u64; REJECT_REASONS],
    /// Samples dropped because the tag already had a sample at that time.
    pub duplicates: u64,
    /// Accepted samples older than their tag's newest one.
    pub out_of_order: u64,
    /// Accepted samples behind the watermark.
    pub late: u64,
    /// Processed samples emitted.
    pub archived: u64,
    /// Accepted samples with each data-quality flag, by bit position.
    pub flagged: [u64; 16],
}

impl Counts {
    /// All refused samples, whatever the reason.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().sum()
    }

    /// Adds `other`'s counts to these, to total several batches.
    pub fn add(&mut self, other: &Counts) {
        self.received += other.received;
        self.accepted += other.accepted;
        for (total, count) in self.rejected.iter_mut().zip(other.rejected) {
            *total += count;
        }
        self.duplicates += other.duplicates;
        self.out_of_order += other.out_of_order;
        self.late += other.late;
        self.archived += other.archived;
        for (total, count) in self.flagged.iter_mut().zip(other.flagged) {
            *total += count;
        }
    }

    /// Counts one accepted sample's flags.
    pub(crate) fn flags(&mut self, flags: DataQualityFlags) {
        let mut bits = flags.bits();
        while bits != 0 {
            let bit = bits.trailing_zeros() as usize;
            self.flagged[bit] += 1;
            bits &= bits - 1;
        }
    }

    /// Accepted samples with `flag`, a single flag (for several, the count
    /// of the lowest; for none, 0).
    pub fn with_flag(&self, flag: DataQualityFlags) -> u64 {
        let bit = flag.bits().trailing_zeros() as usize;
        self.flagged.get(bit).copied().unwrap_or(0)
    }
}

/// Everything a batch yields. Reuse one across batches ([`Output::clear`])
/// so its buffers are allocated once.
#[derive(Clone, Debug, Default)]
pub struct Output {
    /// Processed samples, in the order they were archived.
    pub processed: Vec<ProcessedSample>,
    /// Pattern matches, in the order they happened.
    pub events: Vec<PatternEvent>,
    /// Refused samples, in batch order.
    pub rejected: Vec<Rejected>,
    /// What happened, in numbers.
    pub counts: Counts,
}

impl Output {
    /// Empties the output for the next batch, keeping its buffers.
    pub fn clear(&mut self) {
        self.processed.clear();
        self.events.clear();
        self.rejected.clear();
        self.counts = Counts::default();
    }
}
