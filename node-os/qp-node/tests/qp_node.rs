#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! `qp-node demo` in process: determinism (the output stream's hash, run twice) and the audit
//! trail it writes (verified against the key). A window of the shared recordings keeps it short.
use std::path::{Path, PathBuf};

use qp_loop::LoopConfig;
use qp_node::demo::{AuditOptions, DemoOptions, DemoReport, run_demo};

fn shared_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

/// The first two minutes of the recordings: signals, decisions and fills happen there.
const WINDOW: Option<(f64, f64)> = Some((0.0, 120.0));

fn demo(audit: Option<AuditOptions>) -> DemoReport {
    let config = LoopConfig::embedded_default().unwrap();
    let options = DemoOptions { window: WINDOW, audit, ..DemoOptions::default() };
    run_demo(&config, &shared_data(), &options).unwrap()
}

#[test]
fn the_demo_replays_with_fills_and_gives_the_same_output_stream_twice() {
    let first = demo(None);
    let second = demo(None);
    assert!(first.replayed > 0 && first.replayed == first.events, "{first}");
    let x = &first.execution;
    assert_eq!(x.venue, "fill-sim");
    assert!(x.orders > 0, "no order reached the simulator: {first}");
    assert!(x.fills > 0, "no fill: {first}");
    assert_eq!(x.fills, x.maker_fills + x.taker_fills);
    // Every approved order came back with a terminal report, through risk.
    assert!(first.hashed.1 >= x.orders, "{first}");
    assert!(x.pnl().is_finite() && x.slippage_bp.is_finite());
    // The P&L curve: a point a second of feed time, ending at the summary's P&L.
    assert!(first.pnl_curve.len() > 100, "{:?}", first.pnl_curve);
    assert!(first.pnl_curve.windows(2).all(|w| w[0].0 < w[1].0 || w[1] == *first.pnl_curve.last().unwrap()));
    assert_eq!(first.pnl_curve.last().unwrap().1, x.pnl());
    assert_eq!(first.pnl_curve, second.pnl_curve);
    // Same data, same configuration: the same frames (stamps aside), reports, fills and P&L.
    assert_eq!(first.output_hash, second.output_hash);
    assert_eq!(first.hashed, second.hashed);
    assert_eq!(first.execution, second.execution);
    assert_eq!(first.intents, second.intents);
    assert_eq!(first.vetoes, second.vetoes);
    let text = first.to_string();
    for line in ["  5 execute  ", "  fills      ", "  P&L        ", "  slippage   ", "  output hash  sha256 "] {
        assert!(text.contains(line), "{line:?} missing: {text}");
    }
}

#[test]
fn the_audit_trail_verifies_against_the_key_and_repeats_with_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail.qpa");
    let report = demo(Some(AuditOptions { path: trail.clone(), key: None }));
    let audit = report.audit.clone().unwrap();
    assert!(audit.key_generated);
    let public = PathBuf::from(format!("{}.key.pub", trail.display()));
    let key = qp_audit::PublicKey::load_pem(&public).unwrap();
    let bytes = std::fs::read(&trail).unwrap();
    let verified = qp_audit::verify(&bytes, Some(&key)).unwrap();
    assert_eq!(verified.entries, audit.entries);
    assert_eq!(verified.unsealed_entries, 0);
    // SentimentX and the Decide model, then every intent, veto and execution report.
    assert_eq!(verified.models, 2);
    // The decisions, then every intent, veto and execution report.
    assert_eq!(verified.frames, report.hashed.0 + report.hashed.1);
    assert!(verified.frames > 0);
    let (_, entries) = qp_audit::read_entries(&bytes, Some(&key)).unwrap();
    let (_, name) = entries[0].model().unwrap();
    assert_eq!(name, qp_sentiment::shipped::MODEL_NAME);

    // The same key again: ECDSA P-256 signs deterministically (RFC 6979) and the trail runs on
    // feed time, so the whole file is the same.
    let again = dir.path().join("again.qpa");
    let key_file = PathBuf::from(format!("{}.key", trail.display()));
    let second = demo(Some(AuditOptions { path: again.clone(), key: Some(key_file) }));
    assert!(!second.audit.unwrap().key_generated);
    assert_eq!(std::fs::read(&again).unwrap(), bytes);

    // Every decision, verdict and order: each intent and veto follows the decision it answers,
    // and only the Decide agent's frames name its model (entry 1).
    let mut decided = std::collections::BTreeSet::new();
    let (mut decisions, mut answered) = (0, 0);
    for entry in &entries {
        let Some((model, frame)) = entry.frame() else { continue };
        let (id, is_decision) = match qp_wire::decode(frame) {
            Ok(qp_wire::FrameRef::Decision(f)) => (f.payload.decision_id.get(), true),
            Ok(qp_wire::FrameRef::OrderIntent(f)) => (f.payload.decision_id.get(), false),
            Ok(qp_wire::FrameRef::RiskVerdict(f)) => (f.payload.decision_id.get(), false),
            _ => continue,
        };
        let maker = qp_loop::decision_maker(id);
        assert_eq!(model.is_some(), maker == qp_loop::DecisionMaker::Decide, "{maker:?} {model:?}");
        if is_decision {
            decisions += 1;
            decided.insert(id);
        } else {
            assert!(decided.contains(&id), "verdict for decision {id} before the decision");
            answered += 1;
        }
    }
    assert_eq!(decisions, report.decisions.values().sum::<u64>());
    assert_eq!(answered, report.counts().approved + report.counts().vetoed);

    // A flipped byte is found.
    let mut broken = bytes.clone();
    let at = broken.len() / 2;
    broken[at] ^= 0x01;
    assert!(qp_audit::verify(&broken, Some(&key)).is_err());
}

