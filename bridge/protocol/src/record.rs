//! Records: how the bridge's byte stream is cut up, and the one encoder every record that
//! leaves a connection goes through (except the sender's data fast path, see `cloud.rs`).
//!
//! A record is a 4-byte header (body length `u16`, kind `u8`, flags `u8`, little-endian)
//! and a body whose length each kind bounds. Layouts: `DESIGN.md`, "Records".

use qp_wire::{FRAME_CAPACITY, HEADER_LEN as FRAME_HEADER_LEN};

use crate::error::EncodeError;
use crate::subscription::{AssetList, MAX_SUBSCRIPTION_ASSETS};

/// Bytes of every record's header: body length (`u16`), kind (`u8`), flags (`u8`).
pub const RECORD_HEADER_LEN: usize = 4;
/// Lowest protocol version this build speaks.
pub const MIN_PROTOCOL_VERSION: u16 = 1;
/// Highest protocol version this build speaks.
pub const MAX_PROTOCOL_VERSION: u16 = 1;
/// `QPBR` as a little-endian `u32`: the first field of every hello, so a stream that is not
/// the bridge (a wrong port, a stray client) fails on its first record.
pub const HELLO_MAGIC: u32 = u32::from_le_bytes(*b"QPBR");
/// Body bytes of a version-1 hello.
pub const HELLO_LEN: usize = 56;
/// Longest hello body accepted: later versions may append fields, which this build ignores.
pub const HELLO_MAX_LEN: usize = 256;
/// Highest sequence number a hello may name (2^62): far beyond any stream's life (a
/// million frames a second for 146,000 years), and low enough that no sum of a sequence
/// number and a window can overflow.
pub const MAX_SEQUENCE: u64 = 1 << 62;
/// Bytes of the bridge sequence number in front of a data record's frame.
pub const SEQUENCE_LEN: usize = 8;
/// Shortest data record body: a sequence number and a frame header.
pub const DATA_MIN_LEN: usize = SEQUENCE_LEN + FRAME_HEADER_LEN;
/// Longest data record body: a sequence number and a full frame slot.
pub const DATA_MAX_LEN: usize = SEQUENCE_LEN + FRAME_CAPACITY;
/// Longest subscription body: count, reserved, and the asset ids.
pub const SUBSCRIPTION_MAX_LEN: usize = 4 + 4 * MAX_SUBSCRIPTION_ASSETS;
/// Body bytes of a goodbye: reason code (`u16`) and two reserved bytes.
pub const GOODBYE_LEN: usize = 4;
/// The longest record of any kind, header included: the size of the reassembly buffer, and
/// the room a caller's output buffer needs for `write_into` to always make progress.
pub const MAX_RECORD_LEN: usize = RECORD_HEADER_LEN + SUBSCRIPTION_MAX_LEN;

const _: () = assert!(HELLO_MAX_LEN <= SUBSCRIPTION_MAX_LEN && DATA_MAX_LEN <= SUBSCRIPTION_MAX_LEN);
const _: () = assert!(HELLO_LEN <= HELLO_MAX_LEN && SUBSCRIPTION_MAX_LEN <= u16::MAX as usize);

/// The kinds of record. The numbers are the wire encoding; 0 is never a kind, so a run of
/// zero bytes is refused at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RecordKind {
    /// Versions, capabilities, role, epoch and resume point; the first record each way.
    Hello = 1,
    /// One `qp-wire` frame and its bridge sequence number (cloud to local only).
    Data = 2,
    /// The receiver's credit: the sender may send data with sequence numbers below it.
    Credit = 3,
    /// The receiver's cumulative acknowledgement: the next sequence number it expects.
    Ack = 4,
    /// Nothing to say; keeps an idle connection alive.
    Heartbeat = 5,
    /// The public asset universe a local node wants signals for.
    Subscription = 6,
    /// The sender is closing the connection, and why.
    Goodbye = 7,
}

impl RecordKind {
    /// Every kind, in wire order.
    pub const ALL: [RecordKind; 7] = [
        RecordKind::Hello,
        RecordKind::Data,
        RecordKind::Credit,
        RecordKind::Ack,
        RecordKind::Heartbeat,
        RecordKind::Subscription,
        RecordKind::Goodbye,
    ];

