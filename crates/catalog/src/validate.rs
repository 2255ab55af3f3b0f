//! Checks of a single spec that need nothing but the spec itself.
//!
//! Checks that need the rest of the tree (does the parent exist, may it hold
//! this kind, is the path free) live with the planner in `plan.rs`.

use std::fmt;

use flowline_core::AssetKind;

use flowline_core::DataType;

use crate::modbus::ModbusAddress;
use crate::model::{AssetSpec, Limits, Protocol, TagSpec};

/// The longest description accepted, in bytes.
const MAX_DESCRIPTION_LEN: usize = 1_000;
/// The longest attribute value accepted, in bytes.
const MAX_ATTRIBUTE_LEN: usize = 1_000;

/// One problem with one field of a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field, as named in files: `valid_range`, `unit`, `attributes.vendor`.
    pub field: String,
    /// What is wrong, with what was expected and what was found.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Collects field errors for one spec.
#[derive(Default)]
struct Problems(Vec<FieldError>);

impl Problems {
    fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }
}

/// Every problem with an asset spec on its own.
pub(crate) fn check_asset(spec: &AssetSpec) -> Vec<FieldError> {
    let mut problems = Problems::default();
    let root = spec.path.depth() == 1;
    if root && spec.kind != AssetKind::Field {
        problems.add(
            "kind",
            format!("a top-level asset must be a field, found {}", spec.kind),
        );
    }
    if !root && spec.kind == AssetKind::Field {
        problems.add(
            "kind",
            "a field must be a top-level asset, with a single-segment path",
        );
    }
    check_text(&mut problems, &spec.description, &spec.attributes);
    problems.0
}

/// Every problem with a tag spec on its own.
pub(crate) fn check_tag(spec: &TagSpec) -> Vec<FieldError> {
    let mut problems = Problems::default();
    if spec.path.depth() < 2 {
        problems.add("path", "a tag must sit below an asset: expected ASSET/TAG");
    }

    let numeric = spec.data_type.is_numeric();
    let type_name = spec.data_type.name();
    let mut numeric_only = |field: &str, given: bool| {
        if given && !numeric {
            problems.add(
                field,
                format!("applies to numeric tags only, not to a {type_name} tag"),
            );
        }
    };
    numeric_only("unit", spec.unit.is_some());
    numeric_only("valid_range", !spec.valid_range.is_unbounded());
    numeric_only("engineering_range", !spec.engineering_range.is_unbounded());
    numeric_only("max_change_per_s", spec.max_change_per_s.is_some());
    numeric_only("deadband", spec.deadband.is_some());

    check_limits(&mut problems, "valid_range", spec.valid_range);
    check_limits(&mut problems, "engineering_range", spec.engineering_range);
    if let Some(limit) = spec
        .max_change_per_s
        .filter(|limit| !(limit.is_finite() && *limit > 0.0))
    {
        problems.add(
            "max_change_per_s",
            format!("expected a positive number, found {limit}"),
        );
    }
    if let Some(deadband) = spec
        .deadband
        .filter(|band| !(band.is_finite() && *band >= 0.0))
    {
        problems.add(
            "deadband",
            format!("expected zero or a positive number, found {deadband}"),
        );
    }

    check_source(&mut problems, spec);
    check_text(&mut problems, &spec.description, &spec.attributes);
    problems.0
}

fn check_source(problems: &mut Problems, spec: &TagSpec) {
    let Some(source) = &spec.source else {
        if spec.writable {
            problems.add(
                "writable",
                "a writable tag needs a modbus or opcua source to write to",
            );
        }
        return;
    };
    if source.protocol.needs_address() && source.address.trim().is_empty() {
        problems.add(
            "source.address",
            format!("a {} tag needs an address", source.protocol),
        );
        return;
    }
    match source.protocol {
        Protocol::Modbus => match source.address.parse::<ModbusAddress>() {
            Err(error) => problems.add("source.address", error.to_string()),
            Ok(address) => {
                let bits = address.table.is_bits();
                match spec.data_type {
                    DataType::Boolean if !bits => problems.add(
                        "source.address",
                        "a boolean tag needs a coil or discrete input",
                    ),
                    DataType::Float | DataType::Integer if bits => problems.add(
                        "source.address",
                        "a numeric tag needs an input or holding register",
                    ),
                    DataType::String => {
                        problems.add("source.address", "a string tag cannot be read over Modbus")
                    }
                    _ => {}
                }
                if spec.writable && !address.table.is_writable() {
                    problems.add(
                        "writable",
                        format!(
                            "a writable tag needs a coil or holding register, not a {}",
                            address.table.name()
                        ),
                    );
                }
            }
        },
        Protocol::OpcUa => {
            if let Err(reason) = check_node_id(&source.address) {
                problems.add("source.address", reason);
            }
        }
        Protocol::Calculated | Protocol::Manual => {
            if spec.writable {
                problems.add(
                    "writable",
                    format!("a {} tag cannot be written", source.protocol),
                );
            }
        }
    }
}

