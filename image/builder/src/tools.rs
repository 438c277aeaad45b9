//! The programs the build runs, found on a search path before anything starts (so a missing one is
//! one error naming it and its Debian package), and run with a fixed environment (clock, time zone,
//! locale) so their output does not depend on when or where the build runs.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::error::ImageError;

/// The fixed time every tool is told it is, and every file's time stamp: 1980-01-01T00:00:00Z
/// (the FAT epoch, the earliest time every file system here can store; FAT cannot store 1970).
pub const BUILD_EPOCH: u64 = 315_532_800;

/// A program and the Debian package that provides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tool {
    pub name: &'static str,
    pub package: &'static str,
}

pub const MKFS_EROFS: Tool = Tool { name: "mkfs.erofs", package: "erofs-utils" };
pub const FSCK_EROFS: Tool = Tool { name: "fsck.erofs", package: "erofs-utils" };
pub const VERITYSETUP: Tool = Tool { name: "veritysetup", package: "cryptsetup-bin" };
pub const MKFS_VFAT: Tool = Tool { name: "mkfs.vfat", package: "dosfstools" };
pub const MMD: Tool = Tool { name: "mmd", package: "mtools" };
pub const MCOPY: Tool = Tool { name: "mcopy", package: "mtools" };
pub const MKFS_EXT4: Tool = Tool { name: "mkfs.ext4", package: "e2fsprogs" };
pub const DEBUGFS: Tool = Tool { name: "debugfs", package: "e2fsprogs" };
pub const OBJCOPY: Tool = Tool { name: "objcopy", package: "binutils" };

/// What `build` runs (checked before the first step).
pub const BUILD_TOOLS: &[Tool] = &[MKFS_EROFS, VERITYSETUP, MKFS_VFAT, MMD, MCOPY, MKFS_EXT4, DEBUGFS, OBJCOPY];
/// What `inspect` runs.
pub const INSPECT_TOOLS: &[Tool] = &[FSCK_EROFS, MCOPY, DEBUGFS];

/// Where programs are looked up.
#[derive(Debug, Clone)]
pub struct Toolbox {
    dirs: Vec<PathBuf>,
}

impl Toolbox {
    /// `search_path` (a `PATH`-style list) when given, else `$PATH` plus the sbin folders (mkfs
    /// tools live there, and an ordinary user's `PATH` may lack them).
    #[must_use]
    pub fn new(search_path: Option<&OsStr>) -> Self {
        let dirs = match search_path {
            Some(path) => std::env::split_paths(path).collect(),
            None => {
                let mut dirs: Vec<PathBuf> =
                    std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
                for extra in ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
                    if !dirs.iter().any(|d| d == Path::new(extra)) {
                        dirs.push(PathBuf::from(extra));
                    }
                }
                dirs
            }
        };
        Self { dirs }
    }

    /// The program's full path.
    pub fn find(&self, tool: Tool) -> Result<PathBuf, ImageError> {
        self.dirs
            .iter()
            .map(|dir| dir.join(tool.name))
            .find(|path| is_executable(path))
            .ok_or_else(|| ImageError::ToolMissing { tool: tool.name.to_owned(), package: tool.package.to_owned() })
    }

    /// Check that every one of `tools` is present: the first missing one is the error.
    pub fn require(&self, tools: &[Tool]) -> Result<(), ImageError> {
        tools.iter().try_for_each(|tool| self.find(*tool).map(|_| ()))
    }

    /// A command for `tool` with the fixed environment.
    pub fn command(&self, tool: Tool) -> Result<ToolCommand, ImageError> {
        let mut command = Command::new(self.find(tool)?);
        fixed_environment(&mut command);
        Ok(ToolCommand { tool, command })
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Time, zone and locale fixed for a child.
pub(crate) fn fixed_environment(command: &mut Command) {
    let epoch = BUILD_EPOCH.to_string();
    command
        .env("SOURCE_DATE_EPOCH", &epoch)
        .env("E2FSPROGS_FAKE_TIME", &epoch)
        .env("TZ", "UTC")
        .env("LC_ALL", "C")
        .env("MTOOLS_SKIP_CHECK", "1")
        .env_remove("MTOOLSRC")
        .env_remove("LANG")
        .env_remove("LANGUAGE");
}

/// A tool's command line, run with [`ToolCommand::run`].
#[derive(Debug)]
pub struct ToolCommand {
    tool: Tool,
    command: Command,
}

impl ToolCommand {
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.command.arg(arg);
        self
    }

    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command.args(args);
        self
    }

    pub fn current_dir(&mut self, dir: &Path) -> &mut Self {
        self.command.current_dir(dir);
        self
    }

    pub fn env(&mut self, key: &str, value: impl AsRef<OsStr>) -> &mut Self {
        self.command.env(key, value);
        self
    }

    /// Run it to the end; a non-zero exit is an error carrying the end of its standard error.
    pub fn run(&mut self) -> Result<Output, ImageError> {
        tracing::debug!(command = ?self.command, "running");
        let output = self
            .command
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|source| ImageError::Spawn { tool: self.tool.name.to_owned(), source })?;
        if output.status.success() {
            return Ok(output);
        }
        let mut text = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        if text.is_empty() {
            text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        }
        Err(ImageError::ToolFailed {
            tool: self.tool.name.to_owned(),
            status: output.status.to_string(),
            stderr: tail(&text),
        })
    }
}

/// The last few lines of a tool's complaint.
fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

/// A `PATH` value: `dirs` joined.
pub fn join_path(dirs: &[PathBuf]) -> Result<OsString, ImageError> {
    std::env::join_paths(dirs).map_err(|e| ImageError::invalid("search path", e.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
    use super::*;

    #[test]
    fn a_missing_tool_is_named_with_its_package() {
        let dir = tempfile::tempdir().unwrap();
        let toolbox = Toolbox::new(Some(dir.path().as_os_str()));
        let err = toolbox.require(BUILD_TOOLS).unwrap_err();
        assert_eq!(err.to_string(), "mkfs.erofs not found: apt-get install erofs-utils (or run `cargo xtask setup`)");
    }

    #[test]
    fn finds_an_executable_on_the_given_path() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("objcopy");
        std::fs::write(&fake, "#!/bin/sh\nexit 3\n").unwrap();
        let toolbox = Toolbox::new(Some(dir.path().as_os_str()));
        assert!(toolbox.find(OBJCOPY).is_err(), "not executable yet");
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(toolbox.find(OBJCOPY).unwrap(), fake);
        let err = toolbox.command(OBJCOPY).unwrap().arg("x").run().unwrap_err();
        assert!(err.to_string().starts_with("objcopy failed (exit status: 3)"), "{err}");
    }
}
