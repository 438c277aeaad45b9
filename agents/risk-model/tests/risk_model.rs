//! qp-risk-model: the Riskfolio oracle, VaR conventions, incremental VaR, backtests, errors.
#![allow(clippy::expect_used, clippy::panic)] // helpers in test files are test code too
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use qp_risk_model::{
    Covariance, PortfolioRisk, PriceTable, ReturnMatrix, RiskModelError, TrafficLight, VarMethod, Z_99, backtest_var,
    chi_squared_1_survival, equal_risk_contribution, erf, erfc, historical_tail_risk, kupiec_pof, normal_cdf,
    normal_quantile, parametric_tail_risk, parity_report, risk_budget_weights, traffic_light, traffic_light_bounds,
    var_report,
};
use qp_seeded_random::SplitMix64;

/// The shared test data: `X/../shared/data` for the repository at `X`.
fn shared_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

fn riskfolio_prices() -> PriceTable {
    let text = std::fs::read_to_string(shared_data().join("riskfolio/stock_prices.csv")).expect("stock_prices.csv");
    PriceTable::parse_csv(&text).expect("parse stock_prices.csv")
}

/// `(asset, MV weight)` rows of Classic_RP.csv, parsed with a tiny CSV reader of its own.
fn riskfolio_mv_weights() -> Vec<(String, f64)> {
    let text = std::fs::read_to_string(shared_data().join("riskfolio/Classic_RP.csv")).expect("Classic_RP.csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let mv = header.iter().position(|h| *h == "MV").expect("MV column");
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let fields: Vec<&str> = l.split(',').collect();
            (fields[0].to_owned(), fields[mv].parse().expect("MV weight"))
        })
        .collect()
}

const RISKFOLIO_ASSETS: [&str; 10] = ["JCI", "TGT", "CMCSA", "CPB", "MO", "AMZN", "APA", "MMC", "JPM", "ZION"];

mod risk_parity {
    use super::*;

    #[test]
    fn matches_riskfolio_mv_weights_and_equalises_risk_exactly() {
        let report = parity_report(&riskfolio_prices(), &RISKFOLIO_ASSETS, 200).expect("risk parity");
        let solution = &report.solution;
        let oracle = riskfolio_mv_weights();
        assert_eq!(oracle.len(), 10);
        let mut worst_weight: f64 = 0.0;
        for (asset, expected) in &oracle {
            let i = report.assets.iter().position(|a| a == asset).expect("asset in report");
            let diff = (solution.weights[i] - expected).abs();
            worst_weight = worst_weight.max(diff);
            assert!(diff < 1e-5, "{asset}: {} vs Riskfolio {expected} (diff {diff:e})", solution.weights[i]);
        }
        let sum: f64 = solution.weights.iter().sum();
        assert!((sum - 1.0).abs() < 1e-14);
        let worst_share = solution.risk_contributions.iter().map(|s| (s - 0.1).abs()).fold(0.0, f64::max);
        assert!(worst_share < 1e-9, "risk shares {:?}", solution.risk_contributions);
        println!(
            "riskfolio oracle: max |w − MV| = {worst_weight:e}, max |share − 1/10| = {worst_share:e}, {} iterations, residual {:e}",
            solution.iterations, solution.residual
        );
    }

    #[test]
    fn budgets_are_honoured() {
        let returns = ReturnMatrix::from_prices(&riskfolio_prices().select(&RISKFOLIO_ASSETS).expect("select"))
            .expect("returns")
            .last(200)
            .expect("window");
        let cov = Covariance::sample(&returns).expect("cov");
        let budgets = [1.0, 2.0, 3.0, 4.0, 5.0, 1.0, 2.0, 3.0, 4.0, 5.0];
        let solution = risk_budget_weights(&cov, &budgets).expect("budgets");
        for (share, b) in solution.risk_contributions.iter().zip(budgets) {
            assert!((share - b / 30.0).abs() < 1e-9);
        }
    }

    #[test]
    fn two_uncorrelated_assets_are_inverse_volatility() {
        let cov = Covariance::from_row_major(2, vec![0.04, 0.0, 0.0, 0.01]).expect("cov");
        let solution = equal_risk_contribution(&cov).expect("erc");
        assert!((solution.weights[0] - 1.0 / 3.0).abs() < 1e-14);
        assert!((solution.weights[1] - 2.0 / 3.0).abs() < 1e-14);
    }

