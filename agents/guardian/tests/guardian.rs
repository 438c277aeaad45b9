//! Guardian: risk-parity targets, integer-lot rebalancing, Decision frames only.
#![allow(clippy::expect_used, clippy::panic)] // helpers in test files are test code too
use std::path::Path;

use qp_guardian::{
    GuardedAsset, Guardian, GuardianConfig, GuardianError, REASON_REBALANCE, RebalancePlanner, RebalanceTick,
};
use qp_risk_model::{PriceTable, ReturnMatrix};
use qp_runtime::{AgentContext, AgentError, IngestAgent, OUTBOX_CAPACITY, Outbox};
use qp_wire::{AssetId, FrameRef, Side, decode};

const ASSETS: [&str; 10] = ["JCI", "TGT", "CMCSA", "CPB", "MO", "AMZN", "APA", "MMC", "JPM", "ZION"];

/// The last 200 daily returns of ten real stocks, and their last prices.
fn market() -> (ReturnMatrix, Vec<f64>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/riskfolio/stock_prices.csv");
    let text = std::fs::read_to_string(path).expect("stock_prices.csv");
    let prices = PriceTable::parse_csv(&text).expect("parse").select(&ASSETS).expect("select");
    let returns = ReturnMatrix::from_prices(&prices).expect("returns").last(200).expect("window");
    (returns, prices.row(prices.rows() - 1).to_vec())
}

/// Mixed scales: cents or 1/10,000 prices, whole shares or fractional quantities, lots of
/// 1, 10 or 100.
fn guarded(i: usize) -> GuardedAsset {
    let asset = AssetId::from_wire(i as u32 + 1);
    match i % 3 {
        0 => GuardedAsset { asset, price_decimals: 2, qty_decimals: 0, lot_size: 1 },
        1 => GuardedAsset { asset, price_decimals: 4, qty_decimals: 0, lot_size: 10 },
        _ => GuardedAsset { asset, price_decimals: 2, qty_decimals: 3, lot_size: 100_000 },
    }
}

fn config(min_trade_bp: u32) -> GuardianConfig {
    GuardianConfig {
        assets: (0..ASSETS.len()).map(guarded).collect(),
        min_trade_bp,
        limit_offset_bp: 20,
        max_orders_per_tick: OUTBOX_CAPACITY,
        origin_node: 5,
        first_decision_id: 1_000,
    }
}

fn ticks(prices: &[f64]) -> Vec<i64> {
    prices
        .iter()
        .enumerate()
        .map(|(i, p)| (p * 10f64.powi(i32::from(guarded(i).price_decimals))).round() as i64)
        .collect()
}

/// A lopsided book: most of the value in the first two names.
fn positions() -> Vec<i64> {
    vec![900, 40, 300, 5, 250, 12, 3, 80, 60, 100]
}

#[test]
fn plan_targets_risk_parity_and_lands_within_one_lot() {
    // A lopsided book at 10 bp: everything trades.
    assert_eq!(check_plan(10, &positions()), 0);
    // Near target at 300 bp, two names doubled: they trade (about 6% of gross each); the
    // others, diluted by ~1.7% of gross, are left alone.
    let (returns, last) = market();
    let mut planner = RebalancePlanner::new(&config(300)).expect("planner");
    let plan = planner.plan(&returns, &positions(), &ticks(&last)).expect("plan");
    let near: Vec<i64> = plan
        .target_lots
        .iter()
        .enumerate()
        .map(|(i, t)| (t * if i == 1 || i == 3 { 2.0 } else { 1.0 }).round() as i64)
        .collect();
    assert!(check_plan(300, &near) > 0);
}

