//! The student model: hashed n-grams → mean of embedding rows → optional
//! ReLU hidden layer → 3 logits → softmax over [`CLASSES`].
//!
//! - [`StudentWeights`]: the f32 model the forge trains.
//! - [`quantize`] / [`quantize_with`]: embedding values int8 (or int4, two a
//!   byte) with one f32 scale per column ([`EmbeddingScales::PerColumn`], the
//!   default) or per row (bucket); dense layers int8 with one scale per output
//!   row; biases f32. Each scale minimizes the squared error over a few
//!   clipping thresholds.
//! - [`write_student_onnx`]: ONE file format, ONNX, with the featurizer
//!   configuration, class order and shape in `metadata_props`. The file holds
//!   the quantized values and scales; the graph turns them into f32 with
//!   `Cast` and `Mul` (int4: unpacked with integer `Div`/`Sub`/`Concat` first),
//!   all on constants, so ONNX Runtime folds them once at load. Per call it
//!   runs `Gather → ReduceMean → (Gemm → Relu) → Gemm → Softmax`.
//!   (`DequantizeLinear` is not folded by ONNX Runtime: on the shipped table
//!   it ran per call, 78 µs instead of 3 µs.)
//! - [`NativeStudent`]: reads the same file and computes the same function
//!   from the quantized values directly, allocation-free: with column scales
//!   it sums integer levels in i32 and scales once; with row scales it adds
//!   `level × scale` in f32 (exactly the values ONNX Runtime folds).
//! - [`OrtStudent`]: the same file through ONNX Runtime.
//!
//! Shipped shape: 2^15 buckets × 2 columns, no hidden layer (a fastText-style
//! linear head), int8 with column scales: 66.9 KB. With a bag of ~136 hashed
//! ids per text the table's row count matters far more than its width
//! (TFNS gold-only: 2^12 × 16 with a 16-unit hidden layer 0.758 accuracy,
//! 2^15 × 2 linear 0.825), and a per-row f32 scale would double a 2-byte row.
//!
//! Both loaders check the file the same way: metadata, every initializer's
//! type and shape, and that the graph is exactly the one this build writes for
//! that metadata, so the two backends cannot silently compute different
//! functions. Every load error names the file.

use std::fmt;
use std::path::{Path, PathBuf};

use qp_models::onnx_proto::{
    AttributeProto, DecodeError, Dimension, GraphProto, MetadataEntry, ModelProto, NodeProto, OperatorSetId,
    TensorProto, ValueInfoProto, attribute_type, data_type,
};

use crate::features::{FeatureBuf, FeatureConfig, FeatureError, Featurizer};

/// Class order of the model's outputs (the TFNS label order).
pub const CLASSES: [&str; 3] = ["bearish", "bullish", "neutral"];
/// Number of classes.
pub const NUM_CLASSES: usize = 3;
/// Largest embedding width.
pub const MAX_DIM: usize = 64;
/// Largest hidden layer.
pub const MAX_HIDDEN: usize = 64;
/// Largest student file accepted, in bytes.
pub const MAX_STUDENT_FILE_BYTES: u64 = 16 << 20;
/// Version of the student file layout (graph, initializer names, metadata).
pub const STUDENT_FORMAT_VERSION: u32 = 1;
/// The ONNX graph's input: feature ids, int64 `[1, N]`.
pub const INPUT_NAME: &str = "feature_ids";
/// The ONNX graph's output: class probabilities, f32 `[1, 3]`.
pub const OUTPUT_NAME: &str = "probabilities";
/// `metadata_props` value of [`metadata_keys::FORMAT`].
pub const FORMAT_NAME: &str = "qp-sentiment-student";

const IR_VERSION: i64 = 8;
const OPSET: i64 = 13;

/// Metadata keys of a student file (besides the featurizer's,
/// [`crate::features::metadata_keys`]).
pub mod metadata_keys {
    /// Always [`FORMAT_NAME`](super::FORMAT_NAME).
    pub const FORMAT: &str = "qp.format";
    /// [`STUDENT_FORMAT_VERSION`](super::STUDENT_FORMAT_VERSION).
    pub const FORMAT_VERSION: &str = "qp.format.version";
    /// The class order, comma separated.
    pub const CLASSES: &str = "qp.classes";
    /// Embedding width.
    pub const DIM: &str = "qp.student.dim";
    /// Hidden layer width (0: none).
    pub const HIDDEN: &str = "qp.student.hidden";
    /// `int8` or `int4`.
    pub const BITS: &str = "qp.student.bits";
    /// `row` or `column`: one embedding scale per bucket or per column.
    pub const EMBEDDING_SCALES: &str = "qp.student.embedding_scales";
    /// How the agent turns probabilities into a score (documentation only).
    pub const SCORE: &str = "qp.score";
}

