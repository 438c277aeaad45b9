#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! The bridge protocol core, driven as the transport will drive it: resume across cuts at any
//! byte, hostile input, flow control, timers, the direction allow-list, and the fuzz target's
//! body over its seed corpus.

#[path = "../fuzz/harness/bridge_records.rs"]
mod bridge_records_harness;

use bridge_records_harness::{CLOUD_EPOCH, LOCAL_EPOCH, cloud_hello, encode_all, harness_frame, local_hello};
use qp_bridge_proto::{
    CloudConnection, ConnectionConfig, ConnectionSettings, DATA_MAX_LEN, DisconnectReason, EncodeError, Event,
    GoodbyeReason, Hello, InboundStream, LocalConnection, MAX_RECORD_LEN, MAX_SUBSCRIPTION_ASSETS, OutboundStream,
    ProtocolError, PushError, RECORD_HEADER_LEN, Record, RecordKind, RecordReader, Role, SUBSCRIPTION_MAX_LEN,
    Subscription, SubscriptionError, TimerStatus, Violation, encode_record,
};
use qp_seeded_random::SplitMix64;
use qp_wire::{AssetId, DecodeError, FrameBuf, MAGIC};

const MS: u64 = 1_000_000;
const SECOND: u64 = 1_000_000_000;

fn settings() -> ConnectionSettings {
    ConnectionConfig::default().validate().unwrap()
}

fn asset_ids(ids: &[u32]) -> Vec<AssetId> {
    ids.iter().map(|&id| AssetId::from_wire(id)).collect()
}

/// A record with any header at all: `declared` body length, kind and flags bytes, then `body`.
fn raw_record(declared: u16, kind: u8, flags: u8, body: &[u8]) -> Vec<u8> {
    let mut bytes = declared.to_le_bytes().to_vec();
    bytes.extend([kind, flags]);
    bytes.extend_from_slice(body);
    bytes
}

fn data_record(sequence: u64, frame: &FrameBuf) -> Vec<u8> {
    encode_all(Role::Cloud, &[Record::Data { sequence, frame: frame.as_frame_bytes() }])
}

/// Both ends in memory, bytes moved by `exchange`.
struct Pair {
    cloud: CloudConnection,
    local: LocalConnection,
    now: u64,
    buffer: Vec<u8>,
}

impl Pair {
    fn new(capacity: usize, window: usize) -> Self {
        let cloud = CloudConnection::new(&settings(), OutboundStream::new(CLOUD_EPOCH, capacity).unwrap(), 0);
        let local = LocalConnection::new(&settings(), InboundStream::new(LOCAL_EPOCH, window).unwrap(), 0);
        Self { cloud, local, now: 0, buffer: vec![0; 64 * 1024] }
    }

    /// Write both ways until neither end has anything to say. Answers the data records the
    /// cloud wrote.
    fn exchange(&mut self) -> u64 {
        let mut data_records = 0;
        loop {
            let n = self.cloud.write_into(self.now, &mut self.buffer);
            data_records += count_kind(Role::Cloud, &self.buffer[..n], RecordKind::Data);
            self.local.feed(self.now, &self.buffer[..n]).unwrap();
            let m = self.local.write_into(self.now, &mut self.buffer);
            self.cloud.feed(self.now, &self.buffer[..m]).unwrap();
            if n == 0 && m == 0 {
                return data_records;
            }
        }
    }

    fn reconnect(self) -> Self {
        let cloud = CloudConnection::new(&settings(), self.cloud.into_stream(), self.now);
        let local = LocalConnection::new(&settings(), self.local.into_stream(), self.now);
        Self { cloud, local, now: self.now, buffer: self.buffer }
    }
}

/// The kinds of the records in `bytes`, with a goodbye's reason.
fn records_of(sender: Role, bytes: &[u8]) -> Vec<(RecordKind, Option<GoodbyeReason>)> {
    let mut records = Vec::new();
    RecordReader::new(sender)
        .read::<ProtocolError, _>(bytes, |_, record| {
            let reason = if let Record::Goodbye(reason) = record { Some(reason) } else { None };
            records.push((record.kind(), reason));
            Ok(())
        })
        .unwrap();
    records
}

fn count_kind(sender: Role, bytes: &[u8], kind: RecordKind) -> u64 {
    let mut count = 0;
    RecordReader::new(sender)
        .read::<ProtocolError, _>(bytes, |_, record| {
            count += u64::from(record.kind() == kind);
            Ok(())
        })
        .unwrap();
    count
}

// ---------------------------------------------------------------------------------------
// Resume

/// 100,000 frames from a cloud sender to a local receiver through an in-memory pipe; the
/// stream is cut at pseudo-random byte counts (dropping whatever was in flight both ways)
/// and a fresh pair of connections is built on the same streams each time. Every frame
/// arrives once, in order, and nothing is ever resent that had arrived.
#[test]
fn a_hundred_thousand_frames_arrive_exactly_once_across_cuts_at_random_bytes() {
    const TOTAL: u64 = 100_000;
    let mut rng = SplitMix64::new(0xB21D_6E5E_ED01);
    let mut pair = Pair::new(256, 64);
    let (mut next_push, mut next_pop, mut cuts) = (0u64, 0u64, 0u32);
    let (mut to_local, mut to_cloud) = (Vec::new(), Vec::new());
    let mut until_cut = rng.below(60_000) + 1;
    let mut out = vec![0u8; 16 * 1024];
    while next_pop < TOTAL {
        while next_push < TOTAL {
            match pair.cloud.send_frame(&harness_frame(next_push)) {
                Ok(sequence) => assert_eq!(sequence, next_push),
                Err(PushError::Backpressure { capacity: 256 }) => break,
                Err(other) => panic!("{other}"),
            }
            next_push += 1;
        }
        let n = pair.cloud.write_into(pair.now, &mut out);
        to_local.extend_from_slice(&out[..n]);
        let n = pair.local.write_into(pair.now, &mut out);
        to_cloud.extend_from_slice(&out[..n]);

        // Deliver in random chunks; the cut may strike inside any of them.
        let mut cut = false;
        for (bytes, to_local_side) in [(&mut to_local, true), (&mut to_cloud, false)] {
            let mut at = 0;
            while at < bytes.len() && !cut {
                let mut len = (rng.below(3_000) + 1).min(bytes.len() - at);
                if len >= until_cut {
                    len = until_cut;
                    cut = true;
                }
                until_cut -= len;
                let part = &bytes[at..at + len];
                if to_local_side {
                    pair.local.feed(pair.now, part).unwrap();
                } else {
                    pair.cloud.feed(pair.now, part).unwrap();
                }
                at += len;
            }
            bytes.clear();
        }
        if cut {
            to_local.clear();
            to_cloud.clear();
            pair = pair.reconnect();
            cuts += 1;
            until_cut = rng.below(60_000) + 1;
        }
        while let Some(frame) = pair.local.pop_frame() {
            assert_eq!(frame.as_frame_bytes(), harness_frame(next_pop).as_frame_bytes(), "frame {next_pop}");
            next_pop += 1;
        }
        pair.now += 10_000;
    }
    assert_eq!(pair.local.stream().frames_received(), TOTAL);
    assert_eq!(pair.local.stream().duplicates_dropped(), 0, "a resume resends only what is missing");
    assert!(cuts >= 100, "only {cuts} cuts");
    pair.exchange();
    assert_eq!(pair.cloud.stream().first_unacked(), TOTAL, "everything acknowledged in the end");
}

