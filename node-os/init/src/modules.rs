//! Loading kernel modules with `finit_module(2)`. The image builder resolves dependencies and hands PID 1 an
//! ordered list of `.ko` files (uncompressed), so nothing here reads `modules.dep`. A module already loaded or
//! built in (`EEXIST`) counts as loaded. Every module is attempted; the report says what happened to each.

use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use thiserror::Error;
use tracing::{info, warn};

/// A module that did not load.
#[derive(Debug, Error)]
pub enum ModuleError {
    /// The `.ko` file could not be opened.
    #[error("cannot open kernel module {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The kernel refused it (`ENOENT` here usually means a dependency is missing: an earlier failure).
    #[error("finit_module({}) failed: {source}", path.display())]
    Load {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// One module's outcome.
#[derive(Debug)]
pub enum ModuleResult {
    /// Loaded now.
    Loaded,
    /// Already loaded or built in (`EEXIST`).
    AlreadyLoaded,
    /// Not loaded.
    Failed(ModuleError),
}

/// One module: its file, outcome and time taken.
#[derive(Debug)]
pub struct ModuleOutcome {
    /// The file (base joined with the listed path).
    pub path: PathBuf,
    /// What happened.
    pub result: ModuleResult,
    /// Time in `open` + `finit_module`.
    pub elapsed: Duration,
}

/// What [`load_modules`] did.
#[derive(Debug, Default)]
pub struct ModuleReport {
    /// Per module, in list order.
    pub outcomes: Vec<ModuleOutcome>,
    /// Total time.
    pub elapsed: Duration,
}

impl ModuleReport {
    /// Whether every module is loaded (now or before).
    #[must_use]
    pub fn all_loaded(&self) -> bool {
        self.failures().next().is_none()
    }

    /// The modules that failed.
    pub fn failures(&self) -> impl Iterator<Item = &ModuleError> {
        self.outcomes.iter().filter_map(|o| match &o.result {
            ModuleResult::Failed(e) => Some(e),
            _ => None,
        })
    }

    /// `(loaded now, already loaded, failed)`.
    #[must_use]
    pub fn counts(&self) -> (usize, usize, usize) {
        self.outcomes.iter().fold((0, 0, 0), |(l, a, f), o| match o.result {
            ModuleResult::Loaded => (l + 1, a, f),
            ModuleResult::AlreadyLoaded => (l, a + 1, f),
            ModuleResult::Failed(_) => (l, a, f + 1),
        })
    }
}

impl fmt::Display for ModuleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (loaded, already, failed) = self.counts();
        write!(f, "modules: {loaded} loaded, {already} already present, {failed} failed in {:?}", self.elapsed)?;
        for e in self.failures() {
            write!(f, "; {e}")?;
        }
        Ok(())
    }
}

/// Loads each module `base.join(entry)` in order (an absolute entry stands alone) with empty parameters.
pub fn load_modules(base: &Path, list: &[PathBuf]) -> ModuleReport {
    let start = Instant::now();
    let mut report = ModuleReport::default();
    for entry in list {
        let t = Instant::now();
        let path = base.join(entry);
        let result = match load_one(&path) {
            Ok(true) => ModuleResult::Loaded,
            Ok(false) => ModuleResult::AlreadyLoaded,
            Err(e) => {
                warn!(error = %e, "module not loaded");
                ModuleResult::Failed(e)
            }
        };
        report.outcomes.push(ModuleOutcome { path, result, elapsed: t.elapsed() });
    }
    report.elapsed = start.elapsed();
    info!("{report}");
    report
}

/// `Ok(true)`: loaded; `Ok(false)`: already there.
fn load_one(path: &Path) -> Result<bool, ModuleError> {
    let file = File::open(path).map_err(|source| ModuleError::Open { path: path.to_owned(), source })?;
    match rustix::system::finit_module(&file, c"", 0) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::EXIST) => Ok(false),
        Err(e) => Err(ModuleError::Load { path: path.to_owned(), source: e.into() }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
mod tests {
    use super::*;

    #[test]
    fn missing_files_are_reported_by_name_and_the_rest_still_tried() {
        let dir = tempfile::tempdir().unwrap();
        let list = vec![PathBuf::from("kernel/a.ko"), PathBuf::from("kernel/b.ko")];
        let report = load_modules(dir.path(), &list);
        assert_eq!(report.outcomes.len(), 2);
        assert_eq!(report.counts(), (0, 0, 2));
        assert!(!report.all_loaded());
        let text = report.to_string();
        assert!(text.contains("a.ko") && text.contains("b.ko"), "{text}");
        assert_eq!(report.outcomes[1].path, dir.path().join("kernel/b.ko"));
    }

    #[test]
    fn a_non_module_file_is_refused_not_panicked_on() {
        // Unprivileged: EPERM; privileged: ENOEXEC. Either way a typed error naming the file.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("junk.ko"), b"not an ELF").unwrap();
        let report = load_modules(dir.path(), &[PathBuf::from("junk.ko")]);
        let e = report.failures().next().unwrap();
        assert!(matches!(e, ModuleError::Load { .. }), "{e}");
        assert!(e.to_string().contains("junk.ko"));
    }
}
