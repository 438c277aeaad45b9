//! The bridge's transport (issue 8): TCP, TLS 1.3 with mutual authentication (rustls, the
//! configurations of `qp-bridge-identity`), and a sans-I/O [`Session`] driven over the TLS
//! plaintext. Two socket back-ends, one driver:
//!
//! - **io_uring** (`tokio-uring`): reads and writes are submitted with owned buffers;
//! - **epoll** (`tokio`): the fallback where io_uring is unavailable (an old kernel, a seccomp
//!   policy that forbids `io_uring_setup`, `kernel.io_uring_disabled`), chosen at run time by
//!   [`resolve_transport`], which says so in the log.
//!
//! The transport knows nothing of frames: the session (the bridge protocol, `qp-bridge-proto`)
//! turns plaintext into frames and back. The transport adds what a socket needs: the
//! handshake and its deadline, the peer's identity handed to the session, write deadlines (a
//! peer that stops reading is disconnected), bounded buffers, reconnect with back-off and
//! jitter for the dialling side, and rate-limited logs of why connections ended.
//!
//! Design: `bridge/DESIGN.md`.
#![forbid(unsafe_code)]

mod backoff;
pub mod bench;
mod connections;
mod driver;
mod epoll;
pub mod protocol_session;
mod uring;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub use backoff::Backoff;
use qp_bridge_identity::NodeId;

/// Which socket back-end to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportChoice {
    /// io_uring where the kernel allows it, else epoll (logged).
    Auto,
    IoUring,
    Epoll,
}

/// The back-end in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    IoUring,
    Epoll,
}

impl TransportKind {
    pub fn name(&self) -> &'static str {
        match self {
            TransportKind::IoUring => "io_uring",
            TransportKind::Epoll => "epoll",
        }
    }
}

/// Why a transport could not start.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("io_uring was asked for and is unavailable: {0}")]
    IoUringUnavailable(String),
    #[error("{what}: {source}")]
    Io { what: &'static str, source: std::io::Error },
}

/// Whether this kernel and process may use io_uring (a ring is set up and dropped).
pub fn io_uring_available() -> Result<(), String> {
    io_uring::IoUring::new(8).map(|_| ()).map_err(|err| err.to_string())
}

/// The back-end for `choice`: `Auto` takes io_uring when [`io_uring_available`], else epoll,
/// and logs the fallback with the reason.
pub fn resolve_transport(choice: TransportChoice) -> Result<TransportKind, TransportError> {
    match choice {
        TransportChoice::Epoll => Ok(TransportKind::Epoll),
        TransportChoice::IoUring => {
            io_uring_available().map_err(TransportError::IoUringUnavailable)?;
            Ok(TransportKind::IoUring)
        }
        TransportChoice::Auto => match io_uring_available() {
            Ok(()) => Ok(TransportKind::IoUring),
            Err(reason) => {
                tracing::warn!(%reason, "io_uring unavailable: the bridge runs on epoll");
                Ok(TransportKind::Epoll)
            }
        },
    }
}

/// Why a connection ended. One line, for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloseReason {
    #[error("the peer closed the connection")]
    PeerClosed,
    #[error("socket: {0}")]
    Io(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("no complete handshake within {0:?}")]
    HandshakeTimeout(Duration),
    #[error("the peer read nothing for {0:?}: disconnected")]
    WriteStalled(Duration),
    /// The session refused the peer or its bytes (the protocol's reason).
    #[error("protocol: {0}")]
    Protocol(String),
    /// The peer's certificate expired while connected: it must reconnect with a fresh one (an
    /// attested node's certificate lives minutes to hours; one that fails its next attestation
    /// gets no new certificate and is out).
    #[error("the peer's certificate expired")]
    PeerCertificateExpired,
    #[error("stopped")]
    Stopped,
}

/// What the transport drives over a connection's TLS plaintext: the bridge protocol. Sans-I/O:
/// bytes and the time in, bytes out. One session may live across many connections (a dialler's
/// resume state); [`Session::connected`] starts each.
pub trait Session {
    /// The handshake finished; `peer` is the identity its certificate proved.
    fn connected(&mut self, now_ns: u64, peer: &NodeId) -> Result<(), CloseReason>;
    /// Plaintext from the peer.
    fn receive(&mut self, now_ns: u64, bytes: &[u8]) -> Result<(), CloseReason>;
    /// Plaintext to send now, appended to `out`. Called whenever the transport is woken (the
    /// peer's bytes, [`Wake::wake`], a timer).
    fn transmit(&mut self, now_ns: u64, out: &mut Vec<u8>) -> Result<(), CloseReason>;
    /// The next moment `transmit` has timed work (a heartbeat, a dead-peer check), if any.
    fn next_timer_ns(&self) -> Option<u64>;
    /// The connection ended.
    fn disconnected(&mut self, reason: &CloseReason);
}

