#![allow(clippy::unwrap_used)] // helpers in test files are test code too
//! L2 and L3 books: behaviour, properties, undo.
//!
//! The properties drive both books with random event streams. Ops are drawn
//! abstractly and turned into events against the L3 book's current state
//! ([`Driver::event`]), so that most of them hit resting orders (a purely random
//! stream would almost never name an order's own price), while `Op::Raw` keeps
//! arbitrary events (unknown ids, wrong prices, bad sizes) in the mix.
use proptest::prelude::*;
use qp_book::{
    BookError, BookRead, BookSide, Grid, L2Book, L3Book, L3Event, L3Kind, Level, OrderId, QueueQuery, RestingOrder,
};

const TICK: i64 = 100;
const LOT: i64 = 10;
/// Prices are drawn around this many ticks.
const CENTER_TICKS: i64 = 100;

fn grid() -> Grid {
    Grid::new(TICK, LOT).unwrap()
}

fn ev(kind: L3Kind, id: u64, side: BookSide, price: i64, qty: i64) -> L3Event {
    L3Event { kind, id, side, price, qty }
}

// ---------------------------------------------------------------------------
// Full observable state, for "unchanged" and "restored" comparisons.

/// One level of an L3 book as seen from outside: its total, its anonymous
/// size, and its queue of orders in FIFO order.
#[derive(Debug, Clone, PartialEq, Eq)]
struct L3LevelState {
    level: Level,
    anonymous_qty: i64,
    queue: Vec<RestingOrder>,
}

/// Everything the L3 book shows: both sides level by level with their queues,
/// and each order's `queue_ahead` (a function of the queues, compared anyway,
/// since it is what callers read).
#[derive(Debug, Clone, PartialEq, Eq)]
struct L3State {
    bids: Vec<L3LevelState>,
    asks: Vec<L3LevelState>,
    order_count: usize,
    queue_ahead: Vec<(OrderId, i64)>,
}

fn l3_side_state(book: &L3Book, side: BookSide) -> Vec<L3LevelState> {
    book.levels(side)
        .map(|level| L3LevelState {
            level,
            anonymous_qty: book.anonymous_qty(side, level.price),
            queue: book.queue(side, level.price).collect(),
        })
        .collect()
}

/// The book's state, after checking its internal consistency: each level's
/// total is its anonymous size plus its orders, no level is empty, every
/// queued order is found by id where it is queued, and sides are sorted.
fn l3_state(book: &L3Book) -> L3State {
    let bids = l3_side_state(book, BookSide::Bid);
    let asks = l3_side_state(book, BookSide::Ask);
    let mut queue_ahead = Vec::new();
    for (side, levels) in [(BookSide::Bid, &bids), (BookSide::Ask, &asks)] {
        for pair in levels.windows(2) {
            assert!(side.better(pair[0].level.price, pair[1].level.price), "{side:?} levels out of order: {levels:?}");
        }
        for l in levels {
            assert!(l.level.qty > 0 && l.anonymous_qty >= 0, "{l:?}");
            let queued: i64 = l.queue.iter().map(|o| o.qty).sum();
            assert_eq!(l.level.qty, l.anonymous_qty + queued, "level total = anonymous + orders: {l:?}");
            let mut ahead = l.anonymous_qty;
            for o in &l.queue {
                assert_eq!((o.side, o.price), (side, l.level.price), "{o:?} queued at {side:?} {}", l.level.price);
                assert_eq!(book.order(o.id), Some(*o));
                let reported = book.queue_ahead(QueueQuery::Order(o.id)).unwrap();
                assert_eq!(reported, ahead, "queue_ahead of {}", o.id);
                queue_ahead.push((o.id, reported));
                ahead += o.qty;
            }
            assert_eq!(book.queue_ahead(QueueQuery::JoinAt { side, price: l.level.price }), Ok(l.level.qty));
        }
    }
    assert_eq!(book.order_count(), queue_ahead.len(), "every order with an id is queued once");
    queue_ahead.sort_unstable();
    L3State { bids, asks, order_count: book.order_count(), queue_ahead }
}

fn l2_levels(book: &impl BookRead) -> (Vec<Level>, Vec<Level>) {
    let side = |s| (0..book.level_count(s)).map(|i| book.level(s, i).unwrap()).collect();
    (side(BookSide::Bid), side(BookSide::Ask))
}

fn l3_levels(book: &L3Book) -> (Vec<Level>, Vec<Level>) {
    (book.levels(BookSide::Bid).collect(), book.levels(BookSide::Ask).collect())
}

// ---------------------------------------------------------------------------
// Random streams.

fn side_strategy() -> impl Strategy<Value = BookSide> {
    prop_oneof![Just(BookSide::Bid), Just(BookSide::Ask)]
}

fn reduce_kind_strategy() -> impl Strategy<Value = L3Kind> {
    prop_oneof![Just(L3Kind::Cancel), Just(L3Kind::Delete), Just(L3Kind::Execute)]
}

/// A price: mostly on the grid near the center, sometimes off it or not positive.
fn price_strategy() -> impl Strategy<Value = i64> {
    prop_oneof![
        20 => (CENTER_TICKS - 12..=CENTER_TICKS + 12).prop_map(|t| t * TICK),
        1 => (CENTER_TICKS - 12..=CENTER_TICKS + 12, 1..TICK).prop_map(|(t, off)| t * TICK + off),
        1 => -TICK..=0i64,
    ]
}

