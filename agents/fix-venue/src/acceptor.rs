//! The acceptor: listens on a local address; every accepted connection gets its own
//! [`Session`] (and store) for one configured SenderCompID / TargetCompID pair.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use qp_fix::session::{Event, MemoryStore, MessageStore, Session, SessionConfig, SessionState};
use qp_fix::{Dictionary, Message};

use crate::clock::unix_now_ns;
use crate::link::{self, CloseReason, READ_CHUNK_BYTES, TransportError};

/// Longest sleep of [`FixAcceptor::run`] when nothing happens.
const MAX_IDLE_SLEEP: Duration = Duration::from_millis(1);

/// Which accepted connection (numbered from 1 in accept order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

/// What the acceptor reports to its application besides messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptorEvent {
    /// A connection was accepted (its session waits for the Logon).
    Connected { peer: SocketAddr },
    /// The connection's session reported this (`LoggedOn`, `Disconnect`, `RejectSent`, …).
    Session(Event),
    /// The connection is closed and forgotten.
    Closed(CloseReason),
}

/// Application messages an [`AcceptorApp`] wants sent on the connection it was called for;
/// they are sent (header, sequence number, store) right after the message that caused them.
#[derive(Debug, Default)]
pub struct Replies {
    queued: Vec<QueuedReply>,
}

#[derive(Debug)]
struct QueuedReply {
    msg_type: Vec<u8>,
    body: Vec<(u32, Vec<u8>)>,
}

impl Replies {
    /// Queues a message of `msg_type` with these body fields (in this order).
    pub fn send(&mut self, msg_type: &[u8], body: &[(u32, &[u8])]) {
        let body = body.iter().map(|&(tag, value)| (tag, value.to_vec())).collect();
        self.queued.push(QueuedReply { msg_type: msg_type.to_vec(), body });
    }
    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }
}

/// The acceptor's application: messages delivered in sequence, and events.
pub trait AcceptorApp {
    /// An application message delivered by the session of `connection`.
    fn on_message(&mut self, connection: ConnectionId, message: &Message<'_>, replies: &mut Replies);
    /// A connection event (accepted, session event, closed).
    fn on_event(&mut self, connection: ConnectionId, event: &AcceptorEvent) {
        let _ = (connection, event);
    }
}

/// A closure over delivered messages is an application that ignores events.
impl<F: FnMut(ConnectionId, &Message<'_>, &mut Replies)> AcceptorApp for F {
    fn on_message(&mut self, connection: ConnectionId, message: &Message<'_>, replies: &mut Replies) {
        self(connection, message, replies)
    }
}

#[derive(Debug)]
struct Accepted<'d, S: MessageStore> {
    id: ConnectionId,
    stream: Option<TcpStream>,
    session: Session<'d, S>,
}

/// A FIX acceptor over TCP. The caller drives it with [`Self::run_once`] (never blocks) or
/// [`Self::run`] (a loop until a stop flag, for a thread of its own).
pub struct FixAcceptor<'d, S: MessageStore = MemoryStore> {
    listener: TcpListener,
    local_addr: SocketAddr,
    config: SessionConfig,
    dictionary: Option<&'d Dictionary>,
    new_store: Box<dyn FnMut(ConnectionId) -> S + Send + 'd>,
    connections: Vec<Accepted<'d, S>>,
    next_id: u64,
    read_buf: Vec<u8>,
    replies: Replies,
}

impl<S: MessageStore> std::fmt::Debug for FixAcceptor<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FixAcceptor")
            .field("local_addr", &self.local_addr)
            .field("config", &self.config)
            .field("connections", &self.connections.len())
            .finish_non_exhaustive()
    }
}

impl<'d> FixAcceptor<'d, MemoryStore> {
    /// Listens on `addr` (e.g. `127.0.0.1:0` for a free port); each connection's session
    /// starts with a fresh [`MemoryStore`] (both sequence numbers at 1). `config.role` should
    /// be `Role::Acceptor`; `dictionary`, when given, validates every received message.
    pub fn bind(
        addr: SocketAddr,
        config: SessionConfig,
        dictionary: Option<&'d Dictionary>,
    ) -> Result<Self, TransportError> {
        Self::bind_with_stores(addr, config, dictionary, |_| MemoryStore::new())
    }
}

