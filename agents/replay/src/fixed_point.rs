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
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits_only(whole) || !digits_only(fraction) {
        return Err(FixedPointError::NotDecimal(text.to_owned()));
    }
    let (kept, dropped) = fraction.split_at(fraction.len().min(decimals as usize));
    if dropped.bytes().any(|b| b != b'0') {
        return Err(FixedPointError::OffGrid { value: text.to_owned(), decimals });
    }
    let overflow = || FixedPointError::Overflow(text.to_owned());
    let mut value: i64 = 0;
    for b in whole.bytes().chain(kept.bytes()).chain(std::iter::repeat_n(b'0', decimals as usize - kept.len())) {
        value = value.checked_mul(10).and_then(|v| v.checked_add(i64::from(b - b'0'))).ok_or_else(overflow)?;
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
    }
}
