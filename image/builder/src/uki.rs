//! The unified kernel image: systemd's EFI stub with `.osrel`, `.cmdline`, `.linux` (the compressed
//! kernel, as Debian ships it) and `.initrd` added by `objcopy`, each placed after the stub's last
//! section and the previous one, aligned to the stub's `SectionAlignment`. Firmware measures the
//! whole file, so the command line, and the dm-verity root hash in it, are measured with the kernel.

use std::path::{Path, PathBuf};

use crate::error::ImageError;
use crate::pe::{self, PeImage};
use crate::rootfs::Verity;
use crate::tools::{OBJCOPY, Toolbox};

/// The sections added, in order.
pub const SECTIONS: [&str; 4] = [".osrel", ".cmdline", ".linux", ".initrd"];

/// The kernel command line: the serial console, and PID 1's contract (`qp.slot`, `qp.verity.*`,
/// see node-os/init's `cmdline` module and image/DESIGN.md).
#[must_use]
pub fn cmdline(slot: char, verity: &Verity) -> String {
    format!(
        "console=ttyS0,115200 loglevel=4 panic=-1 qp.slot={slot} qp.verity.root={} qp.verity.salt={} \
         qp.verity.data_blocks={}",
        verity.root_hash, verity.salt, verity.data_blocks
    )
}

/// The `.osrel` section (os-release format): what systemd-boot shows and sorts by. systemd-boot
/// (252) sorts type #2 entries by sort key (here `IMAGE_ID`), then by version descending, taking
/// `IMAGE_VERSION` first: the release number, so the newest release's entry is the default (an
/// entry whose boot counter reached 0 is sorted after every other either way). `VERSION_ID` and
/// `PRETTY_NAME` carry the version string.
#[must_use]
pub fn os_release(version: &str, variant: &str, release: u64) -> String {
    format!(
        "NAME=\"QuantPype Node\"\nID=quantpype\nPRETTY_NAME=\"QuantPype Node {version} ({variant})\"\n\
         VERSION_ID={version}\nIMAGE_ID=qp-{variant}\nIMAGE_VERSION={release}\nVARIANT_ID={variant}\n"
    )
}

/// The section contents, as files.
#[derive(Debug)]
pub struct UkiParts {
    pub osrel: PathBuf,
    pub cmdline: PathBuf,
    pub linux: PathBuf,
    pub initrd: PathBuf,
}

/// Build the UKI at `out` from `stub`; returns the `(name, vma)` placements used.
pub fn build(toolbox: &Toolbox, stub: &Path, parts: &UkiParts, out: &Path) -> Result<Vec<(String, u64)>, ImageError> {
    let stub_bytes = std::fs::read(stub).map_err(ImageError::io(stub))?;
    let image = PeImage::parse(&stub_bytes)?;
    let align = u64::from(image.section_alignment);
    let mut rva = image.next_free_rva();
    let mut placements = Vec::new();
    let mut command = toolbox.command(OBJCOPY)?;
    for (name, file) in SECTIONS.iter().zip([&parts.osrel, &parts.cmdline, &parts.linux, &parts.initrd]) {
        let size = std::fs::metadata(file).map_err(ImageError::io(file))?.len();
        let vma = image.image_base + rva;
        command.arg("--add-section").arg(format!("{name}={}", file.display()));
        command.arg("--change-section-vma").arg(format!("{name}={vma:#x}"));
        placements.push(((*name).to_owned(), vma));
        rva = (rva + size).next_multiple_of(align);
    }
    command.arg(stub).arg(out).run()?;
    // objcopy stamps PE output with the wall clock: fix it (and the checksum that covers it).
    let mut bytes = std::fs::read(out).map_err(ImageError::io(out))?;
    pe::set_time_stamp(&mut bytes, 0)?;
    let written = PeImage::parse(&bytes)?;
    for (name, vma) in &placements {
        let ok = written
            .section(name)
            .is_some_and(|s| image.image_base + u64::from(s.virtual_address) == *vma && s.virtual_size > 0);
        if !ok {
            return Err(ImageError::invalid(out.display().to_string(), format!("section {name} missing or misplaced")));
        }
    }
    std::fs::write(out, &bytes).map_err(ImageError::io(out))?;
    Ok(placements)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
    use super::*;

    #[test]
    fn cmdline_carries_the_contract() {
        let verity = Verity { root_hash: "ab".repeat(32), salt: "cd".repeat(32), data_blocks: 42, hash_bytes: 4096 };
        let line = cmdline('a', &verity);
        assert!(line.starts_with("console=ttyS0,115200 "));
        assert!(line.contains(" qp.slot=a "));
        assert!(line.contains(&format!(" qp.verity.root={} ", "ab".repeat(32))));
        assert!(line.contains(&format!(" qp.verity.salt={} ", "cd".repeat(32))));
        assert!(line.ends_with(" qp.verity.data_blocks=42"));
    }

    #[test]
    fn osrel_sorts_by_the_release() {
        let text = os_release("0.2.0", "local", 7);
        let lines: Vec<&str> = text.lines().collect();
        for line in
            ["IMAGE_ID=qp-local", "IMAGE_VERSION=7", "VERSION_ID=0.2.0", "PRETTY_NAME=\"QuantPype Node 0.2.0 (local)\""]
        {
            assert!(lines.contains(&line), "{line} not in {text}");
        }
    }
}
