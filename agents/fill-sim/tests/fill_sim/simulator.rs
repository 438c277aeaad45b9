use qp_book::{BookSide, TradePrint};
use qp_fill_sim::{Liquidity, QueueModel};
use qp_wire::{ExecStatus, Side, TimeInForce};

use crate::fixture::{advance, asset, book, send, sentinel, sim};

const MS: u64 = 1_000_000;

fn statuses(outputs: &[qp_fill_sim::SimOutput]) -> Vec<ExecStatus> {
    outputs.iter().map(|o| ExecStatus::from_wire(o.report.status).unwrap()).collect()
}

#[test]
fn a_marketable_ioc_walks_levels_up_to_its_limit_and_the_rest_expires() {
    let mut risk = sentinel(TimeInForce::ImmediateOrCancel);
    let mut s = sim(MS, QueueModel::Pessimistic);
    let b = book(&[(9_990, 5)], &[(10_000, 3), (10_001, 4), (10_005, 50)]);
    send(&mut risk, &mut s, 1, Side::Buy, 10, 10_001);
    // Not at the book before the latency has passed.
    assert!(advance(&mut s, MS - 1, &b).is_empty());
    let out = advance(&mut s, MS, &b);
    assert_eq!(statuses(&out), vec![ExecStatus::PartiallyFilled, ExecStatus::PartiallyFilled, ExecStatus::Canceled]);
    let fills: Vec<_> = out.iter().filter_map(|o| o.fill).collect();
    assert_eq!(fills.iter().map(|f| (f.price, f.qty_lots)).collect::<Vec<_>>(), vec![(10_000, 3), (10_001, 4)]);
    assert!(fills.iter().all(|f| f.liquidity == Liquidity::Taker && f.price <= 10_001));
    let last = out.last().unwrap().report;
    assert_eq!((last.cum_qty.get(), last.leaves_qty.get()), (7, 0));
    // The displayed size it took stays taken while the level is unchanged.
    send(&mut risk, &mut s, 2, Side::Buy, 2, 10_001);
    let out = advance(&mut s, 3 * MS, &b);
    assert_eq!(statuses(&out), vec![ExecStatus::Canceled], "nothing left at or below 10,001");
}

#[test]
fn a_resting_order_waits_for_the_queue_ahead_then_fills_at_its_price() {
    let mut risk = sentinel(TimeInForce::GoodTillCancel);
    let mut s = sim(MS, QueueModel::Pessimistic);
    let b = book(&[(9_990, 5)], &[(10_000, 3)]);
    let id = send(&mut risk, &mut s, 1, Side::Buy, 4, 9_990);
    let out = advance(&mut s, MS, &b);
    assert_eq!(statuses(&out), vec![ExecStatus::New]);
    assert_eq!(s.working()[0].queue_ahead_lots, 5);
    let print = |qty| TradePrint { ts_ns: 0, price: 9_990, qty, resting_side: BookSide::Bid };
    s.on_trade(2 * MS, asset(), &print(3));
    assert!(s.take_outputs().next().is_none(), "3 of the 5 ahead traded");
    assert_eq!(s.working()[0].queue_ahead_lots, 2);
    s.on_trade(3 * MS, asset(), &print(3));
    let out: Vec<_> = s.take_outputs().collect();
    let fill = out[0].fill.unwrap();
    assert_eq!((fill.qty_lots, fill.price, fill.liquidity), (1, 9_990, Liquidity::Maker));
    assert_eq!(out[0].report.intent_id.get(), id);
    // A print at a better price for the buyer does not touch it; one through its price fills it.
    s.on_trade(4 * MS, asset(), &TradePrint { ts_ns: 0, price: 9_991, qty: 9, resting_side: BookSide::Bid });
    assert!(s.take_outputs().next().is_none());
    s.on_trade(5 * MS, asset(), &TradePrint { ts_ns: 0, price: 9_985, qty: 9, resting_side: BookSide::Bid });
    let out: Vec<_> = s.take_outputs().collect();
    assert_eq!(statuses(&out), vec![ExecStatus::Filled]);
    assert_eq!(out[0].fill.unwrap().price, 9_990, "filled at its own limit");
    assert!(s.working().is_empty());
}

