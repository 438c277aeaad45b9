//! The zero-copy message view: fields as (tag, bytes borrowed from the receive buffer),
//! their spans in a fixed-capacity array filled during one scan, and an index of the
//! common tags for lookups without a search.

use crate::fixed::{parse_fixed, parse_int, parse_uint};
use crate::frame::{FrameError, Framing, frame};
use crate::tag;
use crate::timestamp::parse_utc_timestamp_ns;
use crate::validate::SessionRejectReason;
use crate::{SOH, fixed::FixedError};

/// The most fields one message may have (header and trailer included).
pub const MAX_FIELDS: usize = 256;
/// The tag of a field whose tag is not a number (`-1=…`, `x=…`): validation rejects it as an
/// invalid tag number (reason 0); [`Message::tag_text`] gives its text.
pub const INVALID_TAG: u32 = u32::MAX;

/// Tags whose first occurrence [`Message`] indexes while it parses.
const COMMON_TAGS: [u32; 48] = [
    tag::MSG_TYPE,
    tag::MSG_SEQ_NUM,
    tag::SENDER_COMP_ID,
    tag::TARGET_COMP_ID,
    tag::SENDING_TIME,
    tag::POSS_DUP_FLAG,
    tag::POSS_RESEND,
    tag::ORIG_SENDING_TIME,
    tag::ACCOUNT,
    tag::AVG_PX,
    tag::BEGIN_SEQ_NO,
    tag::CL_ORD_ID,
    tag::CUM_QTY,
    tag::END_SEQ_NO,
    tag::EXEC_ID,
    tag::LAST_PX,
    tag::LAST_QTY,
    tag::NEW_SEQ_NO,
    tag::ORDER_ID,
    tag::ORDER_QTY,
    tag::ORD_STATUS,
    tag::ORD_TYPE,
    tag::ORIG_CL_ORD_ID,
    tag::PRICE,
    tag::REF_SEQ_NUM,
    tag::SIDE,
    tag::SYMBOL,
    tag::TEXT,
    tag::TIME_IN_FORCE,
    tag::TRANSACT_TIME,
    tag::ENCRYPT_METHOD,
    tag::CXL_REJ_REASON,
    tag::ORD_REJ_REASON,
    tag::HEART_BT_INT,
    tag::TEST_REQ_ID,
    tag::GAP_FILL_FLAG,
    tag::RESET_SEQ_NUM_FLAG,
    tag::EXEC_TYPE,
    tag::LEAVES_QTY,
    tag::REF_TAG_ID,
    tag::REF_MSG_TYPE,
    tag::SESSION_REJECT_REASON,
    tag::BUSINESS_REJECT_REF_ID,
    tag::BUSINESS_REJECT_REASON,
    tag::CXL_REJ_RESPONSE_TO,
    tag::USERNAME,
    tag::PASSWORD,
    tag::NEXT_EXPECTED_MSG_SEQ_NUM,
];
const COMMON_TABLE_LEN: usize = 1024;
/// Tag → its slot in [`COMMON_TAGS`] plus one (0: not indexed), for tags below 1024.
const COMMON_SLOT: [u8; COMMON_TABLE_LEN] = {
    let mut table = [0u8; COMMON_TABLE_LEN];
    let mut slot = 0;
    while slot < COMMON_TAGS.len() {
        table[COMMON_TAGS[slot] as usize] = slot as u8 + 1;
        slot += 1;
    }
    table
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    tag: u32,
    tag_start: u32,
    value_start: u32,
    value_end: u32,
}

const EMPTY_SPAN: Span = Span { tag: 0, tag_start: 0, value_start: 0, value_end: 0 };

/// One field of a [`Message`]: its tag, its value (borrowed), and where the value starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    pub tag: u32,
    pub value: &'a [u8],
    /// Index of the value's first byte in the message.
    pub offset: usize,
}

