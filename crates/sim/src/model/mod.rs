//! The field model: every well, pad and tank of a field, stepped through
//! time, and what each tag reads.
//!
//! [`FieldModel`] is plain data with no clock, thread or socket of its own:
//! whoever owns it calls [`FieldModel::step`] with the time to advance to,
//! so the same seed and the same step times always give the same values.
//! The servers read its values by tag path ([`FieldModel::reading`]) or, on
//! the hot path, by [`TagIndex`].

mod build;
mod faults;
mod pad;
mod signal;
mod well;

use std::collections::{BTreeMap, HashMap};

use flowline_catalog::Document;
use flowline_catalog::modbus::ModbusAddress;
use flowline_core::{NodePath, Quality, Timestamp, Value};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::Serialize;

use crate::error::{BuildError, WriteError};
use crate::fault::FaultKind;
use build::TagModel;
use pad::{Inflow, Pad, TANK_HIGH_M, TANK_LOW_M, Tank};
use signal::Signal;
use well::{LiftDesign, Surroundings, Well};

pub use faults::FaultStatus;

/// Mean ambient temperature over a day, °C.
const AMBIENT_MEAN_C: f64 = 12.0;
/// Half the difference between the warmest and coldest hour, °C.
const AMBIENT_SWING_C: f64 = 8.0;
/// The warmest moment of the day, in seconds after midnight UTC (15:00).
const WARMEST_SECOND_OF_DAY: f64 = 15.0 * 3_600.0;
/// Seconds in a day.
const SECONDS_PER_DAY: f64 = 86_400.0;
/// The noise generator's stream, apart from the one that designs wells, so
/// adding noise never changes the field's design.
const NOISE_STREAM: u64 = 1;

/// The position of a tag in the model, for lookups without hashing. Valid
/// only for the model that gave it out.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagIndex(u32);

impl TagIndex {
    /// The position as a `usize`, for indexing slices.
    pub fn get(self) -> usize {
        self.0 as usize
    }
}

/// What a tag reads now: its value, if the sensor delivers one, and how far
/// it can be trusted.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reading {
    /// The value in the tag's unit; `None` when the sensor delivers nothing
    /// (dropout).
    pub value: Option<Value>,
    /// The sensor's verdict: good, or bad while a dropout or bad-quality
    /// fault lasts.
    pub quality: Quality,
}

/// A well's current readings and faults, for status pages.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WellReport {
    /// The well's path.
    pub well: NodePath,
    /// Its lift method: `esp`, `gas-lift`, `rod-pump` or `natural-flow`.
    pub lift: &'static str,
    /// The time of the readings.
    pub time: Timestamp,
    /// Every tag of the well and its equipment, by its path below the well
    /// (`tubing-pressure`, `esp/motor-current`).
    pub tags: BTreeMap<String, Reading>,
    /// Its faults and those of its tags, scheduled or active.
    pub faults: Vec<FaultStatus>,
}

/// A simulated field: wells, pads, tanks and tags, at one instant.
#[derive(Debug)]
pub struct FieldModel {
    /// The seed the field was made from.
    seed: u64,
    /// When the simulation started.
    start: Timestamp,
    /// The time of the last step.
    now: Timestamp,
    /// Steps taken since the start.
    steps: u64,
    /// Wells in document order.
    wells: Vec<Well>,
    /// Pads in document order.
    pads: Vec<Pad>,
    /// Tanks in document order.
    tanks: Vec<Tank>,
    /// Tags in document order.
    tags: Vec<TagModel>,
    /// Tag positions by path.
    tag_by_path: HashMap<NodePath, TagIndex>,
    /// Well positions by path.
    well_by_path: HashMap<NodePath, usize>,
    /// What each tag reads, in its unit; NaN when it delivers nothing.
    /// Booleans read 0 or 1.
    values: Vec<f64>,
    /// Each tag's quality.
    qualities: Vec<Quality>,
    /// Faults scheduled or active, in the order they were injected.
    faults: Vec<faults::FaultRecord>,
    /// The id the next injected fault gets.
    next_fault_id: u64,
    /// Draws measurement noise and fault randomness.
    noise: ChaCha8Rng,
    /// What each pad receives this step; kept to avoid allocating.
    inflows: Vec<Inflow>,
}

