//! The session layer: an initiator and an acceptor wired in memory, explicit times.

use qp_fix::session::{DisconnectReason, Event, MemoryStore, MessageStore, Role, Session, SessionConfig, SessionState};

use super::*;

const HB_S: u64 = 30;
const S: u64 = 1_000_000_000;
/// `TIME` (the SendingTime of `raw` messages), so they pass the SendingTime accuracy check.
const T0: u64 = 1_704_164_645_678_000_000;

type Peer = Session<'static, MemoryStore>;

fn pair() -> (Peer, Peer) {
    let initiator = Session::new(
        SessionConfig::new(Role::Initiator, "NODE", "VENUE", HB_S),
        MemoryStore::new(),
        Some(dictionary()),
    );
    let acceptor =
        Session::new(SessionConfig::new(Role::Acceptor, "VENUE", "NODE", 0), MemoryStore::new(), Some(dictionary()));
    (initiator, acceptor)
}

/// Every message in `bytes`, as owned frames.
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

fn events(session: &mut Peer) -> Vec<Event> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

/// Moves bytes both ways until both are quiet; returns the application messages each received.
fn pump(a: &mut Peer, b: &mut Peer, now: u64) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let (mut to_a, mut to_b) = (Vec::new(), Vec::new());
    loop {
        let (out_a, out_b) = (a.take_outbound(), b.take_outbound());
        if out_a.is_empty() && out_b.is_empty() {
            return (to_a, to_b);
        }
        b.on_bytes(now, &out_a, |m| to_b.push(m.as_bytes().to_vec()));
        a.on_bytes(now, &out_b, |m| to_a.push(m.as_bytes().to_vec()));
    }
}

fn logged_on() -> (Peer, Peer) {
    let (mut i, mut a) = pair();
    a.connect(T0);
    i.connect(T0);
    pump(&mut i, &mut a, T0);
    assert_eq!(events(&mut i), [Event::LoggedOn]);
    assert_eq!(events(&mut a), [Event::LoggedOn]);
    (i, a)
}

fn order(session: &mut Peer, now: u64, id: &str) -> u64 {
    session
        .send_app(now, b"D", |e| {
            e.str(tag::CL_ORD_ID, id).str(tag::SYMBOL, "BTC-USD").char(tag::SIDE, b'1');
            e.timestamp_ms(tag::TRANSACT_TIME, now).str(tag::ORDER_QTY, "1").char(tag::ORD_TYPE, b'1');
        })
        .unwrap()
}

fn field(bytes: &[u8], tag: u32) -> Option<String> {
    parse(bytes).get(tag).map(|v| String::from_utf8(v.to_vec()).unwrap())
}

/// A message from the initiator ("NODE") to the acceptor, fields after 35 and the header.
fn raw(msg_type: &str, seq: u64, rest: &str) -> Vec<u8> {
    message(&format!("8=FIX.4.4|35={msg_type}|49=NODE|56=VENUE|34={seq}|52=<TIME>|{rest}"))
}

#[test]
fn logon_and_logout_handshake() {
    let (mut i, mut a) = logged_on();
    assert_eq!((i.state(), a.state()), (SessionState::Active, SessionState::Active));
    assert_eq!(a.heart_bt_int_s(), HB_S, "the acceptor takes the initiator's HeartBtInt");
    assert_eq!((i.store().next_sender_seq(), i.store().next_target_seq()), (2, 2));
    order(&mut i, T0 + S, "1");
    let (_, delivered) = pump(&mut i, &mut a, T0 + S);
    assert_eq!(delivered.len(), 1);
    assert_eq!(field(&delivered[0], tag::CL_ORD_ID).as_deref(), Some("1"));

    i.logout(T0 + 2 * S, Some("bye"));
    assert_eq!(i.state(), SessionState::LogoutSent);
    pump(&mut i, &mut a, T0 + 2 * S);
    assert_eq!(
        events(&mut a),
        [Event::LoggedOut { text: Some("bye".into()) }, Event::Disconnect { reason: DisconnectReason::LoggedOut }]
    );
    assert_eq!(
        events(&mut i),
        [Event::LoggedOut { text: None }, Event::Disconnect { reason: DisconnectReason::LoggedOut }]
    );
    assert_eq!((i.state(), a.state()), (SessionState::Disconnected, SessionState::Disconnected));
}

