use std::path::PathBuf;

/// Why a recorded file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The I/O error is part of the message, not a chained source, so `{:#}` prints it once.
    #[error("{path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    #[error("{path}:{line}: {detail}")]
    Parse { path: PathBuf, line: usize, detail: String },
}
