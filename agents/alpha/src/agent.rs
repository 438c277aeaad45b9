//! [`DecideAgent`]: the Decide step. It keeps [`AlphaFeatures`] from every frame the Decide
//! stage sees, runs the model when a trigger comes, and turns the model's edge into a
//! direction and a size ([`DecisionPolicy`]).
//!
//! # Triggers
//!
//! - **Each `Confirmed`** (a sentiment the order book agreed with in time: the joined signal,
//!   reason [`REASON_CONFIRMED`]). The features are read after the `Confirmed` itself is
//!   counted in.
//! - **A cadence on quotes**, when `cadence_ns > 0` (reason [`REASON_CADENCE`]): the first
//!   quote of an asset at least `cadence_ns` of feed time after its previous cadence point (the
//!   first quote starts the count, it does not decide). This is what `qpctl forge alpha`
//!   backtests: with the cadence at the label horizon, one position per asset per horizon.
//!
//! `Quote` and `ExecReport` frames pass on to the risk stage unchanged; the signals
//! (`SentimentSignal`, `BookSignal`, `BlockPrint`) and `Confirmed` end here.
use qp_models::ModelError;
use qp_runtime::{Agent, AgentContext, AgentError, Outbox};
use qp_wire::{AssetId, Decision, FrameRef, Side};

use crate::features::{AlphaFeatures, FEATURE_COUNT, FeatureError, FeatureVector, Observed};
use crate::model::{AlphaModel, ModelIdentity, Prediction};

/// Reason code of a decision the model made on a `Confirmed` frame.
pub const REASON_CONFIRMED: u16 = 2;
/// Reason code of a decision the model made at its quote cadence.
pub const REASON_CADENCE: u16 = 3;

const AGENT: &str = "decide";

/// Direction and size from the model's edge (P(up) − P(down)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecisionPolicy {
    /// Trade only when |edge| reaches this (0 ..< 1; 0: every nonzero edge trades).
    pub min_edge: f32,
    /// Size at |edge| = `min_edge`, in lots (≥ 1).
    pub min_qty_lots: i64,
    /// Size at |edge| = 1, in lots: the cap.
    pub max_qty_lots: i64,
}

impl DecisionPolicy {
    /// Long, short or flat (`None`), and how many lots: linear in |edge| between the threshold
    /// and 1, from `min_qty_lots` to `max_qty_lots`.
    pub fn decide(&self, edge: f32) -> Option<(Side, i64)> {
        let strength = edge.abs();
        if !strength.is_finite() || strength == 0.0 || strength < self.min_edge {
            return None;
        }
        let side = if edge > 0.0 { Side::Buy } else { Side::Sell };
        let span = (1.0 - self.min_edge).max(f32::EPSILON);
        let scale = ((strength - self.min_edge) / span).clamp(0.0, 1.0);
        let extra = ((self.max_qty_lots - self.min_qty_lots).max(0) as f32 * scale).round() as i64;
        Some((side, (self.min_qty_lots + extra).clamp(1, self.max_qty_lots.max(1))))
    }

    /// The size as a fraction of the cap (for backtests).
    pub fn size_fraction(&self, qty_lots: i64) -> f64 {
        qty_lots as f64 / self.max_qty_lots.max(1) as f64
    }
}

/// How the Decide agent is set up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DecideConfig {
    pub policy: DecisionPolicy,
    /// Limit price = reference price ± this many ticks (crossing the spread).
    pub limit_offset_ticks: i64,
    /// Feed time between cadence decisions per asset; 0: decide on `Confirmed` frames only.
    pub cadence_ns: u64,
    /// Asset ids `1..=max_assets` are accepted.
    pub max_assets: usize,
}

/// Why a trigger decided what it did (for tests and the forge's backtest).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    pub asset: AssetId,
    pub reason: u16,
    pub prediction: Prediction,
    /// `None`: flat.
    pub decision: Option<(Side, i64)>,
    /// Feed time of the asset's clock when it decided.
    pub feed_ts_ns: u64,
}

/// The Decide step's agent.
#[derive(Debug)]
pub struct DecideAgent {
    features: AlphaFeatures,
    model: AlphaModel,
    config: DecideConfig,
    /// Next cadence point per asset (feed time), once its first quote was seen.
    cadence_due: Vec<Option<u64>>,
    input: FeatureVector,
    next_decision_id: u64,
    last: Option<Verdict>,
    triggers: u64,
    model_errors: u64,
}

