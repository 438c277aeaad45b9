#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! Services as real child processes: restarts with back-off, held after repeated quick
//! failures, a long-running service never blocks the supervisor's loop.
use std::time::{Duration, Instant};

use qp_supervisor::{RestartPolicy, ServiceEvent, ServiceSpec, ServiceState, Supervisor};

fn spec(name: &str, program: &str, args: &[&str], policy: RestartPolicy) -> ServiceSpec {
    ServiceSpec {
        name: name.to_owned(),
        program: program.into(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        policy,
    }
}

fn fast_policy(max_restarts: u32) -> RestartPolicy {
    RestartPolicy {
        min_uptime: Duration::from_secs(5),
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(80),
        max_restarts,
    }
}

/// Polls until `done` or the timeout; answers every event seen.
fn run_until(supervisor: &mut Supervisor, timeout: Duration, done: impl Fn(&Supervisor) -> bool) -> Vec<ServiceEvent> {
    let start = Instant::now();
    let mut events = Vec::new();
    while !done(supervisor) {
        assert!(start.elapsed() < timeout, "timed out: {supervisor:?} after {events:?}");
        events.extend(supervisor.poll());
        std::thread::sleep(Duration::from_millis(2));
    }
    events
}

#[test]
fn a_failing_service_is_restarted_with_back_off_then_held_and_the_others_keep_running() {
    let mut supervisor = Supervisor::new(vec![
        spec("crashes", "/bin/false", &[], fast_policy(3)),
        spec("steady", "/bin/sleep", &["30"], fast_policy(3)),
    ]);
    let started = Instant::now();
    let events = run_until(&mut supervisor, Duration::from_secs(20), |s| {
        s.states().any(|(name, state)| name == "crashes" && matches!(state, ServiceState::Held { .. }))
    });
    // Three restarts: back-offs of 20, 40 and 80 ms, so at least 140 ms.
    assert!(started.elapsed() >= Duration::from_millis(140), "{:?}", started.elapsed());
    assert_eq!(supervisor.restarts("crashes"), Some(3));
    let exits = events.iter().filter(|e| matches!(e, ServiceEvent::Exited { name, .. } if name == "crashes")).count();
    assert_eq!(exits, 4, "{events:?}");
    assert!(events.contains(&ServiceEvent::Held { name: "crashes".to_owned(), restarts: 3 }), "{events:?}");
    // The long-running one was started once and is still running: nothing waited on it.
    let steady = supervisor.states().find(|(name, _)| *name == "steady").unwrap().1.clone();
    assert!(matches!(steady, ServiceState::Running { .. }), "{steady:?}");
    assert_eq!(supervisor.restarts("steady"), Some(0));
    // Held: no more restarts, however long we poll.
    for _ in 0..50 {
        assert!(supervisor.poll().is_empty());
    }
    // Released by the operator: it starts again.
    assert!(supervisor.release("crashes"));
    let events = supervisor.poll();
    assert!(
        matches!(events.as_slice(), [ServiceEvent::Started { name, restart: 4, .. }] if name == "crashes"),
        "{events:?}"
    );
    supervisor.shutdown(Duration::from_secs(1));
    assert!(supervisor.states().all(|(_, state)| *state == ServiceState::Stopped));
}

#[test]
fn a_poll_never_blocks_on_a_child_and_a_missing_program_is_reported() {
    let mut supervisor = Supervisor::new(vec![
        spec("long", "/bin/sleep", &["30"], fast_policy(3)),
        spec("missing", "/nonexistent/qp-agent", &[], fast_policy(1)),
    ]);
    let start = Instant::now();
    let events = supervisor.poll();
    for _ in 0..100 {
        supervisor.poll();
    }
    assert!(start.elapsed() < Duration::from_secs(2), "polls waited on a child: {:?}", start.elapsed());
    assert!(matches!(&events[0], ServiceEvent::Started { name, .. } if name == "long"));
    assert!(
        matches!(&events[1], ServiceEvent::SpawnFailed { name, error } if name == "missing" && error.contains("No such file")),
        "{events:?}"
    );
    let events = run_until(&mut supervisor, Duration::from_secs(5), |s| {
        s.states().any(|(name, state)| name == "missing" && matches!(state, ServiceState::Held { .. }))
    });
    assert!(events.iter().any(|e| matches!(e, ServiceEvent::Held { name, .. } if name == "missing")), "{events:?}");
}

#[test]
fn the_manifest_gives_the_services_and_a_bad_one_is_one_line() {
    use qp_supervisor::Manifest;
    let text = "variant = \"local\"\n[[services]]\nname = \"bridge\"\nprogram = \"/usr/bin/qp-node\"\nargs = [\"run\", \"--role\", \"local\"]\nmax_restarts = 3\n";
    let manifest = Manifest::from_toml(text, "manifest.toml").unwrap();
    let services = manifest.services();
    assert_eq!(services.len(), 1);
    assert_eq!(services[0].args, ["run", "--role", "local"]);
    assert_eq!(services[0].policy.max_restarts, 3);
    assert_eq!(services[0].policy.min_uptime, Duration::from_secs(10), "the documented default");
    let cases = [
        (
            text.replace("\"local\"\n[[", "\"edge\"\n[["),
            "manifest manifest.toml: variant: must be \"local\" or \"cloud\"",
        ),
        (
            text.replace("/usr/bin/qp-node", "qp-node"),
            "manifest manifest.toml: services.bridge: program must be an absolute path (the image has no PATH)",
        ),
        (
            format!("{text}[[services]]\nname = \"bridge\"\nprogram = \"/bin/true\"\n"),
            "manifest manifest.toml: services.bridge: names must be present and unique",
        ),
    ];
    for (bad, expected) in cases {
        assert_eq!(Manifest::from_toml(&bad, "manifest.toml").unwrap_err().to_string(), expected);
    }
    let err =
        Manifest::from_toml(&text.replace("max_restarts", "max_restart"), "manifest.toml").unwrap_err().to_string();
    assert!(err.starts_with("manifest manifest.toml: line 6: ") && err.contains("max_restart"), "{err}");
}

/// Counts pets.
struct CountingWatchdog(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl qp_supervisor::Watchdog for CountingWatchdog {
    fn pet(&mut self) -> std::io::Result<()> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

#[test]
fn the_loop_pets_the_watchdog_each_round_and_stops_on_request() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let pets = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let stopper = stop.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        stopper.store(true, Ordering::SeqCst);
    });
    let mut supervisor = Supervisor::new(vec![spec("steady", "/bin/sleep", &["30"], fast_policy(3))]);
    let mut watchdog = CountingWatchdog(pets.clone());
    let mut rounds_seen = 0u64;
    let events = supervisor.run(&stop, Duration::from_millis(10), Some(&mut watchdog), |s| rounds_seen = s.rounds());
    assert!(matches!(events.as_slice(), [ServiceEvent::Started { name, .. }] if name == "steady"), "{events:?}");
    let petted = pets.load(Ordering::SeqCst);
    assert_eq!(rounds_seen, petted, "one status publication and one pet per round");
    assert!((5..=40).contains(&petted), "petted {petted} times in 300 ms at 10 ms a round");
    // A device file takes the pets (a temp file stands in for /dev/watchdog).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("watchdog");
    std::fs::write(&path, b"").unwrap();
    let mut device = qp_supervisor::DeviceWatchdog::open(&path).unwrap();
    qp_supervisor::Watchdog::pet(&mut device).unwrap();
    qp_supervisor::Watchdog::pet(&mut device).unwrap();
    assert_eq!(std::fs::read(&path).unwrap().len(), 2);
}

