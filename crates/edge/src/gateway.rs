//! The gateway as a whole: its configuration, the devices it reads, and
//! writes by tag.
//!
//! Modbus points come from the catalog (every tag with a Modbus source) or
//! from a point-list file; each is assigned to the Modbus endpoint that
//! serves its unit and to its poll group (a tag's `poll_group` attribute,
//! or the point list's `group` column; `default` otherwise). OPC UA points
//! are every catalog tag with an OPC UA source, on the endpoint its
//! `opcua_endpoint` attribute names (see [`crate::opcua::plan_devices`]).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use flowline_catalog::modbus::{self, DEFAULT_GROUP, ModbusAddress, Point};
use flowline_catalog::{Protocol, RowError, Snapshot};
use flowline_core::{TagId, Value};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::SamplePublisher;
use crate::command::{CommandConfig, Verifier};
use crate::modbus::{Device, DeviceHandle, PollGroup, PolledPoint, Timings, WriteFailure};
use crate::opcua::{self, NodeAddress, OpcUaDevice, OpcUaEndpoint, OpcUaHandle};
use crate::spool::{ForwardConfig, SpoolConfig};

/// The tag attribute that names a tag's poll group.
pub const POLL_GROUP_ATTRIBUTE: &str = "poll_group";

/// Settings of the gateway: `[gateway]` in the configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// A point-list CSV to poll instead of the catalog's Modbus bindings.
    /// Empty, the default, polls every catalog tag with a Modbus source.
    pub points: String,
    /// Poll groups: name and interval in milliseconds. The default has one
    /// group, `default`, at 1,000 ms.
    pub poll_groups: BTreeMap<String, u64>,
    /// The Modbus TCP endpoints to poll. Empty by default; `flowline up
    /// --demo` adds the simulator's.
    pub modbus: Vec<ModbusEndpoint>,
    /// The OPC UA servers to read: `[[gateway.opcua]]`. Empty by default.
    pub opcua: Vec<OpcUaEndpoint>,
    /// Longest wait for a connection, in milliseconds. The default is 2,000.
    pub connect_timeout_ms: u64,
    /// Longest wait for one answer, in milliseconds. The default is 1,000.
    pub request_timeout_ms: u64,
    /// Longest wait between connection attempts to a device that is down,
    /// in milliseconds; attempts start at 100 ms and double. The default is
    /// 10,000.
    pub reconnect_max_ms: u64,
    /// Unused addresses a read may span to join two points into one
    /// request. The default, 0, reads only what is bound: some devices
    /// refuse reads that touch unmapped addresses.
    pub max_gap: u16,
    /// Command write-back.
    pub commands: CommandConfig,
    /// The disk buffer that holds samples while the bus is unreachable.
    pub spool: SpoolConfig,
    /// How samples are published to the bus and the spool drained.
    pub forward: ForwardConfig,
}

/// One Modbus TCP endpoint: a PLC, an RTU, or a gateway to serial devices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusEndpoint {
    /// The device's name, for logs and metrics.
    pub name: String,
    /// Where it listens, as IP:PORT.
    pub address: String,
    /// The unit ids it serves; empty means every unit no other endpoint
    /// lists.
    #[serde(default)]
    pub units: Vec<u8>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            points: String::new(),
            poll_groups: BTreeMap::from([(DEFAULT_GROUP.to_owned(), 1_000)]),
            modbus: Vec::new(),
            opcua: Vec::new(),
            connect_timeout_ms: 2_000,
            request_timeout_ms: 1_000,
            reconnect_max_ms: 10_000,
            max_gap: 0,
            commands: CommandConfig::default(),
            spool: SpoolConfig::default(),
            forward: ForwardConfig::default(),
        }
    }
}

/// Why the gateway cannot start with its configuration and points.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GatewayError {
    /// A setting is unusable: (key, problem).
    #[error("{}", join(.0.iter().map(|(key, problem)| format!("{key}: {problem}"))))]
    Config(Vec<(String, String)>),
    /// Points cannot be polled as given.
    #[error("{} points cannot be polled: {}", .0.len(), join(.0.iter().map(ToString::to_string)))]
    Points(Vec<RowError>),
}

/// A spool or forwarding setting's problem as (key, problem).
fn spool_problem(section: &str, error: &crate::SpoolError) -> (String, String) {
    match error {
        crate::SpoolError::Config { key, message } => (format!("{section}.{key}"), message.clone()),
        other => (section.to_owned(), other.to_string()),
    }
}

fn join(problems: impl Iterator<Item = String>) -> String {
    problems.collect::<Vec<_>>().join("; ")
}

