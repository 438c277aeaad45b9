#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! The file store: state across reopen, recovery from torn and corrupt records, and a session
//! that is killed and resumes over the reopened store.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use qp_fix::session::{
    DisconnectReason, Event, MemoryStore, MessageStore, Role, SendError, Session, SessionConfig, SessionState,
};
use qp_fix::{Decoded, Dictionary, Message, decode, tag};
use qp_fix_store::{FileStore, FsyncPolicy, StopReason, StoreError};

const ID: &str = "NODE-VENUE";
const S: u64 = 1_000_000_000;
const T0: u64 = 1_700_000_000_000_000_000;

fn dictionary() -> &'static Dictionary {
    static DICTIONARY: OnceLock<Dictionary> = OnceLock::new();
    DICTIONARY.get_or_init(|| {
        let path = std::env::var_os("QP_FIX44_XML").expect("QP_FIX44_XML is not set: run `cargo xtask setup`");
        Dictionary::load(Path::new(&path)).unwrap()
    })
}

/// Everything observable: sequence numbers and the stored messages.
fn state(store: &impl MessageStore) -> (u64, u64, BTreeMap<u64, Vec<u8>>) {
    let mut messages = BTreeMap::new();
    store
        .get_range(1, u64::MAX, &mut |seq, bytes| {
            messages.insert(seq, bytes.to_vec());
        })
        .unwrap();
    (store.next_sender_seq(), store.next_target_seq(), messages)
}

fn file_len(store: &FileStore) -> u64 {
    std::fs::metadata(store.path()).unwrap().len()
}

#[test]
fn reopen_restores_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = FileStore::open(dir.path(), ID).unwrap();
    assert!(store.recovery().is_clean());
    assert_eq!(state(&store), (1, 1, BTreeMap::new()));
    store.save(1, b"first").unwrap();
    store.set_next_sender_seq(2).unwrap();
    store.save(2, b"second message").unwrap();
    store.set_next_target_seq(7).unwrap();
    store.save(3, b"").unwrap();
    let before = state(&store);
    assert_eq!((before.0, before.1, before.2.len()), (4, 7, 3));
    drop(store);

    let mut store = FileStore::open(dir.path(), ID).unwrap();
    assert_eq!(state(&store), before);
    let recovery = store.recovery();
    assert!(recovery.is_clean());
    assert_eq!(recovery.records, 4, "set_next_sender_seq(2) after save(1) writes nothing");
    let mut some = Vec::new();
    store.get_range(2, 2, &mut |seq, bytes| some.push((seq, bytes.to_vec()))).unwrap();
    assert_eq!(some, [(2, b"second message".to_vec())]);

    store.set_next_sender_seq(100).unwrap();
    store.reset().unwrap();
    store.set_next_target_seq(5).unwrap();
    drop(store);
    let store = FileStore::open_with(dir.path(), ID, FsyncPolicy::Never).unwrap();
    assert_eq!(state(&store), (1, 5, BTreeMap::new()));

    assert!(matches!(FileStore::open(dir.path(), "../x"), Err(StoreError::InvalidSessionId(_))));
    std::fs::write(FileStore::path_for(dir.path(), "other"), b"not a store at all").unwrap();
    assert!(matches!(FileStore::open(dir.path(), "other"), Err(StoreError::BadMagic { .. })));
}

