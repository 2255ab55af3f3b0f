//! Complex event processing: patterns over the readings of each well.
//!
//! The pipeline hands every on-time reading of a tag that some pattern
//! names to the [`Engine`], keyed by the tag's well. Each well keeps, for
//! each named tag, its latest usable reading and (for change rules) the
//! extremes of a sliding window; for each pattern, the state of its rule.
//! A reading updates its well and re-evaluates the patterns that name its
//! tag; absence rules are checked on the pipeline's sweep. Time is the
//! event time of the readings: a well's clock is the newest time of its
//! own readings, so replaying the same input gives the same events.
//!
//! A pattern applies to a well only when the catalog has every tag it
//! names under that well: `esp/motor-current` rules never watch a
//! gas-lifted well.
//!
//! LIMITATION: patterns watch wells only; tags outside a well (a pad's
//! separator or tanks) and text tags are not seen by any pattern.
//!
//! LIMITATION: rules are evaluated when a reading of one of their own
//! tags arrives, so a threshold run over tags that report only on change
//! (an OPC UA deadband) matches at the next such reading, not at the
//! moment its duration is reached. Absences are measured against the
//! partition's clock, which only samples move: a partition that receives
//! nothing at all raises nothing (the gateway sends bad-quality samples
//! for devices it cannot read, so this means the gateway itself is down).

mod pattern;
mod window;

use std::sync::Arc;

use flowline_catalog::Snapshot;
use flowline_core::{AssetId, Criticality, NodePath, TagId, Timestamp};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

pub(crate) use pattern::check_patterns;
pub use pattern::{Change, Condition, MAX_PATTERN_TAGS, MAX_RULE_SECONDS, Pattern, Rule};
use window::Extremes;

/// The demo field's patterns, as written in `cep/demo.toml`.
const DEMO_PATTERNS: &str = include_str!("demo.toml");

/// Patterns for the demo field (`flowline_catalog::demo_field`) with
/// thresholds that suit the field simulator: ESP underload, broken shaft,
/// gas lock and lost prime; tubing leak; hydrate blockage; an ESP restarted
/// while it may spin backwards; a silent ESP current. For the demo, and
/// as a starting point for a real field.
pub fn demo_patterns() -> Vec<Pattern> {
    /// The file's one key.
    #[derive(Deserialize)]
    struct File {
        patterns: Vec<Pattern>,
    }
    let file: File = toml::from_str(DEMO_PATTERNS).expect("bug: the demo patterns parse");
    file.patterns
}

/// A pattern matched on a well: what goes to the `alerts` topic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PatternEvent {
    /// The id of the pattern that matched.
    pub pattern: Arc<str>,
    /// The pattern's severity.
    pub severity: Criticality,
    /// The well it matched on.
    pub well: AssetId,
    /// The event time of the match: the reading that completed it, or for
    /// an absence the moment the silence reached its length.
    pub time: Timestamp,
    /// The readings that satisfied the rule, in the order of its
    /// conditions.
    pub evidence: Vec<Evidence>,
    /// The origin (see [`ProcessedSample::origin`]) of the sample whose
    /// processing raised the match: the reading that completed it, or for
    /// an absence the sample whose time showed the silence. Set by the
    /// pipeline.
    ///
    /// [`ProcessedSample::origin`]: crate::ProcessedSample::origin
    pub origin: u128,
}

/// One reading that made a pattern match, and the part it played.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// What the reading shows.
    pub role: EvidenceRole,
    /// The tag's path below the well, as the pattern names it.
    pub name: Arc<str>,
    /// The tag.
    pub tag: TagId,
    /// When it was read.
    pub time: Timestamp,
    /// The value, in the tag's catalog unit.
    pub value: f64,
}

/// The part a reading played in a match.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EvidenceRole {
    /// A threshold condition's reading when the run began.
    Start,
    /// A condition's or change's reading at the match.
    Now,
    /// The lowest (for a rise) or highest (for a fall) reading of a
    /// change's window: where the change started.
    Base,
    /// A reading of a sequence's first step when it began to hold.
    First,
    /// A reading of a sequence's second step.
    Then,
    /// The last usable reading before an absence began.
    Last,
}

