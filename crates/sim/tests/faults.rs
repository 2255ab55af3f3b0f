//! Every fault leaves the signature an engineer would look for, starts and
//! ends on time, and is refused with a clear reason where it cannot apply.

use flowline_catalog::{DemoLayout, demo_field};
use flowline_core::{Quality, Timestamp, Value};
use flowline_sim::{FaultError, FaultKind, FaultSpec, FieldModel, SimConfig, SimError, Simulator};

/// 2026-01-01T00:00:00Z.
const START_S: i64 = 1_767_225_600;
const ESP_WELL: &str = "north/pad-1/w-01";
const ROD_PUMP_WELL: &str = "north/pad-1/w-03";
const NATURAL_WELL: &str = "north/pad-1/w-04";

fn start() -> Timestamp {
    Timestamp::from_seconds(START_S)
}

fn demo_model() -> FieldModel {
    FieldModel::new(&demo_field(DemoLayout::default()), 1, start()).unwrap()
}

fn advance(model: &mut FieldModel, seconds: i64, step_s: i64) {
    let end = model.now().saturating_add_micros(seconds * 1_000_000);
    while model.now() < end {
        let next = model.now().saturating_add_micros(step_s * 1_000_000);
        model.step(next.min(end));
    }
}

fn number(model: &FieldModel, path: &str) -> f64 {
    match model
        .reading(path)
        .unwrap_or_else(|| panic!("no tag {path}"))
        .value
    {
        Some(Value::Float(value)) => value,
        other => panic!("{path} reads {other:?}, not a number"),
    }
}

/// The mean of a tag over `seconds` one-second steps.
fn mean(model: &mut FieldModel, path: &str, seconds: i64) -> f64 {
    samples(model, path, seconds).iter().sum::<f64>() / seconds as f64
}

/// A tag read once a second for `seconds`.
fn samples(model: &mut FieldModel, path: &str, seconds: i64) -> Vec<f64> {
    (0..seconds)
        .map(|_| {
            advance(model, 1, 1);
            number(model, path)
        })
        .collect()
}

fn standard_deviation(values: &[f64]) -> f64 {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let variance = values
        .iter()
        .map(|value| (value - mean).powi(2))
        .sum::<f64>();
    (variance / values.len() as f64).sqrt()
}

/// Injects `text` (schedule syntax) from the model's present time.
fn inject(model: &mut FieldModel, text: &str) -> u64 {
    let spec: FaultSpec = text.parse().unwrap();
    let now = model.now();
    model.inject(&spec, now).unwrap().id
}

fn tag(well: &str, name: &str) -> String {
    format!("{well}/{name}")
}

#[test]
fn a_gas_locked_esp_loses_its_rate_its_current_falls_and_its_motor_heats() {
    let mut model = demo_model();
    let oil = mean(&mut model, &tag(ESP_WELL, "oil-rate"), 10);
    let current = mean(&mut model, &tag(ESP_WELL, "esp/motor-current"), 10);
    let motor = number(&model, &tag(ESP_WELL, "esp/motor-temperature"));
    let intake = mean(&mut model, &tag(ESP_WELL, "esp/intake-pressure"), 10);

    inject(&mut model, &format!("{ESP_WELL}:gas-lock"));
    advance(&mut model, 600, 1);

    assert!(mean(&mut model, &tag(ESP_WELL, "oil-rate"), 10) < oil * 0.4);
    let currents = samples(&mut model, &tag(ESP_WELL, "esp/motor-current"), 30);
    let locked_current = currents.iter().sum::<f64>() / 30.0;
    assert!(
        locked_current < current * 0.7,
        "{current} → {locked_current}"
    );
    assert!(
        standard_deviation(&currents) > 0.3,
        "a gas-locked pump's current flickers"
    );
    assert!(number(&model, &tag(ESP_WELL, "esp/motor-temperature")) > motor + 3.0);
    assert!(mean(&mut model, &tag(ESP_WELL, "esp/intake-pressure"), 10) > intake + 5.0);
}

