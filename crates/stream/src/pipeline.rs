//! The pipeline: every operator, applied to each sample of a batch in
//! order, with the state they keep.
//!
//! For each sample: look the tag up in the catalog snapshot (unknown tags
//! are refused), cleanse (module `cleanse`), place it in event time
//! (duplicates dropped, out-of-order and late samples kept and marked),
//! validate (module `validate`), score ([`quality_score`]), enrich, hand
//! it to the patterns of its well ([`crate::cep`]), and offer it to noise
//! reduction (module `compress`), which decides whether and when it is
//! emitted. Every so often in event time a sweep releases samples held
//! back too long and matches absence patterns.
//!
//! The output depends only on the samples and their order, never on how
//! they are cut into batches or on the wall clock, so a pipeline restored
//! from a checkpoint continues exactly as the one that wrote it would have.
//!
//! Ordering and duplicates, per tag: a sample at a time the tag already
//! had among its last eight accepted samples is a duplicate, dropped and
//! counted (the first one wins). A sample older than the tag's newest is
//! out of order: it is checked against the valid range only, scored, and
//! emitted at once, since the history-based checks, the patterns and the
//! swinging door need time to run forward; it leaves the tag's state
//! untouched.
//!
//! LIMITATION: a repeat of a time older than the tag's last eight accepted
//! samples is not recognised as a duplicate and passes as out of order.

use flowline_catalog::Snapshot;
use flowline_core::{DataQualityFlags, Sample, Timestamp};

use crate::cep::{Engine, Observation, Wells};
use crate::checkpoint::Checkpoint;
use crate::cleanse::{Cleansed, cleanse};
use crate::clock::EventClock;
use crate::config::StreamConfig;
use crate::error::{ConfigError, RejectReason};
use crate::events::{self, RejectLog};
use crate::output::{Counts, Output, ProcessedSample, Rejected};
use crate::score::quality_score;
use crate::tags::TagTable;

/// Flags that make a sample an exception on their own, which noise
/// reduction always archives. The others (stuck, source-bad,
/// unit-converted) describe a state that lasts; only their change makes an
/// exception.
const EVENT_FLAGS: DataQualityFlags = DataQualityFlags::OUT_OF_RANGE
    .union(DataQualityFlags::RATE_OF_CHANGE)
    .union(DataQualityFlags::SPIKE)
    .union(DataQualityFlags::GAP)
    .union(DataQualityFlags::LATE)
    .union(DataQualityFlags::ESTIMATED);

/// Flags that keep a reading from the patterns: an isolated excursion or
/// an impossible value would raise false alarms.
const UNFIT_FOR_PATTERNS: DataQualityFlags =
    DataQualityFlags::SPIKE.union(DataQualityFlags::OUT_OF_RANGE);

/// The processor's operators and their keyed state, for one partition.
///
/// ```
/// use flowline_catalog::Snapshot;
/// use flowline_stream::{Output, Pipeline, StreamConfig};
///
/// let mut pipeline = Pipeline::new(StreamConfig::default()).expect("defaults are valid");
/// let snapshot = Snapshot::default();
/// let mut output = Output::default();
/// pipeline.process(&snapshot, &[], &mut output);
/// assert!(output.processed.is_empty());
/// ```
#[derive(Debug)]
pub struct Pipeline {
    config: StreamConfig,
    engine: Engine,
    clock: EventClock,
    tags: TagTable,
    wells: Wells,
    rejects: RejectLog,
}

impl Pipeline {
    /// A pipeline with no state yet, once `config` is valid.
    pub fn new(config: StreamConfig) -> Result<Pipeline, ConfigError> {
        config.validate()?;
        let engine = Engine::new(&config.cep.patterns);
        Ok(Pipeline {
            config,
            engine,
            clock: EventClock::default(),
            tags: TagTable::default(),
            wells: Wells::default(),
            rejects: RejectLog::default(),
        })
    }

    /// A pipeline that continues from `checkpoint` with `config`. Patterns
    /// are matched to their saved state by id: a pattern that is new
    /// starts fresh, a removed one's state is dropped.
    pub fn restore(config: StreamConfig, checkpoint: Checkpoint) -> Result<Pipeline, ConfigError> {
        let mut pipeline = Pipeline::new(config)?;
        let parts = checkpoint.into_parts();
        pipeline.clock = parts.clock;
        pipeline.tags = TagTable::from_states(parts.tags);
        pipeline.wells =
            Wells::restore(&pipeline.engine, &parts.names, &parts.patterns, parts.wells);
        Ok(pipeline)
    }

