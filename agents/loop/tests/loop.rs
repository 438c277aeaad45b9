#![allow(clippy::unwrap_used)] // helpers in test files are test code too
use std::cell::RefCell;

use qp_loop::bench::{SyntheticMarket, bench_loop, signal_pair};
use qp_loop::{FiveStepLoop, LoopConfig};
use qp_wire::*;

fn config() -> LoopConfig {
    LoopConfig::embedded_default().unwrap()
}

/// Collects what comes out of the Execute step.
#[derive(Default)]
struct Outputs(RefCell<Vec<FrameBuf>>);

impl Outputs {
    fn sink(&self) -> impl FnMut(&FrameBuf) + '_ {
        |f| self.0.borrow_mut().push(*f)
    }
    fn intents(&self) -> Vec<OrderIntent> {
        self.0
            .borrow()
            .iter()
            .filter_map(|f| decode_as::<OrderIntent>(f.as_frame_bytes()).ok())
            .map(|f| *f.payload)
            .collect()
    }
    fn vetoes(&self) -> Vec<RiskVerdict> {
        self.0
            .borrow()
            .iter()
            .filter_map(|f| decode_as::<RiskVerdict>(f.as_frame_bytes()).ok())
            .map(|f| *f.payload)
            .collect()
    }
}

/// BTCUSDT's id in this loop's registry.
fn btc(five_step: &FiveStepLoop) -> AssetId {
    five_step.registry().lookup("BTCUSDT").unwrap()
}

#[test]
fn embedded_config_is_valid_and_complete() {
    let config = config();
    assert_eq!(config.assets[0].symbol, "BTCUSDT");
    assert_eq!(config.confirm.window_ms, 5_000);
}

#[test]
fn a_missing_config_key_is_one_line_naming_the_key() {
    let text = LoopConfig::EMBEDDED_DEFAULT.replace("window_ms = 5000\n", "");
    let err = LoopConfig::from_toml(&text, "node.toml").unwrap_err().to_string();
    assert!(err.starts_with("config node.toml: line "), "{err}");
    assert!(err.contains("missing field `window_ms`"), "{err}");
    assert!(!err.contains('\n'), "one line: {err}");
}

#[test]
fn unknown_keys_and_bad_values_are_refused() {
    let text = LoopConfig::EMBEDDED_DEFAULT.replace("window_ms = 5000", "window_ms = 5000\nwindow_sec = 5");
    let err = LoopConfig::from_toml(&text, "node.toml").unwrap_err().to_string();
    assert!(err.contains("unknown field `window_sec`"), "{err}");

    let text = LoopConfig::EMBEDDED_DEFAULT.replace("liquidity_drop_bp = 5000", "liquidity_drop_bp = 0");
    let err = LoopConfig::from_toml(&text, "node.toml").unwrap_err().to_string();
    assert_eq!(err, "config node.toml: book.liquidity_drop_bp: must be 1..=10000");

    let text = LoopConfig::EMBEDDED_DEFAULT.replace("window_ms = 5000", "window_ms = \"soon\"");
    let err = LoopConfig::from_toml(&text, "node.toml").unwrap_err().to_string();
    let line = LoopConfig::EMBEDDED_DEFAULT.lines().position(|l| l.starts_with("window_ms")).unwrap() + 1;
    assert_eq!(err, format!("config node.toml: line {line}: invalid type: string \"soon\", expected u64"));

    let err = LoopConfig::from_toml("not toml at all [", "x.toml").unwrap_err().to_string();
    assert!(err.starts_with("config x.toml: "), "{err}");
}

#[test]
fn a_confirmed_signal_pair_becomes_an_order_intent_stamped_at_every_stage() {
    let mut five_step = FiveStepLoop::start(&config()).unwrap();
    let out = Outputs::default();
    let (book, sentiment) = signal_pair(1, 0, btc(&five_step), 600_000);
    five_step.inject(book, out.sink());
    five_step.inject(sentiment, out.sink());
    five_step.finish(out.sink()).unwrap();
    let frames = out.0.borrow();
    assert_eq!(frames.len(), 1);
    let intent = decode_as::<OrderIntent>(frames[0].as_frame_bytes()).unwrap();
    assert_eq!(intent.payload.side(), Some(Side::Buy));
    assert_eq!(intent.payload.qty.get(), 10);
    assert_eq!(intent.payload.limit_price.get(), 600_005, "ref price + 5 ticks");
    let stamps: Vec<u64> = [Stage::Ingest, Stage::Confirm, Stage::Decide, Stage::Risk, Stage::Execute]
        .map(|s| intent.header.stamp(s).unwrap())
        .into();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "{stamps:?}");
}