#[test]
fn the_hello_exchange_reports_what_was_negotiated() {
    let mut pair = Pair::new(8, 8);
    pair.exchange();
    let expected = |peer_epoch, epoch_changed| {
        Event::Established(qp_bridge_proto::Negotiated {
            version: 1,
            capabilities: 0,
            peer_epoch,
            resume_from: 0,
            epoch_changed,
        })
    };
    // The local node read the cloud's hello before writing its own, so its hello already
    // follows the cloud's epoch.
    assert_eq!(pair.cloud.poll_event(), Some(expected(LOCAL_EPOCH, false)));
    assert_eq!(pair.local.poll_event(), Some(expected(CLOUD_EPOCH, true)));
    // The local node's (empty) subscription comes with every connection.
    assert_eq!(pair.cloud.poll_event(), Some(Event::SubscriptionChanged));
    assert_eq!(pair.cloud.poll_event(), None);

    let mut pair = pair.reconnect();
    pair.exchange();
    let Some(Event::Established(negotiated)) = pair.local.poll_event() else { panic!("established") };
    assert!(!negotiated.epoch_changed, "same epochs: a plain resume");
}

#[test]
fn a_restarted_sender_resets_the_receivers_expectations() {
    let mut pair = Pair::new(64, 64);
    for i in 0..10 {
        pair.cloud.send_frame(&harness_frame(i)).unwrap();
    }
    pair.exchange();
    assert_eq!(pair.local.stream().next_expected(), 10);
    // The cloud process restarts: a new epoch, its sequence numbers from 0 again.
    let local_stream = pair.local.into_stream();
    let mut stream = OutboundStream::new(CLOUD_EPOCH + 1, 64).unwrap();
    for i in 100..103 {
        stream.push(&harness_frame(i)).unwrap();
    }
    let mut pair = Pair {
        cloud: CloudConnection::new(&settings(), stream, 0),
        local: LocalConnection::new(&settings(), local_stream, 0),
        now: 0,
        buffer: vec![0; 64 * 1024],
    };
    pair.exchange();
    let Some(Event::Established(negotiated)) = pair.local.poll_event() else { panic!("established") };
    assert!(negotiated.epoch_changed);
    assert_eq!((negotiated.peer_epoch, negotiated.resume_from), (CLOUD_EPOCH + 1, 0));
    let sequences: Vec<u64> =
        std::iter::from_fn(|| pair.local.pop_frame()).map(|f| f.header().sequence.get()).collect();
    assert_eq!(sequences[..10], (0..10).collect::<Vec<_>>(), "the old epoch's frames stay for the application");
    assert_eq!(sequences[10..], [100, 101, 102]);
    assert_eq!(pair.local.stream().next_expected(), 3);
}

#[test]
fn a_restarted_receiver_gets_everything_unacknowledged_again() {
    let mut pair = Pair::new(64, 64);
    for i in 0..5 {
        pair.cloud.send_frame(&harness_frame(i)).unwrap();
    }
    pair.exchange();
    // Five acknowledged; three more sent, never acknowledged (the local process dies).
    for i in 5..8 {
        pair.cloud.send_frame(&harness_frame(i)).unwrap();
    }
    let n = pair.cloud.write_into(0, &mut pair.buffer);
    assert_eq!(count_kind(Role::Cloud, &pair.buffer[..n], RecordKind::Data), 3);
    let stream = pair.cloud.into_stream();
    assert_eq!(stream.first_unacked(), 5);
    let mut pair = Pair {
        cloud: CloudConnection::new(&settings(), stream, 0),
        local: LocalConnection::new(&settings(), InboundStream::new(LOCAL_EPOCH + 1, 64).unwrap(), 0),
        now: 0,
        buffer: vec![0; 64 * 1024],
    };
    pair.exchange();
    let sequences: Vec<u64> =
        std::iter::from_fn(|| pair.local.pop_frame()).map(|f| f.header().sequence.get()).collect();
    assert_eq!(sequences, [5, 6, 7]);
    assert_eq!(pair.cloud.stream().first_unacked(), 8);
}

// ---------------------------------------------------------------------------------------
// Hostile input

/// Something that takes a peer's bytes.
trait Receiver {
    fn feed_bytes(&mut self, bytes: &[u8]) -> Result<(), DisconnectReason>;
}

impl Receiver for CloudConnection {
    fn feed_bytes(&mut self, bytes: &[u8]) -> Result<(), DisconnectReason> {
        self.feed(0, bytes)
    }
}

impl Receiver for LocalConnection {
    fn feed_bytes(&mut self, bytes: &[u8]) -> Result<(), DisconnectReason> {
        self.feed(0, bytes)
    }
}

/// A local node that has the cloud's hello and granted credit for `window` frames.
fn established_local(window: usize) -> LocalConnection {
    let mut local = LocalConnection::new(&settings(), InboundStream::new(LOCAL_EPOCH, window).unwrap(), 0);
    local.feed(0, &encode_all(Role::Cloud, &[Record::Hello(cloud_hello(0))])).unwrap();
    local.write_into(0, &mut [0u8; 4 * MAX_RECORD_LEN]);
    assert_eq!(local.credit_granted(), window as u64);
    local
}

