use std::collections::HashMap;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::hash::fnv1a64;
use crate::{EMBEDDING_DIM, Embedding, Encoder, TeacherError, text_hash128};

const MAGIC: &[u8; 8] = b"QPTEMBC\0";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 32;
const VECTOR_LEN: usize = EMBEDDING_DIM * 4;
const RECORD_LEN: usize = 16 + VECTOR_LEN + 8;
/// Texts embedded between two saves in [`EmbeddingCache::get_or_embed`].
const SAVE_EVERY: usize = 2048;

/// Persistent, append-only cache of sentence embeddings keyed by (teacher fingerprint, text hash).
///
/// File layout (little-endian): a 32-byte header — magic `QPTEMBC\0`, version `u32` = 1, dimension
/// `u32` = 384, teacher fingerprint `u64`, 8 reserved zero bytes — then 1,560-byte records: the text's
/// 128-bit FNV-1a hash (`u128`), 384 `f32`, and an FNV-1a-64 checksum of the preceding 1,552 bytes.
/// A key written twice: the later record wins.
///
/// Damage policy: a file that is not a cache (bad magic, version, dimension) or has a record whose
/// checksum fails is a [`TeacherError::CacheCorrupt`]; a cache of another teacher is a
/// [`TeacherError::CacheForeign`]. Both are errors, never silently used: delete the file to start over.
/// Only an incomplete last record (an interrupted append) is dropped with a warning, and cut off at the
/// next [`save`](Self::save).
#[derive(Debug)]
pub struct EmbeddingCache {
    path: PathBuf,
    fingerprint: u64,
    entries: HashMap<u128, Embedding>,
    pending: Vec<u128>,
    /// Bytes of the file that hold a valid header and whole records (0: no file yet).
    valid_len: u64,
}

