//! The order gateway: risk-approved intents to FIX orders and FIX reports back to
//! [`ExecReport`]s, on a [`Session`] it is handed (no I/O of its own).
//!
//! ClOrdIDs are derived from the intent id (`<prefix><intent_id>`, cancels
//! `<prefix><intent_id>-C<n>`), so a report names its intent without a lookup, and a
//! restarted gateway can tell from the store which intents already went out.

use std::collections::HashMap;
use std::fmt;

use qp_fix::messages::{
    ExecType, ExecutionReport, NewOrderSingle, OrdStatus, OrdType, OrderCancelReject, OrderCancelRequest,
    Side as FixSide, TimeInForce as FixTimeInForce,
};
use qp_fix::session::{MessageStore, SendError, Session};
use qp_fix::{FieldError, Message, Scale, decode_as, tag};
use qp_risk_sentinel::{CancelRequest, InstrumentSpec, RiskApproved};
use qp_wire::{AssetId, ExecReport, ExecStatus, OrderIntent, Side, TimeInForce};

/// Longest ClOrdID the gateway makes or reads.
const MAX_CL_ORD_ID_BYTES: usize = 40;
/// Longest ClOrdID prefix (room for a u64 intent id and a cancel suffix).
const MAX_PREFIX_BYTES: usize = 12;

/// A ClOrdID held inline (no allocation).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ClOrdId {
    len: u8,
    bytes: [u8; MAX_CL_ORD_ID_BYTES],
}

impl ClOrdId {
    /// A copy of `text`, if it is at most 40 bytes of UTF-8.
    pub fn from_bytes(text: &[u8]) -> Option<Self> {
        if text.len() > MAX_CL_ORD_ID_BYTES || std::str::from_utf8(text).is_err() {
            return None;
        }
        let mut bytes = [0; MAX_CL_ORD_ID_BYTES];
        bytes[..text.len()].copy_from_slice(text);
        Some(Self { len: text.len() as u8, bytes })
    }

    /// `<prefix><intent_id>`.
    pub fn for_order(prefix: &str, intent_id: u64) -> Self {
        let mut id = Self { len: 0, bytes: [0; MAX_CL_ORD_ID_BYTES] };
        id.push(prefix.as_bytes());
        id.push_u64(intent_id);
        id
    }

    /// `<prefix><intent_id>-C<n>`: the `n`-th cancel of the order.
    pub fn for_cancel(prefix: &str, intent_id: u64, n: u32) -> Self {
        let mut id = Self::for_order(prefix, intent_id);
        id.push(b"-C");
        id.push_u64(u64::from(n));
        id
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }

    fn push(&mut self, text: &[u8]) {
        let at = usize::from(self.len);
        let n = text.len().min(MAX_CL_ORD_ID_BYTES - at);
        self.bytes[at..at + n].copy_from_slice(&text[..n]);
        self.len += n as u8;
    }

    fn push_u64(&mut self, value: u64) {
        self.push(qp_fix::decimal_digits(value, &mut [0u8; 20]));
    }
}

impl fmt::Display for ClOrdId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ClOrdId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClOrdId({:?})", self.as_str())
    }
}

/// The intent id (and cancel number) a ClOrdID of ours encodes; `None` for anyone else's.
fn parse_cl_ord_id(prefix: &str, text: &[u8]) -> Option<(u64, Option<u32>)> {
    let rest = text.strip_prefix(prefix.as_bytes())?;
    let (order, cancel) = match rest.iter().position(|&b| b == b'-') {
        Some(dash) => (&rest[..dash], Some(rest[dash + 1..].strip_prefix(b"C")?)),
        None => (rest, None),
    };
    let intent = qp_fix::parse_uint(order).ok()?;
    let cancel = match cancel {
        Some(digits) => Some(u32::try_from(qp_fix::parse_uint(digits).ok()?).ok()?),
        None => None,
    };
    Some((intent, cancel))
}

/// One tradable instrument at the venue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueInstrument {
    pub asset: AssetId,
    /// Symbol (55) at the venue.
    pub symbol: String,
    /// Decimals of Price and OrderQty: an intent's ticks and lots are these integers.
    pub scale: Scale,
}

impl VenueInstrument {
    /// The instrument as RiskSentinel knows it (ticks and lots at its decimals).
    pub fn from_spec(spec: &InstrumentSpec) -> Self {
        Self {
            asset: spec.asset,
            symbol: spec.symbol.clone(),
            scale: Scale::new(spec.price_decimals, spec.qty_decimals),
        }
    }
}

