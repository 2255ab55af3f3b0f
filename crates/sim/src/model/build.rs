//! Building the model from a catalog document.
//!
//! The document says what exists (pads, wells and their lift method,
//! separators, tanks, and every tag with its range and Modbus binding); the
//! seed says how each well is made: depth, reservoir pressure,
//! productivity, water cut, pump size and initial setpoints are drawn from
//! plausible ranges, so two fields with the same seed are the same field.

use std::collections::HashMap;

use flowline_catalog::modbus::{ModbusAddress, Point, ValueType, overlaps};
use flowline_catalog::{AssetSpec, Document, LiftMethod, Protocol, TagSpec};
use flowline_core::{AssetKind, DataType, EquipmentKind, NodePath};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::error::BuildError;
use crate::model::pad::{Pad, Separator};
use crate::model::signal::{Role, Signal};
use crate::model::well::{
    Commands, Effects, EspDesign, GasLiftDesign, LiftDesign, Reservoir, RodPumpDesign, Well,
    WellState,
};

/// The attribute of a well asset that names its lift method.
const LIFT_ATTRIBUTE: &str = "lift";

/// Every lift method, for reading the `lift` attribute.
const LIFT_METHODS: [LiftMethod; 4] = [
    LiftMethod::Esp,
    LiftMethod::GasLift,
    LiftMethod::RodPump,
    LiftMethod::NaturalFlow,
];

/// One tag as the model keeps it.
#[derive(Clone, Debug)]
pub(crate) struct TagModel {
    /// The tag's path.
    pub(crate) path: NodePath,
    /// What it measures or commands.
    pub(crate) signal: Signal,
    /// The index of its well, pad or tank, as its signal says.
    pub(crate) owner: usize,
    /// The index of its well, if it belongs to one.
    pub(crate) well: Option<usize>,
    /// The lowest valid value, in the tag's unit; minus infinity if open.
    pub(crate) low: f64,
    /// The highest valid value; infinity if open.
    pub(crate) high: f64,
    /// Whether the catalog lets commands write it.
    pub(crate) writable: bool,
    /// Where it is served over Modbus, if it is.
    pub(crate) binding: Option<ModbusAddress>,
}

/// The model's pieces, before it settles.
pub(crate) struct Parts {
    /// Wells in document order.
    pub(crate) wells: Vec<Well>,
    /// Pads in document order.
    pub(crate) pads: Vec<Pad>,
    /// The pad of each tank, in document order; tank `i` is owner `i` of
    /// tank tags.
    pub(crate) tank_pads: Vec<usize>,
    /// Tags in document order.
    pub(crate) tags: Vec<TagModel>,
}

/// Reads `document` and draws each well's design from `rng`.
pub(crate) fn build(document: &Document, rng: &mut ChaCha8Rng) -> Result<Parts, BuildError> {
    let assets: HashMap<&NodePath, &AssetSpec> = document
        .assets
        .iter()
        .map(|entry| (&entry.spec.path, &entry.spec))
        .collect();
    let children = children_by_parent(document);

    let mut pads = Vec::new();
    let mut pad_index = HashMap::new();
    for spec in assets_of(document, AssetKind::Pad) {
        pad_index.insert(spec.path.clone(), pads.len());
        pads.push(Pad {
            separator: design_separator(rng),
            tanks: Vec::new(),
        });
    }

    let mut wells = Vec::new();
    let mut well_index = HashMap::new();
    for spec in assets_of(document, AssetKind::Well) {
        let pad = parent_pad(spec, &pad_index, "a well")?;
        let lift = lift_method(spec, &children)?;
        let separator_pressure = pads[pad].separator.pressure_setpoint_bar;
        well_index.insert(spec.path.clone(), wells.len());
        wells.push(design_well(
            spec.path.clone(),
            pad,
            lift,
            separator_pressure,
            rng,
        ));
    }

    let mut tank_pads = Vec::new();
    let mut tank_index = HashMap::new();
    for spec in assets_of(document, AssetKind::Equipment(EquipmentKind::Tank)) {
        let pad = parent_pad(spec, &pad_index, "a tank")?;
        tank_index.insert(spec.path.clone(), tank_pads.len());
        pads[pad].tanks.push(tank_pads.len());
        tank_pads.push(pad);
    }

    let owners = Owners {
        assets: &assets,
        pads: &pad_index,
        wells: &well_index,
        tanks: &tank_index,
        lifts: &wells,
    };
    let tags = document
        .tags
        .iter()
        .map(|entry| tag_model(&entry.spec, &owners))
        .collect::<Result<Vec<_>, _>>()?;
    check_overlaps(&tags)?;

    Ok(Parts {
        wells,
        pads,
        tank_pads,
        tags,
    })
}