impl FieldModel {
    /// Builds the field `document` describes, with wells drawn from
    /// `seed`, settled at its steady state at `start`.
    pub fn new(document: &Document, seed: u64, start: Timestamp) -> Result<Self, BuildError> {
        let mut design = ChaCha8Rng::seed_from_u64(seed);
        let parts = build::build(document, &mut design)?;
        let mut noise = ChaCha8Rng::seed_from_u64(seed);
        noise.set_stream(NOISE_STREAM);

        let tag_by_path = parts
            .tags
            .iter()
            .enumerate()
            .map(|(index, tag)| (tag.path.clone(), TagIndex(index as u32)))
            .collect();
        let well_by_path = parts
            .wells
            .iter()
            .enumerate()
            .map(|(index, well)| (well.path.clone(), index))
            .collect();
        let tag_count = parts.tags.len();
        let mut model = FieldModel {
            seed,
            start,
            now: start,
            steps: 0,
            inflows: vec![Inflow::default(); parts.pads.len()],
            wells: parts.wells,
            pads: parts.pads,
            tanks: Vec::new(),
            tags: parts.tags,
            tag_by_path,
            well_by_path,
            values: vec![f64::NAN; tag_count],
            qualities: vec![Quality::GOOD; tag_count],
            faults: Vec::new(),
            next_fault_id: 1,
            noise,
        };
        model.settle(&parts.tank_pads, &mut design);
        Ok(model)
    }

    /// Puts every well, separator and tank at its steady state at the
    /// start, and sizes separators and tanks for the flows they then see.
    fn settle(&mut self, tank_pads: &[usize], design: &mut ChaCha8Rng) {
        self.advance(f64::INFINITY);
        for (pad, inflow) in self.pads.iter_mut().zip(&self.inflows) {
            pad.separator.design_gas_rate = inflow.gas_rate;
            pad.separator.design_liquid_rate = inflow.liquid_rate;
        }
        self.advance(f64::INFINITY);
        self.tanks = tank_pads
            .iter()
            .map(|pad| {
                let share = self.inflows[*pad].oil_rate / self.pads[*pad].tanks.len() as f64;
                let level_m = design.random_range(TANK_LOW_M..TANK_HIGH_M);
                Tank::new(share, level_m)
            })
            .collect();
        self.measure();
    }

    /// Advances the field to `now`: faults start and end, actuators move,
    /// wells, separators and tanks follow, and every tag is read again.
    /// A time at or before the last step changes nothing.
    pub fn step(&mut self, now: Timestamp) {
        let step_micros = now.micros_since(self.now);
        if step_micros <= 0 {
            return;
        }
        self.now = now;
        self.steps += 1;
        self.update_faults();
        self.apply_process_faults();
        self.advance(step_micros as f64 / 1e6);
        self.measure();
        self.apply_sensor_faults();
    }

    /// Moves the physics on by `step_s` seconds; infinite to settle.
    fn advance(&mut self, step_s: f64) {
        let elapsed_s = self.now.micros_since(self.start) as f64 / 1e6;
        let ambient_c = ambient_temperature(self.now);
        self.inflows.fill(Inflow::default());

        for well in &mut self.wells {
            let around = Surroundings {
                step_s,
                elapsed_s,
                ambient_c,
                separator_pressure_bar: self.pads[well.pad].separator.pressure_bar,
            };
            well.step(&around, &mut self.noise);
            let inflow = &mut self.inflows[well.pad];
            inflow.oil_rate += well.state.oil_rate;
            inflow.liquid_rate += well.state.liquid_rate;
            inflow.gas_rate += well.state.gas_rate;
            inflow.heat += well.state.liquid_rate * well.state.flowline_temperature_c;
        }

        for (pad, inflow) in self.pads.iter_mut().zip(&self.inflows) {
            pad.separator.step(inflow, ambient_c, step_s);
            if step_s.is_finite() {
                let share = inflow.oil_rate / pad.tanks.len().max(1) as f64;
                for tank in &pad.tanks {
                    // Tanks are sized after settling, so they may not
                    // exist yet.
                    if let Some(tank) = self.tanks.get_mut(*tank) {
                        tank.step(share, step_s);
                    }
                }
            }
        }
    }