impl DecideAgent {
    pub fn new(model: AlphaModel, config: DecideConfig) -> Self {
        Self {
            features: AlphaFeatures::new(config.max_assets),
            model,
            config,
            cadence_due: vec![None; config.max_assets + 1],
            input: [0.0; FEATURE_COUNT],
            next_decision_id: 1,
            last: None,
            triggers: 0,
            model_errors: 0,
        }
    }

    /// The model deciding: name and file digest, for the audit trail.
    pub fn model_identity(&self) -> &ModelIdentity {
        self.model.identity()
    }

    pub fn features(&self) -> &AlphaFeatures {
        &self.features
    }

    /// The last trigger's outcome.
    pub fn last_verdict(&self) -> Option<Verdict> {
        self.last
    }

    /// Times the model was run.
    pub fn triggers(&self) -> u64 {
        self.triggers
    }

    /// Is `asset` due for a cadence decision at a quote stamped `feed_ts_ns`?
    fn cadence_fires(&mut self, asset: AssetId, feed_ts_ns: u64) -> bool {
        let cadence = self.config.cadence_ns;
        if cadence == 0 {
            return false;
        }
        let Some(due) = self.cadence_due.get_mut(asset.get() as usize) else { return false };
        match *due {
            None => {
                *due = Some(feed_ts_ns.saturating_add(cadence));
                false
            }
            Some(at) if feed_ts_ns >= at => {
                *due = Some(feed_ts_ns.saturating_add(cadence));
                true
            }
            Some(_) => false,
        }
    }

    /// Run the model for `asset` now; answers the verdict (also kept as [`Self::last_verdict`]).
    fn run_model(&mut self, asset: AssetId, reason: u16) -> Result<Verdict, ModelError> {
        self.features.features(asset, &mut self.input);
        let prediction = self.model.predict(&self.input)?;
        self.triggers += 1;
        let verdict = Verdict {
            asset,
            reason,
            prediction,
            decision: self.config.policy.decide(prediction.edge()),
            feed_ts_ns: self.features.clock_ns(asset),
        };
        self.last = Some(verdict);
        Ok(verdict)
    }
}

fn feature_error(error: FeatureError) -> AgentError {
    match error {
        FeatureError::UnknownAsset(asset, _) => AgentError::UnknownAsset { agent: AGENT, asset },
        FeatureError::UnexpectedFrame(frame_type) => AgentError::UnexpectedFrame { agent: AGENT, frame_type },
    }
}

impl Agent for DecideAgent {
    fn name(&self) -> &'static str {
        AGENT
    }

    fn on_frame(&mut self, _ctx: AgentContext, frame: FrameRef<'_>, out: &mut Outbox) -> Result<(), AgentError> {
        // Another agent's decision on its way to risk (the loop's execution agents): not ours.
        if let FrameRef::Decision(f) = frame {
            return out.derive(f.header, f.payload);
        }
        let observed = self.features.observe(&frame).map_err(feature_error)?;
        // Reference prices and execution reports are the risk stage's: passed on unchanged.
        match frame {
            FrameRef::Quote(f) => out.derive(f.header, f.payload)?,
            FrameRef::ExecReport(f) => return out.derive(f.header, f.payload),
            _ => {}
        }
        let (asset, reason, ref_price) = match observed {
            Observed::Confirmed { asset, ref_price } => (asset, REASON_CONFIRMED, ref_price),
            Observed::Quote { asset, feed_ts_ns } if self.cadence_fires(asset, feed_ts_ns) => {
                let Some(top) = self.features.top(asset) else { return Ok(()) };
                // The mid, rounded down to a tick (as `Quote::mid_price`).
                (asset, REASON_CADENCE, top.bid_price + (top.ask_price - top.bid_price) / 2)
            }
            _ => return Ok(()),
        };
        let verdict = self.run_model(asset, reason).map_err(|_| {
            self.model_errors += 1;
            AgentError::Rejected { agent: AGENT, detail: "the model refused the feature vector" }
        })?;
        let Some((side, qty)) = verdict.decision else { return Ok(()) };
        // Cross the spread by the offset so the order is marketable, never below one tick.
        let limit = (ref_price + side.sign() * self.config.limit_offset_ticks).max(1);
        let decision = Decision::new(self.next_decision_id, asset, side, qty, limit, reason);
        self.next_decision_id += 1;
        match frame {
            FrameRef::Quote(f) => out.derive(f.header, &decision),
            FrameRef::Confirmed(f) => out.derive(f.header, &decision),
            _ => Ok(()),
        }
    }
}
