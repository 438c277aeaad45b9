#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! AlphaScanner's tests: OFI worked by hand, vanishing liquidity, spoofing on
//! hand-built L3 sequences, and the detector scored on the labelled simulator.
use qp_alpha_scanner::{
    AlphaScanner, AlphaScannerConfig, BackgroundIntensity, EpisodeKind, EpisodeMix, ImbalanceConfig,
    LiquidityDropConfig, LiquidityDropDetector, MarketEvent, MarketUpdate, OrderFlowImbalance, SimulatorConfig,
    SpoofingConfig, SpoofingDetector, TopOfBook, detector_configurations, mix_name, ofi_increment, score_spoofing,
    simulate, spoofing_scan,
};
use qp_book::{BookSide, Grid, L2Book, L3Book, L3Event, L3Kind, TradePrint};
use qp_runtime::{AgentContext, IngestAgent, Outbox};
use qp_wire::{AssetId, BookSignal, BookSignalKind, FrameRef};

fn top(bid_price: i64, bid_qty: i64, ask_price: i64, ask_qty: i64) -> TopOfBook {
    TopOfBook { bid_price, bid_qty, ask_price, ask_qty }
}

fn signals(out: &mut Outbox) -> Vec<BookSignal> {
    let mut found = Vec::new();
    out.drain_into(|frame| {
        match frame.decode().unwrap() {
            FrameRef::Book(f) => found.push(*f.payload),
            other => panic!("unexpected frame {other:?}"),
        }
        Ok(())
    });
    found
}

fn asset() -> AssetId {
    AssetId::from_wire(1)
}

fn ctx() -> AgentContext {
    AgentContext { now_ns: 0 }
}

mod ofi {
    use super::*;

    #[test]
    fn each_case_of_the_increment_worked_by_hand() {
        let prev = top(1000, 10, 1002, 20);
        // Same prices, bid size up 10 → 15: +15 − 10; ask unchanged: −20 + 20.
        assert_eq!(ofi_increment(&prev, &top(1000, 15, 1002, 20)), 5);
        // Bid improves to 1001 with 7: +7 (the old bid no longer counts).
        assert_eq!(ofi_increment(&prev, &top(1001, 7, 1002, 20)), 7);
        // Bid deteriorates to 999 (30 there): −10 (the old bid size left).
        assert_eq!(ofi_increment(&prev, &top(999, 30, 1002, 20)), -10);
        // Ask improves (down) to 1001 with 5: −5.
        assert_eq!(ofi_increment(&prev, &top(1000, 10, 1001, 5)), -5);
        // Ask deteriorates (up) to 1003 with 40: +20 (the old ask size left).
        assert_eq!(ofi_increment(&prev, &top(1000, 10, 1003, 40)), 20);
        // Bid improves and ask retreats: +3 + 20.
        assert_eq!(ofi_increment(&prev, &top(1001, 3, 1003, 8)), 23);
        // Bid deteriorates and ask improves: −10 − 6.
        assert_eq!(ofi_increment(&prev, &top(999, 50, 1001, 6)), -16);
        // Ask size taken at the same price 20 → 12: −12 + 20.
        assert_eq!(ofi_increment(&prev, &top(1000, 10, 1002, 12)), 8);
    }

    #[test]
    fn the_window_sums_the_changes_of_its_span_only() {
        let mut ofi = OrderFlowImbalance::new(1_000, 16);
        assert_eq!(ofi.observe(0, Some(top(1000, 10, 1002, 20))), None, "first observation has no change");
        assert_eq!(ofi.observe(100, Some(top(1000, 10, 1002, 20))), None, "no change, no increment");
        assert_eq!(ofi.observe(200, Some(top(1000, 15, 1002, 20))), Some(5));
        assert_eq!(ofi.observe(300, Some(top(1001, 7, 1002, 20))), Some(7));
        assert_eq!(ofi.observe(400, Some(top(1001, 7, 1001 + 2, 9))), Some(20)); // ask 1002 → 1003: +20
        assert_eq!(ofi.ofi(), 32);
        // At 1,200 the change at 200 has left (200 + 1,000 ≤ 1,200): 7 + 20.
        assert_eq!(ofi.ofi_at(1_200), 27);
        assert_eq!(ofi.observe(1_350, Some(top(1000, 4, 1003, 9))), Some(-7)); // bid down: −7
        assert_eq!(ofi.ofi(), 13, "the change at 300 left too; 20 − 7");
        // An empty side forgets the previous top.
        assert_eq!(ofi.observe(1_400, None), None);
        assert_eq!(ofi.observe(1_500, Some(top(900, 1, 1100, 1))), None);
    }

