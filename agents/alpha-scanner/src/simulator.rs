//! A deterministic, labelled order-flow simulator for scoring the spoofing
//! detector: synthetic background flow (adds, cancels, executions around a
//! drifting touch, with block orders, some of them requoted within
//! milliseconds) with spoofing episodes and hard negatives injected, each
//! episode labelled with its kind, side and time span.
//!
//! # A spoofing episode
//!
//! Modelled on the pattern of the Coscia case (2015): the spoofer
//! holds one *genuine* order of ordinary size at the touch on the side it
//! wants to trade, and rests 1 (single order) or 3–5 (layering, consecutive
//! levels) *fake* orders of 2–6× the mean size 1–3 ticks behind the touch on
//! the other side. The genuine order is placed 1–40 ms before or after the fake
//! ones (45 % each), or, in 10 % of the episodes, 0.5–3 s before them (a
//! resting order the spoofer then tries to get filled: the detector is not
//! expected to link those). 50–300 ms after the fake orders go in, marketable
//! flow sweeps the genuine order's side up to and including it (the orders
//! ahead of it are filled first); background executions may fill it earlier.
//! The spoofer reacts to its own fill 1–50 ms later, pulling the fake orders
//! one after another (0.1–3 ms apart); in a quarter of the episodes it reduces
//! each by a partial cancel of 40–95 % instead of deleting it.
//!
//! # Hard negatives
//!
//! - [`EpisodeKind::LargeResting`]: fake-sized orders behind the touch that rest 3–6 s.
//! - [`EpisodeKind::LargeCancelledWithoutFill`]: the same, pulled after 50–300 ms with no fill
//!   of their own (background fills land nearby at busy rates).
//! - [`EpisodeKind::OrdinaryFillAndCancel`]: the whole spoof pattern, genuine order included,
//!   with ordinary sizes (a market maker re-quoting after a fill).
//! - [`EpisodeKind::PullAfterUnrelatedFill`]: large orders behind the touch pulled 1–50 ms after
//!   the other side's front order (an old, unrelated order) is filled: a trader withdrawing after
//!   the market traded through the other side. The coincidence made certain.
//!
//! And in the background, `block_order_pct` of the adds are block orders of
//! 2–8× the mean size (so "large" alone proves nothing), half of them pulled
//! again after 20–400 ms (market makers requoting): large, away from the touch,
//! short-lived and, at busy rates, often cancelled within milliseconds of some
//! fill on the other side. For scale, in the LOBSTER AAPL sample
//! (2012-06-21, its first 49 s) 7 % of the adds are at least twice the mean
//! add size, and 13 of those 34 were cancelled within 0.4 s: the 3 % default
//! is, if anything, mild.
use qp_book::{BookSide, L3Event, L3Kind, OrderId};

/// The simulator's generator (`qp-seeded-random`), re-exported as part of its API.
pub use qp_seeded_random::SplitMix64;

/// The simulator's own draws. Like every draw of a range here (`below_multiply_shift`), they
/// use the high bits of a draw: the labelled flows, and the scores in the README, depend on
/// this exact stream.
trait SimulatorDraws {
    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64;
    /// True with probability `pct`/100.
    fn percent(&mut self, pct: u64) -> bool;
    /// An exponential gap with the given mean, in integer ns (at least 1).
    fn exponential_ns(&mut self, mean_ns: u64) -> u64;
}

impl SimulatorDraws for SplitMix64 {
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below_multiply_shift((hi.saturating_sub(lo) + 1) as usize) as u64
    }

    fn percent(&mut self, pct: u64) -> bool {
        (self.below_multiply_shift(100) as u64) < pct
    }

    fn exponential_ns(&mut self, mean_ns: u64) -> u64 {
        // −ln(U)·mean with U in (0, 1]; 53 random bits.
        let u = ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64;
        ((-u.ln() * mean_ns as f64) as u64).max(1)
    }
}

/// How an injected spoofing episode looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EpisodeStyle {
    /// One large order behind the touch.
    SingleOrder,
    /// Three to five large orders on consecutive levels behind the touch.
    Layering,
}

