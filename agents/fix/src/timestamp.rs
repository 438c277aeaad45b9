//! UTCTimestamp (`YYYYMMDD-HH:MM:SS[.sss]`) ↔ Unix nanoseconds, by civil-calendar
//! arithmetic (no time-zone database, no clock).

/// Why a UTCTimestamp's text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error("UTCTimestamp must be YYYYMMDD-HH:MM:SS with 0, 3, 6 or 9 fraction digits (wrong at index {index})")]
    Format { index: usize },
    #[error("UTCTimestamp field out of range at index {index}")]
    OutOfRange { index: usize },
    #[error("UTCTimestamp before 1970-01-01")]
    BeforeEpoch,
}

const NS_PER_SECOND: u64 = 1_000_000_000;
const SECONDS_PER_DAY: u64 = 86_400;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day count since 1970-01-01 (Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn push_two(out: &mut Vec<u8>, value: u32) {
    out.push(b'0' + (value / 10 % 10) as u8);
    out.push(b'0' + (value % 10) as u8);
}

/// Appends `unix_ns` as `YYYYMMDD-HH:MM:SS.sss` (UTC, milliseconds, truncated).
pub fn format_utc_timestamp_ms(out: &mut Vec<u8>, unix_ns: u64) {
    let seconds = unix_ns / NS_PER_SECOND;
    let millis = (unix_ns % NS_PER_SECOND / 1_000_000) as u32;
    let (year, month, day) = civil_from_days((seconds / SECONDS_PER_DAY) as i64);
    let second_of_day = (seconds % SECONDS_PER_DAY) as u32;
    let year = year as u32;
    push_two(out, year / 100);
    push_two(out, year % 100);
    push_two(out, month);
    push_two(out, day);
    out.push(b'-');
    push_two(out, second_of_day / 3600);
    out.push(b':');
    push_two(out, second_of_day / 60 % 60);
    out.push(b':');
    push_two(out, second_of_day % 60);
    out.push(b'.');
    out.push(b'0' + (millis / 100) as u8);
    push_two(out, millis % 100);
}

fn digits(text: &[u8], start: usize, count: usize) -> Result<u32, TimestampError> {
    let mut value = 0u32;
    for index in start..start + count {
        let digit = text.get(index).map(|b| b.wrapping_sub(b'0')).filter(|d| *d <= 9);
        let Some(digit) = digit else { return Err(TimestampError::Format { index }) };
        value = value * 10 + u32::from(digit);
    }
    Ok(value)
}

fn expect(text: &[u8], index: usize, byte: u8) -> Result<(), TimestampError> {
    if text.get(index) == Some(&byte) { Ok(()) } else { Err(TimestampError::Format { index }) }
}

/// A UTCTimestamp (`YYYYMMDD-HH:MM:SS`, optionally `.sss`, `.ssssss` or `.sssssssss`; a
/// leap second `60` is accepted and counts as the next second) as Unix nanoseconds. Times
/// past what u64 nanoseconds hold (year 2554) are [`TimestampError::OutOfRange`].
pub fn parse_utc_timestamp_ns(text: &[u8]) -> Result<u64, TimestampError> {
    let year = digits(text, 0, 4)?;
    let month = digits(text, 4, 2)?;
    let day = digits(text, 6, 2)?;
    expect(text, 8, b'-')?;
    let hour = digits(text, 9, 2)?;
    expect(text, 11, b':')?;
    let minute = digits(text, 12, 2)?;
    expect(text, 14, b':')?;
    let second = digits(text, 15, 2)?;
    let fraction_ns = match text.len() {
        17 => 0,
        21 | 24 | 27 => {
            expect(text, 17, b'.')?;
            let count = text.len() - 18;
            let value = digits(text, 18, count)?;
            value * 10u32.pow(9 - count as u32)
        }
        _ => return Err(TimestampError::Format { index: text.len().min(17) }),
    };
    if !(1..=12).contains(&month) {
        return Err(TimestampError::OutOfRange { index: 4 });
    }
    let days_in_month = match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !(1..=days_in_month).contains(&day) {
        return Err(TimestampError::OutOfRange { index: 6 });
    }
    if hour > 23 {
        return Err(TimestampError::OutOfRange { index: 9 });
    }
    if minute > 59 {
        return Err(TimestampError::OutOfRange { index: 12 });
    }
    if second > 60 {
        return Err(TimestampError::OutOfRange { index: 15 });
    }
    let days = days_from_civil(i64::from(year), month, day);
    let days = u64::try_from(days).map_err(|_| TimestampError::BeforeEpoch)?;
    let seconds = days * SECONDS_PER_DAY + u64::from(hour) * 3600 + u64::from(minute) * 60 + u64::from(second);
    seconds
        .checked_mul(NS_PER_SECOND)
        .and_then(|ns| ns.checked_add(u64::from(fraction_ns)))
        .ok_or(TimestampError::OutOfRange { index: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_known_instants() {
        let mut out = Vec::new();
        format_utc_timestamp_ms(&mut out, 1_700_000_000_123_456_789);
        assert_eq!(out, b"20231114-22:13:20.123");
        assert_eq!(parse_utc_timestamp_ns(&out), Ok(1_700_000_000_123_000_000));
        assert_eq!(parse_utc_timestamp_ns(b"19700101-00:00:00"), Ok(0));
        assert_eq!(parse_utc_timestamp_ns(b"20000229-12:00:00.000001"), Ok(951_825_600_000_001_000));
        assert_eq!(parse_utc_timestamp_ns(b"42030212-00:04:05.678"), Err(TimestampError::OutOfRange { index: 0 }));
        assert_eq!(parse_utc_timestamp_ns(b"20010229-12:00:00"), Err(TimestampError::OutOfRange { index: 6 }));
        assert_eq!(parse_utc_timestamp_ns(b"20010228 12:00:00"), Err(TimestampError::Format { index: 8 }));
        assert_eq!(parse_utc_timestamp_ns(b"20010228-12:00:00.1"), Err(TimestampError::Format { index: 17 }));
        for ns in [0u64, 86_399_999_000_000, 951_782_400_000_000_000, 4_102_444_800_999_000_000] {
            let mut out = Vec::new();
            format_utc_timestamp_ms(&mut out, ns);
            assert_eq!(parse_utc_timestamp_ns(&out), Ok(ns), "{}", String::from_utf8_lossy(&out));
        }
    }
}
