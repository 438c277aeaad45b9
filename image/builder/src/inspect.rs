//! Reading an image back: the partition table, the UKI's command line, and every file of the ESP
//! (mtools), the initramfs (inside the UKI; our own cpio reader), the root (`fsck.erofs --extract`)
//! and the data partition (`debugfs rdump`). `qpctl image ls` and the tests use it; the cloud
//! image's test checks from this listing that no vault file or key is in it.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cpio::{self, EntryKind};
use crate::disk::{self, DATA_LABEL, ESP_LABEL, ROOT_A_LABEL};
use crate::error::ImageError;
use crate::gpt::{Gpt, Partition};
use crate::pe::PeImage;
use crate::staging;
use crate::tools::{DEBUGFS, FSCK_EROFS, INSPECT_TOOLS, MCOPY, Toolbox, VERITYSETUP};

/// Which part of the image a file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Area {
    Esp,
    Initramfs,
    Root,
    Data,
}

impl Area {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Area::Esp => "esp",
            Area::Initramfs => "initramfs",
            Area::Root => "root",
            Area::Data => "data",
        }
    }
}

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryType {
    File,
    Dir,
    Device,
    Symlink,
}

/// One file of the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListedEntry {
    pub area: Area,
    /// Absolute inside its area (`/usr/bin/qp-node`).
    pub path: String,
    pub kind: EntryType,
    pub size: u64,
}

/// What an image holds.
#[derive(Debug, Clone, Serialize)]
pub struct ImageListing {
    pub disk: PathBuf,
    #[serde(skip)]
    pub partitions: Vec<Partition>,
    /// The first UKI's `.cmdline`.
    pub cmdline: Option<String>,
    /// The slot partitions (`qp-root-*`, `qp-verity-*`) that hold only zeros: slot B until the
    /// first update writes it.
    pub blank: Vec<String>,
    pub entries: Vec<ListedEntry>,
}

impl ImageListing {
    /// The paths in one area.
    #[must_use]
    pub fn paths(&self, area: Area) -> Vec<&str> {
        self.entries.iter().filter(|e| e.area == area).map(|e| e.path.as_str()).collect()
    }

    /// Whether `path` is in `area`.
    #[must_use]
    pub fn contains(&self, area: Area, path: &str) -> bool {
        self.entries.iter().any(|e| e.area == area && e.path == path)
    }

    /// Whether a partition holds only zeros (checked for the slots' partitions).
    #[must_use]
    pub fn is_blank(&self, label: &str) -> bool {
        self.blank.iter().any(|b| b == label)
    }

    /// Text for the terminal: partitions, command line, then `area kind size path` per entry.
    #[must_use]
    pub fn render(&self) -> String {
        let mut text = format!("{}\n", self.disk.display());
        for p in &self.partitions {
            let _ = writeln!(
                text,
                "  partition {:<12} offset {:>9} size {:>9}  type {}  guid {}{}",
                p.name,
                p.offset_bytes(),
                p.size_bytes(),
                p.type_guid,
                p.unique_guid,
                if self.is_blank(&p.name) { "  (zeros)" } else { "" }
            );
        }
        if let Some(cmdline) = &self.cmdline {
            let _ = writeln!(text, "  cmdline {cmdline}");
        }
        for e in &self.entries {
            let kind = match e.kind {
                EntryType::File => "f",
                EntryType::Dir => "d",
                EntryType::Device => "c",
                EntryType::Symlink => "l",
            };
            let _ = writeln!(text, "{:<9} {kind} {:>10} {}", e.area.as_str(), e.size, e.path);
        }
        text
    }
}

/// `disk.img` itself, or the `disk.img` in an output folder.
fn disk_of(image: &Path) -> PathBuf {
    if image.is_dir() { image.join("disk.img") } else { image.to_owned() }
}

/// List an image (a `disk.img`, or an output folder holding one).
pub fn list_files(image: &Path) -> Result<ImageListing, ImageError> {
    let scratch = tempfile::tempdir().map_err(ImageError::io(std::env::temp_dir()))?;
    extract(image, scratch.path())
}

