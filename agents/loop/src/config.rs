use qp_runtime::{BackoffPolicy, Placement};
use serde::Deserialize;

/// The loop's configuration. Every key is required: a missing one is an error
/// naming it, never a silent default. Unknown keys are errors too (typos).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoopConfig {
    pub node: NodeConfig,
    pub runtime: RuntimeConfig,
    pub assets: Vec<AssetConfig>,
    pub sentiment: SentimentConfig,
    pub book: BookConfig,
    pub confirm: ConfirmConfig,
    pub alpha: AlphaConfig,
    pub risk: RiskConfig,
    /// The replay's execution side ([`crate::FiveStepLoop::start_replay`]). Optional: a file
    /// without it gets [`ExecutionConfig::default`] (the fill simulator, 1 ms, pessimistic queue,
    /// no fees).
    #[serde(default)]
    pub execution: ExecutionConfig,
    /// Guardian (risk parity over a budget), its trades worked by LiquidityFlow. Absent: off.
    #[serde(default)]
    pub guardian: Option<GuardianLoopConfig>,
    /// NeuralArb between two configured assets. Absent: off.
    #[serde(default)]
    pub arb: Option<ArbLoopConfig>,
}

/// Guardian in the loop (`crate::agents::portfolio`): it keeps a risk-parity book of the
/// configured assets worth `book_value`, rebalanced every `rebalance_ms` of feed time on the
/// covariance of the last `window` returns of the mids sampled every `sample_ms`; LiquidityFlow
/// works each of its trades as a parent order.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardianLoopConfig {
    /// Quote currency (USDT) the book is to hold.
    pub book_value: f64,
    pub sample_ms: u64,
    /// Returns in the covariance window; the first rebalance waits until it is full.
    pub window: usize,
    pub rebalance_ms: u64,
    /// Trades worth less than this share of the book value are not made.
    pub min_trade_bp: u32,
    /// How LiquidityFlow works each trade.
    pub work: WorkConfig,
    /// LiquidityFlow's largest child, as a share of the parent (bp); at least one lot.
    pub max_child_bp: u32,
}

/// A parent order's schedule (LiquidityFlow's `Algo`), over `duration_ms` of feed time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(tag = "algo", rename_all = "lowercase", deny_unknown_fields)]
pub enum WorkConfig {
    Twap { slices: u32, duration_ms: u64 },
    Pov { rate_bp: u32, duration_ms: u64 },
}

impl WorkConfig {
    pub fn duration_ms(&self) -> u64 {
        match *self {
            WorkConfig::Twap { duration_ms, .. } | WorkConfig::Pov { duration_ms, .. } => duration_ms,
        }
    }
}

/// NeuralArb in the loop: the spread `far − β·near` of two configured assets' mids.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArbLoopConfig {
    /// Symbols of two configured assets.
    pub near: String,
    pub far: String,
    /// One clip of the spread position, in the assets' units ("0.01": 0.01 BTC on each leg).
    pub clip: String,
    pub sample_ms: u64,
    pub window: usize,
    pub entry_z: f64,
    pub exit_z: f64,
    pub max_clips: i64,
    pub cooldown_ms: u64,
    /// Floor of the spread's standard deviation, quote currency.
    pub min_std: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// This node's id, stamped as the origin of the frames it creates.
    pub origin_node: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    pub ring_capacity: usize,
    pub placement: Placement,
    pub pin_threads: bool,
    pub backoff: BackoffPolicy,
}

/// One tradable asset.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetConfig {
    pub symbol: String,
    /// RiskSentinel's instrument class (`"crypto"`, `"equity"`, …): selects the class limits
    /// of the risk limits file, which must have a `[classes.<class>]` table for it.
    pub class: String,
    /// RiskSentinel's groups (`"venue:binance"`, `"quote:usdt"`): group limits apply to the sum
    /// over the instruments in a group. May be empty.
    pub groups: Vec<String>,
    /// Price tick = 10^-price_decimals.
    pub price_decimals: u32,
    /// Lot = 10^-qty_decimals.
    pub qty_decimals: u32,
    /// Recorded market-data feed (Binance depth, trades, book tickers),
    /// relative to the data directory.
    pub feed: String,
}

/// SentimentX (the shipped model; which words name which asset is its alias table).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentimentConfig {
    /// Carried in every sentiment signal, for the audit trail.
    pub model_id: u32,
}

