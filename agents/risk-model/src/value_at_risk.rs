//! Value at risk and expected shortfall: historical, parametric, and the incremental VaR of
//! one proposed trade against precomputed portfolio state.
//!
//! # Conventions
//!
//! - Losses are `L = −P&L`; VaR and CVaR are reported as positive losses (in the currency of
//!   the exposures, or as a fraction of value when the exposures are weights). Horizon: one
//!   scenario (a day of returns).
//! - Confidence `α` (e.g. 0.99) and `n` scenarios. The tail mass is `m = n(1 − α)` (rounded
//!   to 1e-9 so that `100 × (1 − 0.99)` is 1, not 1.0000000000000009), and `n` must satisfy
//!   `m ≥ 1`.
//! - **Historical VaR** is the `k`-th worst loss with `k = ⌊m⌋ + 1`: the lower empirical
//!   quantile `L₍⌈nα⌉₎` of the losses sorted ascending, i.e. the smallest loss exceeded in at
//!   most `⌊m⌋` scenarios. No interpolation. 250 scenarios at 99%: m = 2.5, the 3rd worst loss;
//!   100 scenarios: m = 1, the 2nd worst.
//! - **Historical CVaR** (expected shortfall) is the Acerbi–Tasche estimator: the mean of the
//!   worst `m` scenarios counting the `k`-th with weight `m − ⌊m⌋`:
//!   `(L₁ + … + L⌊m⌋ + (m − ⌊m⌋)·Lₖ) / m` (250 scenarios at 99%: `(L₁ + L₂ + ½L₃)/2.5`).
//!   It is coherent and never below VaR.
//! - **Parametric VaR** (variance–covariance, normal, zero mean over one day): `z σ` with
//!   `z = Φ⁻¹(α)` (2.3263478740408408 at 99%) and `σ² = xᵀΣx` from the sample covariance
//!   (divides by `n − 1`); **parametric CVaR** is `σ φ(z)/(1 − α)`.
use crate::distribution::{normal_pdf, normal_quantile};
use crate::error::RiskModelError;
use crate::returns::{ReturnMatrix, check_exposures, dot};

/// Up to this tail length the worst losses are kept by insertion in one pass; longer tails
/// use `select_nth_unstable` on a scratch copy.
const INSERTION_TAIL_MAX: usize = 32;

/// VaR and CVaR, as positive losses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TailRisk {
    pub var: f64,
    pub cvar: f64,
}

/// The tail arithmetic for `n` scenarios at one confidence level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TailSpec {
    pub confidence: f64,
    pub scenarios: usize,
    /// `m = n(1 − α)`, rounded to 1e-9.
    pub tail_mass: f64,
    /// `k = ⌊m⌋ + 1`: VaR is the `k`-th worst loss.
    pub var_rank: usize,
}

impl TailSpec {
    pub fn new(scenarios: usize, confidence: f64) -> Result<Self, RiskModelError> {
        check_confidence(confidence)?;
        let tail_mass = (scenarios as f64 * (1.0 - confidence) * 1e9).round() / 1e9;
        if tail_mass < 1.0 {
            let needed = (1.0 / (1.0 - confidence) - 1e-9).ceil() as usize;
            return Err(RiskModelError::WindowTooShort {
                what: "historical VaR scenarios (need n·(1 − confidence) ≥ 1)",
                needed,
                available: scenarios,
            });
        }
        Ok(Self { confidence, scenarios, tail_mass, var_rank: tail_mass.floor() as usize + 1 })
    }
}

fn check_confidence(confidence: f64) -> Result<(), RiskModelError> {
    if confidence > 0.0 && confidence < 1.0 { Ok(()) } else { Err(RiskModelError::InvalidConfidence { confidence }) }
}

/// Historical VaR/CVaR estimator with its scratch buffers: allocation-free per call.
#[derive(Debug, Clone)]
pub struct TailEstimator {
    spec: TailSpec,
    /// The `k` worst losses, sorted descending (insertion path).
    worst: Vec<f64>,
    /// Every loss (selection path, `k > INSERTION_TAIL_MAX`).
    scratch: Vec<f64>,
}

impl TailEstimator {
    pub fn new(spec: TailSpec) -> Self {
        let scratch = if spec.var_rank > INSERTION_TAIL_MAX { vec![0.0; spec.scenarios] } else { Vec::new() };
        Self { spec, worst: vec![f64::NEG_INFINITY; spec.var_rank], scratch }
    }

    pub fn spec(&self) -> TailSpec {
        self.spec
    }

