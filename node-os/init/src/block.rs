//! Finding partitions by GPT label in sysfs: `/sys/class/block/<dev>/uevent` carries `PARTNAME=`, `DEVNAME=`,
//! `MAJOR=`, `MINOR=`. Block devices appear asynchronously once `virtio_blk` is loaded, so lookups poll until a
//! deadline. The sysfs and `/dev` roots are parameters so the search runs on a fake tree in tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use thiserror::Error;
use tracing::{debug, info};

/// Where the kernel lists block devices.
pub const SYS_CLASS_BLOCK: &str = "/sys/class/block";
/// Where devtmpfs puts their nodes.
pub const DEV_DIR: &str = "/dev";
/// How often a lookup rescans.
pub const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// A block device (here: a partition) found by label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockDevice {
    /// Its node, e.g. `/dev/vda2`.
    pub dev_path: PathBuf,
    /// Kernel name, e.g. `vda2`.
    pub name: String,
    /// Major device number.
    pub major: u32,
    /// Minor device number.
    pub minor: u32,
}

impl BlockDevice {
    /// `MAJ:MIN`, the form device-mapper tables take without a path lookup.
    #[must_use]
    pub fn dev_t(&self) -> String {
        format!("{}:{}", self.major, self.minor)
    }
}

/// The fields of a block device's `uevent` file this crate uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uevent {
    /// `MAJOR=`
    pub major: u32,
    /// `MINOR=`
    pub minor: u32,
    /// `DEVNAME=` (relative to `/dev`)
    pub devname: String,
    /// `DEVTYPE=` (`disk`, `partition`), if present
    pub devtype: Option<String>,
    /// `PARTNAME=` (the GPT partition label), if present
    pub partname: Option<String>,
}

/// A `uevent` file that lacks what a block device's should have.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UeventError {
    /// A required key is absent.
    #[error("uevent has no {key}=")]
    Missing {
        /// The key.
        key: &'static str,
    },
    /// A key's value is unusable.
    #[error("uevent {key}={value:?} is invalid")]
    Invalid {
        /// The key.
        key: &'static str,
        /// Its value.
        value: String,
    },
}

/// Parses a `uevent` file (`KEY=value` lines). Pure; total on any text.
pub fn parse_uevent(text: &str) -> Result<Uevent, UeventError> {
    let mut major = None;
    let mut minor = None;
    let mut devname = None;
    let mut devtype = None;
    let mut partname = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else { continue };
        match key.trim() {
            "MAJOR" => major = Some(value.trim()),
            "MINOR" => minor = Some(value.trim()),
            "DEVNAME" => devname = Some(value.trim()),
            "DEVTYPE" => devtype = Some(value.trim().to_owned()),
            // A label may carry spaces; keep it as the kernel wrote it (only the line end is not part of it).
            "PARTNAME" => partname = Some(value.trim_end_matches(['\r', '\n']).to_owned()),
            _ => {}
        }
    }
    let number = |key: &'static str, v: Option<&str>| -> Result<u32, UeventError> {
        let v = v.ok_or(UeventError::Missing { key })?;
        v.parse().map_err(|_| UeventError::Invalid { key, value: v.to_owned() })
    };
    let major = number("MAJOR", major)?;
    let minor = number("MINOR", minor)?;
    let devname = devname.ok_or(UeventError::Missing { key: "DEVNAME" })?;
    if devname.is_empty() || devname.contains("..") || devname.starts_with('/') {
        return Err(UeventError::Invalid { key: "DEVNAME", value: devname.to_owned() });
    }
    Ok(Uevent { major, minor, devname: devname.to_owned(), devtype, partname })
}

/// A partition lookup that failed.
#[derive(Debug, Error)]
pub enum BlockError {
    /// No partition with the label appeared before the deadline.
    #[error(
        "no partition labelled {label:?} under {root} after {waited:?} (labels seen: {seen:?}){}",
        last_error.as_ref().map(|e| format!("; last error: {e}")).unwrap_or_default()
    )]
    NotFound {
        /// The label looked for.
        label: String,
        /// The sysfs directory scanned.
        root: PathBuf,
        /// How long it polled.
        waited: Duration,
        /// The labels it did see, by device.
        seen: Vec<String>,
        /// The last error met while scanning, if any.
        last_error: Option<String>,
    },
    /// Two partitions carry the label: refuse to choose (a second disk could otherwise take over a slot).
    #[error("partition label {label:?} is on more than one device: {devices:?}")]
    Ambiguous {
        /// The label.
        label: String,
        /// The devices carrying it.
        devices: Vec<String>,
    },
    /// The partition is listed in sysfs but its node did not appear under `/dev` before the deadline.
    #[error("partition {label:?} is {name} in sysfs but {} did not appear within {waited:?}", dev_path.display())]
    NoNode {
        /// The label.
        label: String,
        /// Kernel name.
        name: String,
        /// The node expected.
        dev_path: PathBuf,
        /// How long it waited.
        waited: Duration,
    },
}

/// One scan: label → devices carrying it (name, uevent). Errors per entry are returned as text (entries come
/// and go while the kernel probes).
/// Label → the devices carrying it, as (kernel name, uevent).
type ByLabel = BTreeMap<String, Vec<(String, Uevent)>>;

