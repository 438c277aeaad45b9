//! `qpctl bench update`: a release written into an inactive slot (`qp_updater::apply`: streamed
//! from a TUF repository, verified, synced, read back, the boot entry written) against plain
//! sequential writes of the same bytes to the same file system, synced. The target: the
//! update at ≥ 50% of the raw write speed.
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;
use qp_update_core::{Installed, Slot, UpdateState};
use qp_update_repo::{FetchConfig, KeyPolicy, Lifetimes, RolePolicy, SigningKeys};

#[derive(Debug, clap::Args)]
pub struct UpdateBenchArgs {
    /// Where the repository, the slot's partition files and the ESP folder are made (the file
    /// system whose speed is measured).
    #[arg(long, default_value = "target/qp-bench-update")]
    dir: PathBuf,
    /// Size of the root file system target in MiB.
    #[arg(long, default_value_t = 64)]
    root_mib: usize,
    #[arg(long, default_value_t = 5)]
    runs: usize,
    #[arg(long)]
    json: bool,
}

fn rank(sorted: &[f64], q: f64) -> f64 {
    let index = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

/// Percentiles of a throughput sample: p50 of speed, and the slow tail (p99 and p99.9 of the
/// run's speed taken from the slowest end).
fn speeds(mut samples: Vec<f64>) -> serde_json::Value {
    samples.sort_by(f64::total_cmp);
    let slow = |q: f64| rank(&samples, 1.0 - q);
    serde_json::json!({
        "p50": (rank(&samples, 0.5) * 10.0).round() / 10.0,
        "p99": (slow(0.99) * 10.0).round() / 10.0,
        "p99_9": (slow(0.999) * 10.0).round() / 10.0,
        "runs": samples.len(),
    })
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    // Not compressible, not all one value.
    let mut x = u64::from(seed) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub fn run(args: UpdateBenchArgs) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(&args.dir);
    std::fs::create_dir_all(&args.dir).with_context(|| args.dir.display().to_string())?;
    // A file:// repository URL needs an absolute path.
    let dir = &args.dir.canonicalize().with_context(|| args.dir.display().to_string())?;
    let keys_dir = dir.join("keys");
    let policy = KeyPolicy {
        root: RolePolicy { keys: 1, threshold: 1 },
        targets: RolePolicy { keys: 1, threshold: 1 },
        ..KeyPolicy::default()
    };
    qp_update_repo::generate_keys(&keys_dir, &policy)?;
    let keys = SigningKeys::load(&keys_dir)?;
    let repo = dir.join("repo");
    qp_update_repo::init(&repo, &keys, &policy, &Lifetimes::default(), SystemTime::now())?;
    let build = dir.join("build");
    std::fs::create_dir_all(&build)?;
    let root_bytes = args.root_mib << 20;
    let image_id = "local-2-bbbbbbbbbbbbbbbb";
    let mut log = qp_attest_core::log::MeasurementLog::new();
    log.append(qp_attest_core::log::Measurement::new(15, qp_attest_core::log::KIND_VERITY_ROOT_HASH, "root", [7; 32]))?;
    let golden = qp_attest_core::golden::GoldenValues::new(image_id.into(), "local".into(), "2".into(), 15, log);
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("root.erofs", pattern(root_bytes, 1)),
        ("root.verity", pattern(root_bytes / 128, 2)),
        ("golden.json", golden.to_json().into_bytes()),
        ("uki-a.efi", pattern(12 << 20, 3)),
        ("uki-b.efi", pattern(12 << 20, 4)),
    ];
    for (name, bytes) in &files {
        std::fs::write(build.join(name), bytes)?;
    }
    let paths: Vec<PathBuf> = files.iter().map(|(name, _)| build.join(name)).collect();
    let targets: Vec<(&str, &Path)> =
        files.iter().map(|(name, _)| *name).zip(paths.iter().map(PathBuf::as_path)).collect();
    qp_update_repo::publish(&repo, &keys, &targets, 2, &Lifetimes::default(), SystemTime::now())?;
    drop(files);

    let node = dir.join("node");
    let layout = qp_updater::SlotLayout {
        root: node.join("root-b"),
        verity: node.join("verity-b"),
        esp_linux: node.join("esp/EFI/Linux"),
    };
    std::fs::create_dir_all(&layout.esp_linux)?;
    std::fs::write(&layout.root, vec![0u8; root_bytes + (1 << 20)])?;
    std::fs::write(&layout.verity, vec![0u8; root_bytes / 128 + (1 << 20)])?;
    let (mut checked, mut unchecked, mut raw) = (Vec::new(), Vec::new(), Vec::new());
    let mut bytes = 0;
    for run in 0..args.runs {
        for read_back in [true, false] {
            let offer = qp_update_repo::check_for_update(&FetchConfig {
                trusted_root: repo.join("metadata/1.root.json"),
                datastore: dir.join(format!("datastore-{run}-{read_back}")),
                repository: format!("file://{}", repo.display()),
                installed_version: 1,
            })?;
            let mut state = UpdateState::new(Installed { version: 1, image_id: "local-1-a".into(), slot: Slot::A });
            let options = qp_updater::ApplyOptions { read_back };
            let report = qp_updater::apply_with(&offer, &mut state, &layout, options, &mut |_| Ok(()))?;
            bytes = report.bytes;
            if read_back { &mut checked } else { &mut unchecked }.push(report.mib_per_s);
        }
        raw.push(qp_disk_check::measure_raw_write(&node, bytes)?);
    }
    let p50 = |samples: &[f64]| {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        rank(&sorted, 0.5)
    };
    let (checked_p50, unchecked_p50, raw_p50) = (p50(&checked), p50(&unchecked), p50(&raw));
    let ratio = |speed: f64| (speed / raw_p50.max(1e-9) * 1000.0).round() / 1000.0;
    let out = serde_json::json!({
        "bench": "update apply into the inactive slot",
        "dir": dir.display().to_string(),
        "bytes_per_update": bytes,
        "update_read_back_mib_per_s": speeds(checked),
        "update_no_read_back_mib_per_s": speeds(unchecked),
        "raw_write_mib_per_s": speeds(raw),
        "ratio_p50_read_back": ratio(checked_p50),
        "ratio_p50_no_read_back": ratio(unchecked_p50),
        "target_ratio": 0.5,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "update into the inactive slot: p50 {checked_p50:.0} MiB/s with read-back, {unchecked_p50:.0} without, \
             against raw writes p50 {raw_p50:.0} MiB/s ({:.0}% and {:.0}%, target ≥ 50%)",
            ratio(checked_p50) * 100.0,
            ratio(unchecked_p50) * 100.0
        );
    }
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}
