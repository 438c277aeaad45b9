//! Typed views and builders of the 13 messages the agents use: each is a struct whose
//! strings borrow the received message, encoded with [`Encoder::encode`] and read with
//! [`decode_as`]. Prices and quantities are fixed-point `i64` at a [`Scale`]; times are
//! Unix nanoseconds (sent with millisecond precision).

use crate::encode::Encoder;
use crate::message::{Field, FieldError, FieldErrorKind, Message};
use crate::tag;

/// Decimals of prices and of quantities (an instrument's grid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    pub price_decimals: u8,
    pub qty_decimals: u8,
}

impl Scale {
    pub const fn new(price_decimals: u8, qty_decimals: u8) -> Self {
        Self { price_decimals, qty_decimals }
    }
}

/// The standard header fields a session sets and checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    pub sender_comp_id: &'a str,
    pub target_comp_id: &'a str,
    pub msg_seq_num: u64,
    /// SendingTime (52), Unix ns; sent as milliseconds.
    pub sending_time_ns: u64,
    /// PossDupFlag (43); sent only when true.
    pub poss_dup: bool,
    /// OrigSendingTime (122), for a resend.
    pub orig_sending_time_ns: Option<u64>,
}

impl<'a> Header<'a> {
    pub fn decode(message: &Message<'a>) -> Result<Self, FieldError> {
        Ok(Self {
            sender_comp_id: message.require(tag::SENDER_COMP_ID)?.as_str()?,
            target_comp_id: message.require(tag::TARGET_COMP_ID)?.as_str()?,
            msg_seq_num: message.require(tag::MSG_SEQ_NUM)?.as_u64()?,
            sending_time_ns: message.require(tag::SENDING_TIME)?.as_timestamp_ns()?,
            poss_dup: opt(message, tag::POSS_DUP_FLAG, |f| f.as_bool())?.unwrap_or(false),
            orig_sending_time_ns: opt(message, tag::ORIG_SENDING_TIME, |f| f.as_timestamp_ns())?,
        })
    }

    fn encode(&self, encoder: &mut Encoder) {
        encoder
            .str(tag::SENDER_COMP_ID, self.sender_comp_id)
            .str(tag::TARGET_COMP_ID, self.target_comp_id)
            .uint(tag::MSG_SEQ_NUM, self.msg_seq_num);
        if self.poss_dup {
            encoder.bool(tag::POSS_DUP_FLAG, true);
        }
        encoder.timestamp_ms(tag::SENDING_TIME, self.sending_time_ns);
        if let Some(ns) = self.orig_sending_time_ns {
            encoder.timestamp_ms(tag::ORIG_SENDING_TIME, ns);
        }
    }
}

/// A typed FIX message: its MsgType, how its body is written and read.
pub trait FixMessage<'a>: Sized {
    const MSG_TYPE: &'static [u8];
    fn encode_body(&self, encoder: &mut Encoder, scale: Scale);
    fn decode_body(message: &Message<'a>, scale: Scale) -> Result<Self, FieldError>;
}

impl Encoder {
    /// Encodes `header` and `body` as one message into the reused buffer.
    pub fn encode<'m, M: FixMessage<'m>>(&mut self, header: &Header<'_>, body: &M, scale: Scale) -> &[u8] {
        self.begin(M::MSG_TYPE);
        header.encode(self);
        body.encode_body(self, scale);
        self.finish()
    }
}

/// Reads `message` as `M` (its MsgType must be `M::MSG_TYPE`).
pub fn decode_as<'a, M: FixMessage<'a>>(message: &Message<'a>, scale: Scale) -> Result<M, FieldError> {
    if message.msg_type() != M::MSG_TYPE {
        let field = message.require(tag::MSG_TYPE)?;
        return Err(FieldError { tag: tag::MSG_TYPE, kind: FieldErrorKind::Value, offset: field.offset });
    }
    M::decode_body(message, scale)
}

fn opt<'a, T>(
    message: &Message<'a>,
    tag: u32,
    read: impl FnOnce(&Field<'a>) -> Result<T, FieldError>,
) -> Result<Option<T>, FieldError> {
    message.get_field(tag).map(|f| read(&f)).transpose()
}

fn req<'a, T>(
    message: &Message<'a>,
    tag: u32,
    read: impl FnOnce(&Field<'a>) -> Result<T, FieldError>,
) -> Result<T, FieldError> {
    read(&message.require(tag)?)
}

