#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! The management API end to end on 127.0.0.1: a fleet CA, a node, operators, real TLS. Who is
//! served and who is refused; peers that send garbage, too much or too slowly; the structured
//! log lines and their ring; the report's JSON.
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use qp_bridge_identity::{FleetCa, MANAGEMENT_ALPN, NodeCredentials, Role, Validity};
use qp_management::{
    LogRing, ManagementError, ManagementServer, Metrics, ServerLimits, ServiceRunState, ServiceStatus, StatusBoard,
    StatusReport, StructuredLayer, Versions, describe_exit, fetch_logs, fetch_status,
};
use qp_node_key::FileKeySigner;

const DAY: Duration = Duration::from_secs(86_400);

struct Fleet {
    dir: tempfile::TempDir,
    ca: FleetCa,
    node: NodeCredentials,
    cloud: NodeCredentials,
    alice: NodeCredentials,
}

impl Fleet {
    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }
}

fn issue(ca: &FleetCa, dir: &Path, role: Role, name: &str) -> NodeCredentials {
    let (cert, key) = ca.issue_with_new_key(role, name, Validity::starting_now(DAY), dir).unwrap();
    NodeCredentials::new(cert.der, Arc::new(FileKeySigner::load(&key).unwrap()), ca.cert_der().to_vec()).unwrap()
}

fn fleet() -> Fleet {
    let dir = tempfile::tempdir().unwrap();
    let ca = FleetCa::init(&dir.path().join("ca"), "acme", 365 * DAY).unwrap();
    let node = issue(&ca, dir.path(), Role::Local, "vault-1");
    let cloud = issue(&ca, dir.path(), Role::Cloud, "swarm-1");
    let alice = issue(&ca, dir.path(), Role::Operator, "alice");
    Fleet { dir, ca, node, cloud, alice }
}

fn sample_report() -> StatusReport {
    StatusReport {
        node_id: "spiffe://acme/local/vault-1".to_owned(),
        variant: "local".to_owned(),
        versions: Versions {
            qp_node: "0.1.0".to_owned(),
            image_build: "2026-11-30.1".to_owned(),
            kernel: "6.1.0-qp".to_owned(),
        },
        boot_ms: Some(1_840),
        uptime_s: 3_725,
        services: vec![
            ServiceStatus {
                name: "agents".to_owned(),
                state: ServiceRunState::Running,
                pid: Some(214),
                restarts: 1,
                last_exit: Some(describe_exit(Some(1), None, 300)),
                rss_kib: Some(48_000),
                detail: None,
            },
            ServiceStatus {
                name: "bridge".to_owned(),
                state: ServiceRunState::BackingOff,
                restarts: 3,
                last_exit: Some(describe_exit(None, Some(9), 1_200)),
                ..ServiceStatus::default()
            },
            ServiceStatus {
                name: "attest".to_owned(),
                state: ServiceRunState::Held,
                restarts: 5,
                detail: Some("held after 5 quick failures".to_owned()),
                ..ServiceStatus::default()
            },
        ],
        metrics: Metrics::sample(1_234, 617),
        ..StatusReport::default()
    }
}

struct Running {
    fleet: Fleet,
    server: ManagementServer,
    addr: String,
    board: Arc<StatusBoard>,
    ring: Arc<LogRing>,
}

