//! The data partition: ext4 (`mkfs.ext4 -d`), optionally seeded from a folder (node configuration,
//! certificates: whatever the node keeps across updates). Made reproducible with a fixed UUID and
//! directory hash seed, `E2FSPROGS_FAKE_TIME` for the times mke2fs takes from the clock, and a
//! `debugfs` pass that sets what `-d` copies from the build host (each seeded inode's change time
//! and owner).

use std::fmt::Write as _;
use std::path::Path;

use crate::error::ImageError;
use crate::staging;
use crate::tools::{DEBUGFS, MKFS_EXT4, Toolbox};

/// The build epoch as debugfs takes a time (`YYYYMMDDHHMMSS`, UTC): 1980-01-01.
const DEBUGFS_EPOCH: &str = "19800101000000";

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
    mkfs.args(["-q", "-F", "-L", "qp-data", "-T", "default", "-b", "4096", "-U", uuid])
        .arg("-E")
        .arg(format!("hash_seed={uuid},root_owner=0:0,nodiscard"));
    if let Some(seed) = seed {
        staging::copy_tree(seed, stage)?;
        staging::finish_tree(stage)?;
        mkfs.arg("-d").arg(stage);
    }
    mkfs.arg(out).run()?;
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
