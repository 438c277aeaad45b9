//! The five-step loop, in one process:
//!
//! Ingest (headlines → sentiment, book updates → book signals) → Confirm (join
//! per asset within a window) → Decide (the alpha step) → Veto/Approve (risk) →
//! Execute (order intents to the execution side).
//!
//! Ingest runs where events arrive (the feeder thread here, a cloud node over
//! the bridge later); the other four steps are [`qp_runtime`] stages. Headlines
//! go to SentimentX (the shipped, distilled model). Market data goes to each
//! asset's [`MarketFeed`] (Binance decoder and depth synchroniser), whose book
//! AlphaScanner and DarkPoolScan read. The other steps' agents are later
//! issues' (the alpha agent, RiskSentinel, the FIX executors); the `baseline_*`
//! agents here stand in for them and say so in their names.
#![forbid(unsafe_code)]

pub mod agents;
pub mod bench;
mod config;
mod five_step;
mod market_feed;

pub use config::{AssetConfig, ConfigError, LoopConfig};
pub use five_step::{FiveStepLoop, IngestCounts, LoopError};
pub use market_feed::{FeedChange, MarketFeed};
