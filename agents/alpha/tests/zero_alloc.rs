#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! The Decide agent allocates nothing per frame after warm-up: features, the shipped model on
//! both native kernels, the policy and the decision. Its own test binary, because the counting
//! allocator counts every thread of the process.
use qp_alloc_counter::{CountingAllocator, allocations_on_this_thread};
use qp_alpha::{AlphaModel, BackendKind, DecideAgent, DecideConfig, DecisionPolicy};
use qp_runtime::{Agent, AgentContext, Outbox};
use qp_wire::*;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Frame `i` of a stream that exercises every input: quotes (cadence decisions), sentiment,
/// book signals, prints, confirmations, execution reports.
fn frame(i: u64) -> FrameBuf {
    let asset = AssetId::from_wire(1 + (i % 2) as u32);
    let ts = i * 50_000_000;
    let mid = 100_000 + ((i * 7919) % 41) as i64;
    match i % 6 {
        0 | 1 => FrameBuf::encode(1, i, &Quote::new(asset, (mid - 1, 1 + (i % 9) as i64), (mid + 1, 5), ts)),
        2 => FrameBuf::encode(1, i, &SentimentSignal::new(asset, (i % 21) as i8 - 10, 8_000, ts, 1)),
        3 => FrameBuf::encode(1, i, &BookSignal::new(asset, BookSignalKind::Imbalance, 4_000, mid, ts)),
        4 => FrameBuf::encode(1, i, &BlockPrint::new(asset, Side::Sell, 0, 0, mid, 3, ts)),
        _ => {
            let s = SentimentSignal::new(asset, if i % 4 == 1 { 7 } else { -7 }, 9_000, ts, 1);
            let b = BookSignal::new(asset, BookSignalKind::LiquidityDrop, -6_000, mid, ts);
            FrameBuf::encode(1, i, &Confirmed::new(&s, &b))
        }
    }
}

#[test]
fn the_decide_agent_allocates_nothing_after_warm_up() {
    for kind in [BackendKind::NativeF32, BackendKind::NativeInt8] {
        let config = DecideConfig {
            policy: DecisionPolicy { min_edge: 0.0, min_qty_lots: 1, max_qty_lots: 10 },
            limit_offset_ticks: 5,
            cadence_ns: 1_000_000_000,
            max_assets: 2,
        };
        let mut agent = DecideAgent::new(AlphaModel::shipped(kind).unwrap(), config);
        let frames: Vec<FrameBuf> = (0..60_000).map(frame).collect();
        let mut out = Outbox::new("test");
        let mut decisions = 0u64;
        let mut step = |agent: &mut DecideAgent, f: &FrameBuf| {
            agent.on_frame(AgentContext { now_ns: 0 }, decode(f.as_frame_bytes()).unwrap(), &mut out).unwrap();
            out.drain_into(|f| {
                decisions += u64::from(f.header().frame_type.get() == FrameType::Decision as u16);
                Ok(())
            });
        };
        for f in &frames[..10_000] {
            step(&mut agent, f);
        }
        let before = allocations_on_this_thread();
        for f in &frames[10_000..] {
            step(&mut agent, f);
        }
        let during = allocations_on_this_thread() - before;
        assert_eq!(during, 0, "{kind:?}: allocations after warm-up");
        assert!(agent.triggers() > 10_000, "{kind:?}: the model ran: {}", agent.triggers());
        assert!(decisions > 1_000, "{kind:?}: decisions were made: {decisions}");
    }
    // The counter counts.
    let before = allocations_on_this_thread();
    let v = std::hint::black_box(vec![1u8; 64]);
    assert_eq!(allocations_on_this_thread() - before, 1);
    drop(v);
}
