//! Mounts: the pseudo file systems PID 1 needs first, the verified root (read-only erofs), the data partition
//! (ext4), the classic `switch_root`, and unmounting at shutdown.

use std::ffi::CStr;
use std::fmt;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::mount::{MountFlags, UnmountFlags};
use thiserror::Error;
use tracing::{debug, info, warn};

/// The mounts [`switch_root`] carries into the new root, in order.
pub const CARRIED_MOUNTS: [&str; 6] = ["/proc", "/sys", "/dev", "/run", "/tmp", "/data"];

/// A mount step that failed.
#[derive(Debug, Error)]
pub enum MountError {
    /// A mount point could not be created.
    #[error("cannot create mount point {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// `mount(2)` failed.
    #[error("cannot mount {fstype} {} on {}: {source}", device.display(), target.display())]
    Mount {
        /// File system type.
        fstype: String,
        /// The source (device path, or the pseudo file system's name).
        device: PathBuf,
        /// The mount point.
        target: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The new root given to [`switch_root`] is not a mount point (`MS_MOVE` onto `/` needs one).
    #[error("new root {} is not a mount point", path.display())]
    NotAMountPoint {
        /// The path.
        path: PathBuf,
    },
    /// `mount(MS_MOVE)` failed.
    #[error("cannot move mount {} to {}: {source}", from.display(), to.display())]
    Move {
        /// Mount moved.
        from: PathBuf,
        /// Destination.
        to: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// `chdir(2)` or `chroot(2)` failed.
    #[error("{call}({}) failed: {source}", path.display())]
    Root {
        /// `chdir` or `chroot`.
        call: &'static str,
        /// Its argument.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// Whether `path` is a mount point: its device differs from its parent's (or it is `/`).
/// `false` when `path` does not exist.
#[must_use]
pub fn is_mount_point(path: &Path) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return false };
    match std::fs::metadata(path.join("..")) {
        Ok(parent) => parent.dev() != meta.dev() || parent.ino() == meta.ino(),
        Err(_) => false,
    }
}

fn ensure_dir(path: &Path) -> Result<(), MountError> {
    if path.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(path).map_err(|source| MountError::CreateDir { path: path.to_owned(), source })
}

fn do_mount(
    device: &Path,
    target: &Path,
    fstype: &str,
    flags: MountFlags,
    data: Option<&CStr>,
) -> Result<(), MountError> {
    ensure_dir(target)?;
    rustix::mount::mount(device, target, fstype, flags, data).map_err(|e| MountError::Mount {
        fstype: fstype.to_owned(),
        device: device.to_owned(),
        target: target.to_owned(),
        source: e.into(),
    })?;
    info!(fstype, device = %device.display(), target = %target.display(), ?flags, "mounted");
    Ok(())
}

/// Mounts proc on `/proc`, sysfs on `/sys`, devtmpfs on `/dev`, tmpfs on `/run` and `/tmp` (creating the mount
/// points when missing). One already mounted (a mount point already, or `EBUSY`) is left as it is.
pub fn mount_pseudo_filesystems() -> Result<(), MountError> {
    let nsnd = MountFlags::NOSUID | MountFlags::NODEV;
    let table: [(&str, &str, &str, MountFlags, Option<&CStr>); 5] = [
        ("proc", "/proc", "proc", nsnd | MountFlags::NOEXEC, None),
        ("sysfs", "/sys", "sysfs", nsnd | MountFlags::NOEXEC, None),
        ("devtmpfs", "/dev", "devtmpfs", MountFlags::NOSUID, Some(c"mode=0755")),
        ("tmpfs", "/run", "tmpfs", nsnd, Some(c"mode=0755")),
        ("tmpfs", "/tmp", "tmpfs", nsnd, Some(c"mode=1777")),
    ];
    for (source, target, fstype, flags, data) in table {
        let target = Path::new(target);
        if is_mount_point(target) {
            debug!(target = %target.display(), "already mounted");
            continue;
        }
        match do_mount(Path::new(source), target, fstype, flags, data) {
            Err(MountError::Mount { source: e, .. }) if e.raw_os_error() == Some(libc::EBUSY) => {
                debug!(target = %target.display(), "already mounted (EBUSY)");
            }
            other => other?,
        }
    }
    Ok(())
}

/// Mounts `dev` on `target` read-only, `nodev`, `nosuid` (the verified root: erofs on dm-verity).
pub fn mount_readonly(dev: &Path, target: &Path, fstype: &str) -> Result<(), MountError> {
    do_mount(dev, target, fstype, MountFlags::RDONLY | MountFlags::NODEV | MountFlags::NOSUID, None)
}

/// Mounts the data partition `dev` (ext4) on `target` read-write, `nosuid`, `nodev`, `noexec`: nothing on it
/// is ever run.
pub fn mount_data(dev: &Path, target: &Path) -> Result<(), MountError> {
    do_mount(dev, target, "ext4", MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC, None)
}

/// Mounts the EFI system partition `dev` (FAT32) on `target` read-write, `nosuid`, `nodev`,
/// `noexec`, for the A/B updater to write and rename boot entries. Short names in code page 437,
/// long names as ASCII (every name the node writes is ASCII); `dirsync` makes every directory
/// change (a boot entry's creation, rename, removal) reach the disk before the call returns, so a
/// cut during a rename leaves the old or the new name (at worst both), never neither with the
/// file's clusters lost; `flush` writes each file's data when it is closed.
pub fn mount_esp(dev: &Path, target: &Path) -> Result<(), MountError> {
    do_mount(
        dev,
        target,
        "vfat",
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC | MountFlags::DIRSYNC,
        Some(c"codepage=437,iocharset=ascii,shortname=mixed,flush,umask=0077"),
    )
}

/// The classic `switch_root`: moves [`CARRIED_MOUNTS`] that are mounted under `new_root` (whose directories for
/// them must exist: a read-only root cannot grow them), moves `new_root` onto `/`, `chroot(".")`, `chdir("/")`.
/// The initramfs's files are not deleted. Process state (this binary, open files) is unaffected.
pub fn switch_root(new_root: &Path) -> Result<(), MountError> {
    if !is_mount_point(new_root) || new_root == Path::new("/") {
        return Err(MountError::NotAMountPoint { path: new_root.to_owned() });
    }
    for m in CARRIED_MOUNTS {
        let from = Path::new(m);
        if !is_mount_point(from) {
            debug!(mount = m, "not mounted; not carried");
            continue;
        }
        let to = new_root.join(m.trim_start_matches('/'));
        ensure_dir(&to)?;
        rustix::mount::mount_move(from, &to).map_err(|e| MountError::Move {
            from: from.to_owned(),
            to: to.clone(),
            source: e.into(),
        })?;
        debug!(from = m, to = %to.display(), "moved");
    }
    let root_err = |call, path: &Path| {
        let path = path.to_owned();
        move |e: rustix::io::Errno| MountError::Root { call, path, source: e.into() }
    };
    rustix::process::chdir(new_root).map_err(root_err("chdir", new_root))?;
    rustix::mount::mount_move(".", "/").map_err(|e| MountError::Move {
        from: new_root.to_owned(),
        to: PathBuf::from("/"),
        source: e.into(),
    })?;
    rustix::process::chroot(".").map_err(root_err("chroot", Path::new(".")))?;
    rustix::process::chdir("/").map_err(root_err("chdir", Path::new("/")))?;
    info!(new_root = %new_root.display(), "switched root");
    Ok(())
}

/// What happened to one path at shutdown.
#[derive(Debug)]
pub enum UnmountOutcome {
    /// Unmounted cleanly.
    Unmounted,
    /// Busy: remounted read-only (so its file system is consistent), then detached.
    ReadOnlyThenDetached,
    /// Busy and could not be remounted read-only; detached (`MNT_DETACH`) after the `sync`.
    Detached {
        /// Why the remount failed.
        remount_error: io::Error,
    },
    /// Not a mount point; nothing done.
    NotMounted,
    /// Neither unmount nor detach worked.
    Failed {
        /// The plain unmount's error.
        unmount_error: io::Error,
        /// The detach's error.
        detach_error: io::Error,
    },
}

/// Per-path outcomes of [`unmount_all_for_shutdown`].
#[derive(Debug, Default)]
pub struct UnmountReport {
    /// Each path given, in order, with what happened.
    pub outcomes: Vec<(PathBuf, UnmountOutcome)>,
}

impl UnmountReport {
    /// Whether every path ended unmounted, detached or was not mounted.
    #[must_use]
    pub fn all_released(&self) -> bool {
        !self.outcomes.iter().any(|(_, o)| matches!(o, UnmountOutcome::Failed { .. }))
    }
}

impl fmt::Display for UnmountReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (path, outcome)) in self.outcomes.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            let p = path.display();
            match outcome {
                UnmountOutcome::Unmounted => write!(f, "{p}: unmounted")?,
                UnmountOutcome::ReadOnlyThenDetached => write!(f, "{p}: busy, remounted read-only and detached")?,
                UnmountOutcome::Detached { remount_error } => {
                    write!(f, "{p}: busy, detached (read-only remount failed: {remount_error})")?;
                }
                UnmountOutcome::NotMounted => write!(f, "{p}: not mounted")?,
                UnmountOutcome::Failed { unmount_error, detach_error } => {
                    write!(f, "{p}: FAILED (umount: {unmount_error}; detach: {detach_error})")?;
                }
            }
        }
        Ok(())
    }
}

