//! Sliding-window rate limits on the agent clock: "at most N events in any trailing second",
//! exact, with the latest event times in a preallocated ring.

/// The window's length.
pub const RATE_WINDOW_NS: u64 = 1_000_000_000;

/// The latest event times (as many as the largest limit ever set) and the limit.
#[derive(Debug, Clone)]
pub(crate) struct SlidingWindow {
    stamps_ns: Vec<u64>,
    /// Index of the oldest stamp once full; the next write goes here.
    head: usize,
    len: usize,
    limit: usize,
}

impl SlidingWindow {
    pub(crate) fn new(limit: u32) -> Self {
        let limit = limit.max(1) as usize;
        // Written, not `vec![0; n]`: calloc'd pages would fault on first use, on the check path.
        let mut stamps_ns = Vec::with_capacity(limit);
        stamps_ns.resize(limit, u64::MAX);
        Self { stamps_ns, head: 0, len: 0, limit }
    }

    /// Change the limit (a reload). The history is kept, so lowering and raising the limit
    /// never forgets events still in the window; the ring only grows, off the check path.
    pub(crate) fn set_limit(&mut self, limit: u32) {
        let limit = limit.max(1) as usize;
        if limit > self.stamps_ns.len() {
            let mut grown = Self::new(limit as u32);
            for k in (0..self.len).rev() {
                grown.record(self.newest(k));
            }
            *self = grown;
        }
        self.limit = limit;
    }

    /// The `k`-th newest stamp (`k < len`).
    fn newest(&self, k: usize) -> u64 {
        let n = self.stamps_ns.len();
        self.stamps_ns[(self.head + self.len + n - 1 - k) % n]
    }

    /// Whether one more event at `now_ns` keeps at most `limit` events in `(now − 1 s, now]`:
    /// fewer than `limit` recorded, or the `limit`-th newest is out of the window.
    pub(crate) fn allows(&self, now_ns: u64) -> bool {
        self.len < self.limit || now_ns.saturating_sub(self.newest(self.limit - 1)) >= RATE_WINDOW_NS
    }

    pub(crate) fn record(&mut self, now_ns: u64) {
        let n = self.stamps_ns.len();
        if self.len < n {
            self.stamps_ns[(self.head + self.len) % n] = now_ns;
            self.len += 1;
        } else {
            self.stamps_ns[self.head] = now_ns;
            self.head = (self.head + 1) % n;
        }
    }
}
