use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{Tokenizer, TruncationParams};

use crate::hash::Fnv64;
use crate::{EMBEDDING_DIM, Embedding, TeacherError};

/// Longest input in tokens (including `[CLS]`/`[SEP]`); longer texts are truncated.
pub const MAX_TOKENS: usize = 128;
/// Texts per forward pass (after sorting by length, so padding stays small).
const BATCH_SIZE: usize = 64;
/// Bumped whenever tokenization, pooling or normalization change, so cached embeddings are invalidated.
const PIPELINE_VERSION: &[u8] = b"qp-forge-teacher encoder v1: bert, mean pooling, l2";

/// all-MiniLM-L6-v2 (candle `BertModel`, CPU, f32) with its tokenizer: text → sentence embedding.
///
/// The pipeline is sentence-transformers' own: tokenize (no padding, truncation at 128 tokens), BERT,
/// attention-masked mean pooling, L2 normalization (when `modules.json` lists a `Normalize` module, as
/// all-MiniLM-L6-v2 does). Matrix products use all cores (candle's thread pool).
pub struct Encoder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    normalize: bool,
    fingerprint: u64,
    dir: PathBuf,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("dir", &self.dir)
            .field("normalize", &self.normalize)
            .field("fingerprint", &format_args!("{:016x}", self.fingerprint))
            .finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

#[derive(serde::Deserialize)]
struct ModuleEntry {
    #[serde(rename = "type")]
    kind: String,
}

/// The model's tokenizer with its forced padding switched off (batches are padded to their longest text)
/// and truncation at [`MAX_TOKENS`].
pub(crate) fn load_tokenizer(model_dir: &Path) -> Result<Tokenizer, TeacherError> {
    let path = model_dir.join("tokenizer.json");
    let error = |detail: String| TeacherError::Tokenizer { path: path.clone(), detail };
    let mut tokenizer = Tokenizer::from_file(&path).map_err(|e| error(e.to_string()))?;
    tokenizer.with_padding(None);
    let truncation =
        TruncationParams { max_length: MAX_TOKENS, ..tokenizer.get_truncation().cloned().unwrap_or_default() };
    tokenizer.with_truncation(Some(truncation)).map_err(|e| error(e.to_string()))?;
    Ok(tokenizer)
}

