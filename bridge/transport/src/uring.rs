//! The io_uring back-end (`tokio-uring`): reads and writes submitted with owned buffers.
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use crate::driver::{CloseLog, ReadOwned, WriteOwned, client_connection, drive};
use crate::{Backoff, CloseReason, Limits, Session, Stop, Wake};

struct UringHalf(Rc<tokio_uring::net::TcpStream>);

impl ReadOwned for UringHalf {
    async fn read_owned(&mut self, buf: Vec<u8>) -> (std::io::Result<usize>, Vec<u8>) {
        self.0.read(buf).await
    }
}

impl WriteOwned for UringHalf {
    async fn write_all_owned(&mut self, buf: Vec<u8>) -> (std::io::Result<()>, Vec<u8>) {
        self.0.write_all(buf).await
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
    tokio_uring::start(async move {
        let listener = tokio_uring::net::TcpListener::from_std(listener);
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
            tokio_uring::spawn(async move {
                let tls = match rustls::ServerConnection::new(config) {
                    Ok(tls) => rustls::Connection::Server(tls),
                    Err(err) => {
                        open.set(open.get() - 1);
                        return log.borrow_mut().closed(peer, &CloseReason::Tls(err.to_string()));
                    }
                };
                let stream = Rc::new(stream);
                let session = RefCell::new(session);
                let wake = Wake::default();
                let ended =
                    drive(UringHalf(stream.clone()), UringHalf(stream), tls, &session, limits, &wake, &stop).await;
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
    tokio_uring::start(async {
        let mut log = CloseLog::default();
        while !stop.is_stopped() {
            let connected = tokio::select! {
                connected = tokio_uring::net::TcpStream::connect(addr) => connected,
                () = stop.stopped() => break,
            };
            match connected {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    let Ok(tls) = client_connection(&config) else { break };
                    let stream = Rc::new(stream);
                    let ended =
                        drive(UringHalf(stream.clone()), UringHalf(stream), tls, &session, limits, &wake, &stop).await;
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
