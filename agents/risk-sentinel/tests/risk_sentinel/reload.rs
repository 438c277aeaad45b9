//! Limits reload: the example file is valid; an invalid file (syntax, schema or meaning)
//! is refused with where and why, and the old limits stay in force.
use qp_risk_sentinel::{LimitsError, RiskLimits, RiskSentinel};
use qp_wire::{Side, VetoReason};

use crate::fixture::*;

#[test]
fn the_example_limits_file_is_valid_for_the_fixture() {
    let limits = RiskLimits::from_toml(EXAMPLE_LIMITS).unwrap();
    assert_eq!(limits.rate.max_orders_per_sec, 50);
    assert_eq!(limits.groups["region:europe"].max_net_short_notional, Some(1_000_000));
    assert_eq!(limits.instruments["BTCUSDT"].max_order_qty_lots, Some(20));
    let sentinel = sentinel();
    assert_eq!(sentinel.limits(), &limits);
}

/// Reload `text`, expect the error, and check the old limits still apply.
fn refused(text: &str) -> LimitsError {
    let mut sentinel = sentinel();
    let before = sentinel.limits().clone();
    let err = sentinel.reload_limits(text).unwrap_err();
    assert_eq!(sentinel.limits(), &before, "old limits kept after: {err}");
    // Still enforced: 21 BTC lots over the override of 20; 20 pass.
    assert_eq!(sentinel.check(NOW_NS, &order(1, BTC, Side::Buy, 21)).unwrap_err().reason, VetoReason::MaxQuantity);
    assert!(sentinel.check(NOW_NS, &order(2, BTC, Side::Buy, 20)).is_ok());
    err
}

#[test]
fn invalid_toml_keeps_the_old_limits_and_says_where() {
    let broken = EXAMPLE_LIMITS.replace("max_orders_per_sec = 50", "max_orders_per_sec = = 50");
    let line = broken.lines().position(|l| l.contains("= = 50")).unwrap() + 1;
    match refused(&broken) {
        LimitsError::Parse { line: l, column, .. } => assert_eq!((l, column), (line, 22)),
        other => panic!("{other}"),
    }
    // Unknown keys are refused (a typo must not silently drop a limit).
    let typo = EXAMPLE_LIMITS.replace("max_open_orders = 256", "max_open_order = 256");
    let err = refused(&typo);
    assert!(matches!(err, LimitsError::Parse { .. }), "{err}");
    assert!(err.to_string().contains("max_open_order"), "{err}");
    // A missing key too.
    let err = refused(&EXAMPLE_LIMITS.replace("collateral = 4000000\n", ""));
    assert!(err.to_string().contains("missing field `collateral`"), "{err}");
    // And a wrong type.
    let err = refused(&EXAMPLE_LIMITS.replace("loss_trip_state = \"halted\"", "loss_trip_state = \"panic\""));
    assert!(err.to_string().contains("line "), "{err}");
}

#[test]
fn semantically_invalid_limits_keep_the_old_limits_and_name_the_key() {
    let cases: [(&str, &str, &str); 7] = [
        ("max_var = 400000", "max_var = 0", "var.max_var is 0, must be positive"),
        ("max_order_qty_lots = 100", "max_order_qty_lots = -5", "classes.crypto.max_order_qty_lots is -5"),
        ("price_collar_bp = 100", "price_collar_bp = 20000", "instruments.BTCUSDT.price_collar_bp is 20000"),
        ("[classes.equity]", "[classes.bonds]", "classes.bonds: no instrument has this class"),
        (
            "[groups.\"sector:banks\"]",
            "[groups.\"sector:oil\"]",
            "groups.\"sector:oil\": no instrument is in this group",
        ),
        ("[instruments.BTCUSDT]", "[instruments.DOGE]", "instruments.DOGE: no instrument has this symbol"),
        ("max_open_orders = 256", "max_open_orders = 100000", "rate.max_open_orders is 100000, must be 1..=65536"),
    ];
    for (from, to, expected) in cases {
        assert!(EXAMPLE_LIMITS.contains(from), "{from}");
        let err = refused(&EXAMPLE_LIMITS.replacen(from, to, 1)).to_string();
        assert!(err.contains(expected), "{to}: {err}");
    }
    // Renaming the only equity class leaves the equities without limits.
    let err = refused(&EXAMPLE_LIMITS.replace("[classes.equity]", "[classes.crypto2]"));
    assert!(matches!(err, LimitsError::UnknownClass { .. }), "{err}");
}

#[test]
fn a_valid_reload_takes_effect_and_keeps_state() {
    let mut sentinel = sentinel_with(EXAMPLE_LIMITS, &[(ETH, 300)]);
    assert!(sentinel.check(NOW_NS, &order(1, BTC, Side::Buy, 1)).is_ok());
    sentinel.reload_limits(&EXAMPLE_LIMITS.replace("max_position_lots = 500", "max_position_lots = 250")).unwrap();
    assert_eq!(sentinel.limits().classes["crypto"].max_position_lots, 250);
    // Positions and open orders survive; ETH is above the new limit: only reductions pass.
    assert_eq!(sentinel.open_orders().len(), 1);
    assert_eq!(sentinel.check(NOW_NS, &order(2, ETH, Side::Buy, 1)).unwrap_err().reason, VetoReason::Exposure);
    assert!(sentinel.check(NOW_NS, &order(3, ETH, Side::Sell, 10)).is_ok());
}

#[test]
fn the_rate_window_survives_a_reload() {
    let text = |n: u32| EXAMPLE_LIMITS.replace("max_orders_per_sec = 50", &format!("max_orders_per_sec = {n}"));
    let mut sentinel = sentinel_with(&text(3), &[]);
    for k in 0..3 {
        assert!(sentinel.check(NOW_NS, &order(k, BTC, Side::Buy, 1)).is_ok());
    }
    sentinel.reload_limits(&text(2)).unwrap();
    assert_eq!(sentinel.check(NOW_NS, &order(9, BTC, Side::Buy, 1)).unwrap_err().reason, VetoReason::RateLimit);
    // Lowering then raising the limit forgets nothing: three are still in the window.
    sentinel.reload_limits(&text(4)).unwrap();
    assert!(sentinel.check(NOW_NS, &order(10, BTC, Side::Buy, 1)).is_ok());
    assert_eq!(sentinel.check(NOW_NS, &order(11, BTC, Side::Buy, 1)).unwrap_err().reason, VetoReason::RateLimit);
    sentinel.reload_limits(&text(6)).unwrap();
    assert!(sentinel.check(NOW_NS, &order(12, BTC, Side::Buy, 1)).is_ok());
    assert!(sentinel.check(NOW_NS, &order(13, BTC, Side::Buy, 1)).is_ok());
    assert_eq!(sentinel.check(NOW_NS, &order(14, BTC, Side::Buy, 1)).unwrap_err().reason, VetoReason::RateLimit);
    assert!(sentinel.check(NOW_NS + 1_000_000_000, &order(15, BTC, Side::Buy, 1)).is_ok());
}

#[test]
fn construction_refuses_what_reload_refuses() {
    let err = RiskSentinel::new(instruments(), &history(DAYS, 6, 7), "not toml [").unwrap_err();
    assert!(err.to_string().contains("line 1"), "{err}");
    let err = RiskSentinel::new(instruments(), &history(DAYS, 5, 7), EXAMPLE_LIMITS).unwrap_err();
    assert!(err.to_string().contains("5 columns"), "{err}");
    let err = RiskSentinel::new(instruments(), &history(50, 6, 7), EXAMPLE_LIMITS).unwrap_err();
    assert!(err.to_string().contains("VaR history"), "{err}");
}
