//! Fine-tuning of the teacher: the top transformer layers and the head trained jointly on labelled
//! texts with candle's autograd (AdamW), exported as a new model folder that [`Encoder::load`] reads.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use candle_transformers::models::bert::Config;

use crate::encoder::{load_tokenizer, read_bytes, read_json};
use crate::{EMBEDDING_DIM, Encoder, Head, NUM_CLASSES, TeacherError, accuracy_and_macro_f1};
use qp_seeded_random::SplitMix64;

/// Files copied from the base model folder into a fine-tuned one (those present).
const COPIED_FILES: [&str; 9] = [
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
];
/// The head trained with the encoder, saved in the fine-tuned folder.
pub const FINE_TUNED_HEAD_FILE: &str = "head.json";
const EVAL_BATCH: usize = 64;

/// Hyper-parameters of [`fine_tune`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FineTuneConfig {
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak AdamW step size of the transformer layers.
    pub encoder_learning_rate: f64,
    /// Peak AdamW step size of the head.
    pub head_learning_rate: f64,
    pub weight_decay: f64,
    /// Share of the steps with a linear warm-up; the rest decays linearly to 0.
    pub warmup_fraction: f64,
    /// How many of the top transformer layers are trained (the embeddings stay frozen).
    pub trainable_layers: usize,
    /// Dropout on the head's hidden layer.
    pub head_dropout: f32,
    /// Weight each class's loss by `n / (3 · count)`.
    pub class_weighting: bool,
    /// Seeds batch order and dropout.
    pub seed: u64,
}

impl Default for FineTuneConfig {
    fn default() -> Self {
        Self {
            epochs: 2,
            batch_size: 32,
            encoder_learning_rate: 5e-5,
            head_learning_rate: 2e-4,
            weight_decay: 0.01,
            warmup_fraction: 0.1,
            trainable_layers: 6,
            head_dropout: 0.1,
            class_weighting: false,
            seed: 0x5eed,
        }
    }
}

/// What [`fine_tune`] achieved on the validation texts.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FineTuneReport {
    /// Before fine-tuning (base encoder + the initial head).
    pub initial_val_accuracy: f64,
    pub initial_val_macro_f1: f64,
    /// With the kept weights.
    pub val_accuracy: f64,
    pub val_macro_f1: f64,
    pub epochs: usize,
    /// Epoch whose weights were kept (0: none beat the initial model, which is then exported unchanged).
    pub best_epoch: usize,
    /// Mean training loss per epoch.
    pub train_losses: Vec<f64>,
    pub seconds: f64,
    /// Training examples per second (forward + backward + update).
    pub train_texts_per_second: f64,
}

/// Where [`fine_tune`] is, for progress display.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FineTuneProgress {
    /// 1-based; 0 during the initial evaluation.
    pub epoch: usize,
    pub done: usize,
    pub total: usize,
    /// Mean training loss so far in this epoch.
    pub loss: f64,
}

struct Lin {
    w: Var,
    b: Var,
}

impl Lin {
    /// `x · wᵀ + b` over the last dimension, as one 2-D matrix product (cheaper to differentiate than
    /// candle's `Linear`, which broadcasts the weight over the batch).
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let dims = x.dims();
        let (rows, inner) = match dims {
            [.., inner] => (x.elem_count() / inner.max(&1), *inner),
            [] => (1, 1),
        };
        let y = x.reshape((rows, inner))?.matmul(&self.w.as_tensor().t()?)?.broadcast_add(self.b.as_tensor())?;
        let mut out_dims = dims.to_vec();
        if let Some(last) = out_dims.last_mut() {
            *last = y.dim(1)?;
        }
        y.reshape(out_dims)
    }
}

struct Norm {
    g: Var,
    b: Var,
}

struct Layer {
    query: Lin,
    key: Lin,
    value: Lin,
    attn_out: Lin,
    attn_norm: Norm,
    intermediate: Lin,
    output: Lin,
    out_norm: Norm,
}

