#![allow(clippy::unwrap_used, clippy::expect_used)] // bench code
//! DarkPoolScan per trade print against a 10-level book, then p50/p99/p99.9/max per print
//! timed call by call (`qp_runtime::PerCallTimer`, clock overhead subtracted).
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use qp_book::{BookSide, Grid, L2Book, TradePrint};
use qp_darkpool_scan::{DarkPoolConfig, DarkPoolScan, MarketEvent, MarketUpdate};
use qp_runtime::{AgentContext, IngestAgent, Outbox, PerCallTimer};
use qp_wire::AssetId;

fn book() -> L2Book {
    let mut book = L2Book::new(Grid::new(1, 1).unwrap());
    for i in 0..10 {
        let _undo = book.set_level(BookSide::Bid, 10_000 - i, 10 + i).unwrap();
        let _undo = book.set_level(BookSide::Ask, 10_003 + i, 10 + i).unwrap();
    }
    book
}

/// A mix: visible at the touch and behind it, inside the spread, beyond a level's size.
fn prints() -> Vec<TradePrint> {
    (0..1_024i64)
        .map(|i| {
            let (price, qty, resting_side) = match i % 4 {
                0 => (10_000, 5, BookSide::Bid),
                1 => (10_005, 3, BookSide::Ask),
                2 => (10_001 + i % 2, 7, BookSide::Ask),
                _ => (10_003, 50, BookSide::Ask),
            };
            TradePrint { ts_ns: i as u64, price, qty, resting_side }
        })
        .collect()
}

fn run(scan: &mut DarkPoolScan, book: &L2Book, print: &TradePrint, out: &mut Outbox) {
    let update = MarketUpdate::new(AssetId::from_wire(1), print.ts_ns, book, MarketEvent::Trade(*print));
    scan.on_event(AgentContext { now_ns: 0 }, &update, out).unwrap();
    out.drain_into(|f| {
        black_box(f);
        Ok(())
    });
}

fn bench_darkpool(c: &mut Criterion) {
    let book = book();
    let prints = prints();
    let mut scan = DarkPoolScan::new(DarkPoolConfig { block_band_bp: 5, ..DarkPoolConfig::default() }).unwrap();
    let mut out = Outbox::new("bench");
    let mut group = c.benchmark_group("darkpool_scan");
    group.throughput(Throughput::Elements(1));
    group.sample_size(30).measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    let mut i = 0;
    group.bench_function("per_print", |b| {
        b.iter(|| {
            run(&mut scan, &book, &prints[i % prints.len()], &mut out);
            i += 1;
        });
    });
    group.finish();

    let mut timer = PerCallTimer::new();
    for i in 0..200_000 {
        timer.time(|| run(&mut scan, &book, &prints[i % prints.len()], &mut out));
    }
    println!("{}", timer.summary_line("darkpool_scan per print"));
}

criterion_group!(benches, bench_darkpool);
criterion_main!(benches);
