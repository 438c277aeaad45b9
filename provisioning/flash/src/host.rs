//! What the host says about a block device: its sysfs entry (size, model, partitions, devices
//! stacked on it) and the mount table. Both are injectable ([`Sysfs::at`],
//! [`MountTable::from_mountinfo`]) so the refusals can be tested without real disks.

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::FlashError;
use crate::gpt::{IMAGE_SECTOR_BYTES, human_bytes};

/// sysfs reports every block device's `size` in 512-byte units, whatever its sector size.
const SYSFS_SIZE_UNIT: u64 = 512;
/// How deep device stacks are followed (dm-crypt on LVM on RAID is three).
const MAX_STACK_DEPTH: usize = 8;

/// A device number, as in `/sys/dev/block/MAJOR:MINOR` and the mount table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceNumber {
    pub major: u32,
    pub minor: u32,
}

impl DeviceNumber {
    /// Splits `st_rdev`/`st_dev` the way glibc's `gnu_dev_major`/`gnu_dev_minor` do.
    pub fn from_dev_t(dev: u64) -> Self {
        let major = ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0000_0fff);
        let minor = ((dev >> 12) & 0xffff_ff00) | (dev & 0x0000_00ff);
        Self { major: major as u32, minor: minor as u32 }
    }

    /// Parses `MAJOR:MINOR` (a sysfs `dev` file, a mount table field).
    pub fn parse(text: &str) -> Option<Self> {
        let (major, minor) = text.trim().split_once(':')?;
        Some(Self { major: major.parse().ok()?, minor: minor.parse().ok()? })
    }
}

impl fmt::Display for DeviceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.major, self.minor)
    }
}

/// A sysfs tree: `/sys` on a host, a folder built by a test otherwise.
#[derive(Debug, Clone)]
pub struct Sysfs {
    root: PathBuf,
}

/// A block device named in sysfs: a partition, or a device stacked on the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysfsDevice {
    /// The kernel's name (`sdb1`, `dm-0`).
    pub name: String,
    pub device: DeviceNumber,
}

/// A device stacked on the target or one of its partitions (device-mapper, md RAID, LVM),
/// from a `holders/` folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub name: String,
    pub device: DeviceNumber,
    /// The kernel's name of the device it holds (the target or one of its partitions).
    pub holds: String,
}

/// What sysfs says about a target block device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockDeviceInfo {
    /// The kernel's name (`sdb`, `nvme0n1`, `loop3`).
    pub name: String,
    pub device: DeviceNumber,
    pub size_bytes: u64,
    /// `queue/logical_block_size`; 512 when sysfs does not say.
    pub logical_sector_bytes: u64,
    pub model: Option<String>,
    pub vendor: Option<String>,
    /// sysfs has a `partition` file: this is one partition of a disk.
    pub is_partition: bool,
    pub read_only: bool,
    pub removable: bool,
    pub partitions: Vec<SysfsDevice>,
    /// Every device stacked on the target or its partitions, transitively.
    pub holders: Vec<Holder>,
}

impl Sysfs {
    /// The host's `/sys`.
    pub fn system() -> Self {
        Self::at("/sys")
    }

