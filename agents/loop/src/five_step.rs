use qp_alpha::{AlphaModel, AlphaModelError, DecideAgent, DecideConfig, DecisionPolicy, ModelIdentity};
use qp_alpha_scanner::{
    AlphaScanner, AlphaScannerConfig, ImbalanceConfig, LiquidityDropConfig, MarketEvent, MarketUpdate,
    ScannerConfigError, SpoofingConfig,
};
use qp_book::BookError;
use qp_book::L2Book;
use qp_darkpool_scan::{DarkPoolConfig, DarkPoolConfigError, DarkPoolScan};
use qp_fill_sim::{FillSimConfig, QueueModel};
use qp_risk_model::ReturnMatrix;
use qp_risk_sentinel::{
    ApprovedOrderConsumer, CommandError, InstrumentSpec, KillSwitchCommand, RiskCommandError, RiskCommandOutcome,
    RiskCommandSender, RiskSentinel, RiskSentinelAgent, SentinelError, approved_order_ring, risk_command_ring,
};
use qp_runtime::Agent;
use qp_runtime::clock::monotonic_ns;
use qp_runtime::{
    AgentContext, IngestAgent, LatencyHistogram, Outbox, Percentiles, Pipeline, RateLimiter, RuntimeError, StageStats,
};
use qp_sentiment::agent::{NativeModel, SentimentX, TextEvent};
use qp_sentiment::assets::{AliasError, AliasTable};
use qp_sentiment::student::StudentError;
use qp_wire::{AssetId, AssetRegistry, FrameBuf, FrameRef, RegistryError, Stage};

use crate::agents::baseline_execution::{BaselineExecution, LoopOrderSink};
use crate::agents::confirm::SignalJoiner;
use crate::agents::decision_record::DecisionRecord;
use crate::agents::execution_handoff::ExecutionHandoff;
use crate::agents::lockstep::{self, FeedClockRisk};
use crate::agents::portfolio::{PortfolioAgents, PortfolioError, PortfolioSummary};
use crate::agents::quote_publisher::QuotePublisher;
use crate::agents::sim_execution::{AssetExecution, ExecEvent, ExecutionSummary, SimExecution};
use crate::config::{ConfigError, ExecutionVenue, LoopConfig, QueueModelConfig};
use crate::market_feed::MarketFeed;

