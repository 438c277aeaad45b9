//! The LiquidityFlow agent: schedule, child orders, and the execution measures.
use qp_wire::{AssetId, Decision, ExecReport, ExecStatus, OrderIntent, Quote, RiskVerdict, Side, TimeInForce};

use crate::error::FlowConfigError;

/// `Decision::reason` of a child resting at the near touch.
pub const REASON_PASSIVE: u16 = 0x4c01;
/// `Decision::reason` of a child crossing the spread to catch up with the schedule.
pub const REASON_CATCH_UP: u16 = 0x4c02;

/// The schedule a parent order follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algo {
    /// `slices` equal slices over `[start, end)`; by the end of slice k, k/slices must be done.
    /// What is left at the end is crossed (within the limit) until done.
    Twap { slices: u32 },
    /// `rate_bp` of the volume printed on the tape since the start (1,000 bp = 10 %); stops at
    /// the end.
    Pov { rate_bp: u32 },
}

/// The order to work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParentOrder {
    pub asset: AssetId,
    pub side: Side,
    pub qty_lots: i64,
    /// No child is priced beyond it (a buy's limit above it, a sell's below); `None`: no limit
    /// besides RiskSentinel's collar.
    pub limit_price: Option<i64>,
    /// Feed time (ns).
    pub start_ns: u64,
    pub end_ns: u64,
    pub algo: Algo,
}

/// LiquidityFlow's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowConfig {
    pub parent: ParentOrder,
    /// Smallest child (a POV child waits until the schedule allows this much).
    pub min_child_lots: i64,
    pub max_child_lots: i64,
    /// A resting child whose price is no longer where the schedule wants it is cancelled and
    /// re-sent, at most this often.
    pub repeg_interval_ns: u64,
    /// POV: behind schedule means more than this many lots short of the target.
    pub pov_tolerance_lots: i64,
    /// After a veto, the next child waits this long.
    pub retry_ns: u64,
    pub first_decision_id: u64,
}

impl FlowConfig {
    /// Defaults around a parent: children of 1/10 of it at most, re-pegging every 500 ms.
    pub fn new(parent: ParentOrder) -> Self {
        let max_child = (parent.qty_lots / 10).max(1);
        Self {
            parent,
            min_child_lots: 1,
            max_child_lots: max_child,
            repeg_interval_ns: 500_000_000,
            pov_tolerance_lots: max_child,
            retry_ns: 100_000_000,
            first_decision_id: 1,
        }
    }

    pub fn validate(&self) -> Result<(), FlowConfigError> {
        let p = &self.parent;
        for (field, value) in [
            ("parent.qty_lots", p.qty_lots),
            ("min_child_lots", self.min_child_lots),
            ("max_child_lots", self.max_child_lots),
        ] {
            if value <= 0 {
                return Err(FlowConfigError::NotPositive { field });
            }
        }
        if self.min_child_lots > self.max_child_lots {
            return Err(FlowConfigError::ChildSizes { min: self.min_child_lots, max: self.max_child_lots });
        }
        if p.limit_price.is_some_and(|l| l <= 0) {
            return Err(FlowConfigError::NotPositive { field: "parent.limit_price" });
        }
        if p.end_ns <= p.start_ns {
            return Err(FlowConfigError::EmptyInterval { start_ns: p.start_ns, end_ns: p.end_ns });
        }
        match p.algo {
            Algo::Twap { slices: 0 } => Err(FlowConfigError::NotPositive { field: "slices" }),
            Algo::Pov { rate_bp } if rate_bp == 0 || rate_bp > 10_000 => Err(FlowConfigError::Rate { rate_bp }),
            _ => Ok(()),
        }
    }
}

/// What LiquidityFlow asks for after one input: at most one new child and one cancel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowActions {
    pub decision: Option<Decision>,
    /// Intent id of a child to cancel.
    pub cancel: Option<u64>,
}

/// The execution measures.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ExecutionSummary {
    /// Twice the mid at the first quote at or after the start (0 before it).
    pub arrival_mid_x2: i64,
    pub filled_lots: i64,
    pub qty_lots: i64,
    /// Average fill price, ticks.
    pub avg_price: f64,
    /// (average price − arrival mid) / arrival mid × 10⁴, signed so that a cost is positive.
    pub shortfall_bp: f64,
    /// filled / qty.
    pub fill_rate: f64,
    /// Lots printed on the tape from the start to the last fill (or the end).
    pub market_volume_lots: i64,
    /// filled / market volume over the same span.
    pub participation: f64,
    pub children: u64,
    pub cancels: u64,
    pub vetoes: u64,
    pub passive_fills: u64,
    pub aggressive_fills: u64,
    /// Lots filled while resting (passive children).
    pub passive_lots: i64,
    pub first_fill_ns: u64,
    pub last_fill_ns: u64,
    pub done: bool,
}