/// A size: mostly whole lots, sometimes off the lot grid or not positive.
fn qty_strategy() -> impl Strategy<Value = i64> {
    prop_oneof![
        20 => (1..=8i64).prop_map(|l| l * LOT),
        1 => (1..=80i64).prop_filter("off the lot grid", |q| q % LOT != 0),
        1 => -LOT..=0i64,
    ]
}

/// An abstract update, turned into an event against the book's state by [`Driver::event`].
#[derive(Debug, Clone)]
enum Op {
    /// An event as drawn: ids 0..40 (mostly unknown), any price and size.
    Raw(L3Event),
    /// An add with a fresh id, `ticks` from the center on `side` (crossing adds are drawn too).
    Add { side: BookSide, ticks: i64, lots: i64 },
    /// Take from the `pick`-th resting order (modulo the order count): a valid
    /// size (a delete takes all), or, with `overshoot`, more than its whole level has.
    Reduce { kind: L3Kind, pick: usize, lots: i64, overshoot: bool },
    /// Take from the anonymous size of the `pick`-th level that has one, without an id.
    Anonymous { kind: L3Kind, pick: usize, lots: i64, overshoot: bool },
    /// An unknown id at a price where `side` has no level (every book refuses it).
    UnknownAtEmptyPrice { kind: L3Kind, side: BookSide, lots: i64 },
    /// A well-formed add or reduce spoiled by a price off the tick grid or a size off the lot grid.
    OffGrid { base: Box<Op>, price_off: i64, qty_off: i64 },
}

fn well_formed_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (side_strategy(), -6..=8i64, 1..=6i64).prop_map(|(side, ticks, lots)| Op::Add { side, ticks, lots }),
        4 => (reduce_kind_strategy(), any::<usize>(), 1..=6i64, prop::bool::weighted(0.15))
            .prop_map(|(kind, pick, lots, overshoot)| Op::Reduce { kind, pick, lots, overshoot }),
        1 => (reduce_kind_strategy(), any::<usize>(), 1..=3i64, prop::bool::weighted(0.2))
            .prop_map(|(kind, pick, lots, overshoot)| Op::Anonymous { kind, pick, lots, overshoot }),
        1 => (reduce_kind_strategy(), side_strategy(), 1..=3i64)
            .prop_map(|(kind, side, lots)| Op::UnknownAtEmptyPrice { kind, side, lots }),
    ]
}

/// Ops whose outcome an L2 book and an L3 book agree on.
fn agreeing_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => well_formed_op(),
        1 => (well_formed_op(), 0..TICK, 0..LOT, any::<bool>()).prop_map(|(base, p, q, price_first)| Op::OffGrid {
            base: Box::new(base),
            price_off: if price_first || q == 0 { p.max(1) } else { 0 },
            qty_off: if price_first && p != 0 { 0 } else { q.max(1) },
        }),
    ]
}

fn raw_event() -> impl Strategy<Value = L3Event> {
    let kind = prop_oneof![2 => Just(L3Kind::Add), 1 => reduce_kind_strategy()];
    (kind, 0..40u64, side_strategy(), price_strategy(), qty_strategy())
        .prop_map(|(kind, id, side, price, qty)| L3Event { kind, id, side, price, qty })
}

/// Anything: agreeing ops and raw events.
fn any_op() -> impl Strategy<Value = Op> {
    prop_oneof![4 => agreeing_op(), 1 => raw_event().prop_map(Op::Raw)]
}

/// Anonymous size on both sides to start from, the same for every book.
fn seeds_strategy() -> impl Strategy<Value = Vec<(BookSide, i64, i64)>> {
    prop::collection::vec((side_strategy(), 1..=10i64, 1..=5i64), 0..4).prop_map(|seeds| {
        seeds
            .into_iter()
            .map(|(side, depth, lots)| {
                let ticks = match side {
                    BookSide::Bid => CENTER_TICKS - depth,
                    BookSide::Ask => CENTER_TICKS + depth,
                };
                (side, ticks * TICK, lots * LOT)
            })
            .collect()
    })
}

/// Turns ops into events against the L3 book's state, handing out fresh ids.
struct Driver {
    next_id: OrderId,
}

impl Driver {
    fn new() -> Self {
        Self { next_id: 1_000 }
    }

    fn resting_orders(book: &L3Book) -> Vec<RestingOrder> {
        let mut orders = Vec::new();
        for side in [BookSide::Bid, BookSide::Ask] {
            for level in book.levels(side) {
                orders.extend(book.queue(side, level.price));
            }
        }
        orders
    }

