//! Replay fill simulator.
#![forbid(unsafe_code)]
