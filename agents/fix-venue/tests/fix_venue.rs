#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout, clippy::print_stderr)] // test code
//! The venue connection against a real counterparty: `tests/fix-peer/exchange.py`, a QuickFIX
//! acceptor, run from the project venv on 127.0.0.1 (each test starts and stops its own, on a
//! free port, with a temp dir). Also our initiator against our own acceptor.
//!
//! Needs `cargo xtask setup` (the venv with quickfix-tls, `.cache/fix/FIX44.xml`); without it
//! the tests fail and say so.

mod support {
    use std::net::SocketAddr;
    use std::path::{Path, PathBuf};
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    use qp_fix::session::{Event, MessageStore, Role, SessionConfig};
    use qp_fix::{Dictionary, Message, Scale};
    use qp_fix_venue::peer::{ExchangePeer, PeerOptions};
    use qp_fix_venue::trade::{permissive_sentinel, trade_asset, trade_instrument};
    use qp_fix_venue::{
        FixInitiator, GatewayConfig, GatewayEvent, LinkEvent, OrderGateway, VenueGateway, VenueInstrument,
    };
    use qp_risk_sentinel::{RiskApproved, RiskSentinel};
    use qp_wire::{Decision, OrderIntent, Side};

    pub(crate) use qp_fix_venue::unix_now_ns;

    pub(crate) const PRICE_TICKS: i64 = 6_100_050;
    pub(crate) const SCALE: Scale = Scale::new(2, 0);
    pub(crate) const WAIT: Duration = Duration::from_secs(10);

    pub(crate) fn workspace_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    /// The exchange simulator, started in `dir` with `extra` arguments.
    pub(crate) fn start_peer(dir: &Path, extra: &[&str]) -> ExchangePeer {
        let mut options = PeerOptions::in_workspace(&workspace_root(), dir.join("exchange"));
        options.extra_args = extra.iter().map(|s| (*s).to_owned()).collect();
        ExchangePeer::start(&options).unwrap_or_else(|e| panic!("cannot start the FIX peer: {e}"))
    }

