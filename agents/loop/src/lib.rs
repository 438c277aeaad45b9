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
//! executors); in a replay ([`FiveStepLoop::start_replay`], deterministic: feed time and
//! lockstep) `qp-fill-sim` fills the approved orders against the replayed book, and
//! `baseline_execution` (every order expired unfilled) stands in for the loop the benchmarks
//! time. Beside Decide, NeuralArb, Guardian and LiquidityFlow (`[arb]`, `[guardian]`) trade on
//! the feeder thread ([`agents::portfolio`]); their decisions go to risk like Decide's. The
//! risk stage passes every decision it judged on to the output, ahead of its verdict, for the
//! audit trail. [`SignalReplay`] makes the frames the
//! Decide stage sees from recordings, deterministically, for `qpctl forge alpha`.
#![forbid(unsafe_code)]

pub mod agents;
pub mod bench;
mod config;
mod five_step;
pub mod history;
mod market_feed;
mod signal_replay;

pub use agents::portfolio::{
    ArbSummary, DecisionMaker, GuardianSummary, PortfolioError, PortfolioSummary, decision_maker,
};
pub use agents::sim_execution::{AssetExecution, ExecEvent, ExecutionSummary, FillRecord};
pub use config::{
    AlphaConfig, ArbLoopConfig, AssetConfig, ConfigError, ExecutionConfig, ExecutionVenue, GuardianLoopConfig,
    HistoryConfig, LoopConfig, QueueModelConfig, RiskConfig, RiskLimitsText, WorkConfig,
};
pub use five_step::{FiveStepLoop, IngestCounts, LoopError, LoopFinish, decide_agent};
pub use market_feed::MarketFeed;
/// The fill simulator's liquidity flag, as [`FillRecord`] carries it.
pub use qp_fill_sim::Liquidity;
/// The risk stage's command types, for callers of [`FiveStepLoop::reload_risk_limits`] and
/// [`FiveStepLoop::kill_switch`].
pub use qp_risk_sentinel::{KillSwitchCommand, KillSwitchState, LimitsFileError, RiskCommandError, RiskCommandOutcome};
pub use signal_replay::SignalReplay;
