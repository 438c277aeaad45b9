//! Planning a flash: what the image is, what the target is, what is on it now, and every
//! refusal, all before a byte is written.

use std::fs::{self, File, Metadata};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use crate::error::FlashError;
use crate::gpt::{self, ExistingContents, GptPartition, GptProbe, IMAGE_SECTOR_BYTES, human_bytes};
use crate::host::{self, BlockDeviceInfo, DeviceNumber, Host};

/// What kind of thing the target is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetKind {
    /// Does not exist yet; created with the image's length.
    NewFile,
    /// An existing file of `bytes` bytes; truncated and rewritten to the image's length.
    RegularFile { bytes: u64 },
    /// A whole-disk block device; written from its first byte, never truncated.
    BlockDevice(BlockDeviceInfo),
}

/// Which file or device the target path named when it was inspected, to notice a path that
/// comes to name something else before writing (a disk unplugged and another plugged in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetIdentity {
    NewFile,
    RegularFile { dev: u64, ino: u64 },
    BlockDevice { device: DeviceNumber, size_bytes: u64 },
}

/// Everything decided before writing: a plan is only made when no refusal applies.
#[derive(Debug, Clone)]
pub struct FlashPlan {
    image: PathBuf,
    image_bytes: u64,
    image_partitions: Vec<GptPartition>,
    target: PathBuf,
    kind: TargetKind,
    identity: TargetIdentity,
    existing: ExistingContents,
}

impl FlashPlan {
    /// Inspects `image` and `target` against this host's `/sys` and mount table.
    pub fn inspect(image: &Path, target: &Path) -> Result<Self, FlashError> {
        Self::inspect_with(image, target, &Host::current()?)
    }

    /// Inspects `image` and `target` against the given sysfs tree and mount table.
    pub fn inspect_with(image: &Path, target: &Path, host: &Host) -> Result<Self, FlashError> {
        let image_error = |source| FlashError::ImageUnreadable { image: image.to_owned(), source };
        let image_metadata = fs::metadata(image).map_err(image_error)?;
        if !image_metadata.is_file() {
            return Err(FlashError::ImageNotRegularFile { image: image.to_owned() });
        }
        let image_bytes = image_metadata.len();
        let image_partitions = read_image_gpt(image, image_bytes)?;

        let target_metadata = match fs::metadata(target) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return plan_new_file(image, image_bytes, image_partitions, target);
            }
            Err(source) => return Err(FlashError::TargetUnreadable { target: target.to_owned(), source }),
        };
        if same_inode(&image_metadata, &target_metadata) {
            return Err(FlashError::TargetIsImage { target: target.to_owned() });
        }

        let file_type = target_metadata.file_type();
        let (kind, identity, sector_bytes) = if file_type.is_file() {
            let identity = TargetIdentity::RegularFile { dev: target_metadata.dev(), ino: target_metadata.ino() };
            (TargetKind::RegularFile { bytes: target_metadata.len() }, identity, IMAGE_SECTOR_BYTES)
        } else if file_type.is_block_device() {
            let device = DeviceNumber::from_dev_t(target_metadata.rdev());
            let info = host.sysfs.block_device(target, device)?;
            host::check_block_device(target, &info, &host.mounts, image_bytes)?;
            let identity = TargetIdentity::BlockDevice { device, size_bytes: info.size_bytes };
            let sector_bytes = info.logical_sector_bytes;
            (TargetKind::BlockDevice(info), identity, sector_bytes)
        } else {
            return Err(FlashError::UnsupportedTargetKind {
                target: target.to_owned(),
                kind: kind_name(&target_metadata),
            });
        };

        let target_bytes = match &kind {
            TargetKind::BlockDevice(info) => info.size_bytes,
            _ => target_metadata.len(),
        };
        let existing = read_existing(target, target_bytes, sector_bytes)?;
        Ok(Self {
            image: image.to_owned(),
            image_bytes,
            image_partitions,
            target: target.to_owned(),
            kind,
            identity,
            existing,
        })
    }

    pub fn image(&self) -> &Path {
        &self.image
    }

    pub fn image_bytes(&self) -> u64 {
        self.image_bytes
    }

    /// The image's own partitions, from its GPT.
    pub fn image_partitions(&self) -> &[GptPartition] {
        &self.image_partitions
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    pub fn target_kind(&self) -> &TargetKind {
        &self.kind
    }

    pub fn target_identity(&self) -> TargetIdentity {
        self.identity
    }

    /// What the target holds now.
    pub fn existing_contents(&self) -> &ExistingContents {
        &self.existing
    }

    /// What will be overwritten, for the operator to read before saying yes.
    pub fn describe(&self) -> String {
        let image_layout = ExistingContents::Gpt(self.image_partitions.clone());
        let target_line = match &self.kind {
            TargetKind::NewFile => "a new file".to_owned(),
            TargetKind::RegularFile { bytes } => format!("regular file, {}", human_bytes(*bytes)),
            TargetKind::BlockDevice(info) => info.summary(),
        };
        let consequence = match &self.kind {
            TargetKind::NewFile => "It will be created with the image's contents.".to_owned(),
            TargetKind::RegularFile { .. } => {
                "Everything in it will be replaced; it will be exactly as long as the image.".to_owned()
            }
            TargetKind::BlockDevice(info) => format!(
                "Its first {} will be overwritten and its current partition table destroyed{}.",
                human_bytes(self.image_bytes),
                if info.size_bytes > self.image_bytes {
                    " (beyond the image only the old backup GPT header in the last sector is erased)"
                } else {
                    ""
                }
            ),
        };
        format!(
            "image:  {} ({}, {image_layout})\ntarget: {} ({target_line})\non it now: {}\n{consequence}",
            self.image.display(),
            human_bytes(self.image_bytes),
            self.target.display(),
            self.existing,
        )
    }
}