#[test]
fn a_wearing_pump_lifts_less_and_vibrates_more_by_the_day() {
    let mut model = demo_model();
    let oil = mean(&mut model, &tag(ESP_WELL, "oil-rate"), 20);
    let vibration = mean(&mut model, &tag(ESP_WELL, "esp/vibration"), 20);
    inject(&mut model, &format!("{ESP_WELL}:pump-wear"));
    advance(&mut model, 86_400, 600);
    let worn_oil = mean(&mut model, &tag(ESP_WELL, "oil-rate"), 20);
    assert!(worn_oil < oil * 0.9, "{oil} → {worn_oil}");
    assert!(mean(&mut model, &tag(ESP_WELL, "esp/vibration"), 20) > vibration + 1.0);
}

#[test]
fn a_broken_esp_shaft_drops_the_current_to_no_load_and_the_rate_to_nothing() {
    let mut model = demo_model();
    let current = mean(&mut model, &tag(ESP_WELL, "esp/motor-current"), 10);
    inject(&mut model, &format!("{ESP_WELL}:broken-shaft"));
    advance(&mut model, 300, 1);
    let broken_current = mean(&mut model, &tag(ESP_WELL, "esp/motor-current"), 10);
    // No-load current at 50 Hz is 15 to 20 A.
    assert!(
        (10.0..25.0).contains(&broken_current),
        "{current} → {broken_current}"
    );
    assert!(number(&model, &tag(ESP_WELL, "oil-rate")) < 0.5);
    let running = model.reading(&tag(ESP_WELL, "esp/running")).unwrap();
    assert_eq!(
        running.value,
        Some(Value::Boolean(true)),
        "the motor still turns"
    );
}

#[test]
fn a_parted_rod_string_unloads_the_polished_rod_and_stops_the_flow() {
    let mut model = demo_model();
    let loads = samples(&mut model, &tag(ROD_PUMP_WELL, "rod-pump/load"), 15);
    let lowest = loads.iter().copied().fold(f64::MAX, f64::min);
    inject(&mut model, &format!("{ROD_PUMP_WELL}:broken-shaft"));
    advance(&mut model, 120, 1);
    let broken = samples(&mut model, &tag(ROD_PUMP_WELL, "rod-pump/load"), 15);
    let highest = broken.iter().copied().fold(f64::MIN, f64::max);
    assert!(highest < lowest * 0.6, "{loads:?} → {broken:?}");
    assert!(number(&model, &tag(ROD_PUMP_WELL, "oil-rate")) < 0.1);
}

#[test]
fn sand_production_shakes_the_pump_and_makes_the_pressures_noisy() {
    let mut model = demo_model();
    let vibration = mean(&mut model, &tag(ESP_WELL, "esp/vibration"), 20);
    let tubing_scatter =
        standard_deviation(&samples(&mut model, &tag(ESP_WELL, "tubing-pressure"), 60));
    inject(&mut model, &format!("{ESP_WELL}:sand-production"));
    advance(&mut model, 900, 1);
    assert!(mean(&mut model, &tag(ESP_WELL, "esp/vibration"), 20) > vibration + 3.0);
    let sandy_scatter =
        standard_deviation(&samples(&mut model, &tag(ESP_WELL, "tubing-pressure"), 60));
    assert!(
        sandy_scatter > 2.5 * tubing_scatter,
        "{tubing_scatter} → {sandy_scatter}"
    );
}

#[test]
fn a_tubing_leak_pulls_casing_pressure_towards_tubing_pressure() {
    for well in [ESP_WELL, NATURAL_WELL] {
        let mut model = demo_model();
        let gap = |model: &mut FieldModel| {
            mean(model, &tag(well, "tubing-pressure"), 10)
                - mean(model, &tag(well, "casing-pressure"), 10)
        };
        let gap_before = gap(&mut model);
        let oil = mean(&mut model, &tag(well, "oil-rate"), 10);
        inject(&mut model, &format!("{well}:tubing-leak"));
        advance(&mut model, 3_600, 5);
        let gap_after = gap(&mut model);
        assert!(
            gap_after.abs() < 0.3 * gap_before.abs(),
            "{well}: {gap_before} → {gap_after}"
        );
        assert!(mean(&mut model, &tag(well, "oil-rate"), 10) < oil * 0.95);
    }
}

