//! Typed errors. Every error is `Copy` and holds no heap data, so refusing hostile input
//! allocates nothing; each names what was wrong and the values seen.

use qp_wire::DecodeError;

use crate::record::{RecordKind, Role};

/// A broken protocol rule, found in the peer's bytes: what was wrong ([`Violation`]) and
/// where (the byte offset of the record's first byte in this connection's stream, and the
/// record's kind byte as received).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{violation} ({} record at stream byte {offset})", kind_name(*.kind))]
pub struct ProtocolError {
    /// Offset in the connection's received stream of the offending record's first byte.
    pub offset: u64,
    /// The record's kind byte as received (0 when the header itself was cut short).
    pub kind: u8,
    /// What was wrong.
    pub violation: Violation,
}

impl ProtocolError {
    /// The record kind, if the kind byte names one.
    pub fn record_kind(&self) -> Option<RecordKind> {
        RecordKind::from_wire(self.kind)
    }
}

fn kind_name(kind: u8) -> KindName {
    KindName(kind)
}

struct KindName(u8);

impl std::fmt::Display for KindName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match RecordKind::from_wire(self.0) {
            Some(kind) => f.write_str(kind.name()),
            None => write!(f, "unknown kind {:#04x}", self.0),
        }
    }
}

/// The protocol rules a peer can break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    // Record framing: found from the bytes alone.
    /// The kind byte names no record kind.
    #[error("unknown record kind")]
    UnknownKind,
    /// Flag bits this version does not define are set.
    #[error("reserved flags {flags:#04x} set")]
    ReservedFlags {
        /// The flags byte received.
        flags: u8,
    },
    /// The direction allow-list: a node of the peer's role may not send this kind.
    #[error("a {peer} node may not send this record kind")]
    NotAllowedFromPeer {
        /// The peer's role.
        peer: Role,
    },
    /// The declared body length is beyond the kind's maximum.
    #[error("declared body length {length} is over the kind's maximum {max}")]
    BodyTooLong {
        /// Declared body length.
        length: usize,
        /// The kind's longest body.
        max: usize,
    },
    /// The declared body length is below the kind's layout.
    #[error("declared body length {length} is under the kind's minimum {min}")]
    BodyTooShort {
        /// Declared body length.
        length: usize,
        /// The kind's shortest body.
        min: usize,
    },
    /// The stream ended inside a record.
    #[error("stream ended inside a record: {have} of {need} bytes")]
    TruncatedAtClose {
        /// Bytes of the record received.
        have: usize,
        /// Bytes the record needs (its header alone when that was cut short).
        need: usize,
    },
    /// A hello that does not start with [`HELLO_MAGIC`](crate::HELLO_MAGIC): not a bridge peer.
    #[error("hello magic {found:#010x} is not the bridge's")]
    BadHelloMagic {
        /// The first four bytes, little-endian.
        found: u32,
    },
    /// A hello field out of its range.
    #[error("hello field {field} = {value} is invalid")]
    InvalidHello {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u64,
    },
    /// A data record's frame does not decode.
    #[error("data record's frame does not decode: {0}")]
    BadFrame(DecodeError),
    /// A data record's frame decodes, but the record holds more bytes than the frame declares.
    #[error("data record holds {record} frame bytes, the frame declares {declared}")]
    FrameLengthMismatch {
        /// Frame bytes in the record.
        record: usize,
        /// The frame header's length.
        declared: usize,
    },
    /// A subscription record that is not a canonical asset list.
    #[error("bad subscription: {0}")]
    BadSubscription(SubscriptionError),

    // Connection state: found against what was said before.
    /// A record other than hello came first.
    #[error("record before the peer's hello")]
    RecordBeforeHello,
    /// A second hello on one connection.
    #[error("a second hello")]
    DuplicateHello,
    /// The peer claims our own role.
    #[error("peer says it is {theirs}, as are we")]
    WrongRole {
        /// The role in the peer's hello.
        theirs: Role,
    },
    /// The version ranges do not meet.
    #[error("no common protocol version: we speak {ours_min}..={ours_max}, the peer {theirs_min}..={theirs_max}")]
    NoCommonVersion {
        /// Our lowest version.
        ours_min: u16,
        /// Our highest version.
        ours_max: u16,
        /// The peer's lowest version.
        theirs_min: u16,
        /// The peer's highest version.
        theirs_max: u16,
    },
    /// A data record beyond the credit this node granted.
    #[error("data sequence {sequence} sent without credit (granted below {limit})")]
    CreditExceeded {
        /// The record's sequence number.
        sequence: u64,
        /// The credit limit granted on this connection.
        limit: u64,
    },
    /// A data record skips sequence numbers.
    #[error("sequence gap: expected {expected}, got {found}")]
    SequenceGap {
        /// The next sequence number expected.
        expected: u64,
        /// The one received.
        found: u64,
    },
    /// A credit limit lower than one granted before on this connection.
    #[error("credit went backwards from {limit} to {found}")]
    CreditWentBackwards {
        /// The limit granted before.
        limit: u64,
        /// The new, lower one.
        found: u64,
    },
    /// An acknowledgement lower than one received before.
    #[error("acknowledgement went backwards from {acked} to {found}")]
    AckWentBackwards {
        /// What was acknowledged before.
        acked: u64,
        /// The new, lower value.
        found: u64,
    },
    /// An acknowledgement of data never sent on this connection.
    #[error("acknowledgement {found} is beyond what was sent ({sent})")]
    AckBeyondSent {
        /// Next sequence number to send.
        sent: u64,
        /// The acknowledgement.
        found: u64,
    },
    /// The receiver's resume point (same epoch) is outside what the sender holds.
    #[error("resume point {found} is outside the unacknowledged range {first_unacked}..={sent}")]
    ResumeOutOfRange {
        /// Oldest frame the sender holds.
        first_unacked: u64,
        /// Highest sequence number ever sent, plus one.
        sent: u64,
        /// The receiver's next expected.
        found: u64,
    },
    /// The sender (same epoch) no longer holds frames this receiver has not received.
    #[error("sender resends from {resend_from}, but {expected} was never received")]
    ResumeGap {
        /// Our next expected.
        expected: u64,
        /// The sender's oldest held frame.
        resend_from: u64,
    },
    /// A data record with no room in the inbound queue (impossible within granted credit;
    /// kept as an error rather than a panic).
    #[error("inbound queue full ({window} frames)")]
    InboundFull {
        /// The queue's capacity.
        window: usize,
    },
}