macro_rules! char_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $byte:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),* }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];
            pub fn as_byte(self) -> u8 {
                match self { $(Self::$variant => $byte),* }
            }
            pub fn from_byte(byte: u8) -> Option<Self> {
                match byte { $($byte => Some(Self::$variant),)* _ => None }
            }
            fn read(field: &Field<'_>) -> Result<Self, FieldError> {
                Self::from_byte(field.as_char()?).ok_or_else(|| field.value_error())
            }
        }
    };
}

char_enum!(
    /// Side (54).
    Side { Buy = b'1', Sell = b'2', SellShort = b'5', SellShortExempt = b'6' }
);
char_enum!(
    /// OrdType (40).
    OrdType { Market = b'1', Limit = b'2', Stop = b'3', StopLimit = b'4' }
);
char_enum!(
    /// TimeInForce (59).
    TimeInForce {
        Day = b'0',
        GoodTillCancel = b'1',
        AtTheOpening = b'2',
        ImmediateOrCancel = b'3',
        FillOrKill = b'4',
        GoodTillCrossing = b'5',
        GoodTillDate = b'6',
        AtTheClose = b'7',
    }
);
char_enum!(
    /// ExecType (150).
    ExecType {
        New = b'0',
        DoneForDay = b'3',
        Canceled = b'4',
        Replaced = b'5',
        PendingCancel = b'6',
        Stopped = b'7',
        Rejected = b'8',
        Suspended = b'9',
        PendingNew = b'A',
        Calculated = b'B',
        Expired = b'C',
        Restated = b'D',
        PendingReplace = b'E',
        Trade = b'F',
        TradeCorrect = b'G',
        TradeCancel = b'H',
        OrderStatus = b'I',
    }
);
char_enum!(
    /// OrdStatus (39).
    OrdStatus {
        New = b'0',
        PartiallyFilled = b'1',
        Filled = b'2',
        DoneForDay = b'3',
        Canceled = b'4',
        PendingCancel = b'6',
        Stopped = b'7',
        Rejected = b'8',
        Suspended = b'9',
        PendingNew = b'A',
        Calculated = b'B',
        Expired = b'C',
        AcceptedForBidding = b'D',
        PendingReplace = b'E',
    }
);
char_enum!(
    /// CxlRejResponseTo (434).
    CxlRejResponseTo { OrderCancelRequest = b'1', OrderCancelReplaceRequest = b'2' }
);

/// Logon (A).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Logon<'a> {
    /// EncryptMethod (98): 0, none.
    pub encrypt_method: u64,
    pub heart_bt_int_s: u64,
    pub reset_seq_num: bool,
    pub next_expected_msg_seq_num: Option<u64>,
    pub username: Option<&'a str>,
    pub password: Option<&'a str>,
}

impl<'a> FixMessage<'a> for Logon<'a> {
    const MSG_TYPE: &'static [u8] = b"A";
    fn encode_body(&self, e: &mut Encoder, _: Scale) {
        e.uint(tag::ENCRYPT_METHOD, self.encrypt_method).uint(tag::HEART_BT_INT, self.heart_bt_int_s);
        if self.reset_seq_num {
            e.bool(tag::RESET_SEQ_NUM_FLAG, true);
        }
        if let Some(n) = self.next_expected_msg_seq_num {
            e.uint(tag::NEXT_EXPECTED_MSG_SEQ_NUM, n);
        }
        if let Some(s) = self.username {
            e.str(tag::USERNAME, s);
        }
        if let Some(s) = self.password {
            e.str(tag::PASSWORD, s);
        }
    }
    fn decode_body(m: &Message<'a>, _: Scale) -> Result<Self, FieldError> {
        Ok(Self {
            encrypt_method: req(m, tag::ENCRYPT_METHOD, |f| f.as_u64())?,
            heart_bt_int_s: req(m, tag::HEART_BT_INT, |f| f.as_u64())?,
            reset_seq_num: opt(m, tag::RESET_SEQ_NUM_FLAG, |f| f.as_bool())?.unwrap_or(false),
            next_expected_msg_seq_num: opt(m, tag::NEXT_EXPECTED_MSG_SEQ_NUM, |f| f.as_u64())?,
            username: opt(m, tag::USERNAME, |f| f.as_str())?,
            password: opt(m, tag::PASSWORD, |f| f.as_str())?,
        })
    }
}

