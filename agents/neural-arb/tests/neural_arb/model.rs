use qp_neural_arb::{HedgeRatio, SpreadModel};

#[test]
fn fixed_ratio_statistics_are_those_of_the_basis() {
    let mut model = SpreadModel::new(4);
    for (x, y) in [(100.0, 99.0), (101.0, 99.0), (102.0, 101.0), (103.0, 101.0)] {
        model.push(x, y);
    }
    assert!(model.is_ready());
    let stats = model.stats(HedgeRatio::Fixed(1.0)).expect("stats");
    // Basis y − x: −1, −2, −1, −2: mean −1.5, std 0.5.
    assert!((stats.mean - -1.5).abs() < 1e-9, "{stats:?}");
    assert!((stats.std - 0.5).abs() < 1e-9, "{stats:?}");
    assert!((model.spread(1.0, 110.0, 108.0) - -2.0).abs() < 1e-9);
}

#[test]
fn rolling_ols_finds_the_slope_and_the_window_forgets() {
    let mut model = SpreadModel::new(50);
    for i in 0..200 {
        let x = 60_000.0 + f64::from(i % 37) * 3.0 + f64::from(i) * 0.5;
        model.push(x, 2.0 * x - 5.0);
    }
    let stats = model.stats(HedgeRatio::RollingOls).expect("stats");
    assert!((stats.beta - 2.0).abs() < 1e-6, "{stats:?}");
    assert!(stats.std < 1e-3, "{stats:?}");
    assert_eq!(model.len(), 50);
}

#[test]
fn too_few_samples_give_no_statistics() {
    let mut model = SpreadModel::new(10);
    assert!(model.stats(HedgeRatio::Fixed(1.0)).is_none());
    model.push(1.0, 1.0);
    assert!(model.stats(HedgeRatio::Fixed(1.0)).is_none());
    assert!(!model.is_ready());
}
