#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! The transport with real sockets on 127.0.0.1, on both back-ends: mutual TLS between a fleet's
//! nodes, and the peers it must refuse, including real `openssl s_client` ones.
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use qp_bridge_identity::{FleetCa, NodeCredentials, NodeId, Role, Validity};
use qp_bridge_transport::{
    Backoff, CloseReason, Limits, Session, TransportKind, io_uring_available, spawn_client, spawn_server,
};
use qp_node_key::FileKeySigner;

const DAY: Duration = Duration::from_secs(86_400);

/// The back-ends this machine can run (io_uring where the kernel allows it).
fn kinds() -> Vec<TransportKind> {
    let mut kinds = vec![TransportKind::Epoll];
    match io_uring_available() {
        Ok(()) => kinds.push(TransportKind::IoUring),
        Err(reason) => eprintln!("io_uring unavailable here ({reason}): testing epoll only"),
    }
    kinds
}

/// 64-byte messages, each its sequence number then padding.
const MESSAGE: usize = 64;

/// Sends `total` numbered messages, `batch` per transmit.
struct Sender {
    total: u64,
    sent: u64,
    batch: u64,
    peers: Arc<Mutex<Vec<String>>>,
}

impl Session for Sender {
    fn connected(&mut self, _: u64, peer: &NodeId) -> Result<(), CloseReason> {
        self.peers.lock().unwrap().push(peer.uri());
        Ok(())
    }
    fn receive(&mut self, _: u64, _: &[u8]) -> Result<(), CloseReason> {
        Ok(())
    }
    fn transmit(&mut self, _: u64, out: &mut Vec<u8>) -> Result<(), CloseReason> {
        let end = (self.sent + self.batch).min(self.total);
        for seq in self.sent..end {
            out.extend_from_slice(&seq.to_le_bytes());
            out.extend_from_slice(&[0xAB; MESSAGE - 8]);
        }
        self.sent = end;
        Ok(())
    }
    fn next_timer_ns(&self) -> Option<u64> {
        // More to send: come back at once.
        (self.sent < self.total).then_some(0)
    }
    fn disconnected(&mut self, _: &CloseReason) {}
}

/// Counts in-order messages; anything out of order is a protocol error.
#[derive(Default)]
struct Receiver {
    pending: Vec<u8>,
    next: u64,
    received: Arc<AtomicU64>,
    peers: Arc<Mutex<Vec<String>>>,
    reasons: Arc<Mutex<Vec<CloseReason>>>,
}

impl Session for Receiver {
    fn connected(&mut self, _: u64, peer: &NodeId) -> Result<(), CloseReason> {
        self.peers.lock().unwrap().push(peer.uri());
        Ok(())
    }
    fn receive(&mut self, _: u64, bytes: &[u8]) -> Result<(), CloseReason> {
        self.pending.extend_from_slice(bytes);
        let whole = self.pending.len() / MESSAGE * MESSAGE;
        for message in self.pending[..whole].chunks_exact(MESSAGE) {
            let seq = u64::from_le_bytes(message[..8].try_into().unwrap());
            if seq != self.next {
                return Err(CloseReason::Protocol(format!("message {seq}, expected {}", self.next)));
            }
            self.next += 1;
        }
        self.pending.drain(..whole);
        self.received.store(self.next, Ordering::SeqCst);
        Ok(())
    }
    fn transmit(&mut self, _: u64, _: &mut Vec<u8>) -> Result<(), CloseReason> {
        Ok(())
    }
    fn next_timer_ns(&self) -> Option<u64> {
        None
    }
    fn disconnected(&mut self, reason: &CloseReason) {
        self.reasons.lock().unwrap().push(reason.clone());
    }
}

struct Fleet {
    dir: tempfile::TempDir,
    ca: FleetCa,
}

