//! Distillation: train the f32 student ([`StudentWeights`]) on the teacher's
//! soft labels and the gold labels where present.
//!
//! Loss per example, with student logits `z`, teacher probabilities `p` (read
//! as logits `ln p`), temperature `T` and weight `α`:
//!
//! ```text
//! teacher and gold:  α · T² · KL(softmax(ln p / T) ‖ softmax(z / T)) + (1 − α) · CE(softmax(z), gold)
//! teacher only:          T² · KL(…)
//! gold only:                                                            CE(softmax(z), gold)
//! ```
//!
//! Training: minibatches of a seeded shuffle, Adam (lazy on the embedding:
//! only the rows a batch touches are updated, with their own moments), model
//! selection on the caller's validation split after every epoch, early stop
//! after `patience` epochs without improvement.
//!
//! Determinism: one thread, a fixed order of every sum, our own PRNG
//! ([`SplitMix64`]) and our own `exp`/`ln` (f64 polynomials: the platform's
//! libm may round differently), so the same inputs and seed give the same
//! weights bit for bit, hence the same ONNX file, on any machine.

use std::path::Path;

use qp_models::SplitMix64;
use qp_replay::{LabelledHeadline, SentimentLabel};
use qp_sentiment::features::{FeatureBuf, FeatureConfig, Featurizer};
use qp_sentiment::student::{NUM_CLASSES, StudentError, StudentWeights};

/// One text to learn from: the teacher's probabilities and/or a gold label
/// (0 bearish, 1 bullish, 2 neutral).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingExample {
    /// The text.
    pub text: String,
    /// Teacher class probabilities, [`qp_sentiment::student::CLASSES`] order.
    pub teacher: Option<[f32; 3]>,
    /// Gold label.
    pub gold: Option<u8>,
}

/// What model selection maximizes on the validation split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Selection {
    /// Accuracy.
    Accuracy,
    /// Mean F1 over the three classes.
    MacroF1,
}

/// Everything that shapes a training run.
#[derive(Debug, Clone, PartialEq)]
pub struct DistillConfig {
    /// Featurizer (hash space, n-grams).
    pub features: FeatureConfig,
    /// Embedding width (even, ≤ [`qp_sentiment::student::MAX_DIM`]).
    pub dim: usize,
    /// Hidden ReLU layer width; 0 = linear head on the bag.
    pub hidden: usize,
    /// Most passes over the training set.
    pub epochs: usize,
    /// Examples per update.
    pub batch_size: usize,
    /// Adam step size.
    pub learning_rate: f32,
    /// Decoupled weight decay per step (AdamW), on the weights a step
    /// updates (touched embedding rows, dense weights; not biases).
    pub weight_decay: f32,
    /// Distillation temperature `T`.
    pub temperature: f32,
    /// Weight `α` of the distillation term where both labels exist.
    pub alpha: f32,
    /// Epochs without a better validation score before stopping; 0 = run
    /// all `epochs`.
    pub patience: usize,
    /// What the validation score is.
    pub selection: Selection,
    /// Seeds initialization and shuffling.
    pub seed: u64,
}

impl Default for DistillConfig {
    fn default() -> Self {
        Self {
            features: FeatureConfig::default(),
            dim: 2,
            hidden: 0,
            epochs: 30,
            batch_size: 32,
            learning_rate: 0.005,
            weight_decay: 0.0,
            temperature: 2.0,
            alpha: 0.7,
            patience: 5,
            selection: Selection::MacroF1,
            seed: 1,
        }
    }
}

/// Accuracy, macro-F1 and the confusion matrix of predictions.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Metrics {
    /// Texts scored.
    pub count: usize,
    /// Fraction predicted right.
    pub accuracy: f64,
    /// Mean of the per-class F1 scores.
    pub macro_f1: f64,
    /// F1 per class.
    pub f1: [f64; 3],
    /// `confusion[gold][predicted]`.
    pub confusion: [[u32; 3]; 3],
}