/// The document's assets of one kind, in document order.
fn assets_of(document: &Document, kind: AssetKind) -> impl Iterator<Item = &AssetSpec> {
    document
        .assets
        .iter()
        .map(|entry| &entry.spec)
        .filter(move |spec| spec.kind == kind)
}

/// The kinds of each asset's children, by the parent's path.
fn children_by_parent(document: &Document) -> HashMap<NodePath, Vec<AssetKind>> {
    let mut children: HashMap<NodePath, Vec<AssetKind>> = HashMap::new();
    for entry in &document.assets {
        if let Some(parent) = entry.spec.path.parent() {
            children.entry(parent).or_default().push(entry.spec.kind);
        }
    }
    children
}

/// The index of the pad `spec` sits on.
fn parent_pad(
    spec: &AssetSpec,
    pads: &HashMap<NodePath, usize>,
    what: &str,
) -> Result<usize, BuildError> {
    spec.path
        .parent()
        .and_then(|parent| pads.get(&parent).copied())
        .ok_or_else(|| BuildError::Asset {
            asset: spec.path.clone(),
            reason: format!("{what} must sit on a pad, and its parent is not a pad"),
        })
}

/// A well's lift method: its `lift` attribute, or else the lift equipment
/// it holds, or else natural flow.
fn lift_method(
    spec: &AssetSpec,
    children: &HashMap<NodePath, Vec<AssetKind>>,
) -> Result<LiftMethod, BuildError> {
    if let Some(name) = spec.attributes.get(LIFT_ATTRIBUTE) {
        return LIFT_METHODS
            .into_iter()
            .find(|method| method.name() == name)
            .ok_or_else(|| BuildError::Asset {
                asset: spec.path.clone(),
                reason: format!(
                    "attribute `{LIFT_ATTRIBUTE}` is `{name}`; expected esp, gas-lift, \
                     rod-pump or natural-flow"
                ),
            });
    }
    let kinds = children.get(&spec.path).map(Vec::as_slice).unwrap_or(&[]);
    let lift = kinds.iter().find_map(|kind| match kind {
        AssetKind::Equipment(EquipmentKind::Esp) => Some(LiftMethod::Esp),
        AssetKind::Equipment(EquipmentKind::GasLift) => Some(LiftMethod::GasLift),
        AssetKind::Equipment(EquipmentKind::RodPump) => Some(LiftMethod::RodPump),
        _ => None,
    });
    Ok(lift.unwrap_or(LiftMethod::NaturalFlow))
}

/// A separator with a pressure setpoint between 12 and 18 bar.
fn design_separator(rng: &mut ChaCha8Rng) -> Separator {
    let setpoint = rng.random_range(12.0..18.0);
    Separator {
        pressure_setpoint_bar: setpoint,
        design_gas_rate: 0.0,
        design_liquid_rate: 0.0,
        pressure_bar: setpoint,
        level_percent: 50.0,
        temperature_c: 20.0,
    }
}