impl Fleet {
    fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = FleetCa::init(&dir.path().join("ca"), name, 365 * DAY).unwrap();
        Self { dir, ca }
    }

    fn node(&self, role: Role, name: &str, validity: Validity) -> (NodeCredentials, PathBuf, PathBuf) {
        let out = self.dir.path().join("nodes");
        let (cert, key) = self.ca.issue_with_new_key(role, name, validity, &out).unwrap();
        let creds =
            NodeCredentials::new(cert.der, Arc::new(FileKeySigner::load(&key).unwrap()), self.ca.cert_der().to_vec())
                .unwrap();
        (creds, out.join(format!("{name}.pem")), key)
    }

    fn ca_pem(&self) -> PathBuf {
        self.dir.path().join("ca").join("ca.pem")
    }
}

fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

fn wait_until(what: &str, timeout: Duration, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

struct LocalNode {
    server: qp_bridge_transport::ServerHandle,
    received: Arc<AtomicU64>,
    peers: Arc<Mutex<Vec<String>>>,
    reasons: Arc<Mutex<Vec<CloseReason>>>,
}

fn local_node(kind: TransportKind, creds: &NodeCredentials, limits: Limits) -> LocalNode {
    let config = Arc::new(creds.server_config(Role::Cloud).unwrap());
    let received: Arc<AtomicU64> = Arc::default();
    let peers: Arc<Mutex<Vec<String>>> = Arc::default();
    let reasons: Arc<Mutex<Vec<CloseReason>>> = Arc::default();
    let (r, p, x) = (received.clone(), peers.clone(), reasons.clone());
    let server = spawn_server(kind, listener(), config, limits, move || Receiver {
        received: r.clone(),
        peers: p.clone(),
        reasons: x.clone(),
        ..Receiver::default()
    })
    .unwrap();
    LocalNode { server, received, peers, reasons }
}

#[test]
fn a_cloud_node_streams_to_a_local_node_over_mutual_tls_on_each_transport() {
    let fleet = Fleet::new("acme");
    let (local, _, _) = fleet.node(Role::Local, "vault-1", Validity::starting_now(DAY));
    let (cloud, _, _) = fleet.node(Role::Cloud, "swarm-1", Validity::starting_now(DAY));
    for kind in kinds() {
        let node = local_node(kind, &local, Limits::default());
        let peers = Arc::new(Mutex::new(Vec::new()));
        let sender = Sender { total: 100_000, sent: 0, batch: 1_000, peers: peers.clone() };
        let client = spawn_client(
            kind,
            node.server.addr,
            Arc::new(cloud.client_config(Role::Local).unwrap()),
            Limits::default(),
            Backoff::default(),
            sender,
        )
        .unwrap();
        wait_until("100,000 messages", Duration::from_secs(30), || node.received.load(Ordering::SeqCst) == 100_000);
        let sender = client.stop().unwrap();
        assert_eq!(sender.sent, 100_000, "{kind:?}");
        assert_eq!(*peers.lock().unwrap(), ["spiffe://acme/local/vault-1"], "{kind:?}");
        assert_eq!(*node.peers.lock().unwrap(), ["spiffe://acme/cloud/swarm-1"], "{kind:?}");
        node.server.stop();
    }
}

/// Runs `openssl s_client` against `addr` with `args`, sends a line, and answers its output.
fn s_client(addr: SocketAddr, args: &[&str]) -> String {
    let mut child = std::process::Command::new("openssl")
        .arg("s_client")
        .arg("-connect")
        .arg(addr.to_string())
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("openssl");
    // Keep stdin open a moment: a TLS 1.3 server judges the client's certificate after the
    // client thinks the handshake is done, and its verdict arrives then.
    std::thread::sleep(Duration::from_millis(300));
    {
        use std::io::Write;
        let _ = child.stdin.as_mut().unwrap().write_all(b"hello\n");
    }
    std::thread::sleep(Duration::from_millis(200));
    drop(child.stdin.take());
    let output = child.wait_with_output().unwrap();
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn openssl_s_client_is_refused_without_the_fleet_identity() {
    let fleet = Fleet::new("acme");
    let (local, _, _) = fleet.node(Role::Local, "vault-1", Validity::starting_now(DAY));
    let (_, good_cert, good_key) = fleet.node(Role::Cloud, "swarm-1", Validity::starting_now(DAY));
    let now = SystemTime::now();
    let (_, old_cert, old_key) =
        fleet.node(Role::Cloud, "swarm-old", Validity { not_before: now - 2 * DAY, not_after: now - DAY });
    let other = Fleet::new("acme");
    let (_, foreign_cert, foreign_key) = other.node(Role::Cloud, "swarm-1", Validity::starting_now(DAY));
    let (_, local_cert, local_key) = fleet.node(Role::Local, "vault-2", Validity::starting_now(DAY));
    for kind in kinds() {
        let node = local_node(kind, &local, Limits::default());
        let addr = node.server.addr;
        let ca = fleet.ca_pem();
        // Admitted means a session started for the connection.
        let sessions = || node.peers.lock().unwrap().len();
        // The control: a cloud node's certificate and key get in.
        let text = s_client(addr, &["-CAfile", path(&ca), "-cert", path(&good_cert), "-key", path(&good_key)]);
        assert_eq!(sessions(), 1, "{kind:?}: the fleet's cloud node was refused: {text}");
        assert!(text.contains("TLSv1.3"), "{text}");
        let cases: [(&str, Vec<&str>, &str); 5] = [
            ("no certificate", vec!["-CAfile", path(&ca)], "alert"),
            (
                "another CA's certificate",
                vec!["-CAfile", path(&ca), "-cert", path(&foreign_cert), "-key", path(&foreign_key)],
                "alert",
            ),
            (
                "an expired certificate",
                vec!["-CAfile", path(&ca), "-cert", path(&old_cert), "-key", path(&old_key)],
                "alert",
            ),
            (
                "a local node's certificate",
                vec!["-CAfile", path(&ca), "-cert", path(&local_cert), "-key", path(&local_key)],
                "alert",
            ),
            (
                "TLS 1.2 only",
                vec!["-tls1_2", "-CAfile", path(&ca), "-cert", path(&good_cert), "-key", path(&good_key)],
                "alert protocol version",
            ),
        ];
        for (what, args, says) in cases {
            let text = s_client(addr, &args);
            assert_eq!(sessions(), 1, "{kind:?}: {what} was admitted: {text}");
            assert!(text.contains(says), "{kind:?}: {what}: s_client does not say {says:?}: {text}");
        }
        // Only the control's connection reached a session.
        assert_eq!(*node.peers.lock().unwrap(), ["spiffe://acme/cloud/swarm-1"], "{kind:?}");
        node.server.stop();
    }
}

#[test]
fn a_silent_or_garbage_peer_is_disconnected_and_the_server_keeps_serving() {
    use std::io::{Read, Write};
    let fleet = Fleet::new("acme");
    let (local, _, _) = fleet.node(Role::Local, "vault-1", Validity::starting_now(DAY));
    let (cloud, _, _) = fleet.node(Role::Cloud, "swarm-1", Validity::starting_now(DAY));
    let limits = Limits { handshake_timeout: Duration::from_millis(300), ..Limits::default() };
    for kind in kinds() {
        let node = local_node(kind, &local, limits);
        // Silent: connects and says nothing; closed after the handshake deadline.
        let mut silent = TcpStream::connect(node.server.addr).unwrap();
        silent.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let started = Instant::now();
        let mut said = Vec::new();
        // read_to_end reads again when another test's child processes interrupt it (SIGCHLD).
        let _ = silent.read_to_end(&mut said);
        // At most the close's alert record (7 bytes), and only after the deadline.
        assert!(said.len() <= 7, "{kind:?}: the server said something to a silent peer: {said:?}");
        assert!(
            started.elapsed() >= Duration::from_millis(250),
            "{kind:?}: closed before the deadline: {:?} {:?}",
            started.elapsed(),
            node.reasons.lock().unwrap()
        );
        // Garbage: not TLS at all.
        let mut garbage = TcpStream::connect(node.server.addr).unwrap();
        garbage.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        garbage.write_all(&[0x5A; 4096]).unwrap();
        let mut rest = Vec::new();
        let _ = garbage.read_to_end(&mut rest);
        // A lying record length: a TLS header that promises 64 KiB, then nothing.
        let mut liar = TcpStream::connect(node.server.addr).unwrap();
        liar.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        liar.write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 0x01]).unwrap();
        let _ = liar.read_to_end(&mut rest);
        // The server still serves a real node.
        let peers = Arc::new(Mutex::new(Vec::new()));
        let client = spawn_client(
            kind,
            node.server.addr,
            Arc::new(cloud.client_config(Role::Local).unwrap()),
            Limits::default(),
            Backoff::default(),
            Sender { total: 1_000, sent: 0, batch: 100, peers },
        )
        .unwrap();
        wait_until("1,000 messages", Duration::from_secs(10), || node.received.load(Ordering::SeqCst) == 1_000);
        client.stop();
        let reasons = node.reasons.lock().unwrap().clone();
        assert!(reasons.iter().all(|r| !matches!(r, CloseReason::Protocol(_))), "{kind:?}: {reasons:?}");
        node.server.stop();
    }
}

