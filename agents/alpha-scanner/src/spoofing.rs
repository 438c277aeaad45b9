//! Spoofing and layering on order-by-order (L3) events.
use qp_book::{BookRead, BookSide, L3Event, L3Kind, OrderId};

/// When a cancel counts as spoofing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoofingConfig {
    /// Price grid step (the instrument's tick), to measure distances in ticks.
    pub tick: i64,
    /// An order is large when its size is at least this percentage of the
    /// running typical order size (400 = four times).
    pub large_order_ratio_pct: u32,
    /// Adds seen before the typical size is trusted (no detection before).
    pub typical_size_warmup_orders: u32,
    /// A large order must be placed at least this many ticks behind its own side's touch.
    pub min_distance_ticks: i64,
    /// Its cancel must come at most this long after a fill on the other side
    /// (a fill after the order was placed).
    pub cancel_window_ns: u64,
    /// Its whole life (placement to cancel) must be at most this long.
    pub max_order_lifetime_ns: u64,
    /// Qualifying cancels after the same fill needed for an alarm (1 = a single
    /// spoof order; 2 or more = layering).
    pub min_layers: u32,
    /// Large orders tracked at once (allocated once; the oldest leave when full).
    pub max_tracked_orders: usize,
}

impl Default for SpoofingConfig {
    fn default() -> Self {
        Self {
            tick: 1,
            large_order_ratio_pct: 400,
            typical_size_warmup_orders: 50,
            min_distance_ticks: 1,
            cancel_window_ns: 25_000_000,
            max_order_lifetime_ns: 1_000_000_000,
            min_layers: 1,
            max_tracked_orders: 256,
        }
    }
}

/// A detected spoofing episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoofAlarm {
    /// The side the fake orders rested on (their pretended pressure: bids
    /// pretend buying, asks selling). The real trade was on the other side.
    pub spoofed_side: BookSide,
    /// Qualifying cancelled orders after this fill.
    pub layers: u32,
    /// Their cancelled size.
    pub cancelled_qty: i64,
    /// When the other side's fill happened.
    pub fill_ts_ns: u64,
    /// Price of the last qualifying cancel.
    pub price: i64,
}

#[derive(Debug, Clone, Copy, Default)]
struct TrackedOrder {
    id: OrderId,
    side_is_bid: bool,
    price: i64,
    original_qty: i64,
    cancelled_qty: i64,
    placed_ts_ns: u64,
    executed: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct Episode {
    fill_ts_ns: Option<u64>,
    layers: u32,
    cancelled_qty: i64,
    alarmed: bool,
}

fn side_index(side: BookSide) -> usize {
    match side {
        BookSide::Bid => 0,
        BookSide::Ask => 1,
    }
}

/// Tracks large orders away from the touch and the last fill on each side;
/// raises an alarm when such orders are cancelled shortly after a fill on the
/// other side. Fixed memory: nothing allocates after [`SpoofingDetector::new`].
#[derive(Debug, Clone)]
pub struct SpoofingDetector {
    config: SpoofingConfig,
    /// Typical add size ×16 (exponential average, weight 1/32).
    typical_qty_x16: i64,
    adds_seen: u32,
    tracked: Box<[TrackedOrder]>,
    tracked_len: usize,
    evicted: u64,
    /// Last fill on each side's resting liquidity (bid, ask).
    last_fill_ns: [Option<u64>; 2],
    /// Episode per spoofed side (bid, ask).
    episodes: [Episode; 2],
}

impl SpoofingDetector {
    pub fn new(config: SpoofingConfig) -> Self {
        Self {
            config,
            typical_qty_x16: 0,
            adds_seen: 0,
            tracked: vec![TrackedOrder::default(); config.max_tracked_orders.max(1)].into_boxed_slice(),
            tracked_len: 0,
            evicted: 0,
            last_fill_ns: [None; 2],
            episodes: [Episode::default(); 2],
        }
    }

    pub fn config(&self) -> &SpoofingConfig {
        &self.config
    }

    /// The running typical order size, once trusted.
    pub fn typical_qty(&self) -> Option<i64> {
        (self.adds_seen >= self.config.typical_size_warmup_orders && self.typical_qty_x16 > 0)
            .then_some(self.typical_qty_x16 / 16)
    }

    /// Large orders currently tracked.
    pub fn tracked_orders(&self) -> usize {
        self.tracked_len
    }

    /// Tracked orders dropped because the table was full.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// A trade print against `resting_side` (for feeds whose fills come as prints).
    pub fn on_fill(&mut self, ts_ns: u64, resting_side: BookSide) {
        self.last_fill_ns[side_index(resting_side)] = Some(ts_ns);
    }

