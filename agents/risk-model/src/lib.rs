//! Portfolio risk mathematics shared by RiskSentinel (pre-trade checks) and Guardian
//! (risk-parity rebalancing): simple returns, sample covariance, equal-risk-contribution
//! weights, historical and parametric VaR/CVaR, incremental VaR against precomputed state,
//! VaR backtests (Kupiec, Basel traffic light). `f64` throughout, no I/O, no clock.
//!
//! Conventions are documented where they live: VaR quantiles in [`value_at_risk`], the
//! solver in [`risk_parity`], the backtest tests in [`backtest`].
#![forbid(unsafe_code)]

pub mod backtest;
pub mod covariance;
pub mod distribution;
pub mod error;
pub mod prices;
pub mod report;
pub mod returns;
pub mod risk_parity;
pub mod value_at_risk;

pub use backtest::{
    BacktestReport, KupiecTest, TrafficLight, VarMethod, backtest_var, kupiec_pof, traffic_light, traffic_light_bounds,
};
pub use covariance::Covariance;
pub use distribution::{binomial_cdf, chi_squared_1_survival, erf, erfc, normal_cdf, normal_pdf, normal_quantile};
pub use error::RiskModelError;
pub use prices::PriceTable;
pub use report::{ParityReport, VarReport, parity_report, var_report};
pub use returns::ReturnMatrix;
pub use risk_parity::{
    ErcOptions, ErcSolution, ErcSummary, RiskParitySolver, equal_risk_contribution, risk_budget_weights,
};
pub use value_at_risk::{
    IncrementalVar, PortfolioRisk, RiskFigures, TailEstimator, TailRisk, TailSpec, VarChange, historical_tail_risk,
    normal_tail_factors, parametric_tail_risk,
};

/// `Φ⁻¹(0.99)`, the parametric 99% VaR multiplier.
pub const Z_99: f64 = 2.326_347_874_040_840_8;