impl EvidenceRole {
    /// The role's name as alerts carry it: `start`, `now`, `base`,
    /// `first`, `then` or `last`.
    pub fn label(self) -> &'static str {
        match self {
            EvidenceRole::Start => "start",
            EvidenceRole::Now => "now",
            EvidenceRole::Base => "base",
            EvidenceRole::First => "first",
            EvidenceRole::Then => "then",
            EvidenceRole::Last => "last",
        }
    }
}

/// One usable reading of a tag a pattern names.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Reading {
    /// The tag read.
    pub(crate) tag: TagId,
    /// When it was read.
    pub(crate) time: Timestamp,
    /// The value in the tag's catalog unit (booleans 0 or 1).
    pub(crate) value: f64,
}

/// The position of a tag name among all names the patterns use.
pub(crate) type NameIndex = u16;

/// A bound on a reading, ready to test.
#[derive(Clone, Debug)]
struct Bound {
    name: NameIndex,
    above: Option<f64>,
    below: Option<f64>,
}

impl Bound {
    /// Whether `value` lies within the bound.
    fn holds(&self, value: f64) -> bool {
        self.above.is_none_or(|above| value > above) && self.below.is_none_or(|below| value < below)
    }
}

/// How much a change must move.
#[derive(Copy, Clone, Debug)]
enum Amount {
    /// Percent of the starting reading, which must be above zero.
    Percent(f64),
    /// In the tag's unit.
    Absolute(f64),
}

/// A change, ready to test.
#[derive(Clone, Debug)]
struct Delta {
    name: NameIndex,
    rises: bool,
    amount: Amount,
}

/// A rule with names replaced by their indices and seconds by
/// microseconds.
#[derive(Clone, Debug)]
enum Compiled {
    Threshold {
        for_us: i64,
        conditions: Vec<Bound>,
    },
    Change {
        within_us: i64,
        changes: Vec<Delta>,
        conditions: Vec<Bound>,
    },
    Sequence {
        within_us: i64,
        first: Vec<Bound>,
        then: Vec<Bound>,
    },
    Absence {
        for_us: i64,
        bound: Bound,
    },
}

/// A pattern ready to evaluate.
#[derive(Clone, Debug)]
struct CompiledPattern {
    id: Arc<str>,
    severity: Criticality,
    rule: Compiled,
    /// Every name the rule uses, each once.
    names: Vec<NameIndex>,
}

/// The patterns of a pipeline, compiled once, and the names they use.
#[derive(Clone, Debug, Default)]
pub(crate) struct Engine {
    patterns: Vec<CompiledPattern>,
    names: Vec<Arc<str>>,
    /// For each name, the patterns that use it.
    users: Vec<Vec<usize>>,
    /// For each name, the longest change window over it, in microseconds;
    /// zero when no change rule uses it.
    spans_us: Vec<i64>,
}

/// Microseconds in a second, for rule windows given in seconds.
const MICROS_PER_SECOND: i64 = 1_000_000;

/// How far back from the far end of a change the latest reading may be,
/// as a share of the change, for the change to count as still happening.
/// A tag on its way back (a well recovering after a stop, whose rate fell
/// and whose pressure rose while it stood still) is not changing now; a
/// quarter leaves room for noise at the far end.
const STILL_MOVING_SHARE: f64 = 0.25;

impl Engine {
    /// Compiles `patterns`, which [`check_patterns`] has accepted.
    pub(crate) fn new(patterns: &[Pattern]) -> Engine {
        let mut engine = Engine::default();
        for pattern in patterns {
            let rule = engine.compile(&pattern.rule);
            let mut names: Vec<NameIndex> = pattern::tag_names(&pattern.rule)
                .into_iter()
                .map(|name| engine.name_index(name))
                .collect();
            names.sort_unstable();
            names.dedup();
            let index = engine.patterns.len();
            for name in &names {
                engine.users[usize::from(*name)].push(index);
            }
            engine.patterns.push(CompiledPattern {
                id: Arc::from(pattern.id.as_str()),
                severity: pattern.severity,
                rule,
                names,
            });
        }
        engine
    }