    /// Reads every tag from the true values: noise, then the instrument's
    /// range. Fast path: one pass over the tags, no allocation.
    fn measure(&mut self) {
        for (index, tag) in self.tags.iter().enumerate() {
            let truth = true_value(tag, &self.wells, &self.pads, &self.tanks);
            let noise = tag.signal.noise();
            let mut value = truth;
            if !noise.is_none() {
                let sand = tag
                    .well
                    .filter(|_| tag.signal.is_of_well())
                    .map_or(0.0, |well| self.wells[well].effects.sand);
                let deviation =
                    (noise.absolute + noise.relative * truth.abs()) * (1.0 + 4.0 * sand);
                let draw: f64 = self.noise.sample(StandardNormal);
                value += deviation * draw;
            }
            self.values[index] = value.clamp(tag.low, tag.high);
            self.qualities[index] = Quality::GOOD;
        }
    }

    /// The seed the field was made from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// When the simulation started: the origin of scheduled faults.
    pub fn start(&self) -> Timestamp {
        self.start
    }

    /// The time of the last step (the start before any).
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Steps taken since the start.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The number of wells.
    pub fn well_count(&self) -> usize {
        self.wells.len()
    }

    /// The number of pads.
    pub fn pad_count(&self) -> usize {
        self.pads.len()
    }

    /// The number of tags.
    pub fn tag_count(&self) -> usize {
        self.tags.len()
    }

    /// Every tag's index and path, in document order.
    pub fn tags(&self) -> impl Iterator<Item = (TagIndex, &NodePath)> {
        self.tags
            .iter()
            .enumerate()
            .map(|(index, tag)| (TagIndex(index as u32), &tag.path))
    }

    /// The index of the tag at `path`.
    pub fn tag_index(&self, path: &str) -> Option<TagIndex> {
        self.tag_by_path.get(path).copied()
    }

    /// The path of the tag at `index`.
    pub fn tag_path(&self, index: TagIndex) -> &NodePath {
        &self.tags[index.get()].path
    }

    /// Where the tag at `index` is served over Modbus, if it is.
    pub fn binding(&self, index: TagIndex) -> Option<&ModbusAddress> {
        self.tags[index.get()].binding.as_ref()
    }

    /// What the tag at `path` reads now.
    pub fn reading(&self, path: &str) -> Option<Reading> {
        self.tag_index(path).map(|index| self.reading_at(index))
    }

    /// What the tag at `index` reads now.
    pub fn reading_at(&self, index: TagIndex) -> Reading {
        let tag = &self.tags[index.get()];
        let raw = self.values[index.get()];
        let value = if raw.is_nan() {
            None
        } else if tag.signal.is_boolean() {
            Some(Value::Boolean(raw != 0.0))
        } else {
            Some(Value::Float(raw))
        };
        Reading {
            value,
            quality: self.qualities[index.get()],
        }
    }

    /// Fast path: the tag's value as a number (booleans 0 or 1, NaN when
    /// it delivers nothing) and its quality.
    pub fn value_at(&self, index: TagIndex) -> (f64, Quality) {
        (self.values[index.get()], self.qualities[index.get()])
    }

    /// Every tag's value, indexed by [`TagIndex::get`]: as
    /// [`value_at`](Self::value_at) gives them, for copying in bulk.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// Every tag's quality, indexed by [`TagIndex::get`].
    pub fn qualities(&self) -> &[Quality] {
        &self.qualities
    }

    /// Whether the tag at `index` reads on/off rather than a number.
    pub fn is_boolean(&self, index: TagIndex) -> bool {
        self.tags[index.get()].signal.is_boolean()
    }