/// Which episodes a run injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EpisodeMix {
    SingleOrder,
    Layering,
    /// Each episode's style drawn at random.
    Mixed,
}

/// What an injected episode is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EpisodeKind {
    /// Large orders behind the touch, a fill on the other side, the orders cancelled right after.
    Spoof(EpisodeStyle),
    /// Hard negative: large orders behind the touch that rest for seconds (beyond any spoof's lifetime).
    LargeResting(EpisodeStyle),
    /// Hard negative: large orders behind the touch, cancelled with no fill of the episode's own
    /// (background fills may still happen nearby, as they would in a real market).
    LargeCancelledWithoutFill(EpisodeStyle),
    /// Hard negative: the spoof pattern with ordinary-size orders (a market maker re-quoting after a fill).
    OrdinaryFillAndCancel(EpisodeStyle),
    /// Hard negative: large orders behind the touch pulled right after a fill of an old, unrelated
    /// order on the other side (withdrawing after the market traded through).
    PullAfterUnrelatedFill(EpisodeStyle),
}

impl EpisodeKind {
    pub fn is_spoof(self) -> bool {
        matches!(self, EpisodeKind::Spoof(_))
    }
}

/// One injected episode and its label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelledEpisode {
    pub kind: EpisodeKind,
    /// The side the episode's orders rest on (for a spoof: the spoofed side).
    pub side: BookSide,
    /// First order placed.
    pub start_ts_ns: u64,
    /// Last order cancelled.
    pub end_ts_ns: u64,
}

/// One simulated book event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimulatedEvent {
    pub ts_ns: u64,
    pub event: L3Event,
}

/// A simulated stream with its labels.
#[derive(Debug, Clone)]
pub struct SimulatedFlow {
    pub events: Vec<SimulatedEvent>,
    pub episodes: Vec<LabelledEpisode>,
    pub tick: i64,
    pub lot: i64,
}

/// How busy the background flow is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackgroundIntensity {
    /// About 50 book events a second (a fill on each side about every second).
    Calm,
    /// About 200 a second.
    Normal,
    /// About 1,000 a second (a fill on each side every ~50 ms).
    Busy,
}

impl BackgroundIntensity {
    pub const ALL: [BackgroundIntensity; 3] =
        [BackgroundIntensity::Calm, BackgroundIntensity::Normal, BackgroundIntensity::Busy];

    /// Mean gap between background events.
    pub fn mean_gap_ns(self) -> u64 {
        match self {
            BackgroundIntensity::Calm => 20_000_000,
            BackgroundIntensity::Normal => 5_000_000,
            BackgroundIntensity::Busy => 1_000_000,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            BackgroundIntensity::Calm => "calm",
            BackgroundIntensity::Normal => "normal",
            BackgroundIntensity::Busy => "busy",
        }
    }
}

/// What to simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimulatorConfig {
    pub seed: u64,
    /// Simulated feed time.
    pub duration_ns: u64,
    pub intensity: BackgroundIntensity,
    pub mix: EpisodeMix,
    /// Mean quiet gap between one episode's end and the next one's start.
    pub episode_gap_ns: u64,
    /// Share of episodes that are hard negatives (split evenly among the four kinds).
    pub hard_negative_pct: u32,
    /// Mean size of a background order, in lots.
    pub mean_order_lots: i64,
    /// Percentage of background events that are executions (fills at the touch).
    pub execution_pct: u32,
    /// Price grid step and initial best bid (in price units; the ask starts one tick above).
    pub tick: i64,
    pub start_bid: i64,
    /// Background orders the book hovers around.
    pub target_orders: usize,
    /// Percentage of background adds that are block orders (2–8× the mean size;
    /// half of them are pulled again 20–400 ms later).
    pub block_order_pct: u32,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            seed: 0x5EED_0F5B_00F1_0001,
            duration_ns: 300_000_000_000,
            intensity: BackgroundIntensity::Normal,
            mix: EpisodeMix::Mixed,
            episode_gap_ns: 1_000_000_000,
            hard_negative_pct: 50,
            mean_order_lots: 100,
            execution_pct: 8,
            tick: 100,
            start_bid: 5_850_000,
            target_orders: 200,
            block_order_pct: 3,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct SimOrder {
    id: OrderId,
    side: BookSide,
    price: i64,
    qty: i64,
}

