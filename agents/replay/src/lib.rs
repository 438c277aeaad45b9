//! Recorded data, read into replayable events.
//!
//! Headlines are read whole. Market-data recordings are decompressed and split
//! into timestamped lines; their JSON is decoded at replay time by the node's
//! own feed decoder (`qp_book::binance`), as a live feed would be, and prices
//! become fixed-point integers there ([`parse_fixed`]). A malformed line is an
//! error that names the file and line; nothing is guessed.
#![forbid(unsafe_code)]

mod binance;
mod error;
mod fixed_point;
mod tfns;
mod timeline;

pub use binance::{FeedLine, FeedRecording, RecordedLineError, read_feed, split_recorded_line};
pub use error::ReplayError;
pub use fixed_point::{FixedPointError, parse_fixed, parse_fixed_bytes};
pub use tfns::{LabelledHeadline, SentimentLabel, read_headlines};
pub use timeline::{ReplayEvent, merge_timeline};
