//! Guardian.
#![forbid(unsafe_code)]