#[derive(Debug, Clone, Copy)]
enum Action {
    /// Place the episode's large (or, for [`EpisodeKind::OrdinaryFillAndCancel`], ordinary) orders.
    PlaceLayers,
    /// Place the spoofer's genuine order at the other side's touch.
    PlaceGenuine,
    /// Marketable flow against the genuine order: everything ahead of it, then it.
    Sweep,
    /// Fill the front order at the other side's touch, then pull the layers (unrelated-fill negative).
    FillFrontThenPull,
    /// Pull the layers now (schedules the cancels).
    Pull,
    /// Cancel one episode order: delete it, or cancel this percentage of it.
    Cancel { id: OrderId, partial_pct: Option<u32> },
}

/// The episode being played.
#[derive(Debug, Clone, Copy)]
struct Active {
    index: usize,
    kind: EpisodeKind,
    /// The side the layers rest on.
    side: BookSide,
    layers: usize,
    first_behind: i64,
    ids: [OrderId; 5],
    placed: bool,
    genuine: Option<OrderId>,
    /// A genuine order was placed (and may since have been filled).
    genuine_placed: bool,
    reacted: bool,
    partial: bool,
}

/// Generates a labelled flow. Deterministic for a given configuration.
pub fn simulate(config: &SimulatorConfig) -> SimulatedFlow {
    let mut sim = Simulator::new(config);
    sim.run();
    SimulatedFlow { events: sim.events, episodes: sim.episodes, tick: config.tick, lot: 1 }
}

struct Simulator<'c> {
    config: &'c SimulatorConfig,
    rng: SplitMix64,
    now_ns: u64,
    next_id: OrderId,
    /// Resting orders, in arrival order (so the first at a price is the front of its queue).
    orders: Vec<SimOrder>,
    /// Ids of orders that belong to episodes (the background never cancels them).
    episode_orders: Vec<OrderId>,
    pending: Vec<(u64, Action)>,
    /// Background block orders a market maker will pull (not episodes).
    requotes: Vec<(u64, OrderId)>,
    active: Option<Active>,
    events: Vec<SimulatedEvent>,
    episodes: Vec<LabelledEpisode>,
}

impl<'c> Simulator<'c> {
    fn new(config: &'c SimulatorConfig) -> Self {
        Self {
            config,
            rng: SplitMix64::new(config.seed),
            now_ns: 0,
            next_id: 1,
            orders: Vec::new(),
            episode_orders: Vec::new(),
            pending: Vec::new(),
            requotes: Vec::new(),
            active: None,
            events: Vec::new(),
            episodes: Vec::new(),
        }
    }

    fn best(&self, side: BookSide) -> Option<i64> {
        let prices = self.orders.iter().filter(|o| o.side == side).map(|o| o.price);
        match side {
            BookSide::Bid => prices.max(),
            BookSide::Ask => prices.min(),
        }
    }

    fn push(&mut self, kind: L3Kind, order: SimOrder, qty: i64) {
        self.events.push(SimulatedEvent {
            ts_ns: self.now_ns,
            event: L3Event { kind, id: order.id, side: order.side, price: order.price, qty },
        });
    }

    fn add(&mut self, side: BookSide, price: i64, qty: i64) -> OrderId {
        let order = SimOrder { id: self.next_id, side, price, qty: qty.max(1) };
        self.next_id += 1;
        self.orders.push(order);
        self.push(L3Kind::Add, order, order.qty);
        order.id
    }

    fn background_qty(&mut self) -> i64 {
        // 20 % to 180 % of the mean.
        let mean = self.config.mean_order_lots.max(1) as u64;
        self.rng.between(mean / 5, mean * 9 / 5).max(1) as i64
    }

