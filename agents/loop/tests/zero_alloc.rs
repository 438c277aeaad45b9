#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! The hot path allocates nothing after warm-up: the five steps with the real ingest agents,
//! and the headline bench's path from news text to FIX order bytes.
//!
//! This is its own test binary (the crate's other tests live in `loop.rs`)
//! because a counting global allocator counts every thread of the process: any
//! test running beside it would be counted too. For the same reason it is one test.

use qp_alloc_counter::{CountingAllocator, allocations};
use std::cell::Cell;

use qp_loop::bench::{HeadlineLoopBench, SyntheticMarket, deciding_every_confirmed, synthetic_history};
use qp_loop::{FiveStepLoop, LoopConfig};
use qp_wire::FrameType;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const HEADLINES: [&str; 2] =
    ["Bitcoin surges to a record as ETF inflows jump", "Bitcoin plunges after exchange hack, analysts see losses"];

/// One loop iteration through all five steps with the real ingest agents: a
/// depth diff (decoded, applied to the book, scanned, its changed top published as a
/// quote) and a headline that confirm each other, then wait for the order. RiskSentinel
/// checks it against the quote; the stand-in execution's report of the previous order
/// (expired unfilled) goes back to it on the next iteration.
fn iteration(five_step: &mut FiveStepLoop, market: &mut SyntheticMarket, i: u64, intents: &Cell<u64>) {
    let bullish = i.is_multiple_of(2);
    // 1.2 s apart: past AlphaScanner's 1 s imbalance window, so each diff's flow stands alone.
    let ts = 1_000_000_000 + i * 1_200_000_000;
    let (bid, ask) = if bullish { (9_000, 1_000) } else { (1_000, 9_000) };
    let arrived = Cell::new(false);
    let on_output = |frame: &qp_wire::FrameBuf| {
        let frame_type = frame.header().frame_type.get();
        if frame_type == FrameType::OrderIntent as u16 {
            intents.set(intents.get() + 1);
        }
        // Risk's record of the decision comes out ahead of its intent.
        arrived.set(arrived.get() || frame_type != FrameType::Decision as u16);
    };
    five_step.ingest_market(0, ts, market.depth(bid, ask), on_output);
    five_step.ingest_headline(ts, HEADLINES[(i % 2) as usize], on_output);
    while !arrived.get() {
        if !five_step.poll_output(on_output) {
            std::hint::spin_loop();
        }
    }
}

#[test]
fn the_five_step_loop_allocates_nothing_after_warm_up() {
    // One decision per Confirmed (threshold 0, no quote cadence): each iteration ends in an
    // order. The model runs on every one; the cadence path is qp-alpha's own zero-alloc test.
    let config = deciding_every_confirmed(&LoopConfig::embedded_default().unwrap());
    let mut five_step = FiveStepLoop::start(&config, &synthetic_history(config.assets.len())).unwrap();
    let intents = Cell::new(0);
    let mut market = SyntheticMarket::default();
    five_step.ingest_market(0, 0, market.snapshot(1_000, 1_000), |_| {});
    five_step.ingest_market(0, 1, market.depth(1_000, 1_000), |_| {});
    for i in 0..10_000 {
        iteration(&mut five_step, &mut market, i, &intents);
    }
    assert_eq!(intents.get(), 10_000, "warm-up: every iteration ends in an order intent");

    let before = allocations();
    for i in 10_000..110_000 {
        iteration(&mut five_step, &mut market, i, &intents);
    }
    let during = allocations() - before;

    assert_eq!(intents.get(), 110_000, "100,000 measured iterations, each an order intent");
    assert_eq!(during, 0, "allocations on the hot path after warm-up");
    assert!(five_step.quotes_published() >= 110_000, "a quote per diff: {}", five_step.quotes_published());
    assert!(five_step.approved_orders() >= 109_999, "the execution side took the approvals");
    let stats = five_step.finish(|_| {}).unwrap();
    assert!(stats.iter().all(|s| s.decode_errors == 0 && s.agent_errors == 0), "{stats:?}");

    headline_bench_path_allocates_nothing_after_warm_up();

    // Guard against passing because counting is broken. In this same test, not a
    // second one: tests of one binary run in parallel and would count each other.
    let before = allocations();
    let v = std::hint::black_box(vec![1u8; 64]);
    assert_eq!(allocations() - before, 1, "the counting allocator counts");
    drop(v);
}

/// News text in → order bytes ready, as `qpctl bench loop` times it: a depth diff, a headline
/// SentimentX scores, Confirm, Decide, RiskSentinel, the intent back on the feeder thread and
/// the order gateway's NewOrderSingle into an offline FIX session, with the bench's own
/// timing (histograms) included. Runs after the test above has stopped its loop. Fewer
/// iterations than above: libtest's own "running for over 60 seconds" notice allocates (on its
/// thread, which the allocator counts too), and a debug build on a busy machine gets near.
fn headline_bench_path_allocates_nothing_after_warm_up() {
    let config = LoopConfig::embedded_default().unwrap();
    let mut bench = HeadlineLoopBench::start(&config, 55_000).unwrap();
    for i in 0..5_000 {
        bench.iteration(i).unwrap();
    }
    assert_eq!(bench.order_intents(), 5_000, "warm-up: every headline ends in an order intent");
    bench.reset();

    let before = allocations();
    for i in 5_000..55_000 {
        bench.iteration(i).unwrap();
    }
    let during = allocations() - before;

    assert_eq!((bench.order_intents(), bench.vetoes()), (50_000, 0), "each measured headline an order intent");
    assert_eq!(bench.orders_sent(), 55_000, "each intent encoded as a NewOrderSingle");
    assert_eq!(during, 0, "allocations from news text to order bytes after warm-up");
    let report = bench.finish(50_000, 5_000, "last message").unwrap();
    assert!(report.order_bytes > 0);
    assert!(report.stage_stats.iter().all(|s| s.decode_errors == 0 && s.agent_errors == 0), "{:?}", report.stage_stats);
}
