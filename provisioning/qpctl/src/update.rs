//! `qpctl update`: the fleet's signed update repository in The Update Framework's format
//! (`qp-update-repo`, over `tough`): keys, the initial root, publishing an image build's artefacts
//! as a release, re-signing the timestamp, and checking a repository as a node would.
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use qp_update_repo::{FetchConfig, KeyPolicy, Lifetimes, RolePolicy, SigningKeys};

/// The files of a `qpctl image build` output that make a release, as (target name, file): what
/// the node writes into its inactive slot (the slot's unified kernel image, the root file system
/// and its dm-verity hash tree and root hash) and what the verifier compares it with (the golden
/// values), plus the build record. `uki.efi` is slot A's kernel image (`qp.slot=a`).
pub const RELEASE_FILES: [(&str, &str); 7] = [
    ("uki-a.efi", "uki.efi"),
    ("uki-b.efi", "uki-b.efi"),
    ("root.erofs", "root.erofs"),
    ("root.verity", "root.verity"),
    ("roothash.txt", "roothash.txt"),
    ("golden.json", "golden.json"),
    ("build-info.json", "build-info.json"),
];

#[derive(Debug, clap::Subcommand)]
pub enum UpdateCommand {
    /// Make the four roles' signing keys (PKCS#8 PEM, mode 0600, never overwritten).
    Keygen {
        #[arg(long)]
        keys: PathBuf,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Start a repository: its signed root (metadata/1.root.json), which images ship as their
    /// trusted root.
    Init {
        #[arg(long)]
        repo: PathBuf,
        #[arg(long)]
        keys: PathBuf,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Publish an image build (`qpctl image build --out DIR`) as its release: its artefacts
    /// become the targets, signed with the targets, snapshot and timestamp keys.
    Publish {
        #[arg(long)]
        repo: PathBuf,
        #[arg(long)]
        keys: PathBuf,
        /// The image build's output folder.
        #[arg(long)]
        image: PathBuf,
        /// The release number (a node refuses one not above its own). Default: the build's own
        /// (`release` in its build-info.json, set by `qpctl image build --release N`); given, it
        /// must match the build's.
        #[arg(long)]
        version: Option<u64>,
    },
    /// Re-sign the timestamp (a daily job: it expires after a day).
    Timestamp {
        #[arg(long)]
        repo: PathBuf,
        #[arg(long)]
        keys: PathBuf,
    },
    /// Check a repository as a node would (trusted root, datastore, installed version), and
    /// print the verified offer as JSON; `--download DIR` also fetches and verifies the targets.
    Check {
        /// `file:///…` or `http://127.0.0.1:PORT/…`.
        #[arg(long)]
        repository: String,
        /// The root the node trusts (the image's).
        #[arg(long)]
        root: PathBuf,
        /// The node's datastore of last-seen metadata.
        #[arg(long)]
        datastore: PathBuf,
        /// The image version the node runs.
        #[arg(long)]
        installed: u64,
        #[arg(long)]
        download: Option<PathBuf>,
    },
}

/// Keys and thresholds per role (defaults: root 3 of which 2 sign, targets 2 of 2, snapshot and
/// timestamp 1).
#[derive(Debug, Clone, clap::Args)]
pub struct PolicyArgs {
    #[arg(long, default_value_t = 3)]
    root_keys: usize,
    #[arg(long, default_value_t = 2)]
    root_threshold: u64,
    #[arg(long, default_value_t = 2)]
    targets_keys: usize,
    #[arg(long, default_value_t = 2)]
    targets_threshold: u64,
}

impl PolicyArgs {
    fn policy(&self) -> KeyPolicy {
        KeyPolicy {
            root: RolePolicy { keys: self.root_keys, threshold: self.root_threshold },
            targets: RolePolicy { keys: self.targets_keys, threshold: self.targets_threshold },
            ..KeyPolicy::default()
        }
    }
}

/// The release files of an image build, each checked to exist.
fn release_targets(image: &Path) -> anyhow::Result<Vec<(&'static str, PathBuf)>> {
    RELEASE_FILES
        .iter()
        .map(|(target, file)| {
            let path = image.join(file);
            anyhow::ensure!(path.is_file(), "{}: not an image build output (no {file})", image.display());
            Ok((*target, path))
        })
        .collect()
}

pub fn run(command: UpdateCommand) -> anyhow::Result<()> {
    let now = SystemTime::now();
    match command {
        UpdateCommand::Keygen { keys, policy } => {
            let made = qp_update_repo::generate_keys(&keys, &policy.policy())?;
            for (role, path) in made.files() {
                println!("{role:<9} {}", path.display());
            }
            println!("keep the root keys offline; the targets keys with the people who approve releases");
        }
        UpdateCommand::Init { repo, keys, policy } => {
            let keys = SigningKeys::load(&keys)?;
            let root = qp_update_repo::init(&repo, &keys, &policy.policy(), &Lifetimes::default(), now)?;
            println!("repository {}: trusted root {} (ship it in the image)", repo.display(), root.display());
        }
        UpdateCommand::Publish { repo, keys, image, version } => {
            let keys = SigningKeys::load(&keys)?;
            let version = build_release(&image, version)?;
            let targets = release_targets(&image)?;
            let borrowed: Vec<(&str, &Path)> = targets.iter().map(|(name, path)| (*name, path.as_path())).collect();
            let release = qp_update_repo::publish(&repo, &keys, &borrowed, version, &Lifetimes::default(), now)
                .with_context(|| format!("publishing {}", image.display()))?;
            println!(
                "published image version {} from {} ({} targets): targets v{}, snapshot v{}, timestamp v{}",
                release.image_version,
                image.display(),
                borrowed.len(),
                release.targets_version,
                release.snapshot_version,
                release.timestamp_version
            );
        }
        UpdateCommand::Timestamp { repo, keys } => {
            let keys = SigningKeys::load(&keys)?;
            let version = qp_update_repo::refresh_timestamp(&repo, &keys, Lifetimes::default().timestamp, now)?;
            println!("timestamp v{version}, valid {} h", Lifetimes::default().timestamp.as_secs() / 3600);
        }
        UpdateCommand::Check { repository, root, datastore, installed, download } => {
            let config = FetchConfig { trusted_root: root, datastore, repository, installed_version: installed };
            let offer = qp_update_repo::check_for_update(&config)?;
            let targets: Vec<serde_json::Value> = offer
                .targets()
                .iter()
                .map(|t| serde_json::json!({"name": t.name, "sha256": qp_attest_core::hex(&t.sha256), "length": t.length}))
                .collect();
            let started = std::time::Instant::now();
            let downloaded = match download {
                Some(dir) => {
                    let verified = offer.download(&dir)?;
                    let bytes: u64 = verified.targets.iter().map(|t| t.length).sum();
                    let seconds = started.elapsed().as_secs_f64().max(Duration::from_micros(1).as_secs_f64());
                    serde_json::json!({"dir": dir.display().to_string(), "bytes": bytes,
                        "mib_per_s": (bytes as f64 / 1048576.0 / seconds * 10.0).round() / 10.0})
                }
                None => serde_json::Value::Null,
            };
            let out = serde_json::json!({
                "version": offer.version(),
                "installed": installed,
                "targets": targets,
                "downloaded": downloaded,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
    }
    Ok(())
}

/// The release number of an image build: its build-info.json's `release`, which the node reads
/// from its own copy to refuse older releases, and the boot loader sorts entries by.
fn build_release(image: &Path, asked: Option<u64>) -> anyhow::Result<u64> {
    let path = image.join("build-info.json");
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let info: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    let built = info.get("release").and_then(serde_json::Value::as_u64);
    match (built, asked) {
        (Some(built), Some(asked)) if built != asked => anyhow::bail!(
            "--version {asked}, but {} was built as release {built} (qpctl image build --release)",
            path.display()
        ),
        (Some(built), _) => Ok(built),
        (None, _) => anyhow::bail!(
            "{}: no release number (an image built before `qpctl image build --release`); rebuild it",
            path.display()
        ),
    }
}
