//! Vanishing liquidity: the depth near the mid falls sharply within a window.

/// When depth near the mid counts as vanishing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiquidityDropConfig {
    /// Depth is the size at prices within this many bp of the mid ([`qp_book::BookRead::volume_within_bp`]).
    pub band_bp: u32,
    /// Signal when the depth is more than this far (bp of the window's peak) below the peak.
    pub drop_threshold_bp: u32,
    /// The peak is the highest depth seen in this much feed time.
    pub window_ns: u64,
    /// Peaks below this size are too thin to mean anything: no signal.
    pub min_peak_qty: i64,
    /// After a signal, a side stays quiet this long (feed time).
    pub cooldown_ns: u64,
    /// `true`: watch bid and ask depth separately (a bid-side drop is bearish,
    /// an ask-side drop bullish). `false`: watch their sum.
    pub per_side: bool,
    /// Depth samples a window holds at most (allocated once).
    pub window_capacity: usize,
}

impl Default for LiquidityDropConfig {
    fn default() -> Self {
        Self {
            band_bp: 10,
            drop_threshold_bp: 5_000,
            window_ns: 500_000_000,
            min_peak_qty: 1,
            cooldown_ns: 1_000_000_000,
            per_side: true,
            window_capacity: 1_024,
        }
    }
}

/// A detected drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiquidityDrop {
    /// The window's peak depth.
    pub peak_qty: i64,
    /// The depth now.
    pub depth_qty: i64,
    /// (peak − now) / peak, in bp.
    pub drop_bp: u32,
}

/// Tracks one depth series: the running peak over a window of feed time
/// (a monotonic queue in a ring allocated once), the cooldown, and the drop test.
#[derive(Debug, Clone)]
pub struct LiquidityDropDetector {
    config: LiquidityDropConfig,
    samples: Box<[(u64, i64)]>,
    head: usize,
    len: usize,
    quiet_until_ns: u64,
}

impl LiquidityDropDetector {
    pub fn new(config: LiquidityDropConfig) -> Self {
        Self {
            config,
            samples: vec![(0, 0); config.window_capacity.max(1)].into_boxed_slice(),
            head: 0,
            len: 0,
            quiet_until_ns: 0,
        }
    }

    /// Observe the depth at `now_ns`; returns a drop to signal, if any. A
    /// signalled drop restarts the window from the current depth, so one drop
    /// is reported once (deduplication) and the cooldown bounds the rate.
    pub fn observe(&mut self, now_ns: u64, depth_qty: i64) -> Option<LiquidityDrop> {
        self.push(now_ns, depth_qty);
        let peak_qty = self.peak()?;
        if peak_qty < self.config.min_peak_qty.max(1) || depth_qty >= peak_qty || now_ns < self.quiet_until_ns {
            return None;
        }
        let drop_bp = (i128::from(peak_qty - depth_qty.max(0)) * 10_000 / i128::from(peak_qty)) as u32;
        if drop_bp <= self.config.drop_threshold_bp {
            return None;
        }
        self.quiet_until_ns = now_ns.saturating_add(self.config.cooldown_ns);
        self.len = 0;
        self.push(now_ns, depth_qty);
        Some(LiquidityDrop { peak_qty, depth_qty, drop_bp })
    }

    /// The highest depth in the window.
    pub fn peak(&self) -> Option<i64> {
        (self.len > 0).then(|| self.samples[self.head].1)
    }

    /// Forget the window (book resync); the cooldown stays.
    pub fn reset(&mut self) {
        self.len = 0;
    }

    fn push(&mut self, now_ns: u64, qty: i64) {
        let cap = self.samples.len();
        // Samples that are not above the new one can never be the peak again.
        while self.len > 0 {
            let back = (self.head + self.len - 1) % cap;
            if self.samples[back].1 > qty {
                break;
            }
            self.len -= 1;
        }
        if self.len == cap {
            self.head = (self.head + 1) % cap;
            self.len -= 1;
        }
        self.samples[(self.head + self.len) % cap] = (now_ns, qty);
        self.len += 1;
        while self.len > 1 && self.samples[self.head].0.saturating_add(self.config.window_ns) <= now_ns {
            self.head = (self.head + 1) % cap;
            self.len -= 1;
        }
    }
}