#[test]
fn a_dialler_reconnects_after_the_server_comes_back() {
    let fleet = Fleet::new("acme");
    let (local, _, _) = fleet.node(Role::Local, "vault-1", Validity::starting_now(DAY));
    let (cloud, _, _) = fleet.node(Role::Cloud, "swarm-1", Validity::starting_now(DAY));
    for kind in kinds() {
        // Nothing listens yet: the dialler backs off and retries.
        let reserved = listener();
        let addr = reserved.local_addr().unwrap();
        drop(reserved);
        let peers = Arc::new(Mutex::new(Vec::new()));
        let client = spawn_client(
            kind,
            addr,
            Arc::new(cloud.client_config(Role::Local).unwrap()),
            Limits::default(),
            Backoff::new(Duration::from_millis(20), Duration::from_millis(200), 3),
            Sender { total: 10, sent: 0, batch: 10, peers: peers.clone() },
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let config = Arc::new(local.server_config(Role::Cloud).unwrap());
        let received = Arc::new(AtomicU64::new(0));
        let r = received.clone();
        let server = spawn_server(kind, TcpListener::bind(addr).unwrap(), config, Limits::default(), move || {
            Receiver { received: r.clone(), ..Receiver::default() }
        })
        .unwrap();
        wait_until("the dialler's messages", Duration::from_secs(10), || received.load(Ordering::SeqCst) == 10);
        assert_eq!(peers.lock().unwrap().len(), 1, "{kind:?}");
        client.stop();
        server.stop();
    }
}

/// A TCP relay that cuts each of the first `cuts` connections after a pseudo-random number of
/// bytes from the dialler (between 1 and `max_bytes`), then relays the rest whole.
fn cutting_relay(target: SocketAddr, cuts: u64, max_bytes: u64, seed: u64) -> (SocketAddr, Arc<AtomicU64>) {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let counter = done.clone();
    std::thread::spawn(move || {
        let mut random = qp_seeded_random::SplitMix64::new(seed);
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let Ok(server) = TcpStream::connect(target) else { continue };
            let cut_after =
                if counter.load(Ordering::SeqCst) < cuts { 1 + random.next_u64() % max_bytes } else { u64::MAX };
            let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut s_read, mut c_write) = (server, client);
            let counted = counter.clone();
            // Dialler → server: counted, cut at the chosen byte.
            let up = std::thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                let mut passed = 0u64;
                while let Ok(n) = c_read.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let take = (n as u64).min(cut_after - passed) as usize;
                    if s_write.write_all(&buf[..take]).is_err() {
                        break;
                    }
                    passed += take as u64;
                    if passed >= cut_after {
                        counted.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                }
                let _ = c_read.shutdown(std::net::Shutdown::Both);
                let _ = s_write.shutdown(std::net::Shutdown::Both);
            });
            // Server → dialler: relayed until either side goes.
            std::thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                while let Ok(n) = s_read.read(&mut buf) {
                    if n == 0 || c_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = s_read.shutdown(std::net::Shutdown::Both);
                let _ = c_write.shutdown(std::net::Shutdown::Both);
                let _ = up.join();
            });
        }
    });
    (addr, done)
}

