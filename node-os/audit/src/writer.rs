//! Appending to the audit trail.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::format::{
    BODY_OFFSET, EntryKind, HASH_BYTES, MAX_BODY_BYTES, MAX_MODEL_NAME_BYTES, NO_MODEL, encode_header, seal_digest,
    sha256,
};
use qp_node_key::{NodeSigner, SignError};

/// When the writer seals the chain on its own (it always seals on [`AuditWriter::finish`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealPolicy {
    /// Seal after this many unsealed entries (a file key signs in ~30 µs, a TPM in ~10 ms:
    /// see DESIGN.md for the trade-off). 0 = only when asked.
    pub every_entries: u32,
}

impl Default for SealPolicy {
    fn default() -> Self {
        Self { every_entries: 1024 }
    }
}

/// The entry number of a Model entry: frames name the model that made them by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelRef(pub u64);

/// Writing the trail failed. The writer does not go on after an error: the chain on disk may
/// be torn, and a torn chain must not be extended.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit trail {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("audit trail: model name of {len} bytes (at most {MAX_MODEL_NAME_BYTES})")]
    ModelNameTooLong { len: usize },
    #[error("audit trail: a frame of {len} bytes does not fit an entry")]
    FrameTooLong { len: usize },
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error("audit trail: an earlier write failed, so the writer has stopped")]
    Poisoned,
}

/// Appends entries to one trail. Each entry is hashed into the chain as it is written; a seal
/// signs the chain head.
#[derive(Debug)]
pub struct AuditWriter<W: Write, S: NodeSigner> {
    out: W,
    path: PathBuf,
    signer: S,
    head: [u8; HASH_BYTES],
    next_seq: u64,
    unsealed: u32,
    policy: SealPolicy,
    entry: Vec<u8>,
    poisoned: bool,
}

impl<S: NodeSigner> AuditWriter<BufWriter<File>, S> {
    /// Starts a new trail at `path`; never overwrites an existing file.
    pub fn create(path: &Path, node_id: u32, signer: S, policy: SealPolicy) -> Result<Self, AuditError> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|source| AuditError::Io { path: path.to_owned(), source })?;
        Self::new(BufWriter::new(file), path, node_id, signer, policy)
    }
}

impl<W: Write, S: NodeSigner> AuditWriter<W, S> {
    /// Starts a trail on `out` (`path` names it in errors) by writing the file header.
    pub fn new(mut out: W, path: &Path, node_id: u32, signer: S, policy: SealPolicy) -> Result<Self, AuditError> {
        let header = encode_header(node_id, &signer.public_key());
        out.write_all(&header).map_err(|source| AuditError::Io { path: path.to_owned(), source })?;
        Ok(Self {
            out,
            path: path.to_owned(),
            signer,
            head: sha256(&header),
            next_seq: 0,
            unsealed: 0,
            policy,
            entry: Vec::with_capacity(BODY_OFFSET + MAX_BODY_BYTES + HASH_BYTES),
            poisoned: false,
        })
    }

    /// Entries written so far (seals included).
    pub fn entries(&self) -> u64 {
        self.next_seq
    }

    /// The hash of the last entry written (of the header before any).
    pub fn chain_head(&self) -> [u8; HASH_BYTES] {
        self.head
    }

    /// Records that the model `name`, whose file hashes to `file_sha256`, is in use.
    pub fn record_model(
        &mut self,
        time_ns: u64,
        name: &str,
        file_sha256: &[u8; HASH_BYTES],
    ) -> Result<ModelRef, AuditError> {
        if name.len() > MAX_MODEL_NAME_BYTES {
            return Err(AuditError::ModelNameTooLong { len: name.len() });
        }
        let seq = self.next_seq;
        self.append(EntryKind::Model, time_ns, |body| {
            body.extend_from_slice(file_sha256);
            body.extend_from_slice(&(name.len() as u16).to_le_bytes());
            body.extend_from_slice(name.as_bytes());
        })?;
        Ok(ModelRef(seq))
    }

