use qp_book::{BookSide, Grid, L2Book};
use qp_fill_sim::{FillSimConfig, FillSimulator, QueueModel, SimOutput, permissive_limits};
use qp_risk_model::ReturnMatrix;
use qp_risk_sentinel::{ApprovedOrderSink, InstrumentSpec, RiskSentinel};
use qp_wire::{AssetId, Decision, Side, TimeInForce};

pub(crate) fn asset() -> AssetId {
    AssetId::from_wire(1)
}

pub(crate) fn spec() -> InstrumentSpec {
    InstrumentSpec {
        asset: asset(),
        symbol: "TEST".into(),
        class: "crypto".into(),
        groups: vec![],
        price_decimals: 1,
        qty_decimals: 3,
        contract_multiplier: 1,
    }
}

/// A sentinel that approves what the tests send (reference price 1,000.0 = 10,000 ticks).
pub(crate) fn sentinel(tif: TimeInForce) -> RiskSentinel {
    let values: Vec<f64> = (0..150).map(|i| if i % 2 == 0 { 0.001 } else { -0.001 }).collect();
    let history = ReturnMatrix::new(150, 1, values).unwrap();
    let limits = permissive_limits(&[spec()]).replace("max_orders_per_sec = 1000", "max_orders_per_sec = 100000");
    let limits = limits.replace("max_messages_per_sec = 2000", "max_messages_per_sec = 200000");
    let mut sentinel = RiskSentinel::new(vec![spec()], &history, &limits).unwrap().with_time_in_force(tif);
    sentinel.reconciled(&[(asset(), 0)]).unwrap();
    sentinel.update_price(asset(), 10_000, 0).unwrap();
    sentinel
}

/// A book of (price, qty) levels per side.
pub(crate) fn book(bids: &[(i64, i64)], asks: &[(i64, i64)]) -> L2Book {
    let mut book = L2Book::new(Grid::new(1, 1).unwrap());
    for &(p, q) in bids {
        let _ = book.set_level(BookSide::Bid, p, q).unwrap();
    }
    for &(p, q) in asks {
        let _ = book.set_level(BookSide::Ask, p, q).unwrap();
    }
    book
}

pub(crate) fn sim(latency_ns: u64, queue_model: QueueModel) -> FillSimulator {
    FillSimulator::new(FillSimConfig { latency_ns, queue_model })
}

/// Approve and send one order; returns its intent id.
pub(crate) fn send(
    sentinel: &mut RiskSentinel,
    sim: &mut FillSimulator,
    id: u64,
    side: Side,
    qty: i64,
    limit: i64,
) -> u64 {
    let now = sim.now_ns();
    sentinel.update_price(asset(), 10_000, now).unwrap();
    let decision = Decision::new(id, asset(), side, qty, limit, 0);
    let approved = sentinel.check(now, &decision).expect("approved");
    let intent_id = approved.get().intent_id.get();
    sim.send(approved).expect("sent");
    intent_id
}

pub(crate) fn advance(sim: &mut FillSimulator, now_ns: u64, book: &L2Book) -> Vec<SimOutput> {
    sim.advance(now_ns, |a| (a == asset()).then_some(book));
    sim.take_outputs().collect()
}
