#![allow(clippy::unwrap_used, clippy::panic)] // helpers in test files are test code too
//! The student: featurizer determinism, int8/int4 vs f32 agreement, the ONNX
//! file read back by the native kernel and by ONNX Runtime (same numbers),
//! byte-identical files, and typed errors naming the file.
//!
//! Tests that need ONNX Runtime fail (never skip) when `ORT_DYLIB_PATH` is
//! unset; `cargo xtask test` sets it.

use std::path::{Path, PathBuf};

use qp_models::SplitMix64;
use qp_sentiment::features::{FeatureBuf, FeatureConfig, Featurizer};
use qp_sentiment::student::{
    EmbeddingScales, NativeStudent, OrtStudent, QuantBits, StudentError, StudentScratch, StudentWeights, argmax,
    quantize, quantize_with, read_student_onnx, sentiment_score, write_student_onnx,
};

const WORDS: [&str; 24] = [
    "stocks",
    "rally",
    "plunge",
    "Fed",
    "rates",
    "earnings",
    "beat",
    "miss",
    "guidance",
    "cut",
    "raises",
    "upgrade",
    "downgrade",
    "oil",
    "bitcoin",
    "surges",
    "slumps",
    "record",
    "loss",
    "profit",
    "shares",
    "investors",
    "warns",
    "strong",
];
const EXTRAS: [&str; 8] = ["$AAPL", "$TSLA", "4.5%", "$1.2B", "10k", "https://t.co/xYz", "🚀", "Q3"];

/// Seeded tweet-like texts.
fn texts(count: usize, seed: u64) -> Vec<String> {
    let mut rng = SplitMix64::new(seed);
    (0..count)
        .map(|_| {
            let words = 3 + rng.below(20);
            let mut text = String::new();
            for _ in 0..words {
                if !text.is_empty() {
                    text.push(' ');
                }
                if rng.below(6) == 0 {
                    text.push_str(EXTRAS[rng.below(EXTRAS.len())]);
                } else {
                    text.push_str(WORDS[rng.below(WORDS.len())]);
                }
            }
            text
        })
        .collect()
}

fn features(buckets: u32, seed: u64) -> FeatureConfig {
    FeatureConfig { buckets, seed, ..FeatureConfig::default() }
}

/// Random weights with a spread of predictions. Embedding values matter most:
/// the bag is a mean, so they get a larger range.
fn weights(dim: usize, hidden: usize, seed: u64) -> StudentWeights {
    let mut weights = StudentWeights::seeded(features(1 << 12, seed), dim, hidden, seed, 0.5).unwrap();
    let mut rng = SplitMix64::new(seed ^ 0xabc);
    weights.params_mut().embedding.iter_mut().for_each(|w| *w = rng.uniform_symmetric_f32(3.0));
    weights
}

fn ort_required() {
    if std::env::var_os(qp_models::ORT_DYLIB_PATH_ENV).is_none() {
        panic!(
            "ORT_DYLIB_PATH is not set: these tests need ONNX Runtime. Run `cargo xtask test`, or set \
             ORT_DYLIB_PATH to <workspace>/.cache/venv/lib/python3.11/site-packages/onnxruntime/capi/libonnxruntime.so.1.31.1"
        );
    }
}