impl GatewayConfig {
    /// Every unusable setting, as (key, problem).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        for (name, interval_ms) in &self.poll_groups {
            if *interval_ms == 0 {
                problems.push((
                    format!("gateway.poll_groups.{name}"),
                    "expected at least 1 ms, found 0".to_owned(),
                ));
            }
        }
        for (key, value) in [
            ("gateway.connect_timeout_ms", self.connect_timeout_ms),
            ("gateway.request_timeout_ms", self.request_timeout_ms),
            ("gateway.reconnect_max_ms", self.reconnect_max_ms),
            (
                "gateway.commands.write_timeout_ms",
                self.commands.write_timeout_ms,
            ),
            (
                "gateway.commands.max_lifetime_s",
                self.commands.max_lifetime_s,
            ),
        ] {
            if value == 0 {
                problems.push((key.to_owned(), "expected at least 1, found 0".to_owned()));
            }
        }
        if let Err(error) = Verifier::new(&self.commands, flowline_core::Timestamp::UNIX_EPOCH) {
            problems.push((error.key(), error.reason().to_owned()));
        }
        for (section, checked) in [
            ("gateway.spool", self.spool.validate()),
            ("gateway.forward", self.forward.validate()),
        ] {
            if let Err(error) = checked {
                problems.push(spool_problem(section, &error));
            }
        }
        problems.extend(opcua::check_endpoints(&self.opcua, "gateway.opcua"));
        let mut names = Vec::new();
        let mut units: HashMap<u8, &str> = HashMap::new();
        let mut catch_all = None;
        for (index, endpoint) in self.modbus.iter().enumerate() {
            let key = format!("gateway.modbus[{index}]");
            if endpoint.address.parse::<SocketAddr>().is_err() {
                let problem = format!(
                    "address: expected IP:PORT such as 10.0.4.21:502, found `{}`",
                    endpoint.address
                );
                problems.push((key.clone(), problem));
            }
            if names.contains(&endpoint.name.as_str()) {
                problems.push((
                    key.clone(),
                    format!("name `{}` is used twice", endpoint.name),
                ));
            }
            names.push(&endpoint.name);
            if endpoint.units.is_empty()
                && let Some(other) = catch_all.replace(endpoint.name.as_str())
            {
                let problem = format!(
                    "`{other}` and `{}` both serve every unit; list units for one",
                    endpoint.name
                );
                problems.push((key.clone(), problem));
            }
            for unit in &endpoint.units {
                if let Some(other) = units.insert(*unit, &endpoint.name) {
                    problems.push((
                        key.clone(),
                        format!("unit {unit} is also served by `{other}`"),
                    ));
                }
            }
        }
        problems
    }

    /// The connector timings these settings give.
    pub fn timings(&self) -> Timings {
        Timings {
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            reconnect_max: Duration::from_millis(self.reconnect_max_ms),
            ..Timings::default()
        }
    }
}

/// Every catalog tag with a Modbus source, as points, in path order.
pub fn catalog_points(snapshot: &Snapshot) -> Result<Vec<Point>, GatewayError> {
    let mut points = Vec::new();
    let mut problems = Vec::new();
    for entry in snapshot.tags() {
        let spec = &entry.tag.spec;
        let Some(source) = spec
            .source
            .as_ref()
            .filter(|source| source.protocol == Protocol::Modbus)
        else {
            continue;
        };
        match source.address.parse::<ModbusAddress>() {
            Ok(address) => points.push(Point {
                path: spec.path.clone(),
                address,
                group: spec
                    .attributes
                    .get(POLL_GROUP_ATTRIBUTE)
                    .map_or(DEFAULT_GROUP, String::as_str)
                    .to_owned(),
                line: None,
            }),
            Err(error) => problems.push(RowError {
                line: None,
                path: Some(spec.path.to_string()),
                message: error.to_string(),
            }),
        }
    }
    if problems.is_empty() {
        Ok(points)
    } else {
        Err(GatewayError::Points(problems))
    }
}

/// What the gateway reads: one device per endpoint that has points, and
/// where each tag is written.
#[derive(Debug)]
pub struct Plan {
    /// The Modbus devices to poll.
    pub devices: Vec<Device>,
    /// The OPC UA servers to read.
    pub opcua: Vec<OpcUaDevice>,
    /// Where each tag is, for writes.
    pub addresses: HashMap<TagId, Route>,
}

/// Where a tag is written: its device (by name) and its address there.
#[derive(Clone, Debug, PartialEq)]
pub enum Route {
    /// A register or coil of a Modbus endpoint.
    Modbus(String, ModbusAddress),
    /// A node of an OPC UA server.
    OpcUa(String, NodeAddress),
}

