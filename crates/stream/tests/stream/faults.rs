//! The user-level test: the field simulator, stepped second by second,
//! feeds the pipeline with the demo patterns. Each fault must raise the
//! patterns an engineer would expect on its well and nothing elsewhere; a
//! healthy field must raise nothing and come out unflagged.

use flowline_core::{DataQualityFlags, Quality, Value};
use flowline_stream::{Pipeline, StreamConfig};

use crate::field::{ESP_WELL, Field, NATURAL_WELL, Run, at, demo_config, simulate, tag};

/// Minutes of healthy running before a fault.
const SETTLE_S: i64 = 300;

/// Runs the demo field for `seconds` through a pipeline with `config`;
/// `before_step` runs before each step with the seconds elapsed.
fn run_demo_with(
    config: StreamConfig,
    seconds: i64,
    before_step: impl FnMut(&mut Field, i64),
) -> (Field, Run) {
    let mut field = Field::demo();
    let mut pipeline = Pipeline::new(config).unwrap();
    let mut run = Run::default();
    simulate(&mut field, &mut pipeline, seconds, &mut run, before_step);
    (field, run)
}

/// [`run_demo_with`] the demo patterns and otherwise default settings.
fn run_demo(seconds: i64, before_step: impl FnMut(&mut Field, i64)) -> (Field, Run) {
    run_demo_with(demo_config(), seconds, before_step)
}

/// Runs the demo field for `seconds`, injecting `fault` (schedule syntax)
/// after [`SETTLE_S`].
fn run_with_fault(fault: &str, seconds: i64) -> (Field, Run) {
    run_demo(seconds, |field, elapsed| {
        if elapsed == SETTLE_S {
            field.inject(fault);
        }
    })
}

/// Asserts that `run` matched exactly the patterns `expected` (each at
/// least once) on `well`, and nothing on any other well.
fn assert_only(run: &Run, field: &Field, well: &str, expected: &[&str]) {
    let mut matched = run.patterns_on(&field.snapshot, well);
    matched.sort();
    matched.dedup();
    assert_eq!(matched, expected, "on {well}");
    let elsewhere = run.elsewhere(&field.snapshot, well);
    assert!(elsewhere.is_empty(), "{elsewhere:?}");
}

#[test]
fn a_healthy_field_raises_nothing_and_its_readings_come_out_unflagged() {
    let (field, run) = run_demo(3_600, |_, _| {});

    assert!(run.events.is_empty(), "{:?}", run.events);
    assert_eq!(run.counts.rejected_total(), 0);
    assert_eq!(
        run.counts.accepted,
        3_600 * field.snapshot.tags().len() as u64
    );
    for flag in [
        DataQualityFlags::OUT_OF_RANGE,
        DataQualityFlags::RATE_OF_CHANGE,
        DataQualityFlags::SPIKE,
        DataQualityFlags::STUCK,
        DataQualityFlags::LATE,
        DataQualityFlags::GAP,
    ] {
        assert_eq!(run.counts.with_flag(flag), 0, "{flag}");
    }
    // Compression keeps a fraction of a noisy field; every tag keeps at
    // least one point per ten minutes.
    assert!(
        run.counts.archived < run.counts.accepted,
        "{:?}",
        run.counts
    );
    for entry in field.snapshot.tags() {
        let points = run.of(entry.tag.id).len();
        assert!(points >= 6, "{}: {points} points", entry.tag.spec.path);
    }
}

#[test]
fn a_gas_locked_esp_raises_underload_gas_lock_and_lost_prime_on_its_well_only() {
    let (field, run) = run_with_fault(&format!("{ESP_WELL}:gas-lock"), 1_200);
    assert_only(
        &run,
        &field,
        ESP_WELL,
        &["esp-gas-lock", "esp-lost-prime", "esp-underload"],
    );
    assert!(run.events.iter().all(|event| event.time > at(SETTLE_S)));
}

#[test]
fn a_broken_esp_shaft_raises_underload_broken_shaft_and_lost_prime_on_its_well_only() {
    let (field, run) = run_with_fault(&format!("{ESP_WELL}:broken-shaft"), 900);
    assert_only(
        &run,
        &field,
        ESP_WELL,
        &["esp-broken-shaft", "esp-lost-prime", "esp-underload"],
    );

    // The evidence shows the underloaded current over the whole run.
    let underload = run
        .events
        .iter()
        .find(|event| &*event.pattern == "esp-underload")
        .unwrap();
    let current = tag(&field.snapshot, &format!("{ESP_WELL}/esp/motor-current"));
    let readings: Vec<f64> = underload
        .evidence
        .iter()
        .filter(|evidence| evidence.tag == current)
        .map(|evidence| evidence.value)
        .collect();
    assert_eq!(
        readings.len(),
        2,
        "at the start of the run and at the match"
    );
    assert!(
        readings.iter().all(|amperes| *amperes < 25.0),
        "{readings:?}"
    );
    let began = underload.evidence[0].time;
    assert!(
        underload.time.micros_since(began) >= 120_000_000,
        "the run lasted two minutes"
    );
}

#[test]
fn a_tubing_leak_raises_the_tubing_leak_pattern_and_nothing_else() {
    let (field, run) = run_with_fault(&format!("{ESP_WELL}:tubing-leak"), 2_700);
    assert_only(&run, &field, ESP_WELL, &["tubing-leak"]);
}

#[test]
fn hydrates_in_a_flowing_well_raise_the_blockage_pattern_and_nothing_else() {
    let (field, run) = run_with_fault(&format!("{NATURAL_WELL}:hydrate-blockage"), 1_800);
    assert_only(&run, &field, NATURAL_WELL, &["hydrate-blockage"]);
}

