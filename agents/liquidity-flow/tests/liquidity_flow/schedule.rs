use qp_liquidity_flow::{
    Algo, FlowActions, FlowConfig, FlowConfigError, LiquidityFlow, ParentOrder, REASON_CATCH_UP, REASON_PASSIVE,
};
use qp_wire::{Decision, ExecReport, ExecStatus, OrderIntent, Side, TimeInForce};
use zerocopy::little_endian::{I64, U16, U32, U64};

use crate::fixture::{futures, quote};

const SEC: u64 = 1_000_000_000;

fn report(intent_id: u64, d: &Decision, status: ExecStatus, last: i64, cum: i64, leaves: i64) -> ExecReport {
    ExecReport {
        intent_id: U64::new(intent_id),
        asset: U32::new(d.asset.get()),
        side: d.side,
        status: status as u8,
        _pad: U16::ZERO,
        last_qty: I64::new(last),
        last_price: d.limit_price,
        cum_qty: I64::new(cum),
        leaves_qty: I64::new(leaves),
    }
}

fn twap(limit_price: Option<i64>) -> FlowConfig {
    FlowConfig::new(ParentOrder {
        asset: futures(),
        side: Side::Buy,
        qty_lots: 100,
        limit_price,
        start_ns: 10 * SEC,
        end_ns: 110 * SEC,
        algo: Algo::Twap { slices: 10 },
    })
}

#[test]
fn twap_posts_at_the_touch_then_crosses_when_behind() {
    let mut flow = LiquidityFlow::new(twap(None)).expect("config");
    let mut out = FlowActions::default();
    flow.on_quote(5 * SEC, &quote(600_000, 600_001), &mut out);
    assert_eq!(out, FlowActions::default(), "nothing before the start");
    flow.on_quote(10 * SEC, &quote(600_000, 600_001), &mut out);
    let first = out.decision.expect("first slice");
    assert_eq!((first.side(), first.qty.get(), first.limit_price.get()), (Some(Side::Buy), 10, 600_000));
    assert_eq!(first.reason.get(), REASON_PASSIVE);
    flow.on_intent(&OrderIntent::new(1, &first, TimeInForce::GoodTillCancel));
    // Slice 1 ends unfilled: behind → cancel the resting child.
    let mut out = FlowActions::default();
    flow.on_quote(20 * SEC, &quote(600_000, 600_001), &mut out);
    assert_eq!(out.cancel, Some(1));
    assert!(out.decision.is_none());
    // The cancel lands: a catch-up child crosses at the ask for what is due.
    let mut out = FlowActions::default();
    flow.on_exec_report(20 * SEC, &report(1, &first, ExecStatus::Canceled, 0, 0, 0), &mut out);
    let catch_up = out.decision.expect("catch-up");
    assert_eq!((catch_up.qty.get(), catch_up.limit_price.get()), (10, 600_001));
    assert_eq!(catch_up.reason.get(), REASON_CATCH_UP);
    flow.on_intent(&OrderIntent::new(2, &catch_up, TimeInForce::GoodTillCancel));
    let mut out = FlowActions::default();
    flow.on_exec_report(20 * SEC, &report(2, &catch_up, ExecStatus::Filled, 10, 10, 0), &mut out);
    // On schedule again: the next slice rests at the bid.
    let next = out.decision.expect("slice 2");
    assert_eq!((next.qty.get(), next.limit_price.get(), next.reason.get()), (10, 600_000, REASON_PASSIVE));
    let summary = flow.summary();
    assert_eq!((summary.filled_lots, summary.aggressive_fills, summary.children), (10, 1, 3));
    // Shortfall: paid 600,001 against an arrival mid of 600,000.5 → +0.0083 bp.
    assert!((summary.shortfall_bp - 0.5 / 600_000.5 * 10_000.0).abs() < 1e-9, "{summary:?}");
}

#[test]
fn a_child_is_never_priced_beyond_the_limit() {
    let mut flow = LiquidityFlow::new(twap(Some(599_990))).expect("config");
    let mut out = FlowActions::default();
    flow.on_quote(10 * SEC, &quote(600_000, 600_001), &mut out);
    let child = out.decision.expect("child");
    assert_eq!(child.limit_price.get(), 599_990);
    flow.on_intent(&OrderIntent::new(1, &child, TimeInForce::GoodTillCancel));
    let mut out = FlowActions::default();
    flow.on_quote(25 * SEC, &quote(600_000, 600_001), &mut out);
    let mut after = FlowActions::default();
    flow.on_exec_report(25 * SEC, &report(1, &child, ExecStatus::Canceled, 0, 0, 0), &mut after);
    assert_eq!(after.decision.map(|d| d.limit_price.get()), Some(599_990), "behind, but capped at the limit");
}

#[test]
fn pov_follows_the_tape() {
    let mut config = twap(None);
    config.parent.algo = Algo::Pov { rate_bp: 1_000 };
    config.min_child_lots = 5;
    let mut flow = LiquidityFlow::new(config).expect("config");
    let mut out = FlowActions::default();
    flow.on_quote(10 * SEC, &quote(600_000, 600_001), &mut out);
    let first = out.decision.expect("a first child of min size");
    assert_eq!(first.qty.get(), 5);
    flow.on_intent(&OrderIntent::new(1, &first, TimeInForce::GoodTillCancel));
    // 300 lots print: 10 % is 30, tolerance 10 → behind: cancel and catch up.
    let mut out = FlowActions::default();
    flow.on_trade(11 * SEC, futures(), 300, &mut out);
    assert_eq!(out.cancel, Some(1));
    let mut out = FlowActions::default();
    flow.on_exec_report(11 * SEC, &report(1, &first, ExecStatus::Canceled, 0, 0, 0), &mut out);
    let catch_up = out.decision.expect("catch-up");
    assert_eq!((catch_up.qty.get(), catch_up.limit_price.get()), (10, 600_001), "capped at max_child_lots");
    // After the end a POV parent stops.
    let mut out = FlowActions::default();
    flow.on_quote(200 * SEC, &quote(600_000, 600_001), &mut out);
    assert!(out.decision.is_none());
}

#[test]
fn bad_parents_are_typed_errors() {
    let mut c = twap(None);
    c.parent.end_ns = c.parent.start_ns;
    assert!(matches!(LiquidityFlow::new(c), Err(FlowConfigError::EmptyInterval { .. })));
    let mut c = twap(None);
    c.parent.algo = Algo::Pov { rate_bp: 20_000 };
    assert_eq!(LiquidityFlow::new(c).err(), Some(FlowConfigError::Rate { rate_bp: 20_000 }));
    let mut c = twap(None);
    c.parent.algo = Algo::Twap { slices: 0 };
    assert!(LiquidityFlow::new(c).is_err());
    let mut c = twap(None);
    c.parent.qty_lots = 0;
    assert!(LiquidityFlow::new(c).is_err());
    let mut c = twap(Some(-5));
    c.min_child_lots = 1;
    assert!(LiquidityFlow::new(c).is_err());
}
