use qp_fill_sim::{FeedSpec, ReplayConfig, ReplayReport, run_replay};
use qp_liquidity_flow::{Algo, ExecutionSummary, FlowConfig, ParentOrder};
use qp_replay::{FeedRecording, read_feed};
use qp_wire::{Side, TimeInForce};

use crate::fixture::{data, flow, futures, futures_spec};

const SEC: u64 = 1_000_000_000;

fn recording() -> FeedRecording {
    read_feed(&data("usdm-btcusdt-20240808.gz")).expect("usdm recording")
}

fn parent(feed: &FeedRecording, side: Side, algo: Algo, limit_price: Option<i64>) -> ParentOrder {
    let start_ns = feed.lines[0].local_ts_ns + 10 * SEC;
    // 2 BTC over 300 s.
    ParentOrder { asset: futures(), side, qty_lots: 2_000, limit_price, start_ns, end_ns: start_ns + 300 * SEC, algo }
}

fn run(feed: &FeedRecording, parent: ParentOrder) -> (ReplayReport, ExecutionSummary) {
    let mut flow = flow(FlowConfig::new(parent));
    let feeds = [FeedSpec { name: "usdm-btcusdt".into(), instrument: futures_spec(), recording: feed }];
    let config = ReplayConfig { time_in_force: TimeInForce::GoodTillCancel, ..ReplayConfig::default() };
    let report = run_replay(&feeds, &mut flow, &config).expect("replay");
    (report, flow.agent.summary())
}

#[test]
fn twap_completes_the_parent_limit_first_and_deterministically() {
    let feed = recording();
    let (report, summary) = run(&feed, parent(&feed, Side::Buy, Algo::Twap { slices: 30 }, None));
    eprintln!("twap buy: {summary:?}\n  harness slippage {:.3} bp, fills {}", report.slippage_bp, report.fills.len());
    assert_eq!(summary.filled_lots, 2_000, "{summary:?}");
    assert!(summary.done);
    assert!(summary.passive_lots > 0, "limit-first: some of it rests and fills passively");
    assert!(summary.shortfall_bp.abs() < 50.0, "{summary:?}");
    assert_eq!(report.feeds[0].position_lots, 2_000);
    let filled: i64 = report.fills.iter().map(|f| f.qty_lots).sum();
    assert_eq!(filled, 2_000);
    let (again, summary_again) = run(&feed, parent(&feed, Side::Buy, Algo::Twap { slices: 30 }, None));
    assert_eq!(report, again);
    assert_eq!(summary, summary_again);
}

#[test]
fn pov_participates_near_its_rate() {
    let feed = recording();
    let (report, summary) = run(&feed, parent(&feed, Side::Sell, Algo::Pov { rate_bp: 500 }, None));
    eprintln!("pov sell 5%: {summary:?}\n  harness slippage {:.3} bp", report.slippage_bp);
    assert!(summary.filled_lots > 0);
    assert!(summary.participation > 0.02 && summary.participation < 0.10, "{summary:?}");
    assert_eq!(report.feeds[0].position_lots, -summary.filled_lots);
}

#[test]
fn no_child_fills_beyond_the_parents_limit() {
    let feed = recording();
    let start_ns = feed.lines[0].local_ts_ns + 10 * SEC;
    // A buy limit below where the market traded: it may fill little, but never above the limit.
    let probe = parent(&feed, Side::Buy, Algo::Twap { slices: 10 }, None);
    let (free, _) = run(&feed, probe);
    let first_mid_x2 = free.feeds[0].first_mid_x2;
    let limit = first_mid_x2 / 2 - 100; // 10 USD under the first mid
    let (report, summary) =
        run(&feed, ParentOrder { start_ns, ..parent(&feed, Side::Buy, Algo::Twap { slices: 10 }, Some(limit)) });
    assert!(report.fills.iter().all(|f| f.price <= limit), "a buy filled above its limit");
    assert!(summary.filled_lots <= 2_000);
}
