#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)] // bench code
//! Risk-approved intent → NewOrderSingle bytes in the session's outbound buffer (target:
//! p99 ≤ 5 µs): `OrderGateway::submit` (ClOrdID, encode, `MessageStore::save`, queue) with
//! the in-memory store and with the file store (`FsyncPolicy::Never`, a temp dir). Criterion
//! reports the mean; the per-call p50/p99/p99.9 lines come from `PerCallTimer`.
//!
//! `cargo bench -p qp-fix-venue --bench gateway`

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use qp_fix::Scale;
use qp_fix::session::{MemoryStore, MessageStore, Session};
use qp_fix_store::{FileStore, FsyncPolicy};
use qp_fix_venue::roundtrip::{measure_intent_to_bytes, offline_session};
use qp_fix_venue::trade::{permissive_sentinel, trade_asset, trade_instrument};
use qp_fix_venue::{GatewayConfig, OrderGateway, VenueInstrument};
use qp_risk_sentinel::RiskSentinel;
use qp_wire::{Decision, ExecReport, ExecStatus, Side};

const SCALE: Scale = Scale::new(2, 0);
const PRICE: i64 = 6_100_050;

struct Rig<S: MessageStore> {
    gateway: OrderGateway,
    sentinel: RiskSentinel,
    session: Session<'static, S>,
    now: u64,
    next: u64,
}

impl<S: MessageStore> Rig<S> {
    fn new(store: S) -> Self {
        let now = 1_700_000_000_000_000_000;
        let instrument = trade_instrument("BTCUSDT", SCALE);
        let config = GatewayConfig { expected_orders: 1 << 22, ..GatewayConfig::default() };
        Self {
            gateway: OrderGateway::new(vec![VenueInstrument::from_spec(&instrument)], config).unwrap(),
            sentinel: permissive_sentinel(instrument, PRICE, now).unwrap(),
            session: offline_session("QPNODE", "EXCH", store, now),
            now,
            next: 1,
        }
    }

    /// One order; only the gateway's submit is timed.
    fn one(&mut self) -> Duration {
        self.now += 2_000;
        let id = self.next;
        self.next += 1;
        let side = if id.is_multiple_of(2) { Side::Buy } else { Side::Sell };
        self.sentinel.update_price(trade_asset(), PRICE, self.now).unwrap();
        let approved = self.sentinel.check(self.now, &Decision::new(id, trade_asset(), side, 10, PRICE, 0)).unwrap();
        let start = Instant::now();
        let sent = self.gateway.submit(&mut self.session, self.now, approved);
        let elapsed = start.elapsed();
        assert!(sent.is_ok());
        self.session.consume_outbound(usize::MAX);
        self.sentinel.on_exec_report(&ExecReport {
            intent_id: id.into(),
            asset: trade_asset().get().into(),
            side: side as u8,
            status: ExecStatus::Filled as u8,
            _pad: 0u16.into(),
            last_qty: 10i64.into(),
            last_price: PRICE.into(),
            cum_qty: 10i64.into(),
            leaves_qty: 0i64.into(),
        });
        elapsed
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut group = c.benchmark_group("intent_to_bytes");
    let mut memory = Rig::new(MemoryStore::new());
    group.bench_function("memory_store", |b| b.iter_custom(|iters| (0..iters).map(|_| memory.one()).sum()));
    let store = FileStore::open_with(dir.path(), "criterion", FsyncPolicy::Never).unwrap();
    let mut file = Rig::new(store);
    group.bench_function("file_store_fsync_never", |b| b.iter_custom(|iters| (0..iters).map(|_| file.one()).sum()));
    group.finish();

    let p = measure_intent_to_bytes(MemoryStore::new(), 20_000, 200_000).unwrap();
    println!(
        "intent->bytes, MemoryStore: p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns ({} calls)",
        p.p50_ns, p.p99_ns, p.p999_ns, p.max_ns, p.count
    );
    let store = FileStore::open_with(dir.path(), "percall", FsyncPolicy::Never).unwrap();
    let p = measure_intent_to_bytes(store, 20_000, 200_000).unwrap();
    println!(
        "intent->bytes, FileStore (fsync never): p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns ({} calls)",
        p.p50_ns, p.p99_ns, p.p999_ns, p.max_ns, p.count
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
