//! Validation against the catalog and against the tag's own history:
//! valid range, rate of change, stuck values and spikes.
//!
//! - **Range**: a value outside the tag's valid range is flagged out of
//!   range.
//! - **Rate of change**: a value that moved from the previous usable one
//!   faster than the tag's `max_change_per_s` is flagged.
//! - **Stuck**: a measurement (not a setpoint, not on/off) that repeats
//!   exactly the same value for `stuck_window_ms` and at least
//!   `stuck_min_samples` samples is flagged stuck. A value at either end
//!   of the valid range is left alone: a stopped pump reading exactly zero
//!   is pinned, not frozen.
//! - **Spike**: a robust z-score over the last `spike_window` usable
//!   values. Only a sample that jumps from the previous one by more than
//!   the minimum jump (a fraction of the valid span) is a candidate, which
//!   keeps the common case to one comparison; a candidate is a spike when
//!   it lies further from the window's median than both the minimum jump
//!   and `spike_sigmas` robust standard deviations (1.4826 × the median
//!   absolute deviation). The sample that comes back from a spike jumps
//!   too, but lies near the median, so it is not flagged; a genuine step
//!   is flagged on its first sample only, because the next one no longer
//!   jumps.
//!
//! LIMITATION: with no look-ahead, the first sample of a genuine step
//! change larger than the minimum jump is flagged as a spike; the
//! alternative, holding every sample until the next one arrives, would
//! delay every tag by one reading.

use flowline_core::{DataQualityFlags, Timestamp};
use serde::{Deserialize, Serialize};

use crate::config::{MAX_SPIKE_WINDOW, ValidateConfig};
use crate::plan::TagPlan;

/// What validation remembers about one tag: only usable numeric values
/// read in time order enter it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct History {
    /// The previous usable value and its time.
    last: Option<(Timestamp, f64)>,
    /// The most recent usable values.
    recent: Recent,
    /// The current run of identical values.
    run: Option<Run>,
}

/// A run of identical values.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Run {
    since: Timestamp,
    value: f64,
    samples: u32,
}

/// The last few values, oldest overwritten first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Recent {
    values: [f64; MAX_SPIKE_WINDOW],
    len: u8,
    next: u8,
}

impl Recent {
    /// Keeps `value`, forgetting the oldest beyond `capacity`.
    fn push(&mut self, value: f64, capacity: usize) {
        let capacity = capacity.min(MAX_SPIKE_WINDOW);
        let mut next = usize::from(self.next);
        if next >= capacity {
            next = 0;
        }
        self.values[next] = value;
        // Both fit in a u8: MAX_SPIKE_WINDOW is 15.
        self.next = (next + 1) as u8;
        self.len = (usize::from(self.len) + 1).min(capacity) as u8;
    }

    /// The values kept, in no particular order.
    fn values(&self) -> &[f64] {
        &self.values[..usize::from(self.len)]
    }
}

/// Median and median absolute deviation of a few values.
fn median_and_mad(values: &[f64]) -> (f64, f64) {
    let mut sorted = [0.0; MAX_SPIKE_WINDOW];
    let sorted = &mut sorted[..values.len()];
    sorted.copy_from_slice(values);
    let middle = median(sorted);
    for value in sorted.iter_mut() {
        *value = (*value - middle).abs();
    }
    (middle, median(sorted))
}

/// The median of `values`, which it reorders.
fn median(values: &mut [f64]) -> f64 {
    let odd = values.len() % 2 == 1;
    let (below, at, _) = values.select_nth_unstable_by(values.len() / 2, f64::total_cmp);
    if odd {
        *at
    } else {
        let lower = below.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lower + *at) / 2.0
    }
}

/// The robust standard deviation of a normal distribution per unit of
/// median absolute deviation.
const MAD_TO_SIGMA: f64 = 1.4826;

/// The fewest values the spike check needs before it judges.
const MIN_SPIKE_HISTORY: usize = 3;

impl History {
    /// Checks a usable numeric value read after every value already seen,
    /// and remembers it.
    pub(crate) fn check(
        &mut self,
        time: Timestamp,
        value: f64,
        plan: &TagPlan,
        config: &ValidateConfig,
    ) -> DataQualityFlags {
        let mut flags = DataQualityFlags::empty();
        if !plan.range.contains(value) {
            flags |= DataQualityFlags::OUT_OF_RANGE;
        }
        if let Some((then, previous)) = self.last {
            let seconds = time.micros_since(then) as f64 / 1e6;
            let jump = (value - previous).abs();
            if plan
                .max_change_per_s
                .is_some_and(|limit| jump > limit * seconds)
            {
                flags |= DataQualityFlags::RATE_OF_CHANGE;
            }
            if let Some(min_jump) = plan.spike_min_jump
                && jump > min_jump
                && self.is_spike(value, min_jump, config.spike_sigmas)
            {
                flags |= DataQualityFlags::SPIKE;
            }
        }
        if plan.checks_stuck && self.stuck(time, value, plan, config) {
            flags |= DataQualityFlags::STUCK;
        }
        self.last = Some((time, value));
        self.recent.push(value, config.spike_window);
        flags
    }

    /// Whether `value` lies further from the recent median than both the
    /// minimum jump and the configured robust deviations. The slower path:
    /// only jumps get here.
    fn is_spike(&self, value: f64, min_jump: f64, sigmas: f64) -> bool {
        let recent = self.recent.values();
        if recent.len() < MIN_SPIKE_HISTORY {
            return false;
        }
        let (median, mad) = median_and_mad(recent);
        let distance = (value - median).abs();
        distance > min_jump && distance > sigmas * MAD_TO_SIGMA * mad
    }

