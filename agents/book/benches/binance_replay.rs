//! Binance replay throughput: decode + synchronise + apply, over the whole
//! USD-M BTCUSDT recording (93,954 messages, 27.8 MB) already decompressed
//! into memory, on one core. Target: ≥ 1 million events per second.
//!
//! `decode` measures the decoder alone; `decode_and_apply` the whole replay
//! (decoder, `DepthSync` with its L2 book, ticker checks, trades). Criterion
//! reports elements (messages) per second for each.
#![allow(clippy::expect_used)] // a bench without its recording has nothing to measure

use std::hint::black_box;
use std::io::Read;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use qp_book::binance::{BinanceDecoder, BinanceMessage, BinanceReplay, DepthSync, PrintReconciler, split_feed_line};
use qp_book::{BookRead, BookSide, Grid, L2Book, TradePrint};

fn recording() -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/binance/usdm-btcusdt-20240808.gz");
    let file = std::fs::File::open(&path).expect("the shared USD-M recording (../shared/data)");
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(file).read_to_end(&mut bytes).expect("a readable gzip file");
    bytes
}

fn binance_replay(c: &mut Criterion) {
    let bytes = recording();
    let lines: Vec<&[u8]> = bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| split_feed_line(l).expect("`<ns> <json>` lines").1)
        .collect();
    let grid = Grid::new(1, 1).expect("a valid grid");
    let mut group = c.benchmark_group("binance_usdm_btcusdt");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.sample_size(20);
    group.bench_function("decode", |b| {
        let mut decoder = BinanceDecoder::new(1, 3);
        b.iter(|| {
            for json in &lines {
                let _ = black_box(decoder.decode(json).is_ok());
            }
        });
    });
    group.bench_function("decode_and_apply", |b| {
        b.iter(|| {
            let mut replay = BinanceReplay::new(grid, 1, 3);
            for json in &lines {
                replay.apply_json(json).expect("the recording decodes");
            }
            black_box(replay.report())
        });
    });
    // The loop's feed path: the same, plus every trade print reconciled with the
    // depth stream (held back, judged against the book at its time) by a stand-in
    // for DarkPoolScan's rule.
    group.bench_function("decode_apply_reconcile", |b| {
        let explains = |book: &L2Book, print: &TradePrint| book.qty_at(print.resting_side, print.price) >= print.qty;
        b.iter(|| {
            let mut decoder = BinanceDecoder::new(1, 3);
            let mut sync = DepthSync::new(grid);
            let mut prints = PrintReconciler::default();
            let mut seen = 0u64;
            for json in &lines {
                match decoder.decode(json).expect("the recording decodes") {
                    BinanceMessage::Depth(diff) => {
                        if let Some(ts) = diff.exchange_ts_ns {
                            prints.before_depth(&mut sync, ts, explains, |_, _| seen += 1);
                        }
                        sync.apply_depth(&diff);
                        prints.on_depth(&mut sync, explains, |_, book| {
                            seen += u64::from(book.best(BookSide::Bid).is_some())
                        });
                    }
                    BinanceMessage::Snapshot(snapshot) => {
                        prints.flush(&mut sync, explains, |_, _| seen += 1);
                        sync.load_snapshot(&snapshot);
                    }
                    BinanceMessage::Trade(print) => {
                        sync.record_trade(print);
                        prints.on_trade(&mut sync, print, explains, |_, _| seen += 1);
                    }
                    BinanceMessage::BookTicker(ticker) => {
                        let _ = sync.check_ticker(&ticker);
                    }
                }
            }
            black_box((seen, prints.stats()))
        });
    });
    group.finish();
}

criterion_group!(benches, binance_replay);
criterion_main!(benches);
