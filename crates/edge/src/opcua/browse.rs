//! Browse-import: a server's address space as a catalog document.
//!
//! [`browse`] walks the address space breadth first from the Objects folder
//! (or a given object), following hierarchical references to objects and
//! variables, and returns a [`Document`] ready for `flowline catalog
//! import`: an asset per object or folder, a tag per variable, bound to its
//! node by namespace URI so the binding survives a server reconfiguring its
//! namespace indexes. The OPC UA namespace itself (the `Server` object and
//! its diagnostics) is skipped.
//!
//! Asset kinds are a best guess, to be reviewed before importing; the tree
//! always satisfies Flowline's rules (field → pad → well → equipment):
//!
//! | depth below the start | kind |
//! | --- | --- |
//! | 1 | field |
//! | 2 | pad |
//! | 3 | the equipment kind its name suggests (`ESP-2` → esp, `Separator` → separator, …), else well |
//! | 4 and deeper | the equipment kind its name suggests, else other equipment (`equipment`) |
//!
//! With a start object given, that object is the field (depth 1).
//!
//! A tag takes its data type from the variable's `DataType`, writability
//! from `UserAccessLevel`, description from `Description`, unit from the
//! `EngineeringUnits` property (matched by display name), engineering
//! range from `EURange` and valid range from `InstrumentRange`. Path
//! segments come from browse names ([`path_segment`]); siblings whose names
//! collide are numbered deterministically and reported.
//!
//! Limits: at most `max_nodes` objects and variables, at most `max_depth`
//! levels of objects. Reaching the node limit is an error
//! ([`BrowseError::TooManyNodes`]), not a truncated document: an import of
//! part of a server is easy to mistake for all of it. Browse again from a
//! narrower start object or with a higher limit. Every request is bounded
//! by the request timeout, so a browse ends in bounded time.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::time::Instant;

use flowline_catalog::{AssetSpec, Document, Limits, Protocol, SourceBinding, TagSpec};
use flowline_core::{AssetKind, EquipmentKind, MAX_DEPTH, NodePath, Unit};
use opcua::types::{
    AttributeId, BrowseDescription, BrowseDirection, BrowsePath, BrowseResult, BrowseResultMask,
    ByteString, EUInformation, LocalizedText, NodeClass, NodeId, ObjectId, QualifiedName, Range,
    ReadValueId, ReferenceDescription, ReferenceTypeId, RelativePath, RelativePathElement,
    StatusCode, Variant,
};

use super::address::NodeAddress;
use super::config::OpcUaEndpoint;
use super::convert::WireType;
use super::device::ENDPOINT_ATTRIBUTE;
use super::events;
use super::naming::{Collision, Siblings, path_segment};
use super::session::{ConnectError, MAX_NODES_PER_REQUEST, OpcUaSession, Status, value_of};

/// The asset attribute holding the node id an asset was imported from.
pub const NODE_ATTRIBUTE: &str = "opcua_node";
/// The tag attribute holding a unit the catalog does not know, as the
/// server wrote it.
pub const UNIT_ATTRIBUTE: &str = "opcua_unit";

/// Nodes browsed in one Browse request.
const NODES_PER_BROWSE: usize = 100;
/// References asked for per node and request; servers may send fewer, with
/// a continuation point for the rest, or ignore the limit.
const MAX_REFERENCES_PER_NODE: u32 = 1_000;
/// The longest description the catalog accepts, in bytes.
const MAX_DESCRIPTION_LEN: usize = 1_000;
/// The `UserAccessLevel` bit that allows writing the current value.
const CURRENT_WRITE: u8 = 0x02;
/// Value ranks of variables that may hold a scalar: scalar (-1), any (-2)
/// and scalar or one dimension (-3).
const SCALAR_RANKS: [i32; 3] = [-1, -2, -3];

/// What to browse.
#[derive(Clone, Debug, PartialEq)]
pub struct BrowseOptions {
    /// The object to start from, which becomes the field; `None`, the
    /// default, starts from the Objects folder, whose objects become
    /// fields.
    pub root: Option<NodeAddress>,
    /// The most objects and variables to visit. The default is 5,000.
    pub max_nodes: usize,
    /// The most levels of objects below the start; deeper ones are skipped
    /// with a warning. The default, 7, leaves room in a path for the tag.
    pub max_depth: usize,
}