/// A BERT encoder built from differentiable ops (candle's fused layer norm has no backward pass).
struct TrainableBert {
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    emb_norm: Norm,
    layers: Vec<Layer>,
    heads: usize,
    eps: f32,
    /// Index of the first trained layer; the hidden state is detached before it.
    first_trained: usize,
    /// (safetensors name, variable) of every trained parameter.
    trained: Vec<(String, Var)>,
}

impl TrainableBert {
    fn load(tensors: &HashMap<String, Tensor>, config: &Config, trainable_layers: usize) -> Result<Self, TeacherError> {
        let get = |name: &str| {
            tensors.get(name).cloned().ok_or_else(|| TeacherError::InvalidInput(format!("model has no tensor {name}")))
        };
        let first_trained = config.num_hidden_layers.saturating_sub(trainable_layers);
        let mut trained = Vec::new();
        let mut var = |name: String, train: bool| -> Result<Var, TeacherError> {
            let v = Var::from_tensor(&get(&name)?)?;
            if train {
                trained.push((name, v.clone()));
            }
            Ok(v)
        };
        let emb_norm = Norm {
            g: var("embeddings.LayerNorm.weight".to_owned(), false)?,
            b: var("embeddings.LayerNorm.bias".to_owned(), false)?,
        };
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let train = i >= first_trained;
            let p = format!("encoder.layer.{i}.");
            let mut lin = |name: &str| -> Result<Lin, TeacherError> {
                Ok(Lin { w: var(format!("{p}{name}.weight"), train)?, b: var(format!("{p}{name}.bias"), train)? })
            };
            let query = lin("attention.self.query")?;
            let key = lin("attention.self.key")?;
            let value = lin("attention.self.value")?;
            let attn_out = lin("attention.output.dense")?;
            let intermediate = lin("intermediate.dense")?;
            let output = lin("output.dense")?;
            let mut norm = |name: &str| -> Result<Norm, TeacherError> {
                Ok(Norm { g: var(format!("{p}{name}.weight"), train)?, b: var(format!("{p}{name}.bias"), train)? })
            };
            let attn_norm = norm("attention.output.LayerNorm")?;
            let out_norm = norm("output.LayerNorm")?;
            layers.push(Layer { query, key, value, attn_out, attn_norm, intermediate, output, out_norm });
        }
        Ok(Self {
            word: get("embeddings.word_embeddings.weight")?,
            position: get("embeddings.position_embeddings.weight")?,
            token_type: get("embeddings.token_type_embeddings.weight")?,
            emb_norm,
            layers,
            heads: config.num_attention_heads,
            eps: config.layer_norm_eps as f32,
            first_trained,
            trained,
        })
    }

    fn norm(&self, x: &Tensor, n: &Norm) -> candle_core::Result<Tensor> {
        candle_nn::ops::layer_norm_slow(x, n.g.as_tensor(), n.b.as_tensor(), self.eps)
    }

    /// Masked mean-pooled, L2-normalized embeddings (b, 384) of a padded batch.
    fn forward(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let (b, len) = ids.dims2()?;
        let hidden = self.word.dims2()?.1;
        let dh = hidden / self.heads;
        let words = self.word.index_select(&ids.flatten_all()?, 0)?.reshape((b, len, hidden))?;
        let x =
            words.broadcast_add(&self.position.narrow(0, 0, len)?)?.broadcast_add(&self.token_type.narrow(0, 0, 1)?)?;
        let mut x = self.norm(&x, &self.emb_norm)?.detach();
        let mask_f = mask.to_dtype(DType::F32)?;
        let bias = mask_f.affine(1e9, -1e9)?.reshape((b, 1, 1, len))?;
        let scale = 1.0 / (dh as f64).sqrt();
        for (i, layer) in self.layers.iter().enumerate() {
            if i == self.first_trained {
                x = x.detach();
            }
            let split = |t: Tensor| t.reshape((b, len, self.heads, dh))?.transpose(1, 2)?.contiguous();
            let q = split(layer.query.forward(&x)?)?;
            let k = split(layer.key.forward(&x)?)?;
            let v = split(layer.value.forward(&x)?)?;
            let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(&bias)?;
            let probs = candle_nn::ops::softmax(&scores, D::Minus1)?;
            let ctx = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, len, hidden))?;
            let a = self.norm(&(layer.attn_out.forward(&ctx)? + &x)?, &layer.attn_norm)?;
            let inter = layer.intermediate.forward(&a)?.gelu_erf()?;
            x = self.norm(&(layer.output.forward(&inter)? + &a)?, &layer.out_norm)?;
        }
        let m = mask_f.unsqueeze(2)?;
        let summed = x.broadcast_mul(&m)?.sum(1)?;
        let counts = m.sum(1)?.clamp(1e-9, f64::INFINITY)?;
        let pooled = summed.broadcast_div(&counts)?;
        let norm = pooled.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::INFINITY)?;
        pooled.broadcast_div(&norm)
    }
}