#[test]
fn an_existing_trail_is_not_overwritten_and_a_bad_window_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail.qpa");
    std::fs::write(&trail, b"keep").unwrap();
    let config = LoopConfig::embedded_default().unwrap();
    let options = DemoOptions {
        window: WINDOW,
        audit: Some(AuditOptions { path: trail.clone(), key: None }),
        ..DemoOptions::default()
    };
    let err = run_demo(&config, &shared_data(), &options).unwrap_err();
    assert!(err.to_string().contains("trail.qpa"), "{err}");
    assert_eq!(std::fs::read(&trail).unwrap(), b"keep");
    let options = DemoOptions { window: Some((30.0, 10.0)), ..DemoOptions::default() };
    let err = run_demo(&config, &shared_data(), &options).unwrap_err();
    assert!(err.to_string().contains("replay window"), "{err}");
}

#[test]
fn every_agent_trades_in_the_demo_and_only_through_risk() {
    let report = demo(None);
    // Decide, NeuralArb and LiquidityFlow (working Guardian's parents) all decide.
    for agent in ["decide", "neuralarb", "liquidityflow", "guardian"] {
        assert!(report.decisions.get(agent).copied().unwrap_or(0) > 0, "{agent} made no decision: {report}");
    }
    let arb = report.portfolio.arb.unwrap();
    assert!(arb.stats.entries > 0 && arb.stats.fills > 0, "{arb:?}");
    let guardian = report.portfolio.guardian.clone().unwrap();
    assert!(guardian.stats.ticks > 0 && guardian.parents > 0 && guardian.filled_lots > 0, "{guardian:?}");
    // Guardian's book is its children's fills: long every asset after building from flat.
    assert!(guardian.positions.iter().all(|(_, lots)| *lots > 0), "{guardian:?}");
    // Its parents are recorded, never judged as orders: risk sees the children.
    assert_eq!(report.decisions["guardian"], guardian.parents);
    assert_eq!(report.decisions["liquidityflow"], guardian.children);
    let text = report.to_string();
    for line in ["NeuralArb (BTCUSDT against BTCUSDT-SPOT)", "Guardian: ", "decisions (decide "] {
        assert!(text.contains(line), "{line:?} missing: {text}");
    }
}

#[test]
fn a_bad_node_configuration_is_one_line_naming_the_file_and_key() {
    use qp_node::node_config::NodeConfig;
    let good = "[node]\nname = \"vault-1\"\nrole = \"local\"\norigin_node = 1\n[identity]\ncert = \"c.pem\"\nkey = \"k\"\nca = \"ca.pem\"\n[bridge]\ntransport = \"auto\"\nlisten = \"127.0.0.1:7400\"\nwindow_frames = 64\nheartbeat_ms = 100\ndead_after_ms = 1000\n";
    let config = NodeConfig::from_toml(good, "local.toml").unwrap();
    assert_eq!(config.bridge.listen.unwrap().port(), 7400);
    let cases = [
        (
            good.replace("role = \"local\"", "role = \"edge\""),
            "config local.toml: node.role: must be \"cloud\" or \"local\"",
        ),
        (good.replace("listen = \"127.0.0.1:7400\"\n", ""), "config local.toml: bridge.listen: a local node listens"),
        (
            good.replace("transport = \"auto\"", "transport = \"kqueue\""),
            "config local.toml: bridge.transport: must be \"auto\", \"io_uring\" or \"epoll\"",
        ),
        (
            good.replace("dead_after_ms = 1000", "dead_after_ms = 50"),
            "config local.toml: bridge.dead_after_ms: must be longer than heartbeat_ms",
        ),
        (
            good.replace("role = \"local\"", "role = \"cloud\""),
            "config local.toml: bridge.dial: a cloud node dials at least one local node",
        ),
    ];
    for (text, expected) in cases {
        let err = NodeConfig::from_toml(&text, "local.toml").unwrap_err().to_string();
        assert_eq!(err, expected);
    }
    let err =
        NodeConfig::from_toml(&good.replace("window_frames", "window_franes"), "local.toml").unwrap_err().to_string();
    assert!(err.starts_with("config local.toml: line ") && err.contains("window_franes"), "{err}");
}

mod update_service;
