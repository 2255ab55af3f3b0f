//! Declarative patterns: what an engineer writes in the configuration to
//! say "this combination of readings on a well means trouble".
//!
//! A pattern names tags by their path below the well (`casing-pressure`,
//! `esp/motor-current`), so one pattern watches every well that has those
//! tags; a well without one of them is not watched by it. Thresholds are
//! in the tag's catalog unit. In TOML:
//!
//! ```toml
//! [[cep.patterns]]
//! id = "esp-underload"
//! description = "ESP current low while the drive runs: gas lock or broken shaft"
//! severity = "critical"
//! [cep.patterns.rule]
//! kind = "threshold"
//! for_s = 120
//! conditions = [
//!     { tag = "esp/motor-current", below = 25.0 },
//!     { tag = "esp/frequency", above = 40.0 },
//! ]
//! ```
//!
//! The four kinds of rule are [`Rule::Threshold`], [`Rule::Change`],
//! [`Rule::Sequence`] and [`Rule::Absence`].

use flowline_core::Criticality;
use serde::{Deserialize, Serialize};

use crate::config::Problems;

/// The longest window or duration a rule may have: one day, in seconds.
pub const MAX_RULE_SECONDS: u64 = 86_400;

/// The most distinct tag names all patterns together may refer to.
pub const MAX_PATTERN_TAGS: usize = 256;

/// One pattern to watch for on every well that has its tags.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pattern {
    /// A unique, stable name, such as `esp-underload`: events carry it and
    /// checkpoints keep each pattern's state under it.
    pub id: String,
    /// A sentence for the people who receive the event.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// How much a match matters. The default is high.
    #[serde(default = "default_severity")]
    pub severity: Criticality,
    /// When the pattern matches.
    pub rule: Rule,
}

/// The severity of a pattern that names none.
fn default_severity() -> Criticality {
    Criticality::High
}

/// When a pattern matches, evaluated on each well separately in the event
/// time of its samples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Rule {
    /// Every condition holds, without a break, for at least `for_s`
    /// seconds: "ESP current below 25 A for more than 2 minutes while the
    /// frequency is above 40 Hz". A tag's latest reading is taken to hold
    /// until its next one; a reading without a usable value breaks the
    /// run. Matches once per run.
    Threshold {
        /// How long every condition must hold, in seconds.
        for_s: u64,
        /// The conditions, all of which must hold.
        conditions: Vec<Condition>,
    },
    /// Every change happens within the same window of `within_s` seconds,
    /// optionally while conditions hold: "casing pressure rises more than
    /// 10 % within 5 minutes while oil rate falls more than 20 %". A rise
    /// is measured from the lowest reading in the window to the latest, a
    /// fall from the highest, so noise adds to a change: set thresholds
    /// well above it. A change counts only while the tag is still at its
    /// far end: a rise while the latest reading is within a quarter of the
    /// rise from the window's highest, a fall likewise from the lowest, so
    /// a tag on its way back (a well recovering after a stop, whose rate
    /// fell and pressure rose while it stood) does not count. Matches once when all changes start to hold, then
    /// stays quiet for `within_s` seconds.
    Change {
        /// The window, in seconds.
        within_s: u64,
        /// The changes, all of which must hold.
        changes: Vec<Change>,
        /// Conditions on the latest readings that must hold as well, such
        /// as "while the drive runs". The default is none.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        conditions: Vec<Condition>,
    },
    /// `first` starts to hold, then `then` starts to hold at a later
    /// reading within `within_s` seconds: "the ESP stops, then starts again
    /// within 10 minutes" (a restart while the pump may still spin
    /// backwards).
    Sequence {
        /// The window from the first step to the second, in seconds.
        within_s: u64,
        /// The conditions of the first step, all of which must hold.
        first: Vec<Condition>,
        /// The conditions of the second step, all of which must hold.
        then: Vec<Condition>,
    },
    /// No usable reading of `tag` (within the bounds, when given) for
    /// `for_s` seconds: a silent sensor, or "the pump has not run for an
    /// hour". Measured against the newest event time of the whole
    /// partition, so it fires even when the well goes silent.
    Absence {
        /// How long the silence must last, in seconds.
        for_s: u64,
        /// The tag's path below the well.
        tag: String,
        /// Only readings above this count as present, if given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        above: Option<f64>,
        /// Only readings below this count as present, if given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        below: Option<f64>,
    },
}