/// Everything that can go wrong building, writing, loading or running a student.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StudentError {
    /// The file could not be read.
    #[error("student model {}: cannot read file: {source}", path.display())]
    Io {
        /// The model file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file could not be written.
    #[error("student model {}: cannot write file: {source}", path.display())]
    Write {
        /// The model file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_STUDENT_FILE_BYTES`].
    #[error("student model {}: file is {len} bytes, larger than the {limit}-byte limit", path.display())]
    FileTooLarge {
        /// The model file.
        path: PathBuf,
        /// Its length.
        len: u64,
        /// The limit.
        limit: u64,
    },
    /// The bytes are not a well-formed ONNX protobuf.
    #[error("student model {}: {source}", path.display())]
    Malformed {
        /// The model file.
        path: PathBuf,
        /// What is wrong, and where.
        source: DecodeError,
    },
    /// A well-formed ONNX file that is not a student model this build reads.
    #[error("student model {}: {reason}", path.display())]
    Invalid {
        /// The model file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// ONNX Runtime cannot be loaded in this process.
    #[error("ONNX Runtime unavailable: {reason}")]
    RuntimeUnavailable {
        /// Why.
        reason: String,
    },
    /// ONNX Runtime refused the file.
    #[error("student model {}: ONNX Runtime rejected the model: {message}", path.display())]
    RuntimeLoad {
        /// The model file.
        path: PathBuf,
        /// ONNX Runtime's message.
        message: String,
    },
    /// ONNX Runtime failed running the model.
    #[error("student model {}: ONNX Runtime inference failed: {message}", path.display())]
    RuntimeInference {
        /// The model file.
        path: PathBuf,
        /// ONNX Runtime's message.
        message: String,
    },
    /// Student dimensions out of range.
    #[error("invalid student shape: {reason}")]
    Shape {
        /// What is wrong.
        reason: String,
    },
    /// The featurizer configuration is invalid.
    #[error(transparent)]
    Features(#[from] FeatureError),
}

// ---------------------------------------------------------------------------
// f32 weights
// ---------------------------------------------------------------------------

/// The f32 student. Shapes are fixed at construction (fields private); the
/// trainer writes the values through [`StudentWeights::params_mut`].
#[derive(Debug, Clone, PartialEq)]
pub struct StudentWeights {
    features: FeatureConfig,
    dim: usize,
    hidden: usize,
    embedding: Vec<f32>,
    hidden_weight: Vec<f32>,
    hidden_bias: Vec<f32>,
    output_weight: Vec<f32>,
    output_bias: Vec<f32>,
}

/// Read access to a student's parameters (all row-major, rows = outputs).
#[derive(Debug, Clone, Copy)]
pub struct StudentParams<'a> {
    /// `buckets × dim`.
    pub embedding: &'a [f32],
    /// `hidden × dim` (empty without a hidden layer).
    pub hidden_weight: &'a [f32],
    /// `hidden`.
    pub hidden_bias: &'a [f32],
    /// `3 × head_inputs` (`head_inputs` = `hidden`, or `dim` without a hidden layer).
    pub output_weight: &'a [f32],
    /// `3`.
    pub output_bias: &'a [f32],
}

/// Write access to a student's parameters; see [`StudentParams`].
#[derive(Debug)]
#[allow(missing_docs)]
pub struct StudentParamsMut<'a> {
    pub embedding: &'a mut [f32],
    pub hidden_weight: &'a mut [f32],
    pub hidden_bias: &'a mut [f32],
    pub output_weight: &'a mut [f32],
    pub output_bias: &'a mut [f32],
}

fn check_shape(features: &FeatureConfig, dim: usize, hidden: usize) -> Result<(), StudentError> {
    Featurizer::new(*features)?;
    if !(2..=MAX_DIM).contains(&dim) || !dim.is_multiple_of(2) {
        return Err(StudentError::Shape { reason: format!("dim {dim} is not an even number in 2..={MAX_DIM}") });
    }
    if hidden > MAX_HIDDEN {
        return Err(StudentError::Shape { reason: format!("hidden {hidden} exceeds {MAX_HIDDEN}") });
    }
    Ok(())
}

impl StudentWeights {
    /// An all-zero student. `dim` must be even (int4 packs two values a
    /// byte) and at most [`MAX_DIM`]; `hidden` at most [`MAX_HIDDEN`], 0 for
    /// a linear head straight from the bag.
    pub fn zeros(features: FeatureConfig, dim: usize, hidden: usize) -> Result<Self, StudentError> {
        check_shape(&features, dim, hidden)?;
        let buckets = features.buckets as usize;
        let head_inputs = if hidden > 0 { hidden } else { dim };
        Ok(Self {
            features,
            dim,
            hidden,
            embedding: vec![0.0; buckets * dim],
            hidden_weight: vec![0.0; hidden * dim],
            hidden_bias: vec![0.0; hidden],
            output_weight: vec![0.0; NUM_CLASSES * head_inputs],
            output_bias: vec![0.0; NUM_CLASSES],
        })
    }

    /// A student with every parameter uniform in `[-scale, scale)` from a
    /// seeded generator (tests, benchmarks).
    pub fn seeded(
        features: FeatureConfig,
        dim: usize,
        hidden: usize,
        seed: u64,
        scale: f32,
    ) -> Result<Self, StudentError> {
        let mut weights = Self::zeros(features, dim, hidden)?;
        let mut rng = qp_models::SplitMix64::new(seed);
        let params = weights.params_mut();
        for slice in
            [params.embedding, params.hidden_weight, params.hidden_bias, params.output_weight, params.output_bias]
        {
            slice.iter_mut().for_each(|w| *w = rng.uniform_symmetric_f32(scale));
        }
        Ok(weights)
    }

    /// The featurizer configuration.
    #[must_use]
    pub const fn features(&self) -> &FeatureConfig {
        &self.features
    }

    /// Embedding width.
    #[must_use]
    pub const fn dim(&self) -> usize {
        self.dim
    }

    /// Hidden width (0: none).
    #[must_use]
    pub const fn hidden(&self) -> usize {
        self.hidden
    }

    /// Inputs of the output layer: `hidden`, or `dim` without a hidden layer.
    #[must_use]
    pub const fn head_inputs(&self) -> usize {
        if self.hidden > 0 { self.hidden } else { self.dim }
    }

    /// The parameters.
    #[must_use]
    pub fn params(&self) -> StudentParams<'_> {
        StudentParams {
            embedding: &self.embedding,
            hidden_weight: &self.hidden_weight,
            hidden_bias: &self.hidden_bias,
            output_weight: &self.output_weight,
            output_bias: &self.output_bias,
        }
    }

    /// The parameters, writable (shapes stay fixed).
    pub fn params_mut(&mut self) -> StudentParamsMut<'_> {
        StudentParamsMut {
            embedding: &mut self.embedding,
            hidden_weight: &mut self.hidden_weight,
            hidden_bias: &mut self.hidden_bias,
            output_weight: &mut self.output_weight,
            output_bias: &mut self.output_bias,
        }
    }

    /// The logits for a bag of feature ids (ids ≥ `buckets` are ignored).
    /// `pooled` gets the mean embedding (`dim` values) and `hidden` the hidden
    /// activations after ReLU (`hidden` values; unused without a hidden
    /// layer); the trainer reuses both for the backward pass.
    pub fn logits(&self, ids: &[u32], pooled: &mut [f32], hidden: &mut [f32]) -> [f32; NUM_CLASSES] {
        let dim = self.dim;
        let pooled = &mut pooled[..dim];
        pooled.fill(0.0);
        for &id in ids {
            let start = id as usize * dim;
            if let Some(row) = self.embedding.get(start..start + dim) {
                pooled.iter_mut().zip(row).for_each(|(p, w)| *p += w);
            }
        }
        let inv = 1.0 / ids.len().max(1) as f32;
        pooled.iter_mut().for_each(|p| *p *= inv);
        let head_input: &[f32] = if self.hidden > 0 {
            let hidden = &mut hidden[..self.hidden];
            dense(&self.hidden_weight, &self.hidden_bias, pooled, hidden);
            hidden.iter_mut().for_each(|h| *h = h.max(0.0));
            hidden
        } else {
            pooled
        };
        let mut logits = [0.0; NUM_CLASSES];
        dense(&self.output_weight, &self.output_bias, head_input, &mut logits);
        logits
    }

    /// Class probabilities for `text` (the f32 reference; allocates nothing).
    pub fn predict(&self, featurizer: &Featurizer, text: &str, features: &mut FeatureBuf) -> [f32; NUM_CLASSES] {
        featurizer.extract(text, features);
        let mut pooled = [0.0; MAX_DIM];
        let mut hidden = [0.0; MAX_HIDDEN];
        softmax(self.logits(features.as_slice(), &mut pooled, &mut hidden))
    }
}

/// `out[j] = bias[j] + Σ_i weight[j][i] · input[i]` (weight rows = outputs).
#[inline]
fn dense(weight: &[f32], bias: &[f32], input: &[f32], out: &mut [f32]) {
    let n = input.len();
    for ((o, row), b) in out.iter_mut().zip(weight.chunks_exact(n.max(1))).zip(bias) {
        *o = row.iter().zip(input).fold(0.0, |acc, (w, x)| acc + w * x) + b;
    }
}

/// Softmax of three logits.
#[must_use]
pub fn softmax(logits: [f32; NUM_CLASSES]) -> [f32; NUM_CLASSES] {
    let max = logits[0].max(logits[1]).max(logits[2]);
    let e = logits.map(|z| (z - max).exp());
    let sum = e[0] + e[1] + e[2];
    e.map(|v| v / sum)
}

/// The agent's score: `round(10 × (p_bullish − p_bearish))`, in −10..=10.
#[must_use]
pub fn sentiment_score(probabilities: &[f32; NUM_CLASSES]) -> i8 {
    let score = (10.0 * (probabilities[1] - probabilities[0])).round();
    if score.is_nan() { 0 } else { score.clamp(-10.0, 10.0) as i8 }
}

/// Index of the most probable class (first one on ties).
#[must_use]
pub fn argmax(values: &[f32; NUM_CLASSES]) -> usize {
    let mut best = 0;
    for i in 1..NUM_CLASSES {
        if values[i] > values[best] {
            best = i;
        }
    }
    best
}

// ---------------------------------------------------------------------------
// Quantization
// ---------------------------------------------------------------------------

/// Width of the embedding table's values. Dense layers are always int8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuantBits {
    /// One signed byte per value, in −127..=127.
    Int8,
    /// Two values a byte (low nibble = even column), each in −7..=7, stored
    /// offset by 8.
    Int4,
}

impl QuantBits {
    /// `int8` / `int4`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Int8 => "int8",
            Self::Int4 => "int4",
        }
    }

    const fn max_level(self) -> f32 {
        match self {
            Self::Int8 => 127.0,
            Self::Int4 => 7.0,
        }
    }
}

