//! The fill simulator: risk-approved orders against a replayed L2 book, queue position respected.
//!
//! Time is the caller's (the replay's feed time), handed in with every call; nothing here reads a
//! clock or draws a random number, so the same calls give the same fills.
//!
//! - An order (or a cancel) reaches the book `latency_ns` after it was sent
//!   ([`FillSimulator::send`], [`FillSimulator::cancel`]); [`FillSimulator::advance`] brings
//!   everything that has arrived by then to the book as it stands *before* the next feed event.
//! - A marketable order takes the opposite levels up to its limit, best first (partial fills
//!   across levels). The remainder of an immediate-or-cancel order expires; a GTC/Day remainder
//!   rests at its limit.
//! - A resting order joins the back of its level: `queue_ahead` is the level's displayed size when
//!   it arrives. Trade prints at its price consume `queue_ahead` first, then fill it; prints
//!   through its price fill it. A displayed size that shrinks caps (pessimistic model) or scales
//!   (proportional model) `queue_ahead`. Opposite liquidity that crosses its price fills it at its
//!   own price.
//! - Liquidity the simulated orders took is not in the replayed feed: it stays taken until the
//!   level next changes in the feed, so two orders cannot both take the same displayed size.
use std::collections::VecDeque;

use qp_book::{BookRead, BookSide, QueueQuery, TradePrint};
use qp_risk_sentinel::{ApprovedOrderSink, RiskApproved};
use qp_wire::{AssetId, ExecReport, ExecStatus, OrderIntent, Side, TimeInForce};
use zerocopy::little_endian::{I64, U16, U32, U64};

/// Orders and cancels in flight to the book, at most (past this `send` hands the order back).
pub const MAX_IN_FLIGHT: usize = 4_096;

/// Default order latency: 1 ms of feed time.
pub const DEFAULT_LATENCY_NS: u64 = 1_000_000;

/// How a resting order's `queue_ahead` follows a displayed size that shrinks without a print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueModel {
    /// Cancels come from behind the order: `queue_ahead` only falls to the displayed size when the
    /// level shrinks below it. Never fills too early; the default.
    Pessimistic,
    /// Cancels are spread evenly over the queue: `queue_ahead` shrinks in proportion to the level
    /// (rounded up).
    Proportional,
}

/// The simulator's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FillSimConfig {
    /// Feed time from send to the order (or cancel) being at the book.
    pub latency_ns: u64,
    pub queue_model: QueueModel,
}

impl Default for FillSimConfig {
    fn default() -> Self {
        Self { latency_ns: DEFAULT_LATENCY_NS, queue_model: QueueModel::Pessimistic }
    }
}

/// Whether a fill took liquidity (crossed) or was taken while resting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liquidity {
    Maker,
    Taker,
}

/// One fill, as the simulator made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill {
    /// Feed time of the fill.
    pub ts_ns: u64,
    pub intent_id: u64,
    pub asset: AssetId,
    pub side: Side,
    pub qty_lots: i64,
    /// Ticks.
    pub price: i64,
    pub liquidity: Liquidity,
}

/// What the simulator produced: an execution report, with the fill it reports if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimOutput {
    pub ts_ns: u64,
    pub report: ExecReport,
    pub fill: Option<Fill>,
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FillSimStats {
    pub orders: u64,
    pub rejected: u64,
    pub fills: u64,
    pub maker_fills: u64,
    pub taker_fills: u64,
    pub filled_lots: i64,
    /// Immediate-or-cancel remainders that expired.
    pub expired: u64,
    pub cancels: u64,
    /// Cancels that arrived after their order had filled (or for no order of ours).
    pub cancels_too_late: u64,
    /// Orders handed back because [`MAX_IN_FLIGHT`] were in flight.
    pub refused: u64,
}

/// A resting order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkingOrder {
    pub intent_id: u64,
    pub asset: AssetId,
    pub side: Side,
    pub limit_price: i64,
    pub qty_lots: i64,
    pub cum_lots: i64,
    /// Displayed size ahead of it at its price.
    pub queue_ahead_lots: i64,
    /// The level's displayed size when last looked at.
    level_seen_lots: i64,
}

impl WorkingOrder {
    pub fn leaves_lots(&self) -> i64 {
        self.qty_lots - self.cum_lots
    }
}

#[derive(Debug, Clone, Copy)]
enum InFlight {
    Order(OrderIntent),
    Cancel(u64),
}

/// Displayed liquidity a simulated order took, valid while the level still shows `displayed`.
#[derive(Debug, Clone, Copy)]
struct Taken {
    asset: AssetId,
    side: BookSide,
    price: i64,
    displayed: i64,
    taken: i64,
}