impl<'d, S: MessageStore> FixAcceptor<'d, S> {
    /// [`FixAcceptor::bind`] with the store of each connection's session made by `new_store`.
    pub fn bind_with_stores(
        addr: SocketAddr,
        config: SessionConfig,
        dictionary: Option<&'d Dictionary>,
        new_store: impl FnMut(ConnectionId) -> S + Send + 'd,
    ) -> Result<Self, TransportError> {
        let listener = TcpListener::bind(addr).map_err(TransportError::io("bind"))?;
        listener.set_nonblocking(true).map_err(TransportError::io("non-blocking listener"))?;
        let local_addr = listener.local_addr().map_err(TransportError::io("local address"))?;
        Ok(Self {
            listener,
            local_addr,
            config,
            dictionary,
            new_store: Box::new(new_store),
            connections: Vec::new(),
            next_id: 1,
            read_buf: vec![0; READ_CHUNK_BYTES],
            replies: Replies::default(),
        })
    }

    /// Where it listens (the port chosen when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Open connections, oldest first.
    pub fn connections(&self) -> impl Iterator<Item = ConnectionId> + '_ {
        self.connections.iter().map(|c| c.id)
    }

    /// The session of an open connection.
    pub fn session(&self, id: ConnectionId) -> Option<&Session<'d, S>> {
        self.connections.iter().find(|c| c.id == id).map(|c| &c.session)
    }

    /// The session of an open connection, e.g. to send an application message (written on
    /// the next [`Self::run_once`]).
    pub fn session_mut(&mut self, id: ConnectionId) -> Option<&mut Session<'d, S>> {
        self.connections.iter_mut().find(|c| c.id == id).map(|c| &mut c.session)
    }

    /// One step at `now_ns` (Unix ns): accepts waiting connections, then for each one writes
    /// what is queued, reads and processes what arrived (application messages to `app`, with
    /// its replies sent right after), runs the timers when due and writes the answers. Closed
    /// connections are dropped. Returns the bytes read and connections accepted (0: idle).
    /// Never blocks.
    pub fn run_once(&mut self, now_ns: u64, app: &mut impl AcceptorApp) -> usize {
        let mut work = self.accept(now_ns, app);
        let logged_on = self
            .connections
            .iter()
            .find(|c| matches!(c.session.state(), SessionState::Active | SessionState::LogoutSent))
            .map(|c| c.id);
        for conn in &mut self.connections {
            let Some(stream) = conn.stream.as_mut() else { continue };
            let id = conn.id;
            let mut failure = link::flush(stream, &mut conn.session).err().map(|e| CloseReason::Io(e.kind()));
            if failure.is_none()
                && logged_on.is_some_and(|other| other != id)
                && conn.session.state() == SessionState::AwaitingLogon
            {
                // Another connection holds the identity: this one's first bytes are not read
                // into a session at all, so it gets no answer, only the close.
                match stream.read(&mut self.read_buf) {
                    Ok(_) => failure = Some(CloseReason::DuplicateIdentity),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(e) => failure = Some(CloseReason::Io(e.kind())),
                }
            }
            if failure.is_none() {
                let replies = &mut self.replies;
                let mut deliver = |message: &Message<'_>| app.on_message(id, message, replies);
                match link::read_available(stream, &mut self.read_buf, &mut conn.session, now_ns, &mut deliver) {
                    Ok(outcome) => {
                        work += outcome.bytes;
                        if outcome.eof {
                            failure = Some(CloseReason::PeerClosed);
                        }
                    }
                    Err(e) => failure = Some(CloseReason::Io(e.kind())),
                }
            }
            for reply in self.replies.queued.drain(..) {
                let sent = conn.session.send_app(now_ns, &reply.msg_type, |e| {
                    for (tag, value) in &reply.body {
                        e.bytes(*tag, value);
                    }
                });
                if let Err(error) = sent {
                    tracing::debug!(connection = id.0, %error, "acceptor reply not sent");
                }
            }
            if conn.session.next_timer_ns().is_some_and(|at| at <= now_ns) {
                conn.session.on_timer(now_ns);
            }
            let mut disconnect = false;
            while let Some(event) = conn.session.poll_event() {
                disconnect |= matches!(event, Event::Disconnect { .. });
                app.on_event(id, &AcceptorEvent::Session(event));
            }
            if failure.is_none() && disconnect {
                failure = Some(CloseReason::SessionDisconnect);
            }
            if failure.is_none()
                && let Some(stream) = conn.stream.as_mut()
                && let Err(e) = link::flush(stream, &mut conn.session)
            {
                failure = Some(CloseReason::Io(e.kind()));
            }
            if let Some(reason) = failure
                && let Some(stream) = conn.stream.take()
            {
                link::close(stream, &mut conn.session);
                app.on_event(id, &AcceptorEvent::Closed(reason));
                work += 1;
            }
        }
        self.connections.retain(|c| c.stream.is_some());
        work
    }

    /// [`Self::run_once`] in a loop with the wall clock until `stop` is set; sleeps (up to
    /// 1 ms) only while idle. Meant for a thread of its own (`std::thread::scope`).
    pub fn run(&mut self, stop: &AtomicBool, app: &mut impl AcceptorApp) {
        let mut idle_rounds = 0u32;
        while !stop.load(Ordering::Relaxed) {
            if self.run_once(unix_now_ns(), app) > 0 {
                idle_rounds = 0;
                continue;
            }
            idle_rounds = idle_rounds.saturating_add(1);
            if idle_rounds > 64 {
                let micros = 10u64 << (idle_rounds - 64).min(7);
                std::thread::sleep(Duration::from_micros(micros).min(MAX_IDLE_SLEEP));
            } else {
                std::hint::spin_loop();
            }
        }
    }

    fn accept(&mut self, now_ns: u64, app: &mut impl AcceptorApp) -> usize {
        let mut accepted = 0;
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    if let Err(error) = link::configure(&stream) {
                        tracing::warn!(%peer, %error, "accepted connection dropped");
                        continue;
                    }
                    let id = ConnectionId(self.next_id);
                    self.next_id += 1;
                    let store = (self.new_store)(id);
                    let mut session = Session::new(self.config.clone(), store, self.dictionary);
                    session.connect(now_ns);
                    app.on_event(id, &AcceptorEvent::Connected { peer });
                    self.connections.push(Accepted { id, stream: Some(stream), session });
                    accepted += 1;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return accepted,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    return accepted;
                }
            }
        }
    }
}