    fn block_qty(&mut self) -> i64 {
        let mean = self.config.mean_order_lots.max(1) as u64;
        self.rng.between(mean * 2, mean * 8) as i64
    }

    fn large_qty(&mut self) -> i64 {
        // Fake orders only 2–6× the mean: no bigger than the background's block orders.
        let mean = self.config.mean_order_lots.max(1) as u64;
        self.rng.between(mean * 2, mean * 6) as i64
    }

    /// A price `ticks_behind` behind a side's touch (a fresh touch if the side is empty).
    fn price_behind(&self, side: BookSide, ticks_behind: i64) -> i64 {
        let tick = self.config.tick;
        let touch = match (self.best(side), side) {
            (Some(p), _) => p,
            (None, BookSide::Bid) => self.best(BookSide::Ask).map_or(self.config.start_bid, |a| a - tick),
            (None, BookSide::Ask) => self.best(BookSide::Bid).map_or(self.config.start_bid + tick, |b| b + tick),
        };
        let price = match side {
            BookSide::Bid => touch - ticks_behind * tick,
            BookSide::Ask => touch + ticks_behind * tick,
        };
        price.max(tick)
    }

    fn spread_ticks(&self) -> i64 {
        match (self.best(BookSide::Bid), self.best(BookSide::Ask)) {
            (Some(b), Some(a)) => (a - b) / self.config.tick,
            _ => 1,
        }
    }

    fn random_side(&mut self) -> BookSide {
        if self.rng.percent(50) { BookSide::Bid } else { BookSide::Ask }
    }

    fn seed_book(&mut self) {
        for side in [BookSide::Bid, BookSide::Ask] {
            for level in 0..10 {
                for _ in 0..self.rng.between(1, 3) {
                    let base = match side {
                        BookSide::Bid => self.config.start_bid,
                        BookSide::Ask => self.config.start_bid + self.config.tick,
                    };
                    let price = match side {
                        BookSide::Bid => base - level * self.config.tick,
                        BookSide::Ask => base + level * self.config.tick,
                    };
                    let qty = self.background_qty();
                    self.add(side, price, qty);
                }
            }
        }
    }

    fn side_count(&self, side: BookSide) -> usize {
        self.orders.iter().filter(|o| o.side == side).count()
    }

    fn background_event(&mut self) {
        let tick = self.config.tick;
        let roll = self.rng.below_multiply_shift(100) as u32;
        let thin = [BookSide::Bid, BookSide::Ask].into_iter().find(|&s| self.side_count(s) < 5);
        let add_pct = if self.orders.len() < self.config.target_orders { 58 } else { 42 };
        if let Some(side) = thin.filter(|_| roll >= self.config.execution_pct) {
            self.background_add(side, tick);
        } else if roll < self.config.execution_pct {
            let side = self.random_side();
            let qty = self.background_qty();
            self.execute_best(side, Some(qty));
        } else if roll < self.config.execution_pct + add_pct {
            let side = self.random_side();
            self.background_add(side, tick);
        } else {
            self.background_cancel();
        }
    }

    fn background_add(&mut self, side: BookSide, tick: i64) {
        let spread_ticks = match (self.best(BookSide::Bid), self.best(BookSide::Ask)) {
            (Some(b), Some(a)) => (a - b) / tick,
            _ => 1,
        };
        let price = if spread_ticks > 1 && self.rng.percent(30) {
            // Improve the touch by one tick.
            self.price_behind(side, -1)
        } else {
            // Geometric-ish distance behind the touch: mostly near it.
            let behind = (self.rng.below_multiply_shift(4) * self.rng.below_multiply_shift(4)) as i64;
            self.price_behind(side, behind)
        };
        if self.rng.percent(u64::from(self.config.block_order_pct)) {
            let qty = self.block_qty();
            let id = self.add(side, price, qty);
            if self.rng.percent(50) {
                // A market maker's block quote, requoted within milliseconds.
                let at = self.now_ns + self.rng.between(20_000_000, 400_000_000);
                self.requotes.push((at, id));
            }
        } else {
            let qty = self.background_qty();
            self.add(side, price, qty);
        }
    }

