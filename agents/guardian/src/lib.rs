//! Guardian: keeps the book in risk parity. From a returns window, the positions and the
//! prices it computes equal-risk-contribution target weights for the book's gross value and
//! proposes the integer-lot trades that move the positions there, as `Decision` frames with
//! reason [`REASON_REBALANCE`]. Those still pass RiskSentinel, the only agent that makes an
//! `OrderIntent`. Design: `DESIGN.md` beside this crate.
#![forbid(unsafe_code)]

pub mod agent;
pub mod config;
pub mod error;
pub mod planner;

pub use agent::{Guardian, GuardianStats, RebalanceTick};
pub use config::{GuardedAsset, GuardianConfig, REASON_REBALANCE};
pub use error::GuardianError;
pub use planner::{RebalanceOrder, RebalancePlan, RebalancePlanner};
