#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! Encoding, parsing, typed decoding and validation allocate nothing after warm-up.
//!
//! Its own test binary: a counting global allocator counts every thread of the process.

use qp_alloc_counter::{CountingAllocator, allocations_on_this_thread};
use qp_fix::messages::{ExecType, ExecutionReport, NewOrderSingle, OrdStatus, OrdType, Side, TimeInForce};
use qp_fix::{Decoded, Dictionary, Encoder, Header, Scale, decode, decode_as};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn encode_parse_validate_allocate_nothing_after_warm_up() {
    let path = std::env::var_os("QP_FIX44_XML")
        .unwrap_or_else(|| panic!("QP_FIX44_XML is not set: run `cargo xtask setup` (or `cargo xtask test`)"));
    let dictionary = Dictionary::load(std::path::Path::new(&path)).unwrap();
    let scale = Scale::new(2, 3);
    let mut encoder = Encoder::new();
    let mut report_encoder = Encoder::new();
    let mut round = |i: u64| -> usize {
        let header = Header {
            sender_comp_id: "NODE",
            target_comp_id: "VENUE",
            msg_seq_num: i + 1,
            sending_time_ns: 1_700_000_000_000_000_000 + i * 1_000_000,
            poss_dup: false,
            orig_sending_time_ns: None,
        };
        let order = NewOrderSingle {
            cl_ord_id: "ORD-1",
            account: None,
            symbol: "BTCUSDT",
            side: Side::Buy,
            order_qty: 1_000 + i as i64,
            ord_type: OrdType::Limit,
            price: Some(6_500_000 + i as i64),
            time_in_force: Some(TimeInForce::ImmediateOrCancel),
            transact_time_ns: header.sending_time_ns,
        };
        let order_bytes = encoder.encode(&header, &order, scale);
        let Ok(Decoded::Message { message, .. }) = decode(order_bytes) else { panic!("order did not decode") };
        dictionary.validate(&message).unwrap();
        let order_back = decode_as::<NewOrderSingle<'_>>(&message, scale).unwrap();
        let report = ExecutionReport {
            order_id: "V-1",
            cl_ord_id: Some(order_back.cl_ord_id),
            orig_cl_ord_id: None,
            exec_id: "E-1",
            exec_type: ExecType::Trade,
            ord_status: OrdStatus::PartiallyFilled,
            ord_rej_reason: None,
            symbol: order_back.symbol,
            side: order_back.side,
            order_qty: Some(order_back.order_qty),
            price: order_back.price,
            last_qty: Some(10),
            last_px: order_back.price,
            leaves_qty: order_back.order_qty - 10,
            cum_qty: 10,
            avg_px: 6_500_000,
            transact_time_ns: Some(order_back.transact_time_ns),
            text: None,
        };
        let report_bytes = report_encoder.encode(&header, &report, scale);
        let Ok(Decoded::Message { message, len_bytes }) = decode(report_bytes) else { panic!("report") };
        dictionary.validate(&message).unwrap();
        assert_eq!(decode_as::<ExecutionReport<'_>>(&message, scale).unwrap(), report);
        len_bytes
    };
    for i in 0..100 {
        round(i);
    }
    let before = allocations_on_this_thread();
    let mut bytes = 0;
    for i in 100..100_100 {
        bytes += round(i);
    }
    let during = allocations_on_this_thread() - before;
    assert_eq!(during, 0, "allocations in 100k encode/parse/validate rounds after warm-up");
    assert!(bytes > 100_000 * 150);

    // Guard against passing because counting is broken.
    let before = allocations_on_this_thread();
    let boxed = std::hint::black_box(Box::new(1u64));
    drop(boxed);
    assert!(allocations_on_this_thread() > before, "the counting allocator counts");
}
