//! Each check vetoes with its own reason (table-driven), approvals reserve exposure, and
//! execution reports move positions and release reservations.
use qp_risk_sentinel::RiskSentinel;
use qp_wire::{Decision, ExecStatus, Side, VetoReason};

use crate::fixture::*;

struct Case {
    name: &'static str,
    /// `(from, to)` replacements in the example limits.
    limits: &'static [(&'static str, &'static str)],
    positions: &'static [(u32, i64)],
    /// Orders approved first.
    before: &'static [(u32, Side, i64)],
    decision: Decision,
    expected: VetoReason,
}

fn at_price(asset: u32, side: Side, qty: i64, limit_price: i64) -> Decision {
    Decision::new(1_000, id(asset), side, qty, limit_price, 0)
}

fn limits(replacements: &[(&str, &str)]) -> String {
    let mut text = EXAMPLE_LIMITS.to_owned();
    for (from, to) in replacements {
        assert!(text.contains(from), "{from}");
        text = text.replacen(from, to, 1);
    }
    text
}

#[test]
fn each_check_vetoes_with_its_reason() {
    use VetoReason as R;
    let cases = [
        Case {
            name: "within every limit",
            limits: &[],
            positions: &[],
            before: &[],
            decision: order(1, BTC, Side::Buy, 10),
            expected: R::None,
        },
        Case {
            name: "instrument override of max qty",
            limits: &[],
            positions: &[],
            before: &[],
            decision: order(1, BTC, Side::Buy, 21),
            expected: R::MaxQuantity,
        },
        Case {
            name: "class max qty",
            limits: &[],
            positions: &[],
            before: &[],
            decision: order(1, ETH, Side::Buy, 101),
            expected: R::MaxQuantity,
        },
        Case {
            name: "zero qty",
            limits: &[],
            positions: &[],
            before: &[],
            decision: order(1, ETH, Side::Buy, 0),
            expected: R::MaxQuantity,
        },
        Case {
            name: "max order notional",
            limits: &[],
            positions: &[],
            before: &[],
            decision: order(1, SAP, Side::Buy, 4_000),
            expected: R::MaxNotional,
        },
        Case {
            name: "collar above (101 bp > 100 bp)",
            limits: &[],
            positions: &[],
            before: &[],
            decision: at_price(BTC, Side::Buy, 1, 6_060_600),
            expected: R::PriceCollar,
        },
        Case {
            name: "collar at its edge (100 bp)",
            limits: &[],
            positions: &[],
            before: &[],
            decision: at_price(BTC, Side::Buy, 1, 6_060_000),
            expected: R::None,
        },
        Case {
            name: "collar below (600 bp > 500 bp)",
            limits: &[],
            positions: &[],
            before: &[],
            decision: at_price(DBK, Side::Sell, 100, 1_410),
            expected: R::PriceCollar,
        },
        Case {
            name: "orders per second",
            limits: &[("max_orders_per_sec = 50", "max_orders_per_sec = 2")],
            positions: &[],
            before: &[(BTC, Side::Buy, 1), (ETH, Side::Buy, 1)],
            decision: order(1, DBK, Side::Buy, 1),
            expected: R::RateLimit,
        },
        Case {
            name: "messages per second",
            limits: &[("max_messages_per_sec = 100", "max_messages_per_sec = 1")],
            positions: &[],
            before: &[(BTC, Side::Buy, 1)],
            decision: order(1, DBK, Side::Buy, 1),
            expected: R::RateLimit,
        },
        Case {
            name: "open orders",
            limits: &[("max_open_orders = 256", "max_open_orders = 1")],
            positions: &[],
            before: &[(BTC, Side::Buy, 1)],
            decision: order(1, DBK, Side::Buy, 1),
            expected: R::RateLimit,
        },
        Case {
            name: "position lots",
            limits: &[],
            positions: &[(ETH, 450)],
            before: &[],
            decision: order(1, ETH, Side::Buy, 60),
            expected: R::Exposure,
        },
        Case {
            name: "open orders count as filled",
            limits: &[],
            positions: &[(ETH, 350)],
            before: &[(ETH, Side::Buy, 100)],
            decision: order(1, ETH, Side::Buy, 60),
            expected: R::Exposure,
        },
        Case {
            name: "reducing a position over its limit",
            limits: &[],
            positions: &[(ETH, 600)],
            before: &[],
            decision: order(1, ETH, Side::Sell, 60),
            expected: R::None,
        },
        Case {
            name: "position notional",
            limits: &[],
            positions: &[(JPM, 9_000)],
            before: &[],
            decision: order(1, JPM, Side::Buy, 1_500),
            expected: R::Exposure,
        },
        Case {
            name: "portfolio gross",
            limits: &[("max_gross_notional = 20000000", "max_gross_notional = 1000000")],
            positions: &[(SAP, 4_000)],
            before: &[],
            decision: order(1, SAP, Side::Buy, 3_000),
            expected: R::Exposure,
        },
        Case {
            name: "portfolio net",
            limits: &[("max_net_notional = 5000000", "max_net_notional = 500000")],
            positions: &[(DBK, 20_000)],
            before: &[],
            decision: order(1, SAP, Side::Buy, 2_000),
            expected: R::Exposure,
        },
        Case {
            name: "too much short exposure to Europe",
            limits: &[],
            positions: &[(SAP, -6_000)],
            before: &[],
            decision: order(1, SAP, Side::Sell, 1_000),
            expected: R::GroupExposure,
        },
        Case {
            name: "short Europe within its limit",
            limits: &[],
            positions: &[(SAP, -6_000)],
            before: &[],
            decision: order(1, SAP, Side::Sell, 400),
            expected: R::None,
        },
        Case {
            name: "banks net long",
            limits: &[],
            positions: &[(DBK, 20_000), (SAN, 20_000), (JPM, 8_000)],
            before: &[],
            decision: order(1, JPM, Side::Buy, 200),
            expected: R::GroupExposure,
        },
        Case {
            name: "initial margin against collateral",
            limits: &[("collateral = 4000000", "collateral = 50000")],
            positions: &[(SAP, 1_000)],
            before: &[],
            decision: order(1, SAP, Side::Buy, 3_000),
            expected: R::Margin,
        },
        Case {
            name: "VaR after the order",
            limits: &[("max_var = 400000", "max_var = 10000")],
            positions: &[],
            before: &[],
            decision: order(1, SAP, Side::Buy, 3_000),
            expected: R::ValueAtRisk,
        },
        Case {
            name: "incremental VaR of the order",
            limits: &[("max_incremental_var = 100000", "max_incremental_var = 5000")],
            positions: &[],
            before: &[],
            decision: order(1, SAP, Side::Buy, 3_000),
            expected: R::ValueAtRisk,
        },
    ];
    for case in &cases {
        let mut sentinel = sentinel_with(&limits(case.limits), case.positions);
        for (k, &(asset, side, qty)) in case.before.iter().enumerate() {
            let result = sentinel.check(NOW_NS, &order(k as u64 + 1, asset, side, qty));
            assert!(result.is_ok(), "{}: setup order {k}: {result:?}", case.name);
        }
        let got = match sentinel.check(NOW_NS, &case.decision) {
            Ok(_) => VetoReason::None,
            Err(veto) => veto.reason,
        };
        assert_eq!(got, case.expected, "{}", case.name);
    }
}

