//! Faults the simulator can inject, and the text that schedules them.
//!
//! A fault is either a *process* fault of a well (the equipment or the flow
//! path misbehaves, and every tag of the well shows it) or a *sensor* fault
//! of one tag (the process is fine, the instrument lies). Faults come from a
//! schedule given at start-up (the `faults` key of
//! [`SimConfig`](crate::SimConfig), or a command-line option) or on demand
//! through the HTTP API.
//!
//! # Schedule syntax
//!
//! One entry per fault; entries are separated by commas, semicolons or line
//! breaks, and `#` starts a comment that runs to the end of the line:
//!
//! ```text
//! TARGET:KIND[@OFFSET][+DURATION]
//! ```
//!
//! - `TARGET`: a well path (`north/pad-1/w-01`) for a process fault, or a
//!   tag path (`north/pad-1/w-01/tubing-pressure`) for a sensor fault.
//! - `KIND`: a process fault, one of `gas-lock`, `pump-wear`,
//!   `broken-shaft`, `sand-production`, `tubing-leak`, `hydrate-blockage`,
//!   `choke-erosion`; or a sensor fault, one of `stuck`, `spikes`, `drift`,
//!   `dropout`, `bad-quality`.
//! - `OFFSET`: when the fault starts, after the start of the simulation
//!   (schedule) or after the moment of injection (on demand). The default is
//!   at once.
//! - `DURATION`: how long it lasts. The default is until it is cleared.
//!
//! Times are a decimal number and a unit: `ms`, `s`, `m` or `min`, `h`, `d`
//! (`250ms`, `300s`, `1.5h`). For example
//! `north/pad-1/w-01:gas-lock@300s+600s` locks the ESP of `w-01` five
//! minutes into the run, for ten minutes.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use flowline_core::{NodePath, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::{FaultSpecError, ScheduleError};

/// The longest offset or duration a schedule may give: one hundred years,
/// which keeps every fault time far inside the range of a [`Timestamp`].
pub const MAX_FAULT_TIME: Duration = Duration::from_secs(100 * 365 * 24 * 3_600);

/// What goes wrong. The first seven are process faults of a well, the last
/// five sensor faults of a tag. The text form is the kebab-case name, such
/// as `gas-lock` or `bad-quality`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// Free gas fills the ESP and it loses its prime: head and rate
    /// collapse, the current falls towards no-load and flickers, the motor
    /// heats up for want of cooling flow. ESP wells only.
    GasLock,
    /// The pump wears out gradually: an ESP loses head, a rod pump leaks
    /// past its valves. The rate falls, vibration rises. ESP and rod-pump
    /// wells only.
    PumpWear,
    /// The ESP shaft (or the rod string of a rod pump) breaks: nothing is
    /// lifted, the ESP current falls to no-load, the rod load to the weight
    /// of the rods above the break. ESP and rod-pump wells only.
    BrokenShaft,
    /// The well produces sand: rates and pressures turn noisy, ESP
    /// vibration rises and the choke erodes.
    SandProduction,
    /// The tubing leaks into the annulus: casing pressure moves towards
    /// tubing pressure and the rate falls.
    TubingLeak,
    /// Hydrates block the choke and flowline: the rate falls towards zero,
    /// the tubing pressure climbs towards shut-in, the flowline cools.
    HydrateBlockage,
    /// The choke trim erodes: at the same position it passes more, so the
    /// rate rises and the tubing pressure falls.
    ChokeErosion,
    /// The sensor freezes at the value it read when the fault began; its
    /// quality stays good.
    Stuck,
    /// The sensor reads occasional spikes of a tenth to a third of its
    /// range; its quality stays good.
    Spikes,
    /// The sensor drifts upwards by 2 % of its range per hour, up to the
    /// top of its range; its quality stays good.
    Drift,
    /// The sensor delivers nothing: no value, quality `BadNoCommunication`.
    Dropout,
    /// The sensor reports its value with quality `BadSensorFailure`.
    BadQuality,
}

