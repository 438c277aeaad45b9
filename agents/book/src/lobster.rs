//! LOBSTER message and order-book rows, and the one-step checker.
//!
//! A LOBSTER sample is two CSV files of equal length: message k (time, event
//! type, order id, size, price, direction) and order-book row k, the book's
//! first `N` levels per side *after* message k. LOBSTER records only events
//! inside those `N` levels, so the book beyond level `N` is never seen and a
//! level that surfaces from beyond it cannot be predicted.
//!
//! [`check_lobster`] therefore checks one step at a time: the book of row k−1
//! plus message k must give row k on every level the two determine. A side's
//! levels are determined down to row k−1's `N`-th price when that row was full
//! (all of them when it was not); a level of row k below that is reported as
//! unknowable, not as a match (it must still lie beyond the known prices).
//! Orders resting before the sample began are simply part of row k−1's levels;
//! hidden executions (type 5), cross trades (6) and halts (7) leave the visible
//! book unchanged.
//!
//! Separately, for information, a continuous replay seeds an [`L3Book`] once
//! from row 1 (anonymous size, [`L3Book::seed_level`]) and applies messages
//! 2.. with their real order ids, counting rows it reproduces on all levels.

use qp_replay::{FixedPointError, parse_fixed};

use crate::{BookError, BookSide, Grid, L2Book, L3Book, L3Event, L3Kind, Level, OrderId};

/// LOBSTER's price for an empty ask level.
pub const EMPTY_ASK_PRICE: i64 = 9_999_999_999;
/// LOBSTER's price for an empty bid level.
pub const EMPTY_BID_PRICE: i64 = -9_999_999_999;

/// A message row's event type (LOBSTER's numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LobsterEventType {
    /// 1: a new limit order.
    Submit,
    /// 2: part of an order cancelled.
    PartialCancel,
    /// 3: an order deleted.
    Delete,
    /// 4: a visible order executed.
    VisibleExecution,
    /// 5: a hidden order executed (not in the visible book).
    HiddenExecution,
    /// 6: a cross trade (auction); not in the visible book.
    CrossTrade,
    /// 7: a trading halt indicator.
    Halt,
}

impl LobsterEventType {
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            1 => Self::Submit,
            2 => Self::PartialCancel,
            3 => Self::Delete,
            4 => Self::VisibleExecution,
            5 => Self::HiddenExecution,
            6 => Self::CrossTrade,
            7 => Self::Halt,
            _ => return None,
        })
    }
}

/// One message row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LobsterMessage {
    /// Time after midnight, in ns.
    pub time_ns: u64,
    pub event: LobsterEventType,
    pub order_id: OrderId,
    pub size: i64,
    /// USD × 10,000 (negative only in halt rows).
    pub price: i64,
    /// 1 = buy order (bid side), −1 = sell order (ask side).
    pub side: BookSide,
}

/// Why a row could not be read: the line (1-based) and column (1-based; 0 for the whole line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {kind}")]
pub struct LobsterError {
    pub line: usize,
    pub column: usize,
    pub kind: LobsterErrorKind,
}

/// What was wrong with a row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LobsterErrorKind {
    #[error("missing column (a row has {expected})")]
    MissingColumn { expected: usize },
    #[error("more columns than the {expected} a row has")]
    ExtraColumn { expected: usize },
    #[error("{columns} columns is not a whole number of levels (4 columns each)")]
    BadColumnCount { columns: usize },
    #[error("{text:?} is not an integer")]
    NotInteger { text: String },
    #[error("time: {0}")]
    BadTime(FixedPointError),
    #[error("event type {0} is not one of LOBSTER's (1 to 7)")]
    UnknownEventType(i64),
    #[error("direction {0} is neither 1 (buy) nor -1 (sell)")]
    BadDirection(i64),
    #[error("size {0} is negative")]
    NegativeSize(i64),
    #[error("{side:?} level price {price} is not positive")]
    NonPositivePrice { side: BookSide, price: i64 },
    #[error("{side:?} level size {qty} is not positive")]
    NonPositiveQty { side: BookSide, qty: i64 },
    #[error("empty {side:?} level with size {qty} (padding has size 0)")]
    PaddingWithSize { side: BookSide, qty: i64 },
    #[error("{side:?} level after an empty one")]
    LevelAfterEmpty { side: BookSide },
    #[error("{side:?} level at {price} is not behind the level before it")]
    NotSorted { side: BookSide, price: i64 },
}

