//! RiskSentinel's core: a state machine with no I/O and no clock. Every check takes the
//! agent clock (`now_ns`) from its caller.
//!
//! # Exposure arithmetic
//!
//! Each instrument is valued at its reference price. Open (approved, not yet terminal) orders
//! are reserved as if they fill: with position `p`, open buys `b` and open sells `s`, the
//! position can end anywhere in `[p − s, p + b]`. Per instrument:
//! - worst-case lots `max(|p + b|, |p − s|)`, upper value `v(p + b)`, lower value `v(p − s)`,
//!   gross `max(|v(p + b)|, |v(p − s)|)`;
//! - a group or the portfolio sums them: gross `Σ gross`, net long `Σ upper`, net short
//!   `−Σ lower`, |net| `max(Σ upper, −Σ lower)`;
//! - initial margin `⌈gross × initial_margin_bp / 10⁴⌉`, summed, against collateral;
//! - VaR on net lots `p + b − s` (see [`crate::var_book`]).
//!
//! A limit holds for an order when the measure after it is within the limit **or not above
//! the measure before it**: an order that does not add to a measure is never blocked by it
//! (so a book over a freshly tightened limit can still be reduced).
use qp_risk_model::ReturnMatrix;
use qp_wire::{AssetId, Decision, ExecReport, ExecStatus, OrderIntent, Side, TimeInForce, VetoReason};

use crate::approved::{self, RiskApproved};
use crate::error::{CommandError, SentinelError};
use crate::instrument::{InstrumentSpec, InstrumentTable};
use crate::kill_switch::{KillSwitch, KillSwitchCommand, KillSwitchState, TripCause};
use crate::limits::{CompiledLimits, LimitsError, LossTripState, RiskLimits};
use crate::rate::SlidingWindow;
use crate::var_book::{VarBook, VarFigures};

/// Why an order was vetoed: the wire reason and a fixed description for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Veto {
    pub reason: VetoReason,
    pub detail: &'static str,
}

impl Veto {
    fn new(reason: VetoReason, detail: &'static str) -> Self {
        Self { reason, detail }
    }
}

impl std::fmt::Display for Veto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "vetoed ({:?}): {}", self.reason, self.detail)
    }
}

/// An approved order that is not yet terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOrder {
    pub intent_id: u64,
    pub decision_id: u64,
    pub asset: AssetId,
    pub side: Side,
    /// Lots not yet filled, reserved against exposure.
    pub remaining_lots: i64,
    pub cancel_requested: bool,
}

/// A request to cancel an open order, emitted when the switch goes to HALTED. The execution
/// side drains them with [`RiskSentinel::take_cancel_requests`]; the order stays reserved
/// until its execution report says cancelled (or filled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CancelRequest {
    pub intent_id: u64,
    pub decision_id: u64,
    pub asset: AssetId,
    pub side: Side,
    pub leaves_lots: i64,
}

/// Counters for the audit trail.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SentinelStats {
    pub checked: u64,
    pub approved: u64,
    /// Vetoes by [`VetoReason`] wire number.
    pub vetoed_by_reason: [u64; 16],
    pub exec_reports: u64,
    /// Reports for no open order of ours, or for an unknown asset.
    pub unmatched_reports: u64,
    pub cancels_requested: u64,
    pub withdrawn: u64,
}

/// One instrument's exposure: worst-case bounds with open orders counted as filled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AssetExposure {
    /// `max(|p + b|, |p − s|)`.
    pub worst_lots: i64,
    /// Value of `p + b` (micros).
    pub upper_micros: i128,
    /// Value of `p − s` (micros).
    pub lower_micros: i128,
    /// `max(|upper|, |lower|)`.
    pub gross_micros: i128,
    pub margin_micros: i128,
    /// Value of the filled position `p` (mark to market).
    pub value_micros: i128,
}

/// Sums of [`AssetExposure`] over a group or the portfolio.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExposureSums {
    pub gross_micros: i128,
    /// Σ upper: the most the set can be net long.
    pub upper_micros: i128,
    /// Σ lower: minus the most the set can be net short.
    pub lower_micros: i128,
}

impl ExposureSums {
    fn add(&mut self, e: &AssetExposure, sign: i128) {
        self.gross_micros = self.gross_micros.saturating_add(sign * e.gross_micros);
        self.upper_micros = self.upper_micros.saturating_add(sign * e.upper_micros);
        self.lower_micros = self.lower_micros.saturating_add(sign * e.lower_micros);
    }