/// Why a message that framed correctly could not be split into fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("a whole message ends at byte {offset}, but the input goes on")]
    TrailingBytes { offset: usize },
    #[error("field at byte {offset} has no '='")]
    FieldWithoutEquals { offset: usize },
    #[error("more than {capacity} fields (at byte {offset})")]
    TooManyFields { capacity: usize, offset: usize },
    #[error("MsgType (35) must be the third field; found tag {tag} at byte {offset}")]
    MsgTypeNotThird { tag: u32, offset: usize },
    #[error("data field {tag} at byte {offset}: its length field does not match its value")]
    DataLengthMismatch { tag: u32, offset: usize },
}

impl ParseError {
    /// Byte of the input where the problem is.
    pub fn offset(&self) -> usize {
        match *self {
            Self::Frame(error) => error.offset,
            Self::TrailingBytes { offset }
            | Self::FieldWithoutEquals { offset }
            | Self::TooManyFields { offset, .. }
            | Self::MsgTypeNotThird { offset, .. }
            | Self::DataLengthMismatch { offset, .. } => offset,
        }
    }

    /// The session-level Reject reason, where a Reject is the answer. Framing errors have
    /// none: FIX says a garbled message is ignored (no Reject, sequence number not consumed).
    pub fn reject_reason(&self) -> Option<SessionRejectReason> {
        match self {
            Self::MsgTypeNotThird { .. } => Some(SessionRejectReason::TagSpecifiedOutOfRequiredOrder),
            Self::DataLengthMismatch { .. } => Some(SessionRejectReason::IncorrectDataFormatForValue),
            Self::TooManyFields { .. } => Some(SessionRejectReason::Other),
            Self::Frame(_) | Self::TrailingBytes { .. } | Self::FieldWithoutEquals { .. } => None,
        }
    }
}

/// A field a typed reader needed, and what was wrong with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldErrorKind {
    Missing,
    /// Present without a value.
    Empty,
    /// Not in the field's data format (not a number, not a timestamp, not UTF-8, …).
    Format,
    /// Well formed but not a value this field may take (an unknown enum value).
    Value,
    /// A number with more decimals than the instrument's scale.
    TooPrecise,
}

/// Error of the typed readers: which tag, where, and what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("FIX field {tag}: {kind:?} (at byte {offset})")]
pub struct FieldError {
    pub tag: u32,
    pub kind: FieldErrorKind,
    /// Byte of the value in the message (0 for a missing field).
    pub offset: usize,
}

impl FieldError {
    pub fn missing(tag: u32) -> Self {
        Self { tag, kind: FieldErrorKind::Missing, offset: 0 }
    }

    /// The session-level Reject reason this maps to.
    pub fn reject_reason(&self) -> SessionRejectReason {
        match self.kind {
            FieldErrorKind::Missing => SessionRejectReason::RequiredTagMissing,
            FieldErrorKind::Empty => SessionRejectReason::TagSpecifiedWithoutAValue,
            FieldErrorKind::Format => SessionRejectReason::IncorrectDataFormatForValue,
            FieldErrorKind::Value | FieldErrorKind::TooPrecise => SessionRejectReason::ValueIsIncorrect,
        }
    }
}

impl<'a> Field<'a> {
    fn error(&self, kind: FieldErrorKind) -> FieldError {
        FieldError { tag: self.tag, kind, offset: self.offset }
    }

