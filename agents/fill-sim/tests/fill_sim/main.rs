//! The fill simulator's tests: fills against hand-built books (crossing, resting, queue
//! position, cancels, latency), properties over random books and order flows, and the replay
//! harness on the shared Binance data and on bad input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
mod fixture;
mod harness;
mod properties;
mod simulator;
