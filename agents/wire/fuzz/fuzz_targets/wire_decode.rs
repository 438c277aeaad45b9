//! Fuzz the in-place frame decoder of `qp-wire` with arbitrary bytes.
//!
//! `decode` must answer every input with a frame or a typed `DecodeError`, never
//! a panic. When it answers a frame, the invariants below must hold; any panic
//! other than a failed invariant is a bug in `qp-wire`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qp_wire::{
    decode, decode_as, BlockPrint, BookSignal, Confirmed, Decision, DecodeError, ExecReport, FrameBuf, FrameRef,
    FrameType, Framed, OrderIntent, Payload, Quote, RiskVerdict, SentimentSignal, FRAME_CAPACITY, HEADER_LEN, MAGIC,
    WIRE_VERSION,
};

fuzz_target!(|data: &[u8]| {
    check(data);
    // Every suffix offset 1..8: the same bytes at every alignment. The decoder
    // reads byte-aligned little-endian fields and must not care.
    for offset in 1..8 {
        if let Some(suffix) = data.get(offset..) {
            check(suffix);
        }
    }
});

fn check(data: &[u8]) {
    match decode(data) {
        Ok(frame) => check_frame(data, &frame),
        Err(err) => check_error(data, err),
    }
}

fn check_frame(data: &[u8], frame: &FrameRef<'_>) {
    let header = frame.header();
    let len = frame.len();
    assert!(len <= data.len(), "frame length {len} exceeds input length {}", data.len());
    assert!(len > HEADER_LEN && len <= FRAME_CAPACITY, "frame length {len} out of range");
    assert!(!frame.is_empty());
    assert_eq!(header.magic.get(), MAGIC, "decoded frame has bad magic");
    assert_eq!(header.version.get(), WIRE_VERSION, "decoded frame has bad version");
    assert_eq!(header.frame_type.get(), frame.frame_type() as u16, "header type disagrees with variant");
    assert_eq!(header.length.get() as usize, len);
    // Zero-copy: the header is read in place at the start of the input.
    assert!(std::ptr::eq(header as *const _ as *const u8, data.as_ptr()), "header not borrowed in place");

    // The frame's own bytes decode to the same frame; bytes past it are ignored.
    let own = &data[..len];
    let again = match decode(own) {
        Ok(again) => again,
        Err(err) => panic!("frame's own {len} bytes do not re-decode: {err}"),
    };
    assert_eq!(again.frame_type(), frame.frame_type(), "re-decode changed the frame type");
    assert_eq!(again.header(), header, "re-decode changed the header");

    // Copied into an aligned ring slot, the frame decodes the same and gives back its bytes.
    let mut slot = FrameBuf::default();
    slot.as_slot_bytes_mut()[..len].copy_from_slice(own);
    match slot.decode() {
        Ok(in_slot) => assert_eq!(in_slot.frame_type(), frame.frame_type(), "slot decode changed the type"),
        Err(err) => panic!("frame does not decode from a ring slot: {err}"),
    }
    assert_eq!(slot.as_frame_bytes(), own, "slot gives back other bytes");
    let _ = format!("{frame:?} {slot:?}");

    match frame {
        FrameRef::Sentiment(f) => check_typed(own, f),
        FrameRef::Book(f) => check_typed(own, f),
        FrameRef::BlockPrint(f) => check_typed(own, f),
        FrameRef::Decision(f) => check_typed(own, f),
        FrameRef::RiskVerdict(f) => check_typed(own, f),
        FrameRef::OrderIntent(f) => check_typed(own, f),
        FrameRef::ExecReport(f) => check_typed(own, f),
        FrameRef::Confirmed(f) => check_typed(own, f),
        FrameRef::Quote(f) => check_typed(own, f),
    }

    // `decode_as` succeeds for the decoded type and answers WrongType for every other.
    let actual = frame.frame_type();
    check_as::<SentimentSignal>(data, Ok(actual));
    check_as::<BookSignal>(data, Ok(actual));
    check_as::<BlockPrint>(data, Ok(actual));
    check_as::<Decision>(data, Ok(actual));
    check_as::<RiskVerdict>(data, Ok(actual));
    check_as::<OrderIntent>(data, Ok(actual));
    check_as::<ExecReport>(data, Ok(actual));
    check_as::<Confirmed>(data, Ok(actual));
    check_as::<Quote>(data, Ok(actual));
}

/// Re-encoding a decoded payload gives back the frame's bytes (stamps aside).
fn check_typed<P: Payload + PartialEq + std::fmt::Debug>(own: &[u8], framed: &Framed<'_, P>) {
    assert_eq!(P::FRAME_TYPE as u16, framed.header.frame_type.get());
    let header = framed.header;
    let mut buf = FrameBuf::encode(header.origin_node.get(), header.sequence.get(), framed.payload);
    for (slot, stage) in qp_wire::Stage::ALL.iter().enumerate() {
        buf.stamp(*stage, header.stamps[slot].get());
    }
    assert_eq!(buf.as_frame_bytes(), own, "re-encoding the decoded payload gives other bytes");
}

/// `decode_as::<P>` on `data`, given what `decode` answered for it.
fn check_as<P: Payload + std::fmt::Debug>(data: &[u8], decoded: Result<FrameType, DecodeError>) {
    let result = decode_as::<P>(data);
    match (decoded, result) {
        (Ok(actual), Ok(framed)) => {
            assert_eq!(actual, P::FRAME_TYPE, "decode_as::<{:?}> accepted a {actual:?} frame", P::FRAME_TYPE);
            assert!(std::ptr::eq(framed.header as *const _ as *const u8, data.as_ptr()));
        }
        (Ok(actual), Err(err)) => {
            assert_ne!(actual, P::FRAME_TYPE, "decode_as::<{actual:?}> rejected a frame decode accepted: {err}");
            assert_eq!(
                err,
                DecodeError::WrongType { expected: P::FRAME_TYPE, found: actual },
                "decode_as on a frame of another type must answer WrongType"
            );
            let _ = err.to_string();
        }
        (Err(err), Ok(_)) => panic!("decode_as::<{:?}> accepted what decode rejected: {err}", P::FRAME_TYPE),
        (Err(expected), Err(err)) => {
            // Header errors come before the type check: the same error. A payload
            // error is the same for its own type and WrongType for every other.
            let expected = match expected {
                DecodeError::InvalidField { frame_type, .. } if frame_type != P::FRAME_TYPE => {
                    DecodeError::WrongType { expected: P::FRAME_TYPE, found: frame_type }
                }
                other => other,
            };
            assert_eq!(err, expected, "decode_as::<{:?}> disagrees with decode", P::FRAME_TYPE);
        }
    }
}

fn check_error(data: &[u8], err: DecodeError) {
    let message = err.to_string();
    assert!(!message.is_empty(), "empty Display for {err:?}");
    assert!(
        !matches!(err, DecodeError::WrongType { .. }),
        "decode (untyped) never answers WrongType, got: {message}"
    );
    check_as::<SentimentSignal>(data, Err(err));
    check_as::<BookSignal>(data, Err(err));
    check_as::<BlockPrint>(data, Err(err));
    check_as::<Decision>(data, Err(err));
    check_as::<RiskVerdict>(data, Err(err));
    check_as::<OrderIntent>(data, Err(err));
    check_as::<ExecReport>(data, Err(err));
    check_as::<Confirmed>(data, Err(err));
    check_as::<Quote>(data, Err(err));
}