    /// The kind for a wire byte, if it is one.
    pub fn from_wire(value: u8) -> Option<Self> {
        Self::ALL.get(usize::from(value).wrapping_sub(1)).copied()
    }

    /// Lower-case name, for errors and logs.
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::Hello => "hello",
            RecordKind::Data => "data",
            RecordKind::Credit => "credit",
            RecordKind::Ack => "ack",
            RecordKind::Heartbeat => "heartbeat",
            RecordKind::Subscription => "subscription",
            RecordKind::Goodbye => "goodbye",
        }
    }

    /// Shortest and longest body a record of this kind may declare.
    pub const fn body_len_range(self) -> (usize, usize) {
        match self {
            RecordKind::Hello => (HELLO_LEN, HELLO_MAX_LEN),
            RecordKind::Data => (DATA_MIN_LEN, DATA_MAX_LEN),
            RecordKind::Credit | RecordKind::Ack => (8, 8),
            RecordKind::Heartbeat => (0, 0),
            RecordKind::Subscription => (4, SUBSCRIPTION_MAX_LEN),
            RecordKind::Goodbye => (GOODBYE_LEN, GOODBYE_LEN),
        }
    }
}

impl std::fmt::Display for RecordKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which end of the bridge a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Role {
    /// A cloud node: it sends signal frames.
    Cloud = 1,
    /// The local ("sovereign") node: it receives signal frames and sends only control records.
    Local = 2,
}

impl Role {
    /// The role for a wire byte, if it is one.
    pub fn from_wire(value: u8) -> Option<Self> {
        match value {
            1 => Some(Role::Cloud),
            2 => Some(Role::Local),
            _ => None,
        }
    }

    /// The role at the other end of a connection.
    pub fn peer(self) -> Role {
        match self {
            Role::Cloud => Role::Local,
            Role::Local => Role::Cloud,
        }
    }

    /// The direction allow-list: whether a node of this role may send records of `kind`.
    /// A local node sends control records only; nothing it holds can leave it as data.
    pub fn may_send(self, kind: RecordKind) -> bool {
        match self {
            Role::Cloud => {
                matches!(kind, RecordKind::Hello | RecordKind::Data | RecordKind::Heartbeat | RecordKind::Goodbye)
            }
            Role::Local => !matches!(kind, RecordKind::Data),
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Cloud => "cloud",
            Role::Local => "local",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a connection is being closed, as carried by a goodbye record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GoodbyeReason {
    /// The node is shutting down or dropping the connection on purpose.
    Shutdown,
    /// No protocol version in common.
    VersionMismatch,
    /// The peer broke the protocol.
    ProtocolViolation,
    /// Nothing heard from the peer for too long.
    DeadPeer,
    /// The peer stopped reading (no acknowledgement or credit progress).
    StalledPeer,
    /// A code this build does not know (a newer peer's reason); kept, not refused.
    Other(u16),
}

impl GoodbyeReason {
    /// The wire code.
    pub fn code(self) -> u16 {
        match self {
            GoodbyeReason::Shutdown => 1,
            GoodbyeReason::VersionMismatch => 2,
            GoodbyeReason::ProtocolViolation => 3,
            GoodbyeReason::DeadPeer => 4,
            GoodbyeReason::StalledPeer => 5,
            GoodbyeReason::Other(code) => code,
        }
    }

    /// The reason for a wire code; unknown codes become [`GoodbyeReason::Other`].
    pub fn from_code(code: u16) -> Self {
        match code {
            1 => GoodbyeReason::Shutdown,
            2 => GoodbyeReason::VersionMismatch,
            3 => GoodbyeReason::ProtocolViolation,
            4 => GoodbyeReason::DeadPeer,
            5 => GoodbyeReason::StalledPeer,
            other => GoodbyeReason::Other(other),
        }
    }
}

impl std::fmt::Display for GoodbyeReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GoodbyeReason::Shutdown => f.write_str("shutdown"),
            GoodbyeReason::VersionMismatch => f.write_str("no common protocol version"),
            GoodbyeReason::ProtocolViolation => f.write_str("protocol violation"),
            GoodbyeReason::DeadPeer => f.write_str("dead peer"),
            GoodbyeReason::StalledPeer => f.write_str("stalled peer"),
            GoodbyeReason::Other(code) => write!(f, "reason code {code}"),
        }
    }
}

