//! The node's supervisor (issue 9), like hubris's `jefe`: it starts each service as a child
//! process, restarts one that exits after a back-off, holds one that keeps failing (and
//! reports it), and never blocks on a child: [`Supervisor::poll`] looks at every child without
//! waiting and answers what changed.
//!
//! The restart decisions are a pure state machine ([`policy`]); this module does the
//! processes. Children are tracked by pid and collected with non-blocking `waitpid`:
//!
//! - [`Reaping::OwnChildren`] (an ordinary process: `qp-node supervise`, tests) waits for each
//!   service's own pid only, so other children of the process are left to their owners;
//! - [`Reaping::AllChildren`] (PID 1 of the sealed image) collects every exited child, hands a
//!   service's exit to it and reaps orphans re-parented to PID 1 (counted).
//!
//! Before a service's first start, a [`StartGate`] may check its program: PID 1's gate reads it
//! through dm-verity and hashes it ([`MeasureProgram`]), and a program that cannot be read whole
//! is [`ServiceState::Refused`], never started.
#![forbid(unsafe_code)]

pub mod manifest;
pub mod measure;
pub mod policy;
pub mod watchdog;

use std::io::Read;
use std::process::Command;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, WaitOptions, WaitStatus};

pub use manifest::{Manifest, ManifestError};
pub use measure::{BootMeasurements, MeasuredPrograms, boot_measurements};
pub use policy::{ExitSummary, RestartPolicy, RestartTracker, ServiceState};
pub use watchdog::{DeviceWatchdog, Watchdog};

/// One service of the image manifest.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub name: String,
    pub program: std::path::PathBuf,
    pub args: Vec<String>,
    pub policy: RestartPolicy,
}

/// Something [`Supervisor::poll`] saw happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceEvent {
    Started {
        name: String,
        pid: u32,
        restart: u64,
    },
    Exited {
        name: String,
        exit: ExitSummary,
    },
    /// Could not start (a missing program): counts as a quick failure.
    SpawnFailed {
        name: String,
        error: String,
    },
    Held {
        name: String,
        restarts: u32,
    },
    /// The start gate refused the program; the service never starts.
    Refused {
        name: String,
        reason: String,
    },
}

/// Which exited children the supervisor collects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaping {
    /// Each service's own pid only (an ordinary process).
    OwnChildren,
    /// Every child, orphans included (PID 1).
    AllChildren,
}

/// Checked once before a service's first start; `Err` refuses the service for good.
pub trait StartGate: Send {
    /// The program's digest, or why it must not run.
    fn check(&mut self, spec: &ServiceSpec) -> Result<[u8; 32], String>;
}

/// Reads the whole program and answers its SHA-256. On a dm-verity root a block that fails
/// verification fails the read (EIO), so a program that is not exactly the built one is refused
/// before it runs; the digest is the program's measurement.
#[derive(Debug, Default)]
pub struct MeasureProgram;

impl StartGate for MeasureProgram {
    fn check(&mut self, spec: &ServiceSpec) -> Result<[u8; 32], String> {
        measure::file_digest(&spec.program).map_err(|err| err.to_string())
    }
}

/// A service's stdout and stderr when the supervisor captures them: read without blocking each
/// round, each line logged as the service's (console and ring buffer), rate-limited.
struct CapturedOutput {
    streams: Vec<(std::process::ChildStdout, Vec<u8>)>,
    errors: Option<(std::process::ChildStderr, Vec<u8>)>,
    /// Lines logged in the current second, and the second's start.
    window: (u32, Instant),
    suppressed: u64,
}

/// The longest line kept whole; a longer one is logged in pieces.
const MAX_OUTPUT_LINE: usize = 1024;
/// Lines a service may log per second; the rest are counted and the count logged.
const OUTPUT_LINES_PER_SECOND: u32 = 50;

impl CapturedOutput {
    fn new(child: &mut std::process::Child) -> Self {
        use rustix::fs::{OFlags, fcntl_setfl};
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        if let Some(out) = &stdout {
            let _ = fcntl_setfl(out, OFlags::NONBLOCK);
        }
        if let Some(err) = &stderr {
            let _ = fcntl_setfl(err, OFlags::NONBLOCK);
        }
        Self {
            streams: stdout.into_iter().map(|s| (s, Vec::new())).collect(),
            errors: stderr.map(|s| (s, Vec::new())),
            window: (0, Instant::now()),
            suppressed: 0,
        }
    }