    #[test]
    fn a_full_window_drops_its_oldest_and_counts_it() {
        let mut ofi = OrderFlowImbalance::new(u64::MAX / 2, 2);
        ofi.observe(0, Some(top(100, 1, 102, 1)));
        ofi.observe(1, Some(top(100, 2, 102, 1))); // +1
        ofi.observe(2, Some(top(100, 4, 102, 1))); // +2
        ofi.observe(3, Some(top(100, 8, 102, 1))); // +4
        assert_eq!(ofi.ofi(), 6);
        assert_eq!(ofi.evicted_early(), 1);
    }
}

mod agent {
    use super::*;

    fn l2_book() -> L2Book {
        let mut book = L2Book::new(Grid::new(1, 1).unwrap());
        let _undo = book.set_level(BookSide::Bid, 1000, 10).unwrap();
        let _undo = book.set_level(BookSide::Ask, 1001, 10).unwrap();
        book
    }

    fn wide_band() -> AlphaScannerConfig {
        AlphaScannerConfig {
            // Liquidity drops are tested on their own: here they never fire (a drop is never over 100 %).
            liquidity: LiquidityDropConfig {
                band_bp: 10_000,
                drop_threshold_bp: 10_000,
                ..LiquidityDropConfig::default()
            },
            imbalance: ImbalanceConfig { threshold_bp: 3_000, min_interval_ns: 100, ..ImbalanceConfig::default() },
            ..AlphaScannerConfig::default()
        }
    }