/// See the module docs.
#[derive(Debug)]
pub struct FillSimulator {
    config: FillSimConfig,
    now_ns: u64,
    sequence: u64,
    /// (arrival time, sequence, what): kept sorted.
    in_flight: VecDeque<(u64, u64, InFlight)>,
    working: Vec<WorkingOrder>,
    taken: Vec<Taken>,
    outputs: Vec<SimOutput>,
    stats: FillSimStats,
}

fn own_side(side: Side) -> BookSide {
    match side {
        Side::Buy => BookSide::Bid,
        Side::Sell => BookSide::Ask,
    }
}

/// Whether opposite liquidity at `price` crosses an order's limit.
fn crosses(side: Side, limit: i64, price: i64) -> bool {
    match side {
        Side::Buy => price <= limit,
        Side::Sell => price >= limit,
    }
}

#[allow(clippy::too_many_arguments)]
fn exec_report(
    intent_id: u64,
    asset: AssetId,
    side: Side,
    status: ExecStatus,
    last_qty: i64,
    last_price: i64,
    cum_qty: i64,
    leaves_qty: i64,
) -> ExecReport {
    ExecReport {
        intent_id: U64::new(intent_id),
        asset: U32::new(asset.get()),
        side: side as u8,
        status: status as u8,
        _pad: U16::ZERO,
        last_qty: I64::new(last_qty),
        last_price: I64::new(last_price),
        cum_qty: I64::new(cum_qty),
        leaves_qty: I64::new(leaves_qty),
    }
}

impl FillSimulator {
    pub fn new(config: FillSimConfig) -> Self {
        Self {
            config,
            now_ns: 0,
            sequence: 0,
            in_flight: VecDeque::with_capacity(256),
            working: Vec::with_capacity(256),
            taken: Vec::with_capacity(256),
            outputs: Vec::with_capacity(256),
            stats: FillSimStats::default(),
        }
    }

    pub fn config(&self) -> FillSimConfig {
        self.config
    }

    /// Feed time the simulator has been advanced to.
    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    pub fn stats(&self) -> FillSimStats {
        self.stats
    }

    /// Orders resting at the book, oldest first.
    pub fn working(&self) -> &[WorkingOrder] {
        &self.working
    }

