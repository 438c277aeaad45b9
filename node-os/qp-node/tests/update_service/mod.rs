//! The update service (`qp_node::update_service`) through whole A/B life cycles on files: the
//! partitions are files named by label, the ESP a folder, each boot a new service reading a
//! command line file, and systemd-boot's renames done by hand. A real TUF repository (qp-update-repo)
//! holds the releases.
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use qp_node::node_config::UpdateSection;
use qp_node::update_service::{RunningImage, UpdatePaths, UpdateService};
use qp_update_core::Slot;
use qp_update_repo::{KeyPolicy, Lifetimes, RolePolicy, SigningKeys};

const MIB: usize = 1 << 20;

struct Fleet {
    dir: tempfile::TempDir,
    keys: SigningKeys,
    repo: PathBuf,
}

/// The root hash a release's command line names (one per release, so its image id differs).
fn root_hash(release: u64) -> [u8; 32] {
    [release as u8; 32]
}

fn image_id(release: u64) -> String {
    qp_attest_core::golden::image_id("local", &format!("0.{release}.0"), &root_hash(release))
}

fn cmdline(slot: Slot, release: u64) -> String {
    format!(
        "console=ttyS0 qp.slot={} qp.verity.root={} qp.verity.salt=- qp.verity.data_blocks=10\n",
        slot.letter(),
        qp_attest_core::hex(&root_hash(release))
    )
}

impl Fleet {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let policy = KeyPolicy {
            root: RolePolicy { keys: 1, threshold: 1 },
            targets: RolePolicy { keys: 1, threshold: 1 },
            ..KeyPolicy::default()
        };
        qp_update_repo::generate_keys(&dir.path().join("keys"), &policy).unwrap();
        let keys = SigningKeys::load(&dir.path().join("keys")).unwrap();
        let repo = dir.path().join("repo");
        qp_update_repo::init(&repo, &keys, &policy, &Lifetimes::default(), SystemTime::now()).unwrap();
        Self { dir, keys, repo }
    }

    /// Publishes release `n`: a root of 1 MiB of `n`s, a verity tree, golden values, two UKIs.
    fn publish(&self, n: u64) {
        let build = self.dir.path().join(format!("build-{n}"));
        std::fs::create_dir_all(&build).unwrap();
        let mut log = qp_attest_core::log::MeasurementLog::new();
        log.append(qp_attest_core::log::Measurement::new(
            15,
            qp_attest_core::log::KIND_VERITY_ROOT_HASH,
            "root",
            root_hash(n),
        ))
        .unwrap();
        let golden =
            qp_attest_core::golden::GoldenValues::new(image_id(n), "local".into(), format!("0.{n}.0"), 15, log);
        let files: [(&str, Vec<u8>); 5] = [
            ("root.erofs", vec![n as u8; MIB]),
            ("root.verity", vec![n as u8 ^ 0xff; 8192]),
            ("golden.json", golden.to_json().into_bytes()),
            ("uki-a.efi", format!("kernel of release {n} for slot a").into_bytes()),
            ("uki-b.efi", format!("kernel of release {n} for slot b").into_bytes()),
        ];
        let mut targets = Vec::new();
        for (name, bytes) in &files {
            std::fs::write(build.join(name), bytes).unwrap();
            targets.push((*name, build.join(name)));
        }
        let borrowed: Vec<(&str, &Path)> = targets.iter().map(|(n, p)| (*n, p.as_path())).collect();
        qp_update_repo::publish(&self.repo, &self.keys, &borrowed, n, &Lifetimes::default(), SystemTime::now())
            .unwrap();
    }
}

/// A node flashed with release 1 in slot A.
struct Node {
    paths: UpdatePaths,
    update: UpdateSection,
}

impl Node {
    fn flashed(fleet: &Fleet) -> Self {
        let root = fleet.dir.path().join("node");
        let partitions = root.join("partitions");
        std::fs::create_dir_all(&partitions).unwrap();
        for label in ["qp-root-a", "qp-root-b"] {
            std::fs::write(partitions.join(label), vec![0u8; 2 * MIB]).unwrap();
        }
        for label in ["qp-verity-a", "qp-verity-b"] {
            std::fs::write(partitions.join(label), vec![0u8; 64 * 1024]).unwrap();
        }
        let esp = root.join("esp");
        std::fs::create_dir_all(esp.join("EFI/Linux")).unwrap();
        std::fs::write(esp.join(format!("EFI/Linux/qp-a-{}.efi", image_id(1))), b"kernel of release 1").unwrap();
        let paths = UpdatePaths {
            config: root.join("node.toml"),
            trusted_root: fleet.repo.join("metadata/1.root.json"),
            build_info: root.join("build-info.json"),
            cmdline: root.join("cmdline"),
            state_dir: root.join("data/update"),
            esp,
            health_dir: root.join("run/health"),
            reboot_request: root.join("run/reboot-request"),
            partitions: Some(partitions),
        };
        let update = UpdateSection {
            repository: format!("file://{}", fleet.repo.display()),
            poll_s: 1,
            health_timeout_s: 600,
            read_back: true,
        };
        let node = Self { paths, update };
        node.boot(Slot::A, 1);
        node
    }

