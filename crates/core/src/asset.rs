//! The asset hierarchy.
//!
//! Flowline arranges a field the way ISA-95 arranges a plant: a field holds
//! pads (sites), a pad holds wells and shared equipment such as separators and
//! tanks, a well holds its equipment (ESP, choke, wellhead …), and any asset
//! holds tags. Each asset and tag has a stable numeric id, kept across
//! renames, and a unique [`NodePath`](crate::NodePath).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The stable id of a tag, assigned by the catalog when the tag is created
/// and never reused. Samples carry it instead of the path: four bytes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TagId(pub u32);

/// The stable id of an asset, assigned by the catalog and never reused.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AssetId(pub u32);

impl fmt::Display for TagId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for AssetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What an asset is, which decides where it may sit in the tree.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum AssetKind {
    /// An oil or gas field: the top of the tree.
    Field,
    /// A pad or site: a group of wells and shared surface equipment.
    Pad,
    /// A well.
    Well,
    /// A piece of equipment on a well or a pad.
    Equipment(EquipmentKind),
}

/// The kinds of equipment Flowline knows.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum EquipmentKind {
    /// Electric submersible pump.
    Esp,
    /// Gas-lift injection system.
    GasLift,
    /// Rod (beam) pump.
    RodPump,
    /// Production choke.
    Choke,
    /// Wellhead and christmas tree.
    Wellhead,
    /// Production separator.
    Separator,
    /// Storage tank.
    Tank,
    /// Gas compressor.
    Compressor,
    /// Transfer pump.
    Pump,
    /// Heater or heater-treater.
    Heater,
    /// Flow meter.
    Meter,
    /// Flowline or pipeline segment.
    Flowline,
    /// Any other equipment.
    Other,
}

/// Every equipment kind with its name in files, in declaration order.
const EQUIPMENT_NAMES: &[(EquipmentKind, &str)] = &[
    (EquipmentKind::Esp, "esp"),
    (EquipmentKind::GasLift, "gas-lift"),
    (EquipmentKind::RodPump, "rod-pump"),
    (EquipmentKind::Choke, "choke"),
    (EquipmentKind::Wellhead, "wellhead"),
    (EquipmentKind::Separator, "separator"),
    (EquipmentKind::Tank, "tank"),
    (EquipmentKind::Compressor, "compressor"),
    (EquipmentKind::Pump, "pump"),
    (EquipmentKind::Heater, "heater"),
    (EquipmentKind::Meter, "meter"),
    (EquipmentKind::Flowline, "flowline"),
    (EquipmentKind::Other, "equipment"),
];

/// An asset kind name that Flowline does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown asset kind `{0}`: expected field, pad, well or an equipment kind ({names})",
    names = equipment_names())]
pub struct AssetKindError(String);

fn equipment_names() -> String {
    let names: Vec<&str> = EQUIPMENT_NAMES.iter().map(|(_, name)| *name).collect();
    names.join(", ")
}

impl AssetKind {
    /// The name used in files and on the wire: `field`, `pad`, `well`, or
    /// the equipment kind such as `esp`.
    pub fn name(self) -> &'static str {
        match self {
            AssetKind::Field => "field",
            AssetKind::Pad => "pad",
            AssetKind::Well => "well",
            AssetKind::Equipment(kind) => EQUIPMENT_NAMES
                .iter()
                .find(|(known, _)| *known == kind)
                .map(|(_, name)| *name)
                .expect("bug: every equipment kind is in EQUIPMENT_NAMES"),
        }
    }

    /// Whether an asset of this kind may stand at the top of the tree.
    pub fn may_be_root(self) -> bool {
        self == AssetKind::Field
    }

    /// Whether an asset of this kind may hold a child asset of kind `child`:
    /// fields hold pads; pads hold wells and equipment; wells and equipment
    /// hold equipment.
    pub fn may_contain(self, child: AssetKind) -> bool {
        use AssetKind::*;
        matches!(
            (self, child),
            (Field, Pad)
                | (Pad, Well)
                | (Pad, Equipment(_))
                | (Well, Equipment(_))
                | (Equipment(_), Equipment(_))
        )
    }
}

