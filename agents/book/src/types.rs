use crate::error::BookError;

/// Exchange order id.
pub type OrderId = u64;

/// Which side of the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BookSide {
    Bid,
    Ask,
}

impl BookSide {
    pub fn opposite(self) -> Self {
        match self {
            BookSide::Bid => BookSide::Ask,
            BookSide::Ask => BookSide::Bid,
        }
    }

    /// Whether `a` is a better price than `b` on this side.
    pub fn better(self, a: i64, b: i64) -> bool {
        match self {
            BookSide::Bid => a > b,
            BookSide::Ask => a < b,
        }
    }
}

/// One price level: the total resting size at a price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Level {
    pub price: i64,
    pub qty: i64,
}

/// An instrument's grid: prices are multiples of `tick`, sizes multiples of
/// `lot`, both in the instrument's fixed-point units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Grid {
    pub tick: i64,
    pub lot: i64,
}

impl Grid {
    /// A grid; both steps must be positive.
    pub fn new(tick: i64, lot: i64) -> Result<Self, BookError> {
        if tick <= 0 || lot <= 0 {
            return Err(BookError::InvalidGrid { tick, lot });
        }
        Ok(Self { tick, lot })
    }

    /// A positive price on the tick grid.
    pub fn check_price(&self, price: i64) -> Result<(), BookError> {
        if price <= 0 {
            return Err(BookError::NonPositivePrice { price });
        }
        if price % self.tick != 0 {
            return Err(BookError::OffTickGrid { price, tick: self.tick });
        }
        Ok(())
    }

    /// A positive size in whole lots.
    pub fn check_qty(&self, qty: i64) -> Result<(), BookError> {
        if qty <= 0 {
            return Err(BookError::NonPositiveQty { qty });
        }
        if qty % self.lot != 0 {
            return Err(BookError::OffLotGrid { qty, lot: self.lot });
        }
        Ok(())
    }
}

/// What an order-by-order event does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum L3Kind {
    /// A new order rests at the back of its price level's queue.
    Add,
    /// Part of a resting order is cancelled; it keeps its queue position.
    Cancel,
    /// A resting order is removed; `qty` is the size it still had.
    Delete,
    /// A resting order trades `qty` (visible execution); at zero it leaves the book.
    Execute,
}

/// One order-by-order event. Every event names its order's side and price as
/// well as its id (as LOBSTER's messages do), so an L2 book can apply it too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct L3Event {
    pub kind: L3Kind,
    pub id: OrderId,
    pub side: BookSide,
    pub price: i64,
    pub qty: i64,
}

/// Find `price` (Ok) or where it would go (Err) in one side's levels, kept
/// sorted so the best price is last (bids ascending, asks descending).
pub(crate) fn search_side<T>(levels: &[T], side: BookSide, price: i64, price_of: impl Fn(&T) -> i64) -> Result<usize, usize> {
    match side {
        BookSide::Bid => levels.binary_search_by(|l| price_of(l).cmp(&price)),
        BookSide::Ask => levels.binary_search_by(|l| price.cmp(&price_of(l))),
    }
}

/// A trade print: `qty` traded at `price` against resting liquidity on
/// `resting_side` (a buy aggressor lifts the ask: `resting_side` = Ask).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TradePrint {
    /// Exchange time (Unix ns for Binance; ns after midnight for LOBSTER).
    pub ts_ns: u64,
    pub price: i64,
    pub qty: i64,
    pub resting_side: BookSide,
}
