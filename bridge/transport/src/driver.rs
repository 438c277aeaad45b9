//! One connection: a rustls connection and a [`Session`] over a socket's two halves, whatever
//! the back-end. A reader and a writer run as two futures of one task (the runtime is single
//! threaded per back-end thread); they share the TLS state through a `RefCell`, never across
//! an await.
use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::Duration;

use qp_runtime::clock::monotonic_ns;

use crate::{CloseReason, Limits, Session, Stop, Wake};

/// A socket's read half with owned buffers (what io_uring needs; epoll adapts).
pub(crate) trait ReadOwned {
    async fn read_owned(&mut self, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>);
}

/// A socket's write half with owned buffers.
pub(crate) trait WriteOwned {
    async fn write_all_owned(&mut self, buf: Vec<u8>) -> (io::Result<()>, Vec<u8>);
}

struct Shared<'s, S> {
    tls: rustls::Connection,
    session: &'s RefCell<S>,
    connected: bool,
    /// When the peer's certificate expires (monotonic ns): the connection ends then.
    peer_expires_ns: u64,
}

/// How a connection ended.
#[derive(Debug)]
pub(crate) struct Ended {
    pub(crate) reason: CloseReason,
    /// Whether the handshake completed (the dialler's back-off resets).
    pub(crate) connected: bool,
}

/// Drives one connection until it ends; answers why. `session.disconnected` is called with the
/// reason before this returns.
pub(crate) async fn drive<R: ReadOwned, W: WriteOwned, S: Session>(
    mut reader: R,
    mut writer: W,
    tls: rustls::Connection,
    session: &RefCell<S>,
    limits: Limits,
    wake: &Wake,
    stop: &Stop,
) -> Ended {
    let shared = RefCell::new(Shared { tls, session, connected: false, peer_expires_ns: u64::MAX });
    let started = monotonic_ns();
    let reason = tokio::select! {
        reason = read_loop(&mut reader, &shared, limits, wake) => reason,
        reason = write_loop(&mut writer, &shared, limits, wake, started) => reason,
        () = stop.stopped() => CloseReason::Stopped,
    };
    // A last close_notify, best effort, so the peer learns it was deliberate.
    let mut out = Vec::new();
    {
        let mut st = shared.borrow_mut();
        st.tls.send_close_notify();
        let _ = st.tls.write_tls(&mut out);
    }
    if !out.is_empty() {
        let _ = tokio::time::timeout(Duration::from_millis(100), writer.write_all_owned(out)).await;
    }
    session.borrow_mut().disconnected(&reason);
    let connected = shared.borrow().connected;
    Ended { reason, connected }
}

/// The dialler's TLS connection (the server name is not checked: the peer's identity is its
/// certificate's SPIFFE ID, see `qp-bridge-identity`).
pub(crate) fn client_connection(config: &Arc<rustls::ClientConfig>) -> Result<rustls::Connection, CloseReason> {
    let name =
        rustls::pki_types::ServerName::try_from("bridge.quantpype").map_err(|e| CloseReason::Tls(e.to_string()))?;
    rustls::ClientConnection::new(config.clone(), name)
        .map(rustls::Connection::Client)
        .map_err(|err| CloseReason::Tls(err.to_string()))
}

/// Why connections ended, logged at most once a second (a peer can trigger these at will),
/// with a count of what was not logged.
#[derive(Debug)]
pub(crate) struct CloseLog {
    limiter: qp_runtime::RateLimiter,
}

impl Default for CloseLog {
    fn default() -> Self {
        Self { limiter: qp_runtime::RateLimiter::new(1_000_000_000) }
    }
}

impl CloseLog {
    pub(crate) fn closed(&mut self, peer: std::net::SocketAddr, reason: &CloseReason) {
        if matches!(reason, CloseReason::Stopped) {
            return;
        }
        if let Some(suppressed) = self.limiter.check(monotonic_ns()) {
            tracing::info!(%peer, %reason, suppressed, "bridge connection ended");
        }
    }

    pub(crate) fn accept_failed(&mut self, err: &std::io::Error) {
        if let Some(suppressed) = self.limiter.check(monotonic_ns()) {
            tracing::warn!(error = %err, suppressed, "bridge accept failed");
        }
    }
}

