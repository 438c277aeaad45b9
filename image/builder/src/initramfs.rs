//! The initramfs: `/init` (the static `qp-node`), `/dev/console`, the mount points PID 1 uses, the
//! kernel modules it loads, and `/etc/qp/initrd.toml` naming them in load order. A newc cpio,
//! gzip-compressed (the kernel has gzip built in), both written here reproducibly.

use std::io::Write;
use std::path::Path;

use flate2::{Compression, GzBuilder};

use crate::cpio::CpioArchive;
use crate::error::ImageError;
use crate::kernel::GuestKernel;

/// Where PID 1 reads the module list.
pub const INITRD_CONFIG: &str = "etc/qp/initrd.toml";
/// Empty directories the initramfs carries (mount points and scratch).
pub const INITRAMFS_DIRS: &[&str] = &["proc", "sys", "dev", "run", "tmp", "sysroot", "data"];

/// `/etc/qp/initrd.toml`: the kernel release and the modules, relative to
/// `/lib/modules/<release>/`, dependencies first.
#[must_use]
pub fn initrd_config(release: &str, modules: &[String]) -> String {
    let mut text = String::from("# Written by qpctl image build: the modules PID 1 loads, in this order.\n");
    text.push_str(&format!("kernel_release = {}\n", toml_string(release)));
    text.push_str("modules = [\n");
    for module in modules {
        text.push_str(&format!("    {},\n", toml_string(module)));
    }
    text.push_str("]\n");
    text
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// The uncompressed archive.
pub fn archive(node_binary: &[u8], kernel: &GuestKernel, modules: &[String]) -> Result<CpioArchive, ImageError> {
    let mut archive = CpioArchive::new();
    archive.add_file("init", 0o755, node_binary.to_vec())?;
    for dir in INITRAMFS_DIRS {
        archive.add_dir(dir, if *dir == "tmp" { 0o1777 } else { 0o755 })?;
    }
    archive.add_char_device("dev/console", 0o600, 5, 1)?;
    archive.add_file(INITRD_CONFIG, 0o644, initrd_config(&kernel.release, modules).into_bytes())?;
    for module in modules {
        let path = kernel.modules_dir.join(module);
        let bytes = std::fs::read(&path).map_err(ImageError::io(&path))?;
        archive.add_file(&format!("lib/modules/{}/{module}", kernel.release), 0o644, bytes)?;
    }
    Ok(archive)
}

/// gzip with a zero time stamp and no file name (RFC 1952 fields fixed).
pub fn gzip(bytes: &[u8]) -> Result<Vec<u8>, ImageError> {
    let io = |e| ImageError::Io { path: Path::new("(initramfs gzip)").to_owned(), source: e };
    let mut encoder = GzBuilder::new().mtime(0).operating_system(3).write(Vec::new(), Compression::best());
    encoder.write_all(bytes).map_err(io)?;
    encoder.finish().map_err(io)
}

/// The compressed initramfs.
pub fn build(node_binary: &[u8], kernel: &GuestKernel, modules: &[String]) -> Result<Vec<u8>, ImageError> {
    gzip(&archive(node_binary, kernel, modules)?.to_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
    use super::*;

    #[test]
    fn config_lists_modules_in_order() {
        let text = initrd_config("6.1.0-56-amd64", &["kernel/a.ko".into(), "kernel/b.ko".into()]);
        #[derive(serde::Deserialize)]
        struct Config {
            kernel_release: String,
            modules: Vec<String>,
        }
        let config: Config = toml::from_str(&text).unwrap();
        assert_eq!(config.kernel_release, "6.1.0-56-amd64");
        assert_eq!(config.modules, ["kernel/a.ko", "kernel/b.ko"]);
    }

    #[test]
    fn gzip_is_deterministic_and_round_trips() {
        let data = b"hello hello hello".repeat(100);
        let a = gzip(&data).unwrap();
        assert_eq!(a, gzip(&data).unwrap());
        assert_eq!(&a[4..8], &[0, 0, 0, 0], "mtime 0");
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&a[..]), &mut out).unwrap();
        assert_eq!(out, data);
    }
}