    pub(crate) fn dictionary() -> &'static Dictionary {
        static DICTIONARY: OnceLock<Dictionary> = OnceLock::new();
        DICTIONARY.get_or_init(|| {
            let path = std::env::var_os("QP_FIX44_XML")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace_root().join(".cache/fix/FIX44.xml"));
            Dictionary::load(&path)
                .unwrap_or_else(|e| panic!("FIX44.xml at {} ({e}): run `cargo xtask setup`", path.display()))
        })
    }

    pub(crate) fn gateway() -> OrderGateway {
        let instrument = trade_instrument("BTCUSDT", SCALE);
        OrderGateway::new(vec![VenueInstrument::from_spec(&instrument)], GatewayConfig::default()).unwrap()
    }

    pub(crate) fn initiator<S: MessageStore>(peer: SocketAddr, store: S) -> FixInitiator<'static, S> {
        let config = SessionConfig::new(Role::Initiator, "QPNODE", "EXCH", 30);
        FixInitiator::new(peer, config, store, Some(dictionary()))
    }

    pub(crate) fn venue<S: MessageStore>(peer: SocketAddr, store: S) -> VenueGateway<'static, S> {
        let mut venue = VenueGateway::new(initiator(peer, store), gateway());
        venue.recover().unwrap();
        venue
    }

    pub(crate) fn sentinel() -> RiskSentinel {
        permissive_sentinel(trade_instrument("BTCUSDT", SCALE), PRICE_TICKS, unix_now_ns()).unwrap()
    }

    /// An approved order (decision `id`, `qty` lots).
    pub(crate) fn approve(sentinel: &mut RiskSentinel, id: u64, side: Side, qty: i64) -> RiskApproved<OrderIntent> {
        let now = unix_now_ns();
        sentinel.update_price(trade_asset(), PRICE_TICKS, now).unwrap();
        sentinel.check(now, &Decision::new(id, trade_asset(), side, qty, PRICE_TICKS, 0)).unwrap()
    }

    /// Everything a venue reported so far.
    #[derive(Debug, Default)]
    pub(crate) struct Seen {
        pub(crate) reports: Vec<GatewayEvent>,
        pub(crate) link: Vec<LinkEvent>,
    }

    impl Seen {
        pub(crate) fn logged_on(&self) -> bool {
            self.link.iter().any(|e| matches!(e, LinkEvent::Session(Event::LoggedOn)))
        }
        pub(crate) fn closed(&self) -> bool {
            self.link.iter().any(|e| matches!(e, LinkEvent::Closed(_)))
        }
        pub(crate) fn execs(&self) -> impl Iterator<Item = &GatewayEvent> {
            self.reports.iter().filter(|e| matches!(e, GatewayEvent::Exec { .. }))
        }
    }

    /// Polls until `done(seen)`; panics after [`WAIT`] with what was seen.
    pub(crate) fn pump<S: MessageStore>(
        venue: &mut VenueGateway<'_, S>,
        seen: &mut Seen,
        done: impl Fn(&Seen) -> bool,
    ) {
        let deadline = Instant::now() + WAIT;
        loop {
            venue.poll(unix_now_ns());
            while let Some(e) = venue.next_link_event() {
                seen.link.push(e);
            }
            while let Some(e) = venue.next_event() {
                seen.reports.push(e);
            }
            if done(seen) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out; seen: {seen:#?}");
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    pub(crate) fn log_on<S: MessageStore>(venue: &mut VenueGateway<'_, S>, seen: &mut Seen) {
        venue.link_mut().connect(unix_now_ns()).unwrap();
        pump(venue, seen, Seen::logged_on);
    }

    pub(crate) fn log_out<S: MessageStore>(venue: &mut VenueGateway<'_, S>, seen: &mut Seen) {
        venue.link_mut().logout(unix_now_ns(), None);
        pump(venue, seen, Seen::closed);
    }

    /// The body (between the standard header and the trailer) of a frame, as bytes.
    pub(crate) fn body_bytes(frame: &[u8]) -> Vec<u8> {
        let m = Message::parse(frame).unwrap();
        let start = |index: usize| m.field(index).unwrap().offset - m.tag_text(index).unwrap().len() - 1;
        frame[start(m.body_start())..start(m.trailer_start())].to_vec()
    }

    /// The frames QuickFIX logged as received (its `*.messages.current.log`).
    pub(crate) fn peer_received_frames(exchange_dir: &Path) -> Vec<Vec<u8>> {
        let log = exchange_dir.join("exchange/log/FIX.4.4-EXCH-QPNODE.messages.current.log");
        let text = std::fs::read(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let mut frames = Vec::new();
        let mut at = 0;
        while let Some(found) = text[at..].windows(10).position(|w| w == b"8=FIX.4.4\x01") {
            let start = at + found;
            match qp_fix::frame(&text[start..]) {
                Ok(qp_fix::Framing::Complete { len_bytes, .. }) => {
                    frames.push(text[start..start + len_bytes].to_vec());
                    at = start + len_bytes;
                }
                _ => at = start + 1,
            }
        }
        // Received: sent by EXCH's counterparty, i.e. SenderCompID QPNODE.
        frames.retain(|f| Message::parse(f).is_ok_and(|m| m.get(qp_fix::tag::SENDER_COMP_ID) == Some(b"QPNODE")));
        frames
    }

    /// `IN <type> <ClOrdID> seq=<n> possdup=<Y|N>` lines of the simulator.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(crate) struct PeerIn {
        pub(crate) msg_type: String,
        pub(crate) cl_ord_id: String,
        pub(crate) seq: u64,
        pub(crate) poss_dup: bool,
    }

    pub(crate) fn peer_ins(lines: &[String]) -> Vec<PeerIn> {
        lines
            .iter()
            .filter_map(|l| {
                let mut parts = l.strip_prefix("IN ")?.split(' ');
                let msg_type = parts.next()?.to_owned();
                let cl_ord_id = parts.next()?.to_owned();
                let seq = parts.next()?.strip_prefix("seq=")?.parse().ok()?;
                let poss_dup = parts.next()? == "possdup=Y";
                Some(PeerIn { msg_type, cl_ord_id, seq, poss_dup })
            })
            .collect()
    }
}

mod session {
    use qp_fix::session::{Event, MemoryStore, MessageStore};
    use qp_fix_venue::LinkEvent;

    use crate::support::*;

    #[test]
    fn logon_and_logout_with_the_quickfix_exchange() {
        let dir = tempfile::tempdir().unwrap();
        let peer = start_peer(dir.path(), &[]);
        let mut venue = venue(peer.addr(), MemoryStore::new());
        let mut seen = Seen::default();
        log_on(&mut venue, &mut seen);
        assert!(venue.link().is_logged_on());
        assert!(peer.wait_for(|l| l.starts_with("LOGON"), WAIT).is_some());
        log_out(&mut venue, &mut seen);
        assert!(seen.link.iter().any(|e| matches!(e, LinkEvent::Session(Event::LoggedOut { .. }))), "{seen:#?}");
        assert!(peer.wait_for(|l| l.starts_with("LOGOUT"), WAIT).is_some());
        // Logon, Logout each way: both sides at 3 next.
        assert_eq!(venue.link().store().next_sender_seq(), 3);
        drop(peer.stop());
    }
}

mod orders {
    use qp_fix::messages::{ExecType, OrdStatus};
    use qp_fix::session::MemoryStore;
    use qp_fix_venue::{GatewayEvent, Submitted};
    use qp_risk_sentinel::KillSwitchCommand;
    use qp_wire::{ExecStatus, Side};

    use crate::support::*;

    fn exec_of(seen: &Seen, intent: u64, status: ExecStatus) -> bool {
        seen.execs().any(|e| {
            matches!(e, GatewayEvent::Exec { report, .. }
                if report.intent_id.get() == intent && report.status == status as u8)
        })
    }

    #[test]
    fn order_is_acknowledged_then_filled() {
        let dir = tempfile::tempdir().unwrap();
        let peer = start_peer(dir.path(), &[]);
        let mut venue = venue(peer.addr(), MemoryStore::new());
        let mut seen = Seen::default();
        log_on(&mut venue, &mut seen);
        let mut sentinel = sentinel();
        let order = approve(&mut sentinel, 1, Side::Buy, 10);
        let Ok(Submitted::Sent { cl_ord_id, seq }) = venue.submit(unix_now_ns(), order) else { panic!("not sent") };
        assert_eq!((cl_ord_id.as_str(), seq), ("QP1", 2));
        pump(&mut venue, &mut seen, |s| exec_of(s, 1, ExecStatus::Filled));
        let execs: Vec<_> = seen.execs().copied().collect();
        let GatewayEvent::Exec {
            report: new,
            exec_type: ExecType::New,
            ord_status: OrdStatus::New,
            poss_dup: false,
            ..
        } = execs[0]
        else {
            panic!("first report: {:?}", execs[0]);
        };
        assert_eq!((new.status, new.leaves_qty.get(), new.cum_qty.get()), (ExecStatus::New as u8, 10, 0));
        let GatewayEvent::Exec { report: fill, exec_type: ExecType::Trade, ord_status: OrdStatus::Filled, .. } =
            execs[1]
        else {
            panic!("second report: {:?}", execs[1]);
        };
        assert_eq!(fill.intent_id.get(), 1);
        assert_eq!(fill.asset.get(), qp_fix_venue::trade::trade_asset().get());
        assert_eq!(fill.side, Side::Buy as u8);
        assert_eq!((fill.last_qty.get(), fill.last_price.get(), fill.cum_qty.get()), (10, PRICE_TICKS, 10));
        assert_eq!(fill.leaves_qty.get(), 0);
        // The risk side takes the reports: the order is no longer open, the position is 10.
        for e in seen.execs() {
            if let GatewayEvent::Exec { report, .. } = e {
                sentinel.on_exec_report(report);
            }
        }
        assert!(sentinel.open_orders().is_empty());
        assert_eq!(sentinel.position_lots(qp_fix_venue::trade::trade_asset()), Some(10));
        let lines = peer.stop();
        let ins = peer_ins(&lines);
        assert_eq!(ins.len(), 1, "{lines:?}");
        assert_eq!(
            (ins[0].msg_type.as_str(), ins[0].cl_ord_id.as_str(), ins[0].seq, ins[0].poss_dup),
            ("D", "QP1", 2, false)
        );
    }

    #[test]
    fn cancels_of_a_resting_order_and_of_an_order_the_exchange_no_longer_has() {
        let dir = tempfile::tempdir().unwrap();
        // Quantities above 5 rest; 1 fills at once.
        let peer = start_peer(dir.path(), &["--fill-limit", "5"]);
        let mut venue = venue(peer.addr(), MemoryStore::new());
        let mut seen = Seen::default();
        log_on(&mut venue, &mut seen);
        let mut sentinel = sentinel();
        venue.submit(unix_now_ns(), approve(&mut sentinel, 1, Side::Buy, 10)).unwrap();
        pump(&mut venue, &mut seen, |s| exec_of(s, 1, ExecStatus::New));
        // Order 2 fills on arrival; its cancel, sent before the fill was read, finds nothing.
        venue.submit(unix_now_ns(), approve(&mut sentinel, 2, Side::Sell, 1)).unwrap();
        let (cancel_id, _) = venue.cancel_order(unix_now_ns(), 2).unwrap();
        assert_eq!(cancel_id.as_str(), "QP2-C1");
        pump(&mut venue, &mut seen, |s| {
            exec_of(s, 2, ExecStatus::Filled)
                && s.reports.iter().any(|e| matches!(e, GatewayEvent::CancelRejected { intent_id: 2, .. }))
        });
        let Some(GatewayEvent::CancelRejected { cl_ord_id, ord_status, cxl_rej_reason, .. }) =
            seen.reports.iter().find(|e| matches!(e, GatewayEvent::CancelRejected { .. }))
        else {
            unreachable!()
        };
        assert_eq!((cl_ord_id.as_str(), *ord_status, *cxl_rej_reason), ("QP2-C1", OrdStatus::Rejected, Some(1)));
        // A done order is not cancelled again by the gateway.
        assert!(venue.cancel_order(unix_now_ns(), 2).is_err());
        for e in seen.execs() {
            if let GatewayEvent::Exec { report, .. } = e {
                sentinel.on_exec_report(report);
            }
        }
        // RiskSentinel halts: it asks to cancel its one open order (1), the gateway sends it.
        sentinel.command(KillSwitchCommand::Halt).unwrap();
        let requests: Vec<_> = sentinel.take_cancel_requests().collect();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].intent_id, 1);
        let (cancel_id, _) = venue.cancel(unix_now_ns(), &requests[0]).unwrap();
        assert_eq!(cancel_id.as_str(), "QP1-C1");
        pump(&mut venue, &mut seen, |s| exec_of(s, 1, ExecStatus::Canceled));
        let canceled = seen
            .execs()
            .find_map(|e| match e {
                GatewayEvent::Exec { report, cl_ord_id, exec_type: ExecType::Canceled, .. } => {
                    Some((*report, *cl_ord_id))
                }
                _ => None,
            })
            .unwrap();
        assert_eq!(canceled.1.as_str(), "QP1-C1");
        assert_eq!((canceled.0.intent_id.get(), canceled.0.leaves_qty.get()), (1, 0));
        sentinel.on_exec_report(&canceled.0);
        assert!(sentinel.open_orders().is_empty());
        log_out(&mut venue, &mut seen);
        let ins = peer_ins(&peer.stop());
        let kinds: Vec<_> = ins.iter().map(|i| format!("{} {}", i.msg_type, i.cl_ord_id)).collect();
        assert_eq!(kinds, ["D QP1", "D QP2", "F QP2-C1", "F QP1-C1"]);
    }
}