/// Heartbeat (0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat<'a> {
    /// TestReqID (112) when answering a TestRequest.
    pub test_req_id: Option<&'a str>,
}

impl<'a> FixMessage<'a> for Heartbeat<'a> {
    const MSG_TYPE: &'static [u8] = b"0";
    fn encode_body(&self, e: &mut Encoder, _: Scale) {
        if let Some(s) = self.test_req_id {
            e.str(tag::TEST_REQ_ID, s);
        }
    }
    fn decode_body(m: &Message<'a>, _: Scale) -> Result<Self, FieldError> {
        Ok(Self { test_req_id: opt(m, tag::TEST_REQ_ID, |f| f.as_str())? })
    }
}

/// TestRequest (1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestRequest<'a> {
    pub test_req_id: &'a str,
}

impl<'a> FixMessage<'a> for TestRequest<'a> {
    const MSG_TYPE: &'static [u8] = b"1";
    fn encode_body(&self, e: &mut Encoder, _: Scale) {
        e.str(tag::TEST_REQ_ID, self.test_req_id);
    }
    fn decode_body(m: &Message<'a>, _: Scale) -> Result<Self, FieldError> {
        Ok(Self { test_req_id: req(m, tag::TEST_REQ_ID, |f| f.as_str())? })
    }
}

/// ResendRequest (2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResendRequest {
    pub begin_seq_no: u64,
    /// 0: through the latest.
    pub end_seq_no: u64,
}

impl<'a> FixMessage<'a> for ResendRequest {
    const MSG_TYPE: &'static [u8] = b"2";
    fn encode_body(&self, e: &mut Encoder, _: Scale) {
        e.uint(tag::BEGIN_SEQ_NO, self.begin_seq_no).uint(tag::END_SEQ_NO, self.end_seq_no);
    }
    fn decode_body(m: &Message<'a>, _: Scale) -> Result<Self, FieldError> {
        Ok(Self {
            begin_seq_no: req(m, tag::BEGIN_SEQ_NO, |f| f.as_u64())?,
            end_seq_no: req(m, tag::END_SEQ_NO, |f| f.as_u64())?,
        })
    }
}

/// Reject (3), session level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reject<'a> {
    pub ref_seq_num: u64,
    pub ref_tag_id: Option<u64>,
    pub ref_msg_type: Option<&'a str>,
    /// SessionRejectReason (373) code.
    pub session_reject_reason: Option<u64>,
    pub text: Option<&'a str>,
}

impl<'a> FixMessage<'a> for Reject<'a> {
    const MSG_TYPE: &'static [u8] = b"3";
    fn encode_body(&self, e: &mut Encoder, _: Scale) {
        e.uint(tag::REF_SEQ_NUM, self.ref_seq_num);
        if let Some(s) = self.text {
            e.str(tag::TEXT, s);
        }
        if let Some(n) = self.ref_tag_id {
            e.uint(tag::REF_TAG_ID, n);
        }
        if let Some(s) = self.ref_msg_type {
            e.str(tag::REF_MSG_TYPE, s);
        }
        if let Some(n) = self.session_reject_reason {
            e.uint(tag::SESSION_REJECT_REASON, n);
        }
    }
    fn decode_body(m: &Message<'a>, _: Scale) -> Result<Self, FieldError> {
        Ok(Self {
            ref_seq_num: req(m, tag::REF_SEQ_NUM, |f| f.as_u64())?,
            ref_tag_id: opt(m, tag::REF_TAG_ID, |f| f.as_u64())?,
            ref_msg_type: opt(m, tag::REF_MSG_TYPE, |f| f.as_str())?,
            session_reject_reason: opt(m, tag::SESSION_REJECT_REASON, |f| f.as_u64())?,
            text: opt(m, tag::TEXT, |f| f.as_str())?,
        })
    }
}

/// SequenceReset (4): gap fill or reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceReset {
    pub gap_fill: bool,
    pub new_seq_no: u64,
}

