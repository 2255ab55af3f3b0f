//! The field simulator: a virtual oil field that behaves like the real one
//! and talks the real protocols.
//!
//! `flowline up --demo` and `flowline sim` run it so the whole pipeline
//! (gateway, processor, historian, alarms) has a living field to read from
//! the first minute. It models pads of wells lifted by ESP, gas lift, rod
//! pump or natural flow, each pad with a separator and tanks, with
//! plausible, correlated physics ([`FieldModel`]); it injects process and
//! sensor faults on a schedule or on demand ([`fault`]); and it serves every
//! tag over Modbus TCP ([`serve_modbus`], [`point_list`]) and OPC UA
//! ([`OpcUaServer`]), and fault control over HTTP ([`router`]).
//!
//! The model has no clock of its own: it advances to the times it is given,
//! so a seed and a sequence of step times always give the same values.
//! [`run`] drives it from the wall clock.
//!
//! ```no_run
//! # async fn example() -> Result<(), flowline_sim::SimError> {
//! use std::sync::Arc;
//! use flowline_catalog::{DemoLayout, demo_field};
//! use flowline_core::Timestamp;
//! use flowline_sim::{SimConfig, Simulator, run};
//!
//! let document = demo_field(DemoLayout::default());
//! let sim = Arc::new(Simulator::new(&document, SimConfig::default(), Timestamp::now())?);
//! let modbus = tokio::net::TcpListener::bind("127.0.0.1:5020").await.expect("port free");
//! run(sim, modbus, tokio_util::sync::CancellationToken::new()).await
//! # }
//! ```

mod config;
mod error;
mod events;
pub mod fault;
mod http;
mod modbus;
mod model;
mod opcua;
mod run;
mod simulator;

pub use config::{MAX_STEP_INTERVAL_MS, MIN_STEP_INTERVAL_MS, SimConfig};
pub use error::{
    BuildError, ConfigError, FaultError, FaultSpecError, OpcUaError, ScheduleError, SimError,
    WriteError,
};
pub use fault::{FaultKind, FaultSpec, parse_schedule};
pub use http::router;
pub use modbus::{FAST_GROUP, ModbusService, SLOW_GROUP, point_list, serve_modbus};
pub use model::{FaultStatus, FieldModel, Reading, TagIndex, WellReport};
pub use opcua::{
    APPLICATION_NAME, APPLICATION_URI, NAMESPACE_URI, OpcUaConfig, OpcUaServer, OpcUaUser,
};
pub use run::run;
pub use simulator::{Simulator, Status};
