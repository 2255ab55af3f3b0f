//! Hand-made patterns over hand-made readings of one well: each kind of
//! rule matches when it should, once, with its evidence, and not when it
//! should not.

use flowline_catalog::Snapshot;
use flowline_core::{AssetId, Sample, TagId, Value};
use flowline_stream::{EvidenceRole, Output, Pipeline, StreamConfig};

use crate::field::{
    ESP_WELL, Run, at, demo_snapshot, demo_snapshot_with_attribute, gap, reading, tag,
};

/// A pipeline watching the one pattern written in `toml` (a
/// `[[cep.patterns]]` table).
fn pipeline(toml: &str) -> Pipeline {
    let config: StreamConfig = toml::from_str(toml).unwrap();
    Pipeline::new(config).unwrap()
}

/// The id of the tag `name` below the ESP well.
fn esp_tag(snapshot: &Snapshot, name: &str) -> TagId {
    tag(snapshot, &format!("{ESP_WELL}/{name}"))
}

/// Feeds one batch per second: each tag's reading at that second.
fn feed(
    pipeline: &mut Pipeline,
    snapshot: &Snapshot,
    seconds: std::ops::Range<i64>,
    readings: impl Fn(i64) -> Vec<Sample>,
) -> Run {
    let mut run = Run::default();
    let mut output = Output::default();
    for second in seconds {
        pipeline.process(snapshot, &readings(second), &mut output);
        run.take(&mut output);
    }
    run
}

const LEAK: &str = r#"
    [[cep.patterns]]
    id = "tubing-leak"
    [cep.patterns.rule]
    kind = "change"
    within_s = 300
    changes = [
        { tag = "casing-pressure", rises_by_percent = 10 },
        { tag = "oil-rate", falls_by_percent = 20 },
    ]
"#;

/// Casing pressure at 20 bar, then rising by `rise` bar over
/// `ramp_s` seconds from second 600.
fn ramp(second: i64, from: f64, change: f64, ramp_s: i64) -> f64 {
    let done = ((second - 600).clamp(0, ramp_s)) as f64 / ramp_s as f64;
    from + change * done
}

#[test]
fn casing_pressure_rising_ten_percent_in_five_minutes_while_flow_falls_twenty_matches_once() {
    let snapshot = demo_snapshot();
    let casing = esp_tag(&snapshot, "casing-pressure");
    let oil = esp_tag(&snapshot, "oil-rate");
    let casing_at = |second| ramp(second, 20.0, 3.0, 240);
    let oil_at = |second| ramp(second, 100.0, -25.0, 240);
    let mut pipeline = pipeline(LEAK);
    let run = feed(&mut pipeline, &snapshot, 0..1_800, |second| {
        vec![
            reading(casing, second, casing_at(second)),
            reading(oil, second, oil_at(second)),
        ]
    });

    assert_eq!(run.events.len(), 1, "{:?}", run.events);
    let event = &run.events[0];
    let first_match = (0..)
        .find(|second| casing_at(*second) > 22.0 && oil_at(*second) < 80.0)
        .unwrap();
    assert_eq!(event.time, at(first_match));
    assert_eq!(event.well, snapshot.tag(casing).unwrap().well.unwrap());
    let shown: Vec<(EvidenceRole, &str, f64)> = event
        .evidence
        .iter()
        .map(|evidence| (evidence.role, &*evidence.name, evidence.value))
        .collect();
    assert_eq!(
        shown,
        [
            (EvidenceRole::Base, "casing-pressure", 20.0),
            (EvidenceRole::Now, "casing-pressure", casing_at(first_match)),
            (EvidenceRole::Base, "oil-rate", 100.0),
            (EvidenceRole::Now, "oil-rate", oil_at(first_match)),
        ]
    );
}

#[test]
fn a_rise_without_the_fall_or_one_slower_than_the_window_does_not_match() {
    let snapshot = demo_snapshot();
    let casing = esp_tag(&snapshot, "casing-pressure");
    let oil = esp_tag(&snapshot, "oil-rate");
    let cases = [
        ("rise alone", 240, -10.0),
        ("both, over twenty minutes", 1_200, -25.0),
    ];
    for (case, ramp_s, oil_change) in cases {
        let mut pipeline = pipeline(LEAK);
        let run = feed(&mut pipeline, &snapshot, 0..2_400, |second| {
            vec![
                reading(casing, second, ramp(second, 20.0, 3.0, ramp_s)),
                reading(oil, second, ramp(second, 100.0, oil_change, ramp_s)),
            ]
        });
        assert!(run.events.is_empty(), "{case}: {:?}", run.events);
    }
}

const UNDERLOAD: &str = r#"
    [[cep.patterns]]
    id = "esp-underload"
    severity = "critical"
    [cep.patterns.rule]
    kind = "threshold"
    for_s = 120
    conditions = [
        { tag = "esp/motor-current", below = 25.0 },
        { tag = "esp/frequency", above = 40.0 },
    ]
"#;

/// Drive at 50 Hz; the current each second from `current`, or a gap.
fn esp_run(current: impl Fn(i64) -> Option<f64>, seconds: i64) -> (Snapshot, Run) {
    let snapshot = demo_snapshot();
    let amperes = esp_tag(&snapshot, "esp/motor-current");
    let hertz = esp_tag(&snapshot, "esp/frequency");
    let mut pipeline = pipeline(UNDERLOAD);
    let run = feed(&mut pipeline, &snapshot, 0..seconds, |second| {
        let current = match current(second) {
            Some(value) => reading(amperes, second, value),
            None => gap(amperes, second),
        };
        vec![reading(hertz, second, 50.0), current]
    });
    (snapshot, run)
}