    /// A sysfs tree rooted elsewhere (tests).
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Reads the block device `device` from `/sys/dev/block/MAJ:MIN`. `target` only names the
    /// path the operator gave, for error messages.
    pub fn block_device(&self, target: &Path, device: DeviceNumber) -> Result<BlockDeviceInfo, FlashError> {
        let link = self.root.join("dev/block").join(device.to_string());
        let dir = fs::canonicalize(&link).map_err(|source| sysfs_error(target, &link, source))?;
        let name = kernel_name(&dir);
        let size_sectors = read_trimmed(&dir.join("size"))
            .and_then(|text| text.parse::<u64>().map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)))
            .map_err(|source| sysfs_error(target, &dir.join("size"), source))?;
        let logical_sector_bytes = read_optional(&dir.join("queue/logical_block_size"))
            .and_then(|text| text.parse::<u64>().ok())
            .unwrap_or(IMAGE_SECTOR_BYTES);
        let partitions = self.partitions_of(target, &dir)?;
        let mut holders = Vec::new();
        let mut visited = BTreeSet::new();
        self.collect_holders(target, &dir, &name, 0, &mut visited, &mut holders)?;
        for partition in &partitions {
            self.collect_holders(target, &dir.join(&partition.name), &partition.name, 0, &mut visited, &mut holders)?;
        }
        Ok(BlockDeviceInfo {
            name,
            device,
            size_bytes: size_sectors.saturating_mul(SYSFS_SIZE_UNIT),
            logical_sector_bytes,
            model: read_optional(&dir.join("device/model")).filter(|m| !m.is_empty()).map(printable),
            vendor: read_optional(&dir.join("device/vendor")).filter(|v| !v.is_empty()).map(printable),
            is_partition: dir.join("partition").exists(),
            read_only: read_optional(&dir.join("ro")).is_some_and(|ro| ro == "1"),
            removable: read_optional(&dir.join("removable")).is_some_and(|r| r == "1"),
            partitions,
            holders,
        })
    }

    /// Partitions are sub-folders of the disk's folder that hold a `partition` file.
    fn partitions_of(&self, target: &Path, disk_dir: &Path) -> Result<Vec<SysfsDevice>, FlashError> {
        let entries = fs::read_dir(disk_dir).map_err(|source| sysfs_error(target, disk_dir, source))?;
        let mut partitions = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| sysfs_error(target, disk_dir, source))?;
            let path = entry.path();
            if !path.join("partition").is_file() {
                continue;
            }
            partitions.push(SysfsDevice { name: kernel_name(&path), device: read_dev(target, &path)? });
        }
        partitions.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(partitions)
    }

    fn collect_holders(
        &self,
        target: &Path,
        held_dir: &Path,
        held_name: &str,
        depth: usize,
        visited: &mut BTreeSet<String>,
        holders: &mut Vec<Holder>,
    ) -> Result<(), FlashError> {
        let holders_dir = held_dir.join("holders");
        // Kernels since 2.6.24 always have `holders/`; a tree without one has nothing stacked.
        let Ok(entries) = fs::read_dir(&holders_dir) else { return Ok(()) };
        for entry in entries {
            let entry = entry.map_err(|source| sysfs_error(target, &holders_dir, source))?;
            // Entries are links to the holder's own folder (`../../dm-0`).
            let holder_dir =
                fs::canonicalize(entry.path()).map_err(|source| sysfs_error(target, &entry.path(), source))?;
            let name = kernel_name(&holder_dir);
            let device = read_dev(target, &holder_dir)?;
            holders.push(Holder { name: name.clone(), device, holds: held_name.to_owned() });
            if visited.insert(name.clone()) && depth + 1 < MAX_STACK_DEPTH {
                self.collect_holders(target, &holder_dir, &name, depth + 1, visited, holders)?;
            }
        }
        Ok(())
    }
}

/// One mounted file system, or an active swap device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// The mount table's `major:minor` field.
    pub device: DeviceNumber,
    /// The mount source's device number when it names a block device: btrfs reports an
    /// anonymous device number in the `major:minor` field, so the source is checked too.
    pub source_device: Option<DeviceNumber>,
    /// The mount source (`/dev/sdb1`, `tmpfs`).
    pub source: String,
    /// Where it is mounted; `[swap]` for a swap device.
    pub mount_point: String,
}

/// The host's mounts (and swap devices), to refuse a target that is in use.
#[derive(Debug, Clone, Default)]
pub struct MountTable {
    entries: Vec<MountEntry>,
}

const MOUNTINFO: &str = "/proc/self/mountinfo";
const SWAPS: &str = "/proc/swaps";