/// Check one plan's invariants; answer how many assets were left untraded above a lot away.
fn check_plan(min_trade_bp: u32, positions: &[i64]) -> usize {
    let (returns, last) = market();
    let prices = ticks(&last);
    let mut skipped_assets = 0;
    let mut planner = RebalancePlanner::new(&config(min_trade_bp)).expect("planner");
    let plan = planner.plan(&returns, positions, &prices).expect("plan");

    let sum: f64 = plan.weights.iter().sum();
    assert!((sum - 1.0).abs() < 1e-12, "weights sum {sum}");
    assert!(plan.weights.iter().all(|w| *w > 0.0));
    assert!(plan.risk_shares.iter().all(|s| (s - 0.1).abs() < 1e-9));

    let threshold = plan.gross_value * f64::from(min_trade_bp) / 10_000.0;
    assert!(!plan.orders.is_empty());
    for order in plan.orders {
        assert!(order.qty_lots > 0);
        assert!(order.notional >= threshold, "order below the threshold: {order:?}");
    }
    for i in 0..ASSETS.len() {
        let lot_value = guarded(i).lot_value_per_tick() * prices[i] as f64;
        let traded: i64 = plan
            .orders
            .iter()
            .filter(|o| o.index == i)
            .map(|o| if o.side == Side::Buy { o.qty_lots } else { -o.qty_lots })
            .sum();
        let after = (positions[i] + traded) as f64;
        let target = plan.target_lots[i];
        if traded != 0 {
            assert!((after - target).abs() < 1.0, "asset {i}: {after} lots vs target {target}");
            // Truncated toward zero: never past the target.
            assert!((after - target).signum() == (positions[i] as f64 - target).signum() || after == target);
        } else {
            // Untraded: either already within a lot, or the lot-rounded trade is below the threshold.
            let skipped = (target - positions[i] as f64).trunc().abs() * lot_value;
            assert!(skipped < threshold, "asset {i}: skipped {skipped} ≥ threshold {threshold}");
            if skipped > 0.0 {
                skipped_assets += 1;
            }
        }
    }
    println!(
        "plan: gross {:.2}, {} orders, targets {:?}",
        plan.gross_value,
        plan.orders.len(),
        plan.target_lots.iter().map(|t| t.round()).collect::<Vec<_>>()
    );
    // Largest trades first.
    assert!(plan.orders.windows(2).all(|w| w[0].notional >= w[1].notional));
    skipped_assets
}

#[test]
fn agent_emits_only_decision_frames_that_decode() {
    let (returns, last) = market();
    let prices = ticks(&last);
    let positions = positions();
    let mut guardian = Guardian::new(&config(10)).expect("guardian");
    let mut out = Outbox::new("guardian");
    let tick = RebalanceTick { returns: &returns, positions_lots: &positions, prices: &prices, book_value: None };
    guardian.on_event(AgentContext { now_ns: 1 }, &tick, &mut out).expect("tick");

    let planned: Vec<_> = {
        let mut planner = RebalancePlanner::new(&config(10)).expect("planner");
        planner.plan(&returns, &positions, &prices).expect("plan").orders.to_vec()
    };
    let frames = out.pending();
    assert_eq!(frames.len(), planned.len().min(OUTBOX_CAPACITY));
    assert_eq!(guardian.stats().deferred as usize, planned.len() - frames.len());
    for (k, (frame, order)) in frames.iter().zip(&planned).enumerate() {
        let FrameRef::Decision(decision) = decode(frame.as_frame_bytes()).expect("decode") else {
            panic!("Guardian emitted something other than a Decision");
        };
        let d = decision.payload;
        assert_eq!(decision.header.origin_node.get(), 5);
        assert_eq!(d.decision_id.get(), 1_000 + k as u64);
        assert_eq!(d.reason.get(), REASON_REBALANCE);
        assert_eq!(d.asset(), order.asset);
        assert_eq!(d.side(), Some(order.side));
        assert_eq!(d.qty.get(), order.qty_lots);
        let price = prices[order.index];
        match order.side {
            Side::Buy => assert!(d.limit_price.get() >= price && d.limit_price.get() <= price + price / 400),
            Side::Sell => assert!(d.limit_price.get() <= price && d.limit_price.get() >= price - price / 400),
        }
    }
}