/// A cloud node that has the local node's hello and credit, and has sent frames 0..4.
fn established_cloud() -> CloudConnection {
    let mut stream = OutboundStream::new(CLOUD_EPOCH, 16).unwrap();
    for i in 0..4 {
        stream.push(&harness_frame(i)).unwrap();
    }
    let mut cloud = CloudConnection::new(&settings(), stream, 0);
    cloud.feed(0, &encode_all(Role::Local, &[Record::Hello(local_hello(0)), Record::Credit { limit: 8 }])).unwrap();
    cloud.write_into(0, &mut [0u8; 8 * MAX_RECORD_LEN]);
    assert_eq!(cloud.next_send(), 4);
    cloud
}

/// The error `bytes` (after whatever `make` fed) bring: fed whole, then one byte at a time;
/// both ways must give the same error.
fn error_of<R: Receiver>(make: impl Fn() -> R, bytes: &[u8]) -> ProtocolError {
    let whole = match make().feed_bytes(bytes) {
        Err(DisconnectReason::Protocol(error)) => error,
        other => panic!("expected a protocol error, got {other:?}"),
    };
    let mut receiver = make();
    let bytewise = bytes.iter().find_map(|byte| receiver.feed_bytes(std::slice::from_ref(byte)).err());
    assert_eq!(bytewise, Some(DisconnectReason::Protocol(whole)), "the same error byte by byte");
    assert_eq!(receiver.feed_bytes(&[]), Err(DisconnectReason::Protocol(whole)), "and it stands");
    whole
}

fn fresh_local() -> LocalConnection {
    LocalConnection::new(&settings(), InboundStream::new(LOCAL_EPOCH, 8).unwrap(), 0)
}

fn fresh_cloud() -> CloudConnection {
    CloudConnection::new(&settings(), OutboundStream::new(CLOUD_EPOCH, 8).unwrap(), 0)
}

const HELLO_RECORD_LEN: u64 = (RECORD_HEADER_LEN + qp_bridge_proto::HELLO_LEN) as u64;

#[test]
fn a_length_beyond_the_kinds_maximum_is_refused_at_its_header() {
    let error = error_of(|| established_local(8), &raw_record(0xffff, RecordKind::Data as u8, 0, &[]));
    assert_eq!(error.offset, HELLO_RECORD_LEN, "the stream's first record was the hello");
    assert_eq!(error.record_kind(), Some(RecordKind::Data));
    assert_eq!(error.violation, Violation::BodyTooLong { length: 0xffff, max: DATA_MAX_LEN });
}

#[test]
fn bad_lengths_name_the_kind_and_the_offset() {
    let hello = encode_all(Role::Cloud, &[Record::Hello(cloud_hello(0))]);
    let mut bytes = hello.clone();
    bytes.extend(raw_record(3, RecordKind::Heartbeat as u8, 0, &[0; 3]));
    let error = error_of(fresh_local, &bytes);
    assert_eq!((error.offset, error.kind), (HELLO_RECORD_LEN, RecordKind::Heartbeat as u8));
    assert_eq!(error.violation, Violation::BodyTooLong { length: 3, max: 0 });

    let mut bytes = hello;
    bytes.extend(raw_record(10, RecordKind::Data as u8, 0, &[0; 10]));
    let error = error_of(fresh_local, &bytes);
    assert_eq!(error.violation, Violation::BodyTooShort { length: 10, min: qp_bridge_proto::DATA_MIN_LEN });
    assert!(error.to_string().contains("data record at stream byte 60"), "{error}");
}

#[test]
fn a_lying_length_is_refused() {
    let frame = harness_frame(0);
    // The record claims four bytes more than the frame declares.
    let mut body = 0u64.to_le_bytes().to_vec();
    body.extend_from_slice(frame.as_frame_bytes());
    body.extend([0xAA; 4]);
    let record = raw_record(body.len() as u16, RecordKind::Data as u8, 0, &body);
    let error = error_of(|| established_local(8), &record);
    assert_eq!(error.violation, Violation::FrameLengthMismatch { record: 100, declared: 96 });

    // The record claims less than the frame declares.
    let short = &body[..8 + 80];
    let error = error_of(|| established_local(8), &raw_record(short.len() as u16, RecordKind::Data as u8, 0, short));
    assert_eq!(error.violation, Violation::BadFrame(DecodeError::Truncated { needed: 96, available: 80 }));

    // A subscription whose count does not match its body.
    let mut body = 3u16.to_le_bytes().to_vec();
    body.extend([0, 0]);
    body.extend(1u32.to_le_bytes());
    let record = raw_record(body.len() as u16, RecordKind::Subscription as u8, 0, &body);
    let error = error_of(established_cloud, &record);
    assert_eq!(
        error.violation,
        Violation::BadSubscription(SubscriptionError::LengthMismatch { count: 3, body_len: 8 })
    );
}

#[test]
fn unknown_kinds_and_reserved_flags_are_refused() {
    for kind in [0u8, 8, 0x7f, 0xff] {
        let error = error_of(fresh_local, &raw_record(0, kind, 0, &[]));
        assert_eq!((error.offset, error.kind, error.violation), (0, kind, Violation::UnknownKind));
        assert_eq!(error.record_kind(), None);
        assert!(error.to_string().contains("unknown kind"), "{error}");
    }
    let error = error_of(|| established_local(8), &raw_record(0, RecordKind::Heartbeat as u8, 0x80, &[]));
    assert_eq!(error.violation, Violation::ReservedFlags { flags: 0x80 });
}

#[test]
fn data_before_hello_is_refused() {
    let error = error_of(fresh_local, &data_record(0, &harness_frame(0)));
    assert_eq!((error.offset, error.violation), (0, Violation::RecordBeforeHello));
    let error = error_of(fresh_cloud, &encode_all(Role::Local, &[Record::Heartbeat]));
    assert_eq!(error.violation, Violation::RecordBeforeHello);
}

#[test]
fn data_without_credit_is_refused() {
    // The hello is in, but this node has not written its credit yet.
    let make = || {
        let mut local = fresh_local();
        local.feed(0, &encode_all(Role::Cloud, &[Record::Hello(cloud_hello(0))])).unwrap();
        local
    };
    let error = error_of(make, &data_record(0, &harness_frame(0)));
    assert_eq!(error.violation, Violation::CreditExceeded { sequence: 0, limit: 0 });
    // With credit for 8, the ninth frame is over it.
    let mut bytes = Vec::new();
    for i in 0..9 {
        bytes.extend(data_record(i, &harness_frame(i)));
    }
    let error = error_of(|| established_local(8), &bytes);
    assert_eq!(error.violation, Violation::CreditExceeded { sequence: 8, limit: 8 });
    assert_eq!(error.offset, HELLO_RECORD_LEN + 8 * 108);
}

