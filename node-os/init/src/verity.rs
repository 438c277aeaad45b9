//! dm-verity set up by PID 1 itself through `/dev/mapper/control` (the kernel has no `dm-mod.create=`):
//! `DM_DEV_CREATE`, `DM_TABLE_LOAD` (read-only) of one `verity` target, `DM_DEV_SUSPEND` without the suspend
//! flag (= resume, making the table live). A failure after the create removes the device again.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use thiserror::Error;
use tracing::{debug, info, warn};

use crate::block::BlockDevice;
use crate::cmdline::VerityParams;
use crate::dm_ioctl::{self, DmCommand, DmDecodeError, DmEncodeError, DmHeader, DmTarget, DmTargetStatus, flags};

/// The device-mapper control node.
pub const CONTROL: &str = "/dev/mapper/control";
/// Block size of data and hash tree (bytes), fixed by the image builder.
pub const BLOCK_SIZE: u32 = 4096;
/// Hash algorithm, fixed by the image builder.
pub const HASH: &str = "sha256";
/// How long to wait for `/dev/mapper/control` and `/dev/dm-N` to appear.
const NODE_WAIT: Duration = Duration::from_secs(5);

/// Setting up the verified root failed.
#[derive(Debug, Error)]
pub enum VerityError {
    /// `/dev/mapper/control` cannot be opened (is `dm-mod` loaded?).
    #[error("cannot open {}: {source} (is dm-mod loaded?)", path.display())]
    Control {
        /// The node.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The request could not be encoded (bad name).
    #[error(transparent)]
    Encode(#[from] DmEncodeError),
    /// The kernel's answer could not be decoded.
    #[error("{command} on {name:?}: {source}")]
    Decode {
        /// The command.
        command: &'static str,
        /// The device name.
        name: String,
        /// Why.
        source: DmDecodeError,
    },
    /// An ioctl failed.
    #[error("{command} on {name:?} failed: {source}{}", if table.is_empty() { String::new() } else { format!(" (table: {table})") })]
    Ioctl {
        /// The command (`DM_DEV_CREATE`, ...).
        command: &'static str,
        /// The device name.
        name: String,
        /// The table line, for a load.
        table: String,
        /// Why (the kernel log has the target's own reason).
        source: io::Error,
    },
    /// The mapped device's node did not appear.
    #[error("dm device {name:?} is live but {} did not appear within {waited:?}", path.display())]
    NoNode {
        /// The device name.
        name: String,
        /// The node expected.
        path: PathBuf,
        /// How long it waited.
        waited: Duration,
    },
    /// The kernel's answer names a different device than sysfs does.
    #[error("dm device {name:?}: /sys/block/dm-{minor}/dm/name says {found:?}")]
    NameMismatch {
        /// The name asked for.
        name: String,
        /// The minor the create returned.
        minor: u32,
        /// What sysfs says.
        found: String,
    },
}

/// The verity target as `(length in sectors, parameter string)`:
/// `1 <data MAJ:MIN> <hash MAJ:MIN> 4096 4096 <data_blocks> 0 sha256 <root hash> <salt or ->`.
/// The hash tree starts at block 0 of the hash device (`veritysetup format --no-superblock`).
#[must_use]
pub fn verity_table(data: &BlockDevice, hash: &BlockDevice, params: &VerityParams) -> (u64, String) {
    let sectors = params.data_blocks.saturating_mul(u64::from(BLOCK_SIZE / 512));
    let line = format!(
        "1 {} {} {BLOCK_SIZE} {BLOCK_SIZE} {} 0 {HASH} {} {}",
        data.dev_t(),
        hash.dev_t(),
        params.data_blocks,
        params.root_hash_hex(),
        params.salt_hex()
    );
    (sectors, line)
}

/// Finds the `dm-N` whose `dm/name` is `name` under `sys_block` (`/sys/block`). Pure over the file tree.
#[must_use]
pub fn find_dm_by_name(sys_block: &Path, name: &str) -> Option<String> {
    let entries = std::fs::read_dir(sys_block).ok()?;
    let mut found: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("dm-"))
        .filter(|n| {
            std::fs::read_to_string(sys_block.join(n).join("dm/name")).is_ok_and(|s| s.trim_end_matches('\n') == name)
        })
        .collect();
    found.sort();
    found.into_iter().next()
}

struct Control {
    file: File,
}

impl Control {
    fn open() -> Result<Self, VerityError> {
        let path = Path::new(CONTROL);
        let deadline = Instant::now() + NODE_WAIT;
        loop {
            match OpenOptions::new().read(true).write(true).custom_flags(libc::O_CLOEXEC).open(path) {
                Ok(file) => return Ok(Self { file }),
                Err(e) if e.kind() == io::ErrorKind::NotFound && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(source) => return Err(VerityError::Control { path: path.to_owned(), source }),
            }
        }
    }

