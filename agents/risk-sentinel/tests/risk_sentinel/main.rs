//! RiskSentinel's tests: one binary, a module per area.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod agent;
mod checks;
mod commands;
mod compile_fail;
mod fail_closed;
mod fixture;
mod kill_switch;
mod property;
mod reload;
mod var;
