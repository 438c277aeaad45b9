//! The Decide agent (the "alpha"): the joined signals per asset (sentiment, order-flow
//! imbalance, liquidity change, block prints, recent returns, spread, queue imbalance) kept
//! as [`AlphaFeatures`], a small neural network ([`AlphaModel`], an ONNX file made by
//! `qpctl forge alpha`) that gives P(down), P(flat), P(up) over the next 5 s of feed time, and
//! a [`DecisionPolicy`] that turns P(up) − P(down) into a direction and a size.
//!
//! Design, data, labels, split and measured results: `agents/alpha/DESIGN.md`.
#![forbid(unsafe_code)]

mod agent;
pub mod features;
mod model;

pub use agent::{DecideAgent, DecideConfig, DecisionPolicy, REASON_CADENCE, REASON_CONFIRMED, Verdict};
pub use features::{AlphaFeatures, FEATURE_COUNT, FEATURE_NAMES, FeatureError, FeatureVector, Observed, TopOfBook};
pub use model::{
    AlphaModel, AlphaModelError, CLASSES, ModelIdentity, OUTPUT_COUNT, Prediction, SHIPPED_MODEL_BYTES,
    SHIPPED_MODEL_NAME,
};
/// The model backends (native f32 / int8, ONNX Runtime), as qp-models names them.
pub use qp_models::BackendKind;

/// The label horizon: the model predicts the mid move over this much feed time.
pub const HORIZON_NS: u64 = 5_000_000_000;
