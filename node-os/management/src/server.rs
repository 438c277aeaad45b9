//! The management server: blocking sockets and rustls on threads of its own, so nothing it does
//! (or a peer makes it do) reaches the supervisor's loop.
//!
//! - One acceptor thread waits on the listener (`poll`, waking every 100 ms to see `stop`).
//! - Each accepted connection gets a thread of its own, at most `max_connections` at once; one
//!   more is closed at once (counted as busy).
//! - Per connection: the TLS handshake within `handshake_timeout`, the request head (at most
//!   `max_request_bytes`) within `request_timeout`, the response within `write_timeout`; one
//!   request, then close_notify and close. Whoever misses a deadline, sends garbage or is refused
//!   by TLS is closed, counted, and logged at most once a second with a count of the lines not
//!   logged (a peer can cause these at will).
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustls::{ServerConfig, ServerConnection};

use crate::http::{self, Route};
use crate::{LogRing, ManagementError, StatusBoard};

/// The server's bounds.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Connections served at once; one more is closed at once.
    pub max_connections: usize,
    /// From accept to the end of the TLS handshake.
    pub handshake_timeout: Duration,
    /// From the end of the handshake to the end of the request head.
    pub request_timeout: Duration,
    /// For the whole response.
    pub write_timeout: Duration,
    /// The request head's bound, in bytes.
    pub max_request_bytes: usize,
    /// Log lines put into `/status`'s `recent_logs`.
    pub status_log_lines: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_connections: 8,
            handshake_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(2),
            write_timeout: Duration::from_secs(2),
            max_request_bytes: 4096,
            status_log_lines: 50,
        }
    }
}

/// What the server has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerCounts {
    pub accepted: u64,
    /// Requests answered 200.
    pub served: u64,
    /// Handshakes that failed: no or a refused certificate, TLS 1.2, not TLS at all.
    pub tls_refused: u64,
    /// Requests answered with an error status (400, 404, 405).
    pub bad_requests: u64,
    /// Connections closed for missing a deadline.
    pub timed_out: u64,
    /// Connections closed at once because `max_connections` were being served.
    pub busy: u64,
    /// Connections the peer closed, or that failed on the socket.
    pub dropped: u64,
}

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    served: AtomicU64,
    tls_refused: AtomicU64,
    bad_requests: AtomicU64,
    timed_out: AtomicU64,
    busy: AtomicU64,
    dropped: AtomicU64,
}

/// At most one line a second; answers how many were not logged since the last.
#[derive(Debug, Default)]
struct LogLimiter {
    state: Mutex<(Option<Instant>, u64)>,
}

impl LogLimiter {
    fn check(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        match state.0 {
            Some(last) if now.duration_since(last) < Duration::from_secs(1) => {
                state.1 += 1;
                None
            }
            _ => {
                let suppressed = state.1;
                *state = (Some(now), 0);
                Some(suppressed)
            }
        }
    }
}

struct Shared {
    config: Arc<ServerConfig>,
    board: Arc<StatusBoard>,
    ring: Arc<LogRing>,
    limits: ServerLimits,
    counters: Counters,
    limiter: LogLimiter,
    stop: AtomicBool,
    live: AtomicUsize,
    next_id: AtomicU64,
    /// The open connections' sockets, so that `stop` can shut them down.
    open: Mutex<Vec<(u64, TcpStream)>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("limits", &self.limits).field("counters", &self.counters).finish_non_exhaustive()
    }
}

/// The running server; [`ManagementServer::stop`] (or dropping it) stops and joins it.
#[derive(Debug)]
pub struct ManagementServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl ManagementServer {
    /// Serves on `listener` with [`ServerLimits::default`]. `config` is
    /// `NodeCredentials::management_server_config`'s.
    pub fn spawn(
        listener: TcpListener,
        config: Arc<ServerConfig>,
        board: Arc<StatusBoard>,
        ring: Arc<LogRing>,
    ) -> Result<Self, ManagementError> {
        Self::spawn_with_limits(listener, config, board, ring, ServerLimits::default())
    }

    pub fn spawn_with_limits(
        listener: TcpListener,
        config: Arc<ServerConfig>,
        board: Arc<StatusBoard>,
        ring: Arc<LogRing>,
        limits: ServerLimits,
    ) -> Result<Self, ManagementError> {
        let addr = listener.local_addr().map_err(|source| ManagementError::Server { what: "local address", source })?;
        listener.set_nonblocking(true).map_err(|source| ManagementError::Server { what: "non-blocking", source })?;
        let shared = Arc::new(Shared {
            config,
            board,
            ring,
            limits,
            counters: Counters::default(),
            limiter: LogLimiter::default(),
            stop: AtomicBool::new(false),
            live: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            open: Mutex::new(Vec::new()),
        });
        let for_thread = shared.clone();
        let acceptor = std::thread::Builder::new()
            .name("qp-mgmt-accept".to_owned())
            .spawn(move || accept_loop(&for_thread, &listener))
            .map_err(|source| ManagementError::Server { what: "acceptor thread", source })?;
        tracing::info!(%addr, "management API listening");
        Ok(Self { addr, shared, acceptor: Some(acceptor) })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn counts(&self) -> ServerCounts {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ServerCounts {
            accepted: get(&c.accepted),
            served: get(&c.served),
            tls_refused: get(&c.tls_refused),
            bad_requests: get(&c.bad_requests),
            timed_out: get(&c.timed_out),
            busy: get(&c.busy),
            dropped: get(&c.dropped),
        }
    }

    /// Stops accepting, closes the open connections and joins every thread.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(acceptor) = self.acceptor.take()
            && acceptor.join().is_err()
        {
            tracing::error!("management acceptor thread panicked");
        }
    }
}

