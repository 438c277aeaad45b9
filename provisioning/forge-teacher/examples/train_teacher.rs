//! Embed TFNS with the teacher (cached), train the head, report validation metrics and throughput;
//! optionally fine-tune the encoder and report again.
//!
//! ```text
//! cargo run --release -p qp-forge-teacher --example train_teacher -- <train.csv> <cache-dir>
//!     [--bench N]         texts for the uncached throughput measurement (default 1000, 0 = skip)
//!     [--fine-tune]       then fine-tune the top layers + head (writes <cache-dir>/teacher-ft-<fp>/;
//!                         an existing folder is reused)
//!     [--epochs N] [--layers N] [--ft-limit N] [--class-weighting]
//! ```
//!
//! The cache dir receives `embeddings-<fingerprint>.qptc` (shared with the forge, same naming) and
//! `train_teacher-head-<fingerprint>.json`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use qp_forge_teacher::{
    EmbeddingCache, Encoder, FINE_TUNED_HEAD_FILE, FineTuneConfig, Head, HeadConfig, Teacher, accuracy_and_macro_f1,
    fine_tune, fine_tuned_dir, is_validation, locate_teacher_model,
};
use qp_replay::SentimentLabel;

type Error = Box<dyn std::error::Error>;

struct Args {
    csv: PathBuf,
    cache_dir: PathBuf,
    bench: usize,
    fine_tune: bool,
    epochs: usize,
    layers: usize,
    ft_limit: usize,
    class_weighting: bool,
}

fn parse_args() -> Result<Args, Error> {
    let mut positional = Vec::new();
    let mut args = Args {
        csv: PathBuf::new(),
        cache_dir: PathBuf::new(),
        bench: 1000,
        fine_tune: false,
        epochs: FineTuneConfig::default().epochs,
        layers: FineTuneConfig::default().trainable_layers,
        ft_limit: usize::MAX,
        class_weighting: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut number = || -> Result<usize, Error> { Ok(it.next().ok_or("missing number")?.parse()?) };
        match arg.as_str() {
            "--bench" => args.bench = number()?,
            "--epochs" => args.epochs = number()?,
            "--layers" => args.layers = number()?,
            "--ft-limit" => args.ft_limit = number()?,
            "--fine-tune" => args.fine_tune = true,
            "--class-weighting" => args.class_weighting = true,
            _ => positional.push(arg),
        }
    }
    let [csv, cache_dir] = <[String; 2]>::try_from(positional).map_err(
        |_| "usage: train_teacher <train.csv> <cache-dir> [--bench N] [--fine-tune] [--epochs N] [--layers N]",
    )?;
    args.csv = csv.into();
    args.cache_dir = cache_dir.into();
    Ok(args)
}

/// Embed all texts through the cache of `encoder`; prints the throughput of what was computed.
fn embed_all(encoder: &Encoder, texts: &[&str], cache_dir: &Path) -> Result<Vec<[f32; 384]>, Error> {
    let fp = encoder.fingerprint();
    let cache_path = cache_dir.join(format!("embeddings-{fp:016x}.qptc"));
    let mut cache = EmbeddingCache::load(&cache_path, fp)?;
    let cached_before = cache.len();
    let t = Instant::now();
    let mut last_report = Instant::now();
    let embeddings = cache.get_or_embed(encoder, texts, &mut |done, total| {
        if last_report.elapsed().as_secs() >= 15 {
            eprintln!("  embedded {done}/{total}");
            last_report = Instant::now();
        }
    })?;
    let secs = t.elapsed().as_secs_f64();
    let computed = cache.len() - cached_before;
    println!(
        "embeddings: {} texts ({computed} newly computed in {secs:.1}s{}), cache {}",
        texts.len(),
        if computed > 0 { format!(", {:.0} texts/s", computed as f64 / secs) } else { String::new() },
        cache_path.display()
    );
    Ok(embeddings)
}

type Labelled = Vec<([f32; 384], u8)>;

fn split(texts: &[&str], embeddings: &[[f32; 384]], labels: &[u8]) -> (Labelled, Labelled) {
    let mut train = Vec::new();
    let mut val = Vec::new();
    for ((text, emb), label) in texts.iter().zip(embeddings).zip(labels) {
        if is_validation(text) { &mut val } else { &mut train }.push((*emb, *label));
    }
    (train, val)
}

fn train_head(train: &Labelled, val: &Labelled, class_weighting: bool, out: Option<&Path>) -> Result<Head, Error> {
    let config = HeadConfig { class_weighting, ..HeadConfig::default() };
    let t = Instant::now();
    let (head, report) = Head::train(train, val, &config)?;
    println!(
        "head (class_weighting={class_weighting}): val accuracy {:.4}, macro-F1 {:.4}, loss {:.4}, best epoch {}/{} ({:.1}s)",
        report.val_accuracy,
        report.val_macro_f1,
        report.val_loss,
        report.best_epoch,
        report.epochs,
        t.elapsed().as_secs_f64(),
    );
    if let Some(out) = out {
        head.save(out)?;
    }
    Ok(head)
}