impl<'a> FixMessage<'a> for SequenceReset {
    const MSG_TYPE: &'static [u8] = b"4";
    fn encode_body(&self, e: &mut Encoder, _: Scale) {
        // Tag order (36 before 123), as QuickFIX writes it.
        e.uint(tag::NEW_SEQ_NO, self.new_seq_no);
        if self.gap_fill {
            e.bool(tag::GAP_FILL_FLAG, true);
        }
    }
    fn decode_body(m: &Message<'a>, _: Scale) -> Result<Self, FieldError> {
        Ok(Self {
            gap_fill: opt(m, tag::GAP_FILL_FLAG, |f| f.as_bool())?.unwrap_or(false),
            new_seq_no: req(m, tag::NEW_SEQ_NO, |f| f.as_u64())?,
        })
    }
}

/// Logout (5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Logout<'a> {
    pub text: Option<&'a str>,
}

impl<'a> FixMessage<'a> for Logout<'a> {
    const MSG_TYPE: &'static [u8] = b"5";
    fn encode_body(&self, e: &mut Encoder, _: Scale) {
        if let Some(s) = self.text {
            e.str(tag::TEXT, s);
        }
    }
    fn decode_body(m: &Message<'a>, _: Scale) -> Result<Self, FieldError> {
        Ok(Self { text: opt(m, tag::TEXT, |f| f.as_str())? })
    }
}

/// NewOrderSingle (D).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewOrderSingle<'a> {
    pub cl_ord_id: &'a str,
    pub account: Option<&'a str>,
    pub symbol: &'a str,
    pub side: Side,
    /// OrderQty (38) at the scale's quantity decimals.
    pub order_qty: i64,
    pub ord_type: OrdType,
    /// Price (44) at the scale's price decimals (limit orders).
    pub price: Option<i64>,
    pub time_in_force: Option<TimeInForce>,
    pub transact_time_ns: u64,
}

/// What a new order and a cancel-replace share: the order's terms, written and read in one
/// tag order (Symbol, Side, TransactTime, OrderQty, OrdType, Price, TimeInForce).
#[derive(Debug, Clone, Copy)]
struct OrderTerms<'a> {
    symbol: &'a str,
    side: Side,
    order_qty: i64,
    ord_type: OrdType,
    price: Option<i64>,
    time_in_force: Option<TimeInForce>,
    transact_time_ns: u64,
}

impl<'a> OrderTerms<'a> {
    fn encode(&self, e: &mut Encoder, scale: Scale) {
        e.str(tag::SYMBOL, self.symbol)
            .char(tag::SIDE, self.side.as_byte())
            .timestamp_ms(tag::TRANSACT_TIME, self.transact_time_ns)
            .fixed(tag::ORDER_QTY, self.order_qty, scale.qty_decimals)
            .char(tag::ORD_TYPE, self.ord_type.as_byte());
        if let Some(p) = self.price {
            e.fixed(tag::PRICE, p, scale.price_decimals);
        }
        if let Some(t) = self.time_in_force {
            e.char(tag::TIME_IN_FORCE, t.as_byte());
        }
    }

    fn decode(m: &Message<'a>, scale: Scale) -> Result<Self, FieldError> {
        Ok(Self {
            symbol: req(m, tag::SYMBOL, |f| f.as_str())?,
            side: req(m, tag::SIDE, Side::read)?,
            order_qty: req(m, tag::ORDER_QTY, |f| f.as_fixed(scale.qty_decimals))?,
            ord_type: req(m, tag::ORD_TYPE, OrdType::read)?,
            price: opt(m, tag::PRICE, |f| f.as_fixed(scale.price_decimals))?,
            time_in_force: opt(m, tag::TIME_IN_FORCE, TimeInForce::read)?,
            transact_time_ns: req(m, tag::TRANSACT_TIME, |f| f.as_timestamp_ns())?,
        })
    }
}

