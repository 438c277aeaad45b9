#![allow(clippy::unwrap_used)] // helpers in test files are test code too
use std::time::{Duration, Instant};

use qp_runtime::*;
use qp_wire::*;

/// Passes sentiment frames through, adding `add` to the score (clamped), so the
/// test can see every stage touched the frame.
struct Bump {
    add: i8,
    fail_on_score: Option<i8>,
}

impl Agent for Bump {
    fn name(&self) -> &'static str {
        "bump"
    }
    fn on_frame(&mut self, _ctx: AgentContext, frame: FrameRef<'_>, out: &mut Outbox) -> Result<(), AgentError> {
        let FrameRef::Sentiment(f) = frame else {
            return Err(AgentError::UnexpectedFrame { agent: "bump", frame_type: frame.frame_type() });
        };
        if Some(f.payload.score) == self.fail_on_score {
            return Err(AgentError::Rejected { agent: "bump", detail: "poisoned score" });
        }
        let mut next = *f.payload;
        next.score = (next.score + self.add).clamp(SCORE_MIN, SCORE_MAX);
        out.derive(f.header, &next)
    }
}

/// Sleeps on every frame: a slow consumer to fill rings.
struct Slow;
impl Agent for Slow {
    fn name(&self) -> &'static str {
        "slow"
    }
    fn on_frame(&mut self, _ctx: AgentContext, frame: FrameRef<'_>, out: &mut Outbox) -> Result<(), AgentError> {
        std::thread::sleep(Duration::from_micros(50));
        if let FrameRef::Sentiment(f) = frame {
            out.derive(f.header, f.payload)?;
        }
        Ok(())
    }
}

fn signal(seq: u64, score: i8) -> FrameBuf {
    let mut buf = FrameBuf::encode(1, seq, &SentimentSignal::new(AssetId::from_wire(1), score, 5_000, 0, 1));
    buf.stamp(Stage::Ingest, clock::monotonic_ns());
    buf
}

fn three_stages(placement: Placement) -> Pipeline {
    Pipeline::builder()
        .stage(Stage::Confirm, Box::new(Bump { add: 1, fail_on_score: None }))
        .stage(Stage::Decide, Box::new(Bump { add: 1, fail_on_score: None }))
        .stage(Stage::Risk, Box::new(Bump { add: 1, fail_on_score: None }))
        .ring_capacity(64)
        .placement(placement)
        .pin_threads(false)
        .start()
        .unwrap()
}

fn run_through(mut pipeline: Pipeline, frames: u64) -> Vec<FrameBuf> {
    let mut out = Vec::new();
    for seq in 0..frames {
        pipeline.push(signal(seq, (seq % 5) as i8 - 5), |f| out.push(*f));
    }
    pipeline.finish(|f| out.push(*f)).unwrap();
    out
}

#[test]
fn frames_pass_every_stage_in_order_under_every_placement() {
    for placement in
        [Placement::Auto, Placement::PerStage, Placement::Packed { threads: 1 }, Placement::Packed { threads: 2 }]
    {
        let out = run_through(three_stages(placement), 5_000);
        assert_eq!(out.len(), 5_000, "{placement:?}");
        for (seq, frame) in out.iter().enumerate() {
            let f = decode_as::<SentimentSignal>(frame.as_frame_bytes()).unwrap();
            assert_eq!(f.header.sequence.get(), seq as u64, "{placement:?}: order kept");
            assert_eq!(f.payload.score, (seq % 5) as i8 - 5 + 3, "{placement:?}: all three stages ran");
            let ingest = f.header.stamp(Stage::Ingest).unwrap();
            let confirm = f.header.stamp(Stage::Confirm).unwrap();
            let decide = f.header.stamp(Stage::Decide).unwrap();
            let risk = f.header.stamp(Stage::Risk).unwrap();
            assert!(ingest <= confirm && confirm <= decide && decide <= risk, "{placement:?}: stamps in loop order");
            assert_eq!(f.header.stamp(Stage::Execute), None);
        }
    }
}

#[test]
fn placement_packs_stages_onto_the_threads_asked_for() {
    let p = three_stages(Placement::Packed { threads: 2 });
    assert_eq!(p.worker_names(), ["qp-confirm+decide", "qp-risk"]);
    drop(p);
    let p = three_stages(Placement::PerStage);
    assert_eq!(p.worker_names(), ["qp-confirm", "qp-decide", "qp-risk"]);
    drop(p);
    let err = Pipeline::builder()
        .stage(Stage::Confirm, Box::new(Slow))
        .placement(Placement::Packed { threads: 2 })
        .start()
        .unwrap_err();
    assert_eq!(err.to_string(), "placement asks for 2 worker threads for 1 stages");
    assert!(matches!(Pipeline::builder().start(), Err(RuntimeError::NoStages)));
    assert!(matches!(
        Pipeline::builder().stage(Stage::Confirm, Box::new(Slow)).ring_capacity(1).start(),
        Err(RuntimeError::RingCapacity(1))
    ));
}

#[test]
fn full_rings_hold_back_and_count_but_never_drop() {
    let mut pipeline = Pipeline::builder()
        .stage(Stage::Confirm, Box::new(Bump { add: 0, fail_on_score: None }))
        .stage(Stage::Decide, Box::new(Slow))
        .ring_capacity(4)
        .placement(Placement::PerStage)
        .pin_threads(false)
        .start()
        .unwrap();
    let mut out = Vec::new();
    for seq in 0..300 {
        pipeline.push(signal(seq, 0), |f| out.push(f.header().sequence.get()));
    }
    let stats = pipeline.stats();
    let fed_back = pipeline.input_backpressure();
    let final_stats = pipeline.finish(|f| out.push(f.header().sequence.get())).unwrap();
    assert_eq!(out, (0..300).collect::<Vec<_>>(), "every accepted frame arrives, in order");
    assert!(fed_back > 0 || stats[0].backpressure > 0 || final_stats[0].backpressure > 0);
    assert!(final_stats[0].backpressure > 0, "confirm was held back by slow decide: {final_stats:?}");
    assert_eq!(final_stats[1].frames_out, 300);
}