fn main() -> Result<(), Error> {
    let args = parse_args()?;
    let t = Instant::now();
    let model_dir = locate_teacher_model(None)?;
    let encoder = Encoder::load(&model_dir)?;
    let fp = encoder.fingerprint();
    eprintln!("teacher {} loaded in {:.2}s, fingerprint {fp:016x}", model_dir.display(), t.elapsed().as_secs_f64());

    let rows = qp_replay::read_headlines(&args.csv)?;
    let texts: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
    let labels: Vec<u8> = rows
        .iter()
        .map(|r| match r.label {
            SentimentLabel::Bearish => 0,
            SentimentLabel::Bullish => 1,
            SentimentLabel::Neutral => 2,
        })
        .collect();
    eprintln!("{} texts from {}", texts.len(), args.csv.display());

    if args.bench > 0 {
        let bench: Vec<&str> = texts.iter().copied().take(args.bench).collect();
        let t = Instant::now();
        encoder.embed(&bench, &mut |_, _| {})?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "throughput (uncached): {} texts in {secs:.2}s = {:.0} texts/s on {} threads",
            bench.len(),
            bench.len() as f64 / secs,
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
    }

    let embeddings = embed_all(&encoder, &texts, &args.cache_dir)?;
    let (train, val) = split(&texts, &embeddings, &labels);
    println!("split: {} train / {} validation", train.len(), val.len());
    let head_path = args.cache_dir.join(format!("train_teacher-head-{fp:016x}.json"));
    let head = train_head(&train, &val, args.class_weighting, Some(&head_path))?;

    if !args.fine_tune {
        return Ok(());
    }
    let train_texts: Vec<(&str, u8)> = texts
        .iter()
        .zip(&labels)
        .filter(|(t, _)| !is_validation(t))
        .map(|(t, l)| (*t, *l))
        .take(args.ft_limit)
        .collect();
    let val_texts: Vec<(&str, u8)> =
        texts.iter().zip(&labels).filter(|(t, _)| is_validation(t)).map(|(t, l)| (*t, *l)).collect();
    let config = FineTuneConfig {
        epochs: args.epochs,
        trainable_layers: args.layers,
        class_weighting: args.class_weighting,
        ..FineTuneConfig::default()
    };
    let out_dir = fine_tuned_dir(&args.cache_dir, fp);
    let (ft_encoder, ft_head) = if out_dir.join(FINE_TUNED_HEAD_FILE).is_file() {
        eprintln!("reusing the fine-tuned teacher in {} (delete it to fine-tune again)", out_dir.display());
        let teacher = Teacher::load(&out_dir)?;
        if let Ok(report) = std::fs::read_to_string(out_dir.join("fine_tune.json")) {
            println!("fine-tune report: {report}");
        }
        (teacher.encoder, teacher.head)
    } else {
        eprintln!("fine-tuning {} texts, {config:?} -> {}", train_texts.len(), out_dir.display());
        let mut last_report = Instant::now();
        let (ft_encoder, ft_head, report) =
            fine_tune(&model_dir, &train_texts, &val_texts, &head, &out_dir, &config, &mut |p| {
                if last_report.elapsed().as_secs() >= 30 {
                    eprintln!("  epoch {} {}/{} loss {:.4}", p.epoch, p.done, p.total, p.loss);
                    last_report = Instant::now();
                }
            })?;
        println!(
            "fine-tune: val accuracy {:.4} -> {:.4}, macro-F1 {:.4} -> {:.4}, best epoch {}/{}, losses {:?}, {:.0}s ({:.1} train texts/s)",
            report.initial_val_accuracy,
            report.val_accuracy,
            report.initial_val_macro_f1,
            report.val_macro_f1,
            report.best_epoch,
            report.epochs,
            report.train_losses,
            report.seconds,
            report.train_texts_per_second
        );
        (ft_encoder, ft_head)
    };

    // Check the exported folder end to end: fine-tuned encoder + its head, through the cache.
    let ft_fp = ft_encoder.fingerprint();
    let ft_embeddings = embed_all(&ft_encoder, &texts, &args.cache_dir)?;
    let (ft_train, ft_val) = split(&texts, &ft_embeddings, &labels);
    let predicted: Vec<u8> = ft_val.iter().map(|(e, _)| ft_head.predict(e)).collect();
    let gold: Vec<u8> = ft_val.iter().map(|(_, l)| *l).collect();
    let (acc, f1) = accuracy_and_macro_f1(&predicted, &gold);
    println!("fine-tuned teacher {ft_fp:016x} (exported, joint head): val accuracy {acc:.4}, macro-F1 {f1:.4}");
    print!("refit on the fine-tuned embeddings, for comparison: ");
    train_head(&ft_train, &ft_val, args.class_weighting, None)?;
    Ok(())
}
