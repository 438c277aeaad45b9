//! Fuzz the FIX session state machine of `qp-fix` (`Session`, acceptor side), bytes in.
//!
//! An acceptor is logged on with a valid Logon, then the input drives it: the first byte
//! chooses settings (bit 0: SendingTime check off, so deeper paths are reached; bit 1: no
//! dictionary even when `QP_FIX44_XML` is set), then each control byte `c` is either a timer
//! tick (`c < 0x20`: the clock advances `c` seconds and `on_timer` runs) or the length of the
//! next chunk of bytes handed to `on_bytes` (`c - 0x1f` bytes), with an application message
//! sent every 7th chunk. After every step: no panic; everything the session wrote frames as
//! FIX 4.4 (BodyLength, CheckSum), parses, carries our CompIDs and a MsgSeqNum; messages not
//! marked PossDupFlag=Y go out with consecutive MsgSeqNums (a Logon with ResetSeqNumFlag=Y
//! restarts them at 1); a timer is due exactly while connected; a disconnected session
//! writes nothing more.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use qp_fix::session::{MemoryStore, Role, Session, SessionConfig, SessionState};
use qp_fix::{Dictionary, Encoder, Framing, Message, frame, tag};

/// 2024-01-02T03:04:05.678Z (the seed corpus's SendingTime is 20240102-03:04:05).
const T0: u64 = 1_704_164_645_678_000_000;
const S: u64 = 1_000_000_000;

fn dictionary() -> Option<&'static Dictionary> {
    static DICTIONARY: OnceLock<Option<Dictionary>> = OnceLock::new();
    DICTIONARY
        .get_or_init(|| {
            std::env::var_os("QP_FIX44_XML")
                .map(|path| Dictionary::load(std::path::Path::new(&path)).expect("QP_FIX44_XML loads"))
        })
        .as_ref()
}

/// Checks the session's output and returns it consumed; `last_seq` tracks MsgSeqNum.
fn check_outbound(session: &mut Session<'_, MemoryStore>, last_seq: &mut u64) {
    let out = session.take_outbound();
    let mut rest = &out[..];
    while !rest.is_empty() {
        let len = match frame(rest) {
            Ok(Framing::Complete { len_bytes, .. }) => len_bytes,
            other => panic!("outbound does not frame: {other:?}: {:?}", String::from_utf8_lossy(rest)),
        };
        let message = Message::parse(&rest[..len]).expect("outbound parses");
        assert_eq!(message.get(tag::SENDER_COMP_ID), Some(&b"VENUE"[..]));
        assert_eq!(message.get(tag::TARGET_COMP_ID), Some(&b"NODE"[..]));
        let seq = message.msg_seq_num().expect("outbound has a MsgSeqNum");
        if message.get(tag::POSS_DUP_FLAG) != Some(b"Y") {
            let reset = message.msg_type() == b"A" && message.get(tag::RESET_SEQ_NUM_FLAG) == Some(b"Y");
            if reset {
                assert_eq!(seq, 1, "a reset Logon starts at 1");
            } else {
                assert_eq!(seq, *last_seq + 1, "consecutive MsgSeqNums");
            }
            *last_seq = seq;
        } else {
            assert!(seq <= *last_seq, "a resend is not above the last sent");
        }
        rest = &rest[len..];
    }
}

fn check_state(session: &Session<'_, MemoryStore>) {
    let connected = session.state() != SessionState::Disconnected;
    assert_eq!(session.next_timer_ns().is_some(), connected);
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut rest)) = data.split_first() else { return };
    let mut config = SessionConfig::new(Role::Acceptor, "VENUE", "NODE", 0);
    if flags & 1 != 0 {
        config.max_sending_time_skew_ns = 0;
    }
    config.max_queued_messages = 64;
    config.max_receive_bytes = 1 << 16;
    let dictionary = if flags & 2 != 0 { None } else { dictionary() };
    let mut session = Session::new(config, MemoryStore::new(), dictionary);
    let mut now = T0;
    session.connect(now);

    let mut encoder = Encoder::new();
    encoder.begin(b"A");
    encoder.uint(tag::MSG_SEQ_NUM, 1).str(tag::SENDER_COMP_ID, "NODE").timestamp_ms(tag::SENDING_TIME, now);
    encoder.str(tag::TARGET_COMP_ID, "VENUE").uint(tag::ENCRYPT_METHOD, 0).uint(tag::HEART_BT_INT, 30);
    session.on_bytes(now, encoder.finish(), |_| panic!("a Logon is not delivered"));
    assert_eq!(session.state(), SessionState::Active);
    let mut last_seq = 0;
    check_outbound(&mut session, &mut last_seq);
    while session.poll_event().is_some() {}

    let mut chunks = 0u32;
    while let Some((&control, tail)) = rest.split_first() {
        rest = tail;
        let was_connected = session.state() != SessionState::Disconnected;
        if control < 0x20 {
            now += u64::from(control) * S;
            session.on_timer(now);
        } else {
            let len = usize::from(control - 0x1f).min(rest.len());
            let (chunk, tail) = rest.split_at(len);
            rest = tail;
            session.on_bytes(now, chunk, |m| {
                assert!(!matches!(m.msg_type(), b"0" | b"1" | b"2" | b"3" | b"4" | b"5" | b"A"), "admin delivered");
            });
            chunks += 1;
            if chunks % 7 == 0 {
                let active = session.state() == SessionState::Active;
                let sent = session.send_app(now, b"D", |e| {
                    e.str(tag::CL_ORD_ID, "F").str(tag::SYMBOL, "X").char(tag::SIDE, b'1');
                });
                assert_eq!(sent.is_ok(), active, "send_app works exactly while logged on");
            }
        }
        if !was_connected {
            assert!(session.outbound().is_empty(), "a disconnected session writes nothing");
        }
        check_outbound(&mut session, &mut last_seq);
        check_state(&session);
        while session.poll_event().is_some() {}
    }
});