/// A quantized student: what a model file holds.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedStudent {
    features: FeatureConfig,
    bits: QuantBits,
    scales: EmbeddingScales,
    dim: usize,
    hidden: usize,
    /// Int8: `buckets × dim` signed bytes; int4: `buckets × dim/2` packed bytes.
    embedding: Vec<u8>,
    /// One per row (`buckets`) or per column (`dim`).
    embedding_scale: Vec<f32>,
    hidden_weight: Vec<i8>,
    hidden_scale: Vec<f32>,
    hidden_bias: Vec<f32>,
    output_weight: Vec<i8>,
    output_scale: Vec<f32>,
    output_bias: Vec<f32>,
}

/// Where the embedding table's scales sit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmbeddingScales {
    /// One f32 scale per row (bucket): most precise, but 4 bytes on a row of
    /// `dim` (int8) or `dim/2` (int4) bytes.
    PerRow,
    /// One f32 scale per column, shared by all buckets: no per-row overhead,
    /// and the native kernel sums integer levels exactly in i32.
    PerColumn,
}

impl EmbeddingScales {
    /// `row` / `column`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::PerRow => "row",
            Self::PerColumn => "column",
        }
    }
}

/// The symmetric scale for `values` whose clipping threshold (a fraction of
/// the largest magnitude, searched in 5 % steps from 100 % down to
/// `min_ratio`) gives the least squared error; 0 when all are zero.
fn best_scale(values: &[f32], max_level: f32, min_ratio: f32) -> f32 {
    let max_abs = values.iter().fold(0.0f32, |m, w| m.max(w.abs()));
    if max_abs == 0.0 || !max_abs.is_finite() {
        return 0.0;
    }
    let mut best = (f32::INFINITY, max_abs / max_level);
    let mut step = 0u8;
    loop {
        let ratio = 1.0 - 0.05 * f32::from(step);
        if ratio < min_ratio - 1e-6 {
            break;
        }
        let scale = max_abs * ratio / max_level;
        let error: f32 = values
            .iter()
            .map(|&w| {
                let e = level(w, scale, max_level) * scale - w;
                e * e
            })
            .sum();
        if error < best.0 {
            best = (error, scale);
        }
        step += 1;
    }
    best.1
}

/// The level of `w` under `scale` (0 when the scale is 0).
fn level(w: f32, scale: f32, max_level: f32) -> f32 {
    if scale > 0.0 { (w / scale).round().clamp(-max_level, max_level) } else { 0.0 }
}

/// Quantizes each row of a `rows × cols` matrix with its own scale.
fn quantize_rows(values: &[f32], cols: usize, max_level: f32) -> (Vec<i8>, Vec<f32>) {
    let mut levels = vec![0i8; values.len()];
    let scales = values
        .chunks_exact(cols.max(1))
        .zip(levels.chunks_exact_mut(cols.max(1)))
        .map(|(row, q)| {
            let scale = best_scale(row, max_level, 0.5);
            q.iter_mut().zip(row).for_each(|(q, &w)| *q = level(w, scale, max_level) as i8);
            scale
        })
        .collect();
    (levels, scales)
}

/// Quantizes each column of a `rows × cols` matrix with its own scale.
fn quantize_columns(values: &[f32], cols: usize, max_level: f32) -> (Vec<i8>, Vec<f32>) {
    let mut levels = vec![0i8; values.len()];
    let mut scales = Vec::with_capacity(cols);
    for col in 0..cols {
        let column: Vec<f32> = values.iter().skip(col).step_by(cols).copied().collect();
        let scale = best_scale(&column, max_level, 0.1);
        for (q, &w) in levels.iter_mut().skip(col).step_by(cols).zip(&column) {
            *q = level(w, scale, max_level) as i8;
        }
        scales.push(scale);
    }
    (levels, scales)
}

/// Quantizes a student with [`EmbeddingScales::PerColumn`] (see
/// [`quantize_with`]).
#[must_use]
pub fn quantize(weights: &StudentWeights, bits: QuantBits) -> QuantizedStudent {
    quantize_with(weights, bits, EmbeddingScales::PerColumn)
}

/// Quantizes a student: embedding values at `bits` with `scales`, dense
/// layers int8 with one scale per output row, biases f32. Each scale is the
/// one with the least squared error over a few clipping thresholds.
/// Deterministic.
#[must_use]
pub fn quantize_with(weights: &StudentWeights, bits: QuantBits, scales: EmbeddingScales) -> QuantizedStudent {
    let dim = weights.dim;
    let (levels, embedding_scale) = match scales {
        EmbeddingScales::PerRow => quantize_rows(&weights.embedding, dim, bits.max_level()),
        EmbeddingScales::PerColumn => quantize_columns(&weights.embedding, dim, bits.max_level()),
    };
    let embedding = match bits {
        QuantBits::Int8 => levels.iter().map(|&q| q as u8).collect(),
        QuantBits::Int4 => levels
            .chunks_exact(2)
            .map(|pair| {
                let low = (pair[0] + 8) as u8;
                let high = (pair[1] + 8) as u8;
                low | (high << 4)
            })
            .collect(),
    };
    let (hidden_weight, hidden_scale) = quantize_rows(&weights.hidden_weight, dim, 127.0);
    let (output_weight, output_scale) = quantize_rows(&weights.output_weight, weights.head_inputs(), 127.0);
    QuantizedStudent {
        features: weights.features,
        bits,
        scales,
        dim,
        hidden: weights.hidden,
        embedding,
        embedding_scale,
        hidden_weight,
        hidden_scale,
        hidden_bias: weights.hidden_bias.clone(),
        output_weight,
        output_scale,
        output_bias: weights.output_bias.clone(),
    }
}

impl QuantizedStudent {
    /// The featurizer configuration.
    #[must_use]
    pub const fn features(&self) -> &FeatureConfig {
        &self.features
    }

    /// Embedding value width.
    #[must_use]
    pub const fn bits(&self) -> QuantBits {
        self.bits
    }

    /// Where the embedding scales sit.
    #[must_use]
    pub const fn scales(&self) -> EmbeddingScales {
        self.scales
    }

    /// Embedding width.
    #[must_use]
    pub const fn dim(&self) -> usize {
        self.dim
    }

    /// Hidden width (0: none).
    #[must_use]
    pub const fn hidden(&self) -> usize {
        self.hidden
    }

    const fn head_inputs(&self) -> usize {
        if self.hidden > 0 { self.hidden } else { self.dim }
    }

    /// Bytes of weights, scales and biases (the file adds a few hundred bytes
    /// of graph and metadata).
    #[must_use]
    pub fn weight_bytes(&self) -> usize {
        self.embedding.len()
            + self.hidden_weight.len()
            + self.output_weight.len()
            + 4 * (self.embedding_scale.len()
                + self.hidden_scale.len()
                + self.hidden_bias.len()
                + self.output_scale.len()
                + self.output_bias.len())
    }

    /// Embedding level of `row`, column `col` (no bounds promise: callers stay in shape).
    fn embedding_level(&self, row: usize, col: usize) -> i8 {
        match self.bits {
            QuantBits::Int8 => self.embedding.get(row * self.dim + col).map_or(0, |&b| b as i8),
            QuantBits::Int4 => {
                let byte = self.embedding.get((row * self.dim + col) / 2).copied().unwrap_or(0x88);
                let nibble = if col.is_multiple_of(2) { byte & 0x0f } else { byte >> 4 };
                nibble as i8 - 8
            }
        }
    }

