//! Reading a model file with a size cap, so a huge or endless file (a FIFO,
//! `/dev/zero`) is an error instead of an out-of-memory.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::ModelError;

/// Largest model file accepted, in bytes (64 MiB: agents run small models;
/// the cap bounds what a hostile file can make the loader allocate).
pub const MAX_MODEL_FILE_BYTES: u64 = 64 << 20;

/// Why [`read_capped`] failed; callers wrap it with the file's name.
#[derive(Debug)]
pub enum CappedReadError {
    Io(std::io::Error),
    /// The file holds more than the cap (`len` is what was seen).
    TooLarge {
        len: u64,
    },
}

/// Reads the whole file at `path`, refusing more than `limit` bytes. The
/// metadata length is a hint only (the file may grow, or be a device): `take`
/// enforces the cap on what is actually read, so a hostile file cannot make
/// the loader allocate more.
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, CappedReadError> {
    let file = File::open(path).map_err(CappedReadError::Io)?;
    let len = file.metadata().map_err(CappedReadError::Io)?.len();
    if len > limit {
        return Err(CappedReadError::TooLarge { len });
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(limit + 1).read_to_end(&mut bytes).map_err(CappedReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(CappedReadError::TooLarge { len: bytes.len() as u64 });
    }
    Ok(bytes)
}

/// Reads the whole model file at `path`; every error names it.
pub(crate) fn read_model_file(path: &Path) -> Result<Vec<u8>, ModelError> {
    read_capped(path, MAX_MODEL_FILE_BYTES).map_err(|err| match err {
        CappedReadError::Io(source) => ModelError::Io { path: path.to_path_buf(), source },
        CappedReadError::TooLarge { len } => {
            ModelError::FileTooLarge { path: path.to_path_buf(), len, limit: MAX_MODEL_FILE_BYTES }
        }
    })
}
