use qp_risk_sentinel::RiskApproved;
use qp_wire::OrderIntent;

fn forge(intent: OrderIntent) -> RiskApproved<OrderIntent> {
    RiskApproved::from(intent)
}

fn main() {}
