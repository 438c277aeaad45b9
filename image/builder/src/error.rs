//! What can go wrong building or reading an image. Every message names the tool, file or input.

use std::path::PathBuf;

use crate::cpio::CpioError;
use crate::gpt::GptError;
use crate::modules_dep::ModulesDepError;
use crate::pe::PeError;

/// Why an image could not be built or read.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A program the build runs is not installed.
    #[error("{tool} not found: apt-get install {package} (or run `cargo xtask setup`)")]
    ToolMissing {
        /// The program (`mkfs.erofs`).
        tool: String,
        /// The Debian package that has it.
        package: String,
    },
    /// An input file or folder is absent.
    #[error("{what} not found at {}: {hint}", path.display())]
    InputMissing {
        /// What it is ("the guest kernel", "systemd-boot's UKI stub").
        what: String,
        path: PathBuf,
        /// How to get it.
        hint: String,
    },
    /// An input is there but unusable.
    #[error("{what}: {problem}")]
    Invalid {
        /// What was refused.
        what: String,
        /// Why.
        problem: String,
    },
    /// A program ran and failed.
    #[error("{tool} failed ({status}): {stderr}")]
    ToolFailed {
        tool: String,
        status: String,
        /// The end of its standard error (or output).
        stderr: String,
    },
    /// A program could not be started.
    #[error("could not run {tool}: {source}")]
    Spawn { tool: String, source: std::io::Error },
    /// Reading or writing a file.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Modules(#[from] ModulesDepError),
    #[error(transparent)]
    Cpio(#[from] CpioError),
    #[error(transparent)]
    Gpt(#[from] GptError),
    #[error(transparent)]
    Pe(#[from] PeError),
}

impl ImageError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ImageError {
        let path = path.into();
        move |source| ImageError::Io { path, source }
    }

    pub(crate) fn invalid(what: impl Into<String>, problem: impl Into<String>) -> ImageError {
        ImageError::Invalid { what: what.into(), problem: problem.into() }
    }
}
