use crate::error::BookError;
use crate::types::{BookSide, Level, OrderId};

/// Which queue position [`BookRead::queue_ahead`] is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueQuery {
    /// A new order joining `price` on `side` now: everything resting there is ahead of it.
    JoinAt { side: BookSide, price: i64 },
    /// A resting order, by id (L3 books only).
    Order(OrderId),
}

/// The read interface both books share. Level index 0 is the touch (best price).
pub trait BookRead {
    /// Number of price levels on a side.
    fn level_count(&self, side: BookSide) -> usize;

    /// The `index`-th best level on a side (0 = best).
    fn level(&self, side: BookSide, index: usize) -> Option<Level>;

    /// Size ahead of the queried position in its level's FIFO queue.
    fn queue_ahead(&self, query: QueueQuery) -> Result<i64, BookError>;

    /// Best level on a side.
    fn best(&self, side: BookSide) -> Option<Level> {
        self.level(side, 0)
    }

    fn best_bid(&self) -> Option<Level> {
        self.best(BookSide::Bid)
    }

    fn best_ask(&self) -> Option<Level> {
        self.best(BookSide::Ask)
    }

    /// Twice the mid price (bid + ask), exact in integers; `None` unless both
    /// sides have a level (or if the sum would not fit an `i64`).
    fn mid_x2(&self) -> Option<i64> {
        self.best_bid()?.price.checked_add(self.best_ask()?.price)
    }

    /// Whether the best bid is at or above the best ask.
    fn is_crossed(&self) -> bool {
        matches!((self.best_bid(), self.best_ask()), (Some(b), Some(a)) if b.price >= a.price)
    }

    /// Copy up to `out.len()` levels of a side, best first; returns how many were written.
    fn depth(&self, side: BookSide, out: &mut [Level]) -> usize {
        let mut written = 0;
        for (index, slot) in out.iter_mut().enumerate() {
            match self.level(side, index) {
                Some(level) => {
                    *slot = level;
                    written += 1;
                }
                None => break,
            }
        }
        written
    }

    /// Total size on `side` at prices within `bp` basis points of the mid
    /// (|price − mid| ≤ mid · bp / 10,000, boundary included, computed exactly
    /// in integers); 0 unless both sides have a level.
    fn volume_within_bp(&self, side: BookSide, bp: u32) -> i64 {
        let (Some(bid), Some(ask)) = (self.best_bid(), self.best_ask()) else { return 0 };
        // Twice the mid, in i128 so that no price can overflow it.
        let mid_x2 = i128::from(bid.price) + i128::from(ask.price);
        let limit = i128::from(bp) * mid_x2;
        let mut total = 0i64;
        let mut index = 0;
        while let Some(level) = self.level(side, index) {
            // |2·price − 2·mid| · 10,000 ≤ bp · 2·mid. Levels run outwards from
            // the touch, so the first one past the limit ends the walk.
            let distance = (2 * i128::from(level.price) - mid_x2).abs();
            if distance * 10_000 > limit {
                break;
            }
            total = total.saturating_add(level.qty);
            index += 1;
        }
        total
    }
}
