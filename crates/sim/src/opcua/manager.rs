//! The node manager of the simulator's namespace: values copied in bulk
//! from the model after each step, writes passed to the model.
//!
//! Reads, browses and subscriptions are answered by the stack from the
//! address space. [`SimNodeManager::refresh`] rewrites every variable's
//! value there after each step and hands the new values to the
//! subscriptions that watch them; [`SimNodeManager`]'s `write` checks a
//! write against the node and lets [`Simulator`] check it against the
//! tag, so a refused write answers with the status that says why.
//!
//! Locks are always taken in one order: the address space, then the
//! simulator's model. The refresh holds the address space while it copies
//! the model's values, so a write (which holds the address space while the
//! model takes it) is never undone by a refresh that copied the values
//! before it.
//!
//! How a reading becomes a data value:
//!
//! | reading | value | status |
//! | --- | --- | --- |
//! | good or uncertain | Double, or Boolean for on/off tags | the reading's quality |
//! | bad quality (sensor fault `bad-quality`) | empty | the quality, such as BadSensorFailure |
//! | no value (sensor fault `dropout`) | empty | the quality, such as BadNoCommunication |
//!
//! A bad reading never carries a number a client could mistake for a
//! measurement.
//!
//! A write over OPC UA shows at once; one made over Modbus or the HTTP API
//! shows with the next step's refresh.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use flowline_core::{Quality, Value};
use opcua::server::SubscriptionCache;
use opcua::server::address_space::{AccessLevel, AddressSpace, NodeType};
use opcua::server::diagnostics::NamespaceMetadata;
use opcua::server::node_manager::memory::InMemoryNodeManagerImpl;
use opcua::server::node_manager::{ParsedWriteValue, RequestContext, ServerContext, WriteNode};
use opcua::sync::RwLock;
use opcua::types::{AttributeId, DataTypeId, DataValue, DateTime, Identifier, StatusCode, Variant};

use super::nodes::ServedTag;
use crate::error::WriteError;
use crate::simulator::{SOURCE_OPCUA, Simulator};

/// The node manager's name, for the stack's logs.
const NAME: &str = "flowline-sim";

/// The simulator's namespace, served from an in-memory address space.
pub(crate) struct SimNodeManager {
    /// What is served.
    sim: Arc<Simulator>,
    /// The namespace's URI and index.
    namespace: NamespaceMetadata,
    /// Every tag's variable, in the model's order.
    tags: Vec<ServedTag>,
    /// The model's values and qualities as last copied; kept so a refresh
    /// allocates nothing.
    readings: Mutex<Readings>,
}

/// A copy of every tag's value and quality, in the model's order.
#[derive(Debug, Default)]
struct Readings {
    values: Vec<f64>,
    qualities: Vec<Quality>,
}

impl SimNodeManager {
    /// A manager serving `sim` through `tags`, in the namespace `uri` at
    /// index `index`.
    pub(super) fn new(
        sim: Arc<Simulator>,
        uri: &str,
        index: u16,
        tags: Vec<ServedTag>,
    ) -> SimNodeManager {
        let readings = Readings {
            values: vec![f64::NAN; tags.len()],
            qualities: vec![Quality::BAD_WAITING_FOR_INITIAL_DATA; tags.len()],
        };
        SimNodeManager {
            sim,
            namespace: NamespaceMetadata {
                namespace_uri: uri.to_owned(),
                namespace_index: index,
                is_namespace_subset: Some(false),
                ..NamespaceMetadata::default()
            },
            tags,
            readings: Mutex::new(readings),
        }
    }

    /// Copies the model's current values into `space` and hands them to
    /// the subscriptions watching them, stamped with the time of the
    /// model's last step.
    ///
    /// Fast path: runs after every step for every tag. It hashes each node
    /// id twice (the address space, the monitored items) and allocates
    /// only for the values subscriptions take.
    pub(super) fn refresh(&self, space: &RwLock<AddressSpace>, subscriptions: &SubscriptionCache) {
        let mut space = space.write();
        let mut readings = self.readings.lock().unwrap_or_else(PoisonError::into_inner);
        let Readings { values, qualities } = &mut *readings;
        let time = self.sim.with_model(|model| {
            values.copy_from_slice(model.values());
            qualities.copy_from_slice(model.qualities());
            model.now()
        });
        let source = DateTime::from(time.to_datetime());
        let server = DateTime::now();

        let mut notifier = subscriptions.data_notifier();
        for ((tag, value), quality) in self.tags.iter().zip(values.iter()).zip(qualities.iter()) {
            let data = data_value(tag.boolean, *value, *quality, source, server);
            if let Some(mut batch) = notifier.notify_for(&tag.node, AttributeId::Value) {
                batch.data_value(data.clone());
            }
            if let Some(NodeType::Variable(variable)) = space.find_mut(&tag.node) {
                variable.set_data_value(data);
            }
        }
    }

