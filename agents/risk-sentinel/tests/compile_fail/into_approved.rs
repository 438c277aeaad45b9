use qp_risk_sentinel::RiskApproved;
use qp_wire::OrderIntent;

fn forge(intent: OrderIntent) -> RiskApproved<OrderIntent> {
    intent.into()
}

fn main() {}