/// A bound on one tag's latest reading: above a value, below a value, or
/// between the two (both exclusive).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The tag's path below the well, such as `esp/motor-current`.
    pub tag: String,
    /// The reading must be above this, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<f64>,
    /// The reading must be below this, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<f64>,
}

/// A change of one tag within a window: a rise or a fall, in percent of
/// where it started or in the tag's unit. Exactly one of the four amounts
/// is given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// The tag's path below the well, such as `casing-pressure`.
    pub tag: String,
    /// Rises by more than this percentage of the window's lowest reading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rises_by_percent: Option<f64>,
    /// Falls by more than this percentage of the window's highest reading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub falls_by_percent: Option<f64>,
    /// Rises by more than this, in the tag's unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rises_by: Option<f64>,
    /// Falls by more than this, in the tag's unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub falls_by: Option<f64>,
}

impl Rule {
    /// The kind's name as written in the configuration.
    pub fn kind(&self) -> &'static str {
        match self {
            Rule::Threshold { .. } => "threshold",
            Rule::Change { .. } => "change",
            Rule::Sequence { .. } => "sequence",
            Rule::Absence { .. } => "absence",
        }
    }
}

/// Checks every pattern, recording each problem under its key
/// (`cep.patterns[INDEX]…`).
pub(crate) fn check_patterns(patterns: &[Pattern], problems: &mut Problems) {
    let mut names = std::collections::BTreeSet::new();
    for (index, pattern) in patterns.iter().enumerate() {
        let key = format!("cep.patterns[{index}]");
        check_pattern(pattern, &key, problems);
        let earlier = patterns[..index].iter().any(|other| other.id == pattern.id);
        if earlier {
            problems.push(
                format!("{key}.id"),
                format!("`{}` is the id of an earlier pattern", pattern.id),
            );
        }
        names.extend(tag_names(&pattern.rule));
    }
    if names.len() > MAX_PATTERN_TAGS {
        problems.push(
            "cep.patterns",
            format!(
                "may refer to at most {MAX_PATTERN_TAGS} distinct tags, found {}",
                names.len()
            ),
        );
    }
}

/// Checks one pattern, whose key is `key`.
fn check_pattern(pattern: &Pattern, key: &str, problems: &mut Problems) {
    let id_ok = !pattern.id.is_empty()
        && pattern
            .id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    if !id_ok {
        problems.push(
            format!("{key}.id"),
            format!(
                "expected lowercase letters, digits, `-`, `_` or `.`, found `{}`",
                pattern.id
            ),
        );
    }
    let rule = format!("{key}.rule");
    let seconds = |problems: &mut Problems, name: &str, value: u64| {
        problems.bounded(&format!("{rule}.{name}"), value, false, MAX_RULE_SECONDS);
    };
    match &pattern.rule {
        Rule::Threshold { for_s, conditions } => {
            seconds(problems, "for_s", *for_s);
            check_conditions(conditions, &format!("{rule}.conditions"), problems);
        }
        Rule::Change {
            within_s,
            changes,
            conditions,
        } => {
            seconds(problems, "within_s", *within_s);
            if changes.is_empty() {
                problems.push(format!("{rule}.changes"), "must not be empty".to_owned());
            }
            for (index, change) in changes.iter().enumerate() {
                check_change(change, &format!("{rule}.changes[{index}]"), problems);
            }
            if !conditions.is_empty() {
                check_conditions(conditions, &format!("{rule}.conditions"), problems);
            }
        }
        Rule::Sequence {
            within_s,
            first,
            then,
        } => {
            seconds(problems, "within_s", *within_s);
            check_conditions(first, &format!("{rule}.first"), problems);
            check_conditions(then, &format!("{rule}.then"), problems);
        }
        Rule::Absence {
            for_s,
            tag,
            above,
            below,
        } => {
            seconds(problems, "for_s", *for_s);
            check_tag(tag, &format!("{rule}.tag"), problems);
            check_bounds(*above, *below, &rule, problems, true);
        }
    }
}

