//! Boots a sealed node image (`qpctl image build`'s `disk.img`) under QEMU with OVMF, the way
//! the image tests and `qpctl bench boot` need it:
//!
//! - UEFI firmware from Debian's `ovmf` package, a private copy of its variable store per VM;
//! - the disk as virtio-blk (a private copy, or the file itself for an update test);
//! - QEMU user networking with TCP forwards from 127.0.0.1 only, so nothing leaves the host's
//!   loopback (a guest reaches the host's loopback as 10.0.2.2);
//! - the serial console in a file ([`Vm::wait_for_line`] watches it), an HMP monitor on a Unix
//!   socket ([`Vm::send_ctrl_alt_del`]), the `i6300esb` watchdog;
//! - software emulation unless KVM is proved to work ([`detect_accel`]): these machines have a
//!   `/dev/kvm` that cannot run the Debian guest kernel.
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The firmware: code (read-only) and the variable store template.
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";
const QEMU: &str = "qemu-system-x86_64";

/// Why a VM could not be started or did not do what was awaited.
#[derive(Debug, thiserror::Error)]
pub enum QemuError {
    #[error("{what} not found at {path}: apt-get install {package}")]
    Missing { what: &'static str, path: String, package: &'static str },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("could not start {QEMU}: {0}")]
    Spawn(std::io::Error),
    #[error("VM {vm}: {QEMU} exited ({status}) before {awaited:?} appeared on its console; serial log {log}")]
    Exited { vm: String, status: String, awaited: String, log: String },
    #[error("VM {vm}: {awaited:?} did not appear on its console within {timeout:?}; serial log {log}")]
    Timeout { vm: String, awaited: String, timeout: Duration, log: String },
    #[error("VM {vm}: monitor: {source}")]
    Monitor { vm: String, source: std::io::Error },
}

/// How the guest's CPU runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// A TCP port of the guest reachable at 127.0.0.1:`host` on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    pub host: u16,
    pub guest: u16,
}

/// What to boot and how.
#[derive(Debug, Clone)]
pub struct VmSpec {
    /// Names the VM in errors and logs.
    pub name: String,
    /// The disk image; used as is (copy it first for a throw-away VM: [`private_copy`]).
    pub disk: PathBuf,
    /// The VM's own folder: serial log, monitor socket, firmware variables.
    pub work_dir: PathBuf,
    pub memory_mib: u32,
    pub forwards: Vec<Forward>,
    pub accel: Accel,
    /// A swtpm control socket to attach as the VM's TPM (`tpm-tis`).
    pub tpm_socket: Option<PathBuf>,
}

/// Checks the host has QEMU and the firmware.
pub fn check_host() -> Result<(), QemuError> {
    for (what, path, package) in [("UEFI firmware", OVMF_CODE, "ovmf"), ("UEFI variable store", OVMF_VARS, "ovmf")] {
        if !Path::new(path).is_file() {
            return Err(QemuError::Missing { what, path: path.to_owned(), package });
        }
    }
    match Command::new(QEMU).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status() {
        Ok(status) if status.success() => Ok(()),
        _ => Err(QemuError::Missing { what: QEMU, path: "PATH".to_owned(), package: "qemu-system-x86" }),
    }
}

/// Copies `disk` into `dir` (a VM that must not change the built image).
pub fn private_copy(disk: &Path, dir: &Path) -> Result<PathBuf, QemuError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| QemuError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let copy = dir.join("disk.img");
    std::fs::copy(disk, &copy).map_err(io(disk))?;
    Ok(copy)
}

/// A running VM. Dropping it kills QEMU.
#[derive(Debug)]
pub struct Vm {
    name: String,
    child: Child,
    serial: PathBuf,
    monitor: PathBuf,
    started: Instant,
}