    fn moved(&self, before: &AssetExposure, after: &AssetExposure) -> Self {
        let mut next = *self;
        next.add(before, -1);
        next.add(after, 1);
        next
    }

    /// Worst-case |net|: `max(Σ upper, −Σ lower)`.
    pub fn net_abs_micros(&self) -> i128 {
        self.upper_micros.max(self.lower_micros.saturating_neg())
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct AssetState {
    position_lots: i64,
    position_known: bool,
    pending_buy_lots: i64,
    pending_sell_lots: i64,
    /// 0 until the first price.
    ref_price_ticks: i64,
    price_ts_ns: u64,
    /// Fill cash flows since the day started (micros; a buy is negative).
    cash_micros: i128,
    exposure: AssetExposure,
}

/// What an accepted check will change.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    index: usize,
    side: Side,
    qty_lots: i64,
    exposure: AssetExposure,
    var_exposure: f64,
    var_after: VarFigures,
}

/// A limit holds when `after` is within `limit` or not above `before`.
#[inline]
fn holds(before: i128, after: i128, limit: i128) -> bool {
    after <= limit || after <= before
}

/// The pre-trade risk gate. See the crate docs and `DESIGN.md` for the check order.
#[derive(Debug)]
pub struct RiskSentinel {
    table: InstrumentTable,
    limits: CompiledLimits,
    assets: Vec<AssetState>,
    groups: Vec<ExposureSums>,
    portfolio: ExposureSums,
    margin_micros: i128,
    value_micros: i128,
    cash_micros: i128,
    day_baseline_micros: i128,
    var_book: VarBook,
    kill_switch: KillSwitch,
    loss_acknowledged: bool,
    orders_window: SlidingWindow,
    messages_window: SlidingWindow,
    open_orders: Vec<OpenOrder>,
    cancels: Vec<CancelRequest>,
    reconciled: bool,
    /// Latest agent-clock time seen (checks, prices): when commands' cancels are counted.
    last_seen_ns: u64,
    next_intent_id: u64,
    time_in_force: TimeInForce,
    stats: SentinelStats,
}

impl RiskSentinel {
    /// A sentinel over `instruments`, with `history` (one column per instrument, in the same
    /// order; at least 100 days for a 99% VaR) and the limits file's text. It starts
    /// **not reconciled**: every order is vetoed until [`RiskSentinel::reconciled`].
    pub fn new(
        instruments: Vec<InstrumentSpec>,
        history: &ReturnMatrix,
        limits_toml: &str,
    ) -> Result<Self, SentinelError> {
        let table = InstrumentTable::new(instruments)?;
        if history.assets() != table.len() {
            return Err(SentinelError::HistoryMismatch { expected: table.len(), found: history.assets() });
        }
        let limits = CompiledLimits::from_text(limits_toml, &table)?;
        let var_book = VarBook::new(history)?;
        let open_capacity = limits.source.rate.max_open_orders as usize;
        let mut sentinel = Self {
            assets: vec![AssetState::default(); table.len()],
            groups: vec![ExposureSums::default(); table.group_names.len()],
            portfolio: ExposureSums::default(),
            margin_micros: 0,
            value_micros: 0,
            cash_micros: 0,
            day_baseline_micros: 0,
            var_book,
            kill_switch: KillSwitch::new(KillSwitchState::Active),
            loss_acknowledged: false,
            orders_window: SlidingWindow::new(limits.source.rate.max_orders_per_sec),
            messages_window: SlidingWindow::new(limits.source.rate.max_messages_per_sec),
            open_orders: Vec::with_capacity(open_capacity),
            cancels: Vec::with_capacity(open_capacity),
            reconciled: false,
            last_seen_ns: 0,
            next_intent_id: 1,
            time_in_force: TimeInForce::ImmediateOrCancel,
            stats: SentinelStats::default(),
            table,
            limits,
        };
        sentinel.recompute_all();
        Ok(sentinel)
    }

    /// First intent id (after a restart, continue above the last one issued). Default 1.
    pub fn with_first_intent_id(mut self, intent_id: u64) -> Self {
        self.next_intent_id = intent_id;
        self
    }

    /// Time in force of the intents it makes, unless a decision asks for its own
    /// (`Decision::time_in_force`). Default immediate-or-cancel.
    pub fn with_time_in_force(mut self, time_in_force: TimeInForce) -> Self {
        self.time_in_force = time_in_force;
        self
    }

