//! Finds the workspace's built binaries for the system tests in `tests/`.
//!
//! Cargo gives `CARGO_BIN_EXE_*` only to tests of the crate that owns a binary;
//! these tests drive binaries of several crates, so they look next to their own
//! test executable (`target/<profile>/deps/..`). `cargo xtask test` builds the
//! binaries first.
#![forbid(unsafe_code)]

use std::path::PathBuf;

/// Path of the workspace binary `name`, built in the same profile as the test.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).map(PathBuf::from).unwrap_or_default();
    profile_dir.join(name)
}

/// The shared test data folder, beside the project checkout.
pub fn shared_data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}
