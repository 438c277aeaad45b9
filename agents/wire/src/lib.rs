//! The agents' wire: fixed-layout, little-endian, versioned frames.
//!
//! A frame is a [`FrameHeader`] followed by one payload struct. Every field is a
//! little-endian, byte-aligned integer, so a frame is read in place from any byte
//! buffer with `zerocopy` (no parsing, no copying, no allocation), whatever the
//! buffer's alignment. [`decode`] checks magic, version, type, length and the
//! payload's enumerations, and answers hostile bytes with a typed [`DecodeError`],
//! never a panic.
//!
//! This crate does no I/O and reads no clock: timestamps are handed in by the
//! caller, so tests and fuzzers drive it directly.
#![forbid(unsafe_code)]

mod asset;
mod error;
mod frame;
mod header;
mod payload;

pub use asset::{AssetId, AssetRegistry, MAX_SYMBOL_LEN, RegistryError};
pub use error::DecodeError;
pub use frame::{FRAME_CAPACITY, FrameBuf, FrameRef, Framed, decode, decode_as};
pub use header::{FrameHeader, FrameType, HEADER_LEN, MAGIC, STAGE_COUNT, Stage, WIRE_VERSION};
pub use payload::{
    BLOCK_PRINT_HIDDEN, BlockPrint, BookSignal, BookSignalKind, CONFIDENCE_MAX_BP, Confirmed, Decision, ExecReport,
    ExecStatus, OrderIntent, Payload, Quote, RiskVerdict, SCORE_MAX, SCORE_MIN, SentimentSignal, Side, TimeInForce,
    Verdict, VetoReason,
};
