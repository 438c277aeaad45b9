//! Staging folders for the file-system tools: files written with fixed modes and time stamps, trees
//! copied with their modes normalised, and trees walked in a fixed (sorted) order.

use std::fs::{File, FileTimes};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::error::ImageError;
use crate::tools::BUILD_EPOCH;

/// The fixed time stamp as a `SystemTime`.
pub(crate) fn epoch() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(BUILD_EPOCH)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), ImageError> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(ImageError::io(path))
}

/// Create `path` (and its parents) as a directory with mode 0755.
pub(crate) fn make_dir(path: &Path) -> Result<(), ImageError> {
    std::fs::create_dir_all(path).map_err(ImageError::io(path))?;
    set_mode(path, 0o755)
}

/// Write a file (parents created) with `mode`.
pub(crate) fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), ImageError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(ImageError::io(parent))?;
    }
    std::fs::write(path, bytes).map_err(ImageError::io(path))?;
    set_mode(path, mode)
}

/// Copy a tree of directories and regular files: directories 0755, files 0755 when the source is
/// executable by anyone, else 0644. Anything else (links, devices) is refused: the image's content
/// must be what the folder shows.
pub(crate) fn copy_tree(from: &Path, to: &Path) -> Result<(), ImageError> {
    make_dir(to)?;
    for (relative, meta) in walk(from)? {
        let source = from.join(&relative);
        let target = to.join(&relative);
        if meta.is_dir() {
            make_dir(&target)?;
        } else if meta.is_file() {
            std::fs::copy(&source, &target).map_err(ImageError::io(&source))?;
            set_mode(&target, if meta.permissions().mode() & 0o111 != 0 { 0o755 } else { 0o644 })?;
        } else {
            return Err(ImageError::invalid(
                source.display().to_string(),
                "only directories and regular files can go into an image (no links or devices)",
            ));
        }
    }
    Ok(())
}

/// Every entry under `root` (not `root` itself), sorted by path (parents first), with its metadata
/// (links not followed).
pub(crate) fn walk(root: &Path) -> Result<Vec<(PathBuf, std::fs::Metadata)>, ImageError> {
    let mut out = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let dir = root.join(&relative);
        let mut children: Vec<_> = std::fs::read_dir(&dir)
            .map_err(ImageError::io(&dir))?
            .map(|entry| entry.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(ImageError::io(&dir))?;
        children.sort();
        for name in children {
            let child = relative.join(name);
            let meta = std::fs::symlink_metadata(root.join(&child)).map_err(ImageError::io(root.join(&child)))?;
            if meta.is_dir() {
                pending.push(child.clone());
            }
            out.push((child, meta));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Set one file's access and modification time to the build epoch.
pub(crate) fn stamp(path: &Path) -> Result<(), ImageError> {
    let file = File::open(path).map_err(ImageError::io(path))?;
    file.set_times(FileTimes::new().set_accessed(epoch()).set_modified(epoch())).map_err(ImageError::io(path))
}

/// Finish a staged tree: every directory (the root too) mode 0755, and every entry's access and
/// modification time the build epoch, deepest first so a directory's time is set after its
/// children were touched.
pub(crate) fn finish_tree(root: &Path) -> Result<(), ImageError> {
    let mut entries: Vec<(PathBuf, bool)> =
        walk(root)?.into_iter().map(|(p, meta)| (root.join(p), meta.is_dir())).collect();
    entries.reverse();
    entries.push((root.to_owned(), true));
    let times = FileTimes::new().set_accessed(epoch()).set_modified(epoch());
    for (path, is_dir) in entries {
        if is_dir {
            set_mode(&path, 0o755)?;
        }
        let file = File::open(&path).map_err(ImageError::io(&path))?;
        file.set_times(times).map_err(ImageError::io(&path))?;
    }
    Ok(())
}

/// A digest of a tree's names, kinds, modes and contents (for the inputs record).
pub(crate) fn tree_digest(root: &Path) -> Result<String, ImageError> {
    let mut hasher = Sha256::new();
    for (relative, meta) in walk(root)? {
        let path = root.join(&relative);
        let kind = if meta.is_dir() {
            "d"
        } else if meta.is_file() {
            "f"
        } else {
            "?"
        };
        let exec = if meta.permissions().mode() & 0o111 != 0 { "x" } else { "-" };
        hasher.update(format!("{kind}{exec} {}\n", relative.display()));
        if meta.is_file() {
            let bytes = std::fs::read(&path).map_err(ImageError::io(&path))?;
            hasher.update(Sha256::digest(&bytes));
        }
    }
    Ok(crate::inputs::hex(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
    use super::*;

    #[test]
    fn copies_normalises_and_fixes_times() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        write_file(&src.join("b/run.sh"), b"x", 0o700).unwrap();
        write_file(&src.join("a.txt"), b"y", 0o600).unwrap();
        let dst = dir.path().join("dst");
        copy_tree(&src, &dst).unwrap();
        finish_tree(&dst).unwrap();
        let listed: Vec<String> = walk(&dst).unwrap().iter().map(|(p, _)| p.display().to_string()).collect();
        assert_eq!(listed, ["a.txt", "b", "b/run.sh"]);
        let meta = std::fs::metadata(dst.join("b/run.sh")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o755);
        assert_eq!(meta.modified().unwrap(), epoch());
        assert_eq!(std::fs::metadata(dst.join("a.txt")).unwrap().permissions().mode() & 0o7777, 0o644);
        assert_eq!(std::fs::metadata(&dst).unwrap().modified().unwrap(), epoch());
        assert_eq!(tree_digest(&src).unwrap(), tree_digest(&dst).unwrap());
    }

    #[test]
    fn refuses_links() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        make_dir(&src).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.join("link")).unwrap();
        assert!(copy_tree(&src, &dir.path().join("dst")).is_err());
    }
}