    fn level_set<'a>(
        book: &'a mut L2Book,
        ts_ns: u64,
        side: BookSide,
        price: i64,
        qty: i64,
    ) -> MarketUpdate<'a, L2Book> {
        let _undo = book.set_level(side, price, qty).unwrap();
        MarketUpdate::new(asset(), ts_ns, book, MarketEvent::LevelSet { side, price, qty })
    }

    #[test]
    fn imbalance_is_ofi_in_bp_of_depth_thresholded_and_rate_limited_in_feed_time() {
        let mut scanner = AlphaScanner::new(wide_band()).unwrap();
        let mut out = Outbox::new("test");
        let mut book = l2_book();
        let first = MarketUpdate::new(asset(), 0, &book, MarketEvent::Resync);
        scanner.on_event(ctx(), &first, &mut out).unwrap();
        let seed =
            MarketUpdate::new(asset(), 1, &book, MarketEvent::LevelSet { side: BookSide::Bid, price: 1000, qty: 10 });
        scanner.on_event(ctx(), &seed, &mut out).unwrap();
        assert!(signals(&mut out).is_empty(), "the first top of book only sets the reference");

        // Ask taken 10 → 2 at the same price: e = −2 + 10 = 8; depth 10 + 2: 8/12 = 6,666 bp.
        let update = level_set(&mut book, 10, BookSide::Ask, 1001, 2);
        scanner.on_event(ctx(), &update, &mut out).unwrap();
        let found = signals(&mut out);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind(), Some(BookSignalKind::Imbalance));
        assert_eq!(found[0].magnitude_bp.get(), 6_666);
        assert_eq!(found[0].ref_price.get(), 1000, "mid 1000.5 rounds down");
        assert_eq!(found[0].observed_ts_ns.get(), 10);
        assert_eq!(scanner.ofi(asset()), Some(8));

        // 50 ns later (inside the 100 ns interval) bid size up 10 → 16: e = +6, OFI 14: muted.
        let update = level_set(&mut book, 60, BookSide::Bid, 1000, 16);
        scanner.on_event(ctx(), &update, &mut out).unwrap();
        assert!(signals(&mut out).iter().all(|s| s.kind() != Some(BookSignalKind::Imbalance)));
        assert_eq!(scanner.ofi(asset()), Some(14));

        // After the interval: bid down to 999 (size 5): e = −16, OFI −2 over depth 7: −2,857 bp < 3,000.
        let _undo = book.set_level(BookSide::Bid, 999, 5).unwrap();
        let update = level_set(&mut book, 200, BookSide::Bid, 1000, 0);
        scanner.on_event(ctx(), &update, &mut out).unwrap();
        assert!(signals(&mut out).iter().all(|s| s.kind() != Some(BookSignalKind::Imbalance)));
        assert_eq!(scanner.ofi(asset()), Some(-2));

        // Ask improves to 1000 with 20: e = −20; OFI −22 over depth 5 + 22 (ask 1000: 20, 1001: 2).
        let update = level_set(&mut book, 300, BookSide::Ask, 1000, 20);
        scanner.on_event(ctx(), &update, &mut out).unwrap();
        let found = signals(&mut out);
        let imbalance: Vec<_> = found.iter().filter(|s| s.kind() == Some(BookSignalKind::Imbalance)).collect();
        assert_eq!(imbalance.len(), 1);
        assert_eq!(imbalance[0].magnitude_bp.get(), -22 * 10_000 / 27);
    }

    #[test]
    fn vanishing_bid_depth_is_one_bearish_signal_then_quiet() {
        let config = AlphaScannerConfig {
            liquidity: LiquidityDropConfig {
                band_bp: 10_000,
                drop_threshold_bp: 5_000,
                window_ns: 1_000,
                cooldown_ns: 10_000,
                ..LiquidityDropConfig::default()
            },
            imbalance: ImbalanceConfig { threshold_bp: 10_000_000, ..ImbalanceConfig::default() },
            ..AlphaScannerConfig::default()
        };
        let mut scanner = AlphaScanner::new(config).unwrap();
        let mut out = Outbox::new("test");
        let mut book = L2Book::new(Grid::new(1, 1).unwrap());
        let _undo = book.set_level(BookSide::Ask, 1001, 100).unwrap();
        for (i, price) in (996..=1000).enumerate() {
            let update = level_set(&mut book, i as u64, BookSide::Bid, price, 100);
            scanner.on_event(ctx(), &update, &mut out).unwrap();
        }
        assert!(signals(&mut out).is_empty());
        // 500 → 200 within the window: a 60 % drop (> 50 %).
        let mut found = Vec::new();
        for (ts, price) in [(100, 996), (101, 997), (102, 998)] {
            let update = level_set(&mut book, ts, BookSide::Bid, price, 0);
            scanner.on_event(ctx(), &update, &mut out).unwrap();
            found.extend(signals(&mut out));
        }
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind(), Some(BookSignalKind::LiquidityDrop));
        assert_eq!(found[0].magnitude_bp.get(), -6_000, "bid depth 500 → 200: −60 %, bearish");
        // Falling further during the cooldown: quiet.
        let update = level_set(&mut book, 200, BookSide::Bid, 999, 0);
        scanner.on_event(ctx(), &update, &mut out).unwrap();
        assert!(signals(&mut out).is_empty());
        assert_eq!(scanner.counts().liquidity_signals, 1);
    }

    #[test]
    fn an_ask_side_drop_is_bullish_and_drops_slower_than_the_window_are_not_signalled() {
        let mut detector = LiquidityDropDetector::new(LiquidityDropConfig {
            drop_threshold_bp: 5_000,
            window_ns: 100,
            ..LiquidityDropConfig::default()
        });
        assert_eq!(detector.observe(0, 1_000), None);
        // 1,000 → 600 → 300, but 200 ns apart: each step is under half of the window's peak.
        assert_eq!(detector.observe(200, 600), None);
        assert_eq!(detector.observe(400, 300), None);
        assert_eq!(detector.peak(), Some(300));
        let drop = detector.observe(450, 100).unwrap();
        assert_eq!((drop.peak_qty, drop.depth_qty, drop.drop_bp), (300, 100, 6_666));

        let config = AlphaScannerConfig {
            liquidity: LiquidityDropConfig { band_bp: 10_000, window_ns: 1_000, ..LiquidityDropConfig::default() },
            imbalance: ImbalanceConfig { threshold_bp: 10_000_000, ..ImbalanceConfig::default() },
            ..AlphaScannerConfig::default()
        };
        let mut scanner = AlphaScanner::new(config).unwrap();
        let mut out = Outbox::new("test");
        let mut book = L2Book::new(Grid::new(1, 1).unwrap());
        let _undo = book.set_level(BookSide::Bid, 1000, 100).unwrap();
        let _undo = book.set_level(BookSide::Ask, 1002, 100).unwrap();
        let update = level_set(&mut book, 0, BookSide::Ask, 1001, 300);
        scanner.on_event(ctx(), &update, &mut out).unwrap();
        let update = level_set(&mut book, 5, BookSide::Ask, 1001, 0);
        scanner.on_event(ctx(), &update, &mut out).unwrap();
        let found = signals(&mut out);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].magnitude_bp.get(), 7_500, "ask depth 400 → 100: +75 %, bullish");
    }

    #[test]
    fn unknown_assets_and_bad_configurations_are_typed_errors() {
        let mut scanner = AlphaScanner::new(AlphaScannerConfig::default()).unwrap();
        let book = l2_book();
        let mut out = Outbox::new("test");
        for id in [0, 2] {
            let update = MarketUpdate::new(AssetId::from_wire(id), 0, &book, MarketEvent::Resync);
            assert!(matches!(
                scanner.on_event(ctx(), &update, &mut out),
                Err(qp_runtime::AgentError::UnknownAsset { asset, .. }) if asset == id
            ));
        }
        let bad = AlphaScannerConfig { max_assets: 0, ..AlphaScannerConfig::default() };
        assert!(AlphaScanner::new(bad).is_err());
        let bad = AlphaScannerConfig {
            spoofing: SpoofingConfig { tick: 0, ..SpoofingConfig::default() },
            ..AlphaScannerConfig::default()
        };
        assert!(AlphaScanner::new(bad).is_err());
    }
}

