use std::path::Path;

use crate::{EmbeddingCache, Encoder, FINE_TUNED_HEAD_FILE, Head, NUM_CLASSES, TeacherError};

/// A complete teacher: encoder and head, as written by [`crate::fine_tune`] into one folder.
#[derive(Debug)]
pub struct Teacher {
    pub encoder: Encoder,
    pub head: Head,
}

impl Teacher {
    /// Load the encoder from `dir` and the head from `dir/head.json`.
    pub fn load(dir: &Path) -> Result<Self, TeacherError> {
        Ok(Self { encoder: Encoder::load(dir)?, head: Head::load(&dir.join(FINE_TUNED_HEAD_FILE))? })
    }

    /// Class probabilities (bearish, bullish, neutral) of each text: the soft labels for distillation.
    /// With a cache (of this teacher's fingerprint), embeddings are reused and new ones saved.
    pub fn soft_labels(
        &self,
        texts: &[&str],
        cache: Option<&mut EmbeddingCache>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<[f32; NUM_CLASSES]>, TeacherError> {
        let embeddings = match cache {
            Some(cache) => cache.get_or_embed(&self.encoder, texts, progress)?,
            None => self.encoder.embed(texts, progress)?,
        };
        Ok(embeddings.iter().map(|e| self.head.probabilities(e)).collect())
    }
}
