//! The static `qp-node` binary the image runs as PID 1 (`/init` in the initramfs, and
//! `/usr/bin/qp-node` in the root): built per variant with only that variant's features, or taken
//! ready-made (`--node-binary`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Variant;
use crate::error::ImageError;

/// The cargo profile of the image's binaries (`[profile.image]` in the workspace's `Cargo.toml`).
pub const NODE_PROFILE: &str = "image";
/// The target named explicitly, so `+crt-static` reaches only the binary and not build scripts.
pub const NODE_TARGET: &str = "x86_64-unknown-linux-gnu";
/// The package and binary.
pub const NODE_PACKAGE: &str = "qp-node";

/// How the image gets its `qp-node`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeBinary {
    /// `cargo build` in `workspace`, into `target_dir` (the workspace's `target/`, shared by both
    /// variants' builds).
    Build { workspace: PathBuf, target_dir: PathBuf },
    /// A binary built already (it must be a static x86-64 ELF executable).
    Prebuilt(PathBuf),
}

/// The qp-node features of a variant: the cloud image carries only the ingest side, the local one
/// only the vault side (qp-node's `Cargo.toml`).
#[must_use]
pub fn node_features(variant: Variant) -> &'static str {
    match variant {
        Variant::Cloud => "ingest",
        Variant::Local => "vault",
    }
}

/// The cargo arguments that build a variant's binary.
#[must_use]
pub fn cargo_args(variant: Variant, target_dir: &Path) -> Vec<String> {
    [
        "build",
        "--profile",
        NODE_PROFILE,
        "--target",
        NODE_TARGET,
        "-p",
        NODE_PACKAGE,
        "--bin",
        NODE_PACKAGE,
        "--no-default-features",
        "--features",
        node_features(variant),
        "--target-dir",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .chain(std::iter::once(target_dir.display().to_string()))
    .collect()
}

/// Both variants' builds write the same output file: one build (and the read of what it made) at
/// a time in this process.
static BUILD_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Build the variant's static binary and return its bytes (cargo's own output goes to the
/// terminal).
pub fn build(workspace: &Path, target_dir: &Path, variant: Variant) -> Result<Vec<u8>, ImageError> {
    let _one_at_a_time = BUILD_LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    command
        .args(cargo_args(variant, target_dir))
        .current_dir(workspace)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET");
    tracing::info!(?command, "building the static qp-node");
    let status = command.status().map_err(|source| ImageError::Spawn { tool: "cargo".to_owned(), source })?;
    if !status.success() {
        return Err(ImageError::ToolFailed {
            tool: "cargo build (qp-node)".to_owned(),
            status: status.to_string(),
            stderr: "see cargo's output above".to_owned(),
        });
    }
    let binary = target_dir.join(NODE_TARGET).join(NODE_PROFILE).join(NODE_PACKAGE);
    std::fs::read(&binary).map_err(ImageError::io(binary))
}

const PT_INTERP: u32 = 3;
const EM_X86_64: u16 = 62;

/// Refuse what cannot run as `/init`: anything but an x86-64 ELF executable without a program
/// interpreter (the initramfs has no dynamic loader or libc).
pub fn check_static(bytes: &[u8], path: &Path) -> Result<(), ImageError> {
    let refuse = |problem: &str| Err(ImageError::invalid(format!("node binary {}", path.display()), problem));
    if bytes.get(0..4) != Some(b"\x7fELF") || bytes.get(4) != Some(&2) || bytes.get(5) != Some(&1) {
        return refuse("not a 64-bit little-endian ELF file");
    }
    let u16_at = |at: usize| bytes.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let e_type = u16_at(16);
    if !matches!(e_type, Some(2 | 3)) || u16_at(18) != Some(EM_X86_64) {
        return refuse("not an x86-64 executable");
    }
    let phoff = bytes.get(32..40).map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]));
    let (Some(phoff), Some(phentsize), Some(phnum)) = (phoff, u16_at(54), u16_at(56)) else {
        return refuse("truncated ELF header");
    };
    for i in 0..usize::from(phnum) {
        let at = phoff as usize + i * usize::from(phentsize);
        let Some(p_type) = bytes.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])) else {
            return refuse("truncated program headers");
        };
        if p_type == PT_INTERP {
            return refuse(
                "dynamically linked (it names a program interpreter); build it with \
                 RUSTFLAGS='-C target-feature=+crt-static' --target x86_64-unknown-linux-gnu",
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
    use super::*;

    #[test]
    fn features_follow_the_variant() {
        let args = cargo_args(Variant::Cloud, Path::new("/w/target"));
        assert!(args.windows(2).any(|w| w == ["--features", "ingest"]));
        assert!(args.contains(&"--no-default-features".to_owned()));
        assert_eq!(args.last().unwrap(), "/w/target");
        assert_eq!(node_features(Variant::Local), "vault");
    }

    #[test]
    fn a_dynamic_binary_is_refused() {
        // This test binary itself is dynamically linked.
        let me = std::env::current_exe().unwrap();
        let err = check_static(&std::fs::read(&me).unwrap(), &me).unwrap_err().to_string();
        assert!(err.contains("dynamically linked"), "{err}");
        assert!(check_static(b"#!/bin/sh\n", Path::new("x")).unwrap_err().to_string().contains("not a 64-bit"));
    }
}