impl MountTable {
    /// Parses `/proc/self/mountinfo` text. Device numbers come from the third field; mount
    /// sources are not resolved (see [`MountTable::current`]).
    pub fn from_mountinfo(text: &str) -> Result<Self, FlashError> {
        let mut entries = Vec::new();
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let malformed = || FlashError::MountTableMalformed { line_number: index + 1, line: line.to_owned() };
            let fields: Vec<&str> = line.split(' ').collect();
            let device = fields.get(2).and_then(|field| DeviceNumber::parse(field)).ok_or_else(malformed)?;
            let mount_point = fields.get(4).map(|field| unescape_octal(field)).ok_or_else(malformed)?;
            // Optional fields end at a lone "-"; then come the file system type and the source.
            let separator = fields.iter().skip(6).position(|&field| field == "-").ok_or_else(malformed)? + 6;
            let source = fields.get(separator + 2).map(|field| unescape_octal(field)).ok_or_else(malformed)?;
            entries.push(MountEntry { device, source_device: None, source, mount_point });
        }
        Ok(Self { entries })
    }

    /// The host's table: `/proc/self/mountinfo` with each `/dev/…` source resolved to its
    /// device number, plus the block devices in use as swap (`/proc/swaps`), which are in no
    /// mount table.
    pub fn current() -> Result<Self, FlashError> {
        let text = fs::read_to_string(MOUNTINFO)
            .map_err(|source| FlashError::MountTableUnreadable { table: PathBuf::from(MOUNTINFO), source })?;
        let mut table = Self::from_mountinfo(&text)?;
        for entry in &mut table.entries {
            if entry.source.starts_with('/') {
                entry.source_device = block_device_number(Path::new(&entry.source));
            }
        }
        match fs::read_to_string(SWAPS) {
            Ok(swaps) => {
                // The first line is a header; each other line starts with the swap's path.
                for path in swaps.lines().skip(1).filter_map(|line| line.split_whitespace().next()) {
                    let path = unescape_octal(path);
                    // A swap file lives on a mounted file system, which the table already has.
                    if let Some(device) = block_device_number(Path::new(&path)) {
                        table.entries.push(MountEntry {
                            device,
                            source_device: Some(device),
                            source: path,
                            mount_point: "[swap]".to_owned(),
                        });
                    }
                }
            }
            // A kernel without swap support has no /proc/swaps.
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(FlashError::MountTableUnreadable { table: PathBuf::from(SWAPS), source }),
        }
        Ok(table)
    }

    pub fn entries(&self) -> &[MountEntry] {
        &self.entries
    }

    /// The first mount (or swap) on `device`.
    pub fn mount_of(&self, device: DeviceNumber) -> Option<&MountEntry> {
        self.entries.iter().find(|entry| entry.device == device || entry.source_device == Some(device))
    }
}

/// The host as the planner sees it.
#[derive(Debug, Clone)]
pub struct Host {
    pub sysfs: Sysfs,
    pub mounts: MountTable,
}

impl Host {
    /// `/sys` and the current mount table.
    pub fn current() -> Result<Self, FlashError> {
        Ok(Self { sysfs: Sysfs::system(), mounts: MountTable::current()? })
    }
}

/// The rule for a block device target: a whole disk, writable, nothing on it mounted or stacked,
/// 512-byte logical sectors like the image, and big enough for `image_bytes`.
pub fn check_block_device(
    target: &Path,
    info: &BlockDeviceInfo,
    mounts: &MountTable,
    image_bytes: u64,
) -> Result<(), FlashError> {
    if info.is_partition {
        return Err(FlashError::TargetIsPartition { target: target.to_owned(), device: info.name.clone() });
    }
    if info.read_only {
        return Err(FlashError::TargetReadOnly { target: target.to_owned(), device: info.name.clone() });
    }
    let in_use = std::iter::once((info.name.as_str(), info.device))
        .chain(info.partitions.iter().map(|p| (p.name.as_str(), p.device)))
        .chain(info.holders.iter().map(|h| (h.name.as_str(), h.device)));
    for (name, device) in in_use {
        if let Some(mount) = mounts.mount_of(device) {
            return Err(FlashError::TargetMounted {
                target: target.to_owned(),
                device: format!("{name} ({device})"),
                mount_point: mount.mount_point.clone(),
            });
        }
    }
    // A stacked device that is not mounted is still in use (an open LUKS mapping, an
    // assembled RAID, an active volume group): writing under it corrupts it.
    if let Some(holder) = info.holders.first() {
        return Err(FlashError::TargetHeld {
            target: target.to_owned(),
            device: holder.holds.clone(),
            holder: holder.name.clone(),
        });
    }
    if info.logical_sector_bytes != IMAGE_SECTOR_BYTES {
        return Err(FlashError::SectorSizeMismatch {
            target: target.to_owned(),
            target_sector_bytes: info.logical_sector_bytes,
            image_sector_bytes: IMAGE_SECTOR_BYTES,
        });
    }
    check_target_size(target, info.size_bytes, image_bytes)
}