mod gaps {
    use qp_fix::session::{Event, MessageStore};
    use qp_fix_store::{FileStore, FsyncPolicy};
    use qp_fix_venue::{GatewayEvent, LinkEvent, Submitted};
    use qp_wire::{ExecStatus, Side};

    use crate::support::*;

    /// The exchange misses two of our orders (their bytes never reach the socket): on the
    /// next one it sees the gap, asks for a resend, and gets them again, PossDupFlag=Y, with
    /// bodies byte-identical to what the store kept.
    #[test]
    fn exchange_misses_orders_and_gets_byte_identical_resends() {
        let dir = tempfile::tempdir().unwrap();
        let peer = start_peer(dir.path(), &[]);
        std::fs::create_dir_all(dir.path().join("ours")).unwrap();
        let store = FileStore::open_with(dir.path().join("ours"), "QPNODE-EXCH", FsyncPolicy::Never).unwrap();
        let mut link = initiator(peer.addr(), store);
        let mut gateway = gateway();
        let mut sentinel = sentinel();
        link.connect(unix_now_ns()).unwrap();
        let mut logged_on = false;
        let deadline = std::time::Instant::now() + WAIT;
        while !logged_on {
            link.poll(unix_now_ns(), |_| {});
            while let Some(e) = link.next_event() {
                logged_on |= e == LinkEvent::Session(Event::LoggedOn);
            }
            assert!(std::time::Instant::now() < deadline);
        }
        let mut send = |link: &mut qp_fix_venue::FixInitiator<'_, FileStore>, id: u64, lost: bool| -> u64 {
            let order = approve(&mut sentinel, id, Side::Buy, 1);
            let Ok(Submitted::Sent { seq, .. }) = gateway.submit(link.session_mut(), unix_now_ns(), order) else {
                panic!("not sent")
            };
            if lost {
                link.session_mut().take_outbound();
            } else {
                link.flush();
            }
            seq
        };
        assert_eq!(send(&mut link, 1, false), 2);
        assert_eq!(send(&mut link, 2, true), 3);
        assert_eq!(send(&mut link, 3, true), 4);
        assert_eq!(send(&mut link, 4, false), 5);
        let (mut resend_answered, mut fills) = (false, 0);
        let deadline = std::time::Instant::now() + WAIT;
        while !(resend_answered && fills == 4) {
            let mut events = Vec::new();
            link.poll(unix_now_ns(), |m| events.extend(gateway.on_message(m)));
            for e in events {
                if let GatewayEvent::Exec { report, .. } = e
                    && report.status == ExecStatus::Filled as u8
                {
                    fills += 1;
                }
            }
            while let Some(e) = link.next_event() {
                resend_answered |= matches!(e, LinkEvent::Session(Event::ResendAnswered { begin: 3, .. }));
            }
            assert!(std::time::Instant::now() < deadline, "resend answered {resend_answered}, fills {fills}");
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        link.logout(unix_now_ns(), None);
        let deadline = std::time::Instant::now() + WAIT;
        while link.is_connected() && std::time::Instant::now() < deadline {
            link.poll(unix_now_ns(), |_| {});
        }
        let lines = peer.stop();
        let ins = peer_ins(&lines);
        let got: Vec<_> = ins.iter().map(|i| (i.cl_ord_id.as_str(), i.seq, i.poss_dup)).collect();
        // QuickFIX queued 5 (QP4) until the gap 3..4 was filled by the resends.
        assert_eq!(got, [("QP1", 2, false), ("QP2", 3, true), ("QP3", 4, true), ("QP4", 5, false)], "{lines:?}");
        // Byte-identical bodies: what QuickFIX received as resends against what we stored.
        let mut originals = Vec::new();
        link.store().get_range(3, 4, &mut |seq, bytes| originals.push((seq, bytes.to_vec()))).unwrap();
        assert_eq!(originals.len(), 2);
        let received = peer_received_frames(dir.path());
        for (seq, original) in &originals {
            let resent = received
                .iter()
                .find(|f| {
                    let m = qp_fix::Message::parse(f).unwrap();
                    m.msg_seq_num().unwrap() == *seq && m.get(qp_fix::tag::POSS_DUP_FLAG) == Some(b"Y")
                })
                .unwrap_or_else(|| panic!("no resend of {seq} in the exchange's log"));
            assert_eq!(body_bytes(resent), body_bytes(original), "seq {seq}");
            let m = qp_fix::Message::parse(resent).unwrap();
            let o = qp_fix::Message::parse(original).unwrap();
            assert_eq!(m.get(qp_fix::tag::ORIG_SENDING_TIME), o.get(qp_fix::tag::SENDING_TIME));
        }
    }

