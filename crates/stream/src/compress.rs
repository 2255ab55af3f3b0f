//! Noise reduction: which of a tag's samples reach `processed-data`.
//!
//! Two stages, as in a process historian:
//!
//! 1. **Deadband** (exception test). A sample passes when its value differs
//!    from the last one that passed by more than the tag's deadband (any
//!    change for text and on/off tags), or when `max_interval` has gone by
//!    since the last archived point. A dropped sample is remembered, and
//!    passed on just before the next sample that passes, so a change keeps
//!    the moment it started.
//! 2. **Swinging door** (compression). Each passing sample is offered to
//!    the door, which holds the newest one back as long as a straight line
//!    from the last archived point to it passes within the compression
//!    deviation of every sample in between. When a new sample would break
//!    that, the *held* sample is archived (not the new one) and becomes the
//!    door's new hinge.
//!
//! Samples the pipeline marks as exceptions (a change of quality or of
//! flags, an event flag such as a spike, a missing value) skip both
//! stages: the held sample is archived, then the exception itself, and the
//! door starts again from it (from nothing after a missing value, so no
//! line is drawn across a gap).
//!
//! **The guarantee**, which the property tests check: interpolating
//! linearly between archived points reproduces every sample within
//! `2 × deadband + deviation`; with a deadband of zero, within the
//! deviation.
//!
//! Why the door hinges on the archived point itself. The classic swinging
//! door hinges its two doors at the archived value ± the deviation; the
//! line it then archives, from the archived point to the held one, can
//! miss an intermediate sample by up to twice the deviation. Here the doors
//! are the steepest and the shallowest slope from the archived point that
//! still pass within the deviation of every intermediate sample, and a new
//! sample is accepted only when the line to it lies between them, so the
//! archived line keeps the promise exactly. It costs the same: two slopes
//! per sample, no buffer.

use flowline_core::Value;
use serde::{Deserialize, Serialize};

/// What noise reduction needs from a sample.
pub(crate) trait Point: Clone {
    /// Its event time, in microseconds.
    fn micros(&self) -> i64;
    /// Its value.
    fn value(&self) -> &Value;
}

/// A tag's noise-reduction settings, from its plan.
#[derive(Copy, Clone, Debug, PartialEq)]
pub(crate) struct Settings {
    /// Changes up to this are not significant; in the tag's unit.
    pub(crate) deadband: f64,
    /// How far the archived line may pass from a dropped sample; 0 turns
    /// the door off, so every sample that passes the deadband is archived.
    pub(crate) deviation: f64,
    /// The longest time without an archived point while samples keep
    /// coming, in microseconds.
    pub(crate) max_interval_us: i64,
}

/// The deadband and swinging-door state of one tag.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct NoiseFilter<P> {
    /// The value of the last sample that passed the deadband; `None`
    /// before the first.
    reference: Option<Value>,
    /// The newest sample the deadband dropped since then.
    dropped: Option<P>,
    /// The swinging door behind the deadband.
    door: Door<P>,
}

impl<P> Default for NoiseFilter<P> {
    fn default() -> Self {
        NoiseFilter {
            reference: None,
            dropped: None,
            door: Door::default(),
        }
    }
}

impl<P: Point> NoiseFilter<P> {
    /// Offers an ordinary sample: in time order, not an exception.
    /// Archived samples go to `archive`, oldest first.
    pub(crate) fn push(&mut self, point: P, settings: &Settings, archive: &mut impl FnMut(P)) {
        let overdue = self
            .door
            .archived_micros()
            .is_some_and(|at| point.micros() - at >= settings.max_interval_us);
        let significant = match &self.reference {
            None => true,
            Some(reference) => differs(point.value(), reference, settings.deadband),
        };
        if !(significant || overdue) {
            self.dropped = Some(point);
            return;
        }
        if let Some(dropped) = self.dropped.take() {
            self.door.push(dropped, settings, archive);
        }
        self.reference = Some(point.value().clone());
        self.door.push(point, settings, archive);
    }

    /// Archives an exception at once, after whatever was held back.
    pub(crate) fn exception(&mut self, point: P, settings: &Settings, archive: &mut impl FnMut(P)) {
        if let Some(dropped) = self.dropped.take() {
            self.door.push(dropped, settings, archive);
        }
        self.reference = Some(point.value().clone());
        self.door.archive_now(point, archive);
    }

