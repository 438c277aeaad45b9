//! Writes a verified release (`qp_update_repo::UpdateOffer`) into the node's inactive slot, in an
//! order that a cut at any point survives (`qp_update_core` decides what the next boot means):
//!
//! 1. the state records the pending release and is persisted (the caller's `persist`);
//! 2. the inactive slot's old boot entries are removed from the ESP, so no entry ever points at a
//!    slot being rewritten;
//! 3. the root file system and its dm-verity tree are streamed into their partitions (`tough`
//!    checks length and hash as they stream), synced, and read back past the page cache against
//!    the signed hashes;
//! 4. the slot's unified kernel image (`uki-<slot>.efi`, whose command line names the slot and
//!    its root hash) is written to the ESP under a temporary name, synced, and renamed to
//!    `qp-<slot>-<image id>+3.efi`: systemd-boot tries it at most three times.
//!
//! The caller then reboots; after the boot, `UpdateState::after_boot` commits or rolls back.
#![forbid(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use qp_update_core::{BootEntry, Slot, StateError, UpdateState};
use qp_update_repo::{UpdateError, UpdateOffer};

/// The root file system target.
pub const ROOT_TARGET: &str = "root.erofs";
/// Its dm-verity hash tree.
pub const VERITY_TARGET: &str = "root.verity";
/// The golden values (the image id comes from them).
pub const GOLDEN_TARGET: &str = "golden.json";
/// Write block.
const BLOCK: usize = qp_disk_check::BLOCK_BYTES;

/// The unified kernel image target built for `slot`.
pub fn uki_target(slot: Slot) -> String {
    format!("uki-{}.efi", slot.letter())
}

/// Where the inactive slot lives: its two partitions (block devices on a node, pre-sized files in
/// tests) and the ESP's `EFI/Linux` folder.
#[derive(Debug, Clone)]
pub struct SlotLayout {
    pub root: PathBuf,
    pub verity: PathBuf,
    pub esp_linux: PathBuf,
}

/// What was written, and how fast.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyReport {
    pub version: u64,
    pub image_id: String,
    pub slot: Slot,
    /// The new boot entry's file name (with its counter).
    pub entry: String,
    /// Bytes written to the partitions and the ESP.
    pub bytes: u64,
    pub seconds: f64,
    pub mib_per_s: f64,
}

/// Why a release was not written. The running slot is untouched in every case.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Update(#[from] UpdateError),
    #[error("{what} {}: {source}", path.display())]
    Io { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("the release has no target {0}")]
    MissingTarget(String),
    #[error("target {target} is {len} bytes; its partition {} holds {capacity}", partition.display())]
    TooLarge { target: String, len: u64, capacity: u64, partition: PathBuf },
    #[error("{}: reads back other bytes than target {target} (a failing disk?)", partition.display())]
    ReadBack { target: String, partition: PathBuf },
    #[error("the release's golden values: {0}")]
    Golden(String),
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> ApplyError + 'a {
    move |source| ApplyError::Io { what, path: path.to_owned(), source }
}

/// How a release is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Read each partition back past the page cache and compare it with the signed hash before
    /// the boot entry is written. Without it, a bad write is still caught, later: dm-verity (root
    /// hash in the UKI's signed command line) refuses the block at boot, and the boot counter
    /// brings the old slot back after three tries.
    pub read_back: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self { read_back: true }
    }
}

/// [`apply_with`] the default options (read-back on).
pub fn apply(
    offer: &UpdateOffer,
    state: &mut UpdateState,
    layout: &SlotLayout,
    persist: &mut dyn FnMut(&UpdateState) -> std::io::Result<()>,
) -> Result<ApplyReport, ApplyError> {
    apply_with(offer, state, layout, ApplyOptions::default(), persist)
}

/// Writes `offer` into `layout` (the slot `state` names inactive); see the crate documentation.
/// `persist` saves the state (the pending release) before anything else is written.
pub fn apply_with(
    offer: &UpdateOffer,
    state: &mut UpdateState,
    layout: &SlotLayout,
    options: ApplyOptions,
    persist: &mut dyn FnMut(&UpdateState) -> std::io::Result<()>,
) -> Result<ApplyReport, ApplyError> {
    let started = Instant::now();
    let mut golden = Vec::new();
    offer.write_target(GOLDEN_TARGET, &mut golden)?;
    let golden =
        qp_attest_core::golden::GoldenValues::from_json(&golden).map_err(|err| ApplyError::Golden(err.to_string()))?;
    let image_id = golden.image_id;
    let pending = state.begin(offer.version(), &image_id)?;
    persist(state).map_err(io("saving the update state", &layout.esp_linux))?;
    let slot = pending.slot;
    let uki = uki_target(slot);
    for name in [ROOT_TARGET, VERITY_TARGET, uki.as_str()] {
        if !offer.targets().iter().any(|t| t.name == name) {
            return Err(ApplyError::MissingTarget(name.to_owned()));
        }
    }
    remove_slot_entries(&layout.esp_linux, slot)?;
    let mut bytes = 0;
    for (target, partition) in [(ROOT_TARGET, &layout.root), (VERITY_TARGET, &layout.verity)] {
        bytes += write_partition(offer, target, partition, options.read_back)?;
    }
    let entry = BootEntry::new_trying(slot, &image_id);
    bytes += write_entry(offer, &uki, &layout.esp_linux, &entry.file_name())?;
    let seconds = started.elapsed().as_secs_f64();
    let report = ApplyReport {
        version: offer.version(),
        image_id,
        slot,
        entry: entry.file_name(),
        bytes,
        seconds,
        mib_per_s: bytes as f64 / (1 << 20) as f64 / seconds.max(1e-9),
    };
    tracing::info!(version = report.version, slot = %slot.letter(), entry = %report.entry, "release written to the inactive slot");
    Ok(report)
}

