//! Order books for the sensing agents: an L3 book (order by order, FIFO per
//! price level) and an L2 book (price levels), read through one trait,
//! [`BookRead`].
//!
//! Prices and sizes are fixed-point integers: a price is a count of the
//! instrument's smallest price unit and must sit on its tick grid
//! ([`Grid::tick`]); a size is a count of the smallest size unit and must be a
//! whole number of lots ([`Grid::lot`]). No floats enter a book.
//!
//! Invalid input (unknown order id, a size that is not positive, a price off the
//! grid, an order that would cross the book) is a typed [`BookError`] and leaves
//! the book exactly as it was. Every successful update returns an undo record;
//! applying it restores the book exactly, queue positions included.
//!
//! No I/O: the feed decoders ([`binance`], [`lobster`]) take bytes and lines, so
//! tests, benchmarks and fuzzers drive them directly.
#![forbid(unsafe_code)]

pub mod binance;
mod error;
mod l2;
mod l3;
pub mod lobster;
mod read;
mod types;

pub use error::BookError;
pub use l2::{L2Book, L2Undo};
pub use l3::{L3Book, L3Undo, RestingOrder};
pub use read::{BookRead, QueueQuery};
pub use types::{BookSide, Grid, L3Event, L3Kind, Level, OrderId, TradePrint};
