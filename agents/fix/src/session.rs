//! The FIX 4.4 session layer as a state machine without I/O (in the manner of rustls): the
//! transport feeds it received bytes ([`Session::on_bytes`]) and the time
//! ([`Session::on_timer`]), the application hands it messages to send
//! ([`Session::send_app`]); it answers with bytes to write ([`Session::outbound`]),
//! application messages delivered in sequence (a callback with borrowed [`Message`]s),
//! [`Event`]s, and calls to a [`MessageStore`]. It never reads a clock, a socket or a file.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;

use crate::dictionary::Dictionary;
use crate::encode::Encoder;
use crate::frame::{FrameErrorKind, Framing, MAX_BODY_LEN_BYTES, frame};
use crate::message::{INVALID_TAG, Message};
use crate::messages::{
    FixMessage, Heartbeat, Logon, Logout, Reject, ResendRequest, Scale, SequenceReset, TestRequest, decode_as,
};
use crate::timestamp::parse_utc_timestamp_ns;
use crate::validate::SessionRejectReason;
use crate::{SOH, tag};

/// Admin messages carry no prices; their encoders ignore the scale.
const NO_SCALE: Scale = Scale::new(0, 0);
const NS_PER_S: u64 = 1_000_000_000;

/// Where the session keeps its sequence numbers and the messages it sent (for resends).
/// The persistent store (with file I/O, `qp-fix-store`) implements this in another crate;
/// [`MemoryStore`] is the in-memory one.
///
/// Every method that writes (and [`Self::get_range`], which may read a file) can fail: the
/// session then refuses to send ([`SendError::StoreFailure`]) and disconnects
/// ([`DisconnectReason::StoreFailure`]), since a message it cannot keep is one it could not
/// resend, and a sequence number it cannot keep is one it might reuse.
pub trait MessageStore {
    /// Why a store operation failed ([`std::convert::Infallible`] for a store that cannot).
    type Error: std::error::Error + Send + Sync + 'static;
    /// MsgSeqNum of the next message this side sends.
    fn next_sender_seq(&self) -> u64;
    /// MsgSeqNum expected on the next message received.
    fn next_target_seq(&self) -> u64;
    fn set_next_sender_seq(&mut self, seq: u64) -> Result<(), Self::Error>;
    fn set_next_target_seq(&mut self, seq: u64) -> Result<(), Self::Error>;
    /// Keeps a sent message (the whole frame) under its MsgSeqNum. When this returns `Ok`,
    /// the message is as durable as the store promises, before its bytes reach the socket.
    fn save(&mut self, seq: u64, bytes: &[u8]) -> Result<(), Self::Error>;
    /// Calls `each` with the stored messages whose MsgSeqNum is in `begin..=end`, ascending.
    fn get_range(&self, begin: u64, end: u64, each: &mut dyn FnMut(u64, &[u8])) -> Result<(), Self::Error>;
    /// Both sequence numbers back to 1, stored messages dropped.
    fn reset(&mut self) -> Result<(), Self::Error>;
}

/// A [`MessageStore`] in memory (tests, benches, or sessions that need no persistence).
///
/// Messages live back to back in one growing byte arena with a sorted index, so saving a
/// message copies it once and allocates only when the arena or the index doubles: no
/// allocation per message, which a `Vec` per message would cost on the send path.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    next_sender: u64,
    next_target: u64,
    arena: Vec<u8>,
    /// (MsgSeqNum, start, end) into `arena`, ascending by MsgSeqNum, one entry per number.
    index: Vec<(u64, usize, usize)>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self { next_sender: 1, next_target: 1, arena: Vec::new(), index: Vec::new() }
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl MessageStore for MemoryStore {
    type Error = Infallible;
    fn next_sender_seq(&self) -> u64 {
        self.next_sender
    }
    fn next_target_seq(&self) -> u64 {
        self.next_target
    }
    fn set_next_sender_seq(&mut self, seq: u64) -> Result<(), Infallible> {
        self.next_sender = seq;
        Ok(())
    }
    fn set_next_target_seq(&mut self, seq: u64) -> Result<(), Infallible> {
        self.next_target = seq;
        Ok(())
    }
    fn save(&mut self, seq: u64, bytes: &[u8]) -> Result<(), Infallible> {
        let start = self.arena.len();
        self.arena.extend_from_slice(bytes);
        let entry = (seq, start, self.arena.len());
        // Numbers normally arrive ascending; a number saved again (after its sequence was set
        // back) replaces the old entry, whose bytes stay in the arena until `reset`.
        match self.index.last() {
            Some(&(last, _, _)) if last >= seq => match self.index.binary_search_by_key(&seq, |e| e.0) {
                Ok(at) => self.index[at] = entry,
                Err(at) => self.index.insert(at, entry),
            },
            _ => self.index.push(entry),
        }
        Ok(())
    }
    fn get_range(&self, begin: u64, end: u64, each: &mut dyn FnMut(u64, &[u8])) -> Result<(), Infallible> {
        if begin > end {
            return Ok(());
        }
        let from = self.index.partition_point(|e| e.0 < begin);
        for &(seq, start, stop) in self.index[from..].iter().take_while(|e| e.0 <= end) {
            each(seq, &self.arena[start..stop]);
        }
        Ok(())
    }
    fn reset(&mut self) -> Result<(), Infallible> {
        self.next_sender = 1;
        self.next_target = 1;
        self.arena.clear();
        self.index.clear();
        Ok(())
    }
}

/// A [`MessageStore`] that keeps only the sequence numbers and the last message sent (a copy,
/// in a buffer reused across messages): a session's store work per message without a growing
/// arena, for benchmarks and allocation tests. It can answer a ResendRequest only for that one
/// message; a session that must resend uses [`MemoryStore`] or a durable store.
#[derive(Debug)]
pub struct LastMessageStore {
    next_sender: u64,
    next_target: u64,
    last_seq: u64,
    last: Vec<u8>,
}

impl LastMessageStore {
    pub fn new() -> Self {
        Self { next_sender: 1, next_target: 1, last_seq: 0, last: Vec::with_capacity(4_096) }
    }
}

