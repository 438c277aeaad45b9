//! The guest kernel: Debian's `linux-image-<abi>-amd64` package extracted into a folder
//! (`cargo xtask setup` puts it under `.cache/kernel/<package>_<version>/`): `boot/vmlinuz-<release>`,
//! `lib/modules/<release>/` with `modules.dep` (written by `depmod -b`), and `package.txt` naming the
//! exact package version and the `.deb`'s SHA-256 (the image's inputs record them).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::ImageError;
use crate::modules_dep::{ModulesDep, parse_builtin};

/// The environment variable naming the kernel folder (set by `cargo xtask test`).
pub const KERNEL_DIR_ENV: &str = "QP_GUEST_KERNEL_DIR";
/// The package record inside a kernel folder.
pub const PACKAGE_FILE: &str = "package.txt";
/// Where `cargo xtask setup` extracts kernels, relative to the workspace root.
pub const CACHE_DIR: &str = ".cache/kernel";

/// The modules PID 1 needs before it can reach the root, the network and the watchdog, by the
/// kernel's names. `crc32c_generic` is ext4's soft dependency (`softdep ext4 pre: crc32c`, which
/// `modules.dep` does not list): the data partition has metadata checksums. The x86 accelerated
/// `crc32c-intel` is left out: it refuses to load on a CPU without SSE4.2 (QEMU's default model).
/// `vfat` (and `fat`, through `modules.dep`) with `nls_cp437` and `nls_ascii`, Debian's default FAT
/// code page and I/O character set: the node mounts the ESP read-write to write boot entries.
pub const WANTED_MODULES: &[&str] = &[
    "crc32c_generic",
    "virtio_pci",
    "virtio_blk",
    "virtio_net",
    "dm_mod",
    "dm_verity",
    "erofs",
    "ext4",
    "i6300esb",
    "vfat",
    "nls_cp437",
    "nls_ascii",
];

/// `package.txt`: which package the folder was extracted from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct KernelPackage {
    /// `linux-image-6.1.0-56-amd64`.
    pub package: String,
    /// `6.1.192-2`.
    pub version: String,
    /// The `.deb` file's name.
    pub deb: String,
    /// Its SHA-256, hex.
    pub deb_sha256: String,
}

/// An extracted guest kernel.
#[derive(Debug, Clone)]
pub struct GuestKernel {
    pub dir: PathBuf,
    /// `6.1.0-56-amd64`.
    pub release: String,
    pub vmlinuz: PathBuf,
    /// `lib/modules/<release>`.
    pub modules_dir: PathBuf,
    /// The package record, when the folder has one.
    pub package: Option<KernelPackage>,
}

const SETUP_HINT: &str = "run `cargo xtask setup` (it downloads linux-image-amd64 into .cache/kernel/)";

impl GuestKernel {
    /// Open a kernel folder and check that it holds one kernel release.
    pub fn open(dir: &Path) -> Result<Self, ImageError> {
        let missing = |what: &str, path: PathBuf, hint: &str| ImageError::InputMissing {
            what: what.to_owned(),
            path,
            hint: hint.to_owned(),
        };
        if !dir.is_dir() {
            return Err(missing("the guest kernel folder", dir.to_owned(), SETUP_HINT));
        }
        let modules_root = dir.join("lib/modules");
        let releases: Vec<String> = std::fs::read_dir(&modules_root)
            .map_err(|_| missing("the kernel's modules (lib/modules/<release>)", modules_root.clone(), SETUP_HINT))?
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        let [release] = releases.as_slice() else {
            return Err(ImageError::invalid(
                modules_root.display().to_string(),
                format!("expected exactly one kernel release, found {releases:?}"),
            ));
        };
        let vmlinuz = dir.join(format!("boot/vmlinuz-{release}"));
        if !vmlinuz.is_file() {
            return Err(missing("the compressed kernel", vmlinuz, SETUP_HINT));
        }
        let modules_dir = modules_root.join(release);
        let package_path = dir.join(PACKAGE_FILE);
        let package = if package_path.is_file() {
            let text = std::fs::read_to_string(&package_path).map_err(ImageError::io(&package_path))?;
            Some(
                toml::from_str::<KernelPackage>(&text)
                    .map_err(|e| ImageError::invalid(package_path.display().to_string(), e.message().to_owned()))?,
            )
        } else {
            None
        };
        Ok(Self { dir: dir.to_owned(), release: release.clone(), vmlinuz, modules_dir, package })
    }

