//! Portfolio risk mathematics.
#![forbid(unsafe_code)]