    /// The state to start in (a node restores a persisted HALTED here). Default ACTIVE.
    pub fn with_kill_switch(mut self, state: KillSwitchState) -> Self {
        self.kill_switch = KillSwitch::new(state);
        self
    }

    // ----------------------------------------------------------------------------------
    // The check.

    /// Approve or veto one decision. Approval reserves the order against every exposure
    /// measure (as if it fills) until execution reports say otherwise. Allocates nothing.
    pub fn check(&mut self, now_ns: u64, decision: &Decision) -> Result<RiskApproved<OrderIntent>, Veto> {
        self.stats.checked += 1;
        self.last_seen_ns = self.last_seen_ns.max(now_ns);
        match self.evaluate(now_ns, decision) {
            Ok(candidate) => Ok(self.commit(now_ns, decision, candidate)),
            Err(veto) => {
                if let Some(count) = self.stats.vetoed_by_reason.get_mut(veto.reason as usize) {
                    *count += 1;
                }
                Err(veto)
            }
        }
    }

    fn evaluate(&mut self, now_ns: u64, d: &Decision) -> Result<Candidate, Veto> {
        use VetoReason as R;
        // Fail-closed conditions first.
        let Some(index) = self.table.index(d.asset()) else {
            return Err(Veto::new(R::UnknownPosition, "asset is not a guarded instrument"));
        };
        let Some(side) = d.side() else {
            return Err(Veto::new(R::UnknownPosition, "decision has no valid side"));
        };
        if !self.reconciled {
            return Err(Veto::new(R::NotReconciled, "positions not reconciled since start"));
        }
        let state = self.assets[index];
        if !state.position_known {
            return Err(Veto::new(R::UnknownPosition, "position of the asset is unknown"));
        }
        if state.ref_price_ticks <= 0 {
            return Err(Veto::new(R::StalePrice, "no reference price yet"));
        }
        if now_ns.saturating_sub(state.price_ts_ns) > self.limits.max_price_age_ns {
            return Err(Veto::new(R::StalePrice, "reference price older than fail_closed.max_price_age_ms"));
        }
        let qty = d.qty.get();
        // Then the kill switch.
        match self.kill_switch.state {
            KillSwitchState::Active => {}
            KillSwitchState::Halted => return Err(Veto::new(R::KillSwitch, "kill switch HALTED")),
            KillSwitchState::Reducing => {
                if !reduces(&state, side, qty) {
                    return Err(Veto::new(R::Reducing, "kill switch REDUCING: order does not reduce the position"));
                }
            }
        }
        // The order itself.
        let instrument = &self.table.instruments[index];
        let limits = &self.limits.by_asset[index];
        if qty <= 0 {
            return Err(Veto::new(R::MaxQuantity, "quantity must be positive"));
        }
        if qty > limits.max_order_qty_lots {
            return Err(Veto::new(R::MaxQuantity, "quantity above max_order_qty_lots"));
        }
        let limit_price = d.limit_price.get();
        if limit_price <= 0 {
            return Err(Veto::new(R::PriceCollar, "limit price must be positive"));
        }
        if instrument.value_micros(limit_price, qty) > limits.max_order_notional_micros {
            return Err(Veto::new(R::MaxNotional, "notional above max_order_notional"));
        }
        let reference = state.ref_price_ticks;
        let distance = (i128::from(limit_price) - i128::from(reference)).abs();
        if distance * 10_000 > i128::from(limits.price_collar_bp) * i128::from(reference) {
            return Err(Veto::new(R::PriceCollar, "limit price outside price_collar_bp of the reference"));
        }
        // Rates.
        if self.open_orders.len() >= self.limits.source.rate.max_open_orders as usize {
            return Err(Veto::new(R::RateLimit, "max_open_orders reached"));
        }
        if !self.orders_window.allows(now_ns) {
            return Err(Veto::new(R::RateLimit, "max_orders_per_sec reached"));
        }
        if !self.messages_window.allows(now_ns) {
            return Err(Veto::new(R::RateLimit, "max_messages_per_sec reached"));
        }
        // Exposure: the instrument, then the portfolio.
        let (buy, sell) = match side {
            Side::Buy => (state.pending_buy_lots.saturating_add(qty), state.pending_sell_lots),
            Side::Sell => (state.pending_buy_lots, state.pending_sell_lots.saturating_add(qty)),
        };
        let before = state.exposure;
        let after = self.exposure_of(index, state.position_lots, buy, sell, reference);
        if !holds(before.worst_lots.into(), after.worst_lots.into(), limits.max_position_lots.into()) {
            return Err(Veto::new(R::Exposure, "position above max_position_lots"));
        }
        if !holds(before.gross_micros, after.gross_micros, limits.max_position_notional_micros) {
            return Err(Veto::new(R::Exposure, "position above max_position_notional"));
        }
        let portfolio = self.portfolio.moved(&before, &after);
        if !holds(self.portfolio.gross_micros, portfolio.gross_micros, self.limits.max_gross_micros) {
            return Err(Veto::new(R::Exposure, "portfolio above max_gross_notional"));
        }
        if !holds(self.portfolio.net_abs_micros(), portfolio.net_abs_micros(), self.limits.max_net_micros) {
            return Err(Veto::new(R::Exposure, "portfolio above max_net_notional"));
        }
        // Groups.
        for &g in &instrument.group_indices {
            let (sums, limit) = (&self.groups[g], &self.limits.by_group[g]);
            let moved = sums.moved(&before, &after);
            if !holds(sums.gross_micros, moved.gross_micros, limit.max_gross) {
                return Err(Veto::new(R::GroupExposure, "group above max_gross_notional"));
            }
            if !holds(sums.upper_micros, moved.upper_micros, limit.max_net_long) {
                return Err(Veto::new(R::GroupExposure, "group above max_net_long_notional"));
            }
            if !holds(sums.lower_micros.saturating_neg(), moved.lower_micros.saturating_neg(), limit.max_net_short) {
                return Err(Veto::new(R::GroupExposure, "group above max_net_short_notional"));
            }
        }
        // Margin.
        let margin = self.margin_micros - before.margin_micros + after.margin_micros;
        if !holds(self.margin_micros, margin, self.limits.collateral_micros) {
            return Err(Veto::new(R::Margin, "initial margin above collateral"));
        }
        // VaR: one O(scenarios) pass over the precomputed scenario P&L.
        let var_exposure = instrument.value_f64(reference, net_lots(state.position_lots, buy, sell));
        let var_before = self.var_book.figures();
        let var_after = self.var_book.preview(index, var_exposure - self.var_book.exposure(index));
        let (max_var, max_increment) = (self.limits.max_var, self.limits.max_incremental_var);
        for (b, a) in [(var_before.historical, var_after.historical), (var_before.parametric, var_after.parametric)] {
            // Written so that a NaN vetoes.
            if !(at_most(a, max_var) || at_most(a, b)) {
                return Err(Veto::new(R::ValueAtRisk, "VaR after the order above var.max_var"));
            }
            if !at_most(a - b, max_increment) {
                return Err(Veto::new(R::ValueAtRisk, "incremental VaR above var.max_incremental_var"));
            }
        }
        Ok(Candidate { index, side, qty_lots: qty, exposure: after, var_exposure, var_after })
    }