struct TrainableHead {
    l1: Lin,
    l2: Lin,
    hidden: usize,
}

impl TrainableHead {
    fn from_head(head: &Head, device: &Device) -> Result<Self, TeacherError> {
        let (hidden, w1, b1, w2, b2) = head.parts();
        let var = |v: &[f32], shape: &[usize]| Var::from_tensor(&Tensor::from_slice(v, shape, device)?);
        Ok(Self {
            l1: Lin { w: var(w1, &[hidden, EMBEDDING_DIM])?, b: var(b1, &[hidden])? },
            l2: Lin { w: var(w2, &[NUM_CLASSES, hidden])?, b: var(b2, &[NUM_CLASSES])? },
            hidden,
        })
    }

    fn vars(&self) -> Vec<Var> {
        vec![self.l1.w.clone(), self.l1.b.clone(), self.l2.w.clone(), self.l2.b.clone()]
    }

    /// Logits (b, 3); `dropout_mask` (b, hidden) already scaled by 1/keep.
    fn forward(&self, x: &Tensor, dropout_mask: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let mut h = self.l1.forward(x)?.relu()?;
        if let Some(mask) = dropout_mask {
            h = (h * mask)?;
        }
        self.l2.forward(&h)
    }

    fn to_head(&self) -> Result<Head, TeacherError> {
        let flat = |v: &Var| v.as_tensor().flatten_all()?.to_vec1::<f32>();
        Head::from_parts(self.hidden, flat(&self.l1.w)?, flat(&self.l1.b)?, flat(&self.l2.w)?, flat(&self.l2.b)?)
    }
}

/// Padded (ids, mask) tensors of a batch of token sequences.
fn batch_tensors(seqs: &[&[u32]], device: &Device) -> candle_core::Result<(Tensor, Tensor)> {
    let len = seqs.iter().map(|s| s.len()).max().unwrap_or(0).max(1);
    let mut ids = vec![0u32; seqs.len() * len];
    let mut mask = vec![0u32; seqs.len() * len];
    for (row, seq) in seqs.iter().enumerate() {
        ids[row * len..row * len + seq.len()].copy_from_slice(seq);
        mask[row * len..row * len + seq.len()].fill(1);
    }
    Ok((Tensor::from_vec(ids, (seqs.len(), len), device)?, Tensor::from_vec(mask, (seqs.len(), len), device)?))
}

fn tokenize(
    tokenizer: &tokenizers::Tokenizer,
    model_dir: &Path,
    texts: &[&str],
) -> Result<Vec<Vec<u32>>, TeacherError> {
    let encodings = tokenizer
        .encode_batch(texts.to_vec(), true)
        .map_err(|e| TeacherError::Tokenizer { path: model_dir.join("tokenizer.json"), detail: e.to_string() })?;
    Ok(encodings.iter().map(|e| e.get_ids().to_vec()).collect())
}