    /// `rule` with its names indexed and its seconds in microseconds.
    fn compile(&mut self, rule: &Rule) -> Compiled {
        let seconds = |value: u64| value as i64 * MICROS_PER_SECOND;
        match rule {
            Rule::Threshold { for_s, conditions } => Compiled::Threshold {
                for_us: seconds(*for_s),
                conditions: self.bounds(conditions),
            },
            Rule::Change {
                within_s,
                changes,
                conditions,
            } => {
                let within_us = seconds(*within_s);
                let changes = changes
                    .iter()
                    .map(|change| {
                        let name = self.name_index(&change.tag);
                        let span = &mut self.spans_us[usize::from(name)];
                        *span = (*span).max(within_us);
                        delta(name, change)
                    })
                    .collect();
                Compiled::Change {
                    within_us,
                    changes,
                    conditions: self.bounds(conditions),
                }
            }
            Rule::Sequence {
                within_s,
                first,
                then,
            } => Compiled::Sequence {
                within_us: seconds(*within_s),
                first: self.bounds(first),
                then: self.bounds(then),
            },
            Rule::Absence {
                for_s,
                tag,
                above,
                below,
            } => Compiled::Absence {
                for_us: seconds(*for_s),
                bound: Bound {
                    name: self.name_index(tag),
                    above: *above,
                    below: *below,
                },
            },
        }
    }

    /// `conditions` with their names indexed.
    fn bounds(&mut self, conditions: &[Condition]) -> Vec<Bound> {
        conditions
            .iter()
            .map(|condition| Bound {
                name: self.name_index(&condition.tag),
                above: condition.above,
                below: condition.below,
            })
            .collect()
    }

    /// The index of `name`, added if new. Configuration checks keep the
    /// count within [`MAX_PATTERN_TAGS`].
    fn name_index(&mut self, name: &str) -> NameIndex {
        let position = match self.names.iter().position(|known| &**known == name) {
            Some(position) => position,
            None => {
                self.names.push(Arc::from(name));
                self.users.push(Vec::new());
                self.spans_us.push(0);
                self.names.len() - 1
            }
        };
        NameIndex::try_from(position).expect("bug: configuration checks bound the pattern tags")
    }

    /// The index of the name a tag has below its well, if a pattern uses
    /// it. Worked out once per tag and catalog version, not per sample.
    pub(crate) fn find_name(&self, name: &str) -> Option<NameIndex> {
        self.names
            .iter()
            .position(|known| &**known == name)
            .and_then(|position| NameIndex::try_from(position).ok())
    }

    /// The names, by index, for checkpoints.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(|name| &**name)
    }

    /// The pattern ids, by index, for checkpoints.
    pub(crate) fn pattern_ids(&self) -> impl Iterator<Item = &str> {
        self.patterns.iter().map(|pattern| &*pattern.id)
    }

    /// Whether any pattern is configured.
    pub(crate) fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The state a well starts with, first seen at `now`.
    fn fresh_well(&self, now: Timestamp) -> WellState {
        WellState {
            clock: now,
            latest: vec![None; self.names.len()],
            windows: vec![Extremes::default(); self.names.len()],
            patterns: self
                .patterns
                .iter()
                .map(|pattern| PatternState::fresh(&pattern.rule, now))
                .collect(),
            applicable: None,
        }
    }
}

/// Builds a change from its configuration, which names exactly one amount.
fn delta(name: NameIndex, change: &Change) -> Delta {
    let (rises, amount) = match (
        change.rises_by_percent,
        change.falls_by_percent,
        change.rises_by,
        change.falls_by,
    ) {
        (Some(percent), _, _, _) => (true, Amount::Percent(percent)),
        (_, Some(percent), _, _) => (false, Amount::Percent(percent)),
        (_, _, Some(amount), _) => (true, Amount::Absolute(amount)),
        (_, _, _, Some(amount)) => (false, Amount::Absolute(amount)),
        (None, None, None, None) => unreachable!("bug: configuration checks require an amount"),
    };
    Delta {
        name,
        rises,
        amount,
    }
}

