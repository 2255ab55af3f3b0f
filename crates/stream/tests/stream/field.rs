//! Fixtures: the demo field as a catalog snapshot, the field simulator
//! stepped into samples, and a pipeline run that keeps everything it
//! yields.

use flowline_catalog::{DemoLayout, Snapshot, TagSpec, demo_field};
use flowline_core::{AssetId, Quality, Sample, TagId, Timestamp, Value};
use flowline_sim::{FaultSpec, FieldModel};
use flowline_stream::{
    Counts, Output, PatternEvent, Pipeline, ProcessedSample, Rejected, StreamConfig, demo_patterns,
};

/// 2026-01-01T00:00:00Z.
pub const START_S: i64 = 1_767_225_600;
/// The first ESP well of the demo field.
pub const ESP_WELL: &str = "north/pad-1/w-01";
/// The first naturally flowing well.
pub const NATURAL_WELL: &str = "north/pad-1/w-04";

/// The time `seconds` after the start.
pub fn at(seconds: i64) -> Timestamp {
    Timestamp::from_seconds(START_S + seconds)
}

/// The demo field's catalog, numbered in document order.
pub fn demo_snapshot() -> Snapshot {
    Snapshot::of_document(1, &demo_field(DemoLayout::default()))
}

/// The demo field's catalog after `change` edits the tag at `path`.
pub fn demo_snapshot_with(path: &str, change: impl FnOnce(&mut TagSpec)) -> Snapshot {
    let mut document = demo_field(DemoLayout::default());
    let entry = document
        .tags
        .iter_mut()
        .find(|entry| entry.spec.path.as_str() == path)
        .unwrap_or_else(|| panic!("no tag {path}"));
    change(&mut entry.spec);
    Snapshot::of_document(1, &document)
}

/// The demo field's catalog with the attribute `key` = `value` on the tag
/// at `path`.
pub fn demo_snapshot_with_attribute(path: &str, key: &str, value: &str) -> Snapshot {
    demo_snapshot_with(path, |spec| {
        spec.attributes.insert(key.to_owned(), value.to_owned());
    })
}

/// The id of the tag at `path`.
pub fn tag(snapshot: &Snapshot, path: &str) -> TagId {
    snapshot
        .tag_by_path(path)
        .unwrap_or_else(|| panic!("no tag {path}"))
        .tag
        .id
}

/// The path of the asset with `id`.
pub fn asset_path(snapshot: &Snapshot, id: AssetId) -> String {
    snapshot.asset(id).unwrap().spec.path.to_string()
}

/// A good sample of `tag` at `seconds` after the start.
pub fn reading(tag: TagId, seconds: i64, value: f64) -> Sample {
    Sample::new(tag, at(seconds), Value::Float(value))
}

/// The default configuration with the demo patterns.
pub fn demo_config() -> StreamConfig {
    let mut config = StreamConfig::default();
    config.cep.patterns = demo_patterns();
    config
}

/// The demo field's simulator, with the catalog ids of its tags.
pub struct Field {
    /// The catalog the pipeline reads.
    pub snapshot: Snapshot,
    model: FieldModel,
    /// Each simulator tag's catalog id, by the simulator's tag index.
    ids: Vec<TagId>,
}

impl Field {
    /// The demo field, seed 7, at the start.
    pub fn demo() -> Field {
        let document = demo_field(DemoLayout::default());
        let snapshot = Snapshot::of_document(1, &document);
        let model = FieldModel::new(&document, 7, at(0)).unwrap();
        let ids = model
            .tags()
            .map(|(_, path)| tag(&snapshot, path.as_str()))
            .collect();
        Field {
            snapshot,
            model,
            ids,
        }
    }

    /// Seconds since the start.
    pub fn elapsed_s(&self) -> i64 {
        self.model.now().micros_since(at(0)) / 1_000_000
    }

    /// Injects a fault written in the schedule syntax, from now.
    pub fn inject(&mut self, text: &str) {
        let spec: FaultSpec = text.parse().unwrap();
        let now = self.model.now();
        self.model.inject(&spec, now).unwrap();
    }

    /// Writes a setpoint or run command.
    pub fn write(&mut self, path: &str, value: Value) {
        self.model.write(path, &value).unwrap();
    }

    /// Steps one second and reads every tag, as the gateway would.
    pub fn step(&mut self) -> Vec<Sample> {
        let now = self.model.now().saturating_add_micros(1_000_000);
        self.model.step(now);
        self.model
            .tags()
            .map(|(index, _)| {
                let reading = self.model.reading_at(index);
                let value = reading.value.unwrap_or(Value::MISSING);
                Sample::new(self.ids[index.get()], now, value).with_quality(reading.quality)
            })
            .collect()
    }
}

/// Everything a pipeline yielded over a run.
#[derive(Default)]
pub struct Run {
    /// Processed samples, in order.
    pub processed: Vec<ProcessedSample>,
    /// Pattern events, in order.
    pub events: Vec<PatternEvent>,
    /// Refused samples, in order.
    pub rejected: Vec<Rejected>,
    /// The totals.
    pub counts: Counts,
}

impl Run {
    /// Takes in one batch's output.
    pub fn take(&mut self, output: &mut Output) {
        self.processed.append(&mut output.processed);
        self.events.append(&mut output.events);
        self.rejected.append(&mut output.rejected);
        self.counts.add(&output.counts);
        output.clear();
    }

    /// The pattern ids matched on the well at `well`, in order.
    pub fn patterns_on(&self, snapshot: &Snapshot, well: &str) -> Vec<String> {
        self.events
            .iter()
            .filter(|event| asset_path(snapshot, event.well) == well)
            .map(|event| event.pattern.to_string())
            .collect()
    }

    /// The events on wells other than `well`, as `pattern on well`.
    pub fn elsewhere(&self, snapshot: &Snapshot, well: &str) -> Vec<String> {
        self.events
            .iter()
            .map(|event| (event.pattern.to_string(), asset_path(snapshot, event.well)))
            .filter(|(_, path)| path != well)
            .map(|(pattern, path)| format!("{pattern} on {path}"))
            .collect()
    }

    /// The processed samples of `tag`.
    pub fn of(&self, tag: TagId) -> Vec<&ProcessedSample> {
        self.processed
            .iter()
            .filter(|processed| processed.sample.tag == tag)
            .collect()
    }
}

/// Steps `field` for `seconds`, one batch a second, through `pipeline`;
/// `before_step` runs before each step with the seconds elapsed, to
/// inject faults or write commands.
pub fn simulate(
    field: &mut Field,
    pipeline: &mut Pipeline,
    seconds: i64,
    run: &mut Run,
    mut before_step: impl FnMut(&mut Field, i64),
) {
    let mut output = Output::default();
    for _ in 0..seconds {
        let elapsed = field.elapsed_s();
        before_step(field, elapsed);
        let batch = field.step();
        pipeline.process(&field.snapshot, &batch, &mut output);
        run.take(&mut output);
    }
}

/// Feeds `batch` to a fresh pipeline with `config` in one go.
pub fn process_all(config: StreamConfig, snapshot: &Snapshot, batch: &[Sample]) -> Run {
    let mut pipeline = Pipeline::new(config).unwrap();
    let mut output = Output::default();
    pipeline.process(snapshot, batch, &mut output);
    let mut run = Run::default();
    run.take(&mut output);
    run
}

/// A bad-quality sample without a value.
pub fn gap(tag: TagId, seconds: i64) -> Sample {
    Sample::new(tag, at(seconds), Value::MISSING).with_quality(Quality::BAD_NO_COMMUNICATION)
}
