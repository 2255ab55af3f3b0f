//! Noise reduction's promise: the archived points, joined by straight
//! lines, reproduce every sample within twice the deadband plus the
//! compression deviation, and only real samples are archived.

use flowline_catalog::{Limits, Snapshot};
use flowline_core::{TagId, Timestamp};
use flowline_stream::{ProcessedSample, StreamConfig};
use proptest::prelude::*;

use crate::field::{ESP_WELL, at, demo_snapshot_with, gap, process_all, reading, tag};

/// The tubing pressure of the ESP well with `deadband` and, if given, a
/// `compression_deviation`, and a valid range wide enough that no value is
/// flagged.
fn catalog(deadband: f64, deviation: Option<f64>) -> (Snapshot, TagId) {
    let path = format!("{ESP_WELL}/tubing-pressure");
    let snapshot = demo_snapshot_with(&path, |spec| {
        spec.deadband = Some(deadband);
        spec.valid_range = Limits::new(-1e6, 1e6);
        spec.max_change_per_s = None;
        if let Some(deviation) = deviation {
            spec.attributes
                .insert("compression_deviation".to_owned(), deviation.to_string());
        }
    });
    let id = tag(&snapshot, &path);
    (snapshot, id)
}

/// A sensor's readings: `(second, value)` with two decimals.
fn walk() -> impl Strategy<Value = Vec<(i64, f64)>> {
    let step = (
        1..20i64,
        -500..=500i32,
        0..4u8,
        prop_oneof![Just(1), Just(10), Just(100)],
    );
    proptest::collection::vec(step, 2..400).prop_map(|steps| {
        let mut second = 0;
        let mut centi = 10_000i64;
        steps
            .into_iter()
            .map(|(gap_s, change, flat, scale)| {
                // Mostly a second apart, now and then a pause; a quarter
                // of the readings repeat the previous value.
                second += if gap_s < 17 { 1 } else { gap_s * 10 };
                if flat != 0 {
                    centi += i64::from(change) * scale / 100;
                }
                (second, centi as f64 / 100.0)
            })
            .collect()
    })
}

/// The value at `time` on the straight line between the archived points
/// around it.
fn interpolate(archived: &[(Timestamp, f64)], time: Timestamp) -> f64 {
    let after = archived.partition_point(|(at, _)| *at < time);
    let (t1, v1) = archived[after];
    if t1 == time {
        return v1;
    }
    let (t0, v0) = archived[after - 1];
    let share = time.micros_since(t0) as f64 / t1.micros_since(t0) as f64;
    v0 + (v1 - v0) * share
}

/// Processes `readings` and a closing gap, returning the tag's archived
/// points.
fn archive(snapshot: &Snapshot, id: TagId, readings: &[(i64, f64)]) -> Vec<ProcessedSample> {
    let mut batch: Vec<_> = readings
        .iter()
        .map(|(second, value)| reading(id, *second, *value))
        .collect();
    let last = readings.last().unwrap().0;
    batch.push(gap(id, last + 1));
    process_all(StreamConfig::default(), snapshot, &batch).processed
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn archived_points_reproduce_every_sample_within_twice_the_deadband_plus_the_deviation(
        readings in walk(),
        deadband in prop_oneof![Just(0.0), Just(0.05), Just(0.5)],
        deviation in prop_oneof![Just(None), Just(Some(0.0)), Just(Some(0.1)), Just(Some(2.0))],
    ) {
        let (snapshot, id) = catalog(deadband, deviation);
        let processed = archive(&snapshot, id, &readings);
        let archived: Vec<(Timestamp, f64)> = processed
            .iter()
            .filter_map(|p| p.sample.value.as_f64().filter(|v| v.is_finite()).map(|v| (p.sample.time, v)))
            .collect();

        // Only real samples, in time order.
        for pair in archived.windows(2) {
            prop_assert!(pair[0].0 < pair[1].0);
        }
        for (time, value) in &archived {
            prop_assert!(readings.iter().any(|(second, v)| at(*second) == *time && v == value));
        }
        let bound = 2.0 * deadband + deviation.unwrap_or(deadband);
        for (second, value) in &readings {
            let line = interpolate(&archived, at(*second));
            let miss = (value - line).abs();
            prop_assert!(
                miss <= bound + 1e-9 * value.abs().max(1.0),
                "at {}: {} vs {} on the line (bound {})", second, value, line, bound
            );
        }
    }
}

#[test]
fn a_steady_noisy_reading_keeps_a_handful_of_points_and_every_exception() {
    // Half a bar of noise around 25 bar for an hour, the deviation 1 bar.
    let (snapshot, id) = catalog(0.1, Some(1.0));
    let readings: Vec<(i64, f64)> = (0..3_600)
        .map(|second| {
            let wobble = ((second * 7_919) % 101) as f64 / 100.0 - 0.5;
            (second, (2_500.0 + 100.0 * wobble * 0.5).round() / 100.0)
        })
        .collect();
    let processed = archive(&snapshot, id, &readings);
    let points = processed.len();
    assert!(points < 100, "{points} points kept of 3,600");
    // The default longest interval is ten minutes.
    let times: Vec<Timestamp> = processed.iter().map(|p| p.sample.time).collect();
    for pair in times.windows(2) {
        assert!(pair[1].micros_since(pair[0]) <= 600_000_000, "{times:?}");
    }
    let closing = processed.last().unwrap();
    assert!(
        closing.sample.value.is_missing(),
        "the quality change passes"
    );
}