/// At shutdown: `sync`, then for each path (give children before parents) `umount`; a busy one is remounted
/// read-only and detached with `MNT_DETACH`; then `sync` again. Reports, never fails, never panics.
pub fn unmount_all_for_shutdown<P: AsRef<Path>>(paths: &[P]) -> UnmountReport {
    rustix::fs::sync();
    let mut report = UnmountReport::default();
    for path in paths {
        let path = path.as_ref();
        let outcome = if !is_mount_point(path) {
            UnmountOutcome::NotMounted
        } else {
            match rustix::mount::unmount(path, UnmountFlags::empty()) {
                Ok(()) => UnmountOutcome::Unmounted,
                Err(unmount_error) => {
                    let remount = rustix::mount::mount_remount(path, MountFlags::RDONLY, "");
                    match (rustix::mount::unmount(path, UnmountFlags::DETACH), remount) {
                        (Ok(()), Ok(())) => UnmountOutcome::ReadOnlyThenDetached,
                        (Ok(()), Err(e)) => UnmountOutcome::Detached { remount_error: e.into() },
                        (Err(detach_error), _) => UnmountOutcome::Failed {
                            unmount_error: unmount_error.into(),
                            detach_error: detach_error.into(),
                        },
                    }
                }
            }
        };
        match &outcome {
            UnmountOutcome::Failed { .. } => warn!(path = %path.display(), ?outcome, "unmount failed"),
            _ => info!(path = %path.display(), ?outcome, "unmount"),
        }
        report.outcomes.push((path.to_owned(), outcome));
    }
    rustix::fs::sync();
    report
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
mod tests {
    use super::*;

    #[test]
    fn mount_point_detection() {
        assert!(is_mount_point(Path::new("/")));
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a");
        std::fs::create_dir(&sub).unwrap();
        assert!(!is_mount_point(&sub));
        assert!(!is_mount_point(&dir.path().join("missing")));
    }

    #[test]
    fn unmount_report_on_plain_directories_does_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("x");
        std::fs::create_dir(&sub).unwrap();
        let report = unmount_all_for_shutdown(&[&sub, &dir.path().join("missing")]);
        assert!(report.all_released());
        assert!(matches!(report.outcomes[0].1, UnmountOutcome::NotMounted));
        assert!(report.to_string().contains("not mounted"), "{report}");
    }

    #[test]
    fn switch_root_refuses_a_plain_directory() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sysroot");
        std::fs::create_dir(&sub).unwrap();
        let err = switch_root(&sub).unwrap_err();
        assert!(matches!(err, MountError::NotAMountPoint { .. }));
        assert!(err.to_string().contains("sysroot"), "{err}");
    }
}