/// Extract an image's files into `into` (`esp/`, `initramfs/`, `root/`, `data/`; device nodes of
/// the initramfs are listed, not made) and list them.
pub fn extract(image: &Path, into: &Path) -> Result<ImageListing, ImageError> {
    let toolbox = Toolbox::new(None);
    toolbox.require(INSPECT_TOOLS)?;
    let disk = disk_of(image);
    let mut file = File::open(&disk).map_err(ImageError::io(&disk))?;
    let gpt = Gpt::read_from(&mut file)?;
    let parts = into.join("partitions");
    staging::make_dir(&parts)?;
    let mut listing = ImageListing {
        disk: disk.clone(),
        partitions: gpt.partitions.clone(),
        cmdline: None,
        blank: vec![],
        entries: vec![],
    };
    for partition in &gpt.partitions {
        if (partition.name.starts_with("qp-root-") || partition.name.starts_with("qp-verity-"))
            && all_zeros(&mut file, partition).map_err(ImageError::io(&disk))?
        {
            listing.blank.push(partition.name.clone());
        }
    }

    if let Some(esp) = gpt.partition(ESP_LABEL) {
        let part = copy_partition(&mut file, esp, &parts.join("esp.vfat"))?;
        let dir = into.join("esp");
        staging::make_dir(&dir)?;
        let image_arg = part.display().to_string();
        toolbox.command(MCOPY)?.args(["-s", "-n", "-m", "-i", &image_arg, "::/*"]).arg(&dir).run()?;
        listing.entries.extend(list_dir(Area::Esp, &dir)?);
        let mut ukis: Vec<PathBuf> = std::fs::read_dir(dir.join("EFI/Linux"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "efi"))
                    .collect()
            })
            .unwrap_or_default();
        ukis.sort();
        if let Some(uki) = ukis.first() {
            let (cmdline, entries) = read_uki(uki, &into.join("initramfs"))?;
            listing.cmdline = Some(cmdline);
            listing.entries.extend(entries);
        }
    }
    if let Some(root) = gpt.partition(ROOT_A_LABEL) {
        let part = copy_partition(&mut file, root, &parts.join("root.erofs"))?;
        let dir = into.join("root");
        toolbox.command(FSCK_EROFS)?.arg(format!("--extract={}", dir.display())).arg(&part).run()?;
        listing.entries.extend(list_dir(Area::Root, &dir)?);
    }
    if let Some(data) = gpt.partition(DATA_LABEL) {
        let part = copy_partition(&mut file, data, &parts.join("data.ext4"))?;
        let dir = into.join("data");
        staging::make_dir(&dir)?;
        toolbox.command(DEBUGFS)?.arg("-R").arg(format!("rdump / {}", dir.display())).arg(&part).run()?;
        listing.entries.extend(list_dir(Area::Data, &dir)?);
    }
    listing.entries.sort_by(|a, b| (a.area, &a.path).cmp(&(b.area, &b.path)));
    Ok(listing)
}

