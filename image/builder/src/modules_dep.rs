//! Which kernel modules go into the initramfs, and in which order PID 1 loads them: read from the
//! kernel's `modules.dep` (written by `depmod`) and `modules.builtin`.
//!
//! `modules.dep` has one line per module, `path: dep dep …`, paths relative to
//! `/lib/modules/<release>/`; the dependency list is already transitive and ordered so that the last
//! one depends on nothing listed. The load order here is a depth-first post-order over those lists
//! (each module after everything it needs), without duplicates. Modules built into the kernel
//! (`modules.builtin`) are skipped.

use std::collections::{BTreeMap, BTreeSet};

/// Why the module list could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModulesDepError {
    /// A line without `:`.
    #[error("modules.dep line {line}: expected `path: deps…`")]
    Malformed {
        /// 1-based line number.
        line: usize,
    },
    /// A wanted module is neither in `modules.dep` nor built in.
    #[error("kernel module {0} is neither in modules.dep nor built in")]
    Unknown(String),
    /// A dependency named on some line has no line of its own.
    #[error("modules.dep: {dependency} (needed by {by}) has no entry")]
    MissingDependency {
        /// The dependency's path.
        dependency: String,
        /// Who needs it.
        by: String,
    },
    /// The dependencies loop.
    #[error("modules.dep: dependency cycle through {0}")]
    Cycle(String),
    /// The module file is compressed; PID 1 loads plain `.ko` files with `finit_module`.
    #[error("kernel module {0} is compressed; only plain .ko files are supported")]
    Compressed(String),
}

/// A module's name as the kernel knows it: the file name without `.ko` (and a compression suffix),
/// `-` read as `_` (`kernel/drivers/md/dm-mod.ko` → `dm_mod`).
#[must_use]
pub fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem =
        [".ko.xz", ".ko.zst", ".ko.gz", ".ko"].iter().find_map(|suffix| file.strip_suffix(suffix)).unwrap_or(file);
    stem.replace('-', "_")
}

/// A parsed `modules.dep`.
#[derive(Debug, Clone, Default)]
pub struct ModulesDep {
    deps: BTreeMap<String, Vec<String>>,
    by_name: BTreeMap<String, String>,
}

impl ModulesDep {
    /// Parse the text of `modules.dep`.
    pub fn parse(text: &str) -> Result<Self, ModulesDepError> {
        let mut parsed = Self::default();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (path, deps) = line.split_once(':').ok_or(ModulesDepError::Malformed { line: index + 1 })?;
            let path = path.trim().to_owned();
            parsed.by_name.insert(module_name(&path), path.clone());
            parsed.deps.insert(path, deps.split_whitespace().map(str::to_owned).collect());
        }
        Ok(parsed)
    }

    /// The file of a module named `name` (`-` and `_` alike), if listed.
    #[must_use]
    pub fn path_of(&self, name: &str) -> Option<&str> {
        self.by_name.get(&name.replace('-', "_")).map(String::as_str)
    }

    /// The files to load for `wanted` (module names), dependencies first, each once; modules in
    /// `builtin` (names, see [`parse_builtin`]) are left out.
    pub fn load_order(&self, wanted: &[&str], builtin: &BTreeSet<String>) -> Result<Vec<String>, ModulesDepError> {
        let mut order = Vec::new();
        let mut done = BTreeSet::new();
        let mut visiting = BTreeSet::new();
        for name in wanted {
            let name = name.replace('-', "_");
            let Some(path) = self.by_name.get(&name) else {
                if builtin.contains(&name) {
                    continue;
                }
                return Err(ModulesDepError::Unknown(name));
            };
            if builtin.contains(&name) {
                continue;
            }
            self.visit(path, "(wanted)", &mut order, &mut done, &mut visiting)?;
        }
        Ok(order)
    }

    fn visit(
        &self,
        path: &str,
        by: &str,
        order: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        visiting: &mut BTreeSet<String>,
    ) -> Result<(), ModulesDepError> {
        if done.contains(path) {
            return Ok(());
        }
        let deps = self
            .deps
            .get(path)
            .ok_or_else(|| ModulesDepError::MissingDependency { dependency: path.to_owned(), by: by.to_owned() })?;
        if !path.ends_with(".ko") {
            return Err(ModulesDepError::Compressed(path.to_owned()));
        }
        if !visiting.insert(path.to_owned()) {
            return Err(ModulesDepError::Cycle(path.to_owned()));
        }
        // The list's last entries need nothing listed: load from the end.
        for dep in deps.iter().rev() {
            self.visit(dep, path, order, done, visiting)?;
        }
        visiting.remove(path);
        done.insert(path.to_owned());
        order.push(path.to_owned());
        Ok(())
    }
}

