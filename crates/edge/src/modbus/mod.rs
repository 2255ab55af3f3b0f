//! The Modbus TCP connector.
//!
//! Points (from the catalog's Modbus bindings or a point-list file) are
//! grouped by device and poll group, planned into the fewest read requests
//! ([`plan_reads`]), and polled by one task per device ([`spawn`]), which
//! also carries out writes with read-back ([`DeviceHandle::write`]).

mod device;
mod events;
mod plan;
mod quality;

pub use device::{Device, DeviceHandle, PollGroup, Poller, Timings, WriteFailure, spawn};
pub use plan::{PolledPoint, Read, plan_reads};
pub use quality::ReadFailure;
