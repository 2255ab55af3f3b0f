//! The running simulator: the field model behind a lock, and the register
//! image the Modbus server reads without taking it.
//!
//! [`Simulator`] is what the servers share. Stepping, writes and fault
//! injection take the model's lock (a step of 60,000 tags holds it for a
//! few milliseconds); Modbus reads only clone the last published image.
//! Servers that keep their own copy of the values (OPC UA) learn of each
//! step through [`Simulator::steps`].

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Instant;

use flowline_catalog::Document;
use flowline_catalog::modbus::Table;
use flowline_core::{Timestamp, Value};
use serde::Serialize;
use tokio::sync::watch;
use tokio_modbus::ExceptionCode;

use crate::config::SimConfig;
use crate::error::{FaultError, SimError, WriteError};
use crate::events;
use crate::fault::FaultSpec;
use crate::modbus::image::{RegisterImage, RegisterMap};
use crate::model::{FaultStatus, FieldModel, Reading, TagIndex, WellReport};

/// Where a write came from, for logs and metrics.
pub(crate) const SOURCE_MODBUS: &str = "modbus";
/// Where a write came from, for logs and metrics.
const SOURCE_API: &str = "api";
/// Where a write came from, for logs and metrics.
pub(crate) const SOURCE_OPCUA: &str = "opcua";

/// A simulated field ready to serve: model, register map and image.
#[derive(Debug)]
pub struct Simulator {
    /// How it runs.
    config: SimConfig,
    /// Which tag owns each Modbus register; fixed.
    map: RegisterMap,
    /// The model and the image it last wrote.
    state: Mutex<State>,
    /// The image Modbus reads are served from.
    published: RwLock<Arc<RegisterImage>>,
    /// The number of steps taken, announced after each step.
    stepped: watch::Sender<u64>,
}

/// What the lock guards.
#[derive(Debug)]
struct State {
    /// The field.
    model: FieldModel,
    /// The image as last written; the same as the published one.
    image: Arc<RegisterImage>,
}

/// The simulator at a glance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Status {
    /// The seed the field was made from.
    pub seed: u64,
    /// When the simulation started.
    pub start: Timestamp,
    /// The time of the last step.
    pub time: Timestamp,
    /// Steps taken.
    pub steps: u64,
    /// Number of pads.
    pub pads: usize,
    /// Number of wells.
    pub wells: usize,
    /// Number of tags.
    pub tags: usize,
    /// Number of faults scheduled or active.
    pub faults: usize,
}

impl Simulator {
    /// Builds the field of `document` as `config` says, starting at
    /// `start`, with the configured faults scheduled from `start`.
    pub fn new(document: &Document, config: SimConfig, start: Timestamp) -> Result<Self, SimError> {
        config.validate()?;
        let mut model = FieldModel::new(document, config.seed, start)?;
        for spec in &config.faults {
            model
                .inject(spec, start)
                .map_err(|source| SimError::Schedule {
                    entry: spec.to_string(),
                    source,
                })?;
        }
        let map = RegisterMap::new(&model);
        let mut image = map.empty_image();
        map.refresh(&model, &mut image);
        events::field_built(
            model.well_count(),
            model.pad_count(),
            model.tag_count(),
            config.seed,
        );
        let image = Arc::new(image);
        Ok(Simulator {
            config,
            map,
            published: RwLock::new(Arc::clone(&image)),
            state: Mutex::new(State { model, image }),
            stepped: watch::Sender::new(0),
        })
    }

    /// How the simulator runs.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Advances the field to `now` and publishes the new register image.
    pub fn step(&self, now: Timestamp) {
        let started = Instant::now();
        let mut state = self.lock();
        state.model.step(now);
        self.republish(&mut state, |map, model, image| map.refresh(model, image));
        let steps = state.model.steps();
        drop(state);
        self.stepped.send_replace(steps);
        events::step_finished(started.elapsed());
    }

    /// Announces every step: the receiver sees the number of steps taken
    /// change once a step has finished and the model's lock is free. A
    /// receiver that falls behind sees only the latest number.
    pub fn steps(&self) -> watch::Receiver<u64> {
        self.stepped.subscribe()
    }

    /// Runs `read` on the model, under its lock.
    pub fn with_model<R>(&self, read: impl FnOnce(&FieldModel) -> R) -> R {
        read(&self.lock().model)
    }

    /// What the tag at `path` reads now.
    pub fn reading(&self, path: &str) -> Option<Reading> {
        self.with_model(|model| model.reading(path))
    }