    fn event(&mut self, op: &Op, book: &L3Book) -> L3Event {
        match *op {
            Op::Raw(event) => event,
            Op::Add { side, ticks, lots } => {
                let id = self.next_id;
                self.next_id += 1;
                let ticks = match side {
                    BookSide::Bid => CENTER_TICKS - ticks,
                    BookSide::Ask => CENTER_TICKS + ticks,
                };
                ev(L3Kind::Add, id, side, ticks * TICK, lots * LOT)
            }
            Op::Reduce { kind, pick, lots, overshoot } => {
                let orders = Self::resting_orders(book);
                if orders.is_empty() {
                    return self.event(&Op::Add { side: BookSide::Bid, ticks: 1, lots }, book);
                }
                let o = orders[pick % orders.len()];
                let qty = if overshoot {
                    book.queue_ahead(QueueQuery::JoinAt { side: o.side, price: o.price }).unwrap() + lots * LOT
                } else if kind == L3Kind::Delete {
                    o.qty
                } else {
                    (lots * LOT).min(o.qty)
                };
                ev(kind, o.id, o.side, o.price, qty)
            }
            Op::Anonymous { kind, pick, lots, overshoot } => {
                let seeded: Vec<(BookSide, Level)> = [BookSide::Bid, BookSide::Ask]
                    .into_iter()
                    .flat_map(|side| book.levels(side).map(move |l| (side, l)))
                    .filter(|(side, l)| book.anonymous_qty(*side, l.price) > 0)
                    .collect();
                if seeded.is_empty() {
                    return self.event(&Op::UnknownAtEmptyPrice { kind, side: BookSide::Ask, lots }, book);
                }
                let (side, level) = seeded[pick % seeded.len()];
                let anonymous = book.anonymous_qty(side, level.price);
                let qty = if overshoot { level.qty + lots * LOT } else { (lots * LOT).min(anonymous) };
                ev(kind, 999_999, side, level.price, qty)
            }
            Op::UnknownAtEmptyPrice { kind, side, lots } => {
                let mut ticks = CENTER_TICKS;
                while book.anonymous_qty(side, ticks * TICK) > 0 || book.queue(side, ticks * TICK).next().is_some() {
                    ticks += 1;
                }
                ev(kind, 999_998, side, ticks * TICK, lots * LOT)
            }
            Op::OffGrid { ref base, price_off, qty_off } => {
                let mut event = self.event(base, book);
                event.price += price_off;
                event.qty += qty_off;
                event
            }
        }
    }
}

fn l3_seeded(seeds: &[(BookSide, i64, i64)]) -> L3Book {
    let mut book = L3Book::new(grid());
    for &(side, price, qty) in seeds {
        let _ = book.seed_level(side, price, qty);
    }
    book
}

/// An L2 book holding what `l3` holds (its levels).
fn l2_like(l3: &L3Book) -> L2Book {
    let mut l2 = L2Book::new(grid());
    for side in [BookSide::Bid, BookSide::Ask] {
        for level in l3.levels(side) {
            let _ = l2.set_level(side, level.price, level.qty).unwrap();
        }
    }
    l2
}

/// An L2 update: an absolute size at a price (0 removes the level).
fn set_level_strategy() -> impl Strategy<Value = (BookSide, i64, i64)> {
    let qty = prop_oneof![3 => (1..=8i64).prop_map(|l| l * LOT), 1 => Just(0i64), 1 => qty_strategy()];
    (side_strategy(), price_strategy(), qty)
}

#[derive(Debug, Clone)]
enum L2Op {
    Set(BookSide, i64, i64),
    Event(L3Event),
}

fn l2_op_strategy() -> impl Strategy<Value = L2Op> {
    prop_oneof![
        set_level_strategy().prop_map(|(side, price, qty)| L2Op::Set(side, price, qty)),
        raw_event().prop_map(L2Op::Event),
    ]
}

fn apply_l2(book: &mut L2Book, op: &L2Op) -> Result<qp_book::L2Undo, BookError> {
    match *op {
        L2Op::Set(side, price, qty) => book.set_level(side, price, qty),
        L2Op::Event(event) => book.apply_l3(&event),
    }
}

