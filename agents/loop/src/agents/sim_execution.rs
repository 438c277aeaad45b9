//! The replay's execution side: the risk stage's approved orders, taken off the approved-order
//! ring, go to `qp-fill-sim`'s [`FillSimulator`] (through its [`ApprovedOrderSink`], as they
//! would go to the FIX gateway), which fills them against the replayed book the ingest side
//! keeps: it sees every book change and trade print the loop's agents see, in feed order, and
//! brings orders to the book `latency` of feed time after they left. Its execution reports go
//! back to the head of the loop (RiskSentinel's positions are real) and into the account here:
//! fills, slippage against the mid when the order left, and P&L by average cost, marked to the
//! last mid.
use std::collections::BTreeMap;

use qp_book::{BookRead, L2Book, TradePrint};
use qp_fill_sim::{FillSimConfig, FillSimulator, Liquidity};
use qp_risk_sentinel::{ApprovedOrderConsumer, ApprovedOrderSink};
use qp_wire::{AssetId, ExecReport, ExecStatus, Side};

/// One fill, with what it cost against the mid when its order left.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FillRecord {
    pub intent_id: u64,
    pub asset: AssetId,
    pub side: Side,
    pub qty_lots: i64,
    /// Ticks.
    pub price: i64,
    pub liquidity: Liquidity,
    /// Twice the mid (ticks) when the order left; 0 when the book had none.
    pub arrival_mid_x2: i64,
    /// (price − arrival mid) / arrival mid × 10⁴, signed so that a cost is positive.
    pub slippage_bp: f64,
    /// Price × quantity in the quote currency.
    pub notional: f64,
}

/// An execution report the execution side sent back to the loop, at feed time `ts_ns`, with
/// the fill it reports, if any.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExecEvent {
    pub ts_ns: u64,
    pub report: ExecReport,
    pub fill: Option<FillRecord>,
}

/// One asset's fills and P&L (quote currency).
#[derive(Debug, Clone, PartialEq)]
pub struct AssetExecution {
    pub asset: AssetId,
    pub symbol: String,
    pub price_decimals: u32,
    pub qty_decimals: u32,
    pub fills: u64,
    pub bought_lots: i64,
    pub sold_lots: i64,
    pub position_lots: i64,
    /// Twice the last mid (ticks) the book showed; 0 if it never had one.
    pub last_mid_x2: i64,
    pub realised: f64,
    /// The open position at the last mid less its average cost.
    pub unrealised: f64,
    pub fees: f64,
    /// The open position at average cost.
    cost: qp_fill_sim::AverageCost,
}

impl AssetExecution {
    /// `ticks × lots` in the quote currency.
    fn value(&self, price_ticks: i64, lots: i64) -> f64 {
        price_ticks as f64 * lots as f64 / 10f64.powi((self.price_decimals + self.qty_decimals) as i32)
    }

    pub fn pnl(&self) -> f64 {
        self.realised + self.unrealised - self.fees
    }
}

/// What the execution side did over a replay.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionSummary {
    /// `"fill-sim"` or `"expire"`.
    pub venue: &'static str,
    /// Approved orders taken off the approved-order ring.
    pub orders: u64,
    pub fills: u64,
    pub maker_fills: u64,
    pub taker_fills: u64,
    /// Immediate-or-cancel remainders that expired (or, with `expire`, every order).
    pub expired: u64,
    /// Orders the venue refused (no synchronised book for the asset).
    pub rejected: u64,
    /// Orders still resting or in flight at the end, cancelled then.
    pub cancelled_at_end: u64,
    /// Per configured asset.
    pub assets: Vec<AssetExecution>,
    /// Notional-weighted mean slippage of every fill against its order's arrival mid (cost > 0).
    pub slippage_bp: f64,
    pub realised: f64,
    pub unrealised: f64,
    pub fees: f64,
}

impl ExecutionSummary {
    /// Realised + unrealised − fees.
    pub fn pnl(&self) -> f64 {
        self.realised + self.unrealised - self.fees
    }
}

