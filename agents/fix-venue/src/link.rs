//! What the initiator and the acceptor share: moving bytes between a non-blocking
//! `TcpStream` and a [`Session`], and how a connection ends.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use qp_fix::Message;
use qp_fix::session::{Event, MessageStore, Session};

/// Bytes read per `read` call.
pub(crate) const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Reads per poll at most, so that a flooding peer cannot keep a poll from returning.
const MAX_READS_PER_POLL: usize = 16;
/// How long a closing connection may take to write what the session still has to say
/// (a Logout, a Reject) before it is shut down anyway.
const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_millis(200);

/// A transport failure.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("not connected")]
    NotConnected,
    #[error("already connected")]
    AlreadyConnected,
}

impl TransportError {
    pub(crate) fn io(what: &'static str) -> impl FnOnce(io::Error) -> Self {
        move |source| Self::Io { what, source }
    }
}

/// Why a connection was closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer closed its end (read returned 0).
    PeerClosed,
    /// The session asked for it (`Event::Disconnect`, reported just before).
    SessionDisconnect,
    /// A read or write failed.
    Io(io::ErrorKind),
    /// [`crate::FixInitiator::close`] or the acceptor was dropped.
    Local,
    /// The acceptor already has a session logged on for its one SenderCompID/TargetCompID
    /// pair; a second connection that speaks is closed unanswered (FIX's duplicate-identity
    /// rule: the first session is the one that counts).
    DuplicateIdentity,
}

/// What happened on a connection, in order: the session's own events, and its closing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    Session(Event),
    Closed(CloseReason),
}

/// Writes as much of the session's outbound bytes as the socket takes now.
pub(crate) fn flush<S: MessageStore>(stream: &mut TcpStream, session: &mut Session<'_, S>) -> io::Result<usize> {
    let mut written = 0;
    loop {
        let out = session.outbound();
        if out.is_empty() {
            return Ok(written);
        }
        match stream.write(out) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => {
                session.consume_outbound(n);
                written += n;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(written),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// What [`read_available`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReadOutcome {
    pub(crate) bytes: usize,
    pub(crate) eof: bool,
}

/// Reads what the socket has now (bounded) and feeds it to the session.
pub(crate) fn read_available<S: MessageStore>(
    stream: &mut TcpStream,
    buf: &mut [u8],
    session: &mut Session<'_, S>,
    now_ns: u64,
    deliver: &mut dyn FnMut(&Message<'_>),
) -> io::Result<ReadOutcome> {
    let mut outcome = ReadOutcome { bytes: 0, eof: false };
    for _ in 0..MAX_READS_PER_POLL {
        match stream.read(buf) {
            Ok(0) => {
                outcome.eof = true;
                return Ok(outcome);
            }
            Ok(n) => {
                outcome.bytes += n;
                session.on_bytes(now_ns, &buf[..n], &mut *deliver);
                if n < buf.len() {
                    return Ok(outcome);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(outcome),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(outcome)
}

/// Writes what is left (blocking, bounded by [`CLOSE_WRITE_TIMEOUT`]) and shuts the socket.
pub(crate) fn close<S: MessageStore>(mut stream: TcpStream, session: &mut Session<'_, S>) {
    if !session.outbound().is_empty()
        && stream.set_nonblocking(false).is_ok()
        && stream.set_write_timeout(Some(CLOSE_WRITE_TIMEOUT)).is_ok()
    {
        let _ = stream.write_all(session.outbound());
    }
    // Whatever was not written is gone with the connection (the store keeps what matters).
    session.take_outbound();
    session.transport_closed();
    let _ = stream.shutdown(Shutdown::Both);
}

/// A connected socket set up the way both sides want it.
pub(crate) fn configure(stream: &TcpStream) -> Result<(), TransportError> {
    stream.set_nodelay(true).map_err(TransportError::io("TCP_NODELAY"))?;
    stream.set_nonblocking(true).map_err(TransportError::io("non-blocking socket"))
}