#[test]
fn a_silent_motor_current_raises_the_absence_pattern_two_minutes_after_it_falls_silent() {
    let current = format!("{ESP_WELL}/esp/motor-current");
    let (field, run) = run_with_fault(&format!("{current}:dropout"), 600);
    assert_only(&run, &field, ESP_WELL, &["esp-current-silent"]);
    // The last usable reading was at the settling time; two minutes later
    // the silence matches, to the second.
    let event = &run.events[0];
    assert_eq!(event.time, at(SETTLE_S + 120));
    assert_eq!(event.evidence[0].time, at(SETTLE_S));
}

#[test]
fn a_dropped_out_sensor_is_kept_as_an_honest_gap_of_two_archived_points() {
    let current = format!("{ESP_WELL}/esp/motor-current");
    let (field, run) = run_demo(400, |field, elapsed| {
        if elapsed == 100 {
            field.inject(&format!("{current}:dropout+200s"));
        }
    });
    let id = tag(&field.snapshot, &current);
    let gaps: Vec<_> = run
        .of(id)
        .into_iter()
        .filter(|processed| processed.sample.value.is_missing())
        .collect();
    assert_eq!(gaps.len(), 2, "the gap's first and last samples");
    for gap in &gaps {
        assert_eq!(gap.sample.quality, Quality::BAD_NO_COMMUNICATION);
        assert!(gap.sample.flags.contains(DataQualityFlags::SOURCE_BAD));
        assert_eq!(gap.score, 0.0);
    }
    assert_eq!(gaps[0].sample.time, at(101));
    assert_eq!(gaps[1].sample.time, at(299));
    let after = run
        .of(id)
        .into_iter()
        .find(|processed| processed.sample.time > at(299));
    assert!(
        after.is_some_and(|processed| processed.sample.value.as_f64().is_some_and(f64::is_finite))
    );
}

#[test]
fn restarting_an_esp_within_ten_minutes_raises_the_backspin_pattern_and_later_does_not() {
    let run_command = format!("{ESP_WELL}/esp/run");
    let cases: [(i64, &[&str]); 2] = [(180, &["esp-restart-in-backspin"]), (900, &[])];
    for (restart_after_s, expected) in cases {
        let (field, run) = run_demo(1_300, |field, elapsed| {
            if elapsed == SETTLE_S {
                field.write(&run_command, Value::Boolean(false));
            }
            if elapsed == SETTLE_S + restart_after_s {
                field.write(&run_command, Value::Boolean(true));
            }
        });
        assert_only(&run, &field, ESP_WELL, expected);
    }
}

#[test]
fn a_stuck_sensor_is_flagged_once_it_has_repeated_itself_for_the_window() {
    let path = format!("{ESP_WELL}/tubing-pressure");
    let (field, run) = run_with_fault(&format!("{path}:stuck"), SETTLE_S + 900);
    let id = tag(&field.snapshot, &path);
    let stuck: Vec<_> = run
        .of(id)
        .into_iter()
        .filter(|processed| processed.sample.flags.contains(DataQualityFlags::STUCK))
        .collect();
    // The sensor repeats what it read when the fault began; flagged ten
    // minutes later.
    let first = stuck.first().expect("flagged stuck");
    let frozen_since = SETTLE_S;
    assert!(
        first.sample.time >= at(frozen_since + 600),
        "{}",
        first.sample.time
    );
    assert!(
        first.sample.time <= at(frozen_since + 602),
        "{}",
        first.sample.time
    );
    assert!(first.score < 0.5);
    assert!(run.events.is_empty(), "{:?}", run.events);
}

#[test]
fn a_spiking_sensor_has_its_spikes_flagged_and_its_ordinary_readings_left_alone() {
    let path = format!("{ESP_WELL}/tubing-pressure");
    let mut config = demo_config();
    config.compression.enabled = false;
    let (field, run) = run_demo_with(config, 1_200, |field, elapsed| {
        if elapsed == SETTLE_S {
            field.inject(&format!("{path}:spikes"));
        }
    });
    let id = tag(&field.snapshot, &path);
    let readings = run.of(id);
    let value = |index: usize| readings[index].sample.value.as_f64().unwrap();
    // How far a reading lies from the median of the three before and the
    // three after it: the tag's level there.
    let excursion = |index: usize| {
        let mut around: Vec<f64> = (index.saturating_sub(3)..(index + 4).min(readings.len()))
            .filter(|other| *other != index)
            .map(value)
            .collect();
        around.sort_by(f64::total_cmp);
        (value(index) - around[around.len() / 2]).abs()
    };
    // An isolated spike: more than 30 bar from both neighbours, which
    // agree with each other (the valid span is 350 bar; spikes are a tenth
    // to a third of it).
    let mut isolated = 0;
    for (index, reading) in readings.iter().enumerate().take(readings.len() - 1).skip(1) {
        let before = value(index - 1);
        let after = value(index + 1);
        let spike = (value(index) - before).abs() > 30.0
            && (value(index) - after).abs() > 30.0
            && (after - before).abs() < 10.0;
        let flagged = reading.sample.flags.contains(DataQualityFlags::SPIKE);
        if spike {
            isolated += 1;
            assert!(flagged, "missed the spike at {}", reading.sample.time);
        }
        if flagged {
            let off = excursion(index);
            assert!(off > 17.5, "flagged a reading {off} bar from its level");
        }
    }
    assert!(isolated >= 30, "{isolated} isolated spikes");
    assert!(run.events.is_empty(), "{:?}", run.events);
}
