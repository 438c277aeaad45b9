//! One full pre-trade check by RiskSentinel on a book of 1,000 instruments with a 250-day VaR
//! history: fail-closed, kill switch, order, collar, rates, instrument and portfolio exposure,
//! its groups, margin, and historical plus parametric VaR of the book after the order.
//! Target: p99.9 ≤ 2 µs.
//!
//! Besides criterion's mean (check plus the untimed-elsewhere withdrawal that keeps the book
//! steady), it times 200,000 single checks (`qp_runtime::PerCallTimer`) and prints
//! p50/p99/p99.9/max, less the clock's own cost (the median of back-to-back readings). Every
//! timed order passes every check (the longest path); the approval is withdrawn outside the
//! timing.
#![allow(clippy::expect_used)] // a bench that cannot build its inputs has nothing to measure
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use qp_risk_model::ReturnMatrix;
use qp_risk_sentinel::{InstrumentSpec, RiskSentinel};
use qp_runtime::PerCallTimer;
use qp_seeded_random::SplitMix64;
use qp_wire::{AssetId, Decision, Side};

const ASSETS: usize = 1_000;
const DAYS: usize = 250;
const CALLS: usize = 200_000;
const REGIONS: [&str; 5] = ["region:europe", "region:us", "region:asia", "region:latam", "region:global"];

const LIMITS: &str = r#"
[fail_closed]
max_price_age_ms = 3600000
[kill_switch]
daily_loss_limit = 100000000
loss_trip_state = "halted"
[rate]
max_orders_per_sec = 1000000
max_messages_per_sec = 1000000
max_open_orders = 4096
[portfolio]
max_gross_notional = 1000000000
max_net_notional = 500000000
[margin]
collateral = 500000000
[var]
max_var = 50000000
max_incremental_var = 5000000
[classes.equity]
max_order_qty_lots = 10000
max_order_notional = 5000000
price_collar_bp = 500
max_position_lots = 100000
max_position_notional = 20000000
initial_margin_bp = 1000
[classes.future]
max_order_qty_lots = 500
max_order_notional = 5000000
price_collar_bp = 300
max_position_lots = 5000
max_position_notional = 20000000
initial_margin_bp = 800
[classes.crypto]
max_order_qty_lots = 1000
max_order_notional = 5000000
price_collar_bp = 200
max_position_lots = 20000
max_position_notional = 20000000
initial_margin_bp = 2000
[groups."region:europe"]
max_gross_notional = 800000000
max_net_short_notional = 100000000
[groups."region:us"]
max_gross_notional = 800000000
[groups."sector:banks"]
max_net_long_notional = 200000000
"#;

fn sector(i: usize) -> String {
    const SECTORS: [&str; 11] = [
        "banks",
        "tech",
        "energy",
        "health",
        "industrials",
        "utilities",
        "telecom",
        "materials",
        "staples",
        "retail",
        "realty",
    ];
    format!("sector:{}", SECTORS[i % SECTORS.len()])
}

/// 1,000 instruments (equities, futures, crypto) in 5 regions and 11 sectors, one market
/// factor plus noise with fat-tailed regimes, random long/short positions.
fn book() -> (RiskSentinel, Vec<Decision>) {
    let mut rng = SplitMix64::new(2024);
    let betas: Vec<f64> = (0..ASSETS).map(|_| 0.5 + rng.uniform()).collect();
    let mut values = Vec::with_capacity(ASSETS * DAYS);
    for _ in 0..DAYS {
        let regime = if rng.uniform() < 0.05 { 3.0 } else { 1.0 };
        let market = 0.01 * regime * rng.normal();
        values.extend(betas.iter().map(|beta| beta * market + 0.015 * rng.normal()));
    }
    let returns = ReturnMatrix::new(DAYS, ASSETS, values).expect("returns");
    let specs: Vec<InstrumentSpec> = (0..ASSETS)
        .map(|i| {
            let (class, qty_decimals, multiplier) = match i % 10 {
                0 => ("future", 0, 50),
                1 => ("crypto", 3, 1),
                _ => ("equity", 0, 1),
            };
            InstrumentSpec {
                asset: AssetId::from_wire(i as u32 + 1),
                symbol: format!("I{i:04}"),
                class: class.into(),
                groups: vec![REGIONS[i % REGIONS.len()].into(), sector(i / 5)],
                price_decimals: 2,
                qty_decimals,
                contract_multiplier: multiplier,
            }
        })
        .collect();
    let prices: Vec<i64> = (0..ASSETS).map(|_| 1_000 + rng.below(50_000) as i64).collect();
    let mut sentinel = RiskSentinel::new(specs, &returns, LIMITS).expect("sentinel");
    for (i, price) in prices.iter().enumerate() {
        sentinel.update_price(AssetId::from_wire(i as u32 + 1), *price, 0).expect("price");
    }
    let positions: Vec<(AssetId, i64)> =
        (0..ASSETS).map(|i| (AssetId::from_wire(i as u32 + 1), rng.below(400) as i64 - 150)).collect();
    sentinel.reconciled(&positions).expect("reconcile");
    let orders = (0..4_096u64)
        .map(|k| {
            let i = rng.below(ASSETS);
            let side = if rng.uniform() < 0.5 { Side::Buy } else { Side::Sell };
            let offset_bp = rng.below(150) as i64 - 75;
            let price = prices[i] * (10_000 + offset_bp) / 10_000;
            Decision::new(k, AssetId::from_wire(i as u32 + 1), side, 1 + rng.below(50) as i64, price, 0)
        })
        .collect();
    (sentinel, orders)
}

fn pre_trade(c: &mut Criterion) {
    let (mut sentinel, orders) = book();
    let mut now_ns = 1_000_000u64;
    // Every bench order must take the full path.
    for order in &orders {
        now_ns += 1_000;
        let approved = sentinel.check(now_ns, order).expect("bench orders pass every check");
        sentinel.withdraw(approved);
    }

    let mut timer = PerCallTimer::new();
    for k in 0..CALLS {
        now_ns += 1_000;
        let order = &orders[k % orders.len()];
        let result = timer.time(|| sentinel.check(black_box(now_ns), black_box(order)));
        sentinel.withdraw(result.expect("approved"));
    }
    println!("{}", timer.summary_line("risk_sentinel/check (1000 instruments × 250 days, approved)"));

    let mut k = 0;
    c.bench_function("risk_sentinel/check_and_withdraw_1000x250", |b| {
        b.iter(|| {
            k = (k + 1) % orders.len();
            now_ns += 1_000;
            let approved = sentinel.check(black_box(now_ns), black_box(&orders[k])).expect("approved");
            sentinel.withdraw(approved);
        })
    });
}

criterion_group!(benches, pre_trade);
criterion_main!(benches);