fn evaluate(
    bert: &TrainableBert,
    head: &TrainableHead,
    seqs: &[Vec<u32>],
    labels: &[u8],
    device: &Device,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(f64, f64), TeacherError> {
    let mut order: Vec<usize> = (0..seqs.len()).collect();
    order.sort_by_key(|&i| seqs[i].len());
    let mut predicted = vec![0u8; seqs.len()];
    for (n, chunk) in order.chunks(EVAL_BATCH).enumerate() {
        let batch: Vec<&[u32]> = chunk.iter().map(|&i| seqs[i].as_slice()).collect();
        let (ids, mask) = batch_tensors(&batch, device)?;
        let logits = head.forward(&bert.forward(&ids, &mask)?.detach(), None)?;
        let classes = logits.argmax(1)?.to_vec1::<u32>()?;
        for (&i, c) in chunk.iter().zip(classes) {
            predicted[i] = c as u8;
        }
        progress((n * EVAL_BATCH + chunk.len()).min(seqs.len()), seqs.len());
    }
    Ok(accuracy_and_macro_f1(&predicted, labels))
}

/// Batches of indices: shuffled, then sorted by length within windows of 50 batches (less padding),
/// then the batches shuffled.
fn batches(seqs: &[Vec<u32>], batch_size: usize, rng: &mut SplitMix64) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..seqs.len()).collect();
    rng.shuffle(&mut order);
    let mut out: Vec<Vec<usize>> = Vec::new();
    for window in order.chunks_mut(batch_size * 50) {
        window.sort_by_key(|&i| seqs[i].len());
        out.extend(window.chunks(batch_size).map(<[usize]>::to_vec));
    }
    rng.shuffle(&mut out);
    out
}

