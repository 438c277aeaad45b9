//! Replay fill simulator: fills risk-approved orders against the replayed book, queue position
//! respected, and the replay harness that drives an agent through RiskSentinel into it.
//!
//! - [`FillSimulator`] implements [`qp_risk_sentinel::ApprovedOrderSink`], the trait the live
//!   FIX order gateway implements: it only ever receives a `RiskApproved<OrderIntent>`.
//! - [`replay`] reads recorded Binance feeds with the node's decoder and depth synchroniser and
//!   routes an agent's decisions through a real `RiskSentinel` into the simulator; fills go back
//!   as `ExecReport`s to the sentinel and the agent; the report has fills, slippage and P&L.
//!
//! Deterministic: no clock, no randomness; the same input gives the same fills. Design:
//! `DESIGN.md` beside this crate.
#![forbid(unsafe_code)]

pub mod average_cost;
pub mod replay;
pub mod sim;

pub use average_cost::{AverageCost, slippage_bp};
pub use replay::{
    AgentActions, FeedSpec, FeedSummary, FillRecord, Pnl, ReplayAgent, ReplayConfig, ReplayError, ReplayReport,
    permissive_limits, run_replay,
};
pub use sim::{
    DEFAULT_LATENCY_NS, Fill, FillSimConfig, FillSimStats, FillSimulator, Liquidity, MAX_IN_FLIGHT, QueueModel,
    SimOutput, WorkingOrder,
};