    /// Orders and cancels sent but not yet at the book.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Reports made since the last call, oldest first.
    pub fn take_outputs(&mut self) -> std::vec::Drain<'_, SimOutput> {
        self.outputs.drain(..)
    }

    fn enqueue(&mut self, what: InFlight) {
        let arrival = self.now_ns.saturating_add(self.config.latency_ns);
        self.sequence += 1;
        let key = (arrival, self.sequence);
        let at = self.in_flight.partition_point(|&(a, s, _)| (a, s) <= key);
        self.in_flight.insert(at, (arrival, self.sequence, what));
    }

    /// Ask to cancel a resting order; it takes effect when the cancel reaches the book. A cancel
    /// that arrives after the order filled does nothing (counted in `cancels_too_late`).
    pub fn cancel(&mut self, intent_id: u64) {
        self.enqueue(InFlight::Cancel(intent_id));
    }

    /// Move the clock to `now_ns` and bring every order and cancel that has reached the book by
    /// then to it. `book_of` gives an asset's book as it stands (before the feed event at
    /// `now_ns` is applied), or `None` when there is none (the order is rejected).
    pub fn advance<'b, B: BookRead + 'b>(&mut self, now_ns: u64, mut book_of: impl FnMut(AssetId) -> Option<&'b B>) {
        while let Some(&(arrival, _, what)) = self.in_flight.front() {
            if arrival > now_ns {
                break;
            }
            self.in_flight.pop_front();
            match what {
                InFlight::Order(intent) => {
                    let book = book_of(intent.asset());
                    self.arrive(arrival, &intent, book);
                }
                InFlight::Cancel(intent_id) => self.apply_cancel(arrival, intent_id),
            }
        }
        self.now_ns = self.now_ns.max(now_ns);
    }

    fn emit(&mut self, ts_ns: u64, report: ExecReport, fill: Option<Fill>) {
        self.outputs.push(SimOutput { ts_ns, report, fill });
    }

    fn fill(&mut self, ts_ns: u64, order: &WorkingOrder, qty: i64, price: i64, liquidity: Liquidity) {
        let (cum, leaves) = (order.cum_lots, order.leaves_lots());
        let status = if leaves == 0 { ExecStatus::Filled } else { ExecStatus::PartiallyFilled };
        let report = exec_report(order.intent_id, order.asset, order.side, status, qty, price, cum, leaves);
        let fill = Fill {
            ts_ns,
            intent_id: order.intent_id,
            asset: order.asset,
            side: order.side,
            qty_lots: qty,
            price,
            liquidity,
        };
        self.stats.fills += 1;
        self.stats.filled_lots += qty;
        match liquidity {
            Liquidity::Maker => self.stats.maker_fills += 1,
            Liquidity::Taker => self.stats.taker_fills += 1,
        }
        self.emit(ts_ns, report, Some(fill));
    }

    /// Displayed size still available at a level (what simulated orders took subtracted).
    fn available(&self, asset: AssetId, side: BookSide, price: i64, displayed: i64) -> i64 {
        let taken = self
            .taken
            .iter()
            .filter(|t| t.asset == asset && t.side == side && t.price == price && t.displayed == displayed)
            .map(|t| t.taken)
            .sum::<i64>();
        (displayed - taken).max(0)
    }

    fn take(&mut self, asset: AssetId, side: BookSide, price: i64, displayed: i64, qty: i64) {
        match self
            .taken
            .iter_mut()
            .find(|t| t.asset == asset && t.side == side && t.price == price && t.displayed == displayed)
        {
            Some(t) => t.taken += qty,
            None => self.taken.push(Taken { asset, side, price, displayed, taken: qty }),
        }
    }

    /// Fill `order` from opposite liquidity that crosses its limit, best first, at `price_of`
    /// (the level's price for a taker, the order's own limit for a resting order).
    fn take_crossing<B: BookRead + ?Sized>(
        &mut self,
        ts_ns: u64,
        order: &mut WorkingOrder,
        book: &B,
        liquidity: Liquidity,
    ) {
        let opposite = own_side(order.side).opposite();
        let mut index = 0;
        while order.leaves_lots() > 0 {
            let Some(level) = book.level(opposite, index) else { break };
            if !crosses(order.side, order.limit_price, level.price) {
                break;
            }
            index += 1;
            let qty = self.available(order.asset, opposite, level.price, level.qty).min(order.leaves_lots());
            if qty <= 0 {
                continue;
            }
            self.take(order.asset, opposite, level.price, level.qty, qty);
            order.cum_lots += qty;
            let price = match liquidity {
                Liquidity::Taker => level.price,
                Liquidity::Maker => order.limit_price,
            };
            self.fill(ts_ns, order, qty, price, liquidity);
        }
    }

    fn arrive<B: BookRead + ?Sized>(&mut self, ts_ns: u64, intent: &OrderIntent, book: Option<&B>) {
        self.stats.orders += 1;
        let (intent_id, asset) = (intent.intent_id.get(), intent.asset());
        let (qty, limit) = (intent.qty.get(), intent.limit_price.get());
        let tif = TimeInForce::from_wire(intent.time_in_force);
        let (Some(side), Some(tif), Some(book), true) = (intent.side(), tif, book, qty > 0 && limit > 0) else {
            self.stats.rejected += 1;
            let side = intent.side().unwrap_or(Side::Buy);
            let report = exec_report(intent_id, asset, side, ExecStatus::Rejected, 0, 0, 0, 0);
            self.emit(ts_ns, report, None);
            return;
        };
        let mut order = WorkingOrder {
            intent_id,
            asset,
            side,
            limit_price: limit,
            qty_lots: qty,
            cum_lots: 0,
            queue_ahead_lots: 0,
            level_seen_lots: 0,
        };
        self.take_crossing(ts_ns, &mut order, book, Liquidity::Taker);
        if order.leaves_lots() == 0 {
            return;
        }
        if tif == TimeInForce::ImmediateOrCancel {
            self.stats.expired += 1;
            let report = exec_report(intent_id, asset, side, ExecStatus::Canceled, 0, 0, order.cum_lots, 0);
            self.emit(ts_ns, report, None);
            return;
        }
        let displayed = book.queue_ahead(QueueQuery::JoinAt { side: own_side(side), price: limit }).unwrap_or(0);
        order.queue_ahead_lots = displayed;
        order.level_seen_lots = displayed;
        if order.cum_lots == 0 {
            let report = exec_report(intent_id, asset, side, ExecStatus::New, 0, 0, 0, qty);
            self.emit(ts_ns, report, None);
        }
        self.working.push(order);
    }

    fn apply_cancel(&mut self, ts_ns: u64, intent_id: u64) {
        match self.working.iter().position(|o| o.intent_id == intent_id) {
            Some(index) => {
                let order = self.working.remove(index);
                self.stats.cancels += 1;
                let report =
                    exec_report(intent_id, order.asset, order.side, ExecStatus::Canceled, 0, 0, order.cum_lots, 0);
                self.emit(ts_ns, report, None);
            }
            None => self.stats.cancels_too_late += 1,
        }
    }

    /// The feed changed `asset`'s book (at `ts_ns`): forget taken liquidity on levels that
    /// changed, move resting orders' queues, and fill resting orders the book now crosses.
    pub fn on_book<B: BookRead + ?Sized>(&mut self, ts_ns: u64, asset: AssetId, book: &B) {
        self.taken.retain(|t| {
            t.asset != asset || book.queue_ahead(QueueQuery::JoinAt { side: t.side, price: t.price }) == Ok(t.displayed)
        });
        if !self.working.iter().any(|o| o.asset == asset) {
            return;
        }
        let mut index = 0;
        while index < self.working.len() {
            let mut order = self.working[index];
            if order.asset != asset {
                index += 1;
                continue;
            }
            let side = own_side(order.side);
            let displayed = book.queue_ahead(QueueQuery::JoinAt { side, price: order.limit_price }).unwrap_or(0);
            if displayed < order.level_seen_lots {
                order.queue_ahead_lots = match self.config.queue_model {
                    QueueModel::Pessimistic => order.queue_ahead_lots.min(displayed),
                    QueueModel::Proportional => {
                        let scaled = i128::from(order.queue_ahead_lots) * i128::from(displayed);
                        let seen = i128::from(order.level_seen_lots);
                        ((scaled + seen - 1) / seen) as i64
                    }
                };
            }
            order.level_seen_lots = displayed;
            self.take_crossing(ts_ns, &mut order, book, Liquidity::Maker);
            if order.leaves_lots() == 0 {
                self.working.remove(index);
            } else {
                self.working[index] = order;
                index += 1;
            }
        }
    }

    /// A trade print on `asset`'s tape: it consumes the queue ahead of resting orders at its
    /// price, then fills them; a print through a resting order's price fills it.
    pub fn on_trade(&mut self, ts_ns: u64, asset: AssetId, print: &TradePrint) {
        let mut used = 0i64;
        let mut index = 0;
        while index < self.working.len() {
            let mut order = self.working[index];
            if order.asset != asset || own_side(order.side) != print.resting_side {
                index += 1;
                continue;
            }
            let remaining = (print.qty - used).max(0);
            let through = match order.side {
                Side::Buy => print.price < order.limit_price,
                Side::Sell => print.price > order.limit_price,
            };
            let qty = if through {
                order.queue_ahead_lots = 0;
                remaining.min(order.leaves_lots())
            } else if print.price == order.limit_price {
                let consumed = order.queue_ahead_lots.min(remaining);
                order.queue_ahead_lots -= consumed;
                (remaining - consumed).min(order.leaves_lots())
            } else {
                0
            };
            if qty > 0 {
                used += qty;
                order.cum_lots += qty;
                self.fill(ts_ns, &order, qty, order.limit_price, Liquidity::Maker);
            }
            if order.leaves_lots() == 0 {
                self.working.remove(index);
            } else {
                self.working[index] = order;
                index += 1;
            }
        }
    }

    /// End of the replay: cancel every resting order now and drop what is still in flight
    /// (reported cancelled as well, so every order ends terminal).
    pub fn close(&mut self, ts_ns: u64) {
        while let Some((_, _, what)) = self.in_flight.pop_front() {
            if let InFlight::Order(intent) = what {
                let side = intent.side().unwrap_or(Side::Buy);
                let report =
                    exec_report(intent.intent_id.get(), intent.asset(), side, ExecStatus::Canceled, 0, 0, 0, 0);
                self.stats.cancels += 1;
                self.emit(ts_ns, report, None);
            }
        }
        for order in std::mem::take(&mut self.working) {
            self.stats.cancels += 1;
            let report =
                exec_report(order.intent_id, order.asset, order.side, ExecStatus::Canceled, 0, 0, order.cum_lots, 0);
            self.emit(ts_ns, report, None);
        }
    }
}

impl ApprovedOrderSink for FillSimulator {
    /// The order leaves now (the simulator's clock) and reaches the book `latency_ns` later.
    fn send(&mut self, order: RiskApproved<OrderIntent>) -> Result<(), RiskApproved<OrderIntent>> {
        if self.in_flight.len() >= MAX_IN_FLIGHT {
            self.stats.refused += 1;
            return Err(order);
        }
        self.enqueue(InFlight::Order(*order.get()));
        Ok(())
    }
}
