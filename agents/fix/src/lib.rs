//! FIX 4.4 tag-value protocol core: framing, a zero-copy parser, an encoder into a reused
//! buffer, validation against the FIX 4.4 data dictionary, and typed views and builders of
//! the messages the agents use. No I/O, no clock: a session state machine sits on top and
//! feeds it bytes and times. Design: `agents/fix/DESIGN.md`.
//!
//! - [`frame`]: find one complete message in a receive buffer (`8=FIX.4.4␁9=len␁…␁10=ccc␁`),
//!   verifying BodyLength and CheckSum; or say more bytes are needed; or a typed
//!   [`FrameError`] with the offset and how many bytes to discard to resynchronise.
//! - [`Message::parse`] / [`decode`]: a [`Message`] view whose fields borrow the buffer.
//! - [`Dictionary`]: `FIX44.xml` (QuickFIX's), and [`Dictionary::validate`], whose errors map
//!   to a [`SessionRejectReason`].
//! - [`Encoder`]: header, body, BodyLength and CheckSum into one reused `Vec<u8>`.
//! - [`messages`]: the 13 typed messages (Logon … BusinessMessageReject).
//! - [`session`]: the FIX session layer as a state machine without I/O ([`session::Session`]).
#![forbid(unsafe_code)]

mod dictionary;
mod encode;
mod fixed;
mod frame;
mod message;
pub mod messages;
pub mod session;
pub mod tag;
mod timestamp;
mod validate;

pub use dictionary::{Dictionary, DictionaryError, FieldDef, FieldType, GroupDef, Member, MemberList, MessageDef};
pub use encode::Encoder;
pub use fixed::{FixedError, MAX_DECIMALS, decimal_digits, format_fixed, parse_fixed, parse_int, parse_uint};
pub use frame::{
    BEGIN_STRING, FrameError, FrameErrorKind, Framing, MAX_BODY_LEN_BYTES, checksum, frame, resync_discard_bytes,
};
pub use message::{Decoded, Field, FieldError, FieldErrorKind, INVALID_TAG, MAX_FIELDS, Message, ParseError, decode};
pub use messages::{FixMessage, Header, Scale, decode_as};
pub use timestamp::{TimestampError, format_utc_timestamp_ms, parse_utc_timestamp_ns};
pub use validate::{SessionRejectReason, ValidationError, ValidationErrorKind};

/// The field separator, SOH.
pub const SOH: u8 = 0x01;