/// Removes every boot entry of `slot` (any release, any counter): the slot is about to change.
fn remove_slot_entries(esp_linux: &Path, slot: Slot) -> Result<(), ApplyError> {
    std::fs::create_dir_all(esp_linux).map_err(io("creating", esp_linux))?;
    for dirent in std::fs::read_dir(esp_linux).map_err(io("listing", esp_linux))? {
        let dirent = dirent.map_err(io("listing", esp_linux))?;
        let name = dirent.file_name().to_string_lossy().into_owned();
        if BootEntry::parse(&name).is_ok_and(|entry| entry.slot == slot) {
            std::fs::remove_file(dirent.path()).map_err(io("removing the old entry", &dirent.path()))?;
            tracing::info!(entry = %name, "old boot entry of the slot being written removed");
        }
    }
    sync_dir(esp_linux)
}

/// The bytes a partition holds (a block device's size, a file's length).
fn capacity(file: &mut File, path: &Path) -> Result<u64, ApplyError> {
    file.seek(SeekFrom::End(0)).map_err(io("sizing", path))
}

/// Streams `target` into `partition` from its start, syncs, reads it back uncached and compares.
fn write_partition(
    offer: &UpdateOffer,
    target: &str,
    partition: &Path,
    read_back_check: bool,
) -> Result<u64, ApplyError> {
    let offered = offer
        .targets()
        .iter()
        .find(|t| t.name == target)
        .cloned()
        .ok_or_else(|| ApplyError::MissingTarget(target.to_owned()))?;
    let mut file = OpenOptions::new().read(true).write(true).open(partition).map_err(io("opening", partition))?;
    let capacity = capacity(&mut file, partition)?;
    if offered.length > capacity {
        return Err(ApplyError::TooLarge {
            target: target.to_owned(),
            len: offered.length,
            capacity,
            partition: partition.to_owned(),
        });
    }
    file.seek(SeekFrom::Start(0)).map_err(io("seeking", partition))?;
    {
        let mut writer = BufWriter::with_capacity(BLOCK, &mut file);
        offer.write_target(target, &mut writer)?;
        writer.flush().map_err(io("writing", partition))?;
    }
    file.sync_all().map_err(io("syncing", partition))?;
    if read_back_check {
        read_back(partition, target, offered.length, &offered.sha256)?;
    }
    Ok(offered.length)
}

/// Reads `len` bytes of `path` back past the page cache (`qp_disk_check::read_back`) and
/// compares their SHA-256 with the signed one.
fn read_back(path: &Path, target: &str, len: u64, expected: &[u8; 32]) -> Result<(), ApplyError> {
    match qp_disk_check::read_back(path, len, expected) {
        Ok(_) => Ok(()),
        Err(qp_disk_check::ReadBackError::Read { source, .. }) => Err(io("reading back", path)(source)),
        Err(qp_disk_check::ReadBackError::Mismatch { .. }) => {
            Err(ApplyError::ReadBack { target: target.to_owned(), partition: path.to_owned() })
        }
    }
}

/// Writes the slot's unified kernel image to `esp_linux/name` through a temporary file, synced,
/// then renamed (and the folder synced): the entry appears whole or not at all.
fn write_entry(offer: &UpdateOffer, uki: &str, esp_linux: &Path, name: &str) -> Result<u64, ApplyError> {
    let temp = esp_linux.join(format!(".{name}.new"));
    let file = File::create(&temp).map_err(io("creating", &temp))?;
    let mut writer = BufWriter::with_capacity(BLOCK, file);
    let offered = offer.write_target(uki, &mut writer);
    let finished = writer.into_inner().map_err(|err| ApplyError::Io {
        what: "writing",
        path: temp.clone(),
        source: err.into_error(),
    });
    let synced = finished.and_then(|file| file.sync_all().map_err(io("syncing", &temp)));
    if let Err(err) = offered.map_err(ApplyError::from).and(synced) {
        let _ = std::fs::remove_file(&temp);
        return Err(err);
    }
    let path = esp_linux.join(name);
    std::fs::rename(&temp, &path).map_err(io("renaming", &path))?;
    sync_dir(esp_linux)?;
    let length = std::fs::metadata(&path).map_err(io("reading", &path))?.len();
    Ok(length)
}

fn sync_dir(dir: &Path) -> Result<(), ApplyError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io("syncing", dir))
}
