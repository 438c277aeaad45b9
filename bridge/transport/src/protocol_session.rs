//! The bridge protocol (`qp-bridge-proto`) as the transport's [`Session`], for each role.
//!
//! - [`CloudSession`]: the application queues signal frames on an SPSC ring ([`CloudFeed`],
//!   from any one thread); the session moves them into the protocol's [`OutboundStream`] as it
//!   takes them (never dropping one: a full stream leaves them on the ring) and the stream
//!   outlives connections, so a reconnect resends exactly what the local node lacks.
//! - [`LocalSession`]: one per accepted connection; the peer's [`InboundStream`] is kept per
//!   peer identity across connections ([`LocalStreams`]), and received frames go to the
//!   application through a bounded channel; while it is full they stay in the stream and hold
//!   the peer's credit (back-pressure to the cloud node, nothing lost).
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use qp_bridge_identity::NodeId;
use qp_bridge_proto::{
    CloudConnection, ConnectionSettings, InboundStream, LocalConnection, MAX_RECORD_LEN, OutboundStream, PushError,
};
use qp_wire::FrameBuf;

use crate::{CloseReason, Session, Wake};

/// Bytes the session writes per `write_into` round (whole records).
const WRITE_CHUNK: usize = 64 * MAX_RECORD_LEN;

/// Counters a session keeps, readable from any thread.
#[derive(Debug, Default)]
pub struct LinkCounters {
    pub connections: AtomicU64,
    pub frames: AtomicU64,
    /// Cloud side: frames the local node has acknowledged (the stream's first unacknowledged).
    pub acknowledged: AtomicU64,
    /// Connections open now (a cloud session: 0 or 1).
    pub open: AtomicU64,
}

/// The application's end of a cloud node's outbound queue.
#[derive(Debug)]
pub struct CloudFeed {
    ring: rtrb::Producer<FrameBuf>,
    wake: Option<Wake>,
}

impl CloudFeed {
    /// Queue `frame`; hands it back when the queue is full (the caller retries: nothing is
    /// dropped here).
    pub fn push(&mut self, frame: FrameBuf) -> Result<(), FrameBuf> {
        self.ring.push(frame).map_err(|rtrb::PushError::Full(frame)| frame)?;
        if let Some(wake) = &self.wake {
            wake.wake();
        }
        Ok(())
    }

    /// Frames the queue can still take.
    pub fn room(&self) -> usize {
        self.ring.slots()
    }

    /// Wake the dialler's writer on each push (its [`crate::ClientHandle::waker`]).
    pub fn set_wake(&mut self, wake: Wake) {
        self.wake = Some(wake);
    }
}

/// A cloud node's session: its outbound stream and the current connection.
#[derive(Debug)]
pub struct CloudSession {
    settings: ConnectionSettings,
    stream: Option<OutboundStream>,
    connection: Option<CloudConnection>,
    ring: rtrb::Consumer<FrameBuf>,
    scratch: Vec<u8>,
    counters: Arc<LinkCounters>,
}

impl CloudSession {
    /// A session over `stream` (its epoch and resume buffer), with an application queue of
    /// `queue` frames.
    pub fn new(settings: ConnectionSettings, stream: OutboundStream, queue: usize) -> (Self, CloudFeed) {
        let (producer, consumer) = rtrb::RingBuffer::new(queue.max(1));
        let session = Self {
            settings,
            stream: Some(stream),
            connection: None,
            ring: consumer,
            scratch: vec![0; WRITE_CHUNK],
            counters: Arc::default(),
        };
        (session, CloudFeed { ring: producer, wake: None })
    }

    pub fn counters(&self) -> Arc<LinkCounters> {
        self.counters.clone()
    }

    /// The stream (between connections) or the connection's.
    pub fn stream(&self) -> Option<&OutboundStream> {
        self.connection.as_ref().map(CloudConnection::stream).or(self.stream.as_ref())
    }
}

fn protocol(reason: impl std::fmt::Display) -> CloseReason {
    CloseReason::Protocol(reason.to_string())
}