    fn commit(&mut self, now_ns: u64, decision: &Decision, c: Candidate) -> RiskApproved<OrderIntent> {
        let state = &mut self.assets[c.index];
        match c.side {
            Side::Buy => state.pending_buy_lots = state.pending_buy_lots.saturating_add(c.qty_lots),
            Side::Sell => state.pending_sell_lots = state.pending_sell_lots.saturating_add(c.qty_lots),
        }
        self.set_exposure(c.index, c.exposure);
        self.var_book.set_exposure(c.index, c.var_exposure, Some(c.var_after));
        self.orders_window.record(now_ns);
        self.messages_window.record(now_ns);
        let time_in_force = decision.requested_time_in_force().unwrap_or(self.time_in_force);
        let intent = OrderIntent::new(self.next_intent_id, decision, time_in_force);
        self.next_intent_id += 1;
        self.open_orders.push(OpenOrder {
            intent_id: intent.intent_id.get(),
            decision_id: decision.decision_id.get(),
            asset: decision.asset(),
            side: c.side,
            remaining_lots: c.qty_lots,
            cancel_requested: false,
        });
        self.stats.approved += 1;
        self.evaluate_trips();
        approved::grant(intent)
    }

    /// Take back an approval the execution side could not accept (its hand-off was full):
    /// the reservation is released. The rate windows keep counting it.
    pub fn withdraw(&mut self, order: RiskApproved<OrderIntent>) {
        let intent = order.into_inner();
        if let Some(position) = self.open_orders.iter().position(|o| o.intent_id == intent.intent_id.get()) {
            let open = self.open_orders.swap_remove(position);
            self.release(open);
            self.stats.withdrawn += 1;
            self.evaluate_trips();
        }
    }

