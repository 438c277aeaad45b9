//! `qpctl image …`: the sealed node image (`qp-image`).

use std::path::PathBuf;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use qp_image::{ImageSpec, NodeBinary, Variant};

#[derive(Debug, clap::Subcommand)]
pub enum ImageCommand {
    /// Build the GPT disk image (ESP with systemd-boot and the UKI, erofs root under dm-verity,
    /// ext4 data) from Debian's kernel package and a static qp-node; byte-identical for the same
    /// inputs.
    Build {
        /// Which image: `local` (the vault) or `cloud` (ingest agents and the bridge client only).
        #[arg(long)]
        variant: String,
        /// Output folder: disk.img, uki.efi, root.erofs, root.verity, roothash.txt, golden.json (the
        /// measurements a boot of it gives, for `qpctl attest`), build-info.json.
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
        /// The image version (names /EFI/Linux/qp-<version>.efi; default: the workspace's).
        #[arg(long)]
        version: Option<String>,
        /// The data partition's size in MiB.
        #[arg(long, default_value_t = qp_image::DEFAULT_DATA_MIB)]
        data_mib: u64,
    },
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

pub fn run(command: ImageCommand) -> anyhow::Result<()> {
    match command {
        ImageCommand::Build {
            variant,
            out,
            kernel_dir,
            node_binary,
            attestd_binary,
            manifest,
            data_seed,
            models,
            version,
            data_mib,
        } => {
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