fn max_abs_diff(a: &[f32; 3], b: &[f32; 3]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn featurizer_is_deterministic_and_seeded() {
    let texts = texts(200, 1);
    let (a, b) = (Featurizer::new(features(1 << 15, 9)).unwrap(), Featurizer::new(features(1 << 15, 9)).unwrap());
    let other_seed = Featurizer::new(features(1 << 15, 10)).unwrap();
    let (mut x, mut y, mut z) = (FeatureBuf::new(), FeatureBuf::new(), FeatureBuf::new());
    let mut differ = 0;
    for text in &texts {
        a.extract(text, &mut x);
        b.extract(text, &mut y);
        assert_eq!(x.as_slice(), y.as_slice(), "{text}");
        assert!(x.as_slice().iter().all(|&id| id < 1 << 15));
        // Extraction does not depend on what the buffer held before.
        a.extract("something else entirely", &mut y);
        a.extract(text, &mut y);
        assert_eq!(x.as_slice(), y.as_slice());
        other_seed.extract(text, &mut z);
        differ += usize::from(x.as_slice() != z.as_slice());
    }
    assert_eq!(differ, texts.len());
    // Case and URL details do not matter; words do.
    a.extract("Stocks RALLY https://t.co/one", &mut x);
    a.extract("stocks rally http://example.com/two", &mut y);
    assert_eq!(x.as_slice(), y.as_slice());
    a.extract("stocks plunge", &mut y);
    assert_ne!(x.as_slice(), y.as_slice());
}

#[test]
fn int8_agrees_with_f32_and_int4_is_reported() {
    let texts = texts(2000, 2);
    for (dim, hidden) in [(2, 0), (16, 16)] {
        let weights = weights(dim, hidden, 3);
        let featurizer = Featurizer::new(*weights.features()).unwrap();
        let mut buf = FeatureBuf::new();
        for (bits, scales, min_agreement, max_diff) in [
            (QuantBits::Int8, EmbeddingScales::PerColumn, 0.99, 0.05),
            (QuantBits::Int8, EmbeddingScales::PerRow, 0.99, 0.05),
            (QuantBits::Int4, EmbeddingScales::PerColumn, 0.85, 0.5),
            (QuantBits::Int4, EmbeddingScales::PerRow, 0.85, 0.5),
        ] {
            let native = NativeStudent::from_quantized(&quantize_with(&weights, bits, scales)).unwrap();
            let mut scratch = StudentScratch::new();
            let (mut agree, mut worst) = (0usize, 0.0f32);
            for text in &texts {
                let reference = weights.predict(&featurizer, text, &mut buf);
                let quantized = native.predict(text, &mut scratch);
                agree += usize::from(argmax(&reference) == argmax(&quantized));
                worst = worst.max(max_abs_diff(&reference, &quantized));
            }
            let agreement = agree as f64 / texts.len() as f64;
            println!("dim {dim} hidden {hidden} {bits:?}/{scales:?}: agreement {agreement:.4}, max |Δp| {worst:.4}");
            assert!(agreement >= min_agreement, "{bits:?}/{scales:?}: agreement {agreement}");
            assert!(worst <= max_diff, "{bits:?}/{scales:?}: max diff {worst}");
        }
    }
}

#[test]
fn native_matches_the_dequantized_f32_model() {
    // The native kernel computes the f32 model the quantized values stand for.
    let texts = texts(500, 4);
    for (dim, hidden) in [(2, 0), (16, 8)] {
        for bits in [QuantBits::Int8, QuantBits::Int4] {
            for scales in [EmbeddingScales::PerRow, EmbeddingScales::PerColumn] {
                let quantized = quantize_with(&weights(dim, hidden, 5), bits, scales);
                let reference = quantized.dequantize();
                let featurizer = Featurizer::new(*reference.features()).unwrap();
                let native = NativeStudent::from_quantized(&quantized).unwrap();
                let (mut buf, mut scratch) = (FeatureBuf::new(), StudentScratch::new());
                for text in &texts {
                    let want = reference.predict(&featurizer, text, &mut buf);
                    let got = native.predict(text, &mut scratch);
                    assert!(max_abs_diff(&want, &got) <= 1e-5, "{bits:?}/{scales:?} {text}: {want:?} vs {got:?}");
                }
            }
        }
    }
}

#[test]
fn onnx_round_trip_native_and_onnxruntime_agree() {
    ort_required();
    let dir = tempfile::tempdir().unwrap();
    let texts = texts(1000, 6);
    let mut classes_seen = [0usize; 3];
    for (dim, hidden) in [(2, 0), (16, 16)] {
        for bits in [QuantBits::Int8, QuantBits::Int4] {
            for scales in [EmbeddingScales::PerRow, EmbeddingScales::PerColumn] {
                let quantized = quantize_with(&weights(dim, hidden, 7), bits, scales);
                let path = dir.path().join(format!("student_{dim}_{hidden}_{}_{}.onnx", bits.name(), scales.name()));
                write_student_onnx(&quantized, &path).unwrap();
                assert_eq!(read_student_onnx(&path).unwrap(), quantized);
                let native = NativeStudent::load(&path).unwrap();
                let mut ort = OrtStudent::load(&path).unwrap();
                let mut scratch = StudentScratch::new();
                let mut worst = 0.0f32;
                for text in texts.iter().map(String::as_str).chain(["", "!!!", "$", "🚀🚀🚀"]) {
                    let a = native.predict(text, &mut scratch);
                    let b = ort.predict(text).unwrap();
                    assert_eq!(argmax(&a), argmax(&b), "{}: {text:?}: {a:?} vs {b:?}", path.display());
                    worst = worst.max(max_abs_diff(&a, &b));
                    classes_seen[argmax(&a)] += 1;
                }
                println!("{}: max |native − ort| {worst:e}", path.display());
                assert!(worst <= 1e-5, "{}: max diff {worst}", path.display());
            }
        }
    }
    assert!(classes_seen.iter().all(|&n| n > 50), "test weights predict too few classes: {classes_seen:?}");
}

#[test]
fn identical_weights_give_identical_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, seed: u64| -> Vec<u8> {
        let path = dir.path().join(name);
        write_student_onnx(&quantize(&weights(2, 0, seed), QuantBits::Int8), &path).unwrap();
        std::fs::read(path).unwrap()
    };
    let first = write("a.onnx", 1);
    assert_eq!(first, write("b.onnx", 1));
    assert_eq!(first, quantize(&weights(2, 0, 1), QuantBits::Int8).to_onnx_bytes());
    assert_ne!(first, write("c.onnx", 2));
}