impl Metrics {
    /// Metrics from `(gold, predicted)` pairs (labels above 2 are skipped).
    #[must_use]
    pub fn from_pairs(pairs: impl IntoIterator<Item = (u8, u8)>) -> Self {
        let mut confusion = [[0u32; 3]; 3];
        for (gold, predicted) in pairs {
            if let Some(cell) = confusion.get_mut(usize::from(gold)).and_then(|row| row.get_mut(usize::from(predicted)))
            {
                *cell += 1;
            }
        }
        let count: u32 = confusion.iter().flatten().sum();
        let correct: u32 = (0..3).map(|c| confusion[c][c]).sum();
        let mut f1 = [0.0; 3];
        for (c, f) in f1.iter_mut().enumerate() {
            let tp = f64::from(confusion[c][c]);
            let predicted: u32 = (0..3).map(|g| confusion[g][c]).sum();
            let actual: u32 = confusion[c].iter().sum();
            let denominator = f64::from(predicted) + f64::from(actual);
            *f = if denominator > 0.0 { 2.0 * tp / denominator } else { 0.0 };
        }
        Self {
            count: count as usize,
            accuracy: if count > 0 { f64::from(correct) / f64::from(count) } else { 0.0 },
            macro_f1: f1.iter().sum::<f64>() / 3.0,
            f1,
            confusion,
        }
    }

    fn score(&self, selection: Selection) -> f64 {
        match selection {
            Selection::Accuracy => self.accuracy,
            Selection::MacroF1 => self.macro_f1,
        }
    }
}

/// Scores any predictor on labelled texts (argmax of its probabilities).
pub fn evaluate(data: &[(String, u8)], mut predict: impl FnMut(&str) -> [f32; 3]) -> Metrics {
    Metrics::from_pairs(data.iter().map(|(text, gold)| (*gold, argmax(&predict(text)) as u8)))
}