/// See the module docs.
#[derive(Debug)]
pub struct SimExecution {
    ring: ApprovedOrderConsumer,
    sim: FillSimulator,
    fee_bp: f64,
    /// Arrival mid ×2 per order still open.
    arrival: BTreeMap<u64, i64>,
    assets: Vec<AssetExecution>,
    events: Vec<ExecEvent>,
    taken: u64,
    rejected: u64,
    cancelled_at_end: u64,
    slippage_weighted: f64,
    notional: f64,
}

fn rejected(intent_id: u64, asset: AssetId, side: Side) -> ExecReport {
    ExecReport {
        intent_id: intent_id.into(),
        asset: asset.get().into(),
        side: side as u8,
        status: ExecStatus::Rejected as u8,
        _pad: 0.into(),
        last_qty: 0.into(),
        last_price: 0.into(),
        cum_qty: 0.into(),
        leaves_qty: 0.into(),
    }
}

impl SimExecution {
    /// `assets`: (id, symbol, price decimals, qty decimals) of each configured asset.
    pub fn new(
        ring: ApprovedOrderConsumer,
        config: FillSimConfig,
        fee_bp: f64,
        assets: impl IntoIterator<Item = (AssetId, String, u32, u32)>,
    ) -> Self {
        let assets = assets
            .into_iter()
            .map(|(asset, symbol, price_decimals, qty_decimals)| AssetExecution {
                asset,
                symbol,
                price_decimals,
                qty_decimals,
                fills: 0,
                bought_lots: 0,
                sold_lots: 0,
                position_lots: 0,
                last_mid_x2: 0,
                realised: 0.0,
                unrealised: 0.0,
                fees: 0.0,
                cost: qp_fill_sim::AverageCost::default(),
            })
            .collect();
        Self {
            ring,
            sim: FillSimulator::new(config),
            fee_bp,
            arrival: BTreeMap::new(),
            assets,
            events: Vec::with_capacity(64),
            taken: 0,
            rejected: 0,
            cancelled_at_end: 0,
            slippage_weighted: 0.0,
            notional: 0.0,
        }
    }

    /// Approved orders taken off the ring so far.
    pub fn taken(&self) -> u64 {
        self.taken
    }