#[test]
fn headlines_and_market_data_through_the_real_ingest_agents() {
    let mut five_step = FiveStepLoop::start(&config()).unwrap();
    let out = Outputs::default();
    let mut market = SyntheticMarket::default();
    // A sentiment with no book signal in the window confirms nothing...
    five_step.ingest_headline(1_000_000_000, "Bitcoin surges past resistance", out.sink());
    // A depth diff before the snapshot is buffered: the book is not known yet.
    five_step.ingest_market(0, 59_000_000_000, market.depth(1_000, 1_000), out.sink());
    five_step.ingest_market(0, 59_500_000_000, market.snapshot(1_000, 1_000), out.sink());
    assert!(five_step.feeds().next().unwrap().1.is_synchronised());
    five_step.ingest_market(0, 59_800_000_000, market.depth(1_000, 1_000), out.sink());
    // Bids build up against a thin ask: order-flow imbalance is bullish.
    five_step.ingest_market(0, 60_000_000_000, market.depth(9_000, 1_000), out.sink());
    assert_eq!(five_step.scanner().counts().imbalance_signals, 1);
    // ...a headline about an unconfigured asset emits nothing...
    five_step.ingest_headline(60_000_000_001, "$AAPL surges on record iPhone sales", out.sink());
    // ...and one within the window of a bullish book becomes a buy.
    five_step.ingest_headline(60_100_000_000, "Bitcoin rallies as inflows jump", out.sink());
    // A bearish headline against a bullish book: no agreement, no trade.
    five_step.ingest_headline(60_200_000_000, "Bitcoin plunges", out.sink());
    five_step.finish(out.sink()).unwrap();
    let intents = out.intents();
    assert_eq!(intents.len(), 1, "{:?}", out.0.borrow());
    assert_eq!(intents[0].side(), Some(Side::Buy));
    assert_eq!(intents[0].limit_price.get(), 600_005);
}

#[test]
fn bad_market_data_is_counted_and_the_feed_goes_on() {
    let mut five_step = FiveStepLoop::start(&config()).unwrap();
    let out = Outputs::default();
    let mut market = SyntheticMarket::default();
    five_step.ingest_market(0, 1, market.snapshot(1_000, 1_000), out.sink());
    five_step.ingest_market(0, 2, b"{\"stream\":\"btcusdt@depth@0ms\",\"data\":{", out.sink());
    five_step.ingest_market(
        0,
        3,
        br#"{"stream":"btcusdt@trade","data":{"e":"trade","T":1,"p":"60000.05","q":"1","m":true}}"#,
        out.sink(),
    );
    five_step.ingest_market(7, 4, market.depth(1_000, 1_000), out.sink());
    five_step.ingest_market(0, 5, market.depth(2_000, 1_000), out.sink());
    let counts = five_step.ingest_counts();
    assert_eq!((counts.feed_errors, counts.unknown_instrument), (2, 1), "{counts:?}");
    let (_, feed) = five_step.feeds().next().unwrap();
    // The diff sent to an unknown instrument is missing from BTCUSDT's chain: a
    // gap, and the book waits for a new snapshot rather than guess.
    assert_eq!(feed.stats().gaps, 1);
    assert!(!feed.is_synchronised());
    five_step.ingest_market(0, 6, market.snapshot(1_000, 1_000), out.sink());
    five_step.ingest_market(0, 7, market.depth(2_000, 1_000), out.sink());
    let (_, feed) = five_step.feeds().next().unwrap();
    assert!(feed.is_synchronised(), "a new snapshot resynchronises");
    five_step.finish(out.sink()).unwrap();
}

#[test]
fn risk_vetoes_what_breaks_the_position_limit_and_only_risk_makes_intents() {
    let mut five_step = FiveStepLoop::start(&config()).unwrap();
    let out = Outputs::default();
    // Always bullish: 10 lots each, position limit 30 → three approvals, then vetoes.
    for i in 0..5u64 {
        let (book, sentiment) = signal_pair(1, 2 * i, btc(&five_step), 600_000);
        five_step.inject(book, out.sink());
        five_step.inject(sentiment, out.sink());
    }
    // Frames that only risk may create, injected directly, never come out.
    let decision = Decision::new(99, btc(&five_step), Side::Buy, 1, 600_000, 0);
    five_step.inject(FrameBuf::encode(1, 900, &OrderIntent::new(99, &decision, TimeInForce::Day)), out.sink());
    five_step.inject(FrameBuf::encode(1, 901, &decision), out.sink());
    let stats = five_step.finish(out.sink()).unwrap();
    assert_eq!(out.intents().len(), 3);
    let vetoes = out.vetoes();
    assert_eq!(vetoes.len(), 2);
    assert!(vetoes.iter().all(|v| v.reason() == Some(VetoReason::Exposure)));
    assert_eq!(stats[0].agent_errors, 2, "confirm refused the forged intent and decision: {stats:?}");
}

