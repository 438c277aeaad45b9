//! Spoofing and layering on order-by-order (L3) events.
//!
//! # Definition
//!
//! A *fake* order is a large add (at least `large_order_ratio_pct` of the
//! running typical add size) resting `min_distance_ticks` to
//! `max_distance_ticks` behind its own side's touch, never executed against,
//! and pulled (deleted, or at least half of it cancelled) within
//! `max_order_lifetime_ns` of its placement. Its cancel is *spoofing* when it
//! comes at most `cancel_window_ns` after the fill, on the other side, of a
//! *linked* order:
//!
//! - placed at most `link_window_ns` before or after the fake order (the pair
//!   goes in together);
//! - filled after the fake order was placed, completely
//!   (`require_complete_fill`), and quickly: within `fast_fill_pct` of the
//!   typical placement-to-fill time of the feed;
//! - no bigger than the fake order (`min_size_over_linked_pct`).
//!
//! Layering is `min_layers` (2+) such cancels after the same fill; the default
//! (1) alarms on a single fake order too, once per side and fill.
//!
//! # Why the linked pair
//!
//! The fake orders exist to get the spoofer's genuine order on the other side
//! filled, so the two go in together (the Coscia case, 2015, describes a
//! program placing both within a fraction of a second)
//! and the fake ones come out as soon as the genuine one is done. An L3 feed
//! names the order on every add and every execution, so the detector knows
//! *which* order on the other side was filled, when it was placed and whether
//! anything of it is left. "Some fill on the other side shortly before the
//! cancel" alone is a coincidence at busy rates (a fill on each side every
//! ~25 ms) while large orders behind the touch are pulled all the time (block
//! orders requoted by market makers, traders withdrawing after the market
//! trades through): on the busy simulated flow the same detector without the
//! link (`unlinked` in the scan) has a precision of about 0.1.
//!
//! The link's conditions each carry evidence a coincidence rarely has:
//! - *placed together*: of the tens of orders filled on the other side during
//!   a fake order's life at busy rates, only the few placed within 40 ms of it
//!   can link;
//! - *filled fast*: the fake pressure is there to get the genuine order filled
//!   early. Background fills at the touch mostly wait out the queue (half the
//!   typical time is below the 10th percentile of fill times on the busy
//!   simulated flow; the simulated spoofer's fill comes 50–300 ms after the
//!   fake orders);
//! - *filled completely*: the spoofer pulls once its order is done, not after
//!   a partial fill;
//! - *outweighed*: a fake order smaller than the real one puts no pressure on
//!   anyone.
//!
//! # Thresholds
//!
//! - Large = 2× typical: the background adds of the simulator are 0.2–1.8× its
//!   mean size, fake orders 2–6×. The typical size is an exponential average
//!   (weight 1/128) of the non-large adds, so the fakes cannot make themselves
//!   typical and the threshold does not wander with single orders.
//! - 1 to 5 ticks behind the touch: at the touch a fake order risks a fill;
//!   deeper than 5 ticks it shows in few depth views and pressures nobody.
//! - Cancel window 50 ms, link window 40 ms: they cover a reaction of
//!   1–50 ms and a pair placed up to 40 ms apart (the simulated spoofer; an
//!   algorithm reacts within milliseconds). Each extra millisecond admits more
//!   coincidences at busy rates: the windows trade recall of slow spoofers
//!   against precision, and the scan reports the result.
//! - Lifetime 1 s: a resting wall is real interest, a flash of size is not.
//!
//! What the link cannot catch: a spoofer whose genuine order rested long
//! before the fake ones (10 % of the simulated episodes), a fake order cut by
//! less than half, and a trade print ([`SpoofingDetector::on_fill`]), which
//! names no order: it links to nothing and counts only with
//! `link_window_ns = 0` (the unlinked detector, for feeds without
//! order-level executions; the fast, complete and outweighed tests need the
//! link and are off with it).
use qp_book::{BookRead, BookSide, L3Event, L3Kind, OrderId};

/// When a cancel counts as spoofing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoofingConfig {
    /// Price grid step (the instrument's tick), to measure distances in ticks.
    pub tick: i64,
    /// An order is large when its size is at least this percentage of the
    /// running typical order size (200 = twice).
    pub large_order_ratio_pct: u32,
    /// Adds seen before the typical size is trusted (no detection before).
    pub typical_size_warmup_orders: u32,
    /// A large order must be placed at least this many ticks behind its own side's touch.
    pub min_distance_ticks: i64,
    /// ... and at most this many (deeper orders show in nobody's top-of-book
    /// view, so they put no pressure on anyone; 0: no limit).
    pub max_distance_ticks: i64,
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
    /// The filled order on the other side must have been placed at most this
    /// long before or after the large order (0: any fill counts, prints included).
    pub link_window_ns: u64,
    /// Orders whose placement time is remembered, to link an execution to its
    /// order's placement (rounded up to a power of two; allocated once; a newer
    /// order may overwrite an older one's slot, which then links to nothing).
    pub placement_slots: usize,
    /// The linked order must have been filled within this percentage of the
    /// typical time from placement to fill (running mean over the executions
    /// of orders whose placement was seen, each capped at 10 s; trusted after
    /// `typical_size_warmup_orders` of them): the fake pressure got it filled
    /// early. 0 turns the test off.
    pub fast_fill_pct: u32,
    /// The linked order must have been filled completely (the spoofer pulls
    /// the fake orders once its real one is done, not after a partial fill).
    pub require_complete_fill: bool,
    /// Each cancelled large order must be at least this percentage of the
    /// linked order's size (fake pressure has to outweigh the real order; 0: off).
    pub min_size_over_linked_pct: u32,
}

