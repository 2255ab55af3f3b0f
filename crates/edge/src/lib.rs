//! The edge gateway: reads the field over Modbus TCP and OPC UA and
//! publishes samples; writes commands back to the field.
//!
//! Connectors read devices and hand batches of samples to a
//! [`SamplePublisher`]: [`BusPublisher`] sends them to the bus's
//! `raw-sensor-data`, [`ChannelPublisher`] into a channel of the process;
//! store-and-forward wraps either, so that samples survive an outage of
//! what is behind it.

pub mod command;
mod command_events;
mod gateway;
pub mod modbus;
pub mod opcua;
mod publish;
mod publish_events;
mod spool;

pub use gateway::{
    Gateway, GatewayConfig, GatewayError, ModbusEndpoint, POLL_GROUP_ATTRIBUTE, Plan, Route,
    TagWriteError, catalog_points, plan,
};
pub use publish::{BusPublisher, ChannelPublisher, PublishError, SamplePublisher};
pub use spool::{
    ForwardConfig, FsyncMode, Spool, SpoolConfig, SpoolError, SpoolPosition, SpooledBatch,
    StoreAndForward,
};