/// Every fault kind, process faults first, in the order of the docs.
pub const FAULT_KINDS: [FaultKind; 12] = [
    FaultKind::GasLock,
    FaultKind::PumpWear,
    FaultKind::BrokenShaft,
    FaultKind::SandProduction,
    FaultKind::TubingLeak,
    FaultKind::HydrateBlockage,
    FaultKind::ChokeErosion,
    FaultKind::Stuck,
    FaultKind::Spikes,
    FaultKind::Drift,
    FaultKind::Dropout,
    FaultKind::BadQuality,
];

impl FaultKind {
    /// The name used in schedules, JSON and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::GasLock => "gas-lock",
            FaultKind::PumpWear => "pump-wear",
            FaultKind::BrokenShaft => "broken-shaft",
            FaultKind::SandProduction => "sand-production",
            FaultKind::TubingLeak => "tubing-leak",
            FaultKind::HydrateBlockage => "hydrate-blockage",
            FaultKind::ChokeErosion => "choke-erosion",
            FaultKind::Stuck => "stuck",
            FaultKind::Spikes => "spikes",
            FaultKind::Drift => "drift",
            FaultKind::Dropout => "dropout",
            FaultKind::BadQuality => "bad-quality",
        }
    }

    /// Whether the fault is of a tag's sensor rather than of a well.
    pub fn is_sensor(self) -> bool {
        matches!(
            self,
            FaultKind::Stuck
                | FaultKind::Spikes
                | FaultKind::Drift
                | FaultKind::Dropout
                | FaultKind::BadQuality
        )
    }

    /// Every name, comma-separated, for error messages.
    fn all_names() -> String {
        let names: Vec<&str> = FAULT_KINDS.iter().map(|kind| kind.name()).collect();
        names.join(", ")
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FaultKind {
    type Err = String;

    /// Reads a name written by [`FaultKind::name`]; the error says which
    /// names exist.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        FAULT_KINDS
            .into_iter()
            .find(|kind| kind.name() == text)
            .ok_or_else(|| {
                format!(
                    "unknown fault `{text}`; expected one of {}",
                    FaultKind::all_names()
                )
            })
    }
}

/// One fault to inject: what, where, when and for how long.
///
/// The text form is the schedule syntax of this module's docs, and that is
/// also how it appears in configuration files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FaultSpec {
    /// The well (process faults) or tag (sensor faults) that fails.
    pub target: NodePath,
    /// What goes wrong.
    pub kind: FaultKind,
    /// When it starts, after the moment the spec is applied from (the start
    /// of the simulation for a schedule). Zero starts it at once.
    pub offset: Duration,
    /// How long it lasts; `None` until it is cleared.
    pub duration: Option<Duration>,
}

impl FaultSpec {
    /// A fault of `kind` on `target` that starts at once and lasts until
    /// cleared.
    pub fn new(target: NodePath, kind: FaultKind) -> FaultSpec {
        FaultSpec {
            target,
            kind,
            offset: Duration::ZERO,
            duration: None,
        }
    }

    /// When the fault starts and ends if applied from `origin`.
    pub(crate) fn window(&self, origin: Timestamp) -> (Timestamp, Option<Timestamp>) {
        let start = origin.saturating_add_micros(micros(self.offset));
        let end = self
            .duration
            .map(|duration| start.saturating_add_micros(micros(duration)));
        (start, end)
    }
}

/// Whole microseconds in `duration`, which parsing keeps far below
/// `i64::MAX`.
fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

impl fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.target, self.kind)?;
        if !self.offset.is_zero() {
            write!(f, "@{}", DurationText(self.offset))?;
        }
        if let Some(duration) = self.duration {
            write!(f, "+{}", DurationText(duration))?;
        }
        Ok(())
    }
}

