#![allow(clippy::unwrap_used, clippy::panic)] // helpers in test files are test code too
//! Distillation: a tiny synthetic run converges; the same seed gives the same
//! ONNX bytes, another seed other bytes; and (ignored, slow) gold-only
//! training on TFNS with the validation split shared with the teacher.

use std::path::PathBuf;

use qp_forge::distill::{
    DistillConfig, DistillError, DistillProgress, Selection, TrainingExample, distill, evaluate, is_validation,
    read_tfns_split,
};
use qp_models::SplitMix64;
use qp_sentiment::features::{FeatureBuf, FeatureConfig, Featurizer};
use qp_sentiment::student::{
    EmbeddingScales, NativeStudent, QuantBits, StudentScratch, argmax, quantize, quantize_with,
};

const BULLISH: [&str; 6] = ["surges", "beats", "rallies", "upgrade", "soars", "record profit"];
const BEARISH: [&str; 6] = ["plunges", "misses", "slumps", "downgrade", "sinks", "big loss"];
const NEUTRAL: [&str; 6] = ["reports", "announces", "schedules", "files", "holds", "says"];
const SUBJECTS: [&str; 8] = ["Apple", "$TSLA", "Oil", "The Fed", "Nvidia", "Bitcoin", "Ford", "Gold"];
const TAILS: [&str; 5] = ["today", "after earnings", "in early trade", "this week", "https://t.co/abc"];

/// Texts whose class is set by one keyword, some with a teacher, some with gold, some both.
fn synthetic(count: usize, seed: u64) -> Vec<TrainingExample> {
    let mut rng = SplitMix64::new(seed);
    (0..count)
        .map(|i| {
            let class = rng.below(3);
            let words = [BEARISH, BULLISH, NEUTRAL][class];
            let text = format!(
                "{} {} {}",
                SUBJECTS[rng.below(SUBJECTS.len())],
                words[rng.below(words.len())],
                TAILS[rng.below(TAILS.len())]
            );
            let mut teacher = [0.1f32; 3];
            teacher[class] = 0.8;
            match i % 3 {
                0 => TrainingExample { text, teacher: Some(teacher), gold: None },
                1 => TrainingExample { text, teacher: None, gold: Some(class as u8) },
                _ => TrainingExample { text, teacher: Some(teacher), gold: Some(class as u8) },
            }
        })
        .collect()
}

fn labelled(examples: &[TrainingExample]) -> Vec<(String, u8)> {
    examples
        .iter()
        .map(|e| {
            let gold = e.gold.unwrap_or_else(|| {
                let t = e.teacher.unwrap();
                (0..3).max_by(|&a, &b| t[a].total_cmp(&t[b])).unwrap() as u8
            });
            (e.text.clone(), gold)
        })
        .collect()
}

fn small_config(seed: u64) -> DistillConfig {
    DistillConfig {
        features: FeatureConfig { buckets: 1 << 10, ..FeatureConfig::default() },
        dim: 8,
        hidden: 8,
        epochs: 15,
        batch_size: 16,
        learning_rate: 0.02,
        patience: 0,
        seed,
        ..DistillConfig::default()
    }
}

#[test]
fn tiny_synthetic_run_converges() {
    let train = synthetic(600, 1);
    let validation = labelled(&synthetic(150, 2));
    let mut seen = Vec::new();
    let (weights, report) =
        distill(&train, &validation, &small_config(7), &mut |p: DistillProgress| seen.push(p)).unwrap();
    assert_eq!(seen.len(), 15);
    assert_eq!((report.examples, report.with_teacher, report.with_gold), (600, 400, 400));
    assert!(report.train_loss.last().unwrap() < &(report.train_loss[0] * 0.5), "{:?}", report.train_loss);
    assert!(report.validation.accuracy > 0.97, "{report:?}");
    // The int8 file model agrees with what training saw.
    let native = NativeStudent::from_quantized(&quantize(&weights, QuantBits::Int8)).unwrap();
    let mut scratch = StudentScratch::new();
    let metrics = evaluate(&validation, |text| native.predict(text, &mut scratch));
    assert!(metrics.accuracy > 0.97, "{metrics:?}");
}

