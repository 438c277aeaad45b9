//! RiskSentinel.
#![forbid(unsafe_code)]