    /// Whether the tag at `index` may be written.
    pub fn is_writable(&self, index: TagIndex) -> bool {
        self.tags[index.get()].writable
    }

    /// A well's readings and faults.
    pub fn well_report(&self, path: &str) -> Option<WellReport> {
        let well = *self.well_by_path.get(path)?;
        let prefix = format!("{path}/");
        let tags = self
            .tags
            .iter()
            .enumerate()
            .filter(|(_, tag)| tag.well == Some(well))
            .map(|(index, tag)| {
                let name = tag.path.as_str().trim_start_matches(&prefix).to_owned();
                (name, self.reading_at(TagIndex(index as u32)))
            })
            .collect();
        let faults = self
            .faults()
            .into_iter()
            .filter(|fault| {
                fault.target.as_str() == path || fault.target.as_str().starts_with(&prefix)
            })
            .collect();
        Some(WellReport {
            well: self.wells[well].path.clone(),
            lift: lift_name(&self.wells[well].lift),
            time: self.now,
            tags,
            faults,
        })
    }

    /// Writes a setpoint or run command by path. It takes effect from the
    /// next step: the choke, drive and injection move towards it at their
    /// own rates.
    pub fn write(&mut self, path: &str, value: &Value) -> Result<(), WriteError> {
        let index = self
            .tag_index(path)
            .ok_or_else(|| WriteError::UnknownTag(path.to_owned()))?;
        self.write_at(index, value)
    }

    /// Writes the tag at `index`; see [`write`](Self::write).
    pub fn write_at(&mut self, index: TagIndex, value: &Value) -> Result<(), WriteError> {
        let number = self.check_write(index, value)?;
        let tag = &self.tags[index.get()];
        let commands = &mut self.wells[tag.owner].commands;
        match tag.signal {
            Signal::ChokeSetpoint => commands.choke_setpoint_percent = number,
            Signal::EspFrequencySetpoint => commands.frequency_setpoint_hz = number,
            Signal::GasLiftRateSetpoint => commands.gas_lift_rate_setpoint = number,
            Signal::EspRun | Signal::RodPumpRun => commands.run = number != 0.0,
            signal => unreachable!("bug: build lets only commands be writable, not {signal:?}"),
        }
        self.values[index.get()] = number;
        Ok(())
    }

    /// Whether `value` may be written to the tag at `index`; the value as a
    /// number (booleans 0 or 1) if so.
    pub fn check_write(&self, index: TagIndex, value: &Value) -> Result<f64, WriteError> {
        let tag = &self.tags[index.get()];
        if !tag.writable {
            return Err(WriteError::ReadOnly(tag.path.clone()));
        }
        let wrong_type = |expected| WriteError::WrongType {
            tag: tag.path.clone(),
            expected,
            found: value.to_string(),
        };
        if tag.signal.is_boolean() {
            return match value {
                Value::Boolean(on) => Ok(f64::from(u8::from(*on))),
                _ => Err(wrong_type("a boolean")),
            };
        }
        let number = match value {
            Value::Float(number) if number.is_finite() => *number,
            Value::Integer(number) => *number as f64,
            _ => return Err(wrong_type("a finite number")),
        };
        if number < tag.low || number > tag.high {
            return Err(WriteError::OutOfRange {
                tag: tag.path.clone(),
                low: tag.low,
                high: tag.high,
                found: number,
            });
        }
        Ok(number)
    }
}