    /// Whether an order of `qty` lots on `side` reduces `asset`'s |position| without
    /// flipping it, counting open orders on the same side as filled: a sell needs
    /// `position > 0` and `open sells + qty ≤ position`, a buy `position < 0` and
    /// `open buys + qty ≤ −position`.
    pub fn is_risk_reducing(&self, asset: AssetId, side: Side, qty_lots: i64) -> bool {
        self.table.index(asset).is_some_and(|i| reduces(&self.assets[i], side, qty_lots))
    }

    // ----------------------------------------------------------------------------------
    // Inputs besides decisions.

    /// Apply an execution report: fills move lots from reserved to the position; a
    /// terminal report (filled, cancelled, rejected, or nothing left) releases what is left.
    /// A fill for no open order of ours (e.g. from before a restart) still moves the
    /// position, if it is known.
    pub fn on_exec_report(&mut self, report: &ExecReport) {
        self.stats.exec_reports += 1;
        let (Some(index), Some(side), Some(status)) = (
            self.table.index(qp_wire::AssetId::from_wire(report.asset.get())),
            Side::from_wire(report.side),
            ExecStatus::from_wire(report.status),
        ) else {
            self.stats.unmatched_reports += 1;
            return;
        };
        let open = self.open_orders.iter().position(|o| o.intent_id == report.intent_id.get());
        if open.is_none() {
            self.stats.unmatched_reports += 1;
        }
        let filled = match status {
            ExecStatus::PartiallyFilled | ExecStatus::Filled => report.last_qty.get().max(0),
            _ => 0,
        };
        let instrument = &self.table.instruments[index];
        let state = &mut self.assets[index];
        if filled > 0 {
            if let Some(o) = open.map(|p| &mut self.open_orders[p]) {
                let from_reserve = filled.min(o.remaining_lots);
                o.remaining_lots -= from_reserve;
                match o.side {
                    Side::Buy => state.pending_buy_lots -= from_reserve,
                    Side::Sell => state.pending_sell_lots -= from_reserve,
                }
            }
            if state.position_known {
                state.position_lots = state.position_lots.saturating_add(side.sign() * filled);
            }
            let cash = -instrument.value_micros(report.last_price.get(), side.sign() * filled);
            state.cash_micros = state.cash_micros.saturating_add(cash);
            self.cash_micros = self.cash_micros.saturating_add(cash);
        }
        if let Some(p) = open
            && (report.is_terminal() || self.open_orders[p].remaining_lots == 0)
        {
            let o = self.open_orders.swap_remove(p);
            self.release(o);
        }
        self.refresh_asset(index);
        self.evaluate_trips();
    }

    /// Set a reference price (ticks) observed at `ts_ns` on the agent clock.
    pub fn update_price(&mut self, asset: AssetId, price_ticks: i64, ts_ns: u64) -> Result<(), CommandError> {
        let index = self.table.index(asset).ok_or(CommandError::UnknownAsset(asset))?;
        if price_ticks <= 0 {
            return Err(CommandError::InvalidPrice { asset, price: price_ticks });
        }
        let first = self.assets[index].ref_price_ticks <= 0;
        self.assets[index].ref_price_ticks = price_ticks;
        self.assets[index].price_ts_ns = ts_ns;
        self.last_seen_ns = self.last_seen_ns.max(ts_ns);
        self.refresh_asset(index);
        if first {
            // A position's first valuation is where its day starts, not a profit.
            self.day_baseline_micros =
                self.day_baseline_micros.saturating_add(self.assets[index].exposure.value_micros);
        }
        if self.var_book.revaluation_due() {
            self.var_book.revalue();
        }
        self.evaluate_trips();
        Ok(())
    }