#[test]
fn a_stream_of_100000_frames_survives_cut_connections_exactly_once_in_order() {
    use qp_bridge_proto::{ConnectionConfig, OutboundStream};
    use qp_bridge_transport::protocol_session::{CloudSession, LocalStreams};
    use qp_wire::{AssetId, FrameBuf, SentimentSignal};
    const FRAMES: u64 = 100_000;
    const CUTS: u64 = 20;
    let fleet = Fleet::new("acme");
    let (local, _, _) = fleet.node(Role::Local, "vault-1", Validity::starting_now(DAY));
    let (cloud, _, _) = fleet.node(Role::Cloud, "swarm-1", Validity::starting_now(DAY));
    let settings = ConnectionConfig::default().validate().unwrap();
    for kind in kinds() {
        let (streams, inbox) = LocalStreams::new(settings, 0x10ca1, 4_096, 8_192);
        let local_counters = streams.counters();
        let server = spawn_server(
            kind,
            listener(),
            Arc::new(local.server_config(Role::Cloud).unwrap()),
            Limits::default(),
            move || streams.session(),
        )
        .unwrap();
        // Cuts land anywhere in the first 200 KB of each connection: in the TLS handshake, in
        // the hellos, and mid-record in the data.
        let (relay, cut) = cutting_relay(server.addr, CUTS, 200_000, 42);
        let (session, mut feed) = CloudSession::new(settings, OutboundStream::new(0xc10d, 8_192).unwrap(), 4_096);
        let cloud_counters = session.counters();
        let client = spawn_client(
            kind,
            relay,
            Arc::new(cloud.client_config(Role::Local).unwrap()),
            Limits::default(),
            Backoff::new(Duration::from_millis(5), Duration::from_millis(50), 9),
            session,
        )
        .unwrap();
        feed.set_wake(client.waker());
        let mut received = 0u64;
        let mut next = 0u64;
        let started = Instant::now();
        while received < FRAMES {
            assert!(started.elapsed() < Duration::from_secs(120), "{kind:?}: {received} of {FRAMES} frames");
            while next < FRAMES {
                let signal = SentimentSignal::new(AssetId::from_wire(1), (next % 21) as i8 - 10, 9_000, next, 1);
                if feed.push(FrameBuf::encode(7, next, &signal)).is_err() {
                    break;
                }
                next += 1;
            }
            while let Ok(delivered) = inbox.try_recv() {
                assert_eq!(delivered.frame.header().sequence.get(), received, "{kind:?}: out of order or duplicated");
                assert_eq!(delivered.peer.uri(), "spiffe://acme/cloud/swarm-1");
                received += 1;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        assert_eq!(cut.load(Ordering::SeqCst), CUTS, "{kind:?}: every planned cut happened");
        assert!(
            cloud_counters.connections.load(Ordering::SeqCst) > CUTS / 2,
            "{kind:?}: connections {}",
            cloud_counters.connections.load(Ordering::SeqCst)
        );
        std::thread::sleep(Duration::from_millis(50));
        assert!(inbox.try_recv().is_err(), "{kind:?}: a frame beyond the stream");
        assert_eq!(local_counters.frames.load(Ordering::SeqCst), FRAMES);
        client.stop();
        server.stop();
    }
}

/// Sends without end and records why its connections ended.
struct Flood {
    reasons: Arc<Mutex<Vec<CloseReason>>>,
}

impl Session for Flood {
    fn connected(&mut self, _: u64, _: &NodeId) -> Result<(), CloseReason> {
        Ok(())
    }
    fn receive(&mut self, _: u64, _: &[u8]) -> Result<(), CloseReason> {
        Ok(())
    }
    fn transmit(&mut self, _: u64, out: &mut Vec<u8>) -> Result<(), CloseReason> {
        out.resize(out.len() + 64 * 1024, 0x42);
        Ok(())
    }
    fn next_timer_ns(&self) -> Option<u64> {
        Some(0)
    }
    fn disconnected(&mut self, reason: &CloseReason) {
        self.reasons.lock().unwrap().push(reason.clone());
    }
}

#[test]
fn a_peer_that_stops_reading_is_disconnected_at_the_write_deadline() {
    use std::io::{Read, Write};
    let fleet = Fleet::new("acme");
    let (local, _, _) = fleet.node(Role::Local, "vault-1", Validity::starting_now(DAY));
    let (cloud, _, _) = fleet.node(Role::Cloud, "swarm-1", Validity::starting_now(DAY));
    let config = Arc::new(local.server_config(Role::Cloud).unwrap());
    for kind in kinds() {
        // A local "node" that completes the handshake and then never reads again.
        let listener = listener();
        let addr = listener.local_addr().unwrap();
        let server_config = config.clone();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let sink = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut tls = rustls::ServerConnection::new(server_config).unwrap();
            while tls.is_handshaking() {
                if tls.wants_write() {
                    tls.write_tls(&mut socket).unwrap();
                    socket.flush().unwrap();
                } else {
                    tls.read_tls(&mut socket).unwrap();
                    tls.process_new_packets().unwrap();
                }
            }
            while tls.wants_write() {
                tls.write_tls(&mut socket).unwrap();
            }
            let _ = held.recv();
            let mut rest = Vec::new();
            let _ = socket.read_to_end(&mut rest);
        });
        let reasons = Arc::new(Mutex::new(Vec::new()));
        let limits = Limits { write_timeout: Duration::from_millis(300), ..Limits::default() };
        let client = spawn_client(
            kind,
            addr,
            Arc::new(cloud.client_config(Role::Local).unwrap()),
            limits,
            Backoff::new(Duration::from_secs(10), Duration::from_secs(10), 1),
            Flood { reasons: reasons.clone() },
        )
        .unwrap();
        wait_until("the write deadline", Duration::from_secs(20), || !reasons.lock().unwrap().is_empty());
        assert_eq!(reasons.lock().unwrap()[0], CloseReason::WriteStalled(Duration::from_millis(300)), "{kind:?}");
        client.stop();
        let _ = release.send(());
        sink.join().unwrap();
    }
}

