//! What the pipeline needs to know about one tag, worked out once per tag
//! and catalog version rather than per sample: its type, the conversion
//! from its source unit, its limits, its noise-reduction settings, where it
//! sits, and which pattern name it has below its well.
//!
//! Two tag attributes are read here:
//!
//! - `source_unit`: the unit the tag's device reports in, when it differs
//!   from the catalog unit (a PLC that sends psi for a tag kept in bar).
//!   Samples carry no unit; without the attribute the device is taken to
//!   report in the catalog unit. A value that does not name a unit of the
//!   same quantity, or the attribute on a tag that is not a float, makes
//!   every sample of the tag go to the dead-letter queue with the reason,
//!   rather than be stored in the wrong unit.
//! - `compression_deviation`: the swinging door's deviation in the tag's
//!   unit; 0 turns the door off for the tag. Without it the deviation is
//!   the tag's deadband. A value that is not a number of at least 0 is
//!   reported and the deadband used.

use flowline_catalog::{Limits, Snapshot, TagEntry};
use flowline_core::{Conversion, DataType, Unit};

use crate::cep::{Engine, NameIndex};
use crate::compress::Settings;
use crate::config::StreamConfig;
use crate::output::Enrichment;

/// The attribute naming the unit a tag's device reports in.
pub const SOURCE_UNIT_ATTRIBUTE: &str = "source_unit";

/// The attribute giving a tag's swinging-door deviation.
pub const COMPRESSION_DEVIATION_ATTRIBUTE: &str = "compression_deviation";

/// One tag's settings for the pipeline.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TagPlan {
    /// The catalog version the plan was made from.
    pub(crate) version: u64,
    /// The tag's data type.
    pub(crate) data_type: DataType,
    /// From the source unit to the catalog unit, when they differ.
    pub(crate) conversion: Option<Conversion>,
    /// Why samples cannot be converted, if they cannot.
    pub(crate) unit_problem: Option<String>,
    /// The valid range.
    pub(crate) range: Limits,
    /// The largest plausible change per second.
    pub(crate) max_change_per_s: Option<f64>,
    /// Whether stuck values are looked for: measurements only.
    pub(crate) checks_stuck: bool,
    /// The smallest jump that can be a spike; `None` turns spike checks off.
    pub(crate) spike_min_jump: Option<f64>,
    /// Deadband, deviation and longest interval.
    pub(crate) noise: Settings,
    /// What every processed sample of the tag carries.
    pub(crate) enrichment: Enrichment,
    /// The tag's name below its well, if a pattern uses it.
    pub(crate) pattern_name: Option<NameIndex>,
}

impl TagPlan {
    /// The plan for `entry` in `snapshot`.
    pub(crate) fn new(
        entry: &TagEntry,
        snapshot: &Snapshot,
        config: &StreamConfig,
        engine: &Engine,
    ) -> TagPlan {
        let spec = &entry.tag.spec;
        let numeric = spec.data_type.is_numeric();
        let (conversion, unit_problem) = match source_unit(entry) {
            Ok(conversion) => (conversion, None),
            Err(problem) => (None, Some(problem)),
        };
        let deadband = if numeric {
            spec.deadband
                .filter(|deadband| *deadband > 0.0)
                .unwrap_or(0.0)
        } else {
            0.0
        };
        let range = spec.valid_range;
        let span = range.hi.zip(range.lo).map(|(hi, lo)| hi - lo);
        TagPlan {
            version: snapshot.version(),
            data_type: spec.data_type,
            conversion,
            unit_problem,
            range,
            max_change_per_s: spec.max_change_per_s.filter(|_| numeric),
            checks_stuck: numeric && !spec.writable && config.validate.stuck_window_ms > 0,
            spike_min_jump: span
                .filter(|span| numeric && *span > 0.0)
                .map(|span| span * config.validate.spike_min_jump_fraction),
            noise: Settings {
                deadband,
                deviation: deviation(entry, deadband),
                max_interval_us: config.compression.max_interval_ms as i64 * 1_000,
            },
            enrichment: Enrichment {
                asset: entry.asset,
                well: entry.well,
                pad: entry.pad,
                field: entry.field,
                unit: spec.unit,
                criticality: spec.criticality,
                catalog_version: snapshot.version(),
            },
            pattern_name: pattern_name(entry, snapshot, engine),
        }
    }
}

/// The conversion from the tag's `source_unit` to its catalog unit, or
/// what is wrong with the attribute.
fn source_unit(entry: &TagEntry) -> Result<Option<Conversion>, String> {
    let spec = &entry.tag.spec;
    let Some(text) = spec.attributes.get(SOURCE_UNIT_ATTRIBUTE) else {
        return Ok(None);
    };
    if spec.data_type != DataType::Float {
        return Err(format!(
            "`{text}` applies to float tags only, and this tag is {}",
            spec.data_type
        ));
    }
    let source: Unit = text.parse().map_err(|error| format!("`{text}`: {error}"))?;
    let Some(target) = spec.unit else {
        return Err(format!(
            "`{text}` needs the tag to have a unit, and it has none"
        ));
    };
    let conversion = source
        .conversion_to(target)
        .map_err(|error| format!("`{text}`: {error}"))?;
    Ok((!conversion.is_identity()).then_some(conversion))
}