fn serve_with(limits: ServerLimits) -> Running {
    let fleet = fleet();
    let board = Arc::new(StatusBoard::new(sample_report()));
    let ring = Arc::new(LogRing::new(64, 256));
    for i in 0..20 {
        ring.push(&format!("1700000000{i:03} INFO qp_supervisor: line {i}"));
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let config = Arc::new(fleet.node.management_server_config().unwrap());
    let server = ManagementServer::spawn_with_limits(listener, config, board.clone(), ring.clone(), limits).unwrap();
    let addr = server.local_addr().to_string();
    Running { fleet, server, addr, board, ring }
}

fn serve() -> Running {
    serve_with(ServerLimits::default())
}

fn operator_config(creds: &NodeCredentials) -> Arc<rustls::ClientConfig> {
    Arc::new(creds.management_client_config().unwrap())
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "waited too long for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn an_operator_reads_the_status_and_the_logs() {
    let r = serve();
    let report = fetch_status(&r.addr, operator_config(&r.fleet.alice)).unwrap();
    let mut expected = sample_report();
    expected.metrics = report.metrics.clone();
    expected.recent_logs = r.ring.last(50);
    assert_eq!(report, expected);
    assert_eq!(report.recent_logs.len(), 20);
    assert_eq!(report.recent_logs[19], "1700000000019 INFO qp_supervisor: line 19");
    assert_eq!(report.services[1].state, ServiceRunState::BackingOff);
    // A fresh report published is the next one served.
    r.board.publish(StatusReport { uptime_s: 9_999, ..sample_report() });
    assert_eq!(fetch_status(&r.addr, operator_config(&r.fleet.alice)).unwrap().uptime_s, 9_999);
    let logs = fetch_logs(&r.addr, operator_config(&r.fleet.alice), 3).unwrap();
    assert_eq!(logs, r.ring.last(3));
    assert_eq!(logs[2], "1700000000019 INFO qp_supervisor: line 19");
    // The cloud node serves its operators the same way.
    wait_for("three served", || r.server.counts().served == 3);
    let counts = r.server.counts();
    assert_eq!((counts.tls_refused, counts.bad_requests, counts.timed_out), (0, 0, 0));
}

/// A client that has no certificate to offer.
#[derive(Debug)]
struct NoClientCert;

impl rustls::client::ResolvesClientCert for NoClientCert {
    fn resolve(&self, _: &[&[u8]], _: &[rustls::SignatureScheme]) -> Option<Arc<rustls::sign::CertifiedKey>> {
        None
    }
    fn has_certs(&self) -> bool {
        false
    }
}

fn assert_tls_refused(result: Result<StatusReport, ManagementError>, what: &str) {
    match result {
        Err(ManagementError::Tls { .. }) => {}
        other => panic!("{what}: expected a TLS refusal, got {other:?}"),
    }
}

#[test]
fn only_operators_of_the_fleet_ca_over_tls_1_3_are_served() {
    let r = serve();
    // No client certificate.
    let mut anonymous = r.fleet.alice.management_client_config().unwrap();
    anonymous.client_auth_cert_resolver = Arc::new(NoClientCert);
    assert_tls_refused(fetch_status(&r.addr, Arc::new(anonymous)), "no certificate");
    // A node's certificate (cloud or local) instead of an operator's, on the management ALPN.
    let vault2 = issue(&r.fleet.ca, r.fleet.dir.path(), Role::Local, "vault-2");
    for node in [&r.fleet.cloud, &vault2] {
        let mut as_node = node.client_config(Role::Local).unwrap();
        as_node.alpn_protocols = vec![MANAGEMENT_ALPN.to_vec()];
        assert_tls_refused(fetch_status(&r.addr, Arc::new(as_node)), "a node's certificate");
    }
    // Another CA's operator (same fleet name, same operator name).
    let theirs_dir = tempfile::tempdir().unwrap();
    let theirs = FleetCa::init(&theirs_dir.path().join("ca"), "acme", DAY).unwrap();
    let (cert, key) =
        theirs.issue_with_new_key(Role::Operator, "alice", Validity::starting_now(DAY), theirs_dir.path()).unwrap();
    let intruder =
        NodeCredentials::new(cert.der, Arc::new(FileKeySigner::load(&key).unwrap()), r.fleet.ca.cert_der().to_vec())
            .unwrap();
    assert_tls_refused(fetch_status(&r.addr, operator_config(&intruder)), "another CA's operator");
    wait_for("four refusals counted", || r.server.counts().tls_refused == 4);
    // The server goes on serving.
    fetch_status(&r.addr, operator_config(&r.fleet.alice)).unwrap();
}

#[test]
fn an_operator_refuses_a_server_that_is_not_a_management_api_of_its_fleet() {
    let ours = fleet();
    let other = fleet(); // another CA
    let board = Arc::new(StatusBoard::default());
    let ring = Arc::new(LogRing::new(8, 128));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let config = Arc::new(other.node.management_server_config().unwrap());
    let server = ManagementServer::spawn(listener, config, board.clone(), ring.clone()).unwrap();
    let err = fetch_status(&server.local_addr().to_string(), operator_config(&ours.alice)).unwrap_err();
    assert!(
        matches!(err, ManagementError::Tls { source: rustls::Error::InvalidCertificate(_), .. }),
        "another CA's node: {err}"
    );
    server.stop();
    // One of our nodes, but with no ALPN agreed: not the management API.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = ours.node.management_server_config().unwrap();
    config.alpn_protocols.clear();
    let server = ManagementServer::spawn(listener, Arc::new(config), board, ring).unwrap();
    let addr = server.local_addr().to_string();
    let err = fetch_status(&addr, operator_config(&ours.alice)).unwrap_err();
    assert!(matches!(err, ManagementError::NotManagement { .. }), "{err}");
    assert!(err.to_string().starts_with(&addr), "errors name the address: {err}");
    // Nothing listens: the error names the address.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let err = fetch_status(&closed, operator_config(&ours.alice)).unwrap_err();
    assert!(matches!(err, ManagementError::Connect { .. }), "{err}");
    assert!(err.to_string().starts_with(&format!("{closed}: cannot connect")), "{err}");
}

/// A TLS connection as the operator, handshake done.
fn tls_session(addr: &str, config: Arc<rustls::ClientConfig>) -> (rustls::ClientConnection, TcpStream) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut conn = rustls::ClientConnection::new(config, name).unwrap();
    while conn.is_handshaking() {
        conn.complete_io(&mut stream).unwrap();
    }
    (conn, stream)
}