#[test]
fn same_seed_gives_the_same_onnx_bytes_and_another_seed_other_bytes() {
    let train = synthetic(300, 3);
    let validation = labelled(&synthetic(60, 4));
    let onnx = |seed| {
        let config = DistillConfig { epochs: 4, ..small_config(seed) };
        let (weights, _) = distill(&train, &validation, &config, &mut |_| {}).unwrap();
        quantize(&weights, QuantBits::Int8).to_onnx_bytes()
    };
    let first = onnx(11);
    assert_eq!(first, onnx(11));
    assert_ne!(first, onnx(12));
}

#[test]
fn bad_inputs_are_typed_errors() {
    let config = small_config(1);
    let unlabelled = vec![TrainingExample { text: "x".into(), teacher: None, gold: None }];
    assert!(matches!(distill(&unlabelled, &[], &config, &mut |_| {}), Err(DistillError::NoTrainingData)));
    let bad_gold = vec![TrainingExample { text: "x".into(), teacher: None, gold: Some(3) }];
    assert!(matches!(
        distill(&bad_gold, &[], &config, &mut |_| {}),
        Err(DistillError::GoldLabel { index: 0, label: 3 })
    ));
    let bad_teacher = vec![TrainingExample { text: "x".into(), teacher: Some([f32::NAN, 0.5, 0.5]), gold: None }];
    assert!(matches!(
        distill(&bad_teacher, &[], &config, &mut |_| {}),
        Err(DistillError::TeacherProbabilities { index: 0, .. })
    ));
    let ok = synthetic(3, 1);
    let zero_batch = DistillConfig { batch_size: 0, ..config.clone() };
    assert!(matches!(distill(&ok, &[], &zero_batch, &mut |_| {}), Err(DistillError::Config { .. })));
    let odd_dim = DistillConfig { dim: 7, ..config };
    assert!(matches!(distill(&ok, &[], &odd_dim, &mut |_| {}), Err(DistillError::Student(_))));
}

#[test]
fn validation_split_is_about_fifteen_percent_and_stable() {
    let texts: Vec<String> = (0..20_000).map(|i| format!("headline number {i}")).collect();
    let held_out = texts.iter().filter(|t| is_validation(t)).count();
    assert!((2_700..3_300).contains(&held_out), "{held_out}");
    assert_eq!(is_validation("Stocks rally"), is_validation("Stocks rally"));
}

fn tfns_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/tfns/train.csv")
}

/// Parses `key=value,key=value` over a base configuration.
fn parse_config(spec: &str, mut config: DistillConfig) -> DistillConfig {
    for item in spec.split(',').filter(|s| !s.trim().is_empty()) {
        let (key, value) = item.split_once('=').unwrap_or_else(|| panic!("bad item {item:?}"));
        let value = value.trim();
        let flag = || value == "1" || value == "true";
        match key.trim() {
            "buckets" => config.features.buckets = value.parse().unwrap(),
            "fseed" => config.features.seed = value.parse().unwrap(),
            "bigrams" => config.features.bigrams = flag(),
            "trigrams" => config.features.trigrams = flag(),
            "char" => config.features.char_ngram = value.parse().unwrap(),
            "prefix" => config.features.prefix = value.parse().unwrap(),
            "numbers" => config.features.numbers = flag(),
            "hashes" => config.features.hashes = value.parse().unwrap(),
            "dim" => config.dim = value.parse().unwrap(),
            "hidden" => config.hidden = value.parse().unwrap(),
            "epochs" => config.epochs = value.parse().unwrap(),
            "batch" => config.batch_size = value.parse().unwrap(),
            "lr" => config.learning_rate = value.parse().unwrap(),
            "wd" => config.weight_decay = value.parse().unwrap(),
            "patience" => config.patience = value.parse().unwrap(),
            "select" => config.selection = if value == "acc" { Selection::Accuracy } else { Selection::MacroF1 },
            "seed" => config.seed = value.parse().unwrap(),
            other => panic!("unknown key {other:?}"),
        }
    }
    config
}

