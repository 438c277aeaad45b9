#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! DarkPoolScan's tests: hidden-liquidity inference from print + book, block
//! prints, the agent's frames, and recall/precision on the LOBSTER sample.
use qp_book::{BookSide, Grid, L2Book, TradePrint};
use qp_darkpool_scan::{
    DarkPoolConfig, DarkPoolScan, HiddenReason, MarketEvent, MarketUpdate, hidden_reason, score_lobster,
};
use qp_runtime::{AgentContext, IngestAgent, Outbox};
use qp_wire::{AssetId, BlockPrint, FrameRef, Side};

/// Bids 1000 (50), 999 (80), 997 (30); asks 1003 (40), 1004 (60).
fn book() -> L2Book {
    let mut book = L2Book::new(Grid::new(1, 1).unwrap());
    for (side, price, qty) in [
        (BookSide::Bid, 1000, 50),
        (BookSide::Bid, 999, 80),
        (BookSide::Bid, 997, 30),
        (BookSide::Ask, 1003, 40),
        (BookSide::Ask, 1004, 60),
    ] {
        let _undo = book.set_level(side, price, qty).unwrap();
    }
    book
}

fn print(price: i64, qty: i64, resting_side: BookSide) -> TradePrint {
    TradePrint { ts_ns: 7, price, qty, resting_side }
}

#[test]
fn the_visible_book_explains_prints_at_a_level_within_its_size() {
    let book = book();
    assert_eq!(hidden_reason(&book, &print(1000, 50, BookSide::Bid)), None);
    assert_eq!(hidden_reason(&book, &print(999, 10, BookSide::Bid)), None, "behind the touch, at a level");
    assert_eq!(hidden_reason(&book, &print(1003, 40, BookSide::Ask)), None);
    assert_eq!(hidden_reason(&book, &print(1004, 1, BookSide::Ask)), None);
}

#[test]
fn what_the_visible_book_cannot_explain_is_hidden_and_says_why() {
    let book = book();
    for price in [1001, 1002] {
        assert_eq!(hidden_reason(&book, &print(price, 5, BookSide::Bid)), Some(HiddenReason::InsideSpread));
        assert_eq!(hidden_reason(&book, &print(price, 5, BookSide::Ask)), Some(HiddenReason::InsideSpread));
    }
    assert_eq!(hidden_reason(&book, &print(998, 5, BookSide::Bid)), Some(HiddenReason::NoVisibleLevel));
    assert_eq!(
        hidden_reason(&book, &print(990, 5, BookSide::Bid)),
        Some(HiddenReason::NoVisibleLevel),
        "past the last level"
    );
    assert_eq!(
        hidden_reason(&book, &print(1003, 5, BookSide::Bid)),
        Some(HiddenReason::NoVisibleLevel),
        "through the ask"
    );
    assert_eq!(hidden_reason(&book, &print(1000, 51, BookSide::Bid)), Some(HiddenReason::ExceedsVisibleSize));
    assert_eq!(hidden_reason(&book, &print(1004, 61, BookSide::Ask)), Some(HiddenReason::ExceedsVisibleSize));
    let empty = L2Book::new(Grid::new(1, 1).unwrap());
    assert_eq!(hidden_reason(&empty, &print(1000, 5, BookSide::Bid)), Some(HiddenReason::EmptySide));
}

fn run(scan: &mut DarkPoolScan, book: &L2Book, p: TradePrint) -> Vec<BlockPrint> {
    let mut out = Outbox::new("test");
    let update = MarketUpdate::new(AssetId::from_wire(1), p.ts_ns, book, MarketEvent::Trade(p));
    scan.on_event(AgentContext { now_ns: 0 }, &update, &mut out).unwrap();
    let mut found = Vec::new();
    out.drain_into(|frame| {
        match frame.decode().unwrap() {
            FrameRef::BlockPrint(f) => found.push(*f.payload),
            other => panic!("unexpected {other:?}"),
        }
        Ok(())
    });
    found
}

