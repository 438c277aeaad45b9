//! The replay harness: one or two recorded Binance feeds, decoded by the node's own decoder and
//! depth synchroniser, interleaved by the recorder's receive time; an agent's decisions go through
//! a real [`RiskSentinel`] and, approved, to the [`FillSimulator`] through [`ApprovedOrderSink`];
//! the execution reports go back to the sentinel (its positions are real) and to the agent.
//!
//! Both shared recordings were made by one recorder, so their receive times share a clock (the
//! exchange's event time runs about 1.27 s ahead of it in both files). Book tickers are not used:
//! fills and quotes come from the synchronised depth book.
use qp_book::binance::{BinanceDecoder, BinanceError, BinanceMessage, DepthSync};
use qp_book::{BookError, BookRead, Grid, L2Book, Level, TradePrint};
use qp_replay::FeedRecording;
use qp_risk_model::{ReturnMatrix, RiskModelError};
use qp_risk_sentinel::{ApprovedOrderSink, CommandError, InstrumentSpec, RiskSentinel, SentinelError, value_micros};
use qp_wire::{AssetId, Decision, ExecReport, OrderIntent, Quote, RiskVerdict, Side, TimeInForce, Verdict};

use crate::sim::{FillSimConfig, FillSimStats, FillSimulator, Liquidity, SimOutput};

/// VaR scenarios RiskSentinel needs at least (99 %: one in a hundred).
const MIN_VAR_SCENARIOS: usize = 100;

/// Rounds of agent ↔ risk ↔ venue hand-offs after one feed event before the harness stops
/// asking the agent (a guard against an agent that answers every report with a new order).
const MAX_ROUTING_ROUNDS: usize = 64;

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("a replay needs one to eight feeds, got {0}")]
    FeedCount(usize),
    #[error("{feed}:{line}: {source}")]
    Decode { feed: String, line: usize, source: BinanceError },
    #[error("{feed}: the book never synchronised (no snapshot?)")]
    NeverSynchronised { feed: String },
    #[error("VaR history: {0}")]
    History(#[from] RiskModelError),
    #[error("VaR history: the feeds share {found} sampled mids, at least {needed} are needed")]
    HistoryTooShort { found: usize, needed: usize },
    #[error("risk sentinel: {0}")]
    Sentinel(#[from] SentinelError),
    #[error("risk sentinel reconciliation: {0}")]
    Reconcile(#[from] CommandError),
    #[error("book grid: {0}")]
    Grid(#[from] BookError),
}

/// One recorded feed and the instrument it is.
#[derive(Debug, Clone)]
pub struct FeedSpec<'a> {
    /// Name for messages (the file).
    pub name: String,
    /// Asset id, symbol, class and decimals; the decoder reads prices and sizes at these decimals.
    pub instrument: InstrumentSpec,
    pub recording: &'a FeedRecording,
}

/// The harness's settings.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    pub sim: FillSimConfig,
    /// Fee on every fill's notional, basis points (default 0).
    pub fee_bp: f64,
    /// RiskSentinel's limits (TOML); `None`: [`permissive_limits`] for the feeds.
    pub limits_toml: Option<String>,
    /// Time in force of the intents RiskSentinel makes (immediate-or-cancel, or GTC for an agent
    /// that rests orders and cancels them).
    pub time_in_force: TimeInForce,
    /// VaR history: the feeds' own mids sampled this often (feed time); shortened when the
    /// recording has fewer than 101 such samples.
    pub var_interval_ns: u64,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        Self {
            sim: FillSimConfig::default(),
            fee_bp: 0.0,
            limits_toml: None,
            time_in_force: TimeInForce::ImmediateOrCancel,
            var_interval_ns: 1_000_000_000,
        }
    }
}

/// What an agent asks for after an event: decisions (to risk) and cancels (to the venue).
#[derive(Debug, Default)]
pub struct AgentActions {
    decisions: Vec<Decision>,
    cancels: Vec<u64>,
}

