//! The OPC UA client connector.
//!
//! Each configured server ([`OpcUaEndpoint`], `[[gateway.opcua]]`) is read
//! by one task ([`spawn`]) that owns its session: it connects with the
//! configured security and identity, checking the server's certificate
//! against a trust list ([`pki`](self) layout in [`OpcUaEndpoint::pki_dir`]),
//! subscribes to the points' nodes (or reads them periodically), and
//! publishes samples whose quality is the server's status code, bit for bit,
//! with the source timestamp when the server gives one. It writes with
//! read-back through an [`OpcUaHandle`]. [`browse`] imports a server's
//! address space into a catalog [`Document`](flowline_catalog::Document).

mod address;
mod browse;
mod config;
mod convert;
mod device;
mod events;
mod naming;
mod pki;
mod session;

pub use address::{Namespaces, NodeAddress, NodeAddressError};
pub use browse::{
    BrowseError, BrowseOptions, BrowseReport, BrowseWarning, NODE_ATTRIBUTE, UNIT_ATTRIBUTE, browse,
};
pub use config::{
    APPLICATION_NAME, APPLICATION_URI, Acquisition, Deadband, Identity, OpcUaEndpoint,
    SecurityMode, SecurityPolicy, check_endpoints,
};
pub use device::{ENDPOINT_ATTRIBUTE, OpcUaDevice, OpcUaHandle, OpcUaPoint, plan_devices, spawn};
pub use naming::{SegmentError, path_segment};
pub use session::{ConnectError, OpcUaConnector, OpcUaSession, Status, WriteFailure};
