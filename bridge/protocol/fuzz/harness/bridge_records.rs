//! The body of the `bridge_records` fuzz target, shared by path with the crate's integration
//! tests (`tests/bridge_proto.rs`), so it builds and runs on stable as well.
//!
//! Input: byte 0 is the mode, byte 1 the chunk size (`c < 128`: `c + 1` bytes; else
//! `(c - 127) * 64` bytes, up to 8 KiB, enough to overrun a window in one read), the rest is
//! the peer's byte stream.
//!
//! - mode bit 0: our role (0: cloud, receiving from a local peer; 1: local, from a cloud peer);
//! - mode bit 1: a valid peer hello goes in first (and a local node grants its credit; a
//!   cloud node is granted credit and sends four frames), so the input reaches the
//!   established connection;
//! - mode bit 2: a cloud node queues one more frame before every chunk;
//! - mode bits 4..8: the clock advances this many times 25 ms per chunk (timers fire).
//!
//! The stream goes in one chunk at a time; after each chunk the node writes and
//! its timers are polled. Checked after every step: no panic; an error ends the connection
//! for good (the same reason again); the reassembly buffer stays under one record; queues
//! stay within their bounds; everything the node writes parses as records its role may send
//! (hello first, data sequence numbers consecutive and within credit, nothing after a goodbye).

use qp_bridge_proto::{
    CloudConnection, ConnectionConfig, ConnectionSettings, DisconnectReason, Hello, InboundStream, LocalConnection,
    MAX_RECORD_LEN, OutboundStream, Record, RecordReader, Role, encode_record,
};
use qp_wire::{AssetId, FrameBuf, SentimentSignal};

/// The cloud node's session epoch in the harness.
pub(crate) const CLOUD_EPOCH: u64 = 0xC10D;
/// The local node's session epoch in the harness.
pub(crate) const LOCAL_EPOCH: u64 = 0x10CA1;
/// The local node's window.
pub(crate) const WINDOW: usize = 16;
/// The cloud node's buffer.
pub(crate) const CAPACITY: usize = 32;
const STEP_NS: u64 = 25_000_000;

/// A sentiment frame numbered `i`.
pub(crate) fn harness_frame(i: u64) -> FrameBuf {
    let signal = SentimentSignal::new(AssetId::from_wire(1 + (i % 7) as u32), (i % 21) as i8 - 10, 5_000, i, 3);
    FrameBuf::encode(9, i, &signal)
}

/// A cloud node's hello as the harness's peer sends it.
pub(crate) fn cloud_hello(resend_from: u64) -> Hello {
    Hello {
        min_version: 1,
        max_version: 1,
        role: Role::Cloud,
        capabilities: 0,
        epoch: CLOUD_EPOCH,
        resume_epoch: 0,
        next_expected: 0,
        resend_from,
    }
}

/// A local node's hello that resumes the harness cloud node's stream at `next_expected`.
pub(crate) fn local_hello(next_expected: u64) -> Hello {
    Hello {
        min_version: 1,
        max_version: 1,
        role: Role::Local,
        capabilities: 0,
        epoch: LOCAL_EPOCH,
        resume_epoch: CLOUD_EPOCH,
        next_expected,
        resend_from: 0,
    }
}

