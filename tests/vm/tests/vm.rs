#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! The sealed images, booted. One test binary: the local and cloud images are built once (with
//! `qpctl image build`, as an operator builds them) and every test boots copies of them under
//! QEMU with OVMF. Networking stays on the host's loopback: each VM's ports are forwarded from
//! 127.0.0.1, and the cloud VM reaches the local VM's bridge port through the host (10.0.2.2).
//! VMs run one test at a time (two cores). Serial logs of a failed test are kept under
//! `target/qp-vm-tests/` and named in the failure.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use qp_qemu::{Accel, Forward, Vm, VmSpec};

/// The built images and the fleet they belong to.
struct Fleet {
    root: PathBuf,
    local: PathBuf,
    cloud: PathBuf,
    /// The test's stand-in for the TPM manufacturer: it signed each VM's EK certificate.
    manufacturer: qp_tpm::swtpm::LocalCa,
    /// The host port forwarded to the local VM's bridge port (the cloud image dials it).
    bridge_port: u16,
    accel: Accel,
}

const GUEST_BRIDGE_PORT: u16 = 7000;
const GUEST_MANAGEMENT_PORT: u16 = 7100;
const GUEST_ATTEST_PORT: u16 = 7200;
/// Software emulation: firmware, kernel and modules take seconds; two VMs share two cores.
const BOOT_TIMEOUT: Duration = Duration::from_secs(120);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn binary(name: &str) -> PathBuf {
    let path = workspace().join("target/debug").join(name);
    assert!(
        path.exists(),
        "{} not built: run `cargo build --workspace --bins` (cargo xtask test does)",
        path.display()
    );
    path
}

