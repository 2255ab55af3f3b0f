//! The simulated field behaves like a field: plausible values, the right
//! correlations between them, slow decline, a daily temperature swing, and
//! setpoints that really change the physics.

use flowline_catalog::{DemoLayout, Document, demo_field};
use flowline_core::{Quality, Timestamp, Value};
use flowline_sim::{FieldModel, WriteError};

/// 2026-01-01T00:00:00Z, midnight UTC.
const START_S: i64 = 1_767_225_600;
const ESP_WELL: &str = "north/pad-1/w-01";
const GAS_LIFT_WELL: &str = "north/pad-1/w-02";
const ROD_PUMP_WELL: &str = "north/pad-1/w-03";
const NATURAL_WELL: &str = "north/pad-1/w-04";

fn start() -> Timestamp {
    Timestamp::from_seconds(START_S)
}

fn demo_model() -> FieldModel {
    FieldModel::new(&demo_field(DemoLayout::default()), 1, start()).unwrap()
}

/// Steps the model `seconds` further in steps of `step_s`.
fn advance(model: &mut FieldModel, seconds: i64, step_s: i64) {
    let end = model.now().saturating_add_micros(seconds * 1_000_000);
    while model.now() < end {
        let next = model.now().saturating_add_micros(step_s * 1_000_000);
        model.step(next.min(end));
    }
}

/// What a numeric tag reads now.
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

/// The mean of a tag over `seconds` one-second steps, to see through noise.
fn mean(model: &mut FieldModel, path: &str, seconds: i64) -> f64 {
    let mut sum = 0.0;
    for _ in 0..seconds {
        advance(model, 1, 1);
        sum += number(model, path);
    }
    sum / seconds as f64
}

fn write(model: &mut FieldModel, path: &str, value: Value) {
    model.write(path, &value).unwrap();
}

#[test]
fn opening_the_choke_raises_the_oil_rate_and_lowers_the_tubing_pressure() {
    for well in [ESP_WELL, GAS_LIFT_WELL, NATURAL_WELL] {
        let mut model = demo_model();
        let oil = format!("{well}/oil-rate");
        let tubing = format!("{well}/tubing-pressure");
        let oil_before = mean(&mut model, &oil, 20);
        let tubing_before = mean(&mut model, &tubing, 20);

        write(
            &mut model,
            &format!("{well}/choke/setpoint"),
            Value::Float(100.0),
        );
        advance(&mut model, 120, 1);

        assert!((number(&model, &format!("{well}/choke/position")) - 100.0).abs() < 0.5);
        let oil_after = mean(&mut model, &oil, 20);
        let tubing_after = mean(&mut model, &tubing, 20);
        assert!(
            oil_after > oil_before * 1.05,
            "{well}: {oil_before} → {oil_after}"
        );
        assert!(
            tubing_after < tubing_before - 1.0,
            "{well}: {tubing_before} → {tubing_after}"
        );
    }
}

#[test]
fn closing_the_choke_shuts_the_well_in_and_its_tubing_pressure_climbs() {
    let mut model = demo_model();
    let tubing_before = mean(&mut model, &format!("{NATURAL_WELL}/tubing-pressure"), 10);
    write(
        &mut model,
        &format!("{NATURAL_WELL}/choke/setpoint"),
        Value::Float(0.0),
    );
    advance(&mut model, 300, 1);
    assert!(number(&model, &format!("{NATURAL_WELL}/oil-rate")) < 0.01);
    assert!(number(&model, &format!("{NATURAL_WELL}/gas-rate")) < 1.0);
    let tubing_after = number(&model, &format!("{NATURAL_WELL}/tubing-pressure"));
    assert!(
        tubing_after > tubing_before + 20.0,
        "{tubing_before} → {tubing_after}"
    );
}