/// The bytes of `records` as a node of role `sender` writes them.
pub(crate) fn encode_all(sender: Role, records: &[Record<'_>]) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut record_bytes = [0u8; MAX_RECORD_LEN];
    for record in records {
        let n = encode_record(sender, record, &mut record_bytes).expect("harness records encode");
        bytes.extend_from_slice(&record_bytes[..n]);
    }
    bytes
}

/// Checks one node's output across calls.
struct OutputCheck {
    reader: RecordReader,
    records: u64,
    goodbye: bool,
    next_data: Option<u64>,
}

impl OutputCheck {
    fn new(sender: Role) -> Self {
        Self { reader: RecordReader::new(sender), records: 0, goodbye: false, next_data: None }
    }

    /// Check `bytes`; `credit_limit` bounds the data sequence numbers.
    fn check(&mut self, bytes: &[u8], credit_limit: u64) {
        assert!(!self.goodbye || bytes.is_empty(), "bytes written after a goodbye");
        let (records, goodbye, next_data) = (&mut self.records, &mut self.goodbye, &mut self.next_data);
        let result = self.reader.read::<DisconnectReason, _>(bytes, |_, record| {
            assert!(!*goodbye, "a record after the goodbye");
            assert!((*records == 0) == matches!(record, Record::Hello(_)), "hello first, and only first");
            *records += 1;
            match record {
                Record::Data { sequence, .. } => {
                    assert!(next_data.is_none_or(|next| next == sequence), "data sequence numbers consecutive");
                    assert!(sequence < credit_limit, "data {sequence} sent past credit {credit_limit}");
                    *next_data = Some(sequence + 1);
                }
                Record::Goodbye(_) => *goodbye = true,
                _ => {}
            }
            Ok(())
        });
        if let Err(reason) = result {
            panic!("the node's own output does not parse as what its role may send: {reason}");
        }
        assert_eq!(self.reader.buffered_len(), 0, "output is whole records");
    }
}

fn settings() -> ConnectionSettings {
    ConnectionConfig::default().validate().expect("default settings are valid")
}

/// Run one input (see the module documentation).
pub(crate) fn run(data: &[u8]) {
    let [mode, chunk, stream @ ..] = data else {
        return;
    };
    let chunk = match usize::from(*chunk) {
        small @ 0..128 => small + 1,
        large => (large - 127) * 64,
    };
    let step_ns = u64::from(mode >> 4) * STEP_NS;
    if mode & 1 == 0 {
        run_cloud(*mode, chunk, step_ns, stream);
    } else {
        run_local(*mode, chunk, step_ns, stream);
    }
}

/// After a feed: an error stands for good.
fn check_feed(result: Result<(), DisconnectReason>, close_reason: Option<DisconnectReason>) -> bool {
    match result {
        Ok(()) => {
            assert_eq!(close_reason, None);
            false
        }
        Err(reason) => {
            assert_eq!(close_reason, Some(reason), "the first reason stands");
            true
        }
    }
}

fn run_cloud(mode: u8, chunk: usize, step_ns: u64, input: &[u8]) {
    let mut out = vec![0u8; 8 * MAX_RECORD_LEN];
    let mut stream = OutboundStream::new(CLOUD_EPOCH, CAPACITY).expect("stream");
    let mut pushed = 0u64;
    let mut now = 1_000u64;
    if mode & 2 != 0 {
        for _ in 0..4 {
            stream.push(&harness_frame(pushed)).expect("room for four");
            pushed += 1;
        }
    }
    let mut cloud = CloudConnection::new(&settings(), stream, now);
    let mut check = OutputCheck::new(Role::Cloud);
    if mode & 2 != 0 {
        let prelude = encode_all(Role::Local, &[Record::Hello(local_hello(0)), Record::Credit { limit: 8 }]);
        cloud.feed(now, &prelude).expect("a valid prelude is accepted");
    }
    let mut closed = false;
    for part in input.chunks(chunk) {
        if mode & 4 != 0 && cloud.send_frame(&harness_frame(pushed)).is_ok() {
            pushed += 1;
        }
        let n = cloud.write_into(now, &mut out);
        check.check(&out[..n], cloud.credit_limit());
        let result = cloud.feed(now, part);
        let failed = check_feed(result, cloud.close_reason());
        if closed {
            assert!(failed, "a closed connection stays closed");
        }
        closed |= failed;
        assert_eq!(cloud.feed(now, &[]).is_err(), closed);
        assert!(cloud.buffered_len() < MAX_RECORD_LEN);
        let stream = cloud.stream();
        assert!(stream.retained() <= stream.capacity());
        if cloud.negotiated().is_some() {
            assert!(stream.first_unacked() <= cloud.next_send() && cloud.next_send() <= stream.next_sequence());
        }
        while cloud.poll_event().is_some() {}
        now += step_ns;
        let timers = cloud.poll_timers(now);
        closed |= timers.is_err();
        let n = cloud.write_into(now, &mut out);
        check.check(&out[..n], cloud.credit_limit());
    }
    let reason = cloud.end_of_stream();
    assert_eq!(cloud.close_reason(), Some(reason));
    let n = cloud.write_into(now, &mut out);
    check.check(&out[..n], cloud.credit_limit());
    let stream = cloud.into_stream();
    assert!(stream.retained() <= CAPACITY);
}

fn run_local(mode: u8, chunk: usize, step_ns: u64, input: &[u8]) {
    let mut out = vec![0u8; 8 * MAX_RECORD_LEN];
    let mut now = 1_000u64;
    let stream = InboundStream::new(LOCAL_EPOCH, WINDOW).expect("stream");
    let mut local = LocalConnection::new(&settings(), stream, now);
    let mut check = OutputCheck::new(Role::Local);
    if mode & 2 != 0 {
        let prelude = encode_all(Role::Cloud, &[Record::Hello(cloud_hello(0))]);
        local.feed(now, &prelude).expect("a valid prelude is accepted");
    }
    let mut closed = false;
    for part in input.chunks(chunk) {
        let n = local.write_into(now, &mut out);
        check.check(&out[..n], 0);
        let result = local.feed(now, part);
        let failed = check_feed(result, local.close_reason());
        if closed {
            assert!(failed, "a closed connection stays closed");
        }
        closed |= failed;
        assert!(local.buffered_len() < MAX_RECORD_LEN);
        assert!(local.stream().len() <= WINDOW);
        while let Some(frame) = local.pop_frame() {
            assert!(frame.decode().is_ok(), "only frames that decode are queued");
        }
        while local.poll_event().is_some() {}
        now += step_ns;
        closed |= local.poll_timers(now).is_err();
        let n = local.write_into(now, &mut out);
        check.check(&out[..n], 0);
    }
    let reason = local.end_of_stream();
    assert_eq!(local.close_reason(), Some(reason));
    let n = local.write_into(now, &mut out);
    check.check(&out[..n], 0);
}