impl AgentActions {
    pub fn new() -> Self {
        Self { decisions: Vec::with_capacity(16), cancels: Vec::with_capacity(16) }
    }

    pub fn decide(&mut self, decision: Decision) {
        self.decisions.push(decision);
    }

    /// Cancel a resting order, by the intent id RiskSentinel gave it.
    pub fn cancel(&mut self, intent_id: u64) {
        self.cancels.push(intent_id);
    }

    pub fn is_empty(&self) -> bool {
        self.decisions.is_empty() && self.cancels.is_empty()
    }

    pub fn decisions(&self) -> &[Decision] {
        &self.decisions
    }

    pub fn cancels(&self) -> &[u64] {
        &self.cancels
    }

    pub fn clear(&mut self) {
        self.decisions.clear();
        self.cancels.clear();
    }
}

/// An agent the harness can drive. Times are feed time (the recorder's clock, ns).
pub trait ReplayAgent {
    /// A book's top changed (price or size).
    fn on_quote(&mut self, now_ns: u64, quote: &Quote, out: &mut AgentActions);
    /// A trade print on an asset's tape.
    fn on_trade(&mut self, _now_ns: u64, _asset: AssetId, _print: &TradePrint, _out: &mut AgentActions) {}
    /// RiskSentinel approved a decision: the intent carries its decision id and intent id.
    fn on_intent(&mut self, _now_ns: u64, _intent: &OrderIntent, _out: &mut AgentActions) {}
    /// RiskSentinel vetoed a decision.
    fn on_verdict(&mut self, _now_ns: u64, _verdict: &RiskVerdict, _out: &mut AgentActions) {}
    /// An execution report from the venue.
    fn on_exec_report(&mut self, now_ns: u64, report: &ExecReport, out: &mut AgentActions);
}

/// One fill with what it cost against the mid when its order was decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FillRecord {
    pub ts_ns: u64,
    pub intent_id: u64,
    pub decided_ns: u64,
    pub asset: AssetId,
    pub side: Side,
    pub qty_lots: i64,
    pub price: i64,
    pub liquidity: Liquidity,
    /// Twice the mid when the order was decided.
    pub arrival_mid_x2: i64,
    /// (price − arrival mid) / arrival mid × 10⁴, signed so that a cost is positive.
    pub slippage_bp: f64,
    /// Notional in micros of the quote currency.
    pub notional_micros: i128,
}

/// One feed's figures and the agent's book in its instrument.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedSummary {
    pub name: String,
    pub symbol: String,
    pub asset: AssetId,
    pub lines: usize,
    pub depth_updates: u64,
    pub trades: u64,
    pub gaps: u64,
    /// Lots printed on the tape while the book was synchronised.
    pub market_volume_lots: i64,
    pub first_mid_x2: i64,
    pub last_mid_x2: i64,
    pub bought_lots: i64,
    pub sold_lots: i64,
    pub position_lots: i64,
    /// Fill cash flows (a buy is negative), micros.
    pub cash_micros: i128,
    /// Realised P&L (average cost), quote currency.
    pub realised: f64,
    /// Open position at the last mid less its average cost, quote currency.
    pub unrealised: f64,
    pub fees: f64,
}

/// P&L in quote-currency units (USDT here): realised on closed lots, unrealised on the open
/// position marked to the last mid, less fees.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Pnl {
    pub realised: f64,
    pub unrealised: f64,
    pub fees: f64,
    pub total: f64,
}