#[test]
fn raising_esp_frequency_raises_the_rate_and_the_motor_current() {
    let mut model = demo_model();
    let oil = format!("{ESP_WELL}/oil-rate");
    let current = format!("{ESP_WELL}/esp/motor-current");
    let oil_before = mean(&mut model, &oil, 20);
    let current_before = mean(&mut model, &current, 20);

    write(
        &mut model,
        &format!("{ESP_WELL}/esp/frequency-setpoint"),
        Value::Float(60.0),
    );
    advance(&mut model, 60, 1);

    assert!((number(&model, &format!("{ESP_WELL}/esp/frequency")) - 60.0).abs() < 0.5);
    let oil_after = mean(&mut model, &oil, 20);
    let current_after = mean(&mut model, &current, 20);
    assert!(oil_after > oil_before * 1.1, "{oil_before} → {oil_after}");
    assert!(
        current_after > current_before * 1.2,
        "{current_before} → {current_after}"
    );
}

#[test]
fn the_esp_drive_ramps_rather_than_jumps() {
    let mut model = demo_model();
    let frequency = format!("{ESP_WELL}/esp/frequency");
    let before = number(&model, &frequency);
    write(
        &mut model,
        &format!("{ESP_WELL}/esp/frequency-setpoint"),
        Value::Float(65.0),
    );
    advance(&mut model, 1, 1);
    let after_one_second = number(&model, &frequency);
    assert!(
        after_one_second - before < 1.5,
        "{before} → {after_one_second}"
    );
    assert!(
        after_one_second > before + 0.5,
        "{before} → {after_one_second}"
    );
}

#[test]
fn stopping_the_esp_drops_its_current_to_zero_and_the_rate_with_it() {
    let mut model = demo_model();
    let oil = format!("{ESP_WELL}/oil-rate");
    let oil_before = mean(&mut model, &oil, 10);

    write(
        &mut model,
        &format!("{ESP_WELL}/esp/run"),
        Value::Boolean(false),
    );
    advance(&mut model, 1, 1);
    assert_eq!(
        number(&model, &format!("{ESP_WELL}/esp/motor-current")),
        0.0
    );
    assert_eq!(number(&model, &format!("{ESP_WELL}/esp/frequency")), 0.0);
    let running = model.reading(&format!("{ESP_WELL}/esp/running")).unwrap();
    assert_eq!(running.value, Some(Value::Boolean(false)));
    advance(&mut model, 60, 1);
    assert!(
        number(&model, &oil) < oil_before * 0.05,
        "{oil_before} → {}",
        number(&model, &oil)
    );

    write(
        &mut model,
        &format!("{ESP_WELL}/esp/run"),
        Value::Boolean(true),
    );
    advance(&mut model, 180, 1);
    let oil_restarted = mean(&mut model, &oil, 10);
    assert!(
        oil_restarted > oil_before * 0.95,
        "{oil_before} → {oil_restarted}"
    );
}

#[test]
fn more_lift_gas_raises_the_rate_with_diminishing_returns() {
    let mut model = demo_model();
    let setpoint = format!("{GAS_LIFT_WELL}/gas-lift/rate-setpoint");
    let liquid = |model: &mut FieldModel| {
        mean(model, &format!("{GAS_LIFT_WELL}/oil-rate"), 30)
            + mean(model, &format!("{GAS_LIFT_WELL}/water-rate"), 30)
    };
    let mut rates = Vec::new();
    let mut pressures = Vec::new();
    for injection in [0.0, 50_000.0, 100_000.0, 150_000.0] {
        write(&mut model, &setpoint, Value::Float(injection));
        advance(&mut model, 400, 1);
        rates.push(liquid(&mut model));
        pressures.push(number(
            &model,
            &format!("{GAS_LIFT_WELL}/gas-lift/injection-pressure"),
        ));
    }
    let gains: Vec<f64> = rates.windows(2).map(|pair| pair[1] - pair[0]).collect();
    assert!(gains.iter().all(|gain| *gain > 0.0), "rates {rates:?}");
    assert!(
        gains[0] > gains[1] && gains[1] > gains[2],
        "gains {gains:?}"
    );
    assert!(
        pressures.windows(2).all(|pair| pair[1] > pair[0]),
        "{pressures:?}"
    );
}

