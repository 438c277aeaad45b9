//! One-call answers for tools (`qpctl risk parity`, `qpctl risk var`): from a price table
//! to risk-parity weights or a VaR report.
use crate::backtest::{BacktestReport, VarMethod, backtest_var};
use crate::covariance::Covariance;
use crate::error::RiskModelError;
use crate::prices::PriceTable;
use crate::returns::ReturnMatrix;
use crate::risk_parity::{ErcSolution, equal_risk_contribution};
use crate::value_at_risk::{TailRisk, historical_tail_risk, parametric_tail_risk, sample_std};

/// Risk-parity weights of the named assets over the last `window` simple returns of `prices`.
#[derive(Debug, Clone, PartialEq)]
pub struct ParityReport {
    pub assets: Vec<String>,
    pub solution: ErcSolution,
}

/// Risk-parity weights for `assets` from the last `window` returns (pandas:
/// `prices[assets].pct_change().dropna().iloc[-window:]`, then `.cov()`).
pub fn parity_report<S: AsRef<str>>(
    prices: &PriceTable,
    assets: &[S],
    window: usize,
) -> Result<ParityReport, RiskModelError> {
    let selected = prices.select(assets)?;
    let returns = ReturnMatrix::from_prices(&selected)?.last(window)?;
    let cov = Covariance::sample(&returns)?;
    Ok(ParityReport { assets: selected.assets().to_vec(), solution: equal_risk_contribution(&cov)? })
}

/// VaR figures of a weighted portfolio, and both backtests over the whole history.
#[derive(Debug, Clone, PartialEq)]
pub struct VarReport {
    pub assets: Vec<String>,
    pub weights: Vec<f64>,
    pub confidence: f64,
    pub window: usize,
    /// Over the last `window` returns, as a fraction of portfolio value.
    pub historical: TailRisk,
    pub parametric: TailRisk,
    pub historical_backtest: BacktestReport,
    pub parametric_backtest: BacktestReport,
}

/// VaR of `weights` (one per asset, fractions of portfolio value) over the last `window`
/// returns of `prices`, and the rolling `window`-day backtests over all of them.
pub fn var_report<S: AsRef<str>>(
    prices: &PriceTable,
    assets: &[S],
    weights: &[f64],
    window: usize,
    confidence: f64,
) -> Result<VarReport, RiskModelError> {
    let selected = prices.select(assets)?;
    let returns = ReturnMatrix::from_prices(&selected)?;
    let pnl = returns.portfolio_pnl(weights)?;
    if pnl.len() < window {
        return Err(RiskModelError::WindowTooShort {
            what: "VaR window (returns)",
            needed: window,
            available: pnl.len(),
        });
    }
    let recent = &pnl[pnl.len() - window..];
    Ok(VarReport {
        assets: selected.assets().to_vec(),
        weights: weights.to_vec(),
        confidence,
        window,
        historical: historical_tail_risk(recent, confidence)?,
        parametric: parametric_tail_risk(sample_std(recent), confidence)?,
        historical_backtest: backtest_var(&pnl, window, confidence, VarMethod::Historical)?,
        parametric_backtest: backtest_var(&pnl, window, confidence, VarMethod::Parametric)?,
    })
}
