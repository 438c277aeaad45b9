//! The measurement event log: what was extended into which PCR, in order. Pure (no I/O): the
//! supervisor appends to it as it measures, a verifier decodes a peer's log and replays it against
//! a quoted PCR value. The decoder is strict (one canonical encoding per log) and bounded, because
//! its input comes from the network.
//!
//! Text format, one event a line, every line ending in `\n`:
//!
//! ```text
//! qp-measurement-log v1
//! 15 5d41402abc4b2a76b9719d911017c592e3b0c44298fc1c149afbf4c8996fb924 service-binary /usr/bin/qp-node
//! ```
//!
//! Fields: the PCR (decimal, 0–23, no leading zeros), the SHA-256 digest extended (64 lower-case
//! hex digits), the kind (`[a-z0-9-]`, 1–32 bytes), and the name (the rest of the line: 1–512 bytes
//! of UTF-8, no control characters, no leading or trailing white space).

use std::fmt::{self, Write as _};

use crate::pcr_extend_value;

/// The first line of an encoded log.
const HEADER: &str = "qp-measurement-log v1";
/// The largest encoded log the decoder reads.
pub const MAX_LOG_BYTES: usize = 1 << 20;
/// The most events a log holds.
pub const MAX_EVENTS: usize = 4096;
/// The longest line, in bytes, without its `\n`.
pub const MAX_LINE: usize = 1024;
const MAX_KIND: usize = 32;
const MAX_NAME: usize = 512;

/// A service binary before it is started.
pub const KIND_SERVICE_BINARY: &str = "service-binary";
/// A model file before it is loaded.
pub const KIND_MODEL: &str = "model";
/// A configuration file before it is read.
pub const KIND_CONFIG: &str = "config";
/// The dm-verity root hash of the root file system.
pub const KIND_VERITY_ROOT_HASH: &str = "verity-root-hash";

/// One measurement: `digest` was extended into `pcr`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Measurement {
    pub pcr: u8,
    pub digest: [u8; 32],
    /// What was measured: one of the `KIND_*` constants.
    pub kind: String,
    /// Which one: a path, a model name.
    pub name: String,
}

impl Measurement {
    pub fn new(pcr: u8, kind: &str, name: &str, digest: [u8; 32]) -> Self {
        Self { pcr, digest, kind: kind.to_owned(), name: name.to_owned() }
    }

    /// The measurement of `bytes`: their SHA-256.
    pub fn of_bytes(pcr: u8, kind: &str, name: &str, bytes: &[u8]) -> Self {
        Self::new(pcr, kind, name, crate::sha256(bytes))
    }

    /// Whether the event can go into a log (the fields the encoding can carry).
    pub fn check(&self) -> Result<(), LogError> {
        check_pcr(self.pcr).map_err(LogError::Event)?;
        check_kind(&self.kind).map_err(LogError::Event)?;
        check_name(&self.name).map_err(LogError::Event)
    }
}

/// The events, in the order they were extended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MeasurementLog {
    events: Vec<Measurement>,
}

