//! The loop benchmarks behind `qpctl bench loop` and the criterion bench.
//!
//! **News text in → order bytes ready** ([`bench_headline_loop`], the default of `qpctl bench
//! loop`): each iteration hands the loop a Binance depth diff (feed, book, quote,
//! AlphaScanner's book signal) and then a headline naming Bitcoin; SentimentX scores it on the
//! ingest side, Confirm joins it with the book signal, Decide decides, RiskSentinel approves,
//! and its `RiskApproved<OrderIntent>`, taken off the approved-order ring on the feeder thread,
//! becomes a FIX NewOrderSingle in an offline session through `qp-fix-venue`'s `OrderGateway`. Latency per agent ([`HEADLINE_STAGES`]) and end to end,
//! from the moment the text is handed to the loop ([`HEADLINE_NOTE`] says exactly what each
//! figure holds). On the path from text to bytes nothing allocates after warm-up
//! (`tests/zero_alloc.rs`).
//!
//! **Signal frames in → order intent out** ([`bench_loop`], `qpctl bench loop --from frames`):
//! each iteration injects a book signal and a sentiment signal that confirm
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
use qp_fix::session::{LastMessageStore, MessageStore};
use qp_risk_model::ReturnMatrix;
use qp_runtime::clock::monotonic_ns;
use qp_runtime::{LatencyHistogram, LatencySummary, LatencyTable, Percentiles, StageStats};
use qp_wire::{AssetId, BookSignal, BookSignalKind, FrameBuf, FrameType, Quote, SentimentSignal, Stage};
use serde::Serialize;

use crate::config::LoopConfig;
use crate::five_step::{FiveStepLoop, LoopError};