    /// VaR and CVaR of exactly `spec.scenarios` losses (the caller guarantees the count).
    pub fn estimate(&mut self, losses: impl Iterator<Item = f64>) -> TailRisk {
        let k = self.spec.var_rank;
        let whole = k - 1; // ⌊m⌋
        let fraction = self.spec.tail_mass - whole as f64;
        if k <= INSERTION_TAIL_MAX {
            self.worst.fill(f64::NEG_INFINITY);
            for loss in losses {
                push_worst(&mut self.worst, loss);
            }
            let var = self.worst[k - 1];
            let head: f64 = self.worst[..whole].iter().sum();
            TailRisk { var, cvar: (head + fraction * var) / self.spec.tail_mass }
        } else {
            for (slot, loss) in self.scratch.iter_mut().zip(losses) {
                *slot = loss;
            }
            let (above, var, _) = self.scratch.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
            let var = *var;
            let head: f64 = above.iter().sum();
            TailRisk { var, cvar: (head + fraction * var) / self.spec.tail_mass }
        }
    }
}

/// Insert `loss` into `worst` (sorted descending) if it is among the worst.
#[inline]
fn push_worst(worst: &mut [f64], loss: f64) {
    let Some(&last) = worst.last() else { return };
    if loss <= last {
        return;
    }
    let mut i = worst.len() - 1;
    while i > 0 && worst[i - 1] < loss {
        worst[i] = worst[i - 1];
        i -= 1;
    }
    worst[i] = loss;
}

/// Historical VaR and CVaR of a P&L sample (see the module conventions).
pub fn historical_tail_risk(pnl: &[f64], confidence: f64) -> Result<TailRisk, RiskModelError> {
    if let Some(index) = pnl.iter().position(|v| !v.is_finite()) {
        return Err(RiskModelError::NonFinite { what: "P&L scenarios", index });
    }
    let spec = TailSpec::new(pnl.len(), confidence)?;
    Ok(TailEstimator::new(spec).estimate(pnl.iter().map(|p| -p)))
}

/// `(z, φ(z)/(1 − α))` for confidence `α`: parametric VaR is `z σ`, CVaR `σ φ(z)/(1 − α)`.
pub fn normal_tail_factors(confidence: f64) -> Result<(f64, f64), RiskModelError> {
    check_confidence(confidence)?;
    let z = normal_quantile(confidence);
    Ok((z, normal_pdf(z) / (1.0 - confidence)))
}

/// Parametric (normal, zero-mean) VaR and CVaR for a P&L standard deviation `sigma`.
pub fn parametric_tail_risk(sigma: f64, confidence: f64) -> Result<TailRisk, RiskModelError> {
    if !(sigma.is_finite() && sigma >= 0.0) {
        return Err(RiskModelError::NotPositive { what: "P&L standard deviation", value: sigma });
    }
    let (z, es_factor) = normal_tail_factors(confidence)?;
    Ok(TailRisk { var: z * sigma, cvar: es_factor * sigma })
}

/// Sample standard deviation (divides by `n − 1`).
pub(crate) fn sample_std(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0)).sqrt()
}

/// The portfolio's current risk.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RiskFigures {
    pub historical: TailRisk,
    pub parametric: TailRisk,
    /// `σ = √(xᵀΣx)`, the P&L standard deviation.
    pub volatility: f64,
}

/// Risk before and after a proposed trade.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VarChange {
    pub before: TailRisk,
    pub after: TailRisk,
}

impl VarChange {
    /// Incremental VaR: `VaR(after) − VaR(before)`.
    pub fn var_increment(&self) -> f64 {
        self.after.var - self.before.var
    }

    /// Incremental CVaR.
    pub fn cvar_increment(&self) -> f64 {
        self.after.cvar - self.before.cvar
    }
}

/// Both incremental VaRs of one trade.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IncrementalVar {
    pub historical: VarChange,
    pub parametric: VarChange,
}

