//! Measures one ring hop, as a distribution: between two threads on two cores,
//! on one thread, and the machine's floor for any cross-core hand-off (one
//! cache line bounced between the same two cores).
//!
//! A frame goes to an echo thread through one ring and comes back through a
//! second; half of each round trip is one hop. Each round trip is timed on its
//! own, so the answer is p50/p99/p99.9, not a mean.
use qp_wire::{AssetId, FrameBuf, SentimentSignal};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rtrb::RingBuffer;

use crate::clock::monotonic_ns;
use crate::latency::{LatencyTable, Percentiles};

/// Time `iterations` round trips (after `warmup` untimed ones); answers the
/// one-way hop distribution. Pins the echo thread to the second core and the
/// caller to the first when the machine has two.
pub fn measure_ring_hop(warmup: u64, iterations: u64) -> Percentiles {
    let (mut to_echo, mut echo_in) = RingBuffer::<FrameBuf>::new(64);
    let (mut echo_out, mut from_echo) = RingBuffer::<FrameBuf>::new(64);
    let cores = crate::cores::process_cores();
    let echo_core = cores.get(1).copied();
    let echo = std::thread::spawn(move || {
        if let Some(core) = echo_core {
            crate::cores::pin_current_thread(core);
        }
        loop {
            match echo_in.pop() {
                Ok(frame) => {
                    while echo_out.push(frame).is_err() {
                        std::hint::spin_loop();
                    }
                }
                Err(_) if echo_in.is_abandoned() => return,
                Err(_) => std::hint::spin_loop(),
            }
        }
    });
    if cores.len() > 1
        && let Some(core) = cores.first()
    {
        crate::cores::pin_current_thread(*core);
    }
    let frame = FrameBuf::encode(1, 1, &SentimentSignal::new(AssetId::from_wire(1), 1, 1, 1, 1));
    let mut table = LatencyTable::new(qp_wire::Stage::Ingest, qp_wire::Stage::Confirm);
    let mut stamped = frame;
    for i in 0..warmup + iterations {
        if i == warmup {
            table.reset();
        }
        let start = monotonic_ns();
        while to_echo.push(frame).is_err() {
            std::hint::spin_loop();
        }
        loop {
            if from_echo.pop().is_ok() {
                break;
            }
            std::hint::spin_loop();
        }
        let round_trip = monotonic_ns().saturating_sub(start);
        // Record half the round trip as Ingest→Confirm of a synthetic frame.
        stamped.stamp(qp_wire::Stage::Ingest, 1);
        stamped.stamp(qp_wire::Stage::Confirm, 1 + round_trip / 2);
        table.record(stamped.header());
    }
    drop(to_echo);
    let _ = echo.join();
    table.summary().whole_loop
}

/// A ring hop when producer and consumer share a thread (how packed stages
/// hand frames on): push then pop, timed in batches of 256 because one hop is
/// shorter than a clock read.
pub fn measure_same_thread_hop(warmup: u64, batches: u64) -> Percentiles {
    const BATCH: u64 = 256;
    let (mut tx, mut rx) = RingBuffer::<FrameBuf>::new(1024);
    let frame = FrameBuf::encode(1, 1, &SentimentSignal::new(AssetId::from_wire(1), 1, 1, 1, 1));
    let mut histogram = crate::latency::LatencyHistogram::new();
    for batch in 0..warmup + batches {
        if batch == warmup {
            histogram.reset();
        }
        let start = monotonic_ns();
        for _ in 0..BATCH {
            let _ = tx.push(std::hint::black_box(frame));
            let _ = std::hint::black_box(rx.pop());
        }
        histogram.record(monotonic_ns().saturating_sub(start) / BATCH);
    }
    histogram.percentiles()
}

/// The floor under any cross-core hop on this machine: one atomic counter
/// bounced between two pinned threads, half of each timed round trip. No ring
/// can hand a frame across cores faster than this.
pub fn measure_cache_line_floor(warmup: u64, iterations: u64) -> Percentiles {
    let cell = Arc::new(AtomicU64::new(0));
    let cores = crate::cores::process_cores();
    let echo_core = cores.get(1).copied();
    let echo_cell = Arc::clone(&cell);
    let total = warmup + iterations;
    let echo = std::thread::spawn(move || {
        if let Some(core) = echo_core {
            crate::cores::pin_current_thread(core);
        }
        for i in 0..total {
            while echo_cell.load(Ordering::Acquire) != 2 * i + 1 {
                std::hint::spin_loop();
            }
            echo_cell.store(2 * i + 2, Ordering::Release);
        }
    });
    if cores.len() > 1
        && let Some(core) = cores.first()
    {
        crate::cores::pin_current_thread(*core);
    }
    let mut histogram = crate::latency::LatencyHistogram::new();
    for i in 0..total {
        if i == warmup {
            histogram.reset();
        }
        let start = monotonic_ns();
        cell.store(2 * i + 1, Ordering::Release);
        while cell.load(Ordering::Acquire) != 2 * i + 2 {
            std::hint::spin_loop();
        }
        histogram.record(monotonic_ns().saturating_sub(start) / 2);
    }
    let _ = echo.join();
    histogram.percentiles()
}