impl Default for BrowseOptions {
    fn default() -> Self {
        BrowseOptions {
            root: None,
            max_nodes: 5_000,
            max_depth: MAX_DEPTH - 1,
        }
    }
}

/// A finished browse.
#[derive(Clone, Debug, PartialEq)]
pub struct BrowseReport {
    /// The assets and tags found, parents before children, tags by path.
    pub document: Document,
    /// What was skipped or renamed, and why.
    pub warnings: Vec<BrowseWarning>,
    /// Objects and variables visited.
    pub nodes: usize,
}

/// Something a browse skipped or changed; the rest of the import stands.
#[derive(Clone, Debug, PartialEq)]
pub enum BrowseWarning {
    /// Siblings whose browse names give one path segment were numbered.
    Collision {
        /// The parent's path; empty at the top.
        parent: String,
        /// The segment they all wanted.
        segment: String,
        /// Each node with the segment it was given.
        given: Vec<(String, String)>,
    },
    /// A node whose browse name gives no path segment was skipped.
    Unnamed {
        /// The node.
        node: String,
        /// Why.
        reason: String,
    },
    /// An object deeper than `max_depth` was skipped, with all below it.
    TooDeep {
        /// The node.
        node: String,
    },
    /// A variable outside any object (directly in the Objects folder) was
    /// skipped: a tag needs an asset.
    OutsideAsset {
        /// The node.
        node: String,
    },
    /// A variable whose data type has no Flowline value was skipped.
    UnsupportedType {
        /// The node.
        node: String,
        /// Its data type's node id.
        data_type: String,
    },
    /// A variable holding an array was skipped.
    Array {
        /// The node.
        node: String,
    },
    /// A unit the catalog does not know; kept as the `opcua_unit`
    /// attribute.
    UnknownUnit {
        /// The node.
        node: String,
        /// The unit as the server wrote it.
        unit: String,
    },
    /// A range property with an empty or reversed range was ignored.
    BadRange {
        /// The node.
        node: String,
        /// `EURange` or `InstrumentRange`.
        property: &'static str,
    },
    /// A node could not be browsed or read; it was skipped.
    Unreadable {
        /// The node.
        node: String,
        /// What the server answered.
        status: Status,
    },
}

impl fmt::Display for BrowseWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrowseWarning::Collision {
                parent,
                segment,
                given,
            } => {
                let parent = if parent.is_empty() { "the top" } else { parent };
                let given: Vec<String> = given
                    .iter()
                    .map(|(node, name)| format!("{node} as {name}"))
                    .collect();
                write!(
                    f,
                    "{} nodes under {parent} are all named `{segment}`: imported {}",
                    given.len(),
                    given.join(", ")
                )
            }
            BrowseWarning::Unnamed { node, reason } => write!(f, "{node} skipped: {reason}"),
            BrowseWarning::TooDeep { node } => {
                write!(f, "{node} skipped: deeper than the browse's max_depth")
            }
            BrowseWarning::OutsideAsset { node } => {
                write!(
                    f,
                    "{node} skipped: a variable outside any object has no asset"
                )
            }
            BrowseWarning::UnsupportedType { node, data_type } => write!(
                f,
                "{node} skipped: its data type {data_type} has no Flowline value \
                 (expected Boolean, an integer, Float, Double or String)"
            ),
            BrowseWarning::Array { node } => {
                write!(
                    f,
                    "{node} skipped: it holds an array, expected a single value"
                )
            }
            BrowseWarning::UnknownUnit { node, unit } => write!(
                f,
                "{node}: unit `{unit}` is not a catalog unit; kept as attribute {UNIT_ATTRIBUTE}"
            ),
            BrowseWarning::BadRange { node, property } => {
                write!(
                    f,
                    "{node}: {property} ignored: expected low ≤ high, both finite"
                )
            }
            BrowseWarning::Unreadable { node, status } => write!(f, "{node} skipped: {status}"),
        }
    }
}