#[test]
fn hydrates_choke_the_flow_raise_the_tubing_pressure_and_cool_the_flowline() {
    let mut model = demo_model();
    let oil = mean(&mut model, &tag(NATURAL_WELL, "oil-rate"), 10);
    let tubing = mean(&mut model, &tag(NATURAL_WELL, "tubing-pressure"), 10);
    let flowline = mean(&mut model, &tag(NATURAL_WELL, "flowline-temperature"), 10);
    inject(&mut model, &format!("{NATURAL_WELL}:hydrate-blockage"));
    advance(&mut model, 1_800, 5);
    assert!(mean(&mut model, &tag(NATURAL_WELL, "oil-rate"), 10) < oil * 0.2);
    assert!(mean(&mut model, &tag(NATURAL_WELL, "tubing-pressure"), 10) > tubing + 10.0);
    assert!(mean(&mut model, &tag(NATURAL_WELL, "flowline-temperature"), 10) < flowline - 2.0);
}

#[test]
fn an_eroded_choke_passes_more_at_the_same_position() {
    let mut model = demo_model();
    let position = mean(&mut model, &tag(NATURAL_WELL, "choke/position"), 10);
    let oil = mean(&mut model, &tag(NATURAL_WELL, "oil-rate"), 20);
    let tubing = mean(&mut model, &tag(NATURAL_WELL, "tubing-pressure"), 20);
    inject(&mut model, &format!("{NATURAL_WELL}:choke-erosion"));
    advance(&mut model, 6 * 3_600, 60);
    assert!((mean(&mut model, &tag(NATURAL_WELL, "choke/position"), 10) - position).abs() < 0.2);
    assert!(mean(&mut model, &tag(NATURAL_WELL, "oil-rate"), 20) > oil * 1.05);
    assert!(mean(&mut model, &tag(NATURAL_WELL, "tubing-pressure"), 20) < tubing - 2.0);
}

#[test]
fn a_stuck_sensor_keeps_reading_one_value_with_good_quality() {
    let mut model = demo_model();
    let path = tag(ESP_WELL, "tubing-pressure");
    advance(&mut model, 10, 1);
    inject(&mut model, &format!("{path}:stuck"));
    advance(&mut model, 1, 1);
    let frozen = samples(&mut model, &path, 60);
    assert!(frozen.iter().all(|value| *value == frozen[0]), "{frozen:?}");
    assert_eq!(model.reading(&path).unwrap().quality, Quality::GOOD);
    // The process underneath still moves.
    let casing = samples(&mut model, &tag(ESP_WELL, "casing-pressure"), 10);
    assert!(casing.iter().any(|value| *value != casing[0]));
}

#[test]
fn a_spiking_sensor_jumps_by_a_tenth_of_its_range_now_and_then() {
    let mut model = demo_model();
    let path = tag(ESP_WELL, "tubing-pressure");
    inject(&mut model, &format!("{path}:spikes"));
    let values = samples(&mut model, &path, 300);
    // The valid range is 0 to 350 bar, so a spike is at least 35 bar.
    let spikes = values
        .windows(2)
        .filter(|pair| (pair[1] - pair[0]).abs() > 30.0)
        .count();
    assert!(spikes >= 10, "{spikes} jumps");
    assert!(values.iter().all(|value| (0.0..=350.0).contains(value)));
}

#[test]
fn a_drifting_sensor_creeps_upwards_by_two_percent_of_its_range_an_hour() {
    let mut model = demo_model();
    let path = tag(ESP_WELL, "tubing-pressure");
    let before = mean(&mut model, &path, 10);
    inject(&mut model, &format!("{path}:drift"));
    advance(&mut model, 2 * 3_600, 10);
    let drifted = mean(&mut model, &path, 10);
    // Two hours at 2 % of 350 bar is 14 bar.
    assert!(
        (drifted - before - 14.0).abs() < 2.0,
        "{before} → {drifted}"
    );
}

