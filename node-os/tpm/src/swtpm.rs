//! A software TPM for tests and benchmarks: `swtpm` on loopback TCP in a temporary state
//! directory, stopped (by the pid in its pid file) when dropped.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

/// How to get swtpm where it is missing.
const INSTALL_HINT: &str = "swtpm is not installed: run `apt-get install swtpm swtpm-tools` (or `cargo xtask setup`)";
const START_ATTEMPTS: usize = 8;
const READY_TIMEOUT: Duration = Duration::from_secs(10);
const STOP_TIMEOUT: Duration = Duration::from_secs(2);
/// The TPM state's folder inside a [`Swtpm`]'s directory.
const STATE_SUBDIR: &str = "state";

/// swtpm could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SwtpmError {
    #[error("{INSTALL_HINT}")]
    NotInstalled,
    #[error("swtpm: {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("swtpm did not start after {attempts} attempts: {last}")]
    Start { attempts: usize, last: String },
    #[error("swtpm on port {port} did not accept connections within {timeout:?}")]
    NotReady { port: u16, timeout: Duration },
    /// `swtpm_setup` or `swtpm_localca` failed (its output, and its log, quoted).
    #[error("{tool} failed: {output}")]
    Setup { tool: &'static str, output: String },
    /// The QEMU-facing swtpm did not create its socket in time, or exited first.
    #[error("swtpm for QEMU at {}: {what}", socket.display())]
    QemuSocket { socket: PathBuf, what: String },
}

/// A running swtpm (TPM 2.0, state in a temporary directory, manufactured fresh).
#[derive(Debug)]
pub struct Swtpm {
    dir: tempfile::TempDir,
    port: u16,
    pid: Option<i32>,
}

impl Swtpm {
    /// Starts a fresh swtpm on free loopback ports (the server on P, its control channel on P+1),
    /// retrying on a port clash, and waits until it accepts connections. Its TPM is manufactured by
    /// swtpm itself at first start: no EK, no EK certificate (see [`Swtpm::start_with_ek`]).
    pub fn start() -> Result<Self, SwtpmError> {
        check_installed()?;
        Self::start_in(new_state_dir()?)
    }

    /// Starts a fresh swtpm (as [`Swtpm::start`]) whose TPM was manufactured by `swtpm_setup` with
    /// an RSA-2048 and an ECC P-384 EK and their certificates (NV 0x01c00002 and 0x01c00016),
    /// issued by `ca`, and only the SHA-256 PCR bank.
    pub fn start_with_ek(ca: &LocalCa) -> Result<Self, SwtpmError> {
        check_installed()?;
        let dir = new_state_dir()?;
        prepare_state(&dir.path().join(STATE_SUBDIR), ca)?;
        Self::start_in(dir)
    }

    fn start_in(dir: tempfile::TempDir) -> Result<Self, SwtpmError> {
        let mut last = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = match free_port_pair() {
                Ok(port) => port,
                Err(source) => return Err(SwtpmError::Io { what: "finding a free port".to_owned(), source }),
            };
            match launch(dir.path(), port) {
                Ok(pid) => {
                    let swtpm = Self { dir, port, pid: Some(pid) };
                    swtpm.wait_ready()?;
                    tracing::debug!(port, pid, "swtpm started");
                    return Ok(swtpm);
                }
                Err(err) => {
                    tracing::debug!(port, error = %err, "swtpm did not start; retrying on other ports");
                    last = err;
                }
            }
        }
        Err(SwtpmError::Start { attempts: START_ATTEMPTS, last })
    }

    /// The TCTI string for [`crate::Tpm::open`].
    pub fn tcti(&self) -> String {
        format!("swtpm:host=127.0.0.1,port={}", self.port)
    }

    /// The TPM command port (the control channel is the next one).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding swtpm's state (and its pid file and log).
    pub fn state_dir(&self) -> &Path {
        self.dir.path()
    }

    fn wait_ready(&self) -> Result<(), SwtpmError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(SwtpmError::NotReady { port: self.port, timeout: READY_TIMEOUT })
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let Some(pid) = self.pid.take().and_then(Pid::from_raw) else {
            return;
        };
        if let Err(err) = kill_process(pid, Signal::TERM) {
            tracing::warn!(pid = pid.as_raw_nonzero().get(), error = %err, "could not stop swtpm");
            return;
        }
        // Let it go before its state directory is removed (a zombie, unreaped, also counts as gone).
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline && running(pid) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Runs `swtpm socket … -d` on `port` and `port + 1`; its pid once it has daemonized.
fn launch(dir: &Path, port: u16) -> Result<i32, String> {
    let state = dir.join(STATE_SUBDIR);
    std::fs::create_dir_all(&state).map_err(|err| format!("{}: {err}", state.display()))?;
    let pid_file = dir.join("swtpm.pid");
    let _ = std::fs::remove_file(&pid_file);
    let log_file = dir.join("swtpm.log");
    let output = Command::new("swtpm")
        .arg("socket")
        .arg("--tpm2")
        .arg("--tpmstate")
        .arg(format!("dir={}", state.display()))
        .arg("--server")
        .arg(format!("type=tcp,port={port},bindaddr=127.0.0.1"))
        .arg("--ctrl")
        .arg(format!("type=tcp,port={},bindaddr=127.0.0.1", port + 1))
        .arg("--flags")
        .arg("not-need-init,startup-clear")
        .arg("--log")
        .arg(format!("file={},level=1", log_file.display()))
        .arg("-d")
        .arg("--pid")
        .arg(format!("file={}", pid_file.display()))
        .stdin(Stdio::null())
        .output()
        .map_err(|err| format!("running swtpm: {err}"))?;
    if !output.status.success() {
        let log = std::fs::read_to_string(&log_file).unwrap_or_default();
        return Err(format!(
            "swtpm exited with {} on port {port}: {}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim(),
            log.trim()
        ));
    }
    read_pid(&pid_file)
}

