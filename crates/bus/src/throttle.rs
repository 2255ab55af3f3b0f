//! Doing something at most once per interval: reporting a consumer's lag,
//! looking up partition ends.

use std::time::{Duration, Instant};

/// Says whether something done at most once per interval is due.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Throttle {
    /// When it was last done.
    last: Option<Instant>,
}

impl Throttle {
    /// Whether `interval` has passed since it was last done (or it never
    /// was); if so, counts it as done now.
    pub(crate) fn due(&mut self, interval: Duration) -> bool {
        if self.last.is_some_and(|last| last.elapsed() < interval) {
            return false;
        }
        self.last = Some(Instant::now());
        true
    }
}