// ---------------------------------------------------------------------------
// Properties.

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// After any stream of events (those that fail are refused), the L3 book is not crossed.
    #[test]
    fn l3_book_is_never_crossed(seeds in seeds_strategy(), ops in prop::collection::vec(any_op(), 1..200)) {
        let mut book = l3_seeded(&seeds);
        let mut driver = Driver::new();
        for op in &ops {
            let event = driver.event(op, &book);
            let _ = book.apply(&event);
            prop_assert!(!book.is_crossed(), "crossed after {event:?}: {:?}", l3_levels(&book));
        }
        let _ = l3_state(&book); // and internally consistent
    }

    /// After any stream of set_level updates and events, the L2 book is not crossed.
    #[test]
    fn l2_book_is_never_crossed(ops in prop::collection::vec(l2_op_strategy(), 1..300)) {
        let mut book = L2Book::new(grid());
        for op in &ops {
            let _ = apply_l2(&mut book, op);
            prop_assert!(!book.is_crossed(), "crossed after {op:?}: {:?}", l2_levels(&book));
            let (bids, asks) = l2_levels(&book);
            prop_assert!(bids.iter().chain(&asks).all(|l| l.qty > 0 && l.qty % LOT == 0 && l.price % TICK == 0));
        }
    }

    /// The L3 book aggregated by price is the L2 book fed the same events:
    /// each event is accepted by both or refused by both, and the level lists
    /// are equal after every step. Where both refuse for a reason of the event
    /// itself (grid, crossing), it is the same error.
    ///
    /// The stream holds only events whose outcome an L2 book can know: adds
    /// with fresh ids; reduces of a resting order by at most its size (a delete
    /// by exactly its size) or by more than its whole level; reduces of a
    /// level's anonymous size by at most that size or by more than the level;
    /// unknown ids where there is no level; and any of these off the grid. (An
    /// L2 book cannot refuse a duplicate id, an unknown id, a wrong price or a
    /// partial delete while the level's total covers the size; those are
    /// checked against the L3 book alone in `invalid_events_are_typed_errors_that_change_nothing`.)
    #[test]
    fn aggregated_l3_equals_l2_fed_the_same_events(
        seeds in seeds_strategy(),
        ops in prop::collection::vec(agreeing_op(), 1..200),
    ) {
        let mut l3 = l3_seeded(&seeds);
        let mut l2 = l2_like(&l3);
        let mut driver = Driver::new();
        let mut accepted = 0;
        for op in &ops {
            let event = driver.event(op, &l3);
            let r3 = l3.apply(&event);
            let r2 = l2.apply_l3(&event);
            prop_assert_eq!(r3.is_ok(), r2.is_ok(), "{:?}: L3 {:?}, L2 {:?}", event, r3, r2);
            if let (Err(e3), Err(e2)) = (&r3, &r2) {
                let event_itself = |e: &BookError| matches!(e,
                    BookError::NonPositivePrice { .. } | BookError::OffTickGrid { .. }
                    | BookError::NonPositiveQty { .. } | BookError::OffLotGrid { .. } | BookError::WouldCross { .. });
                if event_itself(e3) || event_itself(e2) {
                    prop_assert_eq!(e3, e2);
                }
            }
            accepted += usize::from(r3.is_ok());
            prop_assert_eq!(l3_levels(&l3), l2_levels(&l2), "after {:?}", event);
        }
        let _ = l3_state(&l3);
        // A long stream is not all refusals (a draw of mostly reduces on an empty book can
        // legitimately refuse most of them, so this asks for some acceptance, not a rate).
        prop_assert!(ops.len() < 30 || accepted > 0, "{accepted} of {} accepted", ops.len());
    }

    /// Applying an event then undoing it restores the L3 book exactly (queues
    /// and queue positions included), and undoing a whole sequence newest
    /// first walks back through every state it passed.
    #[test]
    fn l3_undo_restores_every_state(seeds in seeds_strategy(), ops in prop::collection::vec(any_op(), 1..150)) {
        let mut book = l3_seeded(&seeds);
        let mut driver = Driver::new();
        let mut history = Vec::new();
        for op in &ops {
            let event = driver.event(op, &book);
            let before = l3_state(&book);
            match book.apply(&event) {
                Ok(undo) => {
                    let mut single = book.clone();
                    single.undo(undo);
                    prop_assert_eq!(&l3_state(&single), &before, "apply then undo of {:?}", event);
                    history.push((before, undo));
                }
                Err(_) => prop_assert_eq!(&l3_state(&book), &before, "refused {:?} changed the book", event),
            }
        }
        while let Some((before, undo)) = history.pop() {
            book.undo(undo);
            prop_assert_eq!(&l3_state(&book), &before, "{} undos left", history.len());
        }
        prop_assert_eq!(l3_state(&book), l3_state(&l3_seeded(&seeds)));
    }

    /// The same for the L2 book, for set_level updates and events.
    #[test]
    fn l2_undo_restores_every_state(ops in prop::collection::vec(l2_op_strategy(), 1..300)) {
        let mut book = L2Book::new(grid());
        let mut history = Vec::new();
        for op in &ops {
            let before = book.clone();
            match apply_l2(&mut book, op) {
                Ok(undo) => {
                    let mut single = book.clone();
                    single.undo(undo);
                    prop_assert_eq!(&single, &before, "apply then undo of {:?}", op);
                    history.push((before, undo));
                }
                Err(_) => prop_assert_eq!(&book, &before, "refused {:?} changed the book", op),
            }
        }
        while let Some((before, undo)) = history.pop() {
            book.undo(undo);
            prop_assert_eq!(&book, &before);
        }
        prop_assert_eq!(book, L2Book::new(grid()));
    }

    /// Each kind of invalid event is its own typed error and leaves both books
    /// as they were, whatever state they are in.
    #[test]
    fn invalid_events_are_typed_errors_that_change_nothing(
        ops in prop::collection::vec(well_formed_op(), 0..120),
        pick in any::<usize>(),
        lots in 1..=4i64,
        kind in reduce_kind_strategy(),
    ) {
        // Two resting orders at least, one per side, then a random history.
        let mut l3 = L3Book::new(grid());
        let _ = l3.apply(&ev(L3Kind::Add, 1, BookSide::Bid, (CENTER_TICKS - 1) * TICK, 3 * LOT)).unwrap();
        let _ = l3.apply(&ev(L3Kind::Add, 2, BookSide::Ask, (CENTER_TICKS + 1) * TICK, 3 * LOT)).unwrap();
        let mut driver = Driver::new();
        for op in &ops {
            let event = driver.event(op, &l3);
            let _ = l3.apply(&event);
        }
        let mut l2 = l2_like(&l3);
        let orders = Driver::resting_orders(&l3);
        prop_assume!(!orders.is_empty());
        let o = orders[pick % orders.len()];
        let best_bid = l3.best_bid().map(|l| l.price);
        let best_ask = l3.best_ask().map(|l| l.price);
        let level_qty = |side, price| l3.queue_ahead(QueueQuery::JoinAt { side, price }).unwrap();
        let free_price = {
            // A price with no level on the order's side and not crossing.
            let mut ticks = o.price / TICK;
            while level_qty(o.side, ticks * TICK) > 0 {
                ticks += match o.side { BookSide::Bid => -1, BookSide::Ask => 1 };
            }
            ticks * TICK
        };
        let qty = lots * LOT;
        let new_id = 5_000_000;

        // (event, the L3 book's error, the L2 book's error if it refuses too)
        let mut cases: Vec<(L3Event, BookError, Option<BookError>)> = vec![
            (ev(kind, 777_777, o.side, free_price, qty), BookError::UnknownOrder { id: 777_777 },
                Some(BookError::LevelOverfill { side: o.side, price: free_price, resting: 0, qty })),
            (ev(kind, o.id, o.side, o.price, 0), BookError::NonPositiveQty { qty: 0 },
                Some(BookError::NonPositiveQty { qty: 0 })),
            (ev(L3Kind::Add, new_id, o.side, o.price, -qty), BookError::NonPositiveQty { qty: -qty },
                Some(BookError::NonPositiveQty { qty: -qty })),
            (ev(kind, o.id, o.side, o.price + 1, qty), BookError::OffTickGrid { price: o.price + 1, tick: TICK },
                Some(BookError::OffTickGrid { price: o.price + 1, tick: TICK })),
            (ev(L3Kind::Add, new_id, o.side, -o.price, qty), BookError::NonPositivePrice { price: -o.price },
                Some(BookError::NonPositivePrice { price: -o.price })),
            (ev(kind, o.id, o.side, o.price, o.qty + 1), BookError::OffLotGrid { qty: o.qty + 1, lot: LOT },
                Some(BookError::OffLotGrid { qty: o.qty + 1, lot: LOT })),
            (ev(L3Kind::Add, o.id, o.side, o.price, qty), BookError::DuplicateOrder { id: o.id }, None),
            (ev(kind, o.id, o.side, o.price, o.qty + qty), BookError::Overfill { id: o.id, resting: o.qty, qty: o.qty + qty },
                (o.qty + qty > level_qty(o.side, o.price)).then_some(BookError::LevelOverfill {
                    side: o.side, price: o.price, resting: level_qty(o.side, o.price), qty: o.qty + qty })),
            (ev(kind, o.id, o.side.opposite(), o.price, o.qty),
                BookError::OrderMismatch { id: o.id, side: o.side.opposite(), price: o.price, actual_side: o.side, actual_price: o.price },
                None),
            (ev(kind, o.id, o.side, free_price, o.qty),
                BookError::OrderMismatch { id: o.id, side: o.side, price: free_price, actual_side: o.side, actual_price: o.price },
                Some(BookError::LevelOverfill { side: o.side, price: free_price, resting: 0, qty: o.qty })),
        ];
        if o.qty > LOT {
            cases.push((ev(L3Kind::Delete, o.id, o.side, o.price, o.qty - LOT),
                BookError::DeleteSize { id: o.id, resting: o.qty, qty: o.qty - LOT }, None));
        }
        for (side, opposite) in [(BookSide::Bid, best_ask), (BookSide::Ask, best_bid)] {
            if let Some(opposite) = opposite {
                // At the opposite touch, and one tick through it.
                let through = match side { BookSide::Bid => opposite + TICK, BookSide::Ask => opposite - TICK };
                for price in [opposite, through] {
                    let error = BookError::WouldCross { side, price, opposite };
                    cases.push((ev(L3Kind::Add, new_id, side, price, qty), error.clone(), Some(error)));
                }
            }
        }

        for (event, l3_error, l2_error) in cases {
            let before = l3_state(&l3);
            prop_assert_eq!(l3.apply(&event), Err(l3_error), "L3 {:?}", event);
            prop_assert_eq!(&l3_state(&l3), &before, "L3 changed by {:?}", event);
            if let Some(l2_error) = l2_error {
                let before = l2.clone();
                prop_assert_eq!(l2.apply_l3(&event), Err(l2_error), "L2 {:?}", event);
                prop_assert_eq!(&l2, &before, "L2 changed by {:?}", event);
            }
        }

        // set_level refuses the same way and changes nothing.
        let before = l2.clone();
        prop_assert_eq!(l2.set_level(o.side, o.price + 1, qty), Err(BookError::OffTickGrid { price: o.price + 1, tick: TICK }));
        prop_assert_eq!(l2.set_level(o.side, o.price, qty + 3), Err(BookError::OffLotGrid { qty: qty + 3, lot: LOT }));
        prop_assert_eq!(l2.set_level(o.side, o.price, -qty), Err(BookError::NonPositiveQty { qty: -qty }));
        prop_assert_eq!(l2.set_level(o.side, 0, qty), Err(BookError::NonPositivePrice { price: 0 }));
        if let Some(opposite) = best_ask {
            prop_assert_eq!(l2.set_level(BookSide::Bid, opposite, qty),
                Err(BookError::WouldCross { side: BookSide::Bid, price: opposite, opposite }));
        }
        prop_assert_eq!(&l2, &before);
        prop_assert_eq!(l3_levels(&l3), l2_levels(&l2));
    }
}

