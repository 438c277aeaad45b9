#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench that cannot start has nothing to measure
//! The protocol core's cost per record, in batches of 1,024 sentiment frames (96-byte frames,
//! 108-byte data records), criterion's mean per batch:
//!
//! - `bridge_proto/encode_batch`: the sender's side: 1,024 frames pushed (each checked with
//!   `qp_wire::decode`) and written as data records into one buffer.
//! - `bridge_proto/decode_batch`: the receiver's side: those 1,024 records read from one
//!   buffer (headers checked, every frame decoded, queued) and taken by the application.
//! - `bridge_proto/round_trip`: both, plus the receiver's acknowledgement and credit written
//!   and read by the sender: the whole steady state of one batch.
//!
//! The transport's target is 1,000,000 frames a second through one TLS connection; these
//! paths must cost a small fraction of that. Figures: `DESIGN.md`, "Throughput".
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use qp_bridge_proto::{CloudConnection, ConnectionConfig, InboundStream, LocalConnection, OutboundStream};
use qp_wire::{AssetId, FrameBuf, SentimentSignal};

const BATCH: usize = 1024;

fn frames() -> Vec<FrameBuf> {
    (0..BATCH as u64)
        .map(|i| {
            let signal = SentimentSignal::new(AssetId::from_wire(1 + (i % 9) as u32), (i % 21) as i8 - 10, 7_500, i, 2);
            FrameBuf::encode(4, i, &signal)
        })
        .collect()
}

/// A connected pair with room for a whole batch in flight.
fn connected() -> (CloudConnection, LocalConnection, Vec<u8>) {
    let settings = ConnectionConfig::default().validate().unwrap();
    let mut cloud = CloudConnection::new(&settings, OutboundStream::new(1, 2 * BATCH).unwrap(), 0);
    let mut local = LocalConnection::new(&settings, InboundStream::new(2, 2 * BATCH).unwrap(), 0);
    let mut wire = vec![0u8; 2 * BATCH * 128];
    for _ in 0..2 {
        let n = cloud.write_into(0, &mut wire);
        local.feed(0, &wire[..n]).unwrap();
        let n = local.write_into(0, &mut wire);
        cloud.feed(0, &wire[..n]).unwrap();
    }
    assert!(cloud.is_established() && local.is_established());
    (cloud, local, wire)
}

fn push_batch(cloud: &mut CloudConnection, frames: &[FrameBuf]) {
    for frame in frames {
        cloud.send_frame(frame).unwrap();
    }
}

fn drain(local: &mut LocalConnection) -> usize {
    let mut taken = 0;
    while let Some(frame) = local.pop_frame() {
        std::hint::black_box(&frame);
        taken += 1;
    }
    taken
}

/// The receiver's acknowledgement and credit, back to the sender.
fn answer(cloud: &mut CloudConnection, local: &mut LocalConnection, control: &mut [u8]) {
    let n = local.write_into(0, control);
    cloud.feed(0, &control[..n]).unwrap();
}

fn bridge_proto(c: &mut Criterion) {
    let frames = frames();
    let mut group = c.benchmark_group("bridge_proto");
    group.throughput(Throughput::Elements(BATCH as u64));
    let mut control = vec![0u8; 4096];

    let (mut cloud, mut local, mut wire) = connected();
    group.bench_function("encode_batch", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                push_batch(&mut cloud, &frames);
                let n = cloud.write_into(0, &mut wire);
                timed += start.elapsed();
                assert_eq!(n, BATCH * 108);
                local.feed(0, &wire[..n]).unwrap();
                drain(&mut local);
                answer(&mut cloud, &mut local, &mut control);
            }
            timed
        })
    });

    let (mut cloud, mut local, mut wire) = connected();
    group.bench_function("decode_batch", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                push_batch(&mut cloud, &frames);
                let n = cloud.write_into(0, &mut wire);
                let start = Instant::now();
                local.feed(0, &wire[..n]).unwrap();
                let taken = drain(&mut local);
                timed += start.elapsed();
                assert_eq!(taken, BATCH);
                answer(&mut cloud, &mut local, &mut control);
            }
            timed
        })
    });

    let (mut cloud, mut local, mut wire) = connected();
    group.bench_function("round_trip", |b| {
        b.iter(|| {
            push_batch(&mut cloud, &frames);
            let n = cloud.write_into(0, &mut wire);
            local.feed(0, &wire[..n]).unwrap();
            let taken = drain(&mut local);
            answer(&mut cloud, &mut local, &mut control);
            taken
        })
    });
    group.finish();
}

criterion_group!(benches, bridge_proto);
criterion_main!(benches);