    /// The f32 student this quantized one stands for (`level × scale` per
    /// value, the values both backends compute with).
    #[must_use]
    pub fn dequantize(&self) -> StudentWeights {
        let dequantize_rows = |levels: &[i8], scales: &[f32], cols: usize| -> Vec<f32> {
            levels
                .chunks_exact(cols.max(1))
                .zip(scales)
                .flat_map(|(row, &s)| row.iter().map(move |&q| f32::from(q) * s))
                .collect()
        };
        let buckets = self.features.buckets as usize;
        let mut embedding = Vec::with_capacity(buckets * self.dim);
        for row in 0..buckets {
            for col in 0..self.dim {
                let scale = match self.scales {
                    EmbeddingScales::PerRow => self.embedding_scale.get(row),
                    EmbeddingScales::PerColumn => self.embedding_scale.get(col),
                };
                embedding.push(f32::from(self.embedding_level(row, col)) * scale.copied().unwrap_or(0.0));
            }
        }
        StudentWeights {
            features: self.features,
            dim: self.dim,
            hidden: self.hidden,
            embedding,
            hidden_weight: dequantize_rows(&self.hidden_weight, &self.hidden_scale, self.dim),
            hidden_bias: self.hidden_bias.clone(),
            output_weight: dequantize_rows(&self.output_weight, &self.output_scale, self.head_inputs()),
            output_bias: self.output_bias.clone(),
        }
    }

    /// The model as ONNX file bytes; the same model always gives the same bytes.
    #[must_use]
    pub fn to_onnx_bytes(&self) -> Vec<u8> {
        let layout = Layout {
            features: self.features,
            bits: self.bits,
            scales: self.scales,
            dim: self.dim,
            hidden: self.hidden,
        };
        let mut graph = layout.graph();
        graph.initializers = self.initializers();
        let model = ModelProto {
            ir_version: IR_VERSION,
            producer_name: "qp-sentiment".into(),
            graph: Some(graph),
            opset_import: vec![OperatorSetId { domain: String::new(), version: OPSET }],
        };
        model.encode_with_metadata(&layout.metadata())
    }

    fn initializers(&self) -> Vec<TensorProto> {
        let buckets = i64::from(self.features.buckets);
        let dim = self.dim as i64;
        let mut tensors = match self.bits {
            QuantBits::Int8 => {
                vec![bytes_tensor(names::EMBEDDING_Q, data_type::INT8, vec![buckets, dim], self.embedding.clone())]
            }
            QuantBits::Int4 => vec![
                bytes_tensor(names::EMBEDDING_PACKED, data_type::UINT8, vec![buckets, dim / 2], self.embedding.clone()),
                int_tensor(names::INT4_SIXTEEN, data_type::INT32, vec![], &[16]),
                int_tensor(names::INT4_EIGHT, data_type::INT32, vec![], &[8]),
                int_tensor(names::INT4_AXES, data_type::INT64, vec![1], &[2]),
                int_tensor(names::INT4_SHAPE, data_type::INT64, vec![2], &[buckets, dim]),
            ],
        };
        let scale_dims = match self.scales {
            EmbeddingScales::PerRow => vec![buckets, 1],
            EmbeddingScales::PerColumn => vec![1, dim],
        };
        tensors.push(float_tensor(names::EMBEDDING_SCALE, scale_dims, &self.embedding_scale));
        let head_inputs = self.head_inputs() as i64;
        if self.hidden > 0 {
            let hidden = self.hidden as i64;
            tensors.push(bytes_tensor(
                names::HIDDEN_Q,
                data_type::INT8,
                vec![hidden, dim],
                i8_bytes(&self.hidden_weight),
            ));
            tensors.push(float_tensor(names::HIDDEN_SCALE, vec![hidden, 1], &self.hidden_scale));
            tensors.push(float_tensor(names::HIDDEN_BIAS, vec![hidden], &self.hidden_bias));
        }
        tensors.push(bytes_tensor(
            names::OUTPUT_Q,
            data_type::INT8,
            vec![NUM_CLASSES as i64, head_inputs],
            i8_bytes(&self.output_weight),
        ));
        tensors.push(float_tensor(names::OUTPUT_SCALE, vec![NUM_CLASSES as i64, 1], &self.output_scale));
        tensors.push(float_tensor(names::OUTPUT_BIAS, vec![NUM_CLASSES as i64], &self.output_bias));
        tensors
    }
}

fn i8_bytes(values: &[i8]) -> Vec<u8> {
    values.iter().map(|&v| v as u8).collect()
}

fn bytes_tensor(name: &str, data_type: i32, dims: Vec<i64>, raw_data: Vec<u8>) -> TensorProto {
    TensorProto { dims, data_type, name: name.into(), raw_data, ..TensorProto::default() }
}

fn float_tensor(name: &str, dims: Vec<i64>, values: &[f32]) -> TensorProto {
    bytes_tensor(name, data_type::FLOAT, dims, values.iter().flat_map(|v| v.to_le_bytes()).collect())
}

fn int_tensor(name: &str, data_type: i32, dims: Vec<i64>, values: &[i64]) -> TensorProto {
    let raw = if data_type == data_type::INT32 {
        values.iter().flat_map(|&v| (v as i32).to_le_bytes()).collect()
    } else {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    };
    bytes_tensor(name, data_type, dims, raw)
}

/// Writes `model` as an ONNX file at `path`; the same model always gives the
/// same bytes.
pub fn write_student_onnx(model: &QuantizedStudent, path: &Path) -> Result<(), StudentError> {
    std::fs::write(path, model.to_onnx_bytes())
        .map_err(|source| StudentError::Write { path: path.to_path_buf(), source })
}

/// Reads a student file back into its quantized model (checking it as the
/// loaders do).
pub fn read_student_onnx(path: &Path) -> Result<QuantizedStudent, StudentError> {
    let bytes = read_student_file(path)?;
    parse_student(&bytes, path)
}

// ---------------------------------------------------------------------------
// The file layout
// ---------------------------------------------------------------------------

/// Value and initializer names in the graph.
mod names {
    pub(super) const EMBEDDING_Q: &str = "embedding.q";
    pub(super) const EMBEDDING_PACKED: &str = "embedding.packed";
    pub(super) const EMBEDDING_SCALE: &str = "embedding.scale";
    pub(super) const INT4_SIXTEEN: &str = "int4.sixteen";
    pub(super) const INT4_EIGHT: &str = "int4.eight";
    pub(super) const INT4_AXES: &str = "int4.axes";
    pub(super) const INT4_SHAPE: &str = "int4.shape";
    pub(super) const HIDDEN_Q: &str = "hidden.q";
    pub(super) const HIDDEN_SCALE: &str = "hidden.scale";
    pub(super) const HIDDEN_BIAS: &str = "hidden.bias";
    pub(super) const OUTPUT_Q: &str = "output.q";
    pub(super) const OUTPUT_SCALE: &str = "output.scale";
    pub(super) const OUTPUT_BIAS: &str = "output.bias";
}

/// What the metadata says; it determines the graph and every initializer's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    features: FeatureConfig,
    bits: QuantBits,
    scales: EmbeddingScales,
    dim: usize,
    hidden: usize,
}

fn node(op: &str, inputs: &[&str], output: &str, attributes: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        inputs: inputs.iter().map(|s| (*s).to_owned()).collect(),
        outputs: vec![output.to_owned()],
        name: output.to_owned(),
        op_type: op.to_owned(),
        attributes,
        domain: String::new(),
    }
}

fn int_attribute(name: &str, value: i64) -> AttributeProto {
    AttributeProto { name: name.into(), i: value, attr_type: attribute_type::INT, ..AttributeProto::default() }
}

fn ints_attribute(name: &str, values: Vec<i64>) -> AttributeProto {
    AttributeProto { name: name.into(), ints: values, attr_type: attribute_type::INTS, ..AttributeProto::default() }
}