// ---------------------------------------------------------------------------
// Hand-written cases.

#[test]
fn queue_ahead_is_fifo_behind_the_anonymous_size() {
    let mut l3 = L3Book::new(grid());
    let bid = |id, qty| ev(L3Kind::Add, id, BookSide::Bid, 10_000, qty);
    let ahead = |l3: &L3Book, id| l3.queue_ahead(QueueQuery::Order(id)).unwrap();
    l3.seed_level(BookSide::Bid, 10_000, 50).unwrap();
    for (id, qty) in [(1, 10), (2, 20), (3, 30)] {
        let _ = l3.apply(&bid(id, qty)).unwrap();
    }
    let _ = l3.apply(&ev(L3Kind::Add, 9, BookSide::Bid, 9_900, 40)).unwrap(); // another level: not ahead of anyone
    assert_eq!([ahead(&l3, 1), ahead(&l3, 2), ahead(&l3, 3)], [50, 60, 80]);
    assert_eq!(ahead(&l3, 9), 0);
    assert_eq!(l3.queue_ahead(QueueQuery::JoinAt { side: BookSide::Bid, price: 10_000 }), Ok(110));
    assert_eq!(l3.queue_ahead(QueueQuery::JoinAt { side: BookSide::Bid, price: 9_800 }), Ok(0));

    // A partial cancel keeps the order's place; those behind move up by what it lost.
    let _ = l3.apply(&ev(L3Kind::Cancel, 2, BookSide::Bid, 10_000, 10)).unwrap();
    assert_eq!([ahead(&l3, 1), ahead(&l3, 2), ahead(&l3, 3)], [50, 60, 70]);
    // An execution of the first order in full removes it.
    let _ = l3.apply(&ev(L3Kind::Execute, 1, BookSide::Bid, 10_000, 10)).unwrap();
    assert_eq!(l3.order(1), None);
    assert_eq!([ahead(&l3, 2), ahead(&l3, 3)], [50, 60]);
    // Executions of orders from before the sample (no id the book knows) eat the anonymous size.
    let _ = l3.apply(&ev(L3Kind::Execute, 424_242, BookSide::Bid, 10_000, 50)).unwrap();
    assert_eq!([ahead(&l3, 2), ahead(&l3, 3)], [0, 10]);
    assert_eq!(
        l3.apply(&ev(L3Kind::Execute, 424_242, BookSide::Bid, 10_000, 10)),
        Err(BookError::UnknownOrder { id: 424_242 })
    );
    // A new order joins the back; a deleted one leaves its place to the next.
    let _ = l3.apply(&bid(4, 10)).unwrap();
    assert_eq!(ahead(&l3, 4), 40);
    let _ = l3.apply(&ev(L3Kind::Delete, 2, BookSide::Bid, 10_000, 10)).unwrap();
    assert_eq!([ahead(&l3, 3), ahead(&l3, 4)], [0, 30]);
    assert_eq!(l3.queue(BookSide::Bid, 10_000).map(|o| o.id).collect::<Vec<_>>(), [3, 4]);
    assert_eq!(l3.queue_ahead(QueueQuery::Order(2)), Err(BookError::UnknownOrder { id: 2 }));

    // An L2 book has no orders to ask about.
    let l2 = l2_like(&l3);
    assert_eq!(l2.queue_ahead(QueueQuery::Order(3)), Err(BookError::NoOrderIdentity));
    assert_eq!(l2.queue_ahead(QueueQuery::JoinAt { side: BookSide::Bid, price: 10_000 }), Ok(40));
}