    /// We miss the exchange's reports (our store's expected number set back between two
    /// sessions): its Logon shows the gap, we ask for a resend, and its reports come again
    /// with PossDupFlag=Y.
    #[test]
    fn we_miss_reports_and_the_exchange_resends_them() {
        let dir = tempfile::tempdir().unwrap();
        let peer = start_peer(dir.path(), &[]);
        let ours = dir.path().join("ours");
        std::fs::create_dir_all(&ours).unwrap();
        let open = || FileStore::open_with(&ours, "QPNODE-EXCH", FsyncPolicy::Never).unwrap();
        let mut sentinel = sentinel();
        let expected_after_logon;
        {
            let mut venue = venue(peer.addr(), open());
            let mut seen = Seen::default();
            log_on(&mut venue, &mut seen);
            expected_after_logon = venue.link().store().next_target_seq();
            venue.submit(unix_now_ns(), approve(&mut sentinel, 1, Side::Buy, 1)).unwrap();
            pump(&mut venue, &mut seen, |s| {
                s.execs().any(
                    |e| matches!(e, GatewayEvent::Exec { report, .. } if report.status == ExecStatus::Filled as u8),
                )
            });
            log_out(&mut venue, &mut seen);
        }
        assert!(peer.wait_for(|l| l.starts_with("LOGOUT"), WAIT).is_some());
        // Forget the two reports (New, Filled) and the exchange's Logout.
        let mut store = open();
        assert_eq!(store.next_target_seq(), expected_after_logon + 3);
        store.set_next_target_seq(expected_after_logon).unwrap();
        drop(store);
        let mut venue = venue(peer.addr(), open());
        let mut seen = Seen::default();
        log_on(&mut venue, &mut seen);
        pump(&mut venue, &mut seen, |s| s.execs().count() == 2);
        assert!(
            seen.link.iter().any(|e| matches!(e,
                LinkEvent::Session(Event::ResendRequested { begin, .. }) if *begin == expected_after_logon)),
            "{seen:#?}"
        );
        for e in seen.execs() {
            let GatewayEvent::Exec { report, poss_dup, .. } = e else { unreachable!() };
            assert!(*poss_dup, "{e:?}");
            assert_eq!(report.intent_id.get(), 1);
        }
        log_out(&mut venue, &mut seen);
        drop(peer.stop());
    }
}

