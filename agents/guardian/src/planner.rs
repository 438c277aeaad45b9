//! The rebalancing plan: risk-parity target weights for the book's gross value, and the
//! integer-lot trades that move the positions toward them.
use qp_risk_model::{Covariance, ErcOptions, ReturnMatrix, RiskParitySolver};
use qp_wire::{AssetId, Side};

use crate::config::{GuardedAsset, GuardianConfig};
use crate::error::GuardianError;

/// One proposed trade.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RebalanceOrder {
    /// Position in the configured asset list.
    pub index: usize,
    pub asset: AssetId,
    pub side: Side,
    /// Always positive.
    pub qty_lots: i64,
    /// Limit price in ticks.
    pub limit_price: i64,
    /// `qty_lots × lot value` in the quote currency.
    pub notional: f64,
}

/// What one plan produced (borrowed from the planner's buffers).
#[derive(Debug, Clone, Copy)]
pub struct RebalancePlan<'a> {
    /// Risk-parity weights (sum to 1), per configured asset.
    pub weights: &'a [f64],
    /// Each asset's share of portfolio variance at those weights.
    pub risk_shares: &'a [f64],
    /// Target positions in (fractional) lots: `weight × gross value / lot value`.
    pub target_lots: &'a [f64],
    /// Trades above the threshold, largest notional first.
    pub orders: &'a [RebalanceOrder],
    /// `Σ |position × lot value|` in the quote currency.
    pub gross_value: f64,
    /// Newton iterations of the risk-parity solve.
    pub iterations: u32,
}

/// Turns a returns window, positions and prices into target weights and rebalancing trades.
/// Every buffer is allocated in [`RebalancePlanner::new`]; [`RebalancePlanner::plan`]
/// allocates nothing.
#[derive(Debug, Clone)]
pub struct RebalancePlanner {
    assets: Vec<GuardedAsset>,
    lot_value_per_tick: Vec<f64>,
    min_trade_bp: u32,
    limit_offset_bp: u32,
    covariance: Covariance,
    solver: RiskParitySolver,
    lot_values: Vec<f64>,
    target_lots: Vec<f64>,
    orders: Vec<RebalanceOrder>,
}

impl RebalancePlanner {
    pub fn new(config: &GuardianConfig) -> Result<Self, GuardianError> {
        config.validate()?;
        let n = config.assets.len();
        Ok(Self {
            assets: config.assets.clone(),
            lot_value_per_tick: config.assets.iter().map(GuardedAsset::lot_value_per_tick).collect(),
            min_trade_bp: config.min_trade_bp,
            limit_offset_bp: config.limit_offset_bp,
            covariance: Covariance::zeros(n),
            solver: RiskParitySolver::equal_risk(n, ErcOptions::default()),
            lot_values: vec![0.0; n],
            target_lots: vec![0.0; n],
            orders: Vec::with_capacity(n),
        })
    }

    pub fn assets(&self) -> &[GuardedAsset] {
        &self.assets
    }

    /// Plan a rebalance. `returns` has one column per configured asset (in order);
    /// `positions_lots` and `prices` (ticks) one value per configured asset.
    ///
    /// Target lots `tᵢ = wᵢ G / vᵢ` (G gross value, vᵢ one lot's value). Each trade is
    /// `tᵢ − cᵢ` truncated toward zero, so no trade overshoots its target and every traded
    /// position ends within one lot of it; trades below `min_trade_bp` of G are dropped.
    pub fn plan(
        &mut self,
        returns: &ReturnMatrix,
        positions_lots: &[i64],
        prices: &[i64],
    ) -> Result<RebalancePlan<'_>, GuardianError> {
        self.plan_to_value(returns, positions_lots, prices, None)
    }

    /// As [`RebalancePlanner::plan`], the targets sized to `book_value` (quote currency) when
    /// given instead of the current gross value: `tᵢ = wᵢ V / vᵢ`. The plan's `gross_value` is
    /// still what is held.
    pub fn plan_to_value(
        &mut self,
        returns: &ReturnMatrix,
        positions_lots: &[i64],
        prices: &[i64],
        book_value: Option<f64>,
    ) -> Result<RebalancePlan<'_>, GuardianError> {
        let n = self.assets.len();
        for (what, found) in
            [("returns columns", returns.assets()), ("positions", positions_lots.len()), ("prices", prices.len())]
        {
            if found != n {
                return Err(GuardianError::DimensionMismatch { what, expected: n, found });
            }
        }
        if let Some(index) = prices.iter().position(|p| *p <= 0) {
            return Err(GuardianError::NonPositivePrice { index, price: prices[index] });
        }
        let mut gross_value = 0.0;
        for i in 0..n {
            self.lot_values[i] = prices[i] as f64 * self.lot_value_per_tick[i];
            gross_value += (positions_lots[i] as f64 * self.lot_values[i]).abs();
        }
        let target_value = match book_value {
            Some(value) if value.is_finite() && value > 0.0 => value,
            Some(value) => return Err(GuardianError::BookValue(value)),
            None if gross_value > 0.0 => gross_value,
            None => return Err(GuardianError::EmptyBook),
        };

        self.covariance.fill_sample(returns)?;
        let summary = self.solver.solve(&self.covariance)?;

        let threshold = target_value * f64::from(self.min_trade_bp) / 10_000.0;
        self.orders.clear();
        for i in 0..n {
            let target = self.solver.weights()[i] * target_value / self.lot_values[i];
            self.target_lots[i] = target;
            let trade = (target - positions_lots[i] as f64).trunc();
            if trade == 0.0 || !trade.is_finite() {
                continue;
            }
            let qty_lots = trade.abs() as i64;
            let notional = qty_lots as f64 * self.lot_values[i];
            if notional < threshold {
                continue;
            }
            let side = if trade > 0.0 { Side::Buy } else { Side::Sell };
            self.orders.push(RebalanceOrder {
                index: i,
                asset: self.assets[i].asset,
                side,
                qty_lots,
                limit_price: limit_price(prices[i], side, self.limit_offset_bp),
                notional,
            });
        }
        self.orders.sort_unstable_by(|a, b| b.notional.total_cmp(&a.notional).then(a.index.cmp(&b.index)));
        Ok(RebalancePlan {
            weights: self.solver.weights(),
            risk_shares: self.solver.risk_shares(),
            target_lots: &self.target_lots,
            orders: &self.orders,
            gross_value,
            iterations: summary.iterations,
        })
    }
}

/// `price` moved `offset_bp` through the market, rounded to the conservative tick: a buy's
/// limit rounds down, a sell's up; never below one tick.
fn limit_price(price: i64, side: Side, offset_bp: u32) -> i64 {
    let (price, offset) = (i128::from(price), i128::from(offset_bp));
    let limit = match side {
        Side::Buy => price * (10_000 + offset) / 10_000,
        Side::Sell => (price * (10_000 - offset) + 9_999) / 10_000,
    };
    i64::try_from(limit).unwrap_or(i64::MAX).max(1)
}
