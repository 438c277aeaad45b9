//! Errors of construction and of the command API (checks answer with a [`crate::Veto`]).
use qp_risk_model::RiskModelError;
use qp_wire::AssetId;

use crate::kill_switch::TripCause;
use crate::limits::LimitsError;

/// Why a RiskSentinel could not be built or reconfigured.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SentinelError {
    #[error("risk sentinel: no instruments")]
    NoInstruments,
    #[error("risk sentinel: instrument {symbol}: {problem}")]
    InvalidInstrument { symbol: String, problem: &'static str },
    #[error("risk sentinel: VaR history has {found} columns, expected one per instrument ({expected})")]
    HistoryMismatch { expected: usize, found: usize },
    #[error(transparent)]
    Limits(#[from] LimitsError),
    #[error("risk sentinel: VaR history: {0}")]
    Risk(#[from] RiskModelError),
}

/// Why a command was refused; the sentinel's state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("asset {} is not a guarded instrument", .0.get())]
    UnknownAsset(AssetId),
    #[error("price {price} ticks for asset {} must be positive", asset.get())]
    InvalidPrice { asset: AssetId, price: i64 },
    #[error("kill switch stays {state}: the {cause} breach persists (reduce risk, or start a new trading day)")]
    BreachPersists { state: &'static str, cause: TripCause },
}
