//! The pre-trade check path allocates nothing (own binary: the counting allocator counts
//! every thread).
#![allow(clippy::expect_used, clippy::panic)] // helpers in test files are test code too
use qp_alloc_counter::{CountingAllocator, allocations_on_this_thread};
use qp_risk_model::{PortfolioRisk, ReturnMatrix};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn incremental_var_allocates_nothing() {
    let (days, assets) = (250, 100);
    let values: Vec<f64> = (0..days * assets).map(|k| ((k * 7_919 % 1_001) as f64 - 500.0) * 4e-5).collect();
    let returns = ReturnMatrix::new(days, assets, values).expect("returns");
    let exposures: Vec<f64> = (0..assets).map(|i| 1e4 * (i % 7) as f64 - 2e4).collect();
    let mut risk = PortfolioRisk::new(&returns, &exposures, 0.99).expect("risk");
    // Long tails take the selection path: 10,000 scenarios at 99% keep 101 losses.
    let long_values: Vec<f64> = (0..10_000 * 2).map(|k| ((k * 7_919 % 1_001) as f64 - 500.0) * 4e-5).collect();
    let long = ReturnMatrix::new(10_000, 2, long_values).expect("long");
    let mut long_risk = PortfolioRisk::new(&long, &[1.0, -2.0], 0.99).expect("long risk");

    let before = allocations_on_this_thread();
    let mut sum = 0.0;
    for k in 0..1_000 {
        let change = risk.incremental_var(k % assets, (k as f64 - 500.0) * 10.0).expect("incremental");
        sum += change.historical.var_increment() + change.parametric.var_increment();
        sum += long_risk.incremental_historical_var(k % 2, 0.5).expect("long").after.var;
    }
    assert_eq!(allocations_on_this_thread() - before, 0);
    assert!(sum.is_finite());
}
