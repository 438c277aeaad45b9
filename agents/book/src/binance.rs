//! Binance depth/trade/bookTicker decoding and depth synchronisation.
//!
//! [`BinanceDecoder`] turns one feed message (the JSON of a websocket stream
//! message, wrapped as `{"stream": …, "data": {…}}` or bare, or a REST depth
//! snapshot) into a [`BinanceMessage`] with fixed-point prices and sizes. It
//! is a single pass over the bytes, written for this feed: depth levels land in
//! buffers the decoder owns and reuses, so decoding allocates nothing once the
//! buffers have grown to the largest message (errors, which quote their input,
//! aside). Any bytes give a message or a typed [`BinanceError`]; nothing panics.
//!
//! [`DepthSync`] keeps an [`L2Book`] in step with the depth stream the way
//! Binance documents it: buffer diffs until a snapshot, load it, drop diffs
//! with `u` ≤ `lastUpdateId`, check that the first diff straddles
//! `lastUpdateId + 1`, then apply in order while checking the chain
//! (futures: `pu` = the previous diff's `u`; spot: `U` = previous `u` + 1).
//! A broken chain is a gap: it is counted and the book is flagged
//! unsynchronised until the next snapshot, since nothing in the diff stream
//! can repair it. [`BinanceReplay`] puts the two together for a recording.
//!
//! [`PrintReconciler`] judges trade prints, which come on their own stream,
//! against the book around their exchange time rather than at their arrival
//! (see its docs): on the USD-M recording this takes the prints that DarkPoolScan's
//! rule cannot explain from 1,560 of 21,308 (at arrival) to 2.

use qp_replay::{FixedPointError, parse_fixed_bytes, split_recorded_line};

use std::collections::VecDeque;

use crate::{BookRead, BookSide, Grid, L2Book, L2Undo, Level, TradePrint};

/// Deepest JSON nesting the decoder follows (Binance's messages nest three deep).
pub const MAX_JSON_DEPTH: usize = 64;

/// Most depth levels [`DepthSync`] buffers while it waits for a snapshot; past
/// this the buffer is dropped (and counted) and the first diff after the
/// snapshot shows whether anything needed was lost.
pub const MAX_BUFFERED_LEVELS: usize = 1 << 20;

/// Why a feed message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinanceError {
    #[error("feed line is not `<local ns> <json>`")]
    BadLine,
    #[error("JSON byte {offset}: expected {expected}")]
    Syntax { offset: usize, expected: &'static str },
    #[error("JSON byte {offset}: nested deeper than {MAX_JSON_DEPTH} levels")]
    TooDeep { offset: usize },
    #[error("{event}: field {field:?} is missing")]
    MissingField { event: &'static str, field: &'static str },
    #[error("field {field:?} should be {expected}")]
    WrongType { field: &'static str, expected: &'static str },
    #[error("field {field:?} does not fit in an unsigned 64-bit integer")]
    IntegerOverflow { field: &'static str },
    #[error("field {field:?}: {source}")]
    BadDecimal { field: &'static str, source: FixedPointError },
    #[error("field {field:?}, level {index}, {part}: {source}")]
    BadLevel { field: &'static str, index: usize, part: &'static str, source: FixedPointError },
    #[error("event {name:?} is not one this decoder reads (depthUpdate, trade, bookTicker, snapshot)")]
    UnknownEvent { name: String },
}

/// One depth diff. Levels are absolute sizes at a price; size 0 removes the level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepthUpdate<'d> {
    /// `U`: first update id in this diff.
    pub first_update_id: u64,
    /// `u`: last update id in this diff.
    pub last_update_id: u64,
    /// `pu`: the previous diff's `u` (futures only).
    pub prev_update_id: Option<u64>,
    /// Exchange time of the diff's last change: `T` (futures), else the event time `E` (spot), in Unix ns.
    pub exchange_ts_ns: Option<u64>,
    pub bids: &'d [Level],
    pub asks: &'d [Level],
}

/// A REST depth snapshot: the whole book (to the depth asked for) at `last_update_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepthSnapshot<'d> {
    pub last_update_id: u64,
    pub bids: &'d [Level],
    pub asks: &'d [Level],
}

/// A `bookTicker` event: the best bid and ask after update `update_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookTickerUpdate {
    pub update_id: u64,
    pub bid: Level,
    pub ask: Level,
}

/// One decoded feed message; depth levels borrow the decoder's buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinanceMessage<'d> {
    Depth(DepthUpdate<'d>),
    Snapshot(DepthSnapshot<'d>),
    /// A trade; `ts_ns` is the exchange's trade time (`T`, ms) in Unix ns, and
    /// `resting_side` is Bid when the buyer was the maker (`m: true`).
    Trade(TradePrint),
    BookTicker(BookTickerUpdate),
}

/// Split a recorded feed line `<local ns> <json>` into its timestamp and JSON bytes
/// ([`qp_replay::split_recorded_line`], with this module's error).
pub fn split_feed_line(line: &[u8]) -> Result<(u64, &[u8]), BinanceError> {
    split_recorded_line(line).map_err(|_| BinanceError::BadLine)
}

/// Decodes Binance feed messages at a fixed price and size precision, into
/// level buffers it owns and reuses.
#[derive(Debug, Clone)]
pub struct BinanceDecoder {
    price_decimals: u32,
    qty_decimals: u32,
    bids: Vec<Level>,
    asks: Vec<Level>,
}

/// What a `b`/`a` field held: a price (bookTicker) or levels (depth, now in the buffers).
#[derive(Debug, Clone, Copy)]
enum SideField<'j> {
    Text(&'j [u8]),
    Levels,
}

/// The fields of interest, wherever they were in the message.
#[derive(Debug, Default)]
struct Fields<'j> {
    stream: Option<&'j [u8]>,
    event: Option<&'j [u8]>,
    first_update_id: Option<u64>,
    last_update_id: Option<u64>,
    prev_update_id: Option<u64>,
    snapshot_update_id: Option<u64>,
    trade_time_ms: Option<u64>,
    event_time_ms: Option<u64>,
    bid: Option<SideField<'j>>,
    ask: Option<SideField<'j>>,
    bid_qty: Option<&'j [u8]>,
    ask_qty: Option<&'j [u8]>,
    price: Option<&'j [u8]>,
    qty: Option<&'j [u8]>,
    buyer_maker: Option<bool>,
    snapshot_bids: bool,
    snapshot_asks: bool,
}

impl BinanceDecoder {
    /// A decoder for prices with `price_decimals` decimals and sizes with `qty_decimals`
    /// (BTCUSDT futures: 1 and 3). A non-zero digit beyond them is an error.
    pub fn new(price_decimals: u32, qty_decimals: u32) -> Self {
        Self { price_decimals, qty_decimals, bids: Vec::with_capacity(1024), asks: Vec::with_capacity(1024) }
    }

    pub fn price_decimals(&self) -> u32 {
        self.price_decimals
    }