/// Refuses one program by name, measures the others.
struct RefuseNamed(&'static str);

impl qp_supervisor::StartGate for RefuseNamed {
    fn check(&mut self, spec: &ServiceSpec) -> Result<[u8; 32], String> {
        if spec.name == self.0 {
            return Err(format!("{}: read refused", spec.program.display()));
        }
        qp_supervisor::MeasureProgram.check(spec)
    }
}

#[test]
fn a_program_the_start_gate_refuses_never_runs_and_the_others_do() {
    let mut supervisor = Supervisor::new(vec![
        spec("tampered", "/bin/sleep", &["30"], fast_policy(3)),
        spec("steady", "/bin/sleep", &["30"], fast_policy(3)),
    ])
    .with_start_gate(Box::new(RefuseNamed("tampered")));
    let events = supervisor.poll();
    assert!(
        matches!(&events[..], [ServiceEvent::Refused { name, reason }, ServiceEvent::Started { name: steady, .. }]
            if name == "tampered" && reason.contains("read refused") && steady == "steady"),
        "{events:?}"
    );
    // Refused stays refused: no retry, no start.
    std::thread::sleep(Duration::from_millis(50));
    assert!(supervisor.poll().is_empty());
    let views: Vec<_> = supervisor.views().map(|v| (v.name.to_owned(), v.state.clone(), v.digest)).collect();
    assert!(matches!(&views[0].1, ServiceState::Refused { .. }) && views[0].2.is_none());
    // The steady service's measurement is its program's SHA-256.
    use sha2::Digest;
    let expected: [u8; 32] = sha2::Sha256::digest(std::fs::read("/bin/sleep").unwrap()).into();
    assert_eq!(views[1].2, Some(expected));
    supervisor.shutdown(Duration::from_secs(1));
    assert!(matches!(supervisor.states().next(), Some((_, ServiceState::Refused { .. }))));
}

#[test]
fn measure_program_refuses_what_it_cannot_read() {
    let mut gate = qp_supervisor::MeasureProgram;
    let missing = spec("gone", "/nonexistent/qp-service", &[], fast_policy(1));
    let err = qp_supervisor::StartGate::check(&mut gate, &missing).unwrap_err();
    assert!(err.starts_with("/nonexistent/qp-service: "), "{err}");
    // A directory opens but cannot be read: the read error is what dm-verity's EIO looks like.
    let dir = tempfile::tempdir().unwrap();
    let err =
        qp_supervisor::StartGate::check(&mut gate, &spec("dir", dir.path().to_str().unwrap(), &[], fast_policy(1)))
            .unwrap_err();
    assert!(err.contains("cannot be read whole") && err.contains("not verified"), "{err}");
}

#[test]
fn shutdown_asks_with_sigterm_before_it_kills() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("said-goodbye");
    let script = format!("trap 'echo bye > {}; exit 0' TERM; sleep 30 & wait", marker.display());
    let mut supervisor = Supervisor::new(vec![spec("polite", "/bin/sh", &["-c", &script], fast_policy(1))]);
    assert!(matches!(supervisor.poll()[..], [ServiceEvent::Started { .. }]));
    std::thread::sleep(Duration::from_millis(200)); // the shell has set its trap
    let start = Instant::now();
    supervisor.shutdown(Duration::from_secs(5));
    assert!(start.elapsed() < Duration::from_secs(4), "it left on SIGTERM, not at the deadline");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "bye\n");
}

/// Collects formatted log lines.
#[derive(Clone, Default)]
struct LogBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn captured_output_is_logged_as_the_services_lines_within_a_rate_limit() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    tracing::subscriber::with_default(subscriber, || {
        let mut supervisor = Supervisor::new(vec![
            spec("talker", "/bin/sh", &["-c", "echo hello; echo oops >&2; printf partial"], fast_policy(0)),
            spec("flood", "/bin/sh", &["-c", "seq 1 500"], fast_policy(0)),
        ])
        .with_output_capture(true);
        run_until(&mut supervisor, Duration::from_secs(10), |s| {
            s.states().all(|(_, state)| matches!(state, ServiceState::Held { .. }))
        });
    });
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    for expected in ["hello service=\"talker\"", "oops service=\"talker\"", "partial service=\"talker\""] {
        assert!(
            text.lines().any(|l| l.contains(expected.split(' ').next().unwrap()) && l.contains("talker")),
            "{expected}: {text}"
        );
    }
    let flood_lines = text.lines().filter(|l| l.contains("flood") && l.contains(" service:")).count();
    assert_eq!(flood_lines, 50, "{text}");
    assert!(text.contains("suppressed=450"), "{text}");
}
