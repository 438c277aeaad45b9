use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

use crate::error::DecodeError;
use crate::header::{FrameHeader, FrameType, HEADER_LEN, MAGIC, Stage, WIRE_VERSION};
use crate::payload::{
    BlockPrint, BookSignal, Confirmed, Decision, ExecReport, OrderIntent, Payload, Quote, RiskVerdict, SentimentSignal,
};

/// Room for the largest frame; every ring slot is one [`FrameBuf`].
pub const FRAME_CAPACITY: usize = 128;
const BODY_CAPACITY: usize = FRAME_CAPACITY - HEADER_LEN;

/// A decoded frame: the header and a typed payload, both borrowed in place.
#[derive(Debug, Clone, Copy)]
pub struct Framed<'a, P> {
    pub header: &'a FrameHeader,
    pub payload: &'a P,
}

/// A decoded frame of any type.
#[derive(Debug, Clone, Copy)]
pub enum FrameRef<'a> {
    Sentiment(Framed<'a, SentimentSignal>),
    Book(Framed<'a, BookSignal>),
    BlockPrint(Framed<'a, BlockPrint>),
    Decision(Framed<'a, Decision>),
    RiskVerdict(Framed<'a, RiskVerdict>),
    OrderIntent(Framed<'a, OrderIntent>),
    ExecReport(Framed<'a, ExecReport>),
    Confirmed(Framed<'a, Confirmed>),
    Quote(Framed<'a, Quote>),
}

impl<'a> FrameRef<'a> {
    pub fn header(&self) -> &'a FrameHeader {
        match self {
            FrameRef::Sentiment(f) => f.header,
            FrameRef::Book(f) => f.header,
            FrameRef::BlockPrint(f) => f.header,
            FrameRef::Decision(f) => f.header,
            FrameRef::RiskVerdict(f) => f.header,
            FrameRef::OrderIntent(f) => f.header,
            FrameRef::ExecReport(f) => f.header,
            FrameRef::Confirmed(f) => f.header,
            FrameRef::Quote(f) => f.header,
        }
    }

    pub fn frame_type(&self) -> FrameType {
        match self {
            FrameRef::Sentiment(_) => FrameType::Sentiment,
            FrameRef::Book(_) => FrameType::Book,
            FrameRef::BlockPrint(_) => FrameType::BlockPrint,
            FrameRef::Decision(_) => FrameType::Decision,
            FrameRef::RiskVerdict(_) => FrameType::RiskVerdict,
            FrameRef::OrderIntent(_) => FrameType::OrderIntent,
            FrameRef::ExecReport(_) => FrameType::ExecReport,
            FrameRef::Confirmed(_) => FrameType::Confirmed,
            FrameRef::Quote(_) => FrameType::Quote,
        }
    }

    /// Whole frame length in bytes.
    pub fn len(&self) -> usize {
        self.header().length.get() as usize
    }

    /// Never true for a decoded frame (the header alone is 72 bytes).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Payload size of each frame type.
fn payload_len(frame_type: FrameType) -> usize {
    match frame_type {
        FrameType::Sentiment => size_of::<SentimentSignal>(),
        FrameType::Book => size_of::<BookSignal>(),
        FrameType::BlockPrint => size_of::<BlockPrint>(),
        FrameType::Decision => size_of::<Decision>(),
        FrameType::RiskVerdict => size_of::<RiskVerdict>(),
        FrameType::OrderIntent => size_of::<OrderIntent>(),
        FrameType::ExecReport => size_of::<ExecReport>(),
        FrameType::Confirmed => size_of::<Confirmed>(),
        FrameType::Quote => size_of::<Quote>(),
    }
}

/// Check the header at the start of `bytes`; answer it, the frame type and the payload bytes.
fn decode_header(bytes: &[u8]) -> Result<(&FrameHeader, FrameType, &[u8]), DecodeError> {
    let (header, _) = FrameHeader::ref_from_prefix(bytes)
        .map_err(|_| DecodeError::Truncated { needed: HEADER_LEN, available: bytes.len() })?;
    if header.magic.get() != MAGIC {
        return Err(DecodeError::BadMagic { found: header.magic.get(), expected: MAGIC });
    }
    if header.version.get() != WIRE_VERSION {
        return Err(DecodeError::UnsupportedVersion { found: header.version.get(), supported: WIRE_VERSION });
    }
    let frame_type = FrameType::from_wire(header.frame_type.get())
        .ok_or(DecodeError::UnknownType { found: header.frame_type.get() })?;
    let expected = HEADER_LEN + payload_len(frame_type);
    let declared = header.length.get();
    if declared as usize != expected {
        return Err(DecodeError::LengthMismatch { frame_type, declared, expected: expected as u32 });
    }
    let body =
        bytes.get(HEADER_LEN..expected).ok_or(DecodeError::Truncated { needed: expected, available: bytes.len() })?;
    Ok((header, frame_type, body))
}

fn framed<'a, P: Payload>(header: &'a FrameHeader, body: &'a [u8]) -> Result<Framed<'a, P>, DecodeError> {
    // `decode_header` sized `body` from the same table, so this cannot fail; map it anyway.
    let payload = P::ref_from_bytes(body)
        .map_err(|_| DecodeError::Truncated { needed: size_of::<P>(), available: body.len() })?;
    payload.validate()?;
    Ok(Framed { header, payload })
}

/// Decode the frame at the start of `bytes`, in place. Bytes past the frame's
/// declared length are ignored (a ring slot or a stream buffer may hold more).
pub fn decode(bytes: &[u8]) -> Result<FrameRef<'_>, DecodeError> {
    let (header, frame_type, body) = decode_header(bytes)?;
    Ok(match frame_type {
        FrameType::Sentiment => FrameRef::Sentiment(framed(header, body)?),
        FrameType::Book => FrameRef::Book(framed(header, body)?),
        FrameType::BlockPrint => FrameRef::BlockPrint(framed(header, body)?),
        FrameType::Decision => FrameRef::Decision(framed(header, body)?),
        FrameType::RiskVerdict => FrameRef::RiskVerdict(framed(header, body)?),
        FrameType::OrderIntent => FrameRef::OrderIntent(framed(header, body)?),
        FrameType::ExecReport => FrameRef::ExecReport(framed(header, body)?),
        FrameType::Confirmed => FrameRef::Confirmed(framed(header, body)?),
        FrameType::Quote => FrameRef::Quote(framed(header, body)?),
    })
}

/// Decode a frame that must be of payload type `P`.
pub fn decode_as<P: Payload>(bytes: &[u8]) -> Result<Framed<'_, P>, DecodeError> {
    let (header, frame_type, body) = decode_header(bytes)?;
    if frame_type != P::FRAME_TYPE {
        return Err(DecodeError::WrongType { expected: P::FRAME_TYPE, found: frame_type });
    }
    framed(header, body)
}

/// One frame in an owned, cache-line-aligned, fixed-size buffer: the unit a ring
/// slot holds. Built with [`FrameBuf::encode`] or [`FrameBuf::derive`], read with
/// [`FrameBuf::decode`] in place.
#[derive(Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C, align(64))]
pub struct FrameBuf {
    header: FrameHeader,
    body: [u8; BODY_CAPACITY],
}

impl FrameBuf {
    /// A new frame from `origin_node` with sequence `sequence` and no stamps.
    pub fn encode<P: Payload>(origin_node: u32, sequence: u64, payload: &P) -> Self {
        const { assert!(size_of::<P>() <= BODY_CAPACITY, "payload larger than a frame slot") };
        let mut buf = Self::new_zeroed();
        buf.header = FrameHeader::new(P::FRAME_TYPE, HEADER_LEN + size_of::<P>(), origin_node, sequence);
        let bytes = payload.as_bytes();
        buf.body[..bytes.len()].copy_from_slice(bytes);
        buf
    }

    /// A frame caused by `parent`: it inherits the parent's lineage and stamps, so
    /// the latency of a decision counts from the signal that caused it.
    pub fn derive<P: Payload>(parent: &FrameHeader, payload: &P) -> Self {
        let mut buf = Self::encode(0, 0, payload);
        buf.header.inherit(parent);
        buf
    }

    pub fn header(&self) -> &FrameHeader {
        &self.header
    }

    /// Stamp `stage` with monotonic time `ns`.
    pub fn stamp(&mut self, stage: Stage, ns: u64) {
        self.header.set_stamp(stage, ns);
    }

    /// The frame's bytes, exactly its declared length (clamped to the buffer).
    pub fn as_frame_bytes(&self) -> &[u8] {
        let len = (self.header.length.get() as usize).min(FRAME_CAPACITY);
        &self.as_bytes()[..len]
    }

    /// The whole slot, including bytes past the frame (for the fuzzer and tests).
    pub fn as_slot_bytes_mut(&mut self) -> &mut [u8] {
        self.as_mut_bytes()
    }

    /// Decode in place.
    pub fn decode(&self) -> Result<FrameRef<'_>, DecodeError> {
        decode(self.as_bytes())
    }
}

impl Default for FrameBuf {
    fn default() -> Self {
        Self::new_zeroed()
    }
}

impl std::fmt::Debug for FrameBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.decode() {
            Ok(frame) => write!(f, "FrameBuf({frame:?})"),
            Err(err) => write!(f, "FrameBuf(<{err}>)"),
        }
    }
}
