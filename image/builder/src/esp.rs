//! The EFI system partition, in a file: FAT32 (`mkfs.vfat`), then mtools (`mmd`, `mcopy`) to put
//! systemd-boot, the UKI and `loader.conf` in. No mounting, no loop device, no root.

use std::path::{Path, PathBuf};

use crate::error::ImageError;
use crate::staging;
use crate::tools::{MCOPY, MKFS_VFAT, MMD, Toolbox};

const MIB: u64 = 1024 * 1024;
/// The smallest ESP: FAT32 needs at least 65,525 clusters (a FAT driver takes anything with fewer
/// for FAT16), which with 512-byte clusters and the FATs is just over 32 MiB; 33 MiB gives 66,512
/// (`fsck.vfat` clean).
pub const MIN_ESP_MIB: u64 = 33;
/// `loader.conf`: boot the default entry at once; no command-line editor (the command line is
/// measured and pins the root: it is not to be edited at the console).
pub const LOADER_CONF: &str = "timeout 0\neditor no\n";

/// The ESP's size: room for two UKIs (the A and B slots of an update) and the boot manager, and a
/// MiB spare, but not below [`MIN_ESP_MIB`].
#[must_use]
pub fn size_bytes(uki_bytes: u64, boot_manager_bytes: u64) -> u64 {
    let needed = 2 * uki_bytes + boot_manager_bytes + MIB;
    needed.div_ceil(MIB).max(MIN_ESP_MIB) * MIB
}

/// The UKI's path on the ESP: slot A's committed boot entry, `qp-a-<image id>.efi`, named as the
/// update service names entries (`qp-<slot>-<image id>[+LEFT[-DONE]].efi`, `qp-update-core`'s
/// `BootEntry`), so the first update that writes slot A again removes it like any slot A entry.
#[must_use]
pub fn uki_path(image_id: &str) -> String {
    format!("/EFI/Linux/qp-a-{image_id}.efi")
}

/// What goes on the ESP.
#[derive(Debug)]
pub struct EspContent<'a> {
    pub boot_manager: &'a Path,
    pub uki: &'a Path,
    /// The image id (`qp_attest_core::golden::image_id`), which names the boot entry.
    pub image_id: &'a str,
}

/// Make the ESP file at `out` (`work` is scratch space for the files' fixed-time copies).
pub fn build(
    toolbox: &Toolbox,
    content: &EspContent<'_>,
    volume_id: &str,
    out: &Path,
    work: &Path,
) -> Result<u64, ImageError> {
    let boot_manager_len = std::fs::metadata(content.boot_manager).map_err(ImageError::io(content.boot_manager))?.len();
    let uki_len = std::fs::metadata(content.uki).map_err(ImageError::io(content.uki))?.len();
    let size = size_bytes(uki_len, boot_manager_len);
    let _ = std::fs::remove_file(out);
    let file = std::fs::File::create(out).map_err(ImageError::io(out))?;
    file.set_len(size).map_err(ImageError::io(out))?;
    drop(file);
    // --invariant fixes the volume id and the boot sector's times; -i names the id anyway.
    toolbox
        .command(MKFS_VFAT)?
        .args(["-F", "32", "-S", "512", "-s", "1", "--invariant", "-i", volume_id, "-n", "QP-ESP"])
        .arg(out)
        .run()?;
    let image = out.display().to_string();
    toolbox.command(MMD)?.args(["-i", &image, "::/EFI", "::/EFI/BOOT", "::/EFI/Linux", "::/loader"]).run()?;
    // mcopy -m keeps each file's time stamp: copies with the fixed time go in.
    let files: [(PathBuf, String); 3] = [
        (content.boot_manager.to_owned(), "/EFI/BOOT/BOOTX64.EFI".to_owned()),
        (content.uki.to_owned(), uki_path(content.image_id)),
        (work.join("loader.conf"), "/loader/loader.conf".to_owned()),
    ];
    staging::make_dir(work)?;
    staging::write_file(&work.join("loader.conf"), LOADER_CONF.as_bytes(), 0o644)?;
    for (index, (source, target)) in files.iter().enumerate() {
        let copy = work.join(format!("esp-file-{index}"));
        std::fs::copy(source, &copy).map_err(ImageError::io(source))?;
        staging::stamp(&copy)?;
        toolbox.command(MCOPY)?.args(["-m", "-i", &image]).arg(&copy).arg(format!("::{target}")).run()?;
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
    use super::*;

    #[test]
    fn sized_for_two_ukis_and_never_below_fat32s_minimum() {
        assert_eq!(size_bytes(1000, 100), MIN_ESP_MIB * MIB);
        assert_eq!(size_bytes(20 * MIB, 128 * 1024), 42 * MIB);
        assert_eq!(uki_path("local-1.2.0-0123456789abcdef"), "/EFI/Linux/qp-a-local-1.2.0-0123456789abcdef.efi");
    }
}