    pub fn qty_decimals(&self) -> u32 {
        self.qty_decimals
    }

    /// Decode one message's JSON.
    pub fn decode<'d>(&'d mut self, json: &[u8]) -> Result<BinanceMessage<'d>, BinanceError> {
        let mut fields = Fields::default();
        let mut cursor = JsonCursor { bytes: json, pos: 0 };
        self.bids.clear();
        self.asks.clear();
        self.object(&mut cursor, &mut fields, true)?;
        cursor.skip_ws();
        if cursor.pos != json.len() {
            return Err(cursor.syntax("end of input"));
        }
        self.classify(&fields)
    }

    fn classify<'d>(&'d self, f: &Fields<'_>) -> Result<BinanceMessage<'d>, BinanceError> {
        match f.event {
            Some(b"depthUpdate") => {
                const EVENT: &str = "depthUpdate";
                let missing = |field| BinanceError::MissingField { event: EVENT, field };
                levels_field(f.bid, "b")?.ok_or(missing("b"))?;
                levels_field(f.ask, "a")?.ok_or(missing("a"))?;
                Ok(BinanceMessage::Depth(DepthUpdate {
                    first_update_id: f.first_update_id.ok_or(missing("U"))?,
                    last_update_id: f.last_update_id.ok_or(missing("u"))?,
                    prev_update_id: f.prev_update_id,
                    exchange_ts_ns: f.trade_time_ms.or(f.event_time_ms).and_then(|ms| ms.checked_mul(1_000_000)),
                    bids: &self.bids,
                    asks: &self.asks,
                }))
            }
            Some(b"trade") => {
                const EVENT: &str = "trade";
                let missing = |field| BinanceError::MissingField { event: EVENT, field };
                let time_ms = f.trade_time_ms.ok_or(missing("T"))?;
                let ts_ns = time_ms.checked_mul(1_000_000).ok_or(BinanceError::IntegerOverflow { field: "T" })?;
                let maker = f.buyer_maker.ok_or(missing("m"))?;
                Ok(BinanceMessage::Trade(TradePrint {
                    ts_ns,
                    price: self.decimal(f.price.ok_or(missing("p"))?, "p", self.price_decimals)?,
                    qty: self.decimal(f.qty.ok_or(missing("q"))?, "q", self.qty_decimals)?,
                    resting_side: if maker { BookSide::Bid } else { BookSide::Ask },
                }))
            }
            Some(b"bookTicker") => self.book_ticker(f),
            Some(other) => Err(BinanceError::UnknownEvent { name: quote(other) }),
            None => {
                let ticker_stream = f.stream.is_some_and(|s| s.ends_with(b"@bookTicker"));
                if ticker_stream {
                    self.book_ticker(f)
                } else if let Some(last_update_id) = f.snapshot_update_id {
                    const EVENT: &str = "snapshot";
                    let missing = |field| BinanceError::MissingField { event: EVENT, field };
                    if !f.snapshot_bids {
                        return Err(missing("bids"));
                    }
                    if !f.snapshot_asks {
                        return Err(missing("asks"));
                    }
                    Ok(BinanceMessage::Snapshot(DepthSnapshot { last_update_id, bids: &self.bids, asks: &self.asks }))
                } else if f.last_update_id.is_some() && matches!(f.bid, Some(SideField::Text(_))) {
                    // Spot's bookTicker stream has no event name.
                    self.book_ticker(f)
                } else {
                    Err(BinanceError::MissingField { event: "message", field: "e" })
                }
            }
        }
    }

    fn book_ticker<'d>(&'d self, f: &Fields<'_>) -> Result<BinanceMessage<'d>, BinanceError> {
        const EVENT: &str = "bookTicker";
        let missing = |field| BinanceError::MissingField { event: EVENT, field };
        let bid = text_field(f.bid, "b")?.ok_or(missing("b"))?;
        let ask = text_field(f.ask, "a")?.ok_or(missing("a"))?;
        Ok(BinanceMessage::BookTicker(BookTickerUpdate {
            update_id: f.last_update_id.ok_or(missing("u"))?,
            bid: Level {
                price: self.decimal(bid, "b", self.price_decimals)?,
                qty: self.decimal(f.bid_qty.ok_or(missing("B"))?, "B", self.qty_decimals)?,
            },
            ask: Level {
                price: self.decimal(ask, "a", self.price_decimals)?,
                qty: self.decimal(f.ask_qty.ok_or(missing("A"))?, "A", self.qty_decimals)?,
            },
        }))
    }

    fn decimal(&self, text: &[u8], field: &'static str, decimals: u32) -> Result<i64, BinanceError> {
        parse_fixed_bytes(text, decimals).map_err(|source| BinanceError::BadDecimal { field, source })
    }

    /// An object's members, into `fields`; `top` allows a nested `data` object.
    fn object<'j>(&mut self, c: &mut JsonCursor<'j>, f: &mut Fields<'j>, top: bool) -> Result<(), BinanceError> {
        c.skip_ws();
        c.expect(b'{', "'{'")?;
        c.skip_ws();
        if c.eat(b'}') {
            return Ok(());
        }
        loop {
            c.skip_ws();
            let key = c.string()?;
            c.skip_ws();
            c.expect(b':', "':'")?;
            c.skip_ws();
            match key {
                b"stream" if top => f.stream = Some(c.string_field("stream")?),
                b"data" if top => {
                    if c.peek() != Some(b'{') {
                        return Err(BinanceError::WrongType { field: "data", expected: "an object" });
                    }
                    self.object(c, f, false)?;
                }
                b"e" => f.event = Some(c.string_field("e")?),
                b"U" => f.first_update_id = Some(c.u64_field("U")?),
                b"u" => f.last_update_id = Some(c.u64_field("u")?),
                b"pu" => f.prev_update_id = Some(c.u64_field("pu")?),
                b"lastUpdateId" => f.snapshot_update_id = Some(c.u64_field("lastUpdateId")?),
                b"T" => f.trade_time_ms = Some(c.u64_field("T")?),
                b"E" => f.event_time_ms = Some(c.u64_field("E")?),
                b"b" => f.bid = Some(self.side_field(c, BookSide::Bid, "b")?),
                b"a" => f.ask = Some(self.side_field(c, BookSide::Ask, "a")?),
                b"bids" => {
                    self.levels(c, BookSide::Bid, "bids")?;
                    f.snapshot_bids = true;
                }
                b"asks" => {
                    self.levels(c, BookSide::Ask, "asks")?;
                    f.snapshot_asks = true;
                }
                b"B" => f.bid_qty = Some(c.string_field("B")?),
                b"A" => f.ask_qty = Some(c.string_field("A")?),
                b"p" => f.price = Some(c.string_field("p")?),
                b"q" => f.qty = Some(c.string_field("q")?),
                b"m" => f.buyer_maker = Some(c.bool_field("m")?),
                _ => c.skip_value()?,
            }
            c.skip_ws();
            if c.eat(b',') {
                continue;
            }
            c.expect(b'}', "',' or '}'")?;
            return Ok(());
        }
    }

    fn side_field<'j>(
        &mut self,
        c: &mut JsonCursor<'j>,
        side: BookSide,
        field: &'static str,
    ) -> Result<SideField<'j>, BinanceError> {
        match c.peek() {
            Some(b'"') => Ok(SideField::Text(c.string()?)),
            Some(b'[') => {
                self.levels(c, side, field)?;
                Ok(SideField::Levels)
            }
            _ => Err(BinanceError::WrongType { field, expected: "a price string or an array of levels" }),
        }
    }

    /// `[["price","qty"], …]` into the side's buffer (replacing what it held).
    fn levels(&mut self, c: &mut JsonCursor<'_>, side: BookSide, field: &'static str) -> Result<(), BinanceError> {
        let (price_decimals, qty_decimals) = (self.price_decimals, self.qty_decimals);
        let out = match side {
            BookSide::Bid => &mut self.bids,
            BookSide::Ask => &mut self.asks,
        };
        out.clear();
        const PAIR: &str = "an array of [\"price\", \"qty\"] string pairs";
        let wrong = || BinanceError::WrongType { field, expected: PAIR };
        if !c.eat(b'[') {
            return Err(wrong());
        }
        c.skip_ws();
        if c.eat(b']') {
            return Ok(());
        }
        loop {
            let index = out.len();
            c.skip_ws();
            if !c.eat(b'[') {
                return Err(wrong());
            }
            c.skip_ws();
            let price_text = if c.peek() == Some(b'"') { c.string()? } else { return Err(wrong()) };
            c.skip_ws();
            c.expect(b',', "',' between price and qty")?;
            c.skip_ws();
            let qty_text = if c.peek() == Some(b'"') { c.string()? } else { return Err(wrong()) };
            c.skip_ws();
            if !c.eat(b']') {
                return Err(wrong());
            }
            let price = parse_fixed_bytes(price_text, price_decimals).map_err(|source| BinanceError::BadLevel {
                field,
                index,
                part: "price",
                source,
            })?;
            let qty = parse_fixed_bytes(qty_text, qty_decimals).map_err(|source| BinanceError::BadLevel {
                field,
                index,
                part: "qty",
                source,
            })?;
            out.push(Level { price, qty });
            c.skip_ws();
            if c.eat(b',') {
                continue;
            }
            c.expect(b']', "',' or ']'")?;
            return Ok(());
        }
    }
}

