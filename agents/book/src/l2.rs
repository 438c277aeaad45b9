use crate::error::BookError;
use crate::read::{BookRead, QueueQuery};
use crate::types::{BookSide, Grid, L3Event, L3Kind, Level, search_side};

/// A price-level book. Each side is a `Vec` sorted so the best price is last:
/// updates cluster at the touch, so inserts and removals there move few
/// elements, and a binary search finds any level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L2Book {
    grid: Grid,
    /// Ascending prices (best bid last).
    bids: Vec<Level>,
    /// Descending prices (best ask last).
    asks: Vec<Level>,
}

/// Restores one level to what it was before an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "an undo record does nothing unless applied"]
pub struct L2Undo {
    side: BookSide,
    price: i64,
    previous_qty: i64,
}

impl L2Book {
    pub fn new(grid: Grid) -> Self {
        Self::with_capacity(grid, 64)
    }

    /// A book with room for `levels` price levels per side before it allocates.
    pub fn with_capacity(grid: Grid, levels: usize) -> Self {
        Self { grid, bids: Vec::with_capacity(levels), asks: Vec::with_capacity(levels) }
    }

    pub fn grid(&self) -> Grid {
        self.grid
    }

    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
    }

    fn side_vec(&self, side: BookSide) -> &Vec<Level> {
        match side {
            BookSide::Bid => &self.bids,
            BookSide::Ask => &self.asks,
        }
    }

    fn side_vec_mut(&mut self, side: BookSide) -> &mut Vec<Level> {
        match side {
            BookSide::Bid => &mut self.bids,
            BookSide::Ask => &mut self.asks,
        }
    }

    /// Where `price` is (Ok) or would go (Err) in a side's vector.
    fn search(levels: &[Level], side: BookSide, price: i64) -> Result<usize, usize> {
        search_side(levels, side, price, |l| l.price)
    }

    /// Resting size at a price (0 when there is no level).
    pub fn qty_at(&self, side: BookSide, price: i64) -> i64 {
        let levels = self.side_vec(side);
        Self::search(levels, side, price).map_or(0, |i| levels[i].qty)
    }

    fn check_cross(&self, side: BookSide, price: i64) -> Result<(), BookError> {
        match self.best(side.opposite()) {
            // A bid at or above the best ask (an ask at or below the best bid) crosses.
            Some(opposite) if !side.better(opposite.price, price) => {
                Err(BookError::WouldCross { side, price, opposite: opposite.price })
            }
            _ => Ok(()),
        }
    }

    /// Write a level's size without checks (both callers have checked).
    fn write_level(&mut self, side: BookSide, price: i64, qty: i64) -> i64 {
        let levels = self.side_vec_mut(side);
        match Self::search(levels, side, price) {
            Ok(i) if qty == 0 => levels.remove(i).qty,
            Ok(i) => std::mem::replace(&mut levels[i].qty, qty),
            Err(_) if qty == 0 => 0,
            Err(i) => {
                levels.insert(i, Level { price, qty });
                0
            }
        }
    }

    /// Set the size at a price (an absolute update, as Binance's depth diffs
    /// are); 0 removes the level. A non-zero size that would touch or cross
    /// the opposite side is refused.
    pub fn set_level(&mut self, side: BookSide, price: i64, qty: i64) -> Result<L2Undo, BookError> {
        self.grid.check_price(price)?;
        if qty != 0 {
            self.grid.check_qty(qty)?;
            self.check_cross(side, price)?;
        }
        let previous_qty = self.write_level(side, price, qty);
        Ok(L2Undo { side, price, previous_qty })
    }

    /// Apply an order-by-order event by its size change at its price: an add
    /// adds, everything else removes.
    pub fn apply_l3(&mut self, event: &L3Event) -> Result<L2Undo, BookError> {
        self.grid.check_price(event.price)?;
        self.grid.check_qty(event.qty)?;
        let current = self.qty_at(event.side, event.price);
        let new_qty = match event.kind {
            L3Kind::Add => {
                self.check_cross(event.side, event.price)?;
                current + event.qty
            }
            L3Kind::Cancel | L3Kind::Delete | L3Kind::Execute => {
                if event.qty > current {
                    return Err(BookError::LevelOverfill {
                        side: event.side,
                        price: event.price,
                        resting: current,
                        qty: event.qty,
                    });
                }
                current - event.qty
            }
        };
        let previous_qty = self.write_level(event.side, event.price, new_qty);
        Ok(L2Undo { side: event.side, price: event.price, previous_qty })
    }

    /// Put back what an update changed. Undo records must be applied newest first.
    pub fn undo(&mut self, undo: L2Undo) {
        self.write_level(undo.side, undo.price, undo.previous_qty);
    }

    /// Levels of a side, best first.
    pub fn levels(&self, side: BookSide) -> impl ExactSizeIterator<Item = Level> + '_ {
        self.side_vec(side).iter().rev().copied()
    }
}

impl BookRead for L2Book {
    fn level_count(&self, side: BookSide) -> usize {
        self.side_vec(side).len()
    }

    fn level(&self, side: BookSide, index: usize) -> Option<Level> {
        let levels = self.side_vec(side);
        levels.len().checked_sub(index + 1).map(|i| levels[i])
    }

    fn queue_ahead(&self, query: QueueQuery) -> Result<i64, BookError> {
        match query {
            QueueQuery::JoinAt { side, price } => Ok(self.qty_at(side, price)),
            QueueQuery::Order(_) => Err(BookError::NoOrderIdentity),
        }
    }
}