#[test]
fn at_target_nothing_is_proposed() {
    let (returns, last) = market();
    let prices = ticks(&last);
    let mut planner = RebalancePlanner::new(&config(10)).expect("planner");
    // Start at the rounded target of a first plan: the second plan has nothing to do.
    let target: Vec<i64> = {
        let plan = planner.plan(&returns, &positions(), &prices).expect("plan");
        plan.target_lots.iter().map(|t| t.round() as i64).collect()
    };
    let plan = planner.plan(&returns, &target, &prices).expect("plan");
    assert!(plan.orders.is_empty(), "{:?}", plan.orders);
}

#[test]
fn bad_ticks_are_refused() {
    let (returns, last) = market();
    let prices = ticks(&last);
    let mut guardian = Guardian::new(&config(10)).expect("guardian");
    let mut out = Outbox::new("guardian");
    let short = [1i64; 3];
    let tick = RebalanceTick { returns: &returns, positions_lots: &short, prices: &prices, book_value: None };
    assert!(matches!(
        guardian.on_event(AgentContext { now_ns: 1 }, &tick, &mut out),
        Err(AgentError::Rejected { agent: "guardian", detail: "positions" })
    ));
    let empty = [0i64; 10];
    let mut planner = RebalancePlanner::new(&config(10)).expect("planner");
    assert_eq!(planner.plan(&returns, &empty, &prices).err(), Some(GuardianError::EmptyBook));
    let mut bad_prices = prices.clone();
    bad_prices[4] = 0;
    assert_eq!(
        planner.plan(&returns, &positions(), &bad_prices).err(),
        Some(GuardianError::NonPositivePrice { index: 4, price: 0 })
    );
    assert!(out.is_empty());
    let mut bad = config(10);
    bad.max_orders_per_tick = OUTBOX_CAPACITY + 1;
    assert!(matches!(Guardian::new(&bad), Err(GuardianError::InvalidConfig { .. })));
}