impl Session for CloudSession {
    fn connected(&mut self, now_ns: u64, _peer: &NodeId) -> Result<(), CloseReason> {
        let stream = self.stream.take().ok_or_else(|| protocol("a second connection on one session"))?;
        self.connection = Some(CloudConnection::new(&self.settings, stream, now_ns));
        self.counters.connections.fetch_add(1, Ordering::Relaxed);
        self.counters.open.store(1, Ordering::Relaxed);
        Ok(())
    }

    fn receive(&mut self, now_ns: u64, bytes: &[u8]) -> Result<(), CloseReason> {
        let connection = self.connection.as_mut().ok_or_else(|| protocol("bytes before the handshake"))?;
        connection.feed(now_ns, bytes).map_err(protocol)?;
        self.counters.acknowledged.store(connection.stream().first_unacked(), Ordering::Relaxed);
        Ok(())
    }

    fn transmit(&mut self, now_ns: u64, out: &mut Vec<u8>) -> Result<(), CloseReason> {
        let Some(connection) = self.connection.as_mut() else { return Ok(()) };
        // The application's frames, as far as the stream takes them.
        while let Ok(frame) = self.ring.peek() {
            match connection.send_frame(frame) {
                Ok(_) => {
                    let _ = self.ring.pop();
                    self.counters.frames.fetch_add(1, Ordering::Relaxed);
                }
                Err(PushError::Backpressure { .. }) => break,
                Err(err @ PushError::InvalidFrame(_)) => {
                    // A frame the peer would refuse: dropped here, said once per frame.
                    tracing::warn!(error = %err, "bridge: a queued frame does not decode; not sent");
                    let _ = self.ring.pop();
                }
            }
        }
        connection.poll_timers(now_ns).map_err(protocol)?;
        loop {
            let n = connection.write_into(now_ns, &mut self.scratch);
            out.extend_from_slice(&self.scratch[..n]);
            if n + MAX_RECORD_LEN <= self.scratch.len() || out.len() >= 4 * WRITE_CHUNK {
                break;
            }
        }
        Ok(())
    }

    fn next_timer_ns(&self) -> Option<u64> {
        let connection = self.connection.as_ref()?;
        // Frames waiting on the ring while the stream has room: now.
        if !self.ring.is_empty() && !connection.stream().is_full() {
            return Some(0);
        }
        connection.next_timer_ns()
    }

    fn disconnected(&mut self, _reason: &CloseReason) {
        self.counters.open.store(0, Ordering::Relaxed);
        if let Some(connection) = self.connection.take() {
            self.stream = Some(connection.into_stream());
        }
    }
}

/// A frame a local node received, with the cloud node it came from.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub peer: Arc<NodeId>,
    pub frame: FrameBuf,
}

/// Where a local node's received frames go, on the bridge's server thread, as they arrive.
pub trait FrameSink: Send {
    /// Take `frame` from `peer`; `false` when there is no room now (the frame stays in the
    /// peer's stream, holding its credit, and is offered again).
    fn deliver(&mut self, peer: &Arc<NodeId>, frame: &FrameBuf) -> bool;
}

/// A [`FrameSink`] into a bounded channel: the application takes frames on a thread of its own.
#[derive(Debug)]
pub struct ChannelSink {
    sender: SyncSender<Delivered>,
}

impl FrameSink for ChannelSink {
    fn deliver(&mut self, peer: &Arc<NodeId>, frame: &FrameBuf) -> bool {
        match self.sender.try_send(Delivered { peer: peer.clone(), frame: *frame }) {
            Ok(()) => true,
            // Full, or nobody takes frames any more: they stay in the streams and the peers stop
            // on credit.
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    }
}

/// A local node's per-peer inbound streams, shared by its connections (one server thread).
#[derive(Clone)]
pub struct LocalStreams {
    settings: ConnectionSettings,
    own_epoch: u64,
    window: usize,
    streams: Arc<Mutex<HashMap<NodeId, InboundStream>>>,
    sink: Arc<Mutex<dyn FrameSink>>,
    counters: Arc<LinkCounters>,
}

impl std::fmt::Debug for LocalStreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStreams").field("window", &self.window).finish_non_exhaustive()
    }
}