/// Deadlines and buffer sizes.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub handshake_timeout: Duration,
    /// A write that makes no progress for this long ends the connection (a peer that stopped
    /// reading).
    pub write_timeout: Duration,
    /// Bytes read from the socket at once.
    pub read_buffer: usize,
    /// Most plaintext the session may hand over in one `transmit` before it is encrypted and
    /// written (bounds the write buffer).
    pub max_batch: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(5),
            read_buffer: 64 * 1024,
            max_batch: 256 * 1024,
        }
    }
}

/// Wakes a connection's writer from any thread: the application queued something to send.
#[derive(Debug, Clone, Default)]
pub struct Wake {
    notify: Arc<tokio::sync::Notify>,
}

impl Wake {
    pub fn wake(&self) {
        self.notify.notify_one();
    }
}

/// A stop flag for a server or a dialler, set from any thread.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    flag: Arc<AtomicBool>,
    notify: Arc<tokio::sync::Notify>,
}

impl Stop {
    pub fn stop(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn is_stopped(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    async fn stopped(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_stopped() {
                return;
            }
            notified.await;
        }
    }
}

/// A running server: its address, and how to stop it.
#[derive(Debug)]
pub struct ServerHandle {
    pub addr: SocketAddr,
    pub kind: TransportKind,
    stop: Stop,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerHandle {
    /// Stops accepting, ends every connection, and waits for the server's thread.
    pub fn stop(mut self) {
        self.stop.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serves the bridge on `listener` from a thread of its own: each accepted connection gets
/// `make_session()`'s session, the TLS handshake under `config`, and is driven until it ends.
/// Connections are independent: one that misbehaves is closed (its reason logged, rate
/// limited) and the others go on.
pub fn spawn_server<S, F>(
    kind: TransportKind,
    listener: std::net::TcpListener,
    config: Arc<rustls::ServerConfig>,
    limits: Limits,
    make_session: F,
) -> Result<ServerHandle, TransportError>
where
    S: Session + 'static,
    F: FnMut() -> S + Send + 'static,
{
    let addr = listener.local_addr().map_err(|source| TransportError::Io { what: "listener address", source })?;
    listener.set_nonblocking(true).map_err(|source| TransportError::Io { what: "listener", source })?;
    let stop = Stop::default();
    let server_stop = stop.clone();
    let thread = std::thread::Builder::new()
        .name(format!("qp-bridge-{}", kind.name()))
        .spawn(move || match kind {
            TransportKind::IoUring => {
                connections::serve::<uring::Uring, S, F>(listener, config, limits, make_session, server_stop)
            }
            TransportKind::Epoll => {
                connections::serve::<epoll::Epoll, S, F>(listener, config, limits, make_session, server_stop)
            }
        })
        .map_err(|source| TransportError::Io { what: "server thread", source })?;
    Ok(ServerHandle { addr, kind, stop, thread: Some(thread) })
}

/// A running dialler: its session comes back when it stops.
#[derive(Debug)]
pub struct ClientHandle<S> {
    pub kind: TransportKind,
    stop: Stop,
    wake: Wake,
    thread: Option<std::thread::JoinHandle<S>>,
}

impl<S> ClientHandle<S> {
    /// What wakes the connection's writer (the application queued frames).
    pub fn waker(&self) -> Wake {
        self.wake.clone()
    }

    /// Stops dialling, ends the connection, and hands the session back.
    pub fn stop(mut self) -> Option<S> {
        self.stop.stop();
        self.wake.wake();
        self.thread.take().and_then(|thread| thread.join().ok())
    }
}

/// Dials `addr` from a thread of its own and drives `session` over each connection; when a
/// connection ends it dials again after `backoff`'s next delay (reset by a connection that
/// completed its handshake), until stopped.
pub fn spawn_client<S>(
    kind: TransportKind,
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    limits: Limits,
    backoff: Backoff,
    session: S,
) -> Result<ClientHandle<S>, TransportError>
where
    S: Session + Send + 'static,
{
    let (stop, wake) = (Stop::default(), Wake::default());
    let (client_stop, client_wake) = (stop.clone(), wake.clone());
    let thread = std::thread::Builder::new()
        .name(format!("qp-bridge-dial-{}", kind.name()))
        .spawn(move || match kind {
            TransportKind::IoUring => {
                connections::dial::<uring::Uring, S>(addr, config, limits, backoff, session, client_stop, client_wake)
            }
            TransportKind::Epoll => {
                connections::dial::<epoll::Epoll, S>(addr, config, limits, backoff, session, client_stop, client_wake)
            }
        })
        .map_err(|source| TransportError::Io { what: "dialler thread", source })?;
    Ok(ClientHandle { kind, stop, wake, thread: Some(thread) })
}