/// The true value of `tag`'s signal: what a perfect instrument would read.
fn true_value(tag: &TagModel, wells: &[Well], pads: &[Pad], tanks: &[Tank]) -> f64 {
    let well = || &wells[tag.owner];
    let on = |flag: bool| f64::from(u8::from(flag));
    match tag.signal {
        Signal::TubingPressure => well().state.tubing_pressure_bar,
        Signal::CasingPressure => well().state.casing_pressure_bar,
        Signal::FlowlineTemperature => well().state.flowline_temperature_c,
        Signal::OilRate => well().state.oil_rate,
        Signal::GasRate => well().state.gas_rate,
        Signal::WaterRate => well().state.water_rate,
        Signal::ChokePosition => well().state.choke_position_percent,
        Signal::ChokeSetpoint => well().commands.choke_setpoint_percent,
        Signal::EspFrequency => well().state.frequency_hz,
        Signal::EspMotorCurrent => well().state.motor_current_a,
        Signal::EspMotorTemperature => well().state.motor_temperature_c,
        Signal::EspIntakePressure => well().state.bottomhole_pressure_bar,
        Signal::EspDischargePressure => {
            well().state.bottomhole_pressure_bar + well().state.pump_pressure_bar
        }
        Signal::EspVibration => well().state.vibration_mm_per_s,
        Signal::EspRunning | Signal::RodPumpRunning => on(well().pump_runs()),
        Signal::EspRun | Signal::RodPumpRun => on(well().commands.run),
        Signal::EspFrequencySetpoint => well().commands.frequency_setpoint_hz,
        Signal::GasLiftInjectionRate => well().state.injection_rate,
        Signal::GasLiftInjectionPressure => well().state.injection_pressure_bar,
        Signal::GasLiftRateSetpoint => well().commands.gas_lift_rate_setpoint,
        Signal::RodPumpSpeed => well().state.pump_speed_spm,
        Signal::RodPumpLoad => well().state.rod_load_kn,
        Signal::SeparatorPressure => pads[tag.owner].separator.pressure_bar,
        Signal::SeparatorLevel => pads[tag.owner].separator.level_percent,
        Signal::SeparatorTemperature => pads[tag.owner].separator.temperature_c,
        // Before tanks are sized, a tank reads empty.
        Signal::TankLevel => tanks.get(tag.owner).map_or(0.0, |tank| tank.level_m),
    }
}

/// Ambient temperature at `now`: a daily swing around the mean, warmest at
/// 15:00 UTC and coldest at 03:00 UTC, °C.
fn ambient_temperature(now: Timestamp) -> f64 {
    let micros_per_day = (SECONDS_PER_DAY * 1e6) as i64;
    let second_of_day = now.as_micros().rem_euclid(micros_per_day) as f64 / 1e6;
    let angle = std::f64::consts::TAU * (second_of_day - WARMEST_SECOND_OF_DAY) / SECONDS_PER_DAY;
    AMBIENT_MEAN_C + AMBIENT_SWING_C * angle.cos()
}

/// The name of a well's lift method, as in its `lift` attribute.
fn lift_name(lift: &LiftDesign) -> &'static str {
    match lift {
        LiftDesign::Esp(_) => "esp",
        LiftDesign::GasLift(_) => "gas-lift",
        LiftDesign::RodPump(_) => "rod-pump",
        LiftDesign::NaturalFlow { .. } => "natural-flow",
    }
}

/// Whether a process fault of `kind` can happen to a well with `lift`; why
/// not, if it cannot.
fn process_fault_fits(kind: FaultKind, lift: &LiftDesign) -> Result<(), String> {
    let fits = match kind {
        FaultKind::GasLock => matches!(lift, LiftDesign::Esp(_)),
        FaultKind::PumpWear | FaultKind::BrokenShaft => {
            matches!(lift, LiftDesign::Esp(_) | LiftDesign::RodPump(_))
        }
        _ => true,
    };
    if fits {
        return Ok(());
    }
    let needs = if kind == FaultKind::GasLock {
        "an ESP well"
    } else {
        "an ESP or rod-pump well"
    };
    Err(format!(
        "it needs {needs}, and this well lifts by {}",
        lift_name(lift)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ambient_is_warmest_at_three_in_the_afternoon_and_coldest_at_three_at_night() {
        let afternoon = ambient_temperature(Timestamp::from_seconds(15 * 3_600));
        let night = ambient_temperature(Timestamp::from_seconds(3 * 3_600));
        assert!((afternoon - (AMBIENT_MEAN_C + AMBIENT_SWING_C)).abs() < 1e-9);
        assert!((night - (AMBIENT_MEAN_C - AMBIENT_SWING_C)).abs() < 1e-9);
    }
}
