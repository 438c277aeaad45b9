#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)] // bench code
//! qp-fix figures: parsing (framing, field scan, CheckSum) of a realistic ExecutionReport
//! and NewOrderSingle in messages per second per core (target ≥ 2 M/s); encoding a
//! NewOrderSingle into the reused buffer (ns per message, p50/p99); validation alone.
//!
//! `cargo bench -p qp-fix` (validation needs `QP_FIX44_XML`; skipped with a note without it).

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use qp_fix::messages::{ExecType, ExecutionReport, NewOrderSingle, OrdStatus, OrdType, Side, TimeInForce};
use qp_fix::{Decoded, Dictionary, Encoder, Header, Message, Scale, decode};
use qp_runtime::PerCallTimer;

const SCALE: Scale = Scale::new(2, 6);

fn header(seq: u64) -> Header<'static> {
    Header {
        sender_comp_id: "QPNODE01",
        target_comp_id: "VENUEGW",
        msg_seq_num: 1_000_000 + seq,
        sending_time_ns: 1_700_000_000_123_000_000 + seq * 1_000_000,
        poss_dup: false,
        orig_sending_time_ns: None,
    }
}

fn order(i: u64) -> NewOrderSingle<'static> {
    NewOrderSingle {
        cl_ord_id: "QP-20231114-000123456",
        account: Some("ACC-7"),
        symbol: "BTCUSDT",
        side: Side::Buy,
        order_qty: 1_250_000 + i as i64,
        ord_type: OrdType::Limit,
        price: Some(3_712_345),
        time_in_force: Some(TimeInForce::ImmediateOrCancel),
        transact_time_ns: 1_700_000_000_123_000_000,
    }
}

fn report() -> ExecutionReport<'static> {
    ExecutionReport {
        order_id: "VENUE-ORD-88812345",
        cl_ord_id: Some("QP-20231114-000123456"),
        orig_cl_ord_id: None,
        exec_id: "VENUE-EXEC-1234567890",
        exec_type: ExecType::Trade,
        ord_status: OrdStatus::PartiallyFilled,
        ord_rej_reason: None,
        symbol: "BTCUSDT",
        side: Side::Buy,
        order_qty: Some(1_250_000),
        price: Some(3_712_345),
        last_qty: Some(250_000),
        last_px: Some(3_712_340),
        leaves_qty: 1_000_000,
        cum_qty: 250_000,
        avg_px: 3_712_340,
        transact_time_ns: Some(1_700_000_000_124_000_000),
        text: Some("partial fill"),
    }
}

/// Messages per second parsing `bytes` (framing + scan + CheckSum) over ~1 s.
fn parse_rate(bytes: &[u8]) -> f64 {
    let mut count = 0u64;
    let start = Instant::now();
    while start.elapsed().as_millis() < 1_000 {
        for _ in 0..10_000 {
            let Ok(Decoded::Message { message, .. }) = decode(black_box(bytes)) else { panic!("decode") };
            black_box(message.len());
        }
        count += 10_000;
    }
    count as f64 / start.elapsed().as_secs_f64()
}

fn bench(c: &mut Criterion) {
    let report_bytes = Encoder::new().encode(&header(1), &report(), SCALE).to_vec();
    let order_bytes = Encoder::new().encode(&header(2), &order(0), SCALE).to_vec();

    let mut group = c.benchmark_group("fix");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse_execution_report", |b| {
        b.iter(|| decode(black_box(&report_bytes)).map(|d| matches!(d, Decoded::Message { .. })))
    });
    group.bench_function("parse_new_order_single", |b| {
        b.iter(|| decode(black_box(&order_bytes)).map(|d| matches!(d, Decoded::Message { .. })))
    });
    let mut encoder = Encoder::new();
    let mut i = 0u64;
    group.bench_function("encode_new_order_single", |b| {
        b.iter(|| {
            i += 1;
            encoder.encode(&header(i), &order(i), SCALE).len()
        })
    });
    let dictionary = std::env::var_os("QP_FIX44_XML").map(|p| Dictionary::load(std::path::Path::new(&p)).unwrap());
    if let Some(dictionary) = &dictionary {
        let message = Message::parse(&report_bytes).unwrap();
        group.bench_function("validate_execution_report", |b| b.iter(|| dictionary.validate(black_box(&message))));
    }
    group.finish();

    // Figures.
    println!("\nqp-fix figures ({} B ExecutionReport, {} B NewOrderSingle)", report_bytes.len(), order_bytes.len());
    println!("parse ExecutionReport: {:.2} M messages/s per core (target >= 2 M/s)", parse_rate(&report_bytes) / 1e6);
    println!("parse NewOrderSingle:  {:.2} M messages/s per core (target >= 2 M/s)", parse_rate(&order_bytes) / 1e6);
    let mut timer = PerCallTimer::new();
    let mut encoder = Encoder::new();
    for round in 0..2 {
        timer.reset();
        for i in 0..200_000u64 {
            timer.time(|| encoder.encode(&header(i), &order(i), SCALE).len());
        }
        if round == 1 {
            println!("{}", timer.summary_line("encode NewOrderSingle"));
        }
    }
    match &dictionary {
        Some(dictionary) => {
            let message = Message::parse(&report_bytes).unwrap();
            let mut timer = PerCallTimer::new();
            for _ in 0..200_000 {
                timer.time(|| dictionary.validate(&message).is_ok());
            }
            println!("{}", timer.summary_line("validate ExecutionReport"));
        }
        None => println!("validate: skipped (QP_FIX44_XML not set; run `cargo xtask setup`)"),
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