#[test]
fn bad_frames_and_agent_errors_are_counted_and_the_rest_keeps_running() {
    let mut pipeline = Pipeline::builder()
        .stage(Stage::Confirm, Box::new(Bump { add: 0, fail_on_score: Some(-3) }))
        .placement(Placement::PerStage)
        .pin_threads(false)
        .start()
        .unwrap();
    let mut out = Vec::new();
    let mut garbage = FrameBuf::default();
    garbage.as_slot_bytes_mut().fill(0xAB);
    pipeline.push(garbage, |f| out.push(*f));
    pipeline.push(signal(1, 2), |f| out.push(*f));
    pipeline.push(signal(2, -3), |f| out.push(*f));
    pipeline.push(signal(3, 4), |f| out.push(*f));
    let stats = pipeline.finish(|f| out.push(*f)).unwrap();
    assert_eq!(out.iter().map(|f| f.header().sequence.get()).collect::<Vec<_>>(), [1, 3]);
    assert_eq!((stats[0].frames_in, stats[0].decode_errors, stats[0].agent_errors), (4, 1, 1));
}

#[test]
fn latency_table_reads_stage_deltas_from_stamps() {
    let mut table = LatencyTable::new(Stage::Ingest, Stage::Risk);
    let mut buf = signal(1, 0);
    buf.stamp(Stage::Ingest, 1_000);
    buf.stamp(Stage::Confirm, 1_300);
    buf.stamp(Stage::Decide, 1_350);
    buf.stamp(Stage::Risk, 2_000);
    table.record(buf.header());
    let summary = table.summary();
    assert_eq!(summary.stages.keys().copied().collect::<Vec<_>>(), ["confirm", "decide", "risk"]);
    assert_eq!(summary.stages["confirm"].p50_ns, 300);
    assert_eq!(summary.stages["decide"].p50_ns, 50);
    assert_eq!(summary.stages["risk"].p99_ns, 650);
    assert_eq!(summary.whole_loop.p999_ns, 1_000);
    assert_eq!(summary.whole_loop.count, 1);

    let buckets = table.log2_buckets();
    assert_eq!(buckets.iter().map(|(name, _)| *name).collect::<Vec<_>>(), ["confirm", "decide", "risk", "loop"]);
    for (name, stage) in &buckets {
        assert_eq!(stage.iter().map(|b| b.count).sum::<u64>(), 1, "{name}: one sample");
        assert!(stage.windows(2).all(|w| w[1].upper_ns == 2 * w[0].upper_ns), "{name}: doubling bounds {stage:?}");
    }
    // 300 ns lands in [256, 512).
    let confirm = &buckets[0].1;
    let hit = confirm.iter().find(|b| b.count == 1).unwrap();
    assert_eq!(hit.upper_ns, 512, "{hit:?}");
}

#[test]
fn per_call_timer_times_each_call_less_the_clock() {
    let mut timer = PerCallTimer::with_overhead(u64::MAX);
    assert_eq!(timer.time(|| 6 * 7), 42);
    // The overhead is subtracted (saturating): every call records the 1 ns floor.
    timer.time(|| std::thread::sleep(Duration::from_micros(50)));
    assert_eq!((timer.percentiles().count, timer.percentiles().max_ns), (2, 1));
    let mut timer = PerCallTimer::with_overhead(0);
    timer.time(|| std::thread::sleep(Duration::from_micros(50)));
    assert!(timer.percentiles().max_ns >= 50_000, "{:?}", timer.percentiles());
    assert!(timer.summary_line("sleep").starts_with("sleep: p50 "));
    timer.reset();
    assert_eq!(timer.percentiles().count, 0);
    assert!(clock_overhead_ns() < 1_000_000);
}

#[test]
fn rate_limiter_lets_one_through_per_interval_and_counts_the_rest() {
    let mut limit = RateLimiter::new(1_000);
    assert_eq!(limit.check(10), Some(0));
    assert_eq!(limit.check(20), None);
    assert_eq!(limit.check(500), None);
    assert_eq!(limit.check(1_010), Some(2));
}

#[test]
fn backoff_is_bounded() {
    let mut backoff = Backoff::new(BackoffPolicy { spin_us: 200, yield_us: 200, max_sleep_us: 50 });
    let start = Instant::now();
    while !backoff.is_sleeping() {
        backoff.snooze();
        assert!(start.elapsed() < Duration::from_secs(5), "never reached the sleep phase");
    }
    assert!(start.elapsed() >= Duration::from_micros(400), "spun and yielded for the configured time first");
    let sleeping_since = Instant::now();
    for _ in 0..100 {
        backoff.snooze();
    }
    // 100 sleeps capped at 50 µs each (plus scheduler slack): far below a second.
    assert!(sleeping_since.elapsed() < Duration::from_secs(1));
    backoff.reset();
    assert!(!backoff.is_sleeping());
}

#[test]
fn monotonic_clock_never_goes_back() {
    let mut last = clock::monotonic_ns();
    for _ in 0..10_000 {
        let now = clock::monotonic_ns();
        assert!(now >= last);
        last = now;
    }
}