/// Checks the text form of an OPC UA node id (OPC 10000-6, 5.3.1.10):
/// `ns=N;` or `nsu=URI;` optionally, then `i=`, `s=`, `g=` or `b=` and the
/// identifier.
fn check_node_id(text: &str) -> Result<(), String> {
    let invalid = |why: &str| format!("invalid OPC UA node id `{text}`: {why}");
    let identifier = match text.split_once(';') {
        Some((namespace, rest)) => {
            let ok = namespace
                .strip_prefix("ns=")
                .is_some_and(|index| index.parse::<u16>().is_ok())
                || namespace
                    .strip_prefix("nsu=")
                    .is_some_and(|uri| !uri.is_empty());
            if !ok {
                return Err(invalid(
                    "expected ns=INDEX; or nsu=URI; before the identifier",
                ));
            }
            rest
        }
        None => text,
    };
    let (kind, value) = identifier
        .split_once('=')
        .ok_or_else(|| invalid("expected i=, s=, g= or b= and an identifier"))?;
    let ok = match kind {
        "i" => value.parse::<u32>().is_ok(),
        "s" | "b" => !value.is_empty(),
        "g" => value.len() == 36 && value.chars().filter(|c| *c == '-').count() == 4,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(invalid("expected i=NUMBER, s=TEXT, g=GUID or b=BASE64"))
    }
}

fn check_limits(problems: &mut Problems, field: &str, limits: Limits) {
    for (end, value) in [("lo", limits.lo), ("hi", limits.hi)] {
        if let Some(value) = value.filter(|value| !value.is_finite()) {
            problems.add(
                format!("{field}.{end}"),
                format!("expected a finite number, found {value}"),
            );
        }
    }
    if let (Some(lo), Some(hi)) = (limits.lo, limits.hi)
        && lo > hi
    {
        problems.add(field, format!("lo {lo} is greater than hi {hi}"));
    }
}