impl FromStr for FaultSpec {
    type Err = FaultSpecError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: String| FaultSpecError {
            text: text.to_owned(),
            reason,
        };
        let (target, rest) = text.trim().split_once(':').ok_or_else(|| {
            invalid("expected TARGET:KIND, such as north/pad-1/w-01:gas-lock".to_owned())
        })?;
        let target = NodePath::parse(target.trim()).map_err(|error| invalid(error.to_string()))?;

        let kind_end = rest.find(['@', '+']).unwrap_or(rest.len());
        let kind = rest[..kind_end].trim().parse().map_err(invalid)?;
        let mut rest = &rest[kind_end..];

        let mut offset = Duration::ZERO;
        if let Some(after_at) = rest.strip_prefix('@') {
            let offset_end = after_at.find('+').unwrap_or(after_at.len());
            offset = parse_duration(&after_at[..offset_end]).map_err(invalid)?;
            rest = &after_at[offset_end..];
        }
        let out_of_order = |extra: &str| {
            invalid(format!(
                "unexpected `{extra}`; an offset `@…` comes before a duration `+…`"
            ))
        };
        let mut duration = None;
        if let Some(after_plus) = rest.strip_prefix('+') {
            if let Some(at) = after_plus.find('@') {
                return Err(out_of_order(&after_plus[at..]));
            }
            let length = parse_duration(after_plus).map_err(invalid)?;
            if length.is_zero() {
                return Err(invalid(format!(
                    "duration `{}` must be longer than zero",
                    after_plus.trim()
                )));
            }
            duration = Some(length);
        } else if !rest.is_empty() {
            return Err(out_of_order(rest));
        }

        Ok(FaultSpec {
            target,
            kind,
            offset,
            duration,
        })
    }
}

impl TryFrom<String> for FaultSpec {
    type Error = FaultSpecError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<FaultSpec> for String {
    fn from(spec: FaultSpec) -> String {
        spec.to_string()
    }
}

/// Reads a whole schedule: entries separated by commas, semicolons or line
/// breaks, `#` comments, blank entries skipped. The first bad entry stops
/// the read, with its number (from 1) and text.
pub fn parse_schedule(text: &str) -> Result<Vec<FaultSpec>, ScheduleError> {
    let mut specs = Vec::new();
    let entries = text
        .lines()
        .map(|line| line.split_once('#').map_or(line, |(before, _)| before))
        .flat_map(|line| line.split([',', ';']))
        .map(str::trim)
        .filter(|entry| !entry.is_empty());
    for (index, entry) in entries.enumerate() {
        let spec = entry.parse().map_err(|error| ScheduleError {
            entry: index + 1,
            source: error,
        })?;
        specs.push(spec);
    }
    Ok(specs)
}

/// The units a schedule time may have, with their length in milliseconds.
const TIME_UNITS: [(&str, u64); 6] = [
    ("ms", 1),
    ("s", 1_000),
    ("min", 60_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

/// Reads a time such as `300s` or `1.5h`, to the millisecond.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("a time is empty; expected a number and a unit, such as 300s".to_owned());
    }
    let digits_end = text
        .find(|character: char| !(character.is_ascii_digit() || character == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("time `{text}` does not start with a decimal number"))?;
    let unit_ms = TIME_UNITS
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, length)| *length)
        .ok_or_else(|| {
            format!("time `{text}` has unit `{unit}`; expected ms, s, m, min, h or d")
        })?;
    let milliseconds = (value * unit_ms as f64).round();
    if milliseconds > MAX_FAULT_TIME.as_millis() as f64 {
        return Err(format!("time `{text}` is longer than 100 years"));
    }
    Ok(Duration::from_millis(milliseconds as u64))
}

/// Writes a duration in the largest unit that keeps it exact.
struct DurationText(Duration);