#[test]
fn a_second_hello_is_refused() {
    let error = error_of(|| established_local(8), &encode_all(Role::Cloud, &[Record::Hello(cloud_hello(0))]));
    assert_eq!((error.offset, error.violation), (HELLO_RECORD_LEN, Violation::DuplicateHello));
}

#[test]
fn a_peer_with_our_role_is_refused() {
    // A local node's hello sent to a local node (the cloud's reader lets hellos through).
    let hello = Hello { role: Role::Local, ..cloud_hello(0) };
    let error = error_of(fresh_local, &encode_all(Role::Cloud, &[Record::Hello(hello)]));
    assert_eq!(error.violation, Violation::WrongRole { theirs: Role::Local });
    let hello = Hello { role: Role::Cloud, ..local_hello(0) };
    let error = error_of(fresh_cloud, &encode_all(Role::Local, &[Record::Hello(hello)]));
    assert_eq!(error.violation, Violation::WrongRole { theirs: Role::Cloud });
}

#[test]
fn a_bad_hello_is_refused() {
    let mut bytes = encode_all(Role::Cloud, &[Record::Hello(cloud_hello(0))]);
    bytes[RECORD_HEADER_LEN] ^= 0xff;
    assert!(matches!(error_of(fresh_local, &bytes).violation, Violation::BadHelloMagic { .. }));
    let zero_epoch = Hello { epoch: 0, ..cloud_hello(0) };
    let error = error_of(fresh_local, &encode_all(Role::Cloud, &[Record::Hello(zero_epoch)]));
    assert_eq!(error.violation, Violation::InvalidHello { field: "epoch", value: 0 });
    let mut bytes = encode_all(Role::Cloud, &[Record::Hello(cloud_hello(0))]);
    bytes[RECORD_HEADER_LEN + 8] = 9;
    assert_eq!(error_of(fresh_local, &bytes).violation, Violation::InvalidHello { field: "role", value: 9 });
    // Sequence numbers near the top of u64 would overflow credit arithmetic (found by the fuzzer).
    let hello = encode_all(Role::Cloud, &[Record::Hello(cloud_hello(u64::MAX))]);
    let error = error_of(fresh_local, &hello);
    assert_eq!(error.violation, Violation::InvalidHello { field: "resend_from", value: u64::MAX });
    let hello = encode_all(Role::Local, &[Record::Hello(local_hello(qp_bridge_proto::MAX_SEQUENCE + 1))]);
    assert!(matches!(error_of(fresh_cloud, &hello).violation, Violation::InvalidHello { field: "next_expected", .. }));
}

#[test]
fn an_oversized_subscription_is_refused() {
    // 65 assets do not fit the kind's maximum body.
    let mut body = 65u16.to_le_bytes().to_vec();
    body.extend([0, 0]);
    (1..=65u32).for_each(|id| body.extend(id.to_le_bytes()));
    let error = error_of(established_cloud, &raw_record(body.len() as u16, RecordKind::Subscription as u8, 0, &body));
    assert_eq!(error.violation, Violation::BodyTooLong { length: 264, max: SUBSCRIPTION_MAX_LEN });
    // A count over the bound inside a body that fits.
    body.truncate(SUBSCRIPTION_MAX_LEN);
    let error = error_of(established_cloud, &raw_record(body.len() as u16, RecordKind::Subscription as u8, 0, &body));
    assert_eq!(
        error.violation,
        Violation::BadSubscription(SubscriptionError::TooManyAssets { count: 65, max: MAX_SUBSCRIPTION_ASSETS })
    );
    // Unsorted ids.
    let mut body = 2u16.to_le_bytes().to_vec();
    body.extend([0, 0, 5, 0, 0, 0, 2, 0, 0, 0]);
    let error = error_of(established_cloud, &raw_record(body.len() as u16, RecordKind::Subscription as u8, 0, &body));
    assert_eq!(error.violation, Violation::BadSubscription(SubscriptionError::NotSorted { index: 1 }));
    // The local side cannot even build one.
    let too_many: Vec<u32> = (1..=65).collect();
    assert!(Subscription::new(&asset_ids(&too_many)).is_err());
}

#[test]
fn a_garbage_frame_body_is_refused() {
    let mut body = 0u64.to_le_bytes().to_vec();
    body.extend([0x5A; 96]);
    let error = error_of(|| established_local(8), &raw_record(body.len() as u16, RecordKind::Data as u8, 0, &body));
    assert_eq!(error.violation, Violation::BadFrame(DecodeError::BadMagic { found: 0x5A5A_5A5A, expected: MAGIC }));
    // A frame with a field out of range (sentiment score 99).
    let mut frame = harness_frame(0);
    frame.as_slot_bytes_mut()[qp_wire::HEADER_LEN + 4] = 99;
    let mut body = 0u64.to_le_bytes().to_vec();
    body.extend_from_slice(frame.as_frame_bytes());
    let error = error_of(|| established_local(8), &raw_record(body.len() as u16, RecordKind::Data as u8, 0, &body));
    assert!(matches!(error.violation, Violation::BadFrame(DecodeError::InvalidField { field: "score", .. })));
}

#[test]
fn gaps_and_impossible_acknowledgements_are_refused() {
    let mut bytes = data_record(0, &harness_frame(0));
    bytes.extend(data_record(2, &harness_frame(2)));
    let error = error_of(|| established_local(8), &bytes);
    assert_eq!(
        (error.offset, error.violation),
        (HELLO_RECORD_LEN + 108, Violation::SequenceGap { expected: 1, found: 2 })
    );

    let ack = |next_expected| encode_all(Role::Local, &[Record::Ack { next_expected }]);
    let error = error_of(established_cloud, &ack(5));
    assert_eq!(error.violation, Violation::AckBeyondSent { sent: 4, found: 5 });
    let mut bytes = ack(3);
    bytes.extend(ack(2));
    assert_eq!(error_of(established_cloud, &bytes).violation, Violation::AckWentBackwards { acked: 3, found: 2 });
    let credit = encode_all(Role::Local, &[Record::Credit { limit: 7 }]);
    assert_eq!(error_of(established_cloud, &credit).violation, Violation::CreditWentBackwards { limit: 8, found: 7 });
}

