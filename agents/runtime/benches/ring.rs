//! One ring hop. Target: ≤ 100 ns p99 (the p99 comes from `qpctl bench ring --json`,
//! which times each hop; criterion here gives the mean cost).
use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use qp_wire::{AssetId, FrameBuf, SentimentSignal};
use rtrb::RingBuffer;

fn ring(c: &mut Criterion) {
    let frame = FrameBuf::encode(1, 1, &SentimentSignal::new(AssetId::from_wire(1), 1, 1, 1, 1));

    let (mut tx, mut rx) = RingBuffer::<FrameBuf>::new(1024);
    c.bench_function("ring/push_pop_same_thread", |b| {
        b.iter(|| {
            let _ = tx.push(black_box(frame));
            black_box(rx.pop().ok())
        })
    });

    c.bench_function("ring/hop_cross_thread_round_trip_div2", |b| {
        b.iter_custom(|iters| {
            let (mut to_echo, mut echo_in) = RingBuffer::<FrameBuf>::new(64);
            let (mut echo_out, mut from_echo) = RingBuffer::<FrameBuf>::new(64);
            let echo = std::thread::spawn(move || {
                loop {
                    match echo_in.pop() {
                        Ok(f) => while echo_out.push(f).is_err() {},
                        Err(_) if echo_in.is_abandoned() => return,
                        Err(_) => std::hint::spin_loop(),
                    }
                }
            });
            let start = Instant::now();
            for _ in 0..iters {
                while to_echo.push(frame).is_err() {}
                while from_echo.pop().is_err() {
                    std::hint::spin_loop();
                }
            }
            let elapsed = start.elapsed() / 2;
            drop(to_echo);
            let _ = echo.join();
            elapsed
        })
    });

    let hop = qp_runtime::ring_hop::measure_ring_hop(100_000, 1_000_000);
    println!("ring/hop_cross_thread percentiles: {hop:?}");
}

criterion_group!(benches, ring);
criterion_main!(benches);