#[test]
fn a_dropped_out_sensor_delivers_no_value_and_a_bad_one_says_so() {
    let mut model = demo_model();
    let dropped = tag(ESP_WELL, "esp/motor-current");
    let bad = tag(ESP_WELL, "esp/intake-pressure");
    inject(&mut model, &format!("{dropped}:dropout"));
    inject(&mut model, &format!("{bad}:bad-quality"));
    advance(&mut model, 1, 1);
    let reading = model.reading(&dropped).unwrap();
    assert_eq!(reading.value, None);
    assert_eq!(reading.quality, Quality::BAD_NO_COMMUNICATION);
    let reading = model.reading(&bad).unwrap();
    assert!(matches!(reading.value, Some(Value::Float(value)) if value > 50.0));
    assert_eq!(reading.quality, Quality::BAD_SENSOR_FAILURE);
}

#[test]
fn a_scheduled_fault_starts_and_ends_on_time() {
    let mut model = demo_model();
    let spec: FaultSpec = format!("{ESP_WELL}:broken-shaft@60s+120s").parse().unwrap();
    model.inject(&spec, start()).unwrap();
    let current = tag(ESP_WELL, "esp/motor-current");

    advance(&mut model, 59, 1);
    assert!(number(&model, &current) > 30.0);
    assert!(!model.faults()[0].active);
    advance(&mut model, 61, 1);
    assert!(number(&model, &current) < 25.0);
    assert!(model.faults()[0].active);
    advance(&mut model, 70, 1);
    assert!(model.faults().is_empty(), "ended at 180 s");
    advance(&mut model, 180, 1);
    assert!(number(&model, &current) > 30.0, "the pump lifts again");
}

#[test]
fn a_cleared_fault_stops_acting() {
    let mut model = demo_model();
    let path = tag(ESP_WELL, "esp/motor-current");
    let id = inject(&mut model, &format!("{path}:dropout"));
    advance(&mut model, 1, 1);
    assert_eq!(model.reading(&path).unwrap().value, None);
    let cleared = model.clear(id).unwrap();
    assert_eq!(cleared.kind, FaultKind::Dropout);
    advance(&mut model, 1, 1);
    assert_eq!(model.reading(&path).unwrap().quality, Quality::GOOD);
    assert_eq!(model.clear(id), Err(FaultError::UnknownFault(id)));
}

#[test]
fn faults_that_cannot_apply_are_refused_with_the_reason() {
    let mut model = demo_model();
    let cases = [
        (
            "north/pad-1/w-02:gas-lock",
            "fault `gas-lock` cannot apply to `north/pad-1/w-02`: it needs an ESP well, and \
             this well lifts by gas-lift",
        ),
        (
            "north/pad-1/w-04:pump-wear",
            "it needs an ESP or rod-pump well",
        ),
        (
            "north/pad-1/w-01:stuck",
            "a sensor fault needs a tag, and this is a well",
        ),
        (
            "north/pad-1/w-01/oil-rate:tubing-leak",
            "a process fault needs a well",
        ),
        (
            "north/pad-1/w-01/esp/running:drift",
            "it needs a numeric tag",
        ),
        (
            "north/pad-1/w-01/choke/setpoint:stuck",
            "it is a setpoint or command",
        ),
        (
            "north/pad-9/w-01:gas-lock",
            "no well or tag `north/pad-9/w-01`",
        ),
    ];
    for (text, expected) in cases {
        let spec: FaultSpec = text.parse().unwrap();
        let error = model.inject(&spec, start()).unwrap_err().to_string();
        assert!(error.contains(expected), "{text}: {error}");
    }
    assert!(model.faults().is_empty());
}

#[test]
fn a_configured_schedule_with_a_bad_entry_stops_the_simulator_naming_it() {
    let config: SimConfig = serde_json::from_str(
        r#"{"faults": ["north/pad-1/w-01:gas-lock", "north/pad-1/w-02:gas-lock"]}"#,
    )
    .unwrap();
    let document = demo_field(DemoLayout::default());
    let error = Simulator::new(&document, config, start()).unwrap_err();
    assert!(matches!(error, SimError::Schedule { .. }));
    assert!(
        error
            .to_string()
            .starts_with("scheduled fault `north/pad-1/w-02:gas-lock`: fault `gas-lock` cannot"),
        "{error}"
    );
}