#[test]
fn an_impossible_resume_point_is_refused() {
    let make = || {
        let mut stream = OutboundStream::new(CLOUD_EPOCH, 16).unwrap();
        stream.push(&harness_frame(0)).unwrap();
        CloudConnection::new(&settings(), stream, 0)
    };
    // Same epoch, but asks for frame 1 when nothing was ever sent.
    let error = error_of(make, &encode_all(Role::Local, &[Record::Hello(local_hello(1))]));
    assert_eq!(error.violation, Violation::ResumeOutOfRange { first_unacked: 0, sent: 0, found: 1 });
    // A sender of the same epoch that no longer holds what the receiver lacks.
    let mut first = fresh_local();
    first.feed(0, &encode_all(Role::Cloud, &[Record::Hello(cloud_hello(0))])).unwrap();
    let mut local = LocalConnection::new(&settings(), first.into_stream(), 0);
    let error = match local.feed(0, &encode_all(Role::Cloud, &[Record::Hello(cloud_hello(3))])) {
        Err(DisconnectReason::Protocol(error)) => error,
        other => panic!("{other:?}"),
    };
    assert_eq!(error.violation, Violation::ResumeGap { expected: 0, resend_from: 3 });
}

#[test]
fn no_common_version_is_refused_with_a_goodbye() {
    let newer = Hello { min_version: 2, max_version: 5, ..cloud_hello(0) };
    let mut local = fresh_local();
    let error = match local.feed(0, &encode_all(Role::Cloud, &[Record::Hello(newer)])) {
        Err(DisconnectReason::Protocol(error)) => error,
        other => panic!("{other:?}"),
    };
    assert_eq!(error.violation, Violation::NoCommonVersion { ours_min: 1, ours_max: 1, theirs_min: 2, theirs_max: 5 });
    // The older node still says hello (so the newer one can read it) and why it goes.
    let mut out = [0u8; 4 * MAX_RECORD_LEN];
    let n = local.write_into(0, &mut out);
    assert_eq!(
        records_of(Role::Local, &out[..n]),
        [(RecordKind::Hello, None), (RecordKind::Goodbye, Some(GoodbyeReason::VersionMismatch))]
    );
    assert_eq!(local.write_into(0, &mut out), 0, "nothing after the goodbye");
}

#[test]
fn a_stream_cut_inside_a_record_is_a_truncation() {
    let mut local = established_local(8);
    let record = data_record(0, &harness_frame(0));
    local.feed(0, &record[..50]).unwrap();
    let reason = local.end_of_stream();
    let DisconnectReason::Protocol(error) = reason else { panic!("{reason:?}") };
    assert_eq!(error.violation, Violation::TruncatedAtClose { have: 50, need: 108 });
    assert_eq!(error.record_kind(), Some(RecordKind::Data));
    let mut local = established_local(8);
    assert_eq!(local.end_of_stream(), DisconnectReason::EndOfStream);
}