/// Why a browse produced no document.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BrowseError {
    /// No session could be opened.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The address space holds more nodes than the limit.
    #[error(
        "browse of `{endpoint}` stopped: more than {limit} objects and variables below {start}; \
         browse from a narrower start object or raise max_nodes"
    )]
    TooManyNodes {
        /// The endpoint's name.
        endpoint: String,
        /// The limit.
        limit: usize,
        /// Where the browse started.
        start: String,
    },
    /// The start object is unusable.
    #[error("browse of `{endpoint}`: start node {node} {reason}")]
    Start {
        /// The endpoint's name.
        endpoint: String,
        /// The start node.
        node: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A request failed.
    #[error("browse of `{endpoint}` failed at {node}: {status}")]
    Failed {
        /// The endpoint's name.
        endpoint: String,
        /// The node being browsed or read.
        node: String,
        /// The failure.
        status: Status,
    },
}

/// Browses `endpoint` as `options` say; see the module docs.
pub async fn browse(
    endpoint: &OpcUaEndpoint,
    options: &BrowseOptions,
) -> Result<BrowseReport, BrowseError> {
    let started = Instant::now();
    let session = OpcUaSession::connect(endpoint).await?;
    let walk = Walk {
        session: &session,
        options,
        visited: HashSet::new(),
        nodes: 0,
        warnings: Vec::new(),
        assets: Vec::new(),
        variables: Vec::new(),
    };
    let result = walk.run().await;
    session.close().await;
    match &result {
        Ok(report) => events::browsed(
            &endpoint.name,
            report.nodes,
            report.document.assets.len(),
            report.document.tags.len(),
            started.elapsed(),
        ),
        Err(BrowseError::TooManyNodes { limit, .. }) => {
            events::browse_limit(&endpoint.name, *limit)
        }
        Err(_) => {}
    }
    result
}

/// An object found, to be an asset.
struct Object {
    id: NodeId,
    path: NodePath,
    depth: usize,
}

/// A variable found, to be a tag.
struct Variable {
    id: NodeId,
    path: NodePath,
}

/// A child reference kept for naming.
struct Child {
    id: NodeId,
    name: String,
    class: NodeClass,
}

/// The state of one browse.
struct Walk<'a> {
    session: &'a OpcUaSession,
    options: &'a BrowseOptions,
    visited: HashSet<NodeId>,
    nodes: usize,
    warnings: Vec<BrowseWarning>,
    assets: Vec<Object>,
    variables: Vec<Variable>,
}