/// What a replay produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayReport {
    pub events: u64,
    pub first_ts_ns: u64,
    pub last_ts_ns: u64,
    pub feeds: Vec<FeedSummary>,
    pub decisions: u64,
    pub approved: u64,
    pub vetoed: u64,
    /// Vetoes by wire `VetoReason` number.
    pub vetoed_by_reason: [u64; 16],
    pub cancels_sent: u64,
    pub fills: Vec<FillRecord>,
    pub sim: FillSimStats,
    pub pnl: Pnl,
    /// Notional-weighted mean slippage of every fill against its order's arrival mid (cost > 0).
    pub slippage_bp: f64,
    /// RiskSentinel's own mark-to-market P&L (micros, before fees, marked at its reference mids).
    pub sentinel_pnl_micros: i128,
    /// Events after which the agent was still answering after the routing guard's rounds.
    pub routing_guard_hits: u64,
}

/// Limits for a replay: permissive but real (every check runs). Order and position sizes are
/// bounded at 10 BTC-equivalents of lots, notionals at 2 M, the collar at 2 %.
pub fn permissive_limits(instruments: &[InstrumentSpec]) -> String {
    let mut text = String::from(
        "[fail_closed]\nmax_price_age_ms = 5000\n\
         [kill_switch]\ndaily_loss_limit = 1000000\nloss_trip_state = \"halted\"\n\
         [rate]\nmax_orders_per_sec = 1000\nmax_messages_per_sec = 2000\nmax_open_orders = 1024\n\
         [portfolio]\nmax_gross_notional = 10000000\nmax_net_notional = 5000000\n\
         [margin]\ncollateral = 10000000\n\
         [var]\nmax_var = 1000000\nmax_incremental_var = 500000\n",
    );
    let mut classes: Vec<&str> = instruments.iter().map(|i| i.class.as_str()).collect();
    classes.sort_unstable();
    classes.dedup();
    for class in classes {
        text.push_str(&format!(
            "[classes.{class}]\nmax_order_qty_lots = 1\nmax_order_notional = 2000000\nprice_collar_bp = 200\n\
             max_position_lots = 1\nmax_position_notional = 2000000\ninitial_margin_bp = 1000\n"
        ));
    }
    for instrument in instruments {
        let ten_units = 10i64.saturating_mul(10i64.saturating_pow(u32::from(instrument.qty_decimals)));
        text.push_str(&format!(
            "[instruments.\"{}\"]\nmax_order_qty_lots = {ten_units}\nmax_position_lots = {ten_units}\n",
            instrument.symbol
        ));
    }
    text
}

struct FeedState<'a> {
    spec: &'a FeedSpec<'a>,
    decoder: BinanceDecoder,
    sync: DepthSync,
    next: usize,
    top: Option<(Level, Level)>,
    summary: FeedSummary,
    /// Average-cost accounting, quote currency.
    cost: crate::AverageCost,
}

impl<'a> FeedState<'a> {
    fn new(spec: &'a FeedSpec<'a>) -> Result<Self, ReplayError> {
        let i = &spec.instrument;
        Ok(Self {
            spec,
            decoder: BinanceDecoder::new(u32::from(i.price_decimals), u32::from(i.qty_decimals)),
            sync: DepthSync::new(Grid::new(1, 1)?),
            next: 0,
            top: None,
            summary: FeedSummary {
                name: spec.name.clone(),
                symbol: i.symbol.clone(),
                asset: i.asset,
                lines: spec.recording.lines.len(),
                depth_updates: 0,
                trades: 0,
                gaps: 0,
                market_volume_lots: 0,
                first_mid_x2: 0,
                last_mid_x2: 0,
                bought_lots: 0,
                sold_lots: 0,
                position_lots: 0,
                cash_micros: 0,
                realised: 0.0,
                unrealised: 0.0,
                fees: 0.0,
            },
            cost: crate::AverageCost::default(),
        })
    }

    fn next_ts(&self) -> Option<u64> {
        self.spec.recording.lines.get(self.next).map(|l| l.local_ts_ns)
    }

    /// Price of `lots` at `price` ticks in quote currency (f64, the report's edge).
    fn value(&self, price_ticks: i64, lots: i64) -> f64 {
        let i = &self.spec.instrument;
        price_ticks as f64 * lots as f64 * i.contract_multiplier as f64
            / 10f64.powi(i32::from(i.price_decimals) + i32::from(i.qty_decimals))
    }
}

