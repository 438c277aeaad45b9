//! The pre-trade VaR check RiskSentinel needs: incremental VaR of one order against a book
//! of 1,000 instruments with a 250-day history. Target: p99.9 ≤ 2 µs.
//!
//! Besides criterion's mean, it times 200,000 single calls with `Instant` and prints
//! p50/p99/p99.9, less the clock's own cost (the p50 of 200,000 empty timings).
#![allow(clippy::expect_used)] // a bench that cannot build its inputs has nothing to measure
use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use qp_risk_model::{PortfolioRisk, ReturnMatrix};

const ASSETS: usize = 1_000;
const DAYS: usize = 250;
const CALLS: usize = 200_000;

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
}

/// One market factor plus idiosyncratic noise, fat-tailed by a random volatility regime.
fn book() -> (PortfolioRisk, Vec<(usize, f64)>) {
    let mut rng = Rng(2024);
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
    let orders = (0..4_096).map(|_| ((rng.next_u64() % ASSETS as u64) as usize, 2e5 * (rng.uniform() - 0.5))).collect();
    (risk, orders)
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

fn var(c: &mut Criterion) {
    let (mut risk, orders) = book();

    let mut empty: Vec<f64> = (0..CALLS)
        .map(|_| {
            let start = Instant::now();
            black_box(());
            start.elapsed().as_nanos() as f64
        })
        .collect();
    empty.sort_by(f64::total_cmp);
    let overhead_ns = empty[CALLS / 2];

    let mut historical: Vec<f64> = (0..CALLS)
        .map(|k| {
            let (asset, delta) = orders[k % orders.len()];
            let start = Instant::now();
            black_box(risk.incremental_historical_var(black_box(asset), black_box(delta)).expect("historical"));
            start.elapsed().as_nanos() as f64
        })
        .collect();
    percentiles("var/incremental/historical (1000 × 250)", &mut historical, overhead_ns);

    let mut parametric: Vec<f64> = (0..CALLS)
        .map(|k| {
            let (asset, delta) = orders[k % orders.len()];
            let start = Instant::now();
            black_box(risk.incremental_parametric_var(black_box(asset), black_box(delta)).expect("parametric"));
            start.elapsed().as_nanos() as f64
        })
        .collect();
    percentiles("var/incremental/parametric (1000 × 250)", &mut parametric, overhead_ns);

    let mut both: Vec<f64> = (0..CALLS)
        .map(|k| {
            let (asset, delta) = orders[k % orders.len()];
            let start = Instant::now();
            black_box(risk.incremental_var(black_box(asset), black_box(delta)).expect("both"));
            start.elapsed().as_nanos() as f64
        })
        .collect();
    percentiles("var/incremental/both (1000 × 250)", &mut both, overhead_ns);

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