/// Int8 levels (a constant) → f32 weights: `Cast` then `Mul` by the per-row scale.
fn dequantize_nodes(levels: &str, scale: &str, output: &str) -> [NodeProto; 2] {
    let as_float = format!("{output}.levels");
    [
        node("Cast", &[levels], &as_float, vec![int_attribute("to", i64::from(data_type::FLOAT))]),
        node("Mul", &[&as_float, scale], output, Vec::new()),
    ]
}

impl Layout {
    fn metadata(&self) -> Vec<MetadataEntry> {
        use metadata_keys as k;
        let mut entries = vec![
            (k::FORMAT, FORMAT_NAME.to_owned()),
            (k::FORMAT_VERSION, STUDENT_FORMAT_VERSION.to_string()),
            (k::CLASSES, CLASSES.join(",")),
            (k::DIM, self.dim.to_string()),
            (k::HIDDEN, self.hidden.to_string()),
            (k::BITS, self.bits.name().to_owned()),
            (k::EMBEDDING_SCALES, self.scales.name().to_owned()),
            (k::SCORE, "round(10 * (p[bullish] - p[bearish]))".to_owned()),
        ];
        entries.extend(self.features.to_metadata());
        entries.into_iter().map(|(key, value)| MetadataEntry { key: key.to_owned(), value }).collect()
    }

    fn from_metadata(entries: &[MetadataEntry]) -> Result<Self, String> {
        use metadata_keys as k;
        let get = |key: &str| entries.iter().find(|e| e.key == key).map(|e| e.value.as_str());
        let require = |key: &str| get(key).ok_or_else(|| format!("metadata `{key}` is missing"));
        if require(k::FORMAT)? != FORMAT_NAME {
            return Err(format!("not a student model (metadata `{}` is not {FORMAT_NAME:?})", k::FORMAT));
        }
        let version = require(k::FORMAT_VERSION)?;
        if version != STUDENT_FORMAT_VERSION.to_string() {
            return Err(format!(
                "student format version {version} is not supported (this build reads {STUDENT_FORMAT_VERSION})"
            ));
        }
        let classes = require(k::CLASSES)?;
        if classes != CLASSES.join(",") {
            return Err(format!("class order {classes:?} is not {:?}", CLASSES.join(",")));
        }
        let number = |key: &str| -> Result<usize, String> {
            let value = require(key)?;
            value.parse().map_err(|_| format!("metadata `{key}` = {value:?} is not a number"))
        };
        let bits = match require(k::BITS)? {
            "int8" => QuantBits::Int8,
            "int4" => QuantBits::Int4,
            other => return Err(format!("metadata `{}` = {other:?} is not int8 or int4", k::BITS)),
        };
        let scales = match require(k::EMBEDDING_SCALES)? {
            "row" => EmbeddingScales::PerRow,
            "column" => EmbeddingScales::PerColumn,
            other => return Err(format!("metadata `{}` = {other:?} is not row or column", k::EMBEDDING_SCALES)),
        };
        let features = FeatureConfig::from_metadata(get)?;
        let (dim, hidden) = (number(k::DIM)?, number(k::HIDDEN)?);
        check_shape(&features, dim, hidden).map_err(|e| e.to_string())?;
        Ok(Self { features, bits, scales, dim, hidden })
    }

    const fn head_inputs(&self) -> usize {
        if self.hidden > 0 { self.hidden } else { self.dim }
    }

    fn scale_dims(&self) -> [i64; 2] {
        match self.scales {
            EmbeddingScales::PerRow => [i64::from(self.features.buckets), 1],
            EmbeddingScales::PerColumn => [1, self.dim as i64],
        }
    }

    /// The graph (without initializers) this build writes for this layout.
    fn graph(&self) -> GraphProto {
        let mut nodes = Vec::new();
        match self.bits {
            QuantBits::Int8 => nodes.extend(dequantize_nodes(names::EMBEDDING_Q, names::EMBEDDING_SCALE, "embedding")),
            QuantBits::Int4 => {
                // packed byte b = (low + 8) | (high + 8) << 4  →  low, high in −8..=7,
                // interleaved back to [buckets, dim]. Integer ops on constants only.
                let to_int32 = vec![int_attribute("to", i64::from(data_type::INT32))];
                nodes.push(node("Cast", &[names::EMBEDDING_PACKED], "int4.bytes", to_int32));
                nodes.push(node("Div", &["int4.bytes", names::INT4_SIXTEEN], "int4.high_biased", Vec::new()));
                nodes.push(node("Mul", &["int4.high_biased", names::INT4_SIXTEEN], "int4.high_shifted", Vec::new()));
                nodes.push(node("Sub", &["int4.bytes", "int4.high_shifted"], "int4.low_biased", Vec::new()));
                nodes.push(node("Sub", &["int4.low_biased", names::INT4_EIGHT], "int4.low", Vec::new()));
                nodes.push(node("Sub", &["int4.high_biased", names::INT4_EIGHT], "int4.high", Vec::new()));
                nodes.push(node("Unsqueeze", &["int4.low", names::INT4_AXES], "int4.low3", Vec::new()));
                nodes.push(node("Unsqueeze", &["int4.high", names::INT4_AXES], "int4.high3", Vec::new()));
                nodes.push(node("Concat", &["int4.low3", "int4.high3"], "int4.pairs", vec![int_attribute("axis", 2)]));
                nodes.push(node("Reshape", &["int4.pairs", names::INT4_SHAPE], "int4.levels", Vec::new()));
                nodes.extend(dequantize_nodes("int4.levels", names::EMBEDDING_SCALE, "embedding"));
            }
        }
        nodes.push(node("Gather", &["embedding", INPUT_NAME], "bag", vec![int_attribute("axis", 0)]));
        nodes.push(node(
            "ReduceMean",
            &["bag"],
            "pooled",
            vec![ints_attribute("axes", vec![1]), int_attribute("keepdims", 0)],
        ));
        let mut head_input = "pooled";
        if self.hidden > 0 {
            nodes.extend(dequantize_nodes(names::HIDDEN_Q, names::HIDDEN_SCALE, "hidden.weight"));
            nodes.push(node(
                "Gemm",
                &["pooled", "hidden.weight", names::HIDDEN_BIAS],
                "hidden.linear",
                vec![int_attribute("transB", 1)],
            ));
            nodes.push(node("Relu", &["hidden.linear"], "hidden", Vec::new()));
            head_input = "hidden";
        }
        nodes.extend(dequantize_nodes(names::OUTPUT_Q, names::OUTPUT_SCALE, "output.weight"));
        nodes.push(node(
            "Gemm",
            &[head_input, "output.weight", names::OUTPUT_BIAS],
            "logits",
            vec![int_attribute("transB", 1)],
        ));
        nodes.push(node("Softmax", &["logits"], OUTPUT_NAME, vec![int_attribute("axis", -1)]));
        GraphProto {
            nodes,
            name: "sentiment_student".into(),
            initializers: Vec::new(),
            inputs: vec![ValueInfoProto {
                name: INPUT_NAME.into(),
                elem_type: Some(data_type::INT64),
                shape: Some(vec![Dimension::Value(1), Dimension::Param("features".into())]),
            }],
            outputs: vec![ValueInfoProto {
                name: OUTPUT_NAME.into(),
                elem_type: Some(data_type::FLOAT),
                shape: Some(vec![Dimension::Value(1), Dimension::Value(NUM_CLASSES as i64)]),
            }],
        }
    }
}

/// Reads `path` with the size cap; errors name the file.
fn read_student_file(path: &Path) -> Result<Vec<u8>, StudentError> {
    qp_models::read_capped(path, MAX_STUDENT_FILE_BYTES).map_err(|err| match err {
        qp_models::CappedReadError::Io(source) => StudentError::Io { path: path.to_path_buf(), source },
        qp_models::CappedReadError::TooLarge { len } => {
            StudentError::FileTooLarge { path: path.to_path_buf(), len, limit: MAX_STUDENT_FILE_BYTES }
        }
    })
}