    fn non_empty(&self) -> Result<&'a [u8], FieldError> {
        if self.value.is_empty() { Err(self.error(FieldErrorKind::Empty)) } else { Ok(self.value) }
    }

    fn number_error(&self, error: FixedError) -> FieldError {
        match error {
            FixedError::TooPrecise { .. } => self.error(FieldErrorKind::TooPrecise),
            FixedError::Empty => self.error(FieldErrorKind::Empty),
            _ => self.error(FieldErrorKind::Format),
        }
    }

    pub fn as_str(&self) -> Result<&'a str, FieldError> {
        std::str::from_utf8(self.non_empty()?).map_err(|_| self.error(FieldErrorKind::Format))
    }
    pub fn as_u64(&self) -> Result<u64, FieldError> {
        parse_uint(self.non_empty()?).map_err(|e| self.number_error(e))
    }
    pub fn as_i64(&self) -> Result<i64, FieldError> {
        parse_int(self.non_empty()?).map_err(|e| self.number_error(e))
    }
    /// A PRICE/QTY/AMT as a count of `10^-decimals` units.
    pub fn as_fixed(&self, decimals: u8) -> Result<i64, FieldError> {
        parse_fixed(self.non_empty()?, decimals).map_err(|e| self.number_error(e))
    }
    pub fn as_char(&self) -> Result<u8, FieldError> {
        match self.non_empty()? {
            [byte] => Ok(*byte),
            _ => Err(self.error(FieldErrorKind::Format)),
        }
    }
    pub fn as_bool(&self) -> Result<bool, FieldError> {
        match self.non_empty()? {
            b"Y" => Ok(true),
            b"N" => Ok(false),
            _ => Err(self.error(FieldErrorKind::Format)),
        }
    }
    /// A UTCTimestamp as Unix nanoseconds.
    pub fn as_timestamp_ns(&self) -> Result<u64, FieldError> {
        parse_utc_timestamp_ns(self.non_empty()?).map_err(|_| self.error(FieldErrorKind::Format))
    }
    /// A value error for this field (for typed readers mapping enums).
    pub fn value_error(&self) -> FieldError {
        self.error(FieldErrorKind::Value)
    }
}

/// A parsed FIX message: the frame's bytes and its fields' spans. Fields are in wire order,
/// BeginString (8), BodyLength (9) and CheckSum (10) included.
#[derive(Clone)]
pub struct Message<'a> {
    buf: &'a [u8],
    spans: [Span; MAX_FIELDS],
    len: u16,
    body_start: u16,
    trailer_start: u16,
    /// Index + 1 of the first field with each of [`COMMON_TAGS`] (0: absent).
    common: [u16; COMMON_TAGS.len()],
}

impl std::fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut list = f.debug_list();
        for field in self.fields() {
            list.entry(&format_args!("{}={}", field.tag, String::from_utf8_lossy(field.value)));
        }
        list.finish()
    }
}

/// What [`decode`] found at the head of a receive buffer.
// A `Message` is a few KiB on purpose: a fixed array keeps parsing allocation-free.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Decoded<'a> {
    /// A message, from `buf[..len_bytes]`: drop those bytes once done with it.
    Message {
        message: Message<'a>,
        len_bytes: usize,
    },
    NeedMore,
}

/// Frames and parses the message at the head of `buf` (any bytes after it are left alone).
/// On a [`ParseError::Frame`] error, drop `discard_bytes`; on another error the message's
/// extent is known: drop the frame (see `DESIGN.md`, "Rollback").
pub fn decode(buf: &[u8]) -> Result<Decoded<'_>, ParseError> {
    match frame(buf)? {
        Framing::NeedMore => Ok(Decoded::NeedMore),
        Framing::Complete { len_bytes, body_start, checksum_start } => {
            let message = Message::scan(&buf[..len_bytes], body_start, checksum_start)?;
            Ok(Decoded::Message { message, len_bytes })
        }
    }
}

impl<'a> Message<'a> {
    /// Parses exactly one whole message (framing, BodyLength and CheckSum verified).
    pub fn parse(frame_bytes: &'a [u8]) -> Result<Self, ParseError> {
        match frame(frame_bytes)? {
            Framing::NeedMore => Err(FrameError {
                kind: crate::FrameErrorKind::BodyLengthMismatch,
                offset: frame_bytes.len(),
                discard_bytes: frame_bytes.len().max(1),
            }
            .into()),
            Framing::Complete { len_bytes, body_start, checksum_start } => {
                if len_bytes != frame_bytes.len() {
                    return Err(ParseError::TrailingBytes { offset: len_bytes });
                }
                Self::scan(frame_bytes, body_start, checksum_start)
            }
        }
    }

