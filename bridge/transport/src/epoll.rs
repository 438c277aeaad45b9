//! The epoll back-end (`tokio`'s reactor): the fallback where io_uring is unavailable.
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::driver::{CloseLog, ReadOwned, WriteOwned, client_connection, drive};
use crate::{Backoff, CloseReason, Limits, Session, Stop, Wake};

struct EpollRead(OwnedReadHalf);
struct EpollWrite(OwnedWriteHalf);

impl ReadOwned for EpollRead {
    async fn read_owned(&mut self, mut buf: Vec<u8>) -> (std::io::Result<usize>, Vec<u8>) {
        let read = self.0.read(&mut buf).await;
        (read, buf)
    }
}

impl WriteOwned for EpollWrite {
    async fn write_all_owned(&mut self, buf: Vec<u8>) -> (std::io::Result<()>, Vec<u8>) {
        let written = self.0.write_all(&buf).await;
        (written, buf)
    }
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => Some(runtime),
        Err(err) => {
            tracing::error!(error = %err, "bridge: cannot start the epoll runtime");
            None
        }
    }
}

pub(crate) fn serve<S, F>(
    listener: std::net::TcpListener,
    config: Arc<rustls::ServerConfig>,
    limits: Limits,
    mut make_session: F,
    stop: Stop,
) where
    S: Session + 'static,
    F: FnMut() -> S,
{
    let Some(runtime) = runtime() else { return };
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(err) => return tracing::error!(error = %err, "bridge: listener"),
        };
        let log = Rc::new(RefCell::new(CloseLog::default()));
        let open = Rc::new(std::cell::Cell::new(0usize));
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = stop.stopped() => break,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    log.borrow_mut().accept_failed(&err);
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let session = make_session();
            let (config, stop, log, open) = (config.clone(), stop.clone(), log.clone(), open.clone());
            open.set(open.get() + 1);
            tokio::task::spawn_local(async move {
                let tls = match rustls::ServerConnection::new(config) {
                    Ok(tls) => rustls::Connection::Server(tls),
                    Err(err) => {
                        open.set(open.get() - 1);
                        return log.borrow_mut().closed(peer, &CloseReason::Tls(err.to_string()));
                    }
                };
                let (read, write) = stream.into_split();
                let session = RefCell::new(session);
                let wake = Wake::default();
                let ended = drive(EpollRead(read), EpollWrite(write), tls, &session, limits, &wake, &stop).await;
                log.borrow_mut().closed(peer, &ended.reason);
                open.set(open.get() - 1);
            });
        }
        // Stopped: each connection sees the stop too; let them end (sessions hear why).
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
        while open.get() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    });
}

pub(crate) fn dial<S: Session>(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    limits: Limits,
    mut backoff: Backoff,
    session: S,
    stop: Stop,
    wake: Wake,
) -> S {
    let session = RefCell::new(session);
    let Some(runtime) = runtime() else { return session.into_inner() };
    runtime.block_on(async {
        let mut log = CloseLog::default();
        while !stop.is_stopped() {
            let connected = tokio::select! {
                connected = tokio::net::TcpStream::connect(addr) => connected,
                () = stop.stopped() => break,
            };
            match connected {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    let Ok(tls) = client_connection(&config) else { break };
                    let (read, write) = stream.into_split();
                    let ended = drive(EpollRead(read), EpollWrite(write), tls, &session, limits, &wake, &stop).await;
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
