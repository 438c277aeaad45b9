//! The loop benchmark behind `qpctl bench loop` and the criterion bench.
//!
//! Closed loop: each iteration injects a book signal and a sentiment signal that confirm
//! each other, then waits for the order intent at the far end. The Decide agent runs its model
//! on each `Confirmed` (its quote cadence off, its threshold 0 so that every iteration decides:
//! the bench times the path of a decision, whatever the model thinks of the synthetic signals). Latency is read off the intent's stamps (Ingest →
//! Execute, and each stage's share), so it is the pipeline's own measure.
//!
//! The risk stage is RiskSentinel, which vetoes a decision without a fresh reference
//! price: the bench injects a `Quote` frame for the asset before the first iteration and
//! again whenever [`QUOTE_INTERVAL_NS`] has passed, as a live feed's top-of-book changes
//! would (the recordings' BTCUSDT top changes about 20 times a second). Quotes and the
//! execution reports of the loop's stand-in execution go through the stages but end at risk,
//! so the latency table holds order intents only.
use qp_risk_model::ReturnMatrix;
use qp_runtime::clock::monotonic_ns;
use qp_runtime::{LatencySummary, LatencyTable, StageStats};
use qp_wire::{AssetId, BookSignal, BookSignalKind, FrameBuf, FrameType, Quote, SentimentSignal, Stage};
use serde::Serialize;

use crate::config::LoopConfig;
use crate::five_step::{FiveStepLoop, LoopError};

/// What `qpctl bench loop --json` prints.
#[derive(Debug, Serialize)]
pub struct LoopBenchReport {
    #[serde(flatten)]
    pub latency: LatencySummary,
    pub iterations: u64,
    pub warmup: u64,
    /// Worker threads and the stages each ran.
    pub workers: Vec<String>,
    pub order_intents: u64,
    pub stage_stats: Vec<StageStats>,
}

/// The pair of frames for iteration `i`: alternating sides keep the position
/// flat, so risk approves every order.
pub fn signal_pair(origin: u32, i: u64, asset: AssetId, ref_price: i64) -> (FrameBuf, FrameBuf) {
    let bullish = i.is_multiple_of(2);
    let event_ts = 1_000_000 + i * 1_000_000;
    let book =
        BookSignal::new(asset, BookSignalKind::Imbalance, if bullish { 8_000 } else { -8_000 }, ref_price, event_ts);
    let sentiment = SentimentSignal::new(asset, if bullish { 6 } else { -6 }, 9_000, event_ts, 0);
    (FrameBuf::encode(origin, 2 * i, &book), FrameBuf::encode(origin, 2 * i + 1, &sentiment))
}

/// A quote whose mid is `ref_price` (bid one tick below, ask one above), the price
/// [`signal_pair`]'s decisions are made at.
pub fn quote_frame(origin: u32, sequence: u64, asset: AssetId, ref_price: i64) -> FrameBuf {
    FrameBuf::encode(origin, sequence, &Quote::new(asset, (ref_price - 1, 1_000), (ref_price + 1, 1_000), 0))
}

/// Scenario rows of [`synthetic_history`]: as many as the demo's replay history has
/// (one-second mids over the recordings' six minutes).
pub const SYNTHETIC_HISTORY_ROWS: usize = 344;

/// A VaR history for the benchmark and tests, where no recording is read: a fixed,
/// deterministic pattern of returns between −5 and +5 basis points, one column per asset.
/// **Synthetic, not market data**: it gives RiskSentinel's VaR pass its realistic length
/// (the check is one pass over the rows), nothing more. The demo derives its history from
/// the recordings ([`crate::history`]).
pub fn synthetic_history(assets: usize) -> ReturnMatrix {
    let values = (0..SYNTHETIC_HISTORY_ROWS * assets)
        .map(|i| {
            let (row, asset) = (i / assets.max(1), i % assets.max(1));
            ((row * 7 + asset * 3) % 11) as f64 * 1e-4 - 5e-4
        })
        .collect();
    // Finite values, dimensions that match: cannot fail.
    ReturnMatrix::new(SYNTHETIC_HISTORY_ROWS, assets, values).unwrap_or_else(|_| unreachable!())
}

/// Loop time between the quotes the bench injects.
pub const QUOTE_INTERVAL_NS: u64 = 50_000_000;