fn qpctl(args: &[&str]) -> String {
    let output = Command::new(binary("qpctl")).args(args).current_dir(workspace()).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "qpctl {args:?}: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

/// `qpctl args` that must fail; answers what it said.
fn qpctl_fails(args: &[&str]) -> String {
    let output = Command::new(binary("qpctl")).args(args).current_dir(workspace()).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(!output.status.success(), "qpctl {args:?} succeeded: {said}");
    said
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A node's data partition seed: its configuration and identity (the management certificate and
/// key, the fleet CA). Its bridge key is made in its TPM at first boot, and its bridge certificate
/// arrives after it passes attestation (`qpctl attest`).
fn seed(root: &Path, name: &str, role: &str, origin: u32, bridge: &str) -> PathBuf {
    seed_in(&root.join(format!("seed-{name}")), root, name, role, origin, bridge)
}

/// [`seed`] into the folder `seed`, from the fleet's files under `root`.
fn seed_in(seed: &Path, root: &Path, name: &str, role: &str, origin: u32, bridge: &str) -> PathBuf {
    let seed = seed.to_owned();
    let identity = seed.join("identity");
    std::fs::create_dir_all(&identity).unwrap();
    let nodes = root.join("nodes");
    std::fs::copy(nodes.join(format!("{name}.pem")), identity.join("node.pem")).unwrap();
    std::fs::copy(nodes.join(format!("{name}.key")), identity.join("node.key")).unwrap();
    std::fs::copy(root.join("ca/ca.pem"), identity.join("ca.pem")).unwrap();
    if role == "local" {
        std::fs::copy(root.join("release/release.key.pub"), identity.join("release.pub")).unwrap();
    }
    write(
        &seed.join("node.toml"),
        &format!(
            "[node]\nname = \"{name}\"\nrole = \"{role}\"\norigin_node = {origin}\n\
             [identity]\ncert = \"/data/identity/bridge.pem\"\nsigner = \"socket:/run/qp/signer.sock\"\n\
             ca = \"/data/identity/ca.pem\"\nwait_for_cert = true\n\
             [bridge]\ntransport = \"auto\"\nwindow_frames = 1024\nheartbeat_ms = 500\ndead_after_ms = 5000\n{bridge}"
        ),
    );
    seed
}

/// Builds the fleet's two images once for the whole test binary.
fn fleet() -> &'static Fleet {
    static FLEET: OnceLock<Fleet> = OnceLock::new();
    FLEET.get_or_init(|| {
        let root = workspace().join("target/qp-vm-tests");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let d = |p: &str| root.join(p).display().to_string();
        qpctl(&["ca", "init", "--fleet", "acme", "--dir", &d("ca")]);
        for (node, role) in [("vault-1", "local"), ("swarm-1", "cloud"), ("ops", "operator")] {
            qpctl(&["ca", "issue", "--node", node, "--role", role, "--ca", &d("ca"), "--out", &d("nodes")]);
        }
        // The fleet's release key, made before the images: the local node's data partition
        // carries its public half, and the node installs only its approvals.
        qpctl(&["release", "keygen", "--out", &d("release/release.key")]);
        let bridge_port = qp_qemu::free_port().unwrap();
        let local_seed = seed(
            &root,
            "vault-1",
            "local",
            1,
            &format!(
                "listen = \"0.0.0.0:{GUEST_BRIDGE_PORT}\"\nrequire_attested_peers = true\n\
                 max_peer_cert_lifetime_s = 3600\n\
                 [vault]\nsocket = \"/run/qp/vault.sock\"\nsecrets = [\"venue-password\"]\n"
            ),
        );
        let cloud_seed = seed(
            &root,
            "swarm-1",
            "cloud",
            2,
            &format!(
                "dial = [\"10.0.2.2:{bridge_port}\"]\n[cloud]\ndata = \"/data/headlines\"\nheadlines_per_s = 20\n"
            ),
        );
        // A few hundred recorded headlines for the cloud node's SentimentX (test input, on the
        // data partition; never in git).
        let headlines = std::fs::read_to_string(workspace().join("../shared/data/tfns/train.csv")).unwrap();
        let head: String = headlines.lines().take(300).map(|l| format!("{l}\n")).collect();
        write(&cloud_seed.join("headlines/tfns/train.csv"), &head);
        let kernel_args = kernel_dir_args();
        let build = |variant: &str, seed: &Path| {
            let out = d(&format!("image-{variant}"));
            let mut args = vec!["image", "build", "--variant", variant, "--out", &out];
            let seed = seed.display().to_string();
            args.extend(["--data-seed", &seed]);
            args.extend(kernel_args.iter().map(String::as_str));
            let summary = qpctl(&args);
            eprintln!("{summary}");
            PathBuf::from(out)
        };
        let local = build("local", &local_seed);
        let cloud = build("cloud", &cloud_seed);
        let kernel = std::fs::read_dir(kernel_dir().join("boot"))
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-")))
            .unwrap();
        let accel = qp_qemu::detect_accel(&kernel, &workspace().join("target"), Duration::from_secs(20));
        eprintln!("VMs run under {}", accel.name());
        let manufacturer = qp_tpm::swtpm::LocalCa::create(&root.join("manufacturer")).unwrap();
        Fleet { root, local, cloud, manufacturer, bridge_port, accel }
    })
}

fn kernel_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("QP_GUEST_KERNEL_DIR") {
        return PathBuf::from(dir);
    }
    let cache = workspace().join(".cache/kernel");
    std::fs::read_dir(&cache)
        .ok()
        .and_then(|dirs| dirs.filter_map(Result::ok).map(|e| e.path()).find(|p| p.join("boot").is_dir()))
        .unwrap_or_else(|| panic!("no guest kernel: set QP_GUEST_KERNEL_DIR or run `cargo xtask setup`"))
}

fn kernel_dir_args() -> Vec<String> {
    vec!["--kernel-dir".to_owned(), kernel_dir().display().to_string()]
}