/// One line of progress, after each epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DistillProgress {
    /// 1-based epoch just finished.
    pub epoch: usize,
    /// Most epochs.
    pub epochs: usize,
    /// Mean training loss over the epoch.
    pub train_loss: f64,
    /// The f32 student on the validation split.
    pub validation: Metrics,
    /// Whether this epoch is the best so far (and kept).
    pub improved: bool,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct DistillReport {
    /// Epochs run.
    pub epochs_run: usize,
    /// The epoch whose weights were returned (1-based; 0 when no epoch ran).
    pub best_epoch: usize,
    /// The returned weights on the validation split.
    pub validation: Metrics,
    /// Mean training loss of each epoch.
    pub train_loss: Vec<f64>,
    /// Training examples used (with a teacher or gold label).
    pub examples: usize,
    /// Of those, with teacher probabilities.
    pub with_teacher: usize,
    /// Of those, with a gold label.
    pub with_gold: usize,
    /// Whether patience ran out before `epochs`.
    pub stopped_early: bool,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DistillError {
    /// No training example carries a label.
    #[error("no training example has a teacher or gold label")]
    NoTrainingData,
    /// A gold label is not 0, 1 or 2.
    #[error("training example {index}: gold label {label} is not 0, 1 or 2")]
    GoldLabel {
        /// Position in the training set.
        index: usize,
        /// The label.
        label: u8,
    },
    /// A validation label is not 0, 1 or 2.
    #[error("validation example {index}: label {label} is not 0, 1 or 2")]
    ValidationLabel {
        /// Position in the validation set.
        index: usize,
        /// The label.
        label: u8,
    },
    /// Teacher probabilities that are negative, not finite or sum to zero.
    #[error("training example {index}: teacher probabilities {probabilities:?} are not a distribution")]
    TeacherProbabilities {
        /// Position in the training set.
        index: usize,
        /// The values.
        probabilities: [f32; 3],
    },
    /// A hyper-parameter out of range.
    #[error("invalid distillation config: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// The student shape or featurizer is invalid.
    #[error(transparent)]
    Student(#[from] StudentError),
}

/// The validation split shared with the teacher: `true` for the ~15 % of
/// texts held out. Delegates to [`qp_forge_teacher::is_validation`] so the two
/// can never disagree.
#[must_use]
pub fn is_validation(text: &str) -> bool {
    qp_forge_teacher::is_validation(text)
}

/// The class index (0 bearish, 1 bullish, 2 neutral) of a TFNS label.
#[must_use]
pub const fn label_index(label: SentimentLabel) -> u8 {
    match label {
        SentimentLabel::Bearish => 0,
        SentimentLabel::Bullish => 1,
        SentimentLabel::Neutral => 2,
    }
}

/// Labelled TFNS texts split by [`is_validation`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TfnsSplit {
    /// Gold-only training examples (no teacher).
    pub train: Vec<TrainingExample>,
    /// `(text, gold label)` held out.
    pub validation: Vec<(String, u8)>,
}

/// Splits TFNS headlines by [`is_validation`].
#[must_use]
pub fn split_headlines(headlines: &[LabelledHeadline]) -> TfnsSplit {
    let mut train = Vec::new();
    let mut validation = Vec::new();
    for headline in headlines {
        let label = label_index(headline.label);
        if is_validation(&headline.text) {
            validation.push((headline.text.clone(), label));
        } else {
            train.push(TrainingExample { text: headline.text.clone(), teacher: None, gold: Some(label) });
        }
    }
    TfnsSplit { train, validation }
}

/// Reads a TFNS CSV and splits it (see [`split_headlines`]).
pub fn read_tfns_split(path: &Path) -> Result<TfnsSplit, qp_replay::ReplayError> {
    Ok(split_headlines(&qp_replay::read_headlines(path)?))
}

// ---------------------------------------------------------------------------
// Deterministic math
// ---------------------------------------------------------------------------

const LN2: f64 = std::f64::consts::LN_2;

/// `e^x`, computed the same way on every platform: `x = k·ln2 + r`,
/// `|r| ≤ ln2/2`, a degree-12 Taylor polynomial for `e^r` and an exact
/// power of two.
fn exp(x: f64) -> f64 {
    let x = x.clamp(-700.0, 700.0);
    let k = (x / LN2).round();
    let r = x - k * LN2;
    let mut p = 1.0;
    for n in (1..=12).rev() {
        p = 1.0 + p * r / f64::from(n);
    }
    p * f64::from_bits(((k as i64 + 1023) as u64) << 52)
}

/// `ln x` for `x > 0` (smaller inputs are clamped to the smallest normal),
/// computed the same way on every platform: `x = m·2^e`, `m ∈ [1, 2)`,
/// `ln m = 2·atanh((m−1)/(m+1))` by its series.
fn ln(x: f64) -> f64 {
    let x = x.max(f64::MIN_POSITIVE);
    let bits = x.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | (1023 << 52));
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut sum = 0.0;
    for k in (0..=14).rev() {
        sum = 1.0 / f64::from(2 * k + 1) + s2 * sum;
    }
    exponent as f64 * LN2 + 2.0 * s * sum
}

/// Softmax of `logits / temperature`, in f64.
fn softmax_t(logits: &[f32; 3], temperature: f64) -> [f64; 3] {
    let z = logits.map(|v| f64::from(v) / temperature);
    let max = z[0].max(z[1]).max(z[2]);
    let e = z.map(|v| exp(v - max));
    let sum = e[0] + e[1] + e[2];
    e.map(|v| v / sum)
}

fn argmax<T: PartialOrd + Copy>(values: &[T; 3]) -> usize {
    let mut best = 0;
    for i in 1..3 {
        if values[i] > values[best] {
            best = i;
        }
    }
    best
}

// ---------------------------------------------------------------------------
// Training
// ---------------------------------------------------------------------------

/// Training examples as feature ids and loss targets.
struct Prepared {
    /// Feature ids of all examples, back to back.
    ids: Vec<u32>,
    /// `ids[offsets[i]..offsets[i + 1]]` belong to example `i`.
    offsets: Vec<usize>,
    /// `softmax(ln p / T)` where a teacher label exists.
    teacher: Vec<Option<[f64; 3]>>,
    gold: Vec<Option<u8>>,
}

impl Prepared {
    fn len(&self) -> usize {
        self.teacher.len()
    }

    fn ids(&self, i: usize) -> &[u32] {
        &self.ids[self.offsets[i]..self.offsets[i + 1]]
    }
}