#[test]
fn torn_last_record_recovers_the_previous_state_at_every_cut() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = FileStore::open_with(dir.path(), ID, FsyncPolicy::EveryN(2)).unwrap();
    store.save(1, b"8=FIX.4.4\x019=5\x0135=0\x0110=000\x01").unwrap();
    store.set_next_target_seq(3).unwrap();
    let previous = state(&store);
    let good_len = file_len(&store);
    store.save(2, b"the last message, cut short by a crash").unwrap();
    store.sync().unwrap();
    let full = std::fs::read(store.path()).unwrap();
    let path = store.path().to_owned();
    drop(store);
    assert!(full.len() as u64 > good_len);

    for cut in good_len..full.len() as u64 {
        std::fs::write(&path, &full[..cut as usize]).unwrap();
        let store = FileStore::open(dir.path(), ID).unwrap();
        assert_eq!(state(&store), previous, "cut at {cut}");
        let recovery = store.recovery();
        assert_eq!(recovery.records, 2, "cut at {cut}");
        if cut == good_len {
            assert!(recovery.is_clean());
        } else {
            assert_eq!(recovery.stopped, Some((good_len, StopReason::Torn)), "cut at {cut}");
            assert_eq!(recovery.truncated_bytes, cut - good_len);
        }
        assert_eq!(file_len(&store), good_len, "the torn record is cut off");
    }

    // Appending after a recovery gives a clean log.
    let mut store = FileStore::open(dir.path(), ID).unwrap();
    store.save(2, b"again").unwrap();
    drop(store);
    let store = FileStore::open(dir.path(), ID).unwrap();
    assert!(store.recovery().is_clean());
    assert_eq!(state(&store).2.get(&2).map(Vec::as_slice), Some(&b"again"[..]));
    assert_eq!(store.next_sender_seq(), 3);
}

#[test]
fn corrupt_crc_in_the_middle_stops_recovery_there() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = FileStore::open(dir.path(), ID).unwrap();
    store.save(1, b"one").unwrap();
    let second_at = file_len(&store);
    store.save(2, b"two").unwrap();
    store.save(3, b"three").unwrap();
    store.set_next_target_seq(9).unwrap();
    let path = store.path().to_owned();
    drop(store);

    let mut bytes = std::fs::read(&path).unwrap();
    // A payload byte of the second record ("two"): kind, length (4), seq (8), then the body.
    bytes[second_at as usize + 5 + 8] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();

    let store = FileStore::open(dir.path(), ID).unwrap();
    let recovery = store.recovery();
    assert_eq!(recovery.stopped, Some((second_at, StopReason::BadChecksum)));
    assert_eq!(recovery.records, 1);
    assert_eq!(recovery.truncated_bytes, bytes.len() as u64 - second_at);
    let (sender, target, messages) = state(&store);
    assert_eq!((sender, target), (2, 1));
    assert_eq!(messages.keys().copied().collect::<Vec<_>>(), [1]);
    assert_eq!(file_len(&store), second_at);
}

// ---- A session over the store ----

type Node = Session<'static, FileStore>;
type Venue = Session<'static, MemoryStore>;

fn initiator(store: FileStore) -> Node {
    Session::new(SessionConfig::new(Role::Initiator, "NODE", "VENUE", 30), store, Some(dictionary()))
}

fn frames(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match decode(&bytes[at..]).unwrap() {
            Decoded::Message { len_bytes, .. } => {
                out.push(bytes[at..at + len_bytes].to_vec());
                at += len_bytes;
            }
            Decoded::NeedMore => panic!("partial message"),
        }
    }
    out
}

/// Moves bytes both ways until quiet; returns the frames the node sent and the application
/// messages the venue delivered.
fn pump(node: &mut Node, venue: &mut Venue, now: u64) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let (mut sent, mut delivered) = (Vec::new(), Vec::new());
    loop {
        let (out_n, out_v) = (node.take_outbound(), venue.take_outbound());
        if out_n.is_empty() && out_v.is_empty() {
            return (sent, delivered);
        }
        sent.extend(frames(&out_n));
        venue.on_bytes(now, &out_n, |m| delivered.push(m.as_bytes().to_vec()));
        node.on_bytes(now, &out_v, |_| {});
    }
}

fn order(node: &mut Node, now: u64, id: &str) -> Result<u64, SendError> {
    node.send_app(now, b"D", |e| {
        e.str(tag::CL_ORD_ID, id).str(tag::SYMBOL, "BTC-USD").char(tag::SIDE, b'1');
        e.timestamp_ms(tag::TRANSACT_TIME, now).str(tag::ORDER_QTY, "1").char(tag::ORD_TYPE, b'1');
    })
}

fn get(bytes: &[u8], tag: u32) -> Option<String> {
    Message::parse(bytes).unwrap().get(tag).map(|v| String::from_utf8(v.to_vec()).unwrap())
}