/// One VM test at a time.
fn vm_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A booted VM with its own TPM (swtpm, its EK certified by the test's manufacturer CA).
struct TpmVm {
    vm: Vm,
    _tpm: qp_tpm::swtpm::SwtpmForQemu,
}

fn boot(fleet: &Fleet, image: &Path, name: &str, forwards: Vec<Forward>) -> TpmVm {
    let work_dir = fleet.root.join(format!("vm-{name}"));
    let disk = qp_qemu::private_copy(&image.join("disk.img"), &work_dir).unwrap();
    let state = work_dir.join("tpm");
    qp_tpm::swtpm::prepare_state(&state, &fleet.manufacturer).unwrap();
    let tpm = qp_tpm::swtpm::SwtpmForQemu::start(&state, &work_dir.join("tpm.sock")).unwrap();
    let vm = Vm::start(&VmSpec {
        name: name.to_owned(),
        disk,
        work_dir,
        memory_mib: 512,
        forwards,
        accel: fleet.accel,
        tpm_socket: Some(tpm.socket().to_owned()),
    })
    .unwrap();
    TpmVm { vm, _tpm: tpm }
}

/// Boots `disk` as it is (no private copy), with no TPM and no forwarded ports.
fn boot_without_tpm(fleet: &Fleet, name: &str, disk: PathBuf, work_dir: PathBuf) -> Vm {
    Vm::start(&VmSpec {
        name: name.to_owned(),
        disk,
        work_dir,
        memory_mib: 512,
        forwards: vec![],
        accel: fleet.accel,
        tpm_socket: None,
    })
    .unwrap()
}

/// `qpctl enroll`, then `qpctl attest --json` (which installs the short-lived bridge certificate on
/// a pass); answers the verdict.
fn enroll_and_attest(fleet: &Fleet, port: u16, name: &str, role: &str, golden: &Path) -> serde_json::Value {
    let d = |p: &str| fleet.root.join(p).display().to_string();
    let node = format!("127.0.0.1:{port}");
    let mut manufacturer = Vec::new();
    for (index, der) in fleet.manufacturer.issuer_certs_der().unwrap().iter().enumerate() {
        let path = fleet.root.join(format!("manufacturer-{index}.der"));
        std::fs::write(&path, der).unwrap();
        manufacturer.extend(["--manufacturer-ca".to_owned(), path.display().to_string()]);
    }
    let mut args = vec!["enroll", "--node", &node, "--name", name, "--role", role];
    args.extend(manufacturer.iter().map(String::as_str));
    let enrolled = d("enrolled");
    args.extend(["--out", &enrolled]);
    eprintln!("{}", qpctl(&args));
    attest(fleet, port, name, golden)
}

fn attest(fleet: &Fleet, port: u16, name: &str, golden: &Path) -> serde_json::Value {
    try_attest(fleet, port, name, golden).unwrap_or_else(|said| panic!("qpctl attest: {said}"))
}

/// `qpctl attest --json`: its verdict, or what it said instead of one.
fn try_attest(fleet: &Fleet, port: u16, name: &str, golden: &Path) -> Result<serde_json::Value, String> {
    let d = |p: &str| fleet.root.join(p).display().to_string();
    let node = format!("127.0.0.1:{port}");
    let output = Command::new(binary("qpctl"))
        .args(["attest", "--node", &node, "--enrolled", &d(&format!("enrolled/{name}.json"))])
        .args(["--golden", &golden.display().to_string(), "--ca", &d("ca"), "--lifetime-s", "1800", "--json"])
        .current_dir(workspace())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    serde_json::from_str(&stdout).map_err(|_| format!("{stdout}\n{}", String::from_utf8_lossy(&output.stderr)))
}

fn operator_status(fleet: &Fleet, port: u16) -> serde_json::Value {
    let d = |p: &str| fleet.root.join(p).display().to_string();
    let node = format!("127.0.0.1:{port}");
    let json = qpctl(&[
        "status",
        "--node",
        &node,
        "--ca",
        &d("ca/ca.pem"),
        "--cert",
        &d("nodes/ops.pem"),
        "--key",
        &d("nodes/ops.key"),
        "--json",
    ]);
    serde_json::from_str(&json).unwrap()
}

#[test]
fn a_signal_scored_in_the_cloud_vm_arrives_at_the_local_vm_over_the_bridge() {
    let fleet = fleet();
    let _one_at_a_time = vm_lock();
    let management = qp_qemu::free_port().unwrap();
    let (local_attest, cloud_attest) = (qp_qemu::free_port().unwrap(), qp_qemu::free_port().unwrap());
    let mut local_vm = boot(
        fleet,
        &fleet.local,
        "local",
        vec![
            Forward { host: fleet.bridge_port, guest: GUEST_BRIDGE_PORT },
            Forward { host: management, guest: GUEST_MANAGEMENT_PORT },
            Forward { host: local_attest, guest: GUEST_ATTEST_PORT },
        ],
    );
    let mut cloud_vm =
        boot(fleet, &fleet.cloud, "cloud", vec![Forward { host: cloud_attest, guest: GUEST_ATTEST_PORT }]);
    let (local, cloud) = (&mut local_vm.vm, &mut cloud_vm.vm);
    let (local_ready, line) = local.wait_for_line("READY", BOOT_TIMEOUT).unwrap();
    eprintln!("local VM: {line} ({local_ready:?} after QEMU started)");
    let (cloud_ready, line) = cloud.wait_for_line("READY", BOOT_TIMEOUT).unwrap();
    eprintln!("cloud VM: {line} ({cloud_ready:?} after QEMU started)");

    // Measured boot: PID 1 extended PCR 15 before it started anything; the TPM service is up.
    local.wait_for_line("boot measured into the TPM", BOOT_TIMEOUT).unwrap();
    cloud.wait_for_line("qp-attestd: image", BOOT_TIMEOUT).unwrap();
    local.wait_for_line("qp-attestd: image", BOOT_TIMEOUT).unwrap();
    // Until attested, neither bridge end has a certificate: nothing flows.
    assert!(!local.serial_log().contains("frames from"), "a bridge came up before attestation");

    // The cloud node claiming the local image's golden values fails; against its own it passes and
    // gets a 30-minute bridge certificate. The local node likewise.
    let cloud_golden = fleet.cloud.join("golden.json");
    let verdict = enroll_and_attest(fleet, cloud_attest, "swarm-1", "cloud", &cloud_golden);
    assert_eq!(verdict["verdict"], "pass", "{verdict}");
    eprintln!("cloud VM attested in {} ms: {verdict}", verdict["elapsed_ms"]);
    let wrong = attest(fleet, cloud_attest, "swarm-1", &fleet.local.join("golden.json"));
    assert_eq!(wrong["verdict"], "fail", "{wrong}");
    assert!(wrong["reasons"].to_string().contains("image"), "{wrong}");
    let verdict = enroll_and_attest(fleet, local_attest, "vault-1", "local", &fleet.local.join("golden.json"));
    assert_eq!(verdict["verdict"], "pass", "{verdict}");

    // The vault: the local node's bridge service asks for its secret from the start; nothing is
    // sealed yet. The release key approves the local image's golden PCR 15; an approval of the
    // cloud image is refused by the node; the secret is sealed here for the local VM's enrolled
    // TPM (a secret wrapped for the cloud VM's TPM is refused by the local TPM), and the local
    // node's service unseals it.
    local.wait_for_line("vault secret not unsealed yet", BOOT_TIMEOUT).unwrap();
    let d = |p: &str| fleet.root.join(p).display().to_string();
    let local_node = format!("127.0.0.1:{local_attest}");
    for (golden, out) in [(&fleet.local, "release/approval-local.json"), (&fleet.cloud, "release/approval-cloud.json")]
    {
        let golden = golden.join("golden.json").display().to_string();
        qpctl(&["release", "approve", "--key", &d("release/release.key"), "--golden", &golden, "--out", &d(out)]);
    }
    let refused =
        qpctl_fails(&["vault", "approve", "--node", &local_node, "--approval", &d("release/approval-cloud.json")]);
    assert!(refused.contains("is for image cloud-"), "{refused}");
    write(&fleet.root.join("release/venue-password"), "FIX venue password 7Hq!");
    let seal = |enrolled: &str| {
        vec![
            "vault".to_owned(),
            "seal".to_owned(),
            "--node".to_owned(),
            local_node.clone(),
            "--enrolled".to_owned(),
            d(enrolled),
            "--release-pub".to_owned(),
            d("release/release.key.pub"),
            "--name".to_owned(),
            "venue-password".to_owned(),
            "--secret-file".to_owned(),
            d("release/venue-password"),
        ]
    };
    let wrong_tpm = seal("enrolled/swarm-1.json");
    let refused = qpctl_fails(&wrong_tpm.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(refused.contains("TPM2_Import"), "{refused}");
    let right_tpm = seal("enrolled/vault-1.json");
    eprintln!("{}", qpctl(&right_tpm.iter().map(String::as_str).collect::<Vec<_>>()));
    local.wait_for_line("no release approval for image local-", BOOT_TIMEOUT).unwrap();
    eprintln!(
        "{}",
        qpctl(&["vault", "approve", "--node", &local_node, "--approval", &d("release/approval-local.json")])
    );
    // The TPM service unsealed it for the bridge service, which holds its 23 bytes.
    local.wait_for_line("vault secret unsealed for a node process secret=venue-password", BOOT_TIMEOUT).unwrap();
    let (_, line) = local.wait_for_line("vault secret venue-password unsealed (23 bytes)", BOOT_TIMEOUT).unwrap();
    assert!(line.contains("service=bridge-local"), "{line}");

    // The local node's bridge service reports the cloud node's frames on the serial console.
    let (_, line) = local.wait_for_line("frames from 1 cloud node(s)", BOOT_TIMEOUT).unwrap();
    // "… service: spiffe://acme/local/vault-1: N frames from 1 cloud node(s) service=bridge-local"
    let frames: u64 =
        line.split(" frames from").next().and_then(|head| head.rsplit(' ').next()).unwrap().parse().unwrap();
    assert!(frames > 0 && line.contains("service=bridge-local"), "{line}");

    // The operator's view over the management API (mutual TLS, operator certificate).
    let status = operator_status(fleet, management);
    assert_eq!(status["variant"], "local", "{status}");
    let services = status["services"].as_array().unwrap();
    assert!(services.iter().any(|s| s["name"] == "bridge-local" && s["state"] == "running"), "{status}");
    let rss = status["metrics"]["supervisor_rss_kib"].as_u64().unwrap();
    eprintln!("supervisor resident memory: {rss} KiB (target 16384)");
    // The services' own output is in the node's log (captured by PID 1), watched by the watchdog.
    let logs = status["recent_logs"].as_array().unwrap();
    assert!(logs.iter().any(|l| l.as_str().is_some_and(|l| l.contains("service=bridge-local"))), "{status}");
    assert!(status["metrics"]["watchdog_pets"].as_u64().unwrap() > 0, "{status}");

    // Ctrl-alt-del: PID 1 stops its services, unmounts the data partition and reboots (QEMU's
    // -no-reboot turns that into an exit).
    local.send_ctrl_alt_del().unwrap();
    local.wait_for_line("rebooting", Duration::from_secs(60)).unwrap();
    assert!(local.wait_exit(Duration::from_secs(60)), "QEMU did not exit after the reboot");
    cloud.kill();
}

/// The root partition's byte offset in the disk and a file's extents in the erofs image.
fn offset_inside(image: &Path, file: &str) -> u64 {
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(image.join("build-info.json")).unwrap()).unwrap();
    let partitions = info["partitions"].as_array().unwrap();
    let root = partitions.iter().find(|p| p["name"] == "qp-root-a").unwrap();
    let root_offset = root["offset_bytes"].as_u64().unwrap();
    let dump = Command::new("dump.erofs")
        .args(["-e", &format!("--path={file}")])
        .arg(image.join("root.erofs"))
        .output()
        .unwrap();
    let dump = String::from_utf8_lossy(&dump.stdout);
    // Extent lines: "  N:  logical.. end | len :  physical..  end | len".
    let physical: Vec<u64> = dump
        .lines()
        .filter_map(|line| line.split('|').nth(1))
        .filter_map(|middle| middle.split(':').nth(1))
        .filter_map(|phys| phys.split("..").next())
        .filter_map(|start| start.trim().parse().ok())
        .collect();
    assert!(physical.len() > 4, "no extents for {file}: {dump}");
    root_offset + physical[physical.len() / 2] + 100
}

#[test]
fn a_flipped_byte_in_the_root_is_refused_and_unverified_code_never_runs() {
    let fleet = fleet();
    let _one_at_a_time = vm_lock();
    let work_dir = fleet.root.join("vm-tampered");
    let disk = qp_qemu::private_copy(&fleet.local.join("disk.img"), &work_dir).unwrap();
    let offset = offset_inside(&fleet.local, "/usr/bin/qp-node");
    let mut bytes = std::fs::read(&disk).unwrap();
    bytes[offset as usize] ^= 0x01;
    std::fs::write(&disk, &bytes).unwrap();
    drop(bytes);
    let mut vm = boot_without_tpm(fleet, "tampered", disk, work_dir);
    let (_, line) = vm.wait_for_line("READY", BOOT_TIMEOUT).unwrap();
    // Both services that run /usr/bin/qp-node (the bridge and the update service) are refused.
    assert!(line.contains("refused=2"), "{line}");
    let log = vm.serial_log();
    assert!(log.contains("service refused: its program is not verified"), "{log}");
    assert!(log.contains("corrupted"), "dm-verity names the block: {log}");
    // The service never ran: it would have said it listens.
    assert!(!log.contains("listening on"), "{log}");
}

#[test]
fn a_disk_image_flashed_onto_a_raw_file_boots() {
    let fleet = fleet();
    let _one_at_a_time = vm_lock();
    let work_dir = fleet.root.join("vm-flashed");
    std::fs::create_dir_all(&work_dir).unwrap();
    // The server's disk: a raw file with an older layout on it, which `qpctl flash` names first.
    let target = work_dir.join("server-disk.raw");
    std::fs::copy(fleet.cloud.join("disk.img"), &target).unwrap();
    let image = fleet.local.join("disk.img");
    let said =
        qpctl(&["flash", "--image", &image.display().to_string(), "--target", &target.display().to_string(), "--yes"]);
    assert!(said.contains("on it now: a GPT") && said.contains("read back and verified"), "{said}");
    assert_eq!(std::fs::read(&target).unwrap(), std::fs::read(&image).unwrap());
    let mut vm = boot_without_tpm(fleet, "flashed", target, work_dir);
    let (_, line) = vm.wait_for_line("READY", BOOT_TIMEOUT).unwrap();
    assert!(line.contains("refused=0"), "{line}");
    vm.kill();
}

mod update;