/// The initializer `name` with `data_type` and `dims`, as raw little-endian bytes.
fn tensor_bytes<'a>(
    tensors: &'a [TensorProto],
    name: &str,
    data_type: i32,
    dims: &[i64],
) -> Result<std::borrow::Cow<'a, [u8]>, String> {
    let mut found = tensors.iter().filter(|t| t.name == name);
    let tensor = found.next().ok_or_else(|| format!("initializer `{name}` is missing"))?;
    if found.next().is_some() {
        return Err(format!("initializer `{name}` appears twice"));
    }
    if tensor.data_type != data_type || tensor.dims != dims {
        return Err(format!(
            "initializer `{name}` is type {} with dims {:?}, expected type {data_type} with dims {dims:?}",
            tensor.data_type, tensor.dims
        ));
    }
    if tensor.has_external_data || tensor.data_location == 1 {
        return Err(format!("initializer `{name}` has external data, which is not supported"));
    }
    let count = dims.iter().product::<i64>() as usize;
    let width = match data_type {
        data_type::FLOAT | data_type::INT32 => 4,
        data_type::INT64 => 8,
        _ => 1,
    };
    let bytes: std::borrow::Cow<'a, [u8]> = if !tensor.raw_data.is_empty() {
        std::borrow::Cow::Borrowed(&tensor.raw_data)
    } else if data_type == data_type::FLOAT {
        std::borrow::Cow::Owned(tensor.float_data.iter().flat_map(|v| v.to_le_bytes()).collect())
    } else if data_type == data_type::INT64 {
        std::borrow::Cow::Owned(tensor.int64_data.iter().flat_map(|v| v.to_le_bytes()).collect())
    } else if data_type == data_type::INT32 {
        std::borrow::Cow::Owned(tensor.int32_data.iter().flat_map(|v| v.to_le_bytes()).collect())
    } else {
        std::borrow::Cow::Owned(tensor.int32_data.iter().map(|&v| v as u8).collect())
    };
    if bytes.len() != count * width {
        return Err(format!("initializer `{name}` holds {} bytes, expected {}", bytes.len(), count * width));
    }
    Ok(bytes)
}

fn floats(bytes: &[u8], name: &str) -> Result<Vec<f32>, String> {
    let (words, _) = bytes.as_chunks::<4>();
    let values: Vec<f32> = words.iter().map(|w| f32::from_le_bytes(*w)).collect();
    if values.iter().any(|v| !v.is_finite()) {
        return Err(format!("initializer `{name}` holds a non-finite value"));
    }
    Ok(values)
}

fn signed(bytes: &[u8]) -> Vec<i8> {
    bytes.iter().map(|&b| b as i8).collect()
}

fn check_int_constant(
    tensors: &[TensorProto],
    name: &str,
    data_type: i32,
    dims: &[i64],
    want: &[i64],
) -> Result<(), String> {
    let bytes = tensor_bytes(tensors, name, data_type, dims)?;
    let got: Vec<i64> = if data_type == data_type::INT32 {
        bytes.as_chunks::<4>().0.iter().map(|w| i64::from(i32::from_le_bytes(*w))).collect()
    } else {
        bytes.as_chunks::<8>().0.iter().map(|w| i64::from_le_bytes(*w)).collect()
    };
    if got != want {
        return Err(format!("initializer `{name}` is {got:?}, expected {want:?}"));
    }
    Ok(())
}

/// Decodes and checks a student file.
fn parse_student(bytes: &[u8], path: &Path) -> Result<QuantizedStudent, StudentError> {
    let malformed = |source| StudentError::Malformed { path: path.to_path_buf(), source };
    let invalid = |reason: String| StudentError::Invalid { path: path.to_path_buf(), reason };
    let model = ModelProto::decode(bytes).map_err(malformed)?;
    let metadata = ModelProto::decode_metadata(bytes).map_err(malformed)?;
    let layout = Layout::from_metadata(&metadata).map_err(invalid)?;
    let graph = model.graph.ok_or_else(|| invalid("the file holds no graph".into()))?;
    if !model.opset_import.iter().any(|o| o.domain.is_empty() && o.version == OPSET) {
        return Err(invalid(format!("the default-domain opset is not {OPSET}")));
    }
    let expected = layout.graph();
    if graph.nodes != expected.nodes || graph.inputs != expected.inputs || graph.outputs != expected.outputs {
        return Err(invalid("the graph is not the student graph this build writes for the file's metadata".into()));
    }
    let quantized = layout.read_initializers(&graph.initializers).map_err(invalid)?;
    Ok(quantized)
}

impl Layout {
    fn read_initializers(&self, tensors: &[TensorProto]) -> Result<QuantizedStudent, String> {
        let buckets = i64::from(self.features.buckets);
        let dim = self.dim as i64;
        let classes = NUM_CLASSES as i64;
        let mut expected_count = 4;
        let embedding = match self.bits {
            QuantBits::Int8 => {
                expected_count += 1;
                tensor_bytes(tensors, names::EMBEDDING_Q, data_type::INT8, &[buckets, dim])?.into_owned()
            }
            QuantBits::Int4 => {
                expected_count += 5;
                check_int_constant(tensors, names::INT4_SIXTEEN, data_type::INT32, &[], &[16])?;
                check_int_constant(tensors, names::INT4_EIGHT, data_type::INT32, &[], &[8])?;
                check_int_constant(tensors, names::INT4_AXES, data_type::INT64, &[1], &[2])?;
                check_int_constant(tensors, names::INT4_SHAPE, data_type::INT64, &[2], &[buckets, dim])?;
                tensor_bytes(tensors, names::EMBEDDING_PACKED, data_type::UINT8, &[buckets, dim / 2])?.into_owned()
            }
        };
        let embedding_scale = floats(
            &tensor_bytes(tensors, names::EMBEDDING_SCALE, data_type::FLOAT, &self.scale_dims())?,
            names::EMBEDDING_SCALE,
        )?;
        let (mut hidden_weight, mut hidden_scale, mut hidden_bias) = (Vec::new(), Vec::new(), Vec::new());
        if self.hidden > 0 {
            expected_count += 3;
            let hidden = self.hidden as i64;
            hidden_weight = signed(&tensor_bytes(tensors, names::HIDDEN_Q, data_type::INT8, &[hidden, dim])?);
            hidden_scale = floats(
                &tensor_bytes(tensors, names::HIDDEN_SCALE, data_type::FLOAT, &[hidden, 1])?,
                names::HIDDEN_SCALE,
            )?;
            hidden_bias =
                floats(&tensor_bytes(tensors, names::HIDDEN_BIAS, data_type::FLOAT, &[hidden])?, names::HIDDEN_BIAS)?;
        }
        let head_inputs = self.head_inputs() as i64;
        let output_weight = signed(&tensor_bytes(tensors, names::OUTPUT_Q, data_type::INT8, &[classes, head_inputs])?);
        let output_scale =
            floats(&tensor_bytes(tensors, names::OUTPUT_SCALE, data_type::FLOAT, &[classes, 1])?, names::OUTPUT_SCALE)?;
        let output_bias =
            floats(&tensor_bytes(tensors, names::OUTPUT_BIAS, data_type::FLOAT, &[classes])?, names::OUTPUT_BIAS)?;
        if tensors.len() != expected_count {
            return Err(format!("the file holds {} initializers, expected {expected_count}", tensors.len()));
        }
        Ok(QuantizedStudent {
            features: self.features,
            bits: self.bits,
            scales: self.scales,
            dim: self.dim,
            hidden: self.hidden,
            embedding,
            embedding_scale,
            hidden_weight,
            hidden_scale,
            hidden_bias,
            output_weight,
            output_scale,
            output_bias,
        })
    }
}