mod spoofing {
    use super::*;

    const BID: BookSide = BookSide::Bid;
    const ASK: BookSide = BookSide::Ask;

    fn ev(kind: L3Kind, id: u64, side: BookSide, price: i64, qty: i64) -> L3Event {
        L3Event { kind, id, side, price, qty }
    }

    /// A book (tick 1) with bids 1000 ↓ and asks 1001 ↑, and a detector that has
    /// learned a typical size of 100 from 60 ordinary adds.
    struct Rig {
        book: L3Book,
        detector: SpoofingDetector,
        next_id: u64,
    }

    impl Rig {
        fn new(config: SpoofingConfig) -> Self {
            let mut rig = Rig {
                book: L3Book::new(Grid::new(1, 1).unwrap()),
                detector: SpoofingDetector::new(config),
                next_id: 1,
            };
            for i in 0..60 {
                let (side, price) = if i % 2 == 0 { (BID, 1000 - (i / 2) % 5) } else { (ASK, 1001 + (i / 2) % 5) };
                rig.add(0, side, price, 100);
            }
            assert_eq!(rig.detector.typical_qty(), Some(100));
            rig
        }
        fn apply(&mut self, ts: u64, e: L3Event) -> Option<qp_alpha_scanner::SpoofAlarm> {
            let _undo = self.book.apply(&e).unwrap();
            self.detector.on_l3(ts, &e, &self.book)
        }
        fn add(&mut self, ts: u64, side: BookSide, price: i64, qty: i64) -> u64 {
            let id = self.next_id;
            self.next_id += 1;
            assert_eq!(self.apply(ts, ev(L3Kind::Add, id, side, price, qty)), None);
            id
        }
        fn delete(
            &mut self,
            ts: u64,
            id: u64,
            side: BookSide,
            price: i64,
            qty: i64,
        ) -> Option<qp_alpha_scanner::SpoofAlarm> {
            self.apply(ts, ev(L3Kind::Delete, id, side, price, qty))
        }
    }

    const MS: u64 = 1_000_000;

    impl Rig {
        /// The spoofer's genuine order: `qty` at the touch of `side` (bid 1000, ask 1001).
        fn genuine(&mut self, ts: u64, side: BookSide, qty: i64) -> u64 {
            let price = if side == BID { 1000 } else { 1001 };
            self.add(ts, side, price, qty)
        }
        /// Execute `qty` of order `id`.
        fn exec(&mut self, ts: u64, id: u64, side: BookSide, qty: i64) {
            let price = if side == BID { 1000 } else { 1001 };
            assert_eq!(self.apply(ts, ev(L3Kind::Execute, id, side, price, qty)), None);
        }
    }