fn check_config(config: &DistillConfig) -> Result<(), DistillError> {
    let bad = |reason: String| Err(DistillError::Config { reason });
    if config.batch_size == 0 {
        return bad("batch_size must be at least 1".into());
    }
    if !(config.learning_rate.is_finite() && config.learning_rate > 0.0) {
        return bad(format!("learning_rate {} must be positive", config.learning_rate));
    }
    if !(config.temperature.is_finite() && config.temperature > 0.0) {
        return bad(format!("temperature {} must be positive", config.temperature));
    }
    if !(0.0..=1.0).contains(&config.alpha) {
        return bad(format!("alpha {} must be in [0, 1]", config.alpha));
    }
    if !(config.weight_decay.is_finite() && config.weight_decay >= 0.0) {
        return bad(format!("weight_decay {} must be non-negative", config.weight_decay));
    }
    Ok(())
}

fn prepare(train: &[TrainingExample], featurizer: &Featurizer, temperature: f64) -> Result<Prepared, DistillError> {
    let mut prepared = Prepared { ids: Vec::new(), offsets: vec![0], teacher: Vec::new(), gold: Vec::new() };
    let mut buf = FeatureBuf::new();
    for (index, example) in train.iter().enumerate() {
        if let Some(label) = example.gold.filter(|&g| g > 2) {
            return Err(DistillError::GoldLabel { index, label });
        }
        let teacher = match example.teacher {
            None => None,
            Some(p) => {
                let valid = p.iter().all(|v| v.is_finite() && *v >= 0.0) && p.iter().sum::<f32>() > 0.0;
                if !valid {
                    return Err(DistillError::TeacherProbabilities { index, probabilities: p });
                }
                let sum: f64 = p.iter().map(|&v| f64::from(v)).sum();
                // Teacher logits ln p; tempered: softmax(ln p / T).
                let logits = p.map(|v| ln(f64::from(v) / sum) as f32);
                Some(softmax_t(&logits, temperature))
            }
        };
        if teacher.is_none() && example.gold.is_none() {
            continue;
        }
        featurizer.extract(&example.text, &mut buf);
        prepared.ids.extend_from_slice(buf.as_slice());
        prepared.offsets.push(prepared.ids.len());
        prepared.teacher.push(teacher);
        prepared.gold.push(example.gold);
    }
    if prepared.len() == 0 {
        return Err(DistillError::NoTrainingData);
    }
    Ok(prepared)
}

/// Adam state of one parameter tensor.
struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Adam {
    fn new(len: usize) -> Self {
        Self { m: vec![0.0; len], v: vec![0.0; len] }
    }
}

/// Constants of one Adam step.
#[derive(Clone, Copy)]
struct Step {
    learning_rate: f32,
    weight_decay: f32,
    /// `1 − β1^t`, `1 − β2^t`.
    correction1: f32,
    correction2: f32,
}

const BETA1: f32 = 0.9;
const BETA2: f32 = 0.999;
const EPSILON: f32 = 1e-8;

impl Step {
    /// Updates `params[i]` from `grads[i]` (already averaged over the batch).
    fn apply(&self, params: &mut [f32], grads: &[f32], m: &mut [f32], v: &mut [f32], decay: bool) {
        for (((w, &g), m), v) in params.iter_mut().zip(grads).zip(m.iter_mut()).zip(v.iter_mut()) {
            *m = BETA1 * *m + (1.0 - BETA1) * g;
            *v = BETA2 * *v + (1.0 - BETA2) * g * g;
            let m_hat = *m / self.correction1;
            let v_hat = *v / self.correction2;
            if decay {
                *w -= self.learning_rate * self.weight_decay * *w;
            }
            *w -= self.learning_rate * m_hat / (v_hat.sqrt() + EPSILON);
        }
    }
}

/// Gradient buffers of one batch.
struct Grads {
    embedding: Vec<f32>,
    /// Embedding rows with a gradient in this batch, in first-touch order.
    touched: Vec<u32>,
    row_touched: Vec<bool>,
    hidden_weight: Vec<f32>,
    hidden_bias: Vec<f32>,
    output_weight: Vec<f32>,
    output_bias: Vec<f32>,
}

