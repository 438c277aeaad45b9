//! The root file system: a staging folder made into an erofs image (`mkfs.erofs`), then its
//! dm-verity hash tree (`veritysetup format`, no superblock).

use std::path::Path;

use crate::error::ImageError;
use crate::staging;
use crate::tools::{BUILD_EPOCH, MKFS_EROFS, Toolbox, VERITYSETUP};

/// dm-verity's data and hash block size.
pub const VERITY_BLOCK: u64 = 4096;
/// Where the update repository's root metadata goes in the root (`--update-root`).
pub const UPDATE_ROOT_PATH: &str = "etc/qp/update-root.json";
/// Empty mount points in the root.
pub const ROOT_DIRS: &[&str] = &["proc", "sys", "dev", "run", "tmp", "data"];

/// What the root holds.
#[derive(Debug)]
pub struct RootContent<'a> {
    pub node_binary: &'a [u8],
    pub manifest: &'a str,
    pub build_info: &'a str,
    /// The fleet's TUF root metadata for the update service (`/etc/qp/update-root.json`).
    pub update_root: Option<&'a [u8]>,
    pub models: Option<&'a Path>,
    /// More files at their paths (the TPM service and its shared objects).
    pub extra: &'a [crate::tpm_service::RootFile],
}

/// Lay the root out in `stage` (which must not exist yet).
pub fn stage(stage: &Path, content: &RootContent<'_>) -> Result<(), ImageError> {
    staging::make_dir(stage)?;
    for dir in ROOT_DIRS {
        staging::make_dir(&stage.join(dir))?;
    }
    staging::write_file(&stage.join("usr/bin/qp-node"), content.node_binary, 0o755)?;
    staging::write_file(&stage.join("etc/qp/manifest.toml"), content.manifest.as_bytes(), 0o644)?;
    staging::write_file(&stage.join("etc/qp/build-info.json"), content.build_info.as_bytes(), 0o644)?;
    if let Some(update_root) = content.update_root {
        staging::write_file(&stage.join(UPDATE_ROOT_PATH), update_root, 0o644)?;
    }
    if let Some(models) = content.models {
        staging::copy_tree(models, &stage.join("usr/share/qp"))?;
    }
    for file in content.extra {
        staging::write_file(&stage.join(&file.path), &file.bytes, file.mode)?;
    }
    staging::finish_tree(stage)
}

/// The largest physical cluster of compressed data (`mkfs.erofs -C`): lz4hc compresses 64 KiB
/// input windows far better than single 4 KiB blocks (the local root with the real binaries: 13.8
/// MiB with 4 KiB clusters, 11.4 MiB with 64 KiB, 11.0 MiB with 1 MiB), and the boot is as fast
/// (READY after 2.5 s under TCG either way; 2.8 s with 1 MiB clusters, whose every cold read
/// decompresses more). Big clusters need Linux 5.13 or later.
pub const PCLUSTER_BYTES: u64 = 64 * 1024;

/// `mkfs.erofs`: lz4hc-compressed in physical clusters of up to [`PCLUSTER_BYTES`] (deterministic:
/// checked by building twice), every file owned by root, every time stamp the build epoch, no
/// extended attributes (the build host's SELinux labels must not leak in), the UUID given. The
/// file is padded to whole 4 KiB blocks.
pub fn make_erofs(toolbox: &Toolbox, stage: &Path, out: &Path, uuid: &str) -> Result<u64, ImageError> {
    toolbox
        .command(MKFS_EROFS)?
        .arg("--quiet")
        .arg("-x-1")
        .arg(format!("-T{BUILD_EPOCH}"))
        .arg("--all-root")
        .arg(format!("-U{uuid}"))
        .arg("-zlz4hc")
        .arg(format!("-C{PCLUSTER_BYTES}"))
        .arg(out)
        .arg(stage)
        .run()?;
    let file = std::fs::OpenOptions::new().write(true).open(out).map_err(ImageError::io(out))?;
    let len = file.metadata().map_err(ImageError::io(out))?.len();
    let padded = len.next_multiple_of(VERITY_BLOCK);
    if padded != len {
        file.set_len(padded).map_err(ImageError::io(out))?;
    }
    Ok(padded)
}

