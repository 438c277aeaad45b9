//! Binance decoding and depth synchronisation on the shared recordings.
#![allow(clippy::unwrap_used, clippy::panic)] // helpers in test files are test code too
use std::io::Read;
use std::path::PathBuf;

use qp_book::binance::{
    BinanceDecoder, BinanceError, BinanceMessage, BinanceReplay, BookTickerUpdate, DepthSnapshot, DepthSync,
    DepthUpdate, MAX_JSON_DEPTH, PrintBook, PrintReconciler, PrintReconcilerStats, PrintTiming, ReconciledPrint,
    SyncState, TickerCheck, split_feed_line,
};
use qp_book::{BookRead, BookSide, Grid, L2Book, Level, TradePrint};
use qp_replay::FixedPointError;

fn recording(name: &str) -> Vec<u8> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../../shared/data/binance/{name}-20240808.gz"));
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap()).read_to_end(&mut bytes).unwrap();
    bytes
}

fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty())
}

fn replay(name: &str, price_decimals: u32, qty_decimals: u32) -> BinanceReplay {
    let bytes = recording(name);
    let mut replay = BinanceReplay::new(Grid::new(1, 1).unwrap(), price_decimals, qty_decimals);
    for (index, line) in lines(&bytes).enumerate() {
        replay.apply_feed_line(line).unwrap_or_else(|e| panic!("{name} line {}: {e}", index + 1));
    }
    replay
}

#[test]
fn the_usdm_recording_keeps_a_book_every_exact_ticker_agrees_with() {
    let replay = replay("usdm-btcusdt", 1, 3);
    let report = replay.report();
    assert_eq!(report.events, 93_954);
    assert_eq!(report.depth_updates, 6_551);
    assert_eq!(report.trades, 21_313);
    assert_eq!(report.snapshots, 1);
    assert_eq!((report.gaps, report.crossed, report.refused_levels), (0, 0, 0));
    assert!(report.ticker_compared > 100, "{report:?}");
    assert_eq!(report.ticker_matched, report.ticker_compared);
    assert_eq!(report.ticker_compared + report.ticker_not_comparable, 66_089);
    assert!(report.synchronised);
    let book = replay.sync().book();
    assert!(!book.is_crossed());
    assert!(replay.sync().last_trade().is_some());
}

#[test]
fn spot_tickers_never_line_up_with_the_100ms_diffs_and_are_not_compared() {
    for (name, qty_decimals, trades, tickers) in
        [("spot-btcusdt", 6, 9_757, 28_040), ("spot-ethusdt", 5, 6_106, 24_077)]
    {
        let report = replay(name, 2, qty_decimals).report();
        assert_eq!(report.trades, trades, "{name}");
        assert_eq!((report.gaps, report.crossed, report.refused_levels), (0, 0, 0), "{name}");
        assert_eq!(report.ticker_compared, 0, "{name}");
        assert_eq!(report.ticker_not_comparable, tickers, "{name}");
        assert!(report.synchronised, "{name}");
    }
}

#[test]
fn spot_sizes_need_six_decimals_a_coarser_grid_is_an_error_not_a_rounding() {
    let bytes = recording("spot-btcusdt");
    let mut decoder = BinanceDecoder::new(2, 5);
    let refused = lines(&bytes)
        .filter_map(|line| decoder.decode(split_feed_line(line).unwrap().1).err())
        .inspect(|e| {
            assert!(
                matches!(e, BinanceError::BadLevel { part: "qty", source: FixedPointError::OffGrid { .. }, .. }),
                "{e}"
            )
        })
        .count();
    assert!(refused > 0);
}

#[test]
fn a_dropped_diff_is_a_gap_that_leaves_the_book_unsynchronised() {
    let bytes = recording("usdm-btcusdt");
    let mut replay = BinanceReplay::new(Grid::new(1, 1).unwrap(), 1, 3);
    let mut seen_snapshot = false;
    let mut diffs_after = 0;
    for line in lines(&bytes) {
        let json = split_feed_line(line).unwrap().1;
        seen_snapshot |= json.starts_with(b"{\"lastUpdateId\"");
        if seen_snapshot && json.windows(13).any(|w| w == b"\"depthUpdate\"") {
            diffs_after += 1;
            if diffs_after == 100 {
                continue; // the feed loses one diff
            }
        }
        replay.apply_json(json).unwrap();
    }
    let report = replay.report();
    assert_eq!(report.gaps, 1);
    assert!(!report.synchronised);
    assert_eq!(replay.sync().state(), SyncState::Gapped);
    let clean = self::replay("usdm-btcusdt", 1, 3).report();
    assert!(report.ticker_compared < clean.ticker_compared);
    assert_eq!(report.ticker_matched, report.ticker_compared);
}