impl MeasurementLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an event (checked: see [`Measurement::check`]).
    pub fn append(&mut self, event: Measurement) -> Result<(), LogError> {
        event.check()?;
        if self.events.len() >= MAX_EVENTS {
            return Err(LogError::Event(LogErrorKind::TooManyEvents { max: MAX_EVENTS }));
        }
        self.events.push(event);
        Ok(())
    }

    pub fn events(&self) -> &[Measurement] {
        &self.events
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The value `pcr` has after its events, starting from `initial` (all zero after a reset).
    pub fn replay(&self, pcr: u8, initial: [u8; 32]) -> [u8; 32] {
        self.events
            .iter()
            .filter(|event| event.pcr == pcr)
            .fold(initial, |value, event| pcr_extend_value(&value, &event.digest))
    }

    /// The text encoding (see the module docs).
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(HEADER.len() + 1 + self.events.len() * 128);
        out.push_str(HEADER);
        out.push('\n');
        for event in &self.events {
            let _ = writeln!(out, "{} {} {} {}", event.pcr, crate::hex(&event.digest), event.kind, event.name);
        }
        out
    }

    /// Decodes a log [`MeasurementLog::encode`] wrote, refusing anything else.
    pub fn decode(bytes: &[u8]) -> Result<Self, LogError> {
        if bytes.len() > MAX_LOG_BYTES {
            return Err(LogError::TooLarge { bytes: bytes.len(), max: MAX_LOG_BYTES });
        }
        let mut lines = bytes.split(|&byte| byte == b'\n').enumerate().peekable();
        let mut log = Self::new();
        let mut seen_header = false;
        while let Some((index, line)) = lines.next() {
            let number = index + 1;
            let at = |kind| LogError::Line { line: number, kind };
            if lines.peek().is_none() {
                // The piece after the last `\n`: empty unless the input was cut short.
                if !line.is_empty() {
                    return Err(at(LogErrorKind::Truncated));
                }
                break;
            }
            if line.len() > MAX_LINE {
                return Err(at(LogErrorKind::LineTooLong { bytes: line.len(), max: MAX_LINE }));
            }
            let text = std::str::from_utf8(line).map_err(|_| at(LogErrorKind::NotUtf8))?;
            if !seen_header {
                if text != HEADER {
                    return Err(at(LogErrorKind::BadHeader));
                }
                seen_header = true;
                continue;
            }
            let event = parse_event(text).map_err(at)?;
            if log.events.len() >= MAX_EVENTS {
                return Err(at(LogErrorKind::TooManyEvents { max: MAX_EVENTS }));
            }
            log.events.push(event);
        }
        if !seen_header {
            return Err(LogError::Line { line: 1, kind: LogErrorKind::MissingHeader });
        }
        Ok(log)
    }
}

impl fmt::Display for MeasurementLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

fn parse_event(text: &str) -> Result<Measurement, LogErrorKind> {
    if text.is_empty() {
        return Err(LogErrorKind::EmptyLine);
    }
    let (pcr, rest) = text.split_once(' ').ok_or(LogErrorKind::MissingField("digest"))?;
    let (digest, rest) = rest.split_once(' ').ok_or(LogErrorKind::MissingField("kind"))?;
    let (kind, name) = rest.split_once(' ').ok_or(LogErrorKind::MissingField("name"))?;
    let pcr = parse_pcr(pcr)?;
    let digest = parse_digest(digest)?;
    check_kind(kind)?;
    check_name(name)?;
    Ok(Measurement { pcr, digest, kind: kind.to_owned(), name: name.to_owned() })
}

fn parse_pcr(text: &str) -> Result<u8, LogErrorKind> {
    let canonical = !text.is_empty()
        && text.len() <= 2
        && text.bytes().all(|byte| byte.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    let pcr = if canonical { text.parse::<u8>().map_err(|_| LogErrorKind::BadPcr)? } else { 24 };
    check_pcr(pcr)?;
    Ok(pcr)
}

fn check_pcr(pcr: u8) -> Result<(), LogErrorKind> {
    if pcr < 24 { Ok(()) } else { Err(LogErrorKind::BadPcr) }
}

fn parse_digest(text: &str) -> Result<[u8; 32], LogErrorKind> {
    if text.len() != 64 {
        return Err(LogErrorKind::DigestLength { hex_digits: text.len() });
    }
    let mut digest = [0u8; 32];
    for (byte, pair) in digest.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        let (Some(high), Some(low)) = (hex_value(pair[0]), hex_value(pair[1])) else {
            return Err(LogErrorKind::BadHex);
        };
        *byte = (high << 4) | low;
    }
    Ok(digest)
}

/// A lower-case hex digit's value (upper case is refused: one encoding per log).
fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

fn check_kind(kind: &str) -> Result<(), LogErrorKind> {
    let ok = !kind.is_empty()
        && kind.len() <= MAX_KIND
        && kind.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-');
    if ok { Ok(()) } else { Err(LogErrorKind::BadKind) }
}

