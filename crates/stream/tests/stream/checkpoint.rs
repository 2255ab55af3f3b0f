//! Checkpoints: a pipeline restored from one continues exactly as if it
//! had never stopped, however the input is cut into batches, and its state
//! can be split by partition and moved.

use std::sync::OnceLock;

use flowline_bus::partition_for_key;
use flowline_catalog::Snapshot;
use flowline_core::{Sample, TagId, Value};
use flowline_schemas::key::well_key;
use flowline_stream::{
    Checkpoint, CheckpointError, Output, Pipeline, StateKey, StreamConfig, partition_key,
};
use proptest::prelude::*;

use crate::field::{ESP_WELL, Field, NATURAL_WELL, at, demo_config, reading, tag};

/// How long the recorded run lasts, in seconds.
const RUN_S: i64 = 600;

/// A configuration that exercises every kind of state within ten minutes:
/// the demo patterns, short stuck and compression windows, frequent
/// sweeps.
fn busy_config() -> StreamConfig {
    let mut config = demo_config();
    config.validate.stuck_window_ms = 60_000;
    config.compression.max_interval_ms = 60_000;
    config.cep.sweep_interval_ms = 2_000;
    config
}

/// Ten minutes of the demo field with faults that raise patterns (gas lock,
/// a silent sensor, a stuck one, a restart in backspin), and bad input
/// mixed in: duplicates, samples out of order and late, unknown tags,
/// garbage values. Recorded once.
fn recorded() -> &'static (Snapshot, Vec<Sample>) {
    static RECORDED: OnceLock<(Snapshot, Vec<Sample>)> = OnceLock::new();
    RECORDED.get_or_init(|| {
        let (snapshot, samples) = clean();
        (snapshot, garble(samples))
    })
}

/// The same ten minutes without the bad input.
fn clean() -> (Snapshot, Vec<Sample>) {
    static CLEAN: OnceLock<Vec<Sample>> = OnceLock::new();
    let samples = CLEAN.get_or_init(|| {
        let mut field = Field::demo();
        let mut samples = Vec::new();
        for second in 0..RUN_S {
            match second {
                60 => field.inject(&format!("{ESP_WELL}:gas-lock")),
                90 => field.inject(&format!("{NATURAL_WELL}/oil-rate:dropout+200s")),
                100 => field.inject(&format!("{NATURAL_WELL}/tubing-pressure:stuck")),
                120 => field.write("north/pad-2/w-05/esp/run", Value::Boolean(false)),
                300 => field.write("north/pad-2/w-05/esp/run", Value::Boolean(true)),
                _ => {}
            }
            samples.extend(field.step());
        }
        samples
    });
    (crate::field::demo_snapshot(), samples.clone())
}

/// Mixes bad input into `samples`, deterministically.
fn garble(samples: Vec<Sample>) -> Vec<Sample> {
    let mut garbled = Vec::with_capacity(samples.len() + samples.len() / 20);
    for (index, sample) in samples.into_iter().enumerate() {
        match index % 1_009 {
            0 => garbled.push(reading(TagId(999_999), 0, 1.0)),
            1 => {
                let mut late = sample.clone();
                late.time = late.time.saturating_add_micros(-45_000_000);
                garbled.push(late);
            }
            2 => garbled.push(Sample::new(sample.tag, sample.time, Value::Float(f64::NAN))),
            _ => {}
        }
        if index % 97 == 0 {
            garbled.push(sample.clone());
        }
        garbled.push(sample);
    }
    // Some neighbours swap places: out of order for their tag when they
    // are of the same tag, harmless otherwise.
    for index in (500..garbled.len()).step_by(733) {
        garbled.swap(index, index - 160);
    }
    garbled
}

/// What a run yields, in a form that compares exactly (missing values are
/// NaN, which `==` never equals).
#[derive(Debug, Default, PartialEq)]
struct Yield {
    processed: Vec<Vec<u8>>,
    events: Vec<Vec<u8>>,
    /// Each refused sample's position in the whole input, and why.
    rejected: Vec<(usize, String)>,
}

impl Yield {
    fn take(&mut self, offset: usize, output: &mut Output) {
        self.processed.extend(output.processed.iter().map(bytes));
        self.events.extend(output.events.iter().map(bytes));
        self.rejected.extend(
            output
                .rejected
                .iter()
                .map(|rejected| (offset + rejected.index, rejected.reason.to_string())),
        );
        output.clear();
    }
}

