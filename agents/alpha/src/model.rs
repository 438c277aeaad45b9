//! The Decide agent's model: an MLP read from an ONNX file by qp-models (native kernels by
//! default, ONNX Runtime on request), checked for its shape at load, and named by the SHA-256
//! of its file so the audit trail can say which exact model made a decision.
use std::path::{Path, PathBuf};

use qp_models::{BackendKind, ModelBackend, ModelError, NativeBackend, NativePrecision};
use sha2::Digest;

use crate::features::{FEATURE_COUNT, FeatureVector};

/// Outputs of the model: class probabilities, in this order.
pub const CLASSES: [&str; 3] = ["down", "flat", "up"];
/// Number of model outputs.
pub const OUTPUT_COUNT: usize = 3;

/// The model file this build ships (made by `qpctl forge alpha`, see `agents/alpha/DESIGN.md`).
pub const SHIPPED_MODEL_BYTES: &[u8] = include_bytes!("../models/alpha-v1.onnx");
/// How the shipped model is named in messages and in the audit trail.
pub const SHIPPED_MODEL_NAME: &str = "shipped:alpha-v1.onnx";

/// Why a model could not be used. Every variant names the model file.
#[derive(Debug, thiserror::Error)]
pub enum AlphaModelError {
    /// qp-models refused the file (unreadable, malformed, unsupported); its message names the file.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The file is a model, but not one of this shape.
    #[error("model {}: takes {inputs} features and gives {outputs} outputs; the Decide agent needs {FEATURE_COUNT} and {OUTPUT_COUNT}", path.display())]
    Shape { path: PathBuf, inputs: usize, outputs: usize },
    /// ONNX Runtime takes a model file, not bytes.
    #[error("model {name}: ONNX Runtime needs a model file path, not the embedded model")]
    EmbeddedOnnxRuntime { name: String },
}

/// Which model file made a decision: its name and the SHA-256 of its bytes (what
/// `qp_audit::AuditWriter::record_model` records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelIdentity {
    pub name: String,
    pub sha256: [u8; 32],
    pub file_bytes: usize,
}

impl ModelIdentity {
    /// The identity of model file bytes named `name`.
    pub fn of(name: &str, bytes: &[u8]) -> Self {
        Self { name: name.to_owned(), sha256: sha2::Sha256::digest(bytes).into(), file_bytes: bytes.len() }
    }

    /// The first four bytes of the digest, little-endian: a short id for logs.
    pub fn short_id(&self) -> u32 {
        u32::from_le_bytes([self.sha256[0], self.sha256[1], self.sha256[2], self.sha256[3]])
    }

    /// The digest in lower-case hex.
    pub fn sha256_hex(&self) -> String {
        self.sha256.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The model's answer for one feature vector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// P(down), P(flat), P(up).
    pub probabilities: [f32; OUTPUT_COUNT],
}

impl Prediction {
    /// P(up) − P(down), in −1 ..= 1: the signed edge the policy thresholds.
    pub fn edge(&self) -> f32 {
        self.probabilities[2] - self.probabilities[0]
    }
}

/// A loaded alpha model. `predict` allocates nothing on the native backends.
#[derive(Debug)]
pub struct AlphaModel {
    backend: Box<dyn ModelBackend>,
    identity: ModelIdentity,
    output: [f32; OUTPUT_COUNT],
}

impl AlphaModel {
    /// The model in `bytes`, named `name` in errors and in its identity, on a native backend
    /// (`kind` must be a native kind).
    pub fn from_bytes(bytes: &[u8], name: &str, kind: BackendKind) -> Result<Self, AlphaModelError> {
        let path = Path::new(name);
        let backend: Box<dyn ModelBackend> = match kind {
            BackendKind::NativeF32 => Box::new(NativeBackend::from_bytes(bytes, path, NativePrecision::F32)?),
            BackendKind::NativeInt8 => Box::new(NativeBackend::from_bytes(bytes, path, NativePrecision::Int8)?),
            BackendKind::OnnxRuntime => return Err(AlphaModelError::EmbeddedOnnxRuntime { name: name.to_owned() }),
        };
        Self::checked(backend, ModelIdentity::of(name, bytes), path)
    }

    /// The model file at `path` on a backend of `kind`.
    pub fn load(path: &Path, kind: BackendKind) -> Result<Self, AlphaModelError> {
        let bytes = qp_models::read_capped(path, qp_models::MAX_MODEL_FILE_BYTES).map_err(|error| {
            AlphaModelError::Model(match error {
                qp_models::CappedReadError::Io(source) => ModelError::Io { path: path.to_path_buf(), source },
                qp_models::CappedReadError::TooLarge { len } => {
                    ModelError::FileTooLarge { path: path.to_path_buf(), len, limit: qp_models::MAX_MODEL_FILE_BYTES }
                }
            })
        })?;
        let name = path.display().to_string();
        if kind == BackendKind::OnnxRuntime {
            let backend = Box::new(qp_models::OnnxRuntimeBackend::load(path)?);
            return Self::checked(backend, ModelIdentity::of(&name, &bytes), path);
        }
        Self::from_bytes(&bytes, &name, kind)
    }

    /// The shipped model ([`SHIPPED_MODEL_BYTES`]) on a native backend.
    pub fn shipped(kind: BackendKind) -> Result<Self, AlphaModelError> {
        Self::from_bytes(SHIPPED_MODEL_BYTES, SHIPPED_MODEL_NAME, kind)
    }

    fn checked(backend: Box<dyn ModelBackend>, identity: ModelIdentity, path: &Path) -> Result<Self, AlphaModelError> {
        if backend.input_len() != FEATURE_COUNT || backend.output_len() != OUTPUT_COUNT {
            return Err(AlphaModelError::Shape {
                path: path.to_path_buf(),
                inputs: backend.input_len(),
                outputs: backend.output_len(),
            });
        }
        Ok(Self { backend, identity, output: [0.0; OUTPUT_COUNT] })
    }

    /// Which model this is.
    pub fn identity(&self) -> &ModelIdentity {
        &self.identity
    }

    /// `"native-f32"`, `"native-int8"` or `"onnxruntime"`.
    pub fn backend_name(&self) -> &'static str {
        self.backend.backend_name()
    }

    /// Run the model on one feature vector.
    pub fn predict(&mut self, features: &FeatureVector) -> Result<Prediction, ModelError> {
        self.backend.infer(features, &mut self.output)?;
        Ok(Prediction { probabilities: self.output })
    }
}
