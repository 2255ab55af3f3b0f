//! The demo field.
//!
//! `flowline up` loads this field into an empty catalog (or into any catalog
//! with `--demo`), and the field simulator serves the same wells, so a new
//! installation shows a living field from the first minute. The layout is
//! fixed by [`DemoLayout`]: pads of wells whose lift method rotates through
//! ESP, gas lift, rod pump and natural flow, each pad with a separator and a
//! tank.

use flowline_core::{AssetKind, Criticality, DataType, EquipmentKind, NodePath, Unit};

use crate::document::Document;
use crate::modbus::{ModbusAddress, Table, ValueType};
use crate::model::{AssetSpec, Attributes, Limits, Protocol, SourceBinding, TagSpec};

/// The name of the demo field, the top of its tree.
pub const DEMO_FIELD: &str = "north";

/// The most pads a demo field may have: each pad is one Modbus unit, and
/// unit ids run from 1 to 247.
pub const MAX_PADS: u8 = 247;

/// How large a demo field to make. The default is three pads of four wells.
/// At most [`MAX_PADS`] pads.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct DemoLayout {
    /// Number of pads.
    pub pads: u32,
    /// Number of wells on each pad.
    pub wells_per_pad: u32,
}

impl Default for DemoLayout {
    fn default() -> Self {
        DemoLayout {
            pads: 3,
            wells_per_pad: 4,
        }
    }
}

/// How a demo well lifts its fluid, which decides its equipment and tags.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LiftMethod {
    /// Electric submersible pump.
    Esp,
    /// Gas lift.
    GasLift,
    /// Rod (beam) pump.
    RodPump,
    /// Natural flow: reservoir pressure alone.
    NaturalFlow,
}

impl LiftMethod {
    /// The lift method of the `index`th well of the field, counting from 0.
    pub fn of_well(index: u32) -> LiftMethod {
        match index % 4 {
            0 => LiftMethod::Esp,
            1 => LiftMethod::GasLift,
            2 => LiftMethod::RodPump,
            _ => LiftMethod::NaturalFlow,
        }
    }

    /// The name used in the well's `lift` attribute.
    pub fn name(self) -> &'static str {
        match self {
            LiftMethod::Esp => "esp",
            LiftMethod::GasLift => "gas-lift",
            LiftMethod::RodPump => "rod-pump",
            LiftMethod::NaturalFlow => "natural-flow",
        }
    }

    fn equipment(self) -> Option<(EquipmentKind, &'static [TagTemplate])> {
        match self {
            LiftMethod::Esp => Some((EquipmentKind::Esp, ESP_TAGS)),
            LiftMethod::GasLift => Some((EquipmentKind::GasLift, GAS_LIFT_TAGS)),
            LiftMethod::RodPump => Some((EquipmentKind::RodPump, ROD_PUMP_TAGS)),
            LiftMethod::NaturalFlow => None,
        }
    }
}

/// A tag every demo asset of one kind has.
struct TagTemplate {
    name: &'static str,
    description: &'static str,
    /// `None` for boolean tags.
    unit: Option<Unit>,
    valid: (f64, f64),
    max_change_per_s: Option<f64>,
    deadband: f64,
    criticality: Criticality,
    /// A setpoint or start/stop that commands may write.
    writable: bool,
}

const fn measured(
    name: &'static str,
    description: &'static str,
    unit: Unit,
    valid: (f64, f64),
    max_change_per_s: f64,
    deadband: f64,
    criticality: Criticality,
) -> TagTemplate {
    TagTemplate {
        name,
        description,
        unit: Some(unit),
        valid,
        max_change_per_s: Some(max_change_per_s),
        deadband,
        criticality,
        writable: false,
    }
}

/// A measured template that commands may write: a setpoint.
const fn setpoint(template: TagTemplate) -> TagTemplate {
    TagTemplate {
        writable: true,
        ..template
    }
}

const fn state(
    name: &'static str,
    description: &'static str,
    criticality: Criticality,
) -> TagTemplate {
    TagTemplate {
        name,
        description,
        unit: None,
        valid: (0.0, 1.0),
        max_change_per_s: None,
        deadband: 0.0,
        criticality,
        writable: false,
    }
}