/// A value as postcard bytes.
fn bytes<T: serde::Serialize>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).unwrap()
}

/// Feeds `samples` from position `offset` in batches of the given sizes
/// (the last batch takes the rest).
fn feed(
    pipeline: &mut Pipeline,
    snapshot: &Snapshot,
    samples: &[Sample],
    offset: usize,
    sizes: &[usize],
    into: &mut Yield,
) {
    let mut output = Output::default();
    let mut start = 0;
    let mut sizes = sizes.iter().cycle();
    while start < samples.len() {
        let size = (*sizes.next().unwrap()).max(1);
        let end = (start + size).min(samples.len());
        pipeline.process(snapshot, &samples[start..end], &mut output);
        into.take(offset + start, &mut output);
        start = end;
    }
}

/// The whole recording in one pipeline, in batches of one second's
/// samples.
fn uninterrupted() -> &'static (Yield, Vec<u8>) {
    static WHOLE: OnceLock<(Yield, Vec<u8>)> = OnceLock::new();
    WHOLE.get_or_init(|| {
        let (snapshot, samples) = recorded();
        let mut pipeline = Pipeline::new(busy_config()).unwrap();
        let mut whole = Yield::default();
        feed(&mut pipeline, snapshot, samples, 0, &[156], &mut whole);
        (whole, pipeline.checkpoint().to_bytes())
    })
}