#[test]
fn the_agent_emits_hidden_prints_and_blocks_as_block_print_frames() {
    // Block band 100 bp of a mid of ~1001.5 covers every level: bids 160, asks 100 visible.
    let config = DarkPoolConfig { block_band_bp: 100, venue: 3, ..DarkPoolConfig::default() };
    let mut scan = DarkPoolScan::new(config).unwrap();
    let book = book();

    assert!(run(&mut scan, &book, print(1000, 20, BookSide::Bid)).is_empty(), "visible and small: nothing");

    let found = run(&mut scan, &book, print(1002, 5, BookSide::Ask));
    assert_eq!(found.len(), 1);
    let frame = found[0];
    assert!(frame.is_hidden());
    assert_eq!(frame.side(), Some(Side::Buy), "a print against the asks was bought");
    assert_eq!((frame.price.get(), frame.qty.get(), frame.print_ts_ns.get(), frame.venue.get()), (1002, 5, 7, 3));

    // 160 against the 160 visible bids within the band: a block; and more than the 50 shown at 1000.
    let found = run(&mut scan, &book, print(1000, 160, BookSide::Bid));
    assert_eq!(found.len(), 1);
    assert!(found[0].is_hidden(), "more than the visible 50 at 1000: hidden as well as a block");
    assert_eq!(found[0].side(), Some(Side::Sell));

    // A block that the visible book explains: the whole band is one level.
    let mut thin = L2Book::new(Grid::new(1, 1).unwrap());
    let _undo = thin.set_level(BookSide::Bid, 1000, 30).unwrap();
    let _undo = thin.set_level(BookSide::Ask, 1001, 30).unwrap();
    let found = run(&mut scan, &thin, print(1001, 30, BookSide::Ask));
    assert_eq!(found.len(), 1);
    assert!(!found[0].is_hidden(), "a visible block has no hidden flag");
    let counts = scan.counts();
    assert_eq!((counts.prints, counts.hidden, counts.blocks, counts.emitted), (4, 2, 2, 3));
}

#[test]
fn non_trade_updates_and_bad_input() {
    let mut scan = DarkPoolScan::new(DarkPoolConfig::default()).unwrap();
    let book = book();
    let mut out = Outbox::new("test");
    let update = MarketUpdate::new(AssetId::from_wire(1), 0, &book, MarketEvent::Resync);
    scan.on_event(AgentContext { now_ns: 0 }, &update, &mut out).unwrap();
    assert!(out.is_empty());
    let update = MarketUpdate::new(AssetId::from_wire(9), 0, &book, MarketEvent::Resync);
    assert!(scan.on_event(AgentContext { now_ns: 0 }, &update, &mut out).is_err());
    let bad = MarketUpdate::new(AssetId::from_wire(1), 0, &book, MarketEvent::Trade(print(1000, 0, BookSide::Bid)));
    assert!(scan.on_event(AgentContext { now_ns: 0 }, &bad, &mut out).is_err());
    assert!(DarkPoolScan::new(DarkPoolConfig { max_assets: 0, ..DarkPoolConfig::default() }).is_err());
}

const LOBSTER: &str = "../../../shared/data/lobster/AAPL_2012-06-21_34200000_57600000";

#[test]
fn lobster_type_5_prints_are_flagged_hidden_from_print_and_book_alone() {
    let root = env!("CARGO_MANIFEST_DIR");
    let read = |suffix: &str| std::fs::read_to_string(format!("{root}/{LOBSTER}_{suffix}_10.csv"));
    let (Ok(messages), Ok(orderbook)) = (read("message"), read("orderbook")) else {
        eprintln!("LOBSTER sample not found under ../shared/data: skipped");
        return;
    };
    let score = score_lobster(&messages, &orderbook, &DarkPoolConfig::default()).unwrap();
    println!("{score:?} recall {:.3} precision {:.3}", score.recall(), score.precision());
    assert_eq!(score.hidden_prints, 61);
    assert_eq!(score.visible_prints, 98);
    assert!(score.recall() >= 0.95, "type-5 recall {:.3}", score.recall());
    assert!(score.precision() >= 0.95, "precision {:.3}", score.precision());
}
