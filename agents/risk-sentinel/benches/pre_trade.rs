//! One full pre-trade check by RiskSentinel on a book of 1,000 instruments with a 250-day VaR
//! history: fail-closed, kill switch, order, collar, rates, instrument and portfolio exposure,
//! its groups, margin, and historical plus parametric VaR of the book after the order.
//! Target: p99.9 ≤ 2 µs.
//!
//! Besides criterion's mean (check plus the untimed-elsewhere withdrawal that keeps the book
//! steady), it times 200,000 single checks with `Instant` and prints p50/p99/p99.9, less the
//! clock's own cost (the p50 of 200,000 empty timings). Every timed order passes every check
//! (the longest path); the approval is withdrawn outside the timing.
#![allow(clippy::expect_used)] // a bench that cannot build its inputs has nothing to measure
use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use qp_risk_model::ReturnMatrix;
use qp_risk_sentinel::{InstrumentSpec, RiskSentinel};
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

/// SplitMix64.
struct Rng(u64);
impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-300), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

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
    let mut rng = Rng(2024);
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
            let i = rng.below(ASSETS as u64) as usize;
            let side = if rng.uniform() < 0.5 { Side::Buy } else { Side::Sell };
            let offset_bp = rng.below(150) as i64 - 75;
            let price = prices[i] * (10_000 + offset_bp) / 10_000;
            Decision::new(k, AssetId::from_wire(i as u32 + 1), side, 1 + rng.below(50) as i64, price, 0)
        })
        .collect();
    (sentinel, orders)
}

fn percentiles(label: &str, samples_ns: &mut [f64], overhead_ns: f64) {
    samples_ns.sort_by(f64::total_cmp);
    let at = |q: f64| {
        (samples_ns[((samples_ns.len() as f64 * q) as usize).min(samples_ns.len() - 1)] - overhead_ns).max(0.0)
    };
    println!(
        "{label}: p50 {:.0} ns, p99 {:.0} ns, p99.9 {:.0} ns, max {:.0} ns ({} calls, clock overhead {overhead_ns:.0} ns subtracted)",
        at(0.5),
        at(0.99),
        at(0.999),
        at(1.0),
        samples_ns.len()
    );
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

    let mut empty: Vec<f64> = (0..CALLS)
        .map(|_| {
            let start = Instant::now();
            black_box(());
            start.elapsed().as_nanos() as f64
        })
        .collect();
    empty.sort_by(f64::total_cmp);
    let overhead_ns = empty[CALLS / 2];

    let mut samples: Vec<f64> = Vec::with_capacity(CALLS);
    for k in 0..CALLS {
        now_ns += 1_000;
        let order = &orders[k % orders.len()];
        let start = Instant::now();
        let result = black_box(sentinel.check(black_box(now_ns), black_box(order)));
        let elapsed = start.elapsed().as_nanos() as f64;
        samples.push(elapsed);
        sentinel.withdraw(result.expect("approved"));
    }
    percentiles("risk_sentinel/check (1000 instruments × 250 days, approved)", &mut samples, overhead_ns);

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
