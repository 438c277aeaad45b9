use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// `QPWF` read as a little-endian u32.
pub const MAGIC: u32 = u32::from_le_bytes(*b"QPWF");
/// Bumped on any layout change; a decoder rejects every other version.
pub const WIRE_VERSION: u16 = 1;
/// Size of [`FrameHeader`] in bytes.
pub const HEADER_LEN: usize = size_of::<FrameHeader>();
/// Number of per-stage timestamp slots in a header.
pub const STAGE_COUNT: usize = 6;

/// The kinds of frame on the wire. The numbers are the wire encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum FrameType {
    Sentiment = 1,
    Book = 2,
    BlockPrint = 3,
    Decision = 4,
    RiskVerdict = 5,
    OrderIntent = 6,
    ExecReport = 7,
    /// A sentiment and a book signal on one asset, joined by the Confirm step.
    Confirmed = 8,
    /// An asset's top of book (best bid and ask), from the ingest side: the risk stage's
    /// reference prices.
    Quote = 9,
}

impl FrameType {
    /// All frame types, in wire order.
    pub const ALL: [FrameType; 9] = [
        FrameType::Sentiment,
        FrameType::Book,
        FrameType::BlockPrint,
        FrameType::Decision,
        FrameType::RiskVerdict,
        FrameType::OrderIntent,
        FrameType::ExecReport,
        FrameType::Confirmed,
        FrameType::Quote,
    ];

    /// The type for a wire value, if it is one.
    pub fn from_wire(value: u16) -> Option<Self> {
        Self::ALL.get(usize::from(value).wrapping_sub(1)).copied()
    }
}

/// The five steps of the loop, plus the hand-off to the execution side.
/// Each stage stamps its slot in the header with a monotonic nanosecond clock,
/// so per-stage latency is measured from the frames themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Stage {
    Ingest = 0,
    Confirm = 1,
    Decide = 2,
    Risk = 3,
    Execute = 4,
    /// Left the process: handed to the FIX session or the bridge.
    Egress = 5,
}

impl Stage {
    /// All stages in loop order.
    pub const ALL: [Stage; STAGE_COUNT] =
        [Stage::Ingest, Stage::Confirm, Stage::Decide, Stage::Risk, Stage::Execute, Stage::Egress];

    /// Lower-case name, as printed in latency tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Ingest => "ingest",
            Stage::Confirm => "confirm",
            Stage::Decide => "decide",
            Stage::Risk => "risk",
            Stage::Execute => "execute",
            Stage::Egress => "egress",
        }
    }
}

/// The header every frame starts with (72 bytes, little-endian, byte-aligned).
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct FrameHeader {
    pub magic: U32,
    pub version: U16,
    pub frame_type: U16,
    /// Whole frame length, header included.
    pub length: U32,
    /// Node that created the frame (see the bridge's node identities).
    pub origin_node: U32,
    /// Per-origin sequence number, for gap detection and audit.
    pub sequence: U64,
    /// Monotonic nanoseconds at which each [`Stage`] handled the frame; 0 = not yet.
    pub stamps: [U64; STAGE_COUNT],
}

impl FrameHeader {
    /// A header for a new frame of `frame_type`, with no stage stamped yet.
    pub fn new(frame_type: FrameType, length: usize, origin_node: u32, sequence: u64) -> Self {
        Self {
            magic: U32::new(MAGIC),
            version: U16::new(WIRE_VERSION),
            frame_type: U16::new(frame_type as u16),
            length: U32::new(length as u32),
            origin_node: U32::new(origin_node),
            sequence: U64::new(sequence),
            stamps: [U64::ZERO; STAGE_COUNT],
        }
    }

    /// The stamp of `stage`, or `None` if that stage has not handled the frame.
    pub fn stamp(&self, stage: Stage) -> Option<u64> {
        match self.stamps[stage as usize].get() {
            0 => None,
            ns => Some(ns),
        }
    }

    /// Record that `stage` handled the frame at monotonic time `ns`.
    pub fn set_stamp(&mut self, stage: Stage, ns: u64) {
        self.stamps[stage as usize] = U64::new(ns);
    }

    /// Copy every stamp and the lineage (origin, sequence) from the frame this one
    /// was derived from, so a decision carries the timing of the signal behind it.
    pub fn inherit(&mut self, parent: &FrameHeader) {
        self.stamps = parent.stamps;
        self.origin_node = parent.origin_node;
        self.sequence = parent.sequence;
    }
}