fn levels_field(value: Option<SideField<'_>>, field: &'static str) -> Result<Option<()>, BinanceError> {
    match value {
        None => Ok(None),
        Some(SideField::Levels) => Ok(Some(())),
        Some(SideField::Text(_)) => Err(BinanceError::WrongType { field, expected: "an array of levels" }),
    }
}

fn text_field<'j>(value: Option<SideField<'j>>, field: &'static str) -> Result<Option<&'j [u8]>, BinanceError> {
    match value {
        None => Ok(None),
        Some(SideField::Text(text)) => Ok(Some(text)),
        Some(SideField::Levels) => Err(BinanceError::WrongType { field, expected: "a price string" }),
    }
}

/// At most 64 bytes of `bytes`, for an error message.
fn quote(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(64)]).into_owned()
}

/// A position in a JSON text. Strings are returned raw (escapes not decoded:
/// every string this feed carries that the decoder reads is a plain number or name).
#[derive(Debug)]
struct JsonCursor<'j> {
    bytes: &'j [u8],
    pos: usize,
}

impl<'j> JsonCursor<'j> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    #[inline]
    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    #[inline]
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.pos += 1;
        }
    }

    fn syntax(&self, expected: &'static str) -> BinanceError {
        BinanceError::Syntax { offset: self.pos, expected }
    }

    #[inline]
    fn expect(&mut self, byte: u8, expected: &'static str) -> Result<(), BinanceError> {
        if self.eat(byte) { Ok(()) } else { Err(self.syntax(expected)) }
    }

    /// A string's raw contents (between the quotes).
    #[inline]
    fn string(&mut self) -> Result<&'j [u8], BinanceError> {
        self.expect(b'"', "a string")?;
        let start = self.pos;
        loop {
            match self.peek() {
                None => return Err(self.syntax("a closing '\"'")),
                Some(b'"') => {
                    let text = &self.bytes[start..self.pos];
                    self.pos += 1;
                    return Ok(text);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.pos += 1,
                        Some(b'u') => {
                            self.pos += 1;
                            for _ in 0..4 {
                                match self.peek() {
                                    Some(b) if b.is_ascii_hexdigit() => self.pos += 1,
                                    _ => return Err(self.syntax("four hex digits after \\u")),
                                }
                            }
                        }
                        _ => return Err(self.syntax("an escape character")),
                    }
                }
                Some(0..0x20) => return Err(self.syntax("no control characters in a string")),
                Some(_) => self.pos += 1,
            }
        }
    }

    fn string_field(&mut self, field: &'static str) -> Result<&'j [u8], BinanceError> {
        if self.peek() != Some(b'"') {
            return Err(BinanceError::WrongType { field, expected: "a string" });
        }
        self.string()
    }

    fn u64_field(&mut self, field: &'static str) -> Result<u64, BinanceError> {
        let start = self.pos;
        let mut value: u64 = 0;
        while let Some(digit @ b'0'..=b'9') = self.peek() {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(digit - b'0')))
                .ok_or(BinanceError::IntegerOverflow { field })?;
            self.pos += 1;
        }
        let integer_ends = matches!(self.peek(), None | Some(b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t'));
        if self.pos == start || !integer_ends {
            return Err(BinanceError::WrongType { field, expected: "an unsigned integer" });
        }
        Ok(value)
    }

    fn bool_field(&mut self, field: &'static str) -> Result<bool, BinanceError> {
        let rest = &self.bytes[self.pos..];
        if rest.starts_with(b"true") {
            self.pos += 4;
            Ok(true)
        } else if rest.starts_with(b"false") {
            self.pos += 5;
            Ok(false)
        } else {
            Err(BinanceError::WrongType { field, expected: "true or false" })
        }
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<(), BinanceError> {
        if self.bytes[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.syntax("a JSON value"))
        }
    }

    /// A JSON number, checked against the grammar.
    fn number(&mut self) -> Result<(), BinanceError> {
        self.eat(b'-');
        let digits = |c: &mut Self| {
            let start = c.pos;
            while let Some(b'0'..=b'9') = c.peek() {
                c.pos += 1;
            }
            c.pos > start
        };
        if !digits(self) {
            return Err(self.syntax("a digit"));
        }
        if self.eat(b'.') && !digits(self) {
            return Err(self.syntax("a digit after '.'"));
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if !digits(self) {
                return Err(self.syntax("an exponent"));
            }
        }
        Ok(())
    }

    /// Skip any JSON value, without recursion (nesting is tracked in a bit stack).
    fn skip_value(&mut self) -> Result<(), BinanceError> {
        // Bit i set: the container at depth i is an object.
        let mut objects: u64 = 0;
        let mut depth: usize = 0;
        loop {
            // A value is expected here.
            self.skip_ws();
            match self.peek() {
                Some(open @ (b'{' | b'[')) => {
                    if depth == MAX_JSON_DEPTH {
                        return Err(BinanceError::TooDeep { offset: self.pos });
                    }
                    self.pos += 1;
                    let is_object = open == b'{';
                    objects = (objects & !(1 << depth)) | (u64::from(is_object) << depth);
                    depth += 1;
                    self.skip_ws();
                    if self.eat(if is_object { b'}' } else { b']' }) {
                        depth -= 1;
                    } else if is_object {
                        self.member_key()?;
                        continue;
                    } else {
                        continue;
                    }
                }
                Some(b'"') => {
                    self.string()?;
                }
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                Some(b'-' | b'0'..=b'9') => self.number()?,
                _ => return Err(self.syntax("a JSON value")),
            }
            // After a value: close containers or move to the next element.
            loop {
                if depth == 0 {
                    return Ok(());
                }
                self.skip_ws();
                let in_object = objects & (1 << (depth - 1)) != 0;
                if self.eat(b',') {
                    if in_object {
                        self.skip_ws();
                        self.member_key()?;
                    }
                    break;
                }
                if self.eat(if in_object { b'}' } else { b']' }) {
                    depth -= 1;
                    continue;
                }
                return Err(self.syntax(if in_object { "',' or '}'" } else { "',' or ']'" }));
            }
        }
    }

    fn member_key(&mut self) -> Result<(), BinanceError> {
        self.string()?;
        self.skip_ws();
        self.expect(b':', "':'")
    }
}

