#![allow(clippy::unwrap_used)] // helpers in test files are test code too
use std::cell::RefCell;

use qp_loop::bench::{
    SyntheticMarket, bench_loop, deciding_every_confirmed, quote_frame, signal_pair, synthetic_history,
};
use qp_loop::{FiveStepLoop, HistoryConfig, KillSwitchCommand, KillSwitchState, LoopConfig, RiskCommandOutcome};
use qp_wire::*;

fn config() -> LoopConfig {
    LoopConfig::embedded_default().unwrap()
}

/// The embedded configuration with the Decide agent deciding on every `Confirmed` (threshold
/// 0, no quote cadence) and always `lots` lots: these tests are about the loop's plumbing and
/// risk, so each confirmed pair must become a decision whatever the model makes of it.
fn deciding(lots: i64) -> LoopConfig {
    let mut config = deciding_every_confirmed(&config());
    config.alpha.min_order_qty_lots = lots;
    config.alpha.max_order_qty_lots = lots;
    config
}

/// The limit the Decide agent sets: the reference price crossed by 5 ticks.
fn limit_for(side: Option<Side>, ref_price: i64) -> i64 {
    if side == Some(Side::Buy) { ref_price + 5 } else { ref_price - 5 }
}

/// The loop on `config`, with the synthetic VaR history (no recording is read here).
fn start(config: &LoopConfig) -> FiveStepLoop {
    FiveStepLoop::start(config, &synthetic_history(config.assets.len())).unwrap()
}

/// A fresh quote for `asset` with its mid at `mid` (bid one tick below, ask one above).
fn quote(asset: AssetId, mid: i64) -> FrameBuf {
    quote_frame(1, 0, asset, mid)
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
    let mut five_step = start(&deciding(10));
    let out = Outputs::default();
    five_step.inject(quote(btc(&five_step), 600_000), out.sink());
    let (book, sentiment) = signal_pair(1, 0, btc(&five_step), 600_000);
    five_step.inject(book, out.sink());
    five_step.inject(sentiment, out.sink());
    five_step.finish(out.sink()).unwrap();
    let frames = out.0.borrow();
    // The decision (risk's record of what it judged), then the intent.
    assert_eq!(frames.len(), 2);
    let decision = decode_as::<Decision>(frames[0].as_frame_bytes()).unwrap();
    let intent = decode_as::<OrderIntent>(frames[1].as_frame_bytes()).unwrap();
    assert_eq!(decision.payload.decision_id, intent.payload.decision_id);
    assert_eq!((decision.payload.qty, decision.payload.limit_price), (intent.payload.qty, intent.payload.limit_price));
    assert_eq!(intent.payload.qty.get(), 10);
    assert_eq!(intent.payload.limit_price.get(), limit_for(intent.payload.side(), 600_000), "ref price ± 5 ticks");
    let stamps: Vec<u64> = [Stage::Ingest, Stage::Confirm, Stage::Decide, Stage::Risk, Stage::Execute]
        .map(|s| intent.header.stamp(s).unwrap())
        .into();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "{stamps:?}");
}

#[test]
fn headlines_and_market_data_through_the_real_ingest_agents() {
    let mut five_step = start(&deciding(10));
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
    // ...and each one within the window of the book signal is confirmed, and decided on.
    five_step.ingest_headline(60_100_000_000, "Bitcoin rallies as inflows jump", out.sink());
    five_step.ingest_headline(60_200_000_000, "Bitcoin plunges", out.sink());
    // The ingest side published a quote for the snapshot's top and one for the diff that
    // changed it (the diff that repeated it, none), and they gave risk its reference price.
    assert_eq!(five_step.quotes_published(), 2);
    five_step.finish(out.sink()).unwrap();
    let intents = out.intents();
    assert_eq!(intents.len(), 2, "{:?}", out.0.borrow());
    for intent in &intents {
        assert_eq!(intent.limit_price.get(), limit_for(intent.side(), 600_000));
    }
    assert!(out.vetoes().is_empty(), "{:?}", out.vetoes());
}

