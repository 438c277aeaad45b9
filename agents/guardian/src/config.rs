//! What Guardian is told: the guarded assets with their fixed-point scales, and its limits.
use qp_wire::AssetId;

use crate::error::GuardianError;

/// `Decision::reason` for a Guardian rebalance (Guardian's block of strategy codes is
/// 500–599; 500 = "move toward the risk-parity target").
pub const REASON_REBALANCE: u16 = 500;

/// One guarded asset and how its integers scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardedAsset {
    pub asset: AssetId,
    /// A price of `p` ticks is `p / 10^price_decimals` in the quote currency.
    pub price_decimals: u8,
    /// Quantities are integers at `10^-qty_decimals` units.
    pub qty_decimals: u8,
    /// One lot, in quantity units at `qty_decimals` (so a lot is
    /// `lot_size / 10^qty_decimals` of the asset).
    pub lot_size: i64,
}

impl GuardedAsset {
    /// Quote-currency value of one lot per price tick.
    pub fn lot_value_per_tick(&self) -> f64 {
        self.lot_size as f64 / 10f64.powi(i32::from(self.qty_decimals)) / 10f64.powi(i32::from(self.price_decimals))
    }
}

/// Guardian's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardianConfig {
    /// The book, in the order of every per-asset slice Guardian receives.
    pub assets: Vec<GuardedAsset>,
    /// Trades worth less than this share of the book's gross value (basis points) are not
    /// proposed: they would churn fees for a negligible risk change.
    pub min_trade_bp: u32,
    /// Limit prices sit this far through the current price (buy above, sell below).
    pub limit_offset_bp: u32,
    /// Most decisions per tick (the largest trades first); at most the runtime's outbox.
    pub max_orders_per_tick: usize,
    /// Frame origin for the decisions.
    pub origin_node: u32,
    /// First decision id; each decision takes the next.
    pub first_decision_id: u64,
}

impl GuardianConfig {
    pub fn validate(&self) -> Result<(), GuardianError> {
        let invalid = |detail| Err(GuardianError::InvalidConfig { detail });
        if self.assets.is_empty() {
            return invalid("no guarded assets");
        }
        if self.assets.iter().any(|a| a.lot_size <= 0) {
            return invalid("lot size must be positive");
        }
        if self.assets.iter().any(|a| a.price_decimals > 18 || a.qty_decimals > 18) {
            return invalid("decimals must be at most 18");
        }
        if self.assets.iter().enumerate().any(|(i, a)| self.assets[..i].iter().any(|b| b.asset == a.asset)) {
            return invalid("an asset is guarded twice");
        }
        if self.min_trade_bp > 10_000 {
            return invalid("min_trade_bp above 10,000");
        }
        if self.limit_offset_bp >= 10_000 {
            return invalid("limit_offset_bp must be below 10,000");
        }
        if self.max_orders_per_tick == 0 || self.max_orders_per_tick > qp_runtime::OUTBOX_CAPACITY {
            return invalid("max_orders_per_tick must be 1..=OUTBOX_CAPACITY");
        }
        Ok(())
    }
}
