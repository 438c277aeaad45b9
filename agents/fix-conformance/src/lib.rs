//! Runs QuickFIX's FIX 4.4 session acceptance scripts (`.def`) against the project's acceptor.
//! Design: `agents/fix-conformance/DESIGN.md`.
//!
//! - [`Script::parse`]: the script grammar (`iCONNECT`, `I<msg>`, `E<msg>`, `eDISCONNECT`,
//!   connection prefixes `I2,…`), typed errors naming file and line.
//! - [`Template::fill`]: `<TIME>`/`<TIME±n>`, BodyLength and CheckSum filled in as QuickFIX's
//!   runner does; [`compare`]: QuickFIX's comparison rule (`fields.fmt` patterns).
//! - [`run_script`] against a [`ScriptTarget`]: [`InProcessTarget`] (the `qp_fix` session on a
//!   virtual clock, behind QuickFIX's echo application) or a socket target with real time.
//!
//! The core (parsing, comparing, running) does no I/O; [`load_scripts`] reads a directory.
#![forbid(unsafe_code)]

mod compare;
mod in_process;
mod runner;
mod script;

use std::path::{Path, PathBuf};

pub use compare::{Mismatch, compare};
pub use in_process::{EchoApplication, EchoReply, InProcessConfig, InProcessTarget, VIRTUAL_EPOCH_NS};
pub use runner::{
    Failure, FrameSplitter, Received, RunOptions, ScriptResult, ScriptTarget, Summary, TargetError, run_script,
};
pub use script::{Action, ConnId, Script, ScriptError, Step, Template, show};

/// Why scripts could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("reading {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Script(#[from] ScriptError),
    #[error("{0}: no .def scripts")]
    Empty(PathBuf),
}

/// Every `*.def` file in `dir`, parsed, in file-name order.
pub fn load_scripts(dir: &Path) -> Result<Vec<Script>, LoadError> {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LoadError + '_ {
        move |source| LoadError::Io { path: path.to_owned(), source }
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "def"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(LoadError::Empty(dir.to_owned()));
    }
    paths
        .iter()
        .map(|path| {
            let text = std::fs::read(path).map_err(io(path))?;
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            Ok(Script::parse(&name, &text)?)
        })
        .collect()
}

/// Runs every script against a fresh target from `make_target` (one engine per script, as
/// QuickFIX's suite restarts nothing but resets the session on every disconnect).
pub fn run_all<T: ScriptTarget>(
    scripts: &[Script],
    mut make_target: impl FnMut() -> T,
    options: &RunOptions,
) -> Vec<ScriptResult> {
    scripts.iter().map(|script| run_script(script, &mut make_target(), options)).collect()
}
