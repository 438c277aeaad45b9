//! Payload layouts. Each is `#[repr(C)]` of byte-aligned little-endian fields,
//! padded explicitly to a multiple of 8 bytes; enumerations travel as `u8` and
//! are checked by [`Payload::validate`] when a frame is decoded.
use zerocopy::little_endian::{I32, I64, U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::asset::AssetId;
use crate::error::DecodeError;
use crate::header::FrameType;

/// Most bearish sentiment score.
pub const SCORE_MIN: i8 = -10;
/// Most bullish sentiment score.
pub const SCORE_MAX: i8 = 10;
/// Confidence is in basis points: 10,000 = certain.
pub const CONFIDENCE_MAX_BP: u16 = 10_000;
/// [`BlockPrint::flags`] bit: the print executed against hidden liquidity.
pub const BLOCK_PRINT_HIDDEN: u8 = 0b0000_0001;

/// A struct that can be the payload of a frame.
pub trait Payload: FromBytes + IntoBytes + KnownLayout + Immutable + Unaligned + Copy {
    /// The frame type this payload travels as.
    const FRAME_TYPE: FrameType;
    /// Check the fields whose byte patterns are not all meaningful.
    fn validate(&self) -> Result<(), DecodeError>;
}

fn invalid(frame_type: FrameType, field: &'static str, value: impl Into<i64>) -> DecodeError {
    DecodeError::InvalidField { frame_type, field, value: value.into() }
}

/// Declares a `u8` wire enumeration with checked conversion.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum $name { $($(#[$vmeta])* $variant = $value),+ }

        impl $name {
            /// The variant for a wire byte, if it is one.
            pub fn from_wire(value: u8) -> Option<Self> {
                match value { $($value => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}

wire_enum!(
    /// Order side.
    Side { Buy = 1, Sell = 2 }
);

impl Side {
    /// +1 for a buy, -1 for a sell.
    pub fn sign(self) -> i64 {
        match self {
            Side::Buy => 1,
            Side::Sell => -1,
        }
    }
}

wire_enum!(
    /// What an order-book agent saw.
    BookSignalKind { LiquidityDrop = 1, Spoofing = 2, HiddenLiquidity = 3, Imbalance = 4 }
);
wire_enum!(
    /// Risk's answer to a decision.
    Verdict { Approve = 1, Veto = 2 }
);
wire_enum!(
    /// Why risk vetoed (or `None` when it approved). Later risk issues add reasons
    /// at the end; numbers never change meaning.
    VetoReason {
        None = 0,
        MaxQuantity = 1,
        MaxNotional = 2,
        PriceCollar = 3,
        RateLimit = 4,
        Exposure = 5,
        GroupExposure = 6,
        Margin = 7,
        ValueAtRisk = 8,
        KillSwitch = 9,
        StalePrice = 10,
        UnknownPosition = 11,
        NotReconciled = 12,
        /// The kill switch is REDUCING and the order does not reduce its asset's position
        /// (HALTED vetoes with `KillSwitch`).
        Reducing = 13,
    }
);
wire_enum!(
    /// Order time in force.
    TimeInForce { Day = 1, ImmediateOrCancel = 2, GoodTillCancel = 3 }
);
wire_enum!(
    /// State of an order after an execution report.
    ExecStatus { New = 1, PartiallyFilled = 2, Filled = 3, Canceled = 4, Rejected = 5 }
);

/// SentimentX's output for one asset mentioned in one text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct SentimentSignal {
    pub asset: U32,
    /// −10 (max bearish) ..= +10 (max bullish).
    pub score: i8,
    pub _pad: u8,
    /// 0 ..= 10,000 basis points.
    pub confidence_bp: U16,
    /// When the source published the text (Unix ns, the source's clock).
    pub source_ts_ns: U64,
    /// Which model produced the score (the forge's model id).
    pub model_id: U32,
    pub _reserved: U32,
}

impl SentimentSignal {
    pub fn new(asset: AssetId, score: i8, confidence_bp: u16, source_ts_ns: u64, model_id: u32) -> Self {
        Self {
            asset: U32::new(asset.get()),
            score,
            _pad: 0,
            confidence_bp: U16::new(confidence_bp),
            source_ts_ns: U64::new(source_ts_ns),
            model_id: U32::new(model_id),
            _reserved: U32::ZERO,
        }
    }
    pub fn asset(&self) -> AssetId {
        AssetId::from_wire(self.asset.get())
    }
}

impl Payload for SentimentSignal {
    const FRAME_TYPE: FrameType = FrameType::Sentiment;
    fn validate(&self) -> Result<(), DecodeError> {
        if !(SCORE_MIN..=SCORE_MAX).contains(&self.score) {
            return Err(invalid(Self::FRAME_TYPE, "score", self.score));
        }
        if self.confidence_bp.get() > CONFIDENCE_MAX_BP {
            return Err(invalid(Self::FRAME_TYPE, "confidence_bp", self.confidence_bp.get()));
        }
        Ok(())
    }
}

/// An order-book observation from AlphaScanner or DarkPoolScan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct BookSignal {
    pub asset: U32,
    pub kind: u8,
    pub _pad: [u8; 3],
    /// Signed strength in basis points (positive = bullish pressure).
    pub magnitude_bp: I32,
    pub _reserved: U32,
    /// Reference price when observed, in the instrument's ticks.
    pub ref_price: I64,
    /// Exchange time of the observation (Unix ns).
    pub observed_ts_ns: U64,
}

impl BookSignal {
    pub fn new(asset: AssetId, kind: BookSignalKind, magnitude_bp: i32, ref_price: i64, observed_ts_ns: u64) -> Self {
        Self {
            asset: U32::new(asset.get()),
            kind: kind as u8,
            _pad: [0; 3],
            magnitude_bp: I32::new(magnitude_bp),
            _reserved: U32::ZERO,
            ref_price: I64::new(ref_price),
            observed_ts_ns: U64::new(observed_ts_ns),
        }
    }
    pub fn asset(&self) -> AssetId {
        AssetId::from_wire(self.asset.get())
    }
    /// The kind; decoded frames always have a valid one.
    pub fn kind(&self) -> Option<BookSignalKind> {
        BookSignalKind::from_wire(self.kind)
    }
}

impl Payload for BookSignal {
    const FRAME_TYPE: FrameType = FrameType::Book;
    fn validate(&self) -> Result<(), DecodeError> {
        if BookSignalKind::from_wire(self.kind).is_none() {
            return Err(invalid(Self::FRAME_TYPE, "kind", self.kind));
        }
        if self.ref_price.get() <= 0 {
            return Err(invalid(Self::FRAME_TYPE, "ref_price", self.ref_price.get()));
        }
        Ok(())
    }
}

/// A large trade print (possibly against hidden liquidity), from DarkPoolScan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct BlockPrint {
    pub asset: U32,
    /// Aggressor side.
    pub side: u8,
    /// Bit set of `BLOCK_PRINT_*`.
    pub flags: u8,
    pub venue: U16,
    pub price: I64,
    pub qty: I64,
    pub print_ts_ns: U64,
}

impl BlockPrint {
    /// A print of `qty` at `price` (ticks) by an aggressor on `side`; `flags` is a bit set of `BLOCK_PRINT_*`.
    pub fn new(asset: AssetId, side: Side, flags: u8, venue: u16, price: i64, qty: i64, print_ts_ns: u64) -> Self {
        Self {
            asset: U32::new(asset.get()),
            side: side as u8,
            flags,
            venue: U16::new(venue),
            price: I64::new(price),
            qty: I64::new(qty),
            print_ts_ns: U64::new(print_ts_ns),
        }
    }
    pub fn asset(&self) -> AssetId {
        AssetId::from_wire(self.asset.get())
    }
    /// The aggressor side; decoded frames always have a valid one.
    pub fn side(&self) -> Option<Side> {
        Side::from_wire(self.side)
    }
    /// Whether the print executed against hidden liquidity.
    pub fn is_hidden(&self) -> bool {
        self.flags & BLOCK_PRINT_HIDDEN != 0
    }
}

impl Payload for BlockPrint {
    const FRAME_TYPE: FrameType = FrameType::BlockPrint;
    fn validate(&self) -> Result<(), DecodeError> {
        check_side(Self::FRAME_TYPE, self.side)?;
        check_positive(Self::FRAME_TYPE, "price", self.price.get())?;
        check_positive(Self::FRAME_TYPE, "qty", self.qty.get())
    }
}

/// The alpha step's decision to trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Decision {
    pub decision_id: U64,
    pub asset: U32,
    pub side: u8,
    /// The time in force the deciding agent asks for ([`TimeInForce`] on the wire), or 0: the
    /// risk stage's own (immediate-or-cancel by default). An agent that works resting orders
    /// itself (LiquidityFlow's passive children) asks for good-till-cancel.
    pub time_in_force: u8,
    /// Why the alpha step decided (strategy-defined code, for the audit trail).
    pub reason: U16,
    /// Quantity in lots.
    pub qty: I64,
    /// Limit price in ticks.
    pub limit_price: I64,
}