async fn read_loop<R: ReadOwned, S: Session>(
    reader: &mut R,
    shared: &RefCell<Shared<'_, S>>,
    limits: Limits,
    wake: &Wake,
) -> CloseReason {
    let mut buf = vec![0u8; limits.read_buffer];
    let mut plain = vec![0u8; limits.read_buffer];
    loop {
        let (read, returned) = reader.read_owned(buf).await;
        buf = returned;
        let n = match read {
            Ok(0) => return CloseReason::PeerClosed,
            Ok(n) => n,
            Err(err) => return CloseReason::Io(err.to_string()),
        };
        let mut st = shared.borrow_mut();
        let mut incoming = &buf[..n];
        while !incoming.is_empty() {
            if let Err(err) = st.tls.read_tls(&mut incoming) {
                return CloseReason::Tls(err.to_string());
            }
            let state = match st.tls.process_new_packets() {
                Ok(state) => state,
                Err(err) => {
                    // The alert for the peer goes out with the close.
                    return CloseReason::Tls(err.to_string());
                }
            };
            if state.peer_has_closed() && state.plaintext_bytes_to_read() == 0 {
                return CloseReason::PeerClosed;
            }
            if !st.connected && !st.tls.is_handshaking() {
                st.connected = true;
                let peer = match qp_bridge_identity::peer_node_id(st.tls.peer_certificates()) {
                    Ok(peer) => peer,
                    Err(err) => return CloseReason::Tls(err.to_string()),
                };
                let not_after = st
                    .tls
                    .peer_certificates()
                    .and_then(|certs| certs.first())
                    .map(|cert| qp_bridge_identity::certificate_not_after(cert.as_ref()));
                st.peer_expires_ns = match not_after {
                    Some(Ok(at)) => {
                        // Certificates count whole seconds, and webpki accepts the notAfter
                        // second itself: end the connection when that second is over.
                        let end = at + Duration::from_secs(1);
                        let left = end.duration_since(std::time::SystemTime::now()).unwrap_or_default();
                        monotonic_ns().saturating_add(left.as_nanos().min(u128::from(u64::MAX)) as u64)
                    }
                    Some(Err(err)) => return CloseReason::Tls(err.to_string()),
                    None => return CloseReason::Tls("the peer presented no certificate".to_owned()),
                };
                if let Err(reason) = st.session.borrow_mut().connected(monotonic_ns(), &peer) {
                    return reason;
                }
            }
            loop {
                match st.tls.reader().read(&mut plain) {
                    Ok(0) => break,
                    Ok(k) => {
                        if let Err(reason) = st.session.borrow_mut().receive(monotonic_ns(), &plain[..k]) {
                            return reason;
                        }
                    }
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                    Err(err) => return CloseReason::Tls(err.to_string()),
                }
            }
        }
        drop(st);
        // Acknowledgements, credit, handshake replies: the writer has something to send.
        wake.wake();
    }
}

async fn write_loop<W: WriteOwned, S: Session>(
    writer: &mut W,
    shared: &RefCell<Shared<'_, S>>,
    limits: Limits,
    wake: &Wake,
    started: u64,
) -> CloseReason {
    let mut plain = Vec::with_capacity(limits.max_batch);
    let mut out = Vec::with_capacity(limits.max_batch + 4096);
    let handshake_deadline = started.saturating_add(limits.handshake_timeout.as_nanos() as u64);
    loop {
        let next_timer = {
            let mut st = shared.borrow_mut();
            let now = monotonic_ns();
            if st.connected && now >= st.peer_expires_ns {
                return CloseReason::PeerCertificateExpired;
            }
            if st.connected {
                plain.clear();
                if let Err(reason) = st.session.borrow_mut().transmit(now, &mut plain) {
                    return reason;
                }
            } else if now >= handshake_deadline {
                return CloseReason::HandshakeTimeout(limits.handshake_timeout);
            }
            out.clear();
            // rustls takes plaintext up to its buffer limit: encrypt what it took, then give it
            // the rest, so a batch of any size goes out whole.
            let mut rest = plain.as_slice();
            loop {
                while st.tls.wants_write() {
                    if let Err(err) = st.tls.write_tls(&mut out) {
                        return CloseReason::Tls(err.to_string());
                    }
                }
                if rest.is_empty() {
                    break;
                }
                match st.tls.writer().write(rest) {
                    Ok(0) if !st.tls.wants_write() => {
                        return CloseReason::Tls("the TLS layer takes no more plaintext".to_owned());
                    }
                    Ok(n) => rest = &rest[n..],
                    Err(err) => return CloseReason::Tls(err.to_string()),
                }
            }
            if st.connected {
                let expiry = Some(st.peer_expires_ns).filter(|&at| at != u64::MAX);
                match (st.session.borrow().next_timer_ns(), expiry) {
                    (Some(timer), Some(expiry)) => Some(timer.min(expiry)),
                    (timer, expiry) => timer.or(expiry),
                }
            } else {
                Some(handshake_deadline)
            }
        };
        if !out.is_empty() {
            let buf = std::mem::take(&mut out);
            match tokio::time::timeout(limits.write_timeout, writer.write_all_owned(buf)).await {
                Ok((Ok(()), returned)) => out = returned,
                Ok((Err(err), _)) => return CloseReason::Io(err.to_string()),
                Err(_) => return CloseReason::WriteStalled(limits.write_timeout),
            }
            continue;
        }
        let wait = next_timer.map(|at| Duration::from_nanos(at.saturating_sub(monotonic_ns())));
        match wait {
            Some(wait) => {
                let _ = tokio::time::timeout(wait, wake.notify.notified()).await;
            }
            None => wake.notify.notified().await,
        }
    }
}