/// The order terms of a message that carries them.
macro_rules! order_terms {
    ($message:ty) => {
        impl<'a> $message {
            fn terms(&self) -> OrderTerms<'a> {
                OrderTerms {
                    symbol: self.symbol,
                    side: self.side,
                    order_qty: self.order_qty,
                    ord_type: self.ord_type,
                    price: self.price,
                    time_in_force: self.time_in_force,
                    transact_time_ns: self.transact_time_ns,
                }
            }
        }
    };
}
order_terms!(NewOrderSingle<'a>);
order_terms!(OrderCancelReplaceRequest<'a>);

impl<'a> FixMessage<'a> for NewOrderSingle<'a> {
    const MSG_TYPE: &'static [u8] = b"D";
    fn encode_body(&self, e: &mut Encoder, scale: Scale) {
        e.str(tag::CL_ORD_ID, self.cl_ord_id);
        if let Some(s) = self.account {
            e.str(tag::ACCOUNT, s);
        }
        self.terms().encode(e, scale);
    }
    fn decode_body(m: &Message<'a>, scale: Scale) -> Result<Self, FieldError> {
        let cl_ord_id = req(m, tag::CL_ORD_ID, |f| f.as_str())?;
        let account = opt(m, tag::ACCOUNT, |f| f.as_str())?;
        let OrderTerms { symbol, side, order_qty, ord_type, price, time_in_force, transact_time_ns } =
            OrderTerms::decode(m, scale)?;
        Ok(Self { cl_ord_id, account, symbol, side, order_qty, ord_type, price, time_in_force, transact_time_ns })
    }
}

/// OrderCancelRequest (F).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderCancelRequest<'a> {
    pub orig_cl_ord_id: &'a str,
    pub order_id: Option<&'a str>,
    pub cl_ord_id: &'a str,
    pub symbol: &'a str,
    pub side: Side,
    pub order_qty: Option<i64>,
    pub transact_time_ns: u64,
}

impl<'a> FixMessage<'a> for OrderCancelRequest<'a> {
    const MSG_TYPE: &'static [u8] = b"F";
    fn encode_body(&self, e: &mut Encoder, scale: Scale) {
        e.str(tag::ORIG_CL_ORD_ID, self.orig_cl_ord_id);
        if let Some(s) = self.order_id {
            e.str(tag::ORDER_ID, s);
        }
        e.str(tag::CL_ORD_ID, self.cl_ord_id)
            .str(tag::SYMBOL, self.symbol)
            .char(tag::SIDE, self.side.as_byte())
            .timestamp_ms(tag::TRANSACT_TIME, self.transact_time_ns);
        if let Some(q) = self.order_qty {
            e.fixed(tag::ORDER_QTY, q, scale.qty_decimals);
        }
    }
    fn decode_body(m: &Message<'a>, scale: Scale) -> Result<Self, FieldError> {
        Ok(Self {
            orig_cl_ord_id: req(m, tag::ORIG_CL_ORD_ID, |f| f.as_str())?,
            order_id: opt(m, tag::ORDER_ID, |f| f.as_str())?,
            cl_ord_id: req(m, tag::CL_ORD_ID, |f| f.as_str())?,
            symbol: req(m, tag::SYMBOL, |f| f.as_str())?,
            side: req(m, tag::SIDE, Side::read)?,
            order_qty: opt(m, tag::ORDER_QTY, |f| f.as_fixed(scale.qty_decimals))?,
            transact_time_ns: req(m, tag::TRANSACT_TIME, |f| f.as_timestamp_ns())?,
        })
    }
}

/// OrderCancelReplaceRequest (G).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderCancelReplaceRequest<'a> {
    pub orig_cl_ord_id: &'a str,
    pub order_id: Option<&'a str>,
    pub cl_ord_id: &'a str,
    pub symbol: &'a str,
    pub side: Side,
    pub order_qty: i64,
    pub ord_type: OrdType,
    pub price: Option<i64>,
    pub time_in_force: Option<TimeInForce>,
    pub transact_time_ns: u64,
}

impl<'a> FixMessage<'a> for OrderCancelReplaceRequest<'a> {
    const MSG_TYPE: &'static [u8] = b"G";
    fn encode_body(&self, e: &mut Encoder, scale: Scale) {
        e.str(tag::ORIG_CL_ORD_ID, self.orig_cl_ord_id);
        if let Some(s) = self.order_id {
            e.str(tag::ORDER_ID, s);
        }
        e.str(tag::CL_ORD_ID, self.cl_ord_id);
        self.terms().encode(e, scale);
    }
    fn decode_body(m: &Message<'a>, scale: Scale) -> Result<Self, FieldError> {
        let orig_cl_ord_id = req(m, tag::ORIG_CL_ORD_ID, |f| f.as_str())?;
        let order_id = opt(m, tag::ORDER_ID, |f| f.as_str())?;
        let cl_ord_id = req(m, tag::CL_ORD_ID, |f| f.as_str())?;
        let OrderTerms { symbol, side, order_qty, ord_type, price, time_in_force, transact_time_ns } =
            OrderTerms::decode(m, scale)?;
        Ok(Self {
            orig_cl_ord_id,
            order_id,
            cl_ord_id,
            symbol,
            side,
            order_qty,
            ord_type,
            price,
            time_in_force,
            transact_time_ns,
        })
    }
}