    #[test]
    fn a_large_bid_behind_the_touch_pulled_right_after_its_linked_ask_fills_is_spoofing() {
        let mut rig = Rig::new(SpoofingConfig::default());
        let id = rig.add(1_000 * MS, BID, 997, 1_000);
        assert_eq!(rig.detector.tracked_orders(), 1);
        // The genuine ask goes in 10 ms after the fake bid, and is filled whole.
        let genuine = rig.genuine(1_010 * MS, ASK, 50);
        rig.exec(1_100 * MS, genuine, ASK, 50);
        let alarm = rig.delete(1_110 * MS, id, BID, 997, 1_000).unwrap();
        assert_eq!(alarm.spoofed_side, BID);
        assert_eq!((alarm.layers, alarm.cancelled_qty, alarm.fill_ts_ns), (1, 1_000, 1_100 * MS));
        assert_eq!(alarm.filled_order, Some(genuine));
        assert_eq!((alarm.filled_order_placed_ts_ns, alarm.placed_ts_ns), (Some(1_010 * MS), 1_000 * MS));
        // The genuine order may also go in first.
        let genuine = rig.genuine(2_000 * MS, ASK, 50);
        let id = rig.add(2_030 * MS, BID, 998, 1_000);
        rig.exec(2_200 * MS, genuine, ASK, 50);
        assert!(rig.delete(2_240 * MS, id, BID, 998, 1_000).is_some());
    }

    #[test]
    fn hard_negatives_raise_nothing() {
        let mut rig = Rig::new(SpoofingConfig::default());
        // Cancelled without an opposite fill.
        let id = rig.add(1_000 * MS, BID, 997, 1_000);
        rig.genuine(1_010 * MS, ASK, 50);
        assert_eq!(rig.delete(1_100 * MS, id, BID, 997, 1_000), None);
        // A fill on the same side does not count.
        let id = rig.add(2_000 * MS, ASK, 1004, 1_000);
        let g = rig.genuine(2_010 * MS, ASK, 50);
        rig.exec(2_050 * MS, g, ASK, 50);
        assert_eq!(rig.delete(2_055 * MS, id, ASK, 1004, 1_000), None);
        // Cancelled 60 ms after the fill: outside the 50 ms window.
        let id = rig.add(3_000 * MS, BID, 997, 1_000);
        let g = rig.genuine(3_010 * MS, ASK, 50);
        rig.exec(3_100 * MS, g, ASK, 50);
        assert_eq!(rig.delete(3_160 * MS, id, BID, 997, 1_000), None);
        // The fill came before the order was placed.
        let g = rig.genuine(3_990 * MS, ASK, 50);
        rig.exec(4_000 * MS, g, ASK, 50);
        let id = rig.add(4_001 * MS, BID, 997, 1_000);
        assert_eq!(rig.delete(4_005 * MS, id, BID, 997, 1_000), None);
        // Rested longer than the 1 s lifetime.
        let id = rig.add(5_000 * MS, BID, 997, 1_000);
        let g = rig.genuine(5_010 * MS, ASK, 50);
        rig.exec(6_500 * MS, g, ASK, 50);
        assert_eq!(rig.delete(6_505 * MS, id, BID, 997, 1_000), None);
        // At the touch (distance 0): a real quote.
        let id = rig.add(7_000 * MS, BID, 1000, 1_000);
        let g = rig.genuine(7_010 * MS, ASK, 50);
        rig.exec(7_100 * MS, g, ASK, 50);
        assert_eq!(rig.delete(7_105 * MS, id, BID, 1000, 1_000), None);
        // Deeper than 5 ticks: no one's top-of-book view shows it.
        let id = rig.add(7_500 * MS, BID, 994, 1_000);
        let g = rig.genuine(7_510 * MS, ASK, 50);
        rig.exec(7_600 * MS, g, ASK, 50);
        assert_eq!(rig.delete(7_605 * MS, id, BID, 994, 1_000), None);
        // Ordinary size (1.5× typical < 2×).
        let id = rig.add(8_000 * MS, BID, 997, 150);
        let g = rig.genuine(8_010 * MS, ASK, 50);
        rig.exec(8_100 * MS, g, ASK, 50);
        assert_eq!(rig.delete(8_105 * MS, id, BID, 997, 150), None);
        // Executed against before the cancel: it was real liquidity.
        let id = rig.add(9_000 * MS, BID, 997, 1_000);
        let g = rig.genuine(9_010 * MS, ASK, 50);
        assert_eq!(rig.apply(9_050 * MS, ev(L3Kind::Execute, id, BID, 997, 10)), None);
        rig.exec(9_100 * MS, g, ASK, 50);
        assert_eq!(rig.delete(9_105 * MS, id, BID, 997, 990), None);
        // The fill was of an old, unrelated order (id 2 rested since 0).
        let id = rig.add(10_000 * MS, BID, 997, 1_000);
        rig.exec(10_100 * MS, 2, ASK, 100);
        assert_eq!(rig.delete(10_105 * MS, id, BID, 997, 1_000), None);
        // The filled order went in 50 ms before the large one: outside the 40 ms link.
        let g = rig.genuine(10_950 * MS, ASK, 50);
        let id = rig.add(11_000 * MS, BID, 997, 1_000);
        rig.exec(11_100 * MS, g, ASK, 50);
        assert_eq!(rig.delete(11_105 * MS, id, BID, 997, 1_000), None);
        // The linked order was only partly filled.
        let id = rig.add(12_000 * MS, BID, 997, 1_000);
        let g = rig.genuine(12_010 * MS, ASK, 50);
        rig.exec(12_100 * MS, g, ASK, 30);
        assert_eq!(rig.delete(12_105 * MS, id, BID, 997, 1_000), None);
        // The linked order was bigger than the "fake" one.
        let id = rig.add(13_000 * MS, BID, 997, 250);
        let g = rig.genuine(13_010 * MS, ASK, 300);
        rig.exec(13_100 * MS, g, ASK, 300);
        assert_eq!(rig.delete(13_105 * MS, id, BID, 997, 250), None);
        assert_eq!(rig.detector.tracked_orders(), 0);
    }