/// Build the VaR history from the feeds' own mids every `interval_ns` of receive time.
fn var_history(feeds: &[FeedSpec<'_>], interval_ns: u64) -> Result<ReturnMatrix, ReplayError> {
    let mut series: Vec<Vec<(u64, i64)>> = Vec::with_capacity(feeds.len());
    for spec in feeds {
        let mut state = FeedState::new(spec)?;
        let mut mids = Vec::with_capacity(spec.recording.lines.len() / 4);
        for line in &spec.recording.lines {
            let json = spec.recording.json(line);
            let message = state.decoder.decode(json).map_err(|source| ReplayError::Decode {
                feed: spec.name.clone(),
                line: line.line_no,
                source,
            })?;
            let is_book = matches!(message, BinanceMessage::Depth(_) | BinanceMessage::Snapshot(_));
            state.sync.apply(&message);
            if let (true, Some(mid_x2)) = (is_book && state.sync.is_synchronised(), state.sync.book().mid_x2()) {
                mids.push((line.local_ts_ns, mid_x2));
            }
        }
        if mids.is_empty() {
            return Err(ReplayError::NeverSynchronised { feed: spec.name.clone() });
        }
        series.push(mids);
    }
    let start = series.iter().filter_map(|s| s.first().map(|m| m.0)).max().unwrap_or(0);
    let end = series.iter().filter_map(|s| s.last().map(|m| m.0)).min().unwrap_or(0);
    let span = end.saturating_sub(start);
    let interval = interval_ns.min(span / (MIN_VAR_SCENARIOS as u64 + 1)).max(1);
    let mut cursors = vec![0usize; series.len()];
    let mut rows: Vec<Vec<f64>> = Vec::new();
    let mut t = start;
    while t <= end {
        let mut row = Vec::with_capacity(series.len());
        for (s, cursor) in series.iter().zip(cursors.iter_mut()) {
            while *cursor + 1 < s.len() && s[*cursor + 1].0 <= t {
                *cursor += 1;
            }
            row.push(s[*cursor].1 as f64);
        }
        rows.push(row);
        t = t.saturating_add(interval);
        if interval == 0 {
            break;
        }
    }
    if rows.len() < MIN_VAR_SCENARIOS + 1 {
        return Err(ReplayError::HistoryTooShort { found: rows.len(), needed: MIN_VAR_SCENARIOS + 1 });
    }
    let mut values = Vec::with_capacity((rows.len() - 1) * series.len());
    for pair in rows.windows(2) {
        values.extend(pair[1].iter().zip(&pair[0]).map(|(now, before)| now / before - 1.0));
    }
    Ok(ReturnMatrix::new(rows.len() - 1, series.len(), values)?)
}

/// An order the harness knows: when it was decided and the mid then.
#[derive(Debug, Clone, Copy)]
struct OrderInfo {
    decided_ns: u64,
    arrival_mid_x2: i64,
}

struct Harness<'a, A> {
    feeds: Vec<FeedState<'a>>,
    sentinel: RiskSentinel,
    sim: FillSimulator,
    agent: &'a mut A,
    actions: AgentActions,
    scratch: AgentActions,
    outputs: Vec<SimOutput>,
    orders: std::collections::BTreeMap<u64, OrderInfo>,
    report: ReplayReport,
    fee_bp: f64,
    closed: bool,
}

impl<'a, A: ReplayAgent> Harness<'a, A> {
    fn feed_index(&self, asset: AssetId) -> Option<usize> {
        self.feeds.iter().position(|f| f.spec.instrument.asset == asset)
    }

    fn mid_x2(&self, asset: AssetId) -> i64 {
        self.feed_index(asset).and_then(|i| self.feeds[i].sync.book().mid_x2()).unwrap_or(0)
    }