impl Vm {
    pub fn start(spec: &VmSpec) -> Result<Vm, QemuError> {
        check_host()?;
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| QemuError::Io { path, source }
        };
        std::fs::create_dir_all(&spec.work_dir).map_err(io(&spec.work_dir))?;
        let vars = spec.work_dir.join("OVMF_VARS.fd");
        std::fs::copy(OVMF_VARS, &vars).map_err(io(Path::new(OVMF_VARS)))?;
        let serial = spec.work_dir.join("serial.log");
        let _ = std::fs::remove_file(&serial);
        let monitor = spec.work_dir.join("monitor.sock");
        let _ = std::fs::remove_file(&monitor);
        let mut netdev = "user,id=n0".to_owned();
        for forward in &spec.forwards {
            netdev.push_str(&format!(",hostfwd=tcp:127.0.0.1:{}-:{}", forward.host, forward.guest));
        }
        let mut command = Command::new(QEMU);
        command
            .args(["-machine", &format!("q35,accel={}", spec.accel.name())])
            .args(["-m", &spec.memory_mib.to_string(), "-smp", "1"])
            .args(["-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"])
            .args(["-drive", &format!("if=pflash,format=raw,unit=0,file={OVMF_CODE},readonly=on")])
            .args(["-drive", &format!("if=pflash,format=raw,unit=1,file={}", vars.display())])
            .args(["-drive", &format!("format=raw,file={},if=virtio", spec.disk.display())])
            .args(["-netdev", &netdev, "-device", "virtio-net-pci,netdev=n0"])
            .args(["-serial", &format!("file:{}", serial.display())])
            .args(["-monitor", &format!("unix:{},server=on,wait=off", monitor.display())])
            .args(["-device", "i6300esb", "-action", "watchdog=poweroff"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(socket) = &spec.tpm_socket {
            command.args(["-chardev", &format!("socket,id=chrtpm,path={}", socket.display())]).args([
                "-tpmdev",
                "emulator,id=tpm0,chardev=chrtpm",
                "-device",
                "tpm-tis,tpmdev=tpm0",
            ]);
        }
        let started = Instant::now();
        let child = command.spawn().map_err(QemuError::Spawn)?;
        tracing::info!(vm = %spec.name, accel = spec.accel.name(), "QEMU started");
        Ok(Vm { name: spec.name.clone(), child, serial, monitor, started })
    }

    /// When QEMU was started.
    pub fn started(&self) -> Instant {
        self.started
    }

    pub fn serial_path(&self) -> &Path {
        &self.serial
    }

    /// The console output so far (lossy UTF-8).
    pub fn serial_log(&self) -> String {
        std::fs::read(&self.serial).map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_default()
    }

    /// Waits until a console line contains `needle`; answers the time since QEMU started and
    /// the line. Fails when QEMU exits first or at `timeout`.
    pub fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> Result<(Duration, String), QemuError> {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.serial_log();
            if let Some(line) = log.lines().find(|line| line.contains(needle)) {
                return Ok((self.started.elapsed(), line.trim_end().to_owned()));
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // One last look: QEMU may have written the line as it exited.
                if let Some(line) = self.serial_log().lines().find(|line| line.contains(needle)) {
                    return Ok((self.started.elapsed(), line.trim_end().to_owned()));
                }
                let stderr = self.child.stderr.take().map(std::io::read_to_string).and_then(Result::ok);
                return Err(QemuError::Exited {
                    vm: self.name.clone(),
                    status: format!("{status}{}", stderr.map(|s| format!(": {}", s.trim())).unwrap_or_default()),
                    awaited: needle.to_owned(),
                    log: self.serial.display().to_string(),
                });
            }
            if Instant::now() >= deadline {
                return Err(QemuError::Timeout {
                    vm: self.name.clone(),
                    awaited: needle.to_owned(),
                    timeout,
                    log: self.serial.display().to_string(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Presses ctrl-alt-del on the guest's keyboard (PID 1 gets SIGINT: a clean reboot, which
    /// `-no-reboot` turns into QEMU's exit).
    pub fn send_ctrl_alt_del(&self) -> Result<(), QemuError> {
        self.monitor_command("sendkey ctrl-alt-delete")
    }

    /// One HMP command on the monitor socket.
    pub fn monitor_command(&self, command: &str) -> Result<(), QemuError> {
        let monitor = |source| QemuError::Monitor { vm: self.name.clone(), source };
        let mut stream = std::os::unix::net::UnixStream::connect(&self.monitor).map_err(monitor)?;
        stream.write_all(format!("{command}\n").as_bytes()).map_err(monitor)?;
        // Give QEMU the time to read it before the socket closes.
        std::thread::sleep(Duration::from_millis(200));
        Ok(())
    }

    /// Waits up to `timeout` for QEMU to exit; answers whether it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether KVM runs the guest kernel here. `QP_VM_ACCEL=kvm|tcg` decides without probing;
/// otherwise, where `/dev/kvm` opens, `kernel` (a bzImage) is booted once under KVM with no root
/// file system: a kernel that gets as far as its panic message within `probe_timeout` proves
/// KVM works. The answer is cached in `cache_dir` (a probe that hangs costs its timeout once).
pub fn detect_accel(kernel: &Path, cache_dir: &Path, probe_timeout: Duration) -> Accel {
    match std::env::var("QP_VM_ACCEL").as_deref() {
        Ok("kvm") => return Accel::Kvm,
        Ok("tcg") => return Accel::Tcg,
        _ => {}
    }
    if std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_err() {
        return Accel::Tcg;
    }
    let cache = cache_dir.join("kvm-probe");
    if let Ok(answer) = std::fs::read_to_string(&cache) {
        return if answer.trim() == "kvm" { Accel::Kvm } else { Accel::Tcg };
    }
    let accel = if probe_kvm(kernel, cache_dir, probe_timeout) { Accel::Kvm } else { Accel::Tcg };
    let _ = std::fs::create_dir_all(cache_dir);
    let _ = std::fs::write(&cache, accel.name());
    tracing::info!(accel = accel.name(), "KVM probe");
    accel
}

fn probe_kvm(kernel: &Path, dir: &Path, timeout: Duration) -> bool {
    let _ = std::fs::create_dir_all(dir);
    let serial = dir.join("kvm-probe.log");
    let _ = std::fs::remove_file(&serial);
    let Ok(mut child) = Command::new(QEMU)
        .args(["-machine", "q35,accel=kvm", "-m", "256", "-nodefaults", "-display", "none", "-no-reboot"])
        .arg("-kernel")
        .arg(kernel)
        .args(["-append", "console=ttyS0 panic=-1"])
        .args(["-serial", &format!("file:{}", serial.display())])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    let deadline = Instant::now() + timeout;
    let mut works = false;
    while Instant::now() < deadline {
        let log = std::fs::read(&serial).unwrap_or_default();
        if String::from_utf8_lossy(&log).contains("Kernel panic") {
            works = true;
            break;
        }
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    works
}

/// A free TCP port on 127.0.0.1 (bound, then released: good enough for a test's forward).
pub fn free_port() -> Result<u16, QemuError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|source| QemuError::Io { path: "127.0.0.1:0".to_owned(), source })?;
    listener
        .local_addr()
        .map(|addr| addr.port())
        .map_err(|source| QemuError::Io { path: "127.0.0.1:0".to_owned(), source })
}
