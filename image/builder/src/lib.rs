//! `qpctl image build`: the sealed node image, reproducibly.
//!
//! From Debian's kernel package and the workspace's static `qp-node`, [`build`] makes a GPT disk
//! image: an EFI system partition with systemd-boot and a unified kernel image (kernel, initramfs,
//! command line), the root file system as erofs under dm-verity (its root hash on the UKI's command
//! line, so measuring the UKI pins the root) in slot A, slot B's root and hash tree partitions of
//! the same sizes left zeros for the first update to write, and an ext4 data partition. The cloud
//! variant carries only the ingest side of `qp-node`: no vault agent, no execution agent, no key.
//!
//! Two builds from the same inputs give byte-identical images: every time stamp is fixed, archives
//! are sorted, and every id a tool would draw at random (GUIDs, UUIDs, the FAT volume id, the
//! verity salt) is derived from the digest of the inputs. See `image/DESIGN.md`.
//!
//! [`inspect::list_files`] reads an image back (partitions, command line, and the files of the ESP,
//! initramfs, root and data partition).

pub mod cpio;
pub mod datafs;
pub mod disk;
mod error;
pub mod esp;
pub mod gpt;
pub mod initramfs;
pub mod inputs;
pub mod inspect;
pub mod kernel;
pub mod modules_dep;
pub mod node_binary;
pub mod pe;
pub mod rootfs;
mod staging;
pub mod tools;
pub mod tpm_service;
pub mod uki;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::ProgressBar;
use serde::Serialize;

pub use error::ImageError;
pub use inspect::{ImageListing, list_files};
pub use kernel::{GuestKernel, KERNEL_DIR_ENV, default_kernel_dir};
pub use node_binary::NodeBinary;

use crate::gpt::{Guid, types};
use crate::inputs::{InputRecord, derive, hex, sha256_hex};
use crate::tools::Toolbox;

/// Where Debian's `systemd-boot-efi` puts the stub and the boot manager.
pub const DEFAULT_SYSTEMD_BOOT_DIR: &str = "/usr/lib/systemd/boot/efi";
/// The stub the UKI is made from.
pub const STUB_FILE: &str = "linuxx64.efi.stub";
/// The boot manager, installed as `/EFI/BOOT/BOOTX64.EFI`.
pub const BOOT_MANAGER_FILE: &str = "systemd-bootx64.efi";
/// The data partition's default size.
pub const DEFAULT_DATA_MIB: u64 = 4;
/// The smallest data partition.
pub const MIN_DATA_MIB: u64 = 4;
/// The local image's size target (without model files), both slots included.
pub const LOCAL_TARGET_MIB: u64 = 64;
/// The release number of a build unless another is given.
pub const DEFAULT_RELEASE: u64 = 1;
/// The largest update root metadata file accepted (`--update-root`).
pub const MAX_UPDATE_ROOT_BYTES: u64 = 1024 * 1024;
const MIB: u64 = 1024 * 1024;
/// The files `build` leaves in the output folder.
pub const OUTPUT_FILES: &[&str] =
    &["disk.img", "uki.efi", "uki-b.efi", "root.erofs", "root.verity", "roothash.txt", "build-info.json"];
/// The slot this build fills. `uki-b.efi` is the same kernel image for slot B, whose command line
/// names slot B (an A/B update writes the root into whichever slot is not running, with that
/// slot's kernel image).
const SLOT: char = 'a';

/// The image variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// The sovereign vault: the bridge's accepting side and the vault agents.
    Local,
    /// The cloud node: the ingest agents and the bridge client only.
    Cloud,
}

impl Variant {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Local => "local",
            Variant::Cloud => "cloud",
        }
    }

    /// The manifest written into the image unless another is given (from `templates/`).
    #[must_use]
    pub fn default_manifest(self) -> &'static str {
        match self {
            Variant::Local => include_str!("../templates/manifest-local.toml"),
            Variant::Cloud => include_str!("../templates/manifest-cloud.toml"),
        }
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Variant {
    type Err = ImageError;
    fn from_str(s: &str) -> Result<Self, ImageError> {
        match s {
            "local" => Ok(Variant::Local),
            "cloud" => Ok(Variant::Cloud),
            other => Err(ImageError::invalid(format!("variant {other:?}"), "must be \"local\" or \"cloud\"")),
        }
    }
}

/// The workspace this crate was built in (the default for building `qp-node`).
#[must_use]
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    here.canonicalize().unwrap_or(here)
}