/// What `qpctl bench loop --from frames --json` prints.
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
/// (any nonzero edge trades), no quote cadence, Guardian and NeuralArb off. Benchmarks and tests that need one decision
/// per signal pair use it.
pub fn deciding_every_confirmed(config: &LoopConfig) -> LoopConfig {
    let mut config = config.clone();
    config.alpha.min_edge = 0.0;
    config.alpha.cadence_ms = 0;
    // Only Decide's decisions: no other agent trades in the benchmarks.
    config.guardian = None;
    config.arb = None;
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
            let frame_type = frame.header().frame_type.get();
            if frame_type == FrameType::OrderIntent as u16 {
                table.record(frame.header());
                intents += 1;
            }
            // The decision comes out first (risk's record of it); the iteration ends at its
            // intent or veto.
            arrived.set(arrived.get() || frame_type != FrameType::Decision as u16);
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

// ---------------------------------------------------------------------------------------------
// News text in → order bytes ready: the default of `qpctl bench loop`.

/// Realistic headlines that name Bitcoin and nothing else the alias table knows, so that
/// SentimentX emits one signal per text, for BTCUSDT. Even ones read bullish, odd ones
/// bearish; the book side of each iteration leans the same way.
pub const BTC_HEADLINES: [&str; 8] = [
    "Bitcoin surges to a record as ETF inflows jump",
    "Bitcoin plunges after exchange hack, analysts see losses",
    "BTC climbs above $60,000 as institutional buyers return",
    "Bitcoin slides as regulators tighten rules on crypto trading",
    "Bitcoin rallies after the Fed signals rate cuts",
    "BTC falls 8% as leveraged long positions are liquidated",
    "Bitcoin gains as spot ETFs see record daily inflows",
    "Bitcoin drops to a three-week low amid risk-off selling",
];

/// The stage names of the headline bench: the agents between the text and the order bytes, in
/// path order, and AlphaScanner's book side just before the text ([`HEADLINE_NOTE`]).
pub const HEADLINE_STAGES: [&str; 6] = ["alphascanner", "sentimentx", "confirm", "decide", "risksentinel", "fix"];

/// How long an iteration waits for its order intent (or veto) before the bench gives up.
const ITERATION_TIMEOUT_NS: u64 = 10_000_000_000;

/// Why the headline bench could not run.
#[derive(Debug, thiserror::Error)]
pub enum LoopBenchError {
    #[error(transparent)]
    Loop(#[from] LoopError),
    #[error("FIX order gateway: {0}")]
    Gateway(#[from] qp_fix_venue::GatewayError),
    #[error("the headline bench needs BTCUSDT as the first configured asset, not {0}")]
    FirstAsset(String),
    #[error("iteration {iteration}: {what}")]
    Iteration { iteration: u64, what: &'static str },
}

/// What `qpctl bench loop --json` prints (the default, `--from headlines`).
#[derive(Debug, Serialize)]
pub struct HeadlineLoopReport {
    pub mode: &'static str,
    /// `stages`: one entry per agent ([`HEADLINE_STAGES`]); `loop`: text arrival → order bytes
    /// ready, per iteration.
    #[serde(flatten)]
    pub latency: LatencySummary,
    /// Timed each iteration but not on the path from the text to the bytes: `execute`, the
    /// intent frame from the risk stage through the Execute stage to the loop's output (the
    /// audit trail's copy; the order itself left on the approved-order ring).
    pub off_path: std::collections::BTreeMap<&'static str, Percentiles>,
    pub iterations: u64,
    pub warmup: u64,
    pub workers: Vec<String>,
    pub order_intents: u64,
    /// Decisions RiskSentinel vetoed (no bytes; not timed).
    pub vetoes: u64,
    /// Length of the last NewOrderSingle (the bytes that were ready).
    pub order_bytes: usize,
    pub headlines: usize,
    /// The FIX session's message store (what `fix` includes).
    pub fix_store: &'static str,
    /// Subtracted from each timed gateway call.
    pub clock_overhead_ns: u64,
    pub stage_stats: Vec<StageStats>,
    pub note: &'static str,
}

/// What the headline bench's report says about its method.
pub const HEADLINE_NOTE: &str = "each iteration: a Binance depth diff for BTCUSDT (alphascanner = feed decode, book, \
    quote, AlphaScanner's book signal, DarkPoolScan; before the text, not in loop) then a headline naming Bitcoin; \
    the clock starts when the text is handed to the loop. sentimentx = text -> SentimentSignal stamped (alias \
    matching, featurizer, int8 model); confirm, decide = ring hop + work, off the frame stamps; risksentinel = \
    from Decide's stamp to the RiskApproved<OrderIntent> taken off the approved-order ring on the feeder thread \
    (ring hop, RiskSentinel's checks, approved-order ring hop); fix = qp-fix-venue OrderGateway::submit of that \
    approval into a logged-on offline FIX session (ClOrdID, NewOrderSingle encode, store copy, queued in the \
    outbound buffer: the order bytes ready), clock overhead subtracted; loop = text handed to the loop -> order \
    bytes ready, on the feeder thread's clock. The loop's own RiskSentinel makes the approval the gateway takes; \
    the bench reports each order back to it as expired (no venue answers), releasing its reservation";

#[derive(Debug)]
struct HeadlineHistograms {
    stages: [LatencyHistogram; 6],
    whole_loop: LatencyHistogram,
    /// The intent frame's hop through the Execute stage (off the order path).
    execute: LatencyHistogram,
}

impl HeadlineHistograms {
    fn new() -> Self {
        Self {
            stages: std::array::from_fn(|_| LatencyHistogram::new()),
            whole_loop: LatencyHistogram::new(),
            execute: LatencyHistogram::new(),
        }
    }

    fn reset(&mut self) {
        self.stages.iter_mut().for_each(LatencyHistogram::reset);
        self.whole_loop.reset();
        self.execute.reset();
    }
}

/// The headline bench, one iteration at a time (the zero-allocation test drives it too):
/// a depth diff and a headline that confirm each other, the decision, RiskSentinel's
/// approval taken off the approved-order ring, and that approval encoded as a FIX
/// NewOrderSingle by the order gateway.
pub struct HeadlineLoopBench<S: MessageStore = LastMessageStore> {
    five_step: FiveStepLoop,
    market: SyntheticMarket,
    gateway: qp_fix_venue::OrderGateway,
    session: qp_fix::session::Session<'static, S>,
    clock_overhead_ns: u64,
    histograms: HeadlineHistograms,
    intents: u64,
    vetoes: u64,
    order_bytes: usize,
}

impl<S: MessageStore> std::fmt::Debug for HeadlineLoopBench<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadlineLoopBench").field("five_step", &self.five_step).field("intents", &self.intents).finish()
    }
}

impl HeadlineLoopBench {
    /// [`HeadlineLoopBench::start_with_store`] with a [`LastMessageStore`].
    pub fn start(config: &LoopConfig, orders: u64) -> Result<Self, LoopBenchError> {
        Self::start_with_store(config, orders, LastMessageStore::new())
    }
}

/// One order taken off the approved-order ring and encoded.
#[derive(Debug, Clone, Copy)]
struct Submitted {
    intent_id: u64,
    popped_ns: u64,
    bytes_ready_ns: u64,
    submit_ns: u64,
}

impl<S: MessageStore> HeadlineLoopBench<S> {
    /// Starts the loop (Decide deciding on every `Confirmed`, the approved orders left to this
    /// bench), brings the first asset's book in sync, and logs an offline FIX session over
    /// `store` on. `orders` sizes the gateway's order table.
    pub fn start_with_store(config: &LoopConfig, orders: u64, store: S) -> Result<Self, LoopBenchError> {
        use qp_fix_venue::trade::trade_instrument;
        use qp_fix_venue::{GatewayConfig, OrderGateway, VenueInstrument};

        let config = &deciding_every_confirmed(config);
        let first = config.assets.first().ok_or(LoopError::NoAssets)?;
        if first.symbol != "BTCUSDT" {
            // The synthetic depth diffs are BTCUSDT's, and the headlines name Bitcoin.
            return Err(LoopBenchError::FirstAsset(first.symbol.clone()));
        }
        let mut five_step = FiveStepLoop::start_with_caller_execution(config, &synthetic_history(config.assets.len()))?;
        let asset = five_step.registry().lookup(&first.symbol).ok_or(LoopError::NoAssets)?;
        let mut market = SyntheticMarket::default();
        five_step.ingest_market(0, 0, market.snapshot(1_000, 1_000), |_| {});
        five_step.ingest_market(0, 1, market.depth(1_000, 1_000), |_| {});
        // Decimals validated 0..=9 with the configuration.
        let scale = qp_fix::Scale::new(first.price_decimals as u8, first.qty_decimals as u8);
        // The venue's instrument under the loop's own asset id: the loop's approvals go to it.
        let instrument = qp_risk_sentinel::InstrumentSpec { asset, ..trade_instrument(&first.symbol, scale) };
        let gateway = OrderGateway::new(
            vec![VenueInstrument::from_spec(&instrument)],
            GatewayConfig { expected_orders: orders as usize + 16, ..GatewayConfig::default() },
        )?;
        let session = qp_fix_venue::roundtrip::offline_session("QPNODE", "EXCH", store, qp_fix_venue::unix_now_ns());
        Ok(Self {
            five_step,
            market,
            gateway,
            session,
            clock_overhead_ns: qp_runtime::clock_overhead_ns(),
            histograms: HeadlineHistograms::new(),
            intents: 0,
            vetoes: 0,
            order_bytes: 0,
        })
    }

    /// Forget what was timed and counted so far (after warm-up).
    pub fn reset(&mut self) {
        self.histograms.reset();
        self.intents = 0;
        self.vetoes = 0;
    }

    pub fn order_intents(&self) -> u64 {
        self.intents
    }

    pub fn vetoes(&self) -> u64 {
        self.vetoes
    }

    /// Orders the gateway has encoded (one per approved intent).
    pub fn orders_sent(&self) -> usize {
        self.gateway.orders_known()
    }

    /// Take the approval waiting on the approved-order ring, if there is one, and encode it.
    fn submit_approved(&mut self) -> Result<Option<Submitted>, LoopBenchError> {
        let Some(approved) = self.five_step.next_approved() else { return Ok(None) };
        let popped_ns = monotonic_ns();
        let intent_id = approved.get().intent_id.get();
        let submitted = self.gateway.submit(&mut self.session, qp_fix_venue::unix_now_ns(), approved);
        let bytes_ready_ns = monotonic_ns();
        if let Err(refused) = submitted {
            return Err(refused.error.into());
        }
        self.order_bytes = self.session.outbound().len();
        self.session.consume_outbound(usize::MAX);
        let submit_ns = bytes_ready_ns.saturating_sub(popped_ns).saturating_sub(self.clock_overhead_ns);
        Ok(Some(Submitted { intent_id, popped_ns, bytes_ready_ns, submit_ns }))
    }

    /// One iteration: the book side's depth diff, then the headline; takes the approval off the
    /// approved-order ring and encodes it as FIX bytes (or counts a veto), and waits for the
    /// intent frame whose stamps time the stages.
    pub fn iteration(&mut self, i: u64) -> Result<(), LoopBenchError> {
        use std::cell::Cell;
        let bullish = i.is_multiple_of(2);
        // 1.2 s apart in feed time: past AlphaScanner's 1 s imbalance window, so each
        // diff's flow stands alone and signals.
        let ts = 1_000_000_000 + i * 1_200_000_000;
        let (bid, ask) = if bullish { (9_000, 1_000) } else { (1_000, 9_000) };
        let text = BTC_HEADLINES[(i as usize) % BTC_HEADLINES.len()];
        let intent_frame: Cell<Option<(FrameBuf, u64)>> = Cell::new(None);
        let vetoed = Cell::new(false);
        let on_output = |frame: &FrameBuf| {
            let frame_type = frame.header().frame_type.get();
            if frame_type == FrameType::OrderIntent as u16 {
                intent_frame.set(Some((*frame, monotonic_ns())));
            } else if frame_type == FrameType::RiskVerdict as u16 {
                vetoed.set(true);
            }
        };
        let market_start = monotonic_ns();
        self.five_step.ingest_market(0, ts, self.market.depth(bid, ask), on_output);
        let text_arrived = monotonic_ns();
        self.five_step.ingest_headline(ts, text, on_output);
        let mut submitted = None;
        loop {
            if submitted.is_none() {
                submitted = self.submit_approved()?;
            }
            if vetoed.get() || (submitted.is_some() && intent_frame.get().is_some()) {
                break;
            }
            if !self.five_step.poll_output(on_output) {
                if monotonic_ns().saturating_sub(text_arrived) > ITERATION_TIMEOUT_NS {
                    return Err(LoopBenchError::Iteration {
                        iteration: i,
                        what: "no order intent or veto within 10 s",
                    });
                }
                std::hint::spin_loop();
            }
        }
        let (Some(order), Some((frame, received))) = (submitted, intent_frame.get()) else {
            self.vetoes += 1;
            return Ok(());
        };
        let Ok(qp_wire::FrameRef::OrderIntent(framed)) = frame.decode() else {
            return Err(LoopBenchError::Iteration { iteration: i, what: "an undecodable order intent" });
        };
        let intent = *framed.payload;
        if intent.intent_id.get() != order.intent_id {
            return Err(LoopBenchError::Iteration {
                iteration: i,
                what: "the intent frame is not the approved order's",
            });
        }
        // Untimed: no venue answers; the order is reported expired, so RiskSentinel releases it.
        self.five_step.report_execution(
            &qp_wire::ExecReport {
                intent_id: intent.intent_id,
                asset: intent.asset,
                side: intent.side,
                status: qp_wire::ExecStatus::Canceled as u8,
                _pad: 0u16.into(),
                last_qty: 0i64.into(),
                last_price: 0i64.into(),
                cum_qty: 0i64.into(),
                leaves_qty: 0i64.into(),
            },
            |_| {},
        );
        let header = frame.header();
        let stamps = [Stage::Ingest, Stage::Confirm, Stage::Decide, Stage::Risk].map(|s| header.stamp(s));
        let [Some(ingest), Some(confirm), Some(decide), Some(risk)] = stamps else {
            return Err(LoopBenchError::Iteration { iteration: i, what: "an intent missing a stage stamp" });
        };
        let h = &mut self.histograms;
        let parts = [
            text_arrived.saturating_sub(market_start),
            ingest.saturating_sub(text_arrived),
            confirm.saturating_sub(ingest),
            decide.saturating_sub(confirm),
            order.popped_ns.saturating_sub(decide),
            order.submit_ns,
        ];
        for (histogram, ns) in h.stages.iter_mut().zip(parts) {
            histogram.record(ns);
        }
        h.whole_loop.record(order.bytes_ready_ns.saturating_sub(text_arrived).saturating_sub(self.clock_overhead_ns));
        h.execute.record(received.saturating_sub(risk));
        self.intents += 1;
        Ok(())
    }

    /// Stops the loop and reports; `fix_store` names the session's store.
    pub fn finish(
        self,
        iterations: u64,
        warmup: u64,
        fix_store: &'static str,
    ) -> Result<HeadlineLoopReport, LoopBenchError> {
        let workers = self.five_step.worker_names().iter().map(|s| (*s).to_owned()).collect();
        let h = &self.histograms;
        let latency = LatencySummary {
            stages: HEADLINE_STAGES.iter().zip(&h.stages).map(|(name, h)| (*name, h.percentiles())).collect(),
            whole_loop: h.whole_loop.percentiles(),
        };
        let off_path = [("execute", h.execute.percentiles())].into_iter().collect();
        let (intents, vetoes, order_bytes, clock_overhead_ns) =
            (self.intents, self.vetoes, self.order_bytes, self.clock_overhead_ns);
        let stage_stats = self.five_step.finish(|_| {})?;
        Ok(HeadlineLoopReport {
            mode: "headlines",
            latency,
            off_path,
            iterations,
            warmup,
            workers,
            order_intents: intents,
            vetoes,
            order_bytes,
            headlines: BTC_HEADLINES.len(),
            fix_store,
            clock_overhead_ns,
            stage_stats,
            note: HEADLINE_NOTE,
        })
    }
}

/// Run `warmup` untimed and `iterations` timed headline iterations (news text in → order
/// bytes ready), the FIX session over `store` (named `store_name` in the report).
pub fn bench_headline_loop<S: MessageStore>(
    config: &LoopConfig,
    warmup: u64,
    iterations: u64,
    store: S,
    store_name: &'static str,
) -> Result<HeadlineLoopReport, LoopBenchError> {
    let mut bench = HeadlineLoopBench::start_with_store(config, warmup + iterations, store)?;
    for i in 0..warmup + iterations {
        if i == warmup {
            bench.reset();
        }
        bench.iteration(i)?;
    }
    bench.finish(iterations, warmup, store_name)
}
