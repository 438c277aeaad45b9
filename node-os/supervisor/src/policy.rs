//! What happens to a service when it exits: restart it after a back-off, or hold it (stop
//! restarting and report) once it has failed too often. A pure state machine over the time
//! passed in: the runner does the processes, this decides, and tests drive it directly.
use std::time::Duration;

/// A service's restart policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// A run shorter than this counts as a failure toward `max_restarts`; a longer one resets
    /// the count and the back-off (the service had started properly).
    pub min_uptime: Duration,
    /// The first restart waits this long; each further one doubles it, up to `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Quick failures in a row after which the service is held.
    pub max_restarts: u32,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            min_uptime: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
            max_restarts: 5,
        }
    }
}

/// Where a service stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceState {
    /// Not started yet.
    Idle,
    /// Running since `since_ns`.
    Running { pid: u32, since_ns: u64 },
    /// Exited; starts again at `until_ns`.
    BackingOff { until_ns: u64, last_exit: ExitSummary },
    /// Failed `restarts` times in a row, each within `min_uptime`: not restarted again until an
    /// operator asks.
    Held { last_exit: ExitSummary, restarts: u32 },
    /// Stopped on purpose (shutdown).
    Stopped,
    /// Never started: its program could not be verified (the start gate said no, e.g. a read
    /// that dm-verity refused). Not retried; reported.
    Refused { reason: String },
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitSummary {
    /// The exit code, or `None` when a signal ended it.
    pub code: Option<i32>,
    pub signal: Option<i32>,
    /// How long it had run.
    pub uptime_ns: u64,
}

/// The restart bookkeeping of one service.
#[derive(Debug, Clone)]
pub struct RestartTracker {
    policy: RestartPolicy,
    /// Quick failures in a row.
    quick_failures: u32,
    /// The next back-off.
    backoff: Duration,
    /// Restarts so far (every start after the first).
    pub restarts: u64,
}

impl RestartTracker {
    pub fn new(policy: RestartPolicy) -> Self {
        Self { policy, quick_failures: 0, backoff: policy.backoff_initial, restarts: 0 }
    }

    pub fn policy(&self) -> &RestartPolicy {
        &self.policy
    }

    /// The service exited at `now_ns`: back off, or hold it.
    pub fn on_exit(&mut self, now_ns: u64, exit: ExitSummary) -> ServiceState {
        if exit.uptime_ns >= self.policy.min_uptime.as_nanos() as u64 {
            // It had started properly: a fresh failure count and the shortest back-off.
            self.quick_failures = 0;
            self.backoff = self.policy.backoff_initial;
        }
        self.quick_failures += 1;
        if self.quick_failures > self.policy.max_restarts {
            return ServiceState::Held { last_exit: exit, restarts: self.quick_failures - 1 };
        }
        let wait = self.backoff;
        self.backoff = (self.backoff * 2).min(self.policy.backoff_max);
        ServiceState::BackingOff { until_ns: now_ns.saturating_add(wait.as_nanos() as u64), last_exit: exit }
    }

    /// A restart began.
    pub fn on_restart(&mut self) {
        self.restarts += 1;
    }

    /// The operator released a held service: it starts again with a fresh count.
    pub fn release(&mut self) {
        self.quick_failures = 0;
        self.backoff = self.policy.backoff_initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn quick() -> ExitSummary {
        ExitSummary { code: Some(1), signal: None, uptime_ns: MS }
    }

    #[test]
    fn quick_failures_back_off_doubling_then_hold() {
        let policy = RestartPolicy {
            min_uptime: Duration::from_secs(1),
            backoff_initial: Duration::from_millis(10),
            backoff_max: Duration::from_millis(40),
            max_restarts: 3,
        };
        let mut tracker = RestartTracker::new(policy);
        let waits: Vec<u64> = (0..3)
            .map(|_| match tracker.on_exit(0, quick()) {
                ServiceState::BackingOff { until_ns, .. } => until_ns / MS,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(waits, [10, 20, 40]);
        assert!(matches!(tracker.on_exit(0, quick()), ServiceState::Held { restarts: 3, .. }));
        tracker.release();
        assert!(
            matches!(tracker.on_exit(0, quick()), ServiceState::BackingOff { until_ns, .. } if until_ns == 10 * MS)
        );
    }

    #[test]
    fn a_run_past_min_uptime_resets_the_count_and_the_back_off() {
        let policy = RestartPolicy { max_restarts: 2, ..RestartPolicy::default() };
        let mut tracker = RestartTracker::new(policy);
        tracker.on_exit(0, quick());
        tracker.on_exit(0, quick());
        let long = ExitSummary { code: Some(0), signal: None, uptime_ns: 60_000 * MS };
        assert!(matches!(tracker.on_exit(0, long), ServiceState::BackingOff { until_ns, .. } if until_ns == 100 * MS));
        assert!(matches!(tracker.on_exit(0, quick()), ServiceState::BackingOff { .. }));
        assert!(matches!(tracker.on_exit(0, quick()), ServiceState::Held { .. }));
    }
}