/// Checks a non-empty list of conditions under `key`.
fn check_conditions(conditions: &[Condition], key: &str, problems: &mut Problems) {
    if conditions.is_empty() {
        problems.push(key, "must not be empty".to_owned());
    }
    for (index, condition) in conditions.iter().enumerate() {
        let key = format!("{key}[{index}]");
        check_tag(&condition.tag, &format!("{key}.tag"), problems);
        check_bounds(condition.above, condition.below, &key, problems, false);
    }
}

/// Checks a pair of bounds: finite, `above` below `below`, and at least one
/// of them unless `optional`.
fn check_bounds(
    above: Option<f64>,
    below: Option<f64>,
    key: &str,
    problems: &mut Problems,
    optional: bool,
) {
    for (name, bound) in [("above", above), ("below", below)] {
        if let Some(value) = bound.filter(|value| !value.is_finite()) {
            problems.push(
                format!("{key}.{name}"),
                format!("must be a finite number, found {value}"),
            );
        }
    }
    match (above, below) {
        (None, None) if !optional => problems.push(
            key,
            "expected `above`, `below` or both, found neither".to_owned(),
        ),
        (Some(low), Some(high)) if low >= high => problems.push(
            key,
            format!("`above` ({low}) must be less than `below` ({high})"),
        ),
        _ => {}
    }
}

/// Checks one change: its tag, and exactly one amount above zero.
fn check_change(change: &Change, key: &str, problems: &mut Problems) {
    check_tag(&change.tag, &format!("{key}.tag"), problems);
    let amounts = [
        ("rises_by_percent", change.rises_by_percent),
        ("falls_by_percent", change.falls_by_percent),
        ("rises_by", change.rises_by),
        ("falls_by", change.falls_by),
    ];
    let given: Vec<(&str, f64)> = amounts
        .iter()
        .filter_map(|(name, amount)| amount.map(|amount| (*name, amount)))
        .collect();
    match given.as_slice() {
        [(name, amount)] if !(amount.is_finite() && *amount > 0.0) => problems.push(
            format!("{key}.{name}"),
            format!("must be a number above 0, found {amount}"),
        ),
        [_] => {}
        _ => problems.push(
            key,
            format!(
                "expected exactly one of rises_by_percent, falls_by_percent, rises_by and \
                 falls_by, found {}",
                given.len()
            ),
        ),
    }
}

/// Checks a tag path below a well: segments as in catalog paths.
fn check_tag(tag: &str, key: &str, problems: &mut Problems) {
    let valid = !tag.is_empty()
        && tag.split('/').all(|segment| {
            !segment.is_empty()
                && segment.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
                })
        });
    if !valid {
        problems.push(
            key,
            format!(
                "expected a tag path below the well such as `esp/motor-current`, found `{tag}`"
            ),
        );
    }
}

