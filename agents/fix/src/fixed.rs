//! Decimal text ↔ integers: FIX INT/SEQNUM values and fixed-point prices and quantities
//! (an `i64` count of `10^-decimals` units). No floats anywhere; more precision than asked
//! is refused, never rounded.

/// Why a number's text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FixedError {
    #[error("empty number")]
    Empty,
    #[error("byte {byte:#04x} at index {index} is not part of a decimal number")]
    NotADigit { index: usize, byte: u8 },
    #[error("more than {decimals} decimal places (non-zero digit at index {index}); refusing to round")]
    TooPrecise { decimals: u8, index: usize },
    #[error("number does not fit in 64 bits")]
    Overflow,
    #[error("decimals {decimals} above the supported 18")]
    DecimalsTooLarge { decimals: u8 },
}

/// The largest number of decimals a fixed-point value may have (10^18 fits in i64).
pub const MAX_DECIMALS: u8 = 18;

const POW10: [i64; 19] = {
    let mut table = [1i64; 19];
    let mut i = 1;
    while i < 19 {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

/// An unsigned decimal integer (`[0-9]+`, no sign), as FIX SEQNUM, LENGTH, NUMINGROUP.
pub fn parse_uint(text: &[u8]) -> Result<u64, FixedError> {
    if text.is_empty() {
        return Err(FixedError::Empty);
    }
    let mut value: u64 = 0;
    for (index, &byte) in text.iter().enumerate() {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            return Err(FixedError::NotADigit { index, byte });
        }
        value = value.checked_mul(10).and_then(|v| v.checked_add(u64::from(digit))).ok_or(FixedError::Overflow)?;
    }
    Ok(value)
}

/// A signed decimal integer (`-?[0-9]+`), as FIX INT.
pub fn parse_int(text: &[u8]) -> Result<i64, FixedError> {
    match text.split_first() {
        Some((b'-', digits)) => {
            let magnitude = parse_uint(digits).map_err(|e| shift_index(e, 1))?;
            0i64.checked_sub_unsigned(magnitude).ok_or(FixedError::Overflow)
        }
        _ => i64::try_from(parse_uint(text)?).map_err(|_| FixedError::Overflow),
    }
}

fn shift_index(error: FixedError, by: usize) -> FixedError {
    match error {
        FixedError::NotADigit { index, byte } => FixedError::NotADigit { index: index + by, byte },
        FixedError::TooPrecise { decimals, index } => FixedError::TooPrecise { decimals, index: index + by },
        other => other,
    }
}

/// Decimal text (`-?[0-9]*(\.[0-9]*)?`, at least one digit, as FIX PRICE/QTY/AMT) as a
/// count of `10^-decimals` units. Digits past `decimals` must be zeros (`2000.00` is 2000
/// at 0 decimals); a non-zero one is [`FixedError::TooPrecise`].
pub fn parse_fixed(text: &[u8], decimals: u8) -> Result<i64, FixedError> {
    if decimals > MAX_DECIMALS {
        return Err(FixedError::DecimalsTooLarge { decimals });
    }
    let (negative, start) = match text.first() {
        None => return Err(FixedError::Empty),
        Some(b'-') => (true, 1),
        Some(_) => (false, 0),
    };
    let mut magnitude: u64 = 0;
    let mut digits = 0usize;
    let mut fraction_digits: u8 = 0;
    let mut seen_point = false;
    for (index, &byte) in text.iter().enumerate().skip(start) {
        if byte == b'.' && !seen_point {
            seen_point = true;
            continue;
        }
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            return Err(FixedError::NotADigit { index, byte });
        }
        digits += 1;
        if seen_point {
            if fraction_digits == decimals {
                if digit != 0 {
                    return Err(FixedError::TooPrecise { decimals, index });
                }
                continue;
            }
            fraction_digits += 1;
        }
        magnitude =
            magnitude.checked_mul(10).and_then(|v| v.checked_add(u64::from(digit))).ok_or(FixedError::Overflow)?;
    }
    if digits == 0 {
        return Err(FixedError::Empty);
    }
    let scaled = magnitude
        .checked_mul(POW10[usize::from(decimals - fraction_digits)].unsigned_abs())
        .ok_or(FixedError::Overflow)?;
    if negative {
        0i64.checked_sub_unsigned(scaled).ok_or(FixedError::Overflow)
    } else {
        i64::try_from(scaled).map_err(|_| FixedError::Overflow)
    }
}

