//! A/B updates on a flashed disk, booted under QEMU: the local image (release 1) is flashed onto
//! a raw file with `qpctl flash`, updated to release 2 in slot B and to release 3 back in slot A
//! from a signed repository served over HTTP on the host's loopback (the guest reaches it at
//! 10.0.2.2), each new slot committed only after its services run, a bridge peer (a cloud node
//! on the host) connects and `qpctl attest` passes. Then the fault injection: the VM is killed
//! at random points while further releases are written and committed, and every boot after a
//! cut must come up on a slot verified by dm-verity. QEMU runs with `-no-reboot`, so each reboot
//! the node asks for ends QEMU and the test starts the next boot (same disk, same TPM state).
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::*;

/// Cut points in CI; `QP_UPDATE_CUTS` asks for more (the long soak: `update_soak`).
const CI_CUTS: usize = 20;
/// How long after the write starts a cut may fall: the write (≈ 24 MB, ≈ 1.3 s under
/// emulation), the reboot, and the next boot up to its commit (≈ 15–20 s).
const CUT_WINDOW: Duration = Duration::from_secs(24);
/// The write itself is short: this share of the cuts falls within its first seconds.
const WRITE_WINDOW: Duration = Duration::from_secs(2);
const WRITE_SHARE: f64 = 0.4;

/// The update repository, the releases built for it, and the host-side parts of the test.
struct UpdateFleet {
    dir: PathBuf,
    keys: String,
    repo: String,
    update_root: String,
    seed: PathBuf,
    built: Vec<PathBuf>,
}

impl UpdateFleet {
    fn new(fleet: &Fleet, name: &str, repository_port: u16) -> Self {
        let dir = fleet.root.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        let d = |p: &str| dir.join(p).display().to_string();
        let (keys, repo) = (d("update-keys"), d("repo"));
        let small = ["--root-keys", "1", "--root-threshold", "1", "--targets-keys", "1", "--targets-threshold", "1"];
        let mut keygen = vec!["update", "keygen", "--keys", &keys];
        keygen.extend(small);
        qpctl(&keygen);
        let mut init = vec!["update", "init", "--repo", &repo, "--keys", &keys];
        init.extend(small);
        qpctl(&init);
        let update_root = format!("{repo}/metadata/1.root.json");
        // The node's seed: no attested peer required (the host's cloud node has a plain
        // certificate), the repository on the host.
        let seed = seed_in(
            &dir.join("seed"),
            &fleet.root,
            "vault-1",
            "local",
            1,
            &format!(
                "listen = \"0.0.0.0:{GUEST_BRIDGE_PORT}\"\n\
                 [update]\nrepository = \"http://10.0.2.2:{repository_port}/\"\npoll_s = 2\nhealth_timeout_s = 120\n"
            ),
        );
        Self { dir, keys, repo, update_root, seed, built: Vec::new() }
    }

    /// The image build of release `n` (built once).
    fn release(&mut self, n: usize) -> PathBuf {
        while self.built.len() < n {
            let release = self.built.len() + 1;
            let out = self.dir.join(format!("release-{release}"));
            let (out_s, seed) = (out.display().to_string(), self.seed.display().to_string());
            let (release_s, version) = (release.to_string(), format!("0.{release}.0"));
            let mut args = vec!["image", "build", "--variant", "local", "--out", &out_s, "--data-seed", &seed];
            args.extend(["--update-root", &self.update_root, "--release", &release_s, "--version", &version]);
            let kernel = kernel_dir_args();
            args.extend(kernel.iter().map(String::as_str));
            let started = Instant::now();
            qpctl(&args);
            eprintln!("release {release} built in {:.1} s", started.elapsed().as_secs_f64());
            self.built.push(out);
        }
        self.built[n - 1].clone()
    }

    fn publish(&mut self, n: usize) {
        let image = self.release(n).display().to_string();
        eprintln!("{}", qpctl(&["update", "publish", "--repo", &self.repo, "--keys", &self.keys, "--image", &image]));
    }

    /// The golden values of the image a boot runs, by its image id.
    fn golden_of(&self, image_id: &str) -> PathBuf {
        self.built
            .iter()
            .map(|build| build.join("golden.json"))
            .find(|golden| std::fs::read_to_string(golden).unwrap().contains(&format!("\"image_id\": \"{image_id}\"")))
            .unwrap_or_else(|| panic!("no release built has image id {image_id}"))
    }
}