fn grid() -> Grid {
    Grid::new(1, 1).unwrap()
}

fn lv(price: i64, qty: i64) -> Level {
    Level { price, qty }
}

fn diff<'d>(first: u64, last: u64, prev: Option<u64>, bids: &'d [Level], asks: &'d [Level]) -> DepthUpdate<'d> {
    DepthUpdate { first_update_id: first, last_update_id: last, prev_update_id: prev, exchange_ts_ns: None, bids, asks }
}

fn snapshot_at(id: u64) -> DepthSnapshot<'static> {
    DepthSnapshot { last_update_id: id, bids: &[Level { price: 100, qty: 5 }], asks: &[Level { price: 101, qty: 7 }] }
}

#[test]
fn diffs_before_the_snapshot_are_buffered_and_the_stale_ones_dropped() {
    let mut sync = DepthSync::new(grid());
    sync.apply_depth(&diff(1, 10, Some(0), &[lv(99, 1)], &[]));
    sync.apply_depth(&diff(11, 20, Some(10), &[lv(100, 9)], &[]));
    sync.apply_depth(&diff(21, 30, Some(20), &[], &[lv(102, 3)]));
    assert_eq!(sync.state(), SyncState::AwaitingSnapshot);
    assert_eq!(sync.book().level_count(BookSide::Bid), 0);
    sync.load_snapshot(&snapshot_at(15));
    let stats = sync.stats();
    assert_eq!((stats.stale_dropped, stats.applied, stats.gaps), (1, 2, 0));
    assert!(sync.is_synchronised());
    assert_eq!(sync.book().best_bid(), Some(lv(100, 9)));
    assert_eq!(sync.book().level(BookSide::Ask, 1), Some(lv(102, 3)));
    assert_eq!(sync.book().qty_at(BookSide::Bid, 99), 0, "the stale diff was not applied");
    assert_eq!(sync.last_applied_update_id(), Some(30));
}

#[test]
fn the_first_diff_must_straddle_the_snapshot() {
    let mut sync = DepthSync::new(grid());
    sync.load_snapshot(&snapshot_at(15));
    sync.apply_depth(&diff(17, 20, Some(16), &[lv(100, 1)], &[]));
    assert_eq!(sync.stats().gaps, 1);
    assert_eq!(sync.state(), SyncState::Gapped);
    // A new snapshot makes the book consistent again; the buffered diff is then stale.
    sync.load_snapshot(&snapshot_at(20));
    assert!(sync.is_synchronised());
    assert_eq!(sync.stats().stale_dropped, 1);
    sync.apply_depth(&diff(21, 22, Some(20), &[lv(100, 2)], &[]));
    assert_eq!(sync.book().best_bid(), Some(lv(100, 2)));
    assert_eq!(sync.stats().gaps, 1);
}

#[test]
fn spot_chains_by_first_id_futures_by_previous_id() {
    let mut spot = DepthSync::new(grid());
    spot.load_snapshot(&snapshot_at(15));
    spot.apply_depth(&diff(16, 18, None, &[], &[]));
    spot.apply_depth(&diff(19, 25, None, &[], &[]));
    assert_eq!(spot.stats().gaps, 0);
    spot.apply_depth(&diff(27, 30, None, &[], &[]));
    assert_eq!(spot.stats().gaps, 1);
    assert!(!spot.is_synchronised());

    let mut futures = DepthSync::new(grid());
    futures.load_snapshot(&snapshot_at(15));
    futures.apply_depth(&diff(12, 18, Some(11), &[], &[]));
    futures.apply_depth(&diff(40, 45, Some(18), &[], &[]));
    assert_eq!(futures.stats().gaps, 0, "futures ids skip; pu chains them");
    futures.apply_depth(&diff(50, 55, Some(44), &[], &[]));
    assert_eq!(futures.stats().gaps, 1);
    // Unsynchronised, later diffs wait for a snapshot instead of being applied or counted again.
    futures.apply_depth(&diff(56, 57, Some(55), &[lv(100, 1)], &[]));
    assert_eq!((futures.stats().gaps, futures.stats().applied), (1, 2));
}

