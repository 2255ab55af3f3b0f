//! Faults inside the model: injecting and clearing them, starting and
//! ending them as time passes, and what each does to the physics or to a
//! sensor's reading.
//!
//! Process faults grow from their start, so a test (or an operator
//! watching a trend) sees a signature rather than a jump:
//!
//! | fault | grows | to |
//! | --- | --- | --- |
//! | gas lock | over 2 minutes | a flickering 5–25 % of the pump's head |
//! | pump wear | 30 % a day | 60 % of head or delivery lost |
//! | broken shaft | at once | nothing lifted |
//! | sand production | over 10 minutes | five times the noise, 5 mm/s more vibration |
//! | tubing leak | over 30 minutes | casing 90 % of the way to tubing pressure |
//! | hydrate blockage | over 20 minutes | 97 % of the choke blocked |
//! | choke erosion | 5 % an hour | twice the choke's capacity |
//!
//! Sensor faults change only what the tag reads, after the physics.

use flowline_core::{NodePath, Quality, Timestamp};
use rand::Rng;
use serde::Serialize;

use crate::error::FaultError;
use crate::events;
use crate::fault::{FaultKind, FaultSpec};
use crate::model::well::Effects;
use crate::model::{FieldModel, process_fault_fits};

/// Seconds for a gas lock to take hold.
const GAS_LOCK_ONSET_S: f64 = 120.0;
/// Fraction of pump head or delivery lost per day of wear.
const PUMP_WEAR_PER_DAY: f64 = 0.3;
/// The most a pump wears before it is pulled.
const PUMP_WEAR_MAX: f64 = 0.6;
/// Seconds for sand production to reach full strength.
const SAND_ONSET_S: f64 = 600.0;
/// Seconds for a tubing leak to open fully.
const TUBING_LEAK_ONSET_S: f64 = 1_800.0;
/// Seconds for hydrates to block the choke.
const HYDRATE_ONSET_S: f64 = 1_200.0;
/// The most of the choke that hydrates block.
const HYDRATE_MAX: f64 = 0.97;
/// Extra choke capacity from erosion per hour.
const CHOKE_EROSION_PER_HOUR: f64 = 0.05;
/// The most extra capacity erosion gives.
const CHOKE_EROSION_MAX: f64 = 1.0;
/// Chance that a spiking sensor spikes on a step.
const SPIKE_PROBABILITY: f64 = 0.1;
/// Drift per hour, as a fraction of the tag's valid span.
const DRIFT_PER_HOUR: f64 = 0.02;

/// What a fault acts on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// A well, by index.
    Well(usize),
    /// A tag, by index.
    Tag(usize),
}

/// A fault as the model keeps it.
#[derive(Clone, Debug)]
pub(crate) struct FaultRecord {
    /// Its id, for clearing it.
    id: u64,
    /// Its target's path, for listing.
    path: NodePath,
    /// Its target.
    target: Target,
    /// What goes wrong.
    kind: FaultKind,
    /// When it starts.
    start: Timestamp,
    /// When it ends, if it does.
    end: Option<Timestamp>,
    /// Whether it has started.
    active: bool,
    /// What a stuck sensor keeps reading.
    frozen: f64,
}

/// A scheduled or active fault, as listed to users.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FaultStatus {
    /// Its id, for clearing it.
    pub id: u64,
    /// The well or tag it acts on.
    pub target: NodePath,
    /// What goes wrong.
    pub kind: FaultKind,
    /// When it starts (or started).
    pub start: Timestamp,
    /// When it ends; `None` until cleared.
    pub end: Option<Timestamp>,
    /// Whether it acts now; false while it waits for its start.
    pub active: bool,
}

impl FaultRecord {
    fn status(&self) -> FaultStatus {
        FaultStatus {
            id: self.id,
            target: self.path.clone(),
            kind: self.kind,
            start: self.start,
            end: self.end,
            active: self.active,
        }
    }

