//! Frame decode and encode cost. Target: decode ≤ 25 ns.
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use qp_wire::{AssetId, Decision, FrameBuf, OrderIntent, SentimentSignal, Side, TimeInForce, decode};

fn wire(c: &mut Criterion) {
    let sentiment = FrameBuf::encode(7, 42, &SentimentSignal::new(AssetId::from_wire(3), -7, 8_100, 1, 9));
    let decision = Decision::new(11, AssetId::from_wire(3), Side::Buy, 5, 6_000_000, 1);
    let intent = FrameBuf::encode(7, 43, &OrderIntent::new(12, &decision, TimeInForce::ImmediateOrCancel));

    // Decode from a plain byte slice at an odd offset: frames are byte-aligned by design.
    let mut unaligned = vec![0u8; 1 + sentiment.as_frame_bytes().len()];
    unaligned[1..].copy_from_slice(sentiment.as_frame_bytes());

    c.bench_function("wire/decode/sentiment", |b| b.iter(|| decode(black_box(sentiment.as_frame_bytes()))));
    c.bench_function("wire/decode/sentiment_unaligned", |b| b.iter(|| decode(black_box(&unaligned[1..]))));
    c.bench_function("wire/decode/order_intent", |b| b.iter(|| decode(black_box(intent.as_frame_bytes()))));
    c.bench_function("wire/decode/bad_magic", |b| b.iter(|| decode(black_box(&[0u8; 128][..]))));
    c.bench_function("wire/encode/decision", |b| b.iter(|| FrameBuf::encode(7, 44, black_box(&decision))));
}

criterion_group!(benches, wire);
criterion_main!(benches);