#[test]
fn a_rod_pump_load_swings_with_the_stroke_and_stopping_it_stops_the_flow() {
    let mut model = demo_model();
    let load = format!("{ROD_PUMP_WELL}/rod-pump/load");
    let mut loads = Vec::new();
    for _ in 0..20 {
        advance(&mut model, 1, 1);
        loads.push(number(&model, &load));
    }
    let (low, high) = loads
        .iter()
        .fold((f64::MAX, f64::MIN), |(low, high), load| {
            (low.min(*load), high.max(*load))
        });
    assert!(high - low > 5.0, "loads {loads:?}");

    write(
        &mut model,
        &format!("{ROD_PUMP_WELL}/rod-pump/run"),
        Value::Boolean(false),
    );
    advance(&mut model, 60, 1);
    assert_eq!(
        number(&model, &format!("{ROD_PUMP_WELL}/rod-pump/speed")),
        0.0
    );
    assert!(number(&model, &format!("{ROD_PUMP_WELL}/oil-rate")) < 0.1);
}

#[test]
fn production_declines_slowly_over_weeks() {
    let mut model = demo_model();
    let wells: Vec<String> = (1..=12)
        .map(|well| format!("north/pad-{}/w-{well:02}", (well + 3) / 4))
        .collect();
    let field_oil = |model: &mut FieldModel| {
        let mut total = 0.0;
        for _ in 0..30 {
            advance(model, 1, 1);
            total += wells
                .iter()
                .map(|well| number(model, &format!("{well}/oil-rate")))
                .sum::<f64>();
        }
        total / 30.0
    };
    let at_start = field_oil(&mut model);
    advance(&mut model, 28 * 86_400, 3_600);
    let four_weeks_on = field_oil(&mut model);
    let decline = 1.0 - four_weeks_on / at_start;
    assert!(
        (0.005..0.10).contains(&decline),
        "{at_start} → {four_weeks_on}"
    );
}

#[test]
fn every_value_stays_in_its_valid_range_through_a_simulated_day() {
    let document = demo_field(DemoLayout::default());
    let mut model = FieldModel::new(&document, 3, start()).unwrap();
    for _ in 0..(24 * 60) {
        advance(&mut model, 60, 60);
        for entry in &document.tags {
            let spec = &entry.spec;
            let reading = model.reading(spec.path.as_str()).unwrap();
            assert_eq!(reading.quality, Quality::GOOD, "{}", spec.path);
            let value = reading
                .value
                .unwrap_or_else(|| panic!("{} has no value", spec.path));
            let number = value.as_f64().unwrap();
            assert!(
                spec.valid_range.contains(number),
                "{} = {number} at {} outside {:?}",
                spec.path,
                model.now(),
                spec.valid_range
            );
        }
    }
}

#[test]
fn the_flowline_is_warmer_in_the_afternoon_than_at_night() {
    let mut model = demo_model();
    let flowline = format!("{ESP_WELL}/flowline-temperature");
    let separator = "north/pad-1/separator/temperature";
    advance(&mut model, 3 * 3_600, 60);
    let flowline_night = mean(&mut model, &flowline, 10);
    let separator_night = number(&model, separator);
    advance(&mut model, 12 * 3_600, 60);
    let flowline_afternoon = mean(&mut model, &flowline, 10);
    let separator_afternoon = number(&model, separator);
    assert!(
        flowline_afternoon > flowline_night + 2.0,
        "{flowline_night} → {flowline_afternoon}"
    );
    assert!(
        separator_afternoon > separator_night + 1.0,
        "{separator_night} → {separator_afternoon}"
    );
}

#[test]
fn more_liquid_into_the_separator_raises_its_level() {
    let mut model = demo_model();
    let level = "north/pad-1/separator/level";
    let before = mean(&mut model, level, 20);
    for well in [ESP_WELL, GAS_LIFT_WELL, NATURAL_WELL] {
        write(
            &mut model,
            &format!("{well}/choke/setpoint"),
            Value::Float(100.0),
        );
    }
    advance(&mut model, 900, 1);
    let after = mean(&mut model, level, 20);
    assert!(after > before + 1.0, "{before} → {after}");
}

