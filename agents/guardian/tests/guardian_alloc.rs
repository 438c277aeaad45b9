//! Guardian's tick allocates nothing after construction (own binary: the counting
//! allocator counts every thread).
#![allow(clippy::expect_used, clippy::panic)] // helpers in test files are test code too
use qp_alloc_counter::{CountingAllocator, allocations_on_this_thread};
use qp_guardian::{GuardedAsset, Guardian, GuardianConfig, RebalanceTick};
use qp_risk_model::ReturnMatrix;
use qp_runtime::{AgentContext, IngestAgent, OUTBOX_CAPACITY, Outbox};
use qp_wire::AssetId;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn rebalance_tick_allocates_nothing() {
    let n = 20;
    let config = GuardianConfig {
        assets: (0..n)
            .map(|i| GuardedAsset { asset: AssetId::from_wire(i + 1), price_decimals: 2, qty_decimals: 0, lot_size: 1 })
            .collect(),
        min_trade_bp: 5,
        limit_offset_bp: 10,
        max_orders_per_tick: OUTBOX_CAPACITY,
        origin_node: 1,
        first_decision_id: 1,
    };
    // Deterministic returns with enough independent noise for a positive-definite covariance.
    let mut state = 1u64;
    let values: Vec<f64> = (0..250 * n as usize)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.04
        })
        .collect();
    let returns = ReturnMatrix::new(250, n as usize, values).expect("returns");
    let prices: Vec<i64> = (0..n as i64).map(|i| 1_000 + 250 * i).collect();
    let mut positions: Vec<i64> = (0..n as i64).map(|i| 50 + 37 * (i % 5)).collect();
    let mut guardian = Guardian::new(&config).expect("guardian");
    let mut out = Outbox::new("guardian");
    let ctx = AgentContext { now_ns: 0 };
    guardian
        .on_event(
            ctx,
            &RebalanceTick { returns: &returns, positions_lots: &positions, prices: &prices, book_value: None },
            &mut out,
        )
        .expect("warm-up");

    let before = allocations_on_this_thread();
    for round in 0..50 {
        out.drain_into(|_| Ok(()));
        positions[round % n as usize] += 13;
        guardian
            .on_event(
                ctx,
                &RebalanceTick { returns: &returns, positions_lots: &positions, prices: &prices, book_value: None },
                &mut out,
            )
            .expect("tick");
    }
    assert_eq!(allocations_on_this_thread() - before, 0);
    assert!(guardian.stats().decisions > 0);
}