    /// Extends or restarts the run of identical values; whether it is now
    /// long enough to call the value stuck.
    fn stuck(
        &mut self,
        time: Timestamp,
        value: f64,
        plan: &TagPlan,
        config: &ValidateConfig,
    ) -> bool {
        let pinned = plan.range.lo == Some(value) || plan.range.hi == Some(value);
        if pinned {
            self.run = None;
            return false;
        }
        let run = match &mut self.run {
            Some(run) if run.value == value => {
                run.samples = run.samples.saturating_add(1);
                run
            }
            run => run.insert(Run {
                since: time,
                value,
                samples: 1,
            }),
        };
        let window_us = config.stuck_window_ms as i64 * 1_000;
        run.samples >= config.stuck_min_samples && time.micros_since(run.since) >= window_us
    }
}

#[cfg(test)]
mod tests {
    use flowline_catalog::Limits;

    use super::*;
    use crate::plan::tests::plan;

    fn check_all(values: &[f64], plan: &TagPlan) -> Vec<DataQualityFlags> {
        let config = ValidateConfig::default();
        let mut history = History::default();
        values
            .iter()
            .enumerate()
            .map(|(second, value)| {
                history.check(
                    Timestamp::from_seconds(second as i64),
                    *value,
                    plan,
                    &config,
                )
            })
            .collect()
    }

    #[test]
    fn values_outside_the_valid_range_are_flagged() {
        let flags = check_all(&[10.0, 350.5, -0.1], &plan(Limits::new(0.0, 350.0)));
        assert!(!flags[0].contains(DataQualityFlags::OUT_OF_RANGE));
        assert!(flags[1].contains(DataQualityFlags::OUT_OF_RANGE));
        assert!(flags[2].contains(DataQualityFlags::OUT_OF_RANGE));
    }

    #[test]
    fn a_change_faster_than_the_tag_allows_is_flagged() {
        let mut plan = plan(Limits::new(0.0, 350.0));
        plan.max_change_per_s = Some(20.0);
        let flags = check_all(&[100.0, 119.0, 140.0], &plan);
        assert!(
            !flags[1].contains(DataQualityFlags::RATE_OF_CHANGE),
            "19 bar in 1 s"
        );
        assert!(
            flags[2].contains(DataQualityFlags::RATE_OF_CHANGE),
            "21 bar in 1 s"
        );
    }

    #[test]
    fn an_isolated_jump_is_a_spike_and_the_return_is_not() {
        let mut values = vec![100.0, 100.4, 99.8, 100.1, 99.9, 100.3];
        values.extend([160.0, 100.2, 99.7]);
        let flags = check_all(&values, &plan(Limits::new(0.0, 350.0)));
        let spikes: Vec<usize> = flags
            .iter()
            .enumerate()
            .filter(|(_, flags)| flags.contains(DataQualityFlags::SPIKE))
            .map(|(index, _)| index)
            .collect();
        assert_eq!(spikes, [6]);
    }

    #[test]
    fn a_step_is_flagged_on_its_first_sample_only() {
        let mut values = vec![100.0, 100.4, 99.8, 100.1, 99.9];
        values.extend([200.0, 200.3, 199.9, 200.1, 200.2, 199.8, 200.0]);
        let flags = check_all(&values, &plan(Limits::new(0.0, 350.0)));
        let spikes = flags
            .iter()
            .filter(|flags| flags.contains(DataQualityFlags::SPIKE))
            .count();
        assert_eq!(spikes, 1);
        assert!(flags[5].contains(DataQualityFlags::SPIKE));
    }

    #[test]
    fn scatter_wider_than_the_minimum_jump_is_not_a_spike() {
        // A sandy well's pressure: 5 bar of scatter around 100 bar, so
        // jumps beyond the 17.5 bar minimum happen, but none stands out
        // from the window.
        let mut state: u64 = 7;
        let mut uniform = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let values: Vec<f64> = (0..2_000)
            .map(|_| 100.0 + 5.0 * (uniform() + uniform() + uniform() - 1.5) * 2.0)
            .collect();
        let jumps = values
            .windows(2)
            .filter(|pair| (pair[1] - pair[0]).abs() > 17.5)
            .count();
        assert!(
            jumps > 10,
            "the scatter must jump past the minimum: {jumps}"
        );
        let flags = check_all(&values, &plan(Limits::new(0.0, 350.0)));
        assert!(
            flags
                .iter()
                .all(|flags| !flags.contains(DataQualityFlags::SPIKE))
        );
    }

    #[test]
    fn a_value_repeated_for_the_whole_window_is_stuck_but_one_pinned_at_zero_is_not() {
        let mut plan = plan(Limits::new(0.0, 350.0));
        plan.checks_stuck = true;
        let config = ValidateConfig {
            stuck_window_ms: 60_000,
            ..ValidateConfig::default()
        };
        for (value, expect_stuck) in [(42.5, true), (0.0, false)] {
            let mut history = History::default();
            let mut last = DataQualityFlags::empty();
            for second in 0..=70 {
                let time = Timestamp::from_seconds(second);
                last = history.check(time, value, &plan, &config);
                if second < 60 {
                    assert!(
                        !last.contains(DataQualityFlags::STUCK),
                        "{value} at {second}"
                    );
                }
            }
            assert_eq!(
                last.contains(DataQualityFlags::STUCK),
                expect_stuck,
                "{value}"
            );
            let moved = history.check(Timestamp::from_seconds(71), value + 0.01, &plan, &config);
            assert!(!moved.contains(DataQualityFlags::STUCK));
        }
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median_and_mad(&[3.0, 1.0, 2.0]), (2.0, 1.0));
        assert_eq!(median_and_mad(&[4.0, 1.0, 3.0, 2.0]).0, 2.5);
    }
}
