//! The address space: the field's asset tree as objects, each tag a
//! variable with its unit and ranges as properties.
//!
//! ```text
//! Objects
//! └── north                      object  ns=N;s=north
//!     └── pad-1                  object  ns=N;s=north/pad-1
//!         └── w-01               object  ns=N;s=north/pad-1/w-01
//!             ├── tubing-pressure  variable  ns=N;s=north/pad-1/w-01/tubing-pressure
//!             │   ├── EngineeringUnits  property  …#EngineeringUnits
//!             │   ├── EURange           property  …#EURange
//!             │   └── InstrumentRange   property  …#InstrumentRange
//!             └── choke …
//! ```
//!
//! Node ids are the catalog paths as strings in the simulator's namespace,
//! so a tag's OPC UA binding reads `nsu=urn:flowline:sim;s=PATH`. Browse
//! and display names are the last segment of the path; descriptions come
//! from the catalog. A variable's data type is Boolean for on/off tags and
//! Double otherwise; setpoints and run commands may be written
//! (AccessLevel CurrentRead and CurrentWrite), everything else only read.
//!
//! Properties, for numeric tags, as OPC UA Part 8 defines them and as the
//! gateway's browse reads them back:
//!
//! | property | from the catalog |
//! | --- | --- |
//! | `EngineeringUnits` (EUInformation) | the unit's symbol |
//! | `EURange` (Range): the range of normal operation, for scaling displays | the engineering range |
//! | `InstrumentRange` (Range): what the instrument can report at all | the valid range |
//!
//! LIMITATION: `EngineeringUnits` carries the unit's symbol as its display
//! name and `UnitId` -1 ("not given"): the catalog keeps no UNECE codes.

use std::collections::HashMap;

use flowline_catalog::{Document, Limits, TagSpec};
use flowline_core::{NodePath, Unit};
use opcua::server::address_space::{AccessLevel, AddressSpace, ObjectBuilder, VariableBuilder};
use opcua::types::{
    DataTypeId, EUInformation, ExtensionObject, LocalizedText, NodeId, ObjectId, ObjectTypeId,
    QualifiedName, Range, UAString, VariableTypeId, Variant,
};

use crate::error::BuildError;
use crate::model::FieldModel;

/// The namespace of UNECE unit codes, which `EngineeringUnits` names.
const UNECE_NAMESPACE: &str = "http://www.opcfoundation.org/UA/units/un/cefact";
/// `UnitId` when the code is not given.
const NO_UNIT_ID: i32 = -1;
/// Separates a variable's node id from its property's name in property
/// node ids; paths never hold it.
const PROPERTY_SEPARATOR: char = '#';

/// An asset to serve as an object.
#[derive(Clone, Debug)]
struct AssetNode {
    /// Its path.
    path: NodePath,
    /// A sentence for people; may be empty.
    description: String,
}

/// A tag to serve as a variable.
#[derive(Clone, Debug)]
struct TagNode {
    /// Its path.
    path: NodePath,
    /// A sentence for people; may be empty.
    description: String,
    /// Whether it reads on/off rather than a number.
    boolean: bool,
    /// Whether clients may write it.
    writable: bool,
    /// Its unit, for numeric tags that have one.
    unit: Option<Unit>,
    /// Its engineering range.
    engineering: Limits,
    /// Its valid range.
    valid: Limits,
}

/// What the address space will hold, worked out from the field's document
/// and its model before the server is built.
#[derive(Clone, Debug)]
pub(super) struct Plan {
    /// Every asset, in document order.
    assets: Vec<AssetNode>,
    /// Every tag, in the model's order (by [`TagIndex`](crate::TagIndex)).
    tags: Vec<TagNode>,
}

/// A variable as the refresh and the writes need it.
#[derive(Clone, Debug)]
pub(super) struct ServedTag {
    /// Its node id.
    pub(super) node: NodeId,
    /// Whether it holds a Boolean rather than a Double.
    pub(super) boolean: bool,
}

impl Plan {
    /// The objects and variables for `model`'s tags, described by
    /// `document`, the document the model was built from.
    pub(super) fn new(document: &Document, model: &FieldModel) -> Result<Plan, BuildError> {
        let specs: HashMap<&NodePath, &TagSpec> = document
            .tags
            .iter()
            .map(|entry| (&entry.spec.path, &entry.spec))
            .collect();
        let mut tags = Vec::with_capacity(model.tag_count());
        for (index, path) in model.tags() {
            let spec = specs.get(path).ok_or_else(|| BuildError::Tag {
                tag: path.clone(),
                reason: "it is simulated but not in the document served over OPC UA".to_owned(),
            })?;
            tags.push(TagNode {
                path: path.clone(),
                description: spec.description.clone(),
                boolean: model.is_boolean(index),
                writable: model.is_writable(index),
                unit: spec.unit,
                engineering: spec.engineering_range,
                valid: spec.valid_range,
            });
        }
        let assets = document
            .assets
            .iter()
            .map(|entry| AssetNode {
                path: entry.spec.path.clone(),
                description: entry.spec.description.clone(),
            })
            .collect();
        Ok(Plan { assets, tags })
    }