#[test]
fn cancels_at_the_level_move_the_queue_by_the_chosen_model() {
    for (model, expected) in [(QueueModel::Pessimistic, 10), (QueueModel::Proportional, 5)] {
        let mut risk = sentinel(TimeInForce::GoodTillCancel);
        let mut s = sim(0, model);
        let b = book(&[(9_990, 10)], &[(10_000, 3)]);
        send(&mut risk, &mut s, 1, Side::Buy, 1, 9_990);
        advance(&mut s, 0, &b);
        assert_eq!(s.working()[0].queue_ahead_lots, 10);
        // The level grows to 20 (joiners behind), then shrinks to 10: under the pessimistic
        // model the cancels came from behind; under the proportional one, half from ahead.
        s.on_book(1, asset(), &book(&[(9_990, 20)], &[(10_000, 3)]));
        s.on_book(2, asset(), &book(&[(9_990, 10)], &[(10_000, 3)]));
        assert_eq!(s.working()[0].queue_ahead_lots, expected, "{model:?}");
        // A shrink below the queue ahead caps it in both models.
        s.on_book(3, asset(), &book(&[(9_990, 2)], &[(10_000, 3)]));
        assert!(s.working()[0].queue_ahead_lots <= 2);
    }
}

#[test]
fn the_book_crossing_a_resting_order_fills_it_and_cancels_take_effect_after_latency() {
    let mut risk = sentinel(TimeInForce::GoodTillCancel);
    let mut s = sim(MS, QueueModel::Pessimistic);
    let b = book(&[(9_990, 5)], &[(10_000, 3)]);
    let sell = send(&mut risk, &mut s, 1, Side::Sell, 5, 10_002);
    let buy = send(&mut risk, &mut s, 2, Side::Buy, 2, 9_995);
    let out = advance(&mut s, MS, &b);
    assert_eq!(statuses(&out), vec![ExecStatus::New, ExecStatus::New]);
    // Bids move up through the resting sell: it fills at its own price, up to what crosses.
    s.on_book(2 * MS, asset(), &book(&[(10_003, 2), (9_990, 5)], &[(10_004, 3)]));
    let out: Vec<_> = s.take_outputs().collect();
    assert_eq!(out.len(), 1);
    let fill = out[0].fill.unwrap();
    assert_eq!((fill.intent_id, fill.qty_lots, fill.price), (sell, 2, 10_002));
    // Cancel the buy: still working until the cancel reaches the book.
    s.cancel(buy);
    assert_eq!(s.working().len(), 2);
    let b2 = book(&[(9_990, 5)], &[(10_004, 3)]);
    let out = advance(&mut s, 3 * MS, &b2);
    assert_eq!(statuses(&out), vec![ExecStatus::Canceled]);
    assert_eq!(out[0].report.intent_id.get(), buy);
    // A cancel for an order that is gone does nothing.
    s.cancel(buy);
    assert!(advance(&mut s, 5 * MS, &b2).is_empty());
    assert_eq!(s.stats().cancels_too_late, 1);
    s.close(6 * MS);
    let out: Vec<_> = s.take_outputs().collect();
    assert_eq!(statuses(&out), vec![ExecStatus::Canceled]);
    assert_eq!(out[0].report.cum_qty.get(), 2);
}

#[test]
fn an_order_for_an_asset_without_a_book_is_rejected() {
    let mut risk = sentinel(TimeInForce::GoodTillCancel);
    let mut s = sim(0, QueueModel::Pessimistic);
    send(&mut risk, &mut s, 1, Side::Buy, 1, 10_000);
    s.advance::<qp_book::L2Book>(0, |_| None);
    let out: Vec<_> = s.take_outputs().collect();
    assert_eq!(statuses(&out), vec![ExecStatus::Rejected]);
    risk.on_exec_report(&out[0].report);
    assert!(risk.open_orders().is_empty(), "the sentinel released it");
}