impl Default for LastMessageStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MessageStore for LastMessageStore {
    type Error = Infallible;
    fn next_sender_seq(&self) -> u64 {
        self.next_sender
    }
    fn next_target_seq(&self) -> u64 {
        self.next_target
    }
    fn set_next_sender_seq(&mut self, seq: u64) -> Result<(), Infallible> {
        self.next_sender = seq;
        Ok(())
    }
    fn set_next_target_seq(&mut self, seq: u64) -> Result<(), Infallible> {
        self.next_target = seq;
        Ok(())
    }
    fn save(&mut self, seq: u64, bytes: &[u8]) -> Result<(), Infallible> {
        self.last.clear();
        self.last.extend_from_slice(bytes);
        self.last_seq = seq;
        Ok(())
    }
    fn get_range(&self, begin: u64, end: u64, each: &mut dyn FnMut(u64, &[u8])) -> Result<(), Infallible> {
        if self.last_seq != 0 && (begin..=end).contains(&self.last_seq) {
            each(self.last_seq, &self.last);
        }
        Ok(())
    }
    fn reset(&mut self) -> Result<(), Infallible> {
        self.next_sender = 1;
        self.next_target = 1;
        self.last_seq = 0;
        self.last.clear();
        Ok(())
    }
}

/// Initiator (sends Logon) or acceptor (answers it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Initiator,
    Acceptor,
}

/// A session's settings.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub role: Role,
    pub sender_comp_id: String,
    pub target_comp_id: String,
    /// HeartBtInt (108) the initiator proposes; an acceptor takes the initiator's.
    pub heart_bt_int_s: u64,
    /// Initiator: send ResetSeqNumFlag (141=Y) on Logon, both sides starting again at 1.
    pub reset_on_logon: bool,
    /// How long to wait for the Logon (acceptor) or its answer (initiator).
    pub logon_timeout_ns: u64,
    /// How long to wait for the answer to our Logout.
    pub logout_timeout_ns: u64,
    /// Bytes of an incomplete message held before the connection is dropped.
    pub max_receive_bytes: usize,
    /// Messages held (received above the expected MsgSeqNum) before the connection is dropped.
    pub max_queued_messages: usize,
    /// SendingTime (52) may differ from the time given to the session by at most this much
    /// (QuickFIX's MaxLatency, 120 s); otherwise Reject 373=10 and Logout (a Logon: the
    /// connection is dropped). 0 turns the check off.
    pub max_sending_time_skew_ns: u64,
}

impl SessionConfig {
    pub fn new(role: Role, sender_comp_id: &str, target_comp_id: &str, heart_bt_int_s: u64) -> Self {
        Self {
            role,
            sender_comp_id: sender_comp_id.to_owned(),
            target_comp_id: target_comp_id.to_owned(),
            heart_bt_int_s,
            reset_on_logon: false,
            logon_timeout_ns: 10 * NS_PER_S,
            logout_timeout_ns: 2 * NS_PER_S,
            max_receive_bytes: MAX_BODY_LEN_BYTES + 64,
            max_queued_messages: 10_000,
            max_sending_time_skew_ns: 120 * NS_PER_S,
        }
    }
}

/// Where the session stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// No connection ([`Session::connect`] not called, or after a disconnect).
    Disconnected,
    /// Acceptor: connected, waiting for the Logon.
    AwaitingLogon,
    /// Initiator: Logon sent, waiting for the answer.
    LogonSent,
    /// Logged on.
    Active,
    /// Logout sent, waiting for the answer.
    LogoutSent,
}

/// Why the session asks the transport to close the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The first message received was not a Logon.
    FirstMessageNotLogon,
    /// BeginString (8) is not FIX.4.4 (Logout sent when logged on).
    WrongBeginString,
    /// SenderCompID / TargetCompID do not match (Reject and Logout sent when logged on).
    WrongCompId,
    /// MsgSeqNum below the expected one without PossDupFlag (Logout sent).
    MsgSeqNumTooLow {
        expected: u64,
        received: u64,
    },
    /// MsgSeqNum (34) absent or not a number (Logout sent).
    MsgSeqNumMissing,
    /// The Logon was invalid (not a valid message, bad HeartBtInt).
    LogonRejected,
    /// A second Logon while logged on.
    UnexpectedLogon,
    LogonTimeout,
    /// Our Logout was not answered in time.
    LogoutTimeout,
    /// No message after a TestRequest.
    TestRequestTimeout,
    /// The Logout handshake completed (ours answered, or theirs answered by us).
    LoggedOut,
    /// [`Session::logout`] before logon completed.
    LocalClose,
    /// An incomplete message larger than `max_receive_bytes`.
    ReceiveBufferOverflow,
    /// More than `max_queued_messages` held waiting for a resend.
    QueueOverflow,
    /// The [`MessageStore`] failed (`error` is its message); nothing more is sent until the
    /// next [`Session::connect`].
    StoreFailure {
        error: String,
    },
}

/// What the session reports, besides bytes and application messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    LoggedOn,
    /// The Logout handshake finished; `text` is the Text (58) of the peer's Logout.
    LoggedOut {
        text: Option<String>,
    },
    /// Close the connection; the session is [`SessionState::Disconnected`].
    Disconnect {
        reason: DisconnectReason,
    },
    /// A garbled message was dropped (framing error), its MsgSeqNum not consumed.
    Garbled {
        kind: FrameErrorKind,
        discarded_bytes: usize,
    },
    /// We sent a session Reject (35=3).
    RejectSent {
        ref_seq_num: u64,
        ref_tag_id: Option<u32>,
        reason: SessionRejectReason,
    },
    /// The peer sent a session Reject.
    RejectReceived {
        ref_seq_num: u64,
        reason: Option<u64>,
    },
    /// We asked for a resend (a gap was seen).
    ResendRequested {
        begin: u64,
        end: u64,
    },
    /// The peer asked for a resend, which was answered.
    ResendAnswered {
        begin: u64,
        end: u64,
    },
    /// A SequenceReset moved the expected incoming MsgSeqNum.
    SequenceReset {
        gap_fill: bool,
        new_seq_no: u64,
    },
}