    /// Issues `command` for `name` with `targets`; returns the answer buffer.
    fn call(
        &self,
        command: DmCommand,
        name: &str,
        flag_bits: u32,
        targets: &[DmTarget<'_>],
        out_room: usize,
    ) -> Result<Vec<u8>, VerityError> {
        let mut buf = dm_ioctl::encode(name, flag_bits, targets, out_room)?;
        crate::sys::dm_ioctl(self.file.as_fd(), command.request(), &mut buf).map_err(|source| VerityError::Ioctl {
            command: command.name(),
            name: name.to_owned(),
            table: targets
                .first()
                .map(|t| format!("{} {} {} {}", t.sector_start, t.length, t.target_type, t.params))
                .unwrap_or_default(),
            source,
        })?;
        Ok(buf)
    }

    fn header(command: DmCommand, name: &str, buf: &[u8]) -> Result<DmHeader, VerityError> {
        dm_ioctl::decode_header(buf).map_err(|source| VerityError::Decode {
            command: command.name(),
            name: name.to_owned(),
            source,
        })
    }
}

/// Creates the read-only dm-verity device `name` over `data` with the hash tree on `hash`, makes it live, and
/// returns its node (`/dev/dm-N`). On any failure after the create the device is removed again.
pub fn create_verity(
    name: &str,
    data: &BlockDevice,
    hash: &BlockDevice,
    params: &VerityParams,
) -> Result<PathBuf, VerityError> {
    if name.is_empty() {
        return Err(DmEncodeError::InvalidName { name: String::new(), reason: "empty" }.into());
    }
    dm_ioctl::validate_name(name)?;
    let start = Instant::now();
    let control = Control::open()?;
    let version = Control::header(DmCommand::Version, "", &control.call(DmCommand::Version, "", 0, &[], 0)?)?;
    debug!(version = ?version.version, "device-mapper interface");

    let created = Control::header(DmCommand::DevCreate, name, &control.call(DmCommand::DevCreate, name, 0, &[], 0)?)?;
    let result = load_and_resume(&control, name, data, hash, params, &created);
    match result {
        Ok(node) => {
            info!(name, node = %node.display(), data = %data.dev_path.display(), hash = %hash.dev_path.display(),
                  root_hash = %params.root_hash_hex(), elapsed = ?start.elapsed(), "dm-verity device live");
            Ok(node)
        }
        Err(e) => {
            match control.call(DmCommand::DevRemove, name, 0, &[], 0) {
                Ok(_) => warn!(name, error = %e, "dm-verity set-up failed; device removed"),
                Err(remove) => {
                    warn!(name, error = %e, %remove, "dm-verity set-up failed; removing the device failed too")
                }
            }
            Err(e)
        }
    }
}

fn load_and_resume(
    control: &Control,
    name: &str,
    data: &BlockDevice,
    hash: &BlockDevice,
    params: &VerityParams,
    created: &DmHeader,
) -> Result<PathBuf, VerityError> {
    let (sectors, line) = verity_table(data, hash, params);
    let target = DmTarget { sector_start: 0, length: sectors, target_type: "verity", params: &line };
    control.call(DmCommand::TableLoad, name, flags::READONLY, &[target], 0)?;
    control.call(DmCommand::DevSuspend, name, 0, &[], 0)?;

    // The create's answer carries the device number; dm minors are the N of dm-N. Confirm through sysfs.
    let minor = created.dev_minor();
    let sys = Path::new("/sys/block");
    let expected = format!("dm-{minor}");
    let dm = match std::fs::read_to_string(sys.join(&expected).join("dm/name")) {
        Ok(s) if s.trim_end_matches('\n') == name => expected,
        Ok(s) => {
            return Err(VerityError::NameMismatch {
                name: name.to_owned(),
                minor,
                found: s.trim_end_matches('\n').to_owned(),
            });
        }
        Err(_) => find_dm_by_name(sys, name).unwrap_or(expected),
    };
    let node = Path::new("/dev").join(dm);
    let deadline = Instant::now() + NODE_WAIT;
    while !node.exists() {
        if Instant::now() >= deadline {
            return Err(VerityError::NoNode { name: name.to_owned(), path: node, waited: NODE_WAIT });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(node)
}

/// The live table's status for `name` (dm-verity's is `V` while every block read so far verified, `C` once
/// one did not).
pub fn verity_status(name: &str) -> Result<Vec<DmTargetStatus>, VerityError> {
    let control = Control::open()?;
    let buf = control.call(DmCommand::TableStatus, name, 0, &[], 4096)?;
    dm_ioctl::decode_status(&buf).map_err(|source| VerityError::Decode {
        command: DmCommand::TableStatus.name(),
        name: name.to_owned(),
        source,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
mod tests {
    use super::*;

    fn dev(name: &str, minor: u32) -> BlockDevice {
        BlockDevice { dev_path: PathBuf::from(format!("/dev/{name}")), name: name.into(), major: 254, minor }
    }

    #[test]
    fn table_line_matches_veritysetup_format() {
        let params = VerityParams { root_hash: [0xab; 32], salt: vec![0x01, 0x02], data_blocks: 1000 };
        let (sectors, line) = verity_table(&dev("vda2", 2), &dev("vda3", 3), &params);
        assert_eq!(sectors, 8000);
        assert_eq!(line, format!("1 254:2 254:3 4096 4096 1000 0 sha256 {} 0102", "ab".repeat(32)));
        let params = VerityParams { salt: vec![], ..params };
        assert!(verity_table(&dev("vda2", 2), &dev("vda3", 3), &params).1.ends_with(" -"));
    }

    #[test]
    fn finds_dm_by_name_in_a_fake_sysfs() {
        let dir = tempfile::tempdir().unwrap();
        for (n, name) in [("dm-0", "other"), ("dm-1", "qp-root"), ("vda", "")] {
            std::fs::create_dir_all(dir.path().join(n).join("dm")).unwrap();
            std::fs::write(dir.path().join(n).join("dm/name"), format!("{name}\n")).unwrap();
        }
        assert_eq!(find_dm_by_name(dir.path(), "qp-root").as_deref(), Some("dm-1"));
        assert_eq!(find_dm_by_name(dir.path(), "nope"), None);
        assert_eq!(find_dm_by_name(&dir.path().join("missing"), "qp-root"), None);
    }

    #[test]
    fn bad_names_fail_before_any_ioctl() {
        let p = VerityParams { root_hash: [0; 32], salt: vec![], data_blocks: 1 };
        assert!(matches!(create_verity("", &dev("a", 1), &dev("b", 2), &p), Err(VerityError::Encode(_))));
        assert!(matches!(create_verity("a/b", &dev("a", 1), &dev("b", 2), &p), Err(VerityError::Encode(_))));
    }
}