/// AlphaScanner and DarkPoolScan, reading the book each asset's feed keeps.
/// (The spoofing detector needs order ids, which Binance's L2 feed does not
/// carry; it runs on L3 feeds with its defaults.)
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookConfig {
    /// Order-flow imbalance (Cont, Kukanov & Stoikov) is summed over this much feed time.
    pub imbalance_window_ms: u64,
    /// Emit an imbalance signal when |OFI| reaches this many bp of the depth in the band.
    pub imbalance_threshold_bp: u32,
    /// At most one imbalance signal per asset per this much feed time.
    pub min_interval_ms: u64,
    /// Depth is the size within this many bp of the mid.
    pub liquidity_band_bp: u32,
    /// Signal when a side's depth falls this many bp below its peak in the window.
    pub liquidity_drop_bp: u32,
    pub liquidity_window_ms: u64,
    /// A print is a block when it takes at least this percentage of the visible
    /// depth within `block_band_bp` of the mid on its side.
    pub block_ratio_pct: u32,
    pub block_band_bp: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmConfig {
    /// A sentiment and a book signal confirm each other when their event times
    /// are at most this far apart.
    pub window_ms: u64,
}

/// The Decide agent (`qp-alpha`): its model and how the model's edge becomes an order.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlphaConfig {
    /// `"embedded"`: the model built into the binaries (`agents/alpha/models/alpha-v1.onnx`);
    /// or the path of an ONNX file made by `qpctl forge alpha`.
    pub model: String,
    /// `"native-f32"`, `"native-int8"` or `"onnxruntime"` (ONNX Runtime: a model path only).
    pub backend: String,
    /// Trade when |P(up) − P(down)| reaches this (0 ..< 1).
    pub min_edge: f32,
    /// Size at the threshold, in lots.
    pub min_order_qty_lots: i64,
    /// Size at an edge of 1, in lots: the cap.
    pub max_order_qty_lots: i64,
    /// Limit = reference price ± this many ticks (crossing the spread).
    pub limit_offset_ticks: i64,
    /// Besides each `Confirmed`, decide once per this much feed time per asset, at a quote;
    /// 0: on `Confirmed` frames only.
    pub cadence_ms: u64,
}

impl AlphaConfig {
    /// The backend `backend` names.
    pub fn backend_kind(&self) -> Option<qp_alpha::BackendKind> {
        qp_alpha::BackendKind::ALL.into_iter().find(|kind| kind.backend_name() == self.backend)
    }
}

/// RiskSentinel, the risk stage. Its instruments are `[[assets]]` (symbol, class, groups,
/// decimals; contract multiplier 1: spot and linear contracts); positions start reconciled
/// flat (see [`crate::FiveStepLoop::start`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskConfig {
    /// The limits file (RiskSentinel's format, `agents/risk-sentinel/limits.example.toml`):
    /// `"embedded"` for `agents/loop/default-risk-limits.toml` built into the binaries, or a
    /// path (relative to the working directory).
    pub limits: String,
    /// Where the VaR scenarios come from.
    pub history: HistoryConfig,
    /// The ingest side re-publishes an asset's unchanged top of book as a `Quote` after this
    /// much loop time (a changed top is published at once), so a quiet book's reference
    /// price does not go stale at the risk stage. Must be below the limits file's
    /// `fail_closed.max_price_age_ms` to be of use.
    pub quote_refresh_ms: u64,
}

/// What takes the risk stage's approved orders in a replay ([`crate::FiveStepLoop::start_replay`];
/// [`crate::FiveStepLoop::start`], the benchmarks' loop, always has the `expire` stand-in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExecutionVenue {
    /// `qp-fill-sim`: each approved order is filled against the replayed book (marketable orders
    /// walk the levels, resting ones keep their queue position) after `latency_us` of feed time.
    FillSim,
    /// The stand-in (`baseline_execution`): every approved order reported expired unfilled.
    Expire,
}

/// How the fill simulator queues resting orders when a level shrinks without a print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QueueModelConfig {
    /// Cancels come from behind: never fills an order too early (the default).
    Pessimistic,
    /// Cancels spread evenly over the queue.
    Proportional,
}

/// `[execution]`: the replay's execution side and its simulated venue.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionConfig {
    pub venue: ExecutionVenue,
    /// Feed time from an order leaving to it reaching the simulated book.
    pub latency_us: u64,
    pub queue_model: QueueModelConfig,
    /// Fee on every fill's notional, basis points (0: none).
    pub fee_bp: f64,
}

