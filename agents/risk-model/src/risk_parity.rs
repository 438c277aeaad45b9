//! Risk-budgeting (equal-risk-contribution) weights: long-only, fully invested, variance as
//! the risk measure.
//!
//! Formulation (Spinu 2013; Roncalli 2013): for budgets `b > 0`,
//! `y* = argmin_{y > 0} F(y) = ½ yᵀΣy − Σᵢ bᵢ ln yᵢ`. Its first-order condition is
//! `yᵢ (Σy)ᵢ = bᵢ`, so `w = y*/Σᵢ y*ᵢ` gives each asset the risk share
//! `wᵢ(Σw)ᵢ / wᵀΣw = bᵢ / Σⱼ bⱼ`. `F` is strictly convex on `y > 0` when Σ is positive
//! definite, so the solution exists and is unique.
//!
//! Solver: Newton's method, `H = Σ + diag(bᵢ/yᵢ²)`, `g = Σy − b/y`, from the best point on the
//! ray `y ∝ 1/σ`. With the budgets scaled so the smallest is 1, `F` is self-concordant, so the
//! damped step `1/(1+λ)` (λ the Newton decrement) is taken while λ > ¼ and full steps after
//! (quadratic convergence); damped steps stay inside the Dikin ellipsoid, so `y` stays
//! positive with no line search. It stops when `maxᵢ |yᵢ(Σy)ᵢ/bᵢ − 1| ≤ tolerance`
//! (default 1e-12), or, once below 1e-9, when a full Newton step no longer halves that
//! residual (rounding floor).
use crate::covariance::{Covariance, cholesky_in_place, cholesky_solve};
use crate::error::RiskModelError;

/// Newton decrement below which the full Newton step is taken.
const FULL_STEP_DECREMENT: f64 = 0.25;
/// A residual this small is accepted when rounding stops further progress.
const ROUNDING_FLOOR_RESIDUAL: f64 = 1e-9;

/// Stopping rule of the risk-parity solver.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ErcOptions {
    /// Largest accepted `maxᵢ |yᵢ(Σy)ᵢ/bᵢ − 1|` (relative error of every risk contribution).
    pub tolerance: f64,
    /// Newton iterations before [`RiskModelError::NotConverged`].
    pub max_iterations: u32,
}

impl Default for ErcOptions {
    fn default() -> Self {
        Self { tolerance: 1e-12, max_iterations: 100 }
    }
}

/// What one solve did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ErcSummary {
    /// Newton steps taken.
    pub iterations: u32,
    /// Final `maxᵢ |yᵢ(Σy)ᵢ/bᵢ − 1|`.
    pub residual: f64,
}

/// Risk-parity weights with their risk shares, owned (the convenient form for tools).
#[derive(Debug, Clone, PartialEq)]
pub struct ErcSolution {
    /// Long-only weights summing to 1.
    pub weights: Vec<f64>,
    /// Each asset's share of portfolio variance, `wᵢ(Σw)ᵢ / wᵀΣw` (sums to 1).
    pub risk_contributions: Vec<f64>,
    pub iterations: u32,
    pub residual: f64,
}

/// A reusable risk-budgeting solver for `n` assets: all scratch is allocated once, so
/// [`RiskParitySolver::solve`] allocates nothing.
#[derive(Debug, Clone)]
pub struct RiskParitySolver {
    n: usize,
    options: ErcOptions,
    /// Budgets scaled so the smallest is 1 (self-concordance).
    budgets: Vec<f64>,
    y: Vec<f64>,
    sigma_y: Vec<f64>,
    gradient: Vec<f64>,
    step: Vec<f64>,
    factor: Vec<f64>,
    weights: Vec<f64>,
    risk_shares: Vec<f64>,
}

impl RiskParitySolver {
    /// Equal risk contributions for `n` assets.
    pub fn equal_risk(n: usize, options: ErcOptions) -> Self {
        Self {
            n,
            options,
            budgets: vec![1.0; n],
            y: vec![0.0; n],
            sigma_y: vec![0.0; n],
            gradient: vec![0.0; n],
            step: vec![0.0; n],
            factor: vec![0.0; n * n],
            weights: vec![0.0; n],
            risk_shares: vec![0.0; n],
        }
    }

    /// Risk contributions proportional to `budgets` (finite, positive; any scale).
    pub fn with_budgets(budgets: &[f64], options: ErcOptions) -> Result<Self, RiskModelError> {
        if let Some(index) = budgets.iter().position(|b| !(b.is_finite() && *b > 0.0)) {
            return Err(RiskModelError::InvalidBudget { index, value: budgets[index] });
        }
        let smallest = budgets.iter().copied().fold(f64::INFINITY, f64::min);
        let mut solver = Self::equal_risk(budgets.len(), options);
        for (scaled, b) in solver.budgets.iter_mut().zip(budgets) {
            *scaled = b / smallest;
        }
        Ok(solver)
    }