/// Trains a student. `validation` holds `(text, gold label)`; with an empty
/// validation set the last epoch's weights are returned. `progress` is called
/// after every epoch.
pub fn distill(
    train: &[TrainingExample],
    validation: &[(String, u8)],
    config: &DistillConfig,
    progress: &mut dyn FnMut(DistillProgress),
) -> Result<(StudentWeights, DistillReport), DistillError> {
    check_config(config)?;
    let mut weights = StudentWeights::zeros(config.features, config.dim, config.hidden)?;
    let featurizer = Featurizer::new(config.features).map_err(StudentError::from)?;
    if let Some((index, (_, label))) = validation.iter().enumerate().find(|(_, (_, label))| *label > 2) {
        return Err(DistillError::ValidationLabel { index, label: *label });
    }
    let temperature = f64::from(config.temperature);
    let data = prepare(train, &featurizer, temperature)?;
    let validation_ids: Vec<(Vec<u32>, u8)> = validation
        .iter()
        .map(|(text, label)| {
            let mut buf = FeatureBuf::new();
            featurizer.extract(text, &mut buf);
            (buf.as_slice().to_vec(), *label)
        })
        .collect();

    let (dim, hidden, head_inputs) = (weights.dim(), weights.hidden(), weights.head_inputs());
    let mut rng = SplitMix64::new(config.seed ^ 0x6469_7374_696c_6c00);
    initialize(&mut weights, &mut rng);

    let params = weights.params();
    let mut adam = [
        Adam::new(params.embedding.len()),
        Adam::new(params.hidden_weight.len()),
        Adam::new(params.hidden_bias.len()),
        Adam::new(params.output_weight.len()),
        Adam::new(params.output_bias.len()),
    ];
    let mut grads = Grads {
        embedding: vec![0.0; params.embedding.len()],
        touched: Vec::new(),
        row_touched: vec![false; config.features.buckets as usize],
        hidden_weight: vec![0.0; params.hidden_weight.len()],
        hidden_bias: vec![0.0; params.hidden_bias.len()],
        output_weight: vec![0.0; params.output_weight.len()],
        output_bias: vec![0.0; params.output_bias.len()],
    };

    let mut order: Vec<usize> = (0..data.len()).collect();
    let mut best: Option<(f64, usize, StudentWeights, Metrics)> = None;
    let mut report = DistillReport {
        epochs_run: 0,
        best_epoch: 0,
        validation: Metrics::default(),
        train_loss: Vec::new(),
        examples: data.len(),
        with_teacher: data.teacher.iter().filter(|t| t.is_some()).count(),
        with_gold: data.gold.iter().filter(|g| g.is_some()).count(),
        stopped_early: false,
    };
    let (mut power1, mut power2) = (1.0f32, 1.0f32);
    let mut pooled = vec![0.0f32; dim];
    let mut activations = vec![0.0f32; hidden];
    let mut grad_head = vec![0.0f32; head_inputs];
    let mut grad_pooled = vec![0.0f32; dim];
    let alpha = f64::from(config.alpha);

    for epoch in 1..=config.epochs {
        rng.shuffle(&mut order);
        let mut loss_sum = 0.0f64;
        for batch in order.chunks(config.batch_size) {
            for &i in batch {
                let ids = data.ids(i);
                let logits = weights.logits(ids, &mut pooled, &mut activations);
                // dL/dz and the loss.
                let (kd_weight, ce_weight) = match (data.teacher[i], data.gold[i]) {
                    (Some(_), Some(_)) => (alpha, 1.0 - alpha),
                    (Some(_), None) => (1.0, 0.0),
                    _ => (0.0, 1.0),
                };
                let mut grad_logits = [0.0f64; 3];
                if let Some(target) = data.teacher[i].filter(|_| kd_weight > 0.0) {
                    let student = softmax_t(&logits, temperature);
                    let mut kl = 0.0;
                    for c in 0..3 {
                        if target[c] > 0.0 {
                            kl += target[c] * (ln(target[c]) - ln(student[c]));
                        }
                        grad_logits[c] += kd_weight * temperature * (student[c] - target[c]);
                    }
                    loss_sum += kd_weight * temperature * temperature * kl;
                }
                if let Some(gold) = data.gold[i].filter(|_| ce_weight > 0.0) {
                    let probabilities = softmax_t(&logits, 1.0);
                    let gold = usize::from(gold);
                    loss_sum -= ce_weight * ln(probabilities[gold]);
                    for c in 0..3 {
                        let target = if c == gold { 1.0 } else { 0.0 };
                        grad_logits[c] += ce_weight * (probabilities[c] - target);
                    }
                }
                backward(
                    &weights,
                    &grad_logits.map(|g| g as f32),
                    ids,
                    &pooled,
                    &activations,
                    &mut grad_head,
                    &mut grad_pooled,
                    &mut grads,
                );
            }
            // One Adam step on the batch mean.
            power1 *= BETA1;
            power2 *= BETA2;
            let step = Step {
                learning_rate: config.learning_rate,
                weight_decay: config.weight_decay,
                correction1: 1.0 - power1,
                correction2: 1.0 - power2,
            };
            apply_step(&mut weights, &mut grads, &mut adam, step, 1.0 / batch.len() as f32);
        }
        let train_loss = loss_sum / data.len() as f64;
        report.train_loss.push(train_loss);
        report.epochs_run = epoch;

        let metrics = validate(&weights, &validation_ids);
        let score = metrics.score(config.selection);
        let improved = best.as_ref().is_none_or(|(best_score, ..)| score > *best_score);
        if improved {
            best = Some((score, epoch, weights.clone(), metrics));
        }
        progress(DistillProgress { epoch, epochs: config.epochs, train_loss, validation: metrics, improved });
        tracing::debug!(
            epoch,
            train_loss,
            accuracy = metrics.accuracy,
            macro_f1 = metrics.macro_f1,
            improved,
            "distill epoch"
        );
        let best_epoch = best.as_ref().map_or(0, |(_, e, ..)| *e);
        if config.patience > 0 && !validation_ids.is_empty() && epoch - best_epoch >= config.patience {
            report.stopped_early = epoch < config.epochs;
            break;
        }
    }

    let weights = match best {
        Some((_, epoch, best_weights, metrics)) if !validation_ids.is_empty() => {
            report.best_epoch = epoch;
            report.validation = metrics;
            best_weights
        }
        _ => {
            report.best_epoch = report.epochs_run;
            weights
        }
    };
    Ok((weights, report))
}