    /// Archives what is held back if the last archived point is older
    /// than `max_interval` at `now_micros`: the sweep's call for tags that
    /// went quiet.
    pub(crate) fn release_overdue(
        &mut self,
        now_micros: i64,
        settings: &Settings,
        archive: &mut impl FnMut(P),
    ) {
        let overdue = self
            .door
            .archived_micros()
            .is_some_and(|at| now_micros - at > settings.max_interval_us);
        if !overdue || (self.dropped.is_none() && self.door.held.is_none()) {
            return;
        }
        if let Some(dropped) = self.dropped.take() {
            self.door.push(dropped, settings, archive);
        }
        self.door.release(archive);
    }
}

/// Whether `value` differs from `reference` by more than `deadband`
/// (numbers) or at all (anything else). A missing value differs from a
/// number and not from another missing value, so a long gap is archived
/// as its first and last samples.
fn differs(value: &Value, reference: &Value, deadband: f64) -> bool {
    match (value, reference) {
        (Value::Float(a), Value::Float(b)) if a.is_nan() || b.is_nan() => a.is_nan() != b.is_nan(),
        (Value::Float(a), Value::Float(b)) => (a - b).abs() > deadband,
        (Value::Integer(a), Value::Integer(b)) => (a.abs_diff(*b) as f64) > deadband,
        _ => value != reference,
    }
}

/// The swinging door: the last archived point, the sample held back, and
/// the slopes a line from the one to the other may have.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Door<P> {
    /// The last archived point as (microseconds, value): the hinge. `None`
    /// before the first point and after a missing value.
    hinge: Option<(i64, f64)>,
    /// When the last point was archived, in microseconds, even if it
    /// could not be a hinge (a missing value).
    archived_at: Option<i64>,
    /// The newest sample not archived yet.
    held: Option<P>,
    /// The shallowest slope from the hinge that passes within the
    /// deviation of every sample between the hinge and the held one.
    low: f64,
    /// The steepest such slope.
    high: f64,
}

impl<P> Default for Door<P> {
    fn default() -> Self {
        Door {
            hinge: None,
            archived_at: None,
            held: None,
            low: f64::NEG_INFINITY,
            high: f64::INFINITY,
        }
    }
}

impl<P: Point> Door<P> {
    /// When the last point was archived, in microseconds.
    fn archived_micros(&self) -> Option<i64> {
        self.archived_at
    }

    /// Offers a sample that passed the deadband. Fast path: two slopes and
    /// two comparisons.
    fn push(&mut self, point: P, settings: &Settings, archive: &mut impl FnMut(P)) {
        let number = point.value().as_f64().filter(|value| value.is_finite());
        let (Some((hinge_at, hinge_value)), Some(value), true) =
            (self.hinge, number, settings.deviation > 0.0)
        else {
            // No line to hold a point on: no hinge yet, a value that is
            // not a number, or the door turned off.
            self.archive_now(point, archive);
            return;
        };
        let at = point.micros();
        if at - hinge_at > settings.max_interval_us {
            self.release(archive);
            return self.push(point, settings, archive);
        }

        let Some(held) = &self.held else {
            self.held = Some(point);
            return;
        };
        // The held sample would lie between the hinge and this one.
        let (held_at, held_value) = coordinates(held);
        let span = (held_at - hinge_at) as f64;
        let low = self
            .low
            .max((held_value - settings.deviation - hinge_value) / span);
        let high = self
            .high
            .min((held_value + settings.deviation - hinge_value) / span);
        let slope = (value - hinge_value) / (at - hinge_at) as f64;
        if low <= slope && slope <= high {
            self.low = low;
            self.high = high;
            self.held = Some(point);
            return;
        }

        // Slower path: the door closes on the held sample.
        self.release(archive);
        self.held = Some(point);
    }

    /// Archives the held sample, if any, and hinges the door on it.
    fn release(&mut self, archive: &mut impl FnMut(P)) {
        if let Some(held) = self.held.take() {
            self.hinge_on(&held);
            archive(held);
        }
    }

    /// Archives the held sample, then `point`, and hinges on `point`.
    fn archive_now(&mut self, point: P, archive: &mut impl FnMut(P)) {
        self.release(archive);
        self.hinge_on(&point);
        archive(point);
    }

    /// Makes the just-archived `point` the hinge, with the doors wide
    /// open; no hinge when it has no number.
    fn hinge_on(&mut self, point: &P) {
        let (at, value) = coordinates(point);
        self.hinge = value.is_finite().then_some((at, value));
        self.archived_at = Some(at);
        self.low = f64::NEG_INFINITY;
        self.high = f64::INFINITY;
    }
}

