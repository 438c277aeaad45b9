use qp_alpha::{AlphaModel, AlphaModelError, DecideAgent, DecideConfig, DecisionPolicy, ModelIdentity};
use qp_alpha_scanner::{
    AlphaScanner, AlphaScannerConfig, ImbalanceConfig, LiquidityDropConfig, MarketEvent, MarketUpdate,
    ScannerConfigError, SpoofingConfig,
};
use qp_book::BookError;
use qp_darkpool_scan::{DarkPoolConfig, DarkPoolConfigError, DarkPoolScan};
use qp_risk_model::ReturnMatrix;
use qp_risk_sentinel::{
    CommandError, InstrumentSpec, KillSwitchCommand, RiskCommandError, RiskCommandOutcome, RiskCommandSender,
    RiskSentinel, RiskSentinelAgent, SentinelError, approved_order_ring, risk_command_ring,
};
use qp_runtime::clock::monotonic_ns;
use qp_runtime::{
    AgentContext, IngestAgent, LatencyHistogram, Outbox, Percentiles, Pipeline, RateLimiter, RuntimeError, StageStats,
};
use qp_sentiment::agent::{NativeModel, SentimentX, TextEvent};
use qp_sentiment::assets::{AliasError, AliasTable};
use qp_sentiment::student::StudentError;
use qp_wire::{AssetId, AssetRegistry, FrameBuf, RegistryError, Stage};

