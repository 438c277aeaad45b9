//! The encoder: one message at a time into a reused buffer, with BodyLength and CheckSum.

use crate::fixed::{format_fixed, write_int, write_uint};
use crate::frame::checksum;
use crate::timestamp::format_utc_timestamp_ms;
use crate::{SOH, tag};

/// `8=FIX.4.4␁`.
const BEGIN: &[u8] = b"8=FIX.4.4\x01";
/// Room kept before the body for `8=FIX.4.4␁9=NNNNNNN␁` (BodyLength written at the end).
const HEADER_ROOM_BYTES: usize = BEGIN.len() + 2 + 7 + 1;

/// Writes FIX messages into one reused `Vec<u8>`: after the first few messages have grown
/// it, encoding allocates nothing.
///
/// ```
/// # use qp_fix::{Encoder, Message, tag};
/// let mut encoder = Encoder::new();
/// encoder.begin(b"0");
/// encoder.str(tag::SENDER_COMP_ID, "NODE").str(tag::TARGET_COMP_ID, "VENUE").uint(tag::MSG_SEQ_NUM, 7);
/// encoder.timestamp_ms(tag::SENDING_TIME, 1_700_000_000_000_000_000);
/// let bytes = encoder.finish();
/// let message = Message::parse(bytes).unwrap();
/// assert_eq!(message.msg_type(), b"0");
/// ```
#[derive(Debug, Default)]
pub struct Encoder {
    buf: Vec<u8>,
    /// Where the finished message starts in `buf`.
    start: usize,
}

impl Encoder {
    pub fn new() -> Self {
        Self::with_capacity(512)
    }

    pub fn with_capacity(bytes: usize) -> Self {
        Self { buf: Vec::with_capacity(bytes.max(HEADER_ROOM_BYTES + 16)), start: 0 }
    }

    /// Starts a message of type `msg_type` (writes MsgType, 35). Header fields come next.
    pub fn begin(&mut self, msg_type: &[u8]) -> &mut Self {
        self.buf.clear();
        self.buf.resize(HEADER_ROOM_BYTES, 0);
        self.start = 0;
        self.bytes(tag::MSG_TYPE, msg_type)
    }

    #[inline]
    fn tag(&mut self, tag: u32) {
        write_uint(&mut self.buf, u64::from(tag));
        self.buf.push(b'=');
    }

    /// A field with raw bytes as its value (must not contain SOH unless a DATA field).
    pub fn bytes(&mut self, tag: u32, value: &[u8]) -> &mut Self {
        self.tag(tag);
        self.buf.extend_from_slice(value);
        self.buf.push(SOH);
        self
    }

    pub fn str(&mut self, tag: u32, value: &str) -> &mut Self {
        self.bytes(tag, value.as_bytes())
    }

    pub fn char(&mut self, tag: u32, value: u8) -> &mut Self {
        self.bytes(tag, &[value])
    }

    pub fn bool(&mut self, tag: u32, value: bool) -> &mut Self {
        self.bytes(tag, if value { b"Y" } else { b"N" })
    }

    pub fn uint(&mut self, tag: u32, value: u64) -> &mut Self {
        self.tag(tag);
        write_uint(&mut self.buf, value);
        self.buf.push(SOH);
        self
    }

    pub fn int(&mut self, tag: u32, value: i64) -> &mut Self {
        self.tag(tag);
        write_int(&mut self.buf, value);
        self.buf.push(SOH);
        self
    }

    /// A fixed-point PRICE/QTY/AMT: `value` counts `10^-decimals` units.
    pub fn fixed(&mut self, tag: u32, value: i64, decimals: u8) -> &mut Self {
        self.tag(tag);
        format_fixed(&mut self.buf, value, decimals);
        self.buf.push(SOH);
        self
    }

    /// A UTCTimestamp with milliseconds, from Unix nanoseconds.
    pub fn timestamp_ms(&mut self, tag: u32, unix_ns: u64) -> &mut Self {
        self.tag(tag);
        format_utc_timestamp_ms(&mut self.buf, unix_ns);
        self.buf.push(SOH);
        self
    }

    /// Writes BodyLength in front and CheckSum at the end; returns the whole message.
    pub fn finish(&mut self) -> &[u8] {
        let body_len = self.buf.len() - HEADER_ROOM_BYTES;
        let mut digits = [0u8; 8];
        let mut at = digits.len();
        let mut rest = body_len;
        loop {
            at -= 1;
            digits[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 || at == 0 {
                break;
            }
        }
        let length_field_bytes = 2 + (digits.len() - at) + 1;
        let start = HEADER_ROOM_BYTES - length_field_bytes - BEGIN.len();
        self.buf[start..start + BEGIN.len()].copy_from_slice(BEGIN);
        let mut write = start + BEGIN.len();
        self.buf[write..write + 2].copy_from_slice(b"9=");
        write += 2;
        self.buf[write..write + digits.len() - at].copy_from_slice(&digits[at..]);
        self.buf[HEADER_ROOM_BYTES - 1] = SOH;
        let sum = checksum(&self.buf[start..]);
        self.buf.extend_from_slice(&[b'1', b'0', b'=', b'0' + sum / 100, b'0' + sum / 10 % 10, b'0' + sum % 10, SOH]);
        self.start = start;
        &self.buf[start..]
    }

    /// The last finished message (empty before the first).
    pub fn message(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or_default()
    }
}
