//! Bad input: unknown tags, garbage values, clock jumps, out-of-order and
//! duplicate samples. Each is handled as documented and counted, and
//! nothing valid is lost with it.

use flowline_core::{DataQualityFlags, Quality, Sample, TagId, Timestamp, Value};
use flowline_stream::StreamConfig;
use proptest::prelude::*;

use crate::field::{
    ESP_WELL, at, demo_snapshot, demo_snapshot_with_attribute, gap, process_all, reading, tag,
};

/// The default configuration without compression, so every accepted
/// sample is emitted at once.
fn uncompressed() -> StreamConfig {
    let mut config = StreamConfig::default();
    config.compression.enabled = false;
    config
}

fn tubing(snapshot: &flowline_catalog::Snapshot) -> TagId {
    tag(snapshot, &format!("{ESP_WELL}/tubing-pressure"))
}

#[test]
fn unknown_tags_are_refused_with_their_position_and_the_rest_is_processed() {
    let snapshot = demo_snapshot();
    let known = tubing(&snapshot);
    let batch = vec![
        reading(known, 0, 25.0),
        reading(TagId(999_999), 0, 1.0),
        reading(known, 1, 25.5),
    ];
    let run = process_all(uncompressed(), &snapshot, &batch);
    assert_eq!(run.rejected.len(), 1);
    let rejected = &run.rejected[0];
    assert_eq!(rejected.index, 1);
    assert_eq!(rejected.sample, batch[1]);
    assert_eq!(
        rejected.reason.to_string(),
        "tag 999999 is not in the catalog (version 1)"
    );
    assert_eq!(run.processed.len(), 2);
    assert_eq!(run.counts.rejected_total(), 1);
}

#[test]
fn a_good_quality_nan_is_refused_and_a_bad_quality_one_is_kept_as_a_gap() {
    let snapshot = demo_snapshot();
    let id = tubing(&snapshot);
    let batch = vec![
        reading(id, 0, f64::NAN),
        gap(id, 1),
        reading(id, 2, f64::INFINITY),
        Sample::new(id, at(3), Value::String("fault".into())),
        reading(id, 4, 25.0),
    ];
    let run = process_all(uncompressed(), &snapshot, &batch);
    let reasons: Vec<&str> = run.rejected.iter().map(|r| r.reason.label()).collect();
    assert_eq!(reasons, ["not-finite", "not-finite", "type-mismatch"]);
    let kept: Vec<(Timestamp, bool)> = run
        .processed
        .iter()
        .map(|processed| (processed.sample.time, processed.sample.value.is_missing()))
        .collect();
    assert_eq!(kept, [(at(1), true), (at(4), false)]);
    assert_eq!(
        run.processed[0].sample.quality,
        Quality::BAD_NO_COMMUNICATION
    );
}

#[test]
fn a_clock_jump_into_the_future_is_refused_and_later_samples_are_not_late() {
    let snapshot = demo_snapshot();
    let id = tubing(&snapshot);
    let mut jumped = reading(id, 3_600, 25.0);
    jumped.received = at(0);
    let batch = vec![reading(id, 0, 25.0), jumped, reading(id, 1, 25.0)];
    let run = process_all(uncompressed(), &snapshot, &batch);
    assert_eq!(run.rejected.len(), 1);
    assert_eq!(run.rejected[0].reason.label(), "from-the-future");
    assert_eq!(run.processed.len(), 2);
    assert_eq!(run.counts.late, 0);
}

#[test]
fn a_device_clock_running_ahead_does_not_make_other_devices_late() {
    let snapshot = demo_snapshot();
    let ahead = tubing(&snapshot);
    let other = tag(&snapshot, "north/pad-2/w-05/tubing-pressure");
    // Two minutes ahead: within the five the limit allows, beyond the 30 s
    // of lateness.
    let mut early = reading(ahead, 120, 25.0);
    early.received = at(0);
    let batch = vec![early, reading(other, 0, 30.0)];
    let run = process_all(uncompressed(), &snapshot, &batch);
    assert!(run.rejected.is_empty());
    assert_eq!(run.counts.late, 0);
    assert!(
        run.processed
            .iter()
            .all(|processed| !processed.sample.flags.contains(DataQualityFlags::LATE))
    );
}