#[test]
fn a_connection_ends_when_the_peers_certificate_expires_and_the_peer_cannot_come_back() {
    let fleet = Fleet::new("acme");
    let (local, _, _) = fleet.node(Role::Local, "vault-1", Validity::starting_now(DAY));
    let now = std::time::SystemTime::now();
    // A cloud certificate good for about two more seconds (an attested node's that is not renewed).
    let short = Validity { not_before: now - Duration::from_secs(60), not_after: now + Duration::from_secs(3) };
    let (cloud, _, _) = fleet.node(Role::Cloud, "swarm-1", short);
    let kind = TransportKind::Epoll;
    let node = local_node(kind, &local, Limits::default());
    let sender = Sender { total: 1, sent: 0, batch: 1, peers: Arc::new(Mutex::new(Vec::new())) };
    let client = spawn_client(
        kind,
        node.server.addr,
        Arc::new(cloud.client_config(Role::Local).unwrap()),
        Limits::default(),
        Backoff::new(Duration::from_millis(200), Duration::from_millis(200), 1),
        sender,
    )
    .unwrap();
    wait_until("the message", Duration::from_secs(10), || node.received.load(Ordering::SeqCst) == 1);
    wait_until("the expiry", Duration::from_secs(10), || {
        node.reasons.lock().unwrap().contains(&CloseReason::PeerCertificateExpired)
    });
    // The dialler keeps trying; each handshake is now refused, so it never connects again.
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(node.peers.lock().unwrap().len(), 1, "{:?}", node.reasons.lock().unwrap());
    client.stop();
    node.server.stop();
}
