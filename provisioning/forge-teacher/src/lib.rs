//! The forge's teacher: all-MiniLM-L6-v2 run in Rust (candle), a classification head trained on TFNS, soft labels with a cache
#![forbid(unsafe_code)]