impl Drop for ManagementServer {
    fn drop(&mut self) {
        self.halt();
    }
}

fn accept_loop(shared: &Arc<Shared>, listener: &TcpListener) {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let mut workers: Vec<JoinHandle<()>> = Vec::new();
    let tick = Timespec { tv_sec: 0, tv_nsec: 100_000_000 };
    while !shared.stop.load(Ordering::Relaxed) {
        let mut fds = [PollFd::new(listener, PollFlags::IN)];
        // Interrupted or failed: the loop looks at `stop` and tries again.
        let _ = poll(&mut fds, Some(&tick));
        reap(&mut workers);
        loop {
            match listener.accept() {
                Ok((stream, peer)) => {
                    shared.counters.accepted.fetch_add(1, Ordering::Relaxed);
                    if let Some(worker) = start_connection(shared, stream, peer) {
                        workers.push(worker);
                    }
                }
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(err) => {
                    // Out of descriptors, a connection reset before accept: try again at the
                    // next tick, not in a spin.
                    if let Some(suppressed) = shared.limiter.check() {
                        tracing::warn!(error = %err, suppressed, "management accept failed");
                    }
                    break;
                }
            }
        }
    }
    // Stopping: close what is open, wait for its threads.
    for (_, stream) in shared.open.lock().unwrap_or_else(PoisonError::into_inner).iter() {
        let _ = stream.shutdown(Shutdown::Both);
    }
    for worker in workers {
        let _ = worker.join();
    }
}

fn reap(workers: &mut Vec<JoinHandle<()>>) {
    let mut i = 0;
    while i < workers.len() {
        if workers[i].is_finished() {
            let _ = workers.swap_remove(i).join();
        } else {
            i += 1;
        }
    }
}

/// Decrements the live count when a connection's thread ends, however it ends.
struct LiveGuard(Arc<Shared>, u64);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.open.lock().unwrap_or_else(PoisonError::into_inner).retain(|(id, _)| *id != self.1);
        self.0.live.fetch_sub(1, Ordering::Relaxed);
    }
}

fn start_connection(shared: &Arc<Shared>, stream: TcpStream, peer: SocketAddr) -> Option<JoinHandle<()>> {
    if shared.live.load(Ordering::Relaxed) >= shared.limits.max_connections {
        shared.counters.busy.fetch_add(1, Ordering::Relaxed);
        if let Some(suppressed) = shared.limiter.check() {
            tracing::warn!(%peer, suppressed, "management connection refused: too many open");
        }
        let _ = stream.shutdown(Shutdown::Both);
        return None;
    }
    shared.live.fetch_add(1, Ordering::Relaxed);
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let guard = LiveGuard(shared.clone(), id);
    if let Ok(clone) = stream.try_clone() {
        shared.open.lock().unwrap_or_else(PoisonError::into_inner).push((id, clone));
    }
    let for_thread = shared.clone();
    let spawned = std::thread::Builder::new().name("qp-mgmt-conn".to_owned()).spawn(move || {
        let _guard = guard;
        let outcome = serve(&for_thread, stream, peer);
        record(&for_thread, peer, outcome);
    });
    match spawned {
        Ok(handle) => Some(handle),
        Err(err) => {
            // The closure (and its guard and stream) is dropped: the count is given back.
            shared.counters.dropped.fetch_add(1, Ordering::Relaxed);
            if let Some(suppressed) = shared.limiter.check() {
                tracing::warn!(%peer, error = %err, suppressed, "management connection thread not started");
            }
            None
        }
    }
}

