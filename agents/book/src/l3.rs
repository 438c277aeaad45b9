use rustc_hash::FxHashMap;
use std::collections::hash_map::Entry;

use crate::error::BookError;
use crate::read::{BookRead, QueueQuery};
use crate::types::{BookSide, Grid, L3Event, L3Kind, Level, OrderId, search_side};

/// End of a queue / no node.
const NIL: u32 = u32::MAX;

/// A resting order, as [`L3Book::order`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestingOrder {
    pub id: OrderId,
    pub side: BookSide,
    pub price: i64,
    pub qty: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OrderNode {
    order: RestingOrder,
    prev: u32,
    next: u32,
}

/// One price level: a FIFO queue of orders (a doubly linked list through the
/// node slab, so a cancel anywhere is O(1)) behind any anonymous size that
/// rested before the book started watching (see [`L3Book::seed_level`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct L3Level {
    price: i64,
    /// Orders plus anonymous size.
    total_qty: i64,
    /// Size from before the sample began, of orders the book has no id for; it is first in the queue.
    anonymous_qty: i64,
    head: u32,
    tail: u32,
}

impl L3Level {
    fn empty(price: i64) -> Self {
        Self { price, total_qty: 0, anonymous_qty: 0, head: NIL, tail: NIL }
    }
}

/// An order-by-order book: FIFO per price level, orders found by id in O(1).
///
/// Orders live in a slab (`Vec` plus free list) and levels in a `Vec` per side
/// sorted best-last, all with capacity reserved up front, so updates allocate
/// nothing while the book stays within the capacity it was built with
/// ([`L3Book::with_capacity`]).
#[derive(Debug, Clone)]
pub struct L3Book {
    grid: Grid,
    /// Ascending prices (best bid last).
    bids: Vec<L3Level>,
    /// Descending prices (best ask last).
    asks: Vec<L3Level>,
    nodes: Vec<OrderNode>,
    free: Vec<u32>,
    index: FxHashMap<OrderId, u32>,
}

/// Restores the book to what it was before one update, queue positions included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "an undo record does nothing unless applied"]
pub struct L3Undo(UndoAction);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UndoAction {
    /// Remove the order that was added (it is last in its queue).
    Added { id: OrderId },
    /// Give back size taken from an order (or, with no id, from the anonymous size).
    Reduced { id: Option<OrderId>, side: BookSide, price: i64, qty: i64 },
    /// Put a removed order back behind `after` (or first, behind the anonymous size).
    Removed { order: RestingOrder, after: Option<OrderId> },
}

/// Where [`L3Book::link`] puts an order in its level's queue.
#[derive(Debug, Clone, Copy)]
enum Placement {
    Tail,
    Head,
    After(u32),
}

fn search(levels: &[L3Level], side: BookSide, price: i64) -> Result<usize, usize> {
    search_side(levels, side, price, |l| l.price)
}

/// A refusal if an order on `side` at `price` would touch or cross `opposite`'s best level.
#[inline]
fn check_cross(opposite: &[L3Level], side: BookSide, price: i64) -> Result<(), BookError> {
    match opposite.last() {
        Some(best) if !side.better(best.price, price) => {
            Err(BookError::WouldCross { side, price, opposite: best.price })
        }
        _ => Ok(()),
    }
}

impl L3Book {
    pub fn new(grid: Grid) -> Self {
        Self::with_capacity(grid, 1024, 256)
    }

    /// A book that allocates nothing while at most `orders` orders rest in it
    /// and at most `levels` levels stand on each side, however many updates it
    /// takes. (The id index is sized at twice `orders`: a hash table that churns
    /// below half its capacity cleans its tombstones in place instead of growing.)
    pub fn with_capacity(grid: Grid, orders: usize, levels: usize) -> Self {
        let mut index = FxHashMap::default();
        index.reserve(orders.saturating_mul(2));
        Self {
            grid,
            bids: Vec::with_capacity(levels),
            asks: Vec::with_capacity(levels),
            nodes: Vec::with_capacity(orders),
            free: Vec::with_capacity(orders),
            index,
        }
    }