/// A portfolio's risk state, precomputed so a pre-trade check costs O(scenarios) for
/// historical VaR and O(1) for parametric VaR, allocating nothing.
///
/// Holds the returns asset-major (each asset's scenarios contiguous), the per-scenario P&L
/// `pₜ = Σᵢ xᵢ rₜᵢ`, `Σx`, `σ² = xᵀΣx` and each `Σᵢᵢ`. A trade of `Δ` (currency) in asset `i`:
/// - historical: `p'ₜ = pₜ + Δ rₜᵢ` for every scenario, then the `k` worst losses are kept in
///   one pass (k = 3 for 250 scenarios at 99%); this is exactly the full revaluation, only
///   cheaper;
/// - parametric: `σ'² = σ² + 2Δ(Σx)ᵢ + Δ²Σᵢᵢ`, exact for the normal model.
///
/// [`PortfolioRisk::apply_trade`] moves the state once a fill is reported (O(assets ×
/// scenarios), off the check path).
#[derive(Debug, Clone)]
pub struct PortfolioRisk {
    assets: usize,
    scenarios: usize,
    /// `[asset × scenarios + t]`.
    returns_by_asset: Vec<f64>,
    column_means: Vec<f64>,
    /// `Σᵢᵢ`.
    variances: Vec<f64>,
    exposures: Vec<f64>,
    pnl: Vec<f64>,
    sigma_x: Vec<f64>,
    variance: f64,
    z: f64,
    es_factor: f64,
    estimator: TailEstimator,
    figures: RiskFigures,
    /// Scenario whose loss is the historical VaR.
    var_scenario: usize,
}

impl PortfolioRisk {
    /// Precompute the state for `exposures` (currency per asset) over the scenarios of
    /// `returns`, at `confidence`.
    pub fn new(returns: &ReturnMatrix, exposures: &[f64], confidence: f64) -> Result<Self, RiskModelError> {
        let (assets, scenarios) = (returns.assets(), returns.rows());
        check_exposures(exposures, assets)?;
        if scenarios < 2 {
            return Err(RiskModelError::WindowTooShort { what: "VaR scenarios", needed: 2, available: scenarios });
        }
        let spec = TailSpec::new(scenarios, confidence)?;
        let (z, es_factor) = normal_tail_factors(confidence)?;
        let mut returns_by_asset = vec![0.0; assets * scenarios];
        for t in 0..scenarios {
            for (i, r) in returns.row(t).iter().enumerate() {
                returns_by_asset[i * scenarios + t] = *r;
            }
        }
        let column_means: Vec<f64> =
            returns_by_asset.chunks_exact(scenarios).map(|c| c.iter().sum::<f64>() / scenarios as f64).collect();
        let denominator = (scenarios - 1) as f64;
        let variances = returns_by_asset
            .chunks_exact(scenarios)
            .zip(&column_means)
            .map(|(c, m)| c.iter().map(|r| (r - m) * (r - m)).sum::<f64>() / denominator)
            .collect();
        let pnl: Vec<f64> = (0..scenarios).map(|t| dot(returns.row(t), exposures)).collect();
        let pnl_mean = pnl.iter().sum::<f64>() / scenarios as f64;
        // (Σx)ⱼ = cov(r·ⱼ, p) = Σₜ (rₜⱼ − r̄ⱼ)(pₜ − p̄) / (n − 1); no n × n matrix needed.
        let sigma_x: Vec<f64> = returns_by_asset
            .chunks_exact(scenarios)
            .zip(&column_means)
            .map(|(c, m)| c.iter().zip(&pnl).map(|(r, p)| (r - m) * (p - pnl_mean)).sum::<f64>() / denominator)
            .collect();
        let variance = pnl.iter().map(|p| (p - pnl_mean) * (p - pnl_mean)).sum::<f64>() / denominator;
        let zero = TailRisk { var: 0.0, cvar: 0.0 };
        let mut risk = Self {
            assets,
            scenarios,
            returns_by_asset,
            column_means,
            variances,
            exposures: exposures.to_vec(),
            pnl,
            sigma_x,
            variance,
            z,
            es_factor,
            estimator: TailEstimator::new(spec),
            figures: RiskFigures { historical: zero, parametric: zero, volatility: 0.0 },
            var_scenario: 0,
        };
        risk.refresh();
        Ok(risk)
    }

    fn refresh(&mut self) {
        let historical = self.estimator.estimate(self.pnl.iter().map(|p| -p));
        let volatility = self.variance.max(0.0).sqrt();
        self.figures = RiskFigures {
            historical,
            parametric: TailRisk { var: self.z * volatility, cvar: self.es_factor * volatility },
            volatility,
        };
        self.var_scenario = self.pnl.iter().position(|p| -p == historical.var).unwrap_or(0);
    }

    /// The current risk.
    pub fn figures(&self) -> RiskFigures {
        self.figures
    }

    fn check_trade(&self, asset: usize, delta: f64) -> Result<(), RiskModelError> {
        if asset >= self.assets {
            return Err(RiskModelError::AssetOutOfRange { asset, assets: self.assets });
        }
        if !delta.is_finite() {
            return Err(RiskModelError::NonFinite { what: "trade notional", index: asset });
        }
        Ok(())
    }