/// Why a subscription is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionError {
    /// More assets than a subscription holds.
    #[error("{count} assets, at most {max}")]
    TooManyAssets {
        /// Assets named.
        count: usize,
        /// The bound.
        max: usize,
    },
    /// Asset id 0 names no asset.
    #[error("asset id 0 at index {index}")]
    ZeroAsset {
        /// Position in the list.
        index: usize,
    },
    /// Ids not strictly increasing (unsorted or repeated).
    #[error("asset ids not strictly increasing at index {index}")]
    NotSorted {
        /// Position in the list.
        index: usize,
    },
    /// The count does not match the body's length.
    #[error("count {count} does not fit a {body_len}-byte body")]
    LengthMismatch {
        /// The count field.
        count: usize,
        /// The body's length.
        body_len: usize,
    },
}

/// Why a connection ended. The transport logs it (rate-limited) and closes the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DisconnectReason {
    /// The peer broke the protocol.
    #[error("protocol violation: {0}")]
    Protocol(#[from] ProtocolError),
    /// Nothing received for `dead_after`.
    #[error("dead peer: nothing received for {silent_ns} ns")]
    DeadPeer {
        /// Time since the last complete record.
        silent_ns: u64,
    },
    /// The peer stopped reading: unacknowledged data, or frames waiting on zero credit, and
    /// no acknowledgement or credit progress for `stall_after`.
    #[error(
        "stalled peer: no progress for {stalled_ns} ns with {unacked} frames unacknowledged, {waiting} waiting on credit"
    )]
    StalledPeer {
        /// Time without progress.
        stalled_ns: u64,
        /// Frames sent and not acknowledged.
        unacked: u64,
        /// Frames queued and not sent for want of credit.
        waiting: u64,
    },
    /// The peer said goodbye.
    #[error("peer said goodbye: {0}")]
    PeerGoodbye(crate::GoodbyeReason),
    /// This node closed the connection ([`close`](crate::CloudConnection::close)).
    #[error("closed by us: {0}")]
    Closed(crate::GoodbyeReason),
    /// The peer's stream ended between records, with no goodbye.
    #[error("peer ended the stream without a goodbye")]
    EndOfStream,
}

