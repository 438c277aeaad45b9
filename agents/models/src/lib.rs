//! Model backends behind one trait, [`ModelBackend`], so an agent's small
//! MLP-style model runs either on ONNX Runtime or on native Rust kernels.
//!
//! - [`BackendKind::OnnxRuntime`]: ONNX Runtime through `ort`, the shared
//!   library loaded from [`ORT_DYLIB_PATH_ENV`] (`ORT_DYLIB_PATH`).
//! - [`BackendKind::NativeF32`] / [`BackendKind::NativeInt8`]: a hand-written
//!   ONNX reader ([`onnx_proto`]) validates the graph and compiles it into a
//!   flat plan of preallocated buffers; `infer` allocates nothing.
//!
//! Loading never panics on file contents: every problem is a [`ModelError`]
//! whose message names the model file. Unsupported operators are rejected at
//! load time, never at inference. [`OnnxMlpBuilder`] writes MLPs as ONNX files
//! both kinds of backend load.
#![forbid(unsafe_code)]

mod error;
mod graph;
mod mlp_builder;
mod model_file;
mod native;
pub mod onnx_proto;
mod onnxruntime;

use std::path::Path;

pub use error::ModelError;
pub use mlp_builder::{
    Activation, DenseLayer, MLP_INPUT_NAME, MLP_OUTPUT_NAME, OnnxMlpBuilder, WRITTEN_IR_VERSION, WRITTEN_OPSET,
    WeightStorage,
};
pub use model_file::{CappedReadError, MAX_MODEL_FILE_BYTES, read_capped};
pub use native::{MAX_INT8_DEPTH, NativeBackend, NativePrecision};
pub use onnxruntime::{
    ORT_DYLIB_PATH_ENV, OnnxRuntimeBackend, onnxruntime_available, onnxruntime_environment, onnxruntime_session,
};
/// The project's seeded generator (`qp-seeded-random`), for seeded weights and test inputs.
pub use qp_seeded_random::SplitMix64;

/// A loaded model that runs one example (batch 1) at a time.
///
/// `Debug` is required so structs holding a `Box<dyn ModelBackend>` can derive it.
pub trait ModelBackend: Send + std::fmt::Debug {
    /// `"onnxruntime"`, `"native-f32"` or `"native-int8"`.
    fn backend_name(&self) -> &'static str;

    /// Flattened feature count of one example.
    fn input_len(&self) -> usize;

    /// Flattened output count of one example.
    fn output_len(&self) -> usize;

    /// One inference, batch 1: reads `input_len()` values, writes
    /// `output_len()` values. Slices of other lengths are a
    /// [`ModelError::InputLength`] / [`ModelError::OutputLength`].
    ///
    /// Native backends allocate nothing here after construction.
    fn infer(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), ModelError>;
}

/// Which backend [`load_model`] builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// ONNX Runtime (needs `ORT_DYLIB_PATH`).
    OnnxRuntime,
    /// Native kernels, f32 throughout.
    NativeF32,
    /// Native kernels, int8 dense layers (see [`NativePrecision::Int8`]).
    NativeInt8,
}

impl BackendKind {
    /// All kinds, for iteration in tests and benches.
    pub const ALL: [Self; 3] = [Self::OnnxRuntime, Self::NativeF32, Self::NativeInt8];

    /// The [`ModelBackend::backend_name`] of backends of this kind.
    #[must_use]
    pub fn backend_name(self) -> &'static str {
        match self {
            Self::OnnxRuntime => "onnxruntime",
            Self::NativeF32 => "native-f32",
            Self::NativeInt8 => "native-int8",
        }
    }
}

/// Loads the ONNX model at `path` into a backend of the given kind.
pub fn load_model(path: &Path, kind: BackendKind) -> Result<Box<dyn ModelBackend>, ModelError> {
    Ok(match kind {
        BackendKind::OnnxRuntime => Box::new(OnnxRuntimeBackend::load(path)?),
        BackendKind::NativeF32 => Box::new(NativeBackend::load(path, NativePrecision::F32)?),
        BackendKind::NativeInt8 => Box::new(NativeBackend::load(path, NativePrecision::Int8)?),
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    use crate::SplitMix64 as Rng;

    fn mutate(valid: &[u8], rng: &mut Rng) -> Vec<u8> {
        let mut bytes = valid.to_vec();
        for _ in 0..=rng.below(4) {
            let len = bytes.len();
            let at = rng.below(len);
            match rng.below(7) {
                0 => bytes[at] ^= 1 << rng.below(8),
                1 => bytes[at] = rng.next_u64() as u8,
                2 => bytes.truncate(at),
                3 => {
                    let end = (at + 1 + rng.below(16)).min(len);
                    bytes.drain(at..end);
                }
                4 => {
                    let junk: Vec<u8> = (0..1 + rng.below(8)).map(|_| rng.next_u64() as u8).collect();
                    bytes.splice(at..at, junk);
                }
                5 => {
                    // Varint-ish bytes that look like huge lengths.
                    bytes.splice(at..at, [0xff, 0xff, 0xff, 0xff, 0x0f]);
                }
                _ => {
                    let end = (at + 1 + rng.below(64)).min(len);
                    let chunk = bytes[at..end].to_vec();
                    bytes.splice(at..at, chunk);
                }
            }
            if bytes.is_empty() {
                break;
            }
        }
        bytes
    }

    #[test]
    fn mutated_models_never_panic_the_native_loader() {
        let mut valid = Vec::new();
        for storage in [WeightStorage::F32, WeightStorage::Int8] {
            valid.push(
                OnnxMlpBuilder::seeded(&[12, 16, 4], Activation::Relu, Activation::Softmax, 3)
                    .unwrap()
                    .weight_storage(storage)
                    .to_bytes()
                    .unwrap(),
            );
        }
        let path = Path::new("/fuzz/model.onnx");
        let mut rng = Rng::new(0x5eed);
        let (mut loaded, mut rejected) = (0usize, 0usize);
        for round in 0..5000 {
            let bytes = mutate(&valid[round % valid.len()], &mut rng);
            let precision = if round % 3 == 0 { NativePrecision::Int8 } else { NativePrecision::F32 };
            match NativeBackend::from_bytes(&bytes, path, precision) {
                Ok(mut backend) => {
                    loaded += 1;
                    let input = vec![0.25; backend.input_len()];
                    let mut output = vec![0.0; backend.output_len()];
                    backend.infer(&input, &mut output).unwrap();
                }
                Err(error) => {
                    rejected += 1;
                    assert!(error.to_string().contains("/fuzz/model.onnx"), "{error}");
                }
            }
        }
        // Both outcomes must actually be exercised.
        assert!(loaded > 100 && rejected > 100, "loaded {loaded}, rejected {rejected}");
    }
}