    /// Carries out one write, with `space` locked; the status says how it
    /// went.
    fn write_one(
        &self,
        context: &RequestContext,
        space: &mut AddressSpace,
        request: &ParsedWriteValue,
    ) -> StatusCode {
        let Some(node) = space.find_mut(&request.node_id) else {
            return StatusCode::BadNodeIdUnknown;
        };
        let NodeType::Variable(variable) = node else {
            return StatusCode::BadNotWritable;
        };
        if request.attribute_id != AttributeId::Value {
            return StatusCode::BadNotWritable;
        }
        if request.index_range.has_range() {
            return StatusCode::BadIndexRangeInvalid;
        }
        if !variable.access_level().contains(AccessLevel::CURRENT_WRITE) {
            return StatusCode::BadNotWritable;
        }
        let allowed = context.authenticator.effective_user_access_level(
            &context.token,
            variable.user_access_level(),
            &request.node_id,
        );
        if !allowed.contains(AccessLevel::CURRENT_WRITE) {
            return StatusCode::BadUserAccessDenied;
        }

        // A node takes values of its own data type only.
        let boolean = variable.data_type() == DataTypeId::Boolean;
        let value = match (boolean, &request.value.value) {
            (true, Some(Variant::Boolean(on))) => Value::Boolean(*on),
            (false, Some(Variant::Double(number))) => Value::Float(*number),
            _ => return StatusCode::BadTypeMismatch,
        };
        let Identifier::String(path) = &request.node_id.identifier else {
            return StatusCode::BadNodeIdUnknown;
        };
        if let Err(error) = self.sim.write_from(path.as_ref(), &value, SOURCE_OPCUA) {
            return status_of(&error);
        }

        // Readers see the written value at once, not after the next step.
        let now = DateTime::now();
        let variant = request
            .value
            .value
            .clone()
            .expect("bug: a value was matched above");
        let data = DataValue {
            value: Some(variant),
            status: Some(StatusCode::Good),
            source_timestamp: Some(now),
            source_picoseconds: None,
            server_timestamp: Some(now),
            server_picoseconds: None,
        };
        variable.set_data_value(data.clone());
        context.subscriptions.notify_data_change(std::iter::once((
            data,
            &request.node_id,
            AttributeId::Value,
        )));
        StatusCode::Good
    }
}

#[async_trait]
impl InMemoryNodeManagerImpl for SimNodeManager {
    async fn init(&self, _space: &mut AddressSpace, _context: ServerContext) {}

    fn name(&self) -> &str {
        NAME
    }

    fn namespaces(&self) -> Vec<NamespaceMetadata> {
        vec![self.namespace.clone()]
    }

    async fn write(
        &self,
        context: &RequestContext,
        space: &RwLock<AddressSpace>,
        nodes_to_write: &mut [&mut WriteNode],
    ) -> Result<(), StatusCode> {
        let mut space = space.write();
        for write in nodes_to_write.iter_mut() {
            let status = self.write_one(context, &mut space, write.value());
            write.set_status(status);
        }
        Ok(())
    }
}

/// The data value of a reading: see the module docs.
fn data_value(
    boolean: bool,
    value: f64,
    quality: Quality,
    source: DateTime,
    server: DateTime,
) -> DataValue {
    let (variant, quality) = if quality.is_bad() {
        (Variant::Empty, quality)
    } else if value.is_nan() {
        // The model reads NaN only with a bad quality; should it not, a
        // missing value still reads as a failed sensor, not as a number.
        (Variant::Empty, Quality::BAD_SENSOR_FAILURE)
    } else if boolean {
        (Variant::Boolean(value != 0.0), quality)
    } else {
        (Variant::Double(value), quality)
    };
    DataValue {
        value: Some(variant),
        status: Some(StatusCode::from(quality.bits())),
        source_timestamp: Some(source),
        source_picoseconds: None,
        server_timestamp: Some(server),
        server_picoseconds: None,
    }
}

/// The status a refused write answers with.
fn status_of(error: &WriteError) -> StatusCode {
    match error {
        WriteError::UnknownTag(_) => StatusCode::BadNodeIdUnknown,
        WriteError::ReadOnly(_) => StatusCode::BadNotWritable,
        WriteError::WrongType { .. } => StatusCode::BadTypeMismatch,
        WriteError::OutOfRange { .. } => StatusCode::BadOutOfRange,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_readings_carry_no_value_and_keep_their_status() {
        let now = DateTime::now();
        let good = data_value(false, 42.5, Quality::GOOD, now, now);
        assert_eq!(good.value, Some(Variant::Double(42.5)));
        assert_eq!(good.status, Some(StatusCode::Good));
        let on = data_value(true, 1.0, Quality::GOOD, now, now);
        assert_eq!(on.value, Some(Variant::Boolean(true)));

        let faulty = data_value(false, 42.5, Quality::BAD_SENSOR_FAILURE, now, now);
        assert_eq!(faulty.value, Some(Variant::Empty));
        assert_eq!(faulty.status, Some(StatusCode::BadSensorFailure));
        let dropped = data_value(false, f64::NAN, Quality::BAD_NO_COMMUNICATION, now, now);
        assert_eq!(dropped.value, Some(Variant::Empty));
        assert_eq!(dropped.status, Some(StatusCode::BadNoCommunication));
        let unexplained = data_value(false, f64::NAN, Quality::GOOD, now, now);
        assert_eq!(unexplained.status, Some(StatusCode::BadSensorFailure));
    }
}
