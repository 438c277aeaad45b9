//! The crate's one error type.
//!
//! Every error raised while loading a model names the model file, so a log line
//! alone tells an operator which file to look at. Errors raised by
//! [`ModelBackend::infer`](crate::ModelBackend::infer) on the native backends
//! carry no path: they must not allocate, and they describe a caller bug (wrong
//! slice length), not a file problem.

use std::path::PathBuf;

use crate::onnx_proto::DecodeError;

/// Everything that can go wrong loading or running a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The model file could not be read (missing, permissions, ...).
    #[error("model {}: cannot read file: {source}", path.display())]
    Io {
        /// The model file.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },

    /// The model file is bigger than this crate accepts.
    #[error("model {}: file is {len} bytes, larger than the {limit}-byte limit", path.display())]
    FileTooLarge {
        /// The model file.
        path: PathBuf,
        /// The file's length in bytes.
        len: u64,
        /// The largest accepted length in bytes.
        limit: u64,
    },

    /// The bytes are not a well-formed protobuf `ModelProto`.
    #[error("model {}: {source}", path.display())]
    Malformed {
        /// The model file.
        path: PathBuf,
        /// What is wrong with the bytes, and where.
        source: DecodeError,
    },

    /// The protobuf is well formed but the ONNX graph is not valid or not
    /// consistent (undefined value, shape mismatch, missing input, ...).
    #[error("model {}: invalid graph: {reason}", path.display())]
    InvalidGraph {
        /// The model file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// The graph uses an operator the native backends cannot execute.
    #[error("model {}: unsupported op `{op}`", path.display())]
    UnsupportedOp {
        /// The model file.
        path: PathBuf,
        /// The operator, prefixed by its domain when the domain is not the default.
        op: String,
    },

    /// The graph uses a supported operator in a way the native backends do not
    /// implement (an attribute value, a non-constant weight, a data type, ...).
    #[error("model {}: unsupported: {what}", path.display())]
    Unsupported {
        /// The model file.
        path: PathBuf,
        /// What is not supported.
        what: String,
    },

    /// ONNX Runtime could not be loaded (library path unset, missing or unloadable).
    #[error("ONNX Runtime unavailable: {reason}")]
    RuntimeUnavailable {
        /// Why, including how to fix it.
        reason: String,
    },

    /// ONNX Runtime refused the model at load time.
    #[error("model {}: ONNX Runtime rejected the model: {message}", path.display())]
    RuntimeLoad {
        /// The model file.
        path: PathBuf,
        /// ONNX Runtime's message.
        message: String,
    },

    /// ONNX Runtime failed while running the model.
    #[error("model {}: ONNX Runtime inference failed: {message}", path.display())]
    RuntimeInference {
        /// The model file.
        path: PathBuf,
        /// ONNX Runtime's message.
        message: String,
    },

    /// `infer` was handed an input slice of the wrong length.
    #[error("input has {actual} values, the model expects {expected}")]
    InputLength {
        /// The model's input length.
        expected: usize,
        /// The slice's length.
        actual: usize,
    },

    /// `infer` was handed an output slice of the wrong length.
    #[error("output has room for {actual} values, the model produces {expected}")]
    OutputLength {
        /// The model's output length.
        expected: usize,
        /// The slice's length.
        actual: usize,
    },

    /// An internal consistency check of the compiled plan failed. This is a bug
    /// in this crate, reported instead of panicking.
    #[error("internal error in the native plan: {what}")]
    Internal {
        /// Which check failed.
        what: &'static str,
    },

    /// The model builder was given inconsistent layers.
    #[error("cannot build model: {reason}")]
    Build {
        /// What is inconsistent.
        reason: String,
    },
}