#[test]
fn logout_timeout_and_logon_timeout() {
    let (mut i, _a) = logged_on();
    i.logout(T0 + S, None);
    i.take_outbound();
    i.on_timer(T0 + 2 * S);
    assert!(events(&mut i).is_empty());
    i.on_timer(T0 + 3 * S);
    assert_eq!(events(&mut i), [Event::Disconnect { reason: DisconnectReason::LogoutTimeout }]);

    let (_, mut a) = pair();
    a.connect(T0);
    a.on_timer(T0 + 10 * S);
    assert_eq!(events(&mut a), [Event::Disconnect { reason: DisconnectReason::LogonTimeout }]);
}

#[test]
fn first_message_not_logon_disconnects() {
    let (_, mut a) = pair();
    a.connect(T0);
    a.on_bytes(T0, &raw("0", 1, ""), |_| panic!("delivered"));
    assert_eq!(events(&mut a), [Event::Disconnect { reason: DisconnectReason::FirstMessageNotLogon }]);
    assert!(a.outbound().is_empty());
}

#[test]
fn wrong_comp_id_and_begin_string_disconnect() {
    let (_, mut a) = logged_on();
    let wrong = message("8=FIX.4.4|35=0|49=OTHER|56=VENUE|34=2|52=<TIME>");
    a.on_bytes(T0, &wrong, |_| {});
    let sent = frames(&a.take_outbound());
    assert_eq!(field(&sent[0], tag::MSG_TYPE).as_deref(), Some("3"));
    assert_eq!(field(&sent[0], tag::SESSION_REJECT_REASON).as_deref(), Some("9"));
    // No RefTagID and a Logout without Text, as QuickFIX (`2k_CompIDDoesNotMatchProfile`).
    assert_eq!(field(&sent[0], tag::REF_TAG_ID), None);
    assert_eq!(field(&sent[1], tag::MSG_TYPE).as_deref(), Some("5"));
    assert_eq!(field(&sent[1], tag::TEXT), None);
    assert!(events(&mut a).contains(&Event::Disconnect { reason: DisconnectReason::WrongCompId }));

    let (_, mut a) = logged_on();
    a.on_bytes(T0, b"8=FIX.4.2\x019=5\x0135=0\x0110=000\x01", |_| {});
    assert_eq!(events(&mut a), [Event::Disconnect { reason: DisconnectReason::WrongBeginString }]);
    assert_eq!(field(&frames(&a.take_outbound())[0], tag::MSG_TYPE).as_deref(), Some("5"));
}

#[test]
fn heartbeat_on_timer_and_test_request() {
    let (mut i, mut a) = logged_on();
    // Nothing due before HeartBtInt.
    i.on_timer(T0 + 29 * S);
    assert!(i.outbound().is_empty());
    assert_eq!(i.next_timer_ns(), Some(T0 + HB_S * S));
    i.on_timer(T0 + 30 * S);
    let sent = frames(i.outbound());
    assert_eq!(sent.len(), 1);
    assert_eq!(field(&sent[0], tag::MSG_TYPE).as_deref(), Some("0"));
    pump(&mut i, &mut a, T0 + 30 * S);

    // The acceptor has heard from the initiator at +30 s; the initiator has heard nothing
    // since logon: after HeartBtInt + 20% it sends a TestRequest, which is answered.
    i.on_timer(T0 + 36 * S);
    let sent = frames(i.outbound());
    assert_eq!(field(&sent[0], tag::MSG_TYPE).as_deref(), Some("1"));
    let id = field(&sent[0], tag::TEST_REQ_ID).unwrap();
    i.take_outbound();
    a.on_bytes(T0 + 36 * S, &sent.concat(), |_| {});
    let answer = frames(&a.take_outbound());
    assert_eq!(field(&answer[0], tag::MSG_TYPE).as_deref(), Some("0"));
    assert_eq!(field(&answer[0], tag::TEST_REQ_ID), Some(id));
    i.on_bytes(T0 + 37 * S, &answer.concat(), |_| {});
    i.on_timer(T0 + 44 * S);
    assert_eq!(i.state(), SessionState::Active);

    // No answer this time: disconnect one grace period after the TestRequest.
    i.take_outbound();
    i.on_timer(T0 + 37 * S + 36 * S);
    assert_eq!(field(&frames(&i.take_outbound())[0], tag::MSG_TYPE).as_deref(), Some("1"));
    i.on_timer(T0 + 37 * S + 71 * S);
    assert_eq!(i.state(), SessionState::Active);
    i.on_timer(T0 + 37 * S + 72 * S);
    assert_eq!(events(&mut i), [Event::Disconnect { reason: DisconnectReason::TestRequestTimeout }]);
}