/// Binance USD-M messages for a one-level BTCUSDT book (price 1 decimal, size
/// 3), written into a reused buffer: tests and benchmarks drive the real feed
/// decoder, book and AlphaScanner with them, without allocating per message.
#[derive(Debug, Default)]
pub struct SyntheticMarket {
    json: String,
    last_update_id: u64,
}

impl SyntheticMarket {
    pub const BID: &'static str = "60000.0";
    pub const ASK: &'static str = "60000.1";

    /// The REST snapshot at the current update id (100 at first): one level a
    /// side, `bid_lots`/`ask_lots` thousandths.
    pub fn snapshot(&mut self, bid_lots: u32, ask_lots: u32) -> &[u8] {
        use std::fmt::Write;
        self.json.clear();
        self.last_update_id = self.last_update_id.max(100);
        let _ = write!(
            self.json,
            r#"{{"lastUpdateId":{},"E":1,"T":1,"bids":[["{}","{}.{:03}"]],"asks":[["{}","{}.{:03}"]]}}"#,
            self.last_update_id,
            Self::BID,
            bid_lots / 1000,
            bid_lots % 1000,
            Self::ASK,
            ask_lots / 1000,
            ask_lots % 1000
        );
        self.json.as_bytes()
    }

    /// The next depth diff, in sequence, setting both levels' sizes.
    pub fn depth(&mut self, bid_lots: u32, ask_lots: u32) -> &[u8] {
        use std::fmt::Write;
        self.json.clear();
        let prev = self.last_update_id;
        self.last_update_id += 1;
        let _ = write!(
            self.json,
            r#"{{"stream":"btcusdt@depth@0ms","data":{{"e":"depthUpdate","E":1,"T":1,"s":"BTCUSDT","U":{u},"u":{u},"pu":{prev},"b":[["{}","{}.{:03}"]],"a":[["{}","{}.{:03}"]]}}}}"#,
            Self::BID,
            bid_lots / 1000,
            bid_lots % 1000,
            Self::ASK,
            ask_lots / 1000,
            ask_lots % 1000,
            u = self.last_update_id,
        );
        self.json.as_bytes()
    }
}

/// `config` with the Decide agent deciding on every `Confirmed` and nothing else: threshold 0
/// (any nonzero edge trades), no quote cadence. Benchmarks and tests that need one decision
/// per signal pair use it.
pub fn deciding_every_confirmed(config: &LoopConfig) -> LoopConfig {
    let mut config = config.clone();
    config.alpha.min_edge = 0.0;
    config.alpha.cadence_ms = 0;
    config
}

/// Run `warmup` untimed and `iterations` timed closed-loop iterations.
pub fn bench_loop(config: &LoopConfig, warmup: u64, iterations: u64) -> Result<LoopBenchReport, LoopError> {
    let config = &deciding_every_confirmed(config);
    let mut five_step = FiveStepLoop::start(config, &synthetic_history(config.assets.len()))?;
    let workers = five_step.worker_names().iter().map(|s| (*s).to_owned()).collect();
    // The first configured asset, the one with market data.
    let asset =
        config.assets.first().and_then(|a| five_step.registry().lookup(&a.symbol)).ok_or(LoopError::NoAssets)?;
    let origin = config.node.origin_node;
    let mut table = LatencyTable::new(Stage::Ingest, Stage::Execute);
    let mut intents = 0u64;
    let mut quoted_at: Option<u64> = None;
    let mut quotes = 0u64;
    for i in 0..warmup + iterations {
        if i == warmup {
            table.reset();
            intents = 0;
        }
        let now = monotonic_ns();
        if quoted_at.is_none_or(|at| now.saturating_sub(at) >= QUOTE_INTERVAL_NS) {
            quotes += 1;
            five_step.inject(quote_frame(origin, quotes, asset, 600_000), |_| {});
            quoted_at = Some(now);
        }
        let (book, sentiment) = signal_pair(origin, i, asset, 600_000);
        let arrived = std::cell::Cell::new(false);
        let mut on_output = |frame: &FrameBuf| {
            if frame.header().frame_type.get() == FrameType::OrderIntent as u16 {
                table.record(frame.header());
                intents += 1;
            }
            arrived.set(true);
        };
        five_step.inject(book, &mut on_output);
        five_step.inject(sentiment, &mut on_output);
        while !arrived.get() {
            if !five_step.poll_output(&mut on_output) {
                std::hint::spin_loop();
            }
        }
    }
    let stage_stats = five_step.finish(|_| {})?;
    Ok(LoopBenchReport { latency: table.summary(), iterations, warmup, workers, order_intents: intents, stage_stats })
}