    /// A random SPD matrix: `A Aᵀ + δI` of random size, scales from 1e-4 to 1.
    fn spd_matrix() -> impl Strategy<Value = Covariance> {
        (2usize..16).prop_flat_map(|n| {
            (prop::collection::vec(-1.0f64..1.0, n * n), prop::collection::vec(0.01f64..1.0, n), 0.001f64..0.1)
                .prop_map(move |(a, scales, ridge)| {
                    let mut values = vec![0.0; n * n];
                    for i in 0..n {
                        for j in 0..n {
                            let s: f64 = (0..n).map(|k| a[i * n + k] * a[j * n + k]).sum();
                            values[i * n + j] = (s + if i == j { ridge } else { 0.0 }) * scales[i] * scales[j];
                        }
                    }
                    Covariance::from_row_major(n, values).expect("spd")
                })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn risk_shares_are_equal_for_random_spd_matrices(cov in spd_matrix()) {
            let solution = equal_risk_contribution(&cov).expect("erc");
            let n = cov.n() as f64;
            let sum: f64 = solution.weights.iter().sum();
            prop_assert!((sum - 1.0).abs() < 1e-12);
            prop_assert!(solution.weights.iter().all(|w| *w > 0.0));
            for share in &solution.risk_contributions {
                prop_assert!((share - 1.0 / n).abs() < 1e-9, "shares {:?}", solution.risk_contributions);
            }
        }
    }
}

mod distributions {
    use super::*;

    #[test]
    fn erfc_matches_published_values_to_1e12() {
        let known = [
            (0.0, 1.0),
            (0.1, 0.8875370839817152),
            (0.5, 0.4795001221869535),
            (1.0, 0.15729920705028513),
            (1.5, 0.033894853524689274),
            (1.99, 0.004888586800383003),
            (2.0, 0.004677734981047265),
            (2.5, 0.0004069520174449589),
            (3.0, 2.2090496998585438e-05),
            (4.0, 1.541725790028002e-08),
            (5.0, 1.5374597944280351e-12),
            (6.0, 2.1519736712498916e-17),
            (-1.0, 1.842700792949715),
            (-0.3, 1.3286267594591274),
        ];
        for (x, expected) in known {
            let got = erfc(x);
            assert!(((got - expected) / expected).abs() < 1e-12, "erfc({x}) = {got:e}, expected {expected:e}");
        }
        assert!((erf(0.5) - (1.0 - 0.4795001221869535)).abs() < 1e-15);
        assert_eq!(erfc(40.0), 0.0);
    }

    #[test]
    fn normal_quantile_and_chi_squared() {
        assert!((normal_quantile(0.99) - Z_99).abs() < 1e-14, "{}", normal_quantile(0.99));
        assert!((normal_quantile(0.975) - 1.959963984540054).abs() < 1e-14);
        assert!((normal_quantile(1e-10) + 6.361340902404056).abs() < 1e-11);
        assert!((normal_cdf(Z_99) - 0.99).abs() < 1e-15);
        assert!((chi_squared_1_survival(3.841458820694124) - 0.05).abs() < 1e-14);
        assert!((chi_squared_1_survival(6.634896601021214) - 0.01).abs() < 1e-14);
    }
}

mod value_at_risk {
    use super::*;

    #[test]
    fn historical_var_is_the_third_worst_of_250() {
        // P&L −1 … −250 in shuffled order: losses 1 … 250.
        let pnl: Vec<f64> = (0..250).map(|i| -(((i * 97) % 250 + 1) as f64)).collect();
        let risk = historical_tail_risk(&pnl, 0.99).expect("var");
        assert_eq!(risk.var, 248.0);
        assert_eq!(risk.cvar, (250.0 + 249.0 + 0.5 * 248.0) / 2.5);
        // 100 scenarios: m = 1, VaR is the 2nd worst, CVaR the worst.
        let risk = historical_tail_risk(&pnl[..100], 0.99).expect("var");
        let mut losses: Vec<f64> = pnl[..100].iter().map(|p| -p).collect();
        losses.sort_by(|a, b| b.total_cmp(a));
        assert_eq!(risk.var, losses[1]);
        assert_eq!(risk.cvar, losses[0]);
        // A long tail takes the selection path: 10,000 scenarios at 99% → m = 100, k = 101.
        let big: Vec<f64> = (0..10_000).map(|i| -(((i * 7919) % 10_000) as f64)).collect();
        let risk = historical_tail_risk(&big, 0.99).expect("var");
        assert_eq!(risk.var, 9_899.0);
        assert_eq!(risk.cvar, (9_900..10_000).map(f64::from).sum::<f64>() / 100.0);
    }

    #[test]
    fn parametric_var_matches_hand_computation() {
        // Two assets, the same four days 25 times (historical VaR needs 100 scenarios at 99%).
        let returns =
            ReturnMatrix::new(100, 2, [0.01, 0.02, -0.02, 0.00, 0.03, -0.01, -0.01, 0.01].repeat(25)).expect("returns");
        let exposures = [1_000.0, 2_000.0];
        // By hand: means 0.0025 and 0.005.
        // Deviations: asset 1 (0.0075, −0.0225, 0.0275, −0.0125), asset 2 (0.015, −0.005, −0.015, 0.005).
        let v11 = (0.0075f64.powi(2) + 0.0225f64.powi(2) + 0.0275f64.powi(2) + 0.0125f64.powi(2)) * 25.0 / 99.0;
        let v22 = (0.015f64.powi(2) + 0.005f64.powi(2) + 0.015f64.powi(2) + 0.005f64.powi(2)) * 25.0 / 99.0;
        let v12 = (0.0075 * 0.015 + 0.0225 * 0.005 - 0.0275 * 0.015 + 0.0125 * -0.005) * 25.0 / 99.0;
        let variance = 1_000.0f64.powi(2) * v11 + 2_000.0f64.powi(2) * v22 + 2.0 * 1_000.0 * 2_000.0 * v12;
        let sigma = variance.sqrt();
        let risk = PortfolioRisk::new(&returns, &exposures, 0.99).expect("risk").figures();
        assert!((risk.volatility - sigma).abs() < 1e-12 * sigma);
        assert!((risk.parametric.var - Z_99 * sigma).abs() < 1e-12 * sigma);
        let phi = (-0.5 * Z_99 * Z_99).exp() / (2.0 * std::f64::consts::PI).sqrt();
        assert!((risk.parametric.cvar - sigma * phi / 0.01).abs() < 1e-12 * sigma);
        let direct = parametric_tail_risk(sigma, 0.99).expect("parametric");
        assert!((direct.var - risk.parametric.var).abs() < 1e-12 * sigma);
    }

    #[test]
    fn incremental_historical_var_is_exactly_the_full_revaluation() {
        // Dyadic returns (k/1024) and integer exposures: every sum is exact, so the
        // incremental P&L and a from-scratch revaluation agree bit for bit.
        let mut rng = SplitMix64::new(7);
        let (scenarios, assets) = (250, 20);
        let values: Vec<f64> = (0..scenarios * assets).map(|_| (rng.below(81) as f64 - 40.0) / 1024.0).collect();
        let returns = ReturnMatrix::new(scenarios, assets, values).expect("returns");
        let exposures: Vec<f64> = (0..assets).map(|_| rng.below(2_000) as f64 - 500.0).collect();
        let mut risk = PortfolioRisk::new(&returns, &exposures, 0.99).expect("risk");
        for (asset, delta) in [(0, 300.0), (5, -1_200.0), (19, 7.0), (3, 0.0)] {
            let change = risk.incremental_var(asset, delta).expect("incremental");
            let mut moved = exposures.clone();
            moved[asset] += delta;
            let full = PortfolioRisk::new(&returns, &moved, 0.99).expect("full").figures();
            assert_eq!(change.historical.after, full.historical, "asset {asset} Δ {delta}");
            assert_eq!(change.historical.before, risk.figures().historical);
            let sigma = full.volatility;
            assert!((change.parametric.after.var - full.parametric.var).abs() <= 1e-12 * sigma);
            assert!((change.parametric.after.cvar - full.parametric.cvar).abs() <= 1e-12 * sigma);
        }
    }

    #[test]
    fn incremental_var_matches_full_revaluation_on_random_data_and_after_fills() {
        let mut rng = SplitMix64::new(11);
        let (scenarios, assets) = (250, 50);
        let values: Vec<f64> = (0..scenarios * assets).map(|_| (rng.uniform() - 0.5) * 0.06).collect();
        let returns = ReturnMatrix::new(scenarios, assets, values).expect("returns");
        let mut exposures: Vec<f64> = (0..assets).map(|_| rng.uniform() * 1e6).collect();
        let mut risk = PortfolioRisk::new(&returns, &exposures, 0.99).expect("risk");
        for step in 0..20 {
            let asset = rng.below(assets);
            let delta = (rng.uniform() - 0.5) * 4e6;
            let change = risk.incremental_var(asset, delta).expect("incremental");
            exposures[asset] += delta;
            let full = PortfolioRisk::new(&returns, &exposures, 0.99).expect("full").figures();
            let scale = full.volatility;
            assert!((change.historical.after.var - full.historical.var).abs() <= 1e-9 * scale, "step {step}");
            assert!((change.historical.after.cvar - full.historical.cvar).abs() <= 1e-9 * scale);
            assert!((change.parametric.after.var - full.parametric.var).abs() <= 1e-9 * scale);
            // Fill it: the moved state must equal a fresh one.
            risk.apply_trade(asset, delta).expect("apply");
            let moved = risk.figures();
            assert!((moved.historical.var - full.historical.var).abs() <= 1e-9 * scale);
            assert!((moved.parametric.var - full.parametric.var).abs() <= 1e-9 * scale);
        }
        let marginal = risk.marginal_parametric_var(0).expect("marginal");
        let bump = 1.0;
        // Central difference: the one-sided one carries the second-order term Δ·z·Σᵢᵢ/2σ.
        let up = risk.incremental_parametric_var(0, bump).expect("bump").after.var;
        let down = risk.incremental_parametric_var(0, -bump).expect("bump").after.var;
        let numeric = (up - down) / (2.0 * bump);
        assert!((marginal - numeric).abs() < 1e-6 * marginal.abs().max(1e-3), "{marginal} vs {numeric}");
        assert!(risk.marginal_historical_var(0).is_ok());
    }

    #[test]
    fn bad_trades_are_typed_errors() {
        let returns = ReturnMatrix::new(100, 1, vec![0.01; 100]).expect("returns");
        let mut risk = PortfolioRisk::new(&returns, &[1.0], 0.99).expect("risk");
        assert_eq!(risk.incremental_var(1, 1.0), Err(RiskModelError::AssetOutOfRange { asset: 1, assets: 1 }));
        assert!(matches!(risk.incremental_var(0, f64::NAN), Err(RiskModelError::NonFinite { .. })));
    }
}

mod backtests {
    use super::*;

    #[test]
    fn kupiec_known_cases() {
        let cases = [
            (250, 0, 5.025167926750726, 0.02498150305344971),
            (250, 2, 0.10843521623679919, 0.7419327009526282),
            (250, 5, 1.956809788230622, 0.16185491719604272),
            (250, 10, 12.955491062356018, 0.0003189845082133835),
            (500, 12, 7.110709542123487, 0.00766247743466968),
        ];
        for (t, x, lr, p) in cases {
            let test = kupiec_pof(t, x, 0.01).expect("kupiec");
            assert!((test.likelihood_ratio - lr).abs() < 1e-9 * lr, "{t} {x}: {}", test.likelihood_ratio);
            assert!((test.p_value - p).abs() < 1e-9 * p, "{t} {x}: {}", test.p_value);
        }
        // Exactly the expected rate: LR = 0, p-value 1.
        let exact = kupiec_pof(500, 5, 0.01).expect("kupiec");
        assert!(exact.likelihood_ratio.abs() < 1e-12 && (exact.p_value - 1.0).abs() < 1e-9);
        assert!(kupiec_pof(10, 11, 0.01).is_err());
    }

    #[test]
    fn traffic_light_boundaries_follow_basel() {
        assert_eq!(traffic_light_bounds(250, 0.01), (Some(4), Some(9)));
        assert_eq!(traffic_light(250, 0, 0.01), TrafficLight::Green);
        assert_eq!(traffic_light(250, 4, 0.01), TrafficLight::Green);
        assert_eq!(traffic_light(250, 5, 0.01), TrafficLight::Yellow);
        assert_eq!(traffic_light(250, 9, 0.01), TrafficLight::Yellow);
        assert_eq!(traffic_light(250, 10, 0.01), TrafficLight::Red);
        // Twice the observations: the same 95% / 99.99% thresholds, more room.
        let (green, yellow) = traffic_light_bounds(500, 0.01);
        assert!(green.expect("green") > 4 && yellow.expect("yellow") > 9);
    }

    #[test]
    fn rolling_backtest_counts_exceptions() {
        // A quiet history with one crash day after the first window: exactly one exception.
        let mut pnl: Vec<f64> = (0..400).map(|i| ((i * 37 % 101) as f64 - 50.0) * 1e-4).collect();
        pnl[300] = -0.5;
        let report = backtest_var(&pnl, 250, 0.99, VarMethod::Historical).expect("backtest");
        assert_eq!(report.observations, 150);
        assert!(report.exception_days.contains(&300));
        assert_eq!(report.zone, traffic_light(150, report.exceptions as u64, 0.01));
        let parametric = backtest_var(&pnl, 250, 0.99, VarMethod::Parametric).expect("backtest");
        assert!(parametric.exception_days.contains(&300));
    }

    #[test]
    fn var_report_over_riskfolio_prices() {
        let prices = riskfolio_prices();
        let weights = [0.1; 10];
        let report = var_report(&prices, &RISKFOLIO_ASSETS, &weights, 250, 0.99).expect("report");
        assert!(report.historical.var > 0.0 && report.historical.cvar >= report.historical.var);
        assert!(report.parametric.cvar > report.parametric.var);
        assert_eq!(report.historical_backtest.observations, prices.rows() - 1 - 250);
        println!(
            "riskfolio equal-weight: hist VaR {:.5} CVaR {:.5}, param VaR {:.5}, exceptions {} / {}, Kupiec p {:.4}, {}",
            report.historical.var,
            report.historical.cvar,
            report.parametric.var,
            report.historical_backtest.exceptions,
            report.historical_backtest.observations,
            report.historical_backtest.kupiec.p_value,
            report.historical_backtest.zone.as_str()
        );
    }
}

mod errors {
    use super::*;

    #[test]
    fn non_spd_and_singular_covariances_are_refused() {
        let indefinite = Covariance::from_row_major(2, vec![1.0, 2.0, 2.0, 1.0]).expect("symmetric");
        assert!(matches!(
            equal_risk_contribution(&indefinite),
            Err(RiskModelError::CovarianceNotPositiveDefinite { pivot_index: 1, .. })
        ));
        // The third asset is the sum of the first two.
        let returns = ReturnMatrix::new(
            5,
            3,
            vec![0.01, 0.02, 0.03, -0.02, 0.01, -0.01, 0.03, -0.01, 0.02, 0.00, 0.02, 0.02, -0.01, -0.03, -0.04],
        )
        .expect("returns");
        let singular = Covariance::sample(&returns).expect("cov");
        assert!(matches!(
            equal_risk_contribution(&singular),
            Err(RiskModelError::CovarianceSingular { pivot_index: 2, .. })
        ));
        assert!(matches!(
            Covariance::from_row_major(2, vec![1.0, 0.5, 0.4, 1.0]),
            Err(RiskModelError::CovarianceNotSymmetric { row: 0, col: 1 })
        ));
    }

    #[test]
    fn bad_prices_name_the_asset_and_row() {
        let csv = "Date,A,B\n2020-01-01,1.0,2.0\n2020-01-02,1.1,-2.0\n";
        assert_eq!(
            PriceTable::parse_csv(csv),
            Err(RiskModelError::InvalidPrice { asset: "B".into(), row: 1, value: -2.0 })
        );
        let csv = "Date,A,B\n2020-01-01,1.0,NaN\n";
        assert!(
            matches!(PriceTable::parse_csv(csv), Err(RiskModelError::InvalidPrice { ref asset, row: 0, .. }) if asset == "B")
        );
        let csv = "Date,A,B\n2020-01-01,1.0,\n";
        assert!(
            matches!(PriceTable::parse_csv(csv), Err(RiskModelError::UnparsablePrice { ref asset, .. }) if asset == "B")
        );
        let csv = "Date,A,B\n2020-01-01,1.0\n";
        assert!(matches!(PriceTable::parse_csv(csv), Err(RiskModelError::CsvFieldCount { line: 2, .. })));
        assert_eq!(PriceTable::parse_csv(""), Err(RiskModelError::EmptyCsv));
        let ok = PriceTable::parse_csv("Date,A\n2020-01-01,1.0\n2020-01-02,1.5\n").expect("ok");
        assert!(matches!(ok.select(&["Z"]), Err(RiskModelError::UnknownAsset { .. })));
    }

    #[test]
    fn too_short_windows_are_refused() {
        let prices = riskfolio_prices();
        assert!(matches!(
            parity_report(&prices, &RISKFOLIO_ASSETS, 5_000),
            Err(RiskModelError::WindowTooShort { what: "return window", .. })
        ));
        assert!(matches!(
            historical_tail_risk(&[0.0; 99], 0.99),
            Err(RiskModelError::WindowTooShort { needed: 100, available: 99, .. })
        ));
        let one_day = PriceTable::parse_csv("Date,A\n2020-01-01,1.0\n").expect("one day");
        assert!(matches!(ReturnMatrix::from_prices(&one_day), Err(RiskModelError::WindowTooShort { .. })));
        assert!(matches!(
            backtest_var(&[0.0; 250], 250, 0.99, VarMethod::Historical),
            Err(RiskModelError::WindowTooShort { .. })
        ));
        assert!(matches!(historical_tail_risk(&[0.0; 200], 1.5), Err(RiskModelError::InvalidConfidence { .. })));
    }
}
