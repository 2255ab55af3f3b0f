//! The lowest and highest reading of one tag over a sliding event-time
//! window, for change rules.
//!
//! Two monotonic queues: the lowest reading of any suffix of the window is
//! the first entry of the low queue at or after the suffix's start, and
//! likewise for the highest. Each reading enters and leaves each queue
//! once, so keeping them costs O(1) per reading, and asking for a shorter
//! window than the one kept costs a binary search.

use std::collections::VecDeque;

use flowline_core::Timestamp;
use serde::{Deserialize, Serialize};

use super::Reading;

/// The extremes of one tag's readings over the last `span` of event time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Extremes {
    /// Readings whose values rise from front to back: each is the lowest
    /// of the window from its time on.
    lows: VecDeque<Reading>,
    /// Readings whose values fall from front to back: each is the highest
    /// of the window from its time on.
    highs: VecDeque<Reading>,
}

impl Extremes {
    /// Adds the newest reading and forgets those older than `oldest`.
    pub(crate) fn push(&mut self, reading: Reading, oldest: Timestamp) {
        while self
            .lows
            .back()
            .is_some_and(|last| last.value >= reading.value)
        {
            self.lows.pop_back();
        }
        self.lows.push_back(reading);
        while self
            .highs
            .back()
            .is_some_and(|last| last.value <= reading.value)
        {
            self.highs.pop_back();
        }
        self.highs.push_back(reading);
        for queue in [&mut self.lows, &mut self.highs] {
            while queue.front().is_some_and(|first| first.time < oldest) {
                queue.pop_front();
            }
        }
    }

    /// The lowest reading at or after `since`.
    pub(crate) fn lowest_since(&self, since: Timestamp) -> Option<&Reading> {
        first_since(&self.lows, since)
    }

    /// The highest reading at or after `since`.
    pub(crate) fn highest_since(&self, since: Timestamp) -> Option<&Reading> {
        first_since(&self.highs, since)
    }
}

/// The first reading of `queue` at or after `since`.
fn first_since(queue: &VecDeque<Reading>, since: Timestamp) -> Option<&Reading> {
    // Fast path: the window asked for is the one kept.
    match queue.front() {
        Some(first) if first.time >= since => Some(first),
        _ => queue.get(queue.partition_point(|reading| reading.time < since)),
    }
}

#[cfg(test)]
mod tests {
    use flowline_core::TagId;
    use proptest::prelude::*;

    use super::*;

    fn reading(second: i64, value: f64) -> Reading {
        Reading {
            tag: TagId(1),
            time: Timestamp::from_seconds(second),
            value,
        }
    }

    proptest! {
        #[test]
        fn extremes_of_any_suffix_match_a_scan_of_the_window(
            values in proptest::collection::vec(-50i32..50, 1..80),
            span in 1i64..20,
            suffix in 0i64..25,
        ) {
            let mut extremes = Extremes::default();
            for (second, value) in values.iter().enumerate() {
                let now = second as i64;
                extremes.push(reading(now, f64::from(*value)), Timestamp::from_seconds(now - span));
                let since = now - suffix.min(span);
                let window: Vec<f64> = values[..=second]
                    .iter()
                    .enumerate()
                    .filter(|(at, _)| *at as i64 >= since)
                    .map(|(_, value)| f64::from(*value))
                    .collect();
                let since = Timestamp::from_seconds(since);
                let low = window.iter().copied().fold(f64::INFINITY, f64::min);
                let high = window.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                prop_assert_eq!(extremes.lowest_since(since).map(|r| r.value), Some(low));
                prop_assert_eq!(extremes.highest_since(since).map(|r| r.value), Some(high));
            }
        }
    }
}