impl Default for SpoofingConfig {
    fn default() -> Self {
        Self {
            tick: 1,
            large_order_ratio_pct: 200,
            typical_size_warmup_orders: 50,
            min_distance_ticks: 1,
            max_distance_ticks: 5,
            cancel_window_ns: 50_000_000,
            max_order_lifetime_ns: 1_000_000_000,
            min_layers: 1,
            max_tracked_orders: 256,
            link_window_ns: 40_000_000,
            placement_slots: 8_192,
            fast_fill_pct: 50,
            require_complete_fill: true,
            min_size_over_linked_pct: 100,
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
    /// The order filled on the other side, when the fill named one.
    pub filled_order: Option<OrderId>,
    /// When that order was placed, when known (the linked pair's other half).
    pub filled_order_placed_ts_ns: Option<u64>,
    /// When the last qualifying large order was placed.
    pub placed_ts_ns: u64,
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

/// A fill on one side, with the placement time of the order filled.
#[derive(Debug, Clone, Copy, Default)]
struct Fill {
    ts_ns: u64,
    order: Option<OrderId>,
    /// When the filled order was placed, if known.
    placed_ts_ns: Option<u64>,
    /// Its size when placed (0 if unknown).
    order_qty: i64,
    /// Nothing of it rests any more.
    complete: bool,
}

/// What the detector remembers of an order: its placement.
#[derive(Debug, Clone, Copy)]
struct Placement {
    id: OrderId,
    ts_ns: u64,
    qty: i64,
    remaining: i64,
}

const EMPTY_PLACEMENT: Placement = Placement { id: NO_ORDER, ts_ns: 0, qty: 0, remaining: 0 };

/// Fills remembered per side (a sweep fills several orders; the cancel window
/// at busy rates holds a few more).
const FILLS: usize = 16;

const NO_ORDER: OrderId = OrderId::MAX;

/// Placement-to-fill times are capped at this in the running mean (orders that rested for minutes would swamp it).
const MAX_FILL_AGE_NS: u64 = 10_000_000_000;

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
    /// Typical placement-to-fill time (exponential average, weight 1/64), and fills it has seen.
    typical_fill_age_ns: u64,
    fill_ages_seen: u32,
    tracked: Box<[TrackedOrder]>,
    tracked_len: usize,
    evicted: u64,
    /// Recent fills on each side's resting liquidity (bid, ask), a ring each.
    fills: [[Option<Fill>; FILLS]; 2],
    fill_next: [usize; 2],
    /// Placement time by order id (hashed slot; id and time).
    placements: Box<[Placement]>,
    placement_shift: u32,
    /// Episode per spoofed side (bid, ask).
    episodes: [Episode; 2],
}

impl SpoofingDetector {
    pub fn new(config: SpoofingConfig) -> Self {
        let slots = config.placement_slots.clamp(2, 1 << 24).next_power_of_two();
        Self {
            config,
            typical_qty_x16: 0,
            adds_seen: 0,
            typical_fill_age_ns: 0,
            fill_ages_seen: 0,
            tracked: vec![TrackedOrder::default(); config.max_tracked_orders.max(1)].into_boxed_slice(),
            tracked_len: 0,
            evicted: 0,
            fills: [[None; FILLS]; 2],
            fill_next: [0; 2],
            placements: vec![EMPTY_PLACEMENT; slots].into_boxed_slice(),
            placement_shift: 64 - slots.trailing_zeros(),
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

    /// A trade print against `resting_side` (for feeds whose fills come as
    /// prints): it names no order, so it links to nothing (see the module docs).
    pub fn on_fill(&mut self, ts_ns: u64, resting_side: BookSide) {
        self.record_fill(resting_side, Fill { ts_ns, order: None, placed_ts_ns: None, order_qty: 0, complete: false });
    }

    fn record_fill(&mut self, resting_side: BookSide, fill: Fill) {
        let s = side_index(resting_side);
        self.fills[s][self.fill_next[s]] = Some(fill);
        self.fill_next[s] = (self.fill_next[s] + 1) % FILLS;
    }

    fn slot(&self, id: OrderId) -> usize {
        (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.placement_shift) as usize
    }

    /// The order's placement record, if its slot still holds it.
    fn placement_mut(&mut self, id: OrderId) -> Option<&mut Placement> {
        let slot = self.slot(id);
        let p = &mut self.placements[slot];
        (p.id == id).then_some(p)
    }

    /// One L3 event at `ts_ns`, after `book` applied it.
    pub fn on_l3<B: BookRead + ?Sized>(&mut self, ts_ns: u64, event: &L3Event, book: &B) -> Option<SpoofAlarm> {
        match event.kind {
            L3Kind::Add => {
                self.on_add(ts_ns, event, book);
                None
            }
            L3Kind::Execute => {
                let mut fill = Fill { ts_ns, order: Some(event.id), placed_ts_ns: None, order_qty: 0, complete: false };
                if let Some(p) = self.placement_mut(event.id) {
                    p.remaining = p.remaining.saturating_sub(event.qty);
                    fill.placed_ts_ns = Some(p.ts_ns);
                    fill.order_qty = p.qty;
                    fill.complete = p.remaining <= 0;
                    let age = ts_ns.saturating_sub(p.ts_ns).min(MAX_FILL_AGE_NS);
                    self.typical_fill_age_ns = if self.fill_ages_seen == 0 {
                        age
                    } else {
                        // Unsigned mean update: t + (age − t)/64 either way.
                        let t = self.typical_fill_age_ns;
                        if age >= t { t + (age - t) / 64 } else { t - (t - age) / 64 }
                    };
                    self.fill_ages_seen = self.fill_ages_seen.saturating_add(1);
                }
                self.record_fill(event.side, fill);
                if let Some(i) = self.find(event.id) {
                    self.tracked[i].executed = true;
                }
                None
            }
            L3Kind::Cancel => {
                if let Some(p) = self.placement_mut(event.id) {
                    p.remaining = p.remaining.saturating_sub(event.qty);
                }
                self.on_cancel(ts_ns, event)
            }
            L3Kind::Delete => self.on_cancel(ts_ns, event),
        }
    }

    /// Forget tracked orders, fills and episodes (book resync). The typical size stays.
    pub fn reset(&mut self) {
        self.tracked_len = 0;
        self.fills = [[None; FILLS]; 2];
        self.fill_next = [0; 2];
        self.placements.fill(EMPTY_PLACEMENT);
        self.episodes = [Episode::default(); 2];
    }

    fn on_add<B: BookRead + ?Sized>(&mut self, ts_ns: u64, event: &L3Event, book: &B) {
        let slot = self.slot(event.id);
        self.placements[slot] = Placement { id: event.id, ts_ns, qty: event.qty, remaining: event.qty };
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
                self.typical_qty_x16 + (qty_x16 - self.typical_qty_x16) / 128
            };
            self.adds_seen = self.adds_seen.saturating_add(1);
            return;
        }
        // The book already holds the order: if it made the touch, its distance is 0.
        let Some(touch) = book.best(event.side) else { return };
        let distance_ticks = (touch.price - event.price).abs() / self.config.tick.max(1);
        if distance_ticks < self.config.min_distance_ticks
            || (self.config.max_distance_ticks > 0 && distance_ticks > self.config.max_distance_ticks)
        {
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
        let fill = self.linked_fill(ts_ns, &order, side.opposite())?;
        let fill_ts_ns = fill.ts_ns;
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
            filled_order: fill.order,
            filled_order_placed_ts_ns: fill.placed_ts_ns,
            placed_ts_ns: order.placed_ts_ns,
            price: order.price,
        })
    }

    /// The latest fill on `fill_side` after the order's placement, inside the
    /// cancel window before `now_ns`, of an order placed within the link window of it.
    /// The typical placement-to-fill time, once trusted.
    pub fn typical_fill_age_ns(&self) -> Option<u64> {
        (self.fill_ages_seen >= self.config.typical_size_warmup_orders).then_some(self.typical_fill_age_ns)
    }

    fn linked_fill(&self, now_ns: u64, order: &TrackedOrder, fill_side: BookSide) -> Option<Fill> {
        let link = self.config.link_window_ns;
        // No limit until the typical time is known (or with the test off).
        let max_age = match (self.config.fast_fill_pct, self.typical_fill_age_ns()) {
            (0, _) | (_, None) => u64::MAX,
            (pct, Some(typical)) => typical.saturating_mul(u64::from(pct)) / 100,
        };
        self.fills[side_index(fill_side)]
            .iter()
            .flatten()
            .filter(|f| f.ts_ns >= order.placed_ts_ns && now_ns.saturating_sub(f.ts_ns) <= self.config.cancel_window_ns)
            .filter(|f| link == 0 || f.placed_ts_ns.is_some_and(|p| p.abs_diff(order.placed_ts_ns) <= link))
            .filter(|f| link == 0 || f.placed_ts_ns.is_some_and(|p| f.ts_ns.saturating_sub(p) <= max_age))
            .filter(|f| link == 0 || f.complete || !self.config.require_complete_fill)
            .filter(|f| {
                link == 0
                    || i128::from(order.original_qty) * 100
                        >= i128::from(f.order_qty) * i128::from(self.config.min_size_over_linked_pct)
            })
            .copied()
            .max_by_key(|f| f.ts_ns)
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
