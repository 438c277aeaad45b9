//! Per-peer session state that outlives one connection: what a sender still holds and what a
//! receiver has had. A connection is built on a stream, and the stream is taken back from it
//! when the connection ends, so a reconnect resumes where the last one stopped.

use qp_wire::{FRAME_CAPACITY, FrameBuf};

use crate::error::{PushError, StreamError};
use crate::subscription::Subscription;

/// Most frames a stream's buffer may be configured to hold (128 MiB of slots).
pub const MAX_STREAM_FRAMES: usize = 1 << 20;

fn frame_slots(capacity: usize) -> Result<Box<[FrameBuf]>, StreamError> {
    if capacity == 0 || capacity > MAX_STREAM_FRAMES {
        return Err(StreamError::Capacity { capacity, max: MAX_STREAM_FRAMES });
    }
    Ok(vec![FrameBuf::default(); capacity].into_boxed_slice())
}

/// Step a ring index by `by` (`by <= len`, `index < len`) without a division.
fn ring_step(index: usize, by: usize, len: usize) -> usize {
    let stepped = index + by;
    if stepped >= len { stepped - len } else { stepped }
}

/// A cloud node's outbound stream to one peer: one bounded ring of frames, each queued
/// (not yet sent: no credit, or no connection) or sent and not yet acknowledged. A frame
/// leaves the ring only when the receiver acknowledges it, so a resume point is always held.
pub struct OutboundStream {
    epoch: u64,
    slots: Box<[FrameBuf]>,
    /// Slot of `first_unacked`.
    head: usize,
    /// Oldest sequence number held; everything below is acknowledged.
    first_unacked: u64,
    /// Sequence number the next pushed frame gets.
    next_sequence: u64,
    /// Highest sequence number ever sent, plus one.
    sent_high: u64,
    peer_subscription: Subscription,
}

impl OutboundStream {
    /// A stream for session `epoch` (this process's, never 0) holding up to `capacity` frames.
    /// Allocates its ring here, once.
    pub fn new(epoch: u64, capacity: usize) -> Result<Self, StreamError> {
        if epoch == 0 {
            return Err(StreamError::ZeroEpoch);
        }
        Ok(Self {
            epoch,
            slots: frame_slots(capacity)?,
            head: 0,
            first_unacked: 0,
            next_sequence: 0,
            sent_high: 0,
            peer_subscription: Subscription::EMPTY,
        })
    }

    /// Queue `frame` for sending; answers its bridge sequence number. The frame must decode
    /// (the peer would refuse it otherwise). A full ring is back-pressure: the frame is not
    /// taken, and the caller decides (wait, coalesce, or drop and count it).
    pub fn push(&mut self, frame: &FrameBuf) -> Result<u64, PushError> {
        if self.retained() == self.slots.len() {
            return Err(PushError::Backpressure { capacity: self.slots.len() });
        }
        frame.decode().map_err(PushError::InvalidFrame)?;
        let sequence = self.next_sequence;
        let slot = ring_step(self.head, self.retained(), self.slots.len());
        self.slots[slot] = *frame;
        self.next_sequence += 1;
        Ok(sequence)
    }

    /// This stream's session epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Frames the ring holds at most.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Frames held: queued or awaiting acknowledgement.
    pub fn retained(&self) -> usize {
        (self.next_sequence - self.first_unacked) as usize
    }

    /// Whether [`push`](Self::push) would report back-pressure.
    pub fn is_full(&self) -> bool {
        self.retained() == self.slots.len()
    }

    /// Oldest sequence number not yet acknowledged (all below it are).
    pub fn first_unacked(&self) -> u64 {
        self.first_unacked
    }

    /// The sequence number the next pushed frame gets.
    pub fn next_sequence(&self) -> u64 {
        self.next_sequence
    }

    /// Highest sequence number ever sent, plus one.
    pub fn sent_high(&self) -> u64 {
        self.sent_high
    }

    /// The subscription the peer sent last (empty until it sends one). The application sends
    /// only frames for these assets; the protocol core does not look inside frames.
    pub fn peer_subscription(&self) -> &Subscription {
        &self.peer_subscription
    }

    pub(crate) fn set_peer_subscription(&mut self, subscription: Subscription) {
        self.peer_subscription = subscription;
    }

    /// The frame with `sequence`, which must be held (`first_unacked <= sequence < next_sequence`).
    pub(crate) fn frame(&self, sequence: u64) -> &FrameBuf {
        &self.slots[ring_step(self.head, (sequence - self.first_unacked) as usize, self.slots.len())]
    }

    /// Everything below `next_expected` is acknowledged (`first_unacked <= next_expected <= next_sequence`).
    pub(crate) fn acknowledge(&mut self, next_expected: u64) {
        let released = (next_expected - self.first_unacked) as usize;
        self.head = ring_step(self.head, released, self.slots.len());
        self.first_unacked = next_expected;
    }

    pub(crate) fn note_sent(&mut self, next_send: u64) {
        self.sent_high = self.sent_high.max(next_send);
    }
}

