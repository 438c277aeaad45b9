//! NeuralArb: statistical arbitrage between two instruments.
//!
//! A spread model over the two legs' mids ([`SpreadModel`]: rolling hedge ratio by OLS or a fixed
//! ratio, z-score of `y − β·x` over a window of samples) decides entries (|z| above `entry_z`,
//! one clip at a time up to `max_clips`, with a cooldown) and exits (|z| below `exit_z`). Each
//! target change becomes `Decision`s for both legs, limits at the far touch plus a configured
//! aggressiveness; RiskSentinel approves or vetoes each. Fills (`ExecReport`) move the legs; a leg
//! short of its target (an order that expired or was vetoed) is sent again.
//!
//! No I/O, no clock, no allocation in [`NeuralArb::on_quote`] after construction. Design and the
//! figures on the shared BTCUSDT spot/futures day: `DESIGN.md` beside this crate.
#![forbid(unsafe_code)]

pub mod agent;
pub mod error;
pub mod model;
pub mod replay;

pub use agent::{ArbConfig, ArbDecisions, ArbStats, LegConfig, NeuralArb, REASON_ENTRY, REASON_EXIT};
pub use error::ArbConfigError;
pub use model::{HedgeRatio, SpreadModel, SpreadStats};
pub use replay::ArbReplayAgent;
