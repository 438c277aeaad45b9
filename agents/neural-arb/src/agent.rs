//! NeuralArb: the spread between two instruments' mids, entries and exits on its z-score, and the
//! orders for both legs as `Decision`s (RiskSentinel approves or vetoes each).
use qp_runtime::{Agent, AgentContext, AgentError, Outbox};
use qp_wire::{AssetId, Decision, ExecReport, ExecStatus, FrameRef, OrderIntent, Quote, RiskVerdict, Side};

use crate::error::ArbConfigError;
use crate::model::{HedgeRatio, SpreadModel};

const AGENT: &str = "neural-arb";

/// `Decision::reason` of an order that moves a leg towards an entry target.
pub const REASON_ENTRY: u16 = 0x4e01;
/// `Decision::reason` of an order that moves a leg towards flat (exit).
pub const REASON_EXIT: u16 = 0x4e02;

/// One leg: its asset and how its integers scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegConfig {
    pub asset: AssetId,
    /// A price of `p` ticks is `p / 10^price_decimals` quote-currency units.
    pub price_decimals: u8,
    /// Lots of this leg per clip (one unit of the spread position) at β = 1.
    pub clip_lots: i64,
    /// Largest single order, lots (a larger move is worked in several orders).
    pub max_order_lots: i64,
}

/// NeuralArb's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArbConfig {
    /// The near leg `x` (spot BTCUSDT in the data).
    pub near: LegConfig,
    /// The far leg `y` (USD-M BTCUSDT futures in the data). Spread = `y − β·x`.
    pub far: LegConfig,
    pub hedge: HedgeRatio,
    /// The model samples both mids this often (feed time).
    pub sample_interval_ns: u64,
    /// Samples in the rolling window.
    pub window: usize,
    /// Enter (one more clip) when |z| exceeds this.
    pub entry_z: f64,
    /// Flatten when |z| falls below this.
    pub exit_z: f64,
    /// Largest spread position, clips.
    pub max_clips: i64,
    /// After an entry, no further entry for this long (feed time).
    pub cooldown_ns: u64,
    /// Limit price beyond the far touch (a buy's limit is the best ask plus this many ticks): 0
    /// takes the touch and no deeper.
    pub aggressiveness_ticks: i64,
    /// Floor of the spread's standard deviation (quote-currency units), so a quiet window does
    /// not turn a tick into a signal.
    pub min_std: f64,
    /// After a veto, a leg waits this long before its next order.
    pub retry_ns: u64,
    pub first_decision_id: u64,
    /// Origin node of the frames it emits as a runtime agent.
    pub origin_node: u32,
}

impl ArbConfig {
    /// Spot (near, 2 price decimals) against USD-M futures (far, 1 decimal) BTCUSDT, 0.01 BTC a
    /// clip, basis trading (β = 1) on a 60 s window of 100 ms samples.
    pub fn btcusdt(spot: AssetId, futures: AssetId) -> Self {
        Self {
            near: LegConfig { asset: spot, price_decimals: 2, clip_lots: 10_000, max_order_lots: 1_000_000 },
            far: LegConfig { asset: futures, price_decimals: 1, clip_lots: 10, max_order_lots: 1_000 },
            hedge: HedgeRatio::Fixed(1.0),
            sample_interval_ns: 100_000_000,
            window: 600,
            entry_z: 2.0,
            exit_z: 0.5,
            max_clips: 1,
            cooldown_ns: 5_000_000_000,
            aggressiveness_ticks: 0,
            min_std: 0.5,
            retry_ns: 100_000_000,
            first_decision_id: 1,
            origin_node: 1,
        }
    }