/// What to build.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    pub variant: Variant,
    /// Where the outputs go (created if absent).
    pub out_dir: PathBuf,
    /// The extracted kernel package ([`default_kernel_dir`]).
    pub kernel_dir: PathBuf,
    pub node_binary: NodeBinary,
    /// A manifest to use instead of the variant's default.
    pub manifest: Option<PathBuf>,
    /// A folder copied into the data partition.
    pub data_seed: Option<PathBuf>,
    /// A folder copied to `/usr/share/qp/` in the root.
    pub models: Option<PathBuf>,
    /// The TPM service, built already (dynamically linked); `None`: built in this workspace.
    pub attestd_binary: Option<PathBuf>,
    /// The image version (`/EFI/Linux/qp-<version>.efi`).
    pub version: String,
    /// Where `linuxx64.efi.stub` and `systemd-bootx64.efi` are.
    pub systemd_boot_dir: PathBuf,
    /// Where to look for the tools (`PATH` syntax); `None`: `$PATH` and the sbin folders.
    pub search_path: Option<OsString>,
    pub data_size_mib: u64,
    /// Each slot's root partition in MiB (A and B alike); `None`: the root file system rounded up to
    /// whole MiB. Headroom here lets later, larger releases fit the slots; smaller than the root is
    /// refused. The hash tree partitions are sized for a root that fills it.
    pub root_mib: Option<u64>,
    /// The fleet's TUF root metadata (the update repository's `metadata/1.root.json`), copied to
    /// `/etc/qp/update-root.json` in the root: what the node's update service trusts first.
    pub update_root: Option<PathBuf>,
    /// The release number: what the update repository and the node's anti-rollback compare, and
    /// the UKI's `IMAGE_VERSION` (systemd-boot boots the highest first). At least 1.
    pub release: u64,
}

impl ImageSpec {
    /// Defaults: build `qp-node` in this workspace into its `target/`, the variant's manifest, no
    /// seed or models, the workspace's version, Debian's systemd-boot, a 4 MiB data partition, root
    /// partitions as large as the root, no update root, release 1.
    #[must_use]
    pub fn new(variant: Variant, out_dir: impl Into<PathBuf>, kernel_dir: impl Into<PathBuf>) -> Self {
        let workspace = workspace_root();
        Self {
            variant,
            out_dir: out_dir.into(),
            kernel_dir: kernel_dir.into(),
            node_binary: NodeBinary::Build { target_dir: workspace.join("target"), workspace },
            manifest: None,
            data_seed: None,
            models: None,
            attestd_binary: None,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            systemd_boot_dir: PathBuf::from(DEFAULT_SYSTEMD_BOOT_DIR),
            search_path: None,
            data_size_mib: DEFAULT_DATA_MIB,
            root_mib: None,
            update_root: None,
            release: DEFAULT_RELEASE,
        }
    }
}

/// The dm-verity parameters on the command line.
pub use rootfs::Verity;

/// One partition of the built disk.
#[derive(Debug, Clone, Serialize)]
pub struct BuiltPartition {
    pub name: String,
    pub type_guid: String,
    pub guid: String,
    pub offset_bytes: u64,
    pub size_bytes: u64,
    /// What of it the content fills.
    pub content_bytes: u64,
}

/// Sizes of the pieces.
#[derive(Debug, Clone, Serialize)]
pub struct ImageSizes {
    pub disk_bytes: u64,
    pub esp_bytes: u64,
    pub uki_bytes: u64,
    pub kernel_bytes: u64,
    pub initramfs_bytes: u64,
    pub node_binary_bytes: u64,
    /// The root file system (erofs).
    pub root_bytes: u64,
    /// Its hash tree.
    pub verity_bytes: u64,
    /// Each slot's root partition (A holds the root, B zeros).
    pub root_partition_bytes: u64,
    /// Each slot's hash tree partition.
    pub verity_partition_bytes: u64,
    /// The data partition.
    pub data_bytes: u64,
}

/// What [`build`] made; written to `build-info.json` in the output folder.
#[derive(Debug, Clone, Serialize)]
pub struct BuiltImage {
    pub variant: Variant,
    pub image_version: String,
    /// The release number (`--release`): the node reads it from `/etc/qp/build-info.json` in its
    /// root, `qpctl update publish` from this file's copy.
    pub release: u64,
    /// The SHA-256 of the inputs record (everything derived is derived from it).
    pub inputs_sha256: String,
    pub inputs: InputRecord,
    pub kernel_release: String,
    /// The modules in the initramfs, in load order.
    pub modules: Vec<String>,
    pub cmdline: String,
    pub verity: Verity,
    /// The image id the golden values name (`golden.json`).
    pub image_id: String,
    /// The product PCR's value after a boot of this image (hex).
    pub golden_pcr_value: String,
    /// The UKI's path on the ESP (slot A's committed entry, `qp-a-<image id>.efi`).
    pub uki_path: String,
    pub disk_guid: String,
    pub partitions: Vec<BuiltPartition>,
    pub sizes: ImageSizes,
    /// SHA-256 of `disk.img`.
    pub disk_sha256: String,
    /// SHA-256 of `uki.efi` (what the firmware measures).
    pub uki_sha256: String,
    #[serde(skip)]
    pub out_dir: PathBuf,
    #[serde(skip)]
    pub elapsed_ms: u128,
}