#[test]
fn unknown_assets_and_garbage_frames_do_not_stop_the_loop() {
    let mut five_step = FiveStepLoop::start(&config()).unwrap();
    let out = Outputs::default();
    let mut garbage = FrameBuf::default();
    garbage.as_slot_bytes_mut().fill(0x5A);
    five_step.inject(garbage, out.sink());
    let (book, sentiment) = signal_pair(1, 0, AssetId::from_wire(1_000_000), 600_000);
    five_step.inject(book, out.sink());
    five_step.inject(sentiment, out.sink());
    let (book, sentiment) = signal_pair(1, 0, btc(&five_step), 600_000);
    five_step.inject(book, out.sink());
    five_step.inject(sentiment, out.sink());
    let stats = five_step.finish(out.sink()).unwrap();
    assert_eq!(out.intents().len(), 1);
    assert_eq!((stats[0].decode_errors, stats[0].agent_errors), (1, 2), "{stats:?}");
}

#[test]
fn the_bench_reports_every_stage_and_the_loop() {
    let report = bench_loop(&config(), 100, 1_000).unwrap();
    assert_eq!(report.order_intents, 1_000);
    assert_eq!(report.latency.whole_loop.count, 1_000);
    assert_eq!(report.latency.stages.keys().copied().collect::<Vec<_>>(), ["confirm", "decide", "execute", "risk"]);
    let json = serde_json::to_value(&report).unwrap();
    for key in ["p50_ns", "p99_ns", "p999_ns"] {
        assert!(json["loop"][key].as_u64().unwrap() > 0);
        assert!(json["stages"]["risk"][key].is_u64());
    }
}

#[test]
fn a_trade_print_waits_for_the_depth_stream_to_pass_its_time_then_reaches_darkpool_scan() {
    let mut five_step = FiveStepLoop::start(&config()).unwrap();
    let out = Outputs::default();
    let mut market = SyntheticMarket::default();
    five_step.ingest_market(0, 1, market.snapshot(1_000, 1_000), out.sink());
    // Synthetic diffs are stamped 1 ms; the book: bid 60000.0 × 1.000, ask 60000.1 × 1.000.
    five_step.ingest_market(0, 2, market.depth(1_000, 1_000), out.sink());
    // A sell print of 0.500 into the bid at 5 ms: the depth stream has not passed 5 ms yet.
    let trade = br#"{"stream":"btcusdt@trade","data":{"e":"trade","T":5,"p":"60000.0","q":"0.500","m":true}}"#;
    five_step.ingest_market(0, 3, trade, out.sink());
    assert_eq!(five_step.darkpool().counts().prints, 0, "held back");
    assert_eq!(five_step.feeds().next().unwrap().1.pending_prints(), 1);
    // The diff at 10 ms shows the fill: the print comes out first, judged with the book at 5 ms.
    let diff = br#"{"stream":"btcusdt@depth@0ms","data":{"e":"depthUpdate","E":10,"T":10,"U":102,"u":102,"pu":101,"b":[["60000.0","0.500"]],"a":[]}}"#;
    five_step.ingest_market(0, 4, diff, out.sink());
    let counts = five_step.darkpool().counts();
    assert_eq!((counts.prints, counts.hidden), (1, 0), "{counts:?}");
    // A print the stream never passes is handed over at the end.
    let trade = br#"{"stream":"btcusdt@trade","data":{"e":"trade","T":20,"p":"60000.0","q":"0.100","m":true}}"#;
    five_step.ingest_market(0, 5, trade, out.sink());
    let (_, feed) = five_step.feeds().next().unwrap();
    let stats = feed.print_stats();
    assert_eq!((feed.pending_prints(), stats.received, stats.delivered), (1, 2, 1));
    assert_eq!(five_step.ingest_counts(), qp_loop::IngestCounts::default());
    five_step.finish(out.sink()).unwrap();
}
