#![allow(clippy::unwrap_used)] // helpers in test files are test code too
//! Book updates allocate nothing after warm-up.
//!
//! This is its own test binary (the crate's other tests live in `book/`)
//! because a counting global allocator counts every thread of the process: any
//! test running beside it would be counted too.

use std::io::Read;

use qp_alloc_counter::{CountingAllocator, allocations_on_this_thread};
use qp_book::binance::BinanceReplay;
use qp_book::{BookRead, BookSide, Grid, L2Book, L3Book, L3Event, L3Kind, Level, OrderId, QueueQuery};
use qp_seeded_random::SplitMix64;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const TICK: i64 = 10;
const LOT: i64 = 1_000;
const CENTER: i64 = 600_000 * TICK;
/// Most orders the L3 book holds at once; the stream runs up to it.
const MAX_ORDERS: usize = 4_096;
/// L3 adds land within this many ticks of the center.
const L3_BAND_TICKS: i64 = 60;
/// L2 levels per side (Binance futures depth is about 1,000).
const L2_LEVELS: i64 = 1_000;

/// Bid or ask, from the lowest bit of a draw ([`SplitMix64`] allocates nothing).
fn side(rng: &mut SplitMix64) -> BookSide {
    if rng.next_u64() & 1 == 0 { BookSide::Bid } else { BookSide::Ask }
}

/// `ticks` away from the center on `side` (never crossing the other side).
fn price(side: BookSide, ticks: i64) -> i64 {
    match side {
        BookSide::Bid => CENTER - ticks * TICK,
        BookSide::Ask => CENTER + ticks * TICK,
    }
}

/// The books and what the driver knows of them.
struct Flow {
    rng: SplitMix64,
    l3: L3Book,
    /// Fed the same events as `l3`.
    l2_of_l3: L2Book,
    /// Fed absolute level updates over about 1,000 levels a side.
    l2: L2Book,
    live: Vec<OrderId>,
    next_id: OrderId,
    checksum: i64,
}

impl Flow {
    fn new() -> Self {
        let grid = Grid::new(TICK, LOT).unwrap();
        Self {
            rng: SplitMix64::new(7),
            l3: L3Book::with_capacity(grid, MAX_ORDERS, 2 * L3_BAND_TICKS as usize),
            l2_of_l3: L2Book::with_capacity(grid, 2 * L3_BAND_TICKS as usize),
            l2: L2Book::with_capacity(grid, 2 * L2_LEVELS as usize),
            live: Vec::with_capacity(MAX_ORDERS),
            next_id: 1,
            checksum: 0,
        }
    }

    fn apply(&mut self, event: &L3Event) {
        let undo = self.l3.apply(event).unwrap();
        let _ = self.l2_of_l3.apply_l3(event).unwrap();
        // Now and then, take it back and do it again: undo records are plain values.
        if self.next_id.is_multiple_of(16) {
            self.l3.undo(undo);
            let _ = self.l3.apply(event).unwrap();
        }
    }

    /// One L3 event (add, partial cancel, delete, execute) and one L2 level update.
    fn step(&mut self) {
        let r = self.rng.below(100);
        if self.live.len() < MAX_ORDERS / 2 || (r < 48 && self.live.len() < MAX_ORDERS) {
            let side = side(&mut self.rng);
            // Closer to the touch more often: the minimum of two draws.
            let ticks = 1 + self.rng.below(L3_BAND_TICKS as usize).min(self.rng.below(L3_BAND_TICKS as usize)) as i64;
            let qty = (1 + self.rng.below(10) as i64) * LOT;
            let id = self.next_id;
            self.next_id += 1;
            self.apply(&L3Event { kind: L3Kind::Add, id, side, price: price(side, ticks), qty });
            self.live.push(id);
        } else {
            let at = self.rng.below(self.live.len());
            let id = self.live[at];
            let order = self.l3.order(id).unwrap();
            let (kind, qty) = match r {
                48..=77 => (L3Kind::Delete, order.qty),
                78..=89 => (L3Kind::Cancel, (order.qty - LOT).max(LOT)),
                _ => (L3Kind::Execute, LOT * (1 + self.rng.below((order.qty / LOT) as usize) as i64)),
            };
            self.apply(&L3Event { kind, id, side: order.side, price: order.price, qty });
            if qty == order.qty {
                self.live.swap_remove(at);
            }
        }

        let side = side(&mut self.rng);
        let ticks = 1 + self.rng.below(L2_LEVELS as usize).min(self.rng.below(L2_LEVELS as usize)) as i64;
        let qty = if self.rng.below(5) == 0 { 0 } else { (1 + self.rng.below(50) as i64) * LOT };
        let _ = self.l2.set_level(side, price(side, ticks), qty).unwrap();
    }

