//! The VaR the sentinel checks (kept incrementally, one O(scenarios) pass per order) equals a
//! full revaluation of the book.
use qp_risk_model::{Covariance, PortfolioRisk, ReturnMatrix, Z_99, historical_tail_risk};
use qp_risk_sentinel::RiskSentinel;
use qp_wire::{ExecStatus, Side};

use crate::fixture::*;

/// Historical and parametric VaR of `exposures`, from scratch.
fn full_revaluation(returns: &ReturnMatrix, exposures: &[f64]) -> (f64, f64) {
    let pnl = returns.portfolio_pnl(exposures).unwrap();
    let historical = historical_tail_risk(&pnl, 0.99).unwrap().var;
    let parametric = Z_99 * Covariance::sample(returns).unwrap().quadratic_form(exposures).sqrt();
    // The risk model's own precomputed book agrees with both.
    let figures = PortfolioRisk::new(returns, exposures, 0.99).unwrap().figures();
    assert!(close(figures.historical.var, historical), "{figures:?} vs {historical}");
    assert!(close(figures.parametric.var, parametric), "{figures:?} vs {parametric}");
    (historical, parametric)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn assert_matches(sentinel: &RiskSentinel, returns: &ReturnMatrix, what: &str) {
    let (historical, parametric) = full_revaluation(returns, sentinel.var_exposures());
    let figures = sentinel.var_figures();
    assert!(close(figures.historical, historical), "{what}: {figures:?} vs historical {historical}");
    assert!(close(figures.parametric, parametric), "{what}: {figures:?} vs parametric {parametric}");
}

#[test]
fn incremental_var_equals_full_revaluation() {
    let returns = history(DAYS, 6, 7);
    let mut sentinel = sentinel_with(EXAMPLE_LIMITS, &[(BTC, 300), (SAP, -4_000), (JPM, 2_000), (DBK, 10_000)]);
    // Exposures are lots × price × multiplier / 10^decimals, net of open orders.
    assert_eq!(sentinel.var_exposures(), [180_000.0, 0.0, 150_000.0, 0.0, -600_000.0, 400_000.0]);
    assert_matches(&sentinel, &returns, "reconciled book");
    let mut intents = Vec::new();
    for (k, (asset, side, qty)) in
        [(ETH, Side::Buy, 80), (SAP, Side::Buy, 3_000), (BTC, Side::Sell, 20), (JPM, Side::Sell, 1_500)]
            .into_iter()
            .enumerate()
    {
        let intent = sentinel.check(NOW_NS, &order(k as u64, asset, side, qty)).unwrap().into_inner();
        intents.push((intent.intent_id.get(), asset, side, qty));
        assert_matches(&sentinel, &returns, "after an approval");
    }
    // A price move, a fill and a cancel.
    sentinel.update_price(id(SAP), 14_000, NOW_NS).unwrap();
    assert_matches(&sentinel, &returns, "after a price move");
    let (intent_id, asset, side, qty) = intents[0];
    sentinel.on_exec_report(&exec_report(intent_id, asset, side, ExecStatus::Filled, qty, 0));
    let (intent_id, asset, side, _) = intents[1];
    sentinel.on_exec_report(&exec_report(intent_id, asset, side, ExecStatus::Canceled, 0, 0));
    assert_matches(&sentinel, &returns, "after execution reports");
    // A new history (the daily roll) revalues the book.
    let rolled = history(DAYS, 6, 8);
    sentinel.set_history(&rolled).unwrap();
    assert_matches(&sentinel, &rolled, "after a new history");
}

#[test]
fn the_var_limit_is_checked_on_the_book_after_the_order() {
    // Find the largest SAP buy the VaR limit admits, by full revaluation, and check the
    // sentinel draws the line at the same lot.
    let returns = history(DAYS, 6, 7);
    let text = EXAMPLE_LIMITS
        .replace("max_var = 400000", "max_var = 20000")
        .replace("max_incremental_var = 100000", "max_incremental_var = 1000000");
    let base = sentinel_with(&text, &[(JPM, 1_000)]);
    let (before_h, before_p) = full_revaluation(&returns, base.var_exposures());
    assert!(before_h.max(before_p) < 20_000.0);
    let mut exposures = base.var_exposures().to_vec();
    let admits = |lots: i64, exposures: &mut Vec<f64>| {
        exposures[4] = lots as f64 * 150.0;
        let (h, p) = full_revaluation(&returns, exposures);
        (h <= 20_000.0 || h <= before_h) && (p <= 20_000.0 || p <= before_p)
    };
    let mut lots = 1;
    while admits(lots + 1, &mut exposures) {
        lots += 1;
    }
    assert!(lots > 1 && lots < 3_300, "{lots} lots: another limit would bind first");
    let mut at_edge = sentinel_with(&text, &[(JPM, 1_000)]);
    assert!(at_edge.check(NOW_NS, &order(1, SAP, Side::Buy, lots)).is_ok(), "{lots} lots");
    let mut over = sentinel_with(&text, &[(JPM, 1_000)]);
    assert_eq!(
        over.check(NOW_NS, &order(1, SAP, Side::Buy, lots + 1)).unwrap_err().reason,
        qp_wire::VetoReason::ValueAtRisk
    );
}
