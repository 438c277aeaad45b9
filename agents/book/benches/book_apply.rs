//! Book update latency on realistic state.
//!
//! Targets: an L2 delta (`set_level` near the touch, ~1,000 levels a side as on
//! Binance futures) p99 ≤ 200 ns; an L3 add / cancel / execute (a few thousand
//! orders over ~100 levels) p99 ≤ 300 ns each.
//!
//! Criterion reports means. The targets are p99s, so after the criterion groups
//! this bench also times single operations (`qp_runtime::PerCallTimer`: the
//! clock read on each side of one update, its own median cost subtracted) and
//! prints p50 / p99 / p99.9 / max per operation.
//!
//! The flows are generated (SplitMix64, fixed seeds), shaped like the LOBSTER
//! AAPL sample's message mix: adds land closer to the touch more often,
//! cancels hit random resting orders (three in four delete the whole order,
//! as LOBSTER's deletions outnumber its partial cancels), executions walk the
//! best level's queue from its head (some fill an order in two trades).
#![allow(clippy::expect_used)] // a bench that cannot build its book has nothing to measure

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use qp_book::{BookRead, BookSide, Grid, L2Book, L3Book, L3Event, L3Kind, OrderId, RestingOrder};
use qp_runtime::{PerCallTimer, clock_overhead_ns};
use qp_seeded_random::SplitMix64;

const TICK: i64 = 10;
const LOT: i64 = 1_000;
const CENTER: i64 = 600_000 * TICK;

/// The flows' draws beyond [`SplitMix64`]'s own.
trait BookDraws {
    /// Bid or ask, from the lowest bit of a draw.
    fn side(&mut self) -> BookSide;
    /// 1..=n, nearer 1 more often (the smaller of two uniform draws).
    fn near_touch(&mut self, n: usize) -> i64;
}

impl BookDraws for SplitMix64 {
    fn side(&mut self) -> BookSide {
        if self.next_u64() & 1 == 0 { BookSide::Bid } else { BookSide::Ask }
    }
    fn near_touch(&mut self, n: usize) -> i64 {
        1 + self.below(n).min(self.below(n)) as i64
    }
}

fn price(side: BookSide, ticks: i64) -> i64 {
    match side {
        BookSide::Bid => CENTER - ticks * TICK,
        BookSide::Ask => CENTER + ticks * TICK,
    }
}

fn grid() -> Grid {
    Grid::new(TICK, LOT).expect("constant grid")
}

// ---------------------------------------------------------------------------
// L2: absolute level updates on a 1,000-level book.

const L2_LEVELS: i64 = 1_000;
const L2_UPDATES: usize = 1 << 16;

struct L2Flow {
    book: L2Book,
    updates: Vec<(BookSide, i64, i64)>,
    next: usize,
}

impl L2Flow {
    /// `deep_percent` of the updates land anywhere in the 1,000 levels, the
    /// rest within 20 ticks of the center; one in seven removes its level.
    fn new(deep_percent: usize, seed: u64) -> Self {
        let mut book = L2Book::with_capacity(grid(), 2 * L2_LEVELS as usize);
        let mut rng = SplitMix64::new(seed);
        for side in [BookSide::Bid, BookSide::Ask] {
            for ticks in 1..=L2_LEVELS {
                let _ =
                    book.set_level(side, price(side, ticks), (1 + rng.below(100) as i64) * LOT).expect("seed level");
            }
        }
        let updates = (0..L2_UPDATES)
            .map(|_| {
                let side = rng.side();
                let ticks =
                    if rng.below(100) < deep_percent { rng.near_touch(L2_LEVELS as usize) } else { rng.near_touch(20) };
                let qty = if rng.below(7) == 0 { 0 } else { (1 + rng.below(100) as i64) * LOT };
                (side, price(side, ticks), qty)
            })
            .collect();
        Self { book, updates, next: 0 }
    }

    #[inline]
    fn step(&mut self) -> bool {
        let (side, price, qty) = self.updates[self.next % L2_UPDATES];
        self.next += 1;
        black_box(self.book.set_level(side, price, qty)).is_ok()
    }
}

// ---------------------------------------------------------------------------
// L3: ~4,000 orders over ~100 levels (50 a side).

const L3_LEVELS_PER_SIDE: usize = 50;
const L3_ORDERS: usize = 4_000;
/// Operations timed between two untimed restores of the book's shape.
const BLOCK: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum L3Op {
    Add,
    Cancel,
    Execute,
}

