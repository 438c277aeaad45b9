//! What both roles' connections share: the hello exchange, the goodbye, timers, events.
//! The roles' own rules (data, credit, acknowledgements) live in `cloud.rs` and `local.rs`.

use crate::config::{ConnectionConfig, ConnectionSettings};
use crate::error::{DisconnectReason, ProtocolError, Violation};
use crate::record::{Hello, Record, RecordKind, Role, encode_record, negotiate_version};

/// What the hello exchange settled, for the transport's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The protocol version of this connection: the highest both speak.
    pub version: u16,
    /// Capabilities both offered.
    pub capabilities: u64,
    /// The peer's session epoch.
    pub peer_epoch: u64,
    /// The sequence number the data stream continues from on this connection.
    pub resume_from: u64,
    /// The data stream restarted at the sender's oldest held frame instead of resuming.
    /// Receiving side: the sender's epoch is not the one the stream followed (a first
    /// connection, or the sender restarted). Sending side: the receiver's hello named no
    /// state for our epoch (it restarted, or wrote its hello before reading ours on a first
    /// connection).
    pub epoch_changed: bool,
}

/// Something the application may want to act on, from [`poll_event`](crate::CloudConnection::poll_event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Both hellos are exchanged; data may flow.
    Established(Negotiated),
    /// The local peer sent a new subscription (cloud side; read it from the stream).
    SubscriptionChanged,
}

/// What [`poll_timers`](crate::CloudConnection::poll_timers) found, when the connection lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerStatus {
    /// Nothing due.
    Quiet,
    /// Idle for the heartbeat interval: the next `write_into` writes a heartbeat.
    HeartbeatDue,
}

/// Write `record` at `out[*pos..]`; false (and nothing written) when it does not fit.
pub(crate) fn put(role: Role, record: &Record<'_>, out: &mut [u8], pos: &mut usize) -> bool {
    match out.get_mut(*pos..).map(|rest| encode_record(role, record, rest)) {
        Some(Ok(written)) => {
            *pos += written;
            true
        }
        _ => false,
    }
}

pub(crate) struct Link {
    config: ConnectionConfig,
    role: Role,
    hello_sent: bool,
    negotiated: Option<Negotiated>,
    closed: Option<DisconnectReason>,
    goodbye_pending: Option<crate::GoodbyeReason>,
    last_received_ns: u64,
    last_sent_ns: u64,
    heartbeat_due: bool,
    /// When the current stretch without progress began, while the sender has work out.
    stall_since: Option<u64>,
    established_event: Option<Negotiated>,
    subscription_event: bool,
}

impl Link {
    pub(crate) fn new(settings: &ConnectionSettings, role: Role, now_ns: u64) -> Self {
        Self {
            config: *settings.config(),
            role,
            hello_sent: false,
            negotiated: None,
            closed: None,
            goodbye_pending: None,
            last_received_ns: now_ns,
            last_sent_ns: now_ns,
            heartbeat_due: false,
            stall_since: None,
            established_event: None,
            subscription_event: false,
        }
    }

    pub(crate) fn config(&self) -> &ConnectionConfig {
        &self.config
    }

    pub(crate) fn negotiated(&self) -> Option<Negotiated> {
        self.negotiated
    }

    pub(crate) fn closed(&self) -> Option<DisconnectReason> {
        self.closed
    }

    /// A complete record arrived: the peer is alive. Then: hello first, and only once.
    pub(crate) fn on_record(&mut self, now_ns: u64, offset: u64, kind: RecordKind) -> Result<(), ProtocolError> {
        self.last_received_ns = now_ns;
        let violation = match (kind, self.negotiated.is_some()) {
            (RecordKind::Hello, true) => Violation::DuplicateHello,
            (RecordKind::Hello, false) | (_, true) => return Ok(()),
            (_, false) => Violation::RecordBeforeHello,
        };
        Err(ProtocolError { offset, kind: kind as u8, violation })
    }

    /// Check the peer's hello against ours: the other role, a common version. Answers the
    /// version and the common capabilities.
    pub(crate) fn accept_hello(&self, offset: u64, hello: &Hello) -> Result<(u16, u64), ProtocolError> {
        let error = |violation| ProtocolError { offset, kind: RecordKind::Hello as u8, violation };
        if hello.role != self.role.peer() {
            return Err(error(Violation::WrongRole { theirs: hello.role }));
        }
        let ours = (self.config.min_version, self.config.max_version);
        let version = negotiate_version(ours, (hello.min_version, hello.max_version)).ok_or(error(
            Violation::NoCommonVersion {
                ours_min: ours.0,
                ours_max: ours.1,
                theirs_min: hello.min_version,
                theirs_max: hello.max_version,
            },
        ))?;
        Ok((version, self.config.capabilities & hello.capabilities))
    }