/// Gold-only training on TFNS (no teacher), scored on the shared validation
/// split: f32, int8 and int4. `QP_DISTILL_CONFIGS` may list configurations
/// (`;`-separated `key=value,...`, see `parse_config`).
///
/// `cargo test --release -p qp-forge --test distill -- --ignored --nocapture gold_only`
#[test]
#[ignore = "slow: trains on TFNS"]
fn gold_only_tfns_report() {
    let path = tfns_path();
    let split = read_tfns_split(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (train, validation) = (split.train, split.validation);
    println!("TFNS: {} train, {} validation", train.len(), validation.len());
    let specs = std::env::var("QP_DISTILL_CONFIGS").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| {
        [
            // The shipped defaults (2^15 × 2, linear head, words + bigrams + char 4-grams, 2 hashes).
            "repeat=5",
            "repeat=5,holdout=1",
            "char=0,hashes=1,repeat=5",
            "buckets=4096,dim=16,hidden=16,char=0,hashes=1,lr=0.01,repeat=5",
            "buckets=65536,dim=16,hidden=0,repeat=5",
        ]
        .join(";")
    });
    for spec in specs.split(';') {
        // `repeat=N`: N runs with seeds 1..=N (training and hash seed), averaged.
        // `holdout=1`: select the epoch on 10 % of the training texts instead of
        // the validation split, so the validation figures are not selection-biased.
        let mut spec = spec.to_owned();
        let mut take = |key: &str| -> Option<u64> {
            let start = spec.find(key)?;
            let end = spec[start..].find(',').map_or(spec.len(), |e| start + e);
            let value = spec[start + key.len()..end].parse().ok();
            spec.replace_range(start..(end + 1).min(spec.len()), "");
            value
        };
        let repeat = take("repeat=").unwrap_or(1);
        let holdout = take("holdout=").unwrap_or(0) == 1;
        let spec = spec.trim_end_matches(',');
        let spec = if spec.is_empty() { "defaults" } else { spec };
        let (fit, selection): (Vec<TrainingExample>, Vec<(String, u8)>) = if holdout {
            let (fit, held): (Vec<_>, Vec<_>) =
                train.iter().cloned().partition(|e| !is_validation(&format!("selection:{}", e.text)));
            let held = held.into_iter().map(|e| (e.text, e.gold.unwrap())).collect();
            (fit, held)
        } else {
            (train.clone(), validation.clone())
        };
        let started = std::time::Instant::now();
        let variants = [
            (QuantBits::Int8, EmbeddingScales::PerRow),
            (QuantBits::Int8, EmbeddingScales::PerColumn),
            (QuantBits::Int4, EmbeddingScales::PerRow),
            (QuantBits::Int4, EmbeddingScales::PerColumn),
        ];
        let mut rows: Vec<Vec<f64>> = Vec::new();
        let mut sizes = [0usize; 4];
        let mut agreement = [0.0f64; 4];
        let mut epochs = Vec::new();
        for run in 0..repeat {
            let mut config = parse_config(spec.trim_start_matches("defaults"), DistillConfig::default());
            if repeat > 1 {
                config.seed = run + 1;
                config.features.seed = run + 1;
            }
            let (weights, report) = distill(&fit, &selection, &config, &mut |_| {}).unwrap();
            epochs.push(report.best_epoch);
            let featurizer = Featurizer::new(config.features).unwrap();
            let mut buf = FeatureBuf::new();
            let f32_metrics = evaluate(&validation, |text| weights.predict(&featurizer, text, &mut buf));
            let mut row = vec![f32_metrics.accuracy, f32_metrics.macro_f1];
            for (k, (bits, scales)) in variants.into_iter().enumerate() {
                let quantized = quantize_with(&weights, bits, scales);
                let native = NativeStudent::from_quantized(&quantized).unwrap();
                let mut scratch = StudentScratch::new();
                let metrics = evaluate(&validation, |text| native.predict(text, &mut scratch));
                row.push(metrics.accuracy);
                row.push(metrics.macro_f1);
                // Same class as the f32 model, on every TFNS text.
                let agree = train
                    .iter()
                    .map(|e| e.text.as_str())
                    .chain(validation.iter().map(|(t, _)| t.as_str()))
                    .filter(|text| {
                        argmax(&weights.predict(&featurizer, text, &mut buf))
                            == argmax(&native.predict(text, &mut scratch))
                    })
                    .count();
                agreement[k] += agree as f64 / (train.len() + validation.len()) as f64 / repeat as f64;
                sizes[k] = quantized.to_onnx_bytes().len();
            }
            rows.push(row);
        }
        let n = rows.len() as f64;
        let mean: Vec<f64> = (0..rows[0].len()).map(|i| rows.iter().map(|r| r[i]).sum::<f64>() / n).collect();
        let sd = |i: usize| (rows.iter().map(|r| (r[i] - mean[i]).powi(2)).sum::<f64>() / n).sqrt();
        let mut line = format!(
            "{spec:<44} x{repeat}{} epochs {epochs:?} | f32 {:.4}±{:.4} F1 {:.4}±{:.4}",
            if holdout { " holdout" } else { "" },
            mean[0],
            sd(0),
            mean[1],
            sd(1)
        );
        for (k, (bits, scales)) in variants.into_iter().enumerate() {
            line += &format!(
                " | {}/{} {:.4} F1 {:.4} agree {:.4} {}B",
                bits.name(),
                scales.name(),
                mean[2 + 2 * k],
                mean[3 + 2 * k],
                agreement[k],
                sizes[k]
            );
        }
        println!("{line} [{:.1} s]", started.elapsed().as_secs_f64());
    }
}

