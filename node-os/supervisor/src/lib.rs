//! The node's supervisor (issue 9), like hubris's `jefe`: it starts each service as a child
//! process, restarts one that exits after a back-off, holds one that keeps failing (and
//! reports it), and never blocks on a child: [`Supervisor::poll`] looks at every child without
//! waiting and answers what changed.
//!
//! The restart decisions are a pure state machine ([`policy`]); this module does the
//! processes. As PID 1 of the sealed image the same loop also reaps orphans and handles the
//! machine's signals (the image issue's work); as an ordinary process (tests, development) it
//! supervises its own children only.
#![forbid(unsafe_code)]

pub mod manifest;
pub mod policy;
pub mod watchdog;

use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub use manifest::{Manifest, ManifestError};
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
}

struct Service {
    spec: ServiceSpec,
    state: ServiceState,
    tracker: RestartTracker,
    child: Option<Child>,
}

/// The services and their children.
pub struct Supervisor {
    services: Vec<Service>,
    epoch: Instant,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let states: Vec<(&str, &ServiceState)> =
            self.services.iter().map(|s| (s.spec.name.as_str(), &s.state)).collect();
        f.debug_struct("Supervisor").field("services", &states).finish()
    }
}

impl Supervisor {
    pub fn new(specs: Vec<ServiceSpec>) -> Self {
        let services = specs
            .into_iter()
            .map(|spec| Service {
                tracker: RestartTracker::new(spec.policy),
                spec,
                state: ServiceState::Idle,
                child: None,
            })
            .collect();
        Self { services, epoch: Instant::now() }
    }

    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Each service's name and state.
    pub fn states(&self) -> impl Iterator<Item = (&str, &ServiceState)> {
        self.services.iter().map(|s| (s.spec.name.as_str(), &s.state))
    }

    /// Restarts so far of service `name`.
    pub fn restarts(&self, name: &str) -> Option<u64> {
        self.services.iter().find(|s| s.spec.name == name).map(|s| s.tracker.restarts)
    }

    /// One round, without blocking: reap children that exited, start what is due. Answers what
    /// happened, in order.
    pub fn poll(&mut self) -> Vec<ServiceEvent> {
        let now = self.now_ns();
        let mut events = Vec::new();
        for service in &mut self.services {
            // A running child that exited.
            if let (ServiceState::Running { since_ns, .. }, Some(child)) = (&service.state, &mut service.child) {
                let since_ns = *since_ns;
                match child.try_wait() {
                    Ok(Some(status)) => {
                        use std::os::unix::process::ExitStatusExt;
                        let exit =
                            ExitSummary { code: status.code(), signal: status.signal(), uptime_ns: now - since_ns };
                        service.child = None;
                        events.push(ServiceEvent::Exited { name: service.spec.name.clone(), exit });
                        service.state = service.tracker.on_exit(now, exit);
                        if let ServiceState::Held { restarts, .. } = service.state {
                            tracing::error!(service = %service.spec.name, restarts, "service held: it keeps failing");
                            events.push(ServiceEvent::Held { name: service.spec.name.clone(), restarts });
                        }
                    }
                    Ok(None) => {}
                    Err(err) => tracing::warn!(service = %service.spec.name, error = %err, "cannot check child"),
                }
            }
            // Due to start.
            let due = match &service.state {
                ServiceState::Idle => true,
                ServiceState::BackingOff { until_ns, .. } => now >= *until_ns,
                _ => false,
            };
            if !due {
                continue;
            }
            let restart = !matches!(service.state, ServiceState::Idle);
            match Command::new(&service.spec.program).args(&service.spec.args).spawn() {
                Ok(child) => {
                    if restart {
                        service.tracker.on_restart();
                    }
                    let pid = child.id();
                    service.child = Some(child);
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
    /// watchdog petted after each round that completed (a hung loop stops petting it). Answers
    /// the events of the whole run (for tests; a node logs them as they happen).
    pub fn run(
        &mut self,
        stop: &std::sync::atomic::AtomicBool,
        tick: Duration,
        mut watchdog: Option<&mut dyn Watchdog>,
    ) -> Vec<ServiceEvent> {
        let mut all = Vec::new();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            for event in self.poll() {
                tracing::info!(?event, "service");
                all.push(event);
            }
            if let Some(watchdog) = watchdog.as_deref_mut()
                && let Err(err) = watchdog.pet()
            {
                tracing::warn!(error = %err, "watchdog not petted");
            }
            std::thread::sleep(tick);
        }
        all
    }

    /// Stops every service: kills each child and reaps it (bounded by `grace` per child).
    pub fn shutdown(&mut self, grace: Duration) {
        for service in &mut self.services {
            if let Some(mut child) = service.child.take() {
                let _ = child.kill();
                let deadline = Instant::now() + grace;
                while Instant::now() < deadline {
                    if matches!(child.try_wait(), Ok(Some(_))) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            service.state = ServiceState::Stopped;
        }
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.shutdown(Duration::from_millis(200));
    }
}