impl Decision {
    pub fn new(decision_id: u64, asset: AssetId, side: Side, qty: i64, limit_price: i64, reason: u16) -> Self {
        Self {
            decision_id: U64::new(decision_id),
            asset: U32::new(asset.get()),
            side: side as u8,
            time_in_force: 0,
            reason: U16::new(reason),
            qty: I64::new(qty),
            limit_price: I64::new(limit_price),
        }
    }
    /// The same decision asking for `time_in_force`.
    pub fn with_time_in_force(mut self, time_in_force: TimeInForce) -> Self {
        self.time_in_force = time_in_force as u8;
        self
    }
    pub fn asset(&self) -> AssetId {
        AssetId::from_wire(self.asset.get())
    }
    /// The side; decoded frames always have a valid one.
    pub fn side(&self) -> Option<Side> {
        Side::from_wire(self.side)
    }
    /// The time in force asked for; `None`: the risk stage's own.
    pub fn requested_time_in_force(&self) -> Option<TimeInForce> {
        TimeInForce::from_wire(self.time_in_force)
    }
}

impl Payload for Decision {
    const FRAME_TYPE: FrameType = FrameType::Decision;
    fn validate(&self) -> Result<(), DecodeError> {
        check_side(Self::FRAME_TYPE, self.side)?;
        if self.time_in_force != 0 && TimeInForce::from_wire(self.time_in_force).is_none() {
            return Err(invalid(Self::FRAME_TYPE, "time_in_force", self.time_in_force));
        }
        check_positive(Self::FRAME_TYPE, "qty", self.qty.get())?;
        check_positive(Self::FRAME_TYPE, "limit_price", self.limit_price.get())
    }
}

