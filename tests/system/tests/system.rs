#![allow(clippy::unwrap_used)] // helpers in test files are test code too
use std::path::Path;
use std::process::{Command, Output};

use qp_system_tests::{binary, shared_data};
use qp_wire::*;

fn run(name: &str, args: &[&str]) -> Output {
    let path = binary(name);
    assert!(
        path.exists(),
        "{} not built: run `cargo build --workspace --bins` (cargo xtask test does)",
        path.display()
    );
    Command::new(path).args(args).output().unwrap()
}

fn stderr_line(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(stderr.trim_end().lines().count(), 1, "exactly one error line: {stderr:?}");
    stderr.trim_end().to_owned()
}

#[test]
fn demo_replays_the_shared_data_through_all_five_steps() {
    let data = shared_data();
    let output = run("qp-node", &["demo", "--data", data.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("loaded   93954 BTCUSDT market-data messages"), "{stdout}");
    assert!(stdout.contains("BTCUSDT book: 6547 of 6551 depth diffs applied, 0 gaps, 0 crossed"), "{stdout}");
    assert!(stdout.contains("book tickers that line up with a diff: 126/126 agree"), "{stdout}");
    assert!(stdout.contains("loaded    9543 headlines"), "{stdout}");
    for step in ["1 ingest", "2 confirm", "3 decide", "4 risk", "5 execute"] {
        assert!(stdout.contains(step), "{step} missing: {stdout}");
    }
    let intents: u64 = stdout
        .lines()
        .find(|l| l.contains("order intents handed to the execution side"))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(intents > 0, "{stdout}");
    // RiskSentinel is the risk step, its VaR history the recordings' own one-second mids.
    assert!(stdout.contains("4 risk     RiskSentinel: "), "{stdout}");
    assert!(stdout.contains("VaR history 344 scenarios (recorded mids every 1000 ms"), "{stdout}");
    for row in ["ingest (agent work)", "confirm (hop + work)", "risk (hop + work)", "loop ingest->execute"] {
        assert!(stdout.contains(row), "latency row {row} missing: {stdout}");
    }
}

#[test]
fn demo_with_a_missing_config_key_fails_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("node.toml");
    let text = run("qp-node", &["demo", "--help"]);
    assert!(text.status.success());
    // Take the embedded default by way of the repository file and drop one key.
    let default =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../agents/loop/default-config.toml"))
            .unwrap();
    std::fs::write(&config, default.replace("quote_refresh_ms = 500\n", "")).unwrap();
    let output = run("qp-node", &["demo", "--config", config.to_str().unwrap()]);
    assert!(!output.status.success());
    let line = stderr_line(&output);
    assert!(line.starts_with(&format!("qp-node: error: config {}: line ", config.display())), "{line}");
    assert!(line.contains("missing field `quote_refresh_ms`"), "{line}");
}

#[test]
fn demo_with_bad_data_names_the_file() {
    let output = run("qp-node", &["demo", "--data", "/nonexistent/data"]);
    assert!(!output.status.success());
    assert_eq!(stderr_line(&output), "qp-node: error: data folder /nonexistent/data does not exist (pass --data DIR)");

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("tfns")).unwrap();
    std::fs::create_dir_all(dir.path().join("binance")).unwrap();
    std::fs::copy(shared_data().join("tfns/train.csv"), dir.path().join("tfns/train.csv")).unwrap();
    let feed = dir.path().join("binance/usdm-btcusdt-20240808.gz");
    std::fs::write(&feed, b"this is not gzip").unwrap();
    let output = run("qp-node", &["demo", "--data", dir.path().to_str().unwrap()]);
    assert!(!output.status.success());
    let line = stderr_line(&output);
    assert!(line.starts_with(&format!("qp-node: error: {}", feed.display())), "{line}");
}

/// Kills the child if the test fails before it exits.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Wait up to `timeout` for a stderr line containing `needle`; answers the line.
fn wait_for_line(lines: &std::sync::mpsc::Receiver<String>, needle: &str, timeout: std::time::Duration) -> String {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = lines.recv_timeout(left);
        assert!(line.is_ok(), "no stderr line containing {needle:?} within {timeout:?}: {line:?}");
        if let Ok(line) = line
            && line.contains(needle)
        {
            return line;
        }
    }
}

