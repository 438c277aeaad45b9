use std::path::PathBuf;

/// Why a recorded file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}: {detail}")]
    Parse { path: PathBuf, line: usize, detail: String },
}