#[test]
fn undo_of_a_removal_puts_the_order_back_in_its_place() {
    let mut l3 = L3Book::new(grid());
    for id in 1..=4 {
        let _ = l3.apply(&ev(L3Kind::Add, id, BookSide::Ask, 10_100, 10 * id as i64)).unwrap();
    }
    let ids = |l3: &L3Book| l3.queue(BookSide::Ask, 10_100).map(|o| o.id).collect::<Vec<_>>();
    for removed in 1..=4 {
        let before = l3_state(&l3);
        let undo = l3.apply(&ev(L3Kind::Delete, removed, BookSide::Ask, 10_100, 10 * removed as i64)).unwrap();
        assert!(!ids(&l3).contains(&removed));
        l3.undo(undo);
        assert_eq!(l3_state(&l3), before);
        assert_eq!(ids(&l3), [1, 2, 3, 4]);
    }
}

/// The boundary of `volume_within_bp` is exact and inclusive: |price − mid| · 10,000 ≤ mid · bp.
#[test]
fn volume_within_bp_is_exact_at_the_boundary() {
    let grid = Grid::new(1, 1).unwrap();
    let mut l2 = L2Book::new(grid);
    // mid = 10,000: 15 bp of it is exactly 15 price units.
    for (side, price, qty) in [
        (BookSide::Bid, 9_990, 1),
        (BookSide::Bid, 9_985, 2), // exactly 15 bp below the mid: in
        (BookSide::Bid, 9_984, 4), // 16 units: out
        (BookSide::Ask, 10_010, 8),
        (BookSide::Ask, 10_015, 16), // exactly 15 bp above: in
        (BookSide::Ask, 10_016, 32),
    ] {
        let _ = l2.set_level(side, price, qty).unwrap();
    }
    let mut l3 = L3Book::new(grid);
    for (i, side) in [BookSide::Bid, BookSide::Ask].into_iter().enumerate() {
        for level in l2.levels(side) {
            let _ =
                l3.apply(&ev(L3Kind::Add, (i * 100) as u64 + level.qty as u64, side, level.price, level.qty)).unwrap();
        }
    }
    assert_eq!(l2.mid_x2(), Some(20_000));
    for book in [&l2 as &dyn BookRead, &l3] {
        assert_eq!(book.volume_within_bp(BookSide::Bid, 15), 3);
        assert_eq!(book.volume_within_bp(BookSide::Ask, 15), 24);
        assert_eq!(book.volume_within_bp(BookSide::Bid, 14), 1); // 14 bp = 14 units: 9,985 is just out
        assert_eq!(book.volume_within_bp(BookSide::Ask, 16), 56);
        assert_eq!(book.volume_within_bp(BookSide::Bid, 0), 0);
        assert_eq!(book.volume_within_bp(BookSide::Bid, u32::MAX), 7);
    }

    // A mid between ticks (9,999.5): 1 bp is 0.99995 units, so only the touch levels at 0.5 are in.
    let mut l2 = L2Book::new(grid);
    for (side, price) in
        [(BookSide::Bid, 9_999), (BookSide::Bid, 9_998), (BookSide::Ask, 10_000), (BookSide::Ask, 10_001)]
    {
        let _ = l2.set_level(side, price, 1).unwrap();
    }
    assert_eq!(l2.mid_x2(), Some(19_999));
    assert_eq!((l2.volume_within_bp(BookSide::Bid, 1), l2.volume_within_bp(BookSide::Ask, 1)), (1, 1));
    // 3 bp of 9,999.5 is 2.99985: 1.5 away is in, 2.5 away is in, 3.5 is not.
    let _ = l2.set_level(BookSide::Bid, 9_997, 1).unwrap();
    let _ = l2.set_level(BookSide::Bid, 9_996, 1).unwrap();
    assert_eq!(l2.volume_within_bp(BookSide::Bid, 3), 3);

    // One-sided books have no mid.
    let mut one_sided = L2Book::new(grid);
    let _ = one_sided.set_level(BookSide::Bid, 100, 5).unwrap();
    assert_eq!(one_sided.mid_x2(), None);
    assert_eq!(one_sided.volume_within_bp(BookSide::Bid, 10_000), 0);

    // Prices so large that twice the mid does not fit an i64: no overflow.
    let mut huge = L2Book::new(grid);
    let top = i64::MAX - 10;
    let _ = huge.set_level(BookSide::Ask, top, 3).unwrap();
    let _ = huge.set_level(BookSide::Bid, top - 2, 5).unwrap();
    let _ = huge.set_level(BookSide::Bid, top / 2, 7).unwrap();
    assert_eq!(huge.mid_x2(), None);
    assert_eq!(huge.volume_within_bp(BookSide::Bid, 0), 0);
    assert_eq!(huge.volume_within_bp(BookSide::Bid, 1), 5);
    assert_eq!(huge.volume_within_bp(BookSide::Bid, 10_000), 12); // 100%: everything down to price 0
}