/// The names of the modules built into the kernel, from `modules.builtin` (one path a line).
#[must_use]
pub fn parse_builtin(text: &str) -> BTreeSet<String> {
    text.lines().map(str::trim).filter(|line| !line.is_empty()).map(module_name).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
    use super::*;

    /// Lines as depmod wrote them for Debian's 6.1.0-56-amd64.
    const DEP: &str = "\
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/md/dm-mod.ko:
kernel/drivers/md/dm-bufio.ko:
kernel/lib/reed_solomon/reed_solomon.ko:
kernel/drivers/md/dm-verity.ko: kernel/drivers/md/dm-bufio.ko kernel/drivers/md/dm-mod.ko kernel/lib/reed_solomon/reed_solomon.ko
kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/lib/crc16.ko:
kernel/fs/mbcache.ko:
kernel/fs/jbd2/jbd2.ko:
";

    #[test]
    fn names_follow_the_kernel() {
        assert_eq!(module_name("kernel/drivers/md/dm-mod.ko"), "dm_mod");
        assert_eq!(module_name("kernel/crypto/crc32c_generic.ko.xz"), "crc32c_generic");
        assert_eq!(module_name("virtio.ko"), "virtio");
    }

    #[test]
    fn dependencies_come_first_once() {
        let dep = ModulesDep::parse(DEP).unwrap();
        let order =
            dep.load_order(&["virtio_pci", "virtio_blk", "dm-verity", "dm_mod", "ext4"], &BTreeSet::new()).unwrap();
        assert_eq!(
            order,
            [
                "kernel/drivers/virtio/virtio_ring.ko",
                "kernel/drivers/virtio/virtio.ko",
                "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
                "kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
                "kernel/drivers/virtio/virtio_pci.ko",
                "kernel/drivers/block/virtio_blk.ko",
                "kernel/lib/reed_solomon/reed_solomon.ko",
                "kernel/drivers/md/dm-mod.ko",
                "kernel/drivers/md/dm-bufio.ko",
                "kernel/drivers/md/dm-verity.ko",
                "kernel/fs/jbd2/jbd2.ko",
                "kernel/fs/mbcache.ko",
                "kernel/lib/crc16.ko",
                "kernel/fs/ext4/ext4.ko",
            ]
        );
        // Every module appears after all of its dependencies.
        for (i, path) in order.iter().enumerate() {
            for dep_path in &dep.deps[path] {
                assert!(order[..i].contains(dep_path), "{dep_path} must precede {path}");
            }
        }
    }

    #[test]
    fn builtin_modules_are_skipped() {
        let dep = ModulesDep::parse(DEP).unwrap();
        let builtin = parse_builtin("kernel/crypto/sha256_generic.ko\nkernel/lib/lz4/lz4_decompress.ko\n");
        assert!(builtin.contains("sha256_generic"));
        let order = dep.load_order(&["sha256_generic", "dm_mod"], &builtin).unwrap();
        assert_eq!(order, ["kernel/drivers/md/dm-mod.ko"]);
    }

    #[test]
    fn errors_name_the_module() {
        let dep = ModulesDep::parse(DEP).unwrap();
        assert_eq!(dep.load_order(&["nosuch"], &BTreeSet::new()), Err(ModulesDepError::Unknown("nosuch".into())));
        let broken = ModulesDep::parse("a.ko: b.ko\n").unwrap();
        assert_eq!(
            broken.load_order(&["a"], &BTreeSet::new()),
            Err(ModulesDepError::MissingDependency { dependency: "b.ko".into(), by: "a.ko".into() })
        );
        let cyclic = ModulesDep::parse("a.ko: b.ko\nb.ko: a.ko\n").unwrap();
        assert!(matches!(cyclic.load_order(&["a"], &BTreeSet::new()), Err(ModulesDepError::Cycle(_))));
        assert_eq!(ModulesDep::parse("x.ko\n").err(), Some(ModulesDepError::Malformed { line: 1 }));
        let compressed = ModulesDep::parse("a.ko.xz:\n").unwrap();
        assert!(matches!(compressed.load_order(&["a"], &BTreeSet::new()), Err(ModulesDepError::Compressed(_))));
    }
}
