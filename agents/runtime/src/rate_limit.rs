/// Lets through at most one event per interval and counts the rest, for logs a
/// peer can trigger: a flood of bad frames costs one line a second, not a line each.
#[derive(Debug)]
pub struct RateLimiter {
    interval_ns: u64,
    next_ns: u64,
    suppressed: u64,
}

impl RateLimiter {
    pub fn new(interval_ns: u64) -> Self {
        Self { interval_ns, next_ns: 0, suppressed: 0 }
    }

    /// `Some(n)` if an event at `now_ns` may be logged, `n` being how many were
    /// suppressed since the last one; `None` if it must be dropped.
    pub fn check(&mut self, now_ns: u64) -> Option<u64> {
        if now_ns >= self.next_ns {
            self.next_ns = now_ns.saturating_add(self.interval_ns);
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }
}