/// Why [`Session::send_app`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("the session is not logged on ({0:?})")]
    NotLoggedOn(SessionState),
    /// The store could not keep the message (or its MsgSeqNum): nothing was sent, and the
    /// session disconnected with [`DisconnectReason::StoreFailure`].
    #[error("the message store failed; the message was not sent")]
    StoreFailure,
}

/// The FIX session state machine (see the module docs and `DESIGN.md`).
#[derive(Debug)]
pub struct Session<'d, S: MessageStore> {
    config: SessionConfig,
    store: S,
    dictionary: Option<&'d Dictionary>,
    state: SessionState,
    heart_bt_int_ns: u64,
    encoder: Encoder,
    recv: Vec<u8>,
    outbound: Vec<u8>,
    events: VecDeque<Event>,
    /// Messages received above the expected MsgSeqNum, held until the gap is filled.
    queue: BTreeMap<u64, Vec<u8>>,
    /// A ResendRequest is outstanding until the expected MsgSeqNum passes this one.
    resend_until: Option<u64>,
    state_since_ns: u64,
    last_sent_ns: u64,
    last_received_ns: u64,
    test_request_sent_ns: Option<u64>,
    /// The store failed since the last [`Self::connect`]: nothing is sent.
    store_failed: bool,
}

impl<'d, S: MessageStore> Session<'d, S> {
    /// A session; `dictionary`, when given, validates every received message (a Reject
    /// with the dictionary's reason for an invalid one).
    pub fn new(config: SessionConfig, store: S, dictionary: Option<&'d Dictionary>) -> Self {
        let heart_bt_int_ns = config.heart_bt_int_s.saturating_mul(NS_PER_S);
        Self {
            config,
            store,
            dictionary,
            state: SessionState::Disconnected,
            heart_bt_int_ns,
            encoder: Encoder::new(),
            recv: Vec::new(),
            outbound: Vec::new(),
            events: VecDeque::new(),
            queue: BTreeMap::new(),
            resend_until: None,
            state_since_ns: 0,
            last_sent_ns: 0,
            last_received_ns: 0,
            test_request_sent_ns: None,
            store_failed: false,
        }
    }

