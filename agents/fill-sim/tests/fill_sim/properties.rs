use std::collections::BTreeMap;

use proptest::prelude::*;
use qp_book::{BookSide, TradePrint};
use qp_fill_sim::{QueueModel, SimOutput};
use qp_wire::{ExecStatus, Side, TimeInForce};

use crate::fixture::{advance, asset, book, send, sentinel, sim};

#[derive(Debug, Clone)]
enum Step {
    Order { buy: bool, qty: i64, offset: i64, gtc: bool },
    Print { price_offset: i64, qty: i64, bid: bool },
    Book { bid_qty: i64, ask_qty: i64, shift: i64 },
    Cancel { which: usize },
    Wait { ns: u64 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (any::<bool>(), 1i64..20, -6i64..6, any::<bool>()).prop_map(|(buy, qty, offset, gtc)| Step::Order {
            buy,
            qty,
            offset,
            gtc
        }),
        (-4i64..4, 1i64..15, any::<bool>()).prop_map(|(price_offset, qty, bid)| Step::Print { price_offset, qty, bid }),
        (1i64..30, 1i64..30, -3i64..3).prop_map(|(bid_qty, ask_qty, shift)| Step::Book { bid_qty, ask_qty, shift }),
        (0usize..8).prop_map(|which| Step::Cancel { which }),
        (0u64..3_000_000).prop_map(|ns| Step::Wait { ns }),
    ]
}

/// Orders sent: intent → (side, qty, limit).
type Sent = BTreeMap<u64, (Side, i64, i64)>;

/// Orders sent and every output, for one run of `steps`.
fn run(steps: &[Step], model: QueueModel) -> (Sent, Vec<SimOutput>) {
    let mut gtc = sentinel(TimeInForce::GoodTillCancel);
    let mut ioc = sentinel(TimeInForce::ImmediateOrCancel).with_first_intent_id(1_000_000);
    let mut s = sim(1_000_000, model);
    let mut mid = 10_000;
    let mut b = book(&[(mid - 1, 10), (mid - 2, 10)], &[(mid + 1, 10), (mid + 2, 10)]);
    let mut orders = BTreeMap::new();
    let mut outputs = Vec::new();
    let mut now = 0;
    for (i, step) in steps.iter().enumerate() {
        match *step {
            Step::Order { buy, qty, offset, gtc: is_gtc } => {
                let side = if buy { Side::Buy } else { Side::Sell };
                let limit = mid + offset;
                let risk = if is_gtc { &mut gtc } else { &mut ioc };
                let id = send(risk, &mut s, i as u64 + 1, side, qty, limit);
                orders.insert(id, (side, qty, limit));
            }
            Step::Print { price_offset, qty, bid } => {
                let side = if bid { BookSide::Bid } else { BookSide::Ask };
                s.on_trade(
                    now,
                    asset(),
                    &TradePrint { ts_ns: now, price: mid + price_offset, qty, resting_side: side },
                );
            }
            Step::Book { bid_qty, ask_qty, shift } => {
                mid += shift;
                b = book(&[(mid - 1, bid_qty), (mid - 2, 10)], &[(mid + 1, ask_qty), (mid + 2, 10)]);
                s.on_book(now, asset(), &b);
            }
            Step::Cancel { which } => {
                if let Some(&id) = orders.keys().nth(which) {
                    s.cancel(id);
                }
            }
            Step::Wait { ns } => now += ns,
        }
        outputs.extend(advance(&mut s, now, &b));
        outputs.extend(s.take_outputs());
    }
    s.close(now);
    outputs.extend(s.take_outputs());
    (orders, outputs)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn fills_conserve_quantity_respect_limits_and_repeat(steps in proptest::collection::vec(step(), 1..60)) {
        for model in [QueueModel::Pessimistic, QueueModel::Proportional] {
            let (orders, outputs) = run(&steps, model);
            let mut filled: BTreeMap<u64, i64> = BTreeMap::new();
            for o in &outputs {
                let id = o.report.intent_id.get();
                let &(side, qty, limit) = orders.get(&id).expect("a report for an order we sent");
                if let Some(fill) = o.fill {
                    prop_assert!(fill.qty_lots > 0);
                    match side {
                        Side::Buy => prop_assert!(fill.price <= limit, "buy filled above its limit"),
                        Side::Sell => prop_assert!(fill.price >= limit, "sell filled below its limit"),
                    }
                    let total = filled.entry(id).or_default();
                    *total += fill.qty_lots;
                    prop_assert_eq!(o.report.cum_qty.get(), *total);
                    prop_assert_eq!(o.report.leaves_qty.get(), qty - *total);
                }
                prop_assert!(filled.get(&id).copied().unwrap_or(0) <= qty, "overfilled");
            }
            // Every order ends terminal exactly once.
            for (&id, &(_, qty, _)) in &orders {
                let terminal = outputs.iter().filter(|o| o.report.intent_id.get() == id).filter(|o| {
                    let status = ExecStatus::from_wire(o.report.status);
                    matches!(status, Some(ExecStatus::Filled | ExecStatus::Canceled | ExecStatus::Rejected))
                }).count();
                prop_assert_eq!(terminal, 1, "order {} of {}", id, qty);
            }
            // Determinism: the same steps give the same outputs.
            let (_, again) = run(&steps, model);
            prop_assert_eq!(outputs, again);
        }
    }

    #[test]
    fn a_resting_order_never_fills_before_its_queue_is_consumed(ahead in 1i64..50, prints in proptest::collection::vec(1i64..20, 1..20)) {
        let mut risk = sentinel(TimeInForce::GoodTillCancel);
        let mut s = sim(0, QueueModel::Pessimistic);
        let b = book(&[(9_990, ahead)], &[(10_000, 5)]);
        send(&mut risk, &mut s, 1, Side::Buy, 1_000, 9_990);
        advance(&mut s, 0, &b);
        let mut traded = 0;
        for (i, qty) in prints.iter().enumerate() {
            s.on_trade(i as u64, crate::fixture::asset(), &TradePrint { ts_ns: 0, price: 9_990, qty: *qty, resting_side: BookSide::Bid });
            traded += qty;
            s.take_outputs().for_each(drop);
            let cum = s.working().first().map_or(1_000, |o| o.cum_lots);
            prop_assert_eq!(cum, (traded - ahead).max(0));
        }
    }
}