/// Every tag name a rule refers to, in the order it names them.
pub(crate) fn tag_names(rule: &Rule) -> Vec<&str> {
    /// The tag names of `list`.
    fn conditions(list: &[Condition]) -> Vec<&str> {
        list.iter()
            .map(|condition| condition.tag.as_str())
            .collect()
    }
    match rule {
        Rule::Threshold {
            conditions: list, ..
        } => conditions(list),
        Rule::Change {
            changes,
            conditions: list,
            ..
        } => {
            let mut names: Vec<&str> = changes.iter().map(|change| change.tag.as_str()).collect();
            names.extend(conditions(list));
            names
        }
        Rule::Sequence { first, then, .. } => {
            let mut names = conditions(first);
            names.extend(conditions(then));
            names
        }
        Rule::Absence { tag, .. } => vec![tag.as_str()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StreamConfig;

    fn parse(text: &str) -> Result<StreamConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn the_demo_patterns_show_every_kind_of_rule_and_survive_toml_unchanged() {
        let config = StreamConfig {
            cep: crate::CepConfig {
                patterns: crate::demo_patterns(),
                ..crate::CepConfig::default()
            },
            ..StreamConfig::default()
        };
        let kinds: std::collections::BTreeSet<&str> = config
            .cep
            .patterns
            .iter()
            .map(|pattern| pattern.rule.kind())
            .collect();
        assert_eq!(
            kinds.into_iter().collect::<Vec<_>>(),
            ["absence", "change", "sequence", "threshold"]
        );
        let back: StreamConfig = parse(&toml::to_string(&config).unwrap()).unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn severity_defaults_to_high() {
        let config = parse(
            r#"
            [[cep.patterns]]
            id = "quiet-separator"
            [cep.patterns.rule]
            kind = "absence"
            for_s = 600
            tag = "separator/level"
            "#,
        )
        .unwrap();
        config.validate().unwrap();
        assert_eq!(config.cep.patterns[0].severity, Criticality::High);
    }

    #[test]
    fn misspelt_keys_in_a_rule_are_refused() {
        let error = parse(
            r#"
            [[cep.patterns]]
            id = "x"
            [cep.patterns.rule]
            kind = "threshold"
            for_s = 120
            conditions = [{ tag = "esp/motor-current", bellow = 25.0 }]
            "#,
        )
        .unwrap_err();
        assert!(error.to_string().contains("bellow"), "{error}");
        let error = parse(
            r#"
            [[cep.patterns]]
            id = "x"
            [cep.patterns.rule]
            kind = "threshold"
            for = 120
            conditions = []
            "#,
        )
        .unwrap_err();
        assert!(error.to_string().contains("`for`"), "{error}");
    }

    #[test]
    fn bad_patterns_are_reported_by_key() {
        let config = parse(
            r#"
            [[cep.patterns]]
            id = "Bad Id"
            [cep.patterns.rule]
            kind = "threshold"
            for_s = 0
            conditions = [{ tag = "esp/motor-current" }, { tag = "/x", above = 3, below = 1 }]

            [[cep.patterns]]
            id = "leak"
            [cep.patterns.rule]
            kind = "change"
            within_s = 300
            changes = [{ tag = "casing-pressure", rises_by_percent = 10, falls_by = 2 }]

            [[cep.patterns]]
            id = "leak"
            [cep.patterns.rule]
            kind = "absence"
            for_s = 100000
            tag = "oil-rate"
            "#,
        )
        .unwrap();
        let error = config.validate().unwrap_err();
        let keys: Vec<&str> = error.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "cep.patterns[0].id",
                "cep.patterns[0].rule.for_s",
                "cep.patterns[0].rule.conditions[0]",
                "cep.patterns[0].rule.conditions[1].tag",
                "cep.patterns[0].rule.conditions[1]",
                "cep.patterns[1].rule.changes[0]",
                "cep.patterns[2].rule.for_s",
                "cep.patterns[2].id",
            ]
        );
        let text = error.to_string();
        assert!(
            text.contains("`above` (3) must be less than `below` (1)"),
            "{text}"
        );
        assert!(
            text.contains("must be at most 86400, found 100000"),
            "{text}"
        );
        assert!(
            text.contains("`leak` is the id of an earlier pattern"),
            "{text}"
        );
    }
}