/// The gateway's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayConfig {
    /// Start of every ClOrdID (letters and digits, at most 12): unique per node and venue
    /// session, since ClOrdIDs must not repeat while the venue remembers them.
    pub cl_ord_id_prefix: String,
    /// Account (1) on every order, if any.
    pub account: Option<String>,
    /// Orders the gateway makes room for up front (its table grows beyond, allocating).
    pub expected_orders: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self { cl_ord_id_prefix: "QP".to_owned(), account: None, expected_orders: 65_536 }
    }
}

/// Why the gateway refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    #[error("asset {0:?} is not in the venue's instrument table")]
    UnknownAsset(AssetId),
    #[error("intent {intent_id}: invalid {field}")]
    InvalidIntent { intent_id: u64, field: &'static str },
    #[error("the session did not send: {0}")]
    Session(#[from] SendError),
    #[error("order {intent_id} was not sent by this gateway")]
    UnknownOrder { intent_id: u64 },
    #[error("order {intent_id} is already done (filled, cancelled or rejected)")]
    OrderDone { intent_id: u64 },
    #[error("the message store could not be read: {0}")]
    Store(String),
    #[error("invalid gateway configuration: {0}")]
    Config(String),
}

/// What [`OrderGateway::submit`] did with an approved order.
#[derive(Debug)]
pub enum Submitted {
    /// Stored and queued for the socket as a NewOrderSingle with this MsgSeqNum.
    Sent { cl_ord_id: ClOrdId, seq: u64 },
    /// Its ClOrdID is already in the store (sent before a restart): not sent again (if the
    /// venue missed it, the session's resend delivers it, PossDupFlag=Y). The approval comes
    /// back to the caller, whose risk side decides what to do with it.
    AlreadySent { cl_ord_id: ClOrdId, order: RiskApproved<OrderIntent> },
}

/// An approved order the gateway could not send, handed back with the reason (the caller
/// withdraws it from RiskSentinel's reservations).
#[derive(Debug)]
pub struct Refused {
    pub order: RiskApproved<OrderIntent>,
    pub error: GatewayError,
}

/// What the venue said, for the risk side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayEvent {
    /// An ExecutionReport for one of our orders.
    Exec {
        report: ExecReport,
        cl_ord_id: ClOrdId,
        exec_type: ExecType,
        ord_status: OrdStatus,
        /// A resend (PossDupFlag=Y): it may have been seen before a restart.
        poss_dup: bool,
    },
    /// An OrderCancelReject for one of our cancels: the order is unchanged.
    CancelRejected {
        intent_id: u64,
        cl_ord_id: ClOrdId,
        ord_status: OrdStatus,
        cxl_rej_reason: Option<u64>,
        poss_dup: bool,
    },
    /// A report the gateway could not attribute or read (not our ClOrdID, unknown symbol,
    /// a field that does not parse).
    Unmatched { msg_type: u8, reason: &'static str },
}

/// What [`OrderGateway::recover`] found in the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Stored messages read.
    pub messages: u64,
    /// NewOrderSingles of ours: orders that must never be sent again as new.
    pub orders: u64,
    pub cancels: u64,
    /// Largest intent id among them (0 when none).
    pub max_intent_id: u64,
}

#[derive(Debug, Clone, Copy)]
struct OrderRecord {
    /// Index in the instrument table (`None`: a stored order whose symbol is not in it).
    instrument: Option<u32>,
    side: FixSide,
    qty: i64,
    cancels: u32,
    done: bool,
}

/// Intents to FIX and reports back, on the [`Session`] each call is handed.
#[derive(Debug)]
pub struct OrderGateway {
    config: GatewayConfig,
    instruments: Vec<VenueInstrument>,
    /// Every order of ours the store holds, by intent id.
    orders: HashMap<u64, OrderRecord>,
}