#[test]
fn current_below_the_threshold_for_two_minutes_while_the_drive_runs_matches_at_two_minutes() {
    // Underloaded from 300 to 600 s and again from 700 s.
    let underloaded = |second: i64| (300..600).contains(&second) || second >= 700;
    // 26 A to 20 A is too small a jump to be taken for a spike.
    let (snapshot, run) = esp_run(
        |second| Some(if underloaded(second) { 20.0 } else { 26.0 }),
        1_000,
    );
    let times: Vec<_> = run.events.iter().map(|event| event.time).collect();
    assert_eq!(times, [at(420), at(820)], "once per run, two minutes in");
    let event = &run.events[0];
    assert_eq!(event.pattern.as_ref(), "esp-underload");
    let current = esp_tag(&snapshot, "esp/motor-current");
    let started: Vec<_> = event
        .evidence
        .iter()
        .filter(|evidence| evidence.role == EvidenceRole::Start && evidence.tag == current)
        .map(|evidence| (evidence.time, evidence.value))
        .collect();
    assert_eq!(started, [(at(300), 20.0)]);
}

#[test]
fn a_reading_above_the_threshold_or_without_a_value_restarts_the_run() {
    for (case, interruption) in [("a reading of 30 A", Some(30.0)), ("a gap", None)] {
        let (_, run) = esp_run(
            |second| match second {
                0..300 => Some(40.0),
                400 => interruption,
                _ => Some(20.0),
            },
            700,
        );
        let times: Vec<_> = run.events.iter().map(|event| event.time).collect();
        assert_eq!(times, [at(521)], "{case}");
    }
}

const BACKSPIN: &str = r#"
    [[cep.patterns]]
    id = "esp-restart-in-backspin"
    [cep.patterns.rule]
    kind = "sequence"
    within_s = 600
    first = [{ tag = "esp/running", below = 0.5 }]
    then = [{ tag = "esp/running", above = 0.5 }]
"#;

#[test]
fn a_stop_then_a_start_within_the_window_matches_and_a_later_start_does_not() {
    let snapshot = demo_snapshot();
    let running = esp_tag(&snapshot, "esp/running");
    for (start_at, expected) in [(400, vec![at(400)]), (800, vec![])] {
        let mut pipeline = pipeline(BACKSPIN);
        let run = feed(&mut pipeline, &snapshot, 0..1_000, |second| {
            let on = !(100..start_at).contains(&second);
            vec![Sample::new(running, at(second), Value::Boolean(on))]
        });
        let times: Vec<_> = run.events.iter().map(|event| event.time).collect();
        assert_eq!(times, expected, "start at {start_at}");
        if let Some(event) = run.events.first() {
            let steps: Vec<_> = event
                .evidence
                .iter()
                .map(|evidence| (evidence.role, evidence.time, evidence.value))
                .collect();
            assert_eq!(
                steps,
                [
                    (EvidenceRole::First, at(100), 0.0),
                    (EvidenceRole::Then, at(400), 1.0)
                ]
            );
        }
    }
}

const SILENT: &str = r#"
    [[cep.patterns]]
    id = "esp-current-silent"
    [cep.patterns.rule]
    kind = "absence"
    for_s = 120
    tag = "esp/motor-current"
"#;

#[test]
fn a_silence_matches_when_it_reaches_its_length_on_wells_that_have_the_tag() {
    let snapshot = demo_snapshot();
    let current = esp_tag(&snapshot, "esp/motor-current");
    // A gas-lifted well: it has a casing pressure but no ESP.
    let other_well = tag(&snapshot, "north/pad-1/w-02/casing-pressure");
    let mut pipeline = pipeline(SILENT);
    let run = feed(&mut pipeline, &snapshot, 0..600, |second| {
        let mut batch = vec![reading(other_well, second, 30.0)];
        match second {
            0..100 => batch.push(reading(current, second, 40.0)),
            100..200 => batch.push(gap(current, second)),
            _ => {}
        }
        batch
    });
    assert_eq!(run.events.len(), 1, "{:?}", run.events);
    let event = &run.events[0];
    // The last usable reading was at 99 s; gaps do not count as readings.
    assert_eq!(event.time, at(99 + 120));
    assert_eq!(event.evidence[0].role, EvidenceRole::Last);
    assert_eq!(
        (event.evidence[0].time, event.evidence[0].value),
        (at(99), 40.0)
    );
    let well_of = |id: TagId| -> AssetId { snapshot.tag(id).unwrap().well.unwrap() };
    assert_eq!(event.well, well_of(current));
}

#[test]
fn thresholds_apply_in_the_catalog_unit_after_conversion() {
    let current_path = format!("{ESP_WELL}/esp/motor-current");
    let snapshot = demo_snapshot_with_attribute(&current_path, "source_unit", "mA");
    let amperes = esp_tag(&snapshot, "esp/motor-current");
    let hertz = esp_tag(&snapshot, "esp/frequency");
    let mut pipeline = pipeline(UNDERLOAD);
    // 20,000 mA is 20 A: below the 25 A threshold.
    let run = feed(&mut pipeline, &snapshot, 0..200, |second| {
        vec![
            reading(hertz, second, 50.0),
            reading(amperes, second, 20_000.0),
        ]
    });
    let times: Vec<_> = run.events.iter().map(|event| event.time).collect();
    assert_eq!(times, [at(120)]);
    let now = run.events[0]
        .evidence
        .iter()
        .find(|evidence| evidence.tag == amperes && evidence.role == EvidenceRole::Now)
        .unwrap();
    assert!((now.value - 20.0).abs() < 1e-9, "{}", now.value);
}
