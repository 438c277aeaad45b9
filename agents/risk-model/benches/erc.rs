//! Equal-risk-contribution weights for 100 assets. Target: ≤ 5 ms.
//!
//! The covariance is a seeded five-factor model, `Σ = B F Bᵀ + D` (daily factor vols 0.5–2%,
//! loadings around 1 on the market factor, idiosyncratic vols 1–3%), the shape of a real
//! equity book's covariance.
#![allow(clippy::expect_used)] // a bench that cannot build its inputs has nothing to measure
use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use qp_risk_model::{Covariance, ErcOptions, RiskParitySolver};
use qp_seeded_random::SplitMix64;

fn factor_covariance(n: usize, factors: usize, seed: u64) -> Covariance {
    let mut rng = SplitMix64::new(seed);
    let factor_vol: Vec<f64> =
        (0..factors).map(|k| if k == 0 { 0.01 } else { 0.005 + 0.015 * rng.uniform() }).collect();
    let loadings: Vec<f64> = (0..n * factors)
        .map(|i| if i % factors == 0 { 0.6 + 0.8 * rng.uniform() } else { 0.5 * rng.normal() })
        .collect();
    let idio: Vec<f64> = (0..n).map(|_| 0.01 + 0.02 * rng.uniform()).collect();
    let mut values = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            let systematic: f64 = (0..factors)
                .map(|k| loadings[i * factors + k] * loadings[j * factors + k] * factor_vol[k] * factor_vol[k])
                .sum();
            values[i * n + j] = systematic + if i == j { idio[i] * idio[i] } else { 0.0 };
        }
    }
    Covariance::from_row_major(n, values).expect("factor covariance")
}

fn erc(c: &mut Criterion) {
    let cov = factor_covariance(100, 5, 42);
    let mut solver = RiskParitySolver::equal_risk(100, ErcOptions::default());
    let summary = solver.solve(&cov).expect("solve");
    let worst = solver.risk_shares().iter().map(|s| (s - 0.01).abs()).fold(0.0, f64::max);

    let runs = 200;
    let mut times_us: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            black_box(solver.solve(black_box(&cov)).expect("solve"));
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    times_us.sort_by(f64::total_cmp);
    println!(
        "erc/100 assets: {} Newton iterations, max |share − 1/100| = {worst:e}; median {:.0} µs, max {:.0} µs over {runs} solves (target ≤ 5000 µs)",
        summary.iterations,
        times_us[runs / 2],
        times_us[runs - 1]
    );

    c.bench_function("risk/erc/100_assets", |b| b.iter(|| solver.solve(black_box(&cov)).expect("solve")));
}

criterion_group!(benches, erc);
criterion_main!(benches);