    fn advance(&mut self, now_ns: u64) {
        let feeds = &self.feeds;
        self.sim.advance::<L2Book>(now_ns, |asset| {
            feeds.iter().find(|f| f.spec.instrument.asset == asset && f.sync.is_synchronised()).map(|f| f.sync.book())
        });
    }

    /// Hand decisions to risk and the venue, reports to risk and the agent, until nothing moves.
    fn route(&mut self, now_ns: u64) {
        for _ in 0..MAX_ROUTING_ROUNDS {
            self.outputs.extend(self.sim.take_outputs());
            if self.actions.is_empty() && self.outputs.is_empty() {
                return;
            }
            std::mem::swap(&mut self.actions, &mut self.scratch);
            for &intent_id in &self.scratch.cancels {
                self.report.cancels_sent += 1;
                self.sim.cancel(intent_id);
            }
            for index in 0..self.scratch.decisions.len() {
                let decision = self.scratch.decisions[index];
                self.decide(now_ns, &decision);
            }
            self.scratch.clear();
            let outputs = std::mem::take(&mut self.outputs);
            for output in &outputs {
                self.on_output(output);
            }
            self.outputs = outputs;
            self.outputs.clear();
            let cancels: Vec<u64> = self.sentinel.take_cancel_requests().map(|c| c.intent_id).collect();
            for intent_id in cancels {
                self.sim.cancel(intent_id);
            }
        }
        self.report.routing_guard_hits += 1;
        self.actions.clear();
    }

    fn decide(&mut self, now_ns: u64, decision: &Decision) {
        self.report.decisions += 1;
        match self.sentinel.check(now_ns, decision) {
            Ok(approved) => {
                let intent = *approved.get();
                match self.sim.send(approved) {
                    Ok(()) => {
                        self.report.approved += 1;
                        let info = OrderInfo { decided_ns: now_ns, arrival_mid_x2: self.mid_x2(decision.asset()) };
                        self.orders.insert(intent.intent_id.get(), info);
                        self.agent.on_intent(now_ns, &intent, &mut self.actions);
                    }
                    Err(refused) => {
                        self.sentinel.withdraw(refused);
                        let verdict = RiskVerdict::new(
                            decision.decision_id.get(),
                            decision.asset(),
                            Verdict::Veto,
                            qp_wire::VetoReason::RateLimit,
                        );
                        self.report.vetoed += 1;
                        self.report.vetoed_by_reason[qp_wire::VetoReason::RateLimit as usize] += 1;
                        self.agent.on_verdict(now_ns, &verdict, &mut self.actions);
                    }
                }
            }
            Err(veto) => {
                self.report.vetoed += 1;
                if let Some(count) = self.report.vetoed_by_reason.get_mut(veto.reason as usize) {
                    *count += 1;
                }
                let verdict =
                    RiskVerdict::new(decision.decision_id.get(), decision.asset(), Verdict::Veto, veto.reason);
                self.agent.on_verdict(now_ns, &verdict, &mut self.actions);
            }
        }
    }

    fn on_output(&mut self, output: &SimOutput) {
        self.sentinel.on_exec_report(&output.report);
        if let Some(fill) = output.fill {
            self.record_fill(fill);
        }
        if !self.closed {
            self.agent.on_exec_report(output.ts_ns, &output.report, &mut self.actions);
        }
    }

