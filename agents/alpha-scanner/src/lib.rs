//! AlphaScanner.
#![forbid(unsafe_code)]