impl std::fmt::Debug for OutboundStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundStream")
            .field("epoch", &self.epoch)
            .field("capacity", &self.slots.len())
            .field("first_unacked", &self.first_unacked)
            .field("sent_high", &self.sent_high)
            .field("next_sequence", &self.next_sequence)
            .finish()
    }
}

/// A local node's inbound stream from one peer: where it is in the peer's sequence, the
/// frames received and not yet taken by the application (at most `window`, which is also the
/// credit it grants), and the subscription it asks for.
pub struct InboundStream {
    own_epoch: u64,
    peer_epoch: u64,
    next_expected: u64,
    slots: Box<[FrameBuf]>,
    head: usize,
    len: usize,
    subscription: Subscription,
    subscription_generation: u64,
    duplicates_dropped: u64,
    frames_received: u64,
}

impl InboundStream {
    /// A stream for this node's session `own_epoch` (never 0) that holds up to `window`
    /// received frames. Allocates its queue here, once.
    pub fn new(own_epoch: u64, window: usize) -> Result<Self, StreamError> {
        if own_epoch == 0 {
            return Err(StreamError::ZeroEpoch);
        }
        Ok(Self {
            own_epoch,
            peer_epoch: 0,
            next_expected: 0,
            slots: frame_slots(window)?,
            head: 0,
            len: 0,
            subscription: Subscription::EMPTY,
            subscription_generation: 0,
            duplicates_dropped: 0,
            frames_received: 0,
        })
    }

    /// The oldest received frame, in place.
    pub fn front(&self) -> Option<&FrameBuf> {
        (self.len > 0).then(|| &self.slots[self.head])
    }

    /// Take the oldest received frame; its slot becomes credit for the sender.
    pub fn pop(&mut self) -> Option<FrameBuf> {
        let frame = *self.front()?;
        self.head = ring_step(self.head, 1, self.slots.len());
        self.len -= 1;
        Some(frame)
    }

    /// Ask the peer for `subscription`; sent on the current connection and after every
    /// reconnect.
    pub fn set_subscription(&mut self, subscription: Subscription) {
        self.subscription = subscription;
        self.subscription_generation += 1;
    }

    /// The subscription this node asks for.
    pub fn subscription(&self) -> &Subscription {
        &self.subscription
    }

    /// This node's session epoch.
    pub fn own_epoch(&self) -> u64 {
        self.own_epoch
    }

    /// The sender epoch whose sequence numbers this stream follows (0: none yet).
    pub fn peer_epoch(&self) -> u64 {
        self.peer_epoch
    }

    /// The next sequence number expected from the peer.
    pub fn next_expected(&self) -> u64 {
        self.next_expected
    }

    /// Frames received and not yet taken.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No frame waiting.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Frames the queue holds at most: the credit window.
    pub fn window(&self) -> usize {
        self.slots.len()
    }

    /// Frames received (duplicates excluded) since the stream was made.
    pub fn frames_received(&self) -> u64 {
        self.frames_received
    }

    /// Data records dropped because their sequence number had already been received.
    pub fn duplicates_dropped(&self) -> u64 {
        self.duplicates_dropped
    }

    /// The credit limit this stream can grant: sequence numbers below it fit in the queue.
    pub(crate) fn credit_limit(&self) -> u64 {
        // A hello names at most MAX_SEQUENCE, so this cannot overflow; saturate anyway.
        self.next_expected.saturating_add((self.slots.len() - self.len) as u64)
    }

    pub(crate) fn subscription_generation(&self) -> u64 {
        self.subscription_generation
    }

    /// The peer is a new sender epoch: follow it from `first_sequence`. Frames still queued
    /// stay for the application.
    pub(crate) fn follow_epoch(&mut self, peer_epoch: u64, first_sequence: u64) {
        self.peer_epoch = peer_epoch;
        self.next_expected = first_sequence;
    }

    pub(crate) fn drop_duplicate(&mut self) {
        self.duplicates_dropped += 1;
    }

    /// Store the frame with sequence `next_expected`; false if the queue is full.
    pub(crate) fn accept(&mut self, frame: &[u8]) -> bool {
        if self.len == self.slots.len() || frame.len() > FRAME_CAPACITY {
            return false;
        }
        let slot = ring_step(self.head, self.len, self.slots.len());
        let bytes = self.slots[slot].as_slot_bytes_mut();
        bytes[..frame.len()].copy_from_slice(frame);
        // Zero the rest, so a slot holds exactly what the sender's frame held.
        bytes[frame.len()..].fill(0);
        self.len += 1;
        self.next_expected += 1;
        self.frames_received += 1;
        true
    }
}

impl std::fmt::Debug for InboundStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundStream")
            .field("own_epoch", &self.own_epoch)
            .field("peer_epoch", &self.peer_epoch)
            .field("next_expected", &self.next_expected)
            .field("queued", &self.len)
            .field("window", &self.slots.len())
            .field("subscription", &self.subscription)
            .finish()
    }
}