    /// Seconds the fault has acted at `now`.
    fn elapsed_s(&self, now: Timestamp) -> f64 {
        now.micros_since(self.start).max(0) as f64 / 1e6
    }
}

impl FieldModel {
    /// Injects a fault that starts `spec.offset` after `origin` (the start
    /// of the simulation for a schedule, [`now`](Self::now) on demand) and
    /// acts from the first step at or after that time.
    pub fn inject(
        &mut self,
        spec: &FaultSpec,
        origin: Timestamp,
    ) -> Result<FaultStatus, FaultError> {
        let target = self.fault_target(spec)?;
        let (start, end) = spec.window(origin);
        let record = FaultRecord {
            id: self.next_fault_id,
            path: spec.target.clone(),
            target,
            kind: spec.kind,
            start,
            end,
            active: false,
            frozen: f64::NAN,
        };
        self.next_fault_id += 1;
        let status = record.status();
        events::fault_injected(&status);
        self.faults.push(record);
        Ok(status)
    }

    /// Ends the fault with `id` now, whether it has started or not.
    pub fn clear(&mut self, id: u64) -> Result<FaultStatus, FaultError> {
        let position = self
            .faults
            .iter()
            .position(|fault| fault.id == id)
            .ok_or(FaultError::UnknownFault(id))?;
        let status = self.faults.remove(position).status();
        events::fault_cleared(&status);
        Ok(status)
    }

    /// Faults scheduled or active, in the order they were injected.
    pub fn faults(&self) -> Vec<FaultStatus> {
        self.faults.iter().map(FaultRecord::status).collect()
    }

    /// Where `spec` acts, if the fault fits its target.
    fn fault_target(&self, spec: &FaultSpec) -> Result<Target, FaultError> {
        let refuse = |reason: &str| FaultError::NotApplicable {
            target: spec.target.clone(),
            kind: spec.kind.name(),
            reason: reason.to_owned(),
        };
        if let Some(well) = self.well_by_path.get(spec.target.as_str()) {
            if spec.kind.is_sensor() {
                return Err(refuse("a sensor fault needs a tag, and this is a well"));
            }
            process_fault_fits(spec.kind, &self.wells[*well].lift)
                .map_err(|reason| refuse(&reason))?;
            return Ok(Target::Well(*well));
        }
        let Some(index) = self.tag_index(spec.target.as_str()) else {
            return Err(FaultError::UnknownTarget(spec.target.clone()));
        };
        let tag = &self.tags[index.get()];
        if !spec.kind.is_sensor() {
            return Err(refuse("a process fault needs a well, and this is a tag"));
        }
        if tag.signal.is_command() {
            return Err(refuse("it is a setpoint or command, not a sensor"));
        }
        let numeric_only = matches!(spec.kind, FaultKind::Spikes | FaultKind::Drift);
        if numeric_only && tag.signal.is_boolean() {
            return Err(refuse("it needs a numeric tag, and this one is on/off"));
        }
        Ok(Target::Tag(index.get()))
    }

    /// Starts faults whose time has come and drops those that have ended.
    pub(super) fn update_faults(&mut self) {
        let now = self.now;
        for fault in &mut self.faults {
            let ended = fault.end.is_some_and(|end| end <= now);
            if !fault.active && !ended && fault.start <= now {
                fault.active = true;
                if let Target::Tag(tag) = fault.target {
                    fault.frozen = self.values[tag];
                }
                events::fault_started(&fault.status());
            }
            if ended {
                events::fault_ended(&fault.status());
            }
        }
        self.faults
            .retain(|fault| fault.end.is_none_or(|end| end > now));
    }