#[test]
fn the_recording_exercises_patterns_compression_and_bad_input() {
    let (whole, _) = uninterrupted();
    assert!(whole.events.len() >= 4, "{} events", whole.events.len());
    let reasons: std::collections::BTreeSet<&str> = whole
        .rejected
        .iter()
        .map(|(_, reason)| reason.split(':').next().unwrap_or(reason))
        .collect();
    assert!(reasons.len() >= 2, "{reasons:?}");
    let (_, samples) = recorded();
    assert!(
        whole.processed.len() < samples.len() / 2,
        "compression held points back"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn a_restored_pipeline_continues_exactly_as_one_that_never_stopped(
        split in 0.0..1.0f64,
        before in proptest::collection::vec(1..700usize, 1..6),
        after in proptest::collection::vec(1..700usize, 1..6),
    ) {
        let (snapshot, samples) = recorded();
        let (whole, final_state) = uninterrupted();
        let at_split = (samples.len() as f64 * split) as usize;

        let mut first = Pipeline::new(busy_config()).unwrap();
        let mut resumed = Yield::default();
        feed(&mut first, snapshot, &samples[..at_split], 0, &before, &mut resumed);
        let bytes = first.checkpoint().to_bytes();
        drop(first);

        let checkpoint = Checkpoint::from_bytes(&bytes).unwrap();
        let mut second = Pipeline::restore(busy_config(), checkpoint).unwrap();
        feed(&mut second, snapshot, &samples[at_split..], at_split, &after, &mut resumed);

        prop_assert!(resumed == *whole, "the outputs differ");
        prop_assert!(second.checkpoint().to_bytes() == *final_state, "the final states differ");
    }
}

/// The partition of a key among `parts`, by the tag's partition key and
/// the bus's partitioner.
fn owner(snapshot: &Snapshot, key: StateKey, parts: usize) -> usize {
    let key = match key {
        StateKey::Tag(id) => partition_key(snapshot.tag(id).unwrap()),
        StateKey::Well(id) => well_key(id),
    };
    partition_for_key(key.as_bytes(), parts as u32) as usize
}

#[test]
fn state_split_by_partition_moves_to_new_owners_and_they_continue_as_one_would() {
    const PARTS: usize = 3;
    let (snapshot, samples) = &clean();
    let partition_of = |sample: &Sample| match snapshot.tag(sample.tag) {
        Some(entry) => partition_for_key(partition_key(entry).as_bytes(), PARTS as u32) as usize,
        None => 0,
    };
    // Half the recording in one pipeline, the other half spread over three
    // that take over its state by partition.
    let half = samples.len() / 2;
    let mut one = Pipeline::new(busy_config()).unwrap();
    feed(
        &mut one,
        snapshot,
        &samples[..half],
        0,
        &[156],
        &mut Yield::default(),
    );
    let parts = one
        .checkpoint()
        .split(PARTS, |key| owner(snapshot, key, PARTS));
    let mut spread = Yield::default();
    for (part, checkpoint) in parts.into_iter().enumerate() {
        assert!(
            checkpoint
                .keys()
                .all(|key| owner(snapshot, key, PARTS) == part)
        );
        let mut pipeline = Pipeline::restore(busy_config(), checkpoint).unwrap();
        let mine: Vec<Sample> = samples[half..]
            .iter()
            .filter(|sample| partition_of(sample) == part)
            .cloned()
            .collect();
        feed(&mut pipeline, snapshot, &mine, 0, &[52], &mut spread);
    }
    let mut expected = Yield::default();
    feed(
        &mut one,
        snapshot,
        &samples[half..],
        0,
        &[156],
        &mut expected,
    );

    // The same samples and events, in another order: the three
    // partitions ran side by side.
    let sorted = |mut list: Vec<Vec<u8>>| {
        list.sort();
        list
    };
    assert!(!expected.events.is_empty());
    assert!(
        sorted(spread.processed) == sorted(expected.processed),
        "the samples differ"
    );
    assert!(
        sorted(spread.events) == sorted(expected.events),
        "the events differ"
    );
}

#[test]
fn split_parts_merge_back_into_the_same_checkpoint_and_overlaps_are_refused() {
    let (_, final_state) = uninterrupted();
    let (snapshot, _) = recorded();
    let whole = Checkpoint::from_bytes(final_state).unwrap();
    let parts = whole.clone().split(4, |key| owner(snapshot, key, 4));
    let merged = Checkpoint::merge(parts.clone()).unwrap().unwrap();
    assert_eq!(merged.to_bytes(), *final_state);

    let error = Checkpoint::merge([parts[1].clone(), parts[1].clone()]).unwrap_err();
    assert!(matches!(error, CheckpointError::Overlap { .. }), "{error}");
    assert!(
        error
            .to_string()
            .starts_with("stream checkpoints overlap: both hold the state of")
    );
    assert!(Checkpoint::merge(Vec::new()).unwrap().is_none());
}

#[test]
fn foreign_or_damaged_bytes_are_refused_with_the_reason() {
    let (_, final_state) = uninterrupted();
    let error = Checkpoint::from_bytes(b"PK\x03\x04zip").unwrap_err();
    assert_eq!(
        error.to_string(),
        "not a stream checkpoint: expected the magic bytes [70, 76, 83, 67], found [80, 75, 3, 4]"
    );
    let mut newer = final_state.clone();
    newer[4] = 9;
    let error = Checkpoint::from_bytes(&newer).unwrap_err();
    assert_eq!(
        error.to_string(),
        "stream checkpoint format 9 is not supported: expected 2"
    );
    let cut = &final_state[..final_state.len() / 2];
    let error = Checkpoint::from_bytes(cut).unwrap_err();
    assert!(matches!(error, CheckpointError::Corrupt { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains(&format!("of {} bytes is corrupt", cut.len()))
    );
}

#[test]
fn a_restore_with_another_pattern_list_keeps_the_runs_of_the_patterns_that_remain() {
    let snapshot = crate::field::demo_snapshot();
    let amperes = tag(&snapshot, &format!("{ESP_WELL}/esp/motor-current"));
    let hertz = tag(&snapshot, &format!("{ESP_WELL}/esp/frequency"));
    // One pattern fewer, one more, and every index moved.
    let mut before = demo_config();
    before
        .cep
        .patterns
        .retain(|pattern| pattern.id != "tubing-leak");
    let mut after = demo_config();
    after
        .cep
        .patterns
        .retain(|pattern| pattern.id != "esp-current-silent");
    after.cep.patterns.reverse();

    // Underloaded from second 10; checkpointed a minute into the run.
    let batch = |second: i64| vec![reading(hertz, second, 50.0), reading(amperes, second, 20.0)];
    let mut output = Output::default();
    let mut pipeline = Pipeline::new(before).unwrap();
    for second in 10..70 {
        pipeline.process(&snapshot, &batch(second), &mut output);
    }
    assert!(output.events.is_empty());
    let mut pipeline = Pipeline::restore(after, pipeline.checkpoint()).unwrap();
    for second in 70..200 {
        pipeline.process(&snapshot, &batch(second), &mut output);
    }
    let matched: Vec<_> = output
        .events
        .iter()
        .map(|event| (event.pattern.to_string(), event.time))
        .collect();
    assert_eq!(matched, [("esp-underload".to_owned(), at(130))]);
}
