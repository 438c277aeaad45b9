//! Simple returns: `r[t] = p[t] / p[t-1] - 1`, pandas' `pct_change().dropna()` (the first
//! day has no return and is dropped).
use crate::error::RiskModelError;
use crate::prices::PriceTable;

/// Returns of several assets over the same days, row-major (`rows × assets`): one row per
/// scenario (day), one column per asset.
#[derive(Debug, Clone, PartialEq)]
pub struct ReturnMatrix {
    rows: usize,
    assets: usize,
    values: Vec<f64>,
}

impl ReturnMatrix {
    /// A matrix from row-major values; every value must be finite.
    pub fn new(rows: usize, assets: usize, values: Vec<f64>) -> Result<Self, RiskModelError> {
        let expected = rows * assets;
        if values.len() != expected {
            return Err(RiskModelError::DimensionMismatch { what: "return matrix", expected, found: values.len() });
        }
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            return Err(RiskModelError::NonFinite { what: "return matrix", index });
        }
        Ok(Self { rows, assets, values })
    }

    /// Simple returns of every asset of `prices` (one row fewer than the table).
    pub fn from_prices(prices: &PriceTable) -> Result<Self, RiskModelError> {
        let assets = prices.assets().len();
        if prices.rows() < 2 {
            return Err(RiskModelError::WindowTooShort {
                what: "simple returns (prices)",
                needed: 2,
                available: prices.rows(),
            });
        }
        let mut values = Vec::with_capacity((prices.rows() - 1) * assets);
        for row in 1..prices.rows() {
            values.extend(prices.row(row).iter().zip(prices.row(row - 1)).map(|(now, before)| now / before - 1.0));
        }
        Self::new(prices.rows() - 1, assets, values)
    }

    /// The last `window` rows (pandas' `.iloc[-window:]`).
    pub fn last(&self, window: usize) -> Result<Self, RiskModelError> {
        if window == 0 || window > self.rows {
            return Err(RiskModelError::WindowTooShort {
                what: "return window",
                needed: window.max(1),
                available: self.rows,
            });
        }
        let start = (self.rows - window) * self.assets;
        Ok(Self { rows: window, assets: self.assets, values: self.values[start..].to_vec() })
    }

    /// Number of scenarios (days).
    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn assets(&self) -> usize {
        self.assets
    }

    /// Row-major values.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// One scenario: every asset's return that day.
    pub fn row(&self, row: usize) -> &[f64] {
        &self.values[row * self.assets..(row + 1) * self.assets]
    }

    /// The portfolio's P&L in each scenario, `Σ_i exposure_i · r[t][i]` (exposures in currency
    /// give P&L in currency; weights give the portfolio's return).
    pub fn portfolio_pnl(&self, exposures: &[f64]) -> Result<Vec<f64>, RiskModelError> {
        check_exposures(exposures, self.assets)?;
        Ok((0..self.rows).map(|t| dot(self.row(t), exposures)).collect())
    }
}

pub(crate) fn check_exposures(exposures: &[f64], assets: usize) -> Result<(), RiskModelError> {
    if exposures.len() != assets {
        return Err(RiskModelError::DimensionMismatch { what: "exposures", expected: assets, found: exposures.len() });
    }
    if let Some(index) = exposures.iter().position(|v| !v.is_finite()) {
        return Err(RiskModelError::NonFinite { what: "exposures", index });
    }
    Ok(())
}

/// `Σ a_i b_i`, summed left to right (the order every P&L in this crate uses).
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).fold(0.0, |sum, (x, y)| sum + x * y)
}
