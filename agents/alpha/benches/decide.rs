#![allow(clippy::unwrap_used, clippy::expect_used)] // bench code
//! The Decide agent per frame: a `Confirmed` (features read, the shipped model run on the
//! native f32 and int8 kernels, the policy, the decision frame) and a `Quote` (features
//! updated, passed on). Criterion gives the means; a pass timing every call
//! (`qp_runtime::PerCallTimer`, clock overhead subtracted) prints p50/p99/p99.9/max.
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use qp_alpha::{AlphaModel, BackendKind, DecideAgent, DecideConfig, DecisionPolicy};
use qp_runtime::{Agent, AgentContext, Outbox, PerCallTimer};
use qp_wire::*;

fn agent(kind: BackendKind) -> DecideAgent {
    let config = DecideConfig {
        policy: DecisionPolicy { min_edge: 0.0, min_qty_lots: 1, max_qty_lots: 10 },
        limit_offset_ticks: 5,
        cadence_ns: 0,
        max_assets: 2,
    };
    DecideAgent::new(AlphaModel::shipped(kind).unwrap(), config)
}

fn frames(n: u64) -> Vec<(FrameBuf, FrameBuf)> {
    let asset = AssetId::from_wire(1);
    (0..n)
        .map(|i| {
            let ts = i * 100_000_000;
            let mid = 100_000 + ((i * 7919) % 41) as i64;
            let quote = Quote::new(asset, (mid - 1, 1 + (i % 9) as i64), (mid + 1, 5), ts);
            let s = SentimentSignal::new(asset, (i % 21) as i8 - 10, 9_000, ts, 1);
            let b = BookSignal::new(asset, BookSignalKind::Imbalance, 5_000, mid, ts);
            (FrameBuf::encode(1, 2 * i, &quote), FrameBuf::encode(1, 2 * i + 1, &Confirmed::new(&s, &b)))
        })
        .collect()
}

fn step(agent: &mut DecideAgent, frame: &FrameBuf, out: &mut Outbox) -> usize {
    agent.on_frame(AgentContext { now_ns: 0 }, decode(frame.as_frame_bytes()).unwrap(), out).unwrap();
    out.drain_into(|f| {
        black_box(f);
        Ok(())
    })
}

fn bench_decide(c: &mut Criterion) {
    let stream = frames(4_096);
    for kind in [BackendKind::NativeF32, BackendKind::NativeInt8] {
        let mut agent = agent(kind);
        let mut out = Outbox::new("bench");
        let mut i = 0usize;
        c.bench_function(&format!("decide/quote+confirmed/{}", kind.backend_name()), |b| {
            b.iter(|| {
                let (quote, confirmed) = &stream[i % stream.len()];
                i += 1;
                step(&mut agent, quote, &mut out) + step(&mut agent, confirmed, &mut out)
            });
        });
    }
}

fn per_call_percentiles(_c: &mut Criterion) {
    let stream = frames(50_000);
    for kind in [BackendKind::NativeF32, BackendKind::NativeInt8] {
        let mut agent = agent(kind);
        let mut out = Outbox::new("bench");
        let mut decide = PerCallTimer::new();
        let mut quotes = PerCallTimer::with_overhead(decide.overhead_ns());
        for pass in 0..3 {
            if pass == 1 {
                decide.reset();
                quotes.reset();
            }
            for (quote, confirmed) in &stream {
                quotes.time(|| step(&mut agent, quote, &mut out));
                decide.time(|| step(&mut agent, confirmed, &mut out));
            }
        }
        println!("{}", decide.summary_line(&format!("decide/confirmed→decision/{}", kind.backend_name())));
        println!("{}", quotes.summary_line(&format!("decide/quote/{}", kind.backend_name())));
    }
}

criterion_group!(benches, bench_decide, per_call_percentiles);
criterion_main!(benches);
