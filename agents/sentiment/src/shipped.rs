//! The SentimentX model that ships with this build, made by `qpctl forge`
//! (see `models/sentimentx.md`, its model card). Embedded in the binary: a
//! sealed node has no model file to lose or swap.
use std::path::Path;

use crate::student::{NativeStudent, StudentError};

/// The int8 model file's bytes.
pub const MODEL_BYTES: &[u8] = include_bytes!("../models/sentimentx.onnx");
/// How the shipped model is named in messages.
pub const MODEL_NAME: &str = "shipped:sentimentx.onnx";

/// The shipped model on the native int8 kernel.
pub fn student() -> Result<NativeStudent, StudentError> {
    NativeStudent::from_bytes(MODEL_BYTES, Path::new(MODEL_NAME))
}
