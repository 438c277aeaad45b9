//! One batch-1 inference of a 256→64→1 MLP (ReLU hidden layer) on each backend.
//!
//! `cargo bench -p qp-models -- --warm-up-time 1 --measurement-time 3`
//! ONNX Runtime is benchmarked only when `ORT_DYLIB_PATH` is set.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use qp_models::{Activation, BackendKind, OnnxMlpBuilder, load_model};

fn infer(c: &mut Criterion) {
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => return eprintln!("error: temp dir: {e}"),
    };
    let path = dir.path().join("mlp_256_64_1.onnx");
    let written = OnnxMlpBuilder::seeded(&[256, 64, 1], Activation::Relu, Activation::Identity, 1)
        .and_then(|builder| builder.write(&path));
    if let Err(e) = written {
        return eprintln!("error: writing the model: {e}");
    }
    let input: Vec<f32> = (0..256).map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0).collect();
    let mut output = [0.0f32; 1];

    let mut group = c.benchmark_group("infer_256_64_1");
    for kind in [BackendKind::NativeF32, BackendKind::NativeInt8, BackendKind::OnnxRuntime] {
        if kind == BackendKind::OnnxRuntime && std::env::var_os("ORT_DYLIB_PATH").is_none() {
            eprintln!("note: ORT_DYLIB_PATH is not set; skipping the onnxruntime benchmark");
            continue;
        }
        let checked = load_model(&path, kind).and_then(|mut backend| {
            backend.infer(&input, &mut output)?;
            Ok(backend)
        });
        let mut backend = match checked {
            Ok(backend) => backend,
            Err(e) => {
                eprintln!("error: {kind:?} skipped: {e}");
                continue;
            }
        };
        // The Result goes back to criterion, which black-boxes it.
        group.bench_function(kind.backend_name(), |b| {
            b.iter(|| backend.infer(black_box(&input), &mut output));
        });
    }
    group.finish();
}

criterion_group!(benches, infer);
criterion_main!(benches);
