//! QuickFIX's acceptance scripts over TCP: [`TcpTarget`] runs the project's [`FixAcceptor`]
//! on 127.0.0.1 in a thread of its own, behind QuickFIX's acceptance-test application, and is
//! the script's client side with real sockets and the wall clock. The in-process target
//! (`qp_fix_conformance::InProcessTarget`) runs the same session on a virtual clock; this one
//! proves the transport too (framing across reads, closes, the duplicate-identity rule).

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use qp_fix::session::{Role, SessionConfig};
use qp_fix::{Dictionary, Message};
use qp_fix_conformance::{ConnId, EchoApplication, FrameSplitter, Received, ScriptTarget, TargetError};

use crate::acceptor::{AcceptorApp, AcceptorEvent, AcceptorThread, ConnectionId, Replies};
use crate::clock::unix_now_ns;
use crate::link::TransportError;

/// QuickFIX's test application on the acceptor's connections; forgets each connection's
/// orders when it closes.
#[derive(Debug, Default)]
struct ScriptApplication {
    echo: BTreeMap<ConnectionId, EchoApplication>,
}

impl AcceptorApp for ScriptApplication {
    fn on_message(&mut self, connection: ConnectionId, message: &Message<'_>, replies: &mut Replies) {
        if let Some(reply) = self.echo.entry(connection).or_default().reply(message) {
            let fields: Vec<(u32, &[u8])> = reply.fields.iter().map(|(t, v)| (*t, v.as_slice())).collect();
            replies.send(&reply.msg_type, &fields);
        }
    }

    fn on_event(&mut self, connection: ConnectionId, event: &AcceptorEvent) {
        if let AcceptorEvent::Closed(_) = event {
            self.echo.remove(&connection);
        }
    }
}

#[derive(Debug)]
struct ClientConn {
    stream: TcpStream,
    splitter: FrameSplitter,
    closed: bool,
}

/// The project's acceptor on 127.0.0.1 (one per target, so per script) and the script's
/// connections to it.
#[derive(Debug)]
pub struct TcpTarget {
    acceptor: AcceptorThread,
    conns: BTreeMap<ConnId, ClientConn>,
}

impl TcpTarget {
    /// Starts the acceptor (`sender`/`target` CompIDs as the scripts expect: ISLD and TW44)
    /// with `dictionary` validating every message, on a free port of 127.0.0.1.
    pub fn start(dictionary: Arc<Dictionary>, sender: &str, target: &str) -> Result<Self, TransportError> {
        let config = SessionConfig::new(Role::Acceptor, sender, target, 0);
        let acceptor =
            AcceptorThread::spawn("fix-conformance-acceptor", config, Some(dictionary), ScriptApplication::default())?;
        Ok(Self { acceptor, conns: BTreeMap::new() })
    }

    /// Where the acceptor listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.acceptor.addr()
    }
}

fn target_error(what: &str, error: &std::io::Error) -> TargetError {
    TargetError::new(format!("{what}: {error}"))
}

impl ScriptTarget for TcpTarget {
    fn now_ns(&mut self) -> u64 {
        unix_now_ns()
    }

    fn connect(&mut self, conn: ConnId) -> Result<(), TargetError> {
        let stream = TcpStream::connect(self.acceptor.addr()).map_err(|e| target_error("connect", &e))?;
        stream.set_nodelay(true).map_err(|e| target_error("TCP_NODELAY", &e))?;
        self.conns.insert(conn, ClientConn { stream, splitter: FrameSplitter::new(), closed: false });
        Ok(())
    }

    fn send(&mut self, conn: ConnId, bytes: &[u8]) -> Result<(), TargetError> {
        let Some(c) = self.conns.get_mut(&conn) else { return Ok(()) };
        match c.stream.write_all(bytes) {
            // Closed by the engine: the bytes are lost, the script's next line judges.
            Err(e) if matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) => Ok(()),
            other => other.map_err(|e| target_error("send", &e)),
        }
    }

    fn receive(&mut self, conn: ConnId, wait: Duration) -> Result<Received, TargetError> {
        let Some(c) = self.conns.get_mut(&conn) else { return Ok(Received::Disconnected) };
        let deadline = Instant::now() + wait;
        let mut buf = [0u8; 4096];
        loop {
            if let Some(received) = c.splitter.next_message() {
                return Ok(received);
            }
            if c.closed {
                return Ok(Received::Disconnected);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Received::Nothing);
            }
            c.stream
                .set_read_timeout(Some(left.min(Duration::from_millis(50))))
                .map_err(|e| target_error("timeout", &e))?;
            match c.stream.read(&mut buf) {
                Ok(0) => c.closed = true,
                Ok(n) => c.splitter.push(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => c.closed = true,
                Err(e) => return Err(target_error("receive", &e)),
            }
        }
    }

    fn disconnect(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.remove(&conn) {
            let _ = c.stream.shutdown(Shutdown::Both);
        }
    }
}