/// The whole forge on a small configuration, with the real teacher (the wheel
/// installed by `cargo xtask setup`): teacher head → transfer set → teacher
/// labels → distillation → int8/int4 files that both load. This is the CI's
/// proof that the pipeline works end to end; the full run is `qpctl forge`.
#[test]
fn the_forge_runs_end_to_end_on_a_small_configuration() {
    use qp_forge::pipeline::{DistillOptions, TeacherOptions, forge_distill, forge_teacher};
    use qp_forge_teacher::HeadConfig;

    let work = tempfile::tempdir().unwrap();
    let teacher = TeacherOptions {
        data: tfns_path(),
        work: work.path().to_owned(),
        teacher_dir: None,
        head: HeadConfig { max_epochs: 30, patience: 5, ..HeadConfig::default() },
        fine_tune: None,
        limit: Some(240),
    };
    let summary = forge_teacher(&teacher, &mut |_| {}).unwrap();
    assert_eq!((summary.train, summary.validation), (204, 36));
    assert!(work.path().join("teacher.json").is_file());

    let out = work.path().join("model/sentimentx.onnx");
    let options = DistillOptions {
        data: tfns_path(),
        work: work.path().to_owned(),
        out: out.clone(),
        transfer_texts: 400,
        transfer_seed: 7,
        config: DistillConfig { epochs: 3, ..DistillConfig::default() },
        limit: Some(240),
        labelled_repeats: 2,
    };
    let mut epochs = 0;
    let result = forge_distill(&options, &mut |p| {
        if let qp_forge::pipeline::ForgeProgress::Epoch(_) = p {
            epochs += 1;
        }
    })
    .unwrap();
    assert_eq!((result.labelled_train, result.transfer, result.validation), (204, 400, 36));
    assert!(epochs >= 1);
    assert!(result.int8.f32_agreement > 0.9, "{result:?}");
    let native = NativeStudent::load(&out).unwrap();
    let int4 = NativeStudent::load(&result.model_int4).unwrap();
    let mut scratch = StudentScratch::new();
    let p = native.predict("Deutsche Bank beats estimates", &mut scratch);
    assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    assert_eq!(int4.bits(), QuantBits::Int4);

    // A rerun takes the teacher's labels from the cache: nothing to embed.
    let mut first = None;
    forge_distill(&options, &mut |p| {
        if let qp_forge::pipeline::ForgeProgress::Count { done, total, .. } = p {
            first.get_or_insert((done, total));
        }
    })
    .unwrap();
    let (done, total) = first.expect("labelling reports progress");
    assert_eq!((done, total), (total, 204 + 400 + 36), "every text came from the cache");
}

#[test]
fn distill_without_a_teacher_names_the_missing_step() {
    use qp_forge::pipeline::{DistillOptions, forge_distill};
    let work = tempfile::tempdir().unwrap();
    let options = DistillOptions {
        data: tfns_path(),
        work: work.path().to_owned(),
        out: work.path().join("m.onnx"),
        transfer_texts: 10,
        transfer_seed: 1,
        config: DistillConfig::default(),
        limit: Some(50),
        labelled_repeats: 1,
    };
    let err = forge_distill(&options, &mut |_| {}).unwrap_err().to_string();
    assert!(err.ends_with("teacher.json: no trained teacher here: run `qpctl forge teacher` first"), "{err}");
}