#[test]
fn gap_is_resent_with_poss_dup_and_admin_gap_filled() {
    let (mut i, mut a) = logged_on();
    let t1 = T0 + S;
    assert_eq!(order(&mut i, t1, "A"), 2);
    i.on_timer(t1 + 30 * S); // Heartbeat, 3
    assert_eq!(order(&mut i, t1 + 31 * S, "B"), 4);
    let lost = frames(&i.take_outbound());
    assert_eq!(lost.len(), 3);
    assert_eq!(order(&mut i, t1 + 32 * S, "C"), 5);
    let now = t1 + 40 * S;
    let mut delivered = Vec::new();
    a.on_bytes(now, &i.take_outbound(), |m| delivered.push(m.as_bytes().to_vec()));
    assert!(delivered.is_empty(), "5 is held until 2..4 arrive");
    assert_eq!(events(&mut a), [Event::ResendRequested { begin: 2, end: 0 }]);
    let request = frames(a.outbound());
    assert_eq!(field(&request[0], tag::MSG_TYPE).as_deref(), Some("2"));
    assert_eq!(field(&request[0], tag::BEGIN_SEQ_NO).as_deref(), Some("2"));
    assert_eq!(field(&request[0], tag::END_SEQ_NO).as_deref(), Some("0"));
    i.on_bytes(now, &a.take_outbound(), |_| {});
    let resent = frames(i.outbound());
    // 2 (order A), gap fill 3 → 4, 4 (order B), 5 (order C).
    let types: Vec<_> =
        resent.iter().map(|m| (field(m, tag::MSG_SEQ_NUM).unwrap(), field(m, tag::MSG_TYPE).unwrap())).collect();
    assert_eq!(
        types,
        [("2".into(), "D".into()), ("3".into(), "4".into()), ("4".into(), "D".into()), ("5".into(), "D".into())]
    );
    for m in &resent {
        assert_eq!(field(m, tag::POSS_DUP_FLAG).as_deref(), Some("Y"));
        dictionary().validate(&parse(m)).unwrap();
    }
    assert_eq!(field(&resent[1], tag::GAP_FILL_FLAG).as_deref(), Some("Y"));
    assert_eq!(field(&resent[1], tag::NEW_SEQ_NO).as_deref(), Some("4"));
    assert_eq!(field(&resent[0], tag::ORIG_SENDING_TIME), field(&lost[0], tag::SENDING_TIME));
    assert_eq!(field(&resent[0], tag::CL_ORD_ID).as_deref(), Some("A"));
    assert_eq!(field(&resent[2], tag::ORIG_SENDING_TIME), field(&lost[2], tag::SENDING_TIME));
    assert_ne!(field(&resent[0], tag::SENDING_TIME), field(&lost[0], tag::SENDING_TIME));

    let (_, delivered) = pump(&mut i, &mut a, now);
    let ids: Vec<_> = delivered.iter().map(|m| field(m, tag::CL_ORD_ID).unwrap()).collect();
    assert_eq!(ids, ["A", "B", "C"], "in sequence, each once (the resent 5 is a PossDup below expected)");
    assert_eq!(a.store().next_target_seq(), 6);
    assert_eq!(a.state(), SessionState::Active);
}