/// `value` in decimal, written right-aligned into `digits` (20 digits hold any `u64`): the
/// returned slice is the number's text. No allocation, for writers of fixed buffers.
pub fn decimal_digits(mut value: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    &digits[at..]
}

/// Appends `value` in decimal.
pub(crate) fn write_uint(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(decimal_digits(value, &mut [0u8; 20]));
}

/// Appends `value` in decimal, with a leading `-` when negative.
pub(crate) fn write_int(out: &mut Vec<u8>, value: i64) {
    if value < 0 {
        out.push(b'-');
    }
    write_uint(out, value.unsigned_abs());
}

/// Appends the fixed-point `value` (a count of `10^-decimals` units) as decimal text with
/// exactly `decimals` fraction digits (none, and no point, at 0): `format_fixed(-1505, 2)`
/// writes `-15.05`. Exact: no float on the way. `decimals` above 18 are clamped to 18.
pub fn format_fixed(out: &mut Vec<u8>, value: i64, decimals: u8) {
    let decimals = decimals.min(MAX_DECIMALS);
    if value < 0 {
        out.push(b'-');
    }
    let magnitude = value.unsigned_abs();
    let scale = POW10[usize::from(decimals)].unsigned_abs();
    write_uint(out, magnitude / scale);
    if decimals > 0 {
        out.push(b'.');
        let mut fraction = magnitude % scale;
        let start = out.len();
        out.resize(start + usize::from(decimals), b'0');
        for slot in out[start..].iter_mut().rev() {
            *slot = b'0' + (fraction % 10) as u8;
            fraction /= 10;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_round_trips_and_refuses_precision() {
        assert_eq!(parse_fixed(b"002000.00", 0), Ok(2000));
        assert_eq!(parse_fixed(b"1.5", 2), Ok(150));
        assert_eq!(parse_fixed(b"-0.05", 2), Ok(-5));
        assert_eq!(parse_fixed(b".5", 1), Ok(5));
        assert_eq!(parse_fixed(b"1.", 1), Ok(10));
        assert_eq!(parse_fixed(b"1.005", 2), Err(FixedError::TooPrecise { decimals: 2, index: 4 }));
        assert_eq!(parse_fixed(b"+1", 2), Err(FixedError::NotADigit { index: 0, byte: b'+' }));
        assert_eq!(parse_fixed(b".", 2), Err(FixedError::Empty));
        assert_eq!(parse_fixed(b"1.2.3", 2), Err(FixedError::NotADigit { index: 3, byte: b'.' }));
        assert_eq!(parse_fixed(b"99999999999999999999", 0), Err(FixedError::Overflow));
        for (value, decimals, text) in [(-1505, 2, "-15.05"), (7, 3, "0.007"), (42, 0, "42"), (i64::MIN, 4, "")] {
            let mut out = Vec::new();
            format_fixed(&mut out, value, decimals);
            if !text.is_empty() {
                assert_eq!(out, text.as_bytes());
            }
            assert_eq!(parse_fixed(&out, decimals), Ok(value));
        }
        assert_eq!(parse_int(b"-12"), Ok(-12));
        assert_eq!(parse_int(b"-"), Err(FixedError::Empty));
        assert_eq!(parse_uint(b"12a"), Err(FixedError::NotADigit { index: 2, byte: b'a' }));
    }
}