#[test]
fn random_bytes_never_panic_and_memory_stays_bounded() {
    let mut rng = SplitMix64::new(7);
    let mut out = [0u8; 4 * MAX_RECORD_LEN];
    for round in 0..3_000u64 {
        let len = rng.below(2_000);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        // Half the rounds after a valid hello, so the bytes meet an established connection.
        let established = round % 2 == 0;
        let mut local = if established { established_local(8) } else { fresh_local() };
        let mut cloud = if established { established_cloud() } else { fresh_cloud() };
        let mut at = 0;
        while at < bytes.len() {
            let n = (rng.below(300) + 1).min(bytes.len() - at);
            let _ = local.feed(0, &bytes[at..at + n]);
            let _ = cloud.feed(0, &bytes[at..at + n]);
            assert!(local.buffered_len() < MAX_RECORD_LEN && cloud.buffered_len() < MAX_RECORD_LEN);
            assert!(local.stream().len() <= 8 && cloud.stream().retained() <= 16);
            local.write_into(0, &mut out);
            cloud.write_into(0, &mut out);
            at += n;
        }
        // A receiver without a bridge peer fails fast: the first record is checked at its header.
        if !established && len >= 4 && bytes[2] != RecordKind::Hello as u8 {
            assert!(local.close_reason().is_some() && cloud.close_reason().is_some());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Flow control

#[test]
fn the_sender_never_sends_past_credit() {
    let mut pair = Pair::new(64, 8);
    for i in 0..40 {
        pair.cloud.send_frame(&harness_frame(i)).unwrap();
    }
    // The application takes nothing: exactly the window goes out.
    assert_eq!(pair.exchange(), 8);
    assert_eq!((pair.cloud.next_send(), pair.cloud.credit_limit()), (8, 8));
    assert_eq!(pair.local.stream().len(), 8);
    assert_eq!(pair.cloud.stream().first_unacked(), 8, "received frames are acknowledged though not taken");
    // Three taken: three more.
    for _ in 0..3 {
        pair.local.pop_frame().unwrap();
    }
    assert_eq!(pair.exchange(), 3);
    assert_eq!(pair.cloud.next_send(), 11);
    // Everything taken as it comes: the rest flows.
    let mut taken = 3;
    loop {
        let sent = pair.exchange();
        while pair.local.pop_frame().is_some() {
            taken += 1;
        }
        if sent == 0 && pair.local.stream().is_empty() && pair.exchange() == 0 {
            break;
        }
    }
    assert_eq!(taken, 40);
}

#[test]
fn a_full_outbound_buffer_is_backpressure_and_nothing_is_dropped() {
    let mut pair = Pair::new(16, 4);
    let mut pushed = 0;
    while pair.cloud.send_frame(&harness_frame(pushed)).is_ok() {
        pushed += 1;
    }
    assert_eq!(pushed, 16);
    assert_eq!(pair.cloud.send_frame(&harness_frame(16)), Err(PushError::Backpressure { capacity: 16 }));
    assert!(pair.cloud.stream().is_full());
    // Sent but unacknowledged frames still hold their slots; acknowledged ones free them.
    pair.exchange();
    assert_eq!(pair.cloud.stream().retained(), 12, "four acknowledged");
    for i in 16..20 {
        pair.cloud.send_frame(&harness_frame(i)).unwrap();
    }
    assert!(pair.cloud.send_frame(&harness_frame(20)).is_err());
    let mut received = Vec::new();
    while received.len() < 20 {
        pair.exchange();
        received.extend(std::iter::from_fn(|| pair.local.pop_frame()).map(|f| f.header().sequence.get()));
    }
    assert_eq!(received, (0..20).collect::<Vec<_>>());
    // A frame that does not decode is refused at the door.
    let mut bad = harness_frame(0);
    bad.as_slot_bytes_mut()[0] = 0;
    assert!(matches!(pair.cloud.send_frame(&bad), Err(PushError::InvalidFrame(DecodeError::BadMagic { .. }))));
}

// ---------------------------------------------------------------------------------------
// Timers

#[test]
fn an_idle_connection_sends_heartbeats_and_stays_alive() {
    let mut pair = Pair::new(8, 8);
    pair.exchange();
    assert_eq!(pair.cloud.poll_timers(500 * MS), Ok(TimerStatus::Quiet));
    assert_eq!(pair.cloud.next_timer_ns(), Some(SECOND), "the heartbeat interval after the last write");
    for second in 1..=20u64 {
        pair.now = second * SECOND;
        assert_eq!(pair.cloud.poll_timers(pair.now), Ok(TimerStatus::HeartbeatDue));
        assert_eq!(pair.local.poll_timers(pair.now), Ok(TimerStatus::HeartbeatDue));
        let n = pair.cloud.write_into(pair.now, &mut pair.buffer);
        assert_eq!(count_kind(Role::Cloud, &pair.buffer[..n], RecordKind::Heartbeat), 1);
        pair.local.feed(pair.now, &pair.buffer[..n]).unwrap();
        let n = pair.local.write_into(pair.now, &mut pair.buffer);
        assert_eq!(count_kind(Role::Local, &pair.buffer[..n], RecordKind::Heartbeat), 1);
        pair.cloud.feed(pair.now, &pair.buffer[..n]).unwrap();
        assert_eq!(pair.cloud.poll_timers(pair.now), Ok(TimerStatus::Quiet));
    }
    assert!(pair.cloud.is_established() && pair.local.is_established());
}

#[test]
fn a_silent_peer_is_dead() {
    let mut pair = Pair::new(8, 8);
    pair.exchange();
    assert_eq!(pair.local.next_timer_ns(), Some(SECOND));
    // Heartbeats go out, nothing comes back.
    for second in 1..5 {
        assert_eq!(pair.local.poll_timers(second * SECOND), Ok(TimerStatus::HeartbeatDue));
        pair.local.write_into(second * SECOND, &mut pair.buffer);
    }
    assert_eq!(pair.local.poll_timers(5 * SECOND), Err(DisconnectReason::DeadPeer { silent_ns: 5 * SECOND }));
    assert_eq!(pair.local.next_timer_ns(), None);
    assert_eq!(pair.local.feed(5 * SECOND, &[]), Err(DisconnectReason::DeadPeer { silent_ns: 5 * SECOND }));
    let n = pair.local.write_into(5 * SECOND, &mut pair.buffer);
    assert_eq!(records_of(Role::Local, &pair.buffer[..n]), [(RecordKind::Goodbye, Some(GoodbyeReason::DeadPeer))]);
    // Before any hello, the same clock bounds the handshake.
    let mut cloud = fresh_cloud();
    assert!(matches!(cloud.poll_timers(5 * SECOND), Err(DisconnectReason::DeadPeer { .. })));
}

#[test]
fn a_peer_that_stops_acknowledging_is_stalled() {
    let mut pair = Pair::new(16, 8);
    pair.exchange();
    for i in 0..4 {
        pair.cloud.send_frame(&harness_frame(i)).unwrap();
    }
    // Sent at t = 0; the peer keeps sending heartbeats but never acknowledges.
    pair.cloud.write_into(0, &mut pair.buffer);
    let heartbeat = encode_all(Role::Local, &[Record::Heartbeat]);
    for second in 1..10 {
        pair.cloud.feed(second * SECOND, &heartbeat).unwrap();
        assert!(pair.cloud.poll_timers(second * SECOND).is_ok());
        pair.cloud.write_into(second * SECOND, &mut pair.buffer);
    }
    assert_eq!(pair.cloud.next_timer_ns(), Some(10 * SECOND));
    pair.cloud.feed(10 * SECOND, &heartbeat).unwrap();
    assert_eq!(
        pair.cloud.poll_timers(10 * SECOND),
        Err(DisconnectReason::StalledPeer { stalled_ns: 10 * SECOND, unacked: 4, waiting: 0 })
    );
}

#[test]
fn a_peer_that_holds_credit_at_zero_is_stalled_and_progress_resets_the_clock() {
    let mut pair = Pair::new(32, 4);
    for i in 0..6 {
        pair.cloud.send_frame(&harness_frame(i)).unwrap();
    }
    pair.exchange();
    // Four out and acknowledged, two waiting on credit the application never frees.
    assert_eq!((pair.cloud.next_send(), pair.cloud.stream().first_unacked()), (4, 4));
    let heartbeat = encode_all(Role::Local, &[Record::Heartbeat]);
    pair.cloud.feed(6 * SECOND, &heartbeat).unwrap();
    assert!(pair.cloud.poll_timers(6 * SECOND).is_ok());
    // The application takes a frame at 6 s: credit moves, the clock restarts.
    pair.now = 6 * SECOND;
    pair.local.pop_frame().unwrap();
    pair.exchange();
    assert_eq!(pair.cloud.next_send(), 5);
    for second in 7..16 {
        pair.cloud.feed(second * SECOND, &heartbeat).unwrap();
        assert!(pair.cloud.poll_timers(second * SECOND).is_ok(), "at {second} s");
    }
    pair.cloud.feed(16 * SECOND, &heartbeat).unwrap();
    assert_eq!(
        pair.cloud.poll_timers(16 * SECOND),
        Err(DisconnectReason::StalledPeer { stalled_ns: 10 * SECOND, unacked: 0, waiting: 1 })
    );
}

// ---------------------------------------------------------------------------------------
// Direction allow-list

/// A record of each kind, valid in itself.
fn sample<'a>(kind: RecordKind, frame: &'a FrameBuf, subscription: &'a Subscription) -> Record<'a> {
    let (frame, list) = (frame.as_frame_bytes(), subscription.as_list());
    match kind {
        RecordKind::Hello => Record::Hello(local_hello(0)),
        RecordKind::Data => Record::Data { sequence: 0, frame },
        RecordKind::Credit => Record::Credit { limit: 1 },
        RecordKind::Ack => Record::Ack { next_expected: 0 },
        RecordKind::Heartbeat => Record::Heartbeat,
        RecordKind::Subscription => Record::Subscription(list),
        RecordKind::Goodbye => Record::Goodbye(GoodbyeReason::Shutdown),
    }
}

#[test]
fn no_record_kind_but_control_can_leave_a_local_node() {
    let frame = harness_frame(0);
    let subscription = Subscription::new(&asset_ids(&[1, 2])).unwrap();
    let mut out = [0u8; MAX_RECORD_LEN];
    let local_may_send = [
        RecordKind::Hello,
        RecordKind::Credit,
        RecordKind::Ack,
        RecordKind::Heartbeat,
        RecordKind::Subscription,
        RecordKind::Goodbye,
    ];
    // The encoder, every kind: only control records encode for a local node.
    for kind in RecordKind::ALL {
        let result = encode_record(Role::Local, &sample(kind, &frame, &subscription), &mut out);
        assert_eq!(result.is_ok(), local_may_send.contains(&kind), "{kind}: {result:?}");
        assert_eq!(Role::Local.may_send(kind), local_may_send.contains(&kind));
        if kind == RecordKind::Data {
            assert_eq!(result, Err(EncodeError::NotAllowed { role: Role::Local, kind }));
        }
    }
    // A local node driven through everything it does: hello, subscription, acknowledgements,
    // credit, heartbeats, goodbye. Every byte it writes parses as a record its role may send.
    let mut pair = Pair::new(64, 8);
    pair.local.set_subscription(subscription);
    let mut local_bytes = Vec::new();
    for round in 0..30u64 {
        pair.now = round * SECOND;
        for i in 0..3 {
            let _ = pair.cloud.send_frame(&harness_frame(round * 3 + i));
        }
        let n = pair.cloud.write_into(pair.now, &mut pair.buffer);
        pair.local.feed(pair.now, &pair.buffer[..n]).unwrap();
        let _ = pair.local.poll_timers(pair.now);
        // Taking a frame only every fourth round leaves rounds with nothing to acknowledge
        // or grant: those send heartbeats.
        if round % 4 == 0 {
            pair.local.pop_frame();
        }
        if round == 29 {
            pair.local.close(GoodbyeReason::Shutdown);
        }
        let n = pair.local.write_into(pair.now, &mut pair.buffer);
        local_bytes.extend_from_slice(&pair.buffer[..n]);
        pair.cloud.feed(pair.now, &pair.buffer[..n]).unwrap_or_else(|reason| {
            assert_eq!(reason, DisconnectReason::PeerGoodbye(GoodbyeReason::Shutdown));
        });
    }
    let mut seen = std::collections::BTreeSet::new();
    RecordReader::new(Role::Local)
        .read::<ProtocolError, _>(&local_bytes, |_, record| {
            seen.insert(record.kind() as u8);
            Ok(())
        })
        .unwrap();
    let seen: Vec<RecordKind> = seen.into_iter().filter_map(RecordKind::from_wire).collect();
    assert_eq!(seen, local_may_send, "the local node used every control kind, and nothing else");
}

#[test]
fn a_cloud_node_refuses_every_kind_a_local_node_may_not_send() {
    let frame = harness_frame(0);
    let subscription = Subscription::EMPTY;
    for kind in RecordKind::ALL {
        let mut bytes = [0u8; MAX_RECORD_LEN];
        // Whichever role's encoder takes it (data only a cloud node's), fed to a cloud node.
        let record = sample(kind, &frame, &subscription);
        let n = encode_record(Role::Local, &record, &mut bytes)
            .or_else(|_| encode_record(Role::Cloud, &record, &mut bytes))
            .unwrap();
        let result = established_cloud().feed(0, &bytes[..n]);
        if Role::Local.may_send(kind) {
            let refused = matches!(
                result,
                Err(DisconnectReason::Protocol(ProtocolError { violation: Violation::NotAllowedFromPeer { .. }, .. }))
            );
            assert!(!refused, "{kind}: {result:?}");
        } else {
            let Err(DisconnectReason::Protocol(error)) = result else { panic!("{kind}: {result:?}") };
            assert_eq!(error.violation, Violation::NotAllowedFromPeer { peer: Role::Local });
            assert_eq!(error.record_kind(), Some(kind));
        }
    }
    // And a local node refuses what a cloud node may not send.
    for kind in [RecordKind::Credit, RecordKind::Ack, RecordKind::Subscription] {
        let mut bytes = [0u8; MAX_RECORD_LEN];
        let n = encode_record(Role::Local, &sample(kind, &frame, &subscription), &mut bytes).unwrap();
        let error = error_of(|| established_local(8), &bytes[..n]);
        assert_eq!(error.violation, Violation::NotAllowedFromPeer { peer: Role::Cloud });
    }
}

// ---------------------------------------------------------------------------------------
// Subscription and goodbye

#[test]
fn the_subscription_reaches_the_cloud_and_is_sent_again_after_a_reconnect() {
    let mut pair = Pair::new(8, 8);
    pair.local.set_subscription(Subscription::new(&asset_ids(&[30, 10, 20])).unwrap());
    pair.exchange();
    let subscribed: Vec<u32> = pair.cloud.peer_subscription().iter().map(AssetId::get).collect();
    assert_eq!(subscribed, [10, 20, 30]);
    assert!(pair.cloud.peer_subscription().contains(AssetId::from_wire(20)));
    // A change goes out once.
    pair.local.set_subscription(Subscription::new(&asset_ids(&[7])).unwrap());
    let n = pair.local.write_into(0, &mut pair.buffer);
    assert_eq!(count_kind(Role::Local, &pair.buffer[..n], RecordKind::Subscription), 1);
    pair.cloud.feed(0, &pair.buffer[..n]).unwrap();
    assert_eq!(pair.local.write_into(0, &mut pair.buffer), 0);
    // A new cloud process knows nothing; the local node tells it on connecting.
    let local_stream = pair.local.into_stream();
    let mut pair = Pair {
        cloud: CloudConnection::new(&settings(), OutboundStream::new(CLOUD_EPOCH + 5, 8).unwrap(), 0),
        local: LocalConnection::new(&settings(), local_stream, 0),
        now: 0,
        buffer: vec![0; 4096],
    };
    pair.exchange();
    assert_eq!(pair.cloud.peer_subscription().iter().map(AssetId::get).collect::<Vec<_>>(), [7]);
}

#[test]
fn a_goodbye_ends_both_sides_with_its_reason() {
    let mut pair = Pair::new(8, 8);
    pair.exchange();
    pair.cloud.close(GoodbyeReason::Shutdown);
    assert_eq!(pair.cloud.close_reason(), Some(DisconnectReason::Closed(GoodbyeReason::Shutdown)));
    let n = pair.cloud.write_into(0, &mut pair.buffer);
    assert_eq!(pair.local.feed(0, &pair.buffer[..n]), Err(DisconnectReason::PeerGoodbye(GoodbyeReason::Shutdown)));
    assert_eq!(pair.local.write_into(0, &mut pair.buffer), 0, "no goodbye in answer to a goodbye");
    assert_eq!(pair.cloud.write_into(0, &mut pair.buffer), 0, "one goodbye");
    assert!(!pair.cloud.is_established() && !pair.local.is_established());
}

// ---------------------------------------------------------------------------------------
// The fuzz target's body

fn corpus_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/bridge_records")
}

/// The seed corpus: named inputs for the `bridge_records` fuzz target (see its harness for
/// the format).
fn seed_corpus() -> Vec<(&'static str, Vec<u8>)> {
    let data = |range: std::ops::Range<u64>| range.flat_map(|i| data_record(i, &harness_frame(i))).collect::<Vec<u8>>();
    let local = |records: &[Record<'_>]| encode_all(Role::Local, records);
    let cloud = |records: &[Record<'_>]| encode_all(Role::Cloud, records);
    let seed = |mode: u8, chunk: u8, parts: &[&[u8]]| {
        let mut bytes = vec![mode, chunk];
        parts.iter().for_each(|part| bytes.extend_from_slice(part));
        bytes
    };
    let subscription = Subscription::new(&asset_ids(&[1, 2, 3])).unwrap();
    let mut lying = data_record(6, &harness_frame(6));
    lying[0] += 4;
    lying.extend([0xAA; 4]);
    let mut oversized = 65u16.to_le_bytes().to_vec();
    oversized.extend([0, 0]);
    (1..=65u32).for_each(|id| oversized.extend(id.to_le_bytes()));
    vec![
        // Local node after the hello: frames split across chunks, a heartbeat, a goodbye.
        (
            "local_frames_after_hello",
            seed(0b011, 36, &[&data(0..6), &cloud(&[Record::Heartbeat, Record::Goodbye(GoodbyeReason::Shutdown)])]),
        ),
        // Local node from scratch: the cloud's hello alone in the first chunk (the node then
        // grants credit), frames after it.
        ("local_hello_then_frames", seed(0b001, 59, &[&cloud(&[Record::Hello(cloud_hello(0))]), &data(0..4)])),
        // Local node: a duplicate, then a gap.
        ("local_duplicate_then_gap", seed(0b011, 127, &[&data(0..2), &data(1..2), &data(3..4)])),
        // Local node: a record whose length lies, and a frame beyond credit.
        ("local_lying_length", seed(0b011, 127, &[&data(0..6), &lying])),
        ("local_beyond_credit", seed(0b011, 127 + 29, &[&data(0..17)])),
        // Cloud node after the hello: acknowledgements, credit, a subscription, heartbeats.
        (
            "cloud_acks_credit_subscription",
            seed(
                0b0001_0110,
                11,
                &[&local(&[
                    Record::Ack { next_expected: 2 },
                    Record::Credit { limit: 12 },
                    Record::Subscription(subscription.as_list()),
                    Record::Heartbeat,
                    Record::Ack { next_expected: 4 },
                    Record::Credit { limit: 20 },
                    Record::Heartbeat,
                    Record::Ack { next_expected: 6 },
                ])],
            ),
        ),
        // Cloud node from scratch: the local node's hello resuming at 0, credit, acks.
        (
            "cloud_hello_credit_acks",
            seed(
                0b100,
                19,
                &[&local(&[
                    Record::Hello(local_hello(0)),
                    Record::Credit { limit: 10 },
                    Record::Ack { next_expected: 1 },
                    Record::Ack { next_expected: 3 },
                ])],
            ),
        ),
        // Cloud node: an oversized subscription, an unknown kind and a data record from a local peer.
        (
            "cloud_oversized_subscription",
            seed(0b010, 127 + 5, &[&raw_record(oversized.len() as u16, 6, 0, &oversized)]),
        ),
        ("cloud_unknown_kind", seed(0b010, 3, &[&raw_record(0, 0x42, 0, &[])])),
        ("cloud_data_from_local", seed(0b010, 127, &[&data(0..1)])),
        // A peer that trickles one record a byte at a time, 375 ms a byte: dead after 5 s.
        ("local_trickle_then_dead", seed(0b1111_0011, 0, &[&data(0..1)])),
    ]
}

#[test]
fn the_fuzz_target_body_survives_its_seed_corpus_and_mutations_of_it() {
    let mut seeds = Vec::new();
    for entry in std::fs::read_dir(corpus_dir()).expect("the committed seed corpus") {
        let path = entry.unwrap().path();
        seeds.push(std::fs::read(&path).unwrap());
    }
    assert!(seeds.len() >= 8, "{} seeds", seeds.len());
    let generated = seed_corpus();
    for (name, bytes) in &generated {
        let committed = std::fs::read(corpus_dir().join(name)).unwrap_or_default();
        assert_eq!(
            &committed, bytes,
            "seed {name} is stale: run `cargo test -p qp-bridge-proto -- --ignored write_fuzz_seed_corpus`"
        );
    }
    let mut rng = SplitMix64::new(0xF022);
    for seed in &seeds {
        bridge_records_harness::run(seed);
        for _ in 0..200 {
            let mut mutated = seed.clone();
            for _ in 0..rng.below(4) + 1 {
                let at = rng.below(mutated.len());
                match rng.below(3) {
                    0 => mutated[at] = rng.next_u64() as u8,
                    1 => mutated.truncate(at.max(2)),
                    _ => mutated.insert(at, rng.next_u64() as u8),
                }
            }
            bridge_records_harness::run(&mutated);
        }
    }
    for _ in 0..500 {
        let len = rng.below(600);
        let random: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        bridge_records_harness::run(&random);
    }
}

/// Writes the seed corpus: `cargo test -p qp-bridge-proto -- --ignored write_fuzz_seed_corpus`.
#[test]
#[ignore = "writes fuzz/corpus/bridge_records; run by hand when the record layout changes"]
fn write_fuzz_seed_corpus() {
    std::fs::create_dir_all(corpus_dir()).unwrap();
    for (name, bytes) in seed_corpus() {
        std::fs::write(corpus_dir().join(name), bytes).unwrap();
    }
}
