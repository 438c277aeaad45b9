#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! PID 1's reaping: every exited child is collected, a service's exit goes to the service and
//! orphans are reaped and counted. Its own test binary: collecting every child of the process
//! would take other tests' children. The test process stands in for PID 1 by becoming a child
//! subreaper (orphans of its descendants come to it, as they come to PID 1).
use std::time::{Duration, Instant};

use qp_supervisor::{Reaping, RestartPolicy, ServiceEvent, ServiceSpec, Supervisor};

#[test]
fn pid1_reaps_orphans_and_still_sees_its_services_exit() {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid())).unwrap();
    let policy = RestartPolicy {
        min_uptime: Duration::from_secs(5),
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(80),
        max_restarts: 1,
    };
    // The service leaves two background children behind, then exits 3.
    let spec = ServiceSpec {
        name: "leaky".to_owned(),
        program: "/bin/sh".into(),
        args: vec!["-c".to_owned(), "sleep 0.1 & sleep 0.1 & exit 3".to_owned()],
        policy,
    };
    let mut supervisor = Supervisor::new(vec![spec]).with_reaping(Reaping::AllChildren);
    let start = Instant::now();
    let mut events = Vec::new();
    while supervisor.orphans_reaped() < 4 || !events.iter().any(|e| matches!(e, ServiceEvent::Held { .. })) {
        assert!(start.elapsed() < Duration::from_secs(10), "{events:?}, {} orphans", supervisor.orphans_reaped());
        events.extend(supervisor.poll());
        std::thread::sleep(Duration::from_millis(5));
    }
    let exits: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            ServiceEvent::Exited { exit, .. } => Some(exit.code),
            _ => None,
        })
        .collect();
    assert_eq!(exits, [Some(3), Some(3)], "each run's own exit, not an orphan's: {events:?}");
    assert_eq!(supervisor.orphans_reaped(), 4);
}
