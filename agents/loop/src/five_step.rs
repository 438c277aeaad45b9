use qp_replay::BookTicker;
use qp_runtime::clock::monotonic_ns;
use qp_runtime::{
    AgentContext, IngestAgent, LatencyHistogram, Outbox, Percentiles, Pipeline, RuntimeError, StageStats,
};
use qp_sentiment::agent::{NativeModel, SentimentX, TextEvent};
use qp_sentiment::assets::{AliasError, AliasTable};
use qp_sentiment::student::StudentError;
use qp_wire::{AssetId, AssetRegistry, FrameBuf, RegistryError, Stage};

use crate::agents::baseline_alpha::BaselineAlpha;
use crate::agents::baseline_imbalance::{BaselineImbalance, TickerUpdate};
use crate::agents::baseline_risk::{AssetScale, BaselineRiskGate};
use crate::agents::confirm::SignalJoiner;
use crate::agents::execution_handoff::ExecutionHandoff;
use crate::config::LoopConfig;

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
}

/// The five steps running: ingest agents on the caller's thread, the other four
/// as pipeline stages. Outputs (order intents and vetoes, stamped through
/// Execute) go to the `on_output` callback of each call.
pub struct FiveStepLoop {
    registry: AssetRegistry,
    pipeline: Pipeline,
    sentiment: SentimentX<NativeModel>,
    imbalance: BaselineImbalance,
    outbox: Outbox,
    /// Time inside the ingest agents, per event that produced frames.
    ingest_time: LatencyHistogram,
    ingest_errors: u64,
}

impl std::fmt::Debug for FiveStepLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FiveStepLoop").field("pipeline", &self.pipeline).finish()
    }
}

impl FiveStepLoop {
    /// Register the configured assets and start the stages.
    pub fn start(config: &LoopConfig) -> Result<Self, LoopError> {
        // SentimentX's alias table names the assets texts can be about; the
        // configured assets (those with market data) are among them or added.
        let mut registry = AssetRegistry::new();
        let aliases = AliasTable::embedded(&mut registry)?;
        let mut configured = Vec::new();
        for asset in &config.assets {
            let id = registry.intern(&asset.symbol)?;
            configured
                .push((id, AssetScale { price_decimals: asset.price_decimals, qty_decimals: asset.qty_decimals }));
        }
        // Scales by asset id; risk vetoes an asset without one (no market data configured).
        let mut scales = vec![None; registry.len()];
        for (id, scale) in configured {
            if let Some(slot) = scales.get_mut(id.get() as usize - 1) {
                *slot = Some(scale);
            }
        }
        let assets = registry.len();
        let origin = config.node.origin_node;
        let pipeline = Pipeline::builder()
            .stage(Stage::Confirm, Box::new(SignalJoiner::new(assets, config.confirm.window_ms * 1_000_000)))
            .stage(
                Stage::Decide,
                Box::new(BaselineAlpha::new(
                    config.alpha.min_abs_score,
                    config.alpha.min_abs_magnitude_bp,
                    config.alpha.order_qty_lots,
                    config.alpha.limit_offset_ticks,
                )),
            )
            .stage(
                Stage::Risk,
                Box::new(BaselineRiskGate::new(
                    &scales,
                    config.risk.max_order_qty_lots,
                    config.risk.max_order_notional,
                    config.risk.max_position_lots,
                )),
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
            imbalance: BaselineImbalance::new(
                assets,
                config.book.imbalance_threshold_bp,
                config.book.min_interval_ms * 1_000_000,
                origin,
            ),
            outbox: Outbox::new("ingest"),
            ingest_time: LatencyHistogram::new(),
            ingest_errors: 0,
        })
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
        self.after_ingest(start, result.is_err(), on_output);
    }

    /// Step 1 for a top-of-book update of `asset`.
    pub fn ingest_ticker(&mut self, asset: AssetId, ticker: &BookTicker, on_output: impl FnMut(&FrameBuf)) {
        let start = monotonic_ns();
        let result =
            self.imbalance.on_event(AgentContext { now_ns: start }, &TickerUpdate { asset, ticker }, &mut self.outbox);
        self.after_ingest(start, result.is_err(), on_output);
    }

    /// Hand a signal frame made elsewhere (another node, a benchmark) to the
    /// Confirm step, stamping Ingest now if it has no Ingest stamp yet.
    pub fn inject(&mut self, mut frame: FrameBuf, on_output: impl FnMut(&FrameBuf)) {
        if frame.header().stamp(Stage::Ingest).is_none() {
            frame.stamp(Stage::Ingest, monotonic_ns());
        }
        self.pipeline.push(frame, on_output);
    }

    fn after_ingest(&mut self, start: u64, failed: bool, mut on_output: impl FnMut(&FrameBuf)) {
        self.ingest_errors += u64::from(failed);
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
    pub fn poll_output(&mut self, on_output: impl FnMut(&FrameBuf)) -> bool {
        self.pipeline.poll_output(on_output)
    }

    /// Time the ingest agents took per event that produced frames (event in → frames stamped).
    pub fn ingest_time(&self) -> Percentiles {
        self.ingest_time.percentiles()
    }

    /// Ingest events refused by their agent (bad data), so far.
    pub fn ingest_errors(&self) -> u64 {
        self.ingest_errors
    }

    /// Times the feeder found the Confirm ring full.
    pub fn input_backpressure(&self) -> u64 {
        self.pipeline.input_backpressure()
    }

    /// Let everything accepted run through, then stop.
    pub fn finish(self, on_output: impl FnMut(&FrameBuf)) -> Result<Vec<StageStats>, LoopError> {
        Ok(self.pipeline.finish(on_output)?)
    }
}