impl Default for ExecutionConfig {
    fn default() -> Self {
        Self {
            venue: ExecutionVenue::FillSim,
            latency_us: 1_000,
            queue_model: QueueModelConfig::Pessimistic,
            fee_bp: 0.0,
        }
    }
}

/// The VaR history: one scenario return per asset and row, the `[[assets]]` in order.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "source", rename_all = "lowercase", deny_unknown_fields)]
pub enum HistoryConfig {
    /// Returns of each asset's mid price in its own market-data recording, sampled every
    /// `interval_ms` of feed time over the span all recordings share. The VaR horizon is then
    /// `interval_ms`, not a day (see `default-risk-limits.toml`).
    Replay { interval_ms: u64 },
    /// Daily closes, `Date,SYMBOL,…` CSV (one column per configured asset, others ignored),
    /// relative to the working directory: a live node's history.
    Csv { path: String },
}

/// `risk.limits` value naming the embedded limits file.
const EMBEDDED: &str = "embedded";

/// A risk limits file's text, and what to call it in errors.
#[derive(Debug, Clone)]
pub struct RiskLimitsText {
    pub source_name: String,
    pub text: String,
}

/// Why a configuration was refused. Displays as one line naming the source,
/// the line and the problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config {source_name}: {location}{message}")]
    Parse { source_name: String, location: String, message: String },
    #[error("config {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("config {source_name}: {key}: {problem}")]
    Invalid { source_name: String, key: String, problem: String },
}

impl LoopConfig {
    /// The configuration built into the binaries.
    pub const EMBEDDED_DEFAULT: &'static str = include_str!("../default-config.toml");
    /// The risk limits built into the binaries (`risk.limits = "embedded"`).
    pub const EMBEDDED_RISK_LIMITS: &'static str = include_str!("../default-risk-limits.toml");

    /// Parse and validate TOML; `source_name` (a path, or "embedded default") names it in errors.
    pub fn from_toml(text: &str, source_name: &str) -> Result<Self, ConfigError> {
        let config: LoopConfig = qp_config_text::parse_toml(text).map_err(|err| ConfigError::Parse {
            source_name: source_name.to_owned(),
            location: err.line_prefix(),
            message: err.message,
        })?;
        config.validate(source_name)?;
        Ok(config)
    }

    /// The embedded default.
    pub fn embedded_default() -> Result<Self, ConfigError> {
        Self::from_toml(Self::EMBEDDED_DEFAULT, "embedded default")
    }

