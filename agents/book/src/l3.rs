use rustc_hash::FxHashMap;

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

/// An order-by-order book: FIFO per price level, orders found by id in O(1).
///
/// Orders live in a slab (`Vec` plus free list) and levels in a `Vec` per side
/// sorted best-last, all with capacity reserved up front, so updates allocate
/// nothing once the book has reached its working size.
#[derive(Debug, Clone)]
pub struct L3Book {
    grid: Grid,
    bids: Vec<L3Level>,
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

impl L3Book {
    pub fn new(grid: Grid) -> Self {
        Self::with_capacity(grid, 1024, 256)
    }

    /// A book with room for `orders` resting orders and `levels` levels per side before it allocates.
    pub fn with_capacity(grid: Grid, orders: usize, levels: usize) -> Self {
        let mut index = FxHashMap::default();
        index.reserve(orders);
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

    /// Add size that rested before the book began watching, at the front of a
    /// level's queue, without an order id; later events for ids the book does
    /// not know take their size from it (LOBSTER's orders from before the sample).
    pub fn seed_level(&mut self, side: BookSide, price: i64, qty: i64) -> Result<(), BookError> {
        self.grid.check_price(price)?;
        self.grid.check_qty(qty)?;
        self.check_cross(side, price)?;
        let level = self.level_or_insert(side, price);
        level.anonymous_qty += qty;
        level.total_qty += qty;
        Ok(())
    }

    /// Apply one event; on error nothing changed.
    pub fn apply(&mut self, event: &L3Event) -> Result<L3Undo, BookError> {
        self.grid.check_price(event.price)?;
        self.grid.check_qty(event.qty)?;
        if event.kind == L3Kind::Add {
            if self.index.contains_key(&event.id) {
                return Err(BookError::DuplicateOrder { id: event.id });
            }
            self.check_cross(event.side, event.price)?;
            let order = RestingOrder { id: event.id, side: event.side, price: event.price, qty: event.qty };
            self.insert_after_or_tail(order, Placement::Tail);
            return Ok(L3Undo(UndoAction::Added { id: event.id }));
        }
        let Some(&slot) = self.index.get(&event.id) else {
            return self.take_anonymous(event);
        };
        let order = self.nodes[slot as usize].order;
        if order.side != event.side || order.price != event.price {
            return Err(BookError::OrderMismatch {
                id: event.id,
                side: event.side,
                price: event.price,
                actual_side: order.side,
                actual_price: order.price,
            });
        }
        if event.qty > order.qty {
            return Err(BookError::Overfill { id: event.id, resting: order.qty, qty: event.qty });
        }
        if event.kind == L3Kind::Delete && event.qty != order.qty {
            return Err(BookError::DeleteSize { id: event.id, resting: order.qty, qty: event.qty });
        }
        if event.qty == order.qty {
            let prev = self.nodes[slot as usize].prev;
            let after = (prev != NIL).then(|| self.nodes[prev as usize].order.id);
            self.remove_slot(slot);
            return Ok(L3Undo(UndoAction::Removed { order, after }));
        }
        self.nodes[slot as usize].order.qty -= event.qty;
        if let Some(level) = self.level_mut(order.side, order.price) {
            level.total_qty -= event.qty;
        }
        Ok(L3Undo(UndoAction::Reduced { id: Some(event.id), side: order.side, price: order.price, qty: event.qty }))
    }

    /// Put back what an update changed. Undo records must be applied newest first.
    pub fn undo(&mut self, undo: L3Undo) {
        match undo.0 {
            UndoAction::Added { id } => {
                if let Some(&slot) = self.index.get(&id) {
                    self.remove_slot(slot);
                }
            }
            UndoAction::Reduced { id: Some(id), side, price, qty } => {
                if let Some(&slot) = self.index.get(&id) {
                    self.nodes[slot as usize].order.qty += qty;
                }
                let level = self.level_or_insert(side, price);
                level.total_qty += qty;
            }
            UndoAction::Reduced { id: None, side, price, qty } => {
                let level = self.level_or_insert(side, price);
                level.anonymous_qty += qty;
                level.total_qty += qty;
            }
            UndoAction::Removed { order, after } => {
                let placement = match after.and_then(|id| self.index.get(&id).copied()) {
                    Some(slot) => Placement::After(slot),
                    None => Placement::Head,
                };
                self.insert_after_or_tail(order, placement);
            }
        }
    }

    fn take_anonymous(&mut self, event: &L3Event) -> Result<L3Undo, BookError> {
        let side = event.side;
        let levels = self.side_vec_mut(side);
        let Ok(i) = search_side(levels, side, event.price, |l| l.price) else {
            return Err(BookError::UnknownOrder { id: event.id });
        };
        let level = &mut levels[i];
        if level.anonymous_qty < event.qty {
            return Err(BookError::UnknownOrder { id: event.id });
        }
        level.anonymous_qty -= event.qty;
        level.total_qty -= event.qty;
        if level.total_qty == 0 {
            levels.remove(i);
        }
        Ok(L3Undo(UndoAction::Reduced { id: None, side, price: event.price, qty: event.qty }))
    }

    fn check_cross(&self, side: BookSide, price: i64) -> Result<(), BookError> {
        match self.best(side.opposite()) {
            Some(opposite) if !side.better(opposite.price, price) => {
                Err(BookError::WouldCross { side, price, opposite: opposite.price })
            }
            _ => Ok(()),
        }
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
        search_side(levels, side, price, |l| l.price).ok().map(|i| &levels[i])
    }

    fn level_mut(&mut self, side: BookSide, price: i64) -> Option<&mut L3Level> {
        let levels = self.side_vec_mut(side);
        search_side(levels, side, price, |l| l.price).ok().map(|i| &mut levels[i])
    }

    fn level_or_insert(&mut self, side: BookSide, price: i64) -> &mut L3Level {
        let levels = self.side_vec_mut(side);
        let i = match search_side(levels, side, price, |l| l.price) {
            Ok(i) => i,
            Err(i) => {
                levels.insert(i, L3Level { price, total_qty: 0, anonymous_qty: 0, head: NIL, tail: NIL });
                i
            }
        };
        &mut levels[i]
    }

    fn insert_after_or_tail(&mut self, order: RestingOrder, placement: Placement) {
        let node = OrderNode { order, prev: NIL, next: NIL };
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
        self.index.insert(order.id, slot);
        let level = self.level_or_insert(order.side, order.price);
        level.total_qty += order.qty;
        let (prev, next) = match placement {
            Placement::Tail => (level.tail, NIL),
            Placement::Head => (NIL, level.head),
            Placement::After(prev) => (prev, self.nodes[prev as usize].next),
        };
        self.nodes[slot as usize].prev = prev;
        self.nodes[slot as usize].next = next;
        if prev != NIL {
            self.nodes[prev as usize].next = slot;
        }
        if next != NIL {
            self.nodes[next as usize].prev = slot;
        }
        if let Some(level) = self.level_mut(order.side, order.price) {
            if prev == NIL {
                level.head = slot;
            }
            if next == NIL {
                level.tail = slot;
            }
        }
    }

    fn remove_slot(&mut self, slot: u32) {
        let OrderNode { order, prev, next } = self.nodes[slot as usize];
        if prev != NIL {
            self.nodes[prev as usize].next = next;
        }
        if next != NIL {
            self.nodes[next as usize].prev = prev;
        }
        self.index.remove(&order.id);
        self.free.push(slot);
        let levels = self.side_vec_mut(order.side);
        if let Ok(i) = search_side(levels, order.side, order.price, |l| l.price) {
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

#[derive(Debug, Clone, Copy)]
enum Placement {
    Tail,
    Head,
    After(u32),
}

impl BookRead for L3Book {
    fn level_count(&self, side: BookSide) -> usize {
        self.side_vec(side).len()
    }

    fn level(&self, side: BookSide, index: usize) -> Option<Level> {
        let levels = self.side_vec(side);
        levels.len().checked_sub(index + 1).map(|i| Level { price: levels[i].price, qty: levels[i].total_qty })
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