mod crash {
    use std::io::{BufRead, BufReader};
    use std::path::Path;
    use std::process::{Child, Command, Stdio};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use qp_fix::session::MessageStore;
    use qp_fix_store::{FileStore, FsyncPolicy};
    use qp_fix_venue::trade::{self, TradeConfig};

    use crate::support::*;

    const ORDERS: u64 = 16;

    fn spawn_trader(peer: std::net::SocketAddr, store: &Path) -> (Child, mpsc::Receiver<String>) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fix-trader"))
            .args(["--peer", &peer.to_string(), "--store"])
            .arg(store)
            .args(["--orders", &ORDERS.to_string(), "--interval-ms", "25", "--timeout-s", "60"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        (child, rx)
    }

    /// Reads the trader's lines until `k` SENT lines (then, `delay_ms` later, kills it with
    /// SIGKILL) or until it exits (None). Returns its lines.
    fn run_trader(peer: std::net::SocketAddr, store: &Path, kill_after_sent: Option<(usize, u64)>) -> Vec<String> {
        let (mut child, lines) = spawn_trader(peer, store);
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match lines.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    let sent = line.starts_with("SENT ");
                    seen.push(line);
                    let count = seen.iter().filter(|l| l.starts_with("SENT ")).count();
                    if let Some((k, delay_ms)) = kill_after_sent
                        && sent
                        && count >= k
                    {
                        std::thread::sleep(Duration::from_millis(delay_ms));
                        child.kill().unwrap(); // SIGKILL
                        child.wait().unwrap();
                        return seen;
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => assert!(Instant::now() < deadline, "trader stuck: {seen:#?}"),
            }
        }
        let status = child.wait().unwrap();
        assert!(status.success(), "trader failed ({status}): {seen:#?}");
        seen
    }

