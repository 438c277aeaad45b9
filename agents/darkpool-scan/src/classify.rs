//! Whether the visible book explains a trade print.
use qp_book::{BookRead, BookSide, TradePrint};

/// Why a print must have executed against hidden liquidity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HiddenReason {
    /// The resting side had no visible level at all.
    EmptySide,
    /// Strictly between the best bid and the best ask: no visible order rests there.
    InsideSpread,
    /// At or behind the resting side's touch, but at a price with no visible level
    /// (or through the opposite touch).
    NoVisibleLevel,
    /// At a visible level, for more than the visible size there.
    ExceedsVisibleSize,
}

/// Classify a print against the visible book as it stood before the print:
/// `None` when visible liquidity explains it, else why it cannot.
pub fn hidden_reason<B: BookRead + ?Sized>(book: &B, print: &TradePrint) -> Option<HiddenReason> {
    let side = print.resting_side;
    let Some(touch) = book.best(side) else { return Some(HiddenReason::EmptySide) };
    if side.better(print.price, touch.price) {
        // Better than the resting side's touch: inside the spread, or through the other side.
        let inside = match book.best(side.opposite()) {
            // Strictly better than the other side's touch, seen from that side: inside the spread.
            Some(opposite) => side.opposite().better(print.price, opposite.price),
            None => true,
        };
        return Some(if inside { HiddenReason::InsideSpread } else { HiddenReason::NoVisibleLevel });
    }
    let mut index = 0;
    while let Some(level) = book.level(side, index) {
        if level.price == print.price {
            return (print.qty > level.qty).then_some(HiddenReason::ExceedsVisibleSize);
        }
        if side.better(print.price, level.price) {
            // Walked past the price: no level there.
            break;
        }
        index += 1;
    }
    Some(HiddenReason::NoVisibleLevel)
}

/// The aggressor of a print against `resting_side` (buyers lift asks).
pub fn aggressor(resting_side: BookSide) -> qp_wire::Side {
    match resting_side {
        BookSide::Ask => qp_wire::Side::Buy,
        BookSide::Bid => qp_wire::Side::Sell,
    }
}