    /// A well's readings and faults.
    pub fn well_report(&self, path: &str) -> Option<WellReport> {
        self.with_model(|model| model.well_report(path))
    }

    /// The simulator at a glance.
    pub fn status(&self) -> Status {
        self.with_model(|model| Status {
            seed: model.seed(),
            start: model.start(),
            time: model.now(),
            steps: model.steps(),
            pads: model.pad_count(),
            wells: model.well_count(),
            tags: model.tag_count(),
            faults: model.faults().len(),
        })
    }

    /// Faults scheduled or active.
    pub fn faults(&self) -> Vec<FaultStatus> {
        self.with_model(FieldModel::faults)
    }

    /// Injects a fault `spec.offset` after the last step.
    pub fn inject(&self, spec: &FaultSpec) -> Result<FaultStatus, FaultError> {
        let mut state = self.lock();
        let now = state.model.now();
        state.model.inject(spec, now)
    }

    /// Ends the fault with `id` now.
    pub fn clear(&self, id: u64) -> Result<FaultStatus, FaultError> {
        self.lock().model.clear(id)
    }

    /// Writes a setpoint or run command by path, as an operator through
    /// the API would; Modbus clients see it at once.
    pub fn write(&self, path: &str, value: &Value) -> Result<(), WriteError> {
        self.write_from(path, value, SOURCE_API)
    }

    /// Writes as [`write`](Self::write) does, naming `source` (`api`,
    /// `opcua`) in logs and metrics.
    pub(crate) fn write_from(
        &self,
        path: &str,
        value: &Value,
        source: &'static str,
    ) -> Result<(), WriteError> {
        let mut state = self.lock();
        if let Err(error) = state.model.write(path, value) {
            events::write_refused(path, &error, source);
            return Err(error);
        }
        events::write_accepted(path, value, source);
        self.republish(&mut state, |map, model, image| map.refresh(model, image));
        Ok(())
    }

    /// Writes `words` into `table` of map unit `unit` from `address`, as a
    /// Modbus client does: each touched tag's registers are merged with
    /// what they held, decoded and checked, and only if every tag accepts
    /// its new value are any written.
    pub(crate) fn write_registers(
        &self,
        unit: usize,
        table: Table,
        address: u16,
        words: &[u16],
        bindings: &[usize],
    ) -> Result<(), ExceptionCode> {
        let mut state = self.lock();
        let mut accepted: Vec<(TagIndex, Value)> = Vec::with_capacity(bindings.len());
        for &index in bindings {
            let binding = self.map.binding(index);
            let start = binding.address.address;
            let mut merged = state
                .image
                .words(unit, table, start, usize::from(binding.address.width()))
                .to_vec();
            for (offset, word) in merged.iter_mut().enumerate() {
                let register = usize::from(start) + offset;
                if let Some(written) = register
                    .checked_sub(usize::from(address))
                    .and_then(|position| words.get(position))
                {
                    *word = *written;
                }
            }
            let path = state.model.tag_path(binding.tag).clone();
            let value = binding.address.decode(&merged).map_err(|error| {
                events::write_refused(path.as_str(), &error, SOURCE_MODBUS);
                ExceptionCode::IllegalDataValue
            })?;
            if let Err(error) = state.model.check_write(binding.tag, &value) {
                events::write_refused(path.as_str(), &error, SOURCE_MODBUS);
                return Err(ExceptionCode::IllegalDataValue);
            }
            accepted.push((binding.tag, value));
        }

        for (tag, value) in &accepted {
            state
                .model
                .write_at(*tag, value)
                .expect("bug: a write that passed its check is accepted");
            events::write_accepted(state.model.tag_path(*tag).as_str(), value, SOURCE_MODBUS);
        }
        self.republish(&mut state, |map, model, image| map.refresh(model, image));
        Ok(())
    }

    /// The register map.
    pub(crate) fn map(&self) -> &RegisterMap {
        &self.map
    }

    /// The image Modbus reads are served from.
    pub(crate) fn image(&self) -> Arc<RegisterImage> {
        Arc::clone(
            &self
                .published
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// Lets `update` rewrite the image and publishes the result.
    fn republish(
        &self,
        state: &mut State,
        update: impl FnOnce(&RegisterMap, &FieldModel, &mut RegisterImage),
    ) {
        let State { model, image } = state;
        // The published copy shares this image, so this clones it: readers
        // holding the old one keep a consistent picture.
        update(&self.map, model, Arc::make_mut(image));
        *self
            .published
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::clone(image);
    }

    /// The model's lock. A panic while it was held is a bug that has
    /// already been reported; the model is still usable, so carry on.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
