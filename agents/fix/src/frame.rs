//! Framing: one complete FIX message at the head of a receive buffer, BodyLength and
//! CheckSum verified, or "need more bytes", or a typed error saying where and how many
//! bytes to drop to resynchronise.

use crate::SOH;

/// The only BeginString this crate speaks.
pub const BEGIN_STRING: &[u8] = b"FIX.4.4";
/// `8=FIX.4.4␁`: every message starts with these bytes.
const PREFIX: &[u8] = b"8=FIX.4.4\x01";
/// What a resynchronisation looks for: the start of any BeginString.
const RESYNC_MARK: &[u8] = b"8=FIX";
/// The largest BodyLength accepted (1 MiB): a larger one is treated as garbled, not waited for.
pub const MAX_BODY_LEN_BYTES: usize = 1 << 20;
/// Digits BodyLength may have (`1048576` has 7).
const MAX_BODY_LEN_DIGITS: usize = 7;
/// `10=ccc␁`.
const TRAILER_BYTES: usize = 7;

/// What [`frame`] found at the head of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// A whole message, BodyLength and CheckSum verified, in `buf[..len_bytes]`;
    /// `body_start` is the index just after `9=…␁`, `checksum_start` the index of `10=`.
    Complete { len_bytes: usize, body_start: usize, checksum_start: usize },
    /// The buffer holds the beginning of a message (or nothing): read more, call again.
    NeedMore,
}

/// What was wrong with the framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameErrorKind {
    /// The buffer does not start with `8=FIX.4.4␁` (another BeginString, or garbage).
    BadBeginString,
    /// BodyLength (9) is not the second field, not digits, or too large.
    BadBodyLength,
    /// `10=ccc␁` is not where BodyLength says the body ends.
    BodyLengthMismatch,
    /// The CheckSum field is not three digits.
    BadCheckSum,
    /// The CheckSum does not match the sum of the bytes before it.
    CheckSumMismatch { expected: u8, received: u8 },
}

/// A framing error: what, at which byte of the buffer, and how many bytes to drop before
/// trying again (the whole message when its extent is known; for a BodyLength mismatch the
/// bytes BodyLength claims and then up to the next `8=FIX`; else up to the next `8=FIX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("FIX framing: {kind:?} at byte {offset} (discard {discard_bytes} bytes to resynchronise)")]
pub struct FrameError {
    pub kind: FrameErrorKind,
    pub offset: usize,
    /// Always at least 1, so a caller that drops it makes progress.
    pub discard_bytes: usize,
}

/// The CheckSum of `bytes`: their sum modulo 256.
pub fn checksum(bytes: &[u8]) -> u8 {
    // A u32 accumulator over chunks vectorises; 4 KiB chunks cannot overflow it.
    let mut sum = 0u32;
    for chunk in bytes.chunks(4096) {
        sum = sum.wrapping_add(chunk.iter().map(|&b| u32::from(b)).sum::<u32>());
    }
    sum as u8
}

/// How many bytes to drop after garbage at the head of `buf`: up to the next `8=FIX` after
/// the first byte, or, when there is none, all but a trailing partial `8=FIX` (at least 1).
pub fn resync_discard_bytes(buf: &[u8]) -> usize {
    if buf.len() <= 1 {
        return buf.len().max(1);
    }
    if let Some(at) = buf[1..].windows(RESYNC_MARK.len()).position(|w| w == RESYNC_MARK) {
        return at + 1;
    }
    // Keep the longest suffix that could be the start of the next message.
    let keep =
        (1..RESYNC_MARK.len()).rev().find(|&n| n < buf.len() && buf[buf.len() - n..] == RESYNC_MARK[..n]).unwrap_or(0);
    (buf.len() - keep).max(1)
}

fn garbled(buf: &[u8], kind: FrameErrorKind, offset: usize) -> FrameError {
    FrameError { kind, offset, discard_bytes: resync_discard_bytes(buf) }
}

