//! `qpctl bench bridge`: what one mutual-TLS connection on 127.0.0.1 carries, per back-end.
//!
//! - **throughput**: 64-byte frames, as many as the session can batch per write, from a cloud
//!   node's dialler to a local node's server; frames per second over the whole run.
//! - **one-way latency** at a fixed rate (10,000 frames/s by default): each frame carries the
//!   monotonic time it was handed to the transport; the receiver takes its arrival time off the
//!   same clock (one process, two threads).
//! - **handshake**: full TLS 1.3 mutual authentication (ECDHE, both certificates verified against
//!   the fleet CA, both signatures), connect to `connected` on the dialler, one after another.
//!
//! The frames go through `qp-bridge-proto`'s records when a session of it is plugged in; here
//! they are the transport's own minimal framing (a sequence number and a timestamp), so the
//! figures are the transport's and TLS's.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use qp_bridge_identity::{FleetCa, NodeCredentials, NodeId, Role, Validity};
use qp_runtime::clock::monotonic_ns;
use qp_runtime::{LatencyHistogram, Percentiles};
use serde::Serialize;

use crate::{Backoff, CloseReason, Limits, Session, TransportKind, spawn_client, spawn_server};

/// Bytes per bench frame.
pub const FRAME_BYTES: usize = 64;