    /// Works out how far each active process fault has gone in its well.
    pub(super) fn apply_process_faults(&mut self) {
        for well in &mut self.wells {
            well.effects = Effects::default();
        }
        let now = self.now;
        for fault in self.faults.iter().filter(|fault| fault.active) {
            let Target::Well(well) = fault.target else {
                continue;
            };
            let effects = &mut self.wells[well].effects;
            let elapsed_s = fault.elapsed_s(now);
            let days = elapsed_s / 86_400.0;
            match fault.kind {
                FaultKind::GasLock => {
                    effects.gas_lock = effects.gas_lock.max(onset(elapsed_s, GAS_LOCK_ONSET_S));
                }
                FaultKind::PumpWear => {
                    let wear = (days * PUMP_WEAR_PER_DAY).min(PUMP_WEAR_MAX);
                    effects.pump_wear = effects.pump_wear.max(wear);
                }
                FaultKind::BrokenShaft => effects.broken_shaft = true,
                FaultKind::SandProduction => {
                    effects.sand = effects.sand.max(onset(elapsed_s, SAND_ONSET_S));
                }
                FaultKind::TubingLeak => {
                    let leak = onset(elapsed_s, TUBING_LEAK_ONSET_S);
                    effects.tubing_leak = effects.tubing_leak.max(leak);
                }
                FaultKind::HydrateBlockage => {
                    let blocked = HYDRATE_MAX * onset(elapsed_s, HYDRATE_ONSET_S);
                    effects.hydrate = effects.hydrate.max(blocked);
                }
                FaultKind::ChokeErosion => {
                    let erosion = (days * 24.0 * CHOKE_EROSION_PER_HOUR).min(CHOKE_EROSION_MAX);
                    effects.choke_erosion = effects.choke_erosion.max(erosion);
                }
                FaultKind::Stuck
                | FaultKind::Spikes
                | FaultKind::Drift
                | FaultKind::Dropout
                | FaultKind::BadQuality => {
                    unreachable!("bug: sensor faults are only injected on tags")
                }
            }
        }
    }

    /// Changes what faulty sensors read, after they have been read.
    pub(super) fn apply_sensor_faults(&mut self) {
        let now = self.now;
        for fault in self.faults.iter().filter(|fault| fault.active) {
            let Target::Tag(index) = fault.target else {
                continue;
            };
            let tag = &self.tags[index];
            let value = self.values[index];
            // A tag with an open range spikes and drifts relative to its
            // own size.
            let span = if (tag.high - tag.low).is_finite() {
                tag.high - tag.low
            } else {
                value.abs().max(1.0)
            };
            match fault.kind {
                FaultKind::Stuck => self.values[index] = fault.frozen,
                FaultKind::Spikes => {
                    if self.noise.random::<f64>() < SPIKE_PROBABILITY {
                        let size = span * self.noise.random_range(0.1..0.33);
                        let signed = if self.noise.random::<bool>() {
                            size
                        } else {
                            -size
                        };
                        self.values[index] = (value + signed).clamp(tag.low, tag.high);
                    }
                }
                FaultKind::Drift => {
                    let hours = fault.elapsed_s(now) / 3_600.0;
                    let drifted = value + span * DRIFT_PER_HOUR * hours;
                    self.values[index] = drifted.clamp(tag.low, tag.high);
                }
                FaultKind::Dropout => {
                    self.values[index] = f64::NAN;
                    self.qualities[index] = Quality::BAD_NO_COMMUNICATION;
                }
                FaultKind::BadQuality => self.qualities[index] = Quality::BAD_SENSOR_FAILURE,
                FaultKind::GasLock
                | FaultKind::PumpWear
                | FaultKind::BrokenShaft
                | FaultKind::SandProduction
                | FaultKind::TubingLeak
                | FaultKind::HydrateBlockage
                | FaultKind::ChokeErosion => {
                    unreachable!("bug: process faults are only injected on wells")
                }
            }
        }
    }
}

/// How far a fault that takes `onset_s` seconds to build has got after
/// `elapsed_s`: from 0 to 1.
fn onset(elapsed_s: f64, onset_s: f64) -> f64 {
    (elapsed_s / onset_s).min(1.0)
}