/// Where a [`DepthSync`] stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    /// No snapshot yet: diffs are buffered.
    AwaitingSnapshot,
    /// The book follows the diffs.
    Synchronised,
    /// A gap broke the chain: the book is stale and diffs are buffered until
    /// the next snapshot, which alone can make it consistent again.
    Gapped,
}

/// What a `bookTicker` check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickerCheck {
    /// The ticker's `u` is the last applied diff's `u`, and the book's best bid and ask agree.
    Matched,
    /// Comparable, but the book's best levels differ from the ticker's.
    Mismatched,
    /// The ticker's `u` is not the last applied diff's (or the book is not
    /// synchronised): the book is not known at that update, so nothing is compared.
    /// Spot's 100 ms diffs and its tickers never line up, so all of spot's land here.
    NotComparable,
}

/// Counters of a [`DepthSync`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DepthSyncStats {
    /// Depth diffs received (applied, buffered or dropped).
    pub depth_updates: u64,
    /// Diffs applied to the book.
    pub applied: u64,
    /// Diffs dropped as older than the snapshot (`u` ≤ `lastUpdateId`).
    pub stale_dropped: u64,
    pub snapshots: u64,
    /// Breaks in the update-id chain (each one flags the book [`SyncState::Gapped`]).
    pub gaps: u64,
    /// Diffs after which the book would have crossed: a level that would touch
    /// or cross the opposite side was refused.
    pub crossed: u64,
    /// Levels the book refused for another reason (a price or size off the grid or not positive).
    pub refused_levels: u64,
    /// Times the pre-snapshot buffer overflowed [`MAX_BUFFERED_LEVELS`] and was dropped.
    pub buffer_overflows: u64,
    pub trades: u64,
    pub ticker_compared: u64,
    pub ticker_matched: u64,
    pub ticker_not_comparable: u64,
}

/// A diff waiting for the snapshot; its levels are in `DepthSync::pending_levels`.
#[derive(Debug, Clone, Copy)]
struct PendingDiff {
    first_update_id: u64,
    last_update_id: u64,
    prev_update_id: Option<u64>,
    exchange_ts_ns: Option<u64>,
    bids: usize,
    asks: usize,
}

/// An L2 book kept in step with Binance's depth stream (see the module docs).
#[derive(Debug, Clone)]
pub struct DepthSync {
    book: L2Book,
    state: SyncState,
    /// `lastUpdateId` of the loaded snapshot while no diff has been applied after it.
    awaiting_first_after: Option<u64>,
    /// `u` of the last applied diff.
    last_applied_update_id: Option<u64>,
    pending: Vec<PendingDiff>,
    pending_levels: Vec<Level>,
    stats: DepthSyncStats,
    last_trade: Option<TradePrint>,
    first_ticker_mismatch: Option<BookTickerUpdate>,
    history: DiffHistory,
    /// Newest diffs of `history` currently undone (only while a look back runs).
    rewound_diffs: usize,
    /// Level changes of those diffs.
    rewound_changes: usize,
    /// Latest exchange time of a diff applied since the last snapshot: the depth stream has passed it.
    depth_clock_ns: u64,
}

/// The level changes of the most recently applied diffs, with their exchange
/// times, so the book can be seen as it stood before them (the print
/// reconciler's rewind cursor). Bounded: ring buffers with capacity
/// reserved once; the oldest diffs go first.
#[derive(Debug, Clone)]
struct DiffHistory {
    /// One per applied diff, oldest first: its exchange time and how many changes it made.
    diffs: VecDeque<(u64, usize)>,
    /// Each change as (undo to before, qty after), oldest first.
    changes: VecDeque<(L2Undo, i64)>,
}

/// Level changes [`DepthSync`] remembers for looking back in time.
pub const HISTORY_CHANGES: usize = 8_192;
/// Diffs [`DepthSync`] remembers for looking back in time.
pub const HISTORY_DIFFS: usize = 256;

impl DiffHistory {
    fn new() -> Self {
        Self { diffs: VecDeque::with_capacity(HISTORY_DIFFS), changes: VecDeque::with_capacity(HISTORY_CHANGES) }
    }

    fn clear(&mut self) {
        self.diffs.clear();
        self.changes.clear();
    }

    /// Make room for a diff of `changes` changes by forgetting the oldest diffs.
    fn make_room(&mut self, changes: usize) {
        while self.diffs.len() >= HISTORY_DIFFS || self.changes.len() + changes > HISTORY_CHANGES {
            let Some((_, count)) = self.diffs.pop_front() else { break };
            self.changes.drain(..count.min(self.changes.len()));
        }
    }
}

/// Price levels per side the synchroniser's book holds before it allocates.
/// Futures diffs touch levels far beyond the snapshot's 1,000 and Binance never
/// sends their removal, so the book keeps growing: the USD-M recording reaches
/// about 4,400 levels a side in six minutes. 16 bytes a level: 256 KiB a side.
pub const BOOK_LEVELS_RESERVED: usize = 16_384;

