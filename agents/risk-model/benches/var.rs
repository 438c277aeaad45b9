//! The pre-trade VaR check RiskSentinel needs: incremental VaR of one order against a book
//! of 1,000 instruments with a 250-day history. Target: p99.9 ≤ 2 µs.
//!
//! Besides criterion's mean, it times 200,000 single calls (`qp_runtime::PerCallTimer`) and
//! prints p50/p99/p99.9/max, less the clock's own cost (the median of back-to-back readings).
#![allow(clippy::expect_used)] // a bench that cannot build its inputs has nothing to measure
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use qp_risk_model::{PortfolioRisk, ReturnMatrix};
use qp_runtime::{PerCallTimer, clock_overhead_ns};
use qp_seeded_random::SplitMix64;

const ASSETS: usize = 1_000;
const DAYS: usize = 250;
const CALLS: usize = 200_000;

/// One market factor plus idiosyncratic noise, fat-tailed by a random volatility regime.
fn book() -> (PortfolioRisk, Vec<(usize, f64)>) {
    let mut rng = SplitMix64::new(2024);
    let betas: Vec<f64> = (0..ASSETS).map(|_| 0.5 + rng.uniform()).collect();
    let mut values = Vec::with_capacity(ASSETS * DAYS);
    for _ in 0..DAYS {
        let regime = if rng.uniform() < 0.05 { 3.0 } else { 1.0 };
        let market = 0.01 * regime * rng.normal();
        values.extend(betas.iter().map(|beta| beta * market + 0.015 * rng.normal()));
    }
    let returns = ReturnMatrix::new(DAYS, ASSETS, values).expect("returns");
    let exposures: Vec<f64> = (0..ASSETS).map(|_| 1e5 * (rng.uniform() * 2.0 - 0.3)).collect();
    let risk = PortfolioRisk::new(&returns, &exposures, 0.99).expect("risk");
    let orders = (0..4_096).map(|_| (rng.below(ASSETS), 2e5 * (rng.uniform() - 0.5))).collect();
    (risk, orders)
}

fn var(c: &mut Criterion) {
    let (mut risk, orders) = book();
    let overhead_ns = clock_overhead_ns();

    let mut historical = PerCallTimer::with_overhead(overhead_ns);
    for k in 0..CALLS {
        let (asset, delta) = orders[k % orders.len()];
        historical.time(|| risk.incremental_historical_var(black_box(asset), black_box(delta)).expect("historical"));
    }
    println!("{}", historical.summary_line("var/incremental/historical (1000 × 250)"));

    let mut parametric = PerCallTimer::with_overhead(overhead_ns);
    for k in 0..CALLS {
        let (asset, delta) = orders[k % orders.len()];
        parametric.time(|| risk.incremental_parametric_var(black_box(asset), black_box(delta)).expect("parametric"));
    }
    println!("{}", parametric.summary_line("var/incremental/parametric (1000 × 250)"));

    let mut both = PerCallTimer::with_overhead(overhead_ns);
    for k in 0..CALLS {
        let (asset, delta) = orders[k % orders.len()];
        both.time(|| risk.incremental_var(black_box(asset), black_box(delta)).expect("both"));
    }
    println!("{}", both.summary_line("var/incremental/both (1000 × 250)"));

    let mut k = 0;
    c.bench_function("risk/var/incremental_historical_1000x250", |b| {
        b.iter(|| {
            k = (k + 1) % orders.len();
            let (asset, delta) = orders[k];
            risk.incremental_historical_var(black_box(asset), black_box(delta)).expect("historical")
        })
    });
    c.bench_function("risk/var/incremental_parametric_1000x250", |b| {
        b.iter(|| {
            k = (k + 1) % orders.len();
            let (asset, delta) = orders[k];
            risk.incremental_parametric_var(black_box(asset), black_box(delta)).expect("parametric")
        })
    });
}

criterion_group!(benches, var);
criterion_main!(benches);
