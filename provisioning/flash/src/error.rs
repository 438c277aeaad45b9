//! Every way a flash can be refused or fail, each a one-line message that names the path.

use std::io;
use std::path::PathBuf;

/// Why a flash was refused before writing, or how far it got when it failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FlashError {
    /// The image could not be opened, examined or read while planning.
    #[error("cannot read image {}: {source}", image.display())]
    ImageUnreadable { image: PathBuf, source: io::Error },

    /// The image is a directory, a device or something else that is not a plain file.
    #[error("image {} is not a regular file", image.display())]
    ImageNotRegularFile { image: PathBuf },

    /// The image lacks a protective MBR or a GPT header where `qpctl image build` puts them.
    #[error("image {} is not a GPT disk image: {reason}", image.display())]
    NotGptImage { image: PathBuf, reason: &'static str },

    /// The target could not be examined (stat, open or read of its first sectors).
    #[error("cannot examine target {}: {source}", target.display())]
    TargetUnreadable { target: PathBuf, source: io::Error },

    /// A path under `/dev` that does not exist: most likely a mistyped device name, and
    /// creating a plain file there would fill a RAM-backed file system instead.
    #[error("target {} does not exist; refusing to create a file under /dev (wrong device name?)", target.display())]
    NoSuchDevice { target: PathBuf },

    /// A new file's folder is missing.
    #[error("target {} cannot be created: folder {} does not exist", target.display(), folder.display())]
    TargetFolderMissing { target: PathBuf, folder: PathBuf },

    /// A character device, directory, FIFO or socket: nothing a disk image can be written to.
    #[error("target {} is a {kind}; it must be a block device or a regular file", target.display())]
    UnsupportedTargetKind { target: PathBuf, kind: &'static str },

    /// The target and the image are the same file (same device and inode).
    #[error("target {} is the image itself", target.display())]
    TargetIsImage { target: PathBuf },

    /// The whole image would not fit.
    #[error(
        "target {} is too small: {target_bytes} bytes, the image needs {image_bytes} bytes",
        target.display()
    )]
    TargetTooSmall { target: PathBuf, target_bytes: u64, image_bytes: u64 },

    /// The target is one partition of a disk; a whole-disk image belongs on the disk.
    #[error("target {} is partition {device}, not a whole disk; name the disk instead", target.display())]
    TargetIsPartition { target: PathBuf, device: String },

    /// The kernel marks the device read-only (for example an SD card's lock switch).
    #[error("target {} is read-only ({device})", target.display())]
    TargetReadOnly { target: PathBuf, device: String },

    /// The target, one of its partitions or a device stacked on it is mounted or in use as swap.
    #[error("target {} is mounted: {device} on {mount_point}", target.display())]
    TargetMounted { target: PathBuf, device: String, mount_point: String },

    /// A device-mapper, RAID or LVM device is stacked on the target or one of its partitions.
    #[error("target {} is in use: {device} is held by {holder}", target.display())]
    TargetHeld { target: PathBuf, device: String, holder: String },

    /// The disk's logical sectors differ from the image's 512-byte sectors, so the image's
    /// partition table would point at the wrong places.
    #[error(
        "target {} has {target_sector_bytes}-byte logical sectors; the image's GPT uses {image_sector_bytes}-byte sectors",
        target.display()
    )]
    SectorSizeMismatch { target: PathBuf, target_sector_bytes: u64, image_sector_bytes: u64 },

    /// A sysfs entry of the target's block device could not be read.
    #[error("cannot read {} for target {}: {source}", entry.display(), target.display())]
    SysfsUnreadable { target: PathBuf, entry: PathBuf, source: io::Error },

    /// The mount table (or swap list) could not be read.
    #[error("cannot read mount table {}: {source}", table.display())]
    MountTableUnreadable { table: PathBuf, source: io::Error },

    /// A mount table line without the fields `/proc/self/mountinfo` always has; refusing rather
    /// than guessing, since a missed mount would let the target be overwritten under it.
    #[error("mount table line {line_number} is malformed: {line}")]
    MountTableMalformed { line_number: usize, line: String },

    /// Between planning and writing, the target path came to name another device or file.
    #[error("target {} changed since it was inspected: {what}", target.display())]
    TargetChanged { target: PathBuf, what: String },

    /// The operator answered no.
    #[error("not confirmed; nothing was written to {}", target.display())]
    NotConfirmed { target: PathBuf },

    /// The target could not be opened for writing.
    #[error("cannot open target {} for writing: {source}", target.display())]
    TargetOpen { target: PathBuf, source: io::Error },

    /// Writing stopped part way: the target now holds a partial image.
    #[error("writing {} stopped after {written} of {total} bytes: {source}", target.display())]
    WriteInterrupted { target: PathBuf, written: u64, total: u64, source: io::Error },

    /// Reading the image stopped part way (the image shrank or its disk failed).
    #[error(
        "reading image {} stopped after {written} of {total} bytes had been written to {}: {source}",
        image.display(),
        target.display()
    )]
    ImageReadInterrupted { image: PathBuf, target: PathBuf, written: u64, total: u64, source: io::Error },

    /// The image was written, but zeroing the old table's backup GPT header at the disk's end failed.
    #[error("the image was written to {} but erasing the old backup GPT in its last sector failed: {source}", target.display())]
    BackupGptEraseFailed { target: PathBuf, source: io::Error },

    /// Flushing the written bytes to stable storage failed; the bytes may not have reached it.
    #[error("flushing {} to stable storage failed after writing {written} bytes: {source}", target.display())]
    SyncFailed { target: PathBuf, written: u64, source: io::Error },

    /// Reading the target back for the hash check stopped part way.
    #[error("reading {} back stopped after {read} of {total} bytes: {source}", target.display())]
    ReadBackFailed { target: PathBuf, read: u64, total: u64, source: io::Error },

    /// What was read back is not what was written.
    #[error("read-back of {} does not match: wrote sha256 {expected}, read back sha256 {found}", target.display())]
    VerifyMismatch { target: PathBuf, expected: String, found: String },

    /// The raw write measurement's scratch file could not be written.
    #[error("raw write measurement in {} failed: {source}", path.display())]
    RawWriteFailed { path: PathBuf, source: io::Error },
}