use crate::agents::baseline_execution::{BaselineExecution, LoopOrderSink};
use crate::agents::confirm::SignalJoiner;
use crate::agents::execution_handoff::ExecutionHandoff;
use crate::agents::quote_publisher::QuotePublisher;
use crate::config::{ConfigError, LoopConfig};
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
    /// Takes the risk stage's approved orders (the FIX executors' place, issue 6).
    execution: BaselineExecution,
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
    pub fn start(config: &LoopConfig, history: &ReturnMatrix) -> Result<Self, LoopError> {
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
        let pipeline = Pipeline::builder()
            .stage(Stage::Confirm, Box::new(SignalJoiner::new(assets, config.confirm.window_ms * 1_000_000)))
            .stage(Stage::Decide, Box::new(decide))
            .stage(
                Stage::Risk,
                Box::new(
                    RiskSentinelAgent::new(sentinel, LoopOrderSink::new(approved)).with_commands(risk_command_receiver),
                ),
            )
            .stage(Stage::Execute, Box::new(ExecutionHandoff))
            .ring_capacity(config.runtime.ring_capacity)
            .placement(config.runtime.placement)
            .pin_threads(config.runtime.pin_threads)
            .backoff(config.runtime.backoff)
            .start()?;
        Ok(Self {
            registry,
            pipeline,
            sentiment: SentimentX::new(
                NativeModel::new(qp_sentiment::shipped::student()?, config.sentiment.model_id),
                aliases,
                origin,
            ),
            feeds,
            scanner: AlphaScanner::new(scanner_config(config, assets))?,
            darkpool: DarkPoolScan::new(DarkPoolConfig {
                origin_node: origin,
                max_assets: assets,
                block_ratio_pct: config.book.block_ratio_pct,
                block_band_bp: config.book.block_band_bp,
                ..DarkPoolConfig::default()
            })?,
            quotes: QuotePublisher::new(origin, assets, config.risk.quote_refresh_ms * 1_000_000),
            execution: BaselineExecution::new(approved_out, origin),
            risk_commands,
            reports_sent: 0,
            outbox: Outbox::new("ingest"),
            ingest_time: LatencyHistogram::new(),
            counts: IngestCounts::default(),
            feed_log: RateLimiter::new(1_000_000_000),
            decide_model,
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
        let event = TextEvent { ts_ns, bytes: text.as_bytes() };
        let result = self.sentiment.on_event(AgentContext { now_ns: start }, &event, &mut self.outbox);
        self.counts.agent_errors += u64::from(result.is_err());
        self.after_ingest(start, on_output);
    }

    /// Step 1 for one market-data message (a Binance JSON message) of the
    /// asset configured at `instrument` (its index in `assets`), received at
    /// `ts_ns` (feed time: the signals' windows run on it). The asset's feed
    /// decodes it into its book; AlphaScanner and DarkPoolScan then read the book.
    pub fn ingest_market(&mut self, instrument: usize, ts_ns: u64, json: &[u8], on_output: impl FnMut(&FrameBuf)) {
        let start = monotonic_ns();
        let Some((asset, feed)) = self.feeds.get_mut(instrument) else {
            self.counts.unknown_instrument += 1;
            return;
        };
        let asset = *asset;
        let ctx = AgentContext { now_ns: start };
        let (scanner, darkpool, quotes, outbox, counts) =
            (&mut self.scanner, &mut self.darkpool, &mut self.quotes, &mut self.outbox, &mut self.counts);
        let fed = feed.on_message(json, |event, book| {
            let update = MarketUpdate::new(asset, ts_ns, book, event);
            // Reference prices first: a decision the scanners' signals lead to finds them.
            let quoted = quotes.on_event(ctx, &update, outbox);
            let scanned = scanner.on_event(ctx, &update, outbox);
            let judged = darkpool.on_event(ctx, &update, outbox);
            counts.agent_errors +=
                u64::from(quoted.is_err()) + u64::from(scanned.is_err()) + u64::from(judged.is_err());
        });
        if let Err(err) = fed {
            self.counts.feed_errors += 1;
            if let Some(suppressed) = self.feed_log.check(start) {
                tracing::warn!(asset = asset.get(), error = %err, suppressed, "market-data message refused");
            }
            return;
        }
        self.after_ingest(start, on_output);
    }

    /// Hand a signal frame made elsewhere (another node, a benchmark) to the
    /// Confirm step, stamping Ingest now if it has no Ingest stamp yet.
    pub fn inject(&mut self, mut frame: FrameBuf, mut on_output: impl FnMut(&FrameBuf)) {
        self.settle_approved(&mut on_output);
        if frame.header().stamp(Stage::Ingest).is_none() {
            frame.stamp(Stage::Ingest, monotonic_ns());
        }
        self.pipeline.push(frame, on_output);
    }

    /// The execution side's turn: take the approved orders waiting on the approved-order
    /// ring and hand their execution reports to the risk stage (through Confirm and Decide,
    /// which pass them on), so RiskSentinel releases what it reserved for them.
    fn settle_approved(&mut self, on_output: &mut impl FnMut(&FrameBuf)) {
        while let Some(mut report) = self.execution.next_report() {
            report.stamp(Stage::Ingest, monotonic_ns());
            self.reports_sent += 1;
            self.pipeline.push(report, &mut *on_output);
        }
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
        self.settle_approved(&mut on_output);
        self.push_ingested(start, on_output);
    }

    /// Stamp what the ingest agents emitted and hand it to the Confirm step.
    fn push_ingested(&mut self, start: u64, mut on_output: impl FnMut(&FrameBuf)) {
        if self.outbox.is_empty() {
            return;
        }
        let now = monotonic_ns();
        self.ingest_time.record(now - start);
        let pipeline = &mut self.pipeline;
        self.outbox.drain_into(|mut frame| {
            frame.stamp(Stage::Ingest, now);
            pipeline.push(frame, &mut on_output);
            Ok(())
        });
    }

    /// Take whatever the Execute step has produced so far.
    pub fn poll_output(&mut self, mut on_output: impl FnMut(&FrameBuf)) -> bool {
        let polled = self.pipeline.poll_output(&mut on_output);
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
        self.execution.taken()
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
    pub fn finish(mut self, mut on_output: impl FnMut(&FrameBuf)) -> Result<Vec<StageStats>, LoopError> {
        let start = monotonic_ns();
        let ctx = AgentContext { now_ns: start };
        let (scanner, darkpool, outbox, counts) =
            (&mut self.scanner, &mut self.darkpool, &mut self.outbox, &mut self.counts);
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
            });
        }
        // No more execution reports: what risk approved from here on is only counted.
        self.push_ingested(start, &mut on_output);
        let stats = self.pipeline.finish(&mut on_output)?;
        // What risk approved last: taken off the ring (the stages have stopped).
        while self.execution.next_report().is_some() {}
        Ok(stats)
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