    #[test]
    fn the_linked_order_must_fill_faster_than_the_feed_usually_does() {
        let mut rig = Rig::new(SpoofingConfig::default());
        assert_eq!(rig.detector.typical_fill_age_ns(), None);
        // Sixty fills of orders that waited 200 ms: the typical time to fill is 200 ms.
        for i in 0..60u64 {
            let t = 100 * MS + i * 1_000 * MS;
            let id = rig.add(t, ASK, 1001, 100);
            rig.exec(t + 200 * MS, id, ASK, 100);
        }
        assert_eq!(rig.detector.typical_fill_age_ns(), Some(200 * MS));
        // Filled 150 ms after it went in (> half of 200 ms): nothing.
        let t = 70_000 * MS;
        let id = rig.add(t, BID, 997, 1_000);
        let g = rig.genuine(t + 10 * MS, ASK, 50);
        rig.exec(t + 160 * MS, g, ASK, 50);
        assert_eq!(rig.delete(t + 165 * MS, id, BID, 997, 1_000), None);
        // Filled 80 ms after: the fake pressure got it filled early.
        let t = 71_000 * MS;
        let id = rig.add(t, BID, 997, 1_000);
        let g = rig.genuine(t + 10 * MS, ASK, 50);
        rig.exec(t + 90 * MS, g, ASK, 50);
        assert!(rig.delete(t + 95 * MS, id, BID, 997, 1_000).is_some());
    }

    #[test]
    fn a_trade_print_links_to_nothing_but_counts_for_the_unlinked_detector() {
        for (config, alarms) in [
            (SpoofingConfig::default(), false),
            (SpoofingConfig { link_window_ns: 0, ..SpoofingConfig::default() }, true),
        ] {
            let mut rig = Rig::new(config);
            let id = rig.add(1_000 * MS, BID, 997, 1_000);
            rig.detector.on_fill(1_100 * MS, ASK);
            assert_eq!(rig.delete(1_110 * MS, id, BID, 997, 1_000).is_some(), alarms);
        }
    }

    #[test]
    fn layering_needs_min_layers_and_alarms_once_per_fill() {
        let config = SpoofingConfig { min_layers: 2, ..SpoofingConfig::default() };
        let mut rig = Rig::new(config);
        let a = rig.add(1_000 * MS, ASK, 1003, 800);
        let b = rig.add(1_001 * MS, ASK, 1004, 800);
        let c = rig.add(1_002 * MS, ASK, 1005, 800);
        // The genuine bid, filled whole.
        let g = rig.genuine(1_005 * MS, BID, 100);
        rig.exec(1_200 * MS, g, BID, 100);
        assert_eq!(rig.delete(1_205 * MS, a, ASK, 1003, 800), None, "one layer is not enough");
        let alarm = rig.delete(1_206 * MS, b, ASK, 1004, 800).unwrap();
        assert_eq!((alarm.spoofed_side, alarm.layers, alarm.cancelled_qty), (ASK, 2, 1_600));
        assert_eq!(rig.delete(1_207 * MS, c, ASK, 1005, 800), None, "one alarm per episode");
    }