#[test]
fn depth_copies_levels_best_first() {
    let mut l2 = L2Book::new(grid());
    let mut l3 = L3Book::new(grid());
    for (i, ticks) in [97, 99, 95, 98, 96].into_iter().enumerate() {
        let _ = l2.set_level(BookSide::Bid, ticks * TICK, (i as i64 + 1) * LOT).unwrap();
        let _ = l3.apply(&ev(L3Kind::Add, i as u64, BookSide::Bid, ticks * TICK, (i as i64 + 1) * LOT)).unwrap();
    }
    let _ = l2.set_level(BookSide::Ask, 101 * TICK, LOT).unwrap();
    let _ = l3.apply(&ev(L3Kind::Add, 50, BookSide::Ask, 101 * TICK, LOT)).unwrap();
    let expected =
        [(99, 2), (98, 4), (97, 1), (96, 5), (95, 3)].map(|(t, lots)| Level { price: t * TICK, qty: lots * LOT });
    for book in [&l2 as &dyn BookRead, &l3] {
        let mut out = [Level::default(); 3];
        assert_eq!(book.depth(BookSide::Bid, &mut out), 3);
        assert_eq!(out, expected[..3]);
        let mut out = [Level::default(); 8];
        assert_eq!(book.depth(BookSide::Bid, &mut out), 5);
        assert_eq!(out[..5], expected);
        assert_eq!(out[5..], [Level::default(); 3]);
        assert_eq!(book.depth(BookSide::Ask, &mut out), 1);
        assert_eq!(out[0], Level { price: 101 * TICK, qty: LOT });
        assert_eq!(book.depth(BookSide::Bid, &mut []), 0);
        assert_eq!(book.level(BookSide::Bid, 5), None);
        assert_eq!(book.level(BookSide::Bid, usize::MAX), None);
        assert_eq!(book.best_bid(), Some(expected[0]));
        assert_eq!(book.mid_x2(), Some(200 * TICK));
    }
    let empty = L2Book::new(grid());
    assert_eq!(empty.depth(BookSide::Ask, &mut [Level::default(); 4]), 0);
    assert_eq!(empty.best_ask(), None);
    assert!(!empty.is_crossed());
}

#[test]
fn a_grid_written_by_hand_with_a_zero_step_is_refused_not_a_panic() {
    assert_eq!(Grid::new(0, 1), Err(BookError::InvalidGrid { tick: 0, lot: 1 }));
    assert_eq!(Grid::new(1, -1), Err(BookError::InvalidGrid { tick: 1, lot: -1 }));
    let bad = Grid { tick: 0, lot: 0 };
    assert_eq!(bad.check_price(100), Err(BookError::InvalidGrid { tick: 0, lot: 0 }));
    assert_eq!(bad.check_qty(100), Err(BookError::InvalidGrid { tick: 0, lot: 0 }));
    let mut l2 = L2Book::new(bad);
    assert!(l2.set_level(BookSide::Bid, 100, 1).is_err());
    let mut l3 = L3Book::new(bad);
    assert!(l3.apply(&ev(L3Kind::Add, 1, BookSide::Bid, 100, 1)).is_err());
}