/// Where one pattern stands on one well.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum PatternState {
    /// A threshold rule.
    Threshold {
        /// When the current run of every condition holding began.
        since: Option<Timestamp>,
        /// The conditions' readings when it began.
        start: Vec<Reading>,
        /// Whether this run has matched already.
        fired: bool,
    },
    /// A change rule.
    Change {
        /// Whether every change held at the last reading.
        holding: bool,
        /// When it last matched.
        last_fired: Option<Timestamp>,
    },
    /// A sequence rule.
    Sequence {
        /// Whether the first step held at the last reading.
        first_held: bool,
        /// Whether the second step held at the last reading.
        then_held: bool,
        /// When the first step last began to hold, while it may still be
        /// followed.
        armed: Option<Timestamp>,
        /// The first step's readings then.
        first: Vec<Reading>,
    },
    /// An absence rule.
    Absence {
        /// The newest time a reading counted as present (or the well was
        /// first seen).
        last_seen: Timestamp,
        /// That reading, if any.
        last: Option<Reading>,
        /// Whether this silence has matched already.
        fired: bool,
    },
}

impl PatternState {
    /// The state a rule starts in on a well first seen at `now`.
    fn fresh(rule: &Compiled, now: Timestamp) -> PatternState {
        match rule {
            Compiled::Threshold { .. } => PatternState::Threshold {
                since: None,
                start: Vec::new(),
                fired: false,
            },
            Compiled::Change { .. } => PatternState::Change {
                holding: false,
                last_fired: None,
            },
            Compiled::Sequence { .. } => PatternState::Sequence {
                first_held: false,
                then_held: false,
                armed: None,
                first: Vec::new(),
            },
            Compiled::Absence { .. } => PatternState::Absence {
                last_seen: now,
                last: None,
                fired: false,
            },
        }
    }

    /// Whether this state belongs to a rule of `rule`'s kind.
    fn fits(&self, rule: &Compiled) -> bool {
        matches!(
            (self, rule),
            (PatternState::Threshold { .. }, Compiled::Threshold { .. })
                | (PatternState::Change { .. }, Compiled::Change { .. })
                | (PatternState::Sequence { .. }, Compiled::Sequence { .. })
                | (PatternState::Absence { .. }, Compiled::Absence { .. })
        )
    }
}

/// Everything the engine keeps about one well.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct WellState {
    /// The newest event time of the well's readings.
    clock: Timestamp,
    /// Each name's latest usable reading; `None` after an unusable one.
    latest: Vec<Option<Reading>>,
    /// Each name's window extremes (empty for names no change rule uses).
    windows: Vec<Extremes>,
    /// Each pattern's state.
    patterns: Vec<PatternState>,
    /// Which patterns apply, and the catalog version that says so; worked
    /// out again after a restore or a catalog change.
    #[serde(skip)]
    applicable: Option<(u64, Vec<bool>)>,
}

/// The engine's state for every well of a partition.
#[derive(Clone, Debug, Default)]
pub(crate) struct Wells {
    index: FxHashMap<AssetId, usize>,
    states: Vec<(AssetId, WellState)>,
    /// Positions in `states` by well id, for walks whose order must not
    /// depend on the order wells were first seen in.
    by_id: Vec<usize>,
    /// Whether wells were added since `by_id` was sorted.
    unsorted: bool,
}

/// What a reading tells a well.
pub(crate) struct Observation<'a> {
    /// The well.
    pub(crate) well: AssetId,
    /// The tag's full path, from which the well's path is taken.
    pub(crate) path: &'a NodePath,
    /// The tag's name below the well.
    pub(crate) name: NameIndex,
    /// The tag.
    pub(crate) tag: TagId,
    /// When it was read.
    pub(crate) time: Timestamp,
    /// The value if usable: good or uncertain quality, a number, and not
    /// flagged as a spike or out of range.
    pub(crate) value: Option<f64>,
}