    /// What a sensing agent reads after an update.
    fn read(&mut self) {
        let mut depth = [Level::default(); 10];
        let n = self.l3.depth(BookSide::Bid, &mut depth) + self.l2.depth(BookSide::Ask, &mut depth);
        let id = self.live[self.rng.below(self.live.len())];
        self.checksum = self
            .checksum
            .wrapping_add(n as i64)
            .wrapping_add(self.l3.volume_within_bp(BookSide::Ask, 5))
            .wrapping_add(self.l2.volume_within_bp(BookSide::Bid, 5))
            .wrapping_add(self.l3.queue_ahead(QueueQuery::Order(id)).unwrap())
            .wrapping_add(self.l3.mid_x2().unwrap_or(0));
    }
}

fn usdm_recording() -> Vec<u8> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/binance/usdm-btcusdt-20240808.gz");
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap()).read_to_end(&mut bytes).unwrap();
    bytes
}

#[test]
fn book_updates_and_feed_decoding_allocate_nothing_after_warm_up() {
    let mut flow = Flow::new();
    for _ in 0..200_000 {
        flow.step();
    }

    let before = allocations_on_this_thread();
    for i in 0..1_000_000 {
        flow.step();
        if i % 8 == 0 {
            flow.read();
        }
    }
    let during = allocations_on_this_thread() - before;

    assert_eq!(during, 0, "allocations while applying 1M L3 events and 1M L2 updates after warm-up");
    // The stream did what it claims: the L3 book ran up to its capacity, and the L2 book is deep.
    assert!(flow.l3.order_count() > MAX_ORDERS * 3 / 4, "{} orders", flow.l3.order_count());
    assert!(flow.l2.level_count(BookSide::Bid) > 500, "{} bid levels", flow.l2.level_count(BookSide::Bid));
    assert!(flow.l3.levels(BookSide::Bid).eq(flow.l2_of_l3.levels(BookSide::Bid)));
    assert!(flow.l3.levels(BookSide::Ask).eq(flow.l2_of_l3.levels(BookSide::Ask)));
    assert!(flow.checksum != 0);

    // The Binance decoder and synchroniser over the real USD-M recording: the
    // first fifth warms them up (snapshot, buffers), the rest must not allocate.
    let bytes = usdm_recording();
    let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    let mut replay = BinanceReplay::new(Grid::new(1, 1).unwrap(), 1, 3);
    let warm_up = lines.len() / 5;
    for line in &lines[..warm_up] {
        replay.apply_feed_line(line).unwrap();
    }
    let before = allocations_on_this_thread();
    for line in &lines[warm_up..] {
        replay.apply_feed_line(line).unwrap();
    }
    let during = allocations_on_this_thread() - before;
    assert_eq!(during, 0, "allocations while decoding and applying {} feed lines", lines.len() - warm_up);
    let report = replay.report();
    assert!(report.synchronised && report.ticker_matched == report.ticker_compared && report.ticker_compared > 100);

    // Guard against passing because counting is broken. In this same test, not a
    // second one: tests of one binary run in parallel and would count each other.
    let before = allocations_on_this_thread();
    let v = std::hint::black_box(vec![1u8; 64]);
    assert_eq!(allocations_on_this_thread() - before, 1, "the counting allocator counts");
    drop(v);
}