    /// One L3 event at `ts_ns`, after `book` applied it.
    pub fn on_l3<B: BookRead + ?Sized>(&mut self, ts_ns: u64, event: &L3Event, book: &B) -> Option<SpoofAlarm> {
        match event.kind {
            L3Kind::Add => {
                self.on_add(ts_ns, event, book);
                None
            }
            L3Kind::Execute => {
                self.on_fill(ts_ns, event.side);
                if let Some(i) = self.find(event.id) {
                    self.tracked[i].executed = true;
                }
                None
            }
            L3Kind::Cancel | L3Kind::Delete => self.on_cancel(ts_ns, event),
        }
    }

    /// Forget tracked orders, fills and episodes (book resync). The typical size stays.
    pub fn reset(&mut self) {
        self.tracked_len = 0;
        self.last_fill_ns = [None; 2];
        self.episodes = [Episode::default(); 2];
    }

    fn on_add<B: BookRead + ?Sized>(&mut self, ts_ns: u64, event: &L3Event, book: &B) {
        let large = match self.typical_qty() {
            Some(typical) => {
                i128::from(event.qty) * 100 >= i128::from(typical) * i128::from(self.config.large_order_ratio_pct)
            }
            None => false,
        };
        if !large {
            // Large orders stay out of the average, so a burst of them cannot make themselves typical.
            let qty_x16 = event.qty.saturating_mul(16);
            self.typical_qty_x16 = if self.typical_qty_x16 == 0 {
                qty_x16
            } else {
                self.typical_qty_x16 + (qty_x16 - self.typical_qty_x16) / 32
            };
            self.adds_seen = self.adds_seen.saturating_add(1);
            return;
        }
        // The book already holds the order: if it made the touch, its distance is 0.
        let Some(touch) = book.best(event.side) else { return };
        let distance_ticks = (touch.price - event.price).abs() / self.config.tick.max(1);
        if distance_ticks < self.config.min_distance_ticks {
            return;
        }
        let order = TrackedOrder {
            id: event.id,
            side_is_bid: event.side == BookSide::Bid,
            price: event.price,
            original_qty: event.qty,
            cancelled_qty: 0,
            placed_ts_ns: ts_ns,
            executed: false,
        };
        // Large adds are rare: sweeping out orders past their lifetime here keeps the table short.
        self.expire(ts_ns);
        if self.tracked_len == self.tracked.len() {
            // Still full: the oldest goes.
            let mut oldest = 0;
            for i in 1..self.tracked_len {
                if self.tracked[i].placed_ts_ns < self.tracked[oldest].placed_ts_ns {
                    oldest = i;
                }
            }
            self.remove(oldest);
            self.evicted += 1;
        }
        self.tracked[self.tracked_len] = order;
        self.tracked_len += 1;
    }

    fn on_cancel(&mut self, ts_ns: u64, event: &L3Event) -> Option<SpoofAlarm> {
        let i = self.find(event.id)?;
        let order = &mut self.tracked[i];
        order.cancelled_qty = order.cancelled_qty.saturating_add(event.qty);
        // A partial cancel counts once it has taken at least half the order.
        let gone = event.kind == L3Kind::Delete || order.cancelled_qty * 2 >= order.original_qty;
        if !gone {
            return None;
        }
        let order = *order;
        self.remove(i);
        let side = if order.side_is_bid { BookSide::Bid } else { BookSide::Ask };
        if order.executed || ts_ns.saturating_sub(order.placed_ts_ns) > self.config.max_order_lifetime_ns {
            return None;
        }
        let fill_ts_ns = self.last_fill_ns[side_index(side.opposite())]?;
        if fill_ts_ns < order.placed_ts_ns || ts_ns.saturating_sub(fill_ts_ns) > self.config.cancel_window_ns {
            return None;
        }
        let episode = &mut self.episodes[side_index(side)];
        if episode.fill_ts_ns != Some(fill_ts_ns) {
            *episode = Episode { fill_ts_ns: Some(fill_ts_ns), ..Episode::default() };
        }
        episode.layers += 1;
        episode.cancelled_qty = episode.cancelled_qty.saturating_add(order.original_qty);
        if episode.alarmed || episode.layers < self.config.min_layers.max(1) {
            return None;
        }
        episode.alarmed = true;
        Some(SpoofAlarm {
            spoofed_side: side,
            layers: episode.layers,
            cancelled_qty: episode.cancelled_qty,
            fill_ts_ns,
            price: order.price,
        })
    }

    fn find(&self, id: OrderId) -> Option<usize> {
        self.tracked[..self.tracked_len].iter().position(|o| o.id == id)
    }

    fn remove(&mut self, i: usize) {
        self.tracked_len -= 1;
        self.tracked[i] = self.tracked[self.tracked_len];
    }

    fn expire(&mut self, now_ns: u64) {
        let mut i = 0;
        while i < self.tracked_len {
            if now_ns.saturating_sub(self.tracked[i].placed_ts_ns) > self.config.max_order_lifetime_ns {
                self.remove(i);
            } else {
                i += 1;
            }
        }
    }
}
