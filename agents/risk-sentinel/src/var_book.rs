//! The VaR state of the book: per-scenario P&L of the current exposures, kept up to date in
//! O(scenarios) per exposure change, so the VaR of a proposed order is one O(scenarios) pass
//! (historical and parametric together), never a revaluation of every instrument.
//!
//! Exposures are in quote currency: `net lots × reference price × multiplier / 10^decimals`
//! with net lots = position + open buys − open sells (every approved order counted as
//! filled). With `pₜ = Σᵢ xᵢ rₜᵢ` over the history's scenarios:
//! - historical VaR is the `k`-th worst of `−pₜ` (qp-risk-model's [`TailEstimator`]);
//! - parametric VaR is `z σ` with `σ²` the sample variance of `pₜ`, which equals `xᵀΣx` for
//!   the sample covariance Σ of the same returns (so no N × N matrix is kept).
//!
//! A proposed order of `Δ` (currency) in asset `i` is evaluated on `pₜ + Δ rₜᵢ` in one pass.
use qp_risk_model::{ReturnMatrix, RiskModelError, TailEstimator, TailSpec, normal_tail_factors};

/// 1-day VaR confidence.
pub const VAR_CONFIDENCE: f64 = 0.99;
/// Incremental P&L updates between full revaluations (rounding hygiene, off the check path).
const REVALUE_EVERY: u32 = 65_536;

/// The book's VaR, as positive losses in quote currency.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct VarFigures {
    /// 1-day 99% historical VaR.
    pub historical: f64,
    /// 1-day 99% parametric (normal) VaR.
    pub parametric: f64,
}

impl VarFigures {
    /// The larger of the two.
    pub fn worst(&self) -> f64 {
        self.historical.max(self.parametric)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct VarBook {
    scenarios: usize,
    /// `[asset × scenarios + t]`.
    returns_by_asset: Vec<f64>,
    column_means: Vec<f64>,
    exposures: Vec<f64>,
    pnl: Vec<f64>,
    /// Mean of `pnl`: the shift of the one-pass variance.
    pnl_mean: f64,
    estimator: TailEstimator,
    z: f64,
    figures: VarFigures,
    updates: u32,
}

impl VarBook {
    pub(crate) fn new(returns: &ReturnMatrix) -> Result<Self, RiskModelError> {
        let (assets, scenarios) = (returns.assets(), returns.rows());
        if scenarios < 2 {
            return Err(RiskModelError::WindowTooShort { what: "VaR scenarios", needed: 2, available: scenarios });
        }
        let spec = TailSpec::new(scenarios, VAR_CONFIDENCE)?;
        let (z, _) = normal_tail_factors(VAR_CONFIDENCE)?;
        let mut returns_by_asset = vec![0.0; assets * scenarios];
        for t in 0..scenarios {
            for (i, r) in returns.row(t).iter().enumerate() {
                returns_by_asset[i * scenarios + t] = *r;
            }
        }
        let column_means =
            returns_by_asset.chunks_exact(scenarios).map(|c| c.iter().sum::<f64>() / scenarios as f64).collect();
        Ok(Self {
            scenarios,
            returns_by_asset,
            column_means,
            pnl_mean: 0.0,
            exposures: vec![0.0; assets],
            pnl: vec![0.0; scenarios],
            estimator: TailEstimator::new(spec),
            z,
            figures: VarFigures::default(),
            updates: 0,
        })
    }

    pub(crate) fn figures(&self) -> VarFigures {
        self.figures
    }

    pub(crate) fn exposure(&self, asset: usize) -> f64 {
        self.exposures[asset]
    }

    pub(crate) fn exposures(&self) -> &[f64] {
        &self.exposures
    }

    /// VaR of the book with `delta` more currency in `asset`: one pass, no allocation.
    pub(crate) fn preview(&mut self, asset: usize, delta: f64) -> VarFigures {
        let start = asset * self.scenarios;
        let column = &self.returns_by_asset[start..start + self.scenarios];
        let shift = self.pnl_mean;
        let (mut sum, mut sum_sq) = (0.0f64, 0.0f64);
        let historical = self.estimator.estimate(self.pnl.iter().zip(column).map(|(p, r)| {
            let v = p + delta * r;
            let d = v - shift;
            sum += d;
            sum_sq += d * d;
            -v
        }));
        let n = self.scenarios as f64;
        let variance = (sum_sq - sum * (sum / n)) / (n - 1.0);
        VarFigures { historical: historical.var, parametric: self.z * variance.max(0.0).sqrt() }
    }

    /// Set one exposure; `figures` is the book's VaR after it when the caller already has it
    /// from [`VarBook::preview`] (same arithmetic), else it is recomputed.
    pub(crate) fn set_exposure(&mut self, asset: usize, exposure: f64, figures: Option<VarFigures>) {
        let delta = exposure - self.exposures[asset];
        if delta == 0.0 {
            return;
        }
        let start = asset * self.scenarios;
        let column = &self.returns_by_asset[start..start + self.scenarios];
        for (p, r) in self.pnl.iter_mut().zip(column) {
            *p += delta * r;
        }
        self.exposures[asset] = exposure;
        self.pnl_mean += delta * self.column_means[asset];
        self.updates += 1;
        self.figures = figures.unwrap_or_else(|| self.preview(asset, 0.0));
    }

    /// Whether enough incremental updates accumulated for a full revaluation to be due.
    pub(crate) fn revaluation_due(&self) -> bool {
        self.updates >= REVALUE_EVERY
    }

    /// Recompute every scenario's P&L from the exposures: O(assets × scenarios).
    pub(crate) fn revalue(&mut self) {
        self.pnl.fill(0.0);
        for asset in 0..self.exposures.len() {
            let x = self.exposures[asset];
            if x != 0.0 {
                let start = asset * self.scenarios;
                for (p, r) in self.pnl.iter_mut().zip(&self.returns_by_asset[start..start + self.scenarios]) {
                    *p += x * r;
                }
            }
        }
        self.pnl_mean = self.pnl.iter().sum::<f64>() / self.scenarios as f64;
        self.updates = 0;
        self.figures = self.preview(0, 0.0);
    }

    /// Replace the history (same assets); exposures are kept and the book revalued.
    pub(crate) fn replace_history(&mut self, returns: &ReturnMatrix) -> Result<(), RiskModelError> {
        let mut next = Self::new(returns)?;
        next.exposures.copy_from_slice(&self.exposures);
        next.revalue();
        *self = next;
        Ok(())
    }
}
