use std::path::Path;

use qp_seeded_random::SplitMix64;

use crate::{CLASS_NAMES, EMBEDDING_DIM, Embedding, NUM_CLASSES, TeacherError, accuracy_and_macro_f1};

const HEAD_FORMAT: &str = "qp-forge-teacher-head";
const HEAD_VERSION: u32 = 1;

/// Hyper-parameters of [`Head::train`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HeadConfig {
    /// Width of the hidden ReLU layer.
    pub hidden: usize,
    /// Upper bound on training epochs.
    pub max_epochs: usize,
    /// Stop after this many epochs without a better validation score.
    pub patience: usize,
    pub batch_size: usize,
    /// Adam step size.
    pub learning_rate: f32,
    /// Decoupled (AdamW) weight decay on the weight matrices.
    pub weight_decay: f32,
    /// Dropout on the hidden layer during training (0 = off).
    pub dropout: f32,
    /// Weight each class's loss by `n / (3 · count)` (helps macro-F1 on the skewed TFNS classes).
    pub class_weighting: bool,
    /// Seeds initialization, shuffling and dropout.
    pub seed: u64,
}

impl Default for HeadConfig {
    fn default() -> Self {
        Self {
            hidden: 256,
            max_epochs: 200,
            patience: 20,
            batch_size: 64,
            learning_rate: 1e-3,
            weight_decay: 1e-4,
            dropout: 0.1,
            class_weighting: false,
            seed: 0x5eed,
        }
    }
}

/// What [`Head::train`] achieved, on the validation split, with the kept (best) weights.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HeadReport {
    pub val_accuracy: f64,
    pub val_macro_f1: f64,
    /// Mean cross-entropy on the validation split.
    pub val_loss: f64,
    /// Epochs run (including those after the best one).
    pub epochs: usize,
    /// 1-based epoch whose weights were kept.
    pub best_epoch: usize,
    /// Mean training loss of the last epoch run.
    pub train_loss: f64,
}

/// MLP classifier on sentence embeddings: 384 → hidden (ReLU) → 3 logits → softmax. Pure Rust, f32.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    hidden: usize,
    /// hidden × 384, row-major.
    w1: Vec<f32>,
    b1: Vec<f32>,
    /// 3 × hidden, row-major.
    w2: Vec<f32>,
    b2: Vec<f32>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct HeadFile {
    format: String,
    version: u32,
    input_dim: usize,
    hidden: usize,
    classes: Vec<String>,
    w1: Vec<f32>,
    b1: Vec<f32>,
    w2: Vec<f32>,
    b2: Vec<f32>,
}

/// Adam moments for one parameter tensor.
struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Adam {
    fn new(n: usize) -> Self {
        Self { m: vec![0.0; n], v: vec![0.0; n] }
    }

    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f32, decay: f32, t: i32) {
        const B1: f32 = 0.9;
        const B2: f32 = 0.999;
        const EPS: f32 = 1e-8;
        let c1 = 1.0 - B1.powi(t);
        let c2 = 1.0 - B2.powi(t);
        for (((p, &g), m), v) in params.iter_mut().zip(grads).zip(&mut self.m).zip(&mut self.v) {
            *m = B1 * *m + (1.0 - B1) * g;
            *v = B2 * *v + (1.0 - B2) * g * g;
            let update = (*m / c1) / ((*v / c2).sqrt() + EPS);
            *p -= lr * (update + decay * *p);
        }
    }
}