    fn background_cancel(&mut self) {
        if self.orders.is_empty() {
            return;
        }
        let i = self.rng.below_multiply_shift(self.orders.len());
        let order = self.orders[i];
        if self.episode_orders.contains(&order.id) {
            return;
        }
        if order.qty > 1 && self.rng.percent(10) {
            let part = self.rng.between(1, (order.qty - 1) as u64) as i64;
            self.orders[i].qty -= part;
            self.push(L3Kind::Cancel, order, part);
        } else {
            self.orders.remove(i);
            self.push(L3Kind::Delete, order, order.qty);
        }
    }

    fn requote(&mut self, id: OrderId) {
        if let Some(i) = self.orders.iter().position(|o| o.id == id) {
            let order = self.orders.remove(i);
            self.push(L3Kind::Delete, order, order.qty);
        }
    }

    /// Execute `qty` (or all) of the resting order at index `i`; the spoofer reacts to its own fill.
    fn execute_at(&mut self, i: usize, qty: Option<i64>) {
        let order = self.orders[i];
        let qty = qty.map_or(order.qty, |q| q.min(order.qty));
        let filled = qty == order.qty;
        if filled {
            self.orders.remove(i);
        } else {
            self.orders[i].qty -= qty;
        }
        self.push(L3Kind::Execute, order, qty);
        if filled {
            self.on_filled(order.id);
        }
    }

    /// Index of the front order at a side's best price.
    fn front(&self, side: BookSide) -> Option<usize> {
        let best = self.best(side)?;
        self.orders.iter().position(|o| o.side == side && o.price == best)
    }

    /// Execute the front order at a side's best price: `qty` of it, or all of it.
    fn execute_best(&mut self, side: BookSide, qty: Option<i64>) {
        if let Some(i) = self.front(side) {
            self.execute_at(i, qty);
        }
    }

    fn on_filled(&mut self, id: OrderId) {
        let Some(active) = self.active else { return };
        if active.genuine != Some(id) {
            return;
        }
        self.episode_orders.retain(|&o| o != id);
        if let Some(a) = self.active.as_mut() {
            a.genuine = None;
        }
        if active.placed && !active.reacted {
            // The reaction to its own fill: 1 to 50 ms.
            let at = self.now_ns + self.rng.between(1_000_000, 50_000_000);
            self.schedule_cancels(at);
        }
    }

    fn schedule_cancels(&mut self, mut at: u64) {
        let Some(active) = self.active else { return };
        if active.reacted {
            return;
        }
        for &id in active.ids.iter().take(active.layers) {
            let partial_pct = active.partial.then(|| self.rng.between(40, 95) as u32);
            self.pending.push((at, Action::Cancel { id, partial_pct }));
            // Layers go one after another, 0.1 to 3 ms apart.
            at += self.rng.between(100_000, 3_000_000);
        }
        if let Some(a) = self.active.as_mut() {
            a.reacted = true;
        }
    }

    fn place_genuine(&mut self) {
        let Some(active) = self.active else { return };
        let side = active.side.opposite();
        let price = if self.spread_ticks() > 1 && self.rng.percent(50) {
            self.price_behind(side, -1)
        } else {
            self.price_behind(side, 0)
        };
        let qty = self.background_qty();
        let id = self.add(side, price, qty);
        self.episode_orders.push(id);
        if let Some(a) = self.active.as_mut() {
            a.genuine = Some(id);
            a.genuine_placed = true;
        }
    }

