//! Average-cost accounting of one instrument's position and a fill's slippage, shared by the
//! replay harness and the loop's simulated execution side so both book P&L the same way.

/// A position kept at average cost: a fill against it realises P&L on the lots it closes, a
/// fill beyond it opens the rest at its own price.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AverageCost {
    /// Signed lots (long positive).
    pub lots: i64,
    /// Average cost per lot of the open position, quote currency; 0 when flat.
    pub cost_per_lot: f64,
    /// P&L realised so far, quote currency.
    pub realised: f64,
}

impl AverageCost {
    /// A fill of `signed_lots` (buys positive) at `value_per_lot` quote currency per lot.
    pub fn apply(&mut self, signed_lots: i64, value_per_lot: f64) {
        let held = self.lots;
        if held != 0 && held.signum() != signed_lots.signum() {
            let closed = signed_lots.abs().min(held.abs());
            self.realised += (value_per_lot - self.cost_per_lot) * closed as f64 * held.signum() as f64;
            let after = held + signed_lots;
            if after.signum() != held.signum() && after != 0 {
                self.cost_per_lot = value_per_lot;
            }
            self.lots = after;
        } else {
            let total = held.abs() + signed_lots.abs();
            if total > 0 {
                self.cost_per_lot =
                    (self.cost_per_lot * held.abs() as f64 + value_per_lot * signed_lots.abs() as f64) / total as f64;
            }
            self.lots = held + signed_lots;
        }
        if self.lots == 0 {
            self.cost_per_lot = 0.0;
        }
    }

    /// Unrealised P&L when the whole open position is worth `position_value` at the mark.
    pub fn unrealised(&self, position_value: f64) -> f64 {
        if self.lots == 0 { 0.0 } else { position_value - self.cost_per_lot * self.lots as f64 }
    }
}

/// A fill's slippage against the mid when its order was decided, in basis points, signed so
/// that a cost is positive; 0 when there was no mid (`arrival_mid_x2` is twice the mid, in
/// ticks, like `price`).
pub fn slippage_bp(side: qp_wire::Side, price: i64, arrival_mid_x2: i64) -> f64 {
    if arrival_mid_x2 > 0 {
        side.sign() as f64 * (2.0 * price as f64 - arrival_mid_x2 as f64) / arrival_mid_x2 as f64 * 10_000.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::{AverageCost, slippage_bp};
    use qp_wire::Side;

    #[test]
    fn slippage_is_positive_when_it_costs() {
        assert_eq!(slippage_bp(Side::Buy, 101, 200), 100.0); // bought 1 % above the mid of 100
        assert_eq!(slippage_bp(Side::Sell, 101, 200), -100.0); // sold above the mid: a gain
        assert_eq!(slippage_bp(Side::Buy, 101, 0), 0.0);
    }

    #[test]
    fn opens_adds_closes_and_flips() {
        let mut p = AverageCost::default();
        p.apply(2, 100.0);
        p.apply(2, 110.0);
        assert_eq!((p.lots, p.cost_per_lot, p.realised), (4, 105.0, 0.0));
        p.apply(-1, 120.0); // closes one at +15
        assert_eq!((p.lots, p.cost_per_lot, p.realised), (3, 105.0, 15.0));
        p.apply(-5, 90.0); // closes three at −15 each, opens two short at 90
        assert_eq!((p.lots, p.cost_per_lot, p.realised), (-2, 90.0, -30.0));
        assert_eq!(p.unrealised(-2.0 * 80.0), 20.0);
        p.apply(2, 80.0);
        assert_eq!((p.lots, p.cost_per_lot, p.realised), (0, 0.0, -10.0));
        assert_eq!(p.unrealised(0.0), 0.0);
    }
}
