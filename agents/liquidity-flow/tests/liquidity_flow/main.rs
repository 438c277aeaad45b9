//! LiquidityFlow's tests: the schedules and child logic on hand-made quotes, configuration
//! errors, and TWAP and POV parents replayed on the shared USD-M BTCUSDT recording through
//! RiskSentinel and the fill simulator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
mod fixture;
mod real_data;
mod schedule;
