//! DarkPoolScan: trade prints that the visible book cannot explain (executions
//! against hidden liquidity) and prints that are large against the visible
//! depth (block prints), emitted as [`qp_wire::BlockPrint`] frames.
//!
//! It takes the same [`MarketUpdate`] as AlphaScanner (defined once, in
//! `qp-alpha-scanner`, and re-exported here): the loop's feeder builds one
//! update per book event and hands the same reference to both agents, so there
//! is one event contract, not two that can drift apart. Only
//! [`MarketEvent::Trade`] updates matter here; the book that comes with a print
//! is the visible book *before* the print (a feeder whose prints also arrive as
//! book changes, like LOBSTER's type-4 executions, hands the print over before
//! applying the change).
//!
//! # Hidden liquidity (flag [`qp_wire::BLOCK_PRINT_HIDDEN`])
//!
//! Inferred from the print and the visible book alone, never from a label
//! ([`hidden_reason`]). A print against `resting_side` is explained by visible
//! liquidity only when that side has a level at the print's price holding at
//! least the print's size. Otherwise it is hidden, because:
//! - the price is strictly inside the spread (no visible order rests there:
//!   midpoint and other non-displayed orders), or
//! - there is no visible level at that price (or the resting side is empty), or
//! - the size exceeds the visible size at that price (a reserve/iceberg order's
//!   hidden part traded).
//!
//! Measured on the LOBSTER AAPL sample (types 4 and 5 as the trade stream; the
//! type is the label): every type-5 print is inside the spread, so recall and
//! precision are both 1.0 there ([`score_lobster`], `qpctl scan darkpool`).
//! Hidden executions at the touch within the visible size cannot be told from
//! visible ones by the book alone; that sample has none.
//!
//! # Block prints
//!
//! A print is a block when its size is at least `block_ratio_pct` of the visible
//! depth within `block_band_bp` of the mid on its resting side (default 100 %
//! within 10 bp: one print taking everything near the mid that was shown is
//! institutional size for that book). Blocks go out without the hidden flag
//! unless they are hidden too. Hidden prints below `min_hidden_qty` are not
//! reported (default 1: all).
//!
//! The agent keeps no per-print state and allocates nothing.
#![forbid(unsafe_code)]

mod classify;
mod evaluation;
mod scan;

pub use classify::{HiddenReason, aggressor, hidden_reason};
pub use evaluation::{HiddenLiquidityScore, LOBSTER_GRID_TICK, LobsterLineError, score_lobster};
pub use qp_alpha_scanner::{MarketEvent, MarketUpdate};
pub use scan::{DarkPoolConfig, DarkPoolConfigError, DarkPoolCounts, DarkPoolScan, PrintAssessment};