    /// The file at `path`, or the embedded default when there is none.
    pub fn load(path: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        let Some(path) = path else {
            return Self::embedded_default();
        };
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: name.clone(), source })?;
        Self::from_toml(&text, &name)
    }

    fn validate(&self, source_name: &str) -> Result<(), ConfigError> {
        let invalid = |key: &str, problem: &str| {
            Err(ConfigError::Invalid {
                source_name: source_name.to_owned(),
                key: key.to_owned(),
                problem: problem.to_owned(),
            })
        };
        if self.assets.is_empty() {
            return invalid("assets", "at least one asset is needed");
        }
        for asset in &self.assets {
            if asset.price_decimals > 9 || asset.qty_decimals > 9 {
                return invalid(&format!("assets.{}", asset.symbol), "decimals must be 0..=9");
            }
        }
        if self.book.imbalance_threshold_bp == 0 {
            return invalid("book.imbalance_threshold_bp", "must be positive");
        }
        if !(1..=10_000).contains(&self.book.liquidity_drop_bp) {
            return invalid("book.liquidity_drop_bp", "must be 1..=10000");
        }
        if self.book.imbalance_window_ms == 0 || self.book.liquidity_window_ms == 0 {
            return invalid("book", "windows must be positive");
        }
        if !(0.0..1.0).contains(&self.alpha.min_edge) {
            return invalid("alpha.min_edge", "must be 0 or more and below 1");
        }
        if self.alpha.min_order_qty_lots <= 0 {
            return invalid("alpha.min_order_qty_lots", "must be positive");
        }
        if self.alpha.max_order_qty_lots < self.alpha.min_order_qty_lots {
            return invalid("alpha.max_order_qty_lots", "must be at least alpha.min_order_qty_lots");
        }
        match self.alpha.backend_kind() {
            None => return invalid("alpha.backend", "must be \"native-f32\", \"native-int8\" or \"onnxruntime\""),
            Some(qp_alpha::BackendKind::OnnxRuntime) if self.alpha.model == EMBEDDED => {
                return invalid("alpha.backend", "\"onnxruntime\" needs a model path, not \"embedded\"");
            }
            Some(_) => {}
        }
        if self.alpha.model.trim().is_empty() {
            return invalid("alpha.model", "must be \"embedded\" or a path");
        }
        if self.alpha.limit_offset_ticks < 0 {
            return invalid("alpha.limit_offset_ticks", "must not be negative");
        }
        if self.risk.limits.trim().is_empty() {
            return invalid("risk.limits", "must be \"embedded\" or a path");
        }
        match &self.risk.history {
            HistoryConfig::Replay { interval_ms: 0 } => return invalid("risk.history.interval_ms", "must be positive"),
            HistoryConfig::Csv { path } if path.trim().is_empty() => {
                return invalid("risk.history.path", "must name a CSV file");
            }
            _ => {}
        }
        if self.risk.quote_refresh_ms == 0 {
            return invalid("risk.quote_refresh_ms", "must be positive");
        }
        if !(self.execution.fee_bp.is_finite() && (0.0..=1_000.0).contains(&self.execution.fee_bp)) {
            return invalid("execution.fee_bp", "must be 0..=1000");
        }
        if let Some(guardian) = &self.guardian {
            if !(guardian.book_value.is_finite() && guardian.book_value > 0.0) {
                return invalid("guardian.book_value", "must be a positive amount");
            }
            if guardian.sample_ms == 0 || guardian.rebalance_ms == 0 || guardian.work.duration_ms() == 0 {
                return invalid("guardian", "sample_ms, rebalance_ms and work.duration_ms must be positive");
            }
            if guardian.window < 2 {
                return invalid("guardian.window", "must be at least 2 returns");
            }
            if guardian.min_trade_bp > 10_000 || !(1..=10_000).contains(&guardian.max_child_bp) {
                return invalid("guardian", "min_trade_bp must be 0..=10000 and max_child_bp 1..=10000");
            }
            match guardian.work {
                WorkConfig::Twap { slices: 0, .. } => return invalid("guardian.work.slices", "must be positive"),
                WorkConfig::Pov { rate_bp, .. } if !(1..=10_000).contains(&rate_bp) => {
                    return invalid("guardian.work.rate_bp", "must be 1..=10000");
                }
                _ => {}
            }
        }
        if let Some(arb) = &self.arb {
            for (key, symbol) in [("arb.near", &arb.near), ("arb.far", &arb.far)] {
                let Some(asset) = self.assets.iter().find(|a| &a.symbol == symbol) else {
                    return invalid(key, &format!("{symbol} is not a configured asset"));
                };
                match qp_replay::parse_fixed(&arb.clip, asset.qty_decimals) {
                    Ok(lots) if lots > 0 => {}
                    _ => return invalid("arb.clip", &format!("not a positive quantity of {symbol}")),
                }
            }
            if arb.near == arb.far {
                return invalid("arb.far", "must differ from arb.near");
            }
            if arb.sample_ms == 0 || arb.window < 2 || arb.max_clips <= 0 {
                return invalid("arb", "sample_ms and max_clips must be positive, window at least 2");
            }
            if !(arb.exit_z.is_finite() && arb.entry_z.is_finite() && 0.0 <= arb.exit_z && arb.exit_z < arb.entry_z) {
                return invalid("arb", "needs 0 <= exit_z < entry_z");
            }
            if !(arb.min_std.is_finite() && arb.min_std > 0.0) {
                return invalid("arb.min_std", "must be positive");
            }
        }
        Ok(())
    }

    /// The risk limits file's text and a name for it in errors: the embedded default or the
    /// file `risk.limits` names.
    pub fn risk_limits(&self) -> Result<RiskLimitsText, ConfigError> {
        if self.risk.limits == EMBEDDED {
            return Ok(RiskLimitsText {
                source_name: "embedded default-risk-limits.toml".to_owned(),
                text: Self::EMBEDDED_RISK_LIMITS.to_owned(),
            });
        }
        let path = &self.risk.limits;
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.clone(), source })?;
        Ok(RiskLimitsText { source_name: path.clone(), text })
    }
}