/// A child process killed when the test ends.
struct Background(Child);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The repository folder over HTTP on the host's loopback (Python's standard server).
fn serve_repository(repo: &str, port: u16, log: &Path) -> Background {
    let log = std::fs::File::create(log).unwrap();
    let child = Command::new("python3")
        .args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1", "--directory", repo])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    Background(child)
}

/// A cloud node on the host that dials the VM's forwarded bridge port: the local node's bridge peer.
fn cloud_node_on_host(fleet: &Fleet, dir: &Path, bridge_port: u16) -> Background {
    let config = dir.join("cloud-node.toml");
    let nodes = fleet.root.join("nodes");
    let data = workspace().join("../shared/data");
    write(
        &config,
        &format!(
            "[node]\nname = \"swarm-1\"\nrole = \"cloud\"\norigin_node = 2\n\
             [identity]\ncert = \"{}\"\nkey = \"{}\"\nca = \"{}\"\n\
             [bridge]\ntransport = \"epoll\"\ndial = [\"127.0.0.1:{bridge_port}\"]\nwindow_frames = 1024\n\
             heartbeat_ms = 500\ndead_after_ms = 5000\n\
             [cloud]\ndata = \"{}\"\nheadlines_per_s = 5\n",
            nodes.join("swarm-1.pem").display(),
            nodes.join("swarm-1.key").display(),
            fleet.root.join("ca/ca.pem").display(),
            data.display()
        ),
    );
    let log = std::fs::File::create(dir.join("cloud-node.log")).unwrap();
    let child = Command::new(binary("qp-node"))
        .args(["run", "--role", "cloud", "--config", &config.display().to_string()])
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    Background(child)
}

/// One boot of the flashed disk, with its own TPM process on the node's TPM state.
struct Boot {
    vm: Vm,
    _tpm: qp_tpm::swtpm::SwtpmForQemu,
    log_dir: PathBuf,
}

struct Node {
    disk: PathBuf,
    tpm_state: PathBuf,
    dir: PathBuf,
    forwards: Vec<Forward>,
    attest_port: u16,
    boots: usize,
}

impl Node {
    /// The next boot, once the last one (its QEMU and its TPM process) is gone: two TPM
    /// processes on one state would not do.
    fn reboot(&mut self, fleet: &Fleet, last: Boot) -> Boot {
        let mut last = last;
        last.vm.kill();
        drop(last);
        self.boot(fleet)
    }

    fn boot(&mut self, fleet: &Fleet) -> Boot {
        self.boots += 1;
        let log_dir = self.dir.join(format!("boot-{:03}", self.boots));
        std::fs::create_dir_all(&log_dir).unwrap();
        let tpm = qp_tpm::swtpm::SwtpmForQemu::start(&self.tpm_state, &log_dir.join("tpm.sock")).unwrap();
        let vm = Vm::start(&VmSpec {
            name: format!("update-{}", self.boots),
            disk: self.disk.clone(),
            work_dir: log_dir.clone(),
            memory_mib: 512,
            forwards: self.forwards.clone(),
            accel: fleet.accel,
            tpm_socket: Some(tpm.socket().to_owned()),
        })
        .unwrap();
        Boot { vm, _tpm: tpm, log_dir }
    }
}

impl Boot {
    /// Waits for READY; asserts the slot came up verified. Answers (slot letter, image id).
    fn ready(&mut self) -> (char, String) {
        let (_, line) = self.vm.wait_for_line("READY", BOOT_TIMEOUT).unwrap_or_else(|err| panic!("{err}"));
        let slot = line.split("slot=").nth(1).and_then(|rest| rest.chars().next()).unwrap();
        assert!(slot == 'a' || slot == 'b', "{line}");
        let log = self.vm.serial_log();
        assert!(log.contains("root verified by dm-verity"), "{}: {log}", self.log_dir.display());
        assert!(!log.contains("BOOT FAILED"), "{}: {log}", self.log_dir.display());
        let (_, line) = self.vm.wait_for_line("qp-attestd: image", BOOT_TIMEOUT).unwrap();
        let image_id = line.split("qp-attestd: image ").nth(1).unwrap().split([' ', ',']).next().unwrap().to_owned();
        (slot, image_id)
    }
}

fn flash(image: &Path, dir: &Path) -> PathBuf {
    let target = dir.join("server-disk.raw");
    // A server's disk is larger than the image.
    let file = std::fs::File::create(&target).unwrap();
    file.set_len(std::fs::metadata(image.join("disk.img")).unwrap().len() + (16 << 20)).unwrap();
    drop(file);
    let said = qpctl(&[
        "flash",
        "--image",
        &image.join("disk.img").display().to_string(),
        "--target",
        &target.display().to_string(),
        "--yes",
    ]);
    assert!(said.contains("read back and verified"), "{said}");
    target
}