#[derive(Debug, Clone, Copy)]
struct Child {
    decision_id: u64,
    intent_id: Option<u64>,
    price: i64,
    aggressive: bool,
    sent_ns: u64,
    cancel_sent: bool,
}

/// The agent (see the crate docs).
#[derive(Debug)]
pub struct LiquidityFlow {
    config: FlowConfig,
    bid: i64,
    ask: i64,
    child: Option<Child>,
    next_decision_id: u64,
    retry_at_ns: u64,
    fill_value: i128,
    volume_at_last_fill: i64,
    summary: ExecutionSummary,
}

impl LiquidityFlow {
    pub fn new(config: FlowConfig) -> Result<Self, FlowConfigError> {
        config.validate()?;
        Ok(Self {
            bid: 0,
            ask: 0,
            child: None,
            next_decision_id: config.first_decision_id,
            retry_at_ns: 0,
            fill_value: 0,
            volume_at_last_fill: 0,
            summary: ExecutionSummary { qty_lots: config.parent.qty_lots, ..ExecutionSummary::default() },
            config,
        })
    }

    pub fn config(&self) -> &FlowConfig {
        &self.config
    }

    /// The measures so far.
    pub fn summary(&self) -> ExecutionSummary {
        let mut s = self.summary;
        let parent = &self.config.parent;
        if s.filled_lots > 0 {
            s.avg_price = self.fill_value as f64 / s.filled_lots as f64;
            if s.arrival_mid_x2 > 0 {
                let mid = s.arrival_mid_x2 as f64 / 2.0;
                s.shortfall_bp = parent.side.sign() as f64 * (s.avg_price - mid) / mid * 10_000.0;
            }
        }
        s.fill_rate = s.filled_lots as f64 / parent.qty_lots as f64;
        let volume = if s.done { self.volume_at_last_fill } else { s.market_volume_lots };
        s.market_volume_lots = volume;
        s.participation = if volume > 0 { s.filled_lots as f64 / volume as f64 } else { 0.0 };
        s
    }

    /// Lots the schedule wants done by `now_ns` (`due`) and allows working (`allowed`).
    fn schedule(&self, now_ns: u64) -> (i64, i64) {
        let p = &self.config.parent;
        let qty = i128::from(p.qty_lots);
        match p.algo {
            Algo::Twap { slices } => {
                if now_ns >= p.end_ns {
                    return (p.qty_lots, p.qty_lots);
                }
                let span = u128::from(p.end_ns - p.start_ns);
                let elapsed = u128::from(now_ns.saturating_sub(p.start_ns));
                let done_slices = (elapsed * u128::from(slices) / span) as i128;
                let due = qty * done_slices / i128::from(slices);
                let allowed = qty * (done_slices + 1).min(i128::from(slices)) / i128::from(slices);
                (due as i64, allowed as i64)
            }
            Algo::Pov { rate_bp } => {
                let target = (i128::from(self.summary.market_volume_lots) * i128::from(rate_bp) / 10_000).min(qty);
                let allowed = (target + i128::from(self.config.min_child_lots)).min(qty);
                (target as i64, allowed as i64)
            }
        }
    }

    fn finished(&self, now_ns: u64) -> bool {
        let p = &self.config.parent;
        self.summary.done || (matches!(p.algo, Algo::Pov { .. }) && now_ns >= p.end_ns)
    }

    /// A top of book. Only quotes of the parent's asset matter.
    pub fn on_quote(&mut self, now_ns: u64, quote: &Quote, out: &mut FlowActions) {
        if quote.asset() != self.config.parent.asset {
            return;
        }
        let (bid, ask) = (quote.bid_price.get(), quote.ask_price.get());
        if bid <= 0 || ask <= bid {
            return;
        }
        self.bid = bid;
        self.ask = ask;
        if now_ns >= self.config.parent.start_ns && self.summary.arrival_mid_x2 == 0 {
            self.summary.arrival_mid_x2 = bid + ask;
        }
        self.step(now_ns, out);
    }

    /// A trade print on the parent's asset (`qty` lots): the participation schedule's volume.
    pub fn on_trade(&mut self, now_ns: u64, asset: AssetId, qty_lots: i64, out: &mut FlowActions) {
        if asset != self.config.parent.asset || now_ns < self.config.parent.start_ns || self.finished(now_ns) {
            return;
        }
        self.summary.market_volume_lots += qty_lots.max(0);
        self.step(now_ns, out);
    }