    /// What the boot loader started: the slot's command line and its build record.
    fn boot(&self, slot: Slot, release: u64) {
        std::fs::write(&self.paths.cmdline, cmdline(slot, release)).unwrap();
        let info =
            format!("{{\"variant\": \"local\", \"image_version\": \"0.{release}.0\", \"release\": {release}}}\n");
        std::fs::write(&self.paths.build_info, info).unwrap();
        let _ = std::fs::remove_dir_all(&self.paths.health_dir);
        let _ = std::fs::remove_file(&self.paths.reboot_request);
    }

    fn service(&self) -> UpdateService<'_> {
        let running = RunningImage::read(&self.paths.build_info, &self.paths.cmdline).unwrap();
        UpdateService::open(&self.paths, Some(self.update.clone()), running).unwrap()
    }

    fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.paths.esp.join("EFI/Linux"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// systemd-boot: one try of `entry` spent (`+3` becomes `+2-1`, and so on).
    fn spend_try(&self, from: &str, to: &str) {
        let dir = self.paths.esp.join("EFI/Linux");
        std::fs::rename(dir.join(from), dir.join(to)).unwrap();
    }

    fn healthy(&self) {
        std::fs::create_dir_all(&self.paths.health_dir).unwrap();
        for marker in
            [qp_update_core::SERVICES_UP_MARKER, qp_update_core::BRIDGE_PEER_MARKER, qp_update_core::ATTESTED_MARKER]
        {
            std::fs::write(self.paths.health_dir.join(marker), b"1\n").unwrap();
        }
    }

    fn reboot_requested(&self) -> bool {
        self.paths.reboot_request.exists()
    }

    fn partition(&self, label: &str) -> Vec<u8> {
        std::fs::read(self.paths.partitions.as_ref().unwrap().join(label)).unwrap()
    }
}

#[test]
fn the_update_service_updates_a_to_b_commits_when_healthy_and_updates_back_to_a() {
    let fleet = Fleet::new();
    let node = Node::flashed(&fleet);
    // First boot: nothing newer in the repository (release 1 only is not even published).
    let mut service = node.service();
    service.round().unwrap();
    assert_eq!(service.state().installed.version, 1);
    assert!(!node.reboot_requested());

    // Release 2 appears: written into slot B with three tries, and a reboot asked for.
    fleet.publish(2);
    std::thread::sleep(std::time::Duration::from_millis(1100)); // the next poll
    service.round().unwrap();
    let trying = format!("qp-b-{}+3.efi", image_id(2));
    assert_eq!(node.entries(), [format!("qp-a-{}.efi", image_id(1)), trying.clone()]);
    assert!(node.reboot_requested());
    assert_eq!(&node.partition("qp-root-b")[..MIB], vec![2u8; MIB].as_slice());
    assert!(node.partition("qp-root-a").iter().all(|&b| b == 0), "the running slot is untouched");

    // The boot into slot B: it waits until every health check passes, then commits.
    node.spend_try(&trying, &format!("qp-b-{}+2-1.efi", image_id(2)));
    node.boot(Slot::B, 2);
    let mut service = node.service();
    service.round().unwrap();
    assert_eq!(service.state().pending.as_ref().map(|p| p.version), Some(2), "not healthy yet");
    node.healthy();
    service.round().unwrap();
    assert_eq!(service.state().installed.version, 2);
    assert_eq!(service.state().installed.slot, Slot::B);
    assert!(service.state().pending.is_none());
    assert_eq!(node.entries(), [format!("qp-a-{}.efi", image_id(1)), format!("qp-b-{}.efi", image_id(2))]);

    // Release 3 goes back into slot A, whose old entry is removed before its partitions change.
    fleet.publish(3);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    service.round().unwrap();
    assert_eq!(node.entries(), [format!("qp-a-{}+3.efi", image_id(3)), format!("qp-b-{}.efi", image_id(2))]);
    node.spend_try(&format!("qp-a-{}+3.efi", image_id(3)), &format!("qp-a-{}+2-1.efi", image_id(3)));
    node.boot(Slot::A, 3);
    node.healthy();
    let mut service = node.service();
    service.round().unwrap();
    assert_eq!(service.state().installed.version, 3);
    assert_eq!(node.entries(), [format!("qp-a-{}.efi", image_id(3)), format!("qp-b-{}.efi", image_id(2))]);
    // The state survives the service (a new boot reads it back).
    let saved = std::fs::read(node.paths.state_dir.join("state.json")).unwrap();
    let saved = qp_update_core::UpdateState::from_json(&saved).unwrap();
    assert_eq!(saved.installed.version, 3);
}