    /// The whole state, to save with the input offsets it corresponds to.
    pub fn checkpoint(&self) -> Checkpoint {
        let tags = self
            .tags
            .positions()
            .map(|position| {
                let slot = self.tags.slot(position);
                (slot.id, slot.state.clone())
            })
            .collect();
        Checkpoint::from_parts(crate::checkpoint::Parts {
            clock: self.clock,
            tags,
            names: self.engine.names().map(str::to_owned).collect(),
            patterns: self.engine.pattern_ids().map(str::to_owned).collect(),
            wells: self.wells.to_sorted(),
        })
    }

    /// The configuration the pipeline runs with.
    pub fn config(&self) -> &StreamConfig {
        &self.config
    }

    /// The newest event time seen minus the allowed lateness: samples
    /// older than this are flagged late. `None` before the first sample.
    pub fn watermark(&self) -> Option<Timestamp> {
        self.clock.watermark(self.config.time.allowed_lateness_ms)
    }

    /// Processes a batch in order against `snapshot`, appending what it
    /// yields to `output` (which the caller clears between batches).
    /// What it yields has no origin (0); see
    /// [`process_traced`](Self::process_traced).
    pub fn process(&mut self, snapshot: &Snapshot, batch: &[Sample], output: &mut Output) {
        self.process_traced(snapshot, batch, &[], output);
    }

    /// Like [`process`](Self::process), with the origin of each sample of
    /// `batch` at the same index of `origins` (0 past its end): a
    /// processed sample keeps the origin of its sample, and a pattern
    /// event takes the origin of the sample that raised it. The output
    /// is the same as `process` gives, but for the origins.
    pub fn process_traced(
        &mut self,
        snapshot: &Snapshot,
        batch: &[Sample],
        origins: &[u128],
        output: &mut Output,
    ) {
        let archived_before = output.processed.len();
        let rejected_before = output.rejected.len();
        let mut counts = Counts {
            received: batch.len() as u64,
            ..Counts::default()
        };
        for (index, sample) in batch.iter().enumerate() {
            let origin = origins.get(index).copied().unwrap_or(0);
            let events_before = output.events.len();
            self.process_one(snapshot, index, sample, origin, &mut counts, output);
            for event in &mut output.events[events_before..] {
                event.origin = origin;
            }
        }
        counts.archived = (output.processed.len() - archived_before) as u64;
        for rejected in &output.rejected[rejected_before..] {
            events::sample_rejected(&mut self.rejects, rejected);
        }
        events::batch_processed(&counts, self.watermark());
        output.counts.add(&counts);
    }

    /// Processes the sample at `index` of its batch, which came from
    /// `origin`.
    fn process_one(
        &mut self,
        snapshot: &Snapshot,
        index: usize,
        raw: &Sample,
        origin: u128,
        counts: &mut Counts,
        output: &mut Output,
    ) {
        let Some((position, cleansed, in_order)) = self.admit(snapshot, index, raw, counts, output)
        else {
            return;
        };
        let interval = self.config.cep.sweep_interval_ms;
        if let Some(now) = self.clock.sweep_due(raw.time.min(raw.received), interval) {
            self.sweep(snapshot, now, output);
        }
        counts.accepted += 1;
        let flags = self.check(position, raw, &cleansed, in_order, counts);
        counts.flags(flags);
        let (plan, _) = self.tags.slot_mut(position).parts();
        let processed = ProcessedSample {
            score: quality_score(raw.quality, flags, !cleansed.value.is_missing()),
            sample: Sample {
                tag: raw.tag,
                time: raw.time,
                received: raw.received,
                value: cleansed.value,
                quality: raw.quality,
                flags,
            },
            enrichment: plan.enrichment,
            origin,
        };
        // Patterns see on-time readings in order.
        if in_order && !flags.contains(DataQualityFlags::LATE) {
            self.observe(snapshot, position, &processed, cleansed.number, output);
        }
        self.reduce(position, processed, in_order, output);
    }

    /// Looks the sample's tag up and cleanses the sample; refused and
    /// duplicate samples stop here. The tag's position, the cleansed
    /// value, and whether the sample is newer than any of its tag's.
    fn admit(
        &mut self,
        snapshot: &Snapshot,
        index: usize,
        raw: &Sample,
        counts: &mut Counts,
        output: &mut Output,
    ) -> Option<(usize, Cleansed, bool)> {
        let mut reject = |reason: RejectReason| {
            counts.rejected[reason.code()] += 1;
            output.rejected.push(Rejected {
                index,
                sample: raw.clone(),
                reason,
            });
            None
        };
        if snapshot.tag(raw.tag).is_none() {
            return reject(RejectReason::UnknownTag {
                tag: raw.tag,
                catalog_version: snapshot.version(),
            });
        }
        let position = self.tags.position(raw.tag);
        let (plan, state) = self
            .tags
            .current(position, snapshot, &self.config, &self.engine)
            .parts();
        let cleansed = match cleanse(raw, plan, &self.config.time) {
            Ok(cleansed) => cleansed,
            Err(reason) => return reject(reason),
        };
        // Fast path: newer than anything seen, so no duplicate.
        let in_order = state.last_time.is_none_or(|last| raw.time > last);
        if !in_order && state.recent_times.contains(raw.time) {
            counts.duplicates += 1;
            return None;
        }
        state.recent_times.push(raw.time);
        Some((position, cleansed, in_order))
    }