impl DisconnectReason {
    /// The goodbye this node sends the peer for this reason, if any is worth sending.
    pub fn goodbye(&self) -> Option<crate::GoodbyeReason> {
        use crate::GoodbyeReason;
        match self {
            DisconnectReason::Protocol(error) => Some(match error.violation {
                Violation::NoCommonVersion { .. } => GoodbyeReason::VersionMismatch,
                _ => GoodbyeReason::ProtocolViolation,
            }),
            DisconnectReason::DeadPeer { .. } => Some(GoodbyeReason::DeadPeer),
            DisconnectReason::StalledPeer { .. } => Some(GoodbyeReason::StalledPeer),
            DisconnectReason::Closed(reason) => Some(*reason),
            DisconnectReason::PeerGoodbye(_) | DisconnectReason::EndOfStream => None,
        }
    }
}

/// Why a record cannot be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The direction allow-list: this role may not send this kind.
    #[error("a {role} node may not send {kind} records")]
    NotAllowed {
        /// The sender's role.
        role: Role,
        /// The refused kind.
        kind: RecordKind,
    },
    /// The output buffer is too small for the record.
    #[error("record needs {needed} bytes, {available} available")]
    BufferTooSmall {
        /// The record's length.
        needed: usize,
        /// Room in the buffer.
        available: usize,
    },
    /// The data record's frame does not decode.
    #[error("frame does not decode: {0}")]
    InvalidFrame(DecodeError),
    /// The frame bytes given are not exactly the frame's declared length.
    #[error("frame declares {declared} bytes, {given} given")]
    FrameLength {
        /// The frame header's length.
        declared: usize,
        /// Bytes given.
        given: usize,
    },
}

/// Why a frame was not queued for sending. Nothing is dropped silently: the caller keeps
/// its frame and decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The outbound buffer is full of frames queued or awaiting acknowledgement.
    #[error("outbound buffer full ({capacity} frames): back-pressure")]
    Backpressure {
        /// The buffer's capacity.
        capacity: usize,
    },
    /// The frame does not decode; the peer would refuse it.
    #[error("frame does not decode: {0}")]
    InvalidFrame(DecodeError),
}

/// A connection configuration that cannot work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The version range is empty, or not within what this build speaks.
    #[error("versions {min}..={max} are not a non-empty range within {supported_min}..={supported_max}")]
    Versions {
        /// Configured lowest.
        min: u16,
        /// Configured highest.
        max: u16,
        /// Lowest this build speaks.
        supported_min: u16,
        /// Highest this build speaks.
        supported_max: u16,
    },
    /// A duration of zero.
    #[error("{field} must be above zero")]
    ZeroDuration {
        /// The setting.
        field: &'static str,
    },
    /// A peer would be declared dead between two of its heartbeats.
    #[error("dead_after ({dead_after_ns} ns) must exceed heartbeat_interval ({heartbeat_interval_ns} ns)")]
    DeadBeforeHeartbeat {
        /// The configured dead-peer time.
        dead_after_ns: u64,
        /// The configured heartbeat interval.
        heartbeat_interval_ns: u64,
    },
}

/// A stream that cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// Epoch 0 means "no state" on the wire.
    #[error("a session epoch must not be 0")]
    ZeroEpoch,
    /// A capacity of zero, or beyond [`MAX_STREAM_FRAMES`](crate::MAX_STREAM_FRAMES).
    #[error("capacity {capacity} is not within 1..={max} frames")]
    Capacity {
        /// Configured capacity.
        capacity: usize,
        /// The bound.
        max: usize,
    },
}