    /// `fix-trader` killed with SIGKILL twice mid-stream and restarted on the same store:
    /// every order reaches the exchange exactly once (never twice as a new order), all of
    /// them arrive, and the sequence numbers go on across the restarts.
    #[test]
    fn killed_with_sigkill_mid_stream_and_restarted_sends_no_order_twice() {
        let dir = tempfile::tempdir().unwrap();
        let peer = start_peer(dir.path(), &[]);
        let store = dir.path().join("ours");
        let mut runs = Vec::new();
        // Killed right after the 4th order of the first run, then mid-pause 7 ms after the 3rd
        // of the second (while reports arrive), then left to finish.
        for (run, kill_after) in [Some((4, 0)), Some((3, 7)), None].into_iter().enumerate() {
            let lines = run_trader(peer.addr(), &store, kill_after);
            // The exchange must see the dead connection before the next Logon.
            assert!(
                peer.wait_for_count(|l| l.starts_with("LOGOUT"), run + 1, WAIT),
                "exchange did not see run {run} end: {}",
                peer.all_output()
            );
            runs.push(lines);
        }
        assert!(runs[0].iter().any(|l| l == "FRESH"), "{:#?}", runs[0]);
        for later in &runs[1..] {
            let resumed = later.iter().find(|l| l.starts_with("RESUMED ")).expect("RESUMED line");
            let next: u64 =
                resumed.split_whitespace().nth(1).unwrap().strip_prefix("next_sender_seq=").unwrap().parse().unwrap();
            assert!(next > 5, "{resumed}");
            assert!(later.iter().any(|l| l.starts_with("SKIP QP1 ")), "{later:#?}");
        }
        assert!(runs[2].last().unwrap().starts_with("DONE"), "{:#?}", runs[2]);
        let lines = peer.stop();
        let orders: Vec<_> = peer_ins(&lines).into_iter().filter(|i| i.msg_type == "D").collect();
        for k in 1..=ORDERS {
            let id = format!("QP{k}");
            let arrivals: Vec<_> = orders.iter().filter(|i| i.cl_ord_id == id).collect();
            assert_eq!(arrivals.len(), 1, "{id} arrived {} times: {lines:#?}\nruns: {runs:#?}", arrivals.len());
        }
        assert_eq!(orders.len() as u64, ORDERS);
        assert!(orders.windows(2).all(|w| w[0].seq < w[1].seq), "sequence numbers go on: {orders:#?}");
        // Our store agrees: every order once, each under one MsgSeqNum.
        let store = FileStore::open_with(&store, "QPNODE-EXCH", FsyncPolicy::Never).unwrap();
        let mut stored = Vec::new();
        store
            .get_range(1, store.next_sender_seq(), &mut |_, bytes| {
                let m = qp_fix::Message::parse(bytes).unwrap();
                if m.msg_type() == b"D" {
                    stored.push(String::from_utf8(m.get(qp_fix::tag::CL_ORD_ID).unwrap().to_vec()).unwrap());
                }
            })
            .unwrap();
        assert_eq!(stored.len() as u64, ORDERS, "{stored:?}");
    }

