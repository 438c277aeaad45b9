#![allow(clippy::unwrap_used, clippy::expect_used)] // bench code
//! AlphaScanner per book event, on the labelled simulator's L3 flow (normal
//! intensity, spoofing episodes included). Criterion measures the book's apply
//! alone and apply + scanner; the scanner's own cost is the difference. Then a
//! pass times each scanner call (`qp_runtime::PerCallTimer`, clock overhead
//! subtracted) and prints p50/p99/p99.9/max per event.
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use qp_alpha_scanner::{
    AlphaScanner, AlphaScannerConfig, MarketEvent, MarketUpdate, SimulatedFlow, SimulatorConfig, SpoofingConfig,
    simulate,
};
use qp_book::{Grid, L3Book};
use qp_runtime::{AgentContext, IngestAgent, Outbox, PerCallTimer};
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

/// Time every scanner call (and the book's apply before it) over three passes of the flow.
fn per_event_percentiles(_c: &mut Criterion) {
    let flow = flow();
    let mut replay = Replay::new(&flow);
    let mut scanner = scanner(&flow);
    let mut out = Outbox::new("bench");
    let mut scan = PerCallTimer::new();
    let mut apply = PerCallTimer::with_overhead(scan.overhead_ns());
    for pass in 0..4 {
        if pass == 1 {
            // The first pass warms caches and the branch predictors.
            scan.reset();
            apply.reset();
        }
        for _ in 0..flow.events.len() {
            let (wrapped, i) = apply.time(|| replay.step());
            scan.time(|| scan_one(&mut scanner, &replay, i, wrapped, &mut out));
        }
    }
    println!("{}", scan.summary_line("alpha_scanner/scanner per event"));
    println!("{}", apply.summary_line("alpha_scanner/book_apply per event"));
}

criterion_group!(benches, bench_scanner, per_event_percentiles);
criterion_main!(benches);
