//! Recorded data, read into replayable events.
//!
//! Prices and sizes become fixed-point integers (ticks and lots) at the edge,
//! here, so nothing downstream handles floats. A malformed line is an error that
//! names the file and line; nothing is guessed.
#![forbid(unsafe_code)]

mod binance;
mod error;
mod fixed_point;
mod tfns;
mod timeline;

pub use binance::{BookTicker, read_book_tickers};
pub use error::ReplayError;
pub use fixed_point::{FixedPointError, parse_fixed, parse_fixed_bytes};
pub use tfns::{LabelledHeadline, SentimentLabel, read_headlines};
pub use timeline::{ReplayEvent, merge_timeline};
