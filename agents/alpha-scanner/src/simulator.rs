//! A deterministic, labelled order-flow simulator for scoring the spoofing
//! detector: synthetic background flow (adds, cancels, executions around a
//! drifting touch) with spoofing episodes and hard negatives injected, each
//! episode labelled with its kind, side and time span.
use qp_book::{BookSide, L3Event, L3Kind, OrderId};

/// SplitMix64 (Steele, Lea & Flood 2014): small, fast, seedable; enough for a simulator.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` ≥ 1).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n.max(1))) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }

    /// True with probability `pct`/100.
    pub fn percent(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }

    /// An exponential gap with the given mean, in integer ns (at least 1).
    pub fn exponential_ns(&mut self, mean_ns: u64) -> u64 {
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
    /// Share of episodes that are hard negatives (split evenly among the three kinds).
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
    /// Execute the oldest order at the best price of a side (the episode's own fill).
    Fill(BookSide),
    /// Delete an episode order if it still rests; `episode` is its index, to stamp the end.
    Cancel { id: OrderId, episode: usize },
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
        // 20 % to 180 % of the mean: never near a large order.
        let mean = self.config.mean_order_lots.max(1) as u64;
        self.rng.between(mean / 5, mean * 9 / 5).max(1) as i64
    }

    fn large_qty(&mut self) -> i64 {
        let mean = self.config.mean_order_lots.max(1) as u64;
        self.rng.between(mean * 6, mean * 15) as i64
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
        let roll = self.rng.below(100) as u32;
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
            let behind = (self.rng.below(4) * self.rng.below(4)) as i64;
            self.price_behind(side, behind)
        };
        let qty = self.background_qty();
        self.add(side, price, qty);
    }

    fn background_cancel(&mut self) {
        if self.orders.is_empty() {
            return;
        }
        let i = self.rng.below(self.orders.len() as u64) as usize;
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

    /// Execute the front order at a side's best price: `qty` of it, or all of it.
    fn execute_best(&mut self, side: BookSide, qty: Option<i64>) {
        let Some(best) = self.best(side) else { return };
        let Some(i) = self.orders.iter().position(|o| o.side == side && o.price == best) else { return };
        let order = self.orders[i];
        let qty = qty.map_or(order.qty, |q| q.min(order.qty));
        if qty == order.qty {
            self.orders.remove(i);
        } else {
            self.orders[i].qty -= qty;
        }
        self.push(L3Kind::Execute, order, qty);
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
            match self.rng.below(3) {
                0 => EpisodeKind::LargeResting(style),
                1 => EpisodeKind::LargeCancelledWithoutFill(style),
                _ => EpisodeKind::OrdinaryFillAndCancel(style),
            }
        } else {
            EpisodeKind::Spoof(style)
        };
        let side = self.random_side();
        let layers = match style {
            EpisodeStyle::SingleOrder => 1,
            EpisodeStyle::Layering => self.rng.between(3, 5) as i64,
        };
        let first_behind = self.rng.between(1, 3) as i64;
        let episode = self.episodes.len();
        self.episodes.push(LabelledEpisode { kind, side, start_ts_ns: self.now_ns, end_ts_ns: self.now_ns });
        let mut ids = [0; 5];
        for (layer, id) in ids.iter_mut().enumerate().take(layers as usize) {
            let qty = match kind {
                EpisodeKind::OrdinaryFillAndCancel(_) => self.background_qty(),
                _ => self.large_qty(),
            };
            let price = self.price_behind(side, first_behind + layer as i64);
            *id = self.add(side, price, qty);
            self.episode_orders.push(*id);
        }
        // How long the orders rest before the fill (or the cancel).
        let hold_ns = self.rng.between(50_000_000, 300_000_000);
        let mut cancel_at = self.now_ns + hold_ns;
        match kind {
            EpisodeKind::Spoof(_) | EpisodeKind::OrdinaryFillAndCancel(_) => {
                self.pending.push((self.now_ns + hold_ns, Action::Fill(side.opposite())));
                // The reaction: 1 to 20 ms after the fill.
                cancel_at += self.rng.between(1_000_000, 20_000_000);
            }
            EpisodeKind::LargeResting(_) => cancel_at = self.now_ns + self.rng.between(3_000_000_000, 6_000_000_000),
            EpisodeKind::LargeCancelledWithoutFill(_) => {}
        }
        for &id in ids.iter().take(layers as usize) {
            self.pending.push((cancel_at, Action::Cancel { id, episode }));
            // Layers go one after another, up to 2 ms apart.
            cancel_at += self.rng.between(100_000, 2_000_000);
        }
    }

    fn run_action(&mut self, action: Action) {
        match action {
            Action::Fill(side) => self.execute_best(side, None),
            Action::Cancel { id, episode } => {
                self.episode_orders.retain(|&o| o != id);
                if let Some(i) = self.orders.iter().position(|o| o.id == id) {
                    let order = self.orders.remove(i);
                    self.push(L3Kind::Delete, order, order.qty);
                }
                if let Some(e) = self.episodes.get_mut(episode) {
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
            let next_pending = self.pending.iter().map(|&(ts, _)| ts).min();
            let episode_due = self.pending.is_empty() && next_episode <= next_background;
            let pending_due = next_pending.is_some_and(|ts| ts <= next_background);
            let ts = if pending_due {
                next_pending.unwrap_or(next_background)
            } else if episode_due {
                next_episode
            } else {
                next_background
            };
            if ts > self.config.duration_ns {
                break;
            }
            self.now_ns = ts;
            if pending_due {
                let Some(i) = self.pending.iter().position(|&(t, _)| t == ts) else { break };
                let (_, action) = self.pending.remove(i);
                self.run_action(action);
                if self.pending.is_empty() {
                    next_episode = self.now_ns + self.rng.exponential_ns(self.config.episode_gap_ns);
                }
            } else if episode_due {
                self.start_episode();
            } else {
                self.background_event();
                next_background = self.now_ns + self.rng.exponential_ns(gap_ns);
            }
        }
        if !self.pending.is_empty() {
            // The run ended inside an episode: it has no complete label.
            self.episodes.pop();
        }
    }
}