use Criticality::{Critical, High, Low, Medium};

const WELL_TAGS: &[TagTemplate] = &[
    measured(
        "tubing-pressure",
        "Tubing pressure at the wellhead",
        Unit::Bar,
        (0.0, 350.0),
        20.0,
        0.1,
        High,
    ),
    measured(
        "casing-pressure",
        "Casing (annulus) pressure at the wellhead",
        Unit::Bar,
        (0.0, 350.0),
        20.0,
        0.1,
        High,
    ),
    measured(
        "flowline-temperature",
        "Flowline temperature downstream of the choke",
        Unit::Celsius,
        (-40.0, 150.0),
        2.0,
        0.2,
        Medium,
    ),
    measured(
        "oil-rate",
        "Oil rate at line conditions",
        Unit::CubicMetrePerDay,
        (0.0, 2_000.0),
        50.0,
        0.5,
        Medium,
    ),
    measured(
        "gas-rate",
        "Gas rate at standard conditions",
        Unit::StandardCubicMetrePerDay,
        (0.0, 500_000.0),
        10_000.0,
        100.0,
        Medium,
    ),
    measured(
        "water-rate",
        "Water rate at line conditions",
        Unit::CubicMetrePerDay,
        (0.0, 2_000.0),
        50.0,
        0.5,
        Low,
    ),
];

const CHOKE_TAGS: &[TagTemplate] = &[
    measured(
        "position",
        "Choke opening",
        Unit::Percent,
        (0.0, 100.0),
        10.0,
        0.1,
        High,
    ),
    setpoint(measured(
        "setpoint",
        "Choke opening setpoint",
        Unit::Percent,
        (0.0, 100.0),
        100.0,
        0.0,
        High,
    )),
];

const ESP_TAGS: &[TagTemplate] = &[
    measured(
        "frequency",
        "Drive frequency",
        Unit::Hertz,
        (0.0, 70.0),
        2.0,
        0.05,
        High,
    ),
    measured(
        "motor-current",
        "Motor current",
        Unit::Ampere,
        (0.0, 200.0),
        20.0,
        0.2,
        Critical,
    ),
    measured(
        "motor-temperature",
        "Motor winding temperature",
        Unit::Celsius,
        (0.0, 250.0),
        1.0,
        0.2,
        Critical,
    ),
    measured(
        "intake-pressure",
        "Pump intake pressure",
        Unit::Bar,
        (0.0, 400.0),
        10.0,
        0.1,
        High,
    ),
    measured(
        "discharge-pressure",
        "Pump discharge pressure",
        Unit::Bar,
        (0.0, 500.0),
        10.0,
        0.1,
        High,
    ),
    measured(
        "vibration",
        "Pump vibration velocity",
        Unit::MillimetrePerSecond,
        (0.0, 50.0),
        10.0,
        0.05,
        High,
    ),
    state("running", "Pump running", High),
    setpoint(state(
        "run",
        "Run command: true starts the pump, false stops it",
        High,
    )),
    setpoint(measured(
        "frequency-setpoint",
        "Drive frequency setpoint",
        Unit::Hertz,
        (0.0, 70.0),
        70.0,
        0.0,
        High,
    )),
];

const GAS_LIFT_TAGS: &[TagTemplate] = &[
    measured(
        "injection-rate",
        "Lift-gas injection rate",
        Unit::StandardCubicMetrePerDay,
        (0.0, 200_000.0),
        5_000.0,
        50.0,
        High,
    ),
    measured(
        "injection-pressure",
        "Lift-gas injection pressure",
        Unit::Bar,
        (0.0, 300.0),
        10.0,
        0.1,
        High,
    ),
    setpoint(measured(
        "rate-setpoint",
        "Lift-gas injection rate setpoint",
        Unit::StandardCubicMetrePerDay,
        (0.0, 200_000.0),
        200_000.0,
        0.0,
        High,
    )),
];

