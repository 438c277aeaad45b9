//! The in-process target: the project's acceptor ([`qp_fix::session::Session`] with a
//! [`MemoryStore`] and the FIX 4.4 dictionary) behind QuickFIX's acceptance-test
//! application, on a virtual clock.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use qp_fix::session::{Event, MemoryStore, MessageStore, Role, Session, SessionConfig};
use qp_fix::{Dictionary, Message, tag};

use crate::runner::{FrameSplitter, Received, ScriptTarget, TargetError};
use crate::script::ConnId;

/// 2024-01-02T03:04:05.678Z: where the virtual clock starts (not on a whole second, so the
/// scripts' whole-second `<TIME>` is behind the engine's clock, as in a real run).
pub const VIRTUAL_EPOCH_NS: u64 = 1_704_164_645_678_000_000;

/// How the in-process acceptor is set up. QuickFIX's scripts talk to `ISLD` as `TW44`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InProcessConfig {
    pub sender_comp_id: String,
    pub target_comp_id: String,
    /// Where the virtual clock starts (Unix ns).
    pub start_ns: u64,
}

impl Default for InProcessConfig {
    fn default() -> Self {
        Self { sender_comp_id: "ISLD".into(), target_comp_id: "TW44".into(), start_ns: VIRTUAL_EPOCH_NS }
    }
}

/// One connection of the script, as the engine's side sees it.
#[derive(Debug, Default)]
struct Conn {
    /// `false` once the engine closed it.
    open: bool,
    splitter: FrameSplitter,
    /// What the engine wrote, split into messages, waiting for the runner.
    inbox: VecDeque<Received>,
}

/// The acceptor in process: one [`Session`] (the scripts' one session identity), bound to
/// the first connection that sends bytes while it is free; a second connection sending
/// while it is bound is closed unanswered (QuickFIX's duplicate-identity rule). Each
/// disconnect resets the store (QuickFIX's test acceptor: sequence numbers restart at 1 on
/// every connection). Time is virtual: it stands still while the script sends, and when the
/// runner waits for a message and none is pending, the clock jumps to the session's next
/// timer ([`Session::next_timer_ns`]) and [`Session::on_timer`] runs, until a message or a
/// close appears or the wait is used up. Heartbeat and TestRequest scripts therefore run in
/// microseconds and always the same way.
#[derive(Debug)]
pub struct InProcessTarget<'d> {
    session: Session<'d, MemoryStore>,
    now_ns: u64,
    conns: BTreeMap<ConnId, Conn>,
    /// The connection the session is on.
    bound: Option<ConnId>,
    app: EchoApplication,
    /// Application messages the session delivered, not yet handed to `app`.
    delivered: Vec<Vec<u8>>,
}

impl<'d> InProcessTarget<'d> {
    pub fn new(dictionary: &'d Dictionary, config: &InProcessConfig) -> Self {
        let session_config = SessionConfig::new(Role::Acceptor, &config.sender_comp_id, &config.target_comp_id, 0);
        Self {
            session: Session::new(session_config, MemoryStore::new(), Some(dictionary)),
            now_ns: config.start_ns,
            conns: BTreeMap::new(),
            bound: None,
            app: EchoApplication::default(),
            delivered: Vec::new(),
        }
    }

    /// The session under test (for inspection in tests).
    pub fn session(&self) -> &Session<'d, MemoryStore> {
        &self.session
    }

    /// Moves the session's output to the bound connection, handles its events and hands
    /// delivered messages to the application, until nothing more happens.
    fn pump(&mut self) {
        loop {
            let mut progress = false;
            let out = self.session.take_outbound();
            if !out.is_empty() {
                progress = true;
                if let Some(conn) = self.bound.and_then(|id| self.conns.get_mut(&id)) {
                    conn.splitter.push(&out);
                    while let Some(received) = conn.splitter.next_message() {
                        conn.inbox.push_back(received);
                    }
                }
            }
            while let Some(event) = self.session.poll_event() {
                progress = true;
                if let Event::Disconnect { .. } = event {
                    self.unbind(true);
                }
            }
            if !self.delivered.is_empty() {
                progress = true;
                for raw in std::mem::take(&mut self.delivered) {
                    self.app.on_message(&mut self.session, self.now_ns, &raw);
                }
            }
            if !progress {
                return;
            }
        }
    }

    /// The session leaves its connection: closed by the engine (`engine_closed`) or by us.
    /// The store is reset for the next connection, the application forgets its orders.
    fn unbind(&mut self, engine_closed: bool) {
        if let Some(id) = self.bound.take()
            && engine_closed
            && let Some(conn) = self.conns.get_mut(&id)
        {
            conn.open = false;
        }
        self.session.transport_closed();
        let Ok(()) = self.session.store_mut().reset();
        self.app.reset();
    }

    fn feed(&mut self, bytes: &[u8]) {
        let delivered = &mut self.delivered;
        self.session.on_bytes(self.now_ns, bytes, |m| delivered.push(m.as_bytes().to_vec()));
        self.pump();
    }
}