impl Wells {
    /// The wells' states, ordered by well id, for a checkpoint.
    pub(crate) fn to_sorted(&self) -> Vec<(AssetId, WellState)> {
        let mut states = self.states.clone();
        states.sort_by_key(|(well, _)| *well);
        states
    }

    /// Adds a well first seen at `now`; its position.
    fn insert(&mut self, engine: &Engine, well: AssetId, now: Timestamp) -> usize {
        let position = self.states.len();
        self.states.push((well, engine.fresh_well(now)));
        self.index.insert(well, position);
        self.by_id.push(position);
        self.unsorted = true;
        position
    }

    /// Wells restored from a checkpoint written with `names` and
    /// `pattern_ids`, fitted to `engine`'s: states of patterns and names no
    /// longer configured are dropped, new ones start fresh.
    pub(crate) fn restore(
        engine: &Engine,
        names: &[String],
        pattern_ids: &[String],
        states: Vec<(AssetId, WellState)>,
    ) -> Wells {
        let same = engine.names().eq(names.iter().map(String::as_str))
            && engine
                .pattern_ids()
                .eq(pattern_ids.iter().map(String::as_str));
        let mut wells = Wells::default();
        for (well, state) in states {
            let state = if same {
                state
            } else {
                refit(engine, names, pattern_ids, state)
            };
            let position = wells.insert(engine, well, state.clock);
            wells.states[position].1 = state;
        }
        wells
    }

    /// Takes in one reading, evaluating the patterns that name its tag;
    /// matches go to `events`.
    pub(crate) fn observe(
        &mut self,
        engine: &Engine,
        snapshot: &Snapshot,
        seen: &Observation<'_>,
        events: &mut Vec<PatternEvent>,
    ) {
        let position = match self.index.get(&seen.well) {
            Some(position) => *position,
            None => self.insert(engine, seen.well, seen.time),
        };
        let (well, state) = &mut self.states[position];
        state.refresh_applicable(engine, snapshot, seen);
        state.take(engine, seen);
        for &pattern in &engine.users[usize::from(seen.name)] {
            if state.applies(pattern) {
                state.evaluate(engine, pattern, *well, events);
            }
        }
    }

    /// Matches absence rules whose silence has lasted long enough by
    /// `now`, the partition's newest event time.
    pub(crate) fn sweep(
        &mut self,
        engine: &Engine,
        now: Timestamp,
        events: &mut Vec<PatternEvent>,
    ) {
        if self.unsorted {
            let states = &self.states;
            self.by_id
                .sort_unstable_by_key(|position| states[*position].0);
            self.unsorted = false;
        }
        for &position in &self.by_id {
            let (well, state) = &mut self.states[position];
            for (index, pattern) in engine.patterns.iter().enumerate() {
                let Compiled::Absence { for_us, bound } = &pattern.rule else {
                    continue;
                };
                if !state.applies(index) {
                    continue;
                }
                let PatternState::Absence {
                    last_seen,
                    last,
                    fired,
                } = &mut state.patterns[index]
                else {
                    unreachable!("bug: pattern states follow their rules")
                };
                let due = last_seen.saturating_add_micros(*for_us);
                if *fired || now < due {
                    continue;
                }
                *fired = true;
                let evidence = last
                    .iter()
                    .map(|reading| evidence(engine, EvidenceRole::Last, bound.name, reading))
                    .collect();
                emit(pattern, *well, due, evidence, events);
            }
        }
    }
}