/// ExecutionReport (8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecutionReport<'a> {
    pub order_id: &'a str,
    pub cl_ord_id: Option<&'a str>,
    pub orig_cl_ord_id: Option<&'a str>,
    pub exec_id: &'a str,
    pub exec_type: ExecType,
    pub ord_status: OrdStatus,
    /// OrdRejReason (103), for a rejected order.
    pub ord_rej_reason: Option<u64>,
    pub symbol: &'a str,
    pub side: Side,
    pub order_qty: Option<i64>,
    pub price: Option<i64>,
    pub last_qty: Option<i64>,
    pub last_px: Option<i64>,
    pub leaves_qty: i64,
    pub cum_qty: i64,
    pub avg_px: i64,
    pub transact_time_ns: Option<u64>,
    pub text: Option<&'a str>,
}

impl<'a> FixMessage<'a> for ExecutionReport<'a> {
    const MSG_TYPE: &'static [u8] = b"8";
    fn encode_body(&self, e: &mut Encoder, scale: Scale) {
        let (p, q) = (scale.price_decimals, scale.qty_decimals);
        e.str(tag::ORDER_ID, self.order_id);
        if let Some(s) = self.cl_ord_id {
            e.str(tag::CL_ORD_ID, s);
        }
        if let Some(s) = self.orig_cl_ord_id {
            e.str(tag::ORIG_CL_ORD_ID, s);
        }
        e.str(tag::EXEC_ID, self.exec_id)
            .char(tag::EXEC_TYPE, self.exec_type.as_byte())
            .char(tag::ORD_STATUS, self.ord_status.as_byte());
        if let Some(n) = self.ord_rej_reason {
            e.uint(tag::ORD_REJ_REASON, n);
        }
        e.str(tag::SYMBOL, self.symbol).char(tag::SIDE, self.side.as_byte());
        if let Some(v) = self.order_qty {
            e.fixed(tag::ORDER_QTY, v, q);
        }
        if let Some(v) = self.price {
            e.fixed(tag::PRICE, v, p);
        }
        if let Some(v) = self.last_qty {
            e.fixed(tag::LAST_QTY, v, q);
        }
        if let Some(v) = self.last_px {
            e.fixed(tag::LAST_PX, v, p);
        }
        e.fixed(tag::LEAVES_QTY, self.leaves_qty, q).fixed(tag::CUM_QTY, self.cum_qty, q).fixed(
            tag::AVG_PX,
            self.avg_px,
            p,
        );
        if let Some(ns) = self.transact_time_ns {
            e.timestamp_ms(tag::TRANSACT_TIME, ns);
        }
        if let Some(s) = self.text {
            e.str(tag::TEXT, s);
        }
    }
    fn decode_body(m: &Message<'a>, scale: Scale) -> Result<Self, FieldError> {
        let (p, q) = (scale.price_decimals, scale.qty_decimals);
        Ok(Self {
            order_id: req(m, tag::ORDER_ID, |f| f.as_str())?,
            cl_ord_id: opt(m, tag::CL_ORD_ID, |f| f.as_str())?,
            orig_cl_ord_id: opt(m, tag::ORIG_CL_ORD_ID, |f| f.as_str())?,
            exec_id: req(m, tag::EXEC_ID, |f| f.as_str())?,
            exec_type: req(m, tag::EXEC_TYPE, ExecType::read)?,
            ord_status: req(m, tag::ORD_STATUS, OrdStatus::read)?,
            ord_rej_reason: opt(m, tag::ORD_REJ_REASON, |f| f.as_u64())?,
            symbol: req(m, tag::SYMBOL, |f| f.as_str())?,
            side: req(m, tag::SIDE, Side::read)?,
            order_qty: opt(m, tag::ORDER_QTY, |f| f.as_fixed(q))?,
            price: opt(m, tag::PRICE, |f| f.as_fixed(p))?,
            last_qty: opt(m, tag::LAST_QTY, |f| f.as_fixed(q))?,
            last_px: opt(m, tag::LAST_PX, |f| f.as_fixed(p))?,
            leaves_qty: req(m, tag::LEAVES_QTY, |f| f.as_fixed(q))?,
            cum_qty: req(m, tag::CUM_QTY, |f| f.as_fixed(q))?,
            avg_px: req(m, tag::AVG_PX, |f| f.as_fixed(p))?,
            transact_time_ns: opt(m, tag::TRANSACT_TIME, |f| f.as_timestamp_ns())?,
            text: opt(m, tag::TEXT, |f| f.as_str())?,
        })
    }
}