impl Walk<'_> {
    async fn run(mut self) -> Result<BrowseReport, BrowseError> {
        let mut frontier: Vec<(NodeId, Option<NodePath>, usize)> = match &self.options.root {
            None => vec![(ObjectId::ObjectsFolder.into(), None, 0)],
            Some(root) => {
                let object = self.start(root).await?;
                let entry = (object.id.clone(), Some(object.path.clone()), 1);
                self.assets.push(object);
                vec![entry]
            }
        };
        for (id, _, _) in &frontier {
            self.visited.insert(id.clone());
        }
        while !frontier.is_empty() {
            let mut next = Vec::new();
            for batch in frontier.chunks(NODES_PER_BROWSE) {
                let children = self.children(batch).await?;
                for ((_, parent, depth), children) in batch.iter().zip(children) {
                    next.extend(self.place(parent.as_ref(), *depth, children));
                }
            }
            frontier = next;
        }
        self.finish().await
    }

    /// The start object, as the field.
    async fn start(&self, root: &NodeAddress) -> Result<Object, BrowseError> {
        let failed = |reason: String| BrowseError::Start {
            endpoint: self.session.endpoint().to_owned(),
            node: root.to_string(),
            reason,
        };
        let id = root.resolve(self.session.namespaces()).map_err(&failed)?;
        let reads = [
            attribute(&id, AttributeId::BrowseName),
            attribute(&id, AttributeId::NodeClass),
        ];
        let answer = self.read(&reads, &id).await?;
        let class = match &answer[1].value {
            Some(Variant::Int32(class)) => *class,
            _ => return Err(failed(format!("cannot be read: {}", status_of(&answer[1])))),
        };
        if class != NodeClass::Object as i32 {
            return Err(failed(format!(
                "is not an object or folder (node class {class})"
            )));
        }
        let name = match &answer[0].value {
            Some(Variant::QualifiedName(name)) => name.name.as_ref().to_owned(),
            _ => String::new(),
        };
        let segment = path_segment(&name).map_err(|error| failed(error.to_string()))?;
        let path = NodePath::parse(&segment).expect("bug: path_segment gives valid segments");
        Ok(Object { id, path, depth: 1 })
    }

    /// The object and variable children of each node of `batch`, in order,
    /// following continuation points; counts them against the node limit.
    async fn children(
        &mut self,
        batch: &[(NodeId, Option<NodePath>, usize)],
    ) -> Result<Vec<Vec<Child>>, BrowseError> {
        let descriptions: Vec<BrowseDescription> = batch
            .iter()
            .map(|(id, _, _)| BrowseDescription {
                node_id: id.clone(),
                browse_direction: BrowseDirection::Forward,
                reference_type_id: ReferenceTypeId::HierarchicalReferences.into(),
                include_subtypes: true,
                node_class_mask: NodeClass::Object as u32 | NodeClass::Variable as u32,
                result_mask: BrowseResultMask::All as u32,
            })
            .collect();
        let results = self
            .session
            .stack()
            .browse(&descriptions, MAX_REFERENCES_PER_NODE, None)
            .await
            .map_err(|error| self.failed(&batch[0].0, error.status().into()))?;

        let mut children: Vec<Vec<Child>> = batch.iter().map(|_| Vec::new()).collect();
        let mut pending: Vec<(usize, ByteString)> = Vec::new();
        for (index, result) in results.into_iter().enumerate().take(batch.len()) {
            if let Some(point) = self.take(&batch[index].0, result, &mut children[index]) {
                pending.push((index, point));
            }
            if self.nodes > self.options.max_nodes {
                return Err(self.too_many(pending).await);
            }
        }
        while !pending.is_empty() {
            let points: Vec<ByteString> = pending.iter().map(|(_, point)| point.clone()).collect();
            let results = self
                .session
                .stack()
                .browse_next(false, &points)
                .await
                .map_err(|error| self.failed(&batch[pending[0].0].0, error.status().into()))?;
            let mut still = Vec::new();
            for ((index, _), result) in pending.iter().zip(results) {
                if let Some(point) = self.take(&batch[*index].0, result, &mut children[*index]) {
                    still.push((*index, point));
                }
            }
            pending = still;
            if self.nodes > self.options.max_nodes {
                return Err(self.too_many(pending).await);
            }
        }
        Ok(children)
    }

    /// Keeps the references of one browse result worth visiting; returns
    /// its continuation point, if the server has more.
    fn take(
        &mut self,
        parent: &NodeId,
        result: BrowseResult,
        into: &mut Vec<Child>,
    ) -> Option<ByteString> {
        if result.status_code.is_bad() {
            self.warnings.push(BrowseWarning::Unreadable {
                node: self.shown(parent),
                status: result.status_code.into(),
            });
            return None;
        }
        for reference in result.references.into_iter().flatten() {
            if let Some(child) = self.keep(reference) {
                self.nodes += 1;
                into.push(child);
            }
        }
        (!result.continuation_point.is_null()).then_some(result.continuation_point)
    }

    /// A reference worth visiting: forward, on this server, to an object or
    /// a component variable outside the OPC UA namespace, not seen before.
    /// Properties describe their parent and are not tags.
    fn keep(&mut self, reference: ReferenceDescription) -> Option<Child> {
        let is_property = reference.reference_type_id == ReferenceTypeId::HasProperty;
        let target = reference.node_id;
        if !reference.is_forward
            || is_property
            || target.server_index != 0
            || !target.namespace_uri.is_null()
            || target.node_id.namespace == 0
            || !matches!(
                reference.node_class,
                NodeClass::Object | NodeClass::Variable
            )
            || !self.visited.insert(target.node_id.clone())
        {
            return None;
        }
        Some(Child {
            id: target.node_id,
            name: reference.browse_name.name.as_ref().to_owned(),
            class: reference.node_class,
        })
    }

    /// Names the children of one parent at `depth` (0 for the Objects
    /// folder) and records them; returns the objects to browse next.
    fn place(
        &mut self,
        parent: Option<&NodePath>,
        depth: usize,
        children: Vec<Child>,
    ) -> Vec<(NodeId, Option<NodePath>, usize)> {
        let mut siblings = Siblings::default();
        let mut by_key: BTreeMap<String, Child> = BTreeMap::new();
        for child in children {
            let key = self.shown(&child.id);
            match path_segment(&child.name) {
                Ok(segment) => {
                    siblings.add(segment, key.clone());
                    by_key.insert(key, child);
                }
                Err(error) => self.warnings.push(BrowseWarning::Unnamed {
                    node: key,
                    reason: error.to_string(),
                }),
            }
        }
        let (names, collisions) = siblings.settle();
        let parent_text = parent.map(ToString::to_string).unwrap_or_default();
        for Collision { segment, given } in collisions {
            self.warnings.push(BrowseWarning::Collision {
                parent: parent_text.clone(),
                segment,
                given,
            });
        }

        let mut next = Vec::new();
        for (key, segment) in names {
            let child = by_key
                .remove(&key)
                .expect("bug: every named child was kept");
            let path = match parent {
                Some(parent) => parent.child(&segment),
                None => NodePath::parse(&segment),
            }
            .expect("bug: valid segments under a path of at most max_depth make a valid path");
            match child.class {
                NodeClass::Object if depth + 1 > self.options.max_depth => {
                    self.warnings.push(BrowseWarning::TooDeep { node: key });
                }
                NodeClass::Object => {
                    next.push((child.id.clone(), Some(path.clone()), depth + 1));
                    self.assets.push(Object {
                        id: child.id,
                        path,
                        depth: depth + 1,
                    });
                }
                _ if parent.is_none() => {
                    self.warnings
                        .push(BrowseWarning::OutsideAsset { node: key });
                }
                _ => self.variables.push(Variable { id: child.id, path }),
            }
        }
        next
    }

    /// Releases the continuation points still held and reports the limit.
    async fn too_many(&self, pending: Vec<(usize, ByteString)>) -> BrowseError {
        if !pending.is_empty() {
            let points: Vec<ByteString> = pending.into_iter().map(|(_, point)| point).collect();
            // Best effort: the server frees them on its own when the
            // session closes.
            let _ = self.session.stack().browse_next(true, &points).await;
        }
        BrowseError::TooManyNodes {
            endpoint: self.session.endpoint().to_owned(),
            limit: self.options.max_nodes,
            start: self
                .options
                .root
                .as_ref()
                .map_or_else(|| "the Objects folder".to_owned(), ToString::to_string),
        }
    }

    /// Reads what the assets and tags need and builds the document.
    async fn finish(mut self) -> Result<BrowseReport, BrowseError> {
        let descriptions = self.descriptions().await?;
        let variables = std::mem::take(&mut self.variables);
        let mut tags = Vec::with_capacity(variables.len());
        let attributes = self.variable_attributes(&variables).await?;
        let properties = self.properties(&variables).await?;
        for ((variable, attributes), properties) in variables.iter().zip(attributes).zip(properties)
        {
            if let Some(spec) = self.tag(variable, &attributes, &properties) {
                tags.push(spec);
            }
        }
        tags.sort_by(|a, b| a.path.cmp(&b.path));

        let mut assets = Vec::with_capacity(self.assets.len());
        for (object, description) in self.assets.iter().zip(descriptions) {
            let segment = object.path.name().to_owned();
            let mut spec = AssetSpec {
                path: object.path.clone(),
                kind: asset_kind(object.depth, &segment),
                description,
                attributes: Default::default(),
            };
            spec.attributes
                .insert(NODE_ATTRIBUTE.to_owned(), self.shown(&object.id));
            assets.push(spec);
        }
        Ok(BrowseReport {
            document: Document::new(assets, tags),
            warnings: self.warnings,
            nodes: self.nodes,
        })
    }

    /// The description of every asset, in order.
    async fn descriptions(&self) -> Result<Vec<String>, BrowseError> {
        let reads: Vec<ReadValueId> = self
            .assets
            .iter()
            .map(|object| attribute(&object.id, AttributeId::Description))
            .collect();
        let Some(first) = self.assets.first() else {
            return Ok(Vec::new());
        };
        let answer = self.read(&reads, &first.id).await?;
        Ok(answer
            .iter()
            .map(|data| description(data.value.as_ref()))
            .collect())
    }

    /// DataType, ValueRank, UserAccessLevel and Description of each
    /// variable, in order.
    async fn variable_attributes(
        &self,
        variables: &[Variable],
    ) -> Result<Vec<[Option<Variant>; 4]>, BrowseError> {
        let Some(first) = variables.first() else {
            return Ok(Vec::new());
        };
        let wanted = [
            AttributeId::DataType,
            AttributeId::ValueRank,
            AttributeId::UserAccessLevel,
            AttributeId::Description,
        ];
        let reads: Vec<ReadValueId> = variables
            .iter()
            .flat_map(|variable| wanted.iter().map(|id| attribute(&variable.id, *id)))
            .collect();
        let answer = self.read(&reads, &first.id).await?;
        Ok(answer
            .chunks(wanted.len())
            .map(|values| {
                let value = |index: usize| values[index].value.clone();
                [value(0), value(1), value(2), value(3)]
            })
            .collect())
    }

    /// The EngineeringUnits, EURange and InstrumentRange properties of
    /// each variable, in order; `None` where a variable has none.
    async fn properties(
        &self,
        variables: &[Variable],
    ) -> Result<Vec<[Option<Variant>; 3]>, BrowseError> {
        const NAMES: [&str; 3] = ["EngineeringUnits", "EURange", "InstrumentRange"];
        let Some(first) = variables.first() else {
            return Ok(Vec::new());
        };
        let paths: Vec<BrowsePath> = variables
            .iter()
            .flat_map(|variable| NAMES.iter().map(|name| property_path(&variable.id, name)))
            .collect();
        let mut targets: Vec<Option<NodeId>> = Vec::with_capacity(paths.len());
        for chunk in paths.chunks(MAX_NODES_PER_REQUEST) {
            let results = self
                .session
                .stack()
                .translate_browse_paths_to_node_ids(chunk)
                .await
                .map_err(|error| self.failed(&first.id, error.status().into()))?;
            let mut results = results.into_iter();
            for _ in chunk {
                let target = results.next().filter(|result| result.status_code.is_good());
                targets.push(target.and_then(|result| {
                    let first = result.targets?.into_iter().next()?;
                    (first.target_id.server_index == 0).then_some(first.target_id.node_id)
                }));
            }
        }

        let found: Vec<ReadValueId> = targets.iter().flatten().cloned().map(value_of).collect();
        let mut values = if found.is_empty() {
            Vec::new()
        } else {
            self.read(&found, &first.id).await?
        }
        .into_iter();
        let mut all: Vec<Option<Variant>> = targets
            .iter()
            .map(|target| target.as_ref().and_then(|_| values.next()?.value))
            .collect();
        let mut properties = Vec::with_capacity(variables.len());
        for chunk in all.chunks_mut(NAMES.len()) {
            properties.push([chunk[0].take(), chunk[1].take(), chunk[2].take()]);
        }
        Ok(properties)
    }

    /// The tag for `variable`, or `None` with a warning.
    fn tag(
        &mut self,
        variable: &Variable,
        attributes: &[Option<Variant>; 4],
        properties: &[Option<Variant>; 3],
    ) -> Option<TagSpec> {
        let node = self.shown(&variable.id);
        let [data_type, rank, access, text] = attributes;
        let Some(Variant::NodeId(data_type)) = data_type else {
            self.warnings.push(BrowseWarning::Unreadable {
                node,
                status: StatusCode::BadAttributeIdInvalid.into(),
            });
            return None;
        };
        let Some(wire) = WireType::of(data_type) else {
            let data_type = NodeAddress::of(data_type, self.session.namespaces()).to_string();
            self.warnings
                .push(BrowseWarning::UnsupportedType { node, data_type });
            return None;
        };
        if let Some(Variant::Int32(rank)) = rank
            && !SCALAR_RANKS.contains(rank)
        {
            self.warnings.push(BrowseWarning::Array { node });
            return None;
        }

        let mut spec = TagSpec::new(variable.path.clone());
        spec.data_type = wire.data_type();
        spec.description = description(text.as_ref());
        spec.writable = matches!(access, Some(Variant::Byte(level)) if level & CURRENT_WRITE != 0);
        spec.source = Some(SourceBinding {
            protocol: Protocol::OpcUa,
            address: node.clone(),
        });
        spec.attributes.insert(
            ENDPOINT_ATTRIBUTE.to_owned(),
            self.session.endpoint().to_owned(),
        );
        if spec.data_type.is_numeric() {
            let [unit, engineering, instrument] = properties;
            self.unit(&node, unit.as_ref(), &mut spec);
            if let Some(range) = self.range(&node, "EURange", engineering.as_ref()) {
                spec.engineering_range = range;
            }
            if let Some(range) = self.range(&node, "InstrumentRange", instrument.as_ref()) {
                spec.valid_range = range;
            }
        }
        Some(spec)
    }

    /// Sets the unit of `spec` from an EngineeringUnits property.
    fn unit(&mut self, node: &str, property: Option<&Variant>, spec: &mut TagSpec) {
        let Some(Variant::ExtensionObject(object)) = property else {
            return;
        };
        let Some(information) = object.inner_as::<EUInformation>() else {
            return;
        };
        let shown = information.display_name.text.as_ref();
        let described = information.description.text.as_ref();
        let known = [shown, described]
            .iter()
            .find_map(|text| text.trim().parse::<Unit>().ok());
        match known {
            Some(unit) => spec.unit = Some(unit),
            None if !shown.trim().is_empty() => {
                let unit = shown.trim().to_owned();
                spec.attributes
                    .insert(UNIT_ATTRIBUTE.to_owned(), unit.clone());
                self.warnings.push(BrowseWarning::UnknownUnit {
                    node: node.to_owned(),
                    unit,
                });
            }
            None => {}
        }
    }

    /// The limits of a Range property, if it has a usable one.
    fn range(
        &mut self,
        node: &str,
        property: &'static str,
        value: Option<&Variant>,
    ) -> Option<Limits> {
        let Some(Variant::ExtensionObject(object)) = value else {
            return None;
        };
        let range = object.inner_as::<Range>()?;
        if range.low.is_finite() && range.high.is_finite() && range.low <= range.high {
            Some(Limits::new(range.low, range.high))
        } else {
            self.warnings.push(BrowseWarning::BadRange {
                node: node.to_owned(),
                property,
            });
            None
        }
    }

    /// Reads `reads`, reporting a failure at `node`.
    async fn read(
        &self,
        reads: &[ReadValueId],
        node: &NodeId,
    ) -> Result<Vec<opcua::types::DataValue>, BrowseError> {
        self.session
            .read_values(reads)
            .await
            .map_err(|status| self.failed(node, status))
    }

    fn failed(&self, node: &NodeId, status: Status) -> BrowseError {
        BrowseError::Failed {
            endpoint: self.session.endpoint().to_owned(),
            node: self.shown(node),
            status,
        }
    }

    /// A node as the catalog binds it: by namespace URI.
    fn shown(&self, node: &NodeId) -> String {
        NodeAddress::of(node, self.session.namespaces()).to_string()
    }
}

