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
    #[inline]
    pub fn opposite(self) -> Self {
        match self {
            BookSide::Bid => BookSide::Ask,
            BookSide::Ask => BookSide::Bid,
        }
    }

    /// Whether `a` is a better price than `b` on this side.
    #[inline]
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
///
/// Build it with [`Grid::new`]. The fields are public for reading; a grid
/// written by hand with a step that is not positive is refused by every check
/// ([`BookError::InvalidGrid`]) rather than dividing by zero.
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
    #[inline]
    pub fn check_price(&self, price: i64) -> Result<(), BookError> {
        if price <= 0 {
            return Err(BookError::NonPositivePrice { price });
        }
        if self.tick <= 0 {
            return Err(BookError::InvalidGrid { tick: self.tick, lot: self.lot });
        }
        if price % self.tick != 0 {
            return Err(BookError::OffTickGrid { price, tick: self.tick });
        }
        Ok(())
    }

    /// A positive size in whole lots.
    #[inline]
    pub fn check_qty(&self, qty: i64) -> Result<(), BookError> {
        if qty <= 0 {
            return Err(BookError::NonPositiveQty { qty });
        }
        if self.lot <= 0 {
            return Err(BookError::InvalidGrid { tick: self.tick, lot: self.lot });
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

/// How many levels at the touch end of a side [`search_side`] scans one by one
/// before it falls back to a binary search: most updates land there.
const TOUCH_SCAN_LEVELS: usize = 8;

/// Find `price` (Ok) or where it would go (Err) in one side's levels, kept
/// sorted so the best price is last (bids ascending, asks descending).
///
/// Updates cluster at the touch, so the last few levels are scanned first
/// (one predictable compare each, no mispredicted halving); a price deeper in
/// the book is binary-searched.
#[inline]
pub(crate) fn search_side<T>(
    levels: &[T],
    side: BookSide,
    price: i64,
    price_of: impl Fn(&T) -> i64,
) -> Result<usize, usize> {
    // Key that grows towards the touch on both sides, so one comparison serves both.
    let key = |p: i64| match side {
        BookSide::Bid => p,
        BookSide::Ask => p.wrapping_neg(),
    };
    let target = key(price);
    let len = levels.len();
    let scan_from = len.saturating_sub(TOUCH_SCAN_LEVELS);
    let mut i = len;
    while i > scan_from {
        let at = key(price_of(&levels[i - 1]));
        if at == target {
            return Ok(i - 1);
        }
        if at < target {
            return Err(i);
        }
        i -= 1;
    }
    levels[..scan_from].binary_search_by(|l| key(price_of(l)).cmp(&target))
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