/// The hash tree's parameters, as they go on the kernel command line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verity {
    /// Hex.
    pub root_hash: String,
    /// Hex.
    pub salt: String,
    /// 4 KiB blocks of the root covered.
    pub data_blocks: u64,
    /// Size of the hash tree file.
    pub hash_bytes: u64,
}

/// SHA-256 digests per 4 KiB hash block.
const HASHES_PER_BLOCK: u64 = VERITY_BLOCK / 32;

/// The size of the hash tree `veritysetup format --no-superblock` writes for `data_blocks` 4 KiB
/// blocks (sha256): each level one digest per block of the level below, up to a level of one block.
/// What a slot's verity partition must hold for a root that fills its root partition.
#[must_use]
pub fn hash_tree_bytes(data_blocks: u64) -> u64 {
    let mut blocks = 0;
    let mut level = data_blocks;
    while level > 1 {
        level = level.div_ceil(HASHES_PER_BLOCK);
        blocks += level;
    }
    blocks * VERITY_BLOCK
}

/// `veritysetup format` over `data` into `hash`: no superblock (the tree starts at block 0 of the
/// hash partition), sha256, 4 KiB blocks, the salt given.
pub fn format_verity(toolbox: &Toolbox, data: &Path, hash: &Path, salt: &str) -> Result<Verity, ImageError> {
    let data_len = std::fs::metadata(data).map_err(ImageError::io(data))?.len();
    if data_len % VERITY_BLOCK != 0 {
        return Err(ImageError::invalid(data.display().to_string(), "not a whole number of 4 KiB blocks"));
    }
    let _ = std::fs::remove_file(hash);
    let output = toolbox
        .command(VERITYSETUP)?
        .args(["format", "--no-superblock", "--data-block-size", "4096", "--hash-block-size", "4096"])
        .args(["--hash", "sha256", "--salt", salt])
        .arg(data)
        .arg(hash)
        .run()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let root_hash = parse_root_hash(&text).ok_or_else(|| ImageError::ToolFailed {
        tool: "veritysetup".to_owned(),
        status: "no root hash in its output".to_owned(),
        stderr: text.trim().to_owned(),
    })?;
    let hash_bytes = std::fs::metadata(hash).map_err(ImageError::io(hash))?.len();
    Ok(Verity { root_hash, salt: salt.to_owned(), data_blocks: data_len / VERITY_BLOCK, hash_bytes })
}

/// The `Root hash:` line of `veritysetup format`'s report.
#[must_use]
pub fn parse_root_hash(report: &str) -> Option<String> {
    report.lines().find_map(|line| {
        let value = line.strip_prefix("Root hash:")?.trim();
        (value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit())).then(|| value.to_ascii_lowercase())
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
    use super::*;

    #[test]
    fn reads_the_root_hash_line() {
        let report = "VERITY header information for h\nUUID:            \t\nData blocks:     \t2355\n\
                      Salt:            \t00112233\n\
                      Root hash:      \tcb9e75ca2fea8155c1a16a632116db090ab8966d272499048348d70d7c059625\n";
        assert_eq!(
            parse_root_hash(report).unwrap(),
            "cb9e75ca2fea8155c1a16a632116db090ab8966d272499048348d70d7c059625"
        );
        assert_eq!(parse_root_hash("Root hash: xyz\n"), None);
    }

    #[test]
    fn hash_tree_sizes() {
        // 2,355 blocks: 19 level-0 blocks and the top one.
        assert_eq!(hash_tree_bytes(2355), 20 * VERITY_BLOCK);
        assert_eq!(hash_tree_bytes(128), VERITY_BLOCK);
        assert_eq!(hash_tree_bytes(129), 3 * VERITY_BLOCK);
        // A 64 MiB root: 128 blocks, then 1.
        assert_eq!(hash_tree_bytes(64 * 256), 129 * VERITY_BLOCK);
        // A 1 GiB root: 2,048 + 16 + 1 blocks, just over 8 MiB.
        assert_eq!(hash_tree_bytes(1024 * 256), 2065 * VERITY_BLOCK);
    }
}
