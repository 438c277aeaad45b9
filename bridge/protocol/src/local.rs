//! The local node's connection: the receiving side. It has no way to send a frame: its
//! records are hello, subscription, acknowledgement, credit, heartbeat and goodbye, each
//! encoded through the direction allow-list of [`encode_record`](crate::encode_record).

use qp_wire::FrameBuf;

use crate::config::ConnectionSettings;
use crate::error::{DisconnectReason, ProtocolError, Violation};
use crate::link::{Event, Link, Negotiated, TimerStatus, put};
use crate::reader::RecordReader;
use crate::record::{GoodbyeReason, Hello, Record, Role};
use crate::stream::InboundStream;
use crate::subscription::Subscription;

/// One connection of the local node to a cloud peer, built on the peer's [`InboundStream`]
/// and giving it back ([`into_stream`](Self::into_stream)) when the connection ends.
///
/// Frames that arrive in order are queued in the stream, taken with
/// [`pop_frame`](Self::pop_frame); each frame taken is credit granted back. A frame already
/// received is dropped (counted); a gap in the sequence ends the connection.
pub struct LocalConnection {
    reader: RecordReader,
    state: LocalState,
}

struct LocalState {
    link: Link,
    stream: InboundStream,
    /// Next expected as last told to the peer (in a hello or an ack).
    ack_sent: u64,
    /// Credit limit as last granted on this connection: data at or above it is a violation.
    credit_sent: u64,
    /// Subscription generation last sent on this connection.
    subscription_sent: Option<u64>,
}

impl LocalConnection {
    /// A new connection on `stream`, opened at `now_ns` (monotonic). Allocates nothing.
    pub fn new(settings: &ConnectionSettings, stream: InboundStream, now_ns: u64) -> Self {
        Self {
            reader: RecordReader::new(Role::Cloud),
            state: LocalState {
                link: Link::new(settings, Role::Local, now_ns),
                stream,
                ack_sent: 0,
                credit_sent: 0,
                subscription_sent: None,
            },
        }
    }

    /// Read the peer's bytes, received at `now_ns`. Records may be split anywhere across
    /// calls. An error ends the connection: every later call answers the same reason, and
    /// [`write_into`](Self::write_into) still writes our goodbye. Frames read before the
    /// error stay queued.
    pub fn feed(&mut self, now_ns: u64, bytes: &[u8]) -> Result<(), DisconnectReason> {
        if let Some(reason) = self.state.link.closed() {
            return Err(reason);
        }
        let state = &mut self.state;
        self.reader
            .read(bytes, |offset, record| state.on_record(now_ns, offset, record))
            .map_err(|reason| state.link.fail(reason))
    }

    /// Write what is due into `out`, whole records only, and answer the bytes written: our
    /// hello, then (once established) the subscription if not yet sent on this connection,
    /// an acknowledgement and a credit record when they moved, else a heartbeat when idle;
    /// after the connection ended, our goodbye once. With room for at least
    /// [`MAX_RECORD_LEN`](crate::MAX_RECORD_LEN) bytes it always makes progress.
    pub fn write_into(&mut self, now_ns: u64, out: &mut [u8]) -> usize {
        let state = &mut self.state;
        let config = *state.link.config();
        let stream = &state.stream;
        let hello = || Hello {
            min_version: config.min_version,
            max_version: config.max_version,
            role: Role::Local,
            capabilities: config.capabilities,
            epoch: stream.own_epoch(),
            resume_epoch: stream.peer_epoch(),
            next_expected: stream.next_expected(),
            resend_from: 0,
        };
        let mut pos = 0;
        if state.link.write_opening(hello, out, &mut pos) {
            state.write_control(out, &mut pos);
            state.link.write_heartbeat(now_ns, out, &mut pos);
        }
        state.link.wrote(now_ns, pos);
        pos
    }

    /// Take the oldest received frame (the stream's [`pop`](InboundStream::pop)).
    pub fn pop_frame(&mut self) -> Option<FrameBuf> {
        self.state.stream.pop()
    }

    /// Ask the peer for `subscription`; the next [`write_into`](Self::write_into) sends it.
    pub fn set_subscription(&mut self, subscription: Subscription) {
        self.state.stream.set_subscription(subscription);
    }

    /// Check the timers at `now_ns`: a dead peer ends the connection (and queues a goodbye);
    /// a heartbeat may be due. (A receiver has nothing out, so it never finds a stall.)
    pub fn poll_timers(&mut self, now_ns: u64) -> Result<TimerStatus, DisconnectReason> {
        self.state.link.poll_timers(now_ns, |stalled_ns| DisconnectReason::StalledPeer {
            stalled_ns,
            unacked: 0,
            waiting: 0,
        })
    }

    /// When [`poll_timers`](Self::poll_timers) next has something to check (`None` once closed).
    pub fn next_timer_ns(&self) -> Option<u64> {
        self.state.link.next_timer_ns()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.state.link.poll_event()
    }

    /// End the connection for `reason`; the next [`write_into`](Self::write_into) writes the goodbye.
    pub fn close(&mut self, reason: GoodbyeReason) {
        self.state.link.fail(DisconnectReason::Closed(reason));
    }