    pub fn on_intent(&mut self, intent: &OrderIntent) {
        if let Some(child) = &mut self.child
            && child.decision_id == intent.decision_id.get()
        {
            child.intent_id = Some(intent.intent_id.get());
        }
    }

    pub fn on_verdict(&mut self, now_ns: u64, verdict: &RiskVerdict) {
        if self.child.is_some_and(|c| c.decision_id == verdict.decision_id.get()) {
            self.child = None;
            self.summary.vetoes += 1;
            self.retry_at_ns = now_ns.saturating_add(self.config.retry_ns);
        }
    }

    pub fn on_exec_report(&mut self, now_ns: u64, report: &ExecReport, out: &mut FlowActions) {
        let Some(child) = self.child.filter(|c| c.intent_id == Some(report.intent_id.get())) else { return };
        let Some(status) = ExecStatus::from_wire(report.status) else { return };
        let last = report.last_qty.get();
        if matches!(status, ExecStatus::PartiallyFilled | ExecStatus::Filled) && last > 0 {
            self.summary.filled_lots += last;
            self.fill_value += i128::from(last) * i128::from(report.last_price.get());
            // A child that crossed and rests with its remainder counts as aggressive throughout.
            if child.aggressive {
                self.summary.aggressive_fills += 1;
            } else {
                self.summary.passive_fills += 1;
                self.summary.passive_lots += last;
            }
            if self.summary.first_fill_ns == 0 {
                self.summary.first_fill_ns = now_ns;
            }
            self.summary.last_fill_ns = now_ns;
            self.volume_at_last_fill = self.summary.market_volume_lots;
            if self.summary.filled_lots >= self.config.parent.qty_lots {
                self.summary.done = true;
            }
        }
        if report.is_terminal() {
            self.child = None;
        }
        self.step(now_ns, out);
    }

    /// Price a child at `aggressive` (far touch) or passive (near touch), capped by the limit.
    fn child_price(&self, aggressive: bool) -> i64 {
        let p = &self.config.parent;
        match p.side {
            Side::Buy => {
                let price = if aggressive { self.ask } else { self.bid };
                p.limit_price.map_or(price, |l| price.min(l))
            }
            Side::Sell => {
                let price = if aggressive { self.bid } else { self.ask };
                p.limit_price.map_or(price, |l| price.max(l))
            }
        }
    }

    fn step(&mut self, now_ns: u64, out: &mut FlowActions) {
        let p = self.config.parent;
        if now_ns < p.start_ns || self.bid <= 0 || out.decision.is_some() || out.cancel.is_some() {
            return;
        }
        if self.finished(now_ns) {
            if let Some(child) = &mut self.child
                && let (Some(intent), false) = (child.intent_id, child.cancel_sent)
            {
                child.cancel_sent = true;
                self.summary.cancels += 1;
                out.cancel = Some(intent);
            }
            return;
        }
        let filled = self.summary.filled_lots;
        let (due, allowed) = self.schedule(now_ns);
        let behind = match p.algo {
            Algo::Twap { .. } => filled < due,
            Algo::Pov { .. } => due - filled > self.config.pov_tolerance_lots,
        };
        let price = self.child_price(behind);
        if let Some(child) = &mut self.child {
            // Wait for the approval, or for a cancel to land.
            let Some(intent) = child.intent_id.filter(|_| !child.cancel_sent) else { return };
            let wrong_mode = behind && !child.aggressive;
            let stale = child.price != price && now_ns.saturating_sub(child.sent_ns) >= self.config.repeg_interval_ns;
            if wrong_mode || stale {
                child.cancel_sent = true;
                self.summary.cancels += 1;
                out.cancel = Some(intent);
            }
            return;
        }
        if now_ns < self.retry_at_ns {
            return;
        }
        let remaining = p.qty_lots - filled;
        let want = if behind { due - filled } else { allowed - filled };
        let qty = want.min(remaining).min(self.config.max_child_lots);
        if qty <= 0 || (qty < self.config.min_child_lots && qty < remaining) {
            return;
        }
        let reason = if behind { REASON_CATCH_UP } else { REASON_PASSIVE };
        // Children rest until filled or cancelled here (re-pegs, the end): good-till-cancel.
        let decision = Decision::new(self.next_decision_id, p.asset, p.side, qty, price, reason)
            .with_time_in_force(TimeInForce::GoodTillCancel);
        self.child = Some(Child {
            decision_id: self.next_decision_id,
            intent_id: None,
            price,
            aggressive: behind,
            sent_ns: now_ns,
            cancel_sent: false,
        });
        self.next_decision_id += 1;
        self.summary.children += 1;
        out.decision = Some(decision);
    }
}