impl DepthSync {
    pub fn new(grid: Grid) -> Self {
        Self {
            book: L2Book::with_capacity(grid, BOOK_LEVELS_RESERVED),
            state: SyncState::AwaitingSnapshot,
            awaiting_first_after: None,
            last_applied_update_id: None,
            pending: Vec::with_capacity(64),
            pending_levels: Vec::with_capacity(4096),
            history: DiffHistory::new(),
            stats: DepthSyncStats::default(),
            last_trade: None,
            first_ticker_mismatch: None,
            rewound_diffs: 0,
            rewound_changes: 0,
            depth_clock_ns: 0,
        }
    }

    pub fn book(&self) -> &L2Book {
        &self.book
    }

    pub fn state(&self) -> SyncState {
        self.state
    }

    /// Whether the book follows the stream (a snapshot loaded and no gap since).
    pub fn is_synchronised(&self) -> bool {
        self.state == SyncState::Synchronised
    }

    pub fn stats(&self) -> DepthSyncStats {
        self.stats
    }

    /// `u` of the last diff applied to the book.
    pub fn last_applied_update_id(&self) -> Option<u64> {
        self.last_applied_update_id
    }

    /// Latest exchange time of a diff applied since the last snapshot (0 before the first):
    /// the book holds every change the depth stream made up to it.
    pub fn depth_clock_ns(&self) -> u64 {
        self.depth_clock_ns
    }

    pub fn last_trade(&self) -> Option<TradePrint> {
        self.last_trade
    }

    /// The first ticker that disagreed with the book, if any.
    pub fn first_ticker_mismatch(&self) -> Option<BookTickerUpdate> {
        self.first_ticker_mismatch
    }

    /// Feed one decoded message.
    pub fn apply(&mut self, message: &BinanceMessage<'_>) {
        match message {
            BinanceMessage::Depth(diff) => self.apply_depth(diff),
            BinanceMessage::Snapshot(snapshot) => self.load_snapshot(snapshot),
            BinanceMessage::Trade(trade) => self.record_trade(*trade),
            BinanceMessage::BookTicker(ticker) => {
                let _ = self.check_ticker(ticker);
            }
        }
    }

    pub fn record_trade(&mut self, trade: TradePrint) {
        self.stats.trades += 1;
        self.last_trade = Some(trade);
    }

    /// Replace the book with a snapshot, then apply the buffered diffs it does not already hold.
    pub fn load_snapshot(&mut self, snapshot: &DepthSnapshot<'_>) {
        self.stats.snapshots += 1;
        self.book.clear();
        self.history.clear();
        self.depth_clock_ns = 0;
        let mut crossed = false;
        for (side, levels) in [(BookSide::Bid, snapshot.bids), (BookSide::Ask, snapshot.asks)] {
            for level in levels.iter().filter(|l| l.qty != 0) {
                crossed |= self.set_level(side, *level, false);
            }
        }
        self.stats.crossed += u64::from(crossed);
        self.state = SyncState::Synchronised;
        self.awaiting_first_after = Some(snapshot.last_update_id);
        self.last_applied_update_id = None;
        let mut pending = std::mem::take(&mut self.pending);
        let mut levels = std::mem::take(&mut self.pending_levels);
        let mut at = 0;
        for diff in &pending {
            let bids = levels.get(at..at + diff.bids).unwrap_or_default();
            let asks = levels.get(at + diff.bids..at + diff.bids + diff.asks).unwrap_or_default();
            at += diff.bids + diff.asks;
            let update = DepthUpdate {
                first_update_id: diff.first_update_id,
                last_update_id: diff.last_update_id,
                prev_update_id: diff.prev_update_id,
                exchange_ts_ns: diff.exchange_ts_ns,
                bids,
                asks,
            };
            self.sequence_depth(&update);
        }
        // After a gap in the replay above, the diffs from it on are buffered again in
        // `self.pending`; otherwise the emptied buffers go back, keeping their capacity.
        if self.pending.is_empty() {
            pending.clear();
            levels.clear();
            self.pending = pending;
            self.pending_levels = levels;
        }
    }

    /// One depth diff: buffered, dropped, applied, or found to be a gap.
    pub fn apply_depth(&mut self, diff: &DepthUpdate<'_>) {
        self.stats.depth_updates += 1;
        self.sequence_depth(diff);
    }

    fn sequence_depth(&mut self, diff: &DepthUpdate<'_>) {
        if self.state != SyncState::Synchronised {
            self.buffer(diff);
            return;
        }
        let in_sequence = if let Some(snapshot_id) = self.awaiting_first_after {
            if diff.last_update_id <= snapshot_id {
                self.stats.stale_dropped += 1;
                return;
            }
            // The first diff after the snapshot must straddle lastUpdateId + 1.
            diff.first_update_id <= snapshot_id.saturating_add(1)
        } else {
            let last = self.last_applied_update_id.unwrap_or_default();
            match diff.prev_update_id {
                Some(prev) => prev == last,
                None => diff.first_update_id == last.saturating_add(1),
            }
        };
        if !in_sequence {
            self.stats.gaps += 1;
            self.state = SyncState::Gapped;
            self.buffer(diff);
            return;
        }
        self.awaiting_first_after = None;
        self.last_applied_update_id = Some(diff.last_update_id);
        self.stats.applied += 1;
        self.history.make_room(diff.bids.len() + diff.asks.len());
        let changes_before = self.history.changes.len();
        // Removals first, so a diff that moves the touch does not cross on the way.
        for (side, levels) in [(BookSide::Bid, diff.bids), (BookSide::Ask, diff.asks)] {
            for level in levels.iter().filter(|l| l.qty == 0) {
                match self.book.set_level(side, level.price, 0) {
                    Ok(undo) => self.history.changes.push_back((undo, 0)),
                    Err(_) => self.stats.refused_levels += 1,
                }
            }
        }
        let mut crossed = false;
        for (side, levels) in [(BookSide::Bid, diff.bids), (BookSide::Ask, diff.asks)] {
            for level in levels.iter().filter(|l| l.qty != 0) {
                crossed |= self.set_level(side, *level, true);
            }
        }
        self.stats.crossed += u64::from(crossed);
        // A diff without a time cannot be placed before or after a print: it stays applied.
        let ts = diff.exchange_ts_ns.unwrap_or(0);
        self.history.diffs.push_back((ts, self.history.changes.len() - changes_before));
        self.depth_clock_ns = self.depth_clock_ns.max(ts);
    }

    /// Set one level, remembering the change if `remember`; true when it was refused for crossing.
    #[inline]
    fn set_level(&mut self, side: BookSide, level: Level, remember: bool) -> bool {
        match self.book.set_level(side, level.price, level.qty) {
            Ok(undo) => {
                if remember {
                    self.history.changes.push_back((undo, level.qty));
                }
                false
            }
            Err(crate::BookError::WouldCross { .. }) => true,
            Err(_) => {
                self.stats.refused_levels += 1;
                false
            }
        }
    }

    /// Make the book what it was before the remembered diffs, newest first, whose
    /// exchange time is at or after `ts_ns` (undoing or redoing from where the
    /// last call left it). Callers [`restore`](Self::restore) before anything
    /// else touches the book.
    fn rewind_to(&mut self, ts_ns: u64) {
        let target = self.history.diffs.iter().rev().take_while(|&&(diff_ts, _)| diff_ts >= ts_ns).count();
        self.rewind_diffs(target);
    }