/// Risk's verdict on one decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct RiskVerdict {
    pub decision_id: U64,
    pub asset: U32,
    pub verdict: u8,
    pub _pad: u8,
    pub reason: U16,
}

impl RiskVerdict {
    pub fn new(decision_id: u64, asset: AssetId, verdict: Verdict, reason: VetoReason) -> Self {
        Self {
            decision_id: U64::new(decision_id),
            asset: U32::new(asset.get()),
            verdict: verdict as u8,
            _pad: 0,
            reason: U16::new(u16::from(reason as u8)),
        }
    }
    /// The verdict; decoded frames always have a valid one.
    pub fn verdict(&self) -> Option<Verdict> {
        Verdict::from_wire(self.verdict)
    }
    /// The veto reason; decoded frames always have a valid one.
    pub fn reason(&self) -> Option<VetoReason> {
        u8::try_from(self.reason.get()).ok().and_then(VetoReason::from_wire)
    }
}

impl Payload for RiskVerdict {
    const FRAME_TYPE: FrameType = FrameType::RiskVerdict;
    fn validate(&self) -> Result<(), DecodeError> {
        let verdict =
            Verdict::from_wire(self.verdict).ok_or_else(|| invalid(Self::FRAME_TYPE, "verdict", self.verdict))?;
        let reason = self.reason().ok_or_else(|| invalid(Self::FRAME_TYPE, "reason", self.reason.get()))?;
        // An approval carries no reason and a veto always has one.
        if (verdict == Verdict::Approve) != (reason == VetoReason::None) {
            return Err(invalid(Self::FRAME_TYPE, "reason", self.reason.get()));
        }
        Ok(())
    }
}