    /// Positions as reconciled with the venue, in lots. Instruments not listed stay
    /// unknown (their orders are vetoed). Open orders and reservations are forgotten (after
    /// a restart the execution side cancels whatever the venue still holds), fill cash is
    /// reset and the trading day restarts from these positions.
    pub fn reconciled(&mut self, positions: &[(AssetId, i64)]) -> Result<(), CommandError> {
        let mut indices = Vec::with_capacity(positions.len());
        for &(asset, _) in positions {
            indices.push(self.table.index(asset).ok_or(CommandError::UnknownAsset(asset))?);
        }
        for state in &mut self.assets {
            state.position_known = false;
            state.position_lots = 0;
            state.pending_buy_lots = 0;
            state.pending_sell_lots = 0;
            state.cash_micros = 0;
        }
        for (&index, &(_, lots)) in indices.iter().zip(positions) {
            self.assets[index].position_known = true;
            self.assets[index].position_lots = lots;
        }
        self.open_orders.clear();
        self.cancels.clear();
        self.cash_micros = 0;
        self.recompute_all();
        self.day_baseline_micros = self.value_micros;
        self.reconciled = true;
        self.evaluate_trips();
        Ok(())
    }

    /// Positions can no longer be trusted (execution lost its session, the agent is about
    /// to restart): every order is vetoed `NotReconciled` until [`RiskSentinel::reconciled`].
    pub fn mark_unreconciled(&mut self) {
        self.reconciled = false;
    }

    /// One instrument's position can no longer be trusted: its orders are vetoed
    /// `UnknownPosition` until the next reconciliation.
    pub fn invalidate_position(&mut self, asset: AssetId) -> Result<(), CommandError> {
        let index = self.table.index(asset).ok_or(CommandError::UnknownAsset(asset))?;
        self.assets[index].position_known = false;
        Ok(())
    }

    /// Start a new trading day: the daily loss is measured from the book's value now.
    pub fn start_trading_day(&mut self) {
        self.day_baseline_micros = self.value_micros.saturating_add(self.cash_micros);
        self.loss_acknowledged = false;
        self.evaluate_trips();
    }

    /// Replace the VaR history (e.g. the daily roll): one column per instrument.
    pub fn set_history(&mut self, history: &ReturnMatrix) -> Result<(), SentinelError> {
        if history.assets() != self.table.len() {
            return Err(SentinelError::HistoryMismatch { expected: self.table.len(), found: history.assets() });
        }
        self.var_book.replace_history(history)?;
        self.evaluate_trips();
        Ok(())
    }

    /// Reload the limits file. The new text is parsed and validated first; on any error the
    /// old limits stay in force and the error says where (line and column, or the key).
    ///
    /// This parses and validates on the caller's thread; a running agent takes limits
    /// compiled elsewhere through its command ring instead ([`crate::command`]), by the same
    /// path ([`CompiledLimits`]).
    pub fn reload_limits(&mut self, limits_toml: &str) -> Result<(), LimitsError> {
        let mut limits = CompiledLimits::from_text(limits_toml, &self.table)?;
        self.swap_limits(&mut limits);
        Ok(())
    }

    /// Put compiled limits in force; `limits` is left holding the old ones (so whoever
    /// allocated the new ones can also free the old). Refused, with nothing changed, when
    /// they were compiled against another instrument list.
    ///
    /// Allocates nothing unless the new limits raise a rate or `max_open_orders` above any
    /// earlier value (the preallocated windows and order lists then grow, once).
    pub(crate) fn swap_limits_checked(&mut self, limits: &mut CompiledLimits) -> Result<(), &'static str> {
        if limits.table_fingerprint != self.table.fingerprint {
            return Err("limits were compiled against another instrument list");
        }
        self.swap_limits(limits);
        Ok(())
    }

    fn swap_limits(&mut self, limits: &mut CompiledLimits) {
        let rate = limits.source.rate;
        self.orders_window.set_limit(rate.max_orders_per_sec);
        self.messages_window.set_limit(rate.max_messages_per_sec);
        let open_capacity = rate.max_open_orders as usize;
        self.open_orders.reserve(open_capacity.saturating_sub(self.open_orders.len()));
        self.cancels.reserve(open_capacity.saturating_sub(self.cancels.len()));
        std::mem::swap(&mut self.limits, limits);
        self.recompute_all();
        self.evaluate_trips();
    }

    /// The instrument table, for a command ring's sender (it compiles limits against it).
    pub(crate) fn table(&self) -> &InstrumentTable {
        &self.table
    }