/// Fine-tune the teacher at `model_dir` on labelled texts, starting from `initial_head` (trained on the
/// frozen embeddings), and write the result to `out_dir` as a complete model folder (base files copied,
/// `model.safetensors` replaced, the jointly trained head in [`FINE_TUNED_HEAD_FILE`]).
/// [`Encoder::load`]`(out_dir)` then gives the fine-tuned encoder, with its own fingerprint.
///
/// The top `config.trainable_layers` layers and the head are trained with AdamW, linear warm-up and
/// decay; after each epoch the model is scored on `val` and the best weights (by accuracy + macro-F1,
/// including the initial model as epoch 0) are kept. Uses all cores; a few minutes per epoch on TFNS.
pub fn fine_tune(
    model_dir: &Path,
    train: &[(&str, u8)],
    val: &[(&str, u8)],
    initial_head: &Head,
    out_dir: &Path,
    config: &FineTuneConfig,
    progress: &mut dyn FnMut(FineTuneProgress),
) -> Result<(Encoder, Head, FineTuneReport), TeacherError> {
    if train.is_empty() || val.is_empty() {
        return Err(TeacherError::InvalidInput("fine-tuning needs training and validation texts".to_owned()));
    }
    if config.batch_size == 0 || config.epochs == 0 || !(0.0..1.0).contains(&config.head_dropout) {
        return Err(TeacherError::InvalidInput("epochs and batch_size must be > 0, head_dropout in [0, 1)".to_owned()));
    }
    if let Some((_, l)) = train.iter().chain(val).find(|(_, l)| usize::from(*l) >= NUM_CLASSES) {
        return Err(TeacherError::InvalidInput(format!("label {l} (expected 0, 1 or 2)")));
    }
    let start = Instant::now();
    let device = Device::Cpu;
    let bert_config: Config = read_json(&model_dir.join("config.json"))?;
    let weights_path = model_dir.join("model.safetensors");
    let tensors = candle_core::safetensors::load_buffer(&read_bytes(&weights_path)?, &device)
        .map_err(|e| TeacherError::UnsupportedModel { path: weights_path.clone(), detail: e.to_string() })?;
    let tensors: HashMap<String, Tensor> = tensors
        .into_iter()
        .map(|(k, v)| {
            let k = k.strip_prefix("bert.").map(str::to_owned).unwrap_or(k);
            (k, v)
        })
        .collect();
    let bert = TrainableBert::load(&tensors, &bert_config, config.trainable_layers)?;
    let head = TrainableHead::from_head(initial_head, &device)?;
    let tokenizer = load_tokenizer(model_dir)?;
    let train_texts: Vec<&str> = train.iter().map(|(t, _)| *t).collect();
    let val_texts: Vec<&str> = val.iter().map(|(t, _)| *t).collect();
    let train_seqs = tokenize(&tokenizer, model_dir, &train_texts)?;
    let val_seqs = tokenize(&tokenizer, model_dir, &val_texts)?;
    let train_labels: Vec<u8> = train.iter().map(|(_, l)| *l).collect();
    let val_labels: Vec<u8> = val.iter().map(|(_, l)| *l).collect();

    let mut class_weight = [1f32; NUM_CLASSES];
    if config.class_weighting {
        let mut counts = [0usize; NUM_CLASSES];
        for &l in &train_labels {
            counts[usize::from(l)] += 1;
        }
        for (w, &c) in class_weight.iter_mut().zip(&counts) {
            *w = if c == 0 { 0.0 } else { train.len() as f32 / (NUM_CLASSES as f32 * c as f32) };
        }
    }

    let (initial_acc, initial_f1) = evaluate(&bert, &head, &val_seqs, &val_labels, &device, &mut |done, total| {
        progress(FineTuneProgress { epoch: 0, done, total, loss: 0.0 })
    })?;
    tracing::info!(initial_acc, initial_f1, "fine-tune: initial validation");

    let all_vars: Vec<Var> = bert.trained.iter().map(|(_, v)| v.clone()).chain(head.vars()).collect();
    let snapshot = |vars: &[Var]| vars.iter().map(|v| v.as_tensor().copy()).collect::<candle_core::Result<Vec<_>>>();
    let mut best = (initial_acc + initial_f1, 0usize, initial_acc, initial_f1, snapshot(&all_vars)?);

    let params = |lr: f64| ParamsAdamW { lr, weight_decay: config.weight_decay, ..ParamsAdamW::default() };
    let mut enc_opt = if bert.trained.is_empty() {
        None
    } else {
        Some(AdamW::new(bert.trained.iter().map(|(_, v)| v.clone()).collect(), params(config.encoder_learning_rate))?)
    };
    let mut head_opt = AdamW::new(head.vars(), params(config.head_learning_rate))?;
    let mut rng = SplitMix64::new(config.seed);
    let steps_per_epoch = train.len().div_ceil(config.batch_size);
    let total_steps = (steps_per_epoch * config.epochs) as f64;
    let warmup = (total_steps * config.warmup_fraction).max(1.0);
    let keep = 1.0 - config.head_dropout;
    let mut step = 0usize;
    let mut train_losses = Vec::new();
    let mut train_seconds = 0f64;
    for epoch in 1..=config.epochs {
        let mut loss_sum = 0f64;
        let mut done = 0usize;
        let epoch_start = Instant::now();
        for batch in batches(&train_seqs, config.batch_size, &mut rng) {
            step += 1;
            let t = step as f64;
            let factor =
                if t < warmup { t / warmup } else { ((total_steps - t) / (total_steps - warmup).max(1.0)).max(0.0) };
            if let Some(opt) = enc_opt.as_mut() {
                opt.set_learning_rate(config.encoder_learning_rate * factor);
            }
            head_opt.set_learning_rate(config.head_learning_rate * factor);

            let seqs: Vec<&[u32]> = batch.iter().map(|&i| train_seqs[i].as_slice()).collect();
            let (ids, mask) = batch_tensors(&seqs, &device)?;
            let pooled = bert.forward(&ids, &mask)?;
            let dropout = if config.head_dropout > 0.0 {
                let m: Vec<f32> = (0..batch.len() * head.hidden)
                    .map(|_| if rng.uniform() < f64::from(keep) { 1.0 / keep } else { 0.0 })
                    .collect();
                Some(Tensor::from_vec(m, (batch.len(), head.hidden), &device)?)
            } else {
                None
            };
            let logits = head.forward(&pooled, dropout.as_ref())?;
            let log_probs = candle_nn::ops::log_softmax(&logits, 1)?;
            let targets: Vec<u32> = batch.iter().map(|&i| u32::from(train_labels[i])).collect();
            let weights: Vec<f32> = batch.iter().map(|&i| class_weight[usize::from(train_labels[i])]).collect();
            let weight_sum: f32 = weights.iter().sum();
            let targets = Tensor::from_vec(targets, (batch.len(), 1), &device)?;
            let weights = Tensor::from_vec(weights, batch.len(), &device)?;
            let picked = log_probs.gather(&targets, 1)?.squeeze(1)?;
            let loss = ((picked * weights)?.sum_all()? * (-1.0 / f64::from(weight_sum.max(1e-9))))?;
            let grads = loss.backward()?;
            if let Some(opt) = enc_opt.as_mut() {
                opt.step(&grads)?;
            }
            head_opt.step(&grads)?;
            loss_sum += f64::from(loss.to_scalar::<f32>()?) * batch.len() as f64;
            done += batch.len();
            progress(FineTuneProgress { epoch, done, total: train.len(), loss: loss_sum / done as f64 });
        }
        train_seconds += epoch_start.elapsed().as_secs_f64();
        train_losses.push(loss_sum / train.len() as f64);
        let (acc, f1) = evaluate(&bert, &head, &val_seqs, &val_labels, &device, &mut |_, _| {})?;
        tracing::info!(epoch, loss = loss_sum / train.len() as f64, acc, f1, "fine-tune epoch");
        if acc + f1 > best.0 {
            best = (acc + f1, epoch, acc, f1, snapshot(&all_vars)?);
        }
    }
    let (_, best_epoch, val_accuracy, val_macro_f1, best_weights) = best;
    for (var, value) in all_vars.iter().zip(&best_weights) {
        var.set(value)?;
    }

    // Export: base files, the fine-tuned weights, the head.
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source: std::io::Error| TeacherError::Io { path, source }
    };
    std::fs::create_dir_all(out_dir.join("1_Pooling")).map_err(io(out_dir))?;
    for name in COPIED_FILES {
        let from = model_dir.join(name);
        if from.is_file() {
            let to = out_dir.join(name);
            std::fs::copy(&from, &to).map_err(io(&to))?;
        }
    }
    let mut out_tensors = tensors;
    for (name, var) in &bert.trained {
        out_tensors.insert(name.clone(), var.as_tensor().copy()?);
    }
    let out_weights = out_dir.join("model.safetensors");
    candle_core::safetensors::save(&out_tensors, &out_weights)?;
    let final_head = head.to_head()?;
    final_head.save(&out_dir.join(FINE_TUNED_HEAD_FILE))?;
    let report = FineTuneReport {
        initial_val_accuracy: initial_acc,
        initial_val_macro_f1: initial_f1,
        val_accuracy,
        val_macro_f1,
        epochs: config.epochs,
        best_epoch,
        train_losses,
        seconds: start.elapsed().as_secs_f64(),
        train_texts_per_second: (train.len() * config.epochs) as f64 / train_seconds,
    };
    let report_path = out_dir.join("fine_tune.json");
    let json = serde_json::to_vec_pretty(&(config, &report))
        .map_err(|source| TeacherError::Json { path: report_path.clone(), source })?;
    std::fs::write(&report_path, json).map_err(io(&report_path))?;
    let encoder = Encoder::load(out_dir)?;
    Ok((encoder, final_head, report))
}