/// BodyLength does not match: the bytes it claims (body and trailer, as far as the buffer
/// holds them) are dropped, then up to the next `8=FIX`. A receiver that trusts BodyLength
/// has read those bytes as this message, so a message they reach into is lost with it (as
/// with QuickFIX, whose `2m_BodyLengthValueNotCorrect` expects exactly that).
fn length_mismatch(buf: &[u8], offset: usize, len_bytes: usize) -> FrameError {
    let claimed = len_bytes.min(buf.len());
    let rest = &buf[claimed..];
    let after = match rest.windows(RESYNC_MARK.len()).position(|w| w == RESYNC_MARK) {
        Some(at) => at,
        None => {
            let keep = (1..RESYNC_MARK.len())
                .rev()
                .find(|&n| n <= rest.len() && rest[rest.len() - n..] == RESYNC_MARK[..n])
                .unwrap_or(0);
            rest.len() - keep
        }
    };
    FrameError { kind: FrameErrorKind::BodyLengthMismatch, offset, discard_bytes: (claimed + after).max(1) }
}

/// Finds the message at the head of `buf` (see [`Framing`], [`FrameError`]).
pub fn frame(buf: &[u8]) -> Result<Framing, FrameError> {
    let head = buf.len().min(PREFIX.len());
    if buf[..head] != PREFIX[..head] {
        let offset = buf.iter().zip(PREFIX).position(|(a, b)| a != b).unwrap_or(0);
        return Err(garbled(buf, FrameErrorKind::BadBeginString, offset));
    }
    if buf.len() < PREFIX.len() + 2 {
        return Ok(Framing::NeedMore);
    }
    let length_tag = PREFIX.len();
    if &buf[length_tag..length_tag + 2] != b"9=" {
        return Err(garbled(buf, FrameErrorKind::BadBodyLength, length_tag));
    }
    let digits_start = length_tag + 2;
    let mut body_len = 0usize;
    let mut at = digits_start;
    loop {
        let Some(&byte) = buf.get(at) else { return Ok(Framing::NeedMore) };
        if byte == SOH {
            break;
        }
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 || at - digits_start >= MAX_BODY_LEN_DIGITS {
            return Err(garbled(buf, FrameErrorKind::BadBodyLength, at));
        }
        body_len = body_len * 10 + usize::from(digit);
        at += 1;
    }
    if at == digits_start || body_len > MAX_BODY_LEN_BYTES {
        return Err(garbled(buf, FrameErrorKind::BadBodyLength, digits_start));
    }
    let body_start = at + 1;
    let checksum_start = body_start + body_len;
    let len_bytes = checksum_start + TRAILER_BYTES;
    if buf.len() < len_bytes {
        // Fail early on what is already visible: the body must end with SOH.
        if buf.len() > checksum_start && body_len > 0 && buf[checksum_start - 1] != SOH {
            return Err(length_mismatch(buf, checksum_start, len_bytes));
        }
        return Ok(Framing::NeedMore);
    }
    let trailer = &buf[checksum_start..len_bytes];
    if body_len == 0 || buf[checksum_start - 1] != SOH || &trailer[..3] != b"10=" {
        return Err(length_mismatch(buf, checksum_start, len_bytes));
    }
    let mut received = 0u32;
    for &byte in &trailer[3..6] {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            return Err(garbled(buf, FrameErrorKind::BadCheckSum, checksum_start + 3));
        }
        received = received * 10 + u32::from(digit);
    }
    if trailer[6] != SOH || received > 255 {
        return Err(garbled(buf, FrameErrorKind::BadCheckSum, checksum_start + 3));
    }
    let expected = checksum(&buf[..checksum_start]);
    if u32::from(expected) != received {
        return Err(FrameError {
            kind: FrameErrorKind::CheckSumMismatch { expected, received: received as u8 },
            offset: checksum_start + 3,
            discard_bytes: len_bytes,
        });
    }
    Ok(Framing::Complete { len_bytes, body_start, checksum_start })
}
