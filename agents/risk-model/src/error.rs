//! The one error type of the crate: every variant names what was wrong.

/// Why a risk computation refused its input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RiskModelError {
    #[error("price CSV is empty (no header line)")]
    EmptyCsv,
    #[error("price CSV line {line}: expected {expected} fields, found {found}")]
    CsvFieldCount { line: usize, expected: usize, found: usize },
    #[error("price CSV header names asset {asset:?} twice")]
    DuplicateAsset { asset: String },
    #[error("price of {asset} on row {row} is {value}: prices must be finite and positive")]
    InvalidPrice { asset: String, row: usize, value: f64 },
    #[error("price of {asset} on row {row} is not a number: {text:?}")]
    UnparsablePrice { asset: String, row: usize, text: String },
    #[error("asset {asset:?} is not in the price table")]
    UnknownAsset { asset: String },
    #[error("{what}: needs at least {needed} rows, has {available}")]
    WindowTooShort { what: &'static str, needed: usize, available: usize },
    #[error("{what}: expected {expected} values, found {found}")]
    DimensionMismatch { what: &'static str, expected: usize, found: usize },
    #[error("{what}: value {index} is not finite")]
    NonFinite { what: &'static str, index: usize },
    #[error("covariance is not symmetric at ({row}, {col})")]
    CovarianceNotSymmetric { row: usize, col: usize },
    #[error("covariance is not positive definite: Cholesky pivot {pivot_index} is {pivot:e}")]
    CovarianceNotPositiveDefinite { pivot_index: usize, pivot: f64 },
    #[error(
        "covariance is singular: Cholesky pivot {pivot_index} is {pivot:e} (asset {pivot_index} is a combination of the others)"
    )]
    CovarianceSingular { pivot_index: usize, pivot: f64 },
    #[error("confidence {confidence} is outside (0, 1)")]
    InvalidConfidence { confidence: f64 },
    #[error("risk budget {index} is {value}: budgets must be finite and positive")]
    InvalidBudget { index: usize, value: f64 },
    #[error("asset index {asset} is out of range ({assets} assets)")]
    AssetOutOfRange { asset: usize, assets: usize },
    #[error("risk-parity solver did not converge in {iterations} iterations (residual {residual:e})")]
    NotConverged { iterations: u32, residual: f64 },
    #[error("{what} must be positive, is {value}")]
    NotPositive { what: &'static str, value: f64 },
}