/// Embedding uniform in ±1/dim (fastText's choice), dense layers uniform in
/// ±√(6 / (fan_in + fan_out)), biases zero.
fn initialize(weights: &mut StudentWeights, rng: &mut SplitMix64) {
    let (dim, hidden, head_inputs) = (weights.dim(), weights.hidden(), weights.head_inputs());
    let params = weights.params_mut();
    let embedding_scale = 1.0 / dim as f32;
    params.embedding.iter_mut().for_each(|w| *w = rng.uniform_symmetric_f32(embedding_scale));
    let hidden_scale = (6.0 / (dim + hidden) as f32).sqrt();
    params.hidden_weight.iter_mut().for_each(|w| *w = rng.uniform_symmetric_f32(hidden_scale));
    let output_scale = (6.0 / (head_inputs + NUM_CLASSES) as f32).sqrt();
    params.output_weight.iter_mut().for_each(|w| *w = rng.uniform_symmetric_f32(output_scale));
}

/// Adds one example's gradients to `grads`.
#[allow(clippy::too_many_arguments)]
fn backward(
    weights: &StudentWeights,
    grad_logits: &[f32; 3],
    ids: &[u32],
    pooled: &[f32],
    activations: &[f32],
    grad_head: &mut [f32],
    grad_pooled: &mut [f32],
    grads: &mut Grads,
) {
    let params = weights.params();
    let (dim, hidden) = (weights.dim(), weights.hidden());
    let head_input: &[f32] = if hidden > 0 { activations } else { pooled };
    let n = head_input.len();
    grad_head.fill(0.0);
    for (c, &g) in grad_logits.iter().enumerate() {
        grads.output_bias[c] += g;
        let row = &params.output_weight[c * n..(c + 1) * n];
        let grad_row = &mut grads.output_weight[c * n..(c + 1) * n];
        for k in 0..n {
            grad_row[k] += g * head_input[k];
            grad_head[k] += g * row[k];
        }
    }
    if hidden > 0 {
        grad_pooled.fill(0.0);
        for j in 0..hidden {
            // ReLU: no gradient where the unit was off.
            let g = if activations[j] > 0.0 { grad_head[j] } else { 0.0 };
            if g == 0.0 {
                continue;
            }
            grads.hidden_bias[j] += g;
            let row = &params.hidden_weight[j * dim..(j + 1) * dim];
            let grad_row = &mut grads.hidden_weight[j * dim..(j + 1) * dim];
            for d in 0..dim {
                grad_row[d] += g * pooled[d];
                grad_pooled[d] += g * row[d];
            }
        }
    } else {
        grad_pooled.copy_from_slice(grad_head);
    }
    let inv = 1.0 / ids.len().max(1) as f32;
    for &id in ids {
        let row = id as usize;
        if !grads.row_touched[row] {
            grads.row_touched[row] = true;
            grads.touched.push(id);
        }
        let grad_row = &mut grads.embedding[row * dim..(row + 1) * dim];
        for d in 0..dim {
            grad_row[d] += grad_pooled[d] * inv;
        }
    }
}