/// The body: every field but the header's and the trailer's, in order.
fn body(bytes: &[u8]) -> Vec<(u32, Vec<u8>)> {
    const HEADER: [u32; 10] = [8, 9, 35, 49, 56, 34, 43, 52, 122, 10];
    Message::parse(bytes)
        .unwrap()
        .fields()
        .filter(|f| !HEADER.contains(&f.tag))
        .map(|f| (f.tag, f.value.to_vec()))
        .collect()
}

#[test]
fn killed_session_resumes_and_resends_byte_identical_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = initiator(FileStore::open(dir.path(), ID).unwrap());
    let mut venue: Venue =
        Session::new(SessionConfig::new(Role::Acceptor, "VENUE", "NODE", 0), MemoryStore::new(), Some(dictionary()));
    venue.connect(T0);
    node.connect(T0);
    pump(&mut node, &mut venue, T0);
    assert_eq!((node.state(), venue.state()), (SessionState::Active, SessionState::Active));

    // Orders 1 and 2 reach the venue; 3 is written to the socket, 4 never leaves the process.
    let mut originals: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    for id in ["1", "2"] {
        order(&mut node, T0 + S, id).unwrap();
    }
    let (sent, delivered) = pump(&mut node, &mut venue, T0 + S);
    assert_eq!(delivered.len(), 2);
    for id in ["3", "4"] {
        order(&mut node, T0 + 2 * S, id).unwrap();
    }
    let unsent = frames(&node.take_outbound());
    venue.on_bytes(T0 + 2 * S, &unsent[0], |_| {});
    for frame in sent.iter().chain(&unsent) {
        let seq: u64 = get(frame, tag::MSG_SEQ_NUM).unwrap().parse().unwrap();
        originals.insert(seq, frame.clone());
    }
    assert_eq!(originals.keys().copied().collect::<Vec<_>>(), [2, 3, 4, 5]);
    assert_eq!(venue.store().next_target_seq(), 5);
    drop(node); // kill -9: no Logout, nothing flushed beyond what the store wrote.

    let store = FileStore::open(dir.path(), ID).unwrap();
    assert!(store.recovery().is_clean());
    assert_eq!((store.next_sender_seq(), store.next_target_seq()), (6, 2), "resumed, not reset");
    let mut node = initiator(store);
    venue.connect(T0 + 10 * S); // The venue saw the connection drop.
    node.connect(T0 + 10 * S);
    let (mut resumed, delivered) = pump(&mut node, &mut venue, T0 + 10 * S);
    assert_eq!((node.state(), venue.state()), (SessionState::Active, SessionState::Active));
    assert_eq!(get(&resumed[0], tag::MSG_SEQ_NUM).as_deref(), Some("6"), "the Logon takes the next number");
    assert_eq!(delivered.len(), 1, "the venue asked for the gap and got order 4");
    assert_eq!(get(&delivered[0], tag::CL_ORD_ID).as_deref(), Some("4"));
    assert_eq!(get(&delivered[0], tag::MSG_SEQ_NUM).as_deref(), Some("5"));

    // The venue asks for everything again.
    venue
        .send_app(T0 + 11 * S, b"2", |e| {
            e.uint(tag::BEGIN_SEQ_NO, 1).uint(tag::END_SEQ_NO, 0);
        })
        .unwrap();
    let (sent, delivered) = pump(&mut node, &mut venue, T0 + 11 * S);
    assert!(delivered.is_empty(), "possible duplicates below the expected number are dropped");
    resumed.extend(sent);
    assert!(node.poll_event().is_some());
    let new_seq = order(&mut node, T0 + 12 * S, "5").unwrap();
    assert_eq!(new_seq, 7);
    let (sent, delivered) = pump(&mut node, &mut venue, T0 + 12 * S);
    assert_eq!(delivered.len(), 1);
    resumed.extend(sent);

    let mut resent = 0;
    for frame in &resumed {
        if get(frame, tag::MSG_TYPE).as_deref() != Some("D") {
            continue;
        }
        let seq: u64 = get(frame, tag::MSG_SEQ_NUM).unwrap().parse().unwrap();
        let id = get(frame, tag::CL_ORD_ID).unwrap();
        match originals.get(&seq) {
            Some(original) => {
                resent += 1;
                assert_eq!(get(frame, tag::POSS_DUP_FLAG).as_deref(), Some("Y"));
                assert_eq!(get(frame, tag::ORIG_SENDING_TIME), get(original, tag::SENDING_TIME));
                assert_eq!(body(frame), body(original), "seq {seq}: the body is byte-identical");
                dictionary().validate(&Message::parse(frame).unwrap()).unwrap();
            }
            None => {
                assert_eq!((seq, id.as_str()), (7, "5"), "only the new order takes a new number");
                assert!(originals.values().all(|o| get(o, tag::CL_ORD_ID).as_deref() != Some("5")));
            }
        }
    }
    assert_eq!(resent, 1 + 4, "order 4 for the gap, then orders 1 to 4 for the full request");
}