    fn place_layers(&mut self) {
        let Some(mut active) = self.active else { return };
        if let Some(e) = self.episodes.get_mut(active.index) {
            e.start_ts_ns = self.now_ns;
            e.end_ts_ns = self.now_ns;
        }
        for layer in 0..active.layers {
            let qty = match active.kind {
                EpisodeKind::OrdinaryFillAndCancel(_) => self.background_qty(),
                _ => self.large_qty(),
            };
            let price = self.price_behind(active.side, active.first_behind + layer as i64);
            let id = self.add(active.side, price, qty);
            active.ids[layer] = id;
            self.episode_orders.push(id);
        }
        active.placed = true;
        let spoof_like = matches!(active.kind, EpisodeKind::Spoof(_) | EpisodeKind::OrdinaryFillAndCancel(_));
        self.active = Some(active);
        if spoof_like && active.genuine_placed && active.genuine.is_none() {
            // The genuine order was filled before the layers went in: the spoofer places another.
            self.place_genuine();
        }
        // How long the layers rest before the fill (or the pull).
        let hold_ns = self.rng.between(50_000_000, 300_000_000);
        let at = self.now_ns + hold_ns;
        match active.kind {
            EpisodeKind::Spoof(_) | EpisodeKind::OrdinaryFillAndCancel(_) => self.pending.push((at, Action::Sweep)),
            EpisodeKind::PullAfterUnrelatedFill(_) => self.pending.push((at, Action::FillFrontThenPull)),
            EpisodeKind::LargeResting(_) => {
                let at = self.now_ns + self.rng.between(3_000_000_000, 6_000_000_000);
                self.pending.push((at, Action::Pull));
            }
            EpisodeKind::LargeCancelledWithoutFill(_) => self.pending.push((at, Action::Pull)),
        }
    }

    /// Marketable flow against the genuine order's side, in price-time priority, up to and including it.
    fn sweep(&mut self) {
        while let Some(genuine) = self.active.and_then(|a| a.genuine) {
            let Some(side) = self.orders.iter().find(|o| o.id == genuine).map(|o| o.side) else { break };
            let Some(i) = self.front(side) else { break };
            self.execute_at(i, None);
        }
    }

    fn start_episode(&mut self) {
        let style = match self.config.mix {
            EpisodeMix::SingleOrder => EpisodeStyle::SingleOrder,
            EpisodeMix::Layering => EpisodeStyle::Layering,
            EpisodeMix::Mixed => {
                if self.rng.percent(50) {
                    EpisodeStyle::SingleOrder
                } else {
                    EpisodeStyle::Layering
                }
            }
        };
        let kind = if self.rng.percent(u64::from(self.config.hard_negative_pct)) {
            match self.rng.below_multiply_shift(4) {
                0 => EpisodeKind::LargeResting(style),
                1 => EpisodeKind::LargeCancelledWithoutFill(style),
                2 => EpisodeKind::OrdinaryFillAndCancel(style),
                _ => EpisodeKind::PullAfterUnrelatedFill(style),
            }
        } else {
            EpisodeKind::Spoof(style)
        };
        let side = self.random_side();
        let layers = match style {
            EpisodeStyle::SingleOrder => 1,
            EpisodeStyle::Layering => self.rng.between(3, 5) as usize,
        };
        let first_behind = self.rng.between(1, 3) as i64;
        let index = self.episodes.len();
        self.episodes.push(LabelledEpisode { kind, side, start_ts_ns: self.now_ns, end_ts_ns: self.now_ns });
        let partial = self.rng.percent(25);
        self.active = Some(Active {
            index,
            kind,
            side,
            layers,
            first_behind,
            ids: [0; 5],
            placed: false,
            genuine: None,
            genuine_placed: false,
            reacted: false,
            partial,
        });
        match kind {
            EpisodeKind::Spoof(_) | EpisodeKind::OrdinaryFillAndCancel(_) => {
                let roll = self.rng.below_multiply_shift(100);
                let offset = self.rng.between(1_000_000, 40_000_000);
                if roll < 45 {
                    // Genuine first, the layers 1–40 ms later.
                    self.place_genuine();
                    self.pending.push((self.now_ns + offset, Action::PlaceLayers));
                } else if roll < 90 {
                    // Layers first, the genuine order 1–40 ms later.
                    self.place_layers();
                    self.pending.push((self.now_ns + offset, Action::PlaceGenuine));
                } else {
                    // A resting genuine order; the layers 0.5–3 s later.
                    self.place_genuine();
                    let at = self.now_ns + self.rng.between(500_000_000, 3_000_000_000);
                    self.pending.push((at, Action::PlaceLayers));
                }
            }
            _ => self.place_layers(),
        }
    }

