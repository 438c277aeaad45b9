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
//! AlphaScanner and DarkPoolScan read, and QuotePublisher turns its top of book into
//! `Quote` frames: the risk stage's reference prices. The risk step is RiskSentinel
//! (`qp-risk-sentinel`), built from the configuration's assets, limits file and VaR
//! history ([`history`]). The Decide step is the alpha agent (`qp-alpha`'s `DecideAgent`, its
//! model embedded or named by `[alpha] model`). The execution side is a later issue's (the FIX
//! executors); `baseline_execution` stands in for it. [`SignalReplay`] makes the frames the
//! Decide stage sees from recordings, deterministically, for `qpctl forge alpha`.
#![forbid(unsafe_code)]

pub mod agents;
pub mod bench;
mod config;
mod five_step;
pub mod history;
mod market_feed;
mod signal_replay;

pub use config::{AlphaConfig, AssetConfig, ConfigError, HistoryConfig, LoopConfig, RiskConfig, RiskLimitsText};
pub use five_step::{FiveStepLoop, IngestCounts, LoopError, decide_agent};
pub use market_feed::MarketFeed;
/// The risk stage's command types, for callers of [`FiveStepLoop::reload_risk_limits`] and
/// [`FiveStepLoop::kill_switch`].
pub use qp_risk_sentinel::{KillSwitchCommand, KillSwitchState, LimitsFileError, RiskCommandError, RiskCommandOutcome};
pub use signal_replay::SignalReplay;
