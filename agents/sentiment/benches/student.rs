//! One student prediction, tokenization and hashing included, on real TFNS
//! texts (cycled): native int8, native int4 and ONNX Runtime on the same files.
//!
//! `cargo bench -p qp-sentiment --bench student -- --warm-up-time 1 --measurement-time 3`
//!
//! Before criterion runs, each backend is also timed call by call and its
//! p50 / p99 / p99.9 printed (criterion reports means). The models have the
//! shipped shape (2^15 buckets × 2, linear head) with seeded weights, or set
//! `QP_STUDENT_MODEL` to a student file to time that one (native and ORT).
//! ONNX Runtime runs only when `ORT_DYLIB_PATH` is set.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use qp_sentiment::features::{FeatureBuf, FeatureConfig, Featurizer};
use qp_sentiment::student::{
    NativeStudent, OrtStudent, QuantBits, StudentScratch, StudentWeights, quantize, write_student_onnx,
};

fn tfns_texts() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/tfns/train.csv");
    match qp_replay::read_headlines(&path) {
        Ok(headlines) => headlines.into_iter().map(|h| h.text).collect(),
        Err(e) => {
            eprintln!("note: {e}; timing synthetic texts instead");
            (0..1000).map(|i| format!("Stocks rally {i}% as $AAPL beats estimates https://t.co/x{i}")).collect()
        }
    }
}

/// `(name, model file)` pairs to time.
fn models(dir: &Path) -> Vec<(String, PathBuf)> {
    if let Some(path) = std::env::var_os("QP_STUDENT_MODEL") {
        return vec![("model".into(), PathBuf::from(path))];
    }
    let weights = match StudentWeights::seeded(FeatureConfig::default(), 2, 0, 1, 0.5) {
        Ok(weights) => weights,
        Err(e) => {
            eprintln!("error: {e}");
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for bits in [QuantBits::Int8, QuantBits::Int4] {
        let path = dir.join(format!("student_{}.onnx", bits.name()));
        match write_student_onnx(&quantize(&weights, bits), &path) {
            Ok(()) => out.push((bits.name().to_owned(), path)),
            Err(e) => eprintln!("error: {e}"),
        }
    }
    out
}

/// Times `predict` call by call over the texts (cycled) and prints percentiles.
fn percentiles(label: &str, texts: &[String], mut predict: impl FnMut(&str) -> [f32; 3]) {
    const CALLS: usize = 200_000;
    for text in texts.iter().take(2000) {
        black_box(predict(text));
    }
    let mut nanos: Vec<u64> = Vec::with_capacity(CALLS);
    for i in 0..CALLS {
        let text = &texts[i % texts.len()];
        let start = Instant::now();
        black_box(predict(black_box(text)));
        nanos.push(start.elapsed().as_nanos() as u64);
    }
    nanos.sort_unstable();
    let at = |q: f64| nanos[((nanos.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    eprintln!(
        "{label:<14} p50 {:.3} µs  p99 {:.3} µs  p99.9 {:.3} µs  max {:.1} µs ({CALLS} calls, timer included)",
        at(0.5),
        at(0.99),
        at(0.999),
        at(1.0)
    );
}

fn predict(c: &mut Criterion) {
    let texts = tfns_texts();
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => return eprintln!("error: temp dir: {e}"),
    };
    let ort_available = std::env::var_os("ORT_DYLIB_PATH").is_some();
    if !ort_available {
        eprintln!("note: ORT_DYLIB_PATH is not set; skipping ONNX Runtime");
    }
    let mut group = c.benchmark_group("sentiment_predict");
    match Featurizer::new(FeatureConfig::default()) {
        Ok(featurizer) => {
            let mut buf = FeatureBuf::new();
            let mut count = 0usize;
            for text in &texts {
                featurizer.extract(text, &mut buf);
                count += buf.len();
            }
            eprintln!("features per text (default config): {:.1} on average", count as f64 / texts.len() as f64);
            percentiles("features-only", &texts, |text| {
                featurizer.extract(text, &mut buf);
                [buf.len() as f32; 3]
            });
            let mut i = 0;
            group.bench_function("features-only", |b| {
                b.iter(|| {
                    i = (i + 1) % texts.len();
                    featurizer.extract(black_box(&texts[i]), &mut buf);
                    buf.len()
                });
            });
        }
        Err(e) => eprintln!("error: {e}"),
    }
    for (name, path) in models(dir.path()) {
        match NativeStudent::load(&path) {
            Ok(native) => {
                let mut scratch = StudentScratch::new();
                let label = format!("native-{name}");
                percentiles(&label, &texts, |text| native.predict(text, &mut scratch));
                let mut i = 0;
                group.bench_function(&label, |b| {
                    b.iter(|| {
                        i = (i + 1) % texts.len();
                        native.predict(black_box(&texts[i]), &mut scratch)
                    });
                });
            }
            Err(e) => eprintln!("error: {e}"),
        }
        if !ort_available {
            continue;
        }
        match OrtStudent::load(&path) {
            Ok(mut ort) => {
                let label = format!("onnxruntime-{name}");
                percentiles(&label, &texts, |text| ort.predict(text).unwrap_or([f32::NAN; 3]));
                let mut i = 0;
                group.bench_function(&label, |b| {
                    b.iter(|| {
                        i = (i + 1) % texts.len();
                        ort.predict(black_box(&texts[i]))
                    });
                });
            }
            Err(e) => eprintln!("error: {e}"),
        }
    }
    group.finish();
}

criterion_group!(benches, predict);
criterion_main!(benches);