/// Why the loop could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoopError {
    #[error("asset registry: {0}")]
    Registry(#[from] RegistryError),
    #[error("runtime: {0}")]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Aliases(#[from] AliasError),
    #[error("no asset is configured")]
    NoAssets,
    #[error("SentimentX model: {0}")]
    Model(#[from] StudentError),
    #[error("AlphaScanner configuration: {0}")]
    Scanner(#[from] ScannerConfigError),
    #[error("DarkPoolScan configuration: {0}")]
    DarkPool(#[from] DarkPoolConfigError),
    #[error("asset {symbol}: {source}")]
    AssetGrid { symbol: String, source: BookError },
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// RiskSentinel refused its instruments, history or limits; `source_name` is the limits file.
    #[error("risk limits {source_name}: {source}")]
    Risk { source_name: String, source: SentinelError },
    #[error("risk sentinel: reconciling flat positions: {0}")]
    Reconcile(#[from] CommandError),
    /// The Decide agent's model could not be loaded; the message names the model file.
    #[error("Decide agent: {0}")]
    Alpha(#[from] AlphaModelError),
    #[error(transparent)]
    Portfolio(#[from] PortfolioError),
}

/// What the ingest side refused or could not use, so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestCounts {
    /// Market-data messages the feed decoder refused (bad JSON, off-grid prices).
    pub feed_errors: u64,
    /// Events an ingest agent refused (bad data).
    pub agent_errors: u64,
    /// Market data for an instrument index the loop was not started with.
    pub unknown_instrument: u64,
    /// Frames handed to [`FiveStepLoop::inject`] that only this node makes (decisions, order
    /// intents, verdicts, execution reports): refused there.
    pub refused_injected: u64,
}

/// The five steps running: ingest agents on the caller's thread, the other four
/// as pipeline stages. Outputs (order intents and vetoes, stamped through
/// Execute) go to the `on_output` callback of each call.
pub struct FiveStepLoop {
    registry: AssetRegistry,
    pipeline: Pipeline,
    sentiment: SentimentX<NativeModel>,
    /// One per configured asset, in configuration order.
    feeds: Vec<(AssetId, MarketFeed)>,
    scanner: AlphaScanner,
    darkpool: DarkPoolScan,
    quotes: QuotePublisher,
    /// Takes the risk stage's approved orders: the stand-in, or in a replay the fill simulator
    /// (the FIX executors' place, issue 6).
    execution: ExecutionSide,
    /// A replay's feed clock and lockstep ([`FiveStepLoop::start_replay`]); `None`: free-running.
    replay: Option<ReplayClock>,
    /// Lockstep markers seen at the loop's output (the latest sequence number).
    markers_seen: u64,
    /// Execution reports sent back in a replay, not yet taken ([`FiveStepLoop::drain_exec_events`]).
    journal: Vec<ExecEvent>,
    origin: u32,
    /// Frame sequence of the simulated venue's execution reports.
    report_seq: u64,
    /// The risk stage's command ring: limits reloads and kill-switch commands.
    risk_commands: RiskCommandSender,
    reports_sent: u64,
    outbox: Outbox,
    /// Time inside the ingest agents, per event that produced frames.
    ingest_time: LatencyHistogram,
    counts: IngestCounts,
    /// A bad feed is logged once a second, with a count of what was not.
    feed_log: RateLimiter,
    /// The Decide agent's model: name and file digest (the audit trail names it).
    decide_model: ModelIdentity,
    /// NeuralArb, Guardian and LiquidityFlow (`[arb]`, `[guardian]`), on this thread.
    portfolio: PortfolioAgents,
    /// Their decisions on the way to the Confirm step (reused).
    portfolio_frames: Vec<FrameBuf>,
}

/// What takes the risk stage's approved orders.
#[derive(Debug)]
enum ExecutionSide {
    /// Every order reported expired unfilled (`baseline_execution`).
    Expire(BaselineExecution),
    /// `qp-fill-sim` against the replayed book.
    Simulated(Box<SimExecution>),
    /// The caller takes them ([`FiveStepLoop::next_approved`]) and reports back
    /// ([`FiveStepLoop::report_execution`]): an order gateway, a benchmark.
    Caller(CallerExecution),
}

#[derive(Debug)]
struct CallerExecution {
    ring: ApprovedOrderConsumer,
    taken: u64,
    reports: u64,
}

/// A replay's clock: the feed time of the event being handled, and the markers sent.
#[derive(Debug, Clone, Copy, Default)]
struct ReplayClock {
    now_ns: u64,
    markers_sent: u64,
}

/// How long the feeder waits for a lockstep marker before it gives up on the lockstep (a stage
/// that stopped: logged, and the replay goes on free-running).
const MARKER_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// What [`FiveStepLoop::finish_replay`] hands back.
#[derive(Debug, Clone)]
pub struct LoopFinish {
    /// Every stage's counters.
    pub stats: Vec<StageStats>,
    /// What the execution side did.
    pub execution: ExecutionSummary,
    /// What NeuralArb, Guardian and LiquidityFlow did.
    pub portfolio: PortfolioSummary,
}

/// An asset's synchronised book, if it has one.
fn book_of(feeds: &[(AssetId, MarketFeed)], asset: AssetId) -> Option<&L2Book> {
    feeds.iter().find(|(id, feed)| *id == asset && feed.is_synchronised()).map(|(_, feed)| feed.book())
}

/// `on_output` with the lockstep markers taken off (their sequence numbers go to `seen`), and
/// intents and vetoes shown to the portfolio agents (those of their decisions are theirs).
fn deliver<'a>(
    seen: &'a mut u64,
    portfolio: &'a mut PortfolioAgents,
    now_ns: u64,
    on_output: &'a mut impl FnMut(&FrameBuf),
) -> impl FnMut(&FrameBuf) + 'a {
    move |frame| match lockstep::marker_of(frame) {
        Some((seq, _)) => *seen = (*seen).max(seq),
        None => {
            if portfolio.is_active() {
                portfolio.on_output(now_ns, frame);
            }
            on_output(frame)
        }
    }
}

/// The loop's time for the portfolio agents: feed time in a replay, else the monotonic clock.
fn loop_now(replay: Option<ReplayClock>) -> u64 {
    replay.map_or_else(monotonic_ns, |clock| clock.now_ns)
}

impl std::fmt::Debug for FiveStepLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FiveStepLoop").field("pipeline", &self.pipeline).finish()
    }
}

/// Room on the approved-order ring between the risk stage and the execution side.
const APPROVED_RING_CAPACITY: usize = 1024;
/// Room on the risk stage's command ring (and its outcome ring): commands are rare.
const RISK_COMMAND_RING_CAPACITY: usize = 16;

impl FiveStepLoop {
    /// Register the configured assets and start the stages. `history` is RiskSentinel's VaR
    /// history, one column per configured asset in `[[assets]]` order (see
    /// [`crate::history::load_history`]).
    ///
    /// Positions start **reconciled flat**: the loop has no venue to ask. A live node
    /// reconciles with the venue before trading (the FIX executors, issue 6).
    ///
    /// Free-running, on the node's monotonic clock, with the stand-in execution side (every
    /// approved order reported expired unfilled): the loop the benchmarks time. A replay of
    /// recordings uses [`FiveStepLoop::start_replay`].
    pub fn start(config: &LoopConfig, history: &ReturnMatrix) -> Result<Self, LoopError> {
        Self::build(config, history, false, false)
    }

    /// As [`FiveStepLoop::start`], the risk stage's approved orders left to the caller: it takes
    /// each with [`FiveStepLoop::next_approved`] (a `RiskApproved<OrderIntent>`, what an order
    /// gateway takes) and reports what became of it with [`FiveStepLoop::report_execution`],
    /// so RiskSentinel releases or books it.
    pub fn start_with_caller_execution(config: &LoopConfig, history: &ReturnMatrix) -> Result<Self, LoopError> {
        Self::build(config, history, false, true)
    }

    /// The loop for a replay of recordings (`qp-node demo`, `qpctl backtest`): deterministic.
    ///
    /// - **Feed time.** The ingest agents and the risk stage run on the events' feed time (the
    ///   `ts_ns` handed to [`FiveStepLoop::ingest_market`] and
    ///   [`FiveStepLoop::ingest_headline`]), not the wall clock: price ages, order rates and
    ///   quote refreshes are the recording's.
    /// - **Lockstep.** Each ingest call waits until the stages have handled every frame it
    ///   pushed (`agents::lockstep`), so the outputs come back within the call and the approved
    ///   orders reach the execution side at the event's feed time.
    /// - **Execution** is `[execution]`: the fill simulator (`qp-fill-sim`) fed with the same
    ///   book changes and trade prints as the agents, or the `expire` stand-in. Its execution
    ///   reports go back to the head of the loop (RiskSentinel's positions are real) and to
    ///   [`FiveStepLoop::drain_exec_events`].
    ///
    /// The same recordings and configuration give the same output frames (but for their stage
    /// stamps, which measure this run's latency) and the same execution reports, bit for bit.
    pub fn start_replay(config: &LoopConfig, history: &ReturnMatrix) -> Result<Self, LoopError> {
        Self::build(config, history, true, false)
    }

    fn build(config: &LoopConfig, history: &ReturnMatrix, replay: bool, caller: bool) -> Result<Self, LoopError> {
        // SentimentX's alias table names the assets texts can be about; the
        // configured assets (those with market data) are among them or added.
        let mut registry = AssetRegistry::new();
        let aliases = AliasTable::embedded(&mut registry)?;
        let mut instruments = Vec::new();
        let mut feeds = Vec::new();
        for asset in &config.assets {
            let id = registry.intern(&asset.symbol)?;
            instruments.push(InstrumentSpec {
                asset: id,
                symbol: asset.symbol.clone(),
                class: asset.class.clone(),
                groups: asset.groups.clone(),
                // Validated 0..=9 with the configuration.
                price_decimals: asset.price_decimals as u8,
                qty_decimals: asset.qty_decimals as u8,
                contract_multiplier: 1,
            });
            let feed = MarketFeed::new(asset.price_decimals, asset.qty_decimals)
                .map_err(|source| LoopError::AssetGrid { symbol: asset.symbol.clone(), source })?;
            feeds.push((id, feed));
        }
        // RiskSentinel guards the configured assets (others are vetoed UnknownPosition).
        let limits = config.risk_limits()?;
        let risk_error = |source| LoopError::Risk { source_name: limits.source_name.clone(), source };
        let flat: Vec<(AssetId, i64)> = instruments.iter().map(|i| (i.asset, 0)).collect();
        let mut sentinel = RiskSentinel::new(instruments, history, &limits.text).map_err(risk_error)?;
        sentinel.reconciled(&flat)?;
        let (approved, approved_out) = approved_order_ring(APPROVED_RING_CAPACITY);
        let (risk_commands, risk_command_receiver) = risk_command_ring(RISK_COMMAND_RING_CAPACITY, &sentinel);
        let assets = registry.len();
        let origin = config.node.origin_node;
        let decide = decide_agent(config, assets)?;
        let decide_model = decide.model_identity().clone();
        let risk = RiskSentinelAgent::new(sentinel, LoopOrderSink::new(approved)).with_commands(risk_command_receiver);
        // Each decision goes on to the output ahead of its verdict: the audit trail records both.
        let risk: Box<dyn Agent> = if replay {
            Box::new(DecisionRecord::new(FeedClockRisk::new(risk)))
        } else {
            Box::new(DecisionRecord::new(risk))
        };
        let execution = match (replay, config.execution.venue) {
            _ if caller => ExecutionSide::Caller(CallerExecution { ring: approved_out, taken: 0, reports: 0 }),
            (true, ExecutionVenue::FillSim) => {
                let sim = FillSimConfig {
                    latency_ns: config.execution.latency_us.saturating_mul(1_000),
                    queue_model: match config.execution.queue_model {
                        QueueModelConfig::Pessimistic => QueueModel::Pessimistic,
                        QueueModelConfig::Proportional => QueueModel::Proportional,
                    },
                };
                let accounts = feeds
                    .iter()
                    .zip(&config.assets)
                    .map(|((id, _), asset)| (*id, asset.symbol.clone(), asset.price_decimals, asset.qty_decimals));
                ExecutionSide::Simulated(Box::new(SimExecution::new(
                    approved_out,
                    sim,
                    config.execution.fee_bp,
                    accounts,
                )))
            }
            _ => ExecutionSide::Expire(BaselineExecution::new(approved_out, origin)),
        };
        let pipeline = Pipeline::builder()
            .stage(Stage::Confirm, Box::new(SignalJoiner::new(assets, config.confirm.window_ms * 1_000_000)))
            .stage(Stage::Decide, Box::new(decide))
            .stage(Stage::Risk, risk)
            .stage(Stage::Execute, Box::new(ExecutionHandoff))
            .ring_capacity(config.runtime.ring_capacity)
            .placement(config.runtime.placement)
            .pin_threads(config.runtime.pin_threads)
            .backoff(config.runtime.backoff)
            .start()?;
        let IngestAgents { sentiment, scanner, darkpool, quotes } = IngestAgents::new(config, assets, aliases)?;
        let configured: Vec<AssetId> = feeds.iter().map(|(id, _)| *id).collect();
        let portfolio = PortfolioAgents::new(config, &configured)?;
        Ok(Self {
            registry,
            pipeline,
            sentiment,
            feeds,
            scanner,
            darkpool,
            quotes,
            execution,
            replay: replay.then(ReplayClock::default),
            markers_seen: 0,
            journal: Vec::new(),
            origin,
            report_seq: 0,
            risk_commands,
            reports_sent: 0,
            outbox: Outbox::new("ingest"),
            ingest_time: LatencyHistogram::new(),
            counts: IngestCounts::default(),
            feed_log: RateLimiter::new(1_000_000_000),
            decide_model,
            portfolio,
            portfolio_frames: Vec::with_capacity(16),
        })
    }

    /// The model the Decide agent runs: its name and the SHA-256 of its file, to be recorded
    /// in the audit trail (`qp_audit::AuditWriter::record_model`) before the decisions it makes.
    pub fn decide_model(&self) -> &ModelIdentity {
        &self.decide_model
    }

    pub fn registry(&self) -> &AssetRegistry {
        &self.registry
    }

    pub fn worker_names(&self) -> Vec<&str> {
        self.pipeline.worker_names()
    }

    /// Step 1 for a headline.
    pub fn ingest_headline(&mut self, ts_ns: u64, text: &str, on_output: impl FnMut(&FrameBuf)) {
        let start = monotonic_ns();
        let now_ns = self.begin_event(ts_ns, start);
        let event = TextEvent { ts_ns, bytes: text.as_bytes() };
        let result = self.sentiment.on_event(AgentContext { now_ns }, &event, &mut self.outbox);
        self.counts.agent_errors += u64::from(result.is_err());
        self.after_ingest(start, on_output);
    }

    /// Step 1 for one market-data message (a Binance JSON message) of the
    /// asset configured at `instrument` (its index in `assets`), received at
    /// `ts_ns` (feed time: the signals' windows run on it). The asset's feed
    /// decodes it into its book; AlphaScanner and DarkPoolScan then read the book.
    pub fn ingest_market(&mut self, instrument: usize, ts_ns: u64, json: &[u8], on_output: impl FnMut(&FrameBuf)) {
        let start = monotonic_ns();
        if instrument >= self.feeds.len() {
            self.counts.unknown_instrument += 1;
            return;
        }
        let now_ns = self.begin_event(ts_ns, start);
        let Some((asset, feed)) = self.feeds.get_mut(instrument) else { return };
        let asset = *asset;
        let ctx = AgentContext { now_ns };
        let (scanner, darkpool, quotes, outbox, counts, portfolio) = (
            &mut self.scanner,
            &mut self.darkpool,
            &mut self.quotes,
            &mut self.outbox,
            &mut self.counts,
            &mut self.portfolio,
        );
        let mut sim = match &mut self.execution {
            ExecutionSide::Simulated(sim) => Some(sim),
            ExecutionSide::Expire(_) | ExecutionSide::Caller(_) => None,
        };
        let quotes_before = outbox.pending().len();
        let fed = feed.on_message(json, |event, book| {
            let update = MarketUpdate::new(asset, ts_ns, book, event);
            // Reference prices first: a decision the scanners' signals lead to finds them.
            let quoted = quotes.on_event(ctx, &update, outbox);
            let scanned = scanner.on_event(ctx, &update, outbox);
            let judged = darkpool.on_event(ctx, &update, outbox);
            counts.agent_errors +=
                u64::from(quoted.is_err()) + u64::from(scanned.is_err()) + u64::from(judged.is_err());
            // The simulated venue sees what the agents see, in the same order.
            match (&mut sim, event) {
                (Some(sim), MarketEvent::Depth | MarketEvent::Resync) => sim.on_book(ts_ns, asset, book),
                (Some(sim), MarketEvent::Trade(print)) => sim.on_trade(ts_ns, asset, &print),
                _ => {}
            }
            if let MarketEvent::Trade(print) = event
                && portfolio.is_active()
            {
                portfolio.on_trade(now_ns, asset, &print);
            }
        });
        if portfolio.is_active() {
            // The tops of book the quote publisher just emitted.
            for frame in &outbox.pending()[quotes_before..] {
                if let Ok(qp_wire::FrameRef::Quote(f)) = frame.decode() {
                    portfolio.on_quote(now_ns, f.payload);
                }
            }
        }
        if let Err(err) = fed {
            self.counts.feed_errors += 1;
            if let Some(suppressed) = self.feed_log.check(start) {
                tracing::warn!(asset = asset.get(), error = %err, suppressed, "market-data message refused");
            }
            if self.replay.is_none() {
                return;
            }
        }
        self.after_ingest(start, on_output);
    }

    /// Hand a signal frame made elsewhere (another node, a benchmark) to the
    /// Confirm step, stamping Ingest now if it has no Ingest stamp yet.
    ///
    /// Decisions, order intents, verdicts and execution reports are refused (counted in
    /// [`IngestCounts::refused_injected`]): only this node's own agents decide, only its risk
    /// stage approves, only its venue reports. (Frames that do not decode go on, and the
    /// Confirm stage counts them refused.)
    pub fn inject(&mut self, mut frame: FrameBuf, mut on_output: impl FnMut(&FrameBuf)) {
        if matches!(
            frame.decode(),
            Ok(FrameRef::Decision(_) | FrameRef::OrderIntent(_) | FrameRef::RiskVerdict(_) | FrameRef::ExecReport(_))
        ) {
            self.counts.refused_injected += 1;
            if let Some(suppressed) = self.feed_log.check(monotonic_ns()) {
                tracing::warn!(
                    frame_type = frame.header().frame_type.get(),
                    suppressed,
                    "injected frame refused: only this node's agents decide, approve and report"
                );
            }
            return;
        }
        self.settle_approved(&mut on_output);
        if frame.header().stamp(Stage::Ingest).is_none() {
            frame.stamp(Stage::Ingest, monotonic_ns());
        }
        let now = loop_now(self.replay);
        self.pipeline.push(frame, deliver(&mut self.markers_seen, &mut self.portfolio, now, &mut on_output));
    }

    /// A replay's event at feed time `ts_ns` begins: the clock moves on and what reached the
    /// simulated venue by then is brought to the books as they stand. Answers the time the
    /// ingest agents run at: feed time in a replay, `start` (monotonic) otherwise.
    fn begin_event(&mut self, ts_ns: u64, start: u64) -> u64 {
        let Some(clock) = &mut self.replay else { return start };
        clock.now_ns = clock.now_ns.max(ts_ns);
        let now_ns = clock.now_ns;
        if let ExecutionSide::Simulated(sim) = &mut self.execution {
            let feeds = &self.feeds;
            sim.advance(now_ns, |asset| book_of(feeds, asset));
        }
        now_ns
    }

    /// The execution side's turn: take the approved orders waiting on the approved-order
    /// ring and hand their execution reports to the risk stage (through Confirm and Decide,
    /// which pass them on), so RiskSentinel releases what it reserved for them (the stand-in
    /// reports each expired; the fill simulator sends them to its book and reports what
    /// happened to orders sent earlier). Answers how many reports it pushed.
    fn settle_approved(&mut self, on_output: &mut impl FnMut(&FrameBuf)) -> u64 {
        let now = loop_now(self.replay);
        let Self {
            execution,
            pipeline,
            feeds,
            replay,
            journal,
            reports_sent,
            markers_seen,
            origin,
            report_seq,
            portfolio,
            ..
        } = self;
        let mut pushed = 0;
        match execution {
            ExecutionSide::Expire(baseline) => {
                while let Some(report) = baseline.next_exec_report() {
                    let mut frame = FrameBuf::encode(*origin, baseline.sequence(), &report);
                    frame.stamp(Stage::Ingest, monotonic_ns());
                    if let Some(clock) = replay {
                        journal.push(ExecEvent { ts_ns: clock.now_ns, report, fill: None });
                    }
                    pushed += 1;
                    if portfolio.is_active() {
                        portfolio.on_exec_report(now, &report);
                    }
                    pipeline.push(frame, deliver(markers_seen, portfolio, now, on_output));
                }
            }
            // The caller takes and reports (`next_approved`, `report_execution`).
            ExecutionSide::Caller(_) => {}
            ExecutionSide::Simulated(sim) => {
                sim.take_approved(|asset| book_of(feeds, asset));
                sim.drain(|event| {
                    *report_seq += 1;
                    let mut frame = FrameBuf::encode(*origin, *report_seq, &event.report);
                    frame.stamp(Stage::Ingest, monotonic_ns());
                    if replay.is_some() {
                        journal.push(*event);
                    }
                    pushed += 1;
                    if portfolio.is_active() {
                        portfolio.on_exec_report(now, &event.report);
                    }
                    pipeline.push(frame, deliver(markers_seen, &mut *portfolio, now, on_output));
                });
            }
        }
        *reports_sent += pushed;
        pushed
    }

    /// Whether the execution side has reports waiting to go back.
    fn reports_waiting(&self) -> bool {
        match &self.execution {
            ExecutionSide::Simulated(sim) => sim.has_events(),
            ExecutionSide::Expire(_) | ExecutionSide::Caller(_) => false,
        }
    }

    /// Push a lockstep marker at the replay's feed time; answers its sequence number.
    fn push_marker(&mut self, on_output: &mut impl FnMut(&FrameBuf)) -> u64 {
        let Some(clock) = &mut self.replay else { return 0 };
        clock.markers_sent += 1;
        let seq = clock.markers_sent;
        let now = clock.now_ns;
        let mut frame = lockstep::marker(self.origin, seq, now);
        frame.stamp(Stage::Ingest, monotonic_ns());
        self.pipeline.push(frame, deliver(&mut self.markers_seen, &mut self.portfolio, now, on_output));
        seq
    }

    /// Lockstep: a marker behind what was pushed, and wait for it at the output. Then every
    /// approved order of the event is on the approved-order ring: settle them, and again while
    /// that sends reports back.
    fn barrier(&mut self, on_output: &mut impl FnMut(&FrameBuf)) {
        loop {
            let seq = self.push_marker(on_output);
            let since = std::time::Instant::now();
            let mut idle = 0u32;
            while self.markers_seen < seq {
                let now = loop_now(self.replay);
                if self.pipeline.poll_output(deliver(&mut self.markers_seen, &mut self.portfolio, now, on_output)) {
                    idle = 0;
                    continue;
                }
                idle += 1;
                if idle < 256 {
                    std::hint::spin_loop();
                } else if since.elapsed() < MARKER_WAIT {
                    std::thread::yield_now();
                } else {
                    tracing::error!(seq, "lockstep marker not back from the stages: replay goes on without waiting");
                    self.markers_seen = seq;
                }
            }
            // Reports go back to risk, and the portfolio agents may decide again on what came
            // back: until nothing more moves.
            let reports = self.settle_approved(on_output);
            if reports == 0 && !self.push_portfolio(on_output) {
                return;
            }
        }
    }

    /// Execution reports sent back to the loop in a replay, since the last call, oldest first:
    /// each with its feed time and the fill it reports. Only [`FiveStepLoop::start_replay`]'s
    /// loop keeps them.
    pub fn drain_exec_events(&mut self, mut each: impl FnMut(&ExecEvent)) {
        for event in self.journal.drain(..) {
            each(&event);
        }
    }

    /// What NeuralArb, Guardian and LiquidityFlow have done so far.
    pub fn portfolio_summary(&self) -> PortfolioSummary {
        self.portfolio.summary()
    }

    /// What the execution side has done so far (fills, P&L marked to the last mids).
    pub fn execution_summary(&self) -> ExecutionSummary {
        let (venue, taken, expired) = match &self.execution {
            ExecutionSide::Simulated(sim) => return sim.summary(),
            ExecutionSide::Expire(baseline) => ("expire", baseline.taken(), baseline.taken()),
            // What the caller did with them is the caller's to say.
            ExecutionSide::Caller(caller) => ("caller", caller.taken, 0),
        };
        ExecutionSummary {
            venue,
            orders: taken,
            fills: 0,
            maker_fills: 0,
            taker_fills: 0,
            expired,
            rejected: 0,
            cancelled_at_end: 0,
            assets: Vec::<AssetExecution>::new(),
            slippage_bp: 0.0,
            realised: 0.0,
            unrealised: 0.0,
            fees: 0.0,
        }
    }

    /// The next approved order waiting for the caller's execution side
    /// ([`FiveStepLoop::start_with_caller_execution`]); `None` when none is, or when the loop
    /// has an execution side of its own.
    pub fn next_approved(&mut self) -> Option<qp_risk_sentinel::RiskApproved<qp_wire::OrderIntent>> {
        let ExecutionSide::Caller(caller) = &mut self.execution else { return None };
        let approved = caller.ring.pop()?;
        caller.taken += 1;
        Some(approved)
    }

    /// The caller's execution side reports on an order it took: the report goes to the risk
    /// stage (through Confirm and Decide), and to the portfolio agent whose order it is.
    pub fn report_execution(&mut self, report: &qp_wire::ExecReport, mut on_output: impl FnMut(&FrameBuf)) {
        let ExecutionSide::Caller(caller) = &mut self.execution else { return };
        caller.reports += 1;
        let mut frame = FrameBuf::encode(self.origin, caller.reports, report);
        frame.stamp(Stage::Ingest, monotonic_ns());
        let now = loop_now(self.replay);
        if self.portfolio.is_active() {
            self.portfolio.on_exec_report(now, report);
        }
        self.reports_sent += 1;
        self.pipeline.push(frame, deliver(&mut self.markers_seen, &mut self.portfolio, now, &mut on_output));
        self.push_portfolio(&mut on_output);
    }

    /// Lockstep markers pushed so far (they pass Confirm, Decide, Risk and Execute, and are
    /// counted in those stages' frames).
    pub fn markers_sent(&self) -> u64 {
        self.replay.map_or(0, |clock| clock.markers_sent)
    }

    /// Reload RiskSentinel's limits from `text` (`source_name`, the file's path, names it in
    /// errors). The text is parsed, validated and compiled here, on the caller's thread; an
    /// invalid one is refused with the reason (TOML line and column, or the key) and never
    /// reaches the risk stage, whose limits stay as they were. A valid one goes down the risk
    /// stage's command ring and is in force for every frame the risk stage handles after it
    /// takes the command: before its next frame, or at its next idle round. Frames already
    /// handled by then were checked against the old limits. Answers the command's sequence
    /// number; [`FiveStepLoop::poll_risk_outcome`] says when it was applied. Never blocks: a
    /// full ring is refused ([`RiskCommandError::Full`]).
    pub fn reload_risk_limits(&mut self, text: &str, source_name: &str) -> Result<u64, RiskCommandError> {
        self.risk_commands.reload_limits(text, source_name)
    }

    /// Operate RiskSentinel's kill switch, through the command ring as for
    /// [`FiveStepLoop::reload_risk_limits`]. Whether the sentinel accepted it (`Activate` is
    /// refused while a loss or VaR breach persists) comes back as an outcome.
    pub fn kill_switch(&mut self, command: KillSwitchCommand) -> Result<u64, RiskCommandError> {
        self.risk_commands.kill_switch(command)
    }

    /// The next outcome of a risk command, oldest first, once the risk stage has taken it.
    /// Read them: the risk stage takes no more commands while the outcome ring is full.
    pub fn poll_risk_outcome(&mut self) -> Option<RiskCommandOutcome> {
        self.risk_commands.try_outcome()
    }

    /// Execution reports handed to the risk stage so far (they pass Confirm and Decide).
    pub fn reports_sent(&self) -> u64 {
        self.reports_sent
    }

    fn after_ingest(&mut self, start: u64, mut on_output: impl FnMut(&FrameBuf)) {
        if self.replay.is_none() {
            self.settle_approved(&mut on_output);
            self.push_ingested(start, &mut on_output);
            self.push_portfolio(&mut on_output);
            return;
        }
        if self.outbox.is_empty() && !self.reports_waiting() && !self.portfolio.has_work() {
            return;
        }
        // The leading marker sets the risk stage's clock to the event's feed time.
        self.push_marker(&mut on_output);
        self.settle_approved(&mut on_output);
        self.push_ingested(start, &mut on_output);
        self.push_portfolio(&mut on_output);
        self.barrier(&mut on_output);
    }

    /// The portfolio agents' decisions to the Confirm step (stamped Ingest now, on their way to
    /// risk), Guardian's parents to the output, their cancels to the venue. Answers whether
    /// there was anything.
    fn push_portfolio(&mut self, on_output: &mut impl FnMut(&FrameBuf)) -> bool {
        if !self.portfolio.has_work() {
            return false;
        }
        let now = loop_now(self.replay);
        for intent_id in self.portfolio.take_cancels() {
            if let ExecutionSide::Simulated(sim) = &mut self.execution {
                sim.cancel(intent_id);
            }
        }
        // Guardian's parents are recorded at the output; risk judges their children.
        for parent in self.portfolio.take_parents() {
            on_output(&parent);
        }
        // Taken first: delivering the loop's output along the way may make more.
        let mut decisions = std::mem::take(&mut self.portfolio_frames);
        decisions.extend(self.portfolio.take_decisions());
        for mut frame in decisions.drain(..) {
            frame.stamp(Stage::Ingest, monotonic_ns());
            self.pipeline.push(frame, deliver(&mut self.markers_seen, &mut self.portfolio, now, on_output));
        }
        self.portfolio_frames = decisions;
        true
    }

    /// Stamp what the ingest agents emitted and hand it to the Confirm step.
    fn push_ingested(&mut self, start: u64, mut on_output: impl FnMut(&FrameBuf)) {
        if self.outbox.is_empty() {
            return;
        }
        let now = monotonic_ns();
        self.ingest_time.record(now - start);
        let loop_time = loop_now(self.replay);
        let (pipeline, markers_seen, portfolio) = (&mut self.pipeline, &mut self.markers_seen, &mut self.portfolio);
        self.outbox.drain_into(|mut frame| {
            frame.stamp(Stage::Ingest, now);
            pipeline.push(frame, deliver(markers_seen, portfolio, loop_time, &mut on_output));
            Ok(())
        });
    }

    /// Take whatever the Execute step has produced so far.
    pub fn poll_output(&mut self, mut on_output: impl FnMut(&FrameBuf)) -> bool {
        let now = loop_now(self.replay);
        let polled =
            self.pipeline.poll_output(deliver(&mut self.markers_seen, &mut self.portfolio, now, &mut on_output));
        self.settle_approved(&mut on_output);
        polled
    }

    /// Quote frames the ingest side has published (top-of-book changes and refreshes).
    pub fn quotes_published(&self) -> u64 {
        self.quotes.published()
    }

    /// Approved orders the execution side took off the approved-order ring (each also left
    /// the loop as an `OrderIntent` frame).
    pub fn approved_orders(&self) -> u64 {
        match &self.execution {
            ExecutionSide::Expire(baseline) => baseline.taken(),
            ExecutionSide::Simulated(sim) => sim.taken(),
            ExecutionSide::Caller(caller) => caller.taken,
        }
    }

    /// Time the ingest agents took per event that produced frames (event in → frames stamped).
    pub fn ingest_time(&self) -> Percentiles {
        self.ingest_time.percentiles()
    }

    /// What the ingest side refused, so far.
    pub fn ingest_counts(&self) -> IngestCounts {
        self.counts
    }

    /// Each configured asset's feed: its book and synchronisation figures.
    pub fn feeds(&self) -> impl Iterator<Item = (AssetId, &MarketFeed)> {
        self.feeds.iter().map(|(asset, feed)| (*asset, feed))
    }

    /// What AlphaScanner has seen and said, so far.
    pub fn scanner(&self) -> &AlphaScanner {
        &self.scanner
    }

    pub fn darkpool(&self) -> &DarkPoolScan {
        &self.darkpool
    }

    /// Times the feeder found the Confirm ring full.
    pub fn input_backpressure(&self) -> u64 {
        self.pipeline.input_backpressure()
    }

    /// Hand the agents the trade prints the feeds still hold back (see
    /// [`MarketFeed::flush`]), let everything accepted run through, then stop.
    pub fn finish(self, on_output: impl FnMut(&FrameBuf)) -> Result<Vec<StageStats>, LoopError> {
        Ok(self.finish_replay(on_output, |_| {})?.stats)
    }

    /// As [`FiveStepLoop::finish`], and in a replay: the prints the feeds held back go to the
    /// simulated venue too, whatever still rests or is in flight there is cancelled, and the
    /// last execution reports (to `on_exec`, after those [`FiveStepLoop::drain_exec_events`]
    /// has not taken) go through risk before the stages stop. Answers the stages' counters and
    /// what the execution side did.
    pub fn finish_replay(
        mut self,
        mut on_output: impl FnMut(&FrameBuf),
        mut on_exec: impl FnMut(&ExecEvent),
    ) -> Result<LoopFinish, LoopError> {
        let start = monotonic_ns();
        let now_ns = self.replay.map_or(start, |clock| clock.now_ns);
        let ctx = AgentContext { now_ns };
        let (scanner, darkpool, outbox, counts) =
            (&mut self.scanner, &mut self.darkpool, &mut self.outbox, &mut self.counts);
        let mut sim = match (&mut self.execution, self.replay.is_some()) {
            (ExecutionSide::Simulated(sim), true) => Some(sim),
            _ => None,
        };
        for (asset, feed) in &mut self.feeds {
            let asset = *asset;
            feed.flush(|event, book| {
                // Only prints come out of a flush; no later message gives them a feed
                // time, so they carry their exchange time.
                let MarketEvent::Trade(print) = event else { return };
                let update = MarketUpdate::new(asset, print.ts_ns, book, event);
                let scanned = scanner.on_event(ctx, &update, outbox);
                let judged = darkpool.on_event(ctx, &update, outbox);
                counts.agent_errors += u64::from(scanned.is_err()) + u64::from(judged.is_err());
                if let Some(sim) = &mut sim {
                    sim.on_trade(now_ns, asset, &print);
                }
            });
        }
        if self.replay.is_some() {
            self.after_ingest(start, &mut on_output);
            // The end: what rests or is in flight at the venue is cancelled, and risk hears so.
            if let ExecutionSide::Simulated(sim) = &mut self.execution {
                sim.close(now_ns);
            }
            self.after_ingest(start, &mut on_output);
        } else {
            // No more execution reports: what risk approved from here on is only counted.
            self.push_ingested(start, &mut on_output);
        }
        let execution_before = self.execution_summary();
        let now = loop_now(self.replay);
        let stats = self.pipeline.finish(deliver(&mut self.markers_seen, &mut self.portfolio, now, &mut on_output))?;
        // What risk approved last: taken off the ring (the stages have stopped).
        let execution = match &mut self.execution {
            ExecutionSide::Expire(baseline) => {
                let mut late = 0;
                while baseline.next_exec_report().is_some() {
                    late += 1;
                }
                ExecutionSummary {
                    orders: execution_before.orders + late,
                    expired: execution_before.expired + late,
                    ..execution_before
                }
            }
            ExecutionSide::Caller(caller) => {
                // Approved as the stages stopped: nobody will send them.
                let mut late = 0;
                while caller.ring.pop().is_some() {
                    late += 1;
                }
                ExecutionSummary { expired: late, ..execution_before }
            }
            ExecutionSide::Simulated(sim) => {
                let feeds = &self.feeds;
                sim.take_approved(|asset| book_of(feeds, asset));
                sim.close(now_ns);
                sim.drain(|event| self.journal.push(*event));
                let summary = sim.summary();
                if summary.orders != execution_before.orders {
                    tracing::debug!(late = summary.orders - execution_before.orders, "orders approved at the end");
                }
                summary
            }
        };
        for event in self.journal.drain(..) {
            on_exec(&event);
        }
        Ok(LoopFinish { stats, execution, portfolio: self.portfolio.summary() })
    }
}

/// The Decide agent as the loop configures it (`[alpha]`), for asset ids `1..=assets`.
pub fn decide_agent(config: &LoopConfig, assets: usize) -> Result<DecideAgent, LoopError> {
    let alpha = &config.alpha;
    // Validated with the configuration; native f32 if it was not.
    let kind = alpha.backend_kind().unwrap_or(qp_alpha::BackendKind::NativeF32);
    let model = if alpha.model == "embedded" {
        AlphaModel::shipped(kind)?
    } else {
        AlphaModel::load(std::path::Path::new(&alpha.model), kind)?
    };
    Ok(DecideAgent::new(
        model,
        DecideConfig {
            policy: DecisionPolicy {
                min_edge: alpha.min_edge,
                min_qty_lots: alpha.min_order_qty_lots,
                max_qty_lots: alpha.max_order_qty_lots,
            },
            limit_offset_ticks: alpha.limit_offset_ticks,
            cadence_ns: alpha.cadence_ms * 1_000_000,
            max_assets: assets,
        },
    ))
}

/// AlphaScanner as the loop configures it.
/// The ingest side's agents, built one way for the loop and for `SignalReplay` (the forge's
/// training rows), so both see the same signals.
pub(crate) struct IngestAgents {
    pub(crate) sentiment: SentimentX<NativeModel>,
    pub(crate) scanner: AlphaScanner,
    pub(crate) darkpool: DarkPoolScan,
    pub(crate) quotes: QuotePublisher,
}

impl IngestAgents {
    pub(crate) fn new(config: &LoopConfig, assets: usize, aliases: AliasTable) -> Result<Self, LoopError> {
        let origin = config.node.origin_node;
        Ok(Self {
            sentiment: SentimentX::new(
                NativeModel::new(qp_sentiment::shipped::student()?, config.sentiment.model_id),
                aliases,
                origin,
            ),
            scanner: AlphaScanner::new(scanner_config(config, assets))?,
            darkpool: DarkPoolScan::new(DarkPoolConfig {
                origin_node: origin,
                max_assets: assets,
                block_ratio_pct: config.book.block_ratio_pct,
                block_band_bp: config.book.block_band_bp,
                ..DarkPoolConfig::default()
            })?,
            quotes: QuotePublisher::new(origin, assets, config.risk.quote_refresh_ms * 1_000_000),
        })
    }
}

pub(crate) fn scanner_config(config: &LoopConfig, assets: usize) -> AlphaScannerConfig {
    let book = &config.book;
    AlphaScannerConfig {
        origin_node: config.node.origin_node,
        max_assets: assets,
        imbalance: ImbalanceConfig {
            window_ns: book.imbalance_window_ms * 1_000_000,
            threshold_bp: book.imbalance_threshold_bp,
            min_interval_ns: book.min_interval_ms * 1_000_000,
            ..ImbalanceConfig::default()
        },
        liquidity: LiquidityDropConfig {
            band_bp: book.liquidity_band_bp,
            drop_threshold_bp: book.liquidity_drop_bp,
            window_ns: book.liquidity_window_ms * 1_000_000,
            ..LiquidityDropConfig::default()
        },
        spoofing: SpoofingConfig::default(),
    }
}