/// The pid in swtpm's pid file (written before its parent exits, but allow it a moment).
fn read_pid(pid_file: &PathBuf) -> Result<i32, String> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        if let Some(pid) = std::fs::read_to_string(pid_file).ok().and_then(|text| text.trim().parse::<i32>().ok()) {
            return Ok(pid);
        }
        if Instant::now() >= deadline {
            return Err(format!("{}: no pid", pid_file.display()));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A port P such that P and P+1 were both free a moment ago.
fn free_port_pair() -> std::io::Result<u16> {
    for _ in 0..64 {
        let first = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = first.local_addr()?.port();
        let Some(next) = port.checked_add(1) else {
            continue;
        };
        if TcpListener::bind((Ipv4Addr::LOCALHOST, next)).is_ok() {
            return Ok(port);
        }
    }
    Err(std::io::Error::new(std::io::ErrorKind::AddrInUse, "no two consecutive free loopback ports"))
}

/// Whether `pid` is alive and not a zombie.
fn running(pid: Pid) -> bool {
    let raw = pid.as_raw_nonzero().get();
    match std::fs::read_to_string(format!("/proc/{raw}/stat")) {
        // `pid (comm) S …`: the state follows the last `)`.
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

fn check_installed() -> Result<(), SwtpmError> {
    match Command::new("swtpm").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status() {
        Ok(status) if status.success() => Ok(()),
        Ok(_) => Err(SwtpmError::NotInstalled),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Err(SwtpmError::NotInstalled),
        Err(source) => Err(SwtpmError::Io { what: "running `swtpm --version`".to_owned(), source }),
    }
}

fn new_state_dir() -> Result<tempfile::TempDir, SwtpmError> {
    tempfile::Builder::new()
        .prefix("qp-swtpm-")
        .tempdir()
        .map_err(|source| SwtpmError::Io { what: "creating the state directory".to_owned(), source })
}

/// The files a [`LocalCa`] keeps in its directory.
const LOCALCA_CONF: &str = "swtpm-localca.conf";
const LOCALCA_OPTIONS: &str = "swtpm-localca.options";
const SETUP_CONF: &str = "swtpm_setup.conf";
/// The intermediate CA's certificate: it signs the EK certificates.
const ISSUER_CERT: &str = "issuercert.pem";
/// The root CA's certificate (self-signed): it signs [`ISSUER_CERT`].
const ROOT_CERT: &str = "swtpm-localca-rootca-cert.pem";
/// What `swtpm_setup` tells `swtpm_localca` about the TPM (swtpm 0.7's values).
const TPM_IDENTITY: [&str; 10] = [
    "--tpm-spec-family",
    "2.0",
    "--tpm-spec-level",
    "0",
    "--tpm-spec-revision",
    "164",
    "--tpm-manufacturer",
    "id:00001014",
    "--tpm-model",
    "swtpm",
];

/// A test-local stand-in for the TPM manufacturer's CA: `swtpm_localca` with all its state (root
/// CA, intermediate issuer, serial counter) in one directory. `swtpm_setup` calls it to issue EK
/// certificates (see [`prepare_state`]).
///
/// Two certificates: a self-signed root (`CN=swtpm-localca-rootca`, RSA-3072) and an intermediate
/// (`CN=swtpm-localca`, signed by the root) that signs the EK certificates. Both are made by
/// `certtool` in [`LocalCa::create`].
#[derive(Debug, Clone)]
pub struct LocalCa {
    dir: PathBuf,
}

impl LocalCa {
    /// Makes the CA in `dir` (created if missing): writes `swtpm-localca.conf`,
    /// `swtpm-localca.options` and `swtpm_setup.conf`, then has `swtpm_localca` make its root and
    /// issuer (by issuing one throw-away EK certificate), so [`LocalCa::issuer_certs_der`] works at
    /// once. Reuses a CA already made in `dir`.
    pub fn create(dir: &Path) -> Result<Self, SwtpmError> {
        let io = |what: String| move |source| SwtpmError::Io { what, source };
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        let dir = std::fs::canonicalize(dir).map_err(io(format!("resolving {}", dir.display())))?;
        let path = |name: &str| dir.join(name).display().to_string();
        let files = [
            (
                LOCALCA_CONF,
                format!(
                    "statedir = {}\nsigningkey = {}\nissuercert = {}\ncertserial = {}\n",
                    dir.display(),
                    path("signkey.pem"),
                    path(ISSUER_CERT),
                    path("certserial")
                ),
            ),
            (
                LOCALCA_OPTIONS,
                "--platform-manufacturer QuantPype\n--platform-version 2.1\n--platform-model swtpm\n".to_owned(),
            ),
            (
                SETUP_CONF,
                format!(
                    "create_certs_tool = /usr/bin/swtpm_localca\ncreate_certs_tool_config = {}\n\
                     create_certs_tool_options = {}\nactive_pcr_banks = sha256\n",
                    path(LOCALCA_CONF),
                    path(LOCALCA_OPTIONS)
                ),
            ),
        ];
        for (name, text) in files {
            std::fs::write(dir.join(name), text).map_err(io(format!("writing {}", path(name))))?;
        }
        let ca = Self { dir };
        if !ca.dir.join(ISSUER_CERT).exists() || !ca.dir.join(ROOT_CERT).exists() {
            ca.issue_throwaway()?;
        }
        Ok(ca)
    }

    /// The CA's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The `swtpm_setup.conf` that names this CA.
    pub fn setup_conf(&self) -> PathBuf {
        self.dir.join(SETUP_CONF)
    }

    /// The certificates a verifier trusts for this CA, DER: `[issuer, root]`. The first
    /// (`CN=swtpm-localca`) signs the EK certificates; the second (`CN=swtpm-localca-rootca`,
    /// self-signed) signs the first.
    pub fn issuer_certs_der(&self) -> Result<Vec<Vec<u8>>, SwtpmError> {
        [ISSUER_CERT, ROOT_CERT]
            .iter()
            .map(|name| {
                let file = self.dir.join(name);
                let text = std::fs::read_to_string(&file)
                    .map_err(|source| SwtpmError::Io { what: format!("reading {}", file.display()), source })?;
                pem_certificate_der(&text).ok_or_else(|| SwtpmError::Setup {
                    tool: "swtpm_localca",
                    output: format!("{} holds no PEM certificate", file.display()),
                })
            })
            .collect()
    }

    /// Makes the root and the issuer: `swtpm_localca` creates them with `certtool` on first use.
    fn issue_throwaway(&self) -> Result<(), SwtpmError> {
        let out = tempfile::tempdir_in(&self.dir)
            .map_err(|source| SwtpmError::Io { what: "creating a scratch directory".to_owned(), source })?;
        // Any 2048-bit modulus will do: the certificate is thrown away.
        let modulus = "c3".repeat(256);
        let output = Command::new("swtpm_localca")
            .args(["--type", "ek", "--ek", &modulus, "--tpm2"])
            .arg("--dir")
            .arg(out.path())
            .arg("--configfile")
            .arg(self.dir.join(LOCALCA_CONF))
            .arg("--optsfile")
            .arg(self.dir.join(LOCALCA_OPTIONS))
            .args(TPM_IDENTITY)
            .args(["--tpm-version", "id:20191023"])
            .stdin(Stdio::null())
            .output()
            .map_err(|source| SwtpmError::Io { what: "running swtpm_localca".to_owned(), source })?;
        if !output.status.success() || !self.dir.join(ISSUER_CERT).exists() {
            return Err(SwtpmError::Setup { tool: "swtpm_localca", output: outputs(&output) });
        }
        Ok(())
    }
}

/// Manufactures a TPM 2.0 state in `state_dir` with `swtpm_setup`: EKs (RSA-2048 and ECC P-384)
/// with certificates from `ca` in NV, only the SHA-256 PCR bank. Does nothing when `state_dir`
/// already holds a state (`--not-overwrite`), so a VM's TPM keeps its EK across boots.
pub fn prepare_state(state_dir: &Path, ca: &LocalCa) -> Result<(), SwtpmError> {
    std::fs::create_dir_all(state_dir)
        .map_err(|source| SwtpmError::Io { what: format!("creating {}", state_dir.display()), source })?;
    if state_dir.join("tpm2-00.permall").exists() {
        return Ok(());
    }
    let log = state_dir.join("swtpm_setup.log");
    let output = Command::new("swtpm_setup")
        .args(["--tpm2", "--tpmstate"])
        .arg(state_dir)
        .args(["--create-ek-cert", "--pcr-banks", "sha256", "--not-overwrite", "--config"])
        .arg(ca.setup_conf())
        .arg("--logfile")
        .arg(&log)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| SwtpmError::Io { what: "running swtpm_setup".to_owned(), source })?;
    if !output.status.success() || !state_dir.join("tpm2-00.permall").exists() {
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        return Err(SwtpmError::Setup { tool: "swtpm_setup", output: format!("{} {}", outputs(&output), log.trim()) });
    }
    tracing::debug!(state_dir = %state_dir.display(), "TPM state manufactured with an EK certificate");
    Ok(())
}

fn outputs(output: &std::process::Output) -> String {
    format!(
        "{}: {} {}",
        output.status,
        String::from_utf8_lossy(&output.stdout).trim(),
        String::from_utf8_lossy(&output.stderr).trim()
    )
}

/// The DER of the first `CERTIFICATE` block of a PEM text.
fn pem_certificate_der(text: &str) -> Option<Vec<u8>> {
    pem::parse_many(text).ok()?.into_iter().find(|block| block.tag() == "CERTIFICATE").map(|b| b.contents().to_vec())
}

/// A swtpm for one QEMU boot: `swtpm socket --tpm2 --ctrl type=unixio,path=SOCK` on a state
/// directory (prepared with [`prepare_state`] for an EK certificate). QEMU sends the TPM's init
/// and startup itself; this swtpm exits when the VM powers off. Killed on drop if still running.
#[derive(Debug)]
pub struct SwtpmForQemu {
    child: std::process::Child,
    socket: PathBuf,
}

impl SwtpmForQemu {
    /// Starts swtpm on `state_dir` (its log at `state_dir/swtpm.log`) and waits until `socket_path`
    /// exists.
    pub fn start(state_dir: &Path, socket_path: &Path) -> Result<Self, SwtpmError> {
        check_installed()?;
        std::fs::create_dir_all(state_dir)
            .map_err(|source| SwtpmError::Io { what: format!("creating {}", state_dir.display()), source })?;
        let _ = std::fs::remove_file(socket_path);
        let log = state_dir.join("swtpm.log");
        let child = Command::new("swtpm")
            .args(["socket", "--tpm2", "--tpmstate"])
            .arg(format!("dir={}", state_dir.display()))
            .arg("--ctrl")
            .arg(format!("type=unixio,path={}", socket_path.display()))
            .arg("--log")
            .arg(format!("file={},level=1", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| SwtpmError::Io { what: "running swtpm".to_owned(), source })?;
        let mut swtpm = Self { child, socket: socket_path.to_owned() };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if socket_path.exists() {
                return Ok(swtpm);
            }
            let failed = |what: String| SwtpmError::QemuSocket { socket: socket_path.to_owned(), what };
            if let Ok(Some(status)) = swtpm.child.try_wait() {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(failed(format!("swtpm exited with {status}: {}", log.trim())));
            }
            if Instant::now() >= deadline {
                return Err(failed(format!("no socket within {READY_TIMEOUT:?}")));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The control socket for QEMU's `-chardev socket,path=…`.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Whether swtpm is still running (it exits when the VM powers off).
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for SwtpmForQemu {
    fn drop(&mut self) {
        if !self.running() {
            return;
        }
        let stopped = i32::try_from(self.child.id())
            .ok()
            .and_then(Pid::from_raw)
            .is_some_and(|pid| kill_process(pid, Signal::TERM).is_ok());
        let deadline = Instant::now() + STOP_TIMEOUT;
        while stopped && Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
