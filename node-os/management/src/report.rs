//! What `qpctl status` shows, and the board the supervisor publishes it on.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

/// The report's format; a client reads reports of other formats as far as it knows their
/// fields (every field has a default, unknown ones are ignored).
pub const REPORT_FORMAT: u32 = 1;

/// A node's state as the supervisor last published it, plus the recent log lines the server
/// adds when it answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StatusReport {
    pub format: u32,
    /// The node's SPIFFE ID (`spiffe://fleet/role/name`).
    pub node_id: String,
    /// The image variant (`local` or `cloud`).
    pub variant: String,
    pub versions: Versions,
    /// From the kernel's start to the supervisor's READY (every service started), if reached.
    pub boot_ms: Option<u64>,
    pub uptime_s: u64,
    pub services: Vec<ServiceStatus>,
    pub metrics: Metrics,
    /// The last lines of the node's log, oldest first.
    pub recent_logs: Vec<String>,
}

impl Default for StatusReport {
    fn default() -> Self {
        Self {
            format: REPORT_FORMAT,
            node_id: String::new(),
            variant: String::new(),
            versions: Versions::default(),
            boot_ms: None,
            uptime_s: 0,
            services: Vec::new(),
            metrics: Metrics::default(),
            recent_logs: Vec::new(),
        }
    }
}

/// What runs, as plain strings the supervisor fills.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Versions {
    /// `qp-node`'s version.
    pub qp_node: String,
    /// The image's build id.
    pub image_build: String,
    /// The kernel's release (`uname -r`, [`crate::proc_stats::kernel_release`]).
    pub kernel: String,
}

/// One service of the manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceStatus {
    pub name: String,
    pub state: ServiceRunState,
    /// While it runs.
    pub pid: Option<u32>,
    /// Starts after the first.
    pub restarts: u64,
    /// How its last run ended ([`describe_exit`]).
    pub last_exit: Option<String>,
    /// Its resident set while it runs ([`crate::proc_stats::process_rss_kib`]).
    pub rss_kib: Option<u64>,
    /// Anything else worth a line (why it is held, until when it backs off).
    pub detail: Option<String>,
}

/// A service's state, as `qpctl status` names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceRunState {
    Running,
    /// Exited, starts again after its back-off.
    BackingOff,
    /// Failed too often in a row: not restarted until an operator releases it.
    Held,
    /// Not started yet.
    #[default]
    Idle,
    /// Stopped on purpose (shutdown).
    Stopped,
    /// Refused at start (its manifest entry or program was refused).
    Refused,
    /// A state this client does not know (a newer node's).
    #[serde(other)]
    Unknown,
}

impl ServiceRunState {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::BackingOff => "backing-off",
            Self::Held => "held",
            Self::Idle => "idle",
            Self::Stopped => "stopped",
            Self::Refused => "refused",
            Self::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for ServiceRunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The machine's and the supervisor's figures ([`Metrics::sample`] reads `/proc`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Metrics {
    pub supervisor_rss_kib: Option<u64>,
    pub mem_total_kib: Option<u64>,
    pub mem_available_kib: Option<u64>,
    pub load_1m: Option<f64>,
    /// The supervisor's loop rounds so far.
    pub loop_rounds: u64,
    /// Watchdog pets so far.
    pub watchdog_pets: u64,
}

impl Metrics {
    /// This process's resident set and the machine's memory and load, now, with the
    /// supervisor's counters.
    pub fn sample(loop_rounds: u64, watchdog_pets: u64) -> Self {
        let mem = crate::proc_stats::meminfo();
        Self {
            supervisor_rss_kib: crate::proc_stats::self_rss_kib(),
            mem_total_kib: mem.map(|m| m.total_kib),
            mem_available_kib: mem.map(|m| m.available_kib),
            load_1m: crate::proc_stats::load_1m(),
            loop_rounds,
            watchdog_pets,
        }
    }
}

/// How a run ended, in words: `exit 1 after 0.3 s`, `signal 9 after 12.0 s`, or
/// `did not start` (neither a code nor a signal, no time run).
pub fn describe_exit(code: Option<i32>, signal: Option<i32>, uptime_ms: u64) -> String {
    let after = format!("after {}.{} s", uptime_ms / 1000, (uptime_ms % 1000) / 100);
    match (code, signal) {
        (Some(code), _) => format!("exit {code} {after}"),
        (None, Some(signal)) => format!("signal {signal} {after}"),
        (None, None) if uptime_ms == 0 => "did not start".to_owned(),
        (None, None) => format!("ended {after}"),
    }
}

/// The latest report, shared between the supervisor (which publishes) and the server (which
/// reads). Both hold the lock only to swap or clone a pointer: the supervisor never waits on a
/// reader's serialisation or I/O, and the old report is dropped outside the lock.
#[derive(Debug)]
pub struct StatusBoard {
    current: Mutex<Arc<StatusReport>>,
    publishes: AtomicU64,
}

impl StatusBoard {
    pub fn new(initial: StatusReport) -> Self {
        Self { current: Mutex::new(Arc::new(initial)), publishes: AtomicU64::new(0) }
    }

    /// Replaces the report.
    pub fn publish(&self, report: StatusReport) {
        let fresh = Arc::new(report);
        let old = std::mem::replace(&mut *self.current.lock().unwrap_or_else(PoisonError::into_inner), fresh);
        self.publishes.fetch_add(1, Ordering::Relaxed);
        drop(old);
    }

    /// The latest report.
    pub fn snapshot(&self) -> Arc<StatusReport> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Reports published so far.
    pub fn publishes(&self) -> u64 {
        self.publishes.load(Ordering::Relaxed)
    }
}

impl Default for StatusBoard {
    fn default() -> Self {
        Self::new(StatusReport::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_read_as_words() {
        assert_eq!(describe_exit(Some(1), None, 300), "exit 1 after 0.3 s");
        assert_eq!(describe_exit(None, Some(9), 12_049), "signal 9 after 12.0 s");
        assert_eq!(describe_exit(None, None, 0), "did not start");
    }

    #[test]
    fn states_use_their_names_and_unknown_ones_still_parse() {
        let json = serde_json::to_string(&[ServiceRunState::BackingOff, ServiceRunState::Held]).unwrap_or_default();
        assert_eq!(json, r#"["backing-off","held"]"#);
        let states: Vec<ServiceRunState> = serde_json::from_str(r#"["running","hibernating"]"#).unwrap_or_default();
        assert_eq!(states, [ServiceRunState::Running, ServiceRunState::Unknown]);
        // A report with fields missing (an older node's) still reads.
        let report: StatusReport = serde_json::from_str(r#"{"node_id":"x"}"#).unwrap_or_default();
        assert_eq!(report.node_id, "x");
    }

    #[test]
    fn the_board_hands_out_the_latest_report() {
        let board = StatusBoard::default();
        let before = board.snapshot();
        board.publish(StatusReport { uptime_s: 7, ..StatusReport::default() });
        assert_eq!((before.uptime_s, board.snapshot().uptime_s, board.publishes()), (0, 7, 1));
    }
}