    pub(crate) fn establish(&mut self, negotiated: Negotiated) {
        self.negotiated = Some(negotiated);
        self.established_event = Some(negotiated);
    }

    pub(crate) fn subscription_changed(&mut self) {
        self.subscription_event = true;
    }

    pub(crate) fn poll_event(&mut self) -> Option<Event> {
        if let Some(negotiated) = self.established_event.take() {
            return Some(Event::Established(negotiated));
        }
        std::mem::take(&mut self.subscription_event).then_some(Event::SubscriptionChanged)
    }

    /// The connection ends for `reason` (the first reason stays); a goodbye is queued when
    /// the reason calls for one. Answers the reason that stands.
    pub(crate) fn fail(&mut self, reason: DisconnectReason) -> DisconnectReason {
        match self.closed {
            Some(first) => first,
            None => {
                self.closed = Some(reason);
                self.goodbye_pending = reason.goodbye();
                reason
            }
        }
    }

    /// Write what opens and closes a connection: our hello first, then a pending goodbye.
    /// True when the connection is established and open, so the role's records may follow.
    pub(crate) fn write_opening(&mut self, hello: impl FnOnce() -> Hello, out: &mut [u8], pos: &mut usize) -> bool {
        if self.closed.is_some() && self.goodbye_pending.is_none() {
            return false;
        }
        if !self.hello_sent {
            if !put(self.role, &Record::Hello(hello()), out, pos) {
                return false;
            }
            self.hello_sent = true;
        }
        if self.closed.is_some() {
            if let Some(reason) = self.goodbye_pending
                && put(self.role, &Record::Goodbye(reason), out, pos)
            {
                self.goodbye_pending = None;
            }
            return false;
        }
        self.negotiated.is_some()
    }

    /// Write a heartbeat if nothing else was written this time and the connection was idle
    /// for the interval (or `poll_timers` said so).
    pub(crate) fn write_heartbeat(&mut self, now_ns: u64, out: &mut [u8], pos: &mut usize) {
        let idle = now_ns.saturating_sub(self.last_sent_ns) >= self.config.heartbeat_interval_ns;
        if *pos == 0 && (self.heartbeat_due || idle) {
            put(self.role, &Record::Heartbeat, out, pos);
        }
    }

    /// `written` bytes went out at `now_ns`.
    pub(crate) fn wrote(&mut self, now_ns: u64, written: usize) {
        if written > 0 {
            self.last_sent_ns = now_ns;
            self.heartbeat_due = false;
        }
    }

    /// Keep the stall clock: it runs while `outstanding`, restarts on `progress`.
    pub(crate) fn track_stall(&mut self, now_ns: u64, outstanding: bool, progress: bool) {
        self.stall_since = match (outstanding, progress) {
            (false, _) => None,
            (true, true) => Some(now_ns),
            (true, false) => Some(self.stall_since.unwrap_or(now_ns)),
        };
    }

    /// Dead peer, stalled peer (`stalled` builds the reason from the time without
    /// progress), heartbeat due.
    pub(crate) fn poll_timers(
        &mut self,
        now_ns: u64,
        stalled: impl FnOnce(u64) -> DisconnectReason,
    ) -> Result<TimerStatus, DisconnectReason> {
        if let Some(reason) = self.closed {
            return Err(reason);
        }
        let silent_ns = now_ns.saturating_sub(self.last_received_ns);
        if silent_ns >= self.config.dead_after_ns {
            return Err(self.fail(DisconnectReason::DeadPeer { silent_ns }));
        }
        if let Some(since) = self.stall_since {
            let stalled_ns = now_ns.saturating_sub(since);
            if stalled_ns >= self.config.stall_after_ns {
                return Err(self.fail(stalled(stalled_ns)));
            }
        }
        if self.negotiated.is_some() && now_ns.saturating_sub(self.last_sent_ns) >= self.config.heartbeat_interval_ns {
            self.heartbeat_due = true;
            return Ok(TimerStatus::HeartbeatDue);
        }
        Ok(TimerStatus::Quiet)
    }

    /// The next time `poll_timers` has something to check.
    pub(crate) fn next_timer_ns(&self) -> Option<u64> {
        if self.closed.is_some() {
            return None;
        }
        let mut next = self.last_received_ns.saturating_add(self.config.dead_after_ns);
        if let Some(since) = self.stall_since {
            next = next.min(since.saturating_add(self.config.stall_after_ns));
        }
        if self.negotiated.is_some() {
            next = next.min(self.last_sent_ns.saturating_add(self.config.heartbeat_interval_ns));
        }
        Some(next)
    }
}