/// The fine-tuned model folder for a base teacher under `cache_dir` (a convention of the examples).
pub fn fine_tuned_dir(cache_dir: &Path, base_fingerprint: u64) -> PathBuf {
    cache_dir.join(format!("teacher-ft-{base_fingerprint:016x}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The differentiable BERT computes what candle's `BertModel` (the [`Encoder`]) computes.
    #[test]
    fn trainable_bert_matches_the_encoder() -> Result<(), TeacherError> {
        let dir = crate::locate_teacher_model(None)?;
        let encoder = Encoder::load(&dir)?;
        let texts = ["Shares plunge after profit warning", "Apple to hold annual shareholder meeting on March 1"];
        let expected = encoder.embed(&texts, &mut |_, _| {})?;
        let device = Device::Cpu;
        let config: Config = read_json(&dir.join("config.json"))?;
        let tensors = candle_core::safetensors::load_buffer(&read_bytes(&dir.join("model.safetensors"))?, &device)?;
        let bert = TrainableBert::load(&tensors, &config, 2)?;
        let seqs = tokenize(&load_tokenizer(&dir)?, &dir, &texts)?;
        let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
        let (ids, mask) = batch_tensors(&refs, &device)?;
        let got = bert.forward(&ids, &mask)?.to_vec2::<f32>()?;
        for (g, e) in got.iter().zip(&expected) {
            let max_diff = g.iter().zip(e).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(max_diff < 1e-5, "max diff {max_diff}");
        }
        Ok(())
    }
}