    /// Operate the kill switch. `Halt` always succeeds and requests cancels of every open
    /// order; `Reduce` always succeeds (also out of HALTED, to trade out of a breach);
    /// `Activate` is refused while the daily loss or the book's VaR is beyond its limit.
    pub fn command(&mut self, command: KillSwitchCommand) -> Result<KillSwitchState, CommandError> {
        match command {
            KillSwitchCommand::Halt => {
                self.kill_switch = KillSwitch { state: KillSwitchState::Halted, cause: TripCause::Command };
                self.request_cancels();
            }
            KillSwitchCommand::Reduce => {
                self.loss_acknowledged = self.loss_breached();
                self.kill_switch = KillSwitch { state: KillSwitchState::Reducing, cause: TripCause::Command };
            }
            KillSwitchCommand::Activate => {
                let persisting = if self.loss_breached() {
                    Some(TripCause::Loss)
                } else if self.var_breached() {
                    Some(TripCause::ValueAtRisk)
                } else {
                    None
                };
                if let Some(cause) = persisting {
                    return Err(CommandError::BreachPersists { state: self.kill_switch.state.name(), cause });
                }
                self.kill_switch = KillSwitch { state: KillSwitchState::Active, cause: TripCause::Command };
            }
        }
        Ok(self.kill_switch.state)
    }

