//! Guardian's error type.
use qp_risk_model::RiskModelError;

/// Why Guardian refused a configuration or a rebalance tick.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GuardianError {
    #[error("guardian configuration: {detail}")]
    InvalidConfig { detail: &'static str },
    #[error("{what}: expected {expected} values (one per guarded asset), found {found}")]
    DimensionMismatch { what: &'static str, expected: usize, found: usize },
    #[error("price of guarded asset {index} is {price} ticks: prices must be positive")]
    NonPositivePrice { index: usize, price: i64 },
    #[error("the book is empty (gross value 0): nothing to rebalance")]
    EmptyBook,
    #[error("book value {0} is not a positive, finite amount")]
    BookValue(f64),
    #[error(transparent)]
    Risk(#[from] RiskModelError),
}

impl GuardianError {
    /// A fixed description for the runtime's rate-limited log.
    pub fn detail(&self) -> &'static str {
        match self {
            GuardianError::InvalidConfig { detail } => detail,
            GuardianError::DimensionMismatch { what, .. } => what,
            GuardianError::NonPositivePrice { .. } => "non-positive price",
            GuardianError::EmptyBook => "empty book",
            GuardianError::BookValue(_) => "book value not positive",
            GuardianError::Risk(RiskModelError::CovarianceNotPositiveDefinite { .. }) => {
                "covariance not positive definite"
            }
            GuardianError::Risk(RiskModelError::CovarianceSingular { .. }) => "covariance singular",
            GuardianError::Risk(RiskModelError::NotConverged { .. }) => "risk parity did not converge",
            GuardianError::Risk(_) => "risk model refused the returns window",
        }
    }
}