    pub fn grid(&self) -> Grid {
        self.grid
    }

    /// Empty the book, keeping its capacity.
    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
        self.nodes.clear();
        self.free.clear();
        self.index.clear();
    }

    /// Number of orders with ids in the book.
    pub fn order_count(&self) -> usize {
        self.index.len()
    }

    /// A resting order by id.
    pub fn order(&self, id: OrderId) -> Option<RestingOrder> {
        self.index.get(&id).map(|&slot| self.nodes[slot as usize].order)
    }

    /// Levels of a side, best first.
    pub fn levels(&self, side: BookSide) -> impl ExactSizeIterator<Item = Level> + '_ {
        self.side_vec(side).iter().rev().map(|l| Level { price: l.price, qty: l.total_qty })
    }

    /// The orders with ids resting at a price, in queue (FIFO) order; the
    /// level's anonymous size ([`L3Book::anonymous_qty`]) is ahead of all of them.
    pub fn queue(&self, side: BookSide, price: i64) -> impl Iterator<Item = RestingOrder> + '_ {
        let head = self.level_ref(side, price).map_or(NIL, |l| l.head);
        std::iter::successors((head != NIL).then_some(head), move |&slot| {
            let next = self.nodes[slot as usize].next;
            (next != NIL).then_some(next)
        })
        .map(move |slot| self.nodes[slot as usize].order)
    }

    /// Size resting at a price without an order id (see [`L3Book::seed_level`]).
    pub fn anonymous_qty(&self, side: BookSide, price: i64) -> i64 {
        self.level_ref(side, price).map_or(0, |l| l.anonymous_qty)
    }

    /// Add size that rested before the book began watching, at the front of a
    /// level's queue, without an order id; later events for ids the book does
    /// not know take their size from it (LOBSTER's orders from before the sample).
    pub fn seed_level(&mut self, side: BookSide, price: i64, qty: i64) -> Result<(), BookError> {
        self.grid.check_price(price)?;
        self.grid.check_qty(qty)?;
        check_cross(self.side_vec(side.opposite()), side, price)?;
        let i = self.level_index_or_insert(side, price, qty)?;
        let level = &mut self.side_vec_mut(side)[i];
        level.anonymous_qty += qty;
        level.total_qty += qty;
        Ok(())
    }

    /// Apply one event; on error nothing changed.
    ///
    /// An add rests at the back of its level's queue and must not touch or
    /// cross the opposite side. A cancel or execute takes size from the order
    /// (at most all of it, which removes it); a delete removes the order and
    /// must name exactly the size it still has. Events for ids the book does not
    /// know take their size from the level's anonymous size, if it has enough.
    #[inline]
    pub fn apply(&mut self, event: &L3Event) -> Result<L3Undo, BookError> {
        self.grid.check_price(event.price)?;
        self.grid.check_qty(event.qty)?;
        match event.kind {
            L3Kind::Add => self.add(event),
            L3Kind::Cancel | L3Kind::Delete | L3Kind::Execute => self.reduce(event),
        }
    }

    fn add(&mut self, event: &L3Event) -> Result<L3Undo, BookError> {
        let L3Event { id, side, price, qty, .. } = *event;
        if self.index.contains_key(&id) {
            return Err(BookError::DuplicateOrder { id });
        }
        check_cross(self.side_vec(side.opposite()), side, price)?;
        let i = self.level_index_or_insert(side, price, qty)?;
        let slot = self.link(RestingOrder { id, side, price, qty }, i, Placement::Tail);
        self.index.insert(id, slot);
        Ok(L3Undo(UndoAction::Added { id }))
    }

    fn reduce(&mut self, event: &L3Event) -> Result<L3Undo, BookError> {
        let L3Event { kind, id, side, price, qty } = *event;
        let Entry::Occupied(entry) = self.index.entry(id) else {
            return self.take_anonymous(event);
        };
        let slot = *entry.get();
        let order = self.nodes[slot as usize].order;
        if order.side != side || order.price != price {
            return Err(BookError::OrderMismatch {
                id,
                side,
                price,
                actual_side: order.side,
                actual_price: order.price,
            });
        }
        if qty > order.qty {
            return Err(BookError::Overfill { id, resting: order.qty, qty });
        }
        if kind == L3Kind::Delete && qty != order.qty {
            return Err(BookError::DeleteSize { id, resting: order.qty, qty });
        }
        if qty == order.qty {
            entry.remove();
            let prev = self.nodes[slot as usize].prev;
            let after = (prev != NIL).then(|| self.nodes[prev as usize].order.id);
            self.unlink(slot);
            return Ok(L3Undo(UndoAction::Removed { order, after }));
        }
        self.nodes[slot as usize].order.qty -= qty;
        let levels = match side {
            BookSide::Bid => &mut self.bids,
            BookSide::Ask => &mut self.asks,
        };
        if let Ok(i) = search(levels, side, price) {
            levels[i].total_qty -= qty;
        }
        Ok(L3Undo(UndoAction::Reduced { id: Some(id), side, price, qty }))
    }

    /// Put back what an update changed. Undo records must be applied newest
    /// first; then the book is restored exactly, queue positions included.
    pub fn undo(&mut self, undo: L3Undo) {
        match undo.0 {
            UndoAction::Added { id } => {
                if let Some(slot) = self.index.remove(&id) {
                    self.unlink(slot);
                }
            }
            UndoAction::Reduced { id: Some(id), side, price, qty } => {
                if let Some(&slot) = self.index.get(&id) {
                    self.nodes[slot as usize].order.qty += qty;
                }
                if let Ok(i) = self.level_index_or_insert(side, price, qty) {
                    self.side_vec_mut(side)[i].total_qty += qty;
                }
            }
            UndoAction::Reduced { id: None, side, price, qty } => {
                if let Ok(i) = self.level_index_or_insert(side, price, qty) {
                    let level = &mut self.side_vec_mut(side)[i];
                    level.anonymous_qty += qty;
                    level.total_qty += qty;
                }
            }
            UndoAction::Removed { order, after } => {
                let placement = match after.and_then(|id| self.index.get(&id).copied()) {
                    Some(slot) => Placement::After(slot),
                    None => Placement::Head,
                };
                if let Ok(i) = self.level_index_or_insert(order.side, order.price, order.qty) {
                    let slot = self.link(order, i, placement);
                    self.index.insert(order.id, slot);
                }
            }
        }
    }

    fn take_anonymous(&mut self, event: &L3Event) -> Result<L3Undo, BookError> {
        let L3Event { id, side, price, qty, .. } = *event;
        let levels = self.side_vec_mut(side);
        let Ok(i) = search(levels, side, price) else {
            return Err(BookError::UnknownOrder { id });
        };
        let level = &mut levels[i];
        if level.anonymous_qty < qty {
            return Err(BookError::UnknownOrder { id });
        }
        level.anonymous_qty -= qty;
        level.total_qty -= qty;
        if level.total_qty == 0 {
            levels.remove(i);
        }
        Ok(L3Undo(UndoAction::Reduced { id: None, side, price, qty }))
    }

    fn side_vec(&self, side: BookSide) -> &Vec<L3Level> {
        match side {
            BookSide::Bid => &self.bids,
            BookSide::Ask => &self.asks,
        }
    }

    fn side_vec_mut(&mut self, side: BookSide) -> &mut Vec<L3Level> {
        match side {
            BookSide::Bid => &mut self.bids,
            BookSide::Ask => &mut self.asks,
        }
    }

    fn level_ref(&self, side: BookSide, price: i64) -> Option<&L3Level> {
        let levels = self.side_vec(side);
        search(levels, side, price).ok().map(|i| &levels[i])
    }

    /// The index of the level at `price`, inserted empty if there is none,
    /// after checking that `qty` more fits its total.
    fn level_index_or_insert(&mut self, side: BookSide, price: i64, qty: i64) -> Result<usize, BookError> {
        let levels = self.side_vec_mut(side);
        match search(levels, side, price) {
            Ok(i) => {
                let resting = levels[i].total_qty;
                if resting.checked_add(qty).is_none() {
                    return Err(BookError::SizeOverflow { side, price, resting, qty });
                }
                Ok(i)
            }
            Err(i) => {
                levels.insert(i, L3Level::empty(price));
                Ok(i)
            }
        }
    }

    /// Put `order` into a slab slot and into the queue of level `level_index`
    /// of its side (which exists and has room for its size); returns the slot.
    /// The caller enters the slot in the index.
    fn link(&mut self, order: RestingOrder, level_index: usize, placement: Placement) -> u32 {
        let level = match order.side {
            BookSide::Bid => &mut self.bids[level_index],
            BookSide::Ask => &mut self.asks[level_index],
        };
        let (prev, next) = match placement {
            Placement::Tail => (level.tail, NIL),
            Placement::Head => (NIL, level.head),
            Placement::After(prev) => (prev, self.nodes[prev as usize].next),
        };
        let node = OrderNode { order, prev, next };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.nodes[slot as usize] = node;
                slot
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        if prev == NIL {
            level.head = slot;
        } else {
            self.nodes[prev as usize].next = slot;
        }
        if next == NIL {
            level.tail = slot;
        } else {
            self.nodes[next as usize].prev = slot;
        }
        level.total_qty += order.qty;
        slot
    }

    /// Take the order in `slot` out of its queue and the slab (the caller has
    /// removed it from the index); its level goes when it is empty.
    fn unlink(&mut self, slot: u32) {
        let OrderNode { order, prev, next } = self.nodes[slot as usize];
        if prev != NIL {
            self.nodes[prev as usize].next = next;
        }
        if next != NIL {
            self.nodes[next as usize].prev = prev;
        }
        self.free.push(slot);
        let levels = match order.side {
            BookSide::Bid => &mut self.bids,
            BookSide::Ask => &mut self.asks,
        };
        if let Ok(i) = search(levels, order.side, order.price) {
            let level = &mut levels[i];
            if prev == NIL {
                level.head = next;
            }
            if next == NIL {
                level.tail = prev;
            }
            level.total_qty -= order.qty;
            if level.total_qty == 0 {
                levels.remove(i);
            }
        }
    }
}

impl BookRead for L3Book {
    fn level_count(&self, side: BookSide) -> usize {
        self.side_vec(side).len()
    }

    #[inline]
    fn level(&self, side: BookSide, index: usize) -> Option<Level> {
        let levels = self.side_vec(side);
        let i = levels.len().checked_sub(index)?.checked_sub(1)?;
        Some(Level { price: levels[i].price, qty: levels[i].total_qty })
    }

    fn queue_ahead(&self, query: QueueQuery) -> Result<i64, BookError> {
        match query {
            QueueQuery::JoinAt { side, price } => Ok(self.level_ref(side, price).map_or(0, |l| l.total_qty)),
            QueueQuery::Order(id) => {
                let &slot = self.index.get(&id).ok_or(BookError::UnknownOrder { id })?;
                let order = self.nodes[slot as usize].order;
                let level = self.level_ref(order.side, order.price).ok_or(BookError::UnknownOrder { id })?;
                let mut ahead = level.anonymous_qty;
                let mut cursor = level.head;
                while cursor != slot && cursor != NIL {
                    ahead += self.nodes[cursor as usize].order.qty;
                    cursor = self.nodes[cursor as usize].next;
                }
                Ok(ahead)
            }
        }
    }
}
