//! Scoring hidden-liquidity detection on LOBSTER data, whose messages label
//! each execution: type 4 executes a visible order, type 5 a hidden one. The
//! label is only used for scoring; DarkPoolScan sees the print and the book.
use qp_alpha_scanner::{MarketEvent, MarketUpdate};
use qp_book::{BookSide, Grid, L2Book, TradePrint};
use qp_runtime::{AgentContext, IngestAgent, Outbox};
use qp_wire::{AssetId, FrameRef};

use crate::scan::{DarkPoolConfig, DarkPoolScan};

/// A malformed LOBSTER line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LobsterLineError {
    #[error("{file} line {line}: {detail}")]
    Malformed { file: &'static str, line: usize, detail: &'static str },
    #[error("the message file has {messages} lines and the order book file {books}; they must match")]
    LengthMismatch { messages: usize, books: usize },
}

/// How DarkPoolScan's hidden flag did against LOBSTER's execution types.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HiddenLiquidityScore {
    /// Type-5 (hidden) executions scored.
    pub hidden_prints: usize,
    /// Of those, flagged hidden.
    pub hidden_flagged: usize,
    /// Type-4 (visible) executions scored.
    pub visible_prints: usize,
    /// Of those, flagged hidden (false alarms).
    pub visible_flagged: usize,
    /// Prints flagged as blocks (either type).
    pub blocks: usize,
    /// Executions without a book before them (the first message), not scored.
    pub skipped: usize,
}

impl HiddenLiquidityScore {
    /// Flagged type 5 / type 5.
    pub fn recall(&self) -> f64 {
        if self.hidden_prints == 0 { 1.0 } else { self.hidden_flagged as f64 / self.hidden_prints as f64 }
    }

    /// Flagged type 5 / all flagged.
    pub fn precision(&self) -> f64 {
        let flagged = self.hidden_flagged + self.visible_flagged;
        if flagged == 0 { 1.0 } else { self.hidden_flagged as f64 / flagged as f64 }
    }
}

/// LOBSTER prices are USD × 10,000 on a one-cent grid; sizes are shares.
pub const LOBSTER_GRID_TICK: i64 = 100;

fn field<T: std::str::FromStr>(
    fields: &mut std::str::Split<'_, char>,
    file: &'static str,
    line: usize,
) -> Result<T, LobsterLineError> {
    fields.next().and_then(|f| f.trim().parse().ok()).ok_or(LobsterLineError::Malformed {
        file,
        line,
        detail: "missing or unparsable field",
    })
}

/// Load one order-book line (ask price, ask size, bid price, bid size, per level) into `book`.
fn load_book_line(book: &mut L2Book, text: &str, line: usize) -> Result<(), LobsterLineError> {
    book.clear();
    let mut fields = text.split(',');
    while let Some(ask_price) = fields.next() {
        let ask_price: i64 = ask_price.trim().parse().map_err(|_| LobsterLineError::Malformed {
            file: "orderbook",
            line,
            detail: "unparsable price",
        })?;
        let ask_qty: i64 = field(&mut fields, "orderbook", line)?;
        let bid_price: i64 = field(&mut fields, "orderbook", line)?;
        let bid_qty: i64 = field(&mut fields, "orderbook", line)?;
        // Empty levels are written as ±9999999999 with size 0.
        for (side, price, qty) in [(BookSide::Ask, ask_price, ask_qty), (BookSide::Bid, bid_price, bid_qty)] {
            if qty > 0 && price > 0 && price < 9_999_999_999 && book.set_level(side, price, qty).is_err() {
                return Err(LobsterLineError::Malformed {
                    file: "orderbook",
                    line,
                    detail: "level refused by the book",
                });
            }
        }
    }
    Ok(())
}

/// Run DarkPoolScan over the executions of a LOBSTER sample (message and
/// order-book file contents). Each execution (type 4 or 5) becomes a trade
/// print against the side of the executed order, shown with the visible book of
/// the previous order-book line (the book before the print); the hidden flag
/// on DarkPoolScan's output is compared with the type.
pub fn score_lobster(
    messages: &str,
    orderbook: &str,
    config: &DarkPoolConfig,
) -> Result<HiddenLiquidityScore, LobsterLineError> {
    let message_lines: Vec<&str> = messages.lines().filter(|l| !l.trim().is_empty()).collect();
    let book_lines: Vec<&str> = orderbook.lines().filter(|l| !l.trim().is_empty()).collect();
    if message_lines.len() != book_lines.len() {
        return Err(LobsterLineError::LengthMismatch { messages: message_lines.len(), books: book_lines.len() });
    }
    let grid = Grid::new(LOBSTER_GRID_TICK, 1).map_err(|_| LobsterLineError::Malformed {
        file: "orderbook",
        line: 0,
        detail: "grid",
    })?;
    let mut book = L2Book::new(grid);
    let mut scan = DarkPoolScan::new(DarkPoolConfig { max_assets: 1, ..*config })
        .map_err(|_| LobsterLineError::Malformed { file: "message", line: 0, detail: "configuration refused" })?;
    let mut out = Outbox::new("lobster-score");
    let asset = AssetId::from_wire(1);
    let mut score = HiddenLiquidityScore::default();
    for (k, text) in message_lines.iter().enumerate() {
        let line = k + 1;
        let mut fields = text.split(',');
        let time_s: f64 = field(&mut fields, "message", line)?;
        let kind: u8 = field(&mut fields, "message", line)?;
        let _order_id: u64 = field(&mut fields, "message", line)?;
        let qty: i64 = field(&mut fields, "message", line)?;
        let price: i64 = field(&mut fields, "message", line)?;
        let direction: i8 = field(&mut fields, "message", line)?;
        if kind != 4 && kind != 5 {
            continue;
        }
        let Some(previous) = k.checked_sub(1).and_then(|p| book_lines.get(p)) else {
            score.skipped += 1;
            continue;
        };
        load_book_line(&mut book, previous, k)?;
        // Direction is the executed (resting) order's side: 1 = a buy order.
        let resting_side = if direction == 1 { BookSide::Bid } else { BookSide::Ask };
        let ts_ns = (time_s * 1e9) as u64;
        let print = TradePrint { ts_ns, price, qty, resting_side };
        let update = MarketUpdate::new(asset, ts_ns, &book, MarketEvent::Trade(print));
        scan.on_event(AgentContext { now_ns: ts_ns }, &update, &mut out).map_err(|_| LobsterLineError::Malformed {
            file: "message",
            line,
            detail: "print refused",
        })?;
        let mut hidden = false;
        out.drain_into(|frame| {
            if let Ok(FrameRef::BlockPrint(f)) = frame.decode() {
                hidden |= f.payload.is_hidden();
            }
            Ok(())
        });
        score.blocks += usize::from(scan.assess(&book, &print).block);
        if kind == 5 {
            score.hidden_prints += 1;
            score.hidden_flagged += usize::from(hidden);
        } else {
            score.visible_prints += 1;
            score.visible_flagged += usize::from(hidden);
        }
    }
    Ok(score)
}
