//! Writing the image, hashing it on the way, flushing it to stable storage, and reading it back.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::error::FlashError;
use crate::gpt::{IMAGE_SECTOR_BYTES, human_bytes};
use crate::host::DeviceNumber;
use crate::plan::{FlashPlan, TargetIdentity, TargetKind};

const MIB: f64 = (1u64 << 20) as f64;

/// What a finished flash did.
#[derive(Debug, Clone, PartialEq)]
pub struct FlashReport {
    pub target: PathBuf,
    /// Bytes written, and read back: the image's length.
    pub bytes: u64,
    /// SHA-256 of the bytes written, equal to that of the bytes read back.
    pub sha256: [u8; 32],
    /// Writing and flushing to stable storage (`fsync`).
    pub write_seconds: f64,
    pub verify_seconds: f64,
    /// `bytes` over `write_seconds`, flush included.
    pub write_mib_per_s: f64,
    /// Whether the kernel accepted dropping the target's cached pages before the read-back, so
    /// that it read the device rather than memory (see [`verify`]).
    pub read_back_uncached: bool,
    /// The target is a disk larger than the image and its last sector held the backup GPT header
    /// of the table just overwritten; it was zeroed (see [`FlashPlan::execute`]).
    pub stale_backup_gpt_erased: bool,
}

impl fmt::Display for FlashReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "wrote {} to {} in {:.2} s ({:.1} MiB/s, flushed), read back and verified in {:.2} s{}{}\nsha256 {}",
            human_bytes(self.bytes),
            self.target.display(),
            self.write_seconds,
            self.write_mib_per_s,
            self.verify_seconds,
            if self.read_back_uncached { "" } else { " (through the page cache)" },
            if self.stale_backup_gpt_erased { "; the old backup GPT at the disk's end was erased" } else { "" },
            hex(&self.sha256),
        )
    }
}

pub use qp_disk_check::{BLOCK_BYTES, ReadBack};

