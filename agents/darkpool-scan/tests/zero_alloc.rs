#![allow(clippy::unwrap_used)] // test code
//! DarkPoolScan allocates nothing per event.
//!
//! Its own test binary: the counting allocator counts every thread of the process.
use qp_alloc_counter::{CountingAllocator, allocations_on_this_thread};

use qp_book::{BookSide, Grid, L2Book, TradePrint};
use qp_darkpool_scan::{DarkPoolConfig, DarkPoolScan, MarketEvent, MarketUpdate};
use qp_runtime::{AgentContext, IngestAgent, Outbox};
use qp_wire::AssetId;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn the_scan_allocates_nothing_per_event() {
    let mut book = L2Book::new(Grid::new(1, 1).unwrap());
    for i in 0..10 {
        let _undo = book.set_level(BookSide::Bid, 1000 - i, 10 + i).unwrap();
        let _undo = book.set_level(BookSide::Ask, 1003 + i, 10 + i).unwrap();
    }
    let mut scan = DarkPoolScan::new(DarkPoolConfig::default()).unwrap();
    let mut out = Outbox::new("zero-alloc");
    let asset = AssetId::from_wire(1);
    let before = allocations_on_this_thread();
    let mut emitted = 0;
    for i in 0..100_000i64 {
        // Visible, inside the spread, beyond a level's size, at no level, on both sides.
        let (price, qty, side) = match i % 5 {
            0 => (1000, 5, BookSide::Bid),
            1 => (1001 + i % 2, 3, BookSide::Ask),
            2 => (1003, 50, BookSide::Ask),
            3 => (995, 1, BookSide::Bid),
            _ => (1004, 11, BookSide::Ask),
        };
        let print = TradePrint { ts_ns: i as u64, price, qty, resting_side: side };
        let event = if i % 7 == 0 { MarketEvent::Resync } else { MarketEvent::Trade(print) };
        let update = MarketUpdate::new(asset, i as u64, &book, event);
        scan.on_event(AgentContext { now_ns: 0 }, &update, &mut out).unwrap();
        emitted += out.drain_into(|_| Ok(()));
    }
    let during = allocations_on_this_thread() - before;
    assert!(emitted > 50_000, "{emitted}");
    assert_eq!(during, 0, "allocations on DarkPoolScan's path");

    let before = allocations_on_this_thread();
    let v = std::hint::black_box(vec![1u8; 64]);
    assert_eq!(allocations_on_this_thread() - before, 1, "the counting allocator counts");
    drop(v);
}
