#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! qp-fix-conformance: QuickFIX's 59 FIX 4.4 acceptance scripts against the project's
//! acceptor (in process, virtual clock), and the parser, comparator and runner on hostile
//! input — including scripts that must fail, to show the runner can fail.

use std::path::PathBuf;
use std::sync::OnceLock;

use qp_fix::Dictionary;
use qp_fix_conformance::*;

mod comparator;
mod parser;
mod runner;
mod scripts;

/// The FIX 4.4 dictionary named by `QP_FIX44_XML` (set by `cargo xtask test`).
fn dictionary() -> &'static Dictionary {
    static DICTIONARY: OnceLock<Dictionary> = OnceLock::new();
    DICTIONARY.get_or_init(|| {
        let path = std::env::var_os("QP_FIX44_XML").unwrap_or_else(|| {
            panic!(
                "QP_FIX44_XML is not set: run `cargo xtask setup` (it extracts FIX44.xml from the quickfix \
                 sdist into .cache/fix/) and set QP_FIX44_XML=.cache/fix/FIX44.xml, or run `cargo xtask test`"
            )
        });
        Dictionary::load(&PathBuf::from(path)).unwrap()
    })
}

/// QuickFIX's scripts: `QP_FIX_DEFS`, else `../shared/data/quickfix/fix44` beside the
/// workspace (`CARGO_MANIFEST_DIR/../../../shared/…`).
fn defs_dir() -> PathBuf {
    std::env::var_os("QP_FIX_DEFS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/quickfix/fix44"))
}

fn in_process() -> InProcessTarget<'static> {
    InProcessTarget::new(dictionary(), &InProcessConfig::default())
}

/// Runs a script written inline (`|` for SOH) against the in-process acceptor.
fn run_text(text: &str) -> ScriptResult {
    let script = Script::parse("inline.def", text.replace('|', "\u{1}").as_bytes()).unwrap();
    run_script(&script, &mut in_process(), &RunOptions::default())
}