/// OrderCancelReject (9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderCancelReject<'a> {
    pub order_id: &'a str,
    pub cl_ord_id: &'a str,
    pub orig_cl_ord_id: &'a str,
    pub ord_status: OrdStatus,
    pub cxl_rej_response_to: CxlRejResponseTo,
    pub cxl_rej_reason: Option<u64>,
    pub text: Option<&'a str>,
}

impl<'a> FixMessage<'a> for OrderCancelReject<'a> {
    const MSG_TYPE: &'static [u8] = b"9";
    fn encode_body(&self, e: &mut Encoder, _: Scale) {
        e.str(tag::ORDER_ID, self.order_id)
            .str(tag::CL_ORD_ID, self.cl_ord_id)
            .str(tag::ORIG_CL_ORD_ID, self.orig_cl_ord_id)
            .char(tag::ORD_STATUS, self.ord_status.as_byte())
            .char(tag::CXL_REJ_RESPONSE_TO, self.cxl_rej_response_to.as_byte());
        if let Some(n) = self.cxl_rej_reason {
            e.uint(tag::CXL_REJ_REASON, n);
        }
        if let Some(s) = self.text {
            e.str(tag::TEXT, s);
        }
    }
    fn decode_body(m: &Message<'a>, _: Scale) -> Result<Self, FieldError> {
        Ok(Self {
            order_id: req(m, tag::ORDER_ID, |f| f.as_str())?,
            cl_ord_id: req(m, tag::CL_ORD_ID, |f| f.as_str())?,
            orig_cl_ord_id: req(m, tag::ORIG_CL_ORD_ID, |f| f.as_str())?,
            ord_status: req(m, tag::ORD_STATUS, OrdStatus::read)?,
            cxl_rej_response_to: req(m, tag::CXL_REJ_RESPONSE_TO, CxlRejResponseTo::read)?,
            cxl_rej_reason: opt(m, tag::CXL_REJ_REASON, |f| f.as_u64())?,
            text: opt(m, tag::TEXT, |f| f.as_str())?,
        })
    }
}

/// BusinessMessageReject (j).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusinessMessageReject<'a> {
    pub ref_seq_num: Option<u64>,
    pub ref_msg_type: &'a str,
    pub business_reject_ref_id: Option<&'a str>,
    pub business_reject_reason: u64,
    pub text: Option<&'a str>,
}

impl<'a> FixMessage<'a> for BusinessMessageReject<'a> {
    const MSG_TYPE: &'static [u8] = b"j";
    fn encode_body(&self, e: &mut Encoder, _: Scale) {
        if let Some(n) = self.ref_seq_num {
            e.uint(tag::REF_SEQ_NUM, n);
        }
        e.str(tag::REF_MSG_TYPE, self.ref_msg_type);
        if let Some(s) = self.business_reject_ref_id {
            e.str(tag::BUSINESS_REJECT_REF_ID, s);
        }
        e.uint(tag::BUSINESS_REJECT_REASON, self.business_reject_reason);
        if let Some(s) = self.text {
            e.str(tag::TEXT, s);
        }
    }
    fn decode_body(m: &Message<'a>, _: Scale) -> Result<Self, FieldError> {
        Ok(Self {
            ref_seq_num: opt(m, tag::REF_SEQ_NUM, |f| f.as_u64())?,
            ref_msg_type: req(m, tag::REF_MSG_TYPE, |f| f.as_str())?,
            business_reject_ref_id: opt(m, tag::BUSINESS_REJECT_REF_ID, |f| f.as_str())?,
            business_reject_reason: req(m, tag::BUSINESS_REJECT_REASON, |f| f.as_u64())?,
            text: opt(m, tag::TEXT, |f| f.as_str())?,
        })
    }
}
