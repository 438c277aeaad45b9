//! SentimentX: a text of at most 280 characters in, per asset it is about a
//! score from −10 (max bearish) to +10 (max bullish) and a confidence out.
//!
//! The model is a tiny student (hashed n-grams → small network → 3 classes)
//! distilled from a transformer teacher by `qpctl forge` and quantized to int8.
#![forbid(unsafe_code)]

pub mod agent;
pub mod assets;
pub mod features;
pub mod shipped;
pub mod student;