struct L3Flow {
    book: L3Book,
    rng: SplitMix64,
    /// Ids that may still rest (stale ones are skipped when drawn).
    live: Vec<OrderId>,
    next_id: OrderId,
    /// The block to time.
    events: Vec<L3Event>,
    /// Orders partly cancelled in the block, drawn again later.
    kept: Vec<OrderId>,
    execute_side: BookSide,
}

impl L3Flow {
    fn new(seed: u64) -> Self {
        let mut flow = Self {
            book: L3Book::with_capacity(grid(), 2 * L3_ORDERS, 4 * L3_LEVELS_PER_SIDE),
            rng: SplitMix64::new(seed),
            live: Vec::with_capacity(4 * L3_ORDERS),
            next_id: 1,
            events: Vec::with_capacity(2 * BLOCK),
            kept: Vec::with_capacity(BLOCK),
            execute_side: BookSide::Bid,
        };
        for _ in 0..L3_ORDERS {
            let add = flow.new_add(None);
            flow.apply_untimed(&add);
        }
        flow
    }

    fn new_add(&mut self, side: Option<BookSide>) -> L3Event {
        let side = side.unwrap_or_else(|| self.rng.side());
        let ticks = self.rng.near_touch(L3_LEVELS_PER_SIDE);
        let qty = (1 + self.rng.below(20) as i64) * LOT;
        let id = self.next_id;
        self.next_id += 1;
        L3Event { kind: L3Kind::Add, id, side, price: price(side, ticks), qty }
    }

    fn apply_untimed(&mut self, event: &L3Event) {
        let _ = self.book.apply(event).expect("untimed update");
        if event.kind == L3Kind::Add {
            self.live.push(event.id);
        }
    }

    /// A random resting order, taken out of `live`.
    fn draw_resting(&mut self) -> RestingOrder {
        loop {
            let at = self.rng.below(self.live.len());
            let id = self.live.swap_remove(at);
            if let Some(order) = self.book.order(id) {
                return order;
            }
        }
    }

    /// Fill `events` with the next block of `op`s, each valid after the ones before it.
    fn prepare(&mut self, op: L3Op, n: usize) {
        self.events.clear();
        match op {
            L3Op::Add => {
                for _ in 0..n {
                    let add = self.new_add(None);
                    self.events.push(add);
                }
            }
            L3Op::Cancel => {
                for _ in 0..n {
                    let o = self.draw_resting();
                    let lots = o.qty / LOT;
                    let (kind, qty) = if lots > 1 && self.rng.below(4) == 0 {
                        self.kept.push(o.id);
                        (L3Kind::Cancel, (1 + self.rng.below(lots as usize - 1) as i64) * LOT)
                    } else {
                        (L3Kind::Delete, o.qty)
                    };
                    self.events.push(L3Event { kind, id: o.id, side: o.side, price: o.price, qty });
                }
            }
            L3Op::Execute => {
                let side = self.execute_side;
                self.execute_side = side.opposite();
                let Self { book, events, rng, .. } = self;
                'walk: for level in book.levels(side) {
                    for o in book.queue(side, level.price) {
                        let lots = o.qty / LOT;
                        let first = if lots > 1 && rng.below(3) == 0 {
                            (1 + rng.below(lots as usize - 1) as i64) * LOT
                        } else {
                            o.qty
                        };
                        for qty in [first, o.qty - first] {
                            if qty > 0 && events.len() < n {
                                events.push(L3Event { kind: L3Kind::Execute, id: o.id, side, price: o.price, qty });
                            }
                        }
                        if events.len() >= n {
                            break 'walk;
                        }
                    }
                }
            }
        }
    }

    /// After a timed block: put the book back to its usual shape.
    fn restore(&mut self, op: L3Op) {
        match op {
            L3Op::Add => {
                for i in 0..self.events.len() {
                    self.live.push(self.events[i].id);
                }
                for _ in 0..self.events.len() {
                    let o = self.draw_resting();
                    self.apply_untimed(&L3Event {
                        kind: L3Kind::Delete,
                        id: o.id,
                        side: o.side,
                        price: o.price,
                        qty: o.qty,
                    });
                }
            }
            L3Op::Cancel | L3Op::Execute => {
                self.live.append(&mut self.kept);
                let side = (op == L3Op::Execute).then_some(self.execute_side.opposite());
                while self.book.order_count() < L3_ORDERS {
                    let add = self.new_add(side);
                    self.apply_untimed(&add);
                }
            }
        }
        if self.live.len() > 3 * L3_ORDERS {
            let book = &self.book;
            self.live.retain(|&id| book.order(id).is_some());
        }
    }

    /// Time `n` ops of one kind as blocks (criterion's mean).
    fn time_blocks(&mut self, op: L3Op, n: u64) -> Duration {
        let mut total = Duration::ZERO;
        let mut done = 0u64;
        while done < n {
            let size = (n - done).min(BLOCK as u64) as usize;
            self.prepare(op, size);
            let start = Instant::now();
            let mut ok = true;
            for event in &self.events {
                ok &= black_box(self.book.apply(black_box(event))).is_ok();
            }
            total += start.elapsed();
            assert!(ok, "a timed {op:?} was refused");
            self.restore(op);
            done += size as u64;
        }
        total
    }

    /// Time `n` ops of one kind one by one.
    fn time_each(&mut self, op: L3Op, n: usize, timer: &mut PerCallTimer) {
        let mut done = 0;
        while done < n {
            self.prepare(op, BLOCK);
            let mut ok = true;
            for event in &self.events {
                ok &= timer.time(|| self.book.apply(black_box(event))).is_ok();
            }
            assert!(ok, "a timed {op:?} was refused");
            done += self.events.len();
            self.restore(op);
        }
    }
}

