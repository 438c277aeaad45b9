#![allow(clippy::unwrap_used)] // test code
//! AlphaScanner allocates nothing per event after construction.
//!
//! Its own test binary: the counting allocator counts every thread of the process.
use qp_alloc_counter::{CountingAllocator, allocations_on_this_thread};

use qp_alpha_scanner::{
    AlphaScanner, AlphaScannerConfig, ImbalanceConfig, LiquidityDropConfig, MarketEvent, MarketUpdate, SimulatorConfig,
    SpoofingConfig, simulate,
};
use qp_book::{Grid, L3Book};
use qp_runtime::{AgentContext, IngestAgent, Outbox};
use qp_wire::AssetId;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn the_scanner_allocates_nothing_per_event() {
    let flow = simulate(&SimulatorConfig { duration_ns: 120_000_000_000, ..SimulatorConfig::default() });
    // Thresholds low enough for the simulated book that every detector fires (every path runs).
    let config = AlphaScannerConfig {
        spoofing: SpoofingConfig { tick: flow.tick, ..SpoofingConfig::default() },
        liquidity: LiquidityDropConfig { band_bp: 1, drop_threshold_bp: 3_000, ..LiquidityDropConfig::default() },
        imbalance: ImbalanceConfig { threshold_bp: 1_000, ..ImbalanceConfig::default() },
        ..AlphaScannerConfig::default()
    };
    let mut scanner = AlphaScanner::new(config).unwrap();
    let mut book = L3Book::new(Grid::new(flow.tick, flow.lot).unwrap());
    let mut out = Outbox::new("zero-alloc");
    let asset = AssetId::from_wire(1);
    let mut in_scanner = 0;
    let mut emitted = 0;
    for e in &flow.events {
        // The book is the feeder's, not the agent's: only the scanner's call is counted.
        let _undo = book.apply(&e.event).unwrap();
        let update = MarketUpdate::new(asset, e.ts_ns, &book, MarketEvent::L3(e.event));
        let before = allocations_on_this_thread();
        scanner.on_event(AgentContext { now_ns: e.ts_ns }, &update, &mut out).unwrap();
        in_scanner += allocations_on_this_thread() - before;
        emitted += out.drain_into(|_| Ok(()));
    }
    let counts = scanner.counts();
    assert!(
        counts.spoofing_signals > 10 && counts.imbalance_signals > 10 && counts.liquidity_signals > 10,
        "{counts:?}"
    );
    assert!(emitted > 0);
    assert_eq!(in_scanner, 0, "allocations inside AlphaScanner over {} events", flow.events.len());

    let before = allocations_on_this_thread();
    let v = std::hint::black_box(vec![1u8; 64]);
    assert_eq!(allocations_on_this_thread() - before, 1, "the counting allocator counts");
    drop(v);
}
