//! VaR backtests: rolling forecasts against the next day's realised P&L, Kupiec's
//! proportion-of-failures test and the Basel traffic light.
//!
//! - Day `t` (for `t ≥ window`) is forecast from the P&L of days `t − window .. t` and is an
//!   **exception** when its realised loss is strictly above the forecast VaR.
//! - **Kupiec POF**: with `T` observations, `x` exceptions and tail probability `p = 1 − α`,
//!   `LR = −2 ln[(1−p)^(T−x) pˣ] + 2 ln[(1−x/T)^(T−x) (x/T)ˣ]` (with `0·ln 0 = 0`), and the
//!   p-value is `P(χ²₁ > LR) = erfc(√(LR/2))`.
//! - **Traffic light** (Basel Committee, 1996): with `X ~ Binomial(T, p)`, `x` exceptions are
//!   green while `P(X ≤ x) < 95%`, yellow while `P(X ≤ x) < 99.99%`, red from there. For
//!   `T = 250`, `p = 1%` this is the Basel table: green 0–4, yellow 5–9, red ≥ 10; other `T`
//!   scale by the same cumulative-probability thresholds.
use crate::distribution::{binomial_cdf, chi_squared_1_survival};
use crate::error::RiskModelError;
use crate::value_at_risk::{TailEstimator, TailSpec, normal_tail_factors, sample_std};

/// Cumulative probability at which the green zone ends.
pub const GREEN_ZONE_CUMULATIVE: f64 = 0.95;
/// Cumulative probability at which the yellow zone ends.
pub const YELLOW_ZONE_CUMULATIVE: f64 = 0.9999;

/// Which VaR the backtest forecasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarMethod {
    Historical,
    Parametric,
}

/// The Basel zone of a backtest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrafficLight {
    Green,
    Yellow,
    Red,
}

impl TrafficLight {
    pub fn as_str(self) -> &'static str {
        match self {
            TrafficLight::Green => "green",
            TrafficLight::Yellow => "yellow",
            TrafficLight::Red => "red",
        }
    }
}

/// Kupiec's proportion-of-failures test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KupiecTest {
    pub likelihood_ratio: f64,
    /// `P(χ²₁ > LR)`: small values reject a correct exception rate.
    pub p_value: f64,
}

/// A rolling backtest's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct BacktestReport {
    pub method: VarMethod,
    pub window: usize,
    pub confidence: f64,
    /// Days forecast (`T`).
    pub observations: usize,
    /// Days whose loss exceeded the forecast (`x`).
    pub exceptions: usize,
    /// Index into the P&L series of every exception.
    pub exception_days: Vec<usize>,
    pub kupiec: KupiecTest,
    pub zone: TrafficLight,
}

/// Kupiec POF for `exceptions` out of `observations` at tail probability `tail_probability`.
pub fn kupiec_pof(observations: u64, exceptions: u64, tail_probability: f64) -> Result<KupiecTest, RiskModelError> {
    if !(tail_probability > 0.0 && tail_probability < 1.0) {
        return Err(RiskModelError::InvalidConfidence { confidence: 1.0 - tail_probability });
    }
    if observations == 0 {
        return Err(RiskModelError::WindowTooShort { what: "Kupiec observations", needed: 1, available: 0 });
    }
    if exceptions > observations {
        return Err(RiskModelError::DimensionMismatch {
            what: "Kupiec exceptions (at most the observations)",
            expected: observations as usize,
            found: exceptions as usize,
        });
    }
    let (t, x) = (observations as f64, exceptions as f64);
    let x_ln_y = |a: f64, b: f64| if a == 0.0 { 0.0 } else { a * b.ln() };
    let null = x_ln_y(t - x, 1.0 - tail_probability) + x_ln_y(x, tail_probability);
    let rate = x / t;
    let fitted = x_ln_y(t - x, 1.0 - rate) + x_ln_y(x, rate);
    let likelihood_ratio = (-2.0 * (null - fitted)).max(0.0);
    Ok(KupiecTest { likelihood_ratio, p_value: chi_squared_1_survival(likelihood_ratio) })
}

/// The most exceptions of the green and of the yellow zone for `observations` at
/// `tail_probability` (`None` when even zero exceptions is not green/yellow).
pub fn traffic_light_bounds(observations: u64, tail_probability: f64) -> (Option<u64>, Option<u64>) {
    let mut green = None;
    let mut yellow = None;
    for x in 0..=observations {
        let cumulative = binomial_cdf(x, observations, tail_probability);
        if cumulative < GREEN_ZONE_CUMULATIVE {
            green = Some(x);
        }
        if cumulative < YELLOW_ZONE_CUMULATIVE {
            yellow = Some(x);
        } else {
            break;
        }
    }
    (green, yellow)
}

/// The Basel zone of `exceptions` out of `observations` at `tail_probability`.
pub fn traffic_light(observations: u64, exceptions: u64, tail_probability: f64) -> TrafficLight {
    let cumulative = binomial_cdf(exceptions, observations, tail_probability);
    if cumulative < GREEN_ZONE_CUMULATIVE {
        TrafficLight::Green
    } else if cumulative < YELLOW_ZONE_CUMULATIVE {
        TrafficLight::Yellow
    } else {
        TrafficLight::Red
    }
}

/// Backtest a rolling `window`-day VaR forecast against each next day of `pnl`.
pub fn backtest_var(
    pnl: &[f64],
    window: usize,
    confidence: f64,
    method: VarMethod,
) -> Result<BacktestReport, RiskModelError> {
    if let Some(index) = pnl.iter().position(|v| !v.is_finite()) {
        return Err(RiskModelError::NonFinite { what: "backtest P&L", index });
    }
    let spec = TailSpec::new(window, confidence)?;
    if pnl.len() <= window {
        return Err(RiskModelError::WindowTooShort {
            what: "backtest P&L (window plus one day)",
            needed: window + 1,
            available: pnl.len(),
        });
    }
    let (z, _) = normal_tail_factors(confidence)?;
    let mut estimator = TailEstimator::new(spec);
    let mut exception_days = Vec::new();
    for day in window..pnl.len() {
        let history = &pnl[day - window..day];
        let var = match method {
            VarMethod::Historical => estimator.estimate(history.iter().map(|p| -p)).var,
            VarMethod::Parametric => z * sample_std(history),
        };
        if -pnl[day] > var {
            exception_days.push(day);
        }
    }
    let observations = pnl.len() - window;
    let exceptions = exception_days.len();
    let tail_probability = 1.0 - confidence;
    Ok(BacktestReport {
        method,
        window,
        confidence,
        observations,
        exceptions,
        exception_days,
        kupiec: kupiec_pof(observations as u64, exceptions as u64, tail_probability)?,
        zone: traffic_light(observations as u64, exceptions as u64, tail_probability),
    })
}