impl WellState {
    /// Works out which patterns apply to this well when the catalog
    /// version differs from the one last used.
    fn refresh_applicable(&mut self, engine: &Engine, snapshot: &Snapshot, seen: &Observation<'_>) {
        if self
            .applicable
            .as_ref()
            .is_some_and(|(version, _)| *version == snapshot.version())
        {
            return;
        }
        // The tag's path is the well's path, `/`, and its name.
        let name = &engine.names[usize::from(seen.name)];
        let full = seen.path.as_str();
        let well_path = &full[..full.len() - name.len() - 1];
        let present: Vec<bool> = engine
            .names
            .iter()
            .map(|name| {
                snapshot
                    .tag_by_path(&format!("{well_path}/{name}"))
                    .is_some_and(|entry| entry.well == Some(seen.well))
            })
            .collect();
        let applicable = engine
            .patterns
            .iter()
            .map(|pattern| pattern.names.iter().all(|name| present[usize::from(*name)]))
            .collect();
        self.applicable = Some((snapshot.version(), applicable));
    }

    /// Whether the pattern at `pattern` watches this well.
    fn applies(&self, pattern: usize) -> bool {
        self.applicable
            .as_ref()
            .is_some_and(|(_, applicable)| applicable[pattern])
    }

    /// Records a reading: the clock, the latest value, the window.
    fn take(&mut self, engine: &Engine, seen: &Observation<'_>) {
        self.clock = self.clock.max(seen.time);
        let name = usize::from(seen.name);
        let reading = seen.value.map(|value| Reading {
            tag: seen.tag,
            time: seen.time,
            value,
        });
        self.latest[name] = reading;
        let span = engine.spans_us[name];
        if let (Some(reading), true) = (reading, span > 0) {
            let oldest = self.clock.saturating_add_micros(-span);
            self.windows[name].push(reading, oldest);
        }
        if let Some(reading) = reading {
            for &index in &engine.users[name] {
                if let Compiled::Absence { bound, .. } = &engine.patterns[index].rule
                    && bound.name == seen.name
                    && bound.holds(reading.value)
                {
                    self.patterns[index] = PatternState::Absence {
                        last_seen: reading.time,
                        last: Some(reading),
                        fired: false,
                    };
                }
            }
        }
    }

    /// Whether every bound holds on the latest readings.
    fn all_hold(&self, bounds: &[Bound]) -> bool {
        bounds.iter().all(|bound| {
            self.latest[usize::from(bound.name)].is_some_and(|reading| bound.holds(reading.value))
        })
    }

    /// The latest readings of `bounds`' tags, which all hold.
    fn readings(&self, bounds: &[Bound]) -> Vec<Reading> {
        bounds
            .iter()
            .filter_map(|bound| self.latest[usize::from(bound.name)])
            .collect()
    }

    /// Evaluates the pattern at `index` on this well's latest readings,
    /// emitting a match to `events`. Fast path: only comparisons while
    /// nothing starts or matches; readings are copied only then.
    fn evaluate(
        &mut self,
        engine: &Engine,
        index: usize,
        well: AssetId,
        events: &mut Vec<PatternEvent>,
    ) {
        let pattern = &engine.patterns[index];
        let matched = match &pattern.rule {
            Compiled::Threshold { for_us, conditions } => {
                self.threshold(engine, index, *for_us, conditions)
            }
            Compiled::Change {
                within_us,
                changes,
                conditions,
            } => self.change(engine, index, *within_us, changes, conditions),
            Compiled::Sequence {
                within_us,
                first,
                then,
            } => self.sequence(engine, index, *within_us, first, then),
            // Absences are matched by the sweep; readings only reset them.
            Compiled::Absence { .. } => None,
        };
        if let Some(evidence) = matched {
            emit(pattern, well, self.clock, evidence, events);
        }
    }

