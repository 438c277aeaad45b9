#![allow(clippy::expect_used)] // a bench that cannot start has nothing to measure
//! The whole in-process loop, criterion's mean round (the percentiles, per agent, come from
//! `qpctl bench loop --json`):
//!
//! - `loop/headline_to_order_bytes`: a depth diff and a headline (SentimentX in the path) to
//!   the FIX NewOrderSingle's bytes. Target: ≤ 50 µs p99.
//! - `loop/signal_pair_to_order_intent`: signal frames in to order intent out, Decide's
//!   network in the path. Target: ≤ 20 µs p99. A quote for the asset goes in before the
//!   first round and every `QUOTE_INTERVAL_NS` after, so RiskSentinel has a fresh reference
//!   price.
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use qp_loop::bench::{HeadlineLoopBench, QUOTE_INTERVAL_NS, quote_frame, signal_pair, synthetic_history};
use qp_loop::{FiveStepLoop, LoopConfig};

fn whole_loop(c: &mut Criterion) {
    let config = LoopConfig::embedded_default().expect("embedded config");
    let mut five_step = FiveStepLoop::start(&config, &synthetic_history(config.assets.len())).expect("loop starts");
    let btc = five_step.registry().lookup("BTCUSDT").expect("BTCUSDT configured");
    let mut i = 0u64;
    let mut quoted: Option<Instant> = None;
    c.bench_function("loop/signal_pair_to_order_intent", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                if quoted.is_none_or(|at| at.elapsed().as_nanos() >= u128::from(QUOTE_INTERVAL_NS)) {
                    five_step.inject(quote_frame(1, i, btc, 600_000), |_| {});
                    quoted = Some(Instant::now());
                }
                let (book, sentiment) = signal_pair(1, i, btc, 600_000);
                i += 1;
                let arrived = std::cell::Cell::new(false);
                five_step.inject(book, |_| arrived.set(true));
                five_step.inject(sentiment, |_| arrived.set(true));
                while !arrived.get() {
                    five_step.poll_output(|_| arrived.set(true));
                }
            }
            start.elapsed()
        })
    });
    let _ = five_step.finish(|_| {});
}

fn headline_to_order_bytes(c: &mut Criterion) {
    let config = LoopConfig::embedded_default().expect("embedded config");
    // Room in the gateway's order table for every round criterion runs (it grows beyond).
    let mut bench = HeadlineLoopBench::start(&config, 1_000_000).expect("loop starts");
    let mut i = 0u64;
    c.bench_function("loop/headline_to_order_bytes", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                bench.iteration(i).expect("an iteration ends in order bytes");
                i += 1;
            }
            start.elapsed()
        })
    });
    let _ = bench.finish(i, 0, "last message");
}

criterion_group!(benches, headline_to_order_bytes, whole_loop);
criterion_main!(benches);
