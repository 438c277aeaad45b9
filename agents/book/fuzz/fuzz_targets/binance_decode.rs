//! Fuzz the Binance feed decoder of `qp-book`, and the depth synchroniser behind it.
//!
//! The input is split into lines. Each line is decoded as a message's JSON and
//! as a recorded `<local ns> <json>` line, at two precisions; what decodes is
//! applied to one `DepthSync` per precision, so sequences of snapshots, diffs
//! and tickers drive the synchroniser too. Decoding must answer a message or a
//! typed `BinanceError`, never panic; the invariants below must hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qp_book::binance::{BinanceDecoder, BinanceMessage, DepthSync, SyncState, split_feed_line};
use qp_book::{BookRead, BookSide, Grid, Level};

fuzz_target!(|data: &[u8]| {
    let mut coarse = (BinanceDecoder::new(1, 3), DepthSync::new(grid(1, 1)));
    let mut fine = (BinanceDecoder::new(8, 8), DepthSync::new(grid(10, 1)));
    for line in data.split(|&b| b == b'\n') {
        for (decoder, sync) in [&mut coarse, &mut fine] {
            check(decoder, sync, line);
            if let Ok((_, json)) = split_feed_line(line) {
                check(decoder, sync, json);
            }
        }
    }
});

fn grid(tick: i64, lot: i64) -> Grid {
    match Grid::new(tick, lot) {
        Ok(grid) => grid,
        Err(err) => panic!("grid: {err}"),
    }
}

fn check(decoder: &mut BinanceDecoder, sync: &mut DepthSync, json: &[u8]) {
    let message = match decoder.decode(json) {
        Ok(message) => message,
        Err(err) => {
            assert!(!err.to_string().is_empty(), "empty Display for {err:?}");
            return;
        }
    };
    let non_negative = |levels: &[Level]| levels.iter().all(|l| l.price >= 0 && l.qty >= 0);
    match &message {
        BinanceMessage::Depth(diff) => {
            assert!(non_negative(diff.bids) && non_negative(diff.asks));
        }
        BinanceMessage::Snapshot(snapshot) => {
            assert!(non_negative(snapshot.bids) && non_negative(snapshot.asks));
        }
        BinanceMessage::Trade(trade) => {
            assert!(trade.price >= 0 && trade.qty >= 0);
            assert_eq!(trade.ts_ns % 1_000_000, 0, "trade time is whole ms");
        }
        BinanceMessage::BookTicker(ticker) => {
            assert!(ticker.bid.price >= 0 && ticker.bid.qty >= 0 && ticker.ask.price >= 0 && ticker.ask.qty >= 0);
        }
    }
    let before = sync.stats();
    sync.apply(&message);
    let after = sync.stats();
    let book = sync.book();
    assert!(!book.is_crossed(), "the book crossed");
    for side in [BookSide::Bid, BookSide::Ask] {
        let levels: Vec<Level> = book.levels(side).collect();
        assert!(levels.iter().all(|l| l.price > 0 && l.qty > 0), "empty or negative level kept");
        assert!(levels.windows(2).all(|w| side.better(w[0].price, w[1].price)), "levels out of order");
    }
    assert!(after.ticker_matched <= after.ticker_compared);
    assert!(after.gaps >= before.gaps && after.applied >= before.applied);
    assert!(after.applied + after.stale_dropped <= after.depth_updates);
    if after.gaps > before.gaps {
        assert_eq!(sync.state(), SyncState::Gapped, "a gap leaves the book unsynchronised");
    }
}
