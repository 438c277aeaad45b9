//! The data partition: ext4 (`mkfs.ext4 -d`), optionally seeded from a folder (node configuration,
//! certificates: whatever the node keeps across updates). Made reproducible with a fixed UUID and
//! directory hash seed, `E2FSPROGS_FAKE_TIME` for the times mke2fs takes from the clock, and a
//! `debugfs` pass that sets what `-d` copies from the build host (each seeded inode's change time
//! and owner).
//!
//! Block size: 1 KiB below [`SMALL_BYTES`] (as mke2fs's own `small` type), 4 KiB above. A journal
//! needs at least 1,024 blocks, so with 4 KiB blocks a 4 MiB partition (the default) would get no
//! journal at all (mke2fs says "Filesystem too small for a journal" and goes on): with 1 KiB
//! blocks it gets a 1 MiB journal and about 2.9 MiB free.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::ImageError;
use crate::staging;
use crate::tools::{DEBUGFS, MKFS_EXT4, Toolbox};

/// The build epoch as debugfs takes a time (`YYYYMMDDHHMMSS`, UTC): 1980-01-01.
const DEBUGFS_EPOCH: &str = "19800101000000";
/// Below this size the file system has 1 KiB blocks.
pub const SMALL_BYTES: u64 = 512 * 1024 * 1024;

/// What the data partition must have: a journal (the node writes to it and may lose power) and
/// metadata checksums.
const REQUIRED_FEATURES: &[&str] = &["has_journal", "metadata_csum"];

/// The block size for a data partition of `size_bytes`.
#[must_use]
pub fn block_size(size_bytes: u64) -> u64 {
    if size_bytes < SMALL_BYTES { 1024 } else { 4096 }
}

/// Make the ext4 file at `out`, `size_bytes` long, seeded from `seed` when given (staged into
/// `stage` first, modes normalised and times fixed).
pub fn build(
    toolbox: &Toolbox,
    seed: Option<&Path>,
    stage: &Path,
    uuid: &str,
    size_bytes: u64,
    out: &Path,
) -> Result<(), ImageError> {
    let _ = std::fs::remove_file(out);
    let file = std::fs::File::create(out).map_err(ImageError::io(out))?;
    file.set_len(size_bytes).map_err(ImageError::io(out))?;
    drop(file);
    let mut mkfs = toolbox.command(MKFS_EXT4)?;
    mkfs.args(["-q", "-F", "-L", "qp-data", "-T", "default", "-U", uuid])
        .arg("-b")
        .arg(block_size(size_bytes).to_string())
        .arg("-E")
        .arg(format!("hash_seed={uuid},root_owner=0:0,nodiscard"));
    if let Some(seed) = seed {
        staging::copy_tree(seed, stage)?;
        staging::finish_tree(stage)?;
        mkfs.arg("-d").arg(stage);
    }
    mkfs.arg(out).run().map_err(|err| match (err, seed) {
        (ImageError::ToolFailed { tool, status, stderr }, Some(seed)) => ImageError::ToolFailed {
            tool,
            status,
            stderr: format!(
                "{stderr} (the data seed {} may not fit the {} MiB data partition: give a larger --data-mib)",
                seed.display(),
                size_bytes / (1024 * 1024)
            ),
        },
        (err, _) => err,
    })?;
    // mke2fs leaves the journal out, and says so only as a warning, when it does not fit.
    let features = toolbox.command(DEBUGFS)?.arg("-R").arg("features").arg(out).run()?;
    let features = String::from_utf8_lossy(&features.stdout);
    for wanted in REQUIRED_FEATURES {
        if !features.split_whitespace().any(|f| f == *wanted) {
            return Err(ImageError::invalid(
                format!("the data partition ({} MiB)", size_bytes / (1024 * 1024)),
                format!("mkfs.ext4 made it without {wanted} ({})", features.trim()),
            ));
        }
    }
    if seed.is_some() {
        let mut script = String::new();
        for (relative, _) in staging::walk(stage)? {
            let path = format!("/{}", relative.display());
            if path.contains(['"', '\n', ' ']) {
                return Err(ImageError::invalid(path, "data seed names may not contain spaces, quotes or newlines"));
            }
            for (field, value) in [("ctime", DEBUGFS_EPOCH), ("uid", "0"), ("gid", "0")] {
                let _ = writeln!(script, "set_inode_field {path} {field} {value}");
            }
        }
        let script_path = stage.with_extension("debugfs");
        std::fs::write(&script_path, script).map_err(ImageError::io(&script_path))?;
        let output = toolbox.command(DEBUGFS)?.arg("-w").arg("-f").arg(&script_path).arg(out).run()?;
        // debugfs reports a failed command on stderr but exits 0.
        let complaints = String::from_utf8_lossy(&output.stderr);
        if let Some(line) = complaints.lines().find(|l| l.contains("set_inode_field:")) {
            return Err(ImageError::ToolFailed {
                tool: "debugfs".to_owned(),
                status: "a command failed".to_owned(),
                stderr: line.to_owned(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
    use super::*;

    #[test]
    fn small_partitions_get_1_kib_blocks_so_the_journal_fits() {
        assert_eq!(block_size(4 * 1024 * 1024), 1024);
        assert_eq!(block_size(SMALL_BYTES - 1), 1024);
        assert_eq!(block_size(SMALL_BYTES), 4096);
    }
}
