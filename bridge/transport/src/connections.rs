//! The accept loop and the dial loop, once for both back-ends: a [`Backend`] supplies the
//! runtime and the socket calls, everything else is here.
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use crate::driver::{CloseLog, ReadOwned, WriteOwned, client_connection, drive};
use crate::{Backoff, CloseReason, Limits, Session, Stop, Wake};

/// A socket back-end: its single-threaded runtime (whose tasks are spawned with
/// `tokio::task::spawn_local`) and its socket calls.
pub(crate) trait Backend {
    type Listener;
    type Stream;
    type Read: ReadOwned + 'static;
    type Write: WriteOwned + 'static;

    /// Runs `future` to completion on this back-end's runtime; `None` when the runtime could not
    /// start (logged).
    fn block_on<F: std::future::Future>(future: F) -> Option<F::Output>;
    fn listener(listener: std::net::TcpListener) -> std::io::Result<Self::Listener>;
    async fn accept(listener: &Self::Listener) -> std::io::Result<(Self::Stream, SocketAddr)>;
    async fn connect(addr: SocketAddr) -> std::io::Result<Self::Stream>;
    /// TCP_NODELAY on, then the two halves.
    fn split(stream: Self::Stream) -> (Self::Read, Self::Write);
}

/// Accepts until stopped; each connection is driven in its own task with a fresh session.
pub(crate) fn serve<B, S, F>(
    listener: std::net::TcpListener,
    config: Arc<rustls::ServerConfig>,
    limits: Limits,
    mut make_session: F,
    stop: Stop,
) where
    B: Backend + 'static,
    S: Session + 'static,
    F: FnMut() -> S + 'static,
{
    let served = B::block_on(async move {
        let listener = match B::listener(listener) {
            Ok(listener) => listener,
            Err(err) => return tracing::error!(error = %err, "bridge: listener"),
        };
        let log = Rc::new(RefCell::new(CloseLog::default()));
        let open = Rc::new(std::cell::Cell::new(0usize));
        loop {
            let accepted = tokio::select! {
                accepted = B::accept(&listener) => accepted,
                () = stop.stopped() => break,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    log.borrow_mut().accept_failed(&err);
                    continue;
                }
            };
            let (read, write) = B::split(stream);
            let session = make_session();
            let (config, stop, log, open) = (config.clone(), stop.clone(), log.clone(), open.clone());
            open.set(open.get() + 1);
            tokio::task::spawn_local(async move {
                let reason = match rustls::ServerConnection::new(config) {
                    Ok(tls) => {
                        let session = RefCell::new(session);
                        let wake = Wake::default();
                        let tls = rustls::Connection::Server(tls);
                        drive(read, write, tls, &session, limits, &wake, &stop).await.reason
                    }
                    Err(err) => CloseReason::Tls(err.to_string()),
                };
                log.borrow_mut().closed(peer, &reason);
                open.set(open.get() - 1);
            });
        }
        // Stopped: each connection sees the stop too; let them end (sessions hear why).
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
        while open.get() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    });
    if served.is_none() {
        tracing::error!("bridge: the server's runtime did not start");
    }
}

/// Dials until stopped, driving `session` over each connection, with back-off between tries.
pub(crate) fn dial<B: Backend + 'static, S: Session + 'static>(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    limits: Limits,
    mut backoff: Backoff,
    session: S,
    stop: Stop,
    wake: Wake,
) -> S {
    let session = RefCell::new(session);
    let driven = &session;
    B::block_on(async move {
        let mut log = CloseLog::default();
        while !stop.is_stopped() {
            let connected = tokio::select! {
                connected = B::connect(addr) => connected,
                () = stop.stopped() => break,
            };
            match connected {
                Ok(stream) => {
                    let Ok(tls) = client_connection(&config) else { break };
                    let (read, write) = B::split(stream);
                    let ended = drive(read, write, tls, driven, limits, &wake, &stop).await;
                    if ended.connected {
                        backoff.reset();
                    }
                    log.closed(addr, &ended.reason);
                }
                Err(err) => log.closed(addr, &CloseReason::Io(err.to_string())),
            }
            let delay = backoff.next_delay();
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = stop.stopped() => break,
            }
        }
    });
    session.into_inner()
}