    /// How the image's inputs name this kernel: the package and its exact version and `.deb` hash,
    /// or `unpackaged <release>` (the vmlinuz and module hashes are recorded either way).
    #[must_use]
    pub fn id(&self) -> String {
        match &self.package {
            Some(p) => format!("{} {} sha256:{}", p.package, p.version, p.deb_sha256),
            None => format!("unpackaged {}", self.release),
        }
    }

    /// `modules.dep` and `modules.builtin`, parsed.
    pub fn module_tables(&self) -> Result<(ModulesDep, BTreeSet<String>), ImageError> {
        let dep_path = self.modules_dir.join("modules.dep");
        let dep_text = std::fs::read_to_string(&dep_path).map_err(|_| ImageError::InputMissing {
            what: "the kernel's modules.dep".to_owned(),
            path: dep_path.clone(),
            hint: format!(
                "run `depmod -b {} {}` (apt-get install kmod), as `cargo xtask setup` does",
                self.dir.display(),
                self.release
            ),
        })?;
        let builtin_path = self.modules_dir.join("modules.builtin");
        let builtin_text = std::fs::read_to_string(&builtin_path).map_err(|_| ImageError::InputMissing {
            what: "the kernel's modules.builtin".to_owned(),
            path: builtin_path.clone(),
            hint: SETUP_HINT.to_owned(),
        })?;
        Ok((ModulesDep::parse(&dep_text)?, parse_builtin(&builtin_text)))
    }

    /// The `.ko` files for [`WANTED_MODULES`], in load order (paths relative to `modules_dir`).
    pub fn resolve_modules(&self) -> Result<Vec<String>, ImageError> {
        let (dep, builtin) = self.module_tables()?;
        Ok(dep.load_order(WANTED_MODULES, &builtin)?)
    }
}

/// The kernel folder to use when none is named: `$QP_GUEST_KERNEL_DIR`, else the one folder under
/// `<workspace>/.cache/kernel/` (the newest by name when there are several). An error says to run
/// `cargo xtask setup`.
pub fn default_kernel_dir(workspace: &Path) -> Result<PathBuf, ImageError> {
    if let Some(dir) = std::env::var_os(KERNEL_DIR_ENV).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let cache = workspace.join(CACHE_DIR);
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&cache)
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.join("boot").is_dir()).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs.pop().ok_or_else(|| ImageError::InputMissing {
        what: format!("the guest kernel (${KERNEL_DIR_ENV} is unset, and no extracted kernel is cached)"),
        path: cache,
        hint: SETUP_HINT.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
    use super::*;

    #[test]
    fn opens_a_folder_and_reads_its_package_record() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("boot")).unwrap();
        std::fs::create_dir_all(root.join("lib/modules/6.1.0-9-amd64/kernel")).unwrap();
        std::fs::write(root.join("boot/vmlinuz-6.1.0-9-amd64"), b"MZ").unwrap();
        std::fs::write(
            root.join(PACKAGE_FILE),
            "package = \"linux-image-6.1.0-9-amd64\"\nversion = \"6.1.1-1\"\ndeb = \"x.deb\"\ndeb_sha256 = \"ab\"\n",
        )
        .unwrap();
        let kernel = GuestKernel::open(root).unwrap();
        assert_eq!(kernel.release, "6.1.0-9-amd64");
        assert_eq!(kernel.id(), "linux-image-6.1.0-9-amd64 6.1.1-1 sha256:ab");
        let err = kernel.resolve_modules().unwrap_err().to_string();
        assert!(err.contains("modules.dep not found") && err.contains("depmod -b"), "{err}");
        std::fs::write(kernel.modules_dir.join("modules.dep"), "kernel/a.ko:\n").unwrap();
        std::fs::write(kernel.modules_dir.join("modules.builtin"), "").unwrap();
        assert!(matches!(kernel.resolve_modules(), Err(ImageError::Modules(_))), "virtio_pci is not there");
    }

    #[test]
    fn a_missing_folder_says_to_run_setup() {
        let err = GuestKernel::open(Path::new("/nonexistent/kernel")).unwrap_err().to_string();
        assert!(err.contains("cargo xtask setup"), "{err}");
    }
}