#[test]
fn sequence_reset_and_gap_fill() {
    let (_, mut a) = logged_on();
    a.on_bytes(T0, &raw("4", 99, "36=20"), |_| {});
    assert_eq!(a.store().next_target_seq(), 20);
    assert_eq!(events(&mut a), [Event::SequenceReset { gap_fill: false, new_seq_no: 20 }]);
    // Reset mode to a lower number: Reject, ValueIsIncorrect on NewSeqNo.
    a.on_bytes(T0, &raw("4", 20, "36=5"), |_| {});
    let reject = frames(&a.take_outbound());
    assert_eq!(field(&reject[0], tag::SESSION_REJECT_REASON).as_deref(), Some("5"));
    // No RefTagID, as QuickFIX (`11c_NewSeqNoLess`).
    assert_eq!(field(&reject[0], tag::REF_TAG_ID), None);
    assert_eq!(a.store().next_target_seq(), 20);
    events(&mut a);
    // Gap fill at the expected number.
    a.on_bytes(T0, &raw("4", 20, "123=Y|36=25"), |_| {});
    assert_eq!(events(&mut a), [Event::SequenceReset { gap_fill: true, new_seq_no: 25 }]);
    assert_eq!(a.store().next_target_seq(), 25);
    let mut got = Vec::new();
    a.on_bytes(T0, &raw("0", 25, ""), |m| got.push(m.as_bytes().to_vec()));
    assert_eq!(a.store().next_target_seq(), 26);
}

#[test]
fn msg_seq_num_too_low() {
    let (_, mut a) = logged_on();
    // A PossDup below the expected number is ignored.
    a.on_bytes(T0, &raw("0", 1, "43=Y|122=<TIME>"), |_| {});
    assert!(events(&mut a).is_empty());
    assert!(a.outbound().is_empty());
    assert_eq!(a.state(), SessionState::Active);
    // Without PossDupFlag: Logout and disconnect.
    a.on_bytes(T0, &raw("0", 1, ""), |_| {});
    let logout = frames(&a.take_outbound());
    assert_eq!(field(&logout[0], tag::MSG_TYPE).as_deref(), Some("5"));
    assert_eq!(field(&logout[0], tag::TEXT).as_deref(), Some("MsgSeqNum too low, expecting 2 but received 1"));
    assert_eq!(
        events(&mut a),
        [Event::Disconnect { reason: DisconnectReason::MsgSeqNumTooLow { expected: 2, received: 1 } }]
    );
}

#[test]
fn malformed_message_rejected_and_seq_consumed() {
    let (_, mut a) = logged_on();
    let bad = raw("D", 2, "11=X|55=BTC|54=Z|60=<TIME>|38=1|40=1");
    a.on_bytes(T0, &bad, |_| panic!("an invalid message is not delivered"));
    let reject = frames(&a.take_outbound());
    assert_eq!(field(&reject[0], tag::MSG_TYPE).as_deref(), Some("3"));
    assert_eq!(field(&reject[0], tag::REF_SEQ_NUM).as_deref(), Some("2"));
    assert_eq!(field(&reject[0], tag::REF_TAG_ID).as_deref(), Some("54"));
    assert_eq!(field(&reject[0], tag::REF_MSG_TYPE).as_deref(), Some("D"));
    assert_eq!(field(&reject[0], tag::SESSION_REJECT_REASON).as_deref(), Some("5"));
    assert_eq!(
        events(&mut a),
        [Event::RejectSent { ref_seq_num: 2, ref_tag_id: Some(54), reason: SessionRejectReason::ValueIsIncorrect }]
    );
    assert_eq!(a.store().next_target_seq(), 3, "a rejected message consumes its MsgSeqNum");

    // PossDupFlag without OrigSendingTime: Reject, RequiredTagMissing on 122.
    a.on_bytes(T0, &raw("0", 3, "43=Y"), |_| {});
    let reject = frames(&a.take_outbound());
    assert_eq!(field(&reject[0], tag::SESSION_REJECT_REASON).as_deref(), Some("1"));
    assert_eq!(field(&reject[0], tag::REF_TAG_ID).as_deref(), Some("122"));
    assert_eq!(a.store().next_target_seq(), 4);
    events(&mut a);

    // Garbled (bad CheckSum): dropped, no Reject, MsgSeqNum not consumed.
    let mut garbled = raw("0", 4, "");
    let n = garbled.len();
    garbled[n - 2] = if garbled[n - 2] == b'0' { b'1' } else { b'0' };
    a.on_bytes(T0, &garbled, |_| {});
    assert!(matches!(events(&mut a)[..], [Event::Garbled { .. }]));
    assert!(a.outbound().is_empty());
    assert_eq!(a.store().next_target_seq(), 4);
    // Split across reads: framed once complete.
    let ok = raw("0", 4, "");
    a.on_bytes(T0, &ok[..10], |_| {});
    assert_eq!(a.store().next_target_seq(), 4);
    a.on_bytes(T0, &ok[10..], |_| {});
    assert_eq!(a.store().next_target_seq(), 5);
}