impl ScriptTarget for InProcessTarget<'_> {
    fn now_ns(&mut self) -> u64 {
        self.now_ns
    }

    fn connect(&mut self, conn: ConnId) -> Result<(), TargetError> {
        if self.bound == Some(conn) {
            self.unbind(false);
        }
        self.conns.insert(conn, Conn { open: true, ..Conn::default() });
        Ok(())
    }

    fn send(&mut self, conn: ConnId, bytes: &[u8]) -> Result<(), TargetError> {
        if !self.conns.get(&conn).is_some_and(|c| c.open) {
            return Ok(()); // closed by the engine: the bytes are lost, as on a socket
        }
        match self.bound {
            Some(id) if id == conn => self.feed(bytes),
            None => {
                self.bound = Some(conn);
                self.session.connect(self.now_ns);
                self.pump();
                self.feed(bytes);
            }
            Some(_) => {
                // The session is logged on (or logging on) elsewhere: close this one.
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.open = false;
                }
            }
        }
        Ok(())
    }

    fn receive(&mut self, conn: ConnId, wait: Duration) -> Result<Received, TargetError> {
        let deadline = self.now_ns.saturating_add(u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX));
        loop {
            let Some(c) = self.conns.get_mut(&conn) else { return Ok(Received::Disconnected) };
            if let Some(received) = c.inbox.pop_front() {
                return Ok(received);
            }
            if !c.open {
                return Ok(Received::Disconnected);
            }
            // Nothing pending: let time pass up to the session's next timer.
            let due = self.bound.and(self.session.next_timer_ns()).filter(|&t| t <= deadline);
            let Some(due) = due else { break };
            self.now_ns = self.now_ns.max(due);
            self.session.on_timer(self.now_ns);
            self.pump();
            let stuck = self.bound.and(self.session.next_timer_ns()).is_some_and(|t| t <= self.now_ns)
                && self.conns.get(&conn).is_some_and(|c| c.inbox.is_empty() && c.open);
            if stuck {
                break; // a timer that does nothing (HeartBtInt 0): do not spin
            }
        }
        self.now_ns = self.now_ns.max(deadline);
        Ok(Received::Nothing)
    }

    fn disconnect(&mut self, conn: ConnId) {
        if self.bound == Some(conn) {
            self.unbind(false);
        }
        self.conns.remove(&conn);
    }
}

/// QuickFIX's acceptance-test application (`at_application.h`): a NewOrderSingle is echoed
/// back (once per ClOrdID when PossResend=Y), a SecurityDefinition is echoed back, any other
/// application message is refused with a BusinessMessageReject (380=3, "Unsupported
/// Message Type"). The echo keeps the received message's fields except the session's own
/// header fields (the session writes 34, 49, 52, 56; PossDupFlag and OrigSendingTime are
/// dropped), header fields first, each part in tag order (QuickFIX's field maps are sorted).
#[derive(Debug, Default)]
pub struct EchoApplication {
    order_ids: BTreeSet<Vec<u8>>,
}

/// The application's answer to one message: its MsgType and body fields, in order (the
/// session adds the header and trailer). The TCP target hands it to the acceptor as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoReply {
    pub msg_type: Vec<u8>,
    pub fields: Vec<(u32, Vec<u8>)>,
}

impl EchoApplication {
    /// Forgets the ClOrdIDs seen (QuickFIX: on logout).
    pub fn reset(&mut self) {
        self.order_ids.clear();
    }

    /// Handles one delivered application message, answering through `session`.
    pub fn on_message(&mut self, session: &mut Session<'_, MemoryStore>, now_ns: u64, raw: &[u8]) {
        let Ok(message) = Message::parse(raw) else { return };
        if let Some(reply) = self.reply(&message) {
            let _ = session.send_app(now_ns, &reply.msg_type, |e| {
                for (t, v) in &reply.fields {
                    e.bytes(*t, v);
                }
            });
        }
    }

    /// What the application answers to `message`, if anything.
    pub fn reply(&mut self, message: &Message<'_>) -> Option<EchoReply> {
        match message.msg_type() {
            b"D" => {
                let poss_resend = message.get(tag::POSS_RESEND) == Some(b"Y");
                let id = message.get(tag::CL_ORD_ID).unwrap_or_default().to_vec();
                if poss_resend && self.order_ids.contains(&id) {
                    return None;
                }
                self.order_ids.insert(id);
                Some(echo(message))
            }
            b"d" => Some(echo(message)),
            other => {
                let seq = message.msg_seq_num().unwrap_or(0);
                Some(EchoReply {
                    msg_type: b"j".to_vec(),
                    fields: vec![
                        (tag::REF_SEQ_NUM, seq.to_string().into_bytes()),
                        (tag::TEXT, b"Unsupported Message Type".to_vec()),
                        (tag::REF_MSG_TYPE, other.to_vec()),
                        (tag::BUSINESS_REJECT_REASON, b"3".to_vec()),
                    ],
                })
            }
        }
    }
}

/// Header fields the session writes itself, or drops on send.
fn session_owned(tag: u32) -> bool {
    matches!(
        tag,
        tag::BEGIN_STRING
            | tag::BODY_LENGTH
            | tag::MSG_TYPE
            | tag::MSG_SEQ_NUM
            | tag::SENDER_COMP_ID
            | tag::TARGET_COMP_ID
            | tag::SENDING_TIME
            | tag::POSS_DUP_FLAG
            | tag::ORIG_SENDING_TIME
            | tag::CHECK_SUM
    )
}

fn echo(message: &Message<'_>) -> EchoReply {
    let mut header: Vec<(u32, &[u8])> =
        message.header().filter(|f| !session_owned(f.tag)).map(|f| (f.tag, f.value)).collect();
    header.sort_by_key(|&(t, _)| t);
    let mut body: Vec<(u32, &[u8])> = message.body().map(|f| (f.tag, f.value)).collect();
    let mut tags: Vec<u32> = body.iter().map(|&(t, _)| t).collect();
    tags.sort_unstable();
    tags.dedup();
    if tags.len() == body.len() {
        // No repeating group instances: QuickFIX writes the body in tag order.
        body.sort_by_key(|&(t, _)| t);
    }
    EchoReply {
        msg_type: message.msg_type().to_vec(),
        fields: header.iter().chain(&body).map(|&(t, v)| (t, v.to_vec())).collect(),
    }
}
