use crate::types::{BookSide, OrderId};

/// Why a book refused an update. A refused update leaves the book unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BookError {
    #[error("grid needs a positive tick and lot (tick {tick}, lot {lot})")]
    InvalidGrid { tick: i64, lot: i64 },
    #[error("price {price} is not positive")]
    NonPositivePrice { price: i64 },
    #[error("price {price} is off the tick grid (tick {tick})")]
    OffTickGrid { price: i64, tick: i64 },
    #[error("size {qty} is not positive")]
    NonPositiveQty { qty: i64 },
    #[error("size {qty} is not a whole number of lots (lot {lot})")]
    OffLotGrid { qty: i64, lot: i64 },
    #[error("order {id} is not in the book")]
    UnknownOrder { id: OrderId },
    #[error("order {id} is already in the book")]
    DuplicateOrder { id: OrderId },
    #[error("order {id} rests on the {actual_side:?} side at {actual_price}; the event says {side:?} at {price}")]
    OrderMismatch { id: OrderId, side: BookSide, price: i64, actual_side: BookSide, actual_price: i64 },
    #[error("order {id} has {resting} left; the event removes {qty}")]
    Overfill { id: OrderId, resting: i64, qty: i64 },
    #[error("order {id} has {resting} left; a delete must remove all of it, not {qty}")]
    DeleteSize { id: OrderId, resting: i64, qty: i64 },
    #[error("the {side:?} level at {price} has {resting}; the event removes {qty}")]
    LevelOverfill { side: BookSide, price: i64, resting: i64, qty: i64 },
    #[error("a {side:?} at {price} would cross the best opposite price {opposite}")]
    WouldCross { side: BookSide, price: i64, opposite: i64 },
    #[error("an L2 book has no orders; ask for the queue at a price instead")]
    NoOrderIdentity,
    #[error("the {side:?} level at {price} has {resting}; adding {qty} overflows a 64-bit size")]
    SizeOverflow { side: BookSide, price: i64, resting: i64, qty: i64 },
}
