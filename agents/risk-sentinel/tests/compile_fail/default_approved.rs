use qp_risk_sentinel::RiskApproved;
use qp_wire::OrderIntent;

fn main() {
    let _forged: RiskApproved<OrderIntent> = Default::default();
}