impl BuiltImage {
    #[must_use]
    pub fn disk_path(&self) -> PathBuf {
        self.out_dir.join("disk.img")
    }

    /// A few lines for the terminal: sizes in MiB, the root hash.
    #[must_use]
    pub fn summary(&self) -> String {
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let s = &self.sizes;
        let slot = s.root_partition_bytes + s.verity_partition_bytes;
        let table = s.disk_bytes.saturating_sub(s.esp_bytes + 2 * slot + s.data_bytes);
        let mut text = format!(
            "{} image {} release {} ({}): {}\n  \
             disk {:.1} MiB = ESP {:.1} + slot A {:.1} (root {:.1} + verity {:.1}) + slot B {:.1} (the same, zeros \
             until the first update) + data {:.1} + GPT and alignment {:.1}\n  \
             root file system {:.1} MiB, hash tree {:.2} MiB\n  \
             UKI {:.1} MiB (kernel {:.1}, initramfs {:.1}); qp-node {:.1} MiB\n  \
             root hash {}\n  image id {}, PCR 15 after boot {}\n  disk sha256 {}\n  built in {:.1} s",
            self.variant,
            self.image_version,
            self.release,
            self.kernel_release,
            self.disk_path().display(),
            mib(s.disk_bytes),
            mib(s.esp_bytes),
            mib(slot),
            mib(s.root_partition_bytes),
            mib(s.verity_partition_bytes),
            mib(slot),
            mib(s.data_bytes),
            mib(table),
            mib(s.root_bytes),
            mib(s.verity_bytes),
            mib(s.uki_bytes),
            mib(s.kernel_bytes),
            mib(s.initramfs_bytes),
            mib(s.node_binary_bytes),
            self.verity.root_hash,
            self.image_id,
            self.golden_pcr_value,
            self.disk_sha256,
            self.elapsed_ms as f64 / 1000.0,
        );
        if self.variant == Variant::Local {
            let verdict = if s.disk_bytes > LOCAL_TARGET_MIB * MIB { "note: above" } else { "within" };
            text.push_str(&format!("\n  {verdict} the local image's {LOCAL_TARGET_MIB} MiB target (both slots)"));
        }
        text
    }
}

/// Whether a path may not appear in a cloud image: anything of the vault, or a key.
#[must_use]
pub fn forbidden_in_cloud(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    lower.contains("vault") || name.ends_with(".key") || (name.contains("key") && name.ends_with(".pem"))
}

/// A cloud node's own bridge key may be seeded onto its data partition: `NAME.key` beside a
/// `NAME.pem` certificate that names a cloud node. Any other key (a local node's, an operator's,
/// the CA's) is a vault secret.
fn is_cloud_identity_key(dir: &Path, relative: &Path) -> bool {
    if relative.extension().is_none_or(|ext| ext != "key")
        || relative.to_string_lossy().to_ascii_lowercase().contains("vault")
    {
        return false;
    }
    let cert = dir.join(relative.with_extension("pem"));
    let Ok(text) = std::fs::read_to_string(&cert) else { return false };
    let Ok(certs) = qp_bridge_identity::pem_certificates(&text, &cert) else { return false };
    certs
        .first()
        .and_then(|der| qp_bridge_identity::certificate_node_id(der).ok())
        .is_some_and(|id| id.role() == qp_bridge_identity::Role::Cloud)
}

fn check_version(version: &str) -> Result<(), ImageError> {
    let ok = !version.is_empty()
        && version.len() <= 64
        && version.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && version.starts_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(ImageError::invalid(
            format!("image version {version:?}"),
            "use letters, digits, '.', '_' and '-' (it is part of the image id, which names the boot entry \
             /EFI/Linux/qp-a-<image id>.efi; '+' is for boot counting)",
        ))
    }
}

/// The manifest must say the variant being built.
fn check_manifest(text: &str, variant: Variant, origin: &str) -> Result<(), ImageError> {
    #[derive(serde::Deserialize)]
    struct Head {
        variant: String,
    }
    let head: Head = toml::from_str(text).map_err(|e| ImageError::invalid(origin, e.message().to_owned()))?;
    if head.variant != variant.as_str() {
        return Err(ImageError::invalid(
            origin,
            format!("says variant = {:?}, but this is a {variant} image", head.variant),
        ));
    }
    Ok(())
}