    /// The number of tags.
    pub(super) fn tag_count(&self) -> usize {
        self.tags.len()
    }

    /// Inserts every object, variable and property into `space`, in
    /// namespace `namespace`; variables say values change at most every
    /// `sampling_ms` milliseconds. Returns the variables in the model's
    /// order.
    pub(super) fn insert(
        &self,
        space: &mut AddressSpace,
        namespace: u16,
        sampling_ms: f64,
    ) -> Vec<ServedTag> {
        for asset in &self.assets {
            let id = node_id(namespace, asset.path.as_str());
            let name = asset.path.name();
            let builder = ObjectBuilder::new(&id, QualifiedName::new(namespace, name), name)
                .description(asset.description.as_str())
                .has_type_definition(ObjectTypeId::BaseObjectType);
            let builder = match asset.path.parent() {
                Some(parent) => builder.component_of(node_id(namespace, parent.as_str())),
                None => builder.organized_by(ObjectId::ObjectsFolder),
            };
            builder.insert(space);
        }
        self.tags
            .iter()
            .map(|tag| insert_tag(space, namespace, tag, sampling_ms))
            .collect()
    }
}

/// Inserts one tag's variable and properties.
fn insert_tag(
    space: &mut AddressSpace,
    namespace: u16,
    tag: &TagNode,
    sampling_ms: f64,
) -> ServedTag {
    let id = node_id(namespace, tag.path.as_str());
    let parent = tag
        .path
        .parent()
        .expect("bug: the model keeps only tags of assets");
    let name = tag.path.name();
    let access = if tag.writable {
        AccessLevel::CURRENT_READ | AccessLevel::CURRENT_WRITE
    } else {
        AccessLevel::CURRENT_READ
    };
    let data_type = if tag.boolean {
        DataTypeId::Boolean
    } else {
        DataTypeId::Double
    };
    VariableBuilder::new(&id, QualifiedName::new(namespace, name), name)
        .description(tag.description.as_str())
        .data_type(data_type)
        .value_rank(-1)
        .access_level(access)
        .user_access_level(access)
        .minimum_sampling_interval(sampling_ms)
        .has_type_definition(VariableTypeId::BaseDataVariableType)
        .component_of(node_id(namespace, parent.as_str()))
        .insert(space);

    if !tag.boolean {
        if let Some(unit) = tag.unit {
            let information = EUInformation {
                namespace_uri: UAString::from(UNECE_NAMESPACE),
                unit_id: NO_UNIT_ID,
                display_name: LocalizedText::from(unit.symbol()),
                description: LocalizedText::from(unit.symbol()),
            };
            let units = property(&id, &tag.path, "EngineeringUnits");
            units
                .data_type(DataTypeId::EUInformation)
                .value(Variant::ExtensionObject(ExtensionObject::new(information)))
                .insert(space);
        }
        for (name, limits) in [("EURange", tag.engineering), ("InstrumentRange", tag.valid)] {
            if let (Some(low), Some(high)) = (limits.lo, limits.hi) {
                property(&id, &tag.path, name)
                    .data_type(DataTypeId::Range)
                    .value(Variant::ExtensionObject(ExtensionObject::new(Range {
                        low,
                        high,
                    })))
                    .insert(space);
            }
        }
    }
    ServedTag {
        node: id,
        boolean: tag.boolean,
    }
}

/// A property `name` of the variable `variable`, the tag at `path`, to be
/// given its data type and value.
fn property(variable: &NodeId, path: &NodePath, name: &str) -> VariableBuilder {
    let id = NodeId::new(
        variable.namespace,
        format!("{path}{PROPERTY_SEPARATOR}{name}"),
    );
    VariableBuilder::new(&id, QualifiedName::new(0, name), name)
        .value_rank(-1)
        .has_type_definition(VariableTypeId::PropertyType)
        .property_of(variable.clone())
}

/// The node id of the asset or tag at `path`.
pub(super) fn node_id(namespace: u16, path: &str) -> NodeId {
    NodeId::new(namespace, path.to_owned())
}