#[test]
fn reset_on_logon_and_send_before_logon() {
    let (mut i, mut a) = logged_on();
    order(&mut i, T0, "1");
    pump(&mut i, &mut a, T0);
    i.logout(T0, None);
    pump(&mut i, &mut a, T0);
    let mut config = SessionConfig::new(Role::Initiator, "NODE", "VENUE", HB_S);
    config.reset_on_logon = true;
    let store = i.store().clone();
    let mut i: Peer = Session::new(config, store, Some(dictionary()));
    assert!(i.send_app(T0, b"D", |_| {}).is_err());
    a.connect(T0 + S);
    i.connect(T0 + S);
    pump(&mut i, &mut a, T0 + S);
    assert_eq!((i.state(), a.state()), (SessionState::Active, SessionState::Active));
    assert_eq!((a.store().next_sender_seq(), a.store().next_target_seq()), (2, 2));
}

/// A message from the initiator with its own SendingTime (`<TIME>` is `TIME`, i.e. T0).
fn raw_at(msg_type: &str, seq: u64, sending_time: &str, rest: &str) -> Vec<u8> {
    message(&format!("8=FIX.4.4|35={msg_type}|49=NODE|56=VENUE|34={seq}|52={sending_time}|{rest}"))
}

#[test]
fn header_fields_in_tag_order_and_gap_fill_body_in_tag_order() {
    let (_, mut a) = logged_on();
    a.on_bytes(T0, &raw("1", 2, "112=X"), |_| {});
    let sent = frames(&a.take_outbound());
    let tags: Vec<u32> = parse(&sent[0]).fields().map(|f| f.tag).collect();
    assert_eq!(tags, [8, 9, 35, 34, 49, 52, 56, 112, 10]);
    a.on_bytes(T0, &raw("2", 3, "7=1|16=0"), |_| {});
    let sent = frames(&a.take_outbound());
    let tags: Vec<u32> = parse(&sent[0]).fields().map(|f| f.tag).collect();
    assert_eq!(tags, [8, 9, 35, 34, 43, 49, 52, 56, 122, 36, 123, 10]);
}

#[test]
fn sending_time_out_of_range_is_rejected_then_logout() {
    let (_, mut a) = logged_on();
    // 121 s behind the session's clock: Reject 373=10 (no RefTagID), Logout, wait for theirs.
    a.on_bytes(T0 + 121 * S, &raw("0", 2, ""), |_| {});
    let sent = frames(&a.take_outbound());
    assert_eq!(field(&sent[0], tag::SESSION_REJECT_REASON).as_deref(), Some("10"));
    assert_eq!(field(&sent[0], tag::TEXT).as_deref(), Some("SendingTime accuracy problem"));
    assert_eq!(field(&sent[0], tag::REF_TAG_ID), None);
    assert_eq!(field(&sent[1], tag::MSG_TYPE).as_deref(), Some("5"));
    assert_eq!(a.state(), SessionState::LogoutSent);
    assert_eq!(a.store().next_target_seq(), 3, "the rejected message's MsgSeqNum is consumed");
    a.on_bytes(T0 + 121 * S, &raw_at("5", 3, &fmt_time(T0 + 121 * S), ""), |_| {});
    assert_eq!(a.state(), SessionState::Disconnected);

    // A Logon with a bad SendingTime: disconnected, nothing sent.
    let (_, mut a) = pair();
    a.connect(T0);
    a.on_bytes(T0, &raw_at("A", 1, "20010101-00:00:00", "98=0|108=30"), |_| {});
    assert!(a.outbound().is_empty());
    assert_eq!(events(&mut a), [Event::Disconnect { reason: DisconnectReason::LogonRejected }]);
}

fn fmt_time(ns: u64) -> String {
    let mut out = Vec::new();
    qp_fix::format_utc_timestamp_ms(&mut out, ns);
    String::from_utf8(out).unwrap()
}

