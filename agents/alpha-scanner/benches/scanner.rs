#![allow(clippy::unwrap_used, clippy::expect_used)] // bench code
//! AlphaScanner per book event, on the labelled simulator's L3 flow (normal
//! intensity, spoofing episodes included). Criterion measures the book's apply
//! alone and apply + scanner; the scanner's own cost is the difference. Then a
//! pass times each scanner call with `Instant` (clock overhead subtracted) and
//! prints p50/p99 per event.
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use qp_alpha_scanner::{
    AlphaScanner, AlphaScannerConfig, MarketEvent, MarketUpdate, SimulatedFlow, SimulatorConfig, SpoofingConfig,
    simulate,
};
use qp_book::{Grid, L3Book};
use qp_runtime::{AgentContext, IngestAgent, Outbox};
use qp_wire::AssetId;

fn flow() -> SimulatedFlow {
    simulate(&SimulatorConfig { duration_ns: 60_000_000_000, ..SimulatorConfig::default() })
}

fn scanner(flow: &SimulatedFlow) -> AlphaScanner {
    AlphaScanner::new(AlphaScannerConfig {
        spoofing: SpoofingConfig { tick: flow.tick, ..SpoofingConfig::default() },
        ..AlphaScannerConfig::default()
    })
    .unwrap()
}

/// Replays the flow in a loop: at its end the book is cleared and the scanner resynced.
struct Replay<'f> {
    flow: &'f SimulatedFlow,
    book: L3Book,
    next: usize,
}

impl<'f> Replay<'f> {
    fn new(flow: &'f SimulatedFlow) -> Self {
        Self { flow, book: L3Book::with_capacity(Grid::new(flow.tick, flow.lot).unwrap(), 4_096, 1_024), next: 0 }
    }

    /// Apply the next event; true when the flow wrapped around (the scanner must resync).
    fn step(&mut self) -> (bool, usize) {
        let mut wrapped = false;
        if self.next == self.flow.events.len() {
            self.book.clear();
            self.next = 0;
            wrapped = true;
        }
        let i = self.next;
        let _undo = self.book.apply(&self.flow.events[i].event).unwrap();
        self.next += 1;
        (wrapped, i)
    }
}

fn scan_one(scanner: &mut AlphaScanner, replay: &Replay<'_>, i: usize, wrapped: bool, out: &mut Outbox) {
    let asset = AssetId::from_wire(1);
    let e = replay.flow.events[i];
    let ctx = AgentContext { now_ns: e.ts_ns };
    if wrapped {
        scanner.on_event(ctx, &MarketUpdate::new(asset, e.ts_ns, &replay.book, MarketEvent::Resync), out).unwrap();
    }
    let update = MarketUpdate::new(asset, e.ts_ns, &replay.book, MarketEvent::L3(e.event));
    scanner.on_event(ctx, &update, out).unwrap();
    out.drain_into(|f| {
        black_box(f);
        Ok(())
    });
}

fn bench_scanner(c: &mut Criterion) {
    let flow = flow();
    let mut group = c.benchmark_group("alpha_scanner");
    group.throughput(Throughput::Elements(1));
    group.sample_size(30).measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1));
    {
        let mut replay = Replay::new(&flow);
        group.bench_function("book_apply_only_per_event", |b| {
            b.iter(|| black_box(replay.step()));
        });
    }
    {
        let mut replay = Replay::new(&flow);
        let mut scanner = scanner(&flow);
        let mut out = Outbox::new("bench");
        group.bench_function("book_apply_plus_scanner_per_event", |b| {
            b.iter(|| {
                let (wrapped, i) = replay.step();
                scan_one(&mut scanner, &replay, i, wrapped, &mut out);
            });
        });
    }
    group.finish();
}

fn percentile(sorted: &[u64], q: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Time every scanner call over three passes of the flow.
fn per_event_percentiles(_c: &mut Criterion) {
    let flow = flow();
    let mut overhead: Vec<u64> = (0..100_000)
        .map(|_| {
            let t = Instant::now();
            black_box(());
            t.elapsed().as_nanos() as u64
        })
        .collect();
    overhead.sort_unstable();
    let clock_ns = percentile(&overhead, 0.5);

    let mut replay = Replay::new(&flow);
    let mut scanner = scanner(&flow);
    let mut out = Outbox::new("bench");
    let mut samples = Vec::with_capacity(flow.events.len() * 3);
    let mut apply = Vec::with_capacity(flow.events.len() * 3);
    for pass in 0..4 {
        for _ in 0..flow.events.len() {
            let t = Instant::now();
            let (wrapped, i) = replay.step();
            let applied = t.elapsed().as_nanos() as u64;
            let t = Instant::now();
            scan_one(&mut scanner, &replay, i, wrapped, &mut out);
            let scanned = t.elapsed().as_nanos() as u64;
            if pass > 0 {
                // The first pass warms caches and the branch predictors.
                samples.push(scanned.saturating_sub(clock_ns));
                apply.push(applied.saturating_sub(clock_ns));
            }
        }
    }
    samples.sort_unstable();
    apply.sort_unstable();
    println!(
        "alpha_scanner per event ({} events, clock overhead {clock_ns} ns subtracted): scanner p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns; book apply p50 {} ns, p99 {} ns",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        percentile(&samples, 0.999),
        samples[samples.len() - 1],
        percentile(&apply, 0.5),
        percentile(&apply, 0.99),
    );
}

criterion_group!(benches, bench_scanner, per_event_percentiles);
criterion_main!(benches);
