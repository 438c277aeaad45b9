//! NeuralArb's tests: the spread model, the signal logic on hand-made quotes, configuration
//! errors, and the whole agent replayed on the shared BTCUSDT spot/futures day through
//! RiskSentinel and the fill simulator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
mod fixture;
mod model;
mod real_data;
mod signals;