fn check_text(problems: &mut Problems, description: &str, attributes: &crate::Attributes) {
    if description.len() > MAX_DESCRIPTION_LEN {
        problems.add(
            "description",
            format!(
                "{} bytes, more than the {MAX_DESCRIPTION_LEN} allowed",
                description.len()
            ),
        );
    }
    for (key, value) in attributes {
        let key_ok = !key.is_empty()
            && key.len() <= flowline_core::MAX_SEGMENT_LEN
            && key
                .chars()
                .all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_' | '.'));
        if !key_ok {
            problems.add(
                format!("attributes.{key}"),
                "attribute names use lowercase letters, digits, '-', '_' and '.', at most 64",
            );
        }
        if value.len() > MAX_ATTRIBUTE_LEN {
            problems.add(
                format!("attributes.{key}"),
                format!(
                    "{} bytes, more than the {MAX_ATTRIBUTE_LEN} allowed",
                    value.len()
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use flowline_core::{DataType, NodePath, Unit};

    use super::*;
    use crate::model::{Protocol, SourceBinding};

    fn tag(path: &str) -> TagSpec {
        TagSpec::new(NodePath::parse(path).unwrap())
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|error| error.field.as_str()).collect()
    }

    #[test]
    fn a_range_with_lo_above_hi_is_rejected_with_both_values() {
        let mut spec = tag("north/pad-1/w-01/tubing-pressure");
        spec.valid_range = Limits::new(350.0, 0.0);
        let errors = check_tag(&spec);
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].to_string(),
            "valid_range: lo 350 is greater than hi 0"
        );
    }

    #[test]
    fn numeric_settings_on_a_boolean_tag_are_each_named() {
        let mut spec = tag("north/pad-1/w-01/esp/running");
        spec.data_type = DataType::Boolean;
        spec.unit = Some(Unit::Hertz);
        spec.deadband = Some(0.5);
        assert_eq!(fields(&check_tag(&spec)), ["unit", "deadband"]);
    }

    #[test]
    fn non_finite_and_negative_limits_are_rejected() {
        let mut spec = tag("north/pad-1/w-01/tubing-pressure");
        spec.valid_range = Limits {
            lo: Some(f64::NAN),
            hi: None,
        };
        spec.max_change_per_s = Some(0.0);
        spec.deadband = Some(-1.0);
        assert_eq!(
            fields(&check_tag(&spec)),
            ["valid_range.lo", "max_change_per_s", "deadband"]
        );
    }

    #[test]
    fn a_tag_needs_an_asset_and_a_modbus_tag_an_address() {
        let mut spec = tag("pressure");
        spec.source = Some(SourceBinding {
            protocol: Protocol::Modbus,
            address: " ".into(),
        });
        assert_eq!(fields(&check_tag(&spec)), ["path", "source.address"]);
    }

    #[test]
    fn only_fields_stand_at_the_top() {
        let well = AssetSpec {
            path: NodePath::parse("w-17").unwrap(),
            kind: AssetKind::Well,
            description: String::new(),
            attributes: Default::default(),
        };
        assert_eq!(fields(&check_asset(&well)), ["kind"]);
        let nested_field = AssetSpec {
            path: NodePath::parse("north/south").unwrap(),
            kind: AssetKind::Field,
            ..well
        };
        assert_eq!(fields(&check_asset(&nested_field)), ["kind"]);
    }

    #[test]
    fn attribute_names_are_checked() {
        let mut spec = tag("north/pad-1/w-01/tubing-pressure");
        spec.attributes.insert("Vendor Name".into(), "acme".into());
        assert_eq!(fields(&check_tag(&spec)), ["attributes.Vendor Name"]);
    }
}

#[cfg(test)]
mod source_tests {
    use flowline_core::{DataType, NodePath};

    use super::*;
    use crate::model::SourceBinding;

    fn bound(data_type: DataType, protocol: Protocol, address: &str, writable: bool) -> TagSpec {
        let mut spec = TagSpec::new(NodePath::parse("north/pad-1/w-01/t").unwrap());
        spec.data_type = data_type;
        spec.source = Some(SourceBinding {
            protocol,
            address: address.to_owned(),
        });
        spec.writable = writable;
        spec
    }

    fn messages(spec: &TagSpec) -> Vec<String> {
        check_tag(spec).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn modbus_addresses_are_checked_against_the_tag() {
        let good = bound(
            DataType::Float,
            Protocol::Modbus,
            "unit=1;holding=0;type=f32",
            true,
        );
        assert!(messages(&good).is_empty());
        let bad = bound(DataType::Float, Protocol::Modbus, "unit=1;holding=x", false);
        assert!(messages(&bad)[0].starts_with("source.address: invalid Modbus address"));
        let read_only = bound(DataType::Float, Protocol::Modbus, "input=0;type=f32", true);
        assert_eq!(
            messages(&read_only),
            ["writable: a writable tag needs a coil or holding register, not a input"]
        );
        let mismatch = bound(DataType::Boolean, Protocol::Modbus, "input=0", false);
        assert_eq!(
            messages(&mismatch),
            ["source.address: a boolean tag needs a coil or discrete input"]
        );
    }

    #[test]
    fn opc_ua_node_ids_are_checked() {
        for good in [
            "ns=2;s=north/pad-1/w-01/t",
            "nsu=urn:flowline:sim;i=42",
            "i=2258",
        ] {
            assert!(
                messages(&bound(DataType::Float, Protocol::OpcUa, good, true)).is_empty(),
                "{good}"
            );
        }
        for bad in ["ns=x;s=a", "s", "ns=2;q=1", "ns=2;i=abc"] {
            let problems = messages(&bound(DataType::Float, Protocol::OpcUa, bad, false));
            assert!(
                problems[0].contains("invalid OPC UA node id"),
                "{bad}: {problems:?}"
            );
        }
    }

    #[test]
    fn only_bound_tags_may_be_writable() {
        let mut spec = TagSpec::new(NodePath::parse("north/pad-1/w-01/t").unwrap());
        spec.writable = true;
        assert_eq!(
            messages(&spec),
            ["writable: a writable tag needs a modbus or opcua source to write to"]
        );
    }
}
