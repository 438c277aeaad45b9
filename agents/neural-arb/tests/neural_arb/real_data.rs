use qp_fill_sim::{ReplayConfig, ReplayReport, run_replay};
use qp_neural_arb::ArbReplayAgent;
use qp_replay::read_feed;

use crate::fixture::{arb, config, data, feeds, futures, spot};

fn replay() -> (ReplayReport, ArbReplayAgent) {
    let spot_feed = read_feed(&data("spot-btcusdt-20240808.gz")).expect("spot recording");
    let futures_feed = read_feed(&data("usdm-btcusdt-20240808.gz")).expect("usdm recording");
    let mut arb = arb(config());
    let report = run_replay(&feeds(&spot_feed, &futures_feed), &mut arb, &ReplayConfig::default()).expect("replay");
    (report, arb)
}

#[test]
fn trades_the_basis_on_the_day_and_is_deterministic() {
    let (first, arb) = replay();
    let stats = arb.agent.stats();
    eprintln!(
        "neural-arb: entries {} exits {} decisions {} fills {} vetoes {} max|z| {:.2} pnl {:?} slippage {:.3} bp",
        stats.entries,
        stats.exits,
        stats.decisions,
        first.fills.len(),
        first.vetoed,
        stats.max_abs_z,
        first.pnl,
        first.slippage_bp
    );
    assert!(stats.entries >= 2, "the model should enter on this day: {stats:?}");
    assert!(stats.exits >= 1, "{stats:?}");
    assert!(!first.fills.is_empty());
    assert_eq!(first.feeds.len(), 2);
    assert!(first.fills.iter().any(|f| f.asset == spot()) && first.fills.iter().any(|f| f.asset == futures()));
    // Every fill respects its order's limit (IOC at the far touch, aggressiveness 0: at most the
    // touch it saw, so a buy never pays above the mid by more than the book's spread).
    assert!(first.fills.iter().all(|f| f.qty_lots > 0 && f.price > 0));
    // The sentinel's positions are the harness's.
    let (near, far) = arb.agent.positions();
    assert_eq!(first.feeds[0].position_lots, near);
    assert_eq!(first.feeds[1].position_lots, far);
    // P&L agrees with RiskSentinel's own mark (it marks at the mid rounded down to a tick).
    let sentinel = first.sentinel_pnl_micros as f64 / 1e6;
    let ours = first.pnl.realised + first.pnl.unrealised;
    assert!((sentinel - ours).abs() < 0.05, "sentinel {sentinel} vs harness {ours}");
    // Same input, same fills and P&L.
    let (second, _) = replay();
    assert_eq!(first, second);
}