/// Sends `request` and reads what comes back until the server closes.
fn exchange(addr: &str, config: Arc<rustls::ClientConfig>, request: &[u8]) -> String {
    let (mut conn, mut stream) = tls_session(addr, config);
    let mut tls = rustls::Stream::new(&mut conn, &mut stream);
    tls.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn bad_requests_are_answered_and_closed_and_the_server_goes_on() {
    let r = serve();
    let alice = || operator_config(&r.fleet.alice);
    let cases: [(&[u8], &str); 5] = [
        (b"HELLO\r\n\r\n", "HTTP/1.1 400 Bad Request"),
        (b"POST /status HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 405 Method Not Allowed"),
        (b"GET /reboot HTTP/1.1\r\n\r\n", "HTTP/1.1 404 Not Found"),
        (b"GET /logs?n=100000 HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request"),
        (b"\x00\x01\x02\xff\r\n\r\n", "HTTP/1.1 400 Bad Request"),
    ];
    for (request, status) in cases {
        let answer = exchange(&r.addr, alice(), request);
        assert!(answer.starts_with(status), "{:?}: {answer}", String::from_utf8_lossy(request));
        assert!(answer.contains("Connection: close"), "{answer}");
    }
    // Oversized: a head that never ends within 4 KiB.
    let mut big = b"GET /status HTTP/1.1\r\n".to_vec();
    while big.len() < 6 * 1024 {
        big.extend_from_slice(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    let answer = exchange(&r.addr, alice(), &big);
    assert!(answer.starts_with("HTTP/1.1 400") && answer.contains("too large"), "{answer}");
    // curl's request reads as any other.
    let answer =
        exchange(&r.addr, alice(), b"GET /logs?n=2 HTTP/1.1\r\nHost: n\r\nUser-Agent: curl/8\r\nAccept: */*\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 200 OK") && answer.ends_with("line 19\n"), "{answer}");
    wait_for("bad requests counted", || r.server.counts().bad_requests == 6);
    fetch_status(&r.addr, alice()).unwrap();
}

#[test]
fn garbage_instead_of_tls_is_closed_and_the_server_goes_on() {
    let r = serve();
    for garbage in
        [&b"GET /status HTTP/1.1\r\n\r\n"[..], &[0u8; 3000][..], &[0x16, 0x03, 0x01, 0xff, 0xff, 1, 2, 3][..]]
    {
        let mut stream = TcpStream::connect(&r.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.write_all(garbage).unwrap();
        let started = Instant::now();
        let mut sink = Vec::new();
        // An alert perhaps, then the close (or a reset).
        let _ = stream.read_to_end(&mut sink);
        assert!(started.elapsed() < Duration::from_secs(4), "closed promptly");
        assert!(!String::from_utf8_lossy(&sink).contains("HTTP/1.1"), "no HTTP without TLS");
    }
    wait_for("refusals counted", || r.server.counts().tls_refused + r.server.counts().timed_out == 3);
    fetch_status(&r.addr, operator_config(&r.fleet.alice)).unwrap();
}

#[test]
fn a_slow_client_is_cut_off_while_others_are_served() {
    let r = serve_with(ServerLimits { handshake_timeout: Duration::from_millis(800), ..ServerLimits::default() });
    // Slowloris after the handshake: a header byte every 200 ms, never the end of the head.
    let (mut conn, mut stream) = tls_session(&r.addr, operator_config(&r.fleet.alice));
    rustls::Stream::new(&mut conn, &mut stream).write_all(b"GET /status HTTP/1.1\r\nX-Slow: ").unwrap();
    // And one that connects and never says a word (no handshake).
    let mut silent = TcpStream::connect(&r.addr).unwrap();
    silent.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = Instant::now();
    let mut served_meanwhile = 0;
    let cut_after = loop {
        if rustls::Stream::new(&mut conn, &mut stream).write_all(b"a").is_err() {
            break started.elapsed();
        }
        if started.elapsed() < Duration::from_millis(1_500) {
            // Others are served all the while.
            fetch_status(&r.addr, operator_config(&r.fleet.alice)).unwrap();
            served_meanwhile += 1;
        }
        if r.server.counts().timed_out >= 2 && started.elapsed() > Duration::from_secs(3) {
            break started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(8), "the slow client was never cut off");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(served_meanwhile >= 2, "{served_meanwhile}");
    assert!(cut_after >= Duration::from_millis(1_500), "the request deadline is 2 s: {cut_after:?}");
    let mut sink = Vec::new();
    assert_eq!(silent.read_to_end(&mut sink).unwrap_or(0), 0, "the silent one is closed without a word");
    wait_for("both timed out", || r.server.counts().timed_out == 2);
    fetch_status(&r.addr, operator_config(&r.fleet.alice)).unwrap();
}

#[test]
fn connections_beyond_the_limit_are_closed_at_once_and_stop_does_not_wait_for_idlers() {
    let r = serve_with(ServerLimits { max_connections: 2, ..ServerLimits::default() });
    // Two idle connections hold both places (their handshake deadline is 5 s).
    let idle: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(&r.addr).unwrap()).collect();
    wait_for("two accepted", || r.server.counts().accepted == 2);
    let err = fetch_status(&r.addr, operator_config(&r.fleet.alice)).unwrap_err();
    assert!(!matches!(err, ManagementError::Connect { .. }), "accepted, then closed: {err}");
    wait_for("one busy", || r.server.counts().busy == 1);
    let started = Instant::now();
    r.server.stop();
    assert!(started.elapsed() < Duration::from_secs(2), "stop closed the idlers: {:?}", started.elapsed());
    drop(idle);
}

/// `openssl s_client` as an operator would use it; answers its standard output.
fn s_client(r: &Running, extra: &[&str]) -> String {
    let mut args = vec![
        "s_client".to_owned(),
        "-connect".to_owned(),
        r.addr.clone(),
        "-CAfile".to_owned(),
        r.fleet.path("ca/ca.pem").display().to_string(),
        "-alpn".to_owned(),
        "qp-mgmt/1".to_owned(),
        "-quiet".to_owned(),
    ];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let mut child = std::process::Command::new("/usr/bin/openssl")
        .args(&args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"GET /status HTTP/1.1\r\nHost: node\r\n\r\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut out = String::new();
    let _ = child.stdout.take().unwrap().read_to_string(&mut out);
    let _ = child.wait();
    out
}

#[test]
fn openssl_s_client_with_the_operator_certificate_is_served_and_without_it_or_over_tls_1_2_is_not() {
    let r = serve();
    let cert = r.fleet.path("alice.pem").display().to_string();
    let key = r.fleet.path("alice.key").display().to_string();
    let served = s_client(&r, &["-cert", &cert, "-key", &key]);
    assert!(
        served.starts_with("HTTP/1.1 200 OK") && served.contains("\"node_id\":\"spiffe://acme/local/vault-1\""),
        "{served}"
    );
    let anonymous = s_client(&r, &[]);
    assert!(!anonymous.contains("HTTP/1.1"), "{anonymous}");
    let old = s_client(&r, &["-cert", &cert, "-key", &key, "-tls1_2"]);
    assert!(!old.contains("HTTP/1.1"), "{old}");
    // A node's certificate through openssl: refused too.
    let node_cert = r.fleet.path("swarm-1.pem").display().to_string();
    let node_key = r.fleet.path("swarm-1.key").display().to_string();
    let as_node = s_client(&r, &["-cert", &node_cert, "-key", &node_key]);
    assert!(!as_node.contains("HTTP/1.1"), "{as_node}");
    wait_for("three refusals", || r.server.counts().tls_refused == 3);
    assert_eq!(r.server.counts().served, 1);
}

/// A console that tests can read.
#[derive(Clone, Default)]
struct Console(Arc<Mutex<Vec<u8>>>);

impl Write for Console {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Console {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// The line without its leading timestamp (checked to be one).
fn untimed(line: &str) -> &str {
    let (ts, rest) = line.split_once(' ').unwrap();
    assert!(ts.len() >= 13 && ts.bytes().all(|b| b.is_ascii_digit()), "{line}");
    rest
}

#[test]
fn each_event_is_one_structured_line_on_the_console_and_in_the_ring() {
    use tracing_subscriber::layer::SubscriberExt;
    let ring = Arc::new(LogRing::new(16, 120));
    let console = Console::default();
    let subscriber =
        tracing_subscriber::registry().with(StructuredLayer::new(ring.clone(), Some(Box::new(console.clone()))));
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(service = "bridge", pid = 42u32, "service started");
        tracing::warn!(reason = "exit 1 after 0.3 s", empty = "", "service exited\nand said so");
        tracing::error!(target: "qp_supervisor", detail = ?Some("x=y"), "held");
        tracing::info!(blob = %"z".repeat(300), "long");
    });
    let lines = ring.last(10);
    assert_eq!(lines.len(), 4);
    assert_eq!(untimed(&lines[0]), "INFO management: service started service=bridge pid=42");
    assert_eq!(
        untimed(&lines[1]),
        r#"WARN management: service exited\nand said so reason="exit 1 after 0.3 s" empty="""#
    );
    assert_eq!(untimed(&lines[2]), r#"ERROR qp_supervisor: held detail="Some(\"x=y\")""#);
    assert!(lines[3].len() <= 120 && lines[3].ends_with("zzz..."), "{}", lines[3]);
    // The console got the same lines, one each.
    let console_lines: Vec<String> = console.text().lines().map(str::to_owned).collect();
    assert_eq!(console_lines, lines);
}

#[test]
fn install_sets_the_global_subscriber_once_and_refuses_a_bad_filter() {
    let ring = Arc::new(LogRing::new(32, 256));
    let console = Console::default();
    let err = qp_management::install(ring.clone(), Box::new(console.clone()), "info,[").unwrap_err();
    assert!(matches!(err, ManagementError::LogFilter { .. }), "{err}");
    qp_management::install(ring.clone(), Box::new(console.clone()), "info,management=debug").unwrap();
    let again = qp_management::install(ring.clone(), Box::new(Console::default()), "info").unwrap_err();
    assert!(matches!(again, ManagementError::LogInstall(_)), "{again}");
    tracing::debug!(check = 1u8, "installed");
    tracing::trace!("filtered out");
    let mine: Vec<String> = ring.last(32).into_iter().filter(|l| l.contains("installed")).collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(untimed(&mine[0]), "DEBUG management: installed check=1");
    assert!(console.text().contains("DEBUG management: installed check=1\n"));
    assert!(!ring.last(32).iter().any(|l| l.contains("filtered out")));
}

#[test]
fn the_ring_is_bounded_keeps_order_and_caps_lines() {
    let ring = LogRing::new(4, 32);
    for i in 0..10 {
        ring.push(&format!("line {i}"));
    }
    assert_eq!((ring.len(), ring.capacity(), ring.pushed()), (4, 4, 10));
    assert_eq!(ring.last(100), ["line 6", "line 7", "line 8", "line 9"]);
    assert_eq!(ring.last(2), ["line 8", "line 9"]);
    ring.push(&"x".repeat(1000));
    ring.push("two\nlines");
    let last = ring.last(2);
    assert_eq!(last[0].len(), 32);
    assert!(last[0].ends_with("..."));
    assert_eq!(last[1], "two lines");
    // From many threads at once: still bounded, every line whole.
    let ring = Arc::new(LogRing::new(50, 64));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let ring = ring.clone();
            std::thread::spawn(move || {
                for i in 0..1000 {
                    ring.push(&format!("thread {t} line {i}"));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!((ring.len(), ring.pushed()), (50, 4000));
    assert!(ring.last(50).iter().all(|l| l.starts_with("thread ")));
}

#[test]
fn the_status_report_round_trips_through_json() {
    let mut report = sample_report();
    report.recent_logs = vec!["1 INFO x: a".to_owned(), "2 WARN y: b k=\"v w\"".to_owned()];
    for state in [ServiceRunState::Idle, ServiceRunState::Stopped, ServiceRunState::Refused] {
        report.services.push(ServiceStatus { name: state.to_string(), state, ..ServiceStatus::default() });
    }
    let json = serde_json::to_string_pretty(&report).unwrap();
    assert!(json.contains(r#""state": "backing-off""#), "{json}");
    let back: StatusReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
}