/// A point's time and value as numbers; NaN for a value that is not a
/// number.
fn coordinates<P: Point>(point: &P) -> (i64, f64) {
    (point.micros(), point.value().as_f64().unwrap_or(f64::NAN))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bare point: seconds and a value.
    #[derive(Clone, Debug, PartialEq)]
    struct Bare(i64, Value);

    impl Point for Bare {
        fn micros(&self) -> i64 {
            self.0 * 1_000_000
        }
        fn value(&self) -> &Value {
            &self.1
        }
    }

    const SETTINGS: Settings = Settings {
        deadband: 0.0,
        deviation: 1.0,
        max_interval_us: 3_600_000_000,
    };

    /// Feeds `(second, value)` pairs as ordinary samples and returns the
    /// seconds archived.
    fn archived(values: &[(i64, f64)], settings: &Settings) -> Vec<i64> {
        let mut filter = NoiseFilter::default();
        let mut seconds = Vec::new();
        for (second, value) in values {
            let point = Bare(*second, Value::Float(*value));
            filter.push(point, settings, &mut |point: Bare| seconds.push(point.0));
        }
        seconds
    }

    #[test]
    fn a_straight_ramp_keeps_only_its_first_point_while_it_lasts() {
        let ramp: Vec<(i64, f64)> = (0..100)
            .map(|second| (second, second as f64 * 0.5))
            .collect();
        assert_eq!(archived(&ramp, &SETTINGS), [0]);
    }

    #[test]
    fn when_the_door_closes_the_held_sample_is_archived_not_the_new_one() {
        // Flat at 0 up to second 10, then a jump to 50 at second 11.
        let mut values: Vec<(i64, f64)> = (0..=10).map(|second| (second, 0.0)).collect();
        values.push((11, 50.0));
        assert_eq!(archived(&values, &SETTINGS), [0, 10]);
    }

    #[test]
    fn a_sample_is_archived_at_least_once_per_max_interval_while_samples_come() {
        let settings = Settings {
            max_interval_us: 60_000_000,
            ..SETTINGS
        };
        let flat: Vec<(i64, f64)> = (0..=200).map(|second| (second, 7.0)).collect();
        let seconds = archived(&flat, &settings);
        assert_eq!(seconds.first(), Some(&0));
        for pair in seconds.windows(2) {
            assert!(pair[1] - pair[0] <= 60, "{seconds:?}");
        }
        assert!(seconds.len() >= 3, "{seconds:?}");
    }

    #[test]
    fn an_exception_archives_what_was_held_and_then_itself() {
        let mut filter = NoiseFilter::default();
        let mut seconds = Vec::new();
        let mut archive = |point: Bare| seconds.push(point.0);
        for second in 0..5 {
            filter.push(Bare(second, Value::Float(1.0)), &SETTINGS, &mut archive);
        }
        filter.exception(Bare(5, Value::MISSING), &SETTINGS, &mut archive);
        filter.push(Bare(6, Value::Float(1.0)), &SETTINGS, &mut archive);
        // 0 starts the door; 4 is held (the deadband dropped 1 to 3, and 4
        // is passed on before the exception); 5 is the gap; 6 starts a new
        // line because nothing is drawn across a missing value.
        assert_eq!(seconds, [0, 4, 5, 6]);
    }

    #[test]
    fn text_and_on_off_values_pass_when_they_change() {
        let mut filter = NoiseFilter::default();
        let mut kept = Vec::new();
        let off = Settings {
            deviation: 0.0,
            ..SETTINGS
        };
        for (second, word) in ["run", "run", "run", "stop", "stop"].iter().enumerate() {
            let point = Bare(second as i64, Value::String((*word).into()));
            filter.push(point, &off, &mut |point: Bare| kept.push(point));
        }
        let seconds: Vec<i64> = kept.iter().map(|point| point.0).collect();
        assert_eq!(seconds, [0, 2, 3], "the last `run` marks when it changed");
    }

    #[test]
    fn a_quiet_tag_has_its_held_sample_released_by_the_sweep() {
        let settings = Settings {
            max_interval_us: 60_000_000,
            ..SETTINGS
        };
        let mut filter = NoiseFilter::default();
        let mut seconds = Vec::new();
        let mut archive = |point: Bare| seconds.push(point.0);
        for second in 0..10 {
            filter.push(
                Bare(second, Value::Float(second as f64)),
                &settings,
                &mut archive,
            );
        }
        filter.release_overdue(30_000_000, &settings, &mut archive);
        filter.release_overdue(61_000_000, &settings, &mut archive);
        filter.release_overdue(200_000_000, &settings, &mut archive);
        assert_eq!(seconds, [0, 9]);
    }
}
