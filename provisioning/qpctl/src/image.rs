//! `qpctl image …`: the sealed node image (`qp-image`).

use std::path::PathBuf;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use qp_image::{ImageSpec, NodeBinary, Variant};

#[derive(Debug, clap::Subcommand)]
pub enum ImageCommand {
    /// Build the GPT disk image (ESP with systemd-boot and the UKI, slot A's erofs root under
    /// dm-verity, slot B's partitions of the same sizes left zeros for the first update, ext4 data)
    /// from Debian's kernel package and a static qp-node; byte-identical for the same inputs.
    Build(Box<BuildArgs>),
    /// List an image: partitions, the UKI's command line, and every file of the ESP, the
    /// initramfs, the root and the data partition.
    Ls {
        /// An output folder of `image build`, or a disk image.
        #[arg(long)]
        image: PathBuf,
        /// Also check the root against its dm-verity tree with the command line's root hash.
        #[arg(long)]
        verify: bool,
    },
}

/// `qpctl image build`'s arguments.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// Which image: `local` (the vault) or `cloud` (ingest agents and the bridge client only).
    #[arg(long)]
    variant: String,
    /// Output folder: disk.img, uki.efi (slot A's), uki-b.efi (slot B's), root.erofs, root.verity,
    /// roothash.txt, golden.json (the measurements a boot of it gives, for `qpctl attest`),
    /// build-info.json.
    #[arg(long)]
    out: PathBuf,
    /// The extracted kernel package (default: $QP_GUEST_KERNEL_DIR, else .cache/kernel/*).
    #[arg(long)]
    kernel_dir: Option<PathBuf>,
    /// A static qp-node to use instead of building one with the variant's features.
    #[arg(long)]
    node_binary: Option<PathBuf>,
    /// A (dynamically linked) qp-attestd to use instead of building one.
    #[arg(long)]
    attestd_binary: Option<PathBuf>,
    /// The image manifest (default: the variant's, image/builder/templates/).
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// A folder copied into the data partition.
    #[arg(long)]
    data_seed: Option<PathBuf>,
    /// A folder of model files copied to /usr/share/qp/ in the root.
    #[arg(long)]
    models: Option<PathBuf>,
    /// The image version (part of the image id, which names the boot entry
    /// /EFI/Linux/qp-a-<image id>.efi; default: the workspace's).
    #[arg(long)]
    version: Option<String>,
    /// The release number: what the update repository and the node's anti-rollback compare
    /// (build-info.json's `release`), and the UKI's IMAGE_VERSION (systemd-boot boots the
    /// highest first).
    #[arg(long, default_value_t = qp_image::DEFAULT_RELEASE)]
    release: u64,
    /// The data partition's size in MiB (at least 4).
    #[arg(long, default_value_t = qp_image::DEFAULT_DATA_MIB)]
    data_mib: u64,
    /// Each slot's root partition in MiB, A and B alike (default: the root file system rounded
    /// up to whole MiB): headroom for later, larger releases. Smaller than the root is refused.
    #[arg(long)]
    root_mib: Option<u64>,
    /// The fleet's TUF root metadata (the update repository's metadata/1.root.json), copied
    /// into the root as /etc/qp/update-root.json for the node's update service.
    #[arg(long)]
    update_root: Option<PathBuf>,
}

pub fn run(command: ImageCommand) -> anyhow::Result<()> {
    match command {
        ImageCommand::Build(args) => {
            let BuildArgs {
                variant,
                out,
                kernel_dir,
                node_binary,
                attestd_binary,
                manifest,
                data_seed,
                models,
                version,
                release,
                data_mib,
                root_mib,
                update_root,
            } = *args;
            let variant: Variant = variant.parse()?;
            let kernel_dir = match kernel_dir {
                Some(dir) => dir,
                None => qp_image::default_kernel_dir(&qp_image::workspace_root())?,
            };
            let mut spec = ImageSpec::new(variant, out, kernel_dir);
            if let Some(path) = node_binary {
                spec.node_binary = NodeBinary::Prebuilt(path);
            }
            spec.attestd_binary = attestd_binary;
            spec.manifest = manifest;
            spec.data_seed = data_seed;
            spec.models = models;
            spec.data_size_mib = data_mib;
            spec.root_mib = root_mib;
            spec.update_root = update_root;
            spec.release = release;
            if let Some(version) = version {
                spec.version = version;
            }
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{spinner} image build [{bar:30}] {pos}/{len} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            let built = qp_image::build(&spec, &bar).with_context(|| format!("building the {variant} image"))?;
            println!("{}", built.summary());
            Ok(())
        }
        ImageCommand::Ls { image, verify } => {
            let listing = qp_image::list_files(&image)?;
            print!("{}", listing.render());
            if verify {
                let root_hash = qp_image::inspect::verify_root(&image)?;
                println!("verity: root matches its hash tree, root hash {root_hash}");
            }
            Ok(())
        }
    }
}