    /// The same in-process, without a crash: a second run over the same store skips the
    /// orders of the first and sends only the new ones.
    #[test]
    fn a_restarted_session_skips_orders_already_in_its_store() {
        let dir = tempfile::tempdir().unwrap();
        let peer = start_peer(dir.path(), &[]);
        let store = dir.path().join("ours");
        let mut out = Vec::new();
        let mut config = TradeConfig::new(peer.addr(), store.clone(), 3);
        config.interval_ms = 1;
        let first = trade::run(&config, &mut out).unwrap();
        assert_eq!((first.sent, first.skipped), (3, 0));
        config.orders = 5;
        let second = trade::run(&config, &mut out).unwrap();
        assert_eq!((second.sent, second.skipped), (2, 3));
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("RESUMED next_sender_seq="), "{text}");
        let ins = peer_ins(&peer.stop());
        let ids: Vec<_> = ins.iter().map(|i| (i.cl_ord_id.as_str(), i.poss_dup)).collect();
        assert_eq!(ids, [("QP1", false), ("QP2", false), ("QP3", false), ("QP4", false), ("QP5", false)]);
    }
}

mod acceptor {
    use std::net::SocketAddr;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    use qp_fix::session::{MemoryStore, Role, SessionConfig};
    use qp_fix::{Message, tag};
    use qp_fix_venue::{AcceptorApp, AcceptorEvent, ConnectionId, FixAcceptor, FixInitiator, Replies};

    use crate::support::*;

    /// Answers every application message with a BusinessMessageReject whose Text is the
    /// message's ClOrdID, and records the connection events.
    #[derive(Default)]
    struct Echo {
        events: Mutex<Vec<AcceptorEvent>>,
    }

    impl AcceptorApp for &Echo {
        fn on_message(&mut self, _: ConnectionId, message: &Message<'_>, replies: &mut Replies) {
            let id = message.get(tag::CL_ORD_ID).unwrap_or(b"?");
            replies.send(b"j", &[(45, b"2"), (372, b"D"), (380, b"0"), (58, id)]);
        }
        fn on_event(&mut self, _: ConnectionId, event: &AcceptorEvent) {
            self.events.lock().unwrap().push(event.clone());
        }
    }

