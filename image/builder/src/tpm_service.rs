//! The TPM service (`qp-attestd`) in the root: the one dynamically linked program of the image.
//!
//! Debian ships libtss2 only as shared objects, so the process that holds the TPM's keys cannot
//! be static like `qp-node`. The image carries it at `/usr/bin/qp-attestd` with the dynamic loader
//! and exactly the shared objects it needs (`ldd`'s list, plus the TCTI module libtss2 opens at run
//! time), copied from the build host's Debian packages at their own paths. They live on the
//! verity-protected root, so the root hash that PID 1 measures first pins them too.
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::ImageError;

/// The package and binary.
pub const ATTESTD_PACKAGE: &str = "qp-attestd";
/// Where it goes in the root.
pub const ATTESTD_PATH: &str = "usr/bin/qp-attestd";
/// Opened by libtss2-tctildr with dlopen for `device:` TCTIs: ldd cannot see it.
const DLOPENED: &[&str] = &["libtss2-tcti-device.so.0"];
/// Where the build host's shared objects are (Debian 12, merged /usr).
const LIBRARY_DIRS: &[&str] = &["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu"];

/// A file for the root: its path in the root (relative), bytes and mode.
#[derive(Debug, Clone)]
pub struct RootFile {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub mode: u32,
}

/// Builds `qp-attestd` (dynamically linked, the image profile, no `--target`: a target folder of
/// its own next to the static build's) and answers its path.
pub fn build(workspace: &Path, target_dir: &Path) -> Result<PathBuf, ImageError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    command
        .args(["build", "--profile", crate::node_binary::NODE_PROFILE, "-p", ATTESTD_PACKAGE, "--bin", ATTESTD_PACKAGE])
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(workspace)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET");
    tracing::info!(?command, "building the TPM service");
    let status = command.status().map_err(|source| ImageError::Spawn { tool: "cargo".to_owned(), source })?;
    if !status.success() {
        return Err(ImageError::ToolFailed {
            tool: "cargo build (qp-attestd)".to_owned(),
            status: status.to_string(),
            stderr: "see cargo's output above".to_owned(),
        });
    }
    Ok(target_dir.join(crate::node_binary::NODE_PROFILE).join(ATTESTD_PACKAGE))
}

/// The service and everything it loads: the binary, the dynamic loader, its shared objects.
pub fn root_files(binary: &Path) -> Result<Vec<RootFile>, ImageError> {
    let bytes = std::fs::read(binary).map_err(ImageError::io(binary))?;
    let mut libraries = std::collections::BTreeSet::new();
    collect_ldd(binary, &mut libraries)?;
    for name in DLOPENED {
        let path = find_library(name)?;
        collect_ldd(&path, &mut libraries)?;
        libraries.insert(path);
    }
    let mut files = vec![RootFile { path: PathBuf::from(ATTESTD_PATH), bytes, mode: 0o755 }];
    for library in libraries {
        // The loader's name (a symlink on the host) is where the program's interpreter points.
        let real = std::fs::read(&library).map_err(ImageError::io(&library))?;
        let relative = library.strip_prefix("/").unwrap_or(&library).to_owned();
        files.push(RootFile { path: relative, bytes: real, mode: 0o755 });
    }
    Ok(files)
}

fn find_library(name: &str) -> Result<PathBuf, ImageError> {
    LIBRARY_DIRS.iter().map(|dir| Path::new(dir).join(name)).find(|path| path.exists()).ok_or_else(|| {
        ImageError::InputMissing {
            what: format!("the shared library {name}"),
            path: PathBuf::from(LIBRARY_DIRS[0]).join(name),
            hint: "apt-get install libtss2-dev (or run `cargo xtask setup`)".to_owned(),
        }
    })
}

/// Adds the shared objects `ldd` lists for `elf` (absolute paths as the loader names them).
fn collect_ldd(elf: &Path, out: &mut std::collections::BTreeSet<PathBuf>) -> Result<(), ImageError> {
    let output =
        Command::new("ldd").arg(elf).output().map_err(|source| ImageError::Spawn { tool: "ldd".to_owned(), source })?;
    let said = |stream: &[u8]| String::from_utf8_lossy(stream).contains("not a dynamic executable");
    if said(&output.stdout) || said(&output.stderr) {
        // A static stand-in (tests): nothing to carry.
        return Ok(());
    }
    if !output.status.success() {
        return Err(ImageError::ToolFailed {
            tool: format!("ldd {}", elf.display()),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let line = line.trim();
        // "libx.so.1 => /lib/x86_64-linux-gnu/libx.so.1 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)".
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next().filter(|word| word.starts_with('/')),
        };
        match path {
            Some(path) if path.starts_with('/') => {
                out.insert(PathBuf::from(path));
            }
            Some("not") => {
                return Err(ImageError::invalid(format!("{}", elf.display()), format!("ldd: {line}")));
            }
            _ => {}
        }
    }
    Ok(())
}