    pub fn validate(&self) -> Result<(), ArbConfigError> {
        if self.near.asset == self.far.asset {
            return Err(ArbConfigError::SameAsset);
        }
        for (field, value) in [
            ("near.clip_lots", self.near.clip_lots),
            ("far.clip_lots", self.far.clip_lots),
            ("near.max_order_lots", self.near.max_order_lots),
            ("far.max_order_lots", self.far.max_order_lots),
            ("max_clips", self.max_clips),
        ] {
            if value <= 0 {
                return Err(ArbConfigError::NotPositive { field });
            }
        }
        if self.sample_interval_ns == 0 {
            return Err(ArbConfigError::NotPositive { field: "sample_interval_ns" });
        }
        if self.window < 2 {
            return Err(ArbConfigError::Window(self.window));
        }
        let (entry, exit) = (self.entry_z, self.exit_z);
        if !(entry.is_finite() && exit.is_finite() && exit >= 0.0 && exit < entry) {
            return Err(ArbConfigError::Thresholds { entry, exit });
        }
        if !(self.min_std.is_finite() && self.min_std > 0.0) {
            return Err(ArbConfigError::NotPositive { field: "min_std" });
        }
        if let HedgeRatio::Fixed(beta) = self.hedge
            && !(beta.is_finite() && beta > 0.0)
        {
            return Err(ArbConfigError::HedgeRatio(beta));
        }
        Ok(())
    }
}

/// Counters and the last model figures.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ArbStats {
    pub quotes: u64,
    pub samples: u64,
    /// Signals that added a clip.
    pub entries: u64,
    /// Signals that flattened.
    pub exits: u64,
    pub decisions: u64,
    pub vetoes: u64,
    pub fills: u64,
    pub last_z: f64,
    pub max_abs_z: f64,
    pub last_beta: f64,
}

/// Up to four decisions from one input (one per leg, twice at most).
#[derive(Debug, Clone, Copy, Default)]
pub struct ArbDecisions {
    items: [Option<Decision>; 4],
    len: usize,
}