    /// Cancel requests emitted since the last call (on entering HALTED), oldest first.
    pub fn take_cancel_requests(&mut self) -> std::vec::Drain<'_, CancelRequest> {
        self.cancels.drain(..)
    }

    // ----------------------------------------------------------------------------------
    // Read-outs.

    pub fn kill_switch_state(&self) -> KillSwitchState {
        self.kill_switch.state
    }

    pub fn kill_switch_cause(&self) -> TripCause {
        self.kill_switch.cause
    }

    pub fn is_reconciled(&self) -> bool {
        self.reconciled
    }

    pub fn limits(&self) -> &RiskLimits {
        &self.limits.source
    }

    pub fn stats(&self) -> SentinelStats {
        self.stats
    }

    pub fn open_orders(&self) -> &[OpenOrder] {
        &self.open_orders
    }

    /// The book's VaR now (filled positions and open orders).
    pub fn var_figures(&self) -> VarFigures {
        self.var_book.figures()
    }

    /// The VaR book's exposure per instrument (currency, instrument order).
    pub fn var_exposures(&self) -> &[f64] {
        self.var_book.exposures()
    }

    /// Instrument index (position in the constructor's list) of `asset`.
    pub fn instrument_index(&self, asset: AssetId) -> Option<usize> {
        self.table.index(asset)
    }

    /// Filled position in lots, if known.
    pub fn position_lots(&self, asset: AssetId) -> Option<i64> {
        self.table.index(asset).map(|i| &self.assets[i]).filter(|s| s.position_known).map(|s| s.position_lots)
    }

    pub fn exposure(&self, asset: AssetId) -> Option<AssetExposure> {
        self.table.index(asset).map(|i| self.assets[i].exposure)
    }

    pub fn portfolio_exposure(&self) -> ExposureSums {
        self.portfolio
    }

    pub fn group_exposure(&self, group: &str) -> Option<ExposureSums> {
        self.table.group_names.iter().position(|g| g == group).map(|g| self.groups[g])
    }

    /// Initial margin of the book, micros.
    pub fn margin_micros(&self) -> i128 {
        self.margin_micros
    }

    /// Mark-to-market P&L since the trading day started, micros.
    pub fn daily_pnl_micros(&self) -> i128 {
        self.value_micros.saturating_add(self.cash_micros).saturating_sub(self.day_baseline_micros)
    }

    // ----------------------------------------------------------------------------------
    // Internals.

    fn exposure_of(&self, index: usize, position: i64, buy: i64, sell: i64, price: i64) -> AssetExposure {
        let instrument = &self.table.instruments[index];
        let (upper_lots, lower_lots) = (position.saturating_add(buy), position.saturating_sub(sell));
        let upper_micros = instrument.value_micros(price, upper_lots);
        let lower_micros = instrument.value_micros(price, lower_lots);
        let gross_micros = upper_micros.abs().max(lower_micros.abs());
        let bp = i128::from(self.limits.by_asset[index].initial_margin_bp);
        AssetExposure {
            worst_lots: upper_lots.saturating_abs().max(lower_lots.saturating_abs()),
            upper_micros,
            lower_micros,
            gross_micros,
            margin_micros: (gross_micros.saturating_mul(bp) + 9_999) / 10_000,
            value_micros: instrument.value_micros(price, position),
        }
    }

    /// Replace one instrument's exposure in every sum.
    fn set_exposure(&mut self, index: usize, exposure: AssetExposure) {
        let before = self.assets[index].exposure;
        self.portfolio = self.portfolio.moved(&before, &exposure);
        for &g in &self.table.instruments[index].group_indices {
            self.groups[g] = self.groups[g].moved(&before, &exposure);
        }
        self.margin_micros = self.margin_micros - before.margin_micros + exposure.margin_micros;
        self.value_micros = self.value_micros - before.value_micros + exposure.value_micros;
        self.assets[index].exposure = exposure;
    }

    /// Recompute one instrument's exposure and VaR exposure from its state.
    fn refresh_asset(&mut self, index: usize) {
        let s = self.assets[index];
        let exposure =
            self.exposure_of(index, s.position_lots, s.pending_buy_lots, s.pending_sell_lots, s.ref_price_ticks);
        self.set_exposure(index, exposure);
        let net = net_lots(s.position_lots, s.pending_buy_lots, s.pending_sell_lots);
        let var_exposure = self.table.instruments[index].value_f64(s.ref_price_ticks, net);
        self.var_book.set_exposure(index, var_exposure, None);
    }

    /// Rebuild every sum and the VaR book from the per-instrument state.
    fn recompute_all(&mut self) {
        self.portfolio = ExposureSums::default();
        self.groups.fill(ExposureSums::default());
        self.margin_micros = 0;
        self.value_micros = 0;
        for index in 0..self.assets.len() {
            self.assets[index].exposure = AssetExposure::default();
            let s = self.assets[index];
            let exposure =
                self.exposure_of(index, s.position_lots, s.pending_buy_lots, s.pending_sell_lots, s.ref_price_ticks);
            self.set_exposure(index, exposure);
            let net = net_lots(s.position_lots, s.pending_buy_lots, s.pending_sell_lots);
            let var_exposure = self.table.instruments[index].value_f64(s.ref_price_ticks, net);
            self.var_book.set_exposure(index, var_exposure, Some(VarFigures::default()));
        }
        self.var_book.revalue();
    }

    fn release(&mut self, open: OpenOrder) {
        if let Some(index) = self.table.index(open.asset) {
            let state = &mut self.assets[index];
            match open.side {
                Side::Buy => state.pending_buy_lots -= open.remaining_lots,
                Side::Sell => state.pending_sell_lots -= open.remaining_lots,
            }
            self.refresh_asset(index);
        }
    }

    fn loss_breached(&self) -> bool {
        self.daily_pnl_micros() < -self.limits.daily_loss_micros
    }

    fn var_breached(&self) -> bool {
        let figures = self.var_book.figures();
        !(at_most(figures.historical, self.limits.max_var) && at_most(figures.parametric, self.limits.max_var))
    }

    /// Automatic trips: they only tighten the switch.
    fn evaluate_trips(&mut self) {
        if self.loss_breached() {
            if !self.loss_acknowledged {
                let target = match self.limits.source.kill_switch.loss_trip_state {
                    LossTripState::Reducing => KillSwitchState::Reducing,
                    LossTripState::Halted => KillSwitchState::Halted,
                };
                if self.kill_switch.tighten(target, TripCause::Loss) && target == KillSwitchState::Halted {
                    self.request_cancels();
                }
            }
        } else {
            self.loss_acknowledged = false;
        }
        if self.var_breached() {
            self.kill_switch.tighten(KillSwitchState::Reducing, TripCause::ValueAtRisk);
        }
    }

    fn request_cancels(&mut self) {
        for open in self.open_orders.iter_mut().filter(|o| !o.cancel_requested) {
            open.cancel_requested = true;
            self.cancels.push(CancelRequest {
                intent_id: open.intent_id,
                decision_id: open.decision_id,
                asset: open.asset,
                side: open.side,
                leaves_lots: open.remaining_lots,
            });
            // A cancel is a message to the venue; it is never refused, but it counts.
            self.messages_window.record(self.last_seen_ns);
            self.stats.cancels_requested += 1;
        }
    }
}

/// `value ≤ limit`; false for a NaN, so a NaN never passes a limit.
#[inline]
fn at_most(value: f64, limit: f64) -> bool {
    value <= limit
}

fn net_lots(position: i64, buy: i64, sell: i64) -> i64 {
    position.saturating_add(buy).saturating_sub(sell)
}

fn reduces(state: &AssetState, side: Side, qty: i64) -> bool {
    let p = state.position_lots;
    match side {
        Side::Sell => p > 0 && state.pending_sell_lots.saturating_add(qty) <= p,
        Side::Buy => p < 0 && state.pending_buy_lots.saturating_add(qty) <= p.saturating_neg(),
    }
}