#[test]
fn sizes_that_would_overflow_are_refused() {
    let grid = Grid::new(1, 1).unwrap();
    let big = i64::MAX - 5;
    let mut l2 = L2Book::new(grid);
    let _ = l2.set_level(BookSide::Bid, 100, big).unwrap();
    let before = l2.clone();
    assert_eq!(
        l2.apply_l3(&ev(L3Kind::Add, 1, BookSide::Bid, 100, 10)),
        Err(BookError::SizeOverflow { side: BookSide::Bid, price: 100, resting: big, qty: 10 })
    );
    assert_eq!(l2, before);

    let mut l3 = L3Book::new(grid);
    let _ = l3.apply(&ev(L3Kind::Add, 1, BookSide::Ask, 100, big)).unwrap();
    let before = l3_state(&l3);
    assert_eq!(
        l3.apply(&ev(L3Kind::Add, 2, BookSide::Ask, 100, 10)),
        Err(BookError::SizeOverflow { side: BookSide::Ask, price: 100, resting: big, qty: 10 })
    );
    assert_eq!(
        l3.seed_level(BookSide::Ask, 100, 10).unwrap_err(),
        BookError::SizeOverflow { side: BookSide::Ask, price: 100, resting: big, qty: 10 }
    );
    assert_eq!(l3_state(&l3), before);
    assert_eq!(l3.order(2), None);
}

#[test]
fn clear_empties_a_book_that_then_works_as_new() {
    let mut l3 = L3Book::with_capacity(grid(), 16, 4);
    let mut l2 = L2Book::with_capacity(grid(), 4);
    for id in 0..40u64 {
        let e = ev(L3Kind::Add, id, BookSide::Bid, (90 + (id % 7) as i64) * TICK, LOT);
        let _ = l3.apply(&e).unwrap();
        let _ = l2.apply_l3(&e).unwrap();
    }
    assert_eq!(l3.order_count(), 40);
    assert_eq!(l3_levels(&l3), l2_levels(&l2));
    l3.clear();
    l2.clear();
    assert_eq!((l3.order_count(), l3.level_count(BookSide::Bid), l2.level_count(BookSide::Bid)), (0, 0, 0));
    let _ = l3.apply(&ev(L3Kind::Add, 0, BookSide::Ask, 100 * TICK, LOT)).unwrap();
    assert_eq!(l3.queue_ahead(QueueQuery::Order(0)), Ok(0));
    assert_eq!(l3.best_ask(), Some(Level { price: 100 * TICK, qty: LOT }));
    assert_eq!(l3.grid(), grid());
    assert_eq!(l2.grid(), grid());
}

/// Deep books: lookups past the levels scanned at the touch go through the
/// binary search; both paths must agree with a plain sorted model.
#[test]
fn deep_books_find_insert_and_remove_every_level() {
    let grid = Grid::new(1, 1).unwrap();
    let mut l2 = L2Book::with_capacity(grid, 8);
    let mut l3 = L3Book::with_capacity(grid, 8, 8);
    let mut model: std::collections::BTreeMap<(bool, i64), i64> = std::collections::BTreeMap::new();
    let mut x = 12_345u64;
    let mut draw = |n: u64| {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (x >> 33) % n
    };
    for step in 0..6_000u64 {
        let side = if draw(2) == 0 { BookSide::Bid } else { BookSide::Ask };
        let price = match side {
            BookSide::Bid => 1_000 - 1 - draw(300) as i64,
            BookSide::Ask => 1_000 + 1 + draw(300) as i64,
        };
        let key = (side == BookSide::Bid, price);
        let resting = model.get(&key).copied().unwrap_or(0);
        if resting > 0 && draw(3) == 0 {
            let _ = l2.set_level(side, price, 0).unwrap();
            // The L3 level goes order by order: its anonymous size, then its queue.
            let _ = l3.apply(&ev(L3Kind::Execute, 0, side, price, l3.anonymous_qty(side, price))).unwrap();
            for o in l3.queue(side, price).collect::<Vec<_>>() {
                let _ = l3.apply(&ev(L3Kind::Delete, o.id, side, price, o.qty)).unwrap();
            }
            model.remove(&key);
        } else {
            let qty = 1 + draw(9) as i64;
            let _ = l2.set_level(side, price, resting + qty).unwrap();
            if resting == 0 {
                l3.seed_level(side, price, qty).unwrap();
            } else {
                let _ = l3.apply(&ev(L3Kind::Add, step + 1, side, price, qty)).unwrap();
            }
            model.insert(key, resting + qty);
        }
        if step % 500 == 0 || step > 5_990 {
            let bids: Vec<Level> =
                model.range((true, 0)..).rev().map(|(&(_, price), &qty)| Level { price, qty }).collect();
            let asks: Vec<Level> = model.range(..(true, 0)).map(|(&(_, price), &qty)| Level { price, qty }).collect();
            assert_eq!(l2_levels(&l2), (bids.clone(), asks.clone()));
            assert_eq!(l3_levels(&l3), (bids, asks));
            for (&(is_bid, price), &qty) in &model {
                let side = if is_bid { BookSide::Bid } else { BookSide::Ask };
                assert_eq!(l2.qty_at(side, price), qty);
                assert_eq!(l2.qty_at(side.opposite(), price), 0);
            }
        }
    }
    assert!(l2.level_count(BookSide::Bid) > 200 && l2.level_count(BookSide::Ask) > 200);
    let _ = l3_state(&l3);
}