/// One order-book row: up to `depth` levels per side, best first; LOBSTER's
/// padding for empty levels is dropped, so a side may hold fewer than `depth`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct LobsterBookRow {
    /// Levels per side in the file (10 for `_orderbook_10`).
    pub depth: usize,
    pub asks: Vec<Level>,
    pub bids: Vec<Level>,
}

impl LobsterBookRow {
    pub fn side(&self, side: BookSide) -> &[Level] {
        match side {
            BookSide::Bid => &self.bids,
            BookSide::Ask => &self.asks,
        }
    }

    /// Parse one row (`line_no` is 1-based, for errors).
    pub fn parse(line: &str, line_no: usize) -> Result<Self, LobsterError> {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let columns = line.split(',').count();
        if !columns.is_multiple_of(4) {
            return Err(LobsterError { line: line_no, column: 0, kind: LobsterErrorKind::BadColumnCount { columns } });
        }
        let depth = columns / 4;
        let mut row = Self { depth, asks: Vec::with_capacity(depth), bids: Vec::with_capacity(depth) };
        let mut fields = line.split(',').enumerate();
        let mut next = || -> Result<(usize, i64), LobsterError> {
            match fields.next() {
                Some((index, text)) => Ok((index + 1, parse_integer(text, line_no, index + 1)?)),
                None => Err(LobsterError {
                    line: line_no,
                    column: columns + 1,
                    kind: LobsterErrorKind::MissingColumn { expected: columns },
                }),
            }
        };
        for _ in 0..depth {
            for (side, empty_price) in [(BookSide::Ask, EMPTY_ASK_PRICE), (BookSide::Bid, EMPTY_BID_PRICE)] {
                let (price_column, price) = next()?;
                let (qty_column, qty) = next()?;
                let error = |column, kind| LobsterError { line: line_no, column, kind };
                let levels = match side {
                    BookSide::Bid => &mut row.bids,
                    BookSide::Ask => &mut row.asks,
                };
                if price == empty_price {
                    if qty != 0 {
                        return Err(error(qty_column, LobsterErrorKind::PaddingWithSize { side, qty }));
                    }
                    // Mark the side as ended with an impossible level; removed below.
                    levels.push(Level { price: 0, qty: 0 });
                    continue;
                }
                if levels.last().is_some_and(|l| l.qty == 0) {
                    return Err(error(price_column, LobsterErrorKind::LevelAfterEmpty { side }));
                }
                if price <= 0 {
                    return Err(error(price_column, LobsterErrorKind::NonPositivePrice { side, price }));
                }
                if qty <= 0 {
                    return Err(error(qty_column, LobsterErrorKind::NonPositiveQty { side, qty }));
                }
                if levels.last().is_some_and(|l| !side.better(l.price, price)) {
                    return Err(error(price_column, LobsterErrorKind::NotSorted { side, price }));
                }
                levels.push(Level { price, qty });
            }
        }
        row.asks.retain(|l| l.qty != 0);
        row.bids.retain(|l| l.qty != 0);
        Ok(row)
    }
}

impl LobsterMessage {
    /// Columns in a message row.
    pub const COLUMNS: usize = 6;

    /// Parse one row (`line_no` is 1-based, for errors).
    pub fn parse(line: &str, line_no: usize) -> Result<Self, LobsterError> {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let mut fields = line.split(',');
        let mut columns: [&str; Self::COLUMNS] = [""; Self::COLUMNS];
        for (index, slot) in columns.iter_mut().enumerate() {
            *slot = fields.next().ok_or(LobsterError {
                line: line_no,
                column: index + 1,
                kind: LobsterErrorKind::MissingColumn { expected: Self::COLUMNS },
            })?;
        }
        if fields.next().is_some() {
            return Err(LobsterError {
                line: line_no,
                column: Self::COLUMNS + 1,
                kind: LobsterErrorKind::ExtraColumn { expected: Self::COLUMNS },
            });
        }
        let error = |column, kind| LobsterError { line: line_no, column, kind };
        let time_ns = parse_fixed(columns[0], 9).map_err(|e| error(1, LobsterErrorKind::BadTime(e)))?;
        let code = parse_integer(columns[1], line_no, 2)?;
        let event = LobsterEventType::from_code(code).ok_or(error(2, LobsterErrorKind::UnknownEventType(code)))?;
        let order_id = parse_integer(columns[2], line_no, 3)?;
        let order_id = OrderId::try_from(order_id)
            .map_err(|_| error(3, LobsterErrorKind::NotInteger { text: columns[2].to_owned() }))?;
        let size = parse_integer(columns[3], line_no, 4)?;
        if size < 0 {
            return Err(error(4, LobsterErrorKind::NegativeSize(size)));
        }
        let price = parse_integer(columns[4], line_no, 5)?;
        let side = match parse_integer(columns[5], line_no, 6)? {
            1 => BookSide::Bid,
            -1 => BookSide::Ask,
            other => return Err(error(6, LobsterErrorKind::BadDirection(other))),
        };
        Ok(Self { time_ns: time_ns as u64, event, order_id, size, price, side })
    }