    /// Whether reports wait to be drained.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Bring what has reached the book by feed time `now_ns` to it; `book_of` gives an asset's
    /// synchronised book as it stands before the event at `now_ns`.
    pub fn advance<'b>(&mut self, now_ns: u64, book_of: impl FnMut(AssetId) -> Option<&'b L2Book>) {
        self.sim.advance::<L2Book>(now_ns, book_of);
        self.collect();
    }

    /// The feed changed `asset`'s book.
    pub fn on_book(&mut self, ts_ns: u64, asset: AssetId, book: &L2Book) {
        if let (Some(account), Some(mid_x2)) = (self.assets.iter_mut().find(|a| a.asset == asset), book.mid_x2()) {
            account.last_mid_x2 = mid_x2;
        }
        self.sim.on_book(ts_ns, asset, book);
        self.collect();
    }

    /// A trade print on `asset`'s tape.
    pub fn on_trade(&mut self, ts_ns: u64, asset: AssetId, print: &TradePrint) {
        self.sim.on_trade(ts_ns, asset, print);
        self.collect();
    }

    /// Send every approved order waiting on the ring to the simulated venue (it leaves at the
    /// simulator's feed time). An order for an asset without a synchronised book is rejected at
    /// once: no book will take it (a replay's market data that never synchronised, or a
    /// benchmark's loop that has none).
    pub fn take_approved<'b>(&mut self, mut book_of: impl FnMut(AssetId) -> Option<&'b L2Book>) {
        while let Some(approved) = self.ring.pop() {
            self.taken += 1;
            let intent = *approved.get();
            let (intent_id, asset) = (intent.intent_id.get(), intent.asset());
            let Some(book) = book_of(asset) else {
                self.rejected += 1;
                let report = rejected(intent_id, asset, intent.side().unwrap_or(Side::Buy));
                self.events.push(ExecEvent { ts_ns: self.sim.now_ns(), report, fill: None });
                continue;
            };
            self.arrival.insert(intent_id, book.mid_x2().unwrap_or(0));
            if let Err(refused) = self.sim.send(approved) {
                // The simulator's in-flight table is full: the venue refuses the order.
                self.arrival.remove(&intent_id);
                self.rejected += 1;
                let intent = refused.get();
                let report = rejected(intent_id, asset, intent.side().unwrap_or(Side::Buy));
                self.events.push(ExecEvent { ts_ns: self.sim.now_ns(), report, fill: None });
            }
        }
    }

    /// An agent asks to cancel one of its orders (by intent id): the cancel reaches the venue
    /// after the simulator's latency; the report says what it found.
    pub fn cancel(&mut self, intent_id: u64) {
        self.sim.cancel(intent_id);
        self.collect();
    }

    /// End of the replay: cancel what still rests or is in flight (each order ends with one
    /// terminal report) and mark the open positions to the last mids.
    pub fn close(&mut self, ts_ns: u64) {
        let before = self.sim.stats().cancels;
        self.sim.close(ts_ns);
        self.cancelled_at_end += self.sim.stats().cancels - before;
        self.collect();
    }

    /// Hand the reports made since the last call, oldest first, to `each`.
    pub fn drain(&mut self, mut each: impl FnMut(&ExecEvent)) {
        for event in self.events.drain(..) {
            each(&event);
        }
    }

    /// The account so far (positions marked to the last mids).
    pub fn summary(&self) -> ExecutionSummary {
        let stats = self.sim.stats();
        let mut assets = self.assets.clone();
        let (mut realised, mut unrealised, mut fees) = (0.0, 0.0, 0.0);
        for a in &mut assets {
            let held = a.position_lots;
            a.unrealised = a.cost.unrealised(a.value(a.last_mid_x2, held) / 2.0);
            realised += a.realised;
            unrealised += a.unrealised;
            fees += a.fees;
        }
        ExecutionSummary {
            venue: "fill-sim",
            orders: self.taken,
            fills: stats.fills,
            maker_fills: stats.maker_fills,
            taker_fills: stats.taker_fills,
            expired: stats.expired,
            rejected: self.rejected + stats.rejected,
            cancelled_at_end: self.cancelled_at_end,
            assets,
            slippage_bp: if self.notional > 0.0 { self.slippage_weighted / self.notional } else { 0.0 },
            realised,
            unrealised,
            fees,
        }
    }

    /// Take the simulator's outputs into the account and the event list.
    fn collect(&mut self) {
        let outputs: Vec<_> = self.sim.take_outputs().collect();
        for output in outputs {
            let fill = output.fill.map(|fill| self.account(fill));
            let status = ExecStatus::from_wire(output.report.status);
            if matches!(status, Some(ExecStatus::Filled | ExecStatus::Canceled | ExecStatus::Rejected)) {
                self.arrival.remove(&output.report.intent_id.get());
            }
            self.events.push(ExecEvent { ts_ns: output.ts_ns, report: output.report, fill });
        }
    }

    fn account(&mut self, fill: qp_fill_sim::Fill) -> FillRecord {
        let arrival_mid_x2 = self.arrival.get(&fill.intent_id).copied().unwrap_or(0);
        let fee_bp = self.fee_bp;
        let sign = fill.side.sign();
        let slippage_bp = qp_fill_sim::slippage_bp(fill.side, fill.price, arrival_mid_x2);
        let mut notional = 0.0;
        if let Some(a) = self.assets.iter_mut().find(|a| a.asset == fill.asset) {
            notional = a.value(fill.price, fill.qty_lots);
            a.fills += 1;
            match fill.side {
                Side::Buy => a.bought_lots += fill.qty_lots,
                Side::Sell => a.sold_lots += fill.qty_lots,
            }
            a.fees += notional * fee_bp / 10_000.0;
            // Average cost: a fill against the open position realises; beyond it, it opens.
            let realised_before = a.cost.realised;
            a.cost.apply(sign * fill.qty_lots, notional / fill.qty_lots as f64);
            a.realised += a.cost.realised - realised_before;
            a.position_lots = a.cost.lots;
        }
        if arrival_mid_x2 > 0 {
            self.slippage_weighted += slippage_bp * notional;
            self.notional += notional;
        }
        FillRecord {
            intent_id: fill.intent_id,
            asset: fill.asset,
            side: fill.side,
            qty_lots: fill.qty_lots,
            price: fill.price,
            liquidity: fill.liquidity,
            arrival_mid_x2,
            slippage_bp,
            notional,
        }
    }
}