/// Assigns the Modbus `points` to endpoints and poll groups, resolving
/// their paths in `snapshot`, and the catalog's OPC UA tags to their
/// servers. Reports every point that cannot be read.
pub fn plan(
    config: &GatewayConfig,
    snapshot: &Snapshot,
    points: &[Point],
) -> Result<Plan, GatewayError> {
    let problems = config.problems();
    if !problems.is_empty() {
        return Err(GatewayError::Config(problems));
    }

    let mut errors = modbus::overlaps(points);
    let mut grouped: BTreeMap<(usize, &str), Vec<PolledPoint>> = BTreeMap::new();
    let mut addresses = HashMap::new();
    for point in points {
        let fail = |message: String| RowError {
            line: point.line,
            path: Some(point.path.to_string()),
            message,
        };
        let Some(entry) = snapshot.tag_by_path(point.path.as_str()) else {
            errors.push(fail("no such tag in the catalog".to_owned()));
            continue;
        };
        if !config.poll_groups.contains_key(&point.group) {
            let known: Vec<&str> = config.poll_groups.keys().map(String::as_str).collect();
            errors.push(fail(format!(
                "unknown poll group `{}`; configured: {}",
                point.group,
                known.join(", ")
            )));
            continue;
        }
        let unit = point.address.unit;
        let endpoint = config
            .modbus
            .iter()
            .position(|endpoint| endpoint.units.contains(&unit))
            .or_else(|| {
                config
                    .modbus
                    .iter()
                    .position(|endpoint| endpoint.units.is_empty())
            });
        let Some(endpoint) = endpoint else {
            errors.push(fail(format!(
                "no Modbus endpoint in gateway.modbus serves unit {unit}"
            )));
            continue;
        };
        grouped
            .entry((endpoint, point.group.as_str()))
            .or_default()
            .push(PolledPoint {
                tag: entry.tag.id,
                address: point.address,
            });
        addresses.insert(
            entry.tag.id,
            Route::Modbus(config.modbus[endpoint].name.clone(), point.address),
        );
    }
    let opcua = match opcua::plan_devices(snapshot, &config.opcua) {
        Ok(devices) => devices,
        Err(problems) => {
            errors.extend(problems);
            Vec::new()
        }
    };
    for device in &opcua {
        for point in &device.points {
            let route = Route::OpcUa(device.endpoint.name.clone(), point.node.clone());
            addresses.insert(point.tag, route);
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|error| error.line.unwrap_or(usize::MAX));
        return Err(GatewayError::Points(errors));
    }

    let mut devices: Vec<Device> = Vec::new();
    for ((endpoint, group), points) in grouped {
        let endpoint = &config.modbus[endpoint];
        let interval = Duration::from_millis(config.poll_groups[group]);
        let poll_group = PollGroup::new(group, interval, points, config.max_gap);
        match devices
            .iter_mut()
            .find(|device| device.name == endpoint.name)
        {
            Some(device) => device.groups.push(poll_group),
            None => devices.push(Device {
                name: endpoint.name.clone(),
                endpoint: endpoint
                    .address
                    .parse()
                    .expect("bug: checked by problems()"),
                groups: vec![poll_group],
            }),
        }
    }
    Ok(Plan {
        devices,
        opcua,
        addresses,
    })
}

/// A running gateway: its device tasks and how to write through them.
pub struct Gateway {
    modbus: HashMap<String, DeviceHandle>,
    opcua: HashMap<String, OpcUaHandle>,
    addresses: HashMap<TagId, Route>,
    tasks: Vec<JoinHandle<()>>,
}

/// Why a write by tag did not happen.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TagWriteError {
    /// The gateway polls no such tag.
    #[error("tag {0} is not served by this gateway")]
    UnknownTag(TagId),
    /// The Modbus device did not take the write.
    #[error(transparent)]
    Device(#[from] WriteFailure),
    /// The OPC UA server did not take the write.
    #[error(transparent)]
    Server(#[from] opcua::WriteFailure),
}

impl Gateway {
    /// Starts one task per device and server of `plan`, publishing to
    /// `publisher`, until `shutdown`.
    pub fn start<P: SamplePublisher>(
        plan: Plan,
        timings: Timings,
        publisher: Arc<P>,
        shutdown: CancellationToken,
    ) -> Gateway {
        let mut modbus = HashMap::new();
        let mut opcua = HashMap::new();
        let mut tasks = Vec::new();
        for device in plan.devices {
            let name = device.name.clone();
            let (handle, task) =
                crate::modbus::spawn(device, timings, Arc::clone(&publisher), shutdown.clone());
            modbus.insert(name, handle);
            tasks.push(task);
        }
        for device in plan.opcua {
            let name = device.endpoint.name.clone();
            let (handle, task) = opcua::spawn(device, Arc::clone(&publisher), shutdown.clone());
            opcua.insert(name, handle);
            tasks.push(task);
        }
        Gateway {
            modbus,
            opcua,
            addresses: plan.addresses,
            tasks,
        }
    }

    /// Writes `value` to the tag and returns what its device holds after
    /// the write (the read-back).
    pub async fn write(&self, tag: TagId, value: Value) -> Result<Value, TagWriteError> {
        let unknown = TagWriteError::UnknownTag(tag);
        match self.addresses.get(&tag).ok_or(unknown.clone())? {
            Route::Modbus(device, address) => {
                let handle = self.modbus.get(device).ok_or(unknown)?;
                Ok(handle.write(*address, value).await?)
            }
            Route::OpcUa(server, node) => {
                let handle = self.opcua.get(server).ok_or(unknown)?;
                Ok(handle.write(node.clone(), value).await?)
            }
        }
    }

    /// Waits for every device task to stop (after the shutdown token).
    pub async fn stopped(self) {
        for task in self.tasks {
            // A panicked device task has already been reported by tokio.
            let _ = task.await;
        }
    }
}