    /// Splits a verified frame into fields. `body_start` is just after `9=…␁` and
    /// `checksum_start` the index of `10=`; the byte before it is SOH (framing checked).
    fn scan(buf: &'a [u8], body_start: usize, checksum_start: usize) -> Result<Self, ParseError> {
        let mut message = Message {
            buf,
            spans: [EMPTY_SPAN; MAX_FIELDS],
            len: 0,
            body_start: 0,
            trailer_start: 0,
            common: [0; COMMON_TAGS.len()],
        };
        // `8=FIX.4.4␁9=len␁`: framing checked their shape (BodyLength's tag is at byte 10).
        message.push(Span { tag: tag::BEGIN_STRING, tag_start: 0, value_start: 2, value_end: 9 }, 0)?;
        message.push(
            Span { tag: tag::BODY_LENGTH, tag_start: 10, value_start: 12, value_end: body_start as u32 - 1 },
            10,
        )?;
        let mut pos = body_start;
        let mut pending_data: Option<(u32, usize)> = None;
        while pos < checksum_start {
            let tag_start = pos;
            let mut tag_number: u32 = 0;
            let mut numeric = true;
            loop {
                let byte = buf[pos];
                if byte == b'=' {
                    break;
                }
                if byte == SOH {
                    return Err(ParseError::FieldWithoutEquals { offset: tag_start });
                }
                let digit = byte.wrapping_sub(b'0');
                match tag_number.checked_mul(10).and_then(|t| t.checked_add(u32::from(digit))) {
                    Some(next) if digit <= 9 => tag_number = next,
                    _ => numeric = false,
                }
                pos += 1;
            }
            if pos == tag_start || !numeric || tag_number == INVALID_TAG {
                tag_number = INVALID_TAG;
            }
            let value_start = pos + 1;
            let value_end = match pending_data.take() {
                Some((data_tag, len)) if data_tag == tag_number => {
                    let end = value_start + len;
                    if end >= checksum_start || buf[end] != SOH {
                        return Err(ParseError::DataLengthMismatch { tag: data_tag, offset: value_start });
                    }
                    end
                }
                _ => match buf[value_start..checksum_start].iter().position(|&b| b == SOH) {
                    Some(len) => value_start + len,
                    None => return Err(ParseError::FieldWithoutEquals { offset: tag_start }),
                },
            };
            if let Some(data_tag) = tag::data_field_of_length(tag_number)
                && let Ok(len) = parse_uint(&buf[value_start..value_end])
            {
                pending_data = Some((data_tag, len as usize));
            }
            message.push(
                Span {
                    tag: tag_number,
                    tag_start: tag_start as u32,
                    value_start: value_start as u32,
                    value_end: value_end as u32,
                },
                tag_start,
            )?;
            pos = value_end + 1;
        }
        message.push(
            Span {
                tag: tag::CHECK_SUM,
                tag_start: checksum_start as u32,
                value_start: checksum_start as u32 + 3,
                value_end: checksum_start as u32 + 6,
            },
            checksum_start,
        )?;
        if message.len < 4 || message.spans[2].tag != tag::MSG_TYPE {
            let third = message.spans[2.min(usize::from(message.len) - 1)];
            return Err(ParseError::MsgTypeNotThird { tag: third.tag, offset: third.tag_start as usize });
        }
        let len = usize::from(message.len);
        let mut body = 3;
        while body < len && tag::is_standard_header(message.spans[body].tag) {
            body += 1;
        }
        let mut trailer = len - 1;
        while trailer > body && tag::is_standard_trailer(message.spans[trailer - 1].tag) {
            trailer -= 1;
        }
        message.body_start = body as u16;
        message.trailer_start = trailer as u16;
        Ok(message)
    }