/// Standard normal by Box–Muller from `1 − U` (so never ln 0). Not [`SplitMix64::normal`]:
/// this draw's stream fixes the initial weights, and with them the trained heads' figures.
fn normal(rng: &mut SplitMix64) -> f64 {
    let u1 = 1.0 - rng.uniform();
    let u2 = rng.uniform();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn softmax(logits: [f32; NUM_CLASSES]) -> [f32; NUM_CLASSES] {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps = logits.map(|l| (l - max).exp());
    let sum: f32 = exps.iter().sum();
    exps.map(|e| e / sum)
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight partial sums: lets the compiler vectorize while staying deterministic.
    let mut acc = [0f32; 8];
    let chunks = a.len() / 8 * 8;
    for (ca, cb) in a[..chunks].chunks_exact(8).zip(b[..chunks].chunks_exact(8)) {
        for k in 0..8 {
            acc[k] += ca[k] * cb[k];
        }
    }
    let tail: f32 = a[chunks..].iter().zip(&b[chunks..]).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

fn check_labels(set: &[(Embedding, u8)], name: &str) -> Result<(), TeacherError> {
    if let Some((i, (_, label))) = set.iter().enumerate().find(|(_, (_, l))| usize::from(*l) >= NUM_CLASSES) {
        return Err(TeacherError::InvalidInput(format!("{name} example {i} has label {label} (expected 0, 1 or 2)")));
    }
    if let Some(i) = set.iter().position(|(e, _)| e.iter().any(|x| !x.is_finite())) {
        return Err(TeacherError::InvalidInput(format!("{name} example {i} has a non-finite embedding")));
    }
    Ok(())
}

impl Head {
    /// Width of the hidden layer.
    pub fn hidden(&self) -> usize {
        self.hidden
    }

    /// (hidden, w1, b1, w2, b2) for the fine-tuning code.
    pub(crate) fn parts(&self) -> (usize, &[f32], &[f32], &[f32], &[f32]) {
        (self.hidden, &self.w1, &self.b1, &self.w2, &self.b2)
    }

    pub(crate) fn from_parts(
        hidden: usize,
        w1: Vec<f32>,
        b1: Vec<f32>,
        w2: Vec<f32>,
        b2: Vec<f32>,
    ) -> Result<Self, TeacherError> {
        let ok = hidden > 0
            && w1.len() == hidden * EMBEDDING_DIM
            && b1.len() == hidden
            && w2.len() == NUM_CLASSES * hidden
            && b2.len() == NUM_CLASSES;
        if !ok {
            return Err(TeacherError::InvalidInput(format!("head parameter shapes do not match hidden {hidden}")));
        }
        Ok(Self { hidden, w1, b1, w2, b2 })
    }

    /// Train on embeddings with gold labels (0 bearish, 1 bullish, 2 neutral).
    ///
    /// Softmax cross-entropy (optionally class-weighted), Adam(W), minibatches in an order shuffled by
    /// `config.seed`, dropout on the hidden layer. After every epoch the head is scored on `val`; the
    /// weights with the best validation accuracy + macro-F1 are kept and training stops after
    /// `config.patience` epochs without improvement. With an empty `val` it runs `config.max_epochs`
    /// and keeps the last weights (the report's validation fields are then 0). Single-threaded and
    /// deterministic: the same inputs and seed give bit-identical weights.
    pub fn train(
        train: &[(Embedding, u8)],
        val: &[(Embedding, u8)],
        config: &HeadConfig,
    ) -> Result<(Head, HeadReport), TeacherError> {
        if train.is_empty() {
            return Err(TeacherError::InvalidInput("empty training set".to_owned()));
        }
        if config.hidden == 0 || config.batch_size == 0 || config.max_epochs == 0 {
            return Err(TeacherError::InvalidInput("hidden, batch_size and max_epochs must be > 0".to_owned()));
        }
        if !(0.0..1.0).contains(&config.dropout) {
            return Err(TeacherError::InvalidInput(format!("dropout {} not in [0, 1)", config.dropout)));
        }
        check_labels(train, "training")?;
        check_labels(val, "validation")?;

        let h = config.hidden;
        let mut rng = SplitMix64::new(config.seed);
        // He initialization for the ReLU layer, Glorot-like for the output layer.
        let std1 = (2.0 / EMBEDDING_DIM as f64).sqrt();
        let std2 = (1.0 / h as f64).sqrt();
        let mut head = Head {
            hidden: h,
            w1: (0..h * EMBEDDING_DIM).map(|_| (normal(&mut rng) * std1) as f32).collect(),
            b1: vec![0.0; h],
            w2: (0..NUM_CLASSES * h).map(|_| (normal(&mut rng) * std2) as f32).collect(),
            b2: vec![0.0; NUM_CLASSES],
        };

        let mut class_weight = [1f32; NUM_CLASSES];
        if config.class_weighting {
            let mut counts = [0usize; NUM_CLASSES];
            for (_, l) in train {
                counts[usize::from(*l)] += 1;
            }
            for (w, &c) in class_weight.iter_mut().zip(&counts) {
                *w = if c == 0 { 0.0 } else { train.len() as f32 / (NUM_CLASSES as f32 * c as f32) };
            }
        }

        let mut adam = [Adam::new(head.w1.len()), Adam::new(h), Adam::new(head.w2.len()), Adam::new(NUM_CLASSES)];
        let mut g_w1 = vec![0f32; head.w1.len()];
        let mut g_b1 = vec![0f32; h];
        let mut g_w2 = vec![0f32; head.w2.len()];
        let mut g_b2 = vec![0f32; NUM_CLASSES];
        let mut hidden_act = vec![0f32; h];
        let mut d_hidden = vec![0f32; h];
        let keep = 1.0 - config.dropout;

        let mut order: Vec<usize> = (0..train.len()).collect();
        let mut best: Option<(f64, Head, HeadReport)> = None;
        let mut since_best = 0;
        let mut step = 0i32;
        let mut epochs = 0;
        let mut last_train_loss = 0.0;
        for epoch in 1..=config.max_epochs {
            epochs = epoch;
            rng.shuffle(&mut order);
            let mut loss_sum = 0f64;
            for batch in order.chunks(config.batch_size) {
                g_w1.fill(0.0);
                g_b1.fill(0.0);
                g_w2.fill(0.0);
                g_b2.fill(0.0);
                let weight_sum: f32 = batch.iter().map(|&i| class_weight[usize::from(train[i].1)]).sum();
                if weight_sum <= 0.0 {
                    continue;
                }
                for &i in batch {
                    let (x, label) = (&train[i].0, usize::from(train[i].1));
                    // Forward with inverted dropout; a dropped unit has activation 0.
                    for (j, a) in hidden_act.iter_mut().enumerate() {
                        let z = dot(&head.w1[j * EMBEDDING_DIM..(j + 1) * EMBEDDING_DIM], x) + head.b1[j];
                        let dropped = config.dropout > 0.0 && rng.uniform() >= f64::from(keep);
                        *a = if dropped || z <= 0.0 { 0.0 } else { z / keep };
                    }
                    let mut logits = [0f32; NUM_CLASSES];
                    for (c, l) in logits.iter_mut().enumerate() {
                        *l = dot(&head.w2[c * h..(c + 1) * h], &hidden_act) + head.b2[c];
                    }
                    let probs = softmax(logits);
                    let w = class_weight[label] / weight_sum;
                    loss_sum += -f64::from(probs[label].max(1e-12).ln()) * f64::from(class_weight[label]);
                    // Backward.
                    d_hidden.fill(0.0);
                    for c in 0..NUM_CLASSES {
                        let d = w * (probs[c] - if c == label { 1.0 } else { 0.0 });
                        g_b2[c] += d;
                        let row = &mut g_w2[c * h..(c + 1) * h];
                        let w2_row = &head.w2[c * h..(c + 1) * h];
                        for j in 0..h {
                            row[j] += d * hidden_act[j];
                            d_hidden[j] += d * w2_row[j];
                        }
                    }
                    for j in 0..h {
                        if hidden_act[j] == 0.0 {
                            continue;
                        }
                        let d = d_hidden[j] / keep;
                        g_b1[j] += d;
                        for (g, &xi) in g_w1[j * EMBEDDING_DIM..(j + 1) * EMBEDDING_DIM].iter_mut().zip(x.iter()) {
                            *g += d * xi;
                        }
                    }
                }
                step += 1;
                let (lr, wd) = (config.learning_rate, config.weight_decay);
                adam[0].step(&mut head.w1, &g_w1, lr, wd, step);
                adam[1].step(&mut head.b1, &g_b1, lr, 0.0, step);
                adam[2].step(&mut head.w2, &g_w2, lr, wd, step);
                adam[3].step(&mut head.b2, &g_b2, lr, 0.0, step);
            }
            last_train_loss = loss_sum / train.len() as f64;
            if val.is_empty() {
                continue;
            }
            let (val_accuracy, val_macro_f1, val_loss) = head.evaluate(val);
            let score = val_accuracy + val_macro_f1;
            tracing::debug!(epoch, train_loss = last_train_loss, val_loss, val_accuracy, val_macro_f1, "head epoch");
            if best.as_ref().is_none_or(|(s, _, _)| score > *s) {
                let report = HeadReport {
                    val_accuracy,
                    val_macro_f1,
                    val_loss,
                    epochs: epoch,
                    best_epoch: epoch,
                    train_loss: last_train_loss,
                };
                best = Some((score, head.clone(), report));
                since_best = 0;
            } else {
                since_best += 1;
                if since_best >= config.patience {
                    break;
                }
            }
        }
        let (head, mut report) = match best {
            Some((_, head, report)) => (head, report),
            None => (
                head,
                HeadReport {
                    val_accuracy: 0.0,
                    val_macro_f1: 0.0,
                    val_loss: 0.0,
                    epochs,
                    best_epoch: epochs,
                    train_loss: last_train_loss,
                },
            ),
        };
        report.epochs = epochs;
        report.train_loss = last_train_loss;
        Ok((head, report))
    }

    /// (accuracy, macro-F1, mean cross-entropy) on a labelled set.
    pub fn evaluate(&self, set: &[(Embedding, u8)]) -> (f64, f64, f64) {
        if set.is_empty() {
            return (0.0, 0.0, 0.0);
        }
        let mut predicted = Vec::with_capacity(set.len());
        let mut gold = Vec::with_capacity(set.len());
        let mut loss = 0f64;
        for (x, label) in set {
            let p = self.probabilities(x);
            predicted.push(argmax(&p));
            gold.push(*label);
            let pl = p.get(usize::from(*label)).copied().unwrap_or(0.0);
            loss -= f64::from(pl.max(1e-12).ln());
        }
        let (acc, f1) = accuracy_and_macro_f1(&predicted, &gold);
        (acc, f1, loss / set.len() as f64)
    }

    /// Class probabilities (bearish, bullish, neutral) for one embedding.
    pub fn probabilities(&self, embedding: &Embedding) -> [f32; NUM_CLASSES] {
        let mut logits = self.b2.as_slice().try_into().unwrap_or([0f32; NUM_CLASSES]);
        for j in 0..self.hidden {
            let z = dot(&self.w1[j * EMBEDDING_DIM..(j + 1) * EMBEDDING_DIM], embedding) + self.b1[j];
            if z > 0.0 {
                for (c, l) in logits.iter_mut().enumerate() {
                    *l += self.w2[c * self.hidden + j] * z;
                }
            }
        }
        softmax(logits)
    }

    /// Most probable class (0 bearish, 1 bullish, 2 neutral).
    pub fn predict(&self, embedding: &Embedding) -> u8 {
        argmax(&self.probabilities(embedding))
    }

    /// Write the head as JSON (`format: "qp-forge-teacher-head"`, `version: 1`; f32 values round-trip exactly).
    pub fn save(&self, path: &Path) -> Result<(), TeacherError> {
        let file = HeadFile {
            format: HEAD_FORMAT.to_owned(),
            version: HEAD_VERSION,
            input_dim: EMBEDDING_DIM,
            hidden: self.hidden,
            classes: CLASS_NAMES.iter().map(|s| (*s).to_owned()).collect(),
            w1: self.w1.clone(),
            b1: self.b1.clone(),
            w2: self.w2.clone(),
            b2: self.b2.clone(),
        };
        let json = serde_json::to_vec(&file).map_err(|source| TeacherError::Json { path: path.to_owned(), source })?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, json)
            .and_then(|()| std::fs::rename(&tmp, path))
            .map_err(|source| TeacherError::Io { path: path.to_owned(), source })
    }

    /// Read a head written by [`Head::save`]; any mismatch (format, version, shapes, non-finite values)
    /// is a [`TeacherError::HeadFormat`] naming the file.
    pub fn load(path: &Path) -> Result<Self, TeacherError> {
        let bytes = std::fs::read(path).map_err(|source| TeacherError::Io { path: path.to_owned(), source })?;
        let bad = |detail: String| TeacherError::HeadFormat { path: path.to_owned(), detail };
        let file: HeadFile = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if file.format != HEAD_FORMAT {
            return Err(bad(format!("format {:?}, expected {HEAD_FORMAT:?}", file.format)));
        }
        if file.version != HEAD_VERSION {
            return Err(bad(format!("version {}, expected {HEAD_VERSION}", file.version)));
        }
        if file.input_dim != EMBEDDING_DIM || file.classes != CLASS_NAMES {
            return Err(bad(format!("input_dim {} / classes {:?} do not match", file.input_dim, file.classes)));
        }
        let h = file.hidden;
        let shapes = [
            ("w1", file.w1.len(), h * EMBEDDING_DIM),
            ("b1", file.b1.len(), h),
            ("w2", file.w2.len(), NUM_CLASSES * h),
            ("b2", file.b2.len(), NUM_CLASSES),
        ];
        for (name, got, want) in shapes {
            if got != want || h == 0 {
                return Err(bad(format!("{name} has {got} values, expected {want} (hidden {h})")));
            }
        }
        if [&file.w1, &file.b1, &file.w2, &file.b2].iter().any(|v| v.iter().any(|x| !x.is_finite())) {
            return Err(bad("non-finite weight".to_owned()));
        }
        Ok(Head { hidden: h, w1: file.w1, b1: file.b1, w2: file.w2, b2: file.b2 })
    }
}

fn argmax(p: &[f32; NUM_CLASSES]) -> u8 {
    let mut best = 0;
    for c in 1..NUM_CLASSES {
        if p[c] > p[best] {
            best = c;
        }
    }
    best as u8
}