/// A well of `lift` drawn from plausible ranges. Reservoir pressure is set
/// against the weight of the column so that pumped and gas-lifted wells
/// need their lift to flow, and naturally flowing wells do not.
fn design_well(
    path: NodePath,
    pad: usize,
    lift: LiftMethod,
    separator_pressure_bar: f64,
    rng: &mut ChaCha8Rng,
) -> Well {
    let depth_m = rng.random_range(1_800.0..2_600.0);
    let gradient_bar_per_m = match lift {
        LiftMethod::NaturalFlow => rng.random_range(0.055..0.065),
        _ => rng.random_range(0.085..0.090),
    };
    let column_bar = depth_m * gradient_bar_per_m;
    let (margin_bar, productivity, water_cut, gas_oil_ratio) = match lift {
        LiftMethod::Esp => (
            -rng.random_range(5.0..15.0),
            rng.random_range(1.5..3.0),
            rng.random_range(0.1..0.5),
            rng.random_range(60.0..120.0),
        ),
        LiftMethod::GasLift => (
            -rng.random_range(0.0..10.0),
            rng.random_range(1.5..2.5),
            rng.random_range(0.1..0.5),
            rng.random_range(100.0..180.0),
        ),
        LiftMethod::RodPump => (
            -rng.random_range(20.0..40.0),
            rng.random_range(0.4..0.8),
            rng.random_range(0.1..0.5),
            rng.random_range(60.0..120.0),
        ),
        LiftMethod::NaturalFlow => (
            rng.random_range(80.0..130.0),
            rng.random_range(1.0..2.0),
            rng.random_range(0.05..0.3),
            rng.random_range(150.0..250.0),
        ),
    };
    let temperature_c = rng.random_range(80.0..95.0);
    let reservoir = Reservoir {
        initial_pressure_bar: column_bar + separator_pressure_bar + margin_bar,
        decline_per_year: rng.random_range(0.15..0.25),
        productivity,
        initial_water_cut: water_cut,
        water_cut_rise_per_year: rng.random_range(0.03..0.08),
        gas_oil_ratio,
        depth_m,
        gradient_bar_per_m,
        temperature_c,
        wellhead_temperature_c: temperature_c - rng.random_range(10.0..20.0),
        choke_capacity: rng.random_range(40.0..60.0),
    };

    let mut commands = Commands {
        choke_setpoint_percent: rng.random_range(40.0_f64..70.0).round(),
        run: true,
        frequency_setpoint_hz: 0.0,
        gas_lift_rate_setpoint: 0.0,
    };
    let mut state = WellState::default();
    let lift = match lift {
        LiftMethod::Esp => {
            commands.frequency_setpoint_hz = (rng.random_range(48.0_f64..55.0) * 2.0).round() / 2.0;
            LiftDesign::Esp(EspDesign {
                rated_pressure_bar: rng.random_range(120.0..150.0),
                rated_flow: rng.random_range(500.0..700.0),
                no_load_current_a: rng.random_range(18.0..24.0),
                ampere_per_kilowatt: rng.random_range(2.5..3.5),
                casing_offset_bar: rng.random_range(2.0..6.0),
            })
        }
        LiftMethod::GasLift => {
            commands.gas_lift_rate_setpoint = (rng.random_range(40.0_f64..60.0)).round() * 1_000.0;
            LiftDesign::GasLift(GasLiftDesign {
                opening_pressure_bar: rng.random_range(70.0..90.0),
                pressure_per_rate: rng.random_range(0.0003..0.0005),
                half_effect_rate: rng.random_range(40_000.0..60_000.0),
                max_gradient_reduction: rng.random_range(0.5..0.6),
            })
        }
        LiftMethod::RodPump => {
            commands.choke_setpoint_percent = rng.random_range(80.0_f64..100.0).round();
            state.stroke_phase = rng.random_range(0.0..1.0);
            let plunger_diameter_m: f64 = rng.random_range(0.038..0.057);
            LiftDesign::RodPump(RodPumpDesign {
                nominal_speed_spm: rng.random_range(6.0..9.0),
                plunger_area_m2: std::f64::consts::PI / 4.0 * plunger_diameter_m.powi(2),
                stroke_m: rng.random_range(2.5..4.0),
                volumetric_efficiency: rng.random_range(0.8..0.9),
                rod_weight_kn: depth_m * rng.random_range(0.024..0.030),
                casing_offset_bar: rng.random_range(2.0..6.0),
            })
        }
        LiftMethod::NaturalFlow => LiftDesign::NaturalFlow {
            annulus_pressure_bar: rng.random_range(20.0..40.0),
        },
    };

    Well {
        path,
        pad,
        reservoir,
        lift,
        commands,
        state,
        effects: Effects::default(),
    }
}

/// Where tags find the wells, pads and tanks they belong to.
struct Owners<'a> {
    assets: &'a HashMap<&'a NodePath, &'a AssetSpec>,
    pads: &'a HashMap<NodePath, usize>,
    wells: &'a HashMap<NodePath, usize>,
    tanks: &'a HashMap<NodePath, usize>,
    lifts: &'a [Well],
}

/// The model of one tag: its signal, owner, range and binding.
fn tag_model(spec: &TagSpec, owners: &Owners<'_>) -> Result<TagModel, BuildError> {
    let refuse = |reason: String| BuildError::Tag {
        tag: spec.path.clone(),
        reason,
    };
    let parent = spec
        .path
        .parent()
        .ok_or_else(|| refuse("a tag must belong to an asset".to_owned()))?;
    let asset = owners
        .assets
        .get(&parent)
        .ok_or_else(|| refuse(format!("its asset `{parent}` is not in the document")))?;
    let (role, owner, well) = role_and_owner(asset, owners).map_err(refuse)?;

    let name = spec.path.name();
    let signal = Signal::lookup(role, name).ok_or_else(|| {
        refuse(format!(
            "the simulator has no signal `{name}` for {}; expected one of {}",
            role.describe(),
            role.tag_names()
        ))
    })?;
    let boolean = spec.data_type == DataType::Boolean;
    if signal.is_boolean() != boolean {
        let produced = if signal.is_boolean() {
            "boolean"
        } else {
            "float"
        };
        return Err(refuse(format!(
            "the simulator produces a {produced} here, but the tag's data type is {}",
            spec.data_type
        )));
    }
    if spec.writable && !signal.is_command() {
        return Err(refuse(
            "it is marked writable, but the simulator models it as a measurement".to_owned(),
        ));
    }

    Ok(TagModel {
        path: spec.path.clone(),
        signal,
        owner,
        well,
        low: spec.valid_range.lo.unwrap_or(f64::NEG_INFINITY),
        high: spec.valid_range.hi.unwrap_or(f64::INFINITY),
        writable: spec.writable,
        binding: binding(spec, boolean)?,
    })
}