impl fmt::Display for AssetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AssetKind {
    type Err = AssetKindError;

    /// Reads the names [`AssetKind::name`] writes; `site` is accepted for a pad.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let name = text.trim().to_ascii_lowercase();
        match name.as_str() {
            "field" => Ok(AssetKind::Field),
            "pad" | "site" => Ok(AssetKind::Pad),
            "well" => Ok(AssetKind::Well),
            _ => EQUIPMENT_NAMES
                .iter()
                .find(|(_, known)| *known == name)
                .map(|(kind, _)| AssetKind::Equipment(*kind))
                .ok_or_else(|| AssetKindError(text.to_owned())),
        }
    }
}

impl Serialize for AssetKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for AssetKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// How much a tag matters to safety and production. It orders alarm
/// priorities and chooses retention tiers. The default is
/// [`Criticality::Medium`].
#[derive(
    Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Criticality {
    /// Informational; losing it costs little.
    Low,
    /// Ordinary operating data.
    #[default]
    Medium,
    /// Production depends on it.
    High,
    /// Safety or environment depends on it.
    Critical,
}

/// A criticality name that Flowline does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown criticality `{0}`: expected low, medium, high or critical")]
pub struct CriticalityError(String);

impl Criticality {
    /// The lowercase name used in files and on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Criticality::Low => "low",
            Criticality::Medium => "medium",
            Criticality::High => "high",
            Criticality::Critical => "critical",
        }
    }
}

impl fmt::Display for Criticality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Criticality {
    type Err = CriticalityError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "low" => Ok(Criticality::Low),
            "medium" => Ok(Criticality::Medium),
            "high" => Ok(Criticality::High),
            "critical" => Ok(Criticality::Critical),
            _ => Err(CriticalityError(text.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip() {
        let mut kinds = vec![AssetKind::Field, AssetKind::Pad, AssetKind::Well];
        kinds.extend(
            EQUIPMENT_NAMES
                .iter()
                .map(|(kind, _)| AssetKind::Equipment(*kind)),
        );
        for kind in kinds {
            assert_eq!(kind.name().parse::<AssetKind>().unwrap(), kind);
        }
        assert_eq!("site".parse::<AssetKind>().unwrap(), AssetKind::Pad);
    }

    #[test]
    fn unknown_kinds_are_named_in_the_error() {
        let error = "rig".parse::<AssetKind>().unwrap_err();
        assert!(error.to_string().contains("`rig`"));
        assert!(error.to_string().contains("separator"));
    }

    #[test]
    fn the_tree_follows_field_pad_well_equipment() {
        let esp = AssetKind::Equipment(EquipmentKind::Esp);
        let separator = AssetKind::Equipment(EquipmentKind::Separator);
        assert!(AssetKind::Field.may_be_root());
        assert!(!AssetKind::Well.may_be_root());
        assert!(AssetKind::Field.may_contain(AssetKind::Pad));
        assert!(AssetKind::Pad.may_contain(AssetKind::Well));
        assert!(AssetKind::Pad.may_contain(separator));
        assert!(AssetKind::Well.may_contain(esp));
        assert!(!AssetKind::Field.may_contain(AssetKind::Well));
        assert!(!AssetKind::Well.may_contain(AssetKind::Well));
        assert!(!esp.may_contain(AssetKind::Well));
    }

    #[test]
    fn criticality_orders_from_low_to_critical() {
        assert!(Criticality::Low < Criticality::Critical);
        assert_eq!("HIGH".parse::<Criticality>().unwrap(), Criticality::High);
        assert!("urgent".parse::<Criticality>().is_err());
    }
}