    /// The peer's stream ended (the transport read EOF): why the connection ended. A record
    /// cut short is a [`Violation::TruncatedAtClose`].
    pub fn end_of_stream(&mut self) -> DisconnectReason {
        let reason = match self.reader.finish() {
            Ok(()) => DisconnectReason::EndOfStream,
            Err(error) => DisconnectReason::Protocol(error),
        };
        self.state.link.fail(reason)
    }

    /// Whether both hellos are exchanged and the connection is open.
    pub fn is_established(&self) -> bool {
        self.state.link.negotiated().is_some() && self.state.link.closed().is_none()
    }

    /// What the hello exchange settled, once it did.
    pub fn negotiated(&self) -> Option<Negotiated> {
        self.state.link.negotiated()
    }

    /// Why the connection ended, once it did.
    pub fn close_reason(&self) -> Option<DisconnectReason> {
        self.state.link.closed()
    }

    /// Bytes of a partial record held (always below [`MAX_RECORD_LEN`](crate::MAX_RECORD_LEN)).
    pub fn buffered_len(&self) -> usize {
        self.reader.buffered_len()
    }

    /// The credit limit last granted on this connection.
    pub fn credit_granted(&self) -> u64 {
        self.state.credit_sent
    }

    /// The inbound stream.
    pub fn stream(&self) -> &InboundStream {
        &self.state.stream
    }

    /// The inbound stream, to take frames or change the subscription.
    pub fn stream_mut(&mut self) -> &mut InboundStream {
        &mut self.state.stream
    }

    /// End this connection's life and take the stream back, for the next connection.
    pub fn into_stream(self) -> InboundStream {
        self.state.stream
    }
}

impl std::fmt::Debug for LocalConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalConnection")
            .field("negotiated", &self.state.link.negotiated())
            .field("closed", &self.state.link.closed())
            .field("ack_sent", &self.state.ack_sent)
            .field("credit_sent", &self.state.credit_sent)
            .field("stream", &self.state.stream)
            .field("reader", &self.reader)
            .finish()
    }
}

impl LocalState {
    fn on_record(&mut self, now_ns: u64, offset: u64, record: Record<'_>) -> Result<(), DisconnectReason> {
        let kind = record.kind();
        self.link.on_record(now_ns, offset, kind)?;
        let error = |violation| ProtocolError { offset, kind: kind as u8, violation };
        match record {
            Record::Data { sequence, frame } => {
                if sequence >= self.credit_sent {
                    return Err(error(Violation::CreditExceeded { sequence, limit: self.credit_sent }).into());
                }
                let expected = self.stream.next_expected();
                if sequence < expected {
                    self.stream.drop_duplicate();
                } else if sequence > expected {
                    return Err(error(Violation::SequenceGap { expected, found: sequence }).into());
                } else if !self.stream.accept(frame) {
                    return Err(error(Violation::InboundFull { window: self.stream.window() }).into());
                }
            }
            Record::Hello(hello) => {
                let (version, capabilities) = self.link.accept_hello(offset, &hello)?;
                let epoch_changed = hello.epoch != self.stream.peer_epoch();
                if epoch_changed {
                    // A sender we hold no state for: follow it from the oldest frame it holds.
                    self.stream.follow_epoch(hello.epoch, hello.resend_from);
                } else if hello.resend_from > self.stream.next_expected() {
                    let (expected, resend_from) = (self.stream.next_expected(), hello.resend_from);
                    return Err(error(Violation::ResumeGap { expected, resend_from }).into());
                }
                let resume_from = self.stream.next_expected();
                // The sender resumes exactly here; nothing is acknowledged or granted beyond it yet.
                self.ack_sent = resume_from;
                self.credit_sent = resume_from;
                self.link.establish(Negotiated {
                    version,
                    capabilities,
                    peer_epoch: hello.epoch,
                    resume_from,
                    epoch_changed,
                });
            }
            Record::Heartbeat => {}
            Record::Goodbye(reason) => return Err(DisconnectReason::PeerGoodbye(reason)),
            // The reader refuses these from a cloud peer at their header; answered here too.
            Record::Credit { .. } | Record::Ack { .. } | Record::Subscription(_) => {
                return Err(error(Violation::NotAllowedFromPeer { peer: Role::Cloud }).into());
            }
        }
        Ok(())
    }

    /// Subscription (once per connection and per change), acknowledgement and credit.
    fn write_control(&mut self, out: &mut [u8], pos: &mut usize) {
        let generation = self.stream.subscription_generation();
        if self.subscription_sent != Some(generation)
            && put(Role::Local, &Record::Subscription(self.stream.subscription().as_list()), out, pos)
        {
            self.subscription_sent = Some(generation);
        }
        let next_expected = self.stream.next_expected();
        if next_expected > self.ack_sent && put(Role::Local, &Record::Ack { next_expected }, out, pos) {
            self.ack_sent = next_expected;
        }
        let limit = self.stream.credit_limit();
        if limit > self.credit_sent && put(Role::Local, &Record::Credit { limit }, out, pos) {
            self.credit_sent = limit;
        }
    }
}