    /// Hashes the model file at `path` and records it (the measurement the TPM issue extends
    /// into a PCR as well).
    pub fn measure_model_file(&mut self, time_ns: u64, name: &str, path: &Path) -> Result<ModelRef, AuditError> {
        let digest = sha256_file(path)?;
        self.record_model(time_ns, name, &digest)
    }

    /// Records a wire frame (a decision, verdict, order intent or execution report) and the
    /// model behind it, if any. Returns the entry's number.
    pub fn record_frame(&mut self, time_ns: u64, frame: &[u8], model: Option<ModelRef>) -> Result<u64, AuditError> {
        if frame.len() + 8 > MAX_BODY_BYTES {
            return Err(AuditError::FrameTooLong { len: frame.len() });
        }
        let seq = self.next_seq;
        let model_ref = model.map_or(NO_MODEL, |model| model.0);
        self.append(EntryKind::Frame, time_ns, |body| {
            body.extend_from_slice(&model_ref.to_le_bytes());
            body.extend_from_slice(frame);
        })?;
        if self.policy.every_entries != 0 && self.unsealed >= self.policy.every_entries {
            self.seal(time_ns)?;
        }
        Ok(seq)
    }

    /// Signs the chain head now and flushes the file.
    pub fn seal(&mut self, time_ns: u64) -> Result<(), AuditError> {
        let digest = seal_digest(self.next_seq, &self.head);
        let signature = match self.signer.sign_digest(&digest) {
            Ok(signature) => signature,
            Err(err) => {
                self.poisoned = true;
                return Err(err.into());
            }
        };
        let key_id = self.signer.public_key().key_id();
        self.append(EntryKind::Seal, time_ns, |body| {
            body.extend_from_slice(&key_id);
            body.extend_from_slice(&signature);
        })?;
        self.unsealed = 0;
        self.flush()
    }

    /// Seals what is unsealed, flushes, and hands back the output.
    pub fn finish(mut self, time_ns: u64) -> Result<W, AuditError> {
        if self.unsealed > 0 || self.next_seq == 0 {
            self.seal(time_ns)?;
        }
        self.flush()?;
        Ok(self.out)
    }

    fn flush(&mut self) -> Result<(), AuditError> {
        let path = &self.path;
        self.out.flush().map_err(|source| AuditError::Io { path: path.clone(), source })
    }

    fn append(&mut self, kind: EntryKind, time_ns: u64, body: impl FnOnce(&mut Vec<u8>)) -> Result<(), AuditError> {
        if self.poisoned {
            return Err(AuditError::Poisoned);
        }
        let entry = &mut self.entry;
        entry.clear();
        entry.extend_from_slice(&[0u8; 4]);
        entry.push(kind as u8);
        entry.extend_from_slice(&[0u8; 3]);
        entry.extend_from_slice(&self.next_seq.to_le_bytes());
        entry.extend_from_slice(&time_ns.to_le_bytes());
        entry.extend_from_slice(&self.head);
        body(entry);
        let body_len = (entry.len() - BODY_OFFSET) as u32;
        entry[..4].copy_from_slice(&body_len.to_le_bytes());
        let hash = sha256(entry);
        entry.extend_from_slice(&hash);
        if let Err(source) = self.out.write_all(entry) {
            self.poisoned = true;
            return Err(AuditError::Io { path: self.path.clone(), source });
        }
        self.head = hash;
        self.next_seq += 1;
        if kind != EntryKind::Seal {
            self.unsealed += 1;
        }
        Ok(())
    }
}

/// SHA-256 of a file's contents, read in 64 KiB pieces.
pub(crate) fn sha256_file(path: &Path) -> Result<[u8; HASH_BYTES], AuditError> {
    use sha2::Digest;
    let io = |source| AuditError::Io { path: path.to_owned(), source };
    let mut file = File::open(path).map_err(io)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            return Ok(hasher.finalize().into());
        }
        hasher.update(&buf[..n]);
    }
}