/// A [`FixAcceptor`] on 127.0.0.1 (a free port) in a thread of its own, running `app` until
/// dropped: the test counterparts (the conformance scripts' acceptor, the loopback exchange).
#[derive(Debug)]
pub struct AcceptorThread {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl AcceptorThread {
    /// Binds and starts serving; `dictionary`, when given, validates every received message.
    /// The acceptor is bound inside the thread (it borrows the dictionary there), and this
    /// returns once it listens, or with the bind error.
    pub fn spawn<A: AcceptorApp + Send + 'static>(
        name: &str,
        config: SessionConfig,
        dictionary: Option<Arc<Dictionary>>,
        mut app: A,
    ) -> Result<Self, TransportError> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
                match FixAcceptor::bind(loopback, config, dictionary.as_deref()) {
                    Ok(mut acceptor) => {
                        let _ = ready_tx.send(Ok(acceptor.local_addr()));
                        acceptor.run(&thread_stop, &mut app);
                    }
                    Err(error) => {
                        let _ = ready_tx.send(Err(error));
                    }
                }
            })
            .map_err(TransportError::io("acceptor thread"))?;
        let addr = ready_rx
            .recv()
            .map_err(|_| TransportError::io("acceptor thread")(std::io::Error::other("exited before binding")))??;
        Ok(Self { addr, stop, thread: Some(thread) })
    }

    /// Where the acceptor listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for AcceptorThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