const ROD_PUMP_TAGS: &[TagTemplate] = &[
    measured(
        "speed",
        "Pumping speed",
        Unit::StrokePerMinute,
        (0.0, 15.0),
        1.0,
        0.05,
        High,
    ),
    measured(
        "load",
        "Polished-rod load",
        Unit::Kilonewton,
        (0.0, 200.0),
        100.0,
        0.5,
        High,
    ),
    state("running", "Pump running", High),
    setpoint(state(
        "run",
        "Run command: true starts the pump, false stops it",
        High,
    )),
];

const SEPARATOR_TAGS: &[TagTemplate] = &[
    measured(
        "pressure",
        "Separator pressure",
        Unit::Bar,
        (0.0, 100.0),
        5.0,
        0.05,
        Critical,
    ),
    measured(
        "level",
        "Liquid level",
        Unit::Percent,
        (0.0, 100.0),
        5.0,
        0.2,
        Critical,
    ),
    measured(
        "temperature",
        "Separator temperature",
        Unit::Celsius,
        (-40.0, 150.0),
        2.0,
        0.2,
        Medium,
    ),
];

const TANK_TAGS: &[TagTemplate] = &[measured(
    "level",
    "Tank level",
    Unit::Metre,
    (0.0, 12.0),
    0.1,
    0.01,
    High,
)];

/// The demo field with `layout`'s pads and wells, as a document ready to import.
pub fn demo_field(layout: DemoLayout) -> Document {
    let mut demo = Builder::default();
    let field = demo.asset(
        None,
        DEMO_FIELD,
        AssetKind::Field,
        "Demo oil field",
        Attributes::new(),
    );
    for pad_number in 1..=layout.pads {
        let unit = u8::try_from(pad_number)
            .ok()
            .filter(|unit| *unit <= MAX_PADS)
            .unwrap_or_else(|| panic!("bug: the demo has at most {MAX_PADS} pads"));
        demo.start_unit(unit);
        let pad = demo.asset(
            Some(&field),
            &format!("pad-{pad_number}"),
            AssetKind::Pad,
            &format!("Pad {pad_number}"),
            Attributes::new(),
        );
        let separator = demo.asset(
            Some(&pad),
            "separator",
            AssetKind::Equipment(EquipmentKind::Separator),
            "Test and production separator",
            Attributes::new(),
        );
        demo.tags(&separator, SEPARATOR_TAGS);
        let tank = demo.asset(
            Some(&pad),
            "tank-1",
            AssetKind::Equipment(EquipmentKind::Tank),
            "Oil storage tank",
            Attributes::new(),
        );
        demo.tags(&tank, TANK_TAGS);

        for slot in 0..layout.wells_per_pad {
            let index = (pad_number - 1) * layout.wells_per_pad + slot;
            let lift = LiftMethod::of_well(index);
            let attributes = Attributes::from([("lift".to_owned(), lift.name().to_owned())]);
            let name = format!("w-{:02}", index + 1);
            let well = demo.asset(
                Some(&pad),
                &name,
                AssetKind::Well,
                &format!("Well {}, {}", index + 1, lift.name()),
                attributes,
            );
            demo.tags(&well, WELL_TAGS);
            let choke = demo.asset(
                Some(&well),
                "choke",
                AssetKind::Equipment(EquipmentKind::Choke),
                "Production choke",
                Attributes::new(),
            );
            demo.tags(&choke, CHOKE_TAGS);
            if let Some((kind, templates)) = lift.equipment() {
                let equipment = demo.asset(
                    Some(&well),
                    AssetKind::Equipment(kind).name(),
                    AssetKind::Equipment(kind),
                    lift.name(),
                    Attributes::new(),
                );
                demo.tags(&equipment, templates);
            }
        }
    }
    Document::new(demo.assets, demo.tags)
}

/// Builds the demo's assets and tags, giving each tag the next free
/// Modbus address in its pad's unit: measurements in input registers,
/// states in discrete inputs, setpoints in holding registers and commands in
/// coils.
#[derive(Default)]
struct Builder {
    assets: Vec<AssetSpec>,
    tags: Vec<TagSpec>,
    unit: u8,
    next_address: [u16; 4],
}