    fn record_fill(&mut self, fill: crate::sim::Fill) {
        let info = self.orders.get(&fill.intent_id).copied().unwrap_or(OrderInfo { decided_ns: 0, arrival_mid_x2: 0 });
        let Some(index) = self.feed_index(fill.asset) else { return };
        let fee_bp = self.fee_bp;
        let feed = &mut self.feeds[index];
        let spec = &feed.spec.instrument;
        let signed = fill.side.sign() * fill.qty_lots;
        let notional =
            value_micros(fill.price, fill.qty_lots, spec.contract_multiplier, spec.price_decimals + spec.qty_decimals);
        feed.summary.cash_micros -= i128::from(fill.side.sign()) * notional;
        match fill.side {
            Side::Buy => feed.summary.bought_lots += fill.qty_lots,
            Side::Sell => feed.summary.sold_lots += fill.qty_lots,
        }
        feed.summary.position_lots += signed;
        let value = feed.value(fill.price, fill.qty_lots);
        feed.summary.fees += value * fee_bp / 10_000.0;
        let realised_before = feed.cost.realised;
        feed.cost.apply(signed, value / fill.qty_lots as f64);
        feed.summary.realised += feed.cost.realised - realised_before;
        let slippage_bp = crate::slippage_bp(fill.side, fill.price, info.arrival_mid_x2);
        self.report.fills.push(FillRecord {
            ts_ns: fill.ts_ns,
            intent_id: fill.intent_id,
            decided_ns: info.decided_ns,
            asset: fill.asset,
            side: fill.side,
            qty_lots: fill.qty_lots,
            price: fill.price,
            liquidity: fill.liquidity,
            arrival_mid_x2: info.arrival_mid_x2,
            slippage_bp,
            notional_micros: notional,
        });
    }

    /// One recorded line of feed `index`.
    fn step(&mut self, index: usize) -> Result<(), ReplayError> {
        let spec: &'a FeedSpec<'a> = self.feeds[index].spec;
        let Some(line) = spec.recording.lines.get(self.feeds[index].next) else { return Ok(()) };
        self.feeds[index].next += 1;
        let now_ns = line.local_ts_ns;
        let line_no = line.line_no;
        let json = spec.recording.json(line);
        self.report.events += 1;
        if self.report.first_ts_ns == 0 {
            self.report.first_ts_ns = now_ns;
        }
        self.report.last_ts_ns = now_ns;
        self.advance(now_ns);
        self.route(now_ns);
        let feed = &mut self.feeds[index];
        let asset = feed.spec.instrument.asset;
        let message = feed.decoder.decode(json).map_err(|source| ReplayError::Decode {
            feed: feed.spec.name.clone(),
            line: line_no,
            source,
        })?;
        let trade = match message {
            BinanceMessage::Trade(print) => Some(print),
            _ => None,
        };
        let is_book = matches!(message, BinanceMessage::Depth(_) | BinanceMessage::Snapshot(_));
        feed.sync.apply(&message);
        let synchronised = feed.sync.is_synchronised();
        if let Some(print) = trade {
            if synchronised {
                feed.summary.market_volume_lots += print.qty;
                self.sim.on_trade(now_ns, asset, &print);
            }
            self.agent.on_trade(now_ns, asset, &print, &mut self.actions);
            self.route(now_ns);
        } else if is_book && synchronised {
            let feed = &mut self.feeds[index];
            self.sim.on_book(now_ns, asset, feed.sync.book());
            let book = feed.sync.book();
            let top = book.best_bid().zip(book.best_ask());
            let changed = top.is_some() && top != feed.top;
            feed.top = top;
            if let (true, Some((bid, ask))) = (changed, top) {
                let mid_x2 = bid.price + ask.price;
                if feed.summary.first_mid_x2 == 0 {
                    feed.summary.first_mid_x2 = mid_x2;
                }
                feed.summary.last_mid_x2 = mid_x2;
                let quote = Quote::new(asset, (bid.price, bid.qty), (ask.price, ask.qty), now_ns);
                // The sentinel's reference is the quote's mid, rounded down (as in the loop).
                let _ = self.sentinel.update_price(asset, quote.mid_price(), now_ns);
                self.route(now_ns);
                self.agent.on_quote(now_ns, &quote, &mut self.actions);
            }
            self.route(now_ns);
        }
        Ok(())
    }

