//! NeuralArb's `on_quote` allocates nothing after construction (own binary: the counting
//! allocator counts every thread).
#![allow(clippy::expect_used, clippy::panic)] // test code
use qp_alloc_counter::{CountingAllocator, allocations_on_this_thread};
use qp_neural_arb::{ArbConfig, ArbDecisions, HedgeRatio, NeuralArb};
use qp_wire::{AssetId, Quote};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn on_quote_allocates_nothing() {
    for hedge in [HedgeRatio::Fixed(1.0), HedgeRatio::RollingOls] {
        let (spot, futures) = (AssetId::from_wire(1), AssetId::from_wire(2));
        let mut config = ArbConfig::btcusdt(spot, futures);
        config.hedge = hedge;
        config.window = 100;
        config.entry_z = 1.0;
        config.exit_z = 0.2;
        config.min_std = 0.01;
        config.cooldown_ns = 0;
        let mut arb = NeuralArb::new(config).expect("config");
        let mut out = ArbDecisions::default();
        let before = allocations_on_this_thread();
        let mut t = 0u64;
        for i in 0..5_000i64 {
            t += 50_000_000;
            let wave = (i % 37) - 18;
            let s = Quote::new(spot, (6_200_000 + wave * 3, 10), (6_200_001 + wave * 3, 10), t);
            let f = Quote::new(futures, (619_800 + (i % 23) - 11, 10), (619_801 + (i % 23) - 11, 10), t);
            arb.on_quote(t, &s, &mut out).expect("spot");
            arb.on_quote(t, &f, &mut out).expect("futures");
            out.clear();
        }
        assert_eq!(allocations_on_this_thread() - before, 0, "{hedge:?}");
        assert!(arb.stats().decisions > 0, "the test should exercise the order path: {:?}", arb.stats());
    }
}