    #[test]
    fn a_partial_cancel_of_half_the_order_counts() {
        let mut rig = Rig::new(SpoofingConfig::default());
        let id = rig.add(1_000 * MS, BID, 996, 1_000);
        let g = rig.genuine(1_001 * MS, ASK, 50);
        rig.exec(1_100 * MS, g, ASK, 50);
        assert_eq!(rig.apply(1_101 * MS, ev(L3Kind::Cancel, id, BID, 996, 400)), None);
        assert!(rig.apply(1_102 * MS, ev(L3Kind::Cancel, id, BID, 996, 100)).is_some());
    }

    #[test]
    fn the_agent_emits_a_spoofing_signal_signed_by_the_fake_pressure() {
        let mut scanner = AlphaScanner::new(AlphaScannerConfig {
            spoofing: SpoofingConfig { tick: 1, ..SpoofingConfig::default() },
            ..AlphaScannerConfig::default()
        })
        .unwrap();
        let mut book = L3Book::new(Grid::new(1, 1).unwrap());
        let mut out = Outbox::new("test");
        let send = |scanner: &mut AlphaScanner, book: &mut L3Book, ts: u64, e: L3Event| {
            let mut out = Outbox::new("test");
            let _undo = book.apply(&e).unwrap();
            scanner.on_event(ctx(), &MarketUpdate::new(asset(), ts, &*book, MarketEvent::L3(e)), &mut out).unwrap();
            signals(&mut out)
        };
        for i in 0..60u64 {
            let (side, price) = if i % 2 == 0 { (BID, 1000) } else { (ASK, 1001) };
            send(&mut scanner, &mut book, i, ev(L3Kind::Add, i + 1, side, price, 100));
        }
        send(&mut scanner, &mut book, 1_000 * MS, ev(L3Kind::Add, 100, ASK, 1003, 900));
        // The genuine bid, 20 ms later.
        send(&mut scanner, &mut book, 1_020 * MS, ev(L3Kind::Add, 101, BID, 1000, 40));
        // Its fill: the print first (it names no order), then the execution that names it.
        let print = TradePrint { ts_ns: 1_100 * MS, price: 1000, qty: 40, resting_side: BID };
        scanner
            .on_event(ctx(), &MarketUpdate::new(asset(), 1_100 * MS, &book, MarketEvent::Trade(print)), &mut out)
            .unwrap();
        send(&mut scanner, &mut book, 1_100 * MS, ev(L3Kind::Execute, 101, BID, 1000, 40));
        let found = send(&mut scanner, &mut book, 1_101 * MS, ev(L3Kind::Delete, 100, ASK, 1003, 900));
        let spoof: Vec<_> = found.iter().filter(|s| s.kind() == Some(BookSignalKind::Spoofing)).collect();
        assert_eq!(spoof.len(), 1, "{found:?}");
        assert!(spoof[0].magnitude_bp.get() < 0, "fake asks pretend selling: negative");
        assert_eq!(scanner.counts().spoofing_signals, 1);
    }
}

mod simulator {
    use super::*;