/// Guardian's rebalancing decisions are only proposals: each goes through RiskSentinel,
/// which approves it into an order intent or vetoes it with a reason. Guardian itself
/// never makes an intent.
#[test]
fn rebalancing_decisions_still_pass_risk_sentinel() {
    use qp_risk_sentinel::{InstrumentSpec, RiskSentinel};
    use qp_wire::VetoReason;

    let (returns, last) = market();
    // One scale for both agents: prices in cents, quantities in whole shares, lots of one.
    let simple = |i: usize| GuardedAsset {
        asset: AssetId::from_wire(i as u32 + 1),
        price_decimals: 2,
        qty_decimals: 0,
        lot_size: 1,
    };
    let guardian_config = GuardianConfig { assets: (0..ASSETS.len()).map(simple).collect(), ..config(10) };
    let prices: Vec<i64> = last.iter().map(|p| (p * 100.0).round() as i64).collect();
    let positions = positions();
    let instruments = ASSETS
        .iter()
        .enumerate()
        .map(|(i, symbol)| InstrumentSpec {
            asset: AssetId::from_wire(i as u32 + 1),
            symbol: (*symbol).to_owned(),
            class: "equity".to_owned(),
            groups: vec!["region:us".to_owned()],
            price_decimals: 2,
            qty_decimals: 0,
            contract_multiplier: 1,
        })
        .collect();
    // The example limits' global sections and equity class (a class, group or instrument
    // table this book does not hold is refused as a likely typo).
    let example = include_str!("../../risk-sentinel/limits.example.toml");
    let (global, rest) = example.split_once("[classes.crypto]").expect("crypto table");
    let equity = &rest[rest.find("[classes.equity]").expect("equity table")..];
    let equity = &equity[..equity.find("\n[groups").expect("groups follow")];
    let limits = format!("{global}{equity}\n");
    let mut sentinel = RiskSentinel::new(instruments, &returns, &limits).expect("sentinel");
    let now_ns = 1_000_000_000;
    for (i, &price) in prices.iter().enumerate() {
        sentinel.update_price(AssetId::from_wire(i as u32 + 1), price, now_ns).expect("price");
    }
    let held: Vec<(AssetId, i64)> =
        positions.iter().enumerate().map(|(i, &lots)| (AssetId::from_wire(i as u32 + 1), lots)).collect();

    let mut guardian = Guardian::new(&guardian_config).expect("guardian");
    let mut out = Outbox::new("guardian");
    let tick = RebalanceTick { returns: &returns, positions_lots: &positions, prices: &prices, book_value: None };
    guardian.on_event(AgentContext { now_ns }, &tick, &mut out).expect("tick");
    let decisions: Vec<_> = out
        .pending()
        .iter()
        .map(|frame| match decode(frame.as_frame_bytes()).expect("decode") {
            FrameRef::Decision(d) => *d.payload,
            _ => panic!("Guardian emitted something other than a Decision"),
        })
        .collect();
    assert!(!decisions.is_empty());

    // Before positions are reconciled, RiskSentinel is closed: every proposal is vetoed.
    for d in &decisions {
        assert_eq!(sentinel.check(now_ns, d).expect_err("not reconciled").reason, VetoReason::NotReconciled);
    }
    sentinel.reconciled(&held).expect("reconcile");
    let mut approved = 0;
    for d in &decisions {
        match sentinel.check(now_ns + 1_000, d) {
            Ok(intent) => {
                let intent = intent.into_inner();
                assert_eq!((intent.decision_id, intent.asset, intent.qty), (d.decision_id, d.asset, d.qty));
                approved += 1;
            }
            Err(veto) => assert_ne!(veto.reason, VetoReason::None, "a veto says why"),
        }
    }
    assert!(approved > 0, "a rebalance of a small, liquid book is within the example limits");

    // Halted, nothing passes, however good the reason for the trade.
    sentinel.command(qp_risk_sentinel::KillSwitchCommand::Halt).expect("halt");
    for d in &decisions {
        assert_eq!(sentinel.check(now_ns + 2_000, d).expect_err("halted").reason, VetoReason::KillSwitch);
    }
}

#[test]
fn a_book_value_builds_the_risk_parity_book_from_flat() {
    let (returns, last) = market();
    let prices = ticks(&last);
    let flat = [0i64; 10];
    let mut planner = RebalancePlanner::new(&config(0)).expect("planner");
    let plan = planner.plan_to_value(&returns, &flat, &prices, Some(1_000_000.0)).expect("plan");
    assert_eq!(plan.gross_value, 0.0, "nothing is held yet");
    assert_eq!(plan.orders.len(), 10, "every name is bought: {:?}", plan.orders);
    assert!(plan.orders.iter().all(|o| o.side == Side::Buy));
    // The trades are the targets truncated to whole lots: worth the book value, less at most
    // one lot per name.
    let bought: f64 = plan.orders.iter().map(|o| o.notional).sum();
    let largest_lot = plan.orders.iter().map(|o| o.notional / o.qty_lots as f64).fold(0.0, f64::max);
    assert!(bought <= 1_000_000.0 + 1e-6 && bought > 1_000_000.0 - 10.0 * largest_lot, "bought {bought}");
    // Each name's share of the value is its risk-parity weight.
    let weights = plan.weights.to_vec();
    for order in plan.orders {
        let share = order.notional / 1_000_000.0;
        assert!((share - weights[order.index]).abs() < 0.01, "{order:?} share {share} weight {}", weights[order.index]);
    }
    for bad in [0.0, -5.0, f64::NAN, f64::INFINITY] {
        let refused = planner.plan_to_value(&returns, &flat, &prices, Some(bad)).err();
        assert!(matches!(refused, Some(GuardianError::BookValue(_))), "{bad}: {refused:?}");
    }
}
