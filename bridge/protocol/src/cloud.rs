//! The cloud node's connection: the sending side. The only type in this crate that can put
//! a data record on the wire.

use qp_wire::FrameBuf;

use crate::config::ConnectionSettings;
use crate::error::{DisconnectReason, ProtocolError, PushError, Violation};
use crate::link::{Event, Link, Negotiated, TimerStatus};
use crate::reader::RecordReader;
use crate::record::{GoodbyeReason, Hello, RECORD_HEADER_LEN, Record, RecordKind, Role, SEQUENCE_LEN, put_header};
use crate::stream::OutboundStream;
use crate::subscription::Subscription;

/// One connection of a cloud node to a local peer, built on the peer's [`OutboundStream`]
/// and giving it back ([`into_stream`](Self::into_stream)) when the connection ends.
///
/// Drive it with the peer's bytes ([`feed`](Self::feed)), ask it for bytes to send
/// ([`write_into`](Self::write_into)), and tick it ([`poll_timers`](Self::poll_timers)).
/// After the hello exchange it resends, from the receiver's next expected sequence number,
/// whatever the receiver did not get, then sends queued frames as credit allows.
pub struct CloudConnection {
    reader: RecordReader,
    state: CloudState,
}

struct CloudState {
    link: Link,
    stream: OutboundStream,
    /// Next sequence number to write on this connection.
    next_send: u64,
    /// Sequence numbers below this may be sent (the receiver's latest credit).
    credit_limit: u64,
}

impl CloudConnection {
    /// A new connection on `stream`, opened at `now_ns` (monotonic). Allocates nothing.
    pub fn new(settings: &ConnectionSettings, stream: OutboundStream, now_ns: u64) -> Self {
        Self {
            reader: RecordReader::new(Role::Local),
            state: CloudState { link: Link::new(settings, Role::Cloud, now_ns), stream, next_send: 0, credit_limit: 0 },
        }
    }

    /// Read the peer's bytes, received at `now_ns`. Records may be split anywhere across
    /// calls. An error ends the connection: every later call answers the same reason, and
    /// [`write_into`](Self::write_into) still writes our goodbye.
    pub fn feed(&mut self, now_ns: u64, bytes: &[u8]) -> Result<(), DisconnectReason> {
        if let Some(reason) = self.state.link.closed() {
            return Err(reason);
        }
        let state = &mut self.state;
        match self.reader.read(bytes, |offset, record| state.on_record(now_ns, offset, record)) {
            Ok(()) => {
                state.track_stall(now_ns, false);
                Ok(())
            }
            Err(reason) => Err(state.link.fail(reason)),
        }
    }

    /// Write what is due into `out`, whole records only, and answer the bytes written: our
    /// hello, then (once established) data records within credit, else a heartbeat when
    /// idle; after the connection ended, our goodbye once. With room for at least
    /// [`MAX_RECORD_LEN`](crate::MAX_RECORD_LEN) bytes it always makes progress.
    pub fn write_into(&mut self, now_ns: u64, out: &mut [u8]) -> usize {
        let state = &mut self.state;
        let config = *state.link.config();
        let (epoch, resend_from) = (state.stream.epoch(), state.stream.first_unacked());
        let hello = || Hello {
            min_version: config.min_version,
            max_version: config.max_version,
            role: Role::Cloud,
            capabilities: config.capabilities,
            epoch,
            resume_epoch: 0,
            next_expected: 0,
            resend_from,
        };
        let mut pos = 0;
        if state.link.write_opening(hello, out, &mut pos) {
            state.write_data(out, &mut pos);
            state.link.write_heartbeat(now_ns, out, &mut pos);
        }
        state.link.wrote(now_ns, pos);
        state.track_stall(now_ns, false);
        pos
    }

    /// Queue `frame` for the peer; answers its bridge sequence number. It goes out on the
    /// next [`write_into`](Self::write_into) when credit allows, and is held until acknowledged.
    /// A full buffer is [`PushError::Backpressure`]: nothing is dropped, the caller keeps the frame.
    pub fn send_frame(&mut self, frame: &FrameBuf) -> Result<u64, PushError> {
        self.state.stream.push(frame)
    }

    /// Check the timers at `now_ns`: a dead or stalled peer ends the connection (and queues a
    /// goodbye); a heartbeat may be due.
    pub fn poll_timers(&mut self, now_ns: u64) -> Result<TimerStatus, DisconnectReason> {
        let state = &mut self.state;
        state.track_stall(now_ns, false);
        let unacked = state.next_send.saturating_sub(state.stream.first_unacked());
        let waiting = state.stream.next_sequence().saturating_sub(state.next_send);
        state.link.poll_timers(now_ns, |stalled_ns| DisconnectReason::StalledPeer { stalled_ns, unacked, waiting })
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

    /// Sequence numbers below this may be sent on this connection.
    pub fn credit_limit(&self) -> u64 {
        self.state.credit_limit
    }

    /// The next sequence number this connection writes.
    pub fn next_send(&self) -> u64 {
        self.state.next_send
    }

    /// The outbound stream.
    pub fn stream(&self) -> &OutboundStream {
        &self.state.stream
    }

    /// The subscription the peer sent last.
    pub fn peer_subscription(&self) -> &Subscription {
        self.state.stream.peer_subscription()
    }

    /// End this connection's life and take the stream back, for the next connection.
    pub fn into_stream(self) -> OutboundStream {
        self.state.stream
    }
}

impl std::fmt::Debug for CloudConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudConnection")
            .field("negotiated", &self.state.link.negotiated())
            .field("closed", &self.state.link.closed())
            .field("next_send", &self.state.next_send)
            .field("credit_limit", &self.state.credit_limit)
            .field("stream", &self.state.stream)
            .field("reader", &self.reader)
            .finish()
    }
}

