//! LiquidityFlow: works a large parent order in child orders against the book and measures what
//! it cost.
//!
//! Two schedules ([`Algo`]): TWAP (equal slices over the parent's interval) and participation of
//! volume (a fixed share of what prints on the tape). Children are limit-first: on schedule, a
//! child rests at the near touch (the best bid for a buy); behind schedule, the resting child is
//! cancelled and one crosses at the far touch; no child is ever priced beyond the parent's limit.
//! Each child is a `Decision` (RiskSentinel approves or vetoes it); `ExecReport`s move the
//! schedule; trade prints drive the participation schedule.
//!
//! Measured: implementation shortfall of the average fill price against the arrival mid (basis
//! points, a cost is positive), participation achieved, fill rate. The algorithms only see
//! quotes, prints and reports, so they are venue-agnostic; the shared data has crypto books only,
//! which stand in for FX liquidity. Design and figures: `DESIGN.md` beside this crate.
#![forbid(unsafe_code)]

pub mod agent;
pub mod error;
pub mod replay;

pub use agent::{
    Algo, ExecutionSummary, FlowActions, FlowConfig, LiquidityFlow, ParentOrder, REASON_CATCH_UP, REASON_PASSIVE,
};
pub use error::FlowConfigError;
pub use replay::FlowReplayAgent;
