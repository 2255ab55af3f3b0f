//! The simulator's Modbus TCP server and its point list.
//!
//! Each tag bound to Modbus in the catalog is served where its binding says
//! (in the demo, one unit id per pad: measurements in input registers as
//! f32, states in discrete inputs, setpoints in holding registers as f32,
//! run commands in coils). [`point_list`] gives the same map as points for
//! the gateway's point-list CSV.

pub(crate) mod image;
mod service;

use std::sync::Arc;

use flowline_catalog::Document;
use flowline_catalog::Protocol;
use flowline_catalog::modbus::{ModbusAddress, Point, Table};
use tokio::net::TcpListener;
use tokio_modbus::server::tcp::{Server, accept_tcp_connection};
use tokio_util::sync::CancellationToken;

use crate::error::{BuildError, SimError};
use crate::events;
use crate::simulator::Simulator;

pub use service::ModbusService;

/// The poll group of measurements (input registers), which change every
/// step and are worth polling at the step rate.
pub const FAST_GROUP: &str = "fast";
/// The poll group of states, setpoints and commands (discrete inputs,
/// holding registers and coils), which change only on events and writes.
pub const SLOW_GROUP: &str = "slow";

/// Every Modbus-bound tag of `document` as a point of the gateway's point
/// list, in document order: input registers in [`FAST_GROUP`], the other
/// tables in [`SLOW_GROUP`]. Write it with
/// [`write_point_list`](flowline_catalog::modbus::write_point_list).
pub fn point_list(document: &Document) -> Result<Vec<Point>, BuildError> {
    let mut points = Vec::new();
    for entry in &document.tags {
        let spec = &entry.spec;
        let Some(source) = spec
            .source
            .as_ref()
            .filter(|source| source.protocol == Protocol::Modbus)
        else {
            continue;
        };
        let address: ModbusAddress =
            source
                .address
                .parse()
                .map_err(|error| BuildError::Binding {
                    tag: spec.path.clone(),
                    source: error,
                })?;
        let group = if address.table == Table::InputRegister {
            FAST_GROUP
        } else {
            SLOW_GROUP
        };
        points.push(Point {
            path: spec.path.clone(),
            address,
            group: group.to_owned(),
            line: None,
        });
    }
    Ok(points)
}

/// Serves `sim` over Modbus TCP on `listener` until `cancel` is cancelled.
/// Connections are served concurrently; each is closed when serving stops.
pub async fn serve_modbus(
    sim: Arc<Simulator>,
    listener: TcpListener,
    cancel: CancellationToken,
) -> Result<(), SimError> {
    let address = listener.local_addr().map_err(|source| SimError::Modbus {
        address: "unknown".to_owned(),
        source,
    })?;
    events::modbus_listening(address, sim.map().unit_count(), sim.map().point_count());

    let service = Arc::new(ModbusService::new(sim));
    let on_connected = move |stream, peer| {
        let service = Arc::clone(&service);
        async move { accept_tcp_connection(stream, peer, move |_| Ok(Some(Arc::clone(&service)))) }
    };
    let on_process_error = |error: std::io::Error| events::modbus_connection_failed(&error);
    let result = Server::new(listener)
        .serve_until(&on_connected, on_process_error, cancel.cancelled_owned())
        .await;
    events::modbus_stopped(address);
    result.map(|_| ()).map_err(|source| SimError::Modbus {
        address: address.to_string(),
        source,
    })
}