// ---------------------------------------------------------------------------
// Native inference
// ---------------------------------------------------------------------------

/// Per-caller working memory of [`NativeStudent::predict`] (no heap).
#[derive(Clone)]
pub struct StudentScratch {
    features: FeatureBuf,
    pooled: [f32; MAX_DIM],
    hidden: [f32; MAX_HIDDEN],
}

impl StudentScratch {
    /// Fresh scratch space.
    #[must_use]
    pub const fn new() -> Self {
        Self { features: FeatureBuf::new(), pooled: [0.0; MAX_DIM], hidden: [0.0; MAX_HIDDEN] }
    }

    /// The features of the last text predicted.
    #[must_use]
    pub const fn features(&self) -> &FeatureBuf {
        &self.features
    }
}

impl Default for StudentScratch {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for StudentScratch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StudentScratch").field("features", &self.features).finish_non_exhaustive()
    }
}

/// The student run by this crate's kernels, from the quantized values.
#[derive(Clone)]
pub struct NativeStudent {
    path: PathBuf,
    featurizer: Featurizer,
    bits: QuantBits,
    scales: EmbeddingScales,
    dim: usize,
    hidden: usize,
    /// Int8 levels (`buckets × dim`) or packed int4 (`buckets × dim/2`).
    embedding: Vec<u8>,
    embedding_scale: Vec<f32>,
    /// Dense layers as f32 (`level × scale`, the values ONNX Runtime folds).
    hidden_weight: Vec<f32>,
    hidden_bias: Vec<f32>,
    output_weight: Vec<f32>,
    output_bias: Vec<f32>,
}

impl fmt::Debug for NativeStudent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NativeStudent")
            .field("path", &self.path)
            .field("features", self.featurizer.config())
            .field("bits", &self.bits)
            .field("scales", &self.scales)
            .field("dim", &self.dim)
            .field("hidden", &self.hidden)
            .finish_non_exhaustive()
    }
}

impl NativeStudent {
    /// Loads and checks a student file; every error names it.
    pub fn load(path: &Path) -> Result<Self, StudentError> {
        let bytes = read_student_file(path)?;
        Self::from_bytes(&bytes, path)
    }

    /// Loads from bytes in memory; `path` only names them in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, StudentError> {
        let model = parse_student(bytes, path)?;
        let mut student = Self::from_quantized(&model)?;
        student.path = path.to_path_buf();
        tracing::debug!(path = %path.display(), bits = model.bits.name(), dim = model.dim, hidden = model.hidden, "student loaded");
        Ok(student)
    }

    /// Runs a quantized model without a file (the forge's evaluation).
    pub fn from_quantized(model: &QuantizedStudent) -> Result<Self, StudentError> {
        let dequantize_rows = |levels: &[i8], scales: &[f32], cols: usize| -> Vec<f32> {
            levels
                .chunks_exact(cols.max(1))
                .zip(scales)
                .flat_map(|(row, &s)| row.iter().map(move |&q| f32::from(q) * s))
                .collect()
        };
        Ok(Self {
            path: PathBuf::from("<memory>"),
            featurizer: Featurizer::new(model.features)?,
            bits: model.bits,
            scales: model.scales,
            dim: model.dim,
            hidden: model.hidden,
            embedding: model.embedding.clone(),
            embedding_scale: model.embedding_scale.clone(),
            hidden_weight: dequantize_rows(&model.hidden_weight, &model.hidden_scale, model.dim),
            hidden_bias: model.hidden_bias.clone(),
            output_weight: dequantize_rows(&model.output_weight, &model.output_scale, model.head_inputs()),
            output_bias: model.output_bias.clone(),
        })
    }

    /// The file it was loaded from.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The featurizer the model was trained with.
    #[must_use]
    pub const fn featurizer(&self) -> &Featurizer {
        &self.featurizer
    }

    /// Embedding value width.
    #[must_use]
    pub const fn bits(&self) -> QuantBits {
        self.bits
    }

    /// Class probabilities ([`CLASSES`] order) for `text`. Allocates nothing.
    pub fn predict(&self, text: &str, scratch: &mut StudentScratch) -> [f32; NUM_CLASSES] {
        self.featurizer.extract(text, &mut scratch.features);
        let StudentScratch { features, pooled, hidden } = scratch;
        softmax(self.logits(features.as_slice(), pooled, hidden))
    }

    /// Class probabilities for already extracted feature ids.
    pub fn predict_ids(&self, ids: &[u32], scratch: &mut StudentScratch) -> [f32; NUM_CLASSES] {
        softmax(self.logits(ids, &mut scratch.pooled, &mut scratch.hidden))
    }

    fn logits(&self, ids: &[u32], pooled: &mut [f32; MAX_DIM], hidden: &mut [f32; MAX_HIDDEN]) -> [f32; NUM_CLASSES] {
        let pooled = &mut pooled[..self.dim];
        let (table, scales) = (&self.embedding, &self.embedding_scale);
        match (self.bits, self.scales) {
            (QuantBits::Int8, EmbeddingScales::PerRow) => pool_rows_int8_dispatch(self.dim, table, scales, ids, pooled),
            (QuantBits::Int4, EmbeddingScales::PerRow) => pool_rows_int4(self.dim, table, scales, ids, pooled),
            (QuantBits::Int8, EmbeddingScales::PerColumn) => pool_columns_int8(self.dim, table, scales, ids, pooled),
            (QuantBits::Int4, EmbeddingScales::PerColumn) => pool_columns_int4(self.dim, table, scales, ids, pooled),
        }
        let head_input: &[f32] = if self.hidden > 0 {
            let hidden = &mut hidden[..self.hidden];
            dense(&self.hidden_weight, &self.hidden_bias, pooled, hidden);
            hidden.iter_mut().for_each(|h| *h = h.max(0.0));
            hidden
        } else {
            pooled
        };
        let mut logits = [0.0; NUM_CLASSES];
        dense(&self.output_weight, &self.output_bias, head_input, &mut logits);
        logits
    }
}

/// Mean of `level × row scale` rows, the width known at compile time.
#[inline]
fn pool_rows_int8<const D: usize>(table: &[u8], scales: &[f32], ids: &[u32], pooled: &mut [f32]) {
    let mut acc = [0.0f32; D];
    for &id in ids {
        let row = id as usize;
        let (Some(levels), Some(&scale)) = (table.get(row * D..row * D + D), scales.get(row)) else {
            continue;
        };
        for (a, &q) in acc.iter_mut().zip(levels) {
            *a += f32::from(q as i8) * scale;
        }
    }
    let inv = 1.0 / ids.len().max(1) as f32;
    pooled.iter_mut().zip(acc).for_each(|(p, a)| *p = a * inv);
}

/// [`pool_rows_int8`] for any width.
fn pool_rows_int8_any(dim: usize, table: &[u8], scales: &[f32], ids: &[u32], pooled: &mut [f32]) {
    pooled.fill(0.0);
    for &id in ids {
        let row = id as usize;
        let (Some(levels), Some(&scale)) = (table.get(row * dim..row * dim + dim), scales.get(row)) else {
            continue;
        };
        for (a, &q) in pooled.iter_mut().zip(levels) {
            *a += f32::from(q as i8) * scale;
        }
    }
    let inv = 1.0 / ids.len().max(1) as f32;
    pooled.iter_mut().for_each(|p| *p *= inv);
}

fn pool_rows_int8_dispatch(dim: usize, table: &[u8], scales: &[f32], ids: &[u32], pooled: &mut [f32]) {
    match dim {
        8 => pool_rows_int8::<8>(table, scales, ids, pooled),
        16 => pool_rows_int8::<16>(table, scales, ids, pooled),
        32 => pool_rows_int8::<32>(table, scales, ids, pooled),
        _ => pool_rows_int8_any(dim, table, scales, ids, pooled),
    }
}