fn sighup(child: &std::process::Child) {
    let status = Command::new("kill").args(["-HUP", &child.id().to_string()]).status().unwrap();
    assert!(status.success(), "kill -HUP failed");
}

#[test]
fn demo_reloads_risk_limits_on_sighup_and_refuses_an_invalid_file() {
    use std::io::BufRead;
    use std::process::Stdio;
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    let limits = dir.path().join("limits.toml");
    let valid = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../agents/loop/default-risk-limits.toml"),
    )
    .unwrap();
    std::fs::write(&limits, &valid).unwrap();
    let path = binary("qp-node");
    assert!(path.exists(), "{} not built: run `cargo build --workspace --bins`", path.display());
    // At 20x the ~6-minute recording replays in about 17 s: time for both signals.
    let child = Command::new(path)
        .args(["demo", "--data", shared_data().to_str().unwrap(), "--speed", "20"])
        .args(["--risk-limits", limits.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = ChildGuard(child);
    let stderr = child.0.stderr.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            all.push(line);
        }
        all
    });
    // Signals are handled from here on (the handlers are registered before loading).
    wait_for_line(&lines, "replaying", Duration::from_secs(60));
    // Invalid: refused with the file and line, and the old limits stay.
    std::fs::write(&limits, valid.replacen("max_order_qty_lots = 50", "max_order_qty_lots = = 50", 1)).unwrap();
    sighup(&child.0);
    let refused = wait_for_line(&lines, "risk limits reload", Duration::from_secs(10));
    assert!(
        refused.contains("refused") && refused.contains(&format!("{}: limits: line ", limits.display())),
        "{refused}"
    );
    // Valid and tighter: applied.
    std::fs::write(&limits, valid.replace("max_order_qty_lots = 50", "max_order_qty_lots = 5")).unwrap();
    sighup(&child.0);
    let applied = wait_for_line(&lines, "risk limits reload", Duration::from_secs(10));
    assert!(applied.contains("applied"), "{applied}");

    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.0.stdout.take().unwrap(), &mut stdout).unwrap();
    let status = child.0.wait().unwrap();
    let stderr = reader.join().unwrap().join("\n");
    assert!(status.success(), "{stdout}\n{stderr}");
    let report = stdout.lines().find(|l| l.contains("risk limits: ")).unwrap_or_default();
    assert!(
        report.starts_with(&format!(
            "  risk limits: {}; 1 reloads applied, 1 refused (last: risk limits {}: limits: line ",
            limits.display(),
            limits.display()
        )),
        "{stdout}\n{stderr}"
    );
    assert!(stdout.contains("replayed 178364 events at 20x recorded speed"), "{stdout}");
}