    /// What the message does to the visible book; `None` for hidden executions,
    /// cross trades and halts, which do not touch it.
    pub fn visible_event(&self) -> Option<L3Event> {
        let kind = match self.event {
            LobsterEventType::Submit => L3Kind::Add,
            LobsterEventType::PartialCancel => L3Kind::Cancel,
            LobsterEventType::Delete => L3Kind::Delete,
            LobsterEventType::VisibleExecution => L3Kind::Execute,
            LobsterEventType::HiddenExecution | LobsterEventType::CrossTrade | LobsterEventType::Halt => return None,
        };
        Some(L3Event { kind, id: self.order_id, side: self.side, price: self.price, qty: self.size })
    }
}

fn parse_integer(text: &str, line: usize, column: usize) -> Result<i64, LobsterError> {
    text.parse::<i64>().map_err(|_| LobsterError {
        line,
        column,
        kind: LobsterErrorKind::NotInteger { text: text.chars().take(64).collect() },
    })
}

/// Every message row of a message file (blank lines skipped; line numbers count them).
pub fn parse_messages(text: &str) -> Result<Vec<LobsterMessage>, LobsterError> {
    numbered_lines(text).map(|(line_no, line)| LobsterMessage::parse(line, line_no)).collect()
}

/// Every row of an order-book file (blank lines skipped; line numbers count them).
pub fn parse_book_rows(text: &str) -> Result<Vec<LobsterBookRow>, LobsterError> {
    numbered_lines(text).map(|(line_no, line)| LobsterBookRow::parse(line, line_no)).collect()
}

fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().map(|(index, line)| (index + 1, line)).filter(|(_, line)| !line.trim().is_empty())
}

/// The two files do not pair up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{messages} messages but {rows} order-book rows; LOBSTER pairs them one to one")]
pub struct LobsterLengthMismatch {
    pub messages: usize,
    pub rows: usize,
}

/// What went wrong first in the one-step check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LobsterMismatchKind {
    /// A determined level of row k differs from row k−1 plus message k (`None`: no level).
    Level { side: BookSide, level: usize, expected: Option<Level>, got: Option<Level> },
    /// The book refused row k−1's levels or message k.
    Refused(BookError),
}

/// The first step that failed: `row` is k (1-based, as message k and row k are line k).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LobsterMismatch {
    pub row: usize,
    pub kind: LobsterMismatchKind,
}

/// Figures of [`check_lobster`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LobsterCheckReport {
    pub messages: usize,
    /// Steps checked (rows 2..).
    pub rows_compared: usize,
    /// Steps right on every determined level.
    pub rows_matched: usize,
    /// Steps right on all levels of both sides (nothing unknowable).
    pub rows_matched_all_levels: usize,
    /// Matched steps where some level surfaced from beyond the last and could not be known.
    pub rows_unknowable_level: usize,
    pub first_mismatch: Option<LobsterMismatch>,
    /// Continuous replay from row 1: rows reproduced on all levels of both sides.
    pub continuous_rows_matched: usize,
    /// Continuous replay: messages the L3 book refused (events on size it never saw).
    pub continuous_refused: usize,
}

/// How one step compared.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StepOutcome {
    Matched { unknowable: bool },
    Mismatched(LobsterMismatchKind),
}