/// Mean of unpacked int4 rows, each with its scale.
fn pool_rows_int4(dim: usize, table: &[u8], scales: &[f32], ids: &[u32], pooled: &mut [f32]) {
    pooled.fill(0.0);
    let row_bytes = dim / 2;
    for &id in ids {
        let row = id as usize;
        let (Some(packed), Some(&scale)) = (table.get(row * row_bytes..row * row_bytes + row_bytes), scales.get(row))
        else {
            continue;
        };
        for (pair, &byte) in pooled.chunks_exact_mut(2).zip(packed) {
            pair[0] += f32::from((byte & 0x0f) as i8 - 8) * scale;
            pair[1] += f32::from((byte >> 4) as i8 - 8) * scale;
        }
    }
    let inv = 1.0 / ids.len().max(1) as f32;
    pooled.iter_mut().for_each(|p| *p *= inv);
}

/// Integer sums of the rows (exact in i32: at most
/// [`FEATURE_CAPACITY`](crate::features::FEATURE_CAPACITY) × 127), then
/// `sum × column scale / count`.
fn finish_columns(sums: &[i32], scales: &[f32], count: usize, pooled: &mut [f32]) {
    let inv = 1.0 / count.max(1) as f32;
    for ((p, &sum), &scale) in pooled.iter_mut().zip(sums).zip(scales) {
        *p = sum as f32 * scale * inv;
    }
}

/// Column-scaled int8 rows summed in i32, the width known at compile time.
#[inline]
fn pool_columns_int8_fixed<const D: usize>(table: &[u8], scales: &[f32], ids: &[u32], pooled: &mut [f32]) {
    let mut sums = [0i32; D];
    for &id in ids {
        let row = id as usize;
        if let Some(levels) = table.get(row * D..row * D + D) {
            for (sum, &q) in sums.iter_mut().zip(levels) {
                *sum += i32::from(q as i8);
            }
        }
    }
    finish_columns(&sums, scales, ids.len(), pooled);
}

fn pool_columns_int8(dim: usize, table: &[u8], scales: &[f32], ids: &[u32], pooled: &mut [f32]) {
    match dim {
        2 => return pool_columns_int8_fixed::<2>(table, scales, ids, pooled),
        4 => return pool_columns_int8_fixed::<4>(table, scales, ids, pooled),
        8 => return pool_columns_int8_fixed::<8>(table, scales, ids, pooled),
        16 => return pool_columns_int8_fixed::<16>(table, scales, ids, pooled),
        _ => {}
    }
    let mut sums = [0i32; MAX_DIM];
    let sums = &mut sums[..dim];
    for &id in ids {
        let row = id as usize;
        if let Some(levels) = table.get(row * dim..row * dim + dim) {
            for (sum, &q) in sums.iter_mut().zip(levels) {
                *sum += i32::from(q as i8);
            }
        }
    }
    finish_columns(sums, scales, ids.len(), pooled);
}

/// Column-scaled int4 rows (`D / 2` bytes each) summed in i32.
#[inline]
fn pool_columns_int4_fixed<const D: usize>(table: &[u8], scales: &[f32], ids: &[u32], pooled: &mut [f32]) {
    let mut sums = [0i32; D];
    let mut rows = 0i32;
    let row_bytes = D / 2;
    for &id in ids {
        let row = id as usize;
        if let Some(packed) = table.get(row * row_bytes..row * row_bytes + row_bytes) {
            rows += 1;
            for (pair, &byte) in sums.chunks_exact_mut(2).zip(packed) {
                pair[0] += i32::from(byte & 0x0f);
                pair[1] += i32::from(byte >> 4);
            }
        }
    }
    // Levels are stored offset by 8.
    let offset = 8 * rows;
    sums.iter_mut().for_each(|s| *s -= offset);
    finish_columns(&sums, scales, ids.len(), pooled);
}

fn pool_columns_int4(dim: usize, table: &[u8], scales: &[f32], ids: &[u32], pooled: &mut [f32]) {
    match dim {
        2 => return pool_columns_int4_fixed::<2>(table, scales, ids, pooled),
        4 => return pool_columns_int4_fixed::<4>(table, scales, ids, pooled),
        8 => return pool_columns_int4_fixed::<8>(table, scales, ids, pooled),
        16 => return pool_columns_int4_fixed::<16>(table, scales, ids, pooled),
        _ => {}
    }
    let mut sums = [0i32; MAX_DIM];
    let sums = &mut sums[..dim];
    let row_bytes = dim / 2;
    for &id in ids {
        let row = id as usize;
        if let Some(packed) = table.get(row * row_bytes..row * row_bytes + row_bytes) {
            for (pair, &byte) in sums.chunks_exact_mut(2).zip(packed) {
                pair[0] += i32::from(byte & 0x0f) - 8;
                pair[1] += i32::from(byte >> 4) - 8;
            }
        }
    }
    finish_columns(sums, scales, ids.len(), pooled);
}

// ---------------------------------------------------------------------------
// ONNX Runtime
// ---------------------------------------------------------------------------

/// The student run by ONNX Runtime (CPU, one thread), from the same file.
pub struct OrtStudent {
    path: PathBuf,
    session: ort::session::Session,
    featurizer: Featurizer,
    features: FeatureBuf,
    ids: Vec<i64>,
}

impl fmt::Debug for OrtStudent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrtStudent")
            .field("path", &self.path)
            .field("features", self.featurizer.config())
            .finish_non_exhaustive()
    }
}

impl OrtStudent {
    /// Loads and checks a student file (as [`NativeStudent::load`] does),
    /// then hands it to ONNX Runtime and runs it once.
    pub fn load(path: &Path) -> Result<Self, StudentError> {
        let bytes = read_student_file(path)?;
        let model = parse_student(&bytes, path)?;
        let rejected = |message: String| StudentError::RuntimeLoad { path: path.to_path_buf(), message };
        let session = qp_models::onnxruntime_session(&bytes, path).map_err(|err| match err {
            qp_models::ModelError::RuntimeUnavailable { reason } => StudentError::RuntimeUnavailable { reason },
            other => rejected(other.to_string()),
        })?;
        let mut student = Self {
            path: path.to_path_buf(),
            session,
            featurizer: Featurizer::new(model.features)?,
            features: FeatureBuf::new(),
            ids: Vec::with_capacity(crate::features::FEATURE_CAPACITY),
        };
        student.predict("").map_err(|e| rejected(e.to_string()))?;
        tracing::debug!(path = %path.display(), "student loaded into ONNX Runtime");
        Ok(student)
    }

    /// The file it was loaded from.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Class probabilities ([`CLASSES`] order) for `text`.
    pub fn predict(&mut self, text: &str) -> Result<[f32; NUM_CLASSES], StudentError> {
        let Self { path, session, featurizer, features, ids } = self;
        featurizer.extract(text, features);
        ids.clear();
        ids.extend(features.as_slice().iter().map(|&id| i64::from(id)));
        let failed = |message: String| StudentError::RuntimeInference { path: path.clone(), message };
        let input = ort::value::TensorRef::from_array_view(([1usize, ids.len()], ids.as_slice()))
            .map_err(|e| failed(e.to_string()))?;
        let outputs = session.run(ort::inputs![input]).map_err(|e| failed(e.to_string()))?;
        let value = outputs.get(OUTPUT_NAME).ok_or_else(|| failed(format!("no output `{OUTPUT_NAME}`")))?;
        let (_, data) = value.try_extract_tensor::<f32>().map_err(|e| failed(e.to_string()))?;
        <[f32; NUM_CLASSES]>::try_from(data)
            .map_err(|_| failed(format!("output has {} values, expected 3", data.len())))
    }
}