    /// Solve for `cov`. Errors: wrong size, Σ not positive definite or singular (checked by
    /// Cholesky first), no convergence.
    pub fn solve(&mut self, cov: &Covariance) -> Result<ErcSummary, RiskModelError> {
        let n = self.n;
        if cov.n() != n {
            return Err(RiskModelError::DimensionMismatch { what: "covariance assets", expected: n, found: cov.n() });
        }
        if n == 0 {
            return Err(RiskModelError::WindowTooShort { what: "risk parity assets", needed: 1, available: 0 });
        }
        cov.check_positive_definite(&mut self.factor)?;

        // Start: y ∝ 1/σ, scaled to the minimum of F along that ray (c² = Σb / uᵀΣu).
        for (i, y) in self.y.iter_mut().enumerate() {
            *y = 1.0 / cov.get(i, i).sqrt();
        }
        let budget_total: f64 = self.budgets.iter().sum();
        let scale = (budget_total / cov.quadratic_form(&self.y)).sqrt();
        self.y.iter_mut().for_each(|y| *y *= scale);

        let mut previous_residual = f64::INFINITY;
        let mut full_step = false;
        let mut iterations = 0;
        let residual = loop {
            cov.mul_vec(&self.y, &mut self.sigma_y);
            let residual = self
                .y
                .iter()
                .zip(&self.sigma_y)
                .zip(&self.budgets)
                .map(|((y, sy), b)| (y * sy / b - 1.0).abs())
                .fold(0.0, f64::max);
            if residual <= self.options.tolerance {
                break residual;
            }
            if full_step && residual <= ROUNDING_FLOOR_RESIDUAL && residual > 0.5 * previous_residual {
                break residual;
            }
            if iterations >= self.options.max_iterations || !residual.is_finite() {
                return Err(RiskModelError::NotConverged { iterations, residual });
            }
            previous_residual = residual;
            iterations += 1;

            // H = Σ + diag(b/y²), g = Σy − b/y, solve H d = −g.
            self.factor.copy_from_slice(cov.values());
            for i in 0..n {
                let (y, b) = (self.y[i], self.budgets[i]);
                self.factor[i * n + i] += b / (y * y);
                self.gradient[i] = self.sigma_y[i] - b / y;
                self.step[i] = -self.gradient[i];
            }
            cholesky_in_place(&mut self.factor, n)
                .map_err(|(pivot_index, pivot)| RiskModelError::CovarianceNotPositiveDefinite { pivot_index, pivot })?;
            cholesky_solve(&self.factor, n, &mut self.step);
            let decrement_sq: f64 = -self.gradient.iter().zip(&self.step).map(|(g, d)| g * d).sum::<f64>();
            let decrement = decrement_sq.max(0.0).sqrt();
            full_step = decrement <= FULL_STEP_DECREMENT;
            let mut t = if full_step { 1.0 } else { 1.0 / (1.0 + decrement) };
            // Self-concordance keeps y positive; guard against rounding anyway.
            while self.y.iter().zip(&self.step).any(|(y, d)| y + t * d <= 0.0) {
                t *= 0.5;
            }
            for (y, d) in self.y.iter_mut().zip(&self.step) {
                *y += t * d;
            }
        };

        let total: f64 = self.y.iter().sum();
        for (w, y) in self.weights.iter_mut().zip(&self.y) {
            *w = y / total;
        }
        cov.mul_vec(&self.weights, &mut self.sigma_y);
        let variance: f64 = self.weights.iter().zip(&self.sigma_y).map(|(w, s)| w * s).sum();
        for ((share, w), s) in self.risk_shares.iter_mut().zip(&self.weights).zip(&self.sigma_y) {
            *share = w * s / variance;
        }
        Ok(ErcSummary { iterations, residual })
    }

    /// Weights of the last solve (sum to 1).
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// Risk shares of the last solve, `wᵢ(Σw)ᵢ / wᵀΣw`.
    pub fn risk_shares(&self) -> &[f64] {
        &self.risk_shares
    }

    pub fn n(&self) -> usize {
        self.n
    }
}

/// Equal-risk-contribution weights for `cov` (default options).
pub fn equal_risk_contribution(cov: &Covariance) -> Result<ErcSolution, RiskModelError> {
    let mut solver = RiskParitySolver::equal_risk(cov.n(), ErcOptions::default());
    solve_owned(&mut solver, cov)
}

/// Weights whose risk shares are proportional to `budgets` (default options).
pub fn risk_budget_weights(cov: &Covariance, budgets: &[f64]) -> Result<ErcSolution, RiskModelError> {
    let mut solver = RiskParitySolver::with_budgets(budgets, ErcOptions::default())?;
    solve_owned(&mut solver, cov)
}

fn solve_owned(solver: &mut RiskParitySolver, cov: &Covariance) -> Result<ErcSolution, RiskModelError> {
    let summary = solver.solve(cov)?;
    Ok(ErcSolution {
        weights: solver.weights().to_vec(),
        risk_contributions: solver.risk_shares().to_vec(),
        iterations: summary.iterations,
        residual: summary.residual,
    })
}