#[test]
fn bad_market_data_is_counted_and_the_feed_goes_on() {
    let mut five_step = start(&config());
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

/// Feed one signal pair for `asset` (bullish when `i` is even) with the decision's
/// reference price `ref_price`.
fn pair(five_step: &mut FiveStepLoop, out: &Outputs, i: u64, asset: AssetId, ref_price: i64) {
    let (book, sentiment) = signal_pair(1, i, asset, ref_price);
    five_step.inject(book, out.sink());
    five_step.inject(sentiment, out.sink());
}

#[test]
fn risk_sentinel_vetoes_with_its_reasons_and_only_risk_makes_intents() {
    let mut five_step = start(&deciding(10));
    let out = Outputs::default();
    let btc = btc(&five_step);
    let eth = five_step.registry().lookup("ETHUSDT").unwrap();
    // No quote yet: fail-closed, StalePrice.
    pair(&mut five_step, &out, 0, btc, 600_000);
    // A fresh quote: approved (IOC, and the stand-in execution reports it expired unfilled,
    // which releases it: the alternating orders after it are approved too).
    five_step.inject(quote(btc, 600_000), out.sink());
    for i in 1..=4 {
        pair(&mut five_step, &out, i, btc, 600_000);
    }
    // A limit 1 % from the quote's mid: outside the 50 bp collar.
    pair(&mut five_step, &out, 5, btc, 606_000);
    // ETHUSDT has had no quote: stale, whatever BTCUSDT's quotes say.
    pair(&mut five_step, &out, 6, eth, 300_000);
    // Frames that only this node's agents and risk may create, injected, are refused.
    let decision = Decision::new(99, btc, Side::Buy, 1, 600_000, 0);
    five_step.inject(FrameBuf::encode(1, 900, &OrderIntent::new(99, &decision, TimeInForce::Day)), out.sink());
    five_step.inject(FrameBuf::encode(1, 901, &decision), out.sink());
    let five_step_refused = five_step.ingest_counts().refused_injected;
    let stats = five_step.finish(out.sink()).unwrap();
    let intents = out.intents();
    assert_eq!(intents.len(), 4, "{:?}", out.0.borrow());
    assert_eq!(intents.iter().map(|i| i.intent_id.get()).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert!(intents.iter().all(|i| i.time_in_force == TimeInForce::ImmediateOrCancel as u8));
    let reasons: Vec<_> = out.vetoes().iter().map(|v| v.reason().unwrap()).collect();
    assert_eq!(reasons, [VetoReason::StalePrice, VetoReason::PriceCollar, VetoReason::StalePrice]);
    assert_eq!(five_step_refused, 2, "the forged intent and decision");
    assert!(stats.iter().all(|s| s.agent_errors == 0 && s.decode_errors == 0), "{stats:?}");
}

#[test]
fn an_oversize_decision_is_vetoed_max_quantity() {
    // The Decide agent trades 60 lots; the embedded limits allow BTCUSDT 50 an order.
    let mut five_step = start(&deciding(60));
    let out = Outputs::default();
    let btc = btc(&five_step);
    five_step.inject(quote(btc, 600_000), out.sink());
    pair(&mut five_step, &out, 0, btc, 600_000);
    five_step.finish(out.sink()).unwrap();
    assert!(out.intents().is_empty());
    let vetoes = out.vetoes();
    assert_eq!(vetoes.len(), 1);
    assert_eq!((vetoes[0].reason(), vetoes[0].decision_id.get()), (Some(VetoReason::MaxQuantity), 1));
}

/// Wait (polling the loop's output) until `n` intents or vetoes have come out.
fn wait_for_verdicts(five_step: &mut FiveStepLoop, out: &Outputs, n: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while out.intents().len() + out.vetoes().len() < n {
        assert!(std::time::Instant::now() < deadline, "fewer than {n} verdicts came out");
        five_step.poll_output(out.sink());
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Wait (polling the loop's output) for the risk stage's answer to a command.
fn risk_outcome(five_step: &mut FiveStepLoop, out: &Outputs) -> RiskCommandOutcome {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(outcome) = five_step.poll_risk_outcome() {
            return outcome;
        }
        assert!(std::time::Instant::now() < deadline, "the risk stage never answered");
        five_step.poll_output(out.sink());
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

#[test]
fn risk_limits_reload_mid_stream_and_an_invalid_text_keeps_the_old_limits() {
    // The Decide agent trades 10 lots; the embedded limits allow BTCUSDT 50 an order.
    let mut five_step = start(&deciding(10));
    let out = Outputs::default();
    let btc = btc(&five_step);
    five_step.inject(quote(btc, 600_000), out.sink());
    pair(&mut five_step, &out, 0, btc, 600_000);
    // A command applies to every frame the risk stage handles after it takes it, also to
    // frames sent before it that risk has not reached yet: let this decision through first.
    wait_for_verdicts(&mut five_step, &out, 1);
    // Tighter: 5 lots an order (the class and BTCUSDT's own). In force for every frame the
    // risk stage handles after it takes the command; these pairs are sent after it.
    let tighter = LoopConfig::EMBEDDED_RISK_LIMITS.replace("max_order_qty_lots = 50", "max_order_qty_lots = 5");
    let seq = five_step.reload_risk_limits(&tighter, "tighter.toml").unwrap();
    pair(&mut five_step, &out, 1, btc, 600_000);
    pair(&mut five_step, &out, 2, btc, 600_000);
    assert_eq!(risk_outcome(&mut five_step, &out), RiskCommandOutcome::LimitsApplied { seq });
    // Invalid: refused here, naming the file and the line; nothing reaches the risk stage.
    let broken = tighter.replacen("max_order_qty_lots = 5", "max_order_qty_lots = 5 5", 1);
    let line = broken.lines().position(|l| l.contains("= 5 5")).unwrap() + 1;
    let err = five_step.reload_risk_limits(&broken, "broken.toml").unwrap_err().to_string();
    assert!(err.starts_with(&format!("risk limits broken.toml: limits: line {line}, column ")), "{err}");
    let err = five_step
        .reload_risk_limits(&LoopConfig::EMBEDDED_RISK_LIMITS.replace("max_var = ", "max_var = -"), "neg.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("neg.toml: limits: var.max_var is -"), "{err}");
    // The tighter limits are still in force. (Wait for the verdict: a command sent now would
    // apply to this pair's decision too if the risk stage had not handled it yet.)
    pair(&mut five_step, &out, 3, btc, 600_000);
    wait_for_verdicts(&mut five_step, &out, 4);
    // The kill switch through the same ring.
    let halt = five_step.kill_switch(KillSwitchCommand::Halt).unwrap();
    pair(&mut five_step, &out, 4, btc, 600_000);
    let outcome = risk_outcome(&mut five_step, &out);
    assert_eq!(
        outcome,
        RiskCommandOutcome::KillSwitchApplied {
            seq: halt,
            command: KillSwitchCommand::Halt,
            state: KillSwitchState::Halted
        }
    );
    assert_eq!(five_step.poll_risk_outcome(), None, "the invalid texts never reached the risk stage");
    five_step.finish(out.sink()).unwrap();

    assert_eq!(out.intents().len(), 1, "only the order before the reload: {:?}", out.vetoes());
    let reasons: Vec<_> = out.vetoes().iter().map(|v| (v.decision_id.get(), v.reason().unwrap())).collect();
    assert_eq!(
        reasons,
        [
            (2, VetoReason::MaxQuantity),
            (3, VetoReason::MaxQuantity),
            (4, VetoReason::MaxQuantity),
            (5, VetoReason::KillSwitch)
        ]
    );
}

#[test]
fn risk_limits_and_history_errors_name_the_file_and_key() {
    let dir = std::env::temp_dir().join(format!("qp-loop-limits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let history = synthetic_history(config().assets.len());

    // A limit out of range: the file and the key.
    let limits = dir.join("limits.toml");
    std::fs::write(
        &limits,
        LoopConfig::EMBEDDED_RISK_LIMITS.replacen("max_order_qty_lots = 50", "max_order_qty_lots = -5", 1),
    )
    .unwrap();
    let mut config = config();
    config.risk.limits = limits.display().to_string();
    let err = FiveStepLoop::start(&config, &history).unwrap_err().to_string();
    assert_eq!(
        err,
        format!("risk limits {}: limits: classes.crypto.max_order_qty_lots is -5, must be positive", limits.display())
    );
    // An asset whose class has no table.
    let mut config = self::config();
    config.assets[1].class = "equity".to_owned();
    let err = FiveStepLoop::start(&config, &history).unwrap_err().to_string();
    assert!(err.starts_with("risk limits embedded default-risk-limits.toml: "), "{err}");
    assert!(err.contains("ETHUSDT") && err.contains("[classes.equity]"), "{err}");
    // A file that is not there.
    let mut config = self::config();
    config.risk.limits = dir.join("missing.toml").display().to_string();
    let err = FiveStepLoop::start(&config, &history).unwrap_err().to_string();
    assert!(err.starts_with(&format!("config {}: ", dir.join("missing.toml").display())), "{err}");
    // A history with a column too few.
    let err = FiveStepLoop::start(&self::config(), &synthetic_history(1)).unwrap_err().to_string();
    assert!(err.contains("VaR history has 1 columns, expected one per instrument (3)"), "{err}");

    // History keys are checked with the configuration.
    let text = LoopConfig::EMBEDDED_DEFAULT.replace("interval_ms = 1000", "interval_ms = 0");
    let err = LoopConfig::from_toml(&text, "node.toml").unwrap_err().to_string();
    assert_eq!(err, "config node.toml: risk.history.interval_ms: must be positive");
    let text = LoopConfig::EMBEDDED_DEFAULT.replace(
        r#"history = { source = "replay", interval_ms = 1000 }"#,
        r#"history = { source = "csv", path = "closes.csv" }"#,
    );
    let config = LoopConfig::from_toml(&text, "node.toml").unwrap();
    assert_eq!(config.risk.history, HistoryConfig::Csv { path: "closes.csv".to_owned() });
    let text = LoopConfig::EMBEDDED_DEFAULT.replace(r#"source = "replay""#, r#"source = "daily""#);
    let err = LoopConfig::from_toml(&text, "node.toml").unwrap_err().to_string();
    assert!(err.contains("unknown variant `daily`"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn csv_history_takes_the_configured_columns_in_order() {
    let config = config();
    let csv = "Date,ETHUSDT,SOLUSDT,BTCUSDT,BTCUSDT-SPOT\n2024-08-06,2000,100,50000,50010\n2024-08-07,2100,90,51000,51020\n2024-08-08,2100,95,49980,49970\n";
    let returns = qp_loop::history::csv_returns(&config, csv, "closes.csv").unwrap();
    assert_eq!((returns.rows(), returns.assets()), (2, 3));
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
    assert!(close(returns.row(0)[0], 0.02) && close(returns.row(0)[1], 0.05), "{:?}", returns.row(0));
    assert!(close(returns.row(1)[0], -0.02) && close(returns.row(1)[1], 0.0), "{:?}", returns.row(1));
    let err = qp_loop::history::csv_returns(&config, "Date,BTCUSDT\nd,1\ne,2\n", "closes.csv").unwrap_err();
    assert_eq!(err.to_string(), "risk history closes.csv: no column for asset ETHUSDT");
}

#[test]
fn replay_history_samples_the_recorded_mids_at_the_interval() {
    use qp_replay::{FeedLine, FeedRecording};
    let mut config = config();
    config.assets.truncate(1);
    // BTCUSDT: a snapshot at t = 0, then one diff per 250 ms for 150 s that moves the bid up
    // a tick every second (the ask stays): the mid rises half a tick a second.
    let mut recording = FeedRecording::default();
    let mut push = |ts_ns: u64, json: &str| {
        let start = recording.bytes.len();
        recording.bytes.extend_from_slice(json.as_bytes());
        let line_no = recording.lines.len() + 1;
        recording.lines.push(FeedLine { local_ts_ns: ts_ns, json: start..recording.bytes.len(), line_no });
    };
    push(0, r#"{"lastUpdateId":100,"E":1,"T":1,"bids":[["50000.0","1.000"]],"asks":[["50100.0","1.000"]]}"#);
    for step in 1..=600u64 {
        let bid = 500_000 + step / 4;
        let json = format!(
            r#"{{"stream":"btcusdt@depth@0ms","data":{{"e":"depthUpdate","E":1,"T":1,"U":{u},"u":{u},"pu":{p},"b":[["{}.{}","1.000"]],"a":[]}}}}"#,
            bid / 10,
            bid % 10,
            u = 100 + step,
            p = 99 + step,
        );
        push(step * 250_000_000, &json);
    }
    let returns = qp_loop::history::replay_returns(&config, std::slice::from_ref(&recording), 1_000).unwrap();
    // Samples at 0, 1, …, 150 s: 150 returns.
    assert_eq!((returns.rows(), returns.assets()), (150, 1));
    // From 1 s on, the bid is one tick (0.1) higher each second: the mid 0.05 higher.
    let expected = 0.05 / (50_050.0 + 0.05 * 1.0);
    assert!((returns.row(1)[0] - expected).abs() < 1e-9, "{} vs {expected}", returns.row(1)[0]);
    // Too short a span for 100 scenarios.
    let err = qp_loop::history::replay_returns(&config, std::slice::from_ref(&recording), 2_000).unwrap_err();
    assert_eq!(err.to_string(), "risk history: the recordings share 76 samples of 2000 ms, at least 101 are needed");
}

#[test]
fn unknown_assets_and_garbage_frames_do_not_stop_the_loop() {
    let mut five_step = start(&deciding(10));
    let out = Outputs::default();
    let mut garbage = FrameBuf::default();
    garbage.as_slot_bytes_mut().fill(0x5A);
    five_step.inject(garbage, out.sink());
    let (book, sentiment) = signal_pair(1, 0, AssetId::from_wire(1_000_000), 600_000);
    five_step.inject(book, out.sink());
    five_step.inject(sentiment, out.sink());
    five_step.inject(quote(btc(&five_step), 600_000), out.sink());
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
    let mut five_step = start(&config());
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

#[test]
fn the_decide_agent_runs_the_configured_model_and_the_loop_names_it() {
    let five_step = start(&config());
    let model = five_step.decide_model();
    assert_eq!(model.name, qp_alpha::SHIPPED_MODEL_NAME);
    assert_eq!(model, &qp_alpha::ModelIdentity::of(qp_alpha::SHIPPED_MODEL_NAME, qp_alpha::SHIPPED_MODEL_BYTES));
    five_step.finish(|_| {}).unwrap();

    // A model file that is not there: the loop does not start, and the error names the file.
    let mut config = config();
    config.alpha.model = "/nonexistent/alpha.onnx".to_owned();
    let err = FiveStepLoop::start(&config, &synthetic_history(config.assets.len())).unwrap_err().to_string();
    assert!(err.starts_with("Decide agent: model /nonexistent/alpha.onnx: cannot read file"), "{err}");
}

#[test]
fn alpha_keys_are_checked_with_the_configuration() {
    let refused = |from: &str, to: &str| {
        let text = LoopConfig::EMBEDDED_DEFAULT.replace(from, to);
        assert_ne!(text, LoopConfig::EMBEDDED_DEFAULT, "{from}");
        LoopConfig::from_toml(&text, "node.toml").unwrap_err().to_string()
    };
    assert_eq!(
        refused("min_edge = 0.05", "min_edge = 1.0"),
        "config node.toml: alpha.min_edge: must be 0 or more and below 1"
    );
    assert_eq!(
        refused("max_order_qty_lots = 10", "max_order_qty_lots = 0"),
        "config node.toml: alpha.max_order_qty_lots: must be at least alpha.min_order_qty_lots"
    );
    assert!(refused("backend = \"native-f32\"", "backend = \"gpu\"").contains("alpha.backend: must be"));
    assert!(
        refused("backend = \"native-f32\"", "backend = \"onnxruntime\"")
            .contains("\"onnxruntime\" needs a model path, not \"embedded\"")
    );
}

/// The events of [`headlines_and_market_data_through_the_real_ingest_agents`], and a depth diff
/// 100 ms after the last headline, by when every order has reached the simulated book (1 ms
/// latency).
fn drive(five_step: &mut FiveStepLoop, out: &Outputs, events: &RefCell<Vec<qp_loop::ExecEvent>>) {
    let mut market = SyntheticMarket::default();
    five_step.ingest_market(0, 59_500_000_000, market.snapshot(1_000, 1_000), out.sink());
    five_step.ingest_market(0, 59_800_000_000, market.depth(1_000, 1_000), out.sink());
    five_step.ingest_market(0, 60_000_000_000, market.depth(9_000, 1_000), out.sink());
    five_step.ingest_headline(60_100_000_000, "Bitcoin rallies as inflows jump", out.sink());
    // Lockstep: the intent is out when the call returns, no polling.
    assert_eq!(out.intents().len(), 1, "{:?}", out.vetoes());
    five_step.ingest_headline(60_200_000_000, "Bitcoin plunges", out.sink());
    assert_eq!(out.intents().len(), 2, "{:?}", out.vetoes());
    five_step.ingest_market(0, 60_300_000_000, market.depth(9_000, 1_000), out.sink());
    five_step.drain_exec_events(|e| events.borrow_mut().push(*e));
    assert_eq!(five_step.markers_sent() % 2, 0, "markers go in pairs");
}

/// [`drive`] in a replay loop: the outputs with their stamps zeroed, the execution events, and
/// what the loop reported at the end.
fn replay_with_fills() -> (Vec<FrameBuf>, Vec<qp_loop::ExecEvent>, qp_loop::LoopFinish) {
    let config = deciding(10);
    let mut five_step = FiveStepLoop::start_replay(&config, &synthetic_history(config.assets.len())).unwrap();
    let out = Outputs::default();
    let events = RefCell::new(Vec::new());
    drive(&mut five_step, &out, &events);
    let finish = five_step.finish_replay(out.sink(), |e| events.borrow_mut().push(*e)).unwrap();
    let frames = out
        .0
        .borrow()
        .iter()
        .map(|f| {
            let mut f = *f;
            for stage in Stage::ALL {
                f.stamp(stage, 0);
            }
            f
        })
        .collect();
    (frames, events.into_inner(), finish)
}

#[test]
fn a_replay_fills_approved_orders_against_the_book_and_repeats_exactly() {
    let (frames, events, finish) = replay_with_fills();
    assert!(frames.iter().all(|f| decode_as::<ExecReport>(f.as_frame_bytes()).is_err()), "no marker leaks out");
    // Both IOC orders crossed the one-level book 1 ms after they left (at the next event): a
    // buy takes the ask (60000.1), a sell the bid (60000.0), 10 lots each, taker, filled.
    assert_eq!(events.len(), 2, "{events:?}");
    let intents: Vec<OrderIntent> =
        frames.iter().filter_map(|f| decode_as::<OrderIntent>(f.as_frame_bytes()).ok()).map(|f| *f.payload).collect();
    assert_eq!(intents.len(), 2);
    for (event, intent) in events.iter().zip(&intents) {
        let fill = event.fill.unwrap();
        assert_eq!(fill.intent_id, intent.intent_id.get());
        assert_eq!(Some(fill.side), intent.side());
        let touch = if fill.side == Side::Buy { 600_001 } else { 600_000 };
        assert_eq!((fill.price, fill.qty_lots, fill.liquidity), (touch, 10, qp_loop::Liquidity::Taker));
        assert_eq!(event.report.status, ExecStatus::Filled as u8);
        assert!(event.ts_ns > 60_100_000_000 && event.ts_ns <= 60_300_000_000);
        // Against the arrival mid 60000.05: half a tick, a cost.
        assert!(fill.slippage_bp > 0.0 && fill.slippage_bp < 0.01, "{fill:?}");
    }
    let x = &finish.execution;
    assert_eq!((x.venue, x.orders, x.fills, x.taker_fills, x.maker_fills), ("fill-sim", 2, 2, 2, 0));
    let btc = &x.assets[0];
    let lots = |side| events.iter().filter_map(|e| e.fill).filter(|f| f.side == side).map(|f| f.qty_lots).sum::<i64>();
    assert_eq!((btc.bought_lots, btc.sold_lots), (lots(Side::Buy), lots(Side::Sell)));
    assert_eq!(btc.position_lots, btc.bought_lots - btc.sold_lots);
    if btc.position_lots == 0 {
        // Bought at 60000.1, sold at 60000.0: 0.010 BTC × −0.1 USDT.
        assert!((x.realised + 0.001).abs() < 1e-9, "{x:?}");
        assert_eq!(x.unrealised, 0.0);
    } else {
        // Two fills on one side, marked to the last mid 60000.05: half a tick each against us.
        assert_eq!(x.realised, 0.0);
        assert!((x.unrealised + 0.001).abs() < 1e-9, "{x:?}");
    }
    assert_eq!(x.pnl(), x.realised + x.unrealised);

    let (frames_again, events_again, finish_again) = replay_with_fills();
    let bytes = |frames: &[FrameBuf]| frames.iter().map(|f| f.as_frame_bytes().to_vec()).collect::<Vec<_>>();
    assert_eq!(bytes(&frames), bytes(&frames_again));
    assert_eq!(events, events_again);
    assert_eq!(finish.execution, finish_again.execution);
}

#[test]
fn the_execution_section_is_optional_and_checked() {
    let without = LoopConfig::EMBEDDED_DEFAULT.split("\n[execution]").next().unwrap();
    let config = LoopConfig::from_toml(without, "test").unwrap();
    assert_eq!(config.execution, qp_loop::ExecutionConfig::default());
    assert_eq!(config.execution, self::config().execution);
    let bad = LoopConfig::EMBEDDED_DEFAULT.replace("venue = \"fill-sim\"", "venue = \"nyse\"");
    assert!(LoopConfig::from_toml(&bad, "test").unwrap_err().to_string().contains("unknown variant"));
    let bad = LoopConfig::EMBEDDED_DEFAULT.replace("fee_bp = 0.0", "fee_bp = -1.0");
    assert!(LoopConfig::from_toml(&bad, "test").unwrap_err().to_string().contains("execution.fee_bp"));
}

#[test]
fn the_expire_venue_reports_every_approved_order_expired_in_a_replay() {
    let mut config = deciding(10);
    config.execution.venue = qp_loop::ExecutionVenue::Expire;
    let mut five_step = FiveStepLoop::start_replay(&config, &synthetic_history(config.assets.len())).unwrap();
    let out = Outputs::default();
    let events = RefCell::new(Vec::new());
    drive(&mut five_step, &out, &events);
    let finish = five_step.finish_replay(out.sink(), |e| events.borrow_mut().push(*e)).unwrap();
    let events = events.into_inner();
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.report.status == ExecStatus::Canceled as u8 && e.fill.is_none()));
    assert_eq!((finish.execution.venue, finish.execution.orders, finish.execution.fills), ("expire", 2, 0));
}