/// One Adam step with the batch's gradients (scaled by `scale`), then clears them.
fn apply_step(weights: &mut StudentWeights, grads: &mut Grads, adam: &mut [Adam; 5], step: Step, scale: f32) {
    let dim = weights.dim();
    let params = weights.params_mut();
    let [adam_embedding, adam_hidden_weight, adam_hidden_bias, adam_output_weight, adam_output_bias] = adam;
    for &id in &grads.touched {
        let range = id as usize * dim..(id as usize + 1) * dim;
        let grad = &mut grads.embedding[range.clone()];
        grad.iter_mut().for_each(|g| *g *= scale);
        step.apply(
            &mut params.embedding[range.clone()],
            grad,
            &mut adam_embedding.m[range.clone()],
            &mut adam_embedding.v[range.clone()],
            true,
        );
        grad.fill(0.0);
        grads.row_touched[id as usize] = false;
    }
    grads.touched.clear();
    let dense = [
        (params.hidden_weight, &mut grads.hidden_weight, adam_hidden_weight, true),
        (params.hidden_bias, &mut grads.hidden_bias, adam_hidden_bias, false),
        (params.output_weight, &mut grads.output_weight, adam_output_weight, true),
        (params.output_bias, &mut grads.output_bias, adam_output_bias, false),
    ];
    for (values, grad, state, decay) in dense {
        grad.iter_mut().for_each(|g| *g *= scale);
        step.apply(values, grad, &mut state.m, &mut state.v, decay);
        grad.fill(0.0);
    }
}

fn validate(weights: &StudentWeights, validation: &[(Vec<u32>, u8)]) -> Metrics {
    let mut pooled = vec![0.0f32; weights.dim()];
    let mut activations = vec![0.0f32; weights.hidden()];
    Metrics::from_pairs(validation.iter().map(|(ids, gold)| {
        let logits = weights.logits(ids, &mut pooled, &mut activations);
        (*gold, argmax(&logits) as u8)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_exp_and_ln_match_std_closely() {
        for i in -400..=400 {
            let x = f64::from(i) * 0.05;
            let (got, want) = (exp(x), x.exp());
            assert!((got - want).abs() <= want * 1e-13, "exp({x}) = {got}, std {want}");
        }
        for i in 1..=1000 {
            let x = f64::from(i) * 0.013;
            let (got, want) = (ln(x), x.ln());
            assert!((got - want).abs() <= 1e-13, "ln({x}) = {got}, std {want}");
        }
        assert!(ln(0.0).is_finite());
    }

    #[test]
    fn metrics_count_confusion_and_f1() {
        let metrics = Metrics::from_pairs([(0, 0), (0, 2), (1, 1), (2, 2), (2, 2), (2, 1)]);
        assert_eq!(metrics.count, 6);
        assert!((metrics.accuracy - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(metrics.confusion[2], [0, 1, 2]);
        // bearish: tp 1, predicted 1, actual 2 → 2/3; bullish: 1, 2, 1 → 2/3; neutral: 2, 3, 3 → 2/3.
        assert!((metrics.macro_f1 - 2.0 / 3.0).abs() < 1e-12);
    }
}
