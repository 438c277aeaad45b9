#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)] // bench code
//! NewOrderSingle → ExecutionReport (New) round trip against the real QuickFIX exchange
//! simulator on loopback (started here, like `qpctl bench fix-roundtrip`); prints one JSON
//! line with p50/p99/p99.9 in ns. `QP_ROUNDTRIP_ORDERS` sets the count (default 20000).
//!
//! `cargo bench -p qp-fix-venue --bench roundtrip`

use std::path::Path;
use std::time::Duration;

use qp_fix_venue::peer::{ExchangePeer, PeerOptions};
use qp_fix_venue::roundtrip::measure_round_trip;

fn main() {
    let orders: u64 = std::env::var("QP_ROUNDTRIP_ORDERS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    let options = PeerOptions::in_workspace(&root, dir.path().join("exchange"));
    let peer = ExchangePeer::start(&options).unwrap_or_else(|e| panic!("{e}"));
    let measured = measure_round_trip(peer.addr(), None, orders / 10, orders, Duration::from_secs(600))
        .unwrap_or_else(|e| panic!("{e}"));
    let p = measured.round_trip;
    println!(
        "{{\"bench\":\"fix_roundtrip\",\"p50_ns\":{},\"p99_ns\":{},\"p999_ns\":{},\"max_ns\":{},\"count\":{},\"note\":\"NewOrderSingle handed to the socket -> ExecutionReport(New) parsed, QuickFIX exchange.py on 127.0.0.1, one order at a time\"}}",
        p.p50_ns, p.p99_ns, p.p999_ns, p.max_ns, p.count
    );
    drop(peer.stop());
}