impl CloudState {
    fn on_record(&mut self, now_ns: u64, offset: u64, record: Record<'_>) -> Result<(), DisconnectReason> {
        let kind = record.kind();
        self.link.on_record(now_ns, offset, kind)?;
        let error = |violation| ProtocolError { offset, kind: kind as u8, violation };
        match record {
            Record::Hello(hello) => {
                let (version, capabilities) = self.link.accept_hello(offset, &hello)?;
                let epoch_changed = hello.resume_epoch != self.stream.epoch();
                let resume_from = if epoch_changed {
                    // The receiver follows our stream from our hello's `resend_from`: all we hold.
                    self.stream.first_unacked()
                } else {
                    let (first_unacked, sent) = (self.stream.first_unacked(), self.stream.sent_high());
                    let found = hello.next_expected;
                    if found < first_unacked || found > sent {
                        return Err(error(Violation::ResumeOutOfRange { first_unacked, sent, found }).into());
                    }
                    // Its next expected acknowledges everything before it.
                    self.stream.acknowledge(found);
                    found
                };
                self.next_send = resume_from;
                // No credit until the receiver's first credit record.
                self.credit_limit = resume_from;
                self.link.establish(Negotiated {
                    version,
                    capabilities,
                    peer_epoch: hello.epoch,
                    resume_from,
                    epoch_changed,
                });
            }
            Record::Credit { limit } => {
                if limit < self.credit_limit {
                    return Err(error(Violation::CreditWentBackwards { limit: self.credit_limit, found: limit }).into());
                }
                if limit > self.credit_limit {
                    self.credit_limit = limit;
                    self.track_stall(now_ns, true);
                }
            }
            Record::Ack { next_expected } => {
                let acked = self.stream.first_unacked();
                if next_expected < acked {
                    return Err(error(Violation::AckWentBackwards { acked, found: next_expected }).into());
                }
                if next_expected > self.next_send {
                    return Err(error(Violation::AckBeyondSent { sent: self.next_send, found: next_expected }).into());
                }
                if next_expected > acked {
                    self.stream.acknowledge(next_expected);
                    self.track_stall(now_ns, true);
                }
            }
            Record::Heartbeat => {}
            Record::Subscription(list) => {
                self.stream.set_peer_subscription(Subscription::from_list(list));
                self.link.subscription_changed();
            }
            Record::Goodbye(reason) => return Err(DisconnectReason::PeerGoodbye(reason)),
            // The reader refuses data from a local peer at its header; answered here too.
            Record::Data { .. } => return Err(error(Violation::NotAllowedFromPeer { peer: Role::Local }).into()),
        }
        Ok(())
    }

    /// Data records from `next_send` up to the credit limit and what is queued, while they
    /// fit. The hot path: a header, the sequence number and one copy of the frame per record.
    fn write_data(&mut self, out: &mut [u8], pos: &mut usize) {
        let end = self.credit_limit.min(self.stream.next_sequence());
        while self.next_send < end {
            let frame = self.stream.frame(self.next_send).as_frame_bytes();
            let body_len = SEQUENCE_LEN + frame.len();
            let record = out.get_mut(*pos..*pos + RECORD_HEADER_LEN + body_len);
            let Some((header, body)) = record.and_then(|record| record.split_first_chunk_mut::<RECORD_HEADER_LEN>())
            else {
                break;
            };
            put_header(header, RecordKind::Data, body_len);
            let (sequence, frame_bytes) = body.split_at_mut(SEQUENCE_LEN);
            sequence.copy_from_slice(&self.next_send.to_le_bytes());
            frame_bytes.copy_from_slice(frame);
            *pos += RECORD_HEADER_LEN + body_len;
            self.next_send += 1;
        }
        self.stream.note_sent(self.next_send);
    }

    /// The sender has work out: frames unacknowledged, or frames waiting on zero credit.
    fn track_stall(&mut self, now_ns: u64, progress: bool) {
        let established = self.link.negotiated().is_some();
        let unacked = self.stream.first_unacked() < self.next_send;
        let starved = self.next_send < self.stream.next_sequence() && self.next_send >= self.credit_limit;
        self.link.track_stall(now_ns, established && (unacked || starved), progress);
    }
}
