//! Reading a model file with a size cap, so a huge or endless file (a FIFO,
//! `/dev/zero`) is an error instead of an out-of-memory.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::ModelError;

/// Largest model file accepted, in bytes (64 MiB: agents run small models;
/// the cap bounds what a hostile file can make the loader allocate).
pub const MAX_MODEL_FILE_BYTES: u64 = 64 << 20;

/// Reads the whole file at `path`; every error names it.
pub(crate) fn read_model_file(path: &Path) -> Result<Vec<u8>, ModelError> {
    let io_error = |source| ModelError::Io { path: path.to_path_buf(), source };
    let too_large = |len| ModelError::FileTooLarge { path: path.to_path_buf(), len, limit: MAX_MODEL_FILE_BYTES };
    let file = File::open(path).map_err(io_error)?;
    let len = file.metadata().map_err(io_error)?.len();
    if len > MAX_MODEL_FILE_BYTES {
        return Err(too_large(len));
    }
    // The metadata length is a hint only (the file may grow, or be a device):
    // `take` enforces the cap on what is actually read.
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(MAX_MODEL_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(io_error)?;
    if bytes.len() as u64 > MAX_MODEL_FILE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}