// ---------------------------------------------------------------------------
// Criterion: means.

fn l2_delta(c: &mut Criterion) {
    let mut flow = L2Flow::new(10, 1);
    c.bench_function("l2/set_level_near_touch_1000_levels", |b| {
        b.iter(|| assert!(flow.step()));
    });
}

fn l3_ops(c: &mut Criterion) {
    let mut group = c.benchmark_group("l3");
    for (name, op) in [("add", L3Op::Add), ("cancel", L3Op::Cancel), ("execute", L3Op::Execute)] {
        let mut flow = L3Flow::new(2);
        group.bench_function(format!("{name}_4000_orders_100_levels"), |b| {
            b.iter_custom(|iters| flow.time_blocks(op, iters));
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = l2_delta, l3_ops
}

// ---------------------------------------------------------------------------
// Percentiles of single operations.

fn report(name: &str, timer: &PerCallTimer, target_ns: Option<u64>, smoke: bool) {
    let p = timer.percentiles();
    let verdict = match target_ns.filter(|_| !smoke) {
        Some(t) if p.p99_ns <= t => format!("p99 ≤ {t} ns: met"),
        Some(t) => format!("p99 ≤ {t} ns: MISSED"),
        None => String::new(),
    };
    println!("{name:<42} {:>9} {:>7} {:>7} {:>7} {:>9}   {verdict}", p.count, p.p50_ns, p.p99_ns, p.p999_ns, p.max_ns);
}

fn percentiles(smoke: bool) {
    let (l2_ops, l3_ops) = if smoke { (10_000, 5_000) } else { (2_000_000, 1_000_000) };
    let clock_ns = clock_overhead_ns();
    println!();
    let run = if smoke { "smoke run, not a measurement" } else { "clock overhead subtracted from each sample" };
    println!("single-operation latency, ns ({run}: clock overhead {clock_ns} ns)");
    println!("{:<42} {:>9} {:>7} {:>7} {:>7} {:>9}", "operation", "count", "p50", "p99", "p99.9", "max");

    for (name, deep_percent, target) in
        [("l2/set_level (90% ≤ 20 ticks, 10% any)", 10, Some(200)), ("l2/set_level (uniform-ish over 1000)", 100, None)]
    {
        let mut flow = L2Flow::new(deep_percent, 3);
        for _ in 0..L2_UPDATES {
            let _ = flow.step();
        }
        let mut timer = PerCallTimer::with_overhead(clock_ns);
        let mut ok = 0usize;
        for _ in 0..l2_ops {
            ok += usize::from(timer.time(|| flow.step()));
        }
        assert_eq!(ok, l2_ops, "every L2 update applies");
        report(name, &timer, target, smoke);
    }

    for (name, op) in [("l3/add", L3Op::Add), ("l3/cancel (75% delete)", L3Op::Cancel), ("l3/execute", L3Op::Execute)] {
        let mut flow = L3Flow::new(4);
        let mut timer = PerCallTimer::with_overhead(clock_ns);
        flow.time_each(op, l3_ops / 10, &mut timer); // warm-up
        timer.reset();
        flow.time_each(op, l3_ops, &mut timer);
        report(name, &timer, Some(300), smoke);
        let levels = flow.book.level_count(BookSide::Bid) + flow.book.level_count(BookSide::Ask);
        println!("{:<42} (book after: {} orders, {levels} levels)", "", flow.book.order_count());
    }
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and runs
    // each criterion bench once: keep the percentiles a smoke run there too.
    let measured = std::env::args().any(|a| a == "--bench");
    percentiles(!measured);
}
