//! Event time: the partition's clock, its watermark, and when the next
//! sweep is due.
//!
//! The clock is the newest event time of any accepted sample, except that
//! a sample never moves it past the time the gateway received it: a device
//! whose clock runs ahead (within `max_future_ms`) must not make every
//! other device's samples late. The watermark trails it by the allowed
//! lateness; a sample older than the watermark when it arrives is flagged
//! late and still processed.

use flowline_core::Timestamp;
use serde::{Deserialize, Serialize};

/// The partition's event-time clock.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EventClock {
    /// The newest event time seen, each sample's capped at its receive
    /// time; `None` before the first sample.
    newest: Option<Timestamp>,
    /// When the next sweep is due, in event time.
    next_sweep: Option<Timestamp>,
}

impl EventClock {
    /// The newest event time minus the allowed lateness.
    pub(crate) fn watermark(&self, lateness_ms: u64) -> Option<Timestamp> {
        self.newest
            .map(|newest| newest.saturating_add_micros(-(lateness_ms as i64 * 1_000)))
    }

    /// Whether a sample at `time` is behind the watermark.
    pub(crate) fn is_late(&self, time: Timestamp, lateness_ms: u64) -> bool {
        self.watermark(lateness_ms)
            .is_some_and(|watermark| time < watermark)
    }

    /// Moves the clock on for an accepted sample.
    pub(crate) fn advance(&mut self, time: Timestamp, received: Timestamp) {
        let candidate = time.min(received);
        if self.newest.is_none_or(|newest| candidate > newest) {
            self.newest = Some(candidate);
        }
    }

    /// The time to sweep at, if a sample that moves the clock to
    /// `reaching` makes a sweep due: the last multiple of `interval_ms`
    /// since the epoch at or before it. Called before the sample is taken
    /// in, so a sweep sees exactly the samples older than its time when
    /// they arrive in time order, however they are spread over batches or
    /// partitions.
    pub(crate) fn sweep_due(&mut self, reaching: Timestamp, interval_ms: u64) -> Option<Timestamp> {
        // Fast path: not yet.
        if self.next_sweep.is_some_and(|next| reaching < next) {
            return None;
        }
        let interval_us = interval_ms as i64 * 1_000;
        let boundary =
            Timestamp::from_micros(reaching.as_micros().div_euclid(interval_us) * interval_us);
        let first = self.next_sweep.is_none();
        self.next_sweep = Some(boundary.saturating_add_micros(interval_us));
        (!first).then_some(boundary)
    }

    /// The clock of a partition made of parts: the newest time of any, and
    /// the earliest sweep any was due for, so no sweep is skipped.
    pub(crate) fn merge(self, other: EventClock) -> EventClock {
        let earliest = match (self.next_sweep, other.next_sweep) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        EventClock {
            newest: self.newest.max(other.newest),
            next_sweep: earliest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_seconds(second)
    }

    #[test]
    fn samples_behind_the_watermark_are_late_and_others_are_not() {
        let mut clock = EventClock::default();
        assert!(
            !clock.is_late(at(0), 30_000),
            "nothing is late before the first sample"
        );
        clock.advance(at(100), at(100));
        assert!(!clock.is_late(at(70), 30_000));
        assert!(clock.is_late(at(69), 30_000));
        clock.advance(at(50), at(50));
        assert_eq!(
            clock.watermark(0),
            Some(at(100)),
            "the clock never goes back"
        );
    }

    #[test]
    fn a_device_clock_running_ahead_moves_the_clock_only_to_its_receive_time() {
        let mut clock = EventClock::default();
        clock.advance(at(1_000), at(880));
        assert_eq!(clock.watermark(0), Some(at(880)));
        assert!(!clock.is_late(at(860), 30_000));
    }

    #[test]
    fn sweeps_fall_due_once_per_interval_of_event_time_on_its_multiples() {
        let mut clock = EventClock::default();
        let mut swept = Vec::new();
        for second in [3, 4, 9, 10, 11, 19, 27, 28, 26, 41] {
            let reaching = at(second);
            if let Some(now) = clock.sweep_due(reaching, 10_000) {
                swept.push(now.as_micros() / 1_000_000);
            }
            clock.advance(reaching, reaching);
        }
        assert_eq!(swept, [10, 20, 40]);
    }
}