pub(crate) fn read_bytes(path: &Path) -> Result<Vec<u8>, TeacherError> {
    std::fs::read(path).map_err(|source| TeacherError::Io { path: path.to_owned(), source })
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, TeacherError> {
    let bytes = read_bytes(path)?;
    serde_json::from_slice(&bytes).map_err(|source| TeacherError::Json { path: path.to_owned(), source })
}

/// Name, size and all bytes of a model file, fed into `hasher`.
fn fingerprint_file(hasher: &mut Fnv64, name: &str, bytes: &[u8]) {
    hasher.update(name.as_bytes());
    hasher.update(&(bytes.len() as u64).to_le_bytes());
    hasher.update_words(bytes);
}

impl Encoder {
    /// Load the model from `model_dir` (see [`crate::locate_teacher_model`]); nothing is downloaded.
    pub fn load(model_dir: &Path) -> Result<Self, TeacherError> {
        let unsupported =
            |path: &Path, detail: String| TeacherError::UnsupportedModel { path: path.to_owned(), detail };
        let config_path = model_dir.join("config.json");
        let config: Config = read_json(&config_path)?;
        if config.hidden_size != EMBEDDING_DIM {
            return Err(unsupported(
                &config_path,
                format!("hidden_size {} (expected {EMBEDDING_DIM})", config.hidden_size),
            ));
        }

        // Pooling: sentence-transformers' 1_Pooling/config.json must ask for mean pooling only.
        let pooling_path = model_dir.join("1_Pooling/config.json");
        if pooling_path.is_file() {
            let pooling: PoolingConfig = read_json(&pooling_path)?;
            if !pooling.pooling_mode_mean_tokens
                || pooling.pooling_mode_cls_token
                || pooling.pooling_mode_max_tokens
                || pooling.pooling_mode_mean_sqrt_len_tokens
            {
                return Err(unsupported(&pooling_path, "only mean pooling is supported".to_owned()));
            }
        }
        // Normalization: as listed in modules.json (all-MiniLM-L6-v2 lists Normalize).
        let modules_path = model_dir.join("modules.json");
        let normalize = if modules_path.is_file() {
            let modules: Vec<ModuleEntry> = read_json(&modules_path)?;
            modules.iter().any(|m| m.kind.ends_with(".Normalize"))
        } else {
            true
        };
        if !normalize {
            tracing::warn!(path = %modules_path.display(), "modules.json lists no Normalize module: embeddings are not L2-normalized");
        }

        let tokenizer = load_tokenizer(model_dir)?;

        let weights_path = model_dir.join("model.safetensors");
        let weights = read_bytes(&weights_path)?;
        let mut hasher = Fnv64::new();
        hasher.update(PIPELINE_VERSION);
        hasher.update(&[u8::from(normalize)]);
        for name in ["config.json", "tokenizer.json", "modules.json", "1_Pooling/config.json"] {
            let path = model_dir.join(name);
            if path.is_file() {
                fingerprint_file(&mut hasher, name, &read_bytes(&path)?);
            }
        }
        fingerprint_file(&mut hasher, "model.safetensors", &weights);
        let fingerprint = hasher.finish();

        let device = Device::Cpu;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
            .map_err(|e| unsupported(&weights_path, e.to_string()))?;
        let model = BertModel::load(vb, &config).map_err(|e| unsupported(&weights_path, e.to_string()))?;
        tracing::info!(dir = %model_dir.display(), fingerprint = format_args!("{fingerprint:016x}"), normalize, "teacher encoder loaded");
        Ok(Self { model, tokenizer, device, normalize, fingerprint, dir: model_dir.to_owned() })
    }

    /// Stable identity of the teacher: a 64-bit hash of the pipeline version and of the names, sizes and
    /// full contents of `config.json`, `tokenizer.json`, `modules.json`, `1_Pooling/config.json` and
    /// `model.safetensors`. Keys the [`crate::EmbeddingCache`]; a fine-tuned model gets its own.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The model folder this encoder was loaded from.
    pub fn model_dir(&self) -> &Path {
        &self.dir
    }

    /// Token ids of `text` as the model sees it (with `[CLS]`/`[SEP]`, truncated, never padded).
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>, TeacherError> {
        let encoding = self.tokenizer.encode(text, true).map_err(|e| self.tokenizer_error(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    fn tokenizer_error(&self, detail: String) -> TeacherError {
        TeacherError::Tokenizer { path: self.dir.join("tokenizer.json"), detail }
    }

    /// Mean-pooled (attention-masked), L2-normalized 384-d sentence embeddings, in input order.
    ///
    /// Texts are sorted by token count and run in batches of up to 64 to limit padding; `progress` is
    /// called after each batch with (texts done, total).
    pub fn embed(
        &self,
        texts: &[&str],
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<Embedding>, TeacherError> {
        let total = texts.len();
        let mut out = vec![[0f32; EMBEDDING_DIM]; total];
        if total == 0 {
            return Ok(out);
        }
        let encodings =
            self.tokenizer.encode_batch(texts.to_vec(), true).map_err(|e| self.tokenizer_error(e.to_string()))?;
        let mut order: Vec<usize> = (0..total).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(encodings[i].get_ids().len()));
        let mut done = 0;
        for chunk in order.chunks(BATCH_SIZE) {
            let ids: Vec<&[u32]> = chunk.iter().map(|&i| encodings[i].get_ids()).collect();
            let pooled = self.forward_pooled(&ids)?;
            for (row, &i) in pooled.iter().zip(chunk) {
                out[i] = *row;
            }
            done += chunk.len();
            progress(done, total);
        }
        Ok(out)
    }

    /// One padded batch through BERT, masked mean pooling and (optionally) L2 normalization.
    fn forward_pooled(&self, ids: &[&[u32]]) -> Result<Vec<Embedding>, TeacherError> {
        let batch = ids.len();
        let len = ids.iter().map(|s| s.len()).max().unwrap_or(0).max(1);
        let mut flat_ids = vec![0u32; batch * len];
        let mut flat_mask = vec![0u32; batch * len];
        for (row, seq) in ids.iter().enumerate() {
            flat_ids[row * len..row * len + seq.len()].copy_from_slice(seq);
            flat_mask[row * len..row * len + seq.len()].fill(1);
        }
        let input_ids = Tensor::from_vec(flat_ids, (batch, len), &self.device)?;
        let mask = Tensor::from_vec(flat_mask, (batch, len), &self.device)?;
        let token_type_ids = input_ids.zeros_like()?;
        let hidden = self.model.forward(&input_ids, &token_type_ids, Some(&mask))?; // (b, len, 384)
        let mask_f = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // (b, len, 1)
        let summed = hidden.broadcast_mul(&mask_f)?.sum(1)?; // (b, 384)
        let counts = mask_f.sum(1)?.clamp(1e-9, f64::INFINITY)?; // (b, 1)
        let mut pooled = summed.broadcast_div(&counts)?;
        if self.normalize {
            let norm = pooled.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::INFINITY)?;
            pooled = pooled.broadcast_div(&norm)?;
        }
        let rows = pooled.to_vec2::<f32>()?;
        let mut out = Vec::with_capacity(batch);
        for row in rows {
            let emb: Embedding = row.as_slice().try_into().map_err(|_| {
                TeacherError::Candle(candle_core::Error::Msg(format!("pooled width {} != {EMBEDDING_DIM}", row.len())))
            })?;
            out.push(emb);
        }
        Ok(out)
    }
}