/// Why the bench could not run.
#[derive(Debug, thiserror::Error)]
pub enum BridgeBenchError {
    #[error("credentials: {0}")]
    Identity(#[from] qp_bridge_identity::IdentityError),
    #[error(transparent)]
    Transport(#[from] crate::TransportError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Stalled(String),
}

/// One back-end's figures.
#[derive(Debug, Clone, Serialize)]
pub struct BridgeBenchReport {
    pub transport: &'static str,
    pub frame_bytes: usize,
    pub frames: u64,
    pub frames_per_s: f64,
    pub latency_rate_per_s: u64,
    pub one_way_p50_ns: u64,
    pub one_way_p99_ns: u64,
    pub one_way_p999_ns: u64,
    pub one_way: Percentiles,
    pub handshakes: u64,
    pub handshake_p50_ns: u64,
    pub handshake_p99_ns: u64,
    pub handshake_p999_ns: u64,
    /// The same through the bridge protocol (`qp-bridge-proto`: records, credit,
    /// acknowledgements, resume buffer) with real signal frames (a `SentimentSignal`, 96 bytes),
    /// from the application's queue on the cloud node to the local node's channel.
    pub protocol: ProtocolBenchReport,
}

/// The bridge protocol's figures (see [`BridgeBenchReport::protocol`]).
#[derive(Debug, Clone, Serialize)]
pub struct ProtocolBenchReport {
    pub frame_bytes: usize,
    pub frames: u64,
    pub frames_per_s: f64,
    pub one_way_p50_ns: u64,
    pub one_way_p99_ns: u64,
    pub one_way_p999_ns: u64,
}

/// A fleet of two made for the run, in a temporary directory.
struct BenchFleet {
    _dir: TempDir,
    local: NodeCredentials,
    cloud: NodeCredentials,
}

/// A directory removed when dropped (the bench makes its keys fresh each run).
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn bench_fleet() -> Result<BenchFleet, BridgeBenchError> {
    let dir = std::env::temp_dir().join(format!("qp-bridge-bench-{}-{}", std::process::id(), monotonic_ns()));
    let dir = TempDir(dir);
    let ca = FleetCa::init(&dir.0.join("ca"), "bench", Duration::from_secs(86_400))?;
    let node = |role, name: &str| -> Result<NodeCredentials, BridgeBenchError> {
        let validity = Validity::starting_now(Duration::from_secs(3_600));
        let (cert, key) = ca.issue_with_new_key(role, name, validity, &dir.0.join("nodes"))?;
        let signer = qp_node_key::FileKeySigner::load(&key)
            .map_err(|e| qp_bridge_identity::IdentityError::Crypto(e.to_string()))?;
        Ok(NodeCredentials::new(cert.der, Arc::new(signer), ca.cert_der().to_vec())?)
    };
    let local = node(Role::Local, "bench-local")?;
    let cloud = node(Role::Cloud, "bench-cloud")?;
    Ok(BenchFleet { _dir: dir, local, cloud })
}

/// Sends `total` frames: all at once in batches (`interval_ns` 0) or one every `interval_ns`.
struct PacedSender {
    total: u64,
    sent: u64,
    batch: u64,
    interval_ns: u64,
    start_ns: u64,
    connected: Arc<AtomicU64>,
}

impl Session for PacedSender {
    fn connected(&mut self, now_ns: u64, _: &NodeId) -> Result<(), CloseReason> {
        self.start_ns = now_ns;
        self.connected.store(now_ns, Ordering::SeqCst);
        Ok(())
    }
    fn receive(&mut self, _: u64, _: &[u8]) -> Result<(), CloseReason> {
        Ok(())
    }
    fn transmit(&mut self, now_ns: u64, out: &mut Vec<u8>) -> Result<(), CloseReason> {
        // Paced: one frame per interval since the connection; unpaced: everything.
        let due = match now_ns.saturating_sub(self.start_ns).checked_div(self.interval_ns) {
            Some(intervals) => (intervals + 1).min(self.total),
            None => self.total,
        };
        let end = due.min(self.sent + self.batch);
        for seq in self.sent..end {
            out.extend_from_slice(&seq.to_le_bytes());
            out.extend_from_slice(&monotonic_ns().to_le_bytes());
            out.extend_from_slice(&[0u8; FRAME_BYTES - 16]);
        }
        self.sent = end;
        Ok(())
    }
    fn next_timer_ns(&self) -> Option<u64> {
        if self.sent >= self.total {
            None
        } else if self.interval_ns == 0 {
            Some(0)
        } else {
            Some(self.start_ns + self.sent * self.interval_ns)
        }
    }
    fn disconnected(&mut self, _: &CloseReason) {}
}

/// Counts frames and records each one's one-way latency.
struct TimingReceiver {
    pending: Vec<u8>,
    received: Arc<AtomicU64>,
    histogram: Arc<Mutex<LatencyHistogram>>,
}

impl Session for TimingReceiver {
    fn connected(&mut self, _: u64, _: &NodeId) -> Result<(), CloseReason> {
        Ok(())
    }
    fn receive(&mut self, now_ns: u64, bytes: &[u8]) -> Result<(), CloseReason> {
        self.pending.extend_from_slice(bytes);
        let whole = self.pending.len() / FRAME_BYTES * FRAME_BYTES;
        let mut count = 0;
        // One lock per read, not per frame.
        if let Ok(mut histogram) = self.histogram.lock() {
            for frame in self.pending[..whole].chunks_exact(FRAME_BYTES) {
                let mut stamp = [0u8; 8];
                stamp.copy_from_slice(&frame[8..16]);
                histogram.record(now_ns.saturating_sub(u64::from_le_bytes(stamp)));
                count += 1;
            }
        }
        self.pending.drain(..whole);
        self.received.fetch_add(count, Ordering::SeqCst);
        Ok(())
    }
    fn transmit(&mut self, _: u64, _: &mut Vec<u8>) -> Result<(), CloseReason> {
        Ok(())
    }
    fn next_timer_ns(&self) -> Option<u64> {
        None
    }
    fn disconnected(&mut self, _: &CloseReason) {}
}

/// One run: `total` frames, every `interval_ns` (0: as fast as they go). Answers the elapsed
/// time from the dialler's `connected` to the last frame's arrival, and the latencies.
fn stream(
    kind: TransportKind,
    fleet: &BenchFleet,
    total: u64,
    interval_ns: u64,
) -> Result<(Duration, LatencyHistogram), BridgeBenchError> {
    let received = Arc::new(AtomicU64::new(0));
    let histogram = Arc::new(Mutex::new(LatencyHistogram::new()));
    let (r, h) = (received.clone(), histogram.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let server = spawn_server(
        kind,
        listener,
        Arc::new(fleet.local.server_config(Role::Cloud)?),
        Limits::default(),
        move || TimingReceiver { pending: Vec::new(), received: r.clone(), histogram: h.clone() },
    )?;
    let connected = Arc::new(AtomicU64::new(0));
    let sender = PacedSender { total, sent: 0, batch: 1_024, interval_ns, start_ns: 0, connected: connected.clone() };
    let client = spawn_client(
        kind,
        server.addr,
        Arc::new(fleet.cloud.client_config(Role::Local)?),
        Limits::default(),
        Backoff::default(),
        sender,
    )?;
    let limit = Instant::now() + Duration::from_secs(60) + Duration::from_nanos(total.saturating_mul(interval_ns));
    while received.load(Ordering::SeqCst) < total {
        if Instant::now() > limit {
            client.stop();
            server.stop();
            return Err(BridgeBenchError::Stalled(format!(
                "{}: {} of {total} frames arrived",
                kind.name(),
                received.load(Ordering::SeqCst)
            )));
        }
        std::thread::yield_now();
    }
    let done = monotonic_ns();
    let elapsed = Duration::from_nanos(done.saturating_sub(connected.load(Ordering::SeqCst)));
    client.stop();
    server.stop();
    let histogram = histogram.lock().map(|h| h.clone()).unwrap_or_else(|_| LatencyHistogram::new());
    Ok((elapsed, histogram))
}

/// Session for the handshake bench: records when the handshake completed.
struct HandshakeProbe {
    connected: Arc<AtomicU64>,
}

impl Session for HandshakeProbe {
    fn connected(&mut self, now_ns: u64, _: &NodeId) -> Result<(), CloseReason> {
        self.connected.store(now_ns, Ordering::SeqCst);
        Ok(())
    }
    fn receive(&mut self, _: u64, _: &[u8]) -> Result<(), CloseReason> {
        Ok(())
    }
    fn transmit(&mut self, _: u64, _: &mut Vec<u8>) -> Result<(), CloseReason> {
        Ok(())
    }
    fn next_timer_ns(&self) -> Option<u64> {
        None
    }
    fn disconnected(&mut self, _: &CloseReason) {}
}

fn handshakes(kind: TransportKind, fleet: &BenchFleet, count: u64) -> Result<LatencyHistogram, BridgeBenchError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let server =
        spawn_server(kind, listener, Arc::new(fleet.local.server_config(Role::Cloud)?), Limits::default(), || {
            HandshakeProbe { connected: Arc::default() }
        })?;
    let config = Arc::new(fleet.cloud.client_config(Role::Local)?);
    let mut histogram = LatencyHistogram::new();
    for _ in 0..count {
        let connected = Arc::new(AtomicU64::new(0));
        let start = monotonic_ns();
        let client = spawn_client(
            kind,
            server.addr,
            config.clone(),
            Limits::default(),
            Backoff::default(),
            HandshakeProbe { connected: connected.clone() },
        )?;
        let limit = Instant::now() + Duration::from_secs(10);
        while connected.load(Ordering::SeqCst) == 0 {
            if Instant::now() > limit {
                client.stop();
                return Err(BridgeBenchError::Stalled(format!("{}: a handshake took over 10 s", kind.name())));
            }
            std::thread::yield_now();
        }
        // From the dial (thread start included, as a reconnect pays it too) to `connected`.
        histogram.record(connected.load(Ordering::SeqCst).saturating_sub(start));
        client.stop();
    }
    server.stop();
    Ok(histogram)
}

/// The bench's local node: records each frame's one-way latency where it arrives, on the
/// bridge's server thread (as a local node's loop feeder takes them there).
struct LatencySink {
    received: Arc<AtomicU64>,
    histogram: Arc<Mutex<LatencyHistogram>>,
}

impl crate::protocol_session::FrameSink for LatencySink {
    fn deliver(&mut self, _peer: &Arc<NodeId>, frame: &qp_wire::FrameBuf) -> bool {
        if let (Some(sent), Ok(mut histogram)) = (frame.header().stamp(qp_wire::Stage::Ingest), self.histogram.lock()) {
            histogram.record(monotonic_ns().saturating_sub(sent));
        }
        self.received.fetch_add(1, Ordering::Release);
        true
    }
}

/// Signal frames through the bridge protocol: `total` of them, every `interval_ns` (0: as fast
/// as credit allows), pushed by the application on this thread into the cloud node's queue and
/// taken by the local node on its bridge thread. Answers the elapsed time (first push to last
/// arrival) and the one-way latencies.
fn protocol_stream(
    kind: TransportKind,
    fleet: &BenchFleet,
    total: u64,
    interval_ns: u64,
) -> Result<(Duration, LatencyHistogram), BridgeBenchError> {
    use crate::protocol_session::{CloudSession, LocalStreams};
    use qp_wire::{AssetId, FrameBuf, SentimentSignal, Stage};
    let settings = qp_bridge_proto::ConnectionConfig::default()
        .validate()
        .map_err(|e| BridgeBenchError::Stalled(e.to_string()))?;
    let received = Arc::new(AtomicU64::new(0));
    let histogram = Arc::new(Mutex::new(LatencyHistogram::new()));
    let sink = LatencySink { received: received.clone(), histogram: histogram.clone() };
    let streams = LocalStreams::with_sink(settings, 0xbe_0001, 8_192, sink);
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let server = spawn_server(
        kind,
        listener,
        Arc::new(fleet.local.server_config(Role::Cloud)?),
        Limits::default(),
        move || streams.session(),
    )?;
    let stream = qp_bridge_proto::OutboundStream::new(0xbe_0002, 16_384)
        .map_err(|e| BridgeBenchError::Stalled(e.to_string()))?;
    let (session, mut feed) = CloudSession::new(settings, stream, 16_384);
    let client = spawn_client(
        kind,
        server.addr,
        Arc::new(fleet.cloud.client_config(Role::Local)?),
        Limits::default(),
        Backoff::default(),
        session,
    )?;
    feed.set_wake(client.waker());
    let signal = SentimentSignal::new(AssetId::from_wire(1), 5, 9_000, 0, 1);
    let mut pushed = 0u64;
    let start = monotonic_ns();
    let limit = Instant::now() + Duration::from_secs(60) + Duration::from_nanos(total.saturating_mul(interval_ns));
    while received.load(Ordering::Acquire) < total {
        let due = match monotonic_ns().saturating_sub(start).checked_div(interval_ns) {
            Some(intervals) => (intervals + 1).min(total),
            None => total,
        };
        while pushed < due {
            let mut frame = FrameBuf::encode(1, pushed, &signal);
            frame.stamp(Stage::Ingest, monotonic_ns());
            if feed.push(frame).is_err() {
                break;
            }
            pushed += 1;
        }
        if Instant::now() > limit {
            client.stop();
            server.stop();
            let got = received.load(Ordering::Acquire);
            return Err(BridgeBenchError::Stalled(format!("{}: protocol: {got} of {total} frames", kind.name())));
        }
        // Sleep to the next frame's time (paced), or briefly while the queue drains.
        let next = if interval_ns == 0 || pushed >= total { start } else { start + pushed * interval_ns };
        let wait = next.saturating_sub(monotonic_ns()).max(20_000);
        std::thread::sleep(Duration::from_nanos(wait));
    }
    let elapsed = Duration::from_nanos(monotonic_ns().saturating_sub(start));
    client.stop();
    server.stop();
    let histogram = histogram.lock().map(|h| h.clone()).unwrap_or_else(|_| LatencyHistogram::new());
    Ok((elapsed, histogram))
}

/// The whole bench for one back-end: `frames` for throughput, `latency_frames` at
/// `rate_per_s` for latency, `handshake_count` handshakes.
pub fn bench_bridge(
    kind: TransportKind,
    frames: u64,
    latency_frames: u64,
    rate_per_s: u64,
    handshake_count: u64,
) -> Result<BridgeBenchReport, BridgeBenchError> {
    let fleet = bench_fleet()?;
    let (elapsed, _) = stream(kind, &fleet, frames, 0)?;
    let (_, latency) = stream(kind, &fleet, latency_frames, 1_000_000_000 / rate_per_s.max(1))?;
    let handshake = handshakes(kind, &fleet, handshake_count)?.percentiles();
    let one_way = latency.percentiles();
    let protocol_frames = frames.min(1_000_000);
    let (protocol_elapsed, _) = protocol_stream(kind, &fleet, protocol_frames, 0)?;
    let (_, protocol_latency) = protocol_stream(kind, &fleet, latency_frames, 1_000_000_000 / rate_per_s.max(1))?;
    let protocol_one_way = protocol_latency.percentiles();
    let frame_bytes =
        qp_wire::FrameBuf::encode(1, 0, &qp_wire::SentimentSignal::new(qp_wire::AssetId::from_wire(1), 5, 9_000, 0, 1))
            .as_frame_bytes()
            .len();
    Ok(BridgeBenchReport {
        transport: kind.name(),
        frame_bytes: FRAME_BYTES,
        frames,
        frames_per_s: frames as f64 / elapsed.as_secs_f64().max(1e-9),
        latency_rate_per_s: rate_per_s,
        one_way_p50_ns: one_way.p50_ns,
        one_way_p99_ns: one_way.p99_ns,
        one_way_p999_ns: one_way.p999_ns,
        one_way,
        handshakes: handshake_count,
        handshake_p50_ns: handshake.p50_ns,
        handshake_p99_ns: handshake.p99_ns,
        handshake_p999_ns: handshake.p999_ns,
        protocol: ProtocolBenchReport {
            frame_bytes,
            frames: protocol_frames,
            frames_per_s: protocol_frames as f64 / protocol_elapsed.as_secs_f64().max(1e-9),
            one_way_p50_ns: protocol_one_way.p50_ns,
            one_way_p99_ns: protocol_one_way.p99_ns,
            one_way_p999_ns: protocol_one_way.p999_ns,
        },
    })
}
