//! The Decide agent (the "alpha").
#![forbid(unsafe_code)]