#[test]
fn removals_go_first_so_a_diff_that_moves_the_touch_does_not_cross() {
    let mut sync = DepthSync::new(grid());
    sync.load_snapshot(&snapshot_at(15));
    // The ask at 101 is taken out and a bid appears there, in the same diff.
    sync.apply_depth(&diff(16, 16, Some(15), &[lv(101, 4)], &[lv(101, 0), lv(103, 2)]));
    assert_eq!(sync.stats().crossed, 0);
    assert_eq!(sync.book().best_bid(), Some(lv(101, 4)));
    assert_eq!(sync.book().best_ask(), Some(lv(103, 2)));
    // A bid through the ask that stays is refused and counted.
    sync.apply_depth(&diff(17, 17, Some(16), &[lv(104, 1)], &[]));
    assert_eq!(sync.stats().crossed, 1);
    assert!(!sync.book().is_crossed());
}

#[test]
fn a_ticker_is_compared_only_at_the_last_applied_update() {
    let mut sync = DepthSync::new(grid());
    sync.load_snapshot(&snapshot_at(15));
    let ticker = |u, bid_qty| BookTickerUpdate { update_id: u, bid: lv(100, bid_qty), ask: lv(101, 7) };
    assert_eq!(sync.check_ticker(&ticker(15, 5)), TickerCheck::NotComparable);
    sync.apply_depth(&diff(16, 18, Some(15), &[lv(100, 6)], &[]));
    assert_eq!(sync.check_ticker(&ticker(17, 6)), TickerCheck::NotComparable);
    assert_eq!(sync.check_ticker(&ticker(18, 6)), TickerCheck::Matched);
    assert_eq!(sync.check_ticker(&ticker(18, 5)), TickerCheck::Mismatched);
    let stats = sync.stats();
    assert_eq!((stats.ticker_compared, stats.ticker_matched, stats.ticker_not_comparable), (2, 1, 2));
    assert_eq!(sync.first_ticker_mismatch().map(|t| t.update_id), Some(18));
}

#[test]
fn decodes_each_kind_of_message() {
    let mut decoder = BinanceDecoder::new(1, 3);
    let trade = br#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161256322,"T":1723161256321,"s":"BTCUSDT","t":5266583935,"p":"61800.30","q":"0.006","X":"MARKET","m":true}}"#;
    assert_eq!(
        decoder.decode(trade),
        Ok(BinanceMessage::Trade(TradePrint {
            ts_ns: 1_723_161_256_321_000_000,
            price: 618_003,
            qty: 6,
            resting_side: BookSide::Bid
        }))
    );
    let ticker = br#"{"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":5123107839020,"s":"BTCUSDT","b":"61800.20","B":"2.507","a":"61800.30","A":"2.510","T":1,"E":1}}"#;
    assert_eq!(
        decoder.decode(ticker),
        Ok(BinanceMessage::BookTicker(BookTickerUpdate {
            update_id: 5_123_107_839_020,
            bid: lv(618_002, 2_507),
            ask: lv(618_003, 2_510)
        }))
    );
    // Spot's ticker has no event name; its stream says what it is.
    let spot = br#"{"stream":"btcusdt@bookTicker","data":{"u":7,"s":"BTCUSDT","b":"1.0","B":"2","a":"1.1","A":"3"}}"#;
    assert!(matches!(decoder.decode(spot), Ok(BinanceMessage::BookTicker(BookTickerUpdate { update_id: 7, .. }))));
    let depth = br#" { "stream" : "btcusdt@depth@0ms" , "data" : { "e" : "depthUpdate" , "U" : 5 , "u" : 9 , "pu" : 4 , "b" : [ [ "1.5" , "0.000" ] ] , "a" : [ ] , "x" : [ { "y" : [ null , true , -1.5e3 , "\"\u00e9" ] } ] } } "#;
    assert_eq!(
        decoder.decode(depth),
        Ok(BinanceMessage::Depth(DepthUpdate {
            first_update_id: 5,
            last_update_id: 9,
            prev_update_id: Some(4),
            exchange_ts_ns: None,
            bids: &[lv(15, 0)],
            asks: &[]
        }))
    );
    let snapshot = br#"{"lastUpdateId":12,"E":1,"T":1,"bids":[["1.0","1"]],"asks":[["1.1","2"],["1.2","3"]]}"#;
    assert_eq!(
        decoder.decode(snapshot),
        Ok(BinanceMessage::Snapshot(DepthSnapshot {
            last_update_id: 12,
            bids: &[lv(10, 1_000)],
            asks: &[lv(11, 2_000), lv(12, 3_000)]
        }))
    );
    assert_eq!(split_feed_line(b"1723161254 {}"), Ok((1_723_161_254, &b"{}"[..])));
    assert_eq!(split_feed_line(b"17x {}"), Err(BinanceError::BadLine));
    assert_eq!(split_feed_line(b"99999999999999999999999 {}"), Err(BinanceError::BadLine));
    assert_eq!(split_feed_line(b"{}"), Err(BinanceError::BadLine));
}

