use qp_risk_sentinel::RiskApproved;
use qp_wire::{AssetId, Decision, OrderIntent, Side, TimeInForce};

fn main() {
    let decision = Decision::new(1, AssetId::from_wire(1), Side::Buy, 1, 100, 0);
    let intent = OrderIntent::new(1, &decision, TimeInForce::Day);
    let _forged = RiskApproved(intent);
}