fn attribute(node: &NodeId, attribute: AttributeId) -> ReadValueId {
    ReadValueId {
        node_id: node.clone(),
        attribute_id: attribute as u32,
        ..ReadValueId::default()
    }
}

fn property_path(node: &NodeId, name: &str) -> BrowsePath {
    BrowsePath {
        starting_node: node.clone(),
        relative_path: RelativePath {
            elements: Some(vec![RelativePathElement {
                reference_type_id: ReferenceTypeId::HasProperty.into(),
                is_inverse: false,
                include_subtypes: true,
                target_name: QualifiedName::new(0, name),
            }]),
        },
    }
}

fn status_of(data: &opcua::types::DataValue) -> Status {
    data.status.unwrap_or(StatusCode::BadNoData).into()
}

/// A Description attribute as catalog text, cut to what the catalog takes.
fn description(value: Option<&Variant>) -> String {
    let Some(Variant::LocalizedText(text)) = value else {
        return String::new();
    };
    let LocalizedText { text, .. } = text.as_ref();
    let mut text = text.as_ref().trim().to_owned();
    if text.len() > MAX_DESCRIPTION_LEN {
        let mut cut = MAX_DESCRIPTION_LEN;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

/// Equipment kinds by the words of an asset's name that suggest them.
const EQUIPMENT_WORDS: &[(&[&str], EquipmentKind)] = &[
    (&["esp"], EquipmentKind::Esp),
    (&["gas", "lift"], EquipmentKind::GasLift),
    (&["gaslift"], EquipmentKind::GasLift),
    (&["rod", "pump"], EquipmentKind::RodPump),
    (&["rodpump"], EquipmentKind::RodPump),
    (&["beam", "pump"], EquipmentKind::RodPump),
    (&["choke"], EquipmentKind::Choke),
    (&["wellhead"], EquipmentKind::Wellhead),
    (&["separator"], EquipmentKind::Separator),
    (&["tank"], EquipmentKind::Tank),
    (&["compressor"], EquipmentKind::Compressor),
    (&["pump"], EquipmentKind::Pump),
    (&["heater"], EquipmentKind::Heater),
    (&["treater"], EquipmentKind::Heater),
    (&["meter"], EquipmentKind::Meter),
    (&["flowmeter"], EquipmentKind::Meter),
    (&["flowline"], EquipmentKind::Flowline),
    (&["pipeline"], EquipmentKind::Flowline),
];

/// The kind of an asset at `depth` below the start named `segment`; see
/// the table in the module docs.
fn asset_kind(depth: usize, segment: &str) -> AssetKind {
    match depth {
        0 | 1 => AssetKind::Field,
        2 => AssetKind::Pad,
        _ => match equipment(segment) {
            Some(kind) => AssetKind::Equipment(kind),
            None if depth == 3 => AssetKind::Well,
            None => AssetKind::Equipment(EquipmentKind::Other),
        },
    }
}

/// The equipment kind `segment` suggests: a word, or two words in a row,
/// of the table, each word optionally followed by digits (`esp2`).
fn equipment(segment: &str) -> Option<EquipmentKind> {
    let words: Vec<&str> = segment
        .split(['-', '_', '.'])
        .map(|word| word.trim_end_matches(|c: char| c.is_ascii_digit()))
        .collect();
    EQUIPMENT_WORDS.iter().find_map(|(pattern, kind)| {
        words
            .windows(pattern.len())
            .any(|window| window == *pattern)
            .then_some(*kind)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_kinds_follow_depth_and_the_names_of_equipment() {
        assert_eq!(asset_kind(1, "north"), AssetKind::Field);
        assert_eq!(asset_kind(2, "pad-1"), AssetKind::Pad);
        assert_eq!(asset_kind(3, "w-01"), AssetKind::Well);
        assert_eq!(
            asset_kind(3, "separator"),
            AssetKind::Equipment(EquipmentKind::Separator)
        );
        assert_eq!(
            asset_kind(4, "esp2"),
            AssetKind::Equipment(EquipmentKind::Esp)
        );
        assert_eq!(
            asset_kind(4, "gas-lift-valve"),
            AssetKind::Equipment(EquipmentKind::GasLift)
        );
        assert_eq!(
            asset_kind(4, "rod-pump"),
            AssetKind::Equipment(EquipmentKind::RodPump)
        );
        assert_eq!(
            asset_kind(5, "panel"),
            AssetKind::Equipment(EquipmentKind::Other)
        );
    }

    #[test]
    fn every_kind_the_mapping_gives_may_hold_the_next_one_down() {
        let names = ["north", "pad", "w-01", "esp", "motor", "panel"];
        for depth in 1..names.len() {
            let parent = asset_kind(depth, names[depth - 1]);
            for name in ["separator", "w-02", "panel", "esp"] {
                let child = asset_kind(depth + 1, name);
                assert!(parent.may_contain(child), "{parent} may not hold {child}");
            }
        }
    }

    #[test]
    fn long_descriptions_are_cut_on_a_character_boundary() {
        let long = Variant::LocalizedText(Box::new(LocalizedText::new("", &"é".repeat(600))));
        let text = description(Some(&long));
        assert!(text.len() <= MAX_DESCRIPTION_LEN);
        assert!(text.chars().all(|c| c == 'é'));
    }
}