/// A new slot's boot: attested against the golden values of `image_id`, then committed. Answers
/// when the commit was seen (host clock).
fn attest_and_commit(fleet: &Fleet, node: &Node, boot: &mut Boot, updates: &UpdateFleet, image_id: &str) -> Instant {
    let verdict = attest(fleet, node.attest_port, "vault-1", &updates.golden_of(image_id));
    assert_eq!(verdict["verdict"], "pass", "{verdict}");
    boot.vm.wait_for_line("update: committed release", Duration::from_secs(120)).unwrap_or_else(|err| panic!("{err}"));
    Instant::now()
}

#[test]
fn a_flashed_node_updates_from_a_to_b_and_back_and_survives_cuts_at_random_points() {
    let cuts = std::env::var("QP_UPDATE_CUTS").ok().and_then(|v| v.parse().ok()).unwrap_or(CI_CUTS);
    update_life(cuts);
}

/// The long soak: `QP_UPDATE_CUTS=200 cargo test -p qp-vm-tests -- --ignored update_soak`.
#[test]
#[ignore = "long: hundreds of boots under emulation (QP_UPDATE_CUTS, default 100)"]
fn update_soak() {
    let cuts = std::env::var("QP_UPDATE_CUTS").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    update_life(cuts);
}

fn update_life(cuts: usize) {
    let fleet = fleet();
    let _one_at_a_time = vm_lock();
    let (repository_port, bridge_port) = (qp_qemu::free_port().unwrap(), qp_qemu::free_port().unwrap());
    let (attest_port, management) = (qp_qemu::free_port().unwrap(), qp_qemu::free_port().unwrap());
    let mut updates = UpdateFleet::new(fleet, "update", repository_port);
    let first = updates.release(1);
    updates.release(2);
    updates.release(3);
    let dir = updates.dir.clone();
    let _server = serve_repository(&updates.repo, repository_port, &dir.join("http.log"));
    let disk = flash(&first, &dir);
    let tpm_state = dir.join("tpm");
    qp_tpm::swtpm::prepare_state(&tpm_state, &fleet.manufacturer).unwrap();
    let mut node = Node {
        disk,
        tpm_state,
        dir: dir.clone(),
        forwards: vec![
            Forward { host: bridge_port, guest: GUEST_BRIDGE_PORT },
            Forward { host: management, guest: GUEST_MANAGEMENT_PORT },
            Forward { host: attest_port, guest: GUEST_ATTEST_PORT },
        ],
        attest_port,
        boots: 0,
    };
    let _cloud = cloud_node_on_host(fleet, &dir, bridge_port);

    // Release 1 as flashed, in slot A.
    let mut boot = node.boot(fleet);
    let (slot, image_id) = boot.ready();
    assert_eq!(slot, 'a');
    let verdict = enroll_and_attest(fleet, attest_port, "vault-1", "local", &updates.golden_of(&image_id));
    assert_eq!(verdict["verdict"], "pass", "{verdict}");
    boot.vm.wait_for_line("update: first boot: release 1", BOOT_TIMEOUT).unwrap();

    // A to B, then B to A, each timed from the start of the write to the commit.
    let mut times = Vec::new();
    for (release, into) in [(2usize, 'b'), (3, 'a')] {
        updates.publish(release);
        boot.vm.wait_for_line(&format!("update: writing release {release} into slot {into}"), BOOT_TIMEOUT).unwrap();
        let started = Instant::now();
        let (_, written) = boot.vm.wait_for_line("rebooting into it", Duration::from_secs(120)).unwrap();
        eprintln!("{written}");
        assert!(boot.vm.wait_exit(Duration::from_secs(60)), "the node did not reboot after writing");
        boot = node.reboot(fleet, boot);
        let (slot, image_id) = boot.ready();
        assert_eq!(slot, into, "the new slot boots first");
        let committed = attest_and_commit(fleet, &node, &mut boot, &updates, &image_id);
        times.push(committed.duration_since(started).as_secs_f64());
        let log = boot.vm.serial_log();
        assert!(log.contains(&format!("update: committed release {release}")), "{log}");
    }
    eprintln!(
        "update start to committed slot under {}: A to B {:.1} s, B to A {:.1} s (QP-UPDATE-TIMES {times:?})",
        fleet.accel.name(),
        times[0],
        times[1]
    );

    // The cuts. Each cycle: boot (which must come up verified), attest what runs, make sure a
    // newer release is on offer, then kill the VM at a random point within CUT_WINDOW of the
    // write's start: during the write, during the reboot, or during the next boot before or
    // after its commit.
    let mut rng = qp_seeded_random::SplitMix64::new(0x5eed_0011);
    let mut published = 3;
    let mut phases = std::collections::BTreeMap::<&str, usize>::new();
    // Every earlier boot's console, for what the service settled before a cut.
    let mut earlier = String::new();
    for cut in 0..cuts {
        boot = node.reboot(fleet, boot);
        let attesting = attest_in_background(fleet, &node, &boot, &updates);
        // Until a write starts: publish the next release once the newest is committed or failed.
        let deadline = Instant::now() + Duration::from_secs(120);
        let write_started = loop {
            let now = boot.vm.serial_log();
            if now.contains("update: writing release") {
                break Instant::now();
            }
            let log = format!("{earlier}{now}");
            let newest_settled = log.contains(&format!("update: committed release {published} "))
                || log.contains(&format!("update: release {published} failed"))
                || log.contains(&format!("update: release {published} failed on this node before"));
            let first_release_running = published == 3 && cut == 0 && now.contains("READY");
            if newest_settled || first_release_running {
                published += 1;
                updates.publish(published);
            }
            assert!(Instant::now() < deadline, "no write started: {}", boot.log_dir.display());
            std::thread::sleep(Duration::from_millis(200));
        };
        let (_, _) = boot.ready();
        let window = if rng.uniform() < WRITE_SHARE { WRITE_WINDOW } else { CUT_WINDOW };
        let at = window.mul_f64(rng.uniform());
        let mut rebooted = false;
        // Follow the node through its reboot when the cut falls after it.
        while boot.vm.wait_exit(at.saturating_sub(write_started.elapsed())) {
            assert!(!rebooted, "a second reboot within the cut window: {}", boot.log_dir.display());
            assert!(boot.vm.serial_log().contains("rebooting into it"), "{}", boot.log_dir.display());
            rebooted = true;
            earlier.push_str(&boot.vm.serial_log());
            boot = node.reboot(fleet, boot);
            let _attesting = attest_in_background(fleet, &node, &boot, &updates);
        }
        boot.vm.kill();
        earlier.push_str(&boot.vm.serial_log());
        drop(attesting); // not joined: a thread still waiting on a killed boot gives up by itself
        let log = boot.vm.serial_log();
        let phase = match (rebooted, log.contains("READY")) {
            (false, _) if log.contains("rebooting into it") => "after the write, before the reboot",
            (false, _) => "during the write",
            (true, false) => "in the new slot's firmware, kernel or init",
            (true, true) if log.contains("update: committed release") => "after the commit",
            (true, true) => "in the new slot, before its commit",
        };
        *phases.entry(phase).or_default() += 1;
        eprintln!("cut {}: {:.1} s after the write started, {phase}", cut + 1, at.as_secs_f64());
    }
    // After the last cut: the node boots a verified slot, and its update service settles.
    let mut boot = node.reboot(fleet, boot);
    let (slot, image_id) = boot.ready();
    eprintln!("after {cuts} cuts: slot {slot} runs {image_id}; cuts by phase: {phases:?}");
    boot.vm.kill();
}