#[test]
fn shipped_shape_fits_the_size_budget() {
    // 2^15 buckets × 2 int8 columns + per-column scales + a 3×2 head.
    let weights = StudentWeights::zeros(FeatureConfig::default(), 2, 0).unwrap();
    let bytes = quantize(&weights, QuantBits::Int8).to_onnx_bytes();
    assert!(bytes.len() <= 100_000, "{} bytes", bytes.len());
}

fn assert_names_file(error: &StudentError, path: &Path) {
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "error does not name the file: {message}");
}

#[test]
fn missing_truncated_and_corrupt_files_are_typed_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = quantize(&weights(2, 0, 8), QuantBits::Int8).to_onnx_bytes();

    let missing = dir.path().join("missing.onnx");
    let error = NativeStudent::load(&missing).unwrap_err();
    assert!(matches!(error, StudentError::Io { .. }), "{error:?}");
    assert_names_file(&error, &missing);

    let truncated = dir.path().join("truncated.onnx");
    let empty = dir.path().join("empty.onnx");
    std::fs::write(&empty, b"").unwrap();
    let error = NativeStudent::load(&empty).unwrap_err();
    assert!(matches!(error, StudentError::Malformed { .. }), "{error:?}");
    assert_names_file(&error, &empty);
    let mut rng = SplitMix64::new(5);
    for _ in 0..200 {
        let len = rng.below(good.len());
        std::fs::write(&truncated, &good[..len]).unwrap();
        let error = NativeStudent::load(&truncated).unwrap_err();
        assert!(matches!(error, StudentError::Malformed { .. } | StudentError::Invalid { .. }), "{error:?}");
        assert_names_file(&error, &truncated);
    }

    // Flipped bytes: either rejected with the file named, or (a flipped
    // weight) loaded and run without panicking.
    let corrupt = dir.path().join("corrupt.onnx");
    let (mut rejected, mut loaded) = (0, 0);
    for _ in 0..500 {
        let mut bytes = good.clone();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(bytes.len());
            bytes[at] ^= 1 << rng.below(8);
        }
        std::fs::write(&corrupt, &bytes).unwrap();
        match NativeStudent::load(&corrupt) {
            Ok(student) => {
                loaded += 1;
                let p = student.predict("stocks rally", &mut StudentScratch::new());
                assert!(p.iter().all(|v| v.is_finite()));
            }
            Err(error) => {
                rejected += 1;
                assert_names_file(&error, &corrupt);
            }
        }
    }
    assert!(rejected > 50 && loaded > 50, "rejected {rejected}, loaded {loaded}");

    // A valid ONNX file that is not a student.
    let not_student = dir.path().join("mlp.onnx");
    qp_models::OnnxMlpBuilder::seeded(&[4, 3], qp_models::Activation::Relu, qp_models::Activation::Softmax, 1)
        .unwrap()
        .write(&not_student)
        .unwrap();
    let error = NativeStudent::load(&not_student).unwrap_err();
    assert!(matches!(error, StudentError::Invalid { .. }), "{error:?}");
    assert_names_file(&error, &not_student);
    assert!(error.to_string().contains("metadata"), "{error}");
}

#[test]
fn onnxruntime_loader_reports_bad_files_the_same_way() {
    ort_required();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.onnx");
    let error = OrtStudent::load(&missing).unwrap_err();
    assert!(matches!(error, StudentError::Io { .. }), "{error:?}");
    assert_names_file(&error, &missing);
    let good = quantize(&weights(2, 0, 8), QuantBits::Int8).to_onnx_bytes();
    let truncated: PathBuf = dir.path().join("truncated.onnx");
    std::fs::write(&truncated, &good[..good.len() / 2]).unwrap();
    let error = OrtStudent::load(&truncated).unwrap_err();
    assert!(matches!(error, StudentError::Malformed { .. } | StudentError::Invalid { .. }), "{error:?}");
    assert_names_file(&error, &truncated);
}

#[test]
fn score_is_ten_times_bull_minus_bear() {
    assert_eq!(sentiment_score(&[0.0, 1.0, 0.0]), 10);
    assert_eq!(sentiment_score(&[1.0, 0.0, 0.0]), -10);
    assert_eq!(sentiment_score(&[0.2, 0.46, 0.34]), 3);
    assert_eq!(sentiment_score(&[f32::NAN, 0.5, 0.5]), 0);
}