/// The role of tags on `asset`, the index of their owner, and their well.
fn role_and_owner(
    asset: &AssetSpec,
    owners: &Owners<'_>,
) -> Result<(Role, usize, Option<usize>), String> {
    let parent = asset.path.parent();
    let parent_well = parent
        .as_ref()
        .and_then(|path| owners.wells.get(path))
        .copied();
    let parent_pad = parent
        .as_ref()
        .and_then(|path| owners.pads.get(path))
        .copied();
    let equipment = |needed: Option<LiftMethod>, role: Role| {
        let well = parent_well
            .ok_or_else(|| format!("{} must sit on a well to be simulated", role.describe()))?;
        let lift = lift_of(&owners.lifts[well].lift);
        match needed {
            Some(needed) if needed != lift => Err(format!(
                "its well lifts by {}, so it has no {}",
                lift.name(),
                needed.name()
            )),
            _ => Ok((role, well, Some(well))),
        }
    };
    match asset.kind {
        AssetKind::Well => {
            let well = owners.wells[&asset.path];
            Ok((Role::Well, well, Some(well)))
        }
        AssetKind::Equipment(EquipmentKind::Choke) => equipment(None, Role::Choke),
        AssetKind::Equipment(EquipmentKind::Esp) => equipment(Some(LiftMethod::Esp), Role::Esp),
        AssetKind::Equipment(EquipmentKind::GasLift) => {
            equipment(Some(LiftMethod::GasLift), Role::GasLift)
        }
        AssetKind::Equipment(EquipmentKind::RodPump) => {
            equipment(Some(LiftMethod::RodPump), Role::RodPump)
        }
        AssetKind::Equipment(EquipmentKind::Separator) => {
            let pad = parent_pad.ok_or("a separator must sit on a pad to be simulated")?;
            Ok((Role::Separator, pad, None))
        }
        AssetKind::Equipment(EquipmentKind::Tank) => {
            Ok((Role::Tank, owners.tanks[&asset.path], None))
        }
        kind => Err(format!(
            "the simulator has no model for tags of a {kind} asset"
        )),
    }
}

/// The lift method of a built well.
fn lift_of(lift: &LiftDesign) -> LiftMethod {
    match lift {
        LiftDesign::Esp(_) => LiftMethod::Esp,
        LiftDesign::GasLift(_) => LiftMethod::GasLift,
        LiftDesign::RodPump(_) => LiftMethod::RodPump,
        LiftDesign::NaturalFlow { .. } => LiftMethod::NaturalFlow,
    }
}

/// The tag's Modbus address, if it is bound to Modbus.
fn binding(spec: &TagSpec, boolean: bool) -> Result<Option<ModbusAddress>, BuildError> {
    let Some(source) = spec
        .source
        .as_ref()
        .filter(|source| source.protocol == Protocol::Modbus)
    else {
        return Ok(None);
    };
    let address: ModbusAddress = source
        .address
        .parse()
        .map_err(|error| BuildError::Binding {
            tag: spec.path.clone(),
            source: error,
        })?;
    // LIMITATION: the simulator serves numbers as f32 or f64 only; integer
    // registers (u16 with a scale, for example) are refused at build.
    let served = match address.value_type {
        ValueType::Bool => boolean,
        ValueType::F32 | ValueType::F64 => !boolean,
        _ => false,
    };
    if !served {
        let expected = if boolean { "bool" } else { "f32 or f64" };
        return Err(BuildError::Tag {
            tag: spec.path.clone(),
            reason: format!(
                "the simulator serves this tag as {expected}, but its Modbus address `{}` \
                 has type {}",
                source.address,
                address.value_type.name()
            ),
        });
    }
    Ok(Some(address))
}

/// Refuses bindings that share registers.
fn check_overlaps(tags: &[TagModel]) -> Result<(), BuildError> {
    let points: Vec<Point> = tags
        .iter()
        .filter_map(|tag| {
            tag.binding.map(|address| Point {
                path: tag.path.clone(),
                address,
                group: String::new(),
                line: None,
            })
        })
        .collect();
    match overlaps(&points).first() {
        Some(problem) => Err(BuildError::Overlap(problem.to_string())),
        None => Ok(()),
    }
}