    /// Places an accepted sample in event time and validates it; its
    /// flags. History-based checks run only in time order, and only on
    /// values the source vouches for.
    fn check(
        &mut self,
        position: usize,
        raw: &Sample,
        cleansed: &Cleansed,
        in_order: bool,
        counts: &mut Counts,
    ) -> DataQualityFlags {
        let mut flags = cleansed.flags;
        if self
            .clock
            .is_late(raw.time, self.config.time.allowed_lateness_ms)
        {
            flags |= DataQualityFlags::LATE;
            counts.late += 1;
        }
        self.clock.advance(raw.time, raw.received);

        let (plan, state) = self.tags.slot_mut(position).parts();
        if in_order {
            let gap_us = self.config.validate.gap_after_ms as i64 * 1_000;
            let after_gap = state
                .last_time
                .is_some_and(|last| raw.time.micros_since(last) > gap_us);
            if gap_us > 0 && after_gap {
                flags |= DataQualityFlags::GAP;
            }
            state.last_time = Some(raw.time);
        } else {
            counts.out_of_order += 1;
        }
        match cleansed.number {
            Some(number) if in_order && !raw.quality.is_bad() => {
                flags
                    | state
                        .history
                        .check(raw.time, number, plan, &self.config.validate)
            }
            Some(number) if !plan.range.contains(number) => flags | DataQualityFlags::OUT_OF_RANGE,
            _ => flags,
        }
    }

    /// Hands a reading to its well's patterns, if a pattern names its
    /// tag. `number` is its value as a number, if it has one.
    fn observe(
        &mut self,
        snapshot: &Snapshot,
        position: usize,
        processed: &ProcessedSample,
        number: Option<f64>,
        output: &mut Output,
    ) {
        let (plan, _) = self.tags.slot_mut(position).parts();
        let (Some(name), Some(well)) = (plan.pattern_name, plan.enrichment.well) else {
            return;
        };
        let sample = &processed.sample;
        let Some(entry) = snapshot.tag(sample.tag) else {
            return;
        };
        let fit = !sample.quality.is_bad() && !sample.flags.intersects(UNFIT_FOR_PATTERNS);
        let seen = Observation {
            well,
            path: &entry.tag.spec.path,
            name,
            tag: sample.tag,
            time: sample.time,
            value: number.filter(|_| fit),
        };
        self.wells
            .observe(&self.engine, snapshot, &seen, &mut output.events);
    }

    /// Offers a processed sample to noise reduction, which archives it
    /// now, later or not at all. Out-of-order samples pass at once.
    fn reduce(
        &mut self,
        position: usize,
        processed: ProcessedSample,
        in_order: bool,
        output: &mut Output,
    ) {
        let archive = &mut |sample: ProcessedSample| output.processed.push(sample);
        if !(self.config.compression.enabled && in_order) {
            return archive(processed);
        }
        let (plan, state) = self.tags.slot_mut(position).parts();
        let (quality, flags) = (processed.sample.quality, processed.sample.flags);
        let exception = quality != state.last_quality
            || flags != state.last_flags
            || flags.intersects(EVENT_FLAGS);
        state.last_quality = quality;
        state.last_flags = flags;
        if exception {
            state.noise.exception(processed, &plan.noise, archive);
        } else {
            state.noise.push(processed, &plan.noise, archive);
        }
    }

    /// Releases samples held back longer than the longest interval, and
    /// matches absence patterns, at `now` in event time. Walks tags in id
    /// order, so a restored pipeline emits in the same order.
    fn sweep(&mut self, snapshot: &Snapshot, now: Timestamp, output: &mut Output) {
        let archive = &mut |sample| output.processed.push(sample);
        self.tags
            .visit_current(snapshot, &self.config, &self.engine, |slot| {
                // LIMITATION: a tag removed from the catalog keeps its
                // state, and what it holds back, until a restart without
                // it.
                if let Some(plan) = &slot.plan {
                    slot.state
                        .noise
                        .release_overdue(now.as_micros(), &plan.noise, archive);
                }
            });
        self.wells.sweep(&self.engine, now, &mut output.events);
    }
}