    /// A threshold rule: the evidence if it matches now.
    fn threshold(
        &mut self,
        engine: &Engine,
        index: usize,
        for_us: i64,
        conditions: &[Bound],
    ) -> Option<Vec<Evidence>> {
        let now = self.clock;
        let holds = self.all_hold(conditions);
        let PatternState::Threshold { since, fired, .. } = &self.patterns[index] else {
            unreachable!("bug: pattern states follow their rules")
        };
        let began = since.unwrap_or(now);
        let starts = holds && since.is_none();
        let matches = holds && !*fired && now.micros_since(began) >= for_us;
        let started = starts.then(|| self.readings(conditions));
        let current = matches.then(|| self.readings(conditions));

        let PatternState::Threshold {
            since,
            start,
            fired,
        } = &mut self.patterns[index]
        else {
            unreachable!("bug: pattern states follow their rules")
        };
        if !holds {
            *since = None;
            *fired = false;
            start.clear();
            return None;
        }
        if let Some(readings) = started {
            *since = Some(now);
            *start = readings;
        }
        let current = current?;
        *fired = true;
        let mut evidence = roles(engine, conditions, start, EvidenceRole::Start);
        evidence.extend(roles(engine, conditions, &current, EvidenceRole::Now));
        Some(evidence)
    }

    /// A change rule: the evidence if it matches now.
    fn change(
        &mut self,
        engine: &Engine,
        index: usize,
        within_us: i64,
        changes: &[Delta],
        conditions: &[Bound],
    ) -> Option<Vec<Evidence>> {
        let now = self.clock;
        let since = now.saturating_add_micros(-within_us);
        let holds = changes
            .iter()
            .all(|change| self.change_base(change, since).is_some())
            && self.all_hold(conditions);
        let PatternState::Change {
            holding,
            last_fired,
        } = &mut self.patterns[index]
        else {
            unreachable!("bug: pattern states follow their rules")
        };
        let was_holding = std::mem::replace(holding, holds);
        let quiet = last_fired.is_some_and(|at| now.micros_since(at) < within_us);
        if !holds || was_holding || quiet {
            return None;
        }
        *last_fired = Some(now);

        // Slower path: a match; gather what shows it.
        let mut evidence = Vec::with_capacity(2 * changes.len() + conditions.len());
        for change in changes {
            let base = self.change_base(change, since)?;
            let latest = self.latest[usize::from(change.name)]?;
            evidence.push(self::evidence(
                engine,
                EvidenceRole::Base,
                change.name,
                base,
            ));
            evidence.push(self::evidence(
                engine,
                EvidenceRole::Now,
                change.name,
                &latest,
            ));
        }
        let readings = self.readings(conditions);
        evidence.extend(roles(engine, conditions, &readings, EvidenceRole::Now));
        Some(evidence)
    }

    /// A sequence rule: the evidence if it matches now.
    fn sequence(
        &mut self,
        engine: &Engine,
        index: usize,
        within_us: i64,
        first: &[Bound],
        then: &[Bound],
    ) -> Option<Vec<Evidence>> {
        let now = self.clock;
        let first_now = self.all_hold(first);
        let then_now = self.all_hold(then);
        let PatternState::Sequence {
            first_held,
            then_held,
            armed,
            ..
        } = &self.patterns[index]
        else {
            unreachable!("bug: pattern states follow their rules")
        };
        let armed = armed.filter(|at| now.micros_since(*at) <= within_us);
        // The second step is checked before the first is armed, so one
        // reading cannot be both steps.
        let matches = then_now && !*then_held && armed.is_some();
        let arms = first_now && !*first_held;
        let current = matches.then(|| self.readings(then));
        let started = arms.then(|| self.readings(first));

        let PatternState::Sequence {
            first_held,
            then_held,
            armed: armed_at,
            first: first_start,
        } = &mut self.patterns[index]
        else {
            unreachable!("bug: pattern states follow their rules")
        };
        *first_held = first_now;
        *then_held = then_now;
        *armed_at = if matches { None } else { armed };
        let evidence = current.map(|current| {
            let mut evidence = roles(engine, first, first_start, EvidenceRole::First);
            evidence.extend(roles(engine, then, &current, EvidenceRole::Then));
            evidence
        });
        if let Some(readings) = started {
            *armed_at = Some(now);
            *first_start = readings;
        }
        evidence
    }

