//! `qpctl model check FILE`.
use std::path::Path;

use qp_models::{BackendKind, load_model};

use crate::cli::Backend;

pub fn check(path: &Path, backend: Backend) -> anyhow::Result<()> {
    let kind = match backend {
        Backend::NativeF32 => BackendKind::NativeF32,
        Backend::NativeInt8 => BackendKind::NativeInt8,
        Backend::Onnxruntime => BackendKind::OnnxRuntime,
    };
    let mut model = load_model(path, kind)?;
    let input = vec![0.0f32; model.input_len()];
    let mut output = vec![0.0f32; model.output_len()];
    model.infer(&input, &mut output)?;
    println!(
        "{}: ok on {} ({} inputs -> {} outputs; output on zeros: {:?})",
        path.display(),
        model.backend_name(),
        model.input_len(),
        model.output_len(),
        output
    );
    Ok(())
}
