#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! A release written into the inactive slot from a real TUF repository (qp-update-repo), on
//! files standing in for the partitions and a folder for the ESP: the order of the writes, the
//! entry's boot counter, a commit after a healthy boot, and refusals that leave the running slot
//! and its entry untouched.
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use qp_update_core::{AfterBoot, BootEntry, Health, Installed, Slot, UpdateState};
use qp_update_repo::{FetchConfig, KeyPolicy, Lifetimes, RolePolicy, SigningKeys};
use qp_updater::{ApplyError, SlotLayout, apply};

const MIB: usize = 1 << 20;
const OLD_ID: &str = "local-1-aaaaaaaaaaaaaaaa";

fn golden_json(image_id: &str) -> Vec<u8> {
    let mut log = qp_attest_core::log::MeasurementLog::new();
    log.append(qp_attest_core::log::Measurement::new(15, qp_attest_core::log::KIND_VERITY_ROOT_HASH, "root", [7; 32]))
        .unwrap();
    qp_attest_core::golden::GoldenValues::new(image_id.into(), "local".into(), "2".into(), 15, log)
        .to_json()
        .into_bytes()
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

struct Fixture {
    dir: tempfile::TempDir,
    repo: PathBuf,
    root_bytes: Vec<u8>,
    uki_b: Vec<u8>,
    new_id: String,
}

/// A repository holding release 2 (root 3 MiB, verity, golden values, a UKI per slot).
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let keys_dir = dir.path().join("keys");
    let policy = KeyPolicy {
        root: RolePolicy { keys: 1, threshold: 1 },
        targets: RolePolicy { keys: 1, threshold: 1 },
        ..KeyPolicy::default()
    };
    qp_update_repo::generate_keys(&keys_dir, &policy).unwrap();
    let keys = SigningKeys::load(&keys_dir).unwrap();
    let repo = dir.path().join("repo");
    let now = SystemTime::now();
    qp_update_repo::init(&repo, &keys, &policy, &Lifetimes::default(), now).unwrap();
    let build = dir.path().join("build");
    std::fs::create_dir_all(&build).unwrap();
    let new_id = "local-2-bbbbbbbbbbbbbbbb".to_owned();
    let root_bytes = pattern(3 * MIB + 123, 1);
    let uki_b = pattern(300_000, 9);
    for (name, bytes) in [
        ("root.erofs", root_bytes.clone()),
        ("root.verity", pattern(40_000, 2)),
        ("golden.json", golden_json(&new_id)),
        ("uki-a.efi", pattern(300_000, 8)),
        ("uki-b.efi", uki_b.clone()),
    ] {
        std::fs::write(build.join(name), bytes).unwrap();
    }
    let names = ["root.erofs", "root.verity", "golden.json", "uki-a.efi", "uki-b.efi"];
    let paths: Vec<PathBuf> = names.iter().map(|n| build.join(n)).collect();
    let targets: Vec<(&str, &Path)> = names.iter().copied().zip(paths.iter().map(PathBuf::as_path)).collect();
    qp_update_repo::publish(&repo, &keys, &targets, 2, &Lifetimes::default(), now).unwrap();
    Fixture { dir, repo, root_bytes, uki_b, new_id }
}

impl Fixture {
    fn offer(&self) -> qp_update_repo::UpdateOffer {
        qp_update_repo::check_for_update(&FetchConfig {
            trusted_root: self.repo.join("metadata/1.root.json"),
            datastore: self.dir.path().join("datastore"),
            repository: format!("file://{}", self.repo.display()),
            installed_version: 1,
        })
        .unwrap()
    }

    /// Slot B's partitions (files of `root_bytes`) and an ESP with slot A's committed entry and
    /// an old slot B entry.
    fn layout(&self, root_bytes: usize) -> SlotLayout {
        let node = self.dir.path().join("node");
        let esp_linux = node.join("esp/EFI/Linux");
        std::fs::create_dir_all(&esp_linux).unwrap();
        std::fs::write(node.join("root-b"), vec![0xEEu8; root_bytes]).unwrap();
        std::fs::write(node.join("verity-b"), vec![0xEEu8; 64 * 1024]).unwrap();
        std::fs::write(esp_linux.join(format!("qp-a-{OLD_ID}.efi")), b"slot A's kernel").unwrap();
        std::fs::write(esp_linux.join("qp-b-local-0-0000000000000000.efi"), b"an old slot B kernel").unwrap();
        SlotLayout { root: node.join("root-b"), verity: node.join("verity-b"), esp_linux }
    }
}