/// The image must be what `qpctl image build` writes: a protective MBR and a sound primary GPT
/// header at LBA 1 with 512-byte sectors. Returns its partitions, for the plan's description.
fn read_image_gpt(image: &Path, image_bytes: u64) -> Result<Vec<GptPartition>, FlashError> {
    let image_error = |source| FlashError::ImageUnreadable { image: image.to_owned(), source };
    let not_gpt = |reason| FlashError::NotGptImage { image: image.to_owned(), reason };
    let mut file = File::open(image).map_err(image_error)?;
    if !gpt::has_protective_mbr(&mut file, image_bytes).map_err(image_error)? {
        return Err(not_gpt("no protective MBR (boot signature 0x55AA and a 0xEE partition record) in sector 0"));
    }
    match gpt::probe_gpt(&mut file, image_bytes, IMAGE_SECTOR_BYTES).map_err(image_error)? {
        GptProbe::Valid(partitions) => Ok(partitions),
        GptProbe::Absent => Err(not_gpt("no \"EFI PART\" header at LBA 1")),
        GptProbe::Damaged(reason) => Err(not_gpt(reason)),
    }
}

fn plan_new_file(
    image: &Path,
    image_bytes: u64,
    image_partitions: Vec<GptPartition>,
    target: &Path,
) -> Result<FlashPlan, FlashError> {
    // `/dev/sdz` that does not exist is a mistyped disk, not a request for a file in devtmpfs.
    if target.components().take(2).eq([Component::RootDir, Component::Normal("dev".as_ref())]) {
        return Err(FlashError::NoSuchDevice { target: target.to_owned() });
    }
    let folder = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    if !folder.is_dir() {
        return Err(FlashError::TargetFolderMissing { target: target.to_owned(), folder });
    }
    Ok(FlashPlan {
        image: image.to_owned(),
        image_bytes,
        image_partitions,
        target: target.to_owned(),
        kind: TargetKind::NewFile,
        identity: TargetIdentity::NewFile,
        existing: ExistingContents::NewFile,
    })
}

fn read_existing(target: &Path, target_bytes: u64, sector_bytes: u64) -> Result<ExistingContents, FlashError> {
    let target_error = |source| FlashError::TargetUnreadable { target: target.to_owned(), source };
    let mut file = File::open(target).map_err(target_error)?;
    gpt::identify_contents(&mut file, target_bytes, sector_bytes).map_err(target_error)
}

fn same_inode(a: &Metadata, b: &Metadata) -> bool {
    a.dev() == b.dev() && a.ino() == b.ino()
}

fn kind_name(metadata: &Metadata) -> &'static str {
    let file_type = metadata.file_type();
    if file_type.is_char_device() {
        "character device"
    } else if file_type.is_dir() {
        "directory"
    } else if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_socket() {
        "socket"
    } else {
        "special file"
    }
}