fn scan(root: &Path) -> (ByLabel, Option<String>) {
    let mut found = ByLabel::new();
    let mut last_error = None;
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) => return (found, Some(format!("{}: {e}", root.display()))),
    };
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                last_error = Some(format!("{}: {e}", root.display()));
                continue;
            }
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path().join("uevent");
        match std::fs::read_to_string(&path) {
            Ok(text) => match parse_uevent(&text) {
                Ok(u) => {
                    if let Some(label) = u.partname.clone() {
                        found.entry(label).or_default().push((name, u));
                    }
                }
                Err(e) => last_error = Some(format!("{}: {e}", path.display())),
            },
            Err(e) => last_error = Some(format!("{}: {e}", path.display())),
        }
    }
    (found, last_error)
}

/// Finds the partition labelled `label` under `/sys/class/block`, polling until `timeout`.
pub fn find_partition(label: &str, timeout: Duration) -> Result<BlockDevice, BlockError> {
    find_partition_in(Path::new(SYS_CLASS_BLOCK), Path::new(DEV_DIR), label, timeout)
}

/// [`find_partition`] with the sysfs directory (`sys_class_block`) and the node directory (`dev_dir`) given.
/// Once the label is seen, it also waits (within the same deadline) for `dev_dir/DEVNAME` to exist.
pub fn find_partition_in(
    sys_class_block: &Path,
    dev_dir: &Path,
    label: &str,
    timeout: Duration,
) -> Result<BlockDevice, BlockError> {
    let start = Instant::now();
    let deadline = start + timeout;
    loop {
        let (found, last_error) = scan(sys_class_block);
        if let Some(devices) = found.get(label) {
            if let [(name, u)] = devices.as_slice() {
                let dev_path = dev_dir.join(&u.devname);
                if dev_path.exists() {
                    let dev = BlockDevice { dev_path, name: name.clone(), major: u.major, minor: u.minor };
                    info!(label, dev = %dev.dev_path.display(), major = dev.major, minor = dev.minor, elapsed = ?start.elapsed(), "partition found");
                    return Ok(dev);
                }
                if Instant::now() >= deadline {
                    return Err(BlockError::NoNode {
                        label: label.to_owned(),
                        name: name.clone(),
                        dev_path,
                        waited: start.elapsed(),
                    });
                }
                debug!(label, node = %dev_path.display(), "partition listed, node not there yet");
            } else {
                return Err(BlockError::Ambiguous {
                    label: label.to_owned(),
                    devices: devices.iter().map(|(n, _)| n.clone()).collect(),
                });
            }
        } else if Instant::now() >= deadline {
            let seen = found.iter().flat_map(|(l, devs)| devs.iter().map(move |(n, _)| format!("{n}={l}"))).collect();
            return Err(BlockError::NotFound {
                label: label.to_owned(),
                root: sys_class_block.to_owned(),
                waited: start.elapsed(),
                seen,
                last_error,
            });
        }
        std::thread::sleep(POLL_INTERVAL.min(deadline.saturating_duration_since(Instant::now())));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
mod tests {
    use proptest::prelude::*;

    use super::*;

    const VDA2: &str = "MAJOR=254\nMINOR=2\nDEVNAME=vda2\nDEVTYPE=partition\nDISKSEQ=9\nPARTN=2\nPARTNAME=qp-root-a\n";

    #[test]
    fn parses_a_partition_uevent() {
        let u = parse_uevent(VDA2).unwrap();
        assert_eq!(
            u,
            Uevent {
                major: 254,
                minor: 2,
                devname: "vda2".into(),
                devtype: Some("partition".into()),
                partname: Some("qp-root-a".into()),
            }
        );
    }

    #[test]
    fn a_disk_has_no_partname() {
        let u = parse_uevent("MAJOR=254\nMINOR=0\nDEVNAME=vda\nDEVTYPE=disk\n").unwrap();
        assert_eq!(u.partname, None);
    }

    #[test]
    fn labels_keep_inner_spaces() {
        let u = parse_uevent("MAJOR=8\nMINOR=1\nDEVNAME=sda1\nPARTNAME=EFI System Partition\n").unwrap();
        assert_eq!(u.partname.as_deref(), Some("EFI System Partition"));
    }

    #[test]
    fn bad_uevents_are_typed_errors() {
        assert_eq!(parse_uevent(""), Err(UeventError::Missing { key: "MAJOR" }));
        assert_eq!(parse_uevent("MAJOR=1\nDEVNAME=x"), Err(UeventError::Missing { key: "MINOR" }));
        assert_eq!(parse_uevent("MAJOR=1\nMINOR=2"), Err(UeventError::Missing { key: "DEVNAME" }));
        assert!(matches!(parse_uevent("MAJOR=x\nMINOR=2\nDEVNAME=a"), Err(UeventError::Invalid { key: "MAJOR", .. })));
        assert!(matches!(
            parse_uevent("MAJOR=1\nMINOR=2\nDEVNAME=../etc/x"),
            Err(UeventError::Invalid { key: "DEVNAME", .. })
        ));
    }

    #[test]
    fn dev_t_form() {
        let d = BlockDevice { dev_path: "/dev/vda3".into(), name: "vda3".into(), major: 254, minor: 3 };
        assert_eq!(d.dev_t(), "254:3");
    }

    proptest! {
        #[test]
        fn uevent_parser_is_total(s in any::<String>()) {
            let _ = parse_uevent(&s);
        }
    }
}
