//! The event both scanners take: one market-data update, delivered after the
//! feeder's book has applied it (a trade print changes no book and comes with
//! the book as it stood when the print happened).
use qp_book::{BookRead, BookSide, L3Event, TradePrint};
use qp_wire::AssetId;

/// What changed in the market.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarketEvent {
    /// An order-by-order event (L3 feeds), already applied to the book.
    L3(L3Event),
    /// A price level was set to `qty` (0 removes it) (L2 feeds), already applied.
    LevelSet { side: BookSide, price: i64, qty: i64 },
    /// Several levels changed at once (an L2 feed's diff), already applied:
    /// the agents read what they need from the book.
    Depth,
    /// A trade print. The book is the visible book when the print happened:
    /// a feeder whose print also arrives as a book change (an L3 `Execute`)
    /// hands the print over before applying that change.
    Trade(TradePrint),
    /// The book was rebuilt (gap, snapshot): the scanners forget what they
    /// remembered about the previous book.
    Resync,
}

/// One update for one asset, with the book after it.
#[derive(Debug)]
pub struct MarketUpdate<'a, B: BookRead + ?Sized> {
    pub asset: AssetId,
    /// Feed time (exchange or receive time, ns). All windows and rate limits run on it.
    pub ts_ns: u64,
    pub book: &'a B,
    pub event: MarketEvent,
}

impl<B: BookRead + ?Sized> Clone for MarketUpdate<'_, B> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<B: BookRead + ?Sized> Copy for MarketUpdate<'_, B> {}

impl<'a, B: BookRead + ?Sized> MarketUpdate<'a, B> {
    pub fn new(asset: AssetId, ts_ns: u64, book: &'a B, event: MarketEvent) -> Self {
        Self { asset, ts_ns, book, event }
    }
}
