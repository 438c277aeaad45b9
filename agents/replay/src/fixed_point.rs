/// Why a decimal string is not a fixed-point number at the asked precision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FixedPointError {
    #[error("{0:?} is not a decimal number")]
    NotDecimal(String),
    #[error("{value:?} has more precision than {decimals} decimals")]
    OffGrid { value: String, decimals: u32 },
    #[error("{0:?} does not fit in 64 bits at this precision")]
    Overflow(String),
}

/// Parse a non-negative decimal string ("61800.20") into an integer count of
/// 10^-`decimals` units (`decimals` = 1 gives 618002). Trailing zeros beyond the
/// precision are fine; a non-zero digit beyond it is an error, never rounded.
pub fn parse_fixed(text: &str, decimals: u32) -> Result<i64, FixedPointError> {
    parse_fixed_bytes(text.as_bytes(), decimals)
}

/// [`parse_fixed`] on bytes (a field sliced out of a feed line without UTF-8
/// validation). It allocates only to build an error, which quotes the input
/// (invalid UTF-8 replaced).
pub fn parse_fixed_bytes(text: &[u8], decimals: u32) -> Result<i64, FixedPointError> {
    let owned = || String::from_utf8_lossy(text).into_owned();
    let (whole, fraction) = match text.iter().position(|&b| b == b'.') {
        Some(dot) => (&text[..dot], &text[dot + 1..]),
        None => (text, &text[text.len()..]),
    };
    let digits_only = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    if whole.is_empty() || !digits_only(whole) || !digits_only(fraction) {
        return Err(FixedPointError::NotDecimal(owned()));
    }
    let (kept, dropped) = fraction.split_at(fraction.len().min(decimals as usize));
    if dropped.iter().any(|&b| b != b'0') {
        return Err(FixedPointError::OffGrid { value: owned(), decimals });
    }
    let mut value: i64 = 0;
    for &b in whole.iter().chain(kept) {
        value = match value.checked_mul(10).and_then(|v| v.checked_add(i64::from(b - b'0'))) {
            Some(v) => v,
            None => return Err(FixedPointError::Overflow(owned())),
        };
    }
    for _ in kept.len()..decimals as usize {
        value = value.checked_mul(10).ok_or_else(|| FixedPointError::Overflow(owned()))?;
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_on_grid_values_exactly() {
        assert_eq!(parse_fixed("61800.20", 1), Ok(618_002));
        assert_eq!(parse_fixed("61800.2", 2), Ok(6_180_020));
        assert_eq!(parse_fixed("2.507", 3), Ok(2_507));
        assert_eq!(parse_fixed("7", 3), Ok(7_000));
        assert_eq!(parse_fixed("0.000", 3), Ok(0));
    }

    #[test]
    fn rejects_what_it_cannot_represent() {
        assert!(matches!(parse_fixed("61800.25", 1), Err(FixedPointError::OffGrid { .. })));
        assert!(matches!(parse_fixed("-1", 1), Err(FixedPointError::NotDecimal(_))));
        assert!(matches!(parse_fixed("1e5", 1), Err(FixedPointError::NotDecimal(_))));
        assert!(matches!(parse_fixed("", 1), Err(FixedPointError::NotDecimal(_))));
        assert!(matches!(parse_fixed(".5", 1), Err(FixedPointError::NotDecimal(_))));
        assert!(matches!(parse_fixed("99999999999999999999", 0), Err(FixedPointError::Overflow(_))));
        assert!(matches!(parse_fixed("1.", 1), Ok(10)));
        assert!(matches!(parse_fixed("1..", 1), Err(FixedPointError::NotDecimal(_))));
        assert!(matches!(parse_fixed("9223372036854775807", 1), Err(FixedPointError::Overflow(_))));
    }

    #[test]
    fn bytes_and_text_agree() {
        for text in ["61800.20", "0.000", "7", "61800.25", "-1", "", ".5", "1.2.3", "99999999999999999999"] {
            assert_eq!(parse_fixed_bytes(text.as_bytes(), 1), parse_fixed(text, 1), "{text}");
        }
        assert!(matches!(parse_fixed_bytes(b"1\xff", 1), Err(FixedPointError::NotDecimal(_))));
    }
}