#[test]
fn a_release_that_never_proves_healthy_rolls_back_and_is_never_taken_again() {
    let fleet = Fleet::new();
    let node = Node::flashed(&fleet);
    fleet.publish(2);
    node.service().round().unwrap();
    let id = image_id(2);

    // Slot B boots but never becomes healthy: with a zero timeout the service reboots at once.
    let mut impatient = node.update.clone();
    impatient.health_timeout_s = 0;
    let tries = [("+3", "+2-1"), ("+2-1", "+1-2"), ("+1-2", "+0-3")];
    for (from, to) in tries {
        node.spend_try(&format!("qp-b-{id}{from}.efi"), &format!("qp-b-{id}{to}.efi"));
        if to == "+0-3" {
            break; // the last try spent: systemd-boot boots slot A again
        }
        node.boot(Slot::B, 2);
        let running = RunningImage::read(&node.paths.build_info, &node.paths.cmdline).unwrap();
        let mut service = UpdateService::open(&node.paths, Some(impatient.clone()), running).unwrap();
        service.round().unwrap();
        assert!(node.reboot_requested(), "an unhealthy slot spends its try");
        assert_eq!(service.state().installed.version, 1);
    }

    // Back on slot A: the failure is recorded, the bad entry deleted, the release not retried.
    node.boot(Slot::A, 1);
    let mut service = node.service();
    service.round().unwrap();
    assert!(service.state().failed.contains(&2));
    assert!(service.state().pending.is_none());
    assert_eq!(node.entries(), [format!("qp-a-{}.efi", image_id(1))]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    service.round().unwrap();
    assert_eq!(node.entries(), [format!("qp-a-{}.efi", image_id(1))], "release 2 is not written again");
    assert!(!node.reboot_requested());

    // A newer release is taken.
    fleet.publish(3);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    service.round().unwrap();
    assert!(node.entries().contains(&format!("qp-b-{}+3.efi", image_id(3))));
}

#[test]
fn a_write_cut_before_its_boot_entry_is_dropped_and_fetched_again() {
    let fleet = Fleet::new();
    let node = Node::flashed(&fleet);
    fleet.publish(2);
    node.service().round().unwrap();
    // The cut: the partitions were being written and the entry had not been renamed in.
    let entry = format!("qp-b-{}+3.efi", image_id(2));
    std::fs::remove_file(node.paths.esp.join("EFI/Linux").join(&entry)).unwrap();
    node.boot(Slot::A, 1);
    let mut service = node.service();
    service.round().unwrap();
    assert!(service.state().pending.is_none());
    assert!(service.state().failed.is_empty(), "a cut write is no failure of the release");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    service.round().unwrap();
    assert!(node.entries().contains(&entry), "written again");
    assert!(node.reboot_requested());
}

#[test]
fn a_bad_state_file_or_build_record_is_one_clear_error() {
    let fleet = Fleet::new();
    let node = Node::flashed(&fleet);
    std::fs::create_dir_all(&node.paths.state_dir).unwrap();
    std::fs::write(node.paths.state_dir.join("state.json"), b"{\"installed\": 7}").unwrap();
    let running = RunningImage::read(&node.paths.build_info, &node.paths.cmdline).unwrap();
    let err = UpdateService::open(&node.paths, None, running).unwrap_err();
    assert!(format!("{err:#}").contains("state.json"), "{err:#}");
    std::fs::write(&node.paths.build_info, b"{\"variant\": \"local\", \"image_version\": \"0.1.0\"}").unwrap();
    let err = RunningImage::read(&node.paths.build_info, &node.paths.cmdline).unwrap_err();
    assert!(format!("{err:#}").contains("no release number"), "{err:#}");
}
