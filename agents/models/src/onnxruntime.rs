//! ONNX Runtime backend through the `ort` crate, with the shared library
//! loaded at run time from `ORT_DYLIB_PATH`.
//!
//! `ort` panics when it has to find the library itself and cannot, so this
//! module never lets it look: it checks the path and calls `ort::init_from`
//! once per process, turning every failure into [`ModelError::RuntimeUnavailable`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::Session;
use ort::value::{Tensor, TensorElementType, ValueType};

use crate::ModelBackend;
use crate::error::ModelError;
use crate::model_file::read_model_file;

/// Environment variable holding the path of `libonnxruntime.so`.
pub const ORT_DYLIB_PATH_ENV: &str = "ORT_DYLIB_PATH";

/// The process-wide ONNX Runtime environment, or why it could not be created.
static ENVIRONMENT: OnceLock<Result<Environment, String>> = OnceLock::new();

fn create_environment() -> Result<Environment, String> {
    let hint = "set it to the path of libonnxruntime.so (`cargo xtask test` does)";
    let path = match std::env::var_os(ORT_DYLIB_PATH_ENV) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => return Err(format!("{ORT_DYLIB_PATH_ENV} is not set; {hint}")),
    };
    if !path.is_file() {
        return Err(format!("{ORT_DYLIB_PATH_ENV}={} is not a file; {hint}", path.display()));
    }
    let builder = ort::init_from(&path).map_err(|e| format!("cannot load {}: {e}", path.display()))?;
    let environment = builder
        .with_name("qp-models")
        .with_telemetry(false)
        .build()
        .map_err(|e| format!("cannot create an environment from {}: {e}", path.display()))?;
    tracing::info!(library = %path.display(), "ONNX Runtime loaded");
    Ok(environment)
}

/// The process's one ONNX Runtime environment, created on first use. Every
/// crate that runs ONNX Runtime takes it from here: the runtime allows one
/// environment per process.
pub fn onnxruntime_environment() -> Result<&'static Environment, ModelError> {
    ENVIRONMENT
        .get_or_init(create_environment)
        .as_ref()
        .map_err(|reason| ModelError::RuntimeUnavailable { reason: reason.clone() })
}

/// Whether ONNX Runtime can be used in this process (loads it if needed).
pub fn onnxruntime_available() -> Result<(), ModelError> {
    onnxruntime_environment().map(drop)
}

/// A single-threaded CPU session (one intra-op, one inter-op thread: agents own
/// their cores) for the model file `path` whose bytes are `bytes`. A refusal
/// is [`ModelError::RuntimeLoad`] naming `path`.
pub fn onnxruntime_session(bytes: &[u8], path: &Path) -> Result<Session, ModelError> {
    let environment = onnxruntime_environment()?;
    let rejected = |message: String| ModelError::RuntimeLoad { path: path.to_path_buf(), message };
    Session::builder(environment)
        .map_err(|e| rejected(e.to_string()))?
        .with_intra_threads(1)
        .map_err(|e| rejected(e.to_string()))?
        .with_inter_threads(1)
        .map_err(|e| rejected(e.to_string()))?
        .commit_from_memory(bytes)
        .map_err(|e| rejected(e.to_string()))
}

/// A model run by ONNX Runtime on the CPU with one intra-op thread.
pub struct OnnxRuntimeBackend {
    path: PathBuf,
    session: Session,
    output_name: String,
    /// Preallocated input tensor, refilled on every call.
    input: Tensor<f32>,
    input_len: usize,
    output_len: usize,
}

impl fmt::Debug for OnnxRuntimeBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnnxRuntimeBackend")
            .field("path", &self.path)
            .field("input_len", &self.input_len)
            .field("output_len", &self.output_len)
            .finish_non_exhaustive()
    }
}