/// Check a LOBSTER sample one step at a time, and replay it continuously (see the module docs).
pub fn check_lobster(
    messages: &[LobsterMessage],
    rows: &[LobsterBookRow],
    grid: Grid,
) -> Result<LobsterCheckReport, LobsterLengthMismatch> {
    if messages.len() != rows.len() {
        return Err(LobsterLengthMismatch { messages: messages.len(), rows: rows.len() });
    }
    let mut report = LobsterCheckReport { messages: messages.len(), ..LobsterCheckReport::default() };
    let mut book = L2Book::with_capacity(grid, 32);
    for k in 1..rows.len() {
        report.rows_compared += 1;
        match check_step(&mut book, &rows[k - 1], &messages[k], &rows[k]) {
            StepOutcome::Matched { unknowable } => {
                report.rows_matched += 1;
                if unknowable {
                    report.rows_unknowable_level += 1;
                } else {
                    report.rows_matched_all_levels += 1;
                }
            }
            StepOutcome::Mismatched(kind) => {
                report.first_mismatch.get_or_insert(LobsterMismatch { row: k + 1, kind });
            }
        }
    }
    let (matched, refused) = replay_continuously(messages, rows, grid);
    report.continuous_rows_matched = matched;
    report.continuous_refused = refused;
    Ok(report)
}

/// Row k−1 plus message k against row k, on the levels they determine.
fn check_step(
    book: &mut L2Book,
    before: &LobsterBookRow,
    message: &LobsterMessage,
    after: &LobsterBookRow,
) -> StepOutcome {
    book.clear();
    for side in [BookSide::Bid, BookSide::Ask] {
        for level in before.side(side) {
            if let Err(error) = book.set_level(side, level.price, level.qty) {
                return StepOutcome::Mismatched(LobsterMismatchKind::Refused(error));
            }
        }
    }
    if let Some(event) = message.visible_event()
        && let Err(error) = book.apply_l3(&event)
    {
        return StepOutcome::Mismatched(LobsterMismatchKind::Refused(error));
    }
    let mut unknowable = false;
    for side in [BookSide::Bid, BookSide::Ask] {
        let known = before.side(side);
        // A full row hides what lies beyond its last level; a short one shows the whole side.
        let boundary = (known.len() >= before.depth).then(|| known.last().map(|l| l.price)).flatten();
        let within = |price: i64| boundary.is_none_or(|b| !side.better(b, price));
        let mut predicted = book.levels(side).take_while(|l| within(l.price));
        for level in 0..after.depth {
            let expected = after.side(side).get(level).copied();
            match predicted.next() {
                Some(got) if expected == Some(got) => {}
                Some(got) => {
                    return StepOutcome::Mismatched(LobsterMismatchKind::Level {
                        side,
                        level: level + 1,
                        expected,
                        got: Some(got),
                    });
                }
                None if boundary.is_none() => {
                    if expected.is_some() {
                        return StepOutcome::Mismatched(LobsterMismatchKind::Level {
                            side,
                            level: level + 1,
                            expected,
                            got: None,
                        });
                    }
                }
                None => {
                    // Surfaced from beyond the known levels: it must lie beyond them, and is not known.
                    if let Some(surfaced) = expected
                        && within(surfaced.price)
                    {
                        return StepOutcome::Mismatched(LobsterMismatchKind::Level {
                            side,
                            level: level + 1,
                            expected,
                            got: None,
                        });
                    }
                    unknowable = true;
                }
            }
        }
    }
    StepOutcome::Matched { unknowable }
}

/// Seed an L3 book from row 1 and apply messages 2.. in order; returns rows matched on
/// all levels of both sides, and messages refused.
fn replay_continuously(messages: &[LobsterMessage], rows: &[LobsterBookRow], grid: Grid) -> (usize, usize) {
    let Some(first) = rows.first() else { return (0, 0) };
    let mut book = L3Book::with_capacity(grid, 4096, 64);
    for side in [BookSide::Bid, BookSide::Ask] {
        for level in first.side(side) {
            // A row the book refuses (off grid, crossed) simply makes later rows mismatch.
            let _ = book.seed_level(side, level.price, level.qty);
        }
    }
    let (mut matched, mut refused) = (0, 0);
    for (message, row) in messages.iter().zip(rows).skip(1) {
        if let Some(event) = message.visible_event()
            && book.apply(&event).is_err()
        {
            refused += 1;
        }
        let same = [BookSide::Bid, BookSide::Ask].into_iter().all(|side| {
            let want = row.side(side);
            book.levels(side).take(row.depth).eq(want.iter().copied())
        });
        matched += usize::from(same);
    }
    (matched, refused)
}