    /// Logs every complete line available now (`flush`: and what is left of a last one).
    fn drain(&mut self, service: &str, flush: bool) {
        let mut lines = Vec::new();
        for (stream, partial) in &mut self.streams {
            read_lines(stream, partial, flush, &mut lines);
        }
        if let Some((stream, partial)) = &mut self.errors {
            read_lines(stream, partial, flush, &mut lines);
        }
        for line in lines {
            if self.window.1.elapsed() >= Duration::from_secs(1) {
                if self.suppressed > 0 {
                    tracing::warn!(
                        service,
                        suppressed = self.suppressed,
                        "service output lines not logged (rate limit)"
                    );
                }
                self.window = (0, Instant::now());
                self.suppressed = 0;
            }
            if self.window.0 >= OUTPUT_LINES_PER_SECOND {
                self.suppressed += 1;
                continue;
            }
            self.window.0 += 1;
            tracing::info!(target: "service", service, "{line}");
        }
        if flush && self.suppressed > 0 {
            tracing::warn!(service, suppressed = self.suppressed, "service output lines not logged (rate limit)");
            self.suppressed = 0;
        }
    }
}

/// Reads what `stream` has without blocking; complete lines (and, with `flush`, the rest) go to
/// `lines`.
fn read_lines(stream: &mut impl Read, partial: &mut Vec<u8>, flush: bool, lines: &mut Vec<String>) {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                for &byte in &buf[..n] {
                    if byte == b'\n' || partial.len() >= MAX_OUTPUT_LINE {
                        lines.push(String::from_utf8_lossy(partial).into_owned());
                        partial.clear();
                        if byte == b'\n' {
                            continue;
                        }
                    }
                    partial.push(byte);
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            // WouldBlock: nothing more now; anything else: the pipe is gone.
            Err(_) => break,
        }
    }
    if flush && !partial.is_empty() {
        lines.push(String::from_utf8_lossy(partial).into_owned());
        partial.clear();
    }
}

struct Service {
    spec: ServiceSpec,
    /// Its running child's output, when captured.
    output: Option<CapturedOutput>,
    state: ServiceState,
    tracker: RestartTracker,
    /// Its running child's pid.
    pid: Option<Pid>,
    /// The start gate's digest of its program.
    digest: Option<[u8; 32]>,
}

/// One service as the management API shows it.
#[derive(Debug, Clone)]
pub struct ServiceView<'a> {
    pub name: &'a str,
    pub state: &'a ServiceState,
    pub restarts: u64,
    pub digest: Option<[u8; 32]>,
}

/// The services and their children.
pub struct Supervisor {
    services: Vec<Service>,
    epoch: Instant,
    reaping: Reaping,
    gate: Option<Box<dyn StartGate>>,
    orphans_reaped: u64,
    rounds: u64,
    capture_output: bool,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let states: Vec<(&str, &ServiceState)> =
            self.services.iter().map(|s| (s.spec.name.as_str(), &s.state)).collect();
        f.debug_struct("Supervisor").field("services", &states).field("reaping", &self.reaping).finish()
    }
}

fn summary(status: WaitStatus, uptime_ns: u64) -> ExitSummary {
    ExitSummary { code: status.exit_status(), signal: status.terminating_signal(), uptime_ns }
}

impl Supervisor {
    /// A supervisor of an ordinary process: its own children only, no start gate.
    pub fn new(specs: Vec<ServiceSpec>) -> Self {
        let services = specs
            .into_iter()
            .map(|spec| Service {
                tracker: RestartTracker::new(spec.policy),
                spec,
                state: ServiceState::Idle,
                pid: None,
                digest: None,
                output: None,
            })
            .collect();
        Self {
            services,
            epoch: Instant::now(),
            reaping: Reaping::OwnChildren,
            gate: None,
            orphans_reaped: 0,
            rounds: 0,
            capture_output: false,
        }
    }

    /// Capture each service's stdout and stderr and log their lines as the service's (PID 1:
    /// they reach the console and the management API's ring buffer). Otherwise services inherit
    /// the supervisor's.
    pub fn with_output_capture(mut self, capture: bool) -> Self {
        self.capture_output = capture;
        self
    }

