//! A disk region checked after writing, shared by `qpctl flash` (`qp-flash`) and the A/B updater
//! (`qp-updater`):
//!
//! - [`read_back`]: a file or block device read back from its start past the page cache and its
//!   SHA-256 compared with the one written;
//! - [`measure_raw_write`]: the raw sequential write speed (1 MiB blocks, `fsync`) of a folder's
//!   file system, which a flash or an update is compared with.
#![forbid(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha256};

/// Bytes per write and per read-back read: large enough that system calls cost nothing next to
/// the device.
pub const BLOCK_BYTES: usize = 1 << 20;
const MIB: f64 = (1u64 << 20) as f64;

/// A read-back that matched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReadBack {
    pub seconds: f64,
    /// Whether the kernel accepted dropping the region's cached pages first, so that it read
    /// the device rather than memory (see [`read_back`]).
    pub uncached: bool,
}

/// Why a read-back failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadBackError {
    #[error("reading back failed after {read} bytes: {source}")]
    Read { read: u64, source: io::Error },
    #[error("the bytes read back have another SHA-256")]
    Mismatch { found: [u8; 32] },
}

/// Reads back exactly `bytes` bytes of `path` from its start through a fresh open and compares
/// their SHA-256 with `expected_sha256`.
///
/// A read-back that the page cache answers proves only that the kernel holds the right bytes,
/// not that the device stored them. So before reading, the file's clean cached pages are dropped
/// with `posix_fadvise(POSIX_FADV_DONTNEED)` (through `rustix`, no `unsafe`); the caller flushed
/// its writes with `fsync` first, so every page is clean and can be dropped. The kernel treats
/// that advice as best effort (a page someone else has mapped stays), which
/// [`ReadBack::uncached`] reports only as "accepted". The disk's own cache is beyond reach
/// without `O_DIRECT` and a flush the drive honours: the write path's `fsync` asks for that flush.
pub fn read_back(path: &Path, bytes: u64, expected_sha256: &[u8; 32]) -> Result<ReadBack, ReadBackError> {
    let started = Instant::now();
    let mut file = File::open(path).map_err(|source| ReadBackError::Read { read: 0, source })?;
    let uncached = rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed).is_ok();
    let mut hasher = Sha256::new();
    let mut block = vec![0u8; BLOCK_BYTES];
    let mut read = 0u64;
    while read < bytes {
        let length = (bytes - read).min(BLOCK_BYTES as u64) as usize;
        let chunk = &mut block[..length];
        file.read_exact(chunk).map_err(|source| ReadBackError::Read { read, source })?;
        hasher.update(&*chunk);
        read += length as u64;
    }
    let found: [u8; 32] = hasher.finalize().into();
    if &found != expected_sha256 {
        return Err(ReadBackError::Mismatch { found });
    }
    Ok(ReadBack { seconds: started.elapsed().as_secs_f64(), uncached })
}

/// The raw write measurement failed.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct RawWriteError {
    /// The scratch file.
    pub path: PathBuf,
    pub source: io::Error,
}

/// MiB/s of a plain sequential write of `bytes` bytes (at least one block) in [`BLOCK_BYTES`]
/// blocks plus `fsync`, to a scratch file in `dir` that is removed afterwards.
pub fn measure_raw_write(dir: &Path, bytes: u64) -> Result<f64, RawWriteError> {
    let unique = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let path = dir.join(format!(".qp-raw-write-{}-{unique}", std::process::id()));
    let result = write_scratch(&path, bytes.max(BLOCK_BYTES as u64));
    // The scratch file goes whether or not the measurement worked; a failure to remove it
    // leaves litter, not a wrong figure, so only the measurement's own error is reported.
    let _ = std::fs::remove_file(&path);
    result.map_err(|source| RawWriteError { path, source })
}

fn write_scratch(path: &Path, bytes: u64) -> io::Result<f64> {
    // Not zeros: a file system that compresses or detects zero blocks would measure nothing.
    let block: Vec<u8> = (0..BLOCK_BYTES).map(|i| (i as u8).wrapping_mul(31).wrapping_add(7)).collect();
    let started = Instant::now();
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    let mut written = 0u64;
    while written < bytes {
        let length = (bytes - written).min(BLOCK_BYTES as u64) as usize;
        file.write_all(&block[..length])?;
        written += length as u64;
    }
    file.sync_all()?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(bytes as f64 / MIB / seconds.max(f64::MIN_POSITIVE))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)] // test code
    use super::*;

    #[test]
    fn a_read_back_matches_names_a_mismatch_and_says_how_far_a_short_read_got() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("region");
        let bytes: Vec<u8> = (0..3 * BLOCK_BYTES + 17).map(|i| i as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let sha: [u8; 32] = Sha256::digest(&bytes).into();
        assert!(read_back(&path, bytes.len() as u64, &sha).is_ok());
        // A prefix of a longer region is what an updater reads back from its partition.
        let prefix: [u8; 32] = Sha256::digest(&bytes[..BLOCK_BYTES]).into();
        assert!(read_back(&path, BLOCK_BYTES as u64, &prefix).is_ok());
        assert!(matches!(read_back(&path, bytes.len() as u64, &[0; 32]), Err(ReadBackError::Mismatch { .. })));
        match read_back(&path, bytes.len() as u64 + 1, &sha) {
            Err(ReadBackError::Read { read, .. }) => assert_eq!(read, 3 * BLOCK_BYTES as u64),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn raw_write_speed_is_measured_and_its_scratch_file_removed() {
        let dir = tempfile::tempdir().unwrap();
        assert!(measure_raw_write(dir.path(), 4 * BLOCK_BYTES as u64).unwrap() > 0.0);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let err = measure_raw_write(&dir.path().join("missing"), 1).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
