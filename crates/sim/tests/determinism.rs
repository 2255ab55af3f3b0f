//! The simulator is deterministic: the same seed and the same step times
//! give the same values, bit for bit, so tests can rely on it.

use flowline_catalog::{DemoLayout, demo_field};
use flowline_core::{Timestamp, Value};
use flowline_sim::{FieldModel, parse_schedule};

/// 2026-01-01T00:00:00Z.
const START_S: i64 = 1_767_225_600;

/// Every tag's value bits and quality after a run with `seed`: irregular
/// steps, faults that draw random numbers, and a setpoint write midway.
fn run(seed: u64) -> Vec<(u64, u32)> {
    let start = Timestamp::from_seconds(START_S);
    let mut model = FieldModel::new(&demo_field(DemoLayout::default()), seed, start).unwrap();
    let schedule = "north/pad-1/w-01:gas-lock@30s, north/pad-2/w-05/esp/vibration:spikes, \
                    north/pad-1/w-04/tubing-pressure:drift@10s+100s";
    for spec in parse_schedule(schedule).unwrap() {
        model.inject(&spec, start).unwrap();
    }
    let mut now = start;
    for step in 0..400_i64 {
        now = now.saturating_add_micros(250_000 + (step % 7) * 300_000);
        model.step(now);
        if step == 200 {
            let setpoint = "north/pad-2/w-06/gas-lift/rate-setpoint";
            model.write(setpoint, &Value::Float(80_000.0)).unwrap();
        }
    }
    model
        .tags()
        .map(|(index, _)| {
            let (value, quality) = model.value_at(index);
            (value.to_bits(), quality.bits())
        })
        .collect()
}

#[test]
fn the_same_seed_and_step_times_give_identical_values() {
    assert_eq!(run(42), run(42));
}

#[test]
fn a_different_seed_gives_a_different_field() {
    let (first, second) = (run(42), run(43));
    let differing = first.iter().zip(&second).filter(|(a, b)| a != b).count();
    assert!(
        differing > first.len() / 2,
        "{differing} of {} differ",
        first.len()
    );
}

#[test]
fn stepping_to_a_time_already_passed_changes_nothing() {
    let start = Timestamp::from_seconds(START_S);
    let mut model = FieldModel::new(&demo_field(DemoLayout::default()), 1, start).unwrap();
    model.step(start.saturating_add_micros(5_000_000));
    let path = "north/pad-1/w-01/oil-rate";
    let before = model.reading(path);
    model.step(start.saturating_add_micros(5_000_000));
    model.step(start);
    assert_eq!(model.reading(path), before);
    assert_eq!(model.steps(), 1);
}