impl ArbDecisions {
    fn push(&mut self, decision: Decision) {
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = Some(decision);
            self.len += 1;
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Decision> {
        self.items.iter().take(self.len).flatten()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct LegState {
    bid: i64,
    ask: i64,
    position_lots: i64,
    target_lots: i64,
    /// The decision working on this leg (and its intent, once approved).
    outstanding: Option<(u64, Option<u64>)>,
    retry_at_ns: u64,
    filled_lots: i64,
}

impl LegState {
    fn mid(&self, decimals: u8) -> Option<f64> {
        (self.bid > 0 && self.ask > 0).then(|| (self.bid + self.ask) as f64 / 2.0 / 10f64.powi(i32::from(decimals)))
    }
}

/// The NeuralArb agent (see the crate docs).
#[derive(Debug)]
pub struct NeuralArb {
    config: ArbConfig,
    model: SpreadModel,
    legs: [LegState; 2],
    clips: i64,
    next_sample_ns: u64,
    cooldown_until_ns: u64,
    next_decision_id: u64,
    sequence: u64,
    stats: ArbStats,
}

const NEAR: usize = 0;
const FAR: usize = 1;

impl NeuralArb {
    pub fn new(config: ArbConfig) -> Result<Self, ArbConfigError> {
        config.validate()?;
        Ok(Self {
            model: SpreadModel::new(config.window),
            legs: [LegState::default(); 2],
            clips: 0,
            next_sample_ns: 0,
            cooldown_until_ns: 0,
            next_decision_id: config.first_decision_id,
            sequence: 0,
            stats: ArbStats::default(),
            config,
        })
    }

    pub fn config(&self) -> &ArbConfig {
        &self.config
    }

    pub fn stats(&self) -> ArbStats {
        self.stats
    }

    pub fn model(&self) -> &SpreadModel {
        &self.model
    }

    /// The spread position the model wants, clips (positive: long `y`, short `x`).
    pub fn clips(&self) -> i64 {
        self.clips
    }

    /// Filled position of the near and far legs, lots.
    pub fn positions(&self) -> (i64, i64) {
        (self.legs[NEAR].position_lots, self.legs[FAR].position_lots)
    }

    /// Target position of the near and far legs, lots.
    pub fn targets(&self) -> (i64, i64) {
        (self.legs[NEAR].target_lots, self.legs[FAR].target_lots)
    }

    fn leg_of(&self, asset: AssetId) -> Option<usize> {
        if asset == self.config.near.asset {
            Some(NEAR)
        } else if asset == self.config.far.asset {
            Some(FAR)
        } else {
            None
        }
    }

    fn leg_config(&self, leg: usize) -> &LegConfig {
        if leg == NEAR { &self.config.near } else { &self.config.far }
    }

    /// A top of book for one leg: update the model, maybe move the targets, and send what the
    /// legs need. Allocates nothing.
    pub fn on_quote(&mut self, now_ns: u64, quote: &Quote, out: &mut ArbDecisions) -> Result<(), AgentError> {
        let leg =
            self.leg_of(quote.asset()).ok_or(AgentError::UnknownAsset { agent: AGENT, asset: quote.asset.get() })?;
        let (bid, ask) = (quote.bid_price.get(), quote.ask_price.get());
        if bid <= 0 || ask <= bid {
            return Err(AgentError::Rejected { agent: AGENT, detail: "quote not positive and uncrossed" });
        }
        self.stats.quotes += 1;
        self.legs[leg].bid = bid;
        self.legs[leg].ask = ask;
        let (Some(x), Some(y)) =
            (self.legs[NEAR].mid(self.config.near.price_decimals), self.legs[FAR].mid(self.config.far.price_decimals))
        else {
            return Ok(());
        };
        // z against the window before this sample joins it.
        if self.model.is_ready()
            && let Some(stats) = self.model.stats(self.config.hedge)
        {
            let z = (self.model.spread(stats.beta, x, y) - stats.mean) / stats.std.max(self.config.min_std);
            self.stats.last_z = z;
            self.stats.last_beta = stats.beta;
            self.stats.max_abs_z = self.stats.max_abs_z.max(z.abs());
            self.signal(now_ns, z, stats.beta);
        }
        if now_ns >= self.next_sample_ns {
            self.model.push(x, y);
            self.stats.samples += 1;
            self.next_sample_ns = now_ns.saturating_add(self.config.sample_interval_ns);
        }
        self.work_legs(now_ns, out);
        Ok(())
    }

    fn signal(&mut self, now_ns: u64, z: f64, beta: f64) {
        let (entry, exit) = (self.config.entry_z, self.config.exit_z);
        let before = self.clips;
        if self.clips != 0 && z.abs() < exit {
            self.clips = 0;
            self.stats.exits += 1;
        } else if now_ns >= self.cooldown_until_ns {
            if z > entry && self.clips > -self.config.max_clips {
                // y rich against x: sell y, buy x.
                self.clips -= 1;
            } else if z < -entry && self.clips < self.config.max_clips {
                self.clips += 1;
            }
            if self.clips != before {
                self.stats.entries += 1;
                self.cooldown_until_ns = now_ns.saturating_add(self.config.cooldown_ns);
            }
        }
        if self.clips != before {
            self.legs[FAR].target_lots = self.clips * self.config.far.clip_lots;
            // The hedge ratio at the signal fixes the near leg's size.
            let near = (beta * (self.clips * self.config.near.clip_lots) as f64).round();
            self.legs[NEAR].target_lots = -(near as i64);
        }
    }

    /// Send an order on each leg that is away from its target and has none working.
    fn work_legs(&mut self, now_ns: u64, out: &mut ArbDecisions) {
        for leg in [FAR, NEAR] {
            let config = *self.leg_config(leg);
            let state = &mut self.legs[leg];
            let gap = state.target_lots - state.position_lots;
            if gap == 0 || state.outstanding.is_some() || now_ns < state.retry_at_ns || state.bid <= 0 {
                continue;
            }
            let side = if gap > 0 { Side::Buy } else { Side::Sell };
            let qty = gap.abs().min(config.max_order_lots);
            let limit = match side {
                Side::Buy => state.ask.saturating_add(self.config.aggressiveness_ticks),
                Side::Sell => state.bid.saturating_sub(self.config.aggressiveness_ticks).max(1),
            };
            let reducing = state.target_lots.abs() < state.position_lots.abs();
            let reason = if reducing { REASON_EXIT } else { REASON_ENTRY };
            let decision = Decision::new(self.next_decision_id, config.asset, side, qty, limit, reason);
            state.outstanding = Some((self.next_decision_id, None));
            self.next_decision_id += 1;
            self.stats.decisions += 1;
            out.push(decision);
        }
    }

    /// RiskSentinel approved one of its decisions: remember the intent id.
    pub fn on_intent(&mut self, intent: &OrderIntent) {
        let decision_id = intent.decision_id.get();
        for leg in &mut self.legs {
            if let Some((id, intent_id)) = &mut leg.outstanding
                && *id == decision_id
            {
                *intent_id = Some(intent.intent_id.get());
            }
        }
    }

    /// RiskSentinel vetoed one of its decisions: the leg is free again after `retry_ns`.
    pub fn on_verdict(&mut self, now_ns: u64, verdict: &RiskVerdict) {
        let decision_id = verdict.decision_id.get();
        for leg in &mut self.legs {
            if leg.outstanding.is_some_and(|(id, _)| id == decision_id) {
                leg.outstanding = None;
                leg.retry_at_ns = now_ns.saturating_add(self.config.retry_ns);
                self.stats.vetoes += 1;
            }
        }
    }

    /// A venue report on one of its orders: fills move the leg; a terminal report frees it, and
    /// what is still away from target is sent again.
    pub fn on_exec_report(&mut self, now_ns: u64, report: &ExecReport, out: &mut ArbDecisions) {
        let Some(leg) = self.leg_of(report.asset()) else { return };
        let (Some(side), Some(status)) = (Side::from_wire(report.side), ExecStatus::from_wire(report.status)) else {
            return;
        };
        let state = &mut self.legs[leg];
        if matches!(status, ExecStatus::PartiallyFilled | ExecStatus::Filled) && report.last_qty.get() > 0 {
            state.position_lots += side.sign() * report.last_qty.get();
            state.filled_lots += report.last_qty.get();
            self.stats.fills += 1;
        }
        if report.is_terminal() && state.outstanding.is_some_and(|(_, intent)| intent == Some(report.intent_id.get())) {
            state.outstanding = None;
        }
        self.work_legs(now_ns, out);
    }
}

trait ReportAsset {
    fn asset(&self) -> AssetId;
}

impl ReportAsset for ExecReport {
    fn asset(&self) -> AssetId {
        AssetId::from_wire(self.asset.get())
    }
}

impl NeuralArb {
    fn emit(&mut self, decisions: &ArbDecisions, out: &mut Outbox) -> Result<(), AgentError> {
        for decision in decisions.iter() {
            self.sequence += 1;
            out.emit(self.config.origin_node, self.sequence, decision)?;
        }
        Ok(())
    }
}

/// As a runtime agent: `Quote`, `ExecReport`, `OrderIntent` (approval echo) and `RiskVerdict`
/// frames in; `Decision` frames out.
impl Agent for NeuralArb {
    fn name(&self) -> &'static str {
        AGENT
    }

    fn on_frame(&mut self, ctx: AgentContext, frame: FrameRef<'_>, out: &mut Outbox) -> Result<(), AgentError> {
        let mut decisions = ArbDecisions::default();
        match frame {
            FrameRef::Quote(f) => self.on_quote(ctx.now_ns, f.payload, &mut decisions)?,
            FrameRef::ExecReport(f) => self.on_exec_report(ctx.now_ns, f.payload, &mut decisions),
            FrameRef::OrderIntent(f) => self.on_intent(f.payload),
            FrameRef::RiskVerdict(f) => self.on_verdict(ctx.now_ns, f.payload),
            other => return Err(AgentError::UnexpectedFrame { agent: AGENT, frame_type: other.frame_type() }),
        }
        self.emit(&decisions, out)
    }
}