/// Attests whatever this boot runs as soon as its TPM service says which image it is (a thread,
/// so the cut's timer runs on): the new slot's attestation health check.
fn attest_in_background(
    fleet: &'static Fleet,
    node: &Node,
    boot: &Boot,
    updates: &UpdateFleet,
) -> std::thread::JoinHandle<()> {
    let serial = boot.vm.serial_path().to_owned();
    let goldens: Vec<PathBuf> = updates.built.iter().map(|b| b.join("golden.json")).collect();
    let port = node.attest_port;
    std::thread::spawn(move || {
        let deadline = Instant::now() + BOOT_TIMEOUT;
        while Instant::now() < deadline {
            let log = std::fs::read_to_string(&serial).unwrap_or_default();
            if let Some(image_id) = log
                .lines()
                .find_map(|line| line.split("qp-attestd: image ").nth(1))
                .and_then(|rest| rest.split([' ', ',']).next())
            {
                let needle = format!("\"image_id\": \"{image_id}\"");
                let golden = goldens.iter().find(|g| std::fs::read_to_string(g).unwrap_or_default().contains(&needle));
                if let Some(golden) = golden {
                    // A cut may end the VM mid-attestation: the verdict is not asserted here.
                    let _ = try_attest(fleet, port, "vault-1", golden);
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    })
}