impl OrderGateway {
    pub fn new(instruments: Vec<VenueInstrument>, config: GatewayConfig) -> Result<Self, GatewayError> {
        let prefix = &config.cl_ord_id_prefix;
        if prefix.is_empty() || prefix.len() > MAX_PREFIX_BYTES || !prefix.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(GatewayError::Config(format!("ClOrdID prefix {prefix:?}: 1 to 12 ASCII letters")));
        }
        for (i, a) in instruments.iter().enumerate() {
            if instruments[..i].iter().any(|b| b.asset == a.asset || b.symbol == a.symbol) {
                return Err(GatewayError::Config(format!("instrument {:?} / {} listed twice", a.asset, a.symbol)));
            }
            if a.symbol.is_empty() {
                return Err(GatewayError::Config(format!("instrument {:?} has no symbol", a.asset)));
            }
        }
        let orders = HashMap::with_capacity(config.expected_orders);
        Ok(Self { config, instruments, orders })
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// Reads every stored message (`get_range(1, next_sender_seq - 1)`) and remembers the
    /// orders and cancels of ours in it, so that [`Self::submit`] never sends one of them
    /// again. Call once, before the first submit, with the store the session will use.
    pub fn recover<S: MessageStore>(&mut self, store: &S) -> Result<Recovered, GatewayError> {
        let last = store.next_sender_seq().saturating_sub(1);
        let mut recovered = Recovered::default();
        let prefix = self.config.cl_ord_id_prefix.as_str();
        let (instruments, orders) = (&self.instruments, &mut self.orders);
        store
            .get_range(1, last, &mut |_, bytes| {
                recovered.messages += 1;
                let Ok(message) = Message::parse(bytes) else { return };
                let Some(cl_ord_id) = message.get(tag::CL_ORD_ID) else { return };
                let Some((intent_id, cancel)) = parse_cl_ord_id(prefix, cl_ord_id) else { return };
                match (message.msg_type(), cancel) {
                    (b"D", None) => {
                        let instrument = message
                            .get(tag::SYMBOL)
                            .and_then(|s| instruments.iter().position(|i| i.symbol.as_bytes() == s));
                        let scale = instrument.map_or(Scale::new(0, 0), |i| instruments[i].scale);
                        let Ok(order) = decode_as::<NewOrderSingle<'_>>(&message, scale) else {
                            // Not readable at our scale: still ours, never to be sent again.
                            orders.entry(intent_id).or_insert(OrderRecord {
                                instrument: None,
                                side: FixSide::Buy,
                                qty: 0,
                                cancels: 0,
                                done: false,
                            });
                            return;
                        };
                        let record = orders.entry(intent_id).or_insert(OrderRecord {
                            instrument: None,
                            side: order.side,
                            qty: order.order_qty,
                            cancels: 0,
                            done: false,
                        });
                        record.instrument = instrument.map(|i| i as u32);
                        record.side = order.side;
                        record.qty = order.order_qty;
                        recovered.orders += 1;
                        recovered.max_intent_id = recovered.max_intent_id.max(intent_id);
                    }
                    (b"F", Some(n)) => {
                        if let Some(record) = orders.get_mut(&intent_id) {
                            record.cancels = record.cancels.max(n);
                        }
                        recovered.cancels += 1;
                    }
                    _ => {}
                }
            })
            .map_err(|e| GatewayError::Store(e.to_string()))?;
        Ok(recovered)
    }

    /// Whether the order of `intent_id` is in the store (sent, now or before a restart).
    pub fn was_sent(&self, intent_id: u64) -> bool {
        self.orders.contains_key(&intent_id)
    }

    /// Orders of ours known (sent now or found in the store).
    pub fn orders_known(&self) -> usize {
        self.orders.len()
    }

    /// The gateway's only order entry: an approved intent becomes a limit NewOrderSingle
    /// (ClOrdID `<prefix><intent_id>`, Symbol and decimals from the instrument table,
    /// TransactTime `now_ns`), stored and queued by the session. An intent already in the
    /// store is not sent again. Allocates nothing once the tables are warm.
    pub fn submit<S: MessageStore>(
        &mut self,
        session: &mut Session<'_, S>,
        now_ns: u64,
        order: RiskApproved<OrderIntent>,
    ) -> Result<Submitted, Refused> {
        let intent = *order.get();
        let intent_id = intent.intent_id.get();
        let cl_ord_id = ClOrdId::for_order(&self.config.cl_ord_id_prefix, intent_id);
        if self.orders.contains_key(&intent_id) {
            return Ok(Submitted::AlreadySent { cl_ord_id, order });
        }
        let Some(index) = self.instruments.iter().position(|i| i.asset == intent.asset()) else {
            return Err(Refused { order, error: GatewayError::UnknownAsset(intent.asset()) });
        };
        let side = match intent.side() {
            Some(Side::Buy) => FixSide::Buy,
            Some(Side::Sell) => FixSide::Sell,
            None => return Err(Refused { order, error: GatewayError::InvalidIntent { intent_id, field: "side" } }),
        };
        let time_in_force = match TimeInForce::from_wire(intent.time_in_force) {
            Some(TimeInForce::Day) => FixTimeInForce::Day,
            Some(TimeInForce::ImmediateOrCancel) => FixTimeInForce::ImmediateOrCancel,
            Some(TimeInForce::GoodTillCancel) => FixTimeInForce::GoodTillCancel,
            None => {
                return Err(Refused {
                    order,
                    error: GatewayError::InvalidIntent { intent_id, field: "time_in_force" },
                });
            }
        };
        let (qty, price) = (intent.qty.get(), intent.limit_price.get());
        if qty <= 0 || price <= 0 {
            return Err(Refused { order, error: GatewayError::InvalidIntent { intent_id, field: "qty or price" } });
        }
        let instrument = &self.instruments[index];
        let message = NewOrderSingle {
            cl_ord_id: cl_ord_id.as_str(),
            account: self.config.account.as_deref(),
            symbol: &instrument.symbol,
            side,
            order_qty: qty,
            ord_type: OrdType::Limit,
            price: Some(price),
            time_in_force: Some(time_in_force),
            transact_time_ns: now_ns,
        };
        match session.send(now_ns, &message, instrument.scale) {
            Ok(seq) => {
                let record = OrderRecord { instrument: Some(index as u32), side, qty, cancels: 0, done: false };
                self.orders.insert(intent_id, record);
                Ok(Submitted::Sent { cl_ord_id, seq })
            }
            Err(error) => Err(Refused { order, error: GatewayError::Session(error) }),
        }
    }

    /// Cancels an order on RiskSentinel's request (`RiskSentinel::take_cancel_requests`).
    pub fn cancel<S: MessageStore>(
        &mut self,
        session: &mut Session<'_, S>,
        now_ns: u64,
        request: &CancelRequest,
    ) -> Result<(ClOrdId, u64), GatewayError> {
        self.cancel_order(session, now_ns, request.intent_id)
    }

    /// Sends an OrderCancelRequest for an order this gateway sent (ClOrdID
    /// `<prefix><intent_id>-C<n>`, OrigClOrdID the order's). Returns its ClOrdID and MsgSeqNum.
    pub fn cancel_order<S: MessageStore>(
        &mut self,
        session: &mut Session<'_, S>,
        now_ns: u64,
        intent_id: u64,
    ) -> Result<(ClOrdId, u64), GatewayError> {
        let prefix = self.config.cl_ord_id_prefix.as_str();
        let record = self.orders.get_mut(&intent_id).ok_or(GatewayError::UnknownOrder { intent_id })?;
        if record.done {
            return Err(GatewayError::OrderDone { intent_id });
        }
        let instrument = record
            .instrument
            .and_then(|i| self.instruments.get(i as usize))
            .ok_or(GatewayError::UnknownOrder { intent_id })?;
        let orig = ClOrdId::for_order(prefix, intent_id);
        let cl_ord_id = ClOrdId::for_cancel(prefix, intent_id, record.cancels + 1);
        let message = OrderCancelRequest {
            orig_cl_ord_id: orig.as_str(),
            order_id: None,
            cl_ord_id: cl_ord_id.as_str(),
            symbol: &instrument.symbol,
            side: record.side,
            order_qty: Some(record.qty),
            transact_time_ns: now_ns,
        };
        let seq = session.send(now_ns, &message, instrument.scale)?;
        record.cancels += 1;
        Ok((cl_ord_id, seq))
    }

    /// Reads an application message the session delivered: ExecutionReport and
    /// OrderCancelReject become [`GatewayEvent`]s; other types are `None`.
    pub fn on_message(&mut self, message: &Message<'_>) -> Option<GatewayEvent> {
        match message.msg_type() {
            b"8" => Some(self.on_execution_report(message)),
            b"9" => Some(self.on_cancel_reject(message)),
            _ => None,
        }
    }

    fn on_execution_report(&mut self, message: &Message<'_>) -> GatewayEvent {
        let unmatched = |reason| GatewayEvent::Unmatched { msg_type: b'8', reason };
        let Some(index) =
            message.get(tag::SYMBOL).and_then(|s| self.instruments.iter().position(|i| i.symbol.as_bytes() == s))
        else {
            return unmatched("unknown symbol");
        };
        let instrument = &self.instruments[index];
        let report = match decode_as::<ExecutionReport<'_>>(message, instrument.scale) {
            Ok(report) => report,
            Err(FieldError { .. }) => return unmatched("unreadable ExecutionReport"),
        };
        let Some(cl_ord_id) = report.cl_ord_id.or(report.orig_cl_ord_id) else {
            return unmatched("no ClOrdID");
        };
        let Some((intent_id, _)) = parse_cl_ord_id(&self.config.cl_ord_id_prefix, cl_ord_id.as_bytes()) else {
            return unmatched("not our ClOrdID");
        };
        let Some(cl_ord_id) = ClOrdId::from_bytes(cl_ord_id.as_bytes()) else {
            return unmatched("ClOrdID too long");
        };
        let side = match report.side {
            FixSide::Buy => Side::Buy,
            FixSide::Sell | FixSide::SellShort | FixSide::SellShortExempt => Side::Sell,
        };
        let (status, last_qty) = match report.exec_type {
            ExecType::Trade => {
                let status = if report.ord_status == OrdStatus::Filled || report.leaves_qty == 0 {
                    ExecStatus::Filled
                } else {
                    ExecStatus::PartiallyFilled
                };
                (status, report.last_qty.unwrap_or(0))
            }
            _ => (status_of(report.ord_status), 0),
        };
        if matches!(status, ExecStatus::Filled | ExecStatus::Canceled | ExecStatus::Rejected)
            && let Some(record) = self.orders.get_mut(&intent_id)
        {
            record.done = true;
        }
        let exec = ExecReport {
            intent_id: intent_id.into(),
            asset: instrument.asset.get().into(),
            side: side as u8,
            status: status as u8,
            _pad: 0u16.into(),
            last_qty: last_qty.into(),
            last_price: report.last_px.unwrap_or(0).into(),
            cum_qty: report.cum_qty.into(),
            leaves_qty: report.leaves_qty.into(),
        };
        GatewayEvent::Exec {
            report: exec,
            cl_ord_id,
            exec_type: report.exec_type,
            ord_status: report.ord_status,
            poss_dup: message.get(tag::POSS_DUP_FLAG) == Some(b"Y"),
        }
    }

    fn on_cancel_reject(&mut self, message: &Message<'_>) -> GatewayEvent {
        let unmatched = |reason| GatewayEvent::Unmatched { msg_type: b'9', reason };
        let Ok(reject) = decode_as::<OrderCancelReject<'_>>(message, Scale::new(0, 0)) else {
            return unmatched("unreadable OrderCancelReject");
        };
        let prefix = &self.config.cl_ord_id_prefix;
        let Some((intent_id, _)) = parse_cl_ord_id(prefix, reject.orig_cl_ord_id.as_bytes())
            .or_else(|| parse_cl_ord_id(prefix, reject.cl_ord_id.as_bytes()))
        else {
            return unmatched("not our ClOrdID");
        };
        let Some(cl_ord_id) = ClOrdId::from_bytes(reject.cl_ord_id.as_bytes()) else {
            return unmatched("ClOrdID too long");
        };
        GatewayEvent::CancelRejected {
            intent_id,
            cl_ord_id,
            ord_status: reject.ord_status,
            cxl_rej_reason: reject.cxl_rej_reason,
            poss_dup: message.get(tag::POSS_DUP_FLAG) == Some(b"Y"),
        }
    }
}

