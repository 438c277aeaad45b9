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

impl L2Undo {
    /// The level as the update left it (for redoing an undone update).
    pub(crate) fn redo_of(self, qty_after: i64) -> Self {
        Self { previous_qty: qty_after, ..self }
    }

    pub fn side(&self) -> BookSide {
        self.side
    }

    pub fn price(&self) -> i64 {
        self.price
    }
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
        match self.side_vec(side.opposite()).last() {
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
    #[inline]
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
    /// adds, everything else removes (and may not remove more than the level has).
    ///
    /// An L2 book knows no orders, so it accepts what only an L3 book can tell
    /// is wrong: a duplicate id, an unknown id, a delete of a size other than
    /// the order's, an event naming the wrong price, as long as the level's
    /// total allows it.
    #[inline]
    pub fn apply_l3(&mut self, event: &L3Event) -> Result<L2Undo, BookError> {
        let L3Event { kind, side, price, qty, .. } = *event;
        self.grid.check_price(price)?;
        self.grid.check_qty(qty)?;
        if kind == L3Kind::Add {
            self.check_cross(side, price)?;
        }
        let levels = self.side_vec_mut(side);
        let found = Self::search(levels, side, price);
        let previous_qty = match (kind, found) {
            (L3Kind::Add, Ok(i)) => {
                let resting = levels[i].qty;
                let sum = resting.checked_add(qty).ok_or(BookError::SizeOverflow { side, price, resting, qty })?;
                std::mem::replace(&mut levels[i].qty, sum)
            }
            (L3Kind::Add, Err(i)) => {
                levels.insert(i, Level { price, qty });
                0
            }
            (L3Kind::Cancel | L3Kind::Delete | L3Kind::Execute, Ok(i)) => {
                let resting = levels[i].qty;
                if qty > resting {
                    return Err(BookError::LevelOverfill { side, price, resting, qty });
                }
                if qty == resting {
                    levels.remove(i);
                } else {
                    levels[i].qty = resting - qty;
                }
                resting
            }
            (L3Kind::Cancel | L3Kind::Delete | L3Kind::Execute, Err(_)) => {
                return Err(BookError::LevelOverfill { side, price, resting: 0, qty });
            }
        };
        Ok(L2Undo { side, price, previous_qty })
    }

    /// Put back what an update changed. Undo records must be applied newest first.
    #[inline]
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

    #[inline]
    fn level(&self, side: BookSide, index: usize) -> Option<Level> {
        let levels = self.side_vec(side);
        levels.len().checked_sub(index)?.checked_sub(1).map(|i| levels[i])
    }

    fn queue_ahead(&self, query: QueueQuery) -> Result<i64, BookError> {
        match query {
            QueueQuery::JoinAt { side, price } => Ok(self.qty_at(side, price)),
            QueueQuery::Order(_) => Err(BookError::NoOrderIdentity),
        }
    }
}