    pub fn state(&self) -> SessionState {
        self.state
    }
    pub fn store(&self) -> &S {
        &self.store
    }
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }
    /// HeartBtInt in force (the acceptor's is the initiator's after Logon).
    pub fn heart_bt_int_s(&self) -> u64 {
        self.heart_bt_int_ns / NS_PER_S
    }
    /// Bytes to write to the transport.
    pub fn outbound(&self) -> &[u8] {
        &self.outbound
    }
    /// Drops the first `bytes` of [`Self::outbound`] (written by the transport).
    pub fn consume_outbound(&mut self, bytes: usize) {
        self.outbound.drain(..bytes.min(self.outbound.len()));
    }
    /// Takes all of [`Self::outbound`].
    pub fn take_outbound(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.outbound)
    }
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The transport connected: an initiator sends its Logon, an acceptor waits for one.
    pub fn connect(&mut self, now_ns: u64) {
        self.store_failed = false;
        self.recv.clear();
        self.queue.clear();
        self.resend_until = None;
        self.test_request_sent_ns = None;
        self.state_since_ns = now_ns;
        self.last_received_ns = now_ns;
        self.last_sent_ns = now_ns;
        match self.config.role {
            Role::Acceptor => self.state = SessionState::AwaitingLogon,
            Role::Initiator => {
                let reset = self.config.reset_on_logon;
                if reset {
                    let result = self.store.reset();
                    if !self.stored(result) {
                        return;
                    }
                }
                let logon = Logon {
                    encrypt_method: 0,
                    heart_bt_int_s: self.config.heart_bt_int_s,
                    reset_seq_num: reset,
                    next_expected_msg_seq_num: None,
                    username: None,
                    password: None,
                };
                self.send_admin(now_ns, &logon);
                if !self.store_failed {
                    self.state = SessionState::LogonSent;
                }
            }
        }
    }

    /// Starts the Logout handshake (or closes at once before logon completed).
    pub fn logout(&mut self, now_ns: u64, text: Option<&str>) {
        match self.state {
            SessionState::Active => {
                self.send_admin(now_ns, &Logout { text });
                if !self.store_failed {
                    self.state = SessionState::LogoutSent;
                    self.state_since_ns = now_ns;
                }
            }
            SessionState::AwaitingLogon | SessionState::LogonSent => self.disconnect(DisconnectReason::LocalClose),
            SessionState::LogoutSent | SessionState::Disconnected => {}
        }
    }

    /// The transport closed the connection (the peer hung up, or the transport gave up): the
    /// session is [`SessionState::Disconnected`] until the next [`Self::connect`]. No event:
    /// the transport already knows.
    pub fn transport_closed(&mut self) {
        self.state = SessionState::Disconnected;
        self.recv.clear();
        self.queue.clear();
        self.resend_until = None;
        self.test_request_sent_ns = None;
    }

    /// Sends an application message: `body` writes the body fields; the session writes the
    /// header (35, 49, 56, 34, 52) and trailer, stores it and queues the bytes. Returns its
    /// MsgSeqNum.
    pub fn send_app(
        &mut self,
        now_ns: u64,
        msg_type: &[u8],
        body: impl FnOnce(&mut Encoder),
    ) -> Result<u64, SendError> {
        if self.state != SessionState::Active {
            return Err(SendError::NotLoggedOn(self.state));
        }
        self.send_raw(now_ns, msg_type, body)
    }

    /// [`Self::send_app`] for a typed message.
    pub fn send<'m, M: FixMessage<'m>>(&mut self, now_ns: u64, message: &M, scale: Scale) -> Result<u64, SendError> {
        self.send_app(now_ns, M::MSG_TYPE, |e| message.encode_body(e, scale))
    }

    /// When [`Self::on_timer`] should be called next (none while disconnected).
    pub fn next_timer_ns(&self) -> Option<u64> {
        match self.state {
            SessionState::Disconnected => None,
            SessionState::AwaitingLogon | SessionState::LogonSent => {
                Some(self.state_since_ns.saturating_add(self.config.logon_timeout_ns))
            }
            SessionState::LogoutSent => Some(self.state_since_ns.saturating_add(self.config.logout_timeout_ns)),
            SessionState::Active => match self.test_request_sent_ns {
                // No Heartbeat while a TestRequest is outstanding (QuickFIX's `needHeartbeat`).
                Some(sent) => Some(sent.saturating_add(self.grace_ns())),
                None => {
                    let heartbeat = self.last_sent_ns.saturating_add(self.heart_bt_int_ns);
                    Some(heartbeat.min(self.last_received_ns.saturating_add(self.grace_ns())))
                }
            },
        }
    }

    /// HeartBtInt plus 20%: the silence that triggers a TestRequest, then a disconnect.
    fn grace_ns(&self) -> u64 {
        self.heart_bt_int_ns.saturating_add(self.heart_bt_int_ns / 5)
    }

    /// Heartbeats, TestRequests and the logon / logout / test request timeouts.
    pub fn on_timer(&mut self, now_ns: u64) {
        match self.state {
            SessionState::Disconnected => {}
            SessionState::AwaitingLogon | SessionState::LogonSent => {
                if now_ns.saturating_sub(self.state_since_ns) >= self.config.logon_timeout_ns {
                    self.disconnect(DisconnectReason::LogonTimeout);
                }
            }
            SessionState::LogoutSent => {
                if now_ns.saturating_sub(self.state_since_ns) >= self.config.logout_timeout_ns {
                    self.disconnect(DisconnectReason::LogoutTimeout);
                }
            }
            SessionState::Active => {
                if self.heart_bt_int_ns == 0 {
                    return;
                }
                if let Some(sent) = self.test_request_sent_ns {
                    // No Heartbeat while a TestRequest is outstanding (QuickFIX's `needHeartbeat`).
                    if now_ns.saturating_sub(sent) >= self.grace_ns() {
                        self.disconnect(DisconnectReason::TestRequestTimeout);
                    }
                    return;
                } else if now_ns.saturating_sub(self.last_received_ns) >= self.grace_ns() {
                    // QuickFIX's TestReqID, which its acceptance scripts expect.
                    self.send_admin(now_ns, &TestRequest { test_req_id: "TEST" });
                    self.test_request_sent_ns = Some(now_ns);
                }
                if now_ns.saturating_sub(self.last_sent_ns) >= self.heart_bt_int_ns {
                    self.send_admin(now_ns, &Heartbeat { test_req_id: None });
                }
            }
        }
    }

    /// Received bytes: frames them (keeping a partial message for the next call), runs the
    /// session rules, and calls `deliver` with each application message, in sequence.
    pub fn on_bytes(&mut self, now_ns: u64, bytes: &[u8], mut deliver: impl FnMut(&Message<'_>)) {
        if self.state == SessionState::Disconnected {
            return;
        }
        self.recv.extend_from_slice(bytes);
        let mut buf = std::mem::take(&mut self.recv);
        let mut at = 0;
        while at < buf.len() && self.state != SessionState::Disconnected {
            let rest = &buf[at..];
            match frame(rest) {
                Ok(Framing::NeedMore) => break,
                Ok(Framing::Complete { len_bytes, .. }) => {
                    self.on_frame(now_ns, &rest[..len_bytes], &mut deliver);
                    at += len_bytes;
                }
                Err(error) => {
                    if error.kind == FrameErrorKind::BadBeginString && is_other_begin_string(rest) {
                        if self.state == SessionState::Active {
                            self.send_admin(now_ns, &Logout { text: Some("Incorrect BeginString") });
                        }
                        self.disconnect(DisconnectReason::WrongBeginString);
                        break;
                    }
                    if self.awaiting_logon() {
                        // A garbled first message (QuickFIX: a Logon that does not parse).
                        self.disconnect(DisconnectReason::LogonRejected);
                        break;
                    }
                    let discarded_bytes = error.discard_bytes.min(rest.len());
                    self.events.push_back(Event::Garbled { kind: error.kind, discarded_bytes });
                    at += discarded_bytes;
                }
            }
        }
        if self.state == SessionState::Disconnected {
            return;
        }
        buf.drain(..at);
        self.recv = buf;
        if self.recv.len() > self.config.max_receive_bytes {
            self.disconnect(DisconnectReason::ReceiveBufferOverflow);
        }
    }

    fn on_frame(&mut self, now_ns: u64, raw: &[u8], deliver: &mut dyn FnMut(&Message<'_>)) {
        self.last_received_ns = now_ns;
        self.test_request_sent_ns = None;
        match Message::parse(raw) {
            Ok(message) => {
                self.on_message(now_ns, &message, false, deliver);
                self.drain_queue(now_ns, deliver);
            }
            Err(error) => {
                // MsgType not third is garbled (QuickFIX drops it, `2t_FirstThreeFieldsOutOfOrder`).
                let reason = match error {
                    crate::ParseError::MsgTypeNotThird { .. } => None,
                    _ => error.reject_reason(),
                };
                match reason {
                    None => {
                        if self.awaiting_logon() {
                            self.disconnect(DisconnectReason::LogonRejected);
                            return;
                        }
                        self.events.push_back(Event::Garbled {
                            kind: FrameErrorKind::BodyLengthMismatch,
                            discarded_bytes: raw.len(),
                        });
                    }
                    Some(reason) => {
                        if !self.logged_on() {
                            self.disconnect(DisconnectReason::LogonRejected);
                            return;
                        }
                        let seq = scan_seq_num(raw).unwrap_or(0);
                        let ref_tag = match error {
                            crate::ParseError::DataLengthMismatch { tag, .. } => RefTag::Tag(tag),
                            _ => RefTag::None,
                        };
                        self.send_reject(now_ns, None, seq, None, ref_tag, reason);
                        if seq == self.store.next_target_seq() {
                            self.set_target(seq + 1);
                        }
                    }
                }
            }
        }
    }

    fn logged_on(&self) -> bool {
        matches!(self.state, SessionState::Active | SessionState::LogoutSent)
    }

    fn awaiting_logon(&self) -> bool {
        matches!(self.state, SessionState::AwaitingLogon | SessionState::LogonSent)
    }

    fn drain_queue(&mut self, now_ns: u64, deliver: &mut dyn FnMut(&Message<'_>)) {
        loop {
            if self.state == SessionState::Disconnected {
                self.queue.clear();
                return;
            }
            let expected = self.store.next_target_seq();
            // Held messages a gap fill jumped over are gone.
            self.queue = self.queue.split_off(&expected);
            let Some(raw) = self.queue.remove(&expected) else { return };
            if let Ok(message) = Message::parse(&raw) {
                self.on_message(now_ns, &message, true, deliver);
            }
            if self.store.next_target_seq() == expected {
                // Not consumed (it should have been): skip it rather than loop.
                self.set_target(expected + 1);
            }
        }
    }

    /// One message, in QuickFIX's order of checks: Logon first; MsgSeqNum present; the
    /// dictionary; SendingTime accuracy; CompIDs; PossDupFlag (OrigSendingTime); MsgSeqNum.
    fn on_message(
        &mut self,
        now_ns: u64,
        message: &Message<'_>,
        from_queue: bool,
        deliver: &mut dyn FnMut(&Message<'_>),
    ) {
        let msg_type = message.msg_type();
        let awaiting_logon = self.awaiting_logon();
        if awaiting_logon && msg_type != Logon::MSG_TYPE {
            self.disconnect(DisconnectReason::FirstMessageNotLogon);
            return;
        }
        let Ok(seq) = message.msg_seq_num() else {
            if !awaiting_logon {
                self.send_admin(now_ns, &Logout { text: Some("MsgSeqNum missing or invalid") });
            }
            self.disconnect(DisconnectReason::MsgSeqNumMissing);
            return;
        };
        let expected = self.store.next_target_seq();
        if let Some(dictionary) = self.dictionary
            && let Err(error) = dictionary.validate(message)
        {
            if awaiting_logon {
                self.disconnect(DisconnectReason::LogonRejected);
                return;
            }
            let reason = error.reason();
            let ref_tag = if reason == SessionRejectReason::InvalidMsgType {
                RefTag::None
            } else if error.tag == INVALID_TAG || error.tag == 0 {
                // The tag as written (`-1`, `0`): QuickFIX's `14a_BadField`.
                error.field_index.and_then(|i| message.tag_text(i)).map_or(RefTag::None, RefTag::Text)
            } else {
                RefTag::Tag(error.tag)
            };
            self.reject(now_ns, message, seq, ref_tag, reason);
            return;
        }
        if !from_queue && !self.sending_time_ok(now_ns, message) {
            if awaiting_logon {
                self.disconnect(DisconnectReason::LogonRejected);
                return;
            }
            self.reject(now_ns, message, seq, RefTag::None, SessionRejectReason::SendingTimeAccuracyProblem);
            self.logout_and_wait(now_ns);
            return;
        }
        // CompIDs: theirs is our target, ours their target.
        let sender_ok = message.get(tag::SENDER_COMP_ID) == Some(self.config.target_comp_id.as_bytes());
        let target_ok = message.get(tag::TARGET_COMP_ID) == Some(self.config.sender_comp_id.as_bytes());
        if !(sender_ok && target_ok) {
            if !awaiting_logon {
                self.send_reject(
                    now_ns,
                    Some(message),
                    seq,
                    Some(msg_type),
                    RefTag::None,
                    SessionRejectReason::CompIdProblem,
                );
                self.send_admin(now_ns, &Logout { text: None });
            }
            self.disconnect(DisconnectReason::WrongCompId);
            return;
        }
        let poss_dup = message.get(tag::POSS_DUP_FLAG) == Some(b"Y");
        if poss_dup
            && !from_queue
            && msg_type != SequenceReset::MSG_TYPE
            && seq >= expected
            && self.poss_dup_refused(now_ns, message, seq)
        {
            return;
        }
        match msg_type {
            b"A" => self.on_logon(now_ns, message, seq, from_queue),
            b"4" if message.get(tag::GAP_FILL_FLAG) != Some(b"Y") => self.on_sequence_reset(now_ns, message, seq),
            b"5" => self.on_logout(now_ns, message, seq),
            b"2" => {
                if !from_queue {
                    self.on_resend_request(now_ns, message, seq);
                }
                // QuickFIX checks no MsgSeqNum on a ResendRequest: a low one is answered too.
                if seq >= expected && self.check_seq(now_ns, message, seq, poss_dup) {
                    self.set_target(seq + 1);
                }
            }
            _ => {
                if !self.check_seq(now_ns, message, seq, poss_dup) {
                    return;
                }
                // From here on the message is the expected one.
                match msg_type {
                    b"4" => {
                        // Gap fill.
                        match decode_as::<SequenceReset>(message, NO_SCALE) {
                            Ok(reset) if reset.new_seq_no > seq => {
                                self.set_target(reset.new_seq_no);
                                self.events
                                    .push_back(Event::SequenceReset { gap_fill: true, new_seq_no: reset.new_seq_no });
                            }
                            _ => {
                                self.send_reject(
                                    now_ns,
                                    Some(message),
                                    seq,
                                    Some(msg_type),
                                    RefTag::None,
                                    SessionRejectReason::ValueIsIncorrect,
                                );
                                self.set_target(seq + 1);
                            }
                        }
                        return;
                    }
                    b"0" => {}
                    b"1" => {
                        let id = message.get(tag::TEST_REQ_ID).and_then(|v| std::str::from_utf8(v).ok());
                        self.send_admin(now_ns, &Heartbeat { test_req_id: id });
                    }
                    b"3" => {
                        let ref_seq_num =
                            message.get_field(tag::REF_SEQ_NUM).and_then(|f| f.as_u64().ok()).unwrap_or(0);
                        let reason = message.get_field(tag::SESSION_REJECT_REASON).and_then(|f| f.as_u64().ok());
                        self.events.push_back(Event::RejectReceived { ref_seq_num, reason });
                    }
                    _ => deliver(message),
                }
                self.set_target(seq + 1);
            }
        }
    }

    /// SendingTime (52) within `max_sending_time_skew_ns` of `now_ns`. An absent or unreadable
    /// SendingTime passes here: the dictionary refuses it (373=1 or 6).
    fn sending_time_ok(&self, now_ns: u64, message: &Message<'_>) -> bool {
        let skew = self.config.max_sending_time_skew_ns;
        if skew == 0 {
            return true;
        }
        match message.get(tag::SENDING_TIME).map(parse_utc_timestamp_ns) {
            Some(Ok(sent)) => sent.abs_diff(now_ns) <= skew,
            _ => true,
        }
    }

    /// QuickFIX's `doPossDup` for a PossDupFlag=Y message (not a SequenceReset): `true` when it
    /// was refused: OrigSendingTime (122) absent (Reject 373=1 on 122), or later than
    /// SendingTime (Reject 373=10, Logout).
    fn poss_dup_refused(&mut self, now_ns: u64, message: &Message<'_>, seq: u64) -> bool {
        let Some(orig) = message.get(tag::ORIG_SENDING_TIME) else {
            self.reject(
                now_ns,
                message,
                seq,
                RefTag::Tag(tag::ORIG_SENDING_TIME),
                SessionRejectReason::RequiredTagMissing,
            );
            return true;
        };
        let sent = message.get(tag::SENDING_TIME).and_then(|v| parse_utc_timestamp_ns(v).ok());
        if let (Ok(orig), Some(sent)) = (parse_utc_timestamp_ns(orig), sent)
            && orig > sent
        {
            self.reject(now_ns, message, seq, RefTag::None, SessionRejectReason::SendingTimeAccuracyProblem);
            self.logout_and_wait(now_ns);
            return true;
        }
        false
    }

    /// Reject (3) for `message`; its MsgSeqNum is consumed when it was the expected one
    /// (except for Logon and SequenceReset, as in QuickFIX).
    fn reject(
        &mut self,
        now_ns: u64,
        message: &Message<'_>,
        seq: u64,
        ref_tag: RefTag<'_>,
        reason: SessionRejectReason,
    ) {
        let msg_type = message.msg_type();
        self.send_reject(now_ns, Some(message), seq, Some(msg_type), ref_tag, reason);
        if seq == self.store.next_target_seq() && msg_type != Logon::MSG_TYPE && msg_type != SequenceReset::MSG_TYPE {
            self.set_target(seq + 1);
        }
    }

    /// Our Logout after a refused message, then wait for theirs (or the logout timeout).
    fn logout_and_wait(&mut self, now_ns: u64) {
        self.send_admin(now_ns, &Logout { text: None });
        if !self.store_failed && self.state != SessionState::Disconnected {
            self.state = SessionState::LogoutSent;
            self.state_since_ns = now_ns;
        }
    }

    /// The MsgSeqNum rules for a message that must be in sequence: `true` when it is the
    /// expected one (to process); held and a ResendRequest sent when too high; too low:
    /// Logout and disconnect without PossDupFlag, else ignored once its OrigSendingTime passes
    /// (QuickFIX's `doTargetTooLow`).
    fn check_seq(&mut self, now_ns: u64, message: &Message<'_>, seq: u64, poss_dup: bool) -> bool {
        let expected = self.store.next_target_seq();
        if seq == expected {
            if self.resend_until.is_some_and(|until| seq >= until) {
                self.resend_until = None;
            }
            return true;
        }
        if seq > expected {
            if self.queue.len() >= self.config.max_queued_messages {
                self.disconnect(DisconnectReason::QueueOverflow);
                return false;
            }
            self.queue.insert(seq, message.as_bytes().to_vec());
            self.request_resend(now_ns, expected, seq);
            return false;
        }
        if !poss_dup {
            let text = format!("MsgSeqNum too low, expecting {expected} but received {seq}");
            self.send_admin(now_ns, &Logout { text: Some(&text) });
            self.disconnect(DisconnectReason::MsgSeqNumTooLow { expected, received: seq });
        } else if message.msg_type() != SequenceReset::MSG_TYPE {
            self.poss_dup_refused(now_ns, message, seq);
        }
        false
    }

    fn request_resend(&mut self, now_ns: u64, begin: u64, seen: u64) {
        if self.resend_until.is_some_and(|until| until >= begin) {
            self.resend_until = Some(self.resend_until.unwrap_or(seen).max(seen));
            return;
        }
        self.resend_until = Some(seen);
        self.send_admin(now_ns, &ResendRequest { begin_seq_no: begin, end_seq_no: 0 });
        self.events.push_back(Event::ResendRequested { begin, end: 0 });
    }

    /// A Logon: the acceptor's first message, the initiator's answer, or (while logged on)
    /// a Logon with ResetSeqNumFlag=Y, which resets both sequence numbers and is answered
    /// with one (QuickFIX's `SessionReset`).
    fn on_logon(&mut self, now_ns: u64, message: &Message<'_>, seq: u64, from_queue: bool) {
        if from_queue {
            self.set_target(seq + 1);
            return;
        }
        let reset_while_on = self.state == SessionState::Active
            && self.config.role == Role::Acceptor
            && message.get(tag::RESET_SEQ_NUM_FLAG) == Some(b"Y");
        let acceptor = self.state == SessionState::AwaitingLogon || reset_while_on;
        if !(acceptor || self.state == SessionState::LogonSent) {
            self.send_admin(now_ns, &Logout { text: Some("Unexpected Logon") });
            self.disconnect(DisconnectReason::UnexpectedLogon);
            return;
        }
        let logon = match decode_as::<Logon<'_>>(message, NO_SCALE) {
            Ok(logon) if logon.encrypt_method == 0 => logon,
            _ => {
                self.disconnect(DisconnectReason::LogonRejected);
                return;
            }
        };
        if acceptor {
            if logon.reset_seq_num {
                let result = self.store.reset();
                if !self.stored(result) {
                    return;
                }
                self.queue.clear();
                self.resend_until = None;
            }
            self.heart_bt_int_ns = logon.heart_bt_int_s.saturating_mul(NS_PER_S);
        }
        let expected = self.store.next_target_seq();
        if seq < expected {
            let text = format!("MsgSeqNum too low, expecting {expected} but received {seq}");
            self.send_admin(now_ns, &Logout { text: Some(&text) });
            self.disconnect(DisconnectReason::MsgSeqNumTooLow { expected, received: seq });
            return;
        }
        if acceptor {
            let answer = Logon { next_expected_msg_seq_num: None, username: None, password: None, ..logon };
            self.send_admin(now_ns, &answer);
            if self.store_failed {
                return;
            }
        }
        self.state = SessionState::Active;
        self.state_since_ns = now_ns;
        self.events.push_back(Event::LoggedOn);
        if seq > expected {
            self.queue.insert(seq, message.as_bytes().to_vec());
            self.request_resend(now_ns, expected, seq);
        } else {
            self.set_target(seq + 1);
        }
    }

    /// SequenceReset-Reset: MsgSeqNum ignored; NewSeqNo above the expected number moves it,
    /// equal does nothing, below is rejected (373=5, no RefTagID, as QuickFIX).
    fn on_sequence_reset(&mut self, now_ns: u64, message: &Message<'_>, seq: u64) {
        let expected = self.store.next_target_seq();
        match decode_as::<SequenceReset>(message, NO_SCALE) {
            Ok(reset) if reset.new_seq_no >= expected => {
                if reset.new_seq_no > expected {
                    self.set_target(reset.new_seq_no);
                    self.events.push_back(Event::SequenceReset { gap_fill: false, new_seq_no: reset.new_seq_no });
                }
            }
            _ => self.send_reject(
                now_ns,
                Some(message),
                seq,
                Some(SequenceReset::MSG_TYPE),
                RefTag::None,
                SessionRejectReason::ValueIsIncorrect,
            ),
        }
    }

    fn on_logout(&mut self, now_ns: u64, message: &Message<'_>, seq: u64) {
        if seq == self.store.next_target_seq() {
            self.set_target(seq + 1);
        }
        let text = message.get(tag::TEXT).map(|v| String::from_utf8_lossy(v).into_owned());
        if self.state != SessionState::LogoutSent {
            self.send_admin(now_ns, &Logout { text: None });
        }
        self.events.push_back(Event::LoggedOut { text });
        self.disconnect(DisconnectReason::LoggedOut);
    }

    /// Answers a ResendRequest: application messages from the store again, with
    /// PossDupFlag=Y and OrigSendingTime; admin messages (and missing ones) gap-filled.
    fn on_resend_request(&mut self, now_ns: u64, message: &Message<'_>, seq: u64) {
        let Ok(request) = decode_as::<ResendRequest>(message, NO_SCALE) else {
            self.send_reject(
                now_ns,
                Some(message),
                seq,
                Some(ResendRequest::MSG_TYPE),
                RefTag::Tag(tag::BEGIN_SEQ_NO),
                SessionRejectReason::IncorrectDataFormatForValue,
            );
            return;
        };
        let last_sent = self.store.next_sender_seq().saturating_sub(1);
        let begin = request.begin_seq_no.max(1);
        let end =
            if request.end_seq_no == 0 || request.end_seq_no > last_sent { last_sent } else { request.end_seq_no };
        let mut stored: Vec<(u64, Vec<u8>)> = Vec::new();
        let result = self.store.get_range(begin, end, &mut |seq, bytes| stored.push((seq, bytes.to_vec())));
        if !self.stored(result) {
            return;
        }
        // `next`: the first number not yet answered; admin and missing ones become gap fills.
        let mut next = begin;
        for (seq, bytes) in &stored {
            let Ok(original) = Message::parse(bytes) else { continue };
            if is_admin(original.msg_type()) {
                continue;
            }
            if *seq > next {
                self.send_gap_fill(now_ns, next, *seq);
            }
            self.resend(now_ns, &original);
            next = seq + 1;
        }
        if next <= end {
            self.send_gap_fill(now_ns, next, end + 1);
        }
        self.events.push_back(Event::ResendAnswered { begin: request.begin_seq_no, end: request.end_seq_no });
    }

    fn send_gap_fill(&mut self, now_ns: u64, seq: u64, new_seq_no: u64) {
        let e = &mut self.encoder;
        e.begin(SequenceReset::MSG_TYPE);
        e.uint(tag::MSG_SEQ_NUM, seq)
            .bool(tag::POSS_DUP_FLAG, true)
            .str(tag::SENDER_COMP_ID, &self.config.sender_comp_id)
            .timestamp_ms(tag::SENDING_TIME, now_ns)
            .str(tag::TARGET_COMP_ID, &self.config.target_comp_id)
            .timestamp_ms(tag::ORIG_SENDING_TIME, now_ns);
        SequenceReset { gap_fill: true, new_seq_no }.encode_body(e, NO_SCALE);
        self.outbound.extend_from_slice(e.finish());
        self.last_sent_ns = now_ns;
    }

    /// A stored message again: same MsgSeqNum and body, PossDupFlag=Y, SendingTime now,
    /// OrigSendingTime its original SendingTime.
    fn resend(&mut self, now_ns: u64, original: &Message<'_>) {
        let e = &mut self.encoder;
        e.begin(original.msg_type());
        e.bytes(tag::MSG_SEQ_NUM, original.get(tag::MSG_SEQ_NUM).unwrap_or_default())
            .bool(tag::POSS_DUP_FLAG, true)
            .str(tag::SENDER_COMP_ID, &self.config.sender_comp_id)
            .timestamp_ms(tag::SENDING_TIME, now_ns)
            .str(tag::TARGET_COMP_ID, &self.config.target_comp_id)
            .bytes(tag::ORIG_SENDING_TIME, original.get(tag::SENDING_TIME).unwrap_or_default());
        for field in original.fields() {
            match field.tag {
                tag::BEGIN_STRING
                | tag::BODY_LENGTH
                | tag::MSG_TYPE
                | tag::SENDER_COMP_ID
                | tag::TARGET_COMP_ID
                | tag::MSG_SEQ_NUM
                | tag::POSS_DUP_FLAG
                | tag::SENDING_TIME
                | tag::ORIG_SENDING_TIME
                | tag::CHECK_SUM => {}
                other => {
                    e.bytes(other, field.value);
                }
            }
        }
        self.outbound.extend_from_slice(e.finish());
        self.last_sent_ns = now_ns;
    }

    /// A session Reject (3): the rejected message's routing reversed in the header (its
    /// OnBehalfOf* become DeliverTo* and back, as QuickFIX's `reverseRoute`), then RefSeqNum,
    /// Text (QuickFIX's wording), RefTagID, RefMsgType, SessionRejectReason.
    fn send_reject(
        &mut self,
        now_ns: u64,
        rejected: Option<&Message<'_>>,
        ref_seq_num: u64,
        ref_msg_type: Option<&[u8]>,
        ref_tag: RefTag<'_>,
        reason: SessionRejectReason,
    ) {
        let mut route: [(u32, &[u8]); REVERSE_ROUTE.len()] = [(0, &[]); REVERSE_ROUTE.len()];
        let mut routes = 0;
        if let Some(message) = rejected {
            for (from, to) in REVERSE_ROUTE {
                if let Some(value) = message.get(from).filter(|v| !v.is_empty()) {
                    route[routes] = (to, value);
                    routes += 1;
                }
            }
        }
        let route = &mut route[..routes];
        route.sort_unstable_by_key(|&(t, _)| t);
        let text = reason.text();
        let _ = self.send_raw(now_ns, Reject::MSG_TYPE, |e| {
            for &(t, value) in route.iter() {
                e.bytes(t, value);
            }
            e.uint(tag::REF_SEQ_NUM, ref_seq_num).str(tag::TEXT, text);
            match ref_tag {
                RefTag::None => {}
                RefTag::Tag(t) => {
                    e.uint(tag::REF_TAG_ID, u64::from(t));
                }
                RefTag::Text(t) => {
                    e.bytes(tag::REF_TAG_ID, t);
                }
            }
            if let Some(t) = ref_msg_type {
                e.bytes(tag::REF_MSG_TYPE, t);
            }
            e.uint(tag::SESSION_REJECT_REASON, u64::from(reason.code()));
        });
        let ref_tag_id = match ref_tag {
            RefTag::None => None,
            RefTag::Tag(t) => Some(t),
            RefTag::Text(t) => crate::parse_uint(t).ok().and_then(|v| u32::try_from(v).ok()),
        };
        self.events.push_back(Event::RejectSent { ref_seq_num, ref_tag_id, reason });
    }

    /// An admin message; a store failure is already reported as a disconnect.
    fn send_admin<'m, M: FixMessage<'m>>(&mut self, now_ns: u64, message: &M) {
        let _ = self.send_raw(now_ns, M::MSG_TYPE, |e| message.encode_body(e, NO_SCALE));
    }

    /// `true` when a store operation succeeded; otherwise the session disconnects
    /// (`StoreFailure`, once) and sends nothing more until the next [`Self::connect`].
    fn stored(&mut self, result: Result<(), S::Error>) -> bool {
        match result {
            Ok(()) => true,
            Err(error) => {
                if !self.store_failed {
                    self.disconnect(DisconnectReason::StoreFailure { error: error.to_string() });
                    self.store_failed = true;
                }
                false
            }
        }
    }

    fn set_target(&mut self, seq: u64) {
        let result = self.store.set_next_target_seq(seq);
        self.stored(result);
    }

    /// Header, body, trailer; stored under the next MsgSeqNum (before the bytes are queued
    /// for the transport: a message the store could not keep is not sent).
    fn send_raw(&mut self, now_ns: u64, msg_type: &[u8], body: impl FnOnce(&mut Encoder)) -> Result<u64, SendError> {
        if self.store_failed {
            return Err(SendError::StoreFailure);
        }
        let seq = self.store.next_sender_seq();
        let e = &mut self.encoder;
        // Header fields in tag order, as QuickFIX writes them (its acceptance scripts compare
        // field order).
        e.begin(msg_type);
        e.uint(tag::MSG_SEQ_NUM, seq)
            .str(tag::SENDER_COMP_ID, &self.config.sender_comp_id)
            .timestamp_ms(tag::SENDING_TIME, now_ns)
            .str(tag::TARGET_COMP_ID, &self.config.target_comp_id);
        body(e);
        let bytes = e.finish();
        let result = self.store.save(seq, bytes).and_then(|()| self.store.set_next_sender_seq(seq + 1));
        if let Err(error) = result {
            self.stored(Err(error));
            return Err(SendError::StoreFailure);
        }
        self.outbound.extend_from_slice(bytes);
        self.last_sent_ns = now_ns;
        Ok(seq)
    }

    fn disconnect(&mut self, reason: DisconnectReason) {
        if self.store_failed && self.state == SessionState::Disconnected {
            // Already reported as `StoreFailure`.
            return;
        }
        self.state = SessionState::Disconnected;
        self.recv.clear();
        self.queue.clear();
        self.resend_until = None;
        self.test_request_sent_ns = None;
        self.events.push_back(Event::Disconnect { reason });
    }
}

/// RefTagID (371) of a Reject: none, a tag, or the tag as written when it is not a valid number.
#[derive(Debug, Clone, Copy)]
enum RefTag<'a> {
    None,
    Tag(u32),
    Text(&'a [u8]),
}

/// (tag in the rejected message, tag in the Reject): OnBehalfOfCompID (115) ↔ DeliverToCompID
/// (128), OnBehalfOfSubID (116) ↔ DeliverToSubID (129), OnBehalfOfLocationID (144) ↔
/// DeliverToLocationID (145).
const REVERSE_ROUTE: [(u32, u32); 6] = [(115, 128), (116, 129), (144, 145), (128, 115), (129, 116), (145, 144)];

/// Session-level (admin) message types: gap-filled, never resent.
fn is_admin(msg_type: &[u8]) -> bool {
    matches!(msg_type, b"0" | b"1" | b"2" | b"3" | b"4" | b"5" | b"A")
}

/// A complete `8=<other version>␁` at the head: another BeginString, not garbage.
fn is_other_begin_string(buf: &[u8]) -> bool {
    buf.starts_with(b"8=FIX") && buf.iter().take(32).any(|&b| b == SOH)
}

/// MsgSeqNum read from the raw bytes of a message that did not parse.
fn scan_seq_num(raw: &[u8]) -> Option<u64> {
    let at = raw.windows(4).position(|w| w == b"\x0134=")? + 4;
    let end = raw[at..].iter().position(|&b| b == SOH)? + at;
    crate::parse_uint(&raw[at..end]).ok()
}