/// A target must hold the whole image. (A regular file has no fixed size: it is grown.)
pub fn check_target_size(target: &Path, target_bytes: u64, image_bytes: u64) -> Result<(), FlashError> {
    if target_bytes < image_bytes {
        return Err(FlashError::TargetTooSmall { target: target.to_owned(), target_bytes, image_bytes });
    }
    Ok(())
}

impl BlockDeviceInfo {
    /// One line for the plan: name, number, size, model, vendor.
    pub fn summary(&self) -> String {
        let mut line = format!("block device {} ({}), {}", self.name, self.device, human_bytes(self.size_bytes));
        if let Some(model) = &self.model {
            line.push_str(&format!(", model \"{model}\""));
        }
        if let Some(vendor) = &self.vendor {
            line.push_str(&format!(", vendor \"{vendor}\""));
        }
        if self.removable {
            line.push_str(", removable");
        }
        line
    }
}

fn sysfs_error(target: &Path, entry: &Path, source: io::Error) -> FlashError {
    FlashError::SysfsUnreadable { target: target.to_owned(), entry: entry.to_owned(), source }
}

fn kernel_name(dir: &Path) -> String {
    dir.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default()
}

fn read_trimmed(path: &Path) -> io::Result<String> {
    fs::read_to_string(path).map(|text| text.trim().to_owned())
}

/// A sysfs attribute that some devices lack (model, vendor, queue/ for partitions).
fn read_optional(path: &Path) -> Option<String> {
    read_trimmed(path).ok()
}

fn read_dev(target: &Path, device_dir: &Path) -> Result<DeviceNumber, FlashError> {
    let path = device_dir.join("dev");
    let text = read_trimmed(&path).map_err(|source| sysfs_error(target, &path, source))?;
    DeviceNumber::parse(&text).ok_or_else(|| {
        sysfs_error(target, &path, io::Error::new(io::ErrorKind::InvalidData, format!("not MAJOR:MINOR: {text:?}")))
    })
}

fn block_device_number(path: &Path) -> Option<DeviceNumber> {
    let metadata = fs::metadata(path).ok()?;
    metadata.file_type().is_block_device().then(|| DeviceNumber::from_dev_t(metadata.rdev()))
}

/// Model and vendor strings go to a terminal: no control characters.
fn printable(text: String) -> String {
    text.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// The mount table escapes space, tab, newline and backslash as `\ooo`.
fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = bytes.get(index + 1..index + 4).filter(|digits| digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match (bytes[index], escaped) {
            (b'\\', Some(digits)) => {
                let value = digits.iter().fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                out.push(value as u8);
                index += 4;
            }
            (byte, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_t_splits_like_glibc() {
        /// glibc's `makedev`.
        fn makedev(major: u64, minor: u64) -> u64 {
            ((major & 0xfff) << 8) | ((major & 0xffff_f000) << 32) | (minor & 0xff) | ((minor & 0xffff_ff00) << 12)
        }
        assert_eq!(DeviceNumber::from_dev_t(makedev(8, 17)), DeviceNumber { major: 8, minor: 17 });
        assert_eq!(DeviceNumber::from_dev_t(makedev(259, 65536)), DeviceNumber { major: 259, minor: 65536 });
        assert_eq!(DeviceNumber::from_dev_t(makedev(4100, 300)), DeviceNumber { major: 4100, minor: 300 });
    }

    #[test]
    fn mount_points_are_unescaped() {
        assert_eq!(unescape_octal(r"/mnt/my\040disk"), "/mnt/my disk");
        assert_eq!(unescape_octal(r"trailing\04"), r"trailing\04");
    }

    #[test]
    fn malformed_mountinfo_is_refused_not_skipped() {
        let result = MountTable::from_mountinfo("36 35 8:1 / /mnt rw\n");
        assert!(matches!(result, Err(FlashError::MountTableMalformed { line_number: 1, .. })), "{result:?}");
    }
}