/// An order the execution side is asked to work. Only risk creates these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct OrderIntent {
    pub intent_id: U64,
    pub decision_id: U64,
    pub asset: U32,
    pub side: u8,
    pub time_in_force: u8,
    pub _pad: U16,
    pub qty: I64,
    pub limit_price: I64,
}

impl OrderIntent {
    pub fn new(intent_id: u64, decision: &Decision, time_in_force: TimeInForce) -> Self {
        Self {
            intent_id: U64::new(intent_id),
            decision_id: decision.decision_id,
            asset: decision.asset,
            side: decision.side,
            time_in_force: time_in_force as u8,
            _pad: U16::ZERO,
            qty: decision.qty,
            limit_price: decision.limit_price,
        }
    }
    pub fn asset(&self) -> AssetId {
        AssetId::from_wire(self.asset.get())
    }
    /// The side; decoded frames always have a valid one.
    pub fn side(&self) -> Option<Side> {
        Side::from_wire(self.side)
    }
}

impl Payload for OrderIntent {
    const FRAME_TYPE: FrameType = FrameType::OrderIntent;
    fn validate(&self) -> Result<(), DecodeError> {
        check_side(Self::FRAME_TYPE, self.side)?;
        if TimeInForce::from_wire(self.time_in_force).is_none() {
            return Err(invalid(Self::FRAME_TYPE, "time_in_force", self.time_in_force));
        }
        check_positive(Self::FRAME_TYPE, "qty", self.qty.get())?;
        check_positive(Self::FRAME_TYPE, "limit_price", self.limit_price.get())
    }
}

/// The venue's answer about an order, as the execution agents saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct ExecReport {
    pub intent_id: U64,
    pub asset: U32,
    pub side: u8,
    pub status: u8,
    pub _pad: U16,
    pub last_qty: I64,
    pub last_price: I64,
    pub cum_qty: I64,
    pub leaves_qty: I64,
}

impl ExecReport {
    /// Whether this is the order's last report: filled, cancelled or rejected, or anything
    /// but an acknowledgement that leaves nothing open.
    pub fn is_terminal(&self) -> bool {
        match ExecStatus::from_wire(self.status) {
            Some(ExecStatus::Filled | ExecStatus::Canceled | ExecStatus::Rejected) => true,
            Some(ExecStatus::New) => false,
            _ => self.leaves_qty.get() == 0,
        }
    }
}

impl Payload for ExecReport {
    const FRAME_TYPE: FrameType = FrameType::ExecReport;
    fn validate(&self) -> Result<(), DecodeError> {
        check_side(Self::FRAME_TYPE, self.side)?;
        if ExecStatus::from_wire(self.status).is_none() {
            return Err(invalid(Self::FRAME_TYPE, "status", self.status));
        }
        for (field, value) in [("last_qty", self.last_qty), ("cum_qty", self.cum_qty), ("leaves_qty", self.leaves_qty)]
        {
            if value.get() < 0 {
                return Err(invalid(Self::FRAME_TYPE, field, value.get()));
            }
        }
        Ok(())
    }
}

fn check_side(frame_type: FrameType, side: u8) -> Result<(), DecodeError> {
    match Side::from_wire(side) {
        Some(_) => Ok(()),
        None => Err(invalid(frame_type, "side", side)),
    }
}

fn check_positive(frame_type: FrameType, field: &'static str, value: i64) -> Result<(), DecodeError> {
    if value > 0 { Ok(()) } else { Err(invalid(frame_type, field, value)) }
}

/// A sentiment signal confirmed by an order-book signal on the same asset within
/// the Confirm step's window: the Decide step's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Confirmed {
    pub asset: U32,
    /// The sentiment score (−10 ..= +10).
    pub score: i8,
    /// The book signal's [`BookSignalKind`].
    pub book_kind: u8,
    pub confidence_bp: U16,
    /// The book signal's signed magnitude.
    pub magnitude_bp: I32,
    /// Which model scored the sentiment.
    pub model_id: U32,
    /// Reference price from the book signal, in ticks.
    pub ref_price: I64,
    pub sentiment_ts_ns: U64,
    pub book_ts_ns: U64,
}

