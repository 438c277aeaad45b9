#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! The order path allocates nothing after warm-up: RiskSentinel's approval → the gateway →
//! the session (encode, store, queue) → bytes in the outbound buffer; and back: an
//! ExecutionReport's bytes → the session → the gateway's `ExecReport` → RiskSentinel.
//!
//! The store here keeps only the last message in a buffer sized up front, so what is counted
//! is the gateway's and the session's own work. (`MemoryStore` copies each message into a new
//! `Vec`, and `FileStore`'s B-tree index allocates a node every few messages: both allocate by
//! design, off this proof.) Its own test binary: the counting allocator counts every thread.

use qp_alloc_counter::{CountingAllocator, allocations_on_this_thread};
use qp_fix::messages::{ExecType, ExecutionReport, OrdStatus, Side as FixSide};
use qp_fix::session::{LastMessageStore, MessageStore};
use qp_fix::{Encoder, Header, Scale};
use qp_fix_venue::roundtrip::offline_session;
use qp_fix_venue::trade::{permissive_sentinel, trade_asset, trade_instrument};
use qp_fix_venue::{GatewayConfig, GatewayEvent, OrderGateway, Submitted, VenueInstrument};
use qp_wire::{Decision, Side};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const SCALE: Scale = Scale::new(2, 0);
const PRICE: i64 = 6_100_050;

#[test]
fn intent_to_bytes_and_report_back_allocate_nothing_after_warm_up() {
    const WARM_UP: u64 = 2_000;
    const COUNTED: u64 = 20_000;
    let t0 = 1_700_000_000_000_000_000u64;
    let instrument = trade_instrument("BTCUSDT", SCALE);
    let config = GatewayConfig { expected_orders: (WARM_UP + COUNTED) as usize * 2, ..GatewayConfig::default() };
    let mut gateway = OrderGateway::new(vec![VenueInstrument::from_spec(&instrument)], config).unwrap();
    let mut sentinel = permissive_sentinel(instrument, PRICE, t0).unwrap();
    let store = LastMessageStore::new();
    let mut session = offline_session("QPNODE", "EXCH", store, t0);
    let mut report_encoder = Encoder::with_capacity(4096);
    let mut cl_ord_id_text = [0u8; 40];

    let mut round = |i: u64| {
        let now = t0 + (i + 1) * 2_000;
        let side = if i.is_multiple_of(2) { Side::Buy } else { Side::Sell };
        sentinel.update_price(trade_asset(), PRICE, now).unwrap();
        let approved = sentinel.check(now, &Decision::new(i + 1, trade_asset(), side, 10, PRICE, 0)).unwrap();
        let Ok(Submitted::Sent { cl_ord_id, .. }) = gateway.submit(&mut session, now, approved) else {
            panic!("not sent")
        };
        assert!(session.outbound().starts_with(b"8=FIX.4.4\x01"));
        session.consume_outbound(usize::MAX);
        // The venue's fill comes back.
        let len = cl_ord_id.as_str().len();
        cl_ord_id_text[..len].copy_from_slice(cl_ord_id.as_str().as_bytes());
        let cl = std::str::from_utf8(&cl_ord_id_text[..len]).unwrap();
        let header = Header {
            sender_comp_id: "EXCH",
            target_comp_id: "QPNODE",
            msg_seq_num: session.store().next_target_seq(),
            sending_time_ns: now,
            poss_dup: false,
            orig_sending_time_ns: None,
        };
        let report = ExecutionReport {
            order_id: "X1",
            cl_ord_id: Some(cl),
            orig_cl_ord_id: None,
            exec_id: "E1",
            exec_type: ExecType::Trade,
            ord_status: OrdStatus::Filled,
            ord_rej_reason: None,
            symbol: "BTCUSDT",
            side: if side == Side::Buy { FixSide::Buy } else { FixSide::Sell },
            order_qty: Some(10),
            price: Some(PRICE),
            last_qty: Some(10),
            last_px: Some(PRICE),
            leaves_qty: 0,
            cum_qty: 10,
            avg_px: PRICE,
            transact_time_ns: Some(now),
            text: None,
        };
        let bytes = report_encoder.encode(&header, &report, SCALE);
        let mut got = None;
        session.on_bytes(now, bytes, |m| got = gateway.on_message(m));
        let Some(GatewayEvent::Exec { report, .. }) = got else { panic!("no report: {got:?}") };
        assert_eq!(report.intent_id.get(), i + 1);
        sentinel.on_exec_report(&report);
        while session.poll_event().is_some() {}
    };
    for i in 0..WARM_UP {
        round(i);
    }
    let before = allocations_on_this_thread();
    for i in WARM_UP..WARM_UP + COUNTED {
        round(i);
    }
    assert_eq!(allocations_on_this_thread() - before, 0, "allocations on the order path after warm-up");
}