impl LocalStreams {
    /// Streams of `window` frames per peer; received frames go to the answered receiver, which
    /// holds `queue` of them.
    pub fn new(
        settings: ConnectionSettings,
        own_epoch: u64,
        window: usize,
        queue: usize,
    ) -> (Self, Receiver<Delivered>) {
        let (sender, receiver) = std::sync::mpsc::sync_channel(queue.max(1));
        (Self::with_sink(settings, own_epoch, window, ChannelSink { sender }), receiver)
    }

    /// As [`LocalStreams::new`], the frames handed to `sink` on the server thread (no hop to
    /// another thread: a local node's loop feeder can take them there).
    pub fn with_sink(
        settings: ConnectionSettings,
        own_epoch: u64,
        window: usize,
        sink: impl FrameSink + 'static,
    ) -> Self {
        Self {
            settings,
            own_epoch,
            window,
            streams: Arc::default(),
            sink: Arc::new(Mutex::new(sink)),
            counters: Arc::default(),
        }
    }

    pub fn counters(&self) -> Arc<LinkCounters> {
        self.counters.clone()
    }

    /// A session for the next accepted connection.
    pub fn session(&self) -> LocalSession {
        LocalSession { shared: self.clone(), peer: None, connection: None, scratch: vec![0; WRITE_CHUNK] }
    }
}

/// One accepted connection of a local node.
#[derive(Debug)]
pub struct LocalSession {
    shared: LocalStreams,
    peer: Option<Arc<NodeId>>,
    connection: Option<LocalConnection>,
    scratch: Vec<u8>,
}

impl LocalSession {
    /// Hand received frames to the application until its channel is full.
    fn deliver(&mut self) -> Result<(), CloseReason> {
        let (Some(connection), Some(peer)) = (self.connection.as_mut(), self.peer.as_ref()) else { return Ok(()) };
        if connection.stream().front().is_none() {
            return Ok(());
        }
        let mut sink = self.shared.sink.lock().map_err(|_| protocol("frame sink poisoned"))?;
        while let Some(frame) = connection.stream().front() {
            if !sink.deliver(peer, frame) {
                // Stays in the stream, holding the peer's credit.
                break;
            }
            let _ = connection.pop_frame();
            self.shared.counters.frames.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

impl Session for LocalSession {
    fn connected(&mut self, now_ns: u64, peer: &NodeId) -> Result<(), CloseReason> {
        let stream = {
            let mut streams = self.shared.streams.lock().map_err(|_| protocol("inbound streams poisoned"))?;
            match streams.remove(peer) {
                Some(stream) => stream,
                None => InboundStream::new(self.shared.own_epoch, self.shared.window).map_err(protocol)?,
            }
        };
        self.connection = Some(LocalConnection::new(&self.shared.settings, stream, now_ns));
        self.peer = Some(Arc::new(peer.clone()));
        self.shared.counters.connections.fetch_add(1, Ordering::Relaxed);
        self.shared.counters.open.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn receive(&mut self, now_ns: u64, bytes: &[u8]) -> Result<(), CloseReason> {
        let connection = self.connection.as_mut().ok_or_else(|| protocol("bytes before the handshake"))?;
        connection.feed(now_ns, bytes).map_err(protocol)?;
        self.deliver()
    }

    fn transmit(&mut self, now_ns: u64, out: &mut Vec<u8>) -> Result<(), CloseReason> {
        self.deliver()?;
        let Some(connection) = self.connection.as_mut() else { return Ok(()) };
        connection.poll_timers(now_ns).map_err(protocol)?;
        let n = connection.write_into(now_ns, &mut self.scratch);
        out.extend_from_slice(&self.scratch[..n]);
        Ok(())
    }

    fn next_timer_ns(&self) -> Option<u64> {
        let connection = self.connection.as_ref()?;
        // Frames the application has not taken yet: try again soon (its channel drains).
        if connection.stream().front().is_some() {
            return Some(qp_runtime::clock::monotonic_ns() + 100_000);
        }
        connection.next_timer_ns()
    }

    fn disconnected(&mut self, _reason: &CloseReason) {
        let _ = self.deliver();
        if let (Some(connection), Some(peer)) = (self.connection.take(), self.peer.take()) {
            self.shared.counters.open.fetch_sub(1, Ordering::Relaxed);
            if let Ok(mut streams) = self.shared.streams.lock() {
                streams.insert((*peer).clone(), connection.into_stream());
            }
        }
    }
}
