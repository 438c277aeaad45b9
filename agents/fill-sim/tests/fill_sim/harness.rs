use std::path::PathBuf;

use qp_book::binance::BinanceError;
use qp_fill_sim::{AgentActions, FeedSpec, ReplayAgent, ReplayConfig, ReplayError, run_replay};
use qp_replay::{FeedLine, FeedRecording, read_feed};
use qp_risk_sentinel::InstrumentSpec;
use qp_wire::{AssetId, Decision, ExecReport, ExecStatus, Quote, Side, TimeInForce};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/binance").join(name)
}

fn usdm() -> InstrumentSpec {
    InstrumentSpec {
        asset: AssetId::from_wire(7),
        symbol: "BTCUSDT-PERP".into(),
        class: "crypto".into(),
        groups: vec![],
        price_decimals: 1,
        qty_decimals: 3,
        contract_multiplier: 1,
    }
}

/// Every 100th quote, alternately buys and sells 0.005 BTC limited at the far touch: IOC, or
/// resting when the touch moved away (GTC runs).
#[derive(Debug, Default)]
struct Pinger {
    quotes: u64,
    next_id: u64,
    filled: i64,
    reports: u64,
}

impl ReplayAgent for Pinger {
    fn on_quote(&mut self, _: u64, quote: &Quote, out: &mut AgentActions) {
        self.quotes += 1;
        if !self.quotes.is_multiple_of(100) {
            return;
        }
        self.next_id += 1;
        let buy = self.next_id % 2 == 1;
        let (side, price) = if buy { (Side::Buy, quote.ask_price.get()) } else { (Side::Sell, quote.bid_price.get()) };
        out.decide(Decision::new(self.next_id, quote.asset(), side, 5, price, 0));
    }
    fn on_exec_report(&mut self, _: u64, report: &ExecReport, _: &mut AgentActions) {
        self.reports += 1;
        if matches!(ExecStatus::from_wire(report.status), Some(ExecStatus::PartiallyFilled | ExecStatus::Filled)) {
            self.filled += report.last_qty.get() * Side::from_wire(report.side).map_or(0, Side::sign);
        }
    }
}

#[test]
fn replays_the_usdm_day_through_risk_into_fills_and_repeats_exactly() {
    let feed = read_feed(&data("usdm-btcusdt-20240808.gz")).expect("recording");
    let feeds = [FeedSpec { name: "usdm".into(), instrument: usdm(), recording: &feed }];
    let mut first_agent = Pinger::default();
    let first = run_replay(&feeds, &mut first_agent, &ReplayConfig::default()).expect("replay");
    assert!(first.approved > 20, "{first:?}");
    assert!(!first.fills.is_empty());
    assert_eq!(first.feeds[0].gaps, 0);
    assert_eq!(first.feeds[0].position_lots, first_agent.filled, "the agent's fills are the harness's");
    assert!(first.fills.iter().all(|f| f.qty_lots <= 5));
    let sentinel = first.sentinel_pnl_micros as f64 / 1e6;
    assert!((sentinel - (first.pnl.realised + first.pnl.unrealised)).abs() < 0.01, "{sentinel} vs {:?}", first.pnl);
    let mut second_agent = Pinger::default();
    let second = run_replay(&feeds, &mut second_agent, &ReplayConfig::default()).expect("replay");
    assert_eq!(first, second);
    // Fees are charged on every fill's notional.
    let mut fee_agent = Pinger::default();
    let config = ReplayConfig { fee_bp: 2.0, ..ReplayConfig::default() };
    let with_fees = run_replay(&feeds, &mut fee_agent, &config).expect("replay");
    let notional: f64 = with_fees.fills.iter().map(|f| f.notional_micros as f64 / 1e6).sum();
    assert!((with_fees.pnl.fees - notional * 2e-4).abs() < 1e-6);
    // Resting orders (GTC) are reported New before they fill or are cancelled at the end.
    let mut gtc_agent = Pinger::default();
    let config = ReplayConfig { time_in_force: TimeInForce::GoodTillCancel, ..ReplayConfig::default() };
    let gtc = run_replay(&feeds, &mut gtc_agent, &config).expect("replay");
    assert_eq!(gtc.sim.expired, 0);
}

fn recording(lines: &[&str]) -> FeedRecording {
    let mut bytes = Vec::new();
    let mut out = Vec::new();
    for (i, text) in lines.iter().enumerate() {
        let start = bytes.len();
        bytes.extend_from_slice(text.as_bytes());
        out.push(FeedLine { local_ts_ns: 1_000 + i as u64, json: start..bytes.len(), line_no: i + 1 });
        bytes.push(b'\n');
    }
    FeedRecording { bytes, lines: out }
}

#[test]
fn bad_input_is_a_typed_error() {
    let mut agent = Pinger::default();
    let config = ReplayConfig::default();
    assert!(matches!(run_replay(&[], &mut agent, &config), Err(ReplayError::FeedCount(0))));
    let broken = recording(&[r#"{"lastUpdateId":1,"bids":[["1.0","1.000"]],"asks":[["2.0","1.000"]]}"#, "{not json"]);
    let feeds = [FeedSpec { name: "broken".into(), instrument: usdm(), recording: &broken }];
    match run_replay(&feeds, &mut agent, &config) {
        Err(ReplayError::Decode { line: 2, source: BinanceError::Syntax { .. }, .. }) => {}
        other => panic!("expected a decode error on line 2, got {other:?}"),
    }
    let unsynced = recording(&[r#"{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1.0","q":"1.000","T":1,"m":true}"#]);
    let feeds = [FeedSpec { name: "no-snapshot".into(), instrument: usdm(), recording: &unsynced }];
    assert!(matches!(run_replay(&feeds, &mut agent, &config), Err(ReplayError::NeverSynchronised { .. })));
    let feed = read_feed(&data("usdm-btcusdt-20240808.gz")).expect("recording");
    let feeds = [FeedSpec { name: "usdm".into(), instrument: usdm(), recording: &feed }];
    let bad_limits = ReplayConfig { limits_toml: Some("[rate]\nmax_orders_per_sec = 0\n".into()), ..config };
    assert!(matches!(run_replay(&feeds, &mut agent, &bad_limits), Err(ReplayError::Sentinel(_))));
}