fn frames_file(dir: &Path, tail: &[u8]) -> std::path::PathBuf {
    let asset = AssetId::from_wire(1);
    let mut bytes = FrameBuf::encode(1, 1, &SentimentSignal::new(asset, 4, 8_000, 1, 1)).as_frame_bytes().to_vec();
    let decision = Decision::new(1, asset, Side::Buy, 3, 100, 0);
    bytes.extend_from_slice(FrameBuf::encode(1, 2, &decision).as_frame_bytes());
    bytes.extend_from_slice(tail);
    let path = dir.join("capture.qpw");
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn inspect_frames_prints_good_frames_and_stops_at_a_truncated_one() {
    let dir = tempfile::tempdir().unwrap();
    let third = FrameBuf::encode(1, 3, &SentimentSignal::new(AssetId::from_wire(1), 1, 1, 1, 1));
    let path = frames_file(dir.path(), &third.as_frame_bytes()[..50]);
    let output = run("qpctl", &["inspect", "frames", path.to_str().unwrap()]);
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(stdout.contains("Sentiment origin=1 seq=1 asset=1 score=4"), "{stdout}");
    assert_eq!(
        stderr_line(&output),
        format!("qpctl: error: {}: frame at byte 200: frame truncated: need 72 bytes, have 50", path.display())
    );
}

#[test]
fn inspect_frames_names_an_unknown_type() {
    let dir = tempfile::tempdir().unwrap();
    let mut unknown =
        FrameBuf::encode(1, 3, &SentimentSignal::new(AssetId::from_wire(1), 1, 1, 1, 1)).as_frame_bytes().to_vec();
    unknown[6] = 42;
    let path = frames_file(dir.path(), &unknown);
    let output = run("qpctl", &["inspect", "frames", path.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(stderr_line(&output).ends_with("frame at byte 200: unknown frame type 42"));
}

#[test]
fn bench_loop_json_has_the_documented_shape() {
    // Default: news text in, FIX order bytes out, one stage per agent.
    let output = run("qpctl", &["bench", "loop", "--json", "--iterations", "2000", "--warmup", "200"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let stages = json["stages"].as_object().unwrap();
    assert_eq!(
        stages.keys().collect::<Vec<_>>(),
        ["alphascanner", "confirm", "decide", "fix", "risksentinel", "sentimentx"]
    );
    for entry in stages.values().chain([&json["loop"]]) {
        let (p50, p99, p999) =
            (entry["p50_ns"].as_u64().unwrap(), entry["p99_ns"].as_u64().unwrap(), entry["p999_ns"].as_u64().unwrap());
        assert!(0 < p50 && p50 <= p99 && p99 <= p999, "{entry}");
    }
    assert_eq!(json["order_intents"], 2000);
    assert!(json["order_bytes"].as_u64().unwrap() > 0, "{json}");

    // Signal frames in, order intent out: the stages of the loop itself.
    let frames =
        run("qpctl", &["bench", "loop", "--from", "frames", "--json", "--iterations", "2000", "--warmup", "200"]);
    assert!(frames.status.success(), "{}", String::from_utf8_lossy(&frames.stderr));
    let json: serde_json::Value = serde_json::from_slice(&frames.stdout).unwrap();
    let stages = json["stages"].as_object().unwrap();
    assert_eq!(stages.keys().collect::<Vec<_>>(), ["confirm", "decide", "execute", "risk"]);
    assert_eq!(json["order_intents"], 2000);
}

#[test]
fn bench_ring_and_decode_print_json() {
    let output = run("qpctl", &["bench", "ring", "--json", "--iterations", "20000"]);
    assert!(output.status.success());
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for key in ["cross_core", "same_thread", "cross_core_floor"] {
        assert!(json[key]["p99_ns"].as_u64().unwrap() > 0, "{json}");
    }
    let output = run("qpctl", &["bench", "decode", "--json", "--batches", "1000"]);
    assert!(output.status.success());
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(json["p999_ns"].as_u64().is_some(), "{json}");
}

fn model_file(dir: &Path) -> std::path::PathBuf {
    use qp_models::{Activation, OnnxMlpBuilder};
    let path = dir.join("student.onnx");
    OnnxMlpBuilder::seeded(&[8, 16, 3], Activation::Relu, Activation::Softmax, 7).unwrap().write(&path).unwrap();
    path
}

#[test]
fn model_check_accepts_a_good_model_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    let path = model_file(dir.path());
    for backend in ["native-f32", "native-int8", "onnxruntime"] {
        let output = run("qpctl", &["model", "check", path.to_str().unwrap(), "--backend", backend]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{backend}: {stdout} {}", String::from_utf8_lossy(&output.stderr));
        assert!(stdout.contains("8 inputs -> 3 outputs"), "{stdout}");
    }
}

#[test]
fn a_corrupt_model_is_one_error_line_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = model_file(dir.path());
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    for backend in ["native-f32", "onnxruntime"] {
        let output = run("qpctl", &["model", "check", path.to_str().unwrap(), "--backend", backend]);
        assert!(!output.status.success(), "{backend}");
        let line = stderr_line(&output);
        assert!(line.starts_with("qpctl: error: ") && line.contains(&path.display().to_string()), "{backend}: {line}");
    }
    let missing = dir.path().join("missing.onnx");
    let output = run("qpctl", &["model", "check", missing.to_str().unwrap()]);
    assert!(stderr_line(&output).contains(&missing.display().to_string()));
}

#[test]
fn forge_eval_prints_one_json_object_for_the_shipped_model() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("labelled.csv");
    std::fs::write(
        &csv,
        "text,label\n\"$AAPL - Apple beats estimates, raises guidance\",1\nDeutsche Bank shares plunge after loss,0\nFed to publish minutes on Wednesday,2\n",
    )
    .unwrap();
    let output = run("qpctl", &["forge", "eval", "--data", csv.to_str().unwrap(), "--json"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["n"], 3);
    let (accuracy, macro_f1) = (json["accuracy"].as_f64().unwrap(), json["macro_f1"].as_f64().unwrap());
    assert!((0.0..=1.0).contains(&accuracy) && (0.0..=1.0).contains(&macro_f1), "{json}");
    assert_eq!(json.as_object().unwrap().len(), 3, "exactly n, accuracy, macro_f1: {json}");
}

#[test]
fn forge_eval_names_a_bad_column_and_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bad.csv");
    std::fs::write(&csv, "headline,sentiment\nx,1\n").unwrap();
    let output = run("qpctl", &["forge", "eval", "--data", csv.to_str().unwrap(), "--json"]);
    assert!(!output.status.success());
    assert_eq!(
        stderr_line(&output),
        format!("qpctl: error: {}:1: expected the header `text,label`, found `headline,sentiment`", csv.display())
    );
    let missing = dir.path().join("missing.csv");
    let output = run("qpctl", &["forge", "eval", "--data", missing.to_str().unwrap()]);
    assert!(stderr_line(&output).starts_with(&format!("qpctl: error: {}", missing.display())));
    let output =
        run("qpctl", &["forge", "eval", "--model", missing.to_str().unwrap(), "--data", csv.to_str().unwrap()]);
    assert!(stderr_line(&output).contains(&missing.display().to_string()));
}

#[test]
fn bench_sentiment_reports_both_backends() {
    let data = shared_data().join("tfns/train.csv");
    let output = run("qpctl", &["bench", "sentiment", "--json", "--calls", "2000", "--data", data.to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for backend in ["native", "onnxruntime"] {
        assert!(json[backend]["p99_ns"].as_u64().unwrap() > 0, "{backend}: {json}");
    }
}

fn json_output(name: &str, args: &[&str]) -> serde_json::Value {
    let output = run(name, args);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn lobster(kind: &str) -> String {
    shared_data().join(format!("lobster/AAPL_2012-06-21_34200000_57600000_{kind}_10.csv")).to_str().unwrap().to_owned()
}

#[test]
fn book_lobster_checks_every_step_on_the_determined_levels() {
    let (message, orderbook) = (lobster("message"), lobster("orderbook"));
    let json = json_output("qpctl", &["book", "lobster", "--message", &message, "--orderbook", &orderbook, "--json"]);
    assert_eq!(json["messages"], 999);
    assert_eq!(json["rows_compared"], 998);
    assert_eq!(json["rows_matched"], 998);
    assert_eq!(json["rows_unknowable_level"], 318);
    assert!(json["first_mismatch"].is_null());
    assert!(json["continuous_rows_matched"].as_u64().unwrap() > 0);
}

#[test]
fn book_binance_keeps_a_book_the_exchange_tickers_agree_with() {
    let file = shared_data().join("binance/usdm-btcusdt-20240808.gz");
    let json = json_output("qpctl", &["book", "binance", file.to_str().unwrap(), "--passes", "1", "--json"]);
    for (key, value) in [("events", 93_954), ("depth_updates", 6_551), ("trades", 21_313), ("gaps", 0), ("crossed", 0)]
    {
        assert_eq!(json[key], value, "{key}: {json}");
    }
    assert_eq!(json["ticker_compared"], 126);
    assert_eq!(json["ticker_matched"], 126);
    assert!(json["events_per_s"].as_f64().unwrap() > 0.0);
    // Binance USD-M futures have no hidden orders: judged around their exchange time,
    // (almost) every print is explained by the visible book (2 of 21,308 are not).
    let prints = &json["prints"];
    let delivered = prints["delivered"].as_u64().unwrap();
    assert_eq!(delivered + prints["dropped_unsynchronised"].as_u64().unwrap(), 21_313, "{prints}");
    assert!(prints["unexplained"].as_u64().unwrap() * 200 <= delivered, "{prints}");

    let output =
        run("qpctl", &["book", "binance", "/nonexistent/feed.gz", "--price-decimals", "1", "--qty-decimals", "3"]);
    assert!(!output.status.success());
    assert!(stderr_line(&output).contains("/nonexistent/feed.gz"));
}

#[test]
fn scan_darkpool_scores_the_hidden_executions() {
    let (message, orderbook) = (lobster("message"), lobster("orderbook"));
    let json = json_output("qpctl", &["scan", "darkpool", "--message", &message, "--orderbook", &orderbook, "--json"]);
    assert_eq!(json["type5_prints"], 61);
    assert!(json["recall"].as_f64().unwrap() >= 0.9, "{json}");
}

#[test]
fn risk_parity_matches_riskfolio_and_var_reports_its_backtest() {
    let prices = shared_data().join("riskfolio/stock_prices.csv");
    let prices = prices.to_str().unwrap();
    let assets = "JCI,TGT,CMCSA,CPB,MO,AMZN,APA,MMC,JPM,ZION";
    let json =
        json_output("qpctl", &["risk", "parity", "--prices", prices, "--assets", assets, "--window", "200", "--json"]);
    // Riskfolio-Lib's MV weights (Classic_RP.csv), to 1e-5.
    for (asset, riskfolio) in
        [("AMZN", 0.104_461_529), ("APA", 0.044_959_045), ("CPB", 0.141_291_406), ("ZION", 0.076_042_592)]
    {
        let w = json["weights"][asset].as_f64().unwrap();
        assert!((w - riskfolio).abs() < 1e-5, "{asset}: {w} vs {riskfolio}");
        let share = json["risk_contributions"][asset].as_f64().unwrap();
        assert!((share - 0.1).abs() < 1e-9, "{asset}: risk share {share}");
    }
    let json = json_output("qpctl", &["risk", "var", "--prices", prices, "--assets", assets, "--json"]);
    let historical = json["historical"]["var"].as_f64().unwrap();
    assert!(historical > 0.0 && json["historical"]["cvar"].as_f64().unwrap() >= historical, "{json}");
    let zone = json["backtest"]["historical"]["traffic_light"].as_str().unwrap();
    assert!(["green", "yellow", "red"].contains(&zone), "{json}");
    assert!(json["backtest"]["parametric"]["kupiec_p_value"].is_f64());

    let output = run("qpctl", &["risk", "parity", "--prices", prices, "--assets", "JCI,NOPE"]);
    assert!(!output.status.success());
    assert!(stderr_line(&output).contains("NOPE"));
}

#[test]
fn fix_conformance_passes_all_59_quickfix_scripts() {
    let defs = shared_data().join("quickfix/fix44");
    let report = json_output("qpctl", &["fix", "conformance", "--defs", defs.to_str().unwrap(), "--json"]);
    assert_eq!(report["passed"], 59, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    assert_eq!(report["failures"].as_array().unwrap().len(), 0, "{report}");
}

#[test]
fn fix_conformance_reports_a_failing_script_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read(shared_data().join("quickfix/fix44/2a_MsgSeqNumCorrect.def")).unwrap();
    let text = String::from_utf8(original).unwrap();
    // Expect a Logon answer with the wrong MsgSeqNum: the engine is right, the script is not.
    let broken = text.replacen("\u{1}34=1\u{1}49=ISLD", "\u{1}34=7\u{1}49=ISLD", 1);
    assert_ne!(broken, text, "the script changed");
    std::fs::write(dir.path().join("2a_MsgSeqNumCorrect.def"), broken).unwrap();
    let output = run("qpctl", &["fix", "conformance", "--defs", dir.path().to_str().unwrap(), "--json"]);
    assert!(!output.status.success(), "a failing script fails the command");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["passed"], 0, "{report}");
    assert_eq!(report["failed"], 1, "{report}");
    let failure = &report["failures"][0];
    assert_eq!(failure["script"], "2a_MsgSeqNumCorrect.def", "{report}");
    assert!(failure["line"].as_u64().unwrap() > 0, "{report}");
    assert!(failure["expected"].as_str().unwrap().contains("34=7"), "{report}");
    assert!(failure["got"].as_str().unwrap().contains("34=1"), "{report}");
}

#[test]
fn exec_replay_neural_arb_is_deterministic_and_trades() {
    let binance = shared_data().join("binance");
    let (spot, usdm) = (binance.join("spot-btcusdt-20240808.gz"), binance.join("usdm-btcusdt-20240808.gz"));
    let args = [
        "exec",
        "replay",
        "--agent",
        "neural-arb",
        "--data",
        spot.to_str().unwrap(),
        "--data2",
        usdm.to_str().unwrap(),
        "--json",
    ];
    let first = json_output("qpctl", &args);
    let second = json_output("qpctl", &args);
    assert_eq!(first, second, "same input, same fills and P&L");
    assert!(first["fills"].as_u64().unwrap() > 0, "{first}");
    assert!(first["agent"]["neural_arb"]["entries"].as_u64().unwrap() > 0, "{first}");
    let pnl = first["pnl"]["total"].as_f64().unwrap();
    let sentinel = first["risk_sentinel_pnl"].as_f64().unwrap();
    assert!((pnl - sentinel).abs() < 0.01, "the replay's P&L agrees with RiskSentinel's books: {first}");
}

#[test]
fn exec_replay_liquidity_flow_reports_shortfall_within_its_limit() {
    let report = json_output(
        "qpctl",
        &[
            "exec",
            "replay",
            "--agent",
            "liquidity-flow",
            "--data",
            shared_data().join("binance/usdm-btcusdt-20240808.gz").to_str().unwrap(),
            "--algo",
            "twap",
            "--side",
            "buy",
            "--qty",
            "2",
            "--json",
        ],
    );
    let flow = &report["agent"]["liquidity_flow"];
    assert_eq!(flow["filled"].as_f64().unwrap(), 2.0, "{report}");
    assert!(flow["shortfall_bp"].as_f64().unwrap().is_finite(), "{report}");
    assert!(flow["children"].as_u64().unwrap() > 1, "{report}");
}

#[test]
fn audit_verify_names_the_entry_holding_a_flipped_byte() {
    use qp_audit::{AuditWriter, FileKeySigner, SealPolicy};
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("node.key");
    let keygen = run("qpctl", &["audit", "keygen", "--out", key.to_str().unwrap()]);
    assert!(keygen.status.success(), "{}", String::from_utf8_lossy(&keygen.stderr));
    let public = dir.path().join("node.key.pub");
    assert!(public.exists());

    let trail = dir.path().join("trail.qpa");
    let mut writer =
        AuditWriter::create(&trail, 1, FileKeySigner::load(&key).unwrap(), SealPolicy { every_entries: 4 }).unwrap();
    let mut offsets = Vec::new();
    for id in 0..10u64 {
        let decision = Decision::new(id, AssetId::from_wire(1), Side::Buy, 1, 100, 0);
        offsets.push(writer.record_frame(id, FrameBuf::encode(1, id, &decision).as_frame_bytes(), None).unwrap());
    }
    writer.finish(99).unwrap();

    let verify =
        |file: &Path| run("qpctl", &["audit", "verify", file.to_str().unwrap(), "--key", public.to_str().unwrap()]);
    let good = verify(&trail);
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stderr));
    assert!(String::from_utf8_lossy(&good.stdout).contains("chain intact"));

    // Flip one byte inside the 6th frame's entry (entry numbers count seals too).
    let bytes = std::fs::read(&trail).unwrap();
    let (_, entries) = qp_audit::read_entries(&bytes, None).unwrap();
    let target = entries.iter().find(|e| e.seq == offsets[5]).unwrap();
    let mut tampered = bytes.clone();
    tampered[target.offset + 100] ^= 0x01;
    let bad_file = dir.path().join("tampered.qpa");
    std::fs::write(&bad_file, tampered).unwrap();
    let bad = verify(&bad_file);
    assert!(!bad.status.success());
    let line = stderr_line(&bad);
    assert!(line.contains(&format!("entry {} (byte {})", target.seq, target.offset)), "{line}");
}

#[test]
fn backtest_json_over_a_window_is_the_demo_summary_and_repeats_exactly() {
    let data = shared_data();
    let args = ["backtest", "--data", data.to_str().unwrap(), "--from", "0", "--to", "120", "--json"];
    let mut first = json_output("qpctl", &args);
    let mut second = json_output("qpctl", &args);
    for run in [&mut first, &mut second] {
        assert!(run["elapsed_ms"].as_f64().unwrap() > 0.0, "{run}");
        run["elapsed_ms"] = serde_json::Value::Null; // wall-clock time: the one field that differs
    }
    assert_eq!(first, second, "same window, same decisions, fills, P&L and hash");
    assert_eq!(first["window_s"]["to"], 120.0, "{first}");
    assert!(first["execution"]["fills"].as_u64().unwrap() > 0, "{first}");
    assert!(first["pnl"]["total"].as_f64().unwrap().is_finite(), "{first}");
    assert_eq!(first["output_hash"].as_str().unwrap().len(), 64, "{first}");
    let bad = run("qpctl", &["backtest", "--data", data.to_str().unwrap(), "--from", "30", "--to", "10"]);
    assert!(!bad.status.success());
    assert!(stderr_line(&bad).contains("replay window"), "{}", String::from_utf8_lossy(&bad.stderr));
}

/// A free port on 127.0.0.1 (bound and released: the node binds it next).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn qp_node_run_sends_signals_from_a_cloud_node_to_a_local_node_over_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let d = |p: &str| dir.path().join(p).display().to_string();
    for args in [
        vec!["ca", "init", "--fleet", "acme", "--dir", &d("ca")],
        vec!["ca", "issue", "--node", "vault-1", "--role", "local", "--ca", &d("ca"), "--out", &d("nodes")],
        vec!["ca", "issue", "--node", "swarm-1", "--role", "cloud", "--ca", &d("ca"), "--out", &d("nodes")],
    ] {
        let output = run("qpctl", &args);
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
    let port = free_port();
    let identity = |name: &str| {
        format!(
            "[identity]\ncert = \"{}\"\nkey = \"{}\"\nca = \"{}\"\n",
            d(&format!("nodes/{name}.pem")),
            d(&format!("nodes/{name}.key")),
            d("ca/ca.pem")
        )
    };
    let bridge = "window_frames = 1024\nheartbeat_ms = 200\ndead_after_ms = 2000\n";
    std::fs::write(
        dir.path().join("local.toml"),
        format!(
            "[node]\nname = \"vault-1\"\nrole = \"local\"\norigin_node = 1\n{}[bridge]\ntransport = \"auto\"\nlisten = \"127.0.0.1:{port}\"\n{bridge}",
            identity("vault-1")
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("cloud.toml"),
        format!(
            "[node]\nname = \"swarm-1\"\nrole = \"cloud\"\norigin_node = 2\n{}[bridge]\ntransport = \"epoll\"\ndial = [\"127.0.0.1:{port}\"]\n{bridge}[cloud]\ndata = \"{}\"\nheadlines_per_s = 0\n",
            identity("swarm-1"),
            shared_data().display()
        ),
    )
    .unwrap();
    let local = Command::new(binary("qp-node"))
        .args(["run", "--role", "local", "--config", &d("local.toml"), "--max-frames", "3000"])
        .args(["--frames-out", &d("frames.bin")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The cloud node dials with back-off until the local node listens.
    let cloud = run("qp-node", &["run", "--role", "cloud", "--config", &d("cloud.toml"), "--max-frames", "3000"]);
    let cloud_out = String::from_utf8_lossy(&cloud.stdout);
    assert!(cloud.status.success(), "{cloud_out}\n{}", String::from_utf8_lossy(&cloud.stderr));
    assert!(cloud_out.contains("spiffe://acme/cloud/swarm-1: sent 3000 frames"), "{cloud_out}");
    assert!(cloud_out.contains("3000 acknowledged"), "{cloud_out}");
    let local = local.wait_with_output().unwrap();
    let local_out = String::from_utf8_lossy(&local.stdout);
    assert!(local.status.success(), "{local_out}\n{}", String::from_utf8_lossy(&local.stderr));
    assert!(
        local_out.contains("spiffe://acme/local/vault-1: received 3000 frames")
            && local_out.contains("spiffe://acme/cloud/swarm-1 3000"),
        "{local_out}"
    );
    // What arrived is SentimentX's frames from the cloud node, whole and in order.
    let bytes = std::fs::read(dir.path().join("frames.bin")).unwrap();
    let (mut offset, mut count, mut last) = (0, 0, 0);
    while offset < bytes.len() {
        let frame = decode(&bytes[offset..]).unwrap();
        assert!(matches!(frame, FrameRef::Sentiment(_)), "{frame:?}");
        let header = frame.header();
        assert_eq!(header.origin_node.get(), 2);
        assert!(header.sequence.get() > last, "in order");
        last = header.sequence.get();
        offset += frame.len();
        count += 1;
    }
    assert_eq!(count, 3000);

    // A node whose certificate says another role is refused at start, with one line.
    let wrong = run("qp-node", &["run", "--role", "local", "--config", &d("cloud.toml")]);
    assert!(!wrong.status.success());
    let line = stderr_line(&wrong);
    assert!(line.contains("--role local") && line.contains("cloud"), "{line}");
}

#[test]
fn qp_node_supervise_restarts_holds_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("manifest.toml");
    std::fs::write(
        &manifest,
        "variant = \"cloud\"\n\
         [[services]]\nname = \"crashes\"\nprogram = \"/bin/false\"\nbackoff_initial_ms = 10\nbackoff_max_ms = 20\nmax_restarts = 2\n\
         [[services]]\nname = \"steady\"\nprogram = \"/bin/sleep\"\nargs = [\"60\"]\n",
    )
    .unwrap();
    let child = Command::new(binary("qp-node"))
        .args(["supervise", "--manifest", manifest.to_str().unwrap(), "--tick-ms", "5"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(800));
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("supervising 2 service(s) of the cloud image"), "{stdout}");
    assert!(stdout.contains("crashes: held (last exit code Some(1), signal None), 2 restart(s)"), "{stdout}");
    assert!(stdout.contains("steady: running (pid "), "{stdout}");
    assert!(stdout.contains("1 service(s) held"), "{stdout}");
    // A bad manifest: one line naming it.
    std::fs::write(&manifest, "variant = \"edge\"\n").unwrap();
    let bad = run("qp-node", &["supervise", "--manifest", manifest.to_str().unwrap()]);
    assert!(!bad.status.success());
    assert!(stderr_line(&bad).contains("variant: must be \"local\" or \"cloud\""));
}

/// A fake image build output of release `seed`: the release files `qpctl update publish` takes.
fn image_build(dir: &Path, seed: u8) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for (index, name) in
        ["uki.efi", "uki-b.efi", "root.erofs", "root.verity", "roothash.txt", "golden.json"].iter().enumerate()
    {
        std::fs::write(dir.join(name), vec![seed.wrapping_add(index as u8); 1000 + index * 100]).unwrap();
    }
    std::fs::write(dir.join("build-info.json"), format!("{{\"release\": {seed}}}\n")).unwrap();
    dir.to_owned()
}

#[test]
fn update_publish_then_check_as_a_node_and_a_rollback_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = |p: &str| dir.path().join(p).display().to_string();
    let ok = |args: &[&str]| {
        let output = run("qpctl", args);
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "qpctl {args:?}: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        stdout
    };
    let small = ["--root-keys", "1", "--root-threshold", "1"];
    let keys = d("keys");
    let mut keygen = vec!["update", "keygen", "--keys", &keys];
    keygen.extend(small);
    ok(&keygen);
    let repo = d("repo");
    let mut init = vec!["update", "init", "--repo", &repo, "--keys", &keys];
    init.extend(small);
    ok(&init);
    let v1 = image_build(&dir.path().join("build-1"), 1).display().to_string();
    let said = ok(&["update", "publish", "--repo", &repo, "--keys", &keys, "--image", &v1, "--version", "1"]);
    assert!(said.contains("published image version 1") && said.contains("7 targets"), "{said}");
    let v2 = image_build(&dir.path().join("build-2"), 2).display().to_string();
    // The release number is the build's own: another one is refused.
    let other =
        run("qpctl", &["update", "publish", "--repo", &repo, "--keys", &keys, "--image", &v2, "--version", "3"]);
    assert!(!other.status.success());
    assert!(stderr_line(&other).contains("was built as release 2"), "{}", stderr_line(&other));
    ok(&["update", "publish", "--repo", &repo, "--keys", &keys, "--image", &v2]);
    ok(&["update", "timestamp", "--repo", &repo, "--keys", &keys]);

    // As a node running version 1: version 2 is offered, and downloads verified.
    let root = format!("{repo}/metadata/1.root.json");
    let url = format!("file://{repo}");
    let check = |installed: &str, download: Option<&str>| {
        let mut args = vec!["update", "check", "--repository", &url, "--root", &root];
        let datastore = d("datastore");
        args.extend(["--datastore", &datastore, "--installed", installed]);
        if let Some(download) = download {
            args.extend(["--download", download]);
        }
        run("qpctl", &args)
    };
    let slot = d("slot-b");
    let output = check("1", Some(&slot));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let offer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(offer["version"], 2, "{offer}");
    assert_eq!(offer["targets"].as_array().unwrap().len(), 7, "{offer}");
    assert_eq!(std::fs::read(dir.path().join("slot-b/uki-a.efi")).unwrap(), vec![2u8; 1000]);

    // A node already on version 2 is offered nothing newer: refused, saying why, in one line.
    let output = check("2", None);
    assert!(!output.status.success());
    let line = stderr_line(&output);
    assert!(line.contains('2') && line.to_lowercase().contains("version"), "{line}");
}
