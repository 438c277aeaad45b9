//! The loop benchmark behind `qpctl bench loop` and the criterion bench.
//!
//! Closed loop, without model inference: each iteration injects a book signal
//! and a sentiment signal that confirm each other, then waits for the order
//! intent at the far end. Latency is read off the intent's stamps (Ingest →
//! Execute, and each stage's share), so it is the pipeline's own measure.
use qp_runtime::{LatencySummary, LatencyTable, StageStats};
use qp_wire::{AssetId, BookSignal, BookSignalKind, FrameBuf, FrameType, SentimentSignal, Stage};
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

/// Run `warmup` untimed and `iterations` timed closed-loop iterations.
pub fn bench_loop(config: &LoopConfig, warmup: u64, iterations: u64) -> Result<LoopBenchReport, LoopError> {
    let mut five_step = FiveStepLoop::start(config)?;
    let workers = five_step.worker_names().iter().map(|s| (*s).to_owned()).collect();
    // The first configured asset, the one with market data.
    let asset =
        config.assets.first().and_then(|a| five_step.registry().lookup(&a.symbol)).ok_or(LoopError::NoAssets)?;
    let origin = config.node.origin_node;
    let mut table = LatencyTable::new(Stage::Ingest, Stage::Execute);
    let mut intents = 0u64;
    for i in 0..warmup + iterations {
        if i == warmup {
            table.reset();
            intents = 0;
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
