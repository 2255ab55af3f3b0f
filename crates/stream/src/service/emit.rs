//! What the processor writes: its pipelines' outputs as records of
//! `processed-data`, `alerts` and `dlq`, encoded into batches reused
//! from poll to poll.
//!
//! Keys follow `flowline_schemas::key`: a processed sample by its tag's
//! well (else asset), an alert by its well, a dead letter by the key of
//! the record it holds. Each record carries the correlation id of the raw
//! record it came from.

use flowline_bus::{BusError, ConsumedRecord, CorrelationId, RecordBatch, Topic};
use flowline_catalog::Snapshot;
use flowline_core::Timestamp;
use flowline_schemas::RecordEncoder;
use flowline_schemas::key::{sample_key, well_key};
use flowline_schemas::{AlertRecord, Codec, DeadLetter, EvidenceRecord, ProcessedRecord};

use crate::cep::PatternEvent;
use crate::output::ProcessedSample;

/// What a record costs a transaction beyond its key, value and headers,
/// at most: the embedded log's frame header. Used to estimate whether a
/// poll's outputs fit.
const RECORD_OVERHEAD_BYTES: u64 = 64;

/// The record `processed-data` carries for `sample`, with the tag's path
/// from `snapshot`. A tag no longer in the snapshot (its held-back sample
/// released after it was removed) has an empty path.
pub fn processed_record<'a>(
    sample: &ProcessedSample,
    snapshot: &'a Snapshot,
) -> ProcessedRecord<'a> {
    let enrichment = &sample.enrichment;
    ProcessedRecord {
        sample: sample.sample.clone(),
        tag_path: sample.path(snapshot).map_or("", |path| path.as_str()),
        score: sample.score,
        asset: enrichment.asset,
        well: enrichment.well,
        pad: enrichment.pad,
        field: enrichment.field,
        unit: enrichment.unit,
        criticality: enrichment.criticality,
        catalog_version: enrichment.catalog_version,
    }
}

/// The record `alerts` carries for `event`, with the well's path from
/// `snapshot` (empty for a well no longer in it).
pub fn alert_record<'a>(event: &'a PatternEvent, snapshot: &'a Snapshot) -> AlertRecord<'a> {
    let well_path = snapshot
        .asset(event.well)
        .map_or("", |asset| asset.spec.path.as_str());
    AlertRecord {
        pattern: &event.pattern,
        severity: event.severity,
        well: event.well,
        well_path,
        time: event.time,
        evidence: event
            .evidence
            .iter()
            .map(|evidence| EvidenceRecord {
                role: evidence.role.label(),
                name: &evidence.name,
                tag: evidence.tag,
                time: evidence.time,
                value: evidence.value,
            })
            .collect(),
    }
}

/// The outputs of one poll, encoded, per topic.
#[derive(Debug)]
pub(crate) struct Outputs {
    /// Encodes values into the batches.
    encoder: RecordEncoder,
    /// For `processed-data`.
    processed: RecordBatch,
    /// For `alerts`.
    alerts: RecordBatch,
    /// For `dlq`.
    dead_letters: RecordBatch,
    /// Dead letters by reason, in the order the reasons first came.
    reasons: Vec<(&'static str, u64)>,
}

impl Outputs {
    /// Empty outputs encoded with `codec`.
    pub(crate) fn new(codec: Codec) -> Self {
        Outputs {
            encoder: RecordEncoder::new(codec),
            processed: RecordBatch::new(),
            alerts: RecordBatch::new(),
            dead_letters: RecordBatch::new(),
            reasons: Vec::new(),
        }
    }

    /// Empties every batch, keeping the buffers.
    pub(crate) fn clear(&mut self) {
        self.processed.clear();
        self.alerts.clear();
        self.dead_letters.clear();
        self.reasons.clear();
    }

    /// Adds a processed sample.
    pub(crate) fn processed(
        &mut self,
        sample: &ProcessedSample,
        snapshot: &Snapshot,
    ) -> Result<(), BusError> {
        let record = processed_record(sample, snapshot);
        let key = sample_key(record.well, record.asset);
        self.encoder.push(
            &mut self.processed,
            key.as_bytes(),
            &record,
            record.sample.time,
            CorrelationId::from_bits(sample.origin),
        )
    }

    /// Adds an alert.
    pub(crate) fn alert(
        &mut self,
        event: &PatternEvent,
        snapshot: &Snapshot,
    ) -> Result<(), BusError> {
        let record = alert_record(event, snapshot);
        self.encoder.push(
            &mut self.alerts,
            well_key(event.well).as_bytes(),
            &record,
            event.time,
            CorrelationId::from_bits(event.origin),
        )
    }

    /// Adds the dead letter of `record`, refused for `reason` (explained
    /// by `message`) at `now`.
    pub(crate) fn dead_letter(
        &mut self,
        record: &ConsumedRecord<'_>,
        reason: &'static str,
        message: &str,
        now: Timestamp,
    ) -> Result<(), BusError> {
        let letter = DeadLetter::of(record, reason, message, now);
        let correlation_id = record
            .correlation_id()
            .unwrap_or_else(CorrelationId::random);
        self.encoder.push(
            &mut self.dead_letters,
            record.key,
            &letter,
            now,
            correlation_id,
        )?;
        match self.reasons.iter_mut().find(|(known, _)| *known == reason) {
            Some((_, count)) => *count += 1,
            None => self.reasons.push((reason, 1)),
        }
        Ok(())
    }

    /// The batches, with their topics.
    pub(crate) fn batches(&self) -> [(Topic, &RecordBatch); 3] {
        [
            (Topic::ProcessedData, &self.processed),
            (Topic::Alerts, &self.alerts),
            (Topic::Dlq, &self.dead_letters),
        ]
    }

    /// Dead letters by reason.
    pub(crate) fn reasons(&self) -> &[(&'static str, u64)] {
        &self.reasons
    }

    /// Records in all batches.
    pub(crate) fn len(&self) -> usize {
        self.batches().iter().map(|(_, batch)| batch.len()).sum()
    }

    /// About what the batches take in a transaction, in bytes: at least
    /// as much as they do.
    pub(crate) fn bytes(&self) -> u64 {
        self.batches()
            .iter()
            .map(|(_, batch)| batch.bytes() as u64 + batch.len() as u64 * RECORD_OVERHEAD_BYTES)
            .sum()
    }
}