    /// Make the book what it was before the `target` newest remembered diffs.
    fn rewind_diffs(&mut self, target: usize) {
        let (diffs, total) = (self.history.diffs.len(), self.history.changes.len());
        let target = target.min(diffs);
        while self.rewound_diffs < target {
            let Some(&(_, count)) = self.history.diffs.get(diffs - 1 - self.rewound_diffs) else { break };
            let end = total - self.rewound_changes;
            for &(undo, _) in self.history.changes.range(end - count..end).rev() {
                self.book.undo(undo);
            }
            self.rewound_diffs += 1;
            self.rewound_changes += count;
        }
        while self.rewound_diffs > target {
            let Some(&(_, count)) = self.history.diffs.get(diffs - self.rewound_diffs) else { break };
            let start = total - self.rewound_changes;
            for &(undo, after) in self.history.changes.range(start..start + count) {
                self.book.undo(undo.redo_of(after));
            }
            self.rewound_diffs -= 1;
            self.rewound_changes -= count;
        }
    }

    /// Whether the newest applied (not rewound) diff changed the level at `price` on `side`.
    fn last_applied_diff_changed(&self, side: BookSide, price: i64) -> bool {
        let diffs = self.history.diffs.len();
        let Some(&(_, count)) = diffs.checked_sub(self.rewound_diffs + 1).and_then(|i| self.history.diffs.get(i))
        else {
            return false;
        };
        let end = self.history.changes.len() - self.rewound_changes;
        self.history.changes.range(end - count..end).any(|(undo, _)| undo.side() == side && undo.price() == price)
    }

    /// Redo whatever [`rewind_to`](Self::rewind_to) undid: the book is current again.
    fn restore(&mut self) {
        let total = self.history.changes.len();
        for &(undo, after) in self.history.changes.range(total - self.rewound_changes..) {
            self.book.undo(undo.redo_of(after));
        }
        self.rewound_diffs = 0;
        self.rewound_changes = 0;
    }

    fn buffer(&mut self, diff: &DepthUpdate<'_>) {
        if self.pending_levels.len() + diff.bids.len() + diff.asks.len() > MAX_BUFFERED_LEVELS {
            self.stats.buffer_overflows += 1;
            self.pending.clear();
            self.pending_levels.clear();
        }
        self.pending_levels.extend_from_slice(diff.bids);
        self.pending_levels.extend_from_slice(diff.asks);
        self.pending.push(PendingDiff {
            first_update_id: diff.first_update_id,
            last_update_id: diff.last_update_id,
            prev_update_id: diff.prev_update_id,
            exchange_ts_ns: diff.exchange_ts_ns,
            bids: diff.bids.len(),
            asks: diff.asks.len(),
        });
    }

    /// Compare a `bookTicker` with the book when the book is known at its update id.
    pub fn check_ticker(&mut self, ticker: &BookTickerUpdate) -> TickerCheck {
        let comparable = self.state == SyncState::Synchronised
            && self.last_applied_update_id == Some(ticker.update_id)
            && self.awaiting_first_after.is_none();
        if !comparable {
            self.stats.ticker_not_comparable += 1;
            return TickerCheck::NotComparable;
        }
        self.stats.ticker_compared += 1;
        if self.book.best_bid() == Some(ticker.bid) && self.book.best_ask() == Some(ticker.ask) {
            self.stats.ticker_matched += 1;
            TickerCheck::Matched
        } else {
            self.first_ticker_mismatch.get_or_insert(*ticker);
            TickerCheck::Mismatched
        }
    }
}

/// Prints a [`PrintReconciler`] holds at most while they wait for the depth stream.
pub const PRINT_QUEUE_CAPACITY: usize = 4_096;
/// How far the feed's exchange clock may run past a waiting print before it is judged anyway.
pub const PRINT_MAX_WAIT_NS: u64 = 1_000_000_000;

/// Levels of the other side that state C may take out of the view (see [`PrintBook::WithinAggregate`]).
pub const PUT_BACK_LEVELS: usize = 256;

/// Which visible book explained a print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrintBook {
    /// The book with every diff up to the print's time and none after it (state A).
    AtPrint,
    /// Only the book before the diffs stamped with the print's own millisecond (state B):
    /// the diff that shows the print's own fill carries the same time as the print.
    BeforeSameMs,
    /// Neither, but the first diff stamped after the print (the aggregate of changes
    /// that holds the print's time: ~50 ms on futures, 100 ms on spot) changed the
    /// print's level: liquidity there may have been shown and taken inside the
    /// aggregate, which the depth stream cannot resolve. The print is handed over
    /// with the book after that diff and the print's own fill put back at its level (state C).
    WithinAggregate,
    /// None of them: the print is handed over with state A.
    Unexplained,
}

/// Why a print was judged when it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrintTiming {
    /// The depth stream had passed the print's time: a diff stamped later was applied.
    AfterDepth,
    /// A bound was hit first (the queue was full, or the feed's exchange clock ran
    /// [`PRINT_MAX_WAIT_NS`] past the print): judged with the diffs known then.
    Late,
    /// Judged because the book was about to be rebuilt or lost (snapshot, gap), or
    /// at the end of a replay ([`PrintReconciler::flush`]).
    Flushed,
}

/// A print with the verdict of the reconciler; it is handed over with the book that explains it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconciledPrint {
    pub print: TradePrint,
    pub book: PrintBook,
    pub timing: PrintTiming,
}

/// What a [`PrintReconciler`] did with the prints it was given. Every print is
/// counted once in `received` and ends up in `delivered` or `dropped_unsynchronised`
/// (or is still pending).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PrintReconcilerStats {
    pub received: u64,
    /// Prints that arrived while the book was not synchronised: there was no book to judge them by.
    pub dropped_unsynchronised: u64,
    pub delivered: u64,
    pub explained_at_print: u64,
    pub explained_before_same_ms: u64,
    pub explained_within_aggregate: u64,
    pub unexplained: u64,
    /// Delivered once the depth stream had passed them (the normal case).
    pub judged_after_depth: u64,
    /// Delivered because a bound was hit (see [`PrintTiming::Late`]).
    pub judged_late: u64,
    /// Delivered at a resync or at the end (see [`PrintTiming::Flushed`]).
    pub judged_flushed: u64,
}