    #[inline]
    fn push(&mut self, span: Span, offset: usize) -> Result<(), ParseError> {
        let index = usize::from(self.len);
        if index == MAX_FIELDS {
            return Err(ParseError::TooManyFields { capacity: MAX_FIELDS, offset });
        }
        if let Some(&slot) = COMMON_SLOT.get(span.tag as usize)
            && slot != 0
            && self.common[usize::from(slot - 1)] == 0
        {
            self.common[usize::from(slot - 1)] = index as u16 + 1;
        }
        self.spans[index] = span;
        self.len += 1;
        Ok(())
    }

    /// The whole message's bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    /// Number of fields (8, 9 and 10 included).
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Never true: a parsed message has at least 8, 9, 35 and 10.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The field at `index` (wire order).
    pub fn field(&self, index: usize) -> Option<Field<'a>> {
        let span = self.spans[..self.len()].get(index)?;
        Some(Field {
            tag: span.tag,
            value: &self.buf[span.value_start as usize..span.value_end as usize],
            offset: span.value_start as usize,
        })
    }

    /// The text of the tag of the field at `index` (for a Reject naming an invalid tag).
    pub fn tag_text(&self, index: usize) -> Option<&'a [u8]> {
        let span = self.spans[..self.len()].get(index)?;
        Some(&self.buf[span.tag_start as usize..span.value_start as usize - 1])
    }

    pub fn fields(&self) -> impl Iterator<Item = Field<'a>> + '_ {
        (0..self.len()).filter_map(|i| self.field(i))
    }

    /// Index of the first body field (the header is `0..body_start()`).
    pub fn body_start(&self) -> usize {
        usize::from(self.body_start)
    }

    /// Index of the first trailer field (the body is `body_start()..trailer_start()`).
    pub fn trailer_start(&self) -> usize {
        usize::from(self.trailer_start)
    }

    pub fn header(&self) -> impl Iterator<Item = Field<'a>> + '_ {
        (0..self.body_start()).filter_map(|i| self.field(i))
    }

    pub fn body(&self) -> impl Iterator<Item = Field<'a>> + '_ {
        (self.body_start()..self.trailer_start()).filter_map(|i| self.field(i))
    }

    pub fn trailer(&self) -> impl Iterator<Item = Field<'a>> + '_ {
        (self.trailer_start()..self.len()).filter_map(|i| self.field(i))
    }

    /// MsgType (35): always the third field.
    pub fn msg_type(&self) -> &'a [u8] {
        let span = self.spans[2];
        &self.buf[span.value_start as usize..span.value_end as usize]
    }

    /// Index of the first field with `tag`: the common tags without a search.
    pub fn position(&self, tag: u32) -> Option<usize> {
        if let Some(&slot) = COMMON_SLOT.get(tag as usize)
            && slot != 0
        {
            return usize::from(self.common[usize::from(slot - 1)]).checked_sub(1);
        }
        self.spans[..self.len()].iter().position(|s| s.tag == tag)
    }

    /// The first field with `tag`.
    pub fn get_field(&self, tag: u32) -> Option<Field<'a>> {
        self.position(tag).and_then(|i| self.field(i))
    }

    /// The value of the first field with `tag`.
    pub fn get(&self, tag: u32) -> Option<&'a [u8]> {
        self.get_field(tag).map(|f| f.value)
    }

    /// The first field with `tag`, or [`FieldErrorKind::Missing`].
    pub fn require(&self, tag: u32) -> Result<Field<'a>, FieldError> {
        self.get_field(tag).ok_or(FieldError::missing(tag))
    }

    /// MsgSeqNum (34).
    pub fn msg_seq_num(&self) -> Result<u64, FieldError> {
        self.require(tag::MSG_SEQ_NUM)?.as_u64()
    }
}