    fn run_action(&mut self, action: Action) {
        match action {
            Action::PlaceLayers => self.place_layers(),
            Action::PlaceGenuine => {
                if self.active.is_some_and(|a| a.genuine.is_none() && !a.reacted) {
                    self.place_genuine();
                }
            }
            Action::Sweep => self.sweep(),
            Action::FillFrontThenPull => {
                let side = self.active.map(|a| a.side.opposite());
                if let Some(side) = side {
                    // The front order of the other side's touch: not one of the episode's.
                    if let Some(i) = self.front(side).filter(|&i| !self.episode_orders.contains(&self.orders[i].id)) {
                        self.execute_at(i, None);
                    }
                    let at = self.now_ns + self.rng.between(1_000_000, 50_000_000);
                    self.schedule_cancels(at);
                }
            }
            Action::Pull => self.schedule_cancels(self.now_ns),
            Action::Cancel { id, partial_pct } => {
                self.episode_orders.retain(|&o| o != id);
                if let Some(i) = self.orders.iter().position(|o| o.id == id) {
                    let order = self.orders[i];
                    let part =
                        partial_pct.map(|pct| order.qty * i64::from(pct) / 100).filter(|&p| p > 0 && p < order.qty);
                    if let Some(part) = part {
                        // The rest stays in the book as an ordinary order.
                        self.orders[i].qty -= part;
                        self.push(L3Kind::Cancel, order, part);
                    } else {
                        self.orders.remove(i);
                        self.push(L3Kind::Delete, order, order.qty);
                    }
                }
                if let Some(e) = self.active.and_then(|a| self.episodes.get_mut(a.index)) {
                    e.end_ts_ns = self.now_ns;
                }
            }
        }
    }

    fn run(&mut self) {
        self.seed_book();
        let gap_ns = self.config.intensity.mean_gap_ns();
        let mut next_background = self.rng.exponential_ns(gap_ns);
        // Let the background settle (and the detector learn the typical size) first.
        let mut next_episode = 5_000_000_000 + self.rng.exponential_ns(self.config.episode_gap_ns);
        loop {
            let next_pending = self.pending.iter().map(|&(ts, _)| ts).min().unwrap_or(u64::MAX);
            let next_requote = self.requotes.iter().map(|&(ts, _)| ts).min().unwrap_or(u64::MAX);
            let next_start = if self.pending.is_empty() { next_episode } else { u64::MAX };
            let ts = next_background.min(next_pending).min(next_requote).min(next_start);
            // Ties: requotes, then the episode's actions, then a new episode, then the background.
            let requote_due = next_requote == ts;
            let pending_due = !requote_due && next_pending == ts;
            let episode_due = !requote_due && !pending_due && next_start == ts;
            if ts > self.config.duration_ns {
                break;
            }
            self.now_ns = ts;
            if requote_due {
                let Some(i) = self.requotes.iter().position(|&(t, _)| t == ts) else { break };
                let (_, id) = self.requotes.swap_remove(i);
                self.requote(id);
            } else if pending_due {
                let Some(i) = self.pending.iter().position(|&(t, _)| t == ts) else { break };
                let (_, action) = self.pending.remove(i);
                self.run_action(action);
                if self.pending.is_empty() {
                    // The episode is over (its genuine order, if unfilled, stays as an ordinary order).
                    if let Some(g) = self.active.take().and_then(|a| a.genuine) {
                        self.episode_orders.retain(|&o| o != g);
                    }
                    next_episode = self.now_ns + self.rng.exponential_ns(self.config.episode_gap_ns);
                }
            } else if episode_due {
                self.start_episode();
            } else {
                self.background_event();
                next_background = self.now_ns + self.rng.exponential_ns(gap_ns);
            }
        }
        if self.active.is_some() {
            // The run ended inside an episode: it has no complete label.
            self.episodes.pop();
        }
    }
}