impl EmbeddingCache {
    /// Open the cache at `path` for the teacher `fingerprint` (see [`Encoder::fingerprint`]); a missing
    /// file gives an empty cache, created at the first [`save`](Self::save).
    pub fn load(path: &Path, fingerprint: u64) -> Result<Self, TeacherError> {
        let mut cache =
            Self { path: path.to_owned(), fingerprint, entries: HashMap::new(), pending: Vec::new(), valid_len: 0 };
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(cache),
            Err(source) => return Err(TeacherError::Io { path: path.to_owned(), source }),
        };
        let corrupt = |detail: String| TeacherError::CacheCorrupt { path: path.to_owned(), detail };
        let header = bytes
            .get(..HEADER_LEN)
            .ok_or_else(|| corrupt(format!("{} bytes, shorter than the header", bytes.len())))?;
        if &header[..8] != MAGIC {
            return Err(corrupt("bad magic".to_owned()));
        }
        let version = u32_at(header, 8);
        if version != VERSION {
            return Err(corrupt(format!("version {version}, expected {VERSION}")));
        }
        let dim = u32_at(header, 12);
        if dim as usize != EMBEDDING_DIM {
            return Err(corrupt(format!("dimension {dim}, expected {EMBEDDING_DIM}")));
        }
        let found = u64_at(header, 16);
        if found != fingerprint {
            return Err(TeacherError::CacheForeign { path: path.to_owned(), expected: fingerprint, found });
        }
        let body = &bytes[HEADER_LEN..];
        let whole = body.len() / RECORD_LEN;
        for (i, record) in body.chunks_exact(RECORD_LEN).enumerate() {
            let (payload, checksum) = record.split_at(RECORD_LEN - 8);
            if fnv1a64(payload) != u64_at(checksum, 0) {
                return Err(corrupt(format!("record {i} (of {whole}) fails its checksum")));
            }
            let key = u128::from_le_bytes(array_at(payload, 0));
            let mut emb = [0f32; EMBEDDING_DIM];
            for (k, v) in emb.iter_mut().enumerate() {
                *v = f32::from_le_bytes(array_at(payload, 16 + 4 * k));
            }
            cache.entries.insert(key, emb);
        }
        let torn = body.len() % RECORD_LEN;
        if torn != 0 {
            tracing::warn!(path = %path.display(), bytes = torn, "embedding cache ends in an incomplete record (interrupted write?); dropping it");
        }
        cache.valid_len = (HEADER_LEN + whole * RECORD_LEN) as u64;
        tracing::debug!(path = %path.display(), entries = cache.entries.len(), "embedding cache loaded");
        Ok(cache)
    }

    /// The cached embedding of `text`, if any.
    pub fn get(&self, text: &str) -> Option<Embedding> {
        self.entries.get(&text_hash128(text)).copied()
    }

    /// Remember `embedding` for `text` (written at the next [`save`](Self::save)).
    pub fn insert(&mut self, text: &str, embedding: Embedding) {
        let key = text_hash128(text);
        if self.entries.insert(key, embedding) != Some(embedding) {
            self.pending.push(key);
        }
    }

    /// Number of cached texts.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The teacher fingerprint this cache belongs to.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append the entries inserted since the last save (creating the file and its folder if needed).
    pub fn save(&mut self) -> Result<(), TeacherError> {
        if self.pending.is_empty() && self.valid_len != 0 {
            return Ok(());
        }
        let io = |source: std::io::Error| TeacherError::Io { path: self.path.clone(), source };
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let mut file =
            std::fs::OpenOptions::new().create(true).write(true).truncate(false).open(&self.path).map_err(io)?;
        let mut buf = Vec::with_capacity(HEADER_LEN + self.pending.len() * RECORD_LEN);
        if self.valid_len == 0 {
            buf.extend_from_slice(MAGIC);
            buf.extend_from_slice(&VERSION.to_le_bytes());
            buf.extend_from_slice(&(EMBEDDING_DIM as u32).to_le_bytes());
            buf.extend_from_slice(&self.fingerprint.to_le_bytes());
            buf.extend_from_slice(&[0u8; 8]);
        }
        for key in &self.pending {
            let Some(emb) = self.entries.get(key) else { continue };
            let start = buf.len();
            buf.extend_from_slice(&key.to_le_bytes());
            for v in emb {
                buf.extend_from_slice(&v.to_le_bytes());
            }
            let checksum = fnv1a64(&buf[start..]);
            buf.extend_from_slice(&checksum.to_le_bytes());
        }
        // Cut off anything past the last whole record (a torn append) before writing.
        file.set_len(self.valid_len).map_err(io)?;
        file.seek(SeekFrom::Start(self.valid_len)).map_err(io)?;
        file.write_all(&buf).map_err(io)?;
        file.sync_data().map_err(io)?;
        self.valid_len += buf.len() as u64;
        self.pending.clear();
        Ok(())
    }

    /// Embeddings of `texts` in order: cached ones are reused, the others computed with `encoder`,
    /// inserted, and saved every 2,048 texts and at the end. `progress` gets (texts done, total),
    /// counting cached texts as done. Errors if `encoder` is not the teacher this cache belongs to.
    pub fn get_or_embed(
        &mut self,
        encoder: &Encoder,
        texts: &[&str],
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<Embedding>, TeacherError> {
        if encoder.fingerprint() != self.fingerprint {
            return Err(TeacherError::CacheForeign {
                path: self.path.clone(),
                expected: encoder.fingerprint(),
                found: self.fingerprint,
            });
        }
        let mut out: Vec<Option<Embedding>> = texts.iter().map(|t| self.get(t)).collect();
        let mut missing: Vec<usize> = (0..texts.len()).filter(|&i| out[i].is_none()).collect();
        // Duplicates are embedded once.
        missing.sort_by_key(|&i| texts[i]);
        missing.dedup_by_key(|&mut i| texts[i]);
        let total = texts.len();
        let mut done = total - missing.len();
        progress(done, total);
        for group in missing.chunks(SAVE_EVERY) {
            let group_texts: Vec<&str> = group.iter().map(|&i| texts[i]).collect();
            let base = done;
            let embeddings = encoder.embed(&group_texts, &mut |d, _| progress(base + d, total))?;
            for (text, emb) in group_texts.iter().zip(embeddings) {
                self.insert(text, emb);
            }
            self.save()?;
            done += group.len();
        }
        for (slot, text) in out.iter_mut().zip(texts) {
            if slot.is_none() {
                *slot = self.get(text);
            }
        }
        out.into_iter()
            .enumerate()
            .map(|(i, e)| e.ok_or_else(|| TeacherError::InvalidInput(format!("text {i} was not embedded"))))
            .collect()
    }
}

fn array_at<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[at..at + N]);
    out
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(array_at(bytes, at))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(array_at(bytes, at))
}
