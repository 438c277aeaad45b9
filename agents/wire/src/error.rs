use crate::header::FrameType;

/// Why a byte buffer is not a valid frame. Every variant names what was wrong and
/// the value found, so one log line is enough to tell a bad peer from a bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("frame truncated: need {needed} bytes, have {available}")]
    Truncated { needed: usize, available: usize },
    #[error("bad frame magic {found:#010x} (expected {expected:#010x})")]
    BadMagic { found: u32, expected: u32 },
    #[error("unsupported wire version {found} (this build speaks {supported})")]
    UnsupportedVersion { found: u16, supported: u16 },
    #[error("unknown frame type {found}")]
    UnknownType { found: u16 },
    #[error("{frame_type:?} frame declares length {declared}, its layout is {expected} bytes")]
    LengthMismatch { frame_type: FrameType, declared: u32, expected: u32 },
    #[error("{frame_type:?} frame has invalid {field} = {value}")]
    InvalidField { frame_type: FrameType, field: &'static str, value: i64 },
    #[error("expected a {expected:?} frame, got {found:?}")]
    WrongType { expected: FrameType, found: FrameType },
}
