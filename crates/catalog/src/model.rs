//! What the catalog holds: assets and tags, and their specifications.
//!
//! A *spec* ([`AssetSpec`], [`TagSpec`]) is what a person writes: in a file,
//! through the API or on the command line. The catalog checks it, gives it a
//! stable id and a version, and keeps it as an [`Asset`] or a [`Tag`].

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use flowline_core::{AssetId, AssetKind, Criticality, DataType, NodePath, TagId, Unit};
use serde::{Deserialize, Serialize};

/// Free-form key/value attributes, such as a vendor or a loop number, kept
/// sorted by key. Keys use the same alphabet as path segments.
pub type Attributes = BTreeMap<String, String>;

/// An inclusive range with optional ends. The default is unbounded.
#[derive(Copy, Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// The lowest allowed value, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lo: Option<f64>,
    /// The highest allowed value, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hi: Option<f64>,
}

impl Limits {
    /// A range from `lo` to `hi`, both inclusive.
    pub fn new(lo: f64, hi: f64) -> Self {
        Limits {
            lo: Some(lo),
            hi: Some(hi),
        }
    }

    /// Whether neither end is set.
    pub fn is_unbounded(&self) -> bool {
        self.lo.is_none() && self.hi.is_none()
    }

    /// Whether `value` lies within the range.
    pub fn contains(&self, value: f64) -> bool {
        self.lo.is_none_or(|lo| value >= lo) && self.hi.is_none_or(|hi| value <= hi)
    }
}

/// How the gateway reaches a tag's value.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Read over Modbus TCP.
    Modbus,
    /// Read over OPC UA.
    OpcUa,
    /// Computed by Flowline from other tags.
    Calculated,
    /// Entered by hand.
    Manual,
}

/// A protocol name that Flowline does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown protocol `{0}`: expected modbus, opcua, calculated or manual")]
pub struct ProtocolError(String);

impl Protocol {
    /// The lowercase name used in files and on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Modbus => "modbus",
            Protocol::OpcUa => "opcua",
            Protocol::Calculated => "calculated",
            Protocol::Manual => "manual",
        }
    }

    /// Whether a tag read this way needs an address.
    pub fn needs_address(self) -> bool {
        matches!(self, Protocol::Modbus | Protocol::OpcUa)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Protocol {
    type Err = ProtocolError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "modbus" => Ok(Protocol::Modbus),
            "opcua" => Ok(Protocol::OpcUa),
            "calculated" => Ok(Protocol::Calculated),
            "manual" => Ok(Protocol::Manual),
            _ => Err(ProtocolError(text.to_owned())),
        }
    }
}

/// Where a tag's value comes from: a protocol and an address in it.
///
/// The address is kept as written; the gateway's connector for the protocol
/// reads it (for example a Modbus unit and register, or an OPC UA node id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceBinding {
    /// The protocol.
    pub protocol: Protocol,
    /// The address within the protocol; empty for calculated and manual tags.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub address: String,
}

/// What a person says an asset is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetSpec {
    /// Unique path, such as `north/pad-3/w-17`.
    pub path: NodePath,
    /// What the asset is; decides where it may sit in the tree.
    pub kind: AssetKind,
    /// A sentence for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Free-form attributes.
    #[serde(default, skip_serializing_if = "Attributes::is_empty")]
    pub attributes: Attributes,
}

/// An asset as the catalog keeps it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Asset {
    /// Stable id, kept across edits.
    pub id: AssetId,
    /// The catalog version of the asset's last change.
    pub version: u64,
    /// Everything a person can set.
    #[serde(flatten)]
    pub spec: AssetSpec,
}

/// What a person says a tag is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagSpec {
    /// Unique path: the path of its asset plus the tag's name.
    pub path: NodePath,
    /// A sentence for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Engineering unit of stored values; numeric tags only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<Unit>,
    /// The kind of value. The default is float.
    #[serde(default)]
    pub data_type: DataType,
    /// Values outside this range are physically impossible or invalid and
    /// are flagged out of range. In the tag's unit.
    #[serde(default, skip_serializing_if = "Limits::is_unbounded")]
    pub valid_range: Limits,
    /// The instrument's calibrated span, used for scaling and display. In
    /// the tag's unit.
    #[serde(default, skip_serializing_if = "Limits::is_unbounded")]
    pub engineering_range: Limits,
    /// The largest plausible change per second, in the tag's unit; faster
    /// changes are flagged. No limit when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_change_per_s: Option<f64>,
    /// Changes smaller than this, in the tag's unit, are not significant
    /// for compression and reporting. Zero or absent keeps every change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadband: Option<f64>,
    /// How much the tag matters. The default is medium.
    #[serde(default)]
    pub criticality: Criticality,
    /// Where the value is read from; absent for tags not yet bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceBinding>,
    /// Whether commands may write the tag (a setpoint or a start/stop),
    /// through its source. The default is false: read only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub writable: bool,
    /// Free-form attributes.
    #[serde(default, skip_serializing_if = "Attributes::is_empty")]
    pub attributes: Attributes,
}

impl TagSpec {
    /// A float tag at `path` with nothing else set.
    pub fn new(path: NodePath) -> Self {
        TagSpec {
            path,
            description: String::new(),
            unit: None,
            data_type: DataType::Float,
            valid_range: Limits::default(),
            engineering_range: Limits::default(),
            max_change_per_s: None,
            deadband: None,
            criticality: Criticality::default(),
            source: None,
            writable: false,
            attributes: Attributes::new(),
        }
    }
}

/// A tag as the catalog keeps it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tag {
    /// Stable id, kept across edits and renames; samples carry it.
    pub id: TagId,
    /// The catalog version of the tag's last change.
    pub version: u64,
    /// Everything a person can set.
    #[serde(flatten)]
    pub spec: TagSpec,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_inclusive_and_open_ends_are_unbounded() {
        let range = Limits::new(0.0, 100.0);
        assert!(range.contains(0.0) && range.contains(100.0));
        assert!(!range.contains(100.1));
        let at_least_zero = Limits {
            lo: Some(0.0),
            hi: None,
        };
        assert!(at_least_zero.contains(1e12));
        assert!(!at_least_zero.contains(-0.1));
    }

    #[test]
    fn protocol_names_round_trip() {
        for protocol in [
            Protocol::Modbus,
            Protocol::OpcUa,
            Protocol::Calculated,
            Protocol::Manual,
        ] {
            assert_eq!(protocol.name().parse::<Protocol>().unwrap(), protocol);
        }
        assert!(
            "profibus"
                .parse::<Protocol>()
                .unwrap_err()
                .to_string()
                .contains("`profibus`")
        );
    }
}