fn flashed() -> UpdateState {
    UpdateState::new(Installed { version: 1, image_id: OLD_ID.into(), slot: Slot::A })
}

fn entries(esp_linux: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(esp_linux).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn a_release_is_written_into_the_inactive_slot_and_committed_after_a_healthy_boot() {
    let fixture = fixture();
    let layout = fixture.layout(4 * MIB);
    let mut state = flashed();
    let mut saved = Vec::new();
    let report = apply(&fixture.offer(), &mut state, &layout, &mut |s| {
        saved.push(s.clone());
        Ok(())
    })
    .unwrap();
    assert_eq!(report.slot, Slot::B);
    assert_eq!(report.image_id, fixture.new_id);
    assert_eq!(report.entry, format!("qp-b-{}+3.efi", fixture.new_id));
    // The pending release was saved before anything was written.
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].pending.as_ref().unwrap().version, 2);
    // The root is at the partition's start, the rest of the partition untouched.
    let root = std::fs::read(&layout.root).unwrap();
    assert_eq!(&root[..fixture.root_bytes.len()], fixture.root_bytes.as_slice());
    assert!(root[fixture.root_bytes.len()..].iter().all(|&b| b == 0xEE));
    // Slot A's entry stays; slot B's old one is gone; the new one holds slot B's UKI.
    assert_eq!(entries(&layout.esp_linux), vec![format!("qp-a-{OLD_ID}.efi"), report.entry.clone()]);
    assert_eq!(std::fs::read(layout.esp_linux.join(&report.entry)).unwrap(), fixture.uki_b);

    // systemd-boot takes one try (a rename), the new slot boots and is healthy: commit.
    let trying = layout.esp_linux.join(format!("qp-b-{}+2-1.efi", fixture.new_id));
    std::fs::rename(layout.esp_linux.join(&report.entry), &trying).unwrap();
    let on_esp: Vec<BootEntry> = entries(&layout.esp_linux).iter().filter_map(|n| BootEntry::parse(n).ok()).collect();
    let healthy = Health { services_up: true, bridge_peer_connected: true, attestation_passed: true };
    let AfterBoot::Commit { from, to } = state.after_boot(Slot::B, &on_esp, healthy) else { panic!("no commit") };
    std::fs::rename(layout.esp_linux.join(from.file_name()), layout.esp_linux.join(to.file_name())).unwrap();
    assert!(entries(&layout.esp_linux).contains(&format!("qp-b-{}.efi", fixture.new_id)));
    assert_eq!(state.installed.slot, Slot::B);
    assert_eq!(state.installed.version, 2);
}

#[test]
fn a_partition_too_small_for_the_root_is_refused_before_the_new_entry_exists() {
    let fixture = fixture();
    let layout = fixture.layout(2 * MIB);
    let mut state = flashed();
    let err = apply(&fixture.offer(), &mut state, &layout, &mut |_| Ok(())).unwrap_err();
    assert!(matches!(err, ApplyError::TooLarge { .. }), "{err}");
    assert!(err.to_string().contains("root.erofs") && err.to_string().contains("root-b"), "{err}");
    // Slot A and its entry are untouched; no slot B entry exists, so the next boot is slot A's
    // and says the write was interrupted (it may be tried again).
    assert_eq!(entries(&layout.esp_linux), vec![format!("qp-a-{OLD_ID}.efi")]);
    let on_esp: Vec<BootEntry> = entries(&layout.esp_linux).iter().filter_map(|n| BootEntry::parse(n).ok()).collect();
    assert_eq!(state.after_boot(Slot::A, &on_esp, Health::default()), AfterBoot::WriteInterrupted { version: 2 });
}

#[test]
fn a_target_altered_in_the_repository_is_refused_and_no_entry_is_written() {
    let fixture = fixture();
    let layout = fixture.layout(4 * MIB);
    // Someone replaces slot B's kernel in the repository after it was signed.
    let targets = fixture.repo.join("targets");
    let uki = std::fs::read_dir(&targets)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("uki-b.efi"))
        .unwrap();
    let mut bytes = std::fs::read(&uki).unwrap();
    bytes[1000] ^= 1;
    std::fs::write(&uki, bytes).unwrap();
    let mut state = flashed();
    let err = apply(&fixture.offer(), &mut state, &layout, &mut |_| Ok(())).unwrap_err();
    assert!(matches!(err, ApplyError::Update(_)), "{err}");
    assert!(err.to_string().contains("uki-b.efi"), "{err}");
    assert_eq!(entries(&layout.esp_linux), vec![format!("qp-a-{OLD_ID}.efi")]);
}
