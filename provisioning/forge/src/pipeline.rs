//! The forge's two steps, as `qpctl forge teacher` and `qpctl forge distill` run them.
//!
//! Everything lands in a work folder: the embedding cache (the teacher's
//! labels are a cheap head over cached embeddings, so a rerun recomputes
//! nothing), the trained head, the fine-tuned teacher, and `teacher.json`,
//! which says which teacher `distill` uses.
use std::path::{Path, PathBuf};
use std::time::Instant;

use qp_forge_teacher::{
    EmbeddingCache, Encoder, FineTuneConfig, FineTuneReport, Head, HeadConfig, HeadReport, fine_tune, fine_tuned_dir,
    locate_teacher_model,
};
use qp_sentiment::student::{NativeStudent, QuantBits, StudentScratch, argmax, quantize, write_student_onnx};
use serde::{Deserialize, Serialize};

use crate::distill::{DistillConfig, DistillProgress, Metrics, TrainingExample, distill, evaluate, read_tfns_split};
use crate::transfer_set;

/// What the pipeline reports while it works.
#[derive(Debug, Clone, Copy)]
pub enum ForgeProgress<'a> {
    /// A step began.
    Step(&'a str),
    /// Progress within a counted step.
    Count { step: &'a str, done: usize, total: usize },
    /// A distillation epoch finished.
    Epoch(&'a DistillProgress),
}

/// Why a forge step failed. Each message names the file or setting.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    #[error(transparent)]
    Teacher(#[from] qp_forge_teacher::TeacherError),
    #[error(transparent)]
    Data(#[from] qp_replay::ReplayError),
    #[error(transparent)]
    Distill(#[from] crate::distill::DistillError),
    #[error(transparent)]
    Student(#[from] qp_sentiment::student::StudentError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {detail}")]
    Format { path: PathBuf, detail: String },
    #[error("{0}")]
    Invalid(String),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ForgeError + '_ {
    move |source| ForgeError::Io { path: path.to_owned(), source }
}

/// Which teacher `distill` uses; written by `teacher`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TeacherPointer {
    pub model_dir: PathBuf,
    pub head: PathBuf,
    pub val_accuracy: f64,
    pub val_macro_f1: f64,
}

const TEACHER_POINTER: &str = "teacher.json";

/// Settings of `forge teacher`.
#[derive(Debug, Clone)]
pub struct TeacherOptions {
    /// The TFNS-format CSV (`text,label`).
    pub data: PathBuf,
    pub work: PathBuf,
    /// The MiniLM folder; `None` finds the installed wheel.
    pub teacher_dir: Option<PathBuf>,
    pub head: HeadConfig,
    /// Fine-tune the transformer after training the head on frozen embeddings.
    pub fine_tune: Option<FineTuneConfig>,
    /// Use only the first N labelled texts (the CI's small run).
    pub limit: Option<usize>,
}

/// What `forge teacher` did.
#[derive(Debug, Clone, Serialize)]
pub struct TeacherSummary {
    pub texts: usize,
    pub train: usize,
    pub validation: usize,
    pub embed_seconds: f64,
    pub head: HeadReport,
    pub fine_tune: Option<FineTuneReport>,
    pub teacher: TeacherPointer,
}

fn cache_path(work: &Path, fingerprint: u64) -> PathBuf {
    work.join(format!("embeddings-{fingerprint:016x}.qptc"))
}

/// Embeddings of `texts` through `encoder`, from and into the work folder's cache.
fn embed_cached(
    encoder: &Encoder,
    work: &Path,
    texts: &[&str],
    step: &str,
    progress: &mut dyn FnMut(ForgeProgress<'_>),
) -> Result<Vec<qp_forge_teacher::Embedding>, ForgeError> {
    let mut cache = EmbeddingCache::load(&cache_path(work, encoder.fingerprint()), encoder.fingerprint())?;
    let embeddings =
        cache.get_or_embed(encoder, texts, &mut |done, total| progress(ForgeProgress::Count { step, done, total }))?;
    cache.save()?;
    Ok(embeddings)
}

fn read_split(path: &Path, limit: Option<usize>) -> Result<crate::distill::TfnsSplit, ForgeError> {
    let mut split = read_tfns_split(path)?;
    if let Some(limit) = limit {
        // Keep the 85/15 proportion of the split rule.
        split.train.truncate(limit * 85 / 100);
        split.validation.truncate((limit * 15 / 100).max(1));
    }
    if split.train.is_empty() || split.validation.is_empty() {
        return Err(ForgeError::Format { path: path.to_owned(), detail: "no labelled texts to train on".to_owned() });
    }
    Ok(split)
}

/// Step 1: train the teacher's head on TFNS (and optionally fine-tune the transformer).
pub fn forge_teacher(
    options: &TeacherOptions,
    progress: &mut dyn FnMut(ForgeProgress<'_>),
) -> Result<TeacherSummary, ForgeError> {
    std::fs::create_dir_all(&options.work).map_err(io_error(&options.work))?;
    let split = read_split(&options.data, options.limit)?;
    let base_dir = locate_teacher_model(options.teacher_dir.as_deref())?;
    progress(ForgeProgress::Step("loading the teacher (all-MiniLM-L6-v2)"));
    let base = Encoder::load(&base_dir)?;

    let train_texts: Vec<&str> = split.train.iter().map(|e| e.text.as_str()).collect();
    let val_texts: Vec<&str> = split.validation.iter().map(|(t, _)| t.as_str()).collect();
    let all: Vec<&str> = train_texts.iter().chain(&val_texts).copied().collect();
    let started = Instant::now();
    let embeddings = embed_cached(&base, &options.work, &all, "embedding labelled texts", progress)?;
    let embed_seconds = started.elapsed().as_secs_f64();
    let (train_emb, val_emb) = embeddings.split_at(train_texts.len());
    let gold = |e: &TrainingExample| e.gold.unwrap_or(2);
    let train_set: Vec<_> = train_emb.iter().zip(&split.train).map(|(x, e)| (*x, gold(e))).collect();
    let val_set: Vec<_> = val_emb.iter().zip(&split.validation).map(|(x, (_, l))| (*x, *l)).collect();

    progress(ForgeProgress::Step("training the classification head"));
    let (head, head_report) = Head::train(&train_set, &val_set, &options.head)?;
    let head_path = options.work.join(format!("head-{:016x}.json", base.fingerprint()));
    head.save(&head_path)?;
    let mut pointer = TeacherPointer {
        model_dir: base_dir.clone(),
        head: head_path,
        val_accuracy: head_report.val_accuracy,
        val_macro_f1: head_report.val_macro_f1,
    };

    let mut fine_tune_report = None;
    if let Some(config) = &options.fine_tune {
        progress(ForgeProgress::Step("fine-tuning the teacher"));
        let train_pairs: Vec<(&str, u8)> = split.train.iter().map(|e| (e.text.as_str(), gold(e))).collect();
        let val_pairs: Vec<(&str, u8)> = split.validation.iter().map(|(t, l)| (t.as_str(), *l)).collect();
        let out_dir = fine_tuned_dir(&options.work, base.fingerprint());
        let (tuned, tuned_head, report) =
            fine_tune(&base_dir, &train_pairs, &val_pairs, &head, &out_dir, config, &mut |p| {
                progress(ForgeProgress::Count { step: "fine-tuning", done: p.done, total: p.total })
            })?;
        let tuned_head_path = options.work.join(format!("head-{:016x}.json", tuned.fingerprint()));
        tuned_head.save(&tuned_head_path)?;
        if report.val_accuracy + report.val_macro_f1 > pointer.val_accuracy + pointer.val_macro_f1 {
            pointer = TeacherPointer {
                model_dir: out_dir,
                head: tuned_head_path,
                val_accuracy: report.val_accuracy,
                val_macro_f1: report.val_macro_f1,
            };
        }
        fine_tune_report = Some(report);
    }
    let pointer_path = options.work.join(TEACHER_POINTER);
    let json = serde_json::to_vec_pretty(&pointer).map_err(|e| ForgeError::Invalid(e.to_string()))?;
    std::fs::write(&pointer_path, json).map_err(io_error(&pointer_path))?;
    Ok(TeacherSummary {
        texts: all.len(),
        train: train_texts.len(),
        validation: val_texts.len(),
        embed_seconds,
        head: head_report,
        fine_tune: fine_tune_report,
        teacher: pointer,
    })
}

/// Settings of `forge distill`.
#[derive(Debug, Clone)]
pub struct DistillOptions {
    pub data: PathBuf,
    pub work: PathBuf,
    /// Where the int8 model goes; the int4 variant goes beside it (`*.int4.onnx`).
    pub out: PathBuf,
    /// Generated texts added to the labelled ones.
    pub transfer_texts: usize,
    pub transfer_seed: u64,
    pub config: DistillConfig,
    pub limit: Option<usize>,
    /// How many times each labelled text appears in the training set: the
    /// generated texts far outnumber the real ones, and this restores their say.
    pub labelled_repeats: usize,
}

/// One variant of the student on the held-out split.
#[derive(Debug, Clone, Serialize)]
pub struct VariantMetrics {
    pub accuracy: f64,
    pub macro_f1: f64,
    /// Same class as the teacher.
    pub teacher_agreement: f64,
    /// Same class as the f32 student (on the held-out and transfer texts).
    pub f32_agreement: f64,
    pub weight_bytes: usize,
    pub file_bytes: u64,
}

/// What `forge distill` did.
#[derive(Debug, Clone, Serialize)]
pub struct DistillSummary {
    pub labelled_train: usize,
    pub transfer: usize,
    pub validation: usize,
    pub teacher: TeacherPointer,
    /// The teacher on the held-out split.
    pub teacher_accuracy: f64,
    pub teacher_macro_f1: f64,
    pub label_seconds: f64,
    pub train_seconds: f64,
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub f32_accuracy: f64,
    pub f32_macro_f1: f64,
    pub int8: VariantMetrics,
    pub int4: VariantMetrics,
    pub model: PathBuf,
    pub model_int4: PathBuf,
}

fn load_pointer(work: &Path) -> Result<TeacherPointer, ForgeError> {
    let path = work.join(TEACHER_POINTER);
    let bytes = std::fs::read(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => ForgeError::Format {
            path: path.clone(),
            detail: "no trained teacher here: run `qpctl forge teacher` first".to_owned(),
        },
        _ => ForgeError::Io { path: path.clone(), source },
    })?;
    serde_json::from_slice(&bytes).map_err(|e| ForgeError::Format { path, detail: e.to_string() })
}

fn agreement(a: &[usize], b: &[usize]) -> f64 {
    let same = a.iter().zip(b).filter(|(x, y)| x == y).count();
    same as f64 / a.len().max(1) as f64
}

/// Step 2: label the transfer set with the teacher, distill the student,
/// quantize it (int8 shipped, int4 reported) and write the model files.
pub fn forge_distill(
    options: &DistillOptions,
    progress: &mut dyn FnMut(ForgeProgress<'_>),
) -> Result<DistillSummary, ForgeError> {
    let pointer = load_pointer(&options.work)?;
    let split = read_split(&options.data, options.limit)?;
    progress(ForgeProgress::Step("loading the teacher"));
    let encoder = Encoder::load(&pointer.model_dir)?;
    let head = Head::load(&pointer.head)?;

    progress(ForgeProgress::Step("generating the transfer set"));
    let transfer = transfer_set::generate(options.transfer_texts, options.transfer_seed);
    let texts: Vec<&str> = split
        .train
        .iter()
        .map(|e| e.text.as_str())
        .chain(transfer.iter().map(String::as_str))
        .chain(split.validation.iter().map(|(t, _)| t.as_str()))
        .collect();
    let started = Instant::now();
    let embeddings = embed_cached(&encoder, &options.work, &texts, "teacher labelling", progress)?;
    let label_seconds = started.elapsed().as_secs_f64();
    let soft: Vec<[f32; 3]> = embeddings.iter().map(|e| head.probabilities(e)).collect();
    let (train_soft, rest) = soft.split_at(split.train.len());
    let (transfer_soft, val_soft) = rest.split_at(transfer.len());

    let repeats = options.labelled_repeats.max(1);
    let examples: Vec<TrainingExample> = split
        .train
        .iter()
        .zip(train_soft)
        .flat_map(|(e, p)| {
            std::iter::repeat_n(TrainingExample { text: e.text.clone(), teacher: Some(*p), gold: e.gold }, repeats)
        })
        .chain(transfer.iter().zip(transfer_soft).map(|(t, p)| TrainingExample {
            text: t.clone(),
            teacher: Some(*p),
            gold: None,
        }))
        .collect();

    progress(ForgeProgress::Step("distilling the student"));
    let started = Instant::now();
    let (weights, report) = distill(&examples, &split.validation, &options.config, &mut |p| {
        progress(ForgeProgress::Epoch(&p));
    })?;
    let train_seconds = started.elapsed().as_secs_f64();

    progress(ForgeProgress::Step("quantizing and packaging"));
    let int4_path = options.out.with_extension("int4.onnx");
    if let Some(dir) = options.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    }
    let teacher_metrics = evaluate_probabilities(&split.validation, val_soft);
    let teacher_classes: Vec<usize> = val_soft.iter().map(argmax).collect();
    // The f32 reference classes on held-out and (a sample of) transfer texts.
    let agreement_texts: Vec<&str> = split
        .validation
        .iter()
        .map(|(t, _)| t.as_str())
        .chain(transfer.iter().take(20_000).map(String::as_str))
        .collect();
    let featurizer = qp_sentiment::features::Featurizer::new(options.config.features)
        .map_err(qp_sentiment::student::StudentError::from)?;
    let mut features = qp_sentiment::features::FeatureBuf::new();
    let f32_classes: Vec<usize> =
        agreement_texts.iter().map(|t| argmax(&weights.predict(&featurizer, t, &mut features))).collect();
    let f32_metrics = evaluate(&split.validation, |t| weights.predict(&featurizer, t, &mut features));

    let variant = |bits: QuantBits, path: &Path| -> Result<VariantMetrics, ForgeError> {
        let quantized = quantize(&weights, bits);
        write_student_onnx(&quantized, path)?;
        let student = NativeStudent::load(path)?;
        let mut scratch = StudentScratch::new();
        let metrics = evaluate(&split.validation, |t| student.predict(t, &mut scratch));
        let classes: Vec<usize> = agreement_texts.iter().map(|t| argmax(&student.predict(t, &mut scratch))).collect();
        let file_bytes = std::fs::metadata(path).map_err(io_error(path))?.len();
        Ok(VariantMetrics {
            accuracy: metrics.accuracy,
            macro_f1: metrics.macro_f1,
            teacher_agreement: agreement(&classes[..teacher_classes.len()], &teacher_classes),
            f32_agreement: agreement(&classes, &f32_classes),
            weight_bytes: quantized.weight_bytes(),
            file_bytes,
        })
    };
    let int8 = variant(QuantBits::Int8, &options.out)?;
    let int4 = variant(QuantBits::Int4, &int4_path)?;
    Ok(DistillSummary {
        labelled_train: split.train.len(),
        transfer: transfer.len(),
        validation: split.validation.len(),
        teacher: pointer,
        teacher_accuracy: teacher_metrics.accuracy,
        teacher_macro_f1: teacher_metrics.macro_f1,
        label_seconds,
        train_seconds,
        epochs_run: report.epochs_run,
        best_epoch: report.best_epoch,
        f32_accuracy: f32_metrics.accuracy,
        f32_macro_f1: f32_metrics.macro_f1,
        int8,
        int4,
        model: options.out.clone(),
        model_int4: int4_path,
    })
}

fn evaluate_probabilities(validation: &[(String, u8)], probabilities: &[[f32; 3]]) -> Metrics {
    let mut next = probabilities.iter();
    evaluate(validation, |_| next.next().copied().unwrap_or([0.0, 0.0, 1.0]))
}

/// `qpctl forge eval`: a model on a labelled CSV.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct EvalReport {
    pub n: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
}

/// Score every text of a `text,label` CSV with `student`.
pub fn evaluate_csv(student: &NativeStudent, data: &Path) -> Result<EvalReport, ForgeError> {
    let headlines = qp_replay::read_headlines(data)?;
    let labelled: Vec<(String, u8)> =
        headlines.into_iter().map(|h| (h.text, crate::distill::label_index(h.label))).collect();
    if labelled.is_empty() {
        return Err(ForgeError::Format { path: data.to_owned(), detail: "no labelled texts".to_owned() });
    }
    let mut scratch = StudentScratch::new();
    let metrics = evaluate(&labelled, |t| student.predict(t, &mut scratch));
    Ok(EvalReport { n: labelled.len(), accuracy: metrics.accuracy, macro_f1: metrics.macro_f1 })
}
