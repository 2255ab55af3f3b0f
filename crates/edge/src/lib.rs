//! The edge gateway: reads the field over Modbus TCP and OPC UA and
//! publishes samples; writes commands back to the field.
//!
//! Connectors read devices and hand batches of samples to a
//! [`SamplePublisher`]. Until the event bus exists the publisher is a
//! channel ([`ChannelPublisher`]); store-and-forward wraps any publisher so
//! that samples survive an outage of what is behind it.

pub mod command;
mod command_events;
mod gateway;
pub mod modbus;
pub mod opcua;
mod publish;
mod spool;

pub use gateway::{
    Gateway, GatewayConfig, GatewayError, ModbusEndpoint, POLL_GROUP_ATTRIBUTE, Plan, Route,
    TagWriteError, catalog_points, plan,
};
pub use publish::{ChannelPublisher, PublishError, SamplePublisher};
pub use spool::{
    ForwardConfig, FsyncMode, Spool, SpoolConfig, SpoolError, SpoolPosition, SpooledBatch,
    StoreAndForward,
};