    /// Where a change that holds now started (the lowest reading of the
    /// window for a rise, the highest for a fall), or `None`.
    fn change_base(&self, change: &Delta, since: Timestamp) -> Option<&Reading> {
        let name = usize::from(change.name);
        let latest = self.latest[name]?;
        let window = &self.windows[name];
        let low = window.lowest_since(since)?;
        let high = window.highest_since(since)?;
        let (base, moved, back) = if change.rises {
            (low, latest.value - low.value, high.value - latest.value)
        } else {
            (high, high.value - latest.value, latest.value - low.value)
        };
        if back > STILL_MOVING_SHARE * moved {
            return None;
        }
        let enough = match change.amount {
            Amount::Percent(percent) => base.value > 0.0 && moved > percent / 100.0 * base.value,
            Amount::Absolute(amount) => moved > amount,
        };
        enough.then_some(base)
    }
}

/// Fits a well's state from a checkpoint with other names or patterns to
/// `engine`'s, matching names and pattern ids.
fn refit(engine: &Engine, names: &[String], pattern_ids: &[String], old: WellState) -> WellState {
    let mut state = engine.fresh_well(old.clock);
    for ((name, latest), window) in names.iter().zip(old.latest).zip(old.windows) {
        if let Some(index) = engine.find_name(name) {
            state.latest[usize::from(index)] = latest;
            state.windows[usize::from(index)] = window;
        }
    }
    for (id, pattern_state) in pattern_ids.iter().zip(old.patterns) {
        let found = engine
            .patterns
            .iter()
            .position(|pattern| &*pattern.id == id.as_str());
        if let Some(index) = found
            && pattern_state.fits(&engine.patterns[index].rule)
        {
            state.patterns[index] = pattern_state;
        }
    }
    state
}

/// One reading as evidence of a match.
fn evidence(engine: &Engine, role: EvidenceRole, name: NameIndex, reading: &Reading) -> Evidence {
    Evidence {
        role,
        name: Arc::clone(&engine.names[usize::from(name)]),
        tag: reading.tag,
        time: reading.time,
        value: reading.value,
    }
}

/// Evidence for `readings`, which follow `bounds` one to one.
fn roles(
    engine: &Engine,
    bounds: &[Bound],
    readings: &[Reading],
    role: EvidenceRole,
) -> Vec<Evidence> {
    bounds
        .iter()
        .zip(readings)
        .map(|(bound, reading)| evidence(engine, role, bound.name, reading))
        .collect()
}

/// Records a match of `pattern` on `well`, and says so.
fn emit(
    pattern: &CompiledPattern,
    well: AssetId,
    time: Timestamp,
    evidence: Vec<Evidence>,
    events: &mut Vec<PatternEvent>,
) {
    let event = PatternEvent {
        pattern: Arc::clone(&pattern.id),
        severity: pattern.severity,
        well,
        time,
        evidence,
        origin: 0,
    };
    crate::events::pattern_matched(&event);
    events.push(event);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CepConfig, StreamConfig};

    #[test]
    fn an_evidence_roles_label_is_its_name_in_configuration_files() {
        use EvidenceRole::*;
        for role in [Start, Now, Base, First, Then, Last] {
            let named = toml::Value::try_from(role).unwrap();
            assert_eq!(named.as_str(), Some(role.label()));
        }
    }

    #[test]
    fn the_demo_patterns_are_valid_and_name_only_demo_tags() {
        let patterns = demo_patterns();
        let config = StreamConfig {
            cep: CepConfig {
                patterns: patterns.clone(),
                ..CepConfig::default()
            },
            ..StreamConfig::default()
        };
        config.validate().unwrap();
        let document = flowline_catalog::demo_field(flowline_catalog::DemoLayout::default());
        for pattern in &patterns {
            for name in pattern::tag_names(&pattern.rule) {
                let suffix = format!("/{name}");
                let found = document
                    .tags
                    .iter()
                    .any(|entry| entry.spec.path.as_str().ends_with(&suffix));
                assert!(found, "{}: no demo tag `{name}`", pattern.id);
            }
        }
    }
}