    /// Collect children as `reaping` says (PID 1: [`Reaping::AllChildren`]).
    pub fn with_reaping(mut self, reaping: Reaping) -> Self {
        self.reaping = reaping;
        self
    }

    /// Check each program with `gate` before its first start.
    pub fn with_start_gate(mut self, gate: Box<dyn StartGate>) -> Self {
        self.gate = Some(gate);
        self
    }

    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Each service's name and state.
    pub fn states(&self) -> impl Iterator<Item = (&str, &ServiceState)> {
        self.services.iter().map(|s| (s.spec.name.as_str(), &s.state))
    }

    /// Each service as the management API shows it.
    pub fn views(&self) -> impl Iterator<Item = ServiceView<'_>> {
        self.services.iter().map(|s| ServiceView {
            name: &s.spec.name,
            state: &s.state,
            restarts: s.tracker.restarts,
            digest: s.digest,
        })
    }

    /// Restarts so far of service `name`.
    pub fn restarts(&self, name: &str) -> Option<u64> {
        self.services.iter().find(|s| s.spec.name == name).map(|s| s.tracker.restarts)
    }

    /// Orphans (children of no service) reaped so far; only PID 1 gets any.
    pub fn orphans_reaped(&self) -> u64 {
        self.orphans_reaped
    }

    /// Rounds of [`Supervisor::poll`] so far.
    pub fn rounds(&self) -> u64 {
        self.rounds
    }

    /// Exited children, without blocking.
    fn collect_exits(&mut self) -> Vec<(Pid, WaitStatus)> {
        let mut exits = Vec::new();
        match self.reaping {
            Reaping::OwnChildren => {
                for service in &self.services {
                    let Some(pid) = service.pid else { continue };
                    match rustix::process::waitpid(Some(pid), WaitOptions::NOHANG) {
                        Ok(Some((pid, status))) => exits.push((pid, status)),
                        Ok(None) => {}
                        Err(err) => tracing::warn!(service = %service.spec.name, error = %err, "cannot check child"),
                    }
                }
            }
            Reaping::AllChildren => {
                // Until no exited child is left (`Ok(None)`) or there are no children (ECHILD).
                while let Ok(Some((pid, status))) = rustix::process::wait(WaitOptions::NOHANG) {
                    if self.services.iter().any(|s| s.pid == Some(pid)) {
                        exits.push((pid, status));
                    } else {
                        self.orphans_reaped += 1;
                        tracing::debug!(pid = pid.as_raw_nonzero().get(), "orphan reaped");
                    }
                }
            }
        }
        exits
    }

    /// One round, without blocking: reap children that exited, start what is due. Answers what
    /// happened, in order.
    pub fn poll(&mut self) -> Vec<ServiceEvent> {
        self.rounds += 1;
        let exits = self.collect_exits();
        for service in &mut self.services {
            if let Some(output) = &mut service.output {
                output.drain(&service.spec.name, false);
            }
        }
        let now = self.now_ns();
        let mut events = Vec::new();
        for (pid, status) in exits {
            let Some(service) = self.services.iter_mut().find(|s| s.pid == Some(pid)) else { continue };
            let since_ns = match service.state {
                ServiceState::Running { since_ns, .. } => since_ns,
                _ => now,
            };
            let exit = summary(status, now.saturating_sub(since_ns));
            service.pid = None;
            if let Some(mut output) = service.output.take() {
                output.drain(&service.spec.name, true);
            }
            events.push(ServiceEvent::Exited { name: service.spec.name.clone(), exit });
            service.state = service.tracker.on_exit(now, exit);
            if let ServiceState::Held { restarts, .. } = service.state {
                tracing::error!(service = %service.spec.name, restarts, "service held: it keeps failing");
                events.push(ServiceEvent::Held { name: service.spec.name.clone(), restarts });
            }
        }
        for service in &mut self.services {
            let due = match &service.state {
                ServiceState::Idle => true,
                ServiceState::BackingOff { until_ns, .. } => now >= *until_ns,
                _ => false,
            };
            if !due {
                continue;
            }
            if service.digest.is_none()
                && let Some(gate) = self.gate.as_mut()
            {
                match gate.check(&service.spec) {
                    Ok(digest) => service.digest = Some(digest),
                    Err(reason) => {
                        tracing::error!(service = %service.spec.name, %reason, "service refused: its program is not verified");
                        events.push(ServiceEvent::Refused { name: service.spec.name.clone(), reason: reason.clone() });
                        service.state = ServiceState::Refused { reason };
                        continue;
                    }
                }
            }
            let restart = !matches!(service.state, ServiceState::Idle);
            let mut command = Command::new(&service.spec.program);
            command.args(&service.spec.args);
            if self.capture_output {
                command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
            }
            match command.spawn() {
                Ok(mut child) => {
                    if self.capture_output {
                        service.output = Some(CapturedOutput::new(&mut child));
                    }
                    if restart {
                        service.tracker.on_restart();
                    }
                    // Tracked by pid from here; the `Child` handle is not needed (dropping it
                    // neither waits nor kills).
                    let pid = child.id();
                    service.pid = Pid::from_raw(pid as i32);
                    service.state = ServiceState::Running { pid, since_ns: now };
                    events.push(ServiceEvent::Started {
                        name: service.spec.name.clone(),
                        pid,
                        restart: service.tracker.restarts,
                    });
                }
                Err(err) => {
                    events.push(ServiceEvent::SpawnFailed { name: service.spec.name.clone(), error: err.to_string() });
                    let exit = ExitSummary { code: None, signal: None, uptime_ns: 0 };
                    service.state = service.tracker.on_exit(now, exit);
                    if let ServiceState::Held { restarts, .. } = service.state {
                        events.push(ServiceEvent::Held { name: service.spec.name.clone(), restarts });
                    }
                }
            }
        }
        events
    }

    /// The operator releases a held service: it starts on the next poll, with a fresh count.
    pub fn release(&mut self, name: &str) -> bool {
        let Some(service) = self.services.iter_mut().find(|s| s.spec.name == name) else { return false };
        if !matches!(service.state, ServiceState::Held { .. }) {
            return false;
        }
        service.tracker.release();
        service.state =
            ServiceState::BackingOff { until_ns: 0, last_exit: ExitSummary { code: None, signal: None, uptime_ns: 0 } };
        true
    }

    /// The supervisor's loop until `stop` is raised: a poll every `tick`, events logged, the
    /// watchdog petted after each round that completed (a hung loop stops petting it), and
    /// `after_round` called with the supervisor (PID 1 publishes its status there). Answers the
    /// events of the whole run (for tests; a node logs them as they happen).
    pub fn run(
        &mut self,
        stop: &std::sync::atomic::AtomicBool,
        tick: Duration,
        mut watchdog: Option<&mut dyn Watchdog>,
        mut after_round: impl FnMut(&Supervisor),
    ) -> Vec<ServiceEvent> {
        let mut all = Vec::new();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            for event in self.poll() {
                tracing::info!(?event, "service");
                all.push(event);
            }
            after_round(self);
            if let Some(watchdog) = watchdog.as_deref_mut()
                && let Err(err) = watchdog.pet()
            {
                tracing::warn!(error = %err, "watchdog not petted");
            }
            std::thread::sleep(tick);
        }
        all
    }

    /// Stops every service: SIGTERM to each child, then SIGKILL to those still running after
    /// `grace` (shared by all), each reaped.
    pub fn shutdown(&mut self, grace: Duration) {
        let running: Vec<Pid> = self.services.iter().filter_map(|s| s.pid).collect();
        for pid in &running {
            let _ = rustix::process::kill_process(*pid, Signal::TERM);
        }
        let deadline = Instant::now() + grace;
        let mut left = running;
        while !left.is_empty() {
            left.retain(|pid| matches!(rustix::process::waitpid(Some(*pid), WaitOptions::NOHANG), Ok(None)));
            if left.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                for pid in &left {
                    let _ = rustix::process::kill_process(*pid, Signal::KILL);
                    let _ = rustix::process::waitpid(Some(*pid), WaitOptions::empty());
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        for service in &mut self.services {
            service.pid = None;
            if let Some(mut output) = service.output.take() {
                output.drain(&service.spec.name, true);
            }
            if !matches!(service.state, ServiceState::Refused { .. }) {
                service.state = ServiceState::Stopped;
            }
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.shutdown(Duration::from_millis(200));
    }
}
