//! The initiator: one TCP connection to the venue, driven by the caller's [`FixInitiator::poll`].

use std::collections::VecDeque;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use qp_fix::session::{Event, MessageStore, Session, SessionConfig, SessionState};
use qp_fix::{Dictionary, Message};

use crate::link::{self, CloseReason, LinkEvent, READ_CHUNK_BYTES, TransportError};

/// How long [`FixInitiator::connect`] waits for the TCP handshake by default.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A FIX initiator over TCP: [`Self::connect`] opens the socket and sends the Logon; then the
/// caller calls [`Self::poll`] (in a loop, from one thread), which writes what the session has
/// queued, reads what arrived, runs the session's timers, and never blocks.
#[derive(Debug)]
pub struct FixInitiator<'d, S: MessageStore> {
    peer: SocketAddr,
    session: Session<'d, S>,
    stream: Option<TcpStream>,
    read_buf: Vec<u8>,
    events: VecDeque<LinkEvent>,
    connect_timeout: Duration,
}

impl<'d, S: MessageStore> FixInitiator<'d, S> {
    /// An initiator for `peer` (`config.role` should be `Role::Initiator`); nothing is
    /// connected until [`Self::connect`].
    pub fn new(peer: SocketAddr, config: SessionConfig, store: S, dictionary: Option<&'d Dictionary>) -> Self {
        Self {
            peer,
            session: Session::new(config, store, dictionary),
            stream: None,
            read_buf: vec![0; READ_CHUNK_BYTES],
            events: VecDeque::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// How long [`Self::connect`] waits for the TCP handshake.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }
    pub fn session(&self) -> &Session<'d, S> {
        &self.session
    }
    /// The session, e.g. to send application messages (they are written on the next
    /// [`Self::flush`] or [`Self::poll`]).
    pub fn session_mut(&mut self) -> &mut Session<'d, S> {
        &mut self.session
    }
    pub fn store(&self) -> &S {
        self.session.store()
    }
    pub fn is_connected(&self) -> bool {
        self.stream.is_some()
    }
    /// Connected and logged on.
    pub fn is_logged_on(&self) -> bool {
        self.stream.is_some() && self.session.state() == SessionState::Active
    }

    /// Opens the TCP connection (waiting at most the connect timeout), sets TCP_NODELAY and
    /// non-blocking mode, and starts the session (its Logon is written at once).
    pub fn connect(&mut self, now_ns: u64) -> Result<(), TransportError> {
        if self.stream.is_some() {
            return Err(TransportError::AlreadyConnected);
        }
        let stream =
            TcpStream::connect_timeout(&self.peer, self.connect_timeout).map_err(TransportError::io("connect"))?;
        link::configure(&stream)?;
        self.stream = Some(stream);
        self.session.connect(now_ns);
        self.after_session_input();
        self.flush();
        Ok(())
    }

    /// One step: write what is queued, read and process what arrived (application messages
    /// go to `deliver`, in sequence), run the timers when due, write the answers. Returns
    /// the bytes read. Never blocks; a closed connection is reported as
    /// [`LinkEvent::Closed`].
    pub fn poll(&mut self, now_ns: u64, mut deliver: impl FnMut(&Message<'_>)) -> usize {
        let Some(stream) = self.stream.as_mut() else { return 0 };
        let mut failure = link::flush(stream, &mut self.session).err().map(|e| CloseReason::Io(e.kind()));
        let mut read = 0;
        if failure.is_none() {
            match link::read_available(stream, &mut self.read_buf, &mut self.session, now_ns, &mut deliver) {
                Ok(outcome) => {
                    read = outcome.bytes;
                    if outcome.eof {
                        failure = Some(CloseReason::PeerClosed);
                    }
                }
                Err(e) => failure = Some(CloseReason::Io(e.kind())),
            }
        }
        if self.session.next_timer_ns().is_some_and(|at| at <= now_ns) {
            self.session.on_timer(now_ns);
        }
        self.after_session_input();
        match failure {
            Some(reason) => self.close_with(reason),
            None => self.flush(),
        }
        read
    }

    /// Writes what the session has queued (as much as the socket takes now).
    pub fn flush(&mut self) {
        let Some(stream) = self.stream.as_mut() else { return };
        if let Err(e) = link::flush(stream, &mut self.session) {
            self.close_with(CloseReason::Io(e.kind()));
        }
    }

    /// Starts the Logout handshake (the answer arrives through [`Self::poll`]).
    pub fn logout(&mut self, now_ns: u64, text: Option<&str>) {
        self.session.logout(now_ns, text);
        self.after_session_input();
        self.flush();
    }

    /// Closes the connection now, without a Logout.
    pub fn close(&mut self) {
        self.close_with(CloseReason::Local);
    }

    /// The next session or connection event.
    pub fn next_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }

    /// Moves the session's events to ours; a disconnect closes the socket.
    fn after_session_input(&mut self) {
        let mut disconnect = false;
        while let Some(event) = self.session.poll_event() {
            if matches!(event, Event::Disconnect { .. }) {
                disconnect = true;
            }
            self.events.push_back(LinkEvent::Session(event));
        }
        if disconnect {
            self.close_with(CloseReason::SessionDisconnect);
        }
    }

    fn close_with(&mut self, reason: CloseReason) {
        if let Some(stream) = self.stream.take() {
            link::close(stream, &mut self.session);
            self.events.push_back(LinkEvent::Closed(reason));
        }
    }
}