/// Whether a partition's bytes are all zero.
fn all_zeros(disk: &mut File, partition: &Partition) -> std::io::Result<bool> {
    disk.seek(SeekFrom::Start(partition.offset_bytes()))?;
    let mut reader = disk.take(partition.size_bytes());
    let mut buffer = vec![0u8; 1024 * 1024];
    loop {
        let n = reader.read(&mut buffer)?;
        if n == 0 {
            return Ok(true);
        }
        if buffer[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
    }
}

fn copy_partition(disk: &mut File, partition: &Partition, to: &Path) -> Result<PathBuf, ImageError> {
    let disk_io = |e| ImageError::Io { path: to.to_owned(), source: e };
    disk.seek(SeekFrom::Start(partition.offset_bytes())).map_err(disk_io)?;
    let mut out = File::create(to).map_err(ImageError::io(to))?;
    std::io::copy(&mut disk.take(partition.size_bytes()), &mut out).map_err(ImageError::io(to))?;
    Ok(to.to_owned())
}

fn list_dir(area: Area, dir: &Path) -> Result<Vec<ListedEntry>, ImageError> {
    Ok(staging::walk(dir)?
        .into_iter()
        .map(|(relative, meta)| {
            let kind = if meta.is_dir() {
                EntryType::Dir
            } else if meta.is_symlink() {
                EntryType::Symlink
            } else if meta.is_file() {
                EntryType::File
            } else {
                EntryType::Device
            };
            let size = if kind == EntryType::File { meta.len() } else { 0 };
            ListedEntry { area, path: format!("/{}", relative.display()), kind, size }
        })
        .collect())
}

/// A UKI's command line, and its initramfs extracted into `into` and listed.
pub fn read_uki(uki: &Path, into: &Path) -> Result<(String, Vec<ListedEntry>), ImageError> {
    let bytes = std::fs::read(uki).map_err(ImageError::io(uki))?;
    let image = PeImage::parse(&bytes)?;
    let section = |name: &str| {
        image
            .section_data(&bytes, name)
            .ok_or_else(|| ImageError::invalid(uki.display().to_string(), format!("no {name} section")))
    };
    let cmdline = String::from_utf8_lossy(section(".cmdline")?).trim_end_matches(['\0', '\n']).to_owned();
    let mut archive = Vec::new();
    flate2::read::GzDecoder::new(section(".initrd")?)
        .read_to_end(&mut archive)
        .map_err(|e| ImageError::invalid(uki.display().to_string(), format!(".initrd is not gzip: {e}")))?;
    let mut entries = Vec::new();
    staging::make_dir(into)?;
    for entry in cpio::read(&archive)? {
        let target = into.join(&entry.path);
        let (kind, size) = match &entry.kind {
            EntryKind::File(data) => {
                staging::write_file(&target, data, 0o644)?;
                (EntryType::File, data.len() as u64)
            }
            EntryKind::Dir => {
                staging::make_dir(&target)?;
                (EntryType::Dir, 0)
            }
            EntryKind::CharDevice { .. } => (EntryType::Device, 0),
            EntryKind::Symlink(_) => (EntryType::Symlink, 0),
        };
        entries.push(ListedEntry { area: Area::Initramfs, path: format!("/{}", entry.path), kind, size });
    }
    Ok((cmdline, entries))
}

/// Check the root against its hash tree with the parameters of the UKI's command line (what
/// PID 1 will give dm-verity): `veritysetup verify` over the partitions of the slot it names
/// (`qp.slot=`). Returns the root hash.
pub fn verify_root(image: &Path) -> Result<String, ImageError> {
    let toolbox = Toolbox::new(None);
    toolbox.require(&[VERITYSETUP])?;
    let scratch = tempfile::tempdir().map_err(ImageError::io(std::env::temp_dir()))?;
    let listing = extract(image, scratch.path())?;
    let cmdline = listing.cmdline.ok_or_else(|| ImageError::invalid(image.display().to_string(), "no UKI"))?;
    let word = |key: &str| {
        cmdline
            .split_whitespace()
            .find_map(|w| w.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
            .map(str::to_owned)
            .ok_or_else(|| ImageError::invalid("UKI command line", format!("no {key}=")))
    };
    let (root_hash, salt, blocks) = (word("qp.verity.root")?, word("qp.verity.salt")?, word("qp.verity.data_blocks")?);
    let slot = match word("qp.slot")?.as_str() {
        "a" => 'a',
        "b" => 'b',
        other => return Err(ImageError::invalid("UKI command line", format!("qp.slot={other} (not a or b)"))),
    };
    let disk = disk_of(image);
    let mut file = File::open(&disk).map_err(ImageError::io(&disk))?;
    let gpt = Gpt::read_from(&mut file)?;
    let part = |label: &str| {
        gpt.partition(label)
            .ok_or_else(|| ImageError::invalid(disk.display().to_string(), format!("no {label} partition")))
    };
    let root = copy_partition(&mut file, part(&disk::root_label(slot))?, &scratch.path().join("root.part"))?;
    let hash = copy_partition(&mut file, part(&disk::verity_label(slot))?, &scratch.path().join("verity.part"))?;
    toolbox
        .command(VERITYSETUP)?
        .args(["verify", "--no-superblock", "--data-block-size", "4096", "--hash-block-size", "4096"])
        .args(["--hash", "sha256", "--salt", &salt, "--data-blocks", &blocks])
        .arg(&root)
        .arg(&hash)
        .arg(&root_hash)
        .run()?;
    Ok(root_hash)
}