/// A store that fails on demand.
#[derive(Debug, Default)]
struct Flaky {
    inner: MemoryStore,
    fail: bool,
}

impl Flaky {
    fn check(&self) -> Result<(), std::io::Error> {
        if self.fail { Err(std::io::Error::other("disk full")) } else { Ok(()) }
    }
}

impl MessageStore for Flaky {
    type Error = std::io::Error;
    fn next_sender_seq(&self) -> u64 {
        self.inner.next_sender_seq()
    }
    fn next_target_seq(&self) -> u64 {
        self.inner.next_target_seq()
    }
    fn set_next_sender_seq(&mut self, seq: u64) -> Result<(), Self::Error> {
        self.check()?;
        let Ok(()) = self.inner.set_next_sender_seq(seq);
        Ok(())
    }
    fn set_next_target_seq(&mut self, seq: u64) -> Result<(), Self::Error> {
        self.check()?;
        let Ok(()) = self.inner.set_next_target_seq(seq);
        Ok(())
    }
    fn save(&mut self, seq: u64, bytes: &[u8]) -> Result<(), Self::Error> {
        self.check()?;
        let Ok(()) = self.inner.save(seq, bytes);
        Ok(())
    }
    fn get_range(&self, begin: u64, end: u64, each: &mut dyn FnMut(u64, &[u8])) -> Result<(), Self::Error> {
        self.check()?;
        let Ok(()) = self.inner.get_range(begin, end, each);
        Ok(())
    }
    fn reset(&mut self) -> Result<(), Self::Error> {
        self.check()?;
        let Ok(()) = self.inner.reset();
        Ok(())
    }
}

#[test]
fn a_store_failure_refuses_the_send_and_disconnects() {
    let mut node = Session::new(SessionConfig::new(Role::Initiator, "NODE", "VENUE", 30), Flaky::default(), None);
    let mut venue: Venue =
        Session::new(SessionConfig::new(Role::Acceptor, "VENUE", "NODE", 0), MemoryStore::new(), None);
    venue.connect(T0);
    node.connect(T0);
    venue.on_bytes(T0, &node.take_outbound(), |_| {});
    node.on_bytes(T0, &venue.take_outbound(), |_| {});
    assert_eq!(node.state(), SessionState::Active);
    while node.poll_event().is_some() {}

    node.store_mut().fail = true;
    let result = node.send_app(T0 + S, b"D", |e| {
        e.str(tag::CL_ORD_ID, "1");
    });
    assert_eq!(result, Err(SendError::StoreFailure));
    assert!(node.outbound().is_empty(), "nothing the store could not keep is sent");
    assert_eq!(
        node.poll_event(),
        Some(Event::Disconnect { reason: DisconnectReason::StoreFailure { error: "disk full".into() } })
    );
    assert_eq!(node.poll_event(), None);
    assert_eq!(node.state(), SessionState::Disconnected);
    assert_eq!(node.store().next_sender_seq(), 2, "the MsgSeqNum was not consumed");

    // A failed Logon (initiator) leaves the session disconnected, not waiting.
    node.connect(T0 + 2 * S);
    assert_eq!(node.state(), SessionState::Disconnected);
    assert!(node.outbound().is_empty());
}