#[test]
fn samples_behind_the_watermark_are_flagged_late_and_kept() {
    let snapshot = demo_snapshot();
    let id = tubing(&snapshot);
    let other = tag(&snapshot, "north/pad-2/w-05/tubing-pressure");
    let batch = vec![
        reading(other, 100, 30.0),
        reading(id, 60, 25.0),
        reading(id, 75, 25.0),
    ];
    let run = process_all(uncompressed(), &snapshot, &batch);
    let late: Vec<(Timestamp, bool)> = run
        .processed
        .iter()
        .map(|processed| {
            let late = processed.sample.flags.contains(DataQualityFlags::LATE);
            (processed.sample.time, late)
        })
        .collect();
    assert_eq!(late, [(at(100), false), (at(60), true), (at(75), false)]);
    assert_eq!(run.counts.late, 1);
}

#[test]
fn duplicates_are_dropped_and_counted_and_the_first_one_wins() {
    let snapshot = demo_snapshot();
    let id = tubing(&snapshot);
    let batch = vec![
        reading(id, 0, 25.0),
        reading(id, 0, 26.0),
        reading(id, 1, 25.5),
    ];
    let run = process_all(uncompressed(), &snapshot, &batch);
    assert_eq!(run.counts.duplicates, 1);
    let values: Vec<Value> = run
        .processed
        .iter()
        .map(|processed| processed.sample.value.clone())
        .collect();
    assert_eq!(values, [Value::Float(25.0), Value::Float(25.5)]);
}

#[test]
fn out_of_order_samples_are_emitted_once_and_leave_the_tag_undisturbed() {
    let snapshot = demo_snapshot();
    let id = tubing(&snapshot);
    // 300 bar two seconds back would be far too fast a change if it were
    // taken as the tag's latest value.
    let in_order = vec![
        reading(id, 0, 25.0),
        reading(id, 10, 25.5),
        reading(id, 11, 26.0),
    ];
    let mut shuffled = in_order.clone();
    shuffled.insert(2, reading(id, 8, 300.0));
    let run = process_all(StreamConfig::default(), &snapshot, &shuffled);
    let flags_of = |second: i64| {
        run.processed
            .iter()
            .find(|processed| processed.sample.time == at(second))
            .map(|processed| processed.sample.flags)
    };
    assert_eq!(run.counts.out_of_order, 1);
    assert_eq!(flags_of(8), Some(DataQualityFlags::empty()));
    let calm = process_all(StreamConfig::default(), &snapshot, &in_order);
    let calm_flags: Vec<_> = calm.processed.iter().map(|p| p.sample.flags).collect();
    let flags: Vec<_> = run
        .processed
        .iter()
        .filter(|processed| processed.sample.time != at(8))
        .map(|processed| processed.sample.flags)
        .collect();
    assert_eq!(flags, calm_flags, "the tag's own checks did not see it");
}

#[test]
fn a_tag_read_in_psi_is_stored_in_bar_and_flagged_converted() {
    let path = format!("{ESP_WELL}/tubing-pressure");
    let snapshot = demo_snapshot_with_attribute(&path, "source_unit", "psi");
    let batch = [reading(tag(&snapshot, &path), 0, 362.6)];
    let run = process_all(uncompressed(), &snapshot, &batch);
    let processed = &run.processed[0];
    let bar = processed.sample.value.as_f64().unwrap();
    assert!((bar - 25.0).abs() < 1e-3, "{bar}");
    let flags = processed.sample.flags;
    assert!(flags.contains(DataQualityFlags::UNIT_CONVERTED), "{flags}");
    assert_eq!(processed.score, 1.0, "an exact conversion costs no trust");
}

#[test]
fn a_source_unit_that_cannot_convert_sends_the_samples_to_the_dead_letter_queue() {
    let path = format!("{ESP_WELL}/tubing-pressure");
    let snapshot = demo_snapshot_with_attribute(&path, "source_unit", "degC");
    let batch = [reading(tag(&snapshot, &path), 0, 1.0)];
    let run = process_all(uncompressed(), &snapshot, &batch);
    assert!(run.processed.is_empty());
    let reason = run.rejected[0].reason.to_string();
    let expected = "attribute `source_unit` `degC`: cannot convert °C to bar";
    assert!(reason.contains(expected), "{reason}");
}

/// One step of the input of the property below: what the next sample
/// is, relative to what its tag sent before.
#[derive(Clone, Debug)]
enum Step {
    /// A good reading some seconds after the tag's newest.
    Next {
        tag: usize,
        after_s: i64,
        centibar: i32,
    },
    /// A gap some seconds after the tag's newest.
    Gap { tag: usize, after_s: i64 },
    /// One of the tag's last four accepted samples again: a duplicate.
    Repeat { tag: usize, back: usize },
    /// A reading a few seconds before the tag's newest: out of order, or
    /// a duplicate when the tag had a sample then.
    Earlier {
        tag: usize,
        back_s: i64,
        centibar: i32,
    },
    /// Not a number, with a good quality.
    NotFinite { tag: usize },
    /// A tag the catalog does not know.
    Unknown,
    /// A time an hour after its receive time.
    FromTheFuture { tag: usize },
}