impl FlashPlan {
    /// Writes the image to the target in [`BLOCK_BYTES`] blocks, hashing what it writes, flushes
    /// it to stable storage, then reads back exactly the image's length and compares hashes.
    /// `progress` is called with (bytes written, image bytes) before the first block and after each.
    ///
    /// On a disk larger than the image, the old partition table's backup header in the disk's
    /// last sector survives the image; a repair tool that finds the new primary table damaged
    /// could restore the old layout from it, so that one sector is zeroed when it holds one.
    pub fn execute(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<FlashReport, FlashError> {
        let target = self.target();
        let total = self.image_bytes();
        let mut image = File::open(self.image())
            .map_err(|source| FlashError::ImageUnreadable { image: self.image().to_owned(), source })?;
        let mut output = open_target(self)?;

        let started = Instant::now();
        let mut hasher = Sha256::new();
        let mut block = vec![0u8; BLOCK_BYTES];
        let mut written = 0u64;
        progress(0, total);
        while written < total {
            let length = (total - written).min(BLOCK_BYTES as u64) as usize;
            let chunk = &mut block[..length];
            image.read_exact(chunk).map_err(|source| FlashError::ImageReadInterrupted {
                image: self.image().to_owned(),
                target: target.to_owned(),
                written,
                total,
                source,
            })?;
            hasher.update(&*chunk);
            output.write_all(chunk).map_err(|source| FlashError::WriteInterrupted {
                target: target.to_owned(),
                written,
                total,
                source,
            })?;
            written += length as u64;
            progress(written, total);
        }
        let stale_backup_gpt_erased = match self.target_kind() {
            TargetKind::BlockDevice(info) if info.size_bytes > total => {
                erase_stale_backup_gpt(&mut output, info.size_bytes)
                    .map_err(|source| FlashError::BackupGptEraseFailed { target: target.to_owned(), source })?
            }
            _ => false,
        };
        // For a block device, fsync also asks the disk to empty its write cache.
        output.sync_all().map_err(|source| FlashError::SyncFailed { target: target.to_owned(), written, source })?;
        drop(output);
        let write_seconds = started.elapsed().as_secs_f64();
        let sha256: [u8; 32] = hasher.finalize().into();
        tracing::info!(target = %target.display(), bytes = total, write_seconds, "image written and flushed");

        let read_back = verify(target, total, &sha256)?;
        Ok(FlashReport {
            target: target.to_owned(),
            bytes: total,
            sha256,
            write_seconds,
            verify_seconds: read_back.seconds,
            write_mib_per_s: total as f64 / MIB / write_seconds.max(f64::MIN_POSITIVE),
            read_back_uncached: read_back.uncached,
            stale_backup_gpt_erased,
        })
    }
}

/// Opens the target for writing the way its kind needs, and checks it is still what was planned.
fn open_target(plan: &FlashPlan) -> Result<File, FlashError> {
    let target = plan.target();
    let open_error = |source| FlashError::TargetOpen { target: target.to_owned(), source };
    let changed = |what: String| FlashError::TargetChanged { target: target.to_owned(), what };
    match (plan.target_kind(), plan.target_identity()) {
        (TargetKind::NewFile, _) => {
            // `create_new`: a file that appeared since the plan was made is not ours to replace.
            OpenOptions::new().write(true).create_new(true).open(target).map_err(open_error)
        }
        (TargetKind::RegularFile { .. }, TargetIdentity::RegularFile { dev, ino }) => {
            let file = OpenOptions::new().write(true).open(target).map_err(open_error)?;
            let metadata = file.metadata().map_err(open_error)?;
            if (metadata.dev(), metadata.ino()) != (dev, ino) {
                return Err(changed("it is another file now".to_owned()));
            }
            // Truncated first, so that an interrupted flash leaves a file whose length says how far it got.
            file.set_len(0).map_err(open_error)?;
            Ok(file)
        }
        (TargetKind::BlockDevice(_), TargetIdentity::BlockDevice { device, .. }) => {
            // No truncate (meaningless for a device) and no create: the node must exist. Read too,
            // for the old backup GPT header at the disk's end.
            let file = OpenOptions::new().read(true).write(true).open(target).map_err(open_error)?;
            let metadata = file.metadata().map_err(open_error)?;
            let now = DeviceNumber::from_dev_t(metadata.rdev());
            if !metadata.file_type().is_block_device() || now != device {
                return Err(changed(format!("it was block device {device}, now it is {now}")));
            }
            Ok(file)
        }
        _ => Err(changed("its kind and identity disagree".to_owned())),
    }
}

/// Zeroes the last 512-byte sector of a `disk_bytes`-long disk if it holds a GPT header.
fn erase_stale_backup_gpt(disk: &mut File, disk_bytes: u64) -> io::Result<bool> {
    let last_sector = disk_bytes.saturating_sub(IMAGE_SECTOR_BYTES);
    let mut sector = [0u8; IMAGE_SECTOR_BYTES as usize];
    disk.seek(SeekFrom::Start(last_sector))?;
    disk.read_exact(&mut sector)?;
    if !sector.starts_with(b"EFI PART") {
        return Ok(false);
    }
    disk.seek(SeekFrom::Start(last_sector))?;
    disk.write_all(&[0u8; IMAGE_SECTOR_BYTES as usize])?;
    tracing::info!(offset = last_sector, "erased the previous table's backup GPT header");
    Ok(true)
}

/// Reads back exactly `bytes` bytes of `target` past the page cache and compares their SHA-256
/// with `expected_sha256` (`qp_disk_check::read_back`, which says how far "uncached" goes).
pub fn verify(target: &Path, bytes: u64, expected_sha256: &[u8; 32]) -> Result<ReadBack, FlashError> {
    qp_disk_check::read_back(target, bytes, expected_sha256).map_err(|err| match err {
        qp_disk_check::ReadBackError::Read { read, source } => {
            FlashError::ReadBackFailed { target: target.to_owned(), read, total: bytes, source }
        }
        qp_disk_check::ReadBackError::Mismatch { found } => {
            FlashError::VerifyMismatch { target: target.to_owned(), expected: hex(expected_sha256), found: hex(&found) }
        }
    })
}

/// MiB/s of a plain sequential write of `bytes` bytes in [`BLOCK_BYTES`] blocks plus `fsync`, to a
/// scratch file in `target_dir` that is removed afterwards (`qp_disk_check::measure_raw_write`):
/// the raw speed a flash can be compared with.
pub fn measure_raw_write(target_dir: &Path, bytes: u64) -> Result<f64, FlashError> {
    qp_disk_check::measure_raw_write(target_dir, bytes)
        .map_err(|err| FlashError::RawWriteFailed { path: err.path, source: err.source })
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