    #[test]
    fn the_simulator_is_deterministic_valid_and_labelled() {
        let config = SimulatorConfig { duration_ns: 60_000_000_000, ..SimulatorConfig::default() };
        let a = simulate(&config);
        let b = simulate(&config);
        assert_eq!(a.events, b.events);
        assert_eq!(a.episodes, b.episodes);
        let c = simulate(&SimulatorConfig { seed: 7, ..config });
        assert_ne!(a.events, c.events);
        let spoofs = a.episodes.iter().filter(|e| e.kind.is_spoof()).count();
        let negatives = a.episodes.len() - spoofs;
        assert!(spoofs >= 10 && negatives >= 10, "{spoofs} spoofs, {negatives} hard negatives");
        for kind in [
            |k| matches!(k, EpisodeKind::LargeResting(_)),
            |k| matches!(k, EpisodeKind::LargeCancelledWithoutFill(_)),
            |k| matches!(k, EpisodeKind::OrdinaryFillAndCancel(_)),
            |k: EpisodeKind| matches!(k, EpisodeKind::PullAfterUnrelatedFill(_)),
        ] {
            assert!(a.episodes.iter().any(|e| kind(e.kind)));
        }
        assert!(a.events.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns), "events in time order");
        let score = score_spoofing(&a, &SpoofingConfig::default());
        assert_eq!(score.book_errors, 0, "every simulated event applies to an L3 book");
    }

    #[test]
    fn the_default_detector_meets_its_targets_in_every_cell_and_the_naive_and_unlinked_ones_do_not() {
        let rows = spoofing_scan(SimulatorConfig::default().seed);
        for row in &rows {
            let s = &row.score;
            println!(
                "{:<14} {:<7} {:<13} episodes {:>3} detected {:>3} alarms {:>5} precision {:.3} recall {:.3}",
                row.detector,
                row.intensity.name(),
                mix_name(row.mix),
                s.episodes,
                s.detected,
                s.alarms,
                s.precision(),
                s.recall()
            );
        }
        let cells = |name: &'static str| rows.iter().filter(move |r| r.detector == name);
        assert_eq!(cells("default").count(), 6, "3 intensities × 2 episode styles");
        for row in cells("default") {
            let (s, cell) = (&row.score, (row.intensity.name(), mix_name(row.mix)));
            assert_eq!(s.book_errors, 0, "{cell:?}");
            assert!(s.episodes >= 150, "{cell:?}: {s:?}");
            assert!(s.precision() >= 0.9, "{cell:?}: precision {:.3}", s.precision());
            assert!(s.recall() >= 0.8, "{cell:?}: recall {:.3}", s.recall());
        }
        for row in cells("naive") {
            let s = &row.score;
            assert!(s.precision() < 0.9, "a naive detector must fail the precision target: {:.3}", s.precision());
        }
        // Without the linked pair, busy background fills make the cancels coincidences.
        for row in cells("unlinked").filter(|r| r.intensity == BackgroundIntensity::Busy) {
            assert!(row.score.precision() < 0.5, "unlinked at busy rates: {:.3}", row.score.precision());
        }
    }

    #[test]
    fn the_mixed_flow_meets_the_targets_too() {
        let flow = simulate(&SimulatorConfig {
            seed: 42,
            intensity: BackgroundIntensity::Normal,
            mix: EpisodeMix::Mixed,
            ..SimulatorConfig::default()
        });
        let configs = detector_configurations();
        let default = score_spoofing(&flow, &configs[0].1);
        println!("default: {default:?} precision {:.3} recall {:.3}", default.precision(), default.recall());
        assert_eq!(default.book_errors, 0);
        assert!(default.episodes >= 50, "{default:?}");
        assert!(default.precision() >= 0.9, "precision {:.3}", default.precision());
        assert!(default.recall() >= 0.8, "recall {:.3}", default.recall());
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The windowed OFI equals the naive sum of the increments of the changes
        /// still inside the window, and the depth peak equals the naive maximum.
        #[test]
        fn windows_match_a_naive_recomputation(
            steps in proptest::collection::vec((0u64..50, 995i64..1000, 1i64..50, 0i64..5, 1i64..50), 1..200),
            window_ns in 1u64..500,
        ) {
            let mut ofi = OrderFlowImbalance::new(window_ns, 1_024);
            let mut depth = LiquidityDropDetector::new(LiquidityDropConfig {
                window_ns,
                drop_threshold_bp: 10_000,
                ..LiquidityDropConfig::default()
            });
            let mut history: Vec<(u64, i64)> = Vec::new();
            let mut depths: Vec<(u64, i64)> = Vec::new();
            let mut prev: Option<TopOfBook> = None;
            let mut now = 0u64;
            for (gap, bid, bid_qty, spread, ask_qty) in steps {
                now += gap;
                let cur = top(bid, bid_qty, bid + 1 + spread, ask_qty);
                let e = ofi.observe(now, Some(cur));
                match prev {
                    Some(p) if p != cur => {
                        prop_assert_eq!(e, Some(ofi_increment(&p, &cur)));
                        history.push((now, ofi_increment(&p, &cur)));
                    }
                    _ => prop_assert_eq!(e, None),
                }
                prev = Some(cur);
                let naive: i64 = history.iter().filter(|(t, _)| t + window_ns > now).map(|(_, e)| e).sum();
                prop_assert_eq!(ofi.ofi(), naive);

                let total = bid_qty + ask_qty;
                depth.observe(now, total);
                depths.push((now, total));
                let peak = depths.iter().filter(|(t, _)| t + window_ns > now).map(|&(_, q)| q).max().unwrap_or(total);
                prop_assert_eq!(depth.peak(), Some(peak.max(total)));
            }
        }
    }
}