fn step() -> impl Strategy<Value = Step> {
    let tag = 0..4usize;
    let centibar = 0..35_000i32;
    prop_oneof![
        8 => (tag.clone(), 1..5i64, centibar.clone())
            .prop_map(|(tag, after_s, centibar)| Step::Next { tag, after_s, centibar }),
        1 => (tag.clone(), 1..5i64).prop_map(|(tag, after_s)| Step::Gap { tag, after_s }),
        2 => (tag.clone(), 0..4usize).prop_map(|(tag, back)| Step::Repeat { tag, back }),
        2 => (tag.clone(), 1..4i64, centibar)
            .prop_map(|(tag, back_s, centibar)| Step::Earlier { tag, back_s, centibar }),
        1 => tag.clone().prop_map(|tag| Step::NotFinite { tag }),
        1 => Just(Step::Unknown),
        1 => tag.prop_map(|tag| Step::FromTheFuture { tag }),
    ]
}

/// Turns steps into samples, and lists the valid ones (known tag, a value
/// or an honest gap, a time new for its tag) by tag and time.
fn samples_of(steps: &[Step], tags: &[TagId]) -> (Vec<Sample>, Vec<(TagId, Timestamp)>) {
    // Each tag's accepted samples, in the order sent.
    let mut sent: Vec<Vec<Sample>> = vec![Vec::new(); tags.len()];
    let mut newest = vec![0i64; tags.len()];
    let mut valid = std::collections::BTreeSet::new();
    let mut batch = Vec::new();
    for step in steps {
        let (tag, sample) = match *step {
            Step::Next {
                tag,
                after_s,
                centibar,
            } => {
                newest[tag] += after_s;
                (
                    tag,
                    reading(tags[tag], newest[tag], f64::from(centibar) / 100.0),
                )
            }
            Step::Gap { tag, after_s } => {
                newest[tag] += after_s;
                (tag, gap(tags[tag], newest[tag]))
            }
            Step::Repeat { tag, back } => {
                let Some(again) = sent[tag].iter().rev().nth(back).cloned() else {
                    continue;
                };
                (tag, again)
            }
            Step::Earlier {
                tag,
                back_s,
                centibar,
            } => {
                let second = newest[tag] - back_s;
                (tag, reading(tags[tag], second, f64::from(centibar) / 100.0))
            }
            Step::NotFinite { tag } => {
                batch.push(reading(tags[tag], newest[tag] + 1, f64::NAN));
                continue;
            }
            Step::Unknown => {
                batch.push(reading(TagId(999_999), 0, 1.0));
                continue;
            }
            Step::FromTheFuture { tag } => {
                let mut sample = reading(tags[tag], newest[tag] + 3_600, 1.0);
                sample.received = at(newest[tag]);
                batch.push(sample);
                continue;
            }
        };
        if valid.insert((sample.tag, sample.time)) {
            sent[tag].push(sample.clone());
        }
        batch.push(sample);
    }
    (batch, valid.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever garbage, repeats and reordering are mixed in, every valid
    /// sample comes out exactly once, and every sample is counted once.
    #[test]
    fn nothing_valid_is_lost_and_nothing_is_doubled(steps in proptest::collection::vec(step(), 1..400)) {
        let snapshot = demo_snapshot();
        let tags: Vec<TagId> = ["tubing-pressure", "casing-pressure", "oil-rate", "esp/intake-pressure"]
            .iter()
            .map(|name| tag(&snapshot, &format!("{ESP_WELL}/{name}")))
            .collect();
        let (batch, valid) = samples_of(&steps, &tags);
        let run = process_all(uncompressed(), &snapshot, &batch);

        let mut emitted: Vec<(TagId, Timestamp)> = run
            .processed
            .iter()
            .map(|processed| (processed.sample.tag, processed.sample.time))
            .collect();
        emitted.sort();
        prop_assert_eq!(emitted, valid);
        let counts = &run.counts;
        prop_assert_eq!(
            counts.accepted + counts.duplicates + counts.rejected_total(),
            batch.len() as u64
        );
        prop_assert_eq!(counts.accepted, run.processed.len() as u64);
    }
}