    fn finish(mut self) -> ReplayReport {
        let end = self.report.last_ts_ns;
        self.advance(end);
        self.route(end);
        self.closed = true;
        self.sim.close(end);
        self.route(end);
        let mut weighted = 0.0;
        let mut weight = 0.0;
        for fill in &self.report.fills {
            let w = fill.notional_micros as f64;
            weighted += fill.slippage_bp * w;
            weight += w;
        }
        self.report.slippage_bp = if weight > 0.0 { weighted / weight } else { 0.0 };
        let mut pnl = Pnl::default();
        for feed in &mut self.feeds {
            let mark = feed.value(feed.summary.last_mid_x2, feed.cost.lots) / 2.0;
            let stats = feed.sync.stats();
            let s = &mut feed.summary;
            s.gaps = stats.gaps;
            s.depth_updates = stats.depth_updates;
            s.trades = stats.trades;
            s.unrealised = feed.cost.unrealised(mark);
            pnl.realised += s.realised;
            pnl.unrealised += s.unrealised;
            pnl.fees += s.fees;
        }
        pnl.total = pnl.realised + pnl.unrealised - pnl.fees;
        self.report.pnl = pnl;
        self.report.sim = self.sim.stats();
        self.report.sentinel_pnl_micros = self.sentinel.daily_pnl_micros();
        self.report.feeds = self.feeds.iter().map(|f| f.summary.clone()).collect();
        self.report
    }
}

/// Replay `feeds` through `agent`, RiskSentinel and the fill simulator (see the module docs).
/// The same feeds, agent state and configuration give the same report.
pub fn run_replay<A: ReplayAgent>(
    feeds: &[FeedSpec<'_>],
    agent: &mut A,
    config: &ReplayConfig,
) -> Result<ReplayReport, ReplayError> {
    if feeds.is_empty() || feeds.len() > 8 {
        return Err(ReplayError::FeedCount(feeds.len()));
    }
    let instruments: Vec<InstrumentSpec> = feeds.iter().map(|f| f.instrument.clone()).collect();
    let history = var_history(feeds, config.var_interval_ns)?;
    let limits = config.limits_toml.clone().unwrap_or_else(|| permissive_limits(&instruments));
    let mut sentinel = RiskSentinel::new(instruments, &history, &limits)?.with_time_in_force(config.time_in_force);
    let flat: Vec<(AssetId, i64)> = feeds.iter().map(|f| (f.instrument.asset, 0)).collect();
    sentinel.reconciled(&flat)?;
    let states = feeds.iter().map(FeedState::new).collect::<Result<Vec<_>, _>>()?;
    let mut harness = Harness {
        feeds: states,
        sentinel,
        sim: FillSimulator::new(config.sim),
        agent,
        actions: AgentActions::new(),
        scratch: AgentActions::new(),
        outputs: Vec::with_capacity(64),
        orders: std::collections::BTreeMap::new(),
        report: ReplayReport {
            events: 0,
            first_ts_ns: 0,
            last_ts_ns: 0,
            feeds: Vec::new(),
            decisions: 0,
            approved: 0,
            vetoed: 0,
            vetoed_by_reason: [0; 16],
            cancels_sent: 0,
            fills: Vec::new(),
            sim: FillSimStats::default(),
            pnl: Pnl::default(),
            slippage_bp: 0.0,
            sentinel_pnl_micros: 0,
            routing_guard_hits: 0,
        },
        fee_bp: config.fee_bp,
        closed: false,
    };
    loop {
        // The feed whose next line was received first; ties go to the earlier feed.
        let mut next: Option<(u64, usize)> = None;
        for (index, feed) in harness.feeds.iter().enumerate() {
            if let Some(ts) = feed.next_ts().filter(|&ts| next.is_none_or(|(best, _)| ts < best)) {
                next = Some((ts, index));
            }
        }
        let Some((_, index)) = next else { break };
        harness.step(index)?;
    }
    Ok(harness.finish())
}