/// Judges Binance trade prints against the visible book *around the print's
/// exchange time*, not at its arrival.
///
/// Trades and depth diffs come on separate streams, so the book at a print's
/// arrival may already show its fill (the diff came first) or not yet show the
/// liquidity it hit (the diff comes later). A print therefore waits in a bounded
/// queue until a diff stamped after it has been applied (the depth stream has
/// passed its time), and is then judged against two books, rewound with the
/// synchroniser's diff history:
/// - state A ([`PrintBook::AtPrint`]): every diff stamped at or before the print, none after;
/// - state B ([`PrintBook::BeforeSameMs`]): the diffs stamped in the print's own
///   millisecond undone too; 1 ms stamps cannot order a print against changes of the same millisecond.
///
/// - state C ([`PrintBook::WithinAggregate`]): Binance's diffs are aggregates
///   (futures ~50 ms, stamped with the last change; spot 100 ms, stamped with the
///   event time), so liquidity shown and taken between two diffs is in neither A
///   nor B. When the first diff stamped after the print changed the print's level,
///   the print is shown the book after that diff with its own fill put back (and
///   levels of the other side at or through its price that the same diff changed
///   taken out). A level the aggregate did not touch stayed as A shows it, so a
///   print beyond it is still unexplained: a hidden order, or an iceberg's reserve.
///
/// The print is explained if any of them explains it (the caller's `explains`,
/// e.g. DarkPoolScan's `hidden_reason(..).is_none()`), and it is handed to
/// `deliver` with the first book that explained it (A, B, C), else with A.
/// [`before_depth`](Self::before_depth) judges most prints before the diff
/// that passes them is applied, so only those that need state C cost undoing it.
///
/// Bounds: at most `capacity` prints wait (the oldest is judged when a new one
/// would not fit) and a print waits until the feed's exchange clock (latest
/// trade or applied diff time) is at most `max_wait_ns` past it; the exchange
/// clock, not the local one, so replay and live behave alike and a recorder's
/// clock offset does not matter. Both cases count as [`PrintTiming::Late`].
/// Prints come out in arrival order.
///
/// The queue is reserved once; nothing allocates after construction.
#[derive(Debug, Clone)]
pub struct PrintReconciler {
    queue: VecDeque<TradePrint>,
    capacity: usize,
    max_wait_ns: u64,
    /// Latest exchange time seen on this feed (prints and applied diffs).
    clock_ns: u64,
    stats: PrintReconcilerStats,
    /// Undo records of the changes that show state C (reserved once).
    put_back: Vec<L2Undo>,
}

impl Default for PrintReconciler {
    fn default() -> Self {
        Self::new(PRINT_QUEUE_CAPACITY, PRINT_MAX_WAIT_NS)
    }
}

impl PrintReconciler {
    /// A reconciler holding at most `capacity` prints (at least 1), each for at most `max_wait_ns` of exchange time.
    pub fn new(capacity: usize, max_wait_ns: u64) -> Self {
        let capacity = capacity.max(1);
        Self {
            queue: VecDeque::with_capacity(capacity),
            capacity,
            max_wait_ns,
            clock_ns: 0,
            stats: PrintReconcilerStats::default(),
            put_back: Vec::with_capacity(PUT_BACK_LEVELS),
        }
    }

    pub fn stats(&self) -> PrintReconcilerStats {
        self.stats
    }

    /// Prints waiting for the depth stream.
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// A trade print arrived. It is queued, or dropped (and counted) when `sync`
    /// is not synchronised; then whatever is ready is delivered, this print too
    /// if the depth stream has already passed its time.
    pub fn on_trade(
        &mut self,
        sync: &mut DepthSync,
        print: TradePrint,
        explains: impl FnMut(&L2Book, &TradePrint) -> bool,
        deliver: impl FnMut(ReconciledPrint, &L2Book),
    ) {
        self.stats.received += 1;
        if !sync.is_synchronised() {
            self.stats.dropped_unsynchronised += 1;
            return;
        }
        self.clock_ns = self.clock_ns.max(print.ts_ns);
        self.enqueue(sync, print, explains, deliver);
    }

    fn enqueue(
        &mut self,
        sync: &mut DepthSync,
        print: TradePrint,
        mut explains: impl FnMut(&L2Book, &TradePrint) -> bool,
        mut deliver: impl FnMut(ReconciledPrint, &L2Book),
    ) {
        if self.queue.len() >= self.capacity
            && let Some(oldest) = self.queue.pop_front()
        {
            self.judge(sync, oldest, PrintTiming::Late, false, &mut explains, &mut deliver);
        }
        self.queue.push_back(print);
        self.release(sync, explains, deliver);
    }

    /// After a diff was applied to `sync`: deliver the prints the depth stream has now passed.
    pub fn on_depth(
        &mut self,
        sync: &mut DepthSync,
        explains: impl FnMut(&L2Book, &TradePrint) -> bool,
        deliver: impl FnMut(ReconciledPrint, &L2Book),
    ) {
        self.clock_ns = self.clock_ns.max(sync.depth_clock_ns());
        self.release(sync, explains, deliver);
    }

    /// Before a diff stamped `diff_ts_ns` is applied to `sync`: deliver the waiting
    /// prints it passes that the book as it stands (state A, no rewinding needed)
    /// or state B explains. The rest wait for [`on_depth`](Self::on_depth) after the
    /// diff, which also tries state C. Optional (`on_depth` alone gives the same
    /// verdicts), but it spares undoing the new diff for most prints.
    pub fn before_depth(
        &mut self,
        sync: &mut DepthSync,
        diff_ts_ns: u64,
        mut explains: impl FnMut(&L2Book, &TradePrint) -> bool,
        mut deliver: impl FnMut(ReconciledPrint, &L2Book),
    ) {
        if !sync.is_synchronised() {
            return;
        }
        let passed = diff_ts_ns.max(sync.depth_clock_ns());
        self.release_until(sync, passed, true, &mut explains, &mut deliver);
    }

    /// Judge every waiting print now, with the diffs known so far: before a
    /// snapshot replaces the book, once a gap has lost it (the book then still
    /// holds every diff up to the gap), and at the end of a replay.
    pub fn flush(
        &mut self,
        sync: &mut DepthSync,
        mut explains: impl FnMut(&L2Book, &TradePrint) -> bool,
        mut deliver: impl FnMut(ReconciledPrint, &L2Book),
    ) {
        while let Some(print) = self.queue.pop_front() {
            self.judge(sync, print, PrintTiming::Flushed, false, &mut explains, &mut deliver);
        }
        sync.restore();
    }

    fn release(
        &mut self,
        sync: &mut DepthSync,
        mut explains: impl FnMut(&L2Book, &TradePrint) -> bool,
        mut deliver: impl FnMut(ReconciledPrint, &L2Book),
    ) {
        self.release_until(sync, sync.depth_clock_ns(), false, &mut explains, &mut deliver);
    }

    /// Deliver, in order, the waiting prints stamped before `passed` or past the wait bound.
    fn release_until(
        &mut self,
        sync: &mut DepthSync,
        passed: u64,
        without_aggregate: bool,
        explains: &mut impl FnMut(&L2Book, &TradePrint) -> bool,
        deliver: &mut impl FnMut(ReconciledPrint, &L2Book),
    ) {
        while let Some(&print) = self.queue.front() {
            let timing = if print.ts_ns < passed {
                PrintTiming::AfterDepth
            } else if print.ts_ns.saturating_add(self.max_wait_ns) < self.clock_ns {
                PrintTiming::Late
            } else {
                break;
            };
            if !self.judge(sync, print, timing, without_aggregate, explains, deliver) {
                break;
            }
            self.queue.pop_front();
        }
        sync.restore();
    }