impl Builder {
    fn asset(
        &mut self,
        parent: Option<&NodePath>,
        name: &str,
        kind: AssetKind,
        description: &str,
        attributes: Attributes,
    ) -> NodePath {
        let path = match parent {
            Some(parent) => parent.child(name),
            None => NodePath::parse(name),
        }
        .expect("bug: demo asset names are valid path segments");
        self.assets.push(AssetSpec {
            path: path.clone(),
            kind,
            description: description.to_owned(),
            attributes,
        });
        path
    }

    /// Starts giving addresses in unit `unit`, from 0 in every table.
    fn start_unit(&mut self, unit: u8) {
        self.unit = unit;
        self.next_address = [0; 4];
    }

    /// The next free address in `table` for a value of `value_type`.
    fn allocate(&mut self, table: Table, value_type: ValueType) -> ModbusAddress {
        let slot = match table {
            Table::Coil => 0,
            Table::DiscreteInput => 1,
            Table::InputRegister => 2,
            Table::HoldingRegister => 3,
        };
        let address = self.next_address[slot];
        self.next_address[slot] = address
            .checked_add(value_type.width())
            .expect("bug: a demo pad never fills a Modbus table");
        ModbusAddress::register(self.unit, table, address, value_type)
    }

    fn tags(&mut self, asset: &NodePath, templates: &[TagTemplate]) {
        for template in templates {
            let path = asset
                .child(template.name)
                .expect("bug: demo tag names are valid path segments");
            let mut spec = TagSpec::new(path);
            spec.description = template.description.to_owned();
            spec.criticality = template.criticality;
            match template.unit {
                Some(unit) => {
                    spec.unit = Some(unit);
                    spec.valid_range = Limits::new(template.valid.0, template.valid.1);
                    spec.engineering_range = Limits::new(template.valid.0, template.valid.1);
                    spec.max_change_per_s = template.max_change_per_s;
                    spec.deadband = Some(template.deadband);
                }
                None => spec.data_type = DataType::Boolean,
            }
            let (table, value_type) = match (template.unit.is_some(), template.writable) {
                (true, false) => (Table::InputRegister, ValueType::F32),
                (true, true) => (Table::HoldingRegister, ValueType::F32),
                (false, false) => (Table::DiscreteInput, ValueType::Bool),
                (false, true) => (Table::Coil, ValueType::Bool),
            };
            let address = self.allocate(table, value_type);
            spec.source = Some(SourceBinding {
                protocol: Protocol::Modbus,
                address: address.to_string(),
            });
            spec.writable = template.writable;
            self.tags.push(spec);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_field_has_twelve_wells_on_three_pads_of_every_lift_method() {
        let document = demo_field(DemoLayout::default());
        let wells: Vec<_> = document
            .assets
            .iter()
            .filter(|entry| entry.spec.kind == AssetKind::Well)
            .collect();
        assert_eq!(wells.len(), 12);
        let pads = document
            .assets
            .iter()
            .filter(|entry| entry.spec.kind == AssetKind::Pad)
            .count();
        assert_eq!(pads, 3);
        for lift in ["esp", "gas-lift", "rod-pump", "natural-flow"] {
            assert_eq!(
                wells
                    .iter()
                    .filter(|well| well.spec.attributes["lift"] == lift)
                    .count(),
                3
            );
        }
        assert!(
            document
                .tags
                .iter()
                .any(|entry| entry.spec.path.as_str() == "north/pad-1/w-01/esp/motor-current")
        );
    }

    #[test]
    fn demo_specs_pass_the_catalog_checks() {
        let document = demo_field(DemoLayout {
            pads: 2,
            wells_per_pad: 5,
        });
        for entry in &document.assets {
            assert!(
                crate::validate::check_asset(&entry.spec).is_empty(),
                "{}",
                entry.spec.path
            );
        }
        for entry in &document.tags {
            assert!(
                crate::validate::check_tag(&entry.spec).is_empty(),
                "{}",
                entry.spec.path
            );
        }
    }
}