fn check_name(name: &str) -> Result<(), LogErrorKind> {
    if name.is_empty() {
        return Err(LogErrorKind::BadName("empty"));
    }
    if name.len() > MAX_NAME {
        return Err(LogErrorKind::BadName("longer than 512 bytes"));
    }
    if name.chars().any(char::is_control) {
        return Err(LogErrorKind::BadName("a control character"));
    }
    if name.starts_with(char::is_whitespace) || name.ends_with(char::is_whitespace) {
        return Err(LogErrorKind::BadName("leading or trailing white space"));
    }
    Ok(())
}

/// A measurement log could not be decoded, or an event cannot go into one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    #[error("measurement log is {bytes} bytes, over the {max}-byte limit")]
    TooLarge { bytes: usize, max: usize },
    #[error("measurement log line {line}: {kind}")]
    Line { line: usize, kind: LogErrorKind },
    #[error("measurement event: {0}")]
    Event(LogErrorKind),
}

impl LogError {
    /// The 1-based line the error is on, for a decoding error.
    pub fn line(&self) -> Option<usize> {
        match self {
            LogError::Line { line, .. } => Some(*line),
            _ => None,
        }
    }
}

/// What is wrong with a line or an event. Never echoes the (untrusted) input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LogErrorKind {
    #[error("empty input (no `qp-measurement-log v1` header)")]
    MissingHeader,
    #[error("not the `qp-measurement-log v1` header")]
    BadHeader,
    #[error("truncated (the last line does not end in a newline)")]
    Truncated,
    #[error("{bytes}-byte line, over the {max}-byte limit")]
    LineTooLong { bytes: usize, max: usize },
    #[error("not UTF-8")]
    NotUtf8,
    #[error("empty line")]
    EmptyLine,
    #[error("no {0} field")]
    MissingField(&'static str),
    #[error("the PCR is not a decimal 0..=23 without leading zeros")]
    BadPcr,
    #[error("the digest is {hex_digits} hex digits, not 64")]
    DigestLength { hex_digits: usize },
    #[error("the digest is not lower-case hex")]
    BadHex,
    #[error("the kind is not 1-32 bytes of [a-z0-9-]")]
    BadKind,
    #[error("the name has {0}")]
    BadName(&'static str),
    #[error("more than {max} events")]
    TooManyEvents { max: usize },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> MeasurementLog {
        let mut log = MeasurementLog::new();
        for (kind, name) in [
            (KIND_VERITY_ROOT_HASH, "root"),
            (KIND_SERVICE_BINARY, "/usr/bin/qp-node"),
            (KIND_MODEL, "models/risk v2.onnx"),
            (KIND_CONFIG, "/etc/qp/node.toml"),
        ] {
            assert!(log.append(Measurement::of_bytes(15, kind, name, name.as_bytes())).is_ok());
        }
        log
    }

    #[test]
    fn round_trip() {
        let log = sample();
        assert_eq!(MeasurementLog::decode(log.encode().as_bytes()), Ok(log));
        assert_eq!(MeasurementLog::decode(b"qp-measurement-log v1\n"), Ok(MeasurementLog::new()));
    }

    #[test]
    fn replay_is_the_extend_chain() {
        let log = sample();
        let mut value = [0u8; 32];
        for event in log.events() {
            value = pcr_extend_value(&value, &event.digest);
        }
        assert_eq!(log.replay(15, [0; 32]), value);
        assert_eq!(log.replay(16, [0; 32]), [0; 32]);
    }

    #[test]
    fn append_refuses_what_the_encoding_cannot_carry() {
        let mut log = MeasurementLog::new();
        for event in [
            Measurement::new(24, KIND_MODEL, "m", [0; 32]),
            Measurement::new(15, "Model", "m", [0; 32]),
            Measurement::new(15, KIND_MODEL, "a\nb", [0; 32]),
            Measurement::new(15, KIND_MODEL, " m", [0; 32]),
            Measurement::new(15, KIND_MODEL, "", [0; 32]),
        ] {
            assert!(matches!(log.append(event), Err(LogError::Event(_))));
        }
        assert!(log.is_empty());
    }
}