    fn asset_returns(&self, asset: usize) -> &[f64] {
        &self.returns_by_asset[asset * self.scenarios..(asset + 1) * self.scenarios]
    }

    /// Historical VaR/CVaR if `delta` (currency, signed) were added to `asset`: O(scenarios),
    /// no allocation, identical to a full revaluation of `pₜ + Δ rₜᵢ`.
    pub fn incremental_historical_var(&mut self, asset: usize, delta: f64) -> Result<VarChange, RiskModelError> {
        self.check_trade(asset, delta)?;
        let returns = &self.returns_by_asset[asset * self.scenarios..(asset + 1) * self.scenarios];
        let after = self.estimator.estimate(self.pnl.iter().zip(returns).map(|(p, r)| -(p + delta * r)));
        Ok(VarChange { before: self.figures.historical, after })
    }

    /// Parametric VaR/CVaR if `delta` were added to `asset`: O(1),
    /// `σ'² = σ² + 2Δ(Σx)ᵢ + Δ²Σᵢᵢ`.
    pub fn incremental_parametric_var(&self, asset: usize, delta: f64) -> Result<VarChange, RiskModelError> {
        self.check_trade(asset, delta)?;
        let variance = self.variance + delta * (2.0 * self.sigma_x[asset] + delta * self.variances[asset]);
        let volatility = variance.max(0.0).sqrt();
        let after = TailRisk { var: self.z * volatility, cvar: self.es_factor * volatility };
        Ok(VarChange { before: self.figures.parametric, after })
    }

    /// Both incremental VaRs of one trade.
    pub fn incremental_var(&mut self, asset: usize, delta: f64) -> Result<IncrementalVar, RiskModelError> {
        Ok(IncrementalVar {
            historical: self.incremental_historical_var(asset, delta)?,
            parametric: self.incremental_parametric_var(asset, delta)?,
        })
    }

    /// First-order (marginal) historical VaR per unit of exposure in `asset`: `−rₜ*ᵢ` at the
    /// VaR scenario `t*`. O(1), but only valid while the trade leaves the scenario ranking
    /// unchanged; [`PortfolioRisk::incremental_historical_var`] is the exact answer.
    pub fn marginal_historical_var(&self, asset: usize) -> Result<f64, RiskModelError> {
        self.check_trade(asset, 0.0)?;
        Ok(-self.asset_returns(asset)[self.var_scenario])
    }

    /// Marginal parametric VaR, `∂(zσ)/∂xᵢ = z (Σx)ᵢ / σ` (component VaR is `xᵢ` times it).
    pub fn marginal_parametric_var(&self, asset: usize) -> Result<f64, RiskModelError> {
        self.check_trade(asset, 0.0)?;
        let sigma = self.figures.volatility;
        Ok(if sigma > 0.0 { self.z * self.sigma_x[asset] / sigma } else { 0.0 })
    }

    /// Move the state by a filled trade of `delta` in `asset`: O(assets × scenarios).
    pub fn apply_trade(&mut self, asset: usize, delta: f64) -> Result<(), RiskModelError> {
        self.check_trade(asset, delta)?;
        let start = asset * self.scenarios;
        let mean_i = self.column_means[asset];
        for (p, r) in self.pnl.iter_mut().zip(&self.returns_by_asset[start..start + self.scenarios]) {
            *p += delta * r;
        }
        self.variance += delta * (2.0 * self.sigma_x[asset] + delta * self.variances[asset]);
        let denominator = (self.scenarios - 1) as f64;
        let column_i = &self.returns_by_asset[start..start + self.scenarios];
        for (j, sx) in self.sigma_x.iter_mut().enumerate() {
            let column_j = &self.returns_by_asset[j * self.scenarios..(j + 1) * self.scenarios];
            let mean_j = self.column_means[j];
            let cov: f64 = column_j.iter().zip(column_i).map(|(a, b)| (a - mean_j) * (b - mean_i)).sum();
            *sx += delta * cov / denominator;
        }
        self.exposures[asset] += delta;
        self.refresh();
        Ok(())
    }

    pub fn exposures(&self) -> &[f64] {
        &self.exposures
    }

    /// Per-scenario P&L of the current exposures.
    pub fn scenario_pnl(&self) -> &[f64] {
        &self.pnl
    }

    /// `Σx`.
    pub fn sigma_times_exposures(&self) -> &[f64] {
        &self.sigma_x
    }

    pub fn assets(&self) -> usize {
        self.assets
    }

    pub fn scenarios(&self) -> usize {
        self.scenarios
    }
}