/// The first record each way. Both roles send every field; the resume fields that do not
/// apply to a role are 0 (a cloud node receives no data, a local node sends none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    /// Lowest protocol version the sender speaks (at least 1).
    pub min_version: u16,
    /// Highest protocol version the sender speaks.
    pub max_version: u16,
    /// The sender's role; the two ends must differ.
    pub role: Role,
    /// Optional features the sender offers; a connection uses those both offer.
    pub capabilities: u64,
    /// The sender's session epoch: chosen at process start, never 0, so a restarted node
    /// is told apart from a reconnecting one.
    pub epoch: u64,
    /// Receiving side of resume: the peer epoch whose sequence numbers `next_expected`
    /// counts (0: the sender holds no state for the peer's stream).
    pub resume_epoch: u64,
    /// Receiving side of resume: the next data sequence number the sender expects from the peer.
    pub next_expected: u64,
    /// Sending side of resume: the oldest sequence number the sender still holds (its first
    /// unacknowledged frame); where a receiver without state for this epoch starts.
    pub resend_from: u64,
}

/// One record, borrowed from the bytes it was read from (or to be encoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record<'a> {
    /// See [`Hello`].
    Hello(Hello),
    /// A frame (its exact bytes, `qp_wire::decode` checked on receipt) and its bridge sequence number.
    Data {
        /// Bridge sequence number, per sender epoch, from 0.
        sequence: u64,
        /// The frame's bytes: exactly its declared length.
        frame: &'a [u8],
    },
    /// The sender may send data records with sequence numbers below `limit`.
    Credit {
        /// Exclusive upper bound on sequence numbers the sender may send.
        limit: u64,
    },
    /// Every sequence number below `next_expected` has arrived.
    Ack {
        /// The next sequence number the receiver expects.
        next_expected: u64,
    },
    /// An idle connection's keep-alive.
    Heartbeat,
    /// The assets the local node wants signals for (sorted, distinct, nonzero ids).
    Subscription(AssetList<'a>),
    /// The sender is closing the connection.
    Goodbye(GoodbyeReason),
}

impl Record<'_> {
    /// This record's kind.
    pub fn kind(&self) -> RecordKind {
        match self {
            Record::Hello(_) => RecordKind::Hello,
            Record::Data { .. } => RecordKind::Data,
            Record::Credit { .. } => RecordKind::Credit,
            Record::Ack { .. } => RecordKind::Ack,
            Record::Heartbeat => RecordKind::Heartbeat,
            Record::Subscription(_) => RecordKind::Subscription,
            Record::Goodbye(_) => RecordKind::Goodbye,
        }
    }

    fn body_len(&self) -> usize {
        match self {
            Record::Hello(_) => HELLO_LEN,
            Record::Data { frame, .. } => SEQUENCE_LEN + frame.len(),
            Record::Credit { .. } | Record::Ack { .. } => 8,
            Record::Heartbeat => 0,
            Record::Subscription(list) => 4 + list.wire_bytes().len(),
            Record::Goodbye(_) => GOODBYE_LEN,
        }
    }
}

/// The negotiated version for two version ranges: the highest both speak, if any.
pub fn negotiate_version(ours: (u16, u16), theirs: (u16, u16)) -> Option<u16> {
    let highest = ours.1.min(theirs.1);
    (ours.0.max(theirs.0) <= highest).then_some(highest)
}

/// Write a record's header into the first [`RECORD_HEADER_LEN`] bytes of `out`.
pub(crate) fn put_header(out: &mut [u8; RECORD_HEADER_LEN], kind: RecordKind, body_len: usize) {
    let [len_lo, len_hi] = (body_len as u16).to_le_bytes();
    *out = [len_lo, len_hi, kind as u8, 0];
}

