//! The exchange simulator of the tests and the round-trip benchmark: `tests/fix-peer/exchange.py`
//! (a real QuickFIX acceptor) run as a child process on 127.0.0.1, from the project venv.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the simulator may take to print `READY`.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long it may take to exit after its stdin closed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Tries with a fresh port (another process may take the free port first).
const START_ATTEMPTS: usize = 3;

/// Why the simulator could not be started.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("the exchange simulator needs {0} (the project venv with the quickfix-tls wheel): run `cargo xtask setup`")]
    Missing(PathBuf),
    #[error("could not run {python}: {source}")]
    Spawn {
        python: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no free local port: {0}")]
    Port(#[source] std::io::Error),
    #[error("the exchange simulator did not print READY; its output:\n{output}")]
    NotReady { output: String },
}

/// How to run the simulator.
#[derive(Debug, Clone)]
pub struct PeerOptions {
    pub python: PathBuf,
    pub script: PathBuf,
    pub dictionary: PathBuf,
    /// Its QuickFIX store and logs (kept across a restart of the simulator).
    pub store: PathBuf,
    /// Its SenderCompID (our TargetCompID).
    pub sender: String,
    /// Its TargetCompID (our SenderCompID).
    pub target: String,
    /// Further arguments (`--fill-limit 1000`, `--reset-on-logon Y`).
    pub extra_args: Vec<String>,
}

impl PeerOptions {
    /// The project's layout under `workspace_root`: `.cache/venv/bin/python`,
    /// `tests/fix-peer/exchange.py`, and the dictionary from `QP_FIX44_XML` or
    /// `.cache/fix/FIX44.xml`; CompIDs EXCH (the simulator) and QPNODE (us).
    pub fn in_workspace(workspace_root: &Path, store: PathBuf) -> Self {
        let dictionary = std::env::var_os("QP_FIX44_XML")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root.join(".cache/fix/FIX44.xml"));
        Self {
            python: workspace_root.join(".cache/venv/bin/python"),
            script: workspace_root.join("tests/fix-peer/exchange.py"),
            dictionary,
            store,
            sender: "EXCH".to_owned(),
            target: "QPNODE".to_owned(),
            extra_args: Vec::new(),
        }
    }
}

#[derive(Debug, Default)]
struct Output {
    lines: Vec<String>,
    stderr: Vec<String>,
    closed: bool,
}

type SharedOutput = Arc<(Mutex<Output>, Condvar)>;

/// A running simulator. Dropping it kills it; [`Self::stop`] closes its stdin and waits.
#[derive(Debug)]
pub struct ExchangePeer {
    child: Child,
    stdin: Option<ChildStdin>,
    port: u16,
    output: SharedOutput,
    readers: Vec<JoinHandle<()>>,
}

impl ExchangePeer {
    /// Starts the simulator on a free port of 127.0.0.1 and waits for its `READY`.
    pub fn start(options: &PeerOptions) -> Result<Self, PeerError> {
        for path in [&options.python, &options.script, &options.dictionary] {
            if !path.exists() {
                return Err(PeerError::Missing(path.clone()));
            }
        }
        let mut last_output = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port()?;
            match Self::start_on(options, port)? {
                Ok(peer) => return Ok(peer),
                Err(output) => last_output = output,
            }
        }
        Err(PeerError::NotReady { output: last_output })
    }

    /// Starts it on `port` (e.g. again on the same port after a restart).
    pub fn start_on_port(options: &PeerOptions, port: u16) -> Result<Self, PeerError> {
        Self::start_on(options, port)?.map_err(|output| PeerError::NotReady { output })
    }

    fn start_on(options: &PeerOptions, port: u16) -> Result<Result<Self, String>, PeerError> {
        let mut child = Command::new(&options.python)
            .arg("-u")
            .arg(&options.script)
            .arg("--port")
            .arg(port.to_string())
            .arg("--store")
            .arg(&options.store)
            .arg("--dictionary")
            .arg(&options.dictionary)
            .arg("--sender")
            .arg(&options.sender)
            .arg("--target")
            .arg(&options.target)
            .args(&options.extra_args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| PeerError::Spawn { python: options.python.clone(), source })?;
        let output: SharedOutput = Arc::new((Mutex::new(Output::default()), Condvar::new()));
        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            let output = Arc::clone(&output);
            readers.push(std::thread::spawn(move || collect(stdout, &output, false)));
        }
        if let Some(stderr) = child.stderr.take() {
            let output = Arc::clone(&output);
            readers.push(std::thread::spawn(move || collect(stderr, &output, true)));
        }
        let stdin = child.stdin.take();
        let mut peer = Self { child, stdin, port, output, readers };
        if peer.wait_for(|line| line.starts_with("READY"), READY_TIMEOUT).is_some() {
            Ok(Ok(peer))
        } else {
            peer.kill();
            let text = peer.all_output();
            Ok(Err(text))
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Its stdout lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.lock().lines.clone()
    }

    /// Waits (at most `timeout`) for a stdout line matching `matches`, looking at every line
    /// printed so far too.
    pub fn wait_for(&self, mut matches: impl FnMut(&str) -> bool, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let (lock, ready) = &*self.output;
        let mut output = lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(line) = output.lines.iter().find(|l| matches(l)) {
                return Some(line.clone());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            if output.closed {
                return None;
            }
            output = ready.wait_timeout(output, left).map(|(g, _)| g).unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// Waits until `count` stdout lines match.
    pub fn wait_for_count(&self, mut matches: impl FnMut(&str) -> bool, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (lock, ready) = &*self.output;
        let mut output = lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if output.lines.iter().filter(|l| matches(l)).count() >= count {
                return true;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else { return false };
            if output.closed {
                return false;
            }
            output = ready.wait_timeout(output, left).map(|(g, _)| g).unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// Closes its stdin (it stops its acceptor and exits), waits for it, and returns all its
    /// stdout lines.
    pub fn stop(mut self) -> Vec<String> {
        self.stdin = None;
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill();
        self.lines()
    }

    /// Stdout and stderr so far, for a failure message.
    pub fn all_output(&self) -> String {
        let output = self.lock();
        let mut text = output.lines.join("\n");
        if !output.stderr.is_empty() {
            text.push_str("\n--- stderr ---\n");
            text.push_str(&output.stderr.join("\n"));
        }
        text
    }

    fn kill(&mut self) {
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Output> {
        self.output.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for ExchangePeer {
    fn drop(&mut self) {
        self.stdin = None;
        self.kill();
    }
}

fn collect(stream: impl std::io::Read, output: &SharedOutput, stderr: bool) {
    let (lock, ready) = &**output;
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { break };
        let mut output = lock.lock().unwrap_or_else(|e| e.into_inner());
        if stderr {
            output.stderr.push(line);
        } else {
            output.lines.push(line);
        }
        ready.notify_all();
    }
    if !stderr {
        lock.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
        ready.notify_all();
    }
}

/// A port of 127.0.0.1 free right now.
pub fn free_port() -> Result<u16, PeerError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(PeerError::Port)?;
    Ok(listener.local_addr().map_err(PeerError::Port)?.port())
}