/// The wire status of an order in this FIX OrdStatus (reports that are not fills).
fn status_of(ord_status: OrdStatus) -> ExecStatus {
    match ord_status {
        OrdStatus::PartiallyFilled => ExecStatus::PartiallyFilled,
        OrdStatus::Filled => ExecStatus::Filled,
        OrdStatus::Canceled | OrdStatus::Expired | OrdStatus::DoneForDay => ExecStatus::Canceled,
        OrdStatus::Rejected => ExecStatus::Rejected,
        OrdStatus::New
        | OrdStatus::PendingNew
        | OrdStatus::PendingCancel
        | OrdStatus::PendingReplace
        | OrdStatus::Stopped
        | OrdStatus::Suspended
        | OrdStatus::Calculated
        | OrdStatus::AcceptedForBidding => ExecStatus::New,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cl_ord_ids_round_trip() {
        let order = ClOrdId::for_order("QP", 18_446_744_073_709_551_615);
        assert_eq!(order.as_str(), "QP18446744073709551615");
        assert_eq!(parse_cl_ord_id("QP", order.as_str().as_bytes()), Some((u64::MAX, None)));
        let cancel = ClOrdId::for_cancel("QPNODEABCDEF", 7, 12);
        assert_eq!(cancel.as_str(), "QPNODEABCDEF7-C12");
        assert_eq!(parse_cl_ord_id("QPNODEABCDEF", cancel.as_str().as_bytes()), Some((7, Some(12))));
        assert_eq!(parse_cl_ord_id("QP", b"XX7"), None);
        assert_eq!(parse_cl_ord_id("QP", b"QP7-X1"), None);
        assert_eq!(parse_cl_ord_id("QP", b"QP"), None);
    }
}
