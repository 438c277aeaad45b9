//! Measures one ring hop between two threads, as a distribution.
//!
//! A frame goes to an echo thread through one ring and comes back through a
//! second; half of each round trip is one hop. Each round trip is timed on its
//! own, so the answer is p50/p99/p99.9, not a mean.
use qp_wire::{AssetId, FrameBuf, SentimentSignal};
use rtrb::RingBuffer;

use crate::clock::monotonic_ns;
use crate::latency::{LatencyTable, Percentiles};

/// Time `iterations` round trips (after `warmup` untimed ones); answers the
/// one-way hop distribution. Pins the echo thread to the second core and the
/// caller to the first when the machine has two.
pub fn measure_ring_hop(warmup: u64, iterations: u64) -> Percentiles {
    let (mut to_echo, mut echo_in) = RingBuffer::<FrameBuf>::new(64);
    let (mut echo_out, mut from_echo) = RingBuffer::<FrameBuf>::new(64);
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let echo_core = cores.get(1).copied();
    let echo = std::thread::spawn(move || {
        if let Some(core) = echo_core {
            core_affinity::set_for_current(core);
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
    if cores.len() > 1 {
        if let Some(core) = cores.first() {
            core_affinity::set_for_current(*core);
        }
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