fn require_dir(what: &str, path: &Path) -> Result<(), ImageError> {
    if path.is_dir() {
        Ok(())
    } else {
        Err(ImageError::InputMissing { what: what.to_owned(), path: path.to_owned(), hint: "give a folder".to_owned() })
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ImageError> {
    std::fs::read(path).map_err(ImageError::io(path))
}

/// The update repository's root metadata (`--update-root`): a file of at most
/// [`MAX_UPDATE_ROOT_BYTES`] that parses as JSON (`qp-update-repo` checks its signatures when the
/// node loads it).
fn read_update_root(path: &Path) -> Result<Vec<u8>, ImageError> {
    let what = format!("the update root {}", path.display());
    let meta = std::fs::metadata(path).map_err(|_| ImageError::InputMissing {
        what: "the update repository's root metadata (--update-root)".to_owned(),
        path: path.to_owned(),
        hint: "give the repository's metadata/1.root.json (`qpctl update init` writes it)".to_owned(),
    })?;
    if !meta.is_file() {
        return Err(ImageError::invalid(what, "not a file: give the repository's metadata/1.root.json"));
    }
    if meta.len() > MAX_UPDATE_ROOT_BYTES {
        return Err(ImageError::invalid(
            what,
            format!(
                "{} bytes, over the {} MiB limit: TUF root metadata is a few KiB; is this the repository's \
                 metadata/1.root.json?",
                meta.len(),
                MAX_UPDATE_ROOT_BYTES / MIB
            ),
        ));
    }
    let bytes = read(path)?;
    if let Err(err) = serde_json::from_slice::<serde_json::Value>(&bytes) {
        return Err(ImageError::invalid(
            what,
            format!("not valid JSON ({err}): give the update repository's metadata/1.root.json"),
        ));
    }
    Ok(bytes)
}

/// Each slot's root partition in MiB: `asked` (`--root-mib`), or the root rounded up to whole MiB;
/// refused when smaller than the root.
fn root_partition_mib(root_bytes: u64, asked: Option<u64>) -> Result<u64, ImageError> {
    let needed = root_bytes.div_ceil(MIB).max(1);
    match asked {
        Some(mib) if mib < needed => Err(ImageError::invalid(
            format!("--root-mib {mib}"),
            format!(
                "the root file system needs {needed} MiB ({root_bytes} bytes) in each slot's root partition; give at \
                 least {needed}, or leave --root-mib out"
            ),
        )),
        Some(mib) => Ok(mib),
        None => Ok(needed),
    }
}

/// Each slot's hash tree partition: the tree of a root that fills its root partition (so a later,
/// larger release fits), at least the tree built, in whole MiB.
fn verity_partition_bytes(root_partition_bytes: u64, tree_bytes: u64) -> u64 {
    rootfs::hash_tree_bytes(root_partition_bytes / rootfs::VERITY_BLOCK).max(tree_bytes).div_ceil(MIB).max(1) * MIB
}

/// The golden values' file in the output folder (`qpctl attest --golden`).
pub const GOLDEN_FILE: &str = "golden.json";

/// What the image's PID 1 will measure and the product PCR's value after it: the same
/// computation PID 1 makes (`qp_supervisor::boot_measurements`), over the staged root.
fn golden_values(
    spec: &ImageSpec,
    manifest: &str,
    root_stage: &Path,
    verity: &Verity,
) -> Result<qp_attest_core::golden::GoldenValues, ImageError> {
    let parsed = qp_supervisor::Manifest::from_toml(manifest, "manifest.toml")
        .map_err(|err| ImageError::invalid("the manifest", err.to_string()))?;
    let root_hash = qp_attest_core::golden::parse_digest(&verity.root_hash)
        .ok_or_else(|| ImageError::invalid("the dm-verity root hash", "not 64 hex digits"))?;
    let boot = qp_supervisor::boot_measurements(root_stage, &parsed, &root_hash)
        .map_err(|err| ImageError::invalid("golden values", err.to_string()))?;
    if let Some(err) = boot.unreadable.first() {
        return Err(ImageError::invalid("golden values", err.to_string()));
    }
    Ok(qp_attest_core::golden::GoldenValues::new(
        qp_attest_core::golden::image_id(spec.variant.as_str(), &spec.version, &root_hash),
        spec.variant.as_str().to_owned(),
        spec.version.clone(),
        qp_supervisor::measure::PCR_PRODUCT,
        boot.log,
    ))
}

/// The steps a build shows on its progress bar.
const STEPS: &[&str] = &[
    "inputs",
    "initramfs",
    "root file system (erofs)",
    "dm-verity hash tree",
    "unified kernel image",
    "EFI system partition",
    "data partition",
    "disk image",
];

/// Build an image as `spec` says. Every tool and input is checked before the first step, so a
/// missing one is reported at once. `progress` shows the steps (`ProgressBar::hidden()` for none).
pub fn build(spec: &ImageSpec, progress: &ProgressBar) -> Result<BuiltImage, ImageError> {
    let started = Instant::now();
    // Check everything first.
    let toolbox = Toolbox::new(spec.search_path.as_deref());
    toolbox.require(tools::BUILD_TOOLS)?;
    check_version(&spec.version)?;
    let kernel = GuestKernel::open(&spec.kernel_dir)?;
    let modules = kernel.resolve_modules()?;
    let stub = spec.systemd_boot_dir.join(STUB_FILE);
    let boot_manager = spec.systemd_boot_dir.join(BOOT_MANAGER_FILE);
    for (what, path) in [("systemd's UKI stub", &stub), ("the systemd-boot boot manager", &boot_manager)] {
        if !path.is_file() {
            return Err(ImageError::InputMissing {
                what: what.to_owned(),
                path: path.clone(),
                hint: "apt-get install systemd-boot-efi (or run `cargo xtask setup`)".to_owned(),
            });
        }
    }
    let manifest = match &spec.manifest {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(ImageError::io(path))?;
            check_manifest(&text, spec.variant, &path.display().to_string())?;
            text
        }
        None => spec.variant.default_manifest().to_owned(),
    };
    for (what, dir) in [("the data seed folder", &spec.data_seed), ("the models folder", &spec.models)] {
        if let Some(dir) = dir {
            require_dir(what, dir)?;
            if spec.variant == Variant::Cloud {
                for (relative, _) in staging::walk(dir)? {
                    let shown = relative.display().to_string();
                    if forbidden_in_cloud(&shown) && !is_cloud_identity_key(dir, &relative) {
                        return Err(ImageError::invalid(
                            dir.join(&relative).display().to_string(),
                            "vault files and keys may not go into a cloud image",
                        ));
                    }
                }
            }
        }
    }
    if spec.data_size_mib < MIN_DATA_MIB {
        return Err(ImageError::invalid(
            format!("data partition size {} MiB", spec.data_size_mib),
            format!("at least {MIN_DATA_MIB} MiB"),
        ));
    }
    if spec.root_mib == Some(0) {
        return Err(ImageError::invalid("--root-mib 0", "each slot's root partition needs at least 1 MiB"));
    }
    if spec.release == 0 {
        return Err(ImageError::invalid("release 0", "release numbers start at 1 (--release N)"));
    }
    let update_root = spec.update_root.as_deref().map(read_update_root).transpose()?;

    let out = &spec.out_dir;
    std::fs::create_dir_all(out).map_err(ImageError::io(out))?;
    let work = out.join(".work");
    if work.exists() {
        std::fs::remove_dir_all(&work).map_err(ImageError::io(&work))?;
    }
    staging::make_dir(&work)?;

    // The binary (cargo shows its own progress).
    let (node, node_path) = match &spec.node_binary {
        NodeBinary::Prebuilt(path) => (read(path)?, path.clone()),
        NodeBinary::Build { workspace, target_dir } => {
            let bytes = progress.suspend(|| node_binary::build(workspace, target_dir, spec.variant))?;
            (bytes, PathBuf::from(format!("(qp-node built for the {} variant)", spec.variant)))
        }
    };
    node_binary::check_static(&node, &node_path)?;
    let attestd = match (&spec.attestd_binary, &spec.node_binary) {
        (Some(path), _) => path.clone(),
        (None, NodeBinary::Build { workspace, target_dir }) => {
            progress.suspend(|| tpm_service::build(workspace, target_dir))?
        }
        (None, NodeBinary::Prebuilt(_)) => {
            let workspace = workspace_root();
            progress.suspend(|| tpm_service::build(&workspace, &workspace.join("target")))?
        }
    };
    let tpm_files = tpm_service::root_files(&attestd)?;

    progress.set_length(STEPS.len() as u64);
    progress.set_position(0);
    let step = |index: usize| {
        if index > 0 {
            progress.inc(1);
        }
        progress.set_message(STEPS[index]);
        tracing::info!(step = STEPS[index], "image build");
    };

    // 1. The inputs and what is derived from them.
    step(0);
    let vmlinuz = read(&kernel.vmlinuz)?;
    let mut record = InputRecord::default();
    record.insert("variant", spec.variant.as_str());
    record.insert("image_version", spec.version.clone());
    record.insert("release", spec.release.to_string());
    record.insert("kernel_package", kernel.id());
    record.insert("kernel_release", kernel.release.clone());
    record.insert("kernel_vmlinuz_sha256", sha256_hex(&vmlinuz));
    let mut module_hashes = String::new();
    for module in &modules {
        let path = kernel.modules_dir.join(module);
        module_hashes.push_str(&format!("{module} {}\n", sha256_hex(&read(&path)?)));
    }
    record.insert("kernel_modules_sha256", sha256_hex(module_hashes.as_bytes()));
    record.insert("node_binary_sha256", sha256_hex(&node));
    record.insert("manifest_sha256", sha256_hex(manifest.as_bytes()));
    let mut tpm_service_files = String::new();
    for file in &tpm_files {
        tpm_service_files.push_str(&format!("{} {}\n", file.path.display(), sha256_hex(&file.bytes)));
    }
    record.insert("tpm_service_sha256", sha256_hex(tpm_service_files.as_bytes()));
    record.insert("stub_sha256", sha256_hex(&read(&stub)?));
    record.insert("boot_manager_sha256", sha256_hex(&read(&boot_manager)?));
    record.insert("data_size_mib", spec.data_size_mib.to_string());
    if let Some(root_mib) = spec.root_mib {
        record.insert("root_mib", root_mib.to_string());
    }
    if let Some(update_root) = &update_root {
        record.insert("update_root_sha256", sha256_hex(update_root));
    }
    if let Some(seed) = &spec.data_seed {
        record.insert("data_seed_sha256", staging::tree_digest(seed)?);
    }
    if let Some(models) = &spec.models {
        record.insert("models_sha256", staging::tree_digest(models)?);
    }
    let digest = record.digest();
    let uuid = |label: &str| Guid::from_seed(&derive(&digest, label)).to_string();
    let guid = |label: &str| Guid::from_seed(&derive(&digest, label));
    let salt = hex(&derive(&digest, "verity-salt"));
    let volume_id = hex(&derive(&digest, "esp-volume-id")[..4]);

    // 2. The initramfs.
    step(1);
    let initramfs = initramfs::build(&node, &kernel, &modules)?;
    let initrd_path = work.join("initrd.cpio.gz");
    std::fs::write(&initrd_path, &initramfs).map_err(ImageError::io(&initrd_path))?;

    // 3. The root file system.
    step(2);
    let build_info_in_root = serde_json::to_string_pretty(&serde_json::json!({
        "variant": spec.variant,
        "image_version": spec.version,
        "release": spec.release,
        "inputs_sha256": hex(&digest),
        "kernel_package": kernel.package,
        "kernel_release": kernel.release,
        "node_binary_sha256": sha256_hex(&node),
        "manifest_sha256": sha256_hex(manifest.as_bytes()),
    }))
    .map_err(|e| ImageError::invalid("build-info.json", e.to_string()))?;
    let root_stage = work.join("root");
    rootfs::stage(
        &root_stage,
        &rootfs::RootContent {
            node_binary: &node,
            manifest: &manifest,
            build_info: &build_info_in_root,
            update_root: update_root.as_deref(),
            models: spec.models.as_deref(),
            extra: &tpm_files,
        },
    )?;
    let root_path = out.join("root.erofs");
    let root_bytes = rootfs::make_erofs(&toolbox, &root_stage, &root_path, &uuid("erofs-uuid"))?;
    let root_partition_bytes = root_partition_mib(root_bytes, spec.root_mib)? * MIB;

    // 4. Its hash tree.
    step(3);
    let verity_path = out.join("root.verity");
    let verity = rootfs::format_verity(&toolbox, &root_path, &verity_path, &salt)?;
    let roothash_path = out.join("roothash.txt");
    std::fs::write(&roothash_path, format!("{}\n", verity.root_hash)).map_err(ImageError::io(&roothash_path))?;
    let golden = golden_values(spec, &manifest, &root_stage, &verity)?;
    let golden_path = out.join(GOLDEN_FILE);
    std::fs::write(&golden_path, golden.to_json()).map_err(ImageError::io(&golden_path))?;

    // 5. The UKI.
    step(4);
    let cmdline = uki::cmdline(SLOT, &verity);
    let parts = uki::UkiParts {
        osrel: work.join("osrel"),
        cmdline: work.join("cmdline"),
        linux: kernel.vmlinuz.clone(),
        initrd: initrd_path.clone(),
    };
    std::fs::write(&parts.osrel, uki::os_release(&spec.version, spec.variant.as_str(), spec.release))
        .map_err(ImageError::io(&parts.osrel))?;
    std::fs::write(&parts.cmdline, &cmdline).map_err(ImageError::io(&parts.cmdline))?;
    let uki_path = out.join("uki.efi");
    uki::build(&toolbox, &stub, &parts, &uki_path)?;
    let uki_bytes = read(&uki_path)?;
    let parts_b = uki::UkiParts { cmdline: work.join("cmdline-b"), ..parts };
    std::fs::write(&parts_b.cmdline, uki::cmdline('b', &verity)).map_err(ImageError::io(&parts_b.cmdline))?;
    let uki_b_path = out.join("uki-b.efi");
    uki::build(&toolbox, &stub, &parts_b, &uki_b_path)?;

    // 6. The ESP.
    step(5);
    let esp_path = work.join("esp.vfat");
    let esp_content = esp::EspContent { boot_manager: &boot_manager, uki: &uki_path, image_id: &golden.image_id };
    esp::build(&toolbox, &esp_content, &volume_id, &esp_path, &work.join("esp-files"))?;

    // 7. The data partition.
    step(6);
    let data_path = work.join("data.ext4");
    let data_bytes = spec.data_size_mib * 1024 * 1024;
    datafs::build(
        &toolbox,
        spec.data_seed.as_deref(),
        &work.join("data"),
        &uuid("data-ext4-uuid"),
        data_bytes,
        &data_path,
    )?;

    // 8. The disk.
    step(7);
    let len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).map_err(ImageError::io(p));
    let verity_partition_bytes = verity_partition_bytes(root_partition_bytes, len(&verity_path)?);
    // Slot B: the same types and sizes as slot A, zeros until the first update writes it.
    let plans = [
        (disk::ESP_LABEL, types::EFI_SYSTEM, Some(&esp_path), len(&esp_path)?),
        (disk::ROOT_A_LABEL, types::LINUX_FILESYSTEM, Some(&root_path), root_partition_bytes),
        (disk::VERITY_A_LABEL, types::ROOT_VERITY_X86_64, Some(&verity_path), verity_partition_bytes),
        (disk::ROOT_B_LABEL, types::LINUX_FILESYSTEM, None, root_partition_bytes),
        (disk::VERITY_B_LABEL, types::ROOT_VERITY_X86_64, None, verity_partition_bytes),
        (disk::DATA_LABEL, types::LINUX_FILESYSTEM, Some(&data_path), len(&data_path)?),
    ]
    .map(|(name, type_guid, content, size_bytes)| disk::PartitionPlan {
        name: name.to_owned(),
        type_guid,
        unique_guid: guid(&format!("partition/{name}")),
        content: content.cloned(),
        size_bytes,
    });
    let gpt = disk::layout(guid("disk"), &plans);
    let disk_path = out.join("disk.img");
    disk::write(&disk_path, &gpt, &plans)?;
    let disk_sha256 = inputs::sha256_file(&disk_path)?;
    let disk_bytes = len(&disk_path)?;
    progress.inc(1);

    let built = BuiltImage {
        variant: spec.variant,
        image_version: spec.version.clone(),
        release: spec.release,
        inputs_sha256: hex(&digest),
        inputs: record,
        kernel_release: kernel.release.clone(),
        modules,
        cmdline,
        verity,
        image_id: golden.image_id.clone(),
        golden_pcr_value: hex(&golden.pcr_value),
        uki_path: esp::uki_path(&golden.image_id),
        disk_guid: gpt.disk_guid.to_string(),
        partitions: gpt
            .partitions
            .iter()
            .zip(&plans)
            .map(|(p, plan)| {
                Ok(BuiltPartition {
                    name: p.name.clone(),
                    type_guid: p.type_guid.to_string(),
                    guid: p.unique_guid.to_string(),
                    offset_bytes: p.offset_bytes(),
                    size_bytes: p.size_bytes(),
                    content_bytes: plan.content.as_deref().map_or(Ok(0), len)?,
                })
            })
            .collect::<Result<_, ImageError>>()?,
        sizes: ImageSizes {
            disk_bytes,
            esp_bytes: len(&esp_path)?,
            uki_bytes: uki_bytes.len() as u64,
            kernel_bytes: vmlinuz.len() as u64,
            initramfs_bytes: initramfs.len() as u64,
            node_binary_bytes: node.len() as u64,
            root_bytes,
            verity_bytes: len(&verity_path)?,
            root_partition_bytes,
            verity_partition_bytes,
            data_bytes,
        },
        disk_sha256,
        uki_sha256: sha256_hex(&uki_bytes),
        out_dir: out.clone(),
        elapsed_ms: started.elapsed().as_millis(),
    };
    let info_path = out.join("build-info.json");
    let info =
        serde_json::to_string_pretty(&built).map_err(|e| ImageError::invalid("build-info.json", e.to_string()))?;
    std::fs::write(&info_path, info + "\n").map_err(ImageError::io(&info_path))?;
    std::fs::remove_dir_all(&work).map_err(ImageError::io(&work))?;
    progress.finish_with_message("done");
    Ok(built)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
    use super::*;

    #[test]
    fn default_manifests_say_their_variant() {
        for variant in [Variant::Local, Variant::Cloud] {
            check_manifest(variant.default_manifest(), variant, "template").unwrap();
        }
        let err = check_manifest(Variant::Local.default_manifest(), Variant::Cloud, "m.toml").unwrap_err();
        assert!(err.to_string().contains("this is a cloud image"), "{err}");
        assert!(Variant::Cloud.default_manifest().contains("\"--role\", \"cloud\""));
        assert!(Variant::Local.default_manifest().contains("\"/data/frames.bin\""));
    }

    #[test]
    fn versions_name_a_file() {
        check_version("0.1.0").unwrap();
        check_version("1.2.3-rc1").unwrap();
        for bad in ["", "../x", "1.0+3", "a b", "-x"] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn root_partitions_take_the_root_or_the_size_asked_never_less() {
        assert_eq!(root_partition_mib(11 * MIB - 4096, None).unwrap(), 11);
        assert_eq!(root_partition_mib(11 * MIB + 4096, None).unwrap(), 12);
        assert_eq!(root_partition_mib(11 * MIB, Some(11)).unwrap(), 11);
        assert_eq!(root_partition_mib(11 * MIB, Some(64)).unwrap(), 64);
        let err = root_partition_mib(11 * MIB + 1, Some(11)).unwrap_err().to_string();
        assert!(err.contains("--root-mib 11") && err.contains("needs 12 MiB") && err.contains("at least 12"), "{err}");
    }

    #[test]
    fn verity_partitions_hold_the_tree_of_a_full_root_partition() {
        // An 11 MiB root's tree (23 blocks) and a 64 MiB one's (129 blocks) fit 1 MiB.
        assert_eq!(verity_partition_bytes(11 * MIB, 23 * 4096), MIB);
        assert_eq!(verity_partition_bytes(64 * MIB, 23 * 4096), MIB);
        // A 1 GiB root partition's tree is just over 8 MiB.
        assert_eq!(verity_partition_bytes(1024 * MIB, 23 * 4096), 9 * MIB);
        // 1 MiB holds the tree of a root partition up to 126 MiB.
        assert_eq!(verity_partition_bytes(126 * MIB, 0), MIB);
        assert_eq!(verity_partition_bytes(127 * MIB, 0), 2 * MIB);
    }

    #[test]
    fn the_update_root_must_be_small_json() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("1.root.json");
        std::fs::write(&good, br#"{"signed": {"_type": "root", "version": 1}, "signatures": []}"#).unwrap();
        assert!(read_update_root(&good).unwrap().starts_with(b"{"));
        let not_json = dir.path().join("root.txt");
        std::fs::write(&not_json, b"root = 1\n").unwrap();
        let err = read_update_root(&not_json).unwrap_err().to_string();
        assert!(err.contains("root.txt") && err.contains("not valid JSON"), "{err}");
        let big = dir.path().join("big.json");
        let mut text = String::from("[");
        while text.len() as u64 <= MAX_UPDATE_ROOT_BYTES {
            text.push_str("1234567890,");
        }
        text.push_str("0]");
        std::fs::write(&big, text).unwrap();
        let err = read_update_root(&big).unwrap_err().to_string();
        assert!(err.contains("big.json") && err.contains("over the 1 MiB limit"), "{err}");
        let err = read_update_root(&dir.path().join("absent.json")).unwrap_err().to_string();
        assert!(err.contains("absent.json") && err.contains("metadata/1.root.json"), "{err}");
        let err = read_update_root(dir.path()).unwrap_err().to_string();
        assert!(err.contains("not a file"), "{err}");
    }

    #[test]
    fn vault_files_and_keys_are_recognised() {
        for path in ["agents/vault/x", "etc/node.key", "id/node-key.pem", "VAULT.toml", "tls/key.pem"] {
            assert!(forbidden_in_cloud(path), "{path}");
        }
        for path in ["usr/bin/qp-node", "etc/qp/manifest.toml", "ca/fleet-ca.pem", "node.crt"] {
            assert!(!forbidden_in_cloud(path), "{path}");
        }
    }
}
