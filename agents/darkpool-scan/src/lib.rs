//! DarkPoolScan.
#![forbid(unsafe_code)]