#[test]
fn the_rate_window_slides() {
    let text = limits(&[("max_orders_per_sec = 50", "max_orders_per_sec = 2")]);
    let mut sentinel = sentinel_with(&text, &[]);
    let at = |ms: u64| NOW_NS + ms * 1_000_000;
    assert!(sentinel.check(at(0), &order(1, BTC, Side::Buy, 1)).is_ok());
    assert!(sentinel.check(at(400), &order(2, BTC, Side::Buy, 1)).is_ok());
    assert_eq!(sentinel.check(at(999), &order(3, BTC, Side::Buy, 1)).unwrap_err().reason, VetoReason::RateLimit);
    // One second after the first, it leaves the window.
    assert!(sentinel.check(at(1_000), &order(4, BTC, Side::Buy, 1)).is_ok());
    assert_eq!(sentinel.check(at(1_399), &order(5, BTC, Side::Buy, 1)).unwrap_err().reason, VetoReason::RateLimit);
}

fn approve(sentinel: &mut RiskSentinel, decision_id: u64, asset: u32, side: Side, qty: i64) -> u64 {
    sentinel.check(NOW_NS, &order(decision_id, asset, side, qty)).unwrap().get().intent_id.get()
}

#[test]
fn approval_makes_an_intent_and_reserves_exposure_until_reports_say_otherwise() {
    let mut sentinel = sentinel();
    let approved = sentinel.check(NOW_NS, &order(7, ETH, Side::Buy, 100)).unwrap();
    let intent = *approved.get();
    assert_eq!((intent.decision_id.get(), intent.qty.get(), intent.limit_price.get()), (7, 100, price(ETH)));
    assert_eq!(intent.side(), Some(Side::Buy));
    assert_eq!(sentinel.open_orders().len(), 1);
    let exposure = sentinel.exposure(id(ETH)).unwrap();
    assert_eq!(exposure.worst_lots, 100);
    assert_eq!(exposure.gross_micros, 3_000 * 1_000_000); // 1 ETH at 3,000
    assert_eq!(sentinel.position_lots(id(ETH)), Some(0));

    // A partial fill moves 40 lots from reserved to the position.
    let id1 = intent.intent_id.get();
    sentinel.on_exec_report(&exec_report(id1, ETH, Side::Buy, ExecStatus::PartiallyFilled, 40, 60));
    assert_eq!(sentinel.position_lots(id(ETH)), Some(40));
    assert_eq!(sentinel.exposure(id(ETH)).unwrap().worst_lots, 100);
    // The venue cancels the rest: 60 lots released.
    sentinel.on_exec_report(&exec_report(id1, ETH, Side::Buy, ExecStatus::Canceled, 0, 0));
    assert_eq!(sentinel.exposure(id(ETH)).unwrap().worst_lots, 40);
    assert!(sentinel.open_orders().is_empty());

    // A rejected order releases everything; a filled one leaves the position.
    let id2 = approve(&mut sentinel, 8, ETH, Side::Sell, 30);
    assert_eq!(sentinel.exposure(id(ETH)).unwrap().lower_micros, 10 * 30_000_000);
    sentinel.on_exec_report(&exec_report(id2, ETH, Side::Sell, ExecStatus::Rejected, 0, 0));
    assert_eq!(sentinel.exposure(id(ETH)).unwrap().lower_micros, 40 * 30_000_000);
    let id3 = approve(&mut sentinel, 9, ETH, Side::Sell, 30);
    sentinel.on_exec_report(&exec_report(id3, ETH, Side::Sell, ExecStatus::Filled, 30, 0));
    assert_eq!(sentinel.position_lots(id(ETH)), Some(10));
    assert!(sentinel.open_orders().is_empty());
    let stats = sentinel.stats();
    assert_eq!((stats.approved, stats.exec_reports, stats.unmatched_reports), (3, 4, 0));

    // A fill for no open order of ours still moves the position.
    sentinel.on_exec_report(&exec_report(12_345, ETH, Side::Buy, ExecStatus::Filled, 5, 0));
    assert_eq!(sentinel.position_lots(id(ETH)), Some(15));
    assert_eq!(sentinel.stats().unmatched_reports, 1);
}

#[test]
fn risk_reducing_means_shrinking_without_flipping() {
    let mut sentinel = sentinel_with(EXAMPLE_LIMITS, &[(ETH, 100), (SAP, -50)]);
    assert!(sentinel.is_risk_reducing(id(ETH), Side::Sell, 100));
    assert!(!sentinel.is_risk_reducing(id(ETH), Side::Sell, 101), "flips");
    assert!(!sentinel.is_risk_reducing(id(ETH), Side::Buy, 1), "grows");
    assert!(sentinel.is_risk_reducing(id(SAP), Side::Buy, 50));
    assert!(!sentinel.is_risk_reducing(id(BTC), Side::Sell, 1), "flat");
    // Open sells count: 60 reserved leaves room for 40 more.
    approve(&mut sentinel, 1, ETH, Side::Sell, 60);
    assert!(sentinel.is_risk_reducing(id(ETH), Side::Sell, 40));
    assert!(!sentinel.is_risk_reducing(id(ETH), Side::Sell, 41));
}
