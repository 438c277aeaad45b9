use std::path::PathBuf;

/// Everything that can go wrong in the teacher.
#[derive(Debug, thiserror::Error)]
pub enum TeacherError {
    /// No usable model folder; `tried` lists every place that was looked at, with why it was rejected.
    #[error("teacher model not found; looked in: {}", format_tried(.tried))]
    ModelNotFound { tried: Vec<(PathBuf, String)> },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// The model folder holds something this crate cannot run faithfully.
    #[error("{path}: unsupported teacher model: {detail}")]
    UnsupportedModel { path: PathBuf, detail: String },
    #[error("{path}: tokenizer: {detail}")]
    Tokenizer { path: PathBuf, detail: String },
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    /// A cache file that is not ours, of another version, or damaged.
    #[error("{path}: embedding cache is corrupt or not a cache: {detail}")]
    CacheCorrupt { path: PathBuf, detail: String },
    /// A valid cache file, written by a different teacher model.
    #[error("{path}: embedding cache belongs to teacher {found:016x}, not {expected:016x}")]
    CacheForeign { path: PathBuf, expected: u64, found: u64 },
    /// A head file that is not ours, of another version, or inconsistent.
    #[error("{path}: invalid head file: {detail}")]
    HeadFormat { path: PathBuf, detail: String },
    /// Bad arguments (empty training set, label out of range, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

fn format_tried(tried: &[(PathBuf, String)]) -> String {
    if tried.is_empty() {
        return "nowhere".to_owned();
    }
    tried.iter().map(|(path, why)| format!("{} ({why})", path.display())).collect::<Vec<_>>().join("; ")
}