/// How a connection ended.
#[derive(Debug)]
enum Outcome {
    Served,
    Tls(rustls::Error),
    BadRequest(http::Refusal),
    Timeout(&'static str),
    Dropped(&'static str, std::io::Error),
}

fn record(shared: &Shared, peer: SocketAddr, outcome: Outcome) {
    let c = &shared.counters;
    let (counter, reason) = match &outcome {
        Outcome::Served => {
            c.served.fetch_add(1, Ordering::Relaxed);
            return;
        }
        Outcome::Tls(err) => (&c.tls_refused, format!("TLS: {err}")),
        Outcome::BadRequest(refusal) => (&c.bad_requests, format!("HTTP {}: {}", refusal.status, refusal.reason)),
        Outcome::Timeout(stage) => (&c.timed_out, format!("timed out in the {stage}")),
        Outcome::Dropped(stage, err) => (&c.dropped, format!("{stage}: {err}")),
    };
    counter.fetch_add(1, Ordering::Relaxed);
    if let Some(suppressed) = shared.limiter.check() {
        tracing::warn!(%peer, %reason, suppressed, "management connection closed");
    }
}

/// Sets the socket's read and write timeouts to what is left until `deadline`; `None` when
/// nothing is.
fn until(stream: &TcpStream, deadline: Instant) -> Option<()> {
    let left = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())?;
    stream.set_read_timeout(Some(left)).ok()?;
    stream.set_write_timeout(Some(left)).ok()
}

/// An I/O error from rustls or the socket as an outcome.
fn io_outcome(stage: &'static str, err: std::io::Error) -> Outcome {
    use std::io::ErrorKind;
    if err.kind() == ErrorKind::InvalidData
        && let Some(tls) = err.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return Outcome::Tls(tls.clone());
    }
    match err.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => Outcome::Timeout(stage),
        _ => Outcome::Dropped(stage, err),
    }
}

fn serve(shared: &Shared, mut stream: TcpStream, peer: SocketAddr) -> Outcome {
    let limits = &shared.limits;
    let _ = stream.set_nodelay(true);
    if let Err(err) = stream.set_nonblocking(false) {
        return Outcome::Dropped("socket", err);
    }
    let mut conn = match ServerConnection::new(shared.config.clone()) {
        Ok(conn) => conn,
        Err(err) => return Outcome::Tls(err),
    };
    // The handshake.
    let deadline = Instant::now() + limits.handshake_timeout;
    while conn.is_handshaking() {
        if until(&stream, deadline).is_none() {
            return Outcome::Timeout("handshake");
        }
        if let Err(err) = conn.complete_io(&mut stream) {
            return io_outcome("handshake", err);
        }
    }
    let operator = qp_bridge_identity::peer_node_id(conn.peer_certificates()).map(|id| id.uri()).unwrap_or_default();
    // The request head.
    let deadline = Instant::now() + limits.request_timeout;
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    // `None`: the head is longer than the limit (whether or not it has ended).
    let end = loop {
        if let Some(end) = http::head_end(&head) {
            break Some(end).filter(|&end| end <= limits.max_request_bytes);
        }
        if head.len() > limits.max_request_bytes {
            break None;
        }
        if until(&stream, deadline).is_none() {
            return Outcome::Timeout("request");
        }
        match rustls::Stream::new(&mut conn, &mut stream).read(&mut chunk) {
            Ok(0) => {
                return Outcome::Dropped("request", std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
            }
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(err) => return io_outcome("request", err),
        }
    };
    let parsed = match end {
        Some(end) => http::parse_request(&head[..end], shared.ring.capacity()),
        None => Err(http::Refusal { status: 400, reason: "the request is too large" }),
    };
    let route = match parsed {
        Ok(route) => route,
        Err(refusal) => {
            return respond(
                &mut conn,
                &mut stream,
                limits,
                &http::refusal_response(&refusal),
                Outcome::BadRequest(refusal),
            );
        }
    };
    tracing::debug!(%peer, %operator, ?route, "management request");
    let bytes = match route {
        Route::Status => {
            let mut report = crate::StatusReport::clone(&shared.board.snapshot());
            report.recent_logs = shared.ring.last(limits.status_log_lines);
            match serde_json::to_vec(&report) {
                Ok(json) => http::response(200, "application/json", &json),
                Err(err) => {
                    tracing::error!(error = %err, "status report does not serialise");
                    http::response(500, "text/plain; charset=utf-8", b"the status report does not serialise\n")
                }
            }
        }
        Route::Logs { lines } => {
            let mut text = shared.ring.last(lines).join("\n");
            text.push('\n');
            http::response(200, "text/plain; charset=utf-8", text.as_bytes())
        }
    };
    respond(&mut conn, &mut stream, limits, &bytes, Outcome::Served)
}

/// Writes `bytes`, then close_notify, within the write deadline; answers `outcome` if that
/// worked.
fn respond(
    conn: &mut ServerConnection,
    stream: &mut TcpStream,
    limits: &ServerLimits,
    bytes: &[u8],
    outcome: Outcome,
) -> Outcome {
    let deadline = Instant::now() + limits.write_timeout;
    if until(stream, deadline).is_none() {
        return Outcome::Timeout("response");
    }
    if let Err(err) = rustls::Stream::new(conn, stream).write_all(bytes) {
        return io_outcome("response", err);
    }
    conn.send_close_notify();
    while conn.wants_write() {
        if until(stream, deadline).is_none() {
            return Outcome::Timeout("response");
        }
        if let Err(err) = conn.write_tls(stream) {
            return io_outcome("response", err);
        }
    }
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
    linger(stream);
    outcome
}

/// Reads what the peer still sends (a little, briefly) before the socket closes: closing with
/// unread bytes makes the kernel send a reset, which can cost the peer the response it has not
/// read yet.
fn linger(stream: &mut TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut sink = [0u8; 4096];
    for _ in 0..16 {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
