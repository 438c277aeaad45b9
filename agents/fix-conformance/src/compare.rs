//! The comparison of an expected (`E`) message with what the engine sent, as QuickFIX's
//! `Comparator.rb` with its `definitions/fields.fmt` patterns.
//!
//! Both messages are split at SOH (a trailing empty piece dropped). They must have the same
//! number of fields, the same tags in the same order, and equal values, except for the
//! fields whose value depends on the moment or the engine (`fields.fmt`), where the
//! received value must only *contain* a match of the pattern (Ruby's unanchored `===`):
//!
//! | tags | pattern |
//! |---|---|
//! | 9 (BodyLength), 17 (ExecID), 37 (OrderID), 198 (SecondaryOrderID) | `.` (any value) |
//! | 10 (CheckSum) | `\d{3}` |
//! | 42, 52 (SendingTime), 60, 122 (OrigSendingTime), 9713, 9714, 9716 | `\d{8}-\d{2}:\d{2}:\d{2}` |
//! | 75 (TradeDate) | `\d{8}` |
//! | 9715 | `[ ABCD]` |
//!
//! One difference from Ruby: a value is everything after the first `=` (Ruby's
//! `split("=")` keeps only the text up to a second `=`), which is stricter and changes
//! nothing for the 59 scripts.

use qp_fix::SOH;

/// How a received field's value is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pattern {
    /// Equal to the expected value.
    Exact,
    /// At least one character.
    Any,
    /// Contains three digits in a row.
    ThreeDigits,
    /// Contains `dddddddd-dd:dd:dd`.
    Timestamp,
    /// Contains eight digits in a row.
    Date,
    /// Contains one of ` ABCD`.
    OneOfSpaceAbcd,
}

fn pattern(tag: &[u8]) -> Pattern {
    match tag {
        b"9" | b"17" | b"37" | b"198" => Pattern::Any,
        b"10" => Pattern::ThreeDigits,
        b"42" | b"52" | b"60" | b"122" | b"9713" | b"9714" | b"9716" => Pattern::Timestamp,
        b"75" => Pattern::Date,
        b"9715" => Pattern::OneOfSpaceAbcd,
        _ => Pattern::Exact,
    }
}

fn matches(pattern: Pattern, expected: &[u8], got: &[u8]) -> bool {
    let digits_run = |n: usize| got.windows(n).any(|w| w.iter().all(u8::is_ascii_digit));
    match pattern {
        Pattern::Exact => expected == got,
        Pattern::Any => !got.is_empty(),
        Pattern::ThreeDigits => digits_run(3),
        Pattern::Date => digits_run(8),
        Pattern::OneOfSpaceAbcd => got.iter().any(|b| b" ABCD".contains(b)),
        Pattern::Timestamp => got.windows(17).any(|w| {
            w.iter().enumerate().all(|(i, b)| match i {
                8 => *b == b'-',
                11 | 14 => *b == b':',
                _ => b.is_ascii_digit(),
            })
        }),
    }
}

/// Why a received message does not match the expected one (QuickFIX's wording).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    #[error("Number of fields do not match (expected {expected}, received {got})")]
    FieldCount { expected: usize, got: usize },
    #[error("Expected field ({expected}) but found field ({got})")]
    Tag { expected: String, got: String },
    #[error("Value in field ({tag}) should be ({expected}) but was ({got})")]
    Value { tag: String, expected: String, got: String },
    #[error("Field ({tag}) does not match pattern")]
    Pattern { tag: String },
}

fn fields(message: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut pieces: Vec<&[u8]> = message.split(|&b| b == SOH).collect();
    while pieces.last().is_some_and(|p| p.is_empty()) {
        pieces.pop();
    }
    pieces
        .into_iter()
        .map(|piece| match piece.iter().position(|&b| b == b'=') {
            Some(eq) => (&piece[..eq], &piece[eq + 1..]),
            None => (piece, &b""[..]),
        })
        .collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Compares a filled-in expected message with the received one.
pub fn compare(expected: &[u8], got: &[u8]) -> Result<(), Mismatch> {
    let (want, have) = (fields(expected), fields(got));
    if want.len() != have.len() {
        return Err(Mismatch::FieldCount { expected: want.len(), got: have.len() });
    }
    for ((tag, value), (got_tag, got_value)) in want.iter().zip(&have) {
        if tag != got_tag {
            return Err(Mismatch::Tag { expected: text(tag), got: text(got_tag) });
        }
        let pattern = pattern(tag);
        if !matches(pattern, value, got_value) {
            return Err(if pattern == Pattern::Exact {
                Mismatch::Value { tag: text(tag), expected: text(value), got: text(got_value) }
            } else {
                Mismatch::Pattern { tag: text(tag) }
            });
        }
    }
    Ok(())
}