/// Encode `record`, sent by a node of role `sender`, at the start of `out`; answers the
/// bytes written. This is the direction allow-list on the sending side: a record kind the
/// role may not send is refused, whatever the caller asks. A data record's frame must decode
/// and be exactly its declared length, so a peer never receives what it would refuse.
pub fn encode_record(sender: Role, record: &Record<'_>, out: &mut [u8]) -> Result<usize, EncodeError> {
    let kind = record.kind();
    if !sender.may_send(kind) {
        return Err(EncodeError::NotAllowed { role: sender, kind });
    }
    if let Record::Data { frame, .. } = record {
        let decoded = qp_wire::decode(frame).map_err(EncodeError::InvalidFrame)?;
        if decoded.len() != frame.len() {
            return Err(EncodeError::FrameLength { declared: decoded.len(), given: frame.len() });
        }
    }
    let body_len = record.body_len();
    let total = RECORD_HEADER_LEN + body_len;
    let available = out.len();
    let Some((header, body)) = out.get_mut(..total).and_then(|dst| dst.split_first_chunk_mut::<RECORD_HEADER_LEN>())
    else {
        return Err(EncodeError::BufferTooSmall { needed: total, available });
    };
    put_header(header, kind, body_len);
    match record {
        Record::Hello(hello) => put_hello(hello, body),
        Record::Data { sequence, frame } => {
            let (seq, rest) = body.split_at_mut(SEQUENCE_LEN);
            seq.copy_from_slice(&sequence.to_le_bytes());
            rest.copy_from_slice(frame);
        }
        Record::Credit { limit: value } | Record::Ack { next_expected: value } => {
            body.copy_from_slice(&value.to_le_bytes());
        }
        Record::Heartbeat => {}
        Record::Subscription(list) => {
            let (head, ids) = body.split_at_mut(4);
            head[..2].copy_from_slice(&(list.len() as u16).to_le_bytes());
            head[2..].fill(0);
            ids.copy_from_slice(list.wire_bytes());
        }
        Record::Goodbye(reason) => {
            body[..2].copy_from_slice(&reason.code().to_le_bytes());
            body[2..].fill(0);
        }
    }
    Ok(total)
}

fn put_hello(hello: &Hello, body: &mut [u8]) {
    body.fill(0);
    body[0..4].copy_from_slice(&HELLO_MAGIC.to_le_bytes());
    body[4..6].copy_from_slice(&hello.min_version.to_le_bytes());
    body[6..8].copy_from_slice(&hello.max_version.to_le_bytes());
    body[8] = hello.role as u8;
    // 9..16 reserved: sent as zero, ignored on receipt.
    body[16..24].copy_from_slice(&hello.capabilities.to_le_bytes());
    body[24..32].copy_from_slice(&hello.epoch.to_le_bytes());
    body[32..40].copy_from_slice(&hello.resume_epoch.to_le_bytes());
    body[40..48].copy_from_slice(&hello.next_expected.to_le_bytes());
    body[48..56].copy_from_slice(&hello.resend_from.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_zero_is_no_kind() {
        for kind in RecordKind::ALL {
            assert_eq!(RecordKind::from_wire(kind as u8), Some(kind));
            let (min, max) = kind.body_len_range();
            assert!(min <= max && RECORD_HEADER_LEN + max <= MAX_RECORD_LEN);
        }
        assert_eq!(RecordKind::from_wire(0), None);
        assert_eq!(RecordKind::from_wire(8), None);
        assert_eq!(RecordKind::from_wire(255), None);
    }

    #[test]
    fn negotiation_picks_the_highest_common_version() {
        assert_eq!(negotiate_version((1, 3), (2, 5)), Some(3));
        assert_eq!(negotiate_version((1, 1), (1, 4)), Some(1));
        assert_eq!(negotiate_version((1, 1), (2, 2)), None);
        assert_eq!(negotiate_version((3, 4), (1, 2)), None);
    }

    #[test]
    fn goodbye_codes_round_trip() {
        for code in 0..10u16 {
            assert_eq!(GoodbyeReason::from_code(code).code(), code);
        }
    }
}