/// The tag's swinging-door deviation: its attribute, else its deadband.
fn deviation(entry: &TagEntry, deadband: f64) -> f64 {
    let spec = &entry.tag.spec;
    if !spec.data_type.is_numeric() {
        return 0.0;
    }
    let Some(text) = spec.attributes.get(COMPRESSION_DEVIATION_ATTRIBUTE) else {
        return deadband;
    };
    match text.trim().parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => value,
        _ => {
            crate::events::bad_attribute(
                &spec.path,
                COMPRESSION_DEVIATION_ATTRIBUTE,
                &format!("expected a number of at least 0, found `{text}`; using the deadband"),
            );
            deadband
        }
    }
}

/// The tag's path below its well, as an index into the patterns' names.
fn pattern_name(entry: &TagEntry, snapshot: &Snapshot, engine: &Engine) -> Option<NameIndex> {
    let well = entry.well?;
    if engine.is_empty() {
        return None;
    }
    let path = &entry.tag.spec.path;
    let well_path = path.ancestors().into_iter().find(|ancestor| {
        snapshot
            .asset_by_path(ancestor.as_str())
            .is_some_and(|asset| asset.id == well)
    })?;
    let name = &path.as_str()[well_path.as_str().len() + 1..];
    engine.find_name(name)
}

#[cfg(test)]
pub(crate) mod tests {
    use flowline_catalog::{AssetSpec, Document, TagSpec};
    use flowline_core::{AssetId, AssetKind, Criticality, NodePath, TagId};

    use super::*;

    /// A float tag's plan with `range` and nothing else.
    pub(crate) fn plan(range: Limits) -> TagPlan {
        TagPlan {
            version: 1,
            data_type: DataType::Float,
            conversion: None,
            unit_problem: None,
            range,
            max_change_per_s: None,
            checks_stuck: false,
            spike_min_jump: range.hi.zip(range.lo).map(|(hi, lo)| (hi - lo) * 0.05),
            noise: Settings {
                deadband: 0.0,
                deviation: 0.0,
                max_interval_us: 600_000_000,
            },
            enrichment: Enrichment {
                asset: AssetId(1),
                well: None,
                pad: None,
                field: None,
                unit: None,
                criticality: Criticality::Medium,
                catalog_version: 1,
            },
            pattern_name: None,
        }
    }

    fn snapshot_with(spec: TagSpec) -> Snapshot {
        let field = AssetSpec {
            path: NodePath::parse("north").unwrap(),
            kind: AssetKind::Field,
            description: String::new(),
            attributes: Default::default(),
        };
        Snapshot::of_document(1, &Document::new(vec![field], vec![spec]))
    }

    fn plan_of(attributes: &[(&str, &str)], unit: Option<Unit>, data_type: DataType) -> TagPlan {
        let mut spec = TagSpec::new(NodePath::parse("north/pressure").unwrap());
        spec.unit = unit;
        spec.data_type = data_type;
        spec.deadband = Some(0.1);
        for (key, value) in attributes {
            spec.attributes
                .insert((*key).to_owned(), (*value).to_owned());
        }
        let snapshot = snapshot_with(spec);
        let entry = snapshot.tag(TagId(1)).unwrap();
        TagPlan::new(
            entry,
            &snapshot,
            &StreamConfig::default(),
            &Engine::default(),
        )
    }

    #[test]
    fn a_source_unit_attribute_gives_the_conversion_to_the_catalog_unit() {
        let plan = plan_of(&[("source_unit", "psi")], Some(Unit::Bar), DataType::Float);
        let conversion = plan.conversion.unwrap();
        assert!((conversion.apply(14.503_773_773) - 1.0).abs() < 1e-6);
        let same = plan_of(&[("source_unit", "bar")], Some(Unit::Bar), DataType::Float);
        assert_eq!(same.conversion, None);
        assert_eq!(same.unit_problem, None);
    }

    #[test]
    fn a_source_unit_that_cannot_convert_says_why() {
        let cases = [
            (Some(Unit::Bar), DataType::Float, "degC", "cannot convert"),
            (
                Some(Unit::Bar),
                DataType::Float,
                "furlong",
                "unknown unit `furlong`",
            ),
            (None, DataType::Float, "psi", "needs the tag to have a unit"),
            (Some(Unit::Bar), DataType::Integer, "psi", "float tags only"),
        ];
        for (unit, data_type, text, expected) in cases {
            let plan = plan_of(&[("source_unit", text)], unit, data_type);
            let problem = plan.unit_problem.unwrap();
            assert!(problem.contains(expected), "{text}: {problem}");
        }
    }

    #[test]
    fn the_compression_deviation_defaults_to_the_deadband_and_can_be_set_or_turned_off() {
        let default = plan_of(&[], Some(Unit::Bar), DataType::Float);
        assert_eq!(default.noise.deviation, 0.1);
        let set = plan_of(
            &[("compression_deviation", "0.5")],
            Some(Unit::Bar),
            DataType::Float,
        );
        assert_eq!(set.noise.deviation, 0.5);
        let off = plan_of(
            &[("compression_deviation", "0")],
            Some(Unit::Bar),
            DataType::Float,
        );
        assert_eq!(off.noise.deviation, 0.0);
        let bad = plan_of(
            &[("compression_deviation", "-1")],
            Some(Unit::Bar),
            DataType::Float,
        );
        assert_eq!(bad.noise.deviation, 0.1);
        let text = plan_of(&[], None, DataType::String);
        assert_eq!((text.noise.deadband, text.noise.deviation), (0.0, 0.0));
    }
}