impl Confirmed {
    pub fn new(sentiment: &SentimentSignal, book: &BookSignal) -> Self {
        Self {
            asset: sentiment.asset,
            score: sentiment.score,
            book_kind: book.kind,
            confidence_bp: sentiment.confidence_bp,
            magnitude_bp: book.magnitude_bp,
            model_id: sentiment.model_id,
            ref_price: book.ref_price,
            sentiment_ts_ns: sentiment.source_ts_ns,
            book_ts_ns: book.observed_ts_ns,
        }
    }
    pub fn asset(&self) -> AssetId {
        AssetId::from_wire(self.asset.get())
    }
}

impl Payload for Confirmed {
    const FRAME_TYPE: FrameType = FrameType::Confirmed;
    fn validate(&self) -> Result<(), DecodeError> {
        if !(SCORE_MIN..=SCORE_MAX).contains(&self.score) {
            return Err(invalid(Self::FRAME_TYPE, "score", self.score));
        }
        if BookSignalKind::from_wire(self.book_kind).is_none() {
            return Err(invalid(Self::FRAME_TYPE, "book_kind", self.book_kind));
        }
        if self.confidence_bp.get() > CONFIDENCE_MAX_BP {
            return Err(invalid(Self::FRAME_TYPE, "confidence_bp", self.confidence_bp.get()));
        }
        check_positive(Self::FRAME_TYPE, "ref_price", self.ref_price.get())
    }
}

/// One asset's top of book as the ingest side saw it: the best bid and ask with their sizes.
/// The risk stage takes its reference prices from these; the time that counts for freshness
/// is the frame's `Ingest` stamp (the node's monotonic clock), not `feed_ts_ns`, which is on
/// the feed's clock and is kept for the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Quote {
    pub asset: U32,
    pub _reserved: U32,
    /// Best bid, in the instrument's ticks.
    pub bid_price: I64,
    /// Size at the best bid, in lots.
    pub bid_qty: I64,
    /// Best ask, in ticks.
    pub ask_price: I64,
    /// Size at the best ask, in lots.
    pub ask_qty: I64,
    /// Feed time of the book state (Unix ns: the exchange's event time, or the receive time
    /// where the feed gives none; the loop passes each market-data message's feed time).
    pub feed_ts_ns: U64,
}

impl Quote {
    pub fn new(asset: AssetId, bid: (i64, i64), ask: (i64, i64), feed_ts_ns: u64) -> Self {
        Self {
            asset: U32::new(asset.get()),
            _reserved: U32::ZERO,
            bid_price: I64::new(bid.0),
            bid_qty: I64::new(bid.1),
            ask_price: I64::new(ask.0),
            ask_qty: I64::new(ask.1),
            feed_ts_ns: U64::new(feed_ts_ns),
        }
    }
    pub fn asset(&self) -> AssetId {
        AssetId::from_wire(self.asset.get())
    }
    /// The mid price in ticks, rounded down (a decoded quote has `0 < bid < ask`, so the
    /// mid is positive and between them).
    pub fn mid_price(&self) -> i64 {
        let (bid, ask) = (self.bid_price.get(), self.ask_price.get());
        bid.saturating_add(ask.saturating_sub(bid) / 2)
    }
}

impl Payload for Quote {
    const FRAME_TYPE: FrameType = FrameType::Quote;
    fn validate(&self) -> Result<(), DecodeError> {
        check_positive(Self::FRAME_TYPE, "bid_price", self.bid_price.get())?;
        check_positive(Self::FRAME_TYPE, "ask_price", self.ask_price.get())?;
        if self.bid_price.get() >= self.ask_price.get() {
            return Err(invalid(Self::FRAME_TYPE, "ask_price", self.ask_price.get()));
        }
        check_positive(Self::FRAME_TYPE, "bid_qty", self.bid_qty.get())?;
        check_positive(Self::FRAME_TYPE, "ask_qty", self.ask_qty.get())
    }
}