#[test]
fn the_tank_fills_with_oil_and_is_emptied_now_and_then() {
    let mut model = demo_model();
    let level = "north/pad-1/tank-1/level";
    let mut levels = Vec::new();
    for _ in 0..(6 * 24 * 6) {
        advance(&mut model, 600, 600);
        levels.push(number(&model, level));
    }
    let rises = levels.windows(2).filter(|pair| pair[1] > pair[0]).count();
    let biggest_fall = levels
        .windows(2)
        .map(|pair| pair[0] - pair[1])
        .fold(0.0, f64::max);
    assert!(rises > levels.len() / 2, "mostly filling: {rises} rises");
    assert!(
        biggest_fall > 0.2,
        "emptied by a transfer pump: largest fall {biggest_fall} m"
    );
    assert!(levels.iter().all(|level| (0.0..=12.0).contains(level)));
}

#[test]
fn writes_out_of_range_or_of_the_wrong_type_are_refused_with_the_tag_named() {
    let mut model = demo_model();
    let cases = [
        (
            format!("{ESP_WELL}/choke/setpoint"),
            Value::Float(150.0),
            "tag `north/pad-1/w-01/choke/setpoint` takes 0 to 100, found 150",
        ),
        (
            format!("{ESP_WELL}/esp/run"),
            Value::Float(1.0),
            "tag `north/pad-1/w-01/esp/run` expects a boolean, found `1`",
        ),
        (
            format!("{ESP_WELL}/esp/frequency-setpoint"),
            Value::Float(f64::NAN),
            "expects a finite number, found `NaN`",
        ),
        (
            format!("{ESP_WELL}/tubing-pressure"),
            Value::Float(10.0),
            "tag `north/pad-1/w-01/tubing-pressure` is read-only",
        ),
        (
            "north/pad-1/w-99/choke/setpoint".to_owned(),
            Value::Float(10.0),
            "unknown tag `north/pad-1/w-99/choke/setpoint`",
        ),
    ];
    for (path, value, expected) in cases {
        let error = model.write(&path, &value).unwrap_err().to_string();
        assert!(error.contains(expected), "{path}: {error}");
    }
    let setpoint = format!("{ESP_WELL}/choke/setpoint");
    assert!(matches!(
        model.write(&setpoint, &Value::Integer(101)),
        Err(WriteError::OutOfRange { .. })
    ));
    model.write(&setpoint, &Value::Integer(30)).unwrap();
    assert_eq!(number(&model, &setpoint), 30.0);
}

#[test]
fn a_document_the_simulator_cannot_model_is_refused_with_the_tag_named() {
    let mut document = demo_field(DemoLayout::default());
    let mut torque = document.tags[0].spec.clone();
    torque.path = "north/pad-1/w-01/esp/torque".parse().unwrap();
    torque.source = None;
    document.tags.push(flowline_catalog::Entry {
        line: None,
        spec: torque,
    });
    let error = FieldModel::new(&document, 1, start())
        .unwrap_err()
        .to_string();
    assert!(
        error
            .starts_with("tag `north/pad-1/w-01/esp/torque`: the simulator has no signal `torque`"),
        "{error}"
    );
    assert!(error.contains("motor-current"), "{error}");

    let mut document = demo_field(DemoLayout::default());
    let binding = document.tags[0].spec.source.as_mut().unwrap();
    binding.address = binding.address.replace("type=f32", "type=u16");
    let error = FieldModel::new(&document, 1, start())
        .unwrap_err()
        .to_string();
    assert!(error.contains("has type u16"), "{error}");
}

#[test]
fn a_field_of_two_thousand_wells_builds_with_a_value_for_every_tag() {
    let document: Document = demo_field(DemoLayout {
        pads: 80,
        wells_per_pad: 25,
    });
    let mut model = FieldModel::new(&document, 1, start()).unwrap();
    model.step(start().saturating_add_micros(1_000_000));
    assert_eq!(model.well_count(), 2_000);
    assert_eq!(model.tag_count(), document.tags.len());
    assert!(model.tag_count() > 20_000);
    let missing = model
        .tags()
        .filter(|(index, _)| model.reading_at(*index).value.is_none())
        .count();
    assert_eq!(missing, 0);
}