impl fmt::Display for DurationText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let milliseconds = self.0.as_millis();
        let (unit, length) = [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
        ]
        .into_iter()
        .find(|(_, length)| milliseconds > 0 && milliseconds.is_multiple_of(*length))
        .unwrap_or(("ms", 1));
        write!(f, "{}{unit}", milliseconds / length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> FaultSpec {
        text.parse().unwrap()
    }

    #[test]
    fn a_full_entry_names_target_kind_offset_and_duration() {
        let parsed = spec("north/pad-1/w-01:gas-lock@300s+600s");
        assert_eq!(parsed.target.as_str(), "north/pad-1/w-01");
        assert_eq!(parsed.kind, FaultKind::GasLock);
        assert_eq!(parsed.offset, Duration::from_secs(300));
        assert_eq!(parsed.duration, Some(Duration::from_secs(600)));
        assert_eq!(parsed.to_string(), "north/pad-1/w-01:gas-lock@5m+10m");
    }

    #[test]
    fn offset_and_duration_are_optional() {
        let parsed = spec("north/pad-1/w-02/tubing-pressure:stuck");
        assert_eq!(parsed.offset, Duration::ZERO);
        assert_eq!(parsed.duration, None);
        assert_eq!(
            spec("north/a:drift+1.5h").duration,
            Some(Duration::from_secs(5_400))
        );
        assert_eq!(
            spec("north/a:drift@250ms").offset,
            Duration::from_millis(250)
        );
    }

    #[test]
    fn a_schedule_has_comments_and_several_separators() {
        let text =
            "# the morning\nnorth/a:gas-lock@1m, north/b:dropout;\n\nnorth/c:spikes # noisy\n";
        let specs = parse_schedule(text).unwrap();
        let kinds: Vec<FaultKind> = specs.iter().map(|spec| spec.kind).collect();
        assert_eq!(
            kinds,
            [FaultKind::GasLock, FaultKind::Dropout, FaultKind::Spikes]
        );
    }

    #[test]
    fn bad_entries_say_which_entry_and_what_is_wrong() {
        let cases = [
            (
                "north/a:gas-lok",
                "entry 1 `north/a:gas-lok`: unknown fault `gas-lok`",
            ),
            (
                "north/a:stuck, north/b",
                "entry 2 `north/b`: expected TARGET:KIND",
            ),
            ("North/a:stuck", "illegal character 'N'"),
            ("north/a:stuck@5x", "time `5x` has unit `x`"),
            (
                "north/a:stuck@-5s",
                "time `-5s` does not start with a decimal number",
            ),
            ("north/a:stuck+0s", "duration `0s` must be longer than zero"),
            ("north/a:stuck+1s@2s", "unexpected `@2s`"),
            ("north/a:stuck@1000000d", "longer than 100 years"),
            ("north/a:stuck@", "a time is empty"),
        ];
        for (text, expected) in cases {
            let error = parse_schedule(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn every_kind_name_round_trips_and_sensor_faults_are_the_last_five() {
        for kind in FAULT_KINDS {
            assert_eq!(kind.name().parse::<FaultKind>().unwrap(), kind);
        }
        let sensor: Vec<bool> = FAULT_KINDS.iter().map(|kind| kind.is_sensor()).collect();
        assert_eq!(sensor.iter().filter(|is_sensor| **is_sensor).count(), 5);
        assert!(sensor[7..].iter().all(|is_sensor| *is_sensor));
    }

    #[test]
    fn a_spec_serialises_as_its_schedule_text() {
        let parsed = spec("north/a:tubing-leak@2h");
        let json = serde_json::to_string(&parsed).unwrap();
        assert_eq!(json, "\"north/a:tubing-leak@2h\"");
        assert_eq!(serde_json::from_str::<FaultSpec>(&json).unwrap(), parsed);
        let error = serde_json::from_str::<FaultSpec>("\"north/a\"").unwrap_err();
        assert!(
            error.to_string().contains("expected TARGET:KIND"),
            "{error}"
        );
    }
}
