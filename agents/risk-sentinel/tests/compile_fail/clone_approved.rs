use qp_risk_sentinel::RiskApproved;
use qp_wire::OrderIntent;

fn twice(order: &RiskApproved<OrderIntent>) -> RiskApproved<OrderIntent> {
    order.clone()
}

fn main() {}
