//! `qpctl image build`: the sealed node image, reproducibly.
//!
//! From Debian's kernel package and the workspace's static `qp-node`, [`build`] makes a GPT disk
//! image: an EFI system partition with systemd-boot and a unified kernel image (kernel, initramfs,
//! command line), the root file system as erofs under dm-verity (its root hash on the UKI's command
//! line, so measuring the UKI pins the root), and an ext4 data partition. The cloud variant carries
//! only the ingest side of `qp-node`: no vault agent, no execution agent, no key.
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
pub const DEFAULT_DATA_MIB: u64 = 16;
/// The local image's size target (without model files).
pub const LOCAL_TARGET_MIB: u64 = 64;
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
}

impl ImageSpec {
    /// Defaults: build `qp-node` in this workspace into its `target/`, the variant's manifest, no
    /// seed or models, the workspace's version, Debian's systemd-boot, a 16 MiB data partition.
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
    pub root_bytes: u64,
    pub verity_bytes: u64,
    pub data_bytes: u64,
}

/// What [`build`] made; written to `build-info.json` in the output folder.
#[derive(Debug, Clone, Serialize)]
pub struct BuiltImage {
    pub variant: Variant,
    pub image_version: String,
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
    /// The UKI's path on the ESP.
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
        let mut text = format!(
            "{} image {} ({}): {}\n  disk {:.1} MiB (ESP {:.1}, root {:.1} + verity {:.2}, data {:.1})\n  \
             UKI {:.1} MiB (kernel {:.1}, initramfs {:.1}); qp-node {:.1} MiB\n  \
             root hash {}\n  image id {}, PCR 15 after boot {}\n  disk sha256 {}\n  built in {:.1} s",
            self.variant,
            self.image_version,
            self.kernel_release,
            self.disk_path().display(),
            mib(s.disk_bytes),
            mib(s.esp_bytes),
            mib(s.root_bytes),
            mib(s.verity_bytes),
            mib(s.data_bytes),
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
        if self.variant == Variant::Local && s.disk_bytes > LOCAL_TARGET_MIB * 1024 * 1024 {
            text.push_str(&format!("\n  note: above the local image's {LOCAL_TARGET_MIB} MiB target"));
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
            "use letters, digits, '.', '_' and '-' (it names /EFI/Linux/qp-<version>.efi; '+' is for boot counting)",
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
    if spec.data_size_mib < 4 {
        return Err(ImageError::invalid("data partition size", "at least 4 MiB"));
    }

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
            models: spec.models.as_deref(),
            extra: &tpm_files,
        },
    )?;
    let root_path = out.join("root.erofs");
    let root_bytes = rootfs::make_erofs(&toolbox, &root_stage, &root_path, &uuid("erofs-uuid"))?;

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
    std::fs::write(&parts.osrel, uki::os_release(&spec.version, spec.variant.as_str()))
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
    let esp_content = esp::EspContent { boot_manager: &boot_manager, uki: &uki_path, version: &spec.version };
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
    let plans = [
        (disk::ESP_LABEL, types::EFI_SYSTEM, &esp_path),
        (disk::ROOT_A_LABEL, types::LINUX_FILESYSTEM, &root_path),
        (disk::VERITY_A_LABEL, types::ROOT_VERITY_X86_64, &verity_path),
        (disk::DATA_LABEL, types::LINUX_FILESYSTEM, &data_path),
    ]
    .into_iter()
    .map(|(name, type_guid, content)| {
        Ok(disk::PartitionPlan {
            name: name.to_owned(),
            type_guid,
            unique_guid: guid(&format!("partition/{name}")),
            content: content.clone(),
            size_bytes: len(content)?,
        })
    })
    .collect::<Result<Vec<_>, ImageError>>()?;
    let gpt = disk::layout(guid("disk"), &plans);
    let disk_path = out.join("disk.img");
    disk::write(&disk_path, &gpt, &plans)?;
    let disk_image = read(&disk_path)?;
    progress.inc(1);

    let built = BuiltImage {
        variant: spec.variant,
        image_version: spec.version.clone(),
        inputs_sha256: hex(&digest),
        inputs: record,
        kernel_release: kernel.release.clone(),
        modules,
        cmdline,
        verity,
        image_id: golden.image_id.clone(),
        golden_pcr_value: hex(&golden.pcr_value),
        uki_path: esp::uki_path(&spec.version),
        disk_guid: gpt.disk_guid.to_string(),
        partitions: gpt
            .partitions
            .iter()
            .zip(&plans)
            .map(|(p, plan)| BuiltPartition {
                name: p.name.clone(),
                type_guid: p.type_guid.to_string(),
                guid: p.unique_guid.to_string(),
                offset_bytes: p.offset_bytes(),
                size_bytes: p.size_bytes(),
                content_bytes: plan.size_bytes,
            })
            .collect(),
        sizes: ImageSizes {
            disk_bytes: disk_image.len() as u64,
            esp_bytes: len(&esp_path)?,
            uki_bytes: uki_bytes.len() as u64,
            kernel_bytes: vmlinuz.len() as u64,
            initramfs_bytes: initramfs.len() as u64,
            node_binary_bytes: node.len() as u64,
            root_bytes,
            verity_bytes: len(&verity_path)?,
            data_bytes,
        },
        disk_sha256: sha256_hex(&disk_image),
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
    fn vault_files_and_keys_are_recognised() {
        for path in ["agents/vault/x", "etc/node.key", "id/node-key.pem", "VAULT.toml", "tls/key.pem"] {
            assert!(forbidden_in_cloud(path), "{path}");
        }
        for path in ["usr/bin/qp-node", "etc/qp/manifest.toml", "ca/fleet-ca.pem", "node.crt"] {
            assert!(!forbidden_in_cloud(path), "{path}");
        }
    }
}
