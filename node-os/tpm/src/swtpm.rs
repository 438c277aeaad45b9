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
    /// retrying on a port clash, and waits until it accepts connections.
    pub fn start() -> Result<Self, SwtpmError> {
        match Command::new("swtpm").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status() {
            Ok(status) if status.success() => {}
            Ok(_) => return Err(SwtpmError::NotInstalled),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Err(SwtpmError::NotInstalled),
            Err(source) => return Err(SwtpmError::Io { what: "running `swtpm --version`".to_owned(), source }),
        }
        let dir = tempfile::Builder::new()
            .prefix("qp-swtpm-")
            .tempdir()
            .map_err(|source| SwtpmError::Io { what: "creating the state directory".to_owned(), source })?;
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
    let state = dir.join("state");
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