impl OnnxRuntimeBackend {
    /// Loads the model at `path` into an ONNX Runtime session and runs it once
    /// on zeros, to learn the output length and so that a model ONNX Runtime
    /// cannot execute fails here rather than at the first real inference.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        // Read the file ourselves so a missing file is an I/O error naming it.
        let bytes = read_model_file(path)?;
        let session = onnxruntime_session(&bytes, path)?;
        let rejected = |message: String| ModelError::RuntimeLoad { path: path.to_path_buf(), message };

        let unsupported = |what: String| ModelError::Unsupported { path: path.to_path_buf(), what };
        let ([input], [output]) = (session.inputs(), session.outputs()) else {
            return Err(unsupported(format!(
                "{} inputs and {} outputs; exactly one of each is supported",
                session.inputs().len(),
                session.outputs().len()
            )));
        };
        let input_shape = float_tensor_shape(input.dtype())
            .ok_or_else(|| unsupported(format!("input `{}` is not a float tensor", input.name())))?;
        if float_tensor_shape(output.dtype()).is_none() {
            return Err(unsupported(format!("output `{}` is not a float tensor", output.name())));
        }
        let output_name = output.name().to_owned();
        // Dynamic dimensions (-1) are run as 1: batch 1.
        let input_shape: Vec<i64> = input_shape.iter().map(|&d| if d < 0 { 1 } else { d }).collect();
        let input_len = input_shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d as usize))
            .filter(|&n| n > 0 && n <= crate::graph::MAX_ACTIVATION_ELEMENTS)
            .ok_or_else(|| unsupported(format!("input shape {input_shape:?}")))?;
        let input_tensor =
            Tensor::from_array((input_shape, vec![0.0f32; input_len])).map_err(|e| rejected(e.to_string()))?;

        let mut backend =
            Self { path: path.to_path_buf(), session, output_name, input: input_tensor, input_len, output_len: 0 };
        backend.output_len = backend.run(|data| data.len())?;
        tracing::debug!(
            path = %path.display(),
            input_len = backend.input_len,
            output_len = backend.output_len,
            "ONNX Runtime model loaded"
        );
        Ok(backend)
    }

    /// Runs the session on the current input tensor and hands the output
    /// values to `read`.
    fn run<R>(&mut self, read: impl FnOnce(&[f32]) -> R) -> Result<R, ModelError> {
        let failed = |message: String| ModelError::RuntimeInference { path: self.path.clone(), message };
        let outputs = self.session.run(ort::inputs![&self.input]).map_err(|e| failed(e.to_string()))?;
        let value =
            outputs.get(&self.output_name).ok_or_else(|| failed(format!("no output `{}`", self.output_name)))?;
        let (_, data) = value.try_extract_tensor::<f32>().map_err(|e| failed(e.to_string()))?;
        Ok(read(data))
    }
}

fn float_tensor_shape(value_type: &ValueType) -> Option<&[i64]> {
    match value_type {
        ValueType::Tensor { ty: TensorElementType::Float32, shape, .. } => Some(shape),
        _ => None,
    }
}

impl ModelBackend for OnnxRuntimeBackend {
    fn backend_name(&self) -> &'static str {
        "onnxruntime"
    }

    fn input_len(&self) -> usize {
        self.input_len
    }

    fn output_len(&self) -> usize {
        self.output_len
    }

    fn infer(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), ModelError> {
        if input.len() != self.input_len {
            return Err(ModelError::InputLength { expected: self.input_len, actual: input.len() });
        }
        if output.len() != self.output_len {
            return Err(ModelError::OutputLength { expected: self.output_len, actual: output.len() });
        }
        self.input.extract_tensor_mut().1.copy_from_slice(input);
        let copied = self.run(|data| {
            let fits = data.len() == output.len();
            if fits {
                output.copy_from_slice(data);
            }
            fits
        })?;
        if !copied {
            return Err(ModelError::RuntimeInference {
                path: self.path.clone(),
                message: "output length changed between runs".into(),
            });
        }
        Ok(())
    }
}
