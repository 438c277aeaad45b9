//! The console: the kernel starts PID 1 with fds 0, 1, 2 on `/dev/console` when it can open it from the
//! initramfs; when it could not, they are closed and anything PID 1 prints is lost. [`attach_console`] opens
//! `/dev/console` for each of them that is not open.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use thiserror::Error;
use tracing::debug;

/// The console node.
pub const CONSOLE: &str = "/dev/console";

/// The console could not be attached.
#[derive(Debug, Error)]
pub enum ConsoleError {
    /// `/dev/console` could not be opened.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The node.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// `dup2` onto a standard descriptor failed.
    #[error("dup2({}, {fd}) failed: {source}", path.display())]
    Dup {
        /// The node.
        path: PathBuf,
        /// The standard descriptor.
        fd: i32,
        /// Why.
        source: io::Error,
    },
}

/// Which standard descriptors [`attach_console`] had to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Attached {
    /// fd 0 was closed and is now the console.
    pub stdin: bool,
    /// fd 1 was closed and is now the console.
    pub stdout: bool,
    /// fd 2 was closed and is now the console.
    pub stderr: bool,
}

fn is_open(fd: BorrowedFd<'_>) -> bool {
    rustix::io::fcntl_getfd(fd).is_ok()
}

/// Opens `/dev/console` (read-write, `O_NOCTTY`) as each of fds 0, 1, 2 that is not open; leaves open ones
/// alone.
pub fn attach_console() -> Result<Attached, ConsoleError> {
    let need = Attached {
        stdin: !is_open(rustix::stdio::stdin()),
        stdout: !is_open(rustix::stdio::stdout()),
        stderr: !is_open(rustix::stdio::stderr()),
    };
    if need == Attached::default() {
        return Ok(need);
    }
    let path = PathBuf::from(CONSOLE);
    // Opening takes the lowest free descriptor, which may itself be one of 0..=2.
    let console = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&path)
        .map_err(|source| ConsoleError::Open { path: path.clone(), source })?;
    let raw = console.as_raw_fd();
    let dup_err = |fd: i32| {
        let path = path.clone();
        move |e: rustix::io::Errno| ConsoleError::Dup { path, fd, source: e.into() }
    };
    if need.stdin && raw != 0 {
        rustix::stdio::dup2_stdin(console.as_fd()).map_err(dup_err(0))?;
    }
    if need.stdout && raw != 1 {
        rustix::stdio::dup2_stdout(console.as_fd()).map_err(dup_err(1))?;
    }
    if need.stderr && raw != 2 {
        rustix::stdio::dup2_stderr(console.as_fd()).map_err(dup_err(2))?;
    }
    if raw <= 2 {
        // It *is* a standard descriptor now: inheritable (std opens with O_CLOEXEC), and kept open.
        rustix::io::fcntl_setfd(&console, rustix::io::FdFlags::empty()).map_err(dup_err(raw))?;
        let _ = console.into_raw_fd();
    }
    debug!(?need, "console attached");
    Ok(need)
}
