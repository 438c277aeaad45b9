//! The disk: partitions laid out 1 MiB-aligned after the primary GPT, contents copied in (a
//! partition without content, such as slot B's before the first update, is left zeros), and the
//! GUID partition table written around them.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::ImageError;
use crate::gpt::{Gpt, Guid, Partition, SECTOR};

const MIB: u64 = 1024 * 1024;
const SECTORS_PER_MIB: u64 = MIB / SECTOR;

/// The partition labels: PID 1 finds partitions by these (`PARTNAME=`).
pub const ESP_LABEL: &str = "qp-esp";
pub const ROOT_A_LABEL: &str = "qp-root-a";
pub const VERITY_A_LABEL: &str = "qp-verity-a";
pub const ROOT_B_LABEL: &str = "qp-root-b";
pub const VERITY_B_LABEL: &str = "qp-verity-b";
pub const DATA_LABEL: &str = "qp-data";

/// The root partition's label for a slot (`a` or `b`), as PID 1 and the updater look for it.
#[must_use]
pub fn root_label(slot: char) -> String {
    format!("qp-root-{slot}")
}

/// The hash tree partition's label for a slot.
#[must_use]
pub fn verity_label(slot: char) -> String {
    format!("qp-verity-{slot}")
}

/// One partition to lay out: its label, type, GUID, content file (`None`: zeros) and size (at
/// least the content; rounded up to whole MiB when laid out).
#[derive(Debug, Clone)]
pub struct PartitionPlan {
    pub name: String,
    pub type_guid: Guid,
    pub unique_guid: Guid,
    pub content: Option<PathBuf>,
    pub size_bytes: u64,
}

/// Lay out `plans` in order from 1 MiB; the disk ends 1 MiB after the last (the backup table).
#[must_use]
pub fn layout(disk_guid: Guid, plans: &[PartitionPlan]) -> Gpt {
    let mut lba = SECTORS_PER_MIB;
    let mut partitions = Vec::new();
    for plan in plans {
        let sectors = plan.size_bytes.div_ceil(MIB).max(1) * SECTORS_PER_MIB;
        partitions.push(Partition {
            name: plan.name.clone(),
            type_guid: plan.type_guid,
            unique_guid: plan.unique_guid,
            first_lba: lba,
            last_lba: lba + sectors - 1,
            attributes: 0,
        });
        lba += sectors;
    }
    Gpt { disk_guid, disk_sectors: lba + SECTORS_PER_MIB, partitions }
}

/// Write the disk file: zero-filled (sparse) to its size, each content at its partition, the tables.
pub fn write(out: &Path, gpt: &Gpt, plans: &[PartitionPlan]) -> Result<(), ImageError> {
    let _ = std::fs::remove_file(out);
    let mut disk = File::create(out).map_err(ImageError::io(out))?;
    disk.set_len(gpt.disk_sectors * SECTOR).map_err(ImageError::io(out))?;
    for (partition, plan) in gpt.partitions.iter().zip(plans) {
        let Some(path) = &plan.content else { continue };
        let mut content = File::open(path).map_err(ImageError::io(path))?;
        let len = content.metadata().map_err(ImageError::io(path))?.len();
        if len > partition.size_bytes() {
            return Err(ImageError::invalid(&plan.name, format!("{len} bytes do not fit its partition")));
        }
        disk.seek(SeekFrom::Start(partition.offset_bytes())).map_err(ImageError::io(out))?;
        std::io::copy(&mut content, &mut disk).map_err(ImageError::io(out))?;
    }
    gpt.write_to(&mut disk)?;
    disk.sync_all().map_err(ImageError::io(out))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
    use super::*;
    use crate::gpt::types;

    #[test]
    fn partitions_are_mib_aligned_and_in_order() {
        let plan = |name: &str, size| PartitionPlan {
            name: name.into(),
            type_guid: types::LINUX_FILESYSTEM,
            unique_guid: Guid::from_seed(&[name.len() as u8; 32]),
            content: None,
            size_bytes: size,
        };
        let gpt = layout(Guid::default(), &[plan("a", 34 * MIB), plan("bb", 5 * MIB + 1), plan("ccc", 1)]);
        let starts: Vec<u64> = gpt.partitions.iter().map(|p| p.offset_bytes() / MIB).collect();
        let sizes: Vec<u64> = gpt.partitions.iter().map(|p| p.size_bytes() / MIB).collect();
        assert_eq!(starts, [1, 35, 41]);
        assert_eq!(sizes, [34, 6, 1]);
        assert_eq!(gpt.disk_sectors * SECTOR, 43 * MIB);
        assert!(gpt.partitions.iter().all(|p| p.last_lba <= gpt.last_usable_lba()));
    }

    #[test]
    fn a_partition_without_content_is_zeros_and_content_lands_at_its_offset() {
        let dir = tempfile::tempdir().unwrap();
        let content = dir.path().join("content");
        std::fs::write(&content, vec![0xa5u8; 3000]).unwrap();
        let plan = |name: &str, content: Option<PathBuf>| PartitionPlan {
            name: name.into(),
            type_guid: types::LINUX_FILESYSTEM,
            unique_guid: Guid::from_seed(&[name.len() as u8; 32]),
            content,
            size_bytes: MIB,
        };
        let plans = [plan(ROOT_A_LABEL, Some(content)), plan(ROOT_B_LABEL, None)];
        let gpt = layout(Guid::default(), &plans);
        let disk = dir.path().join("disk.img");
        write(&disk, &gpt, &plans).unwrap();
        let bytes = std::fs::read(&disk).unwrap();
        let at = |p: &Partition| &bytes[p.offset_bytes() as usize..(p.offset_bytes() + p.size_bytes()) as usize];
        let (a, b) = (at(&gpt.partitions[0]), at(&gpt.partitions[1]));
        assert!(a[..3000].iter().all(|&x| x == 0xa5) && a[3000..].iter().all(|&x| x == 0));
        assert!(b.iter().all(|&x| x == 0));
        assert_eq!((root_label('b'), verity_label('a')), (ROOT_B_LABEL.to_owned(), VERITY_A_LABEL.to_owned()));
    }
}