    /// Judge one print against states A, B and C and hand it over; leaves `sync`
    /// rewound (the caller restores). With `without_aggregate`, a print that needs
    /// state C is not handed over (false): the diff that holds its time is not applied yet.
    fn judge(
        &mut self,
        sync: &mut DepthSync,
        print: TradePrint,
        timing: PrintTiming,
        without_aggregate: bool,
        explains: &mut impl FnMut(&L2Book, &TradePrint) -> bool,
        deliver: &mut impl FnMut(ReconciledPrint, &L2Book),
    ) -> bool {
        let Some(book) = self.show(sync, &print, without_aggregate, explains) else { return false };
        let s = &mut self.stats;
        s.delivered += 1;
        match book {
            PrintBook::AtPrint => s.explained_at_print += 1,
            PrintBook::BeforeSameMs => s.explained_before_same_ms += 1,
            PrintBook::WithinAggregate => s.explained_within_aggregate += 1,
            PrintBook::Unexplained => s.unexplained += 1,
        }
        match timing {
            PrintTiming::AfterDepth => s.judged_after_depth += 1,
            PrintTiming::Late => s.judged_late += 1,
            PrintTiming::Flushed => s.judged_flushed += 1,
        }
        deliver(ReconciledPrint { print, book, timing }, &sync.book);
        Self::take_back(&mut self.put_back, &mut sync.book);
        true
    }

    /// Put `sync`'s book in the state that explains `print` (A, else B, else C), or
    /// in state A when none does, and say which.
    fn show(
        &mut self,
        sync: &mut DepthSync,
        print: &TradePrint,
        without_aggregate: bool,
        explains: &mut impl FnMut(&L2Book, &TradePrint) -> bool,
    ) -> Option<PrintBook> {
        // State A: no diff stamped after the print's time (ns stamps are whole ms).
        sync.rewind_to(print.ts_ns.saturating_add(1));
        if explains(&sync.book, print) {
            return Some(PrintBook::AtPrint);
        }
        let after_print = sync.rewound_diffs;
        // State B: nor any diff stamped in its own millisecond.
        sync.rewind_to(print.ts_ns);
        if sync.rewound_diffs != after_print && explains(&sync.book, print) {
            return Some(PrintBook::BeforeSameMs);
        }
        if without_aggregate {
            return None;
        }
        if after_print > 0 {
            // State C: through the first diff stamped after the print (the aggregate
            // that holds the print's time), if it changed the print's level.
            sync.rewind_diffs(after_print - 1);
            if sync.last_applied_diff_changed(print.resting_side, print.price)
                && self.put_back_fill(sync, print)
                && explains(&sync.book, print)
            {
                return Some(PrintBook::WithinAggregate);
            }
            Self::take_back(&mut self.put_back, &mut sync.book);
        }
        sync.rewind_diffs(after_print);
        Some(PrintBook::Unexplained)
    }

    /// State C's view: the print's fill put back at its level, and the other side's
    /// levels at or through the print's price taken out when the same aggregate
    /// changed them (they came after the print). False when that cannot be done
    /// (another level of the other side is in the way, or too many); the changes
    /// made are in `put_back` either way.
    fn put_back_fill(&mut self, sync: &mut DepthSync, print: &TradePrint) -> bool {
        let (side, price) = (print.resting_side, print.price);
        while let Some(other) = sync.book.best(side.opposite())
            && !side.opposite().better(price, other.price)
        {
            if !sync.last_applied_diff_changed(side.opposite(), other.price)
                || self.put_back.len() + 1 >= self.put_back.capacity()
            {
                return false;
            }
            match sync.book.set_level(side.opposite(), other.price, 0) {
                Ok(undo) => self.put_back.push(undo),
                Err(_) => return false,
            }
        }
        let shown = sync.book.qty_at(side, price).saturating_add(print.qty);
        match sync.book.set_level(side, price, shown) {
            Ok(undo) => {
                self.put_back.push(undo);
                true
            }
            Err(_) => false,
        }
    }

    /// Undo the changes made to show state C, newest first.
    fn take_back(put_back: &mut Vec<L2Undo>, book: &mut L2Book) {
        while let Some(undo) = put_back.pop() {
            book.undo(undo);
        }
    }
}

/// A recording's replay figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BinanceReplayReport {
    /// Messages decoded (every line).
    pub events: u64,
    pub depth_updates: u64,
    pub snapshots: u64,
    pub trades: u64,
    pub gaps: u64,
    pub stale_dropped: u64,
    pub ticker_compared: u64,
    pub ticker_matched: u64,
    pub ticker_not_comparable: u64,
    pub crossed: u64,
    pub refused_levels: u64,
    /// Whether the book was synchronised after the last message.
    pub synchronised: bool,
    /// Update id of the first ticker that disagreed with the book.
    pub first_ticker_mismatch_update_id: Option<u64>,
}

/// A decoder and a [`DepthSync`] for replaying one recording, message by message.
#[derive(Debug, Clone)]
pub struct BinanceReplay {
    decoder: BinanceDecoder,
    sync: DepthSync,
    events: u64,
}

impl BinanceReplay {
    pub fn new(grid: Grid, price_decimals: u32, qty_decimals: u32) -> Self {
        Self { decoder: BinanceDecoder::new(price_decimals, qty_decimals), sync: DepthSync::new(grid), events: 0 }
    }

    /// Decode one message's JSON and apply it; on error nothing was applied.
    pub fn apply_json(&mut self, json: &[u8]) -> Result<(), BinanceError> {
        let message = self.decoder.decode(json)?;
        self.sync.apply(&message);
        self.events += 1;
        Ok(())
    }

    /// One recorded line, `<local ns> <json>`.
    pub fn apply_feed_line(&mut self, line: &[u8]) -> Result<(), BinanceError> {
        let (_, json) = split_feed_line(line)?;
        self.apply_json(json)
    }

    pub fn sync(&self) -> &DepthSync {
        &self.sync
    }

    pub fn report(&self) -> BinanceReplayReport {
        let s = self.sync.stats();
        BinanceReplayReport {
            events: self.events,
            depth_updates: s.depth_updates,
            snapshots: s.snapshots,
            trades: s.trades,
            gaps: s.gaps,
            stale_dropped: s.stale_dropped,
            ticker_compared: s.ticker_compared,
            ticker_matched: s.ticker_matched,
            ticker_not_comparable: s.ticker_not_comparable,
            crossed: s.crossed,
            refused_levels: s.refused_levels,
            synchronised: self.sync.is_synchronised(),
            first_ticker_mismatch_update_id: self.sync.first_ticker_mismatch().map(|t| t.update_id),
        }
    }
}