#[test]
fn poss_dup_below_expected_needs_orig_sending_time_not_after_sending_time() {
    let (_, mut a) = logged_on();
    a.on_bytes(T0, &raw("0", 2, ""), |_| {});
    // Too low, PossDupFlag, no OrigSendingTime: Reject 373=1 on 122, MsgSeqNum not consumed.
    a.on_bytes(T0, &raw("0", 1, "43=Y"), |_| {});
    let sent = frames(&a.take_outbound());
    assert_eq!(field(&sent[0], tag::SESSION_REJECT_REASON).as_deref(), Some("1"));
    assert_eq!(field(&sent[0], tag::REF_TAG_ID).as_deref(), Some("122"));
    assert_eq!(a.store().next_target_seq(), 3);
    assert_eq!(a.state(), SessionState::Active);
    // OrigSendingTime after SendingTime: Reject 373=10, Logout.
    let later = fmt_time(T0 + 10 * S);
    a.on_bytes(T0, &raw("0", 1, &format!("43=Y|122={later}")), |_| {});
    let sent = frames(&a.take_outbound());
    assert_eq!(field(&sent[0], tag::SESSION_REJECT_REASON).as_deref(), Some("10"));
    assert_eq!(field(&sent[1], tag::MSG_TYPE).as_deref(), Some("5"));
    assert_eq!(a.state(), SessionState::LogoutSent);
}

#[test]
fn low_resend_request_is_answered_and_reset_logon_while_on_restarts_at_one() {
    let (_, mut a) = logged_on();
    a.on_bytes(T0, &raw("0", 2, ""), |_| {});
    // A ResendRequest below the expected number (no PossDupFlag) is answered, no Logout.
    a.on_bytes(T0, &raw("2", 2, "7=1|16=0"), |_| {});
    let sent = frames(&a.take_outbound());
    assert_eq!(field(&sent[0], tag::MSG_TYPE).as_deref(), Some("4"));
    assert_eq!(a.state(), SessionState::Active);
    // Logon with ResetSeqNumFlag=Y while logged on: both sides back to 1, answered with 141=Y.
    a.on_bytes(T0, &raw("A", 1, "98=0|108=30|141=Y"), |_| {});
    let sent = frames(&a.take_outbound());
    assert_eq!(field(&sent[0], tag::MSG_TYPE).as_deref(), Some("A"));
    assert_eq!(field(&sent[0], tag::MSG_SEQ_NUM).as_deref(), Some("1"));
    assert_eq!(field(&sent[0], tag::RESET_SEQ_NUM_FLAG).as_deref(), Some("Y"));
    assert_eq!((a.store().next_sender_seq(), a.store().next_target_seq()), (2, 2));
    assert_eq!(a.state(), SessionState::Active);
}

#[test]
fn no_heartbeat_while_a_test_request_is_outstanding_and_transport_closed() {
    let (mut i, _a) = logged_on();
    i.on_timer(T0 + 36 * S); // TestRequest (and nothing else)
    let sent = frames(&i.take_outbound());
    assert_eq!(sent.len(), 1);
    assert_eq!(field(&sent[0], tag::TEST_REQ_ID).as_deref(), Some("TEST"));
    assert_eq!(i.next_timer_ns(), Some(T0 + 72 * S));
    i.on_timer(T0 + 70 * S);
    assert!(i.outbound().is_empty(), "no Heartbeat while the TestRequest is outstanding");
    i.transport_closed();
    assert_eq!(i.state(), SessionState::Disconnected);
    assert_eq!(i.next_timer_ns(), None);
}

#[test]
fn memory_store_keeps_one_message_per_number_in_order() {
    let mut store = MemoryStore::new();
    for seq in [1u64, 2, 3, 5] {
        store.save(seq, format!("m{seq}").as_bytes()).unwrap();
    }
    store.save(4, b"m4").unwrap(); // out of order: inserted in place
    store.save(2, b"m2-again").unwrap(); // the same number again: replaces
    let mut seen = Vec::new();
    store.get_range(2, 4, &mut |seq, bytes| seen.push((seq, bytes.to_vec()))).unwrap();
    assert_eq!(seen, [(2, b"m2-again".to_vec()), (3, b"m3".to_vec()), (4, b"m4".to_vec())]);
    let mut all = 0;
    store.get_range(1, u64::MAX, &mut |_, _| all += 1).unwrap();
    assert_eq!(all, 5);
    store.get_range(6, 3, &mut |_, _| panic!("empty range")).unwrap();
    store.reset().unwrap();
    store.get_range(1, u64::MAX, &mut |_, _| panic!("reset drops everything")).unwrap();
    assert_eq!((store.next_sender_seq(), store.next_target_seq()), (1, 1));
}
