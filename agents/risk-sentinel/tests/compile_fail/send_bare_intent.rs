use qp_risk_sentinel::ApprovedOrderSink;
use qp_wire::OrderIntent;

fn forward(sink: &mut impl ApprovedOrderSink, intent: OrderIntent) {
    let _ = sink.send(intent);
}

fn main() {}