    #[test]
    fn our_initiator_and_our_acceptor_over_tcp() {
        let config = SessionConfig::new(Role::Acceptor, "EXCH", "QPNODE", 30);
        let mut acceptor = FixAcceptor::bind("127.0.0.1:0".parse().unwrap(), config, Some(dictionary())).unwrap();
        let addr: SocketAddr = acceptor.local_addr();
        let stop = AtomicBool::new(false);
        let echo = Echo::default();
        struct StopOnDrop<'a>(&'a AtomicBool);
        impl Drop for StopOnDrop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        std::thread::scope(|scope| {
            scope.spawn(|| acceptor.run(&stop, &mut &echo));
            let _stop = StopOnDrop(&stop);
            let mut link: FixInitiator<'_, MemoryStore> = initiator(addr, MemoryStore::new());
            let mut gateway = gateway();
            let mut sentinel = sentinel();
            link.connect(unix_now_ns()).unwrap();
            let mut texts = Vec::new();
            let deadline = std::time::Instant::now() + WAIT;
            let mut sent = false;
            while texts.is_empty() {
                link.poll(unix_now_ns(), |m| {
                    texts.push(String::from_utf8_lossy(m.get(tag::TEXT).unwrap()).into_owned())
                });
                if link.is_logged_on() && !sent {
                    let order = approve(&mut sentinel, 7, qp_wire::Side::Buy, 1);
                    gateway.submit(link.session_mut(), unix_now_ns(), order).unwrap();
                    link.flush();
                    sent = true;
                }
                assert!(std::time::Instant::now() < deadline, "{:?}", echo.events.lock().unwrap());
            }
            assert_eq!(texts, ["QP1"]);
            link.logout(unix_now_ns(), None);
            while link.is_connected() && std::time::Instant::now() < deadline {
                link.poll(unix_now_ns(), |_| {});
            }
            assert!(!link.is_connected());
            std::thread::sleep(std::time::Duration::from_millis(50));
            stop.store(true, Ordering::Relaxed);
        });
        let events = echo.events.lock().unwrap();
        assert!(matches!(events[0], AcceptorEvent::Connected { .. }), "{events:?}");
        assert!(events.contains(&AcceptorEvent::Session(qp_fix::session::Event::LoggedOn)), "{events:?}");
        assert!(matches!(events.last(), Some(AcceptorEvent::Closed(_))), "{events:?}");
    }
}

mod conformance {
    use std::sync::Arc;

    use qp_fix::Dictionary;
    use qp_fix_conformance::{RunOptions, load_scripts, run_all};
    use qp_fix_venue::conformance::TcpTarget;

    use super::support::workspace_root;

    /// QuickFIX's 59 FIX 4.4 session scripts against our acceptor over real sockets and the
    /// wall clock (the heartbeat scripts wait their HeartBtInt for real).
    #[test]
    fn quickfix_acceptance_scripts_pass_against_the_acceptor_over_tcp() {
        let defs = workspace_root().join("../shared/data/quickfix/fix44");
        let scripts = load_scripts(&defs).unwrap();
        assert_eq!(scripts.len(), 59);
        let path = std::env::var_os("QP_FIX44_XML")
            .map_or_else(|| workspace_root().join(".cache/fix/FIX44.xml"), std::path::PathBuf::from);
        let dictionary = Arc::new(Dictionary::load(&path).unwrap());
        let options = RunOptions { expect_wait: std::time::Duration::from_secs(20), ..RunOptions::default() };
        // Most of a script's time is a heartbeat interval waited for real (6_SendTestRequest
        // alone takes ~34 s at HeartBtInt 6): run them side by side, each against its own
        // acceptor on its own port.
        let results: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = scripts
                .chunks(1)
                .map(|chunk| {
                    let dictionary = Arc::clone(&dictionary);
                    scope.spawn(move || {
                        run_all(chunk, || TcpTarget::start(Arc::clone(&dictionary), "ISLD", "TW44").unwrap(), &options)
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(results.len(), 59);
        let failures: Vec<_> = results.iter().filter_map(|r| r.failure.as_ref()).collect();
        assert!(failures.is_empty(), "{} of 59 failed over TCP: {failures:#?}", failures.len());
    }
}