#[test]
fn hostile_messages_give_typed_errors_naming_the_field() {
    let mut decoder = BinanceDecoder::new(1, 3);
    let depth = |body: &str| format!(r#"{{"stream":"btcusdt@depth@0ms","data":{{"e":"depthUpdate",{body}}}}}"#);
    let cases: Vec<(String, BinanceError)> = vec![
        (depth(r#""U":1,"b":[],"a":[]"#), BinanceError::MissingField { event: "depthUpdate", field: "u" }),
        (depth(r#""U":1,"u":2,"a":[]"#), BinanceError::MissingField { event: "depthUpdate", field: "b" }),
        (
            depth(r#""U":"1","u":2,"b":[],"a":[]"#),
            BinanceError::WrongType { field: "U", expected: "an unsigned integer" },
        ),
        (
            depth(r#""U":1.5,"u":2,"b":[],"a":[]"#),
            BinanceError::WrongType { field: "U", expected: "an unsigned integer" },
        ),
        (
            depth(r#""U":-1,"u":2,"b":[],"a":[]"#),
            BinanceError::WrongType { field: "U", expected: "an unsigned integer" },
        ),
        (depth(r#""U":1,"u":99999999999999999999,"b":[],"a":[]"#), BinanceError::IntegerOverflow { field: "u" }),
        (
            depth(r#""U":1,"u":2,"b":"1.0","a":[]"#),
            BinanceError::WrongType { field: "b", expected: "an array of levels" },
        ),
        (
            depth(r#""U":1,"u":2,"b":7,"a":[]"#),
            BinanceError::WrongType { field: "b", expected: "a price string or an array of levels" },
        ),
        (
            depth(r#""U":1,"u":2,"b":[],"a":[["1.0"]]"#),
            BinanceError::Syntax { offset: 86, expected: "',' between price and qty" },
        ),
        (
            depth(r#""U":1,"u":2,"b":[],"a":[[1.0,"2"]]"#),
            BinanceError::WrongType { field: "a", expected: "an array of [\"price\", \"qty\"] string pairs" },
        ),
        (
            depth(r#""U":1,"u":2,"b":[["61800.25","1.000"]],"a":[]"#),
            BinanceError::BadLevel {
                field: "b",
                index: 0,
                part: "price",
                source: FixedPointError::OffGrid { value: "61800.25".to_owned(), decimals: 1 },
            },
        ),
        (
            depth(r#""U":1,"u":2,"b":[["1.0","1.0"],["1.0","99999999999999999999"]],"a":[]"#),
            BinanceError::BadLevel {
                field: "b",
                index: 1,
                part: "qty",
                source: FixedPointError::Overflow("99999999999999999999".to_owned()),
            },
        ),
        (
            r#"{"e":"trade","T":1,"p":"1.0","q":"1.0","m":"yes"}"#.to_owned(),
            BinanceError::WrongType { field: "m", expected: "true or false" },
        ),
        (
            r#"{"e":"trade","T":1,"p":"1.0","q":"1.0"}"#.to_owned(),
            BinanceError::MissingField { event: "trade", field: "m" },
        ),
        (
            r#"{"e":"trade","T":99999999999999,"p":"1.0","q":"1.0","m":true}"#.to_owned(),
            BinanceError::IntegerOverflow { field: "T" },
        ),
        (
            r#"{"e":"trade","T":1,"p":"-1.0","q":"1.0","m":true}"#.to_owned(),
            BinanceError::BadDecimal { field: "p", source: FixedPointError::NotDecimal("-1.0".to_owned()) },
        ),
        (
            r#"{"e":"bookTicker","u":1,"b":"1.0","B":"1","a":"1.1"}"#.to_owned(),
            BinanceError::MissingField { event: "bookTicker", field: "A" },
        ),
        (r#"{"e":"aggTrade"}"#.to_owned(), BinanceError::UnknownEvent { name: "aggTrade".to_owned() }),
        (r#"{"x":1}"#.to_owned(), BinanceError::MissingField { event: "message", field: "e" }),
        (r#"{"lastUpdateId":1,"bids":[]}"#.to_owned(), BinanceError::MissingField { event: "snapshot", field: "asks" }),
        (r#"{"stream":"x","data":[]}"#.to_owned(), BinanceError::WrongType { field: "data", expected: "an object" }),
        (r#"{"e":"trade"} x"#.to_owned(), BinanceError::Syntax { offset: 14, expected: "end of input" }),
        (r#"{"e":"tr\qde"}"#.to_owned(), BinanceError::Syntax { offset: 9, expected: "an escape character" }),
        (String::new(), BinanceError::Syntax { offset: 0, expected: "'{'" }),
    ];
    for (json, expected) in cases {
        assert_eq!(decoder.decode(json.as_bytes()), Err(expected), "{json}");
    }
    let deep = format!(r#"{{"x":{}{}}}"#, "[".repeat(MAX_JSON_DEPTH + 1), "]".repeat(MAX_JSON_DEPTH + 1));
    assert!(matches!(decoder.decode(deep.as_bytes()), Err(BinanceError::TooDeep { .. })));
    let fine = format!(r#"{{"x":{}{},"e":"aggTrade"}}"#, "[".repeat(MAX_JSON_DEPTH), "]".repeat(MAX_JSON_DEPTH));
    assert!(matches!(decoder.decode(fine.as_bytes()), Err(BinanceError::UnknownEvent { .. })));
    assert!(matches!(decoder.decode(b"{\"x\":[1}"), Err(BinanceError::Syntax { .. })));
    assert!(matches!(decoder.decode(b"{\"x\":{\"a\"]}"), Err(BinanceError::Syntax { .. })));
    assert!(matches!(decoder.decode(&[b'{', b'"', 0xff, 0xfe]), Err(BinanceError::Syntax { .. })));
}

#[test]
fn every_truncation_of_real_lines_is_an_error_not_a_panic() {
    let bytes = recording("usdm-btcusdt");
    let mut decoder = BinanceDecoder::new(1, 3);
    let mut kinds = [false; 4];
    for line in lines(&bytes) {
        let json = split_feed_line(line).unwrap().1;
        let kind = match decoder.decode(json).unwrap() {
            BinanceMessage::Depth(_) => 0,
            BinanceMessage::Snapshot(_) => 1,
            BinanceMessage::Trade(_) => 2,
            BinanceMessage::BookTicker(_) => 3,
        };
        if kinds[kind] {
            continue;
        }
        kinds[kind] = true;
        // Every prefix of the short lines; a sample of the long ones (the snapshot is 40 kB).
        for end in (0..json.len()).filter(|end| *end < 4096 || end % 101 == 0) {
            assert!(decoder.decode(&json[..end]).is_err(), "a prefix of {end} bytes decoded");
        }
    }
    assert_eq!(kinds, [true; 4]);
}

// ---- Trade prints judged around their exchange time (PrintReconciler) ----

/// DarkPoolScan's rule (`qp_darkpool_scan::hidden_reason`, which this crate cannot
/// depend on), by reason: 0 explained, 1 empty side, 2 inside the spread, 3 no
/// visible level, 4 exceeds the visible size.
fn hidden_kind(book: &L2Book, print: &TradePrint) -> usize {
    let side = print.resting_side;
    let Some(touch) = book.best(side) else { return 1 };
    if side.better(print.price, touch.price) {
        let inside = book.best(side.opposite()).is_none_or(|o| side.opposite().better(print.price, o.price));
        return if inside { 2 } else { 3 };
    }
    match book.qty_at(side, print.price) {
        0 => 3,
        visible if print.qty > visible => 4,
        _ => 0,
    }
}

fn explains(book: &L2Book, print: &TradePrint) -> bool {
    hidden_kind(book, print) == 0
}

/// Prints of a recording judged at arrival and reconciled: (hidden by reason at arrival, after, stats).
fn print_figures(name: &str, price_decimals: u32, qty_decimals: u32) -> ([u64; 5], [u64; 5], PrintReconcilerStats) {
    let bytes = recording(name);
    let mut decoder = BinanceDecoder::new(price_decimals, qty_decimals);
    let mut sync = DepthSync::new(grid());
    let mut prints = PrintReconciler::default();
    let (mut before, mut after) = ([0u64; 5], [0u64; 5]);
    let mut judge = |r: ReconciledPrint, book: &L2Book| {
        let kind = hidden_kind(book, &r.print);
        assert_eq!(kind == 0, r.book != PrintBook::Unexplained);
        after[kind] += 1;
    };
    for line in lines(&bytes) {
        match decoder.decode(split_feed_line(line).unwrap().1).unwrap() {
            BinanceMessage::Depth(diff) => {
                let applied = sync.last_applied_update_id();
                if let Some(ts) = diff.exchange_ts_ns {
                    prints.before_depth(&mut sync, ts, explains, &mut judge);
                }
                sync.apply_depth(&diff);
                if sync.is_synchronised() && sync.last_applied_update_id() != applied {
                    prints.on_depth(&mut sync, explains, &mut judge);
                }
            }
            BinanceMessage::Snapshot(snapshot) => {
                prints.flush(&mut sync, explains, &mut judge);
                sync.load_snapshot(&snapshot);
            }
            BinanceMessage::Trade(print) => {
                if sync.is_synchronised() {
                    before[hidden_kind(sync.book(), &print)] += 1;
                }
                prints.on_trade(&mut sync, print, explains, &mut judge);
            }
            BinanceMessage::BookTicker(_) => {}
        }
    }
    prints.flush(&mut sync, explains, &mut judge);
    (before, after, prints.stats())
}

/// The figures of the three recordings, before (each print judged against the
/// book at its arrival) and after (reconciled), by reason
/// [explained, empty side, inside the spread, no visible level, exceeds visible size]:
///
/// | file | prints judged | before | after | same ms (B) | within aggregate (C) |
/// |---|---|---|---|---|---|
/// | usdm-btcusdt | 21,308 (5 dropped before the snapshot) | 1,560 (0/327/1,037/196) | 2 (0/1/1/0) | 345 | 1,407 |
/// | spot-btcusdt | 9,756 (1 dropped) | 2,236 (0/152/2,023/61) | 453 (0/0/453/0) | 2 | 1,193 |
/// | spot-ethusdt | 6,106 | 648 (0/55/552/41) | 11 (0/0/11/0) | 0 | 506 |
///
/// No print was judged late (every one waited for a later diff).
#[test]
fn judged_around_their_time_the_usdm_prints_are_all_but_explained() {
    let (before, after, stats) = print_figures("usdm-btcusdt", 1, 3);
    let prints = stats.delivered;
    assert_eq!((stats.received, stats.dropped_unsynchronised, prints), (21_313, 5, 21_308));
    assert_eq!(before.iter().sum::<u64>(), prints);
    assert_eq!(after.iter().sum::<u64>(), prints);
    // At arrival: 1,560 "hidden" (7.3 %); USD-M futures have no hidden orders.
    assert!(prints - before[0] > 1_500, "{before:?}");
    // Reconciled: 2 (0.01 %).
    assert!(prints - after[0] <= prints / 200, "{after:?} {stats:?}");
    assert_eq!(stats.unexplained, prints - after[0]);
    assert!(stats.explained_before_same_ms > 0 && stats.explained_within_aggregate > 0, "{stats:?}");
    assert_eq!((stats.judged_after_depth, stats.judged_late, stats.judged_flushed), (prints, 0, 0));

    for (name, qty_decimals, at_most) in [("spot-btcusdt", 6, 500), ("spot-ethusdt", 5, 20)] {
        let (before, after, stats) = print_figures(name, 2, qty_decimals);
        println!("{name}: before {before:?} after {after:?} {stats:?}");
        assert!(prints - after[0] > 0);
        assert!(
            stats.unexplained <= at_most && stats.unexplained * 4 < stats.delivered - before[0],
            "{name} {stats:?}"
        );
        assert_eq!(stats.received, stats.delivered + stats.dropped_unsynchronised, "{name}");
    }
}

fn diff_at<'d>(first: u64, prev: u64, ts_ms: u64, bids: &'d [Level], asks: &'d [Level]) -> DepthUpdate<'d> {
    DepthUpdate {
        first_update_id: first,
        last_update_id: first,
        prev_update_id: Some(prev),
        exchange_ts_ns: Some(ts_ms * 1_000_000),
        bids,
        asks,
    }
}

fn print_at(ts_ms: u64, price: i64, qty: i64, resting_side: BookSide) -> TradePrint {
    TradePrint { ts_ns: ts_ms * 1_000_000, price, qty, resting_side }
}

/// A synchronised book at id 15: bid 100 × 5, ask 101 × 7.
fn synchronised() -> DepthSync {
    let mut sync = DepthSync::new(grid());
    sync.load_snapshot(&snapshot_at(15));
    sync
}

/// What came out of one reconciler call: each print with its verdict and the book's touch it came with.
type Delivered = Vec<(ReconciledPrint, Option<Level>, Option<Level>)>;

fn collect(out: &mut Delivered) -> impl FnMut(ReconciledPrint, &L2Book) + '_ {
    |r, book| out.push((r, book.best_bid(), book.best_ask()))
}

#[test]
fn a_print_after_the_diff_that_took_its_liquidity_is_judged_before_that_diff() {
    // (a) The diff at 10 ms removes the ask at 101; the print it shows (at 5 ms) arrives after it.
    let mut sync = synchronised();
    let mut prints = PrintReconciler::default();
    let mut out = Delivered::new();
    sync.apply_depth(&diff_at(16, 15, 10, &[], &[lv(101, 0), lv(102, 3)]));
    prints.on_depth(&mut sync, explains, collect(&mut out));
    assert!(out.is_empty());
    // At arrival the book cannot explain it (no ask at 101 any more) ...
    let print = print_at(5, 101, 7, BookSide::Ask);
    assert!(!explains(sync.book(), &print));
    // ... but the depth stream has passed 5 ms: judged at once, against the book before the diff.
    prints.on_trade(&mut sync, print, explains, collect(&mut out));
    assert_eq!(out.len(), 1);
    let (r, bid, ask) = out[0];
    assert_eq!((r.print, r.book, r.timing), (print, PrintBook::AtPrint, PrintTiming::AfterDepth));
    assert_eq!((bid, ask), (Some(lv(100, 5)), Some(lv(101, 7))));
    // The book is current again.
    assert_eq!(sync.book().best_ask(), Some(lv(102, 3)));
}

#[test]
fn a_print_that_arrives_before_the_diffs_showing_its_liquidity_waits_for_them() {
    // (b) A buy print at 99 at 15 ms while the book still says bid 100 / ask 101.
    let mut sync = synchronised();
    let mut prints = PrintReconciler::default();
    let mut out = Delivered::new();
    sync.apply_depth(&diff_at(16, 15, 10, &[lv(100, 6)], &[]));
    prints.on_depth(&mut sync, explains, collect(&mut out));
    let print = print_at(15, 99, 2, BookSide::Ask);
    prints.on_trade(&mut sync, print, explains, collect(&mut out));
    assert!(out.is_empty(), "the depth stream has not passed 15 ms");
    assert_eq!(prints.pending(), 1);
    // The diff at 14 ms moves the market down: the ask at 99 appears. Still not past 15 ms.
    sync.apply_depth(&diff_at(17, 16, 14, &[lv(100, 0), lv(98, 4)], &[lv(99, 5)]));
    prints.on_depth(&mut sync, explains, collect(&mut out));
    assert!(out.is_empty());
    // The diff at 20 ms (the print's fill and more) passes it: judged with the book at 15 ms.
    sync.apply_depth(&diff_at(18, 17, 20, &[], &[lv(99, 0), lv(100, 1)]));
    prints.on_depth(&mut sync, explains, collect(&mut out));
    assert_eq!(out.len(), 1);
    let (r, bid, ask) = out[0];
    assert_eq!((r.book, r.timing), (PrintBook::AtPrint, PrintTiming::AfterDepth));
    assert_eq!((bid, ask), (Some(lv(98, 4)), Some(lv(99, 5))));
    assert_eq!(sync.book().best_ask(), Some(lv(100, 1)));
    assert_eq!(prints.pending(), 0);
}

#[test]
fn within_one_millisecond_either_order_explains_the_print() {
    // The diff at 10 ms takes the ask at 101 (the print's own fill); the print is stamped 10 ms too.
    let mut sync = synchronised();
    let mut prints = PrintReconciler::default();
    let mut out = Delivered::new();
    sync.apply_depth(&diff_at(16, 15, 10, &[], &[lv(101, 0), lv(102, 3)]));
    prints.on_depth(&mut sync, explains, collect(&mut out));
    let print = print_at(10, 101, 7, BookSide::Ask);
    prints.on_trade(&mut sync, print, explains, collect(&mut out));
    assert!(out.is_empty(), "a diff of the same millisecond does not pass the print");
    sync.apply_depth(&diff_at(17, 16, 11, &[lv(99, 1)], &[]));
    prints.on_depth(&mut sync, explains, collect(&mut out));
    // State A (every diff up to 10 ms) has no ask at 101; state B (before the 10 ms diff) has it.
    assert_eq!(out.len(), 1);
    let (r, _, ask) = out[0];
    assert_eq!(r.book, PrintBook::BeforeSameMs);
    assert_eq!(ask, Some(lv(101, 7)), "the agent sees the book that explains the print");
    assert_eq!(prints.stats().explained_before_same_ms, 1);
}

#[test]
fn liquidity_shown_and_taken_inside_one_aggregate_is_visible_but_an_untouched_level_is_not() {
    let mut sync = synchronised();
    let mut prints = PrintReconciler::default();
    let mut out = Delivered::new();
    // A buy print at 99 at 15 ms; the next diff (20 ms, an aggregate) moved the market
    // down and shows what the print left at 99. Neither the book at 15 ms nor before shows it.
    prints.on_trade(&mut sync, print_at(15, 99, 2, BookSide::Ask), explains, collect(&mut out));
    sync.apply_depth(&diff_at(16, 15, 20, &[lv(100, 0), lv(98, 4)], &[lv(99, 1)]));
    prints.on_depth(&mut sync, explains, collect(&mut out));
    let (r, bid, ask) = out[0];
    assert_eq!(r.book, PrintBook::WithinAggregate);
    // State C: the book after the aggregate with the print's fill put back.
    assert_eq!((bid, ask), (Some(lv(98, 4)), Some(lv(99, 3))));
    assert_eq!(sync.book().best_ask(), Some(lv(99, 1)));

    // A buy print of 9 at 101, where 7 rest and no diff touches the level: hidden (an iceberg's reserve).
    let print = print_at(25, 101, 9, BookSide::Ask);
    prints.on_trade(&mut sync, print, explains, collect(&mut out));
    sync.apply_depth(&diff_at(17, 16, 30, &[lv(97, 1)], &[]));
    prints.on_depth(&mut sync, explains, collect(&mut out));
    let (r, bid, ask) = out[1];
    assert_eq!((r.print, r.book), (print, PrintBook::Unexplained));
    assert_eq!((bid, ask), (Some(lv(98, 4)), Some(lv(99, 1))), "an unexplained print comes with state A");
    let stats = prints.stats();
    assert_eq!((stats.explained_within_aggregate, stats.unexplained), (1, 1));
    assert_eq!(sync.book().level_count(BookSide::Bid), 2);
}

#[test]
fn the_queue_is_bounded_in_prints_and_in_time_and_loses_nothing_silently() {
    let mut sync = DepthSync::new(grid());
    let mut prints = PrintReconciler::new(2, 1_000_000_000);
    let mut out = Delivered::new();
    // Before the snapshot there is no book: dropped and counted.
    prints.on_trade(&mut sync, print_at(1, 100, 1, BookSide::Bid), explains, collect(&mut out));
    sync.load_snapshot(&snapshot_at(15));
    for ms in 2..=4 {
        prints.on_trade(&mut sync, print_at(ms, 100, 1, BookSide::Bid), explains, collect(&mut out));
    }
    // The third waiting print pushed the oldest out, judged with what is known.
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].0.print.ts_ns, out[0].0.timing), (2_000_000, PrintTiming::Late));
    assert_eq!(prints.pending(), 2);
    // The feed's exchange clock runs 1 s past the print at 3 ms: it goes, late; 4 ms stays.
    prints.on_trade(&mut sync, print_at(1_003, 100, 1, BookSide::Bid), explains, collect(&mut out));
    assert_eq!(out.len(), 2);
    assert_eq!((out[1].0.print.ts_ns, out[1].0.timing), (3_000_000, PrintTiming::Late));
    assert_eq!(prints.pending(), 2);
    prints.flush(&mut sync, explains, collect(&mut out));
    assert_eq!(out.len(), 4);
    assert!(out[2..].iter().all(|(r, _, _)| r.timing == PrintTiming::Flushed && r.book == PrintBook::AtPrint));
    let stats = prints.stats();
    assert_eq!(stats.received, 5);
    assert_eq!(stats.received, stats.delivered + stats.dropped_unsynchronised);
    assert_eq!((stats.judged_late, stats.judged_flushed, stats.dropped_unsynchronised), (2, 2, 1));
}
