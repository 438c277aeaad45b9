#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code
//! The steady state allocates nothing after warm-up: frames pushed, data records written,
//! read and queued, frames taken, acknowledgements and credit written and read. So do a
//! reconnect (new connections on the same streams, hellos, resume) and hostile bytes (every
//! error is `Copy`, built without the heap).
//!
//! This is its own test binary (the crate's other tests live in `bridge_proto.rs`) because a
//! counting global allocator counts every thread of the process: any test running beside it
//! would be counted too. For the same reason it is one test.

use qp_alloc_counter::{CountingAllocator, allocations_on_this_thread};
use qp_bridge_proto::{
    CloudConnection, ConnectionConfig, ConnectionSettings, InboundStream, LocalConnection, OutboundStream,
};
use qp_seeded_random::SplitMix64;
use qp_wire::{AssetId, FrameBuf, Quote};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const BATCH: u64 = 64;

fn quote(i: u64) -> FrameBuf {
    let mid = 6_000_000 + (i % 100) as i64;
    FrameBuf::encode(3, i, &Quote::new(AssetId::from_wire(1 + (i % 5) as u32), (mid - 1, 10), (mid + 1, 12), i))
}

/// One round: a batch of frames from the cloud node to the local node, taken by the
/// application, acknowledged and credited back. Answers the frames taken.
fn round(
    cloud: &mut CloudConnection,
    local: &mut LocalConnection,
    wire: &mut [u8],
    next_push: &mut u64,
    next_pop: &mut u64,
    now: u64,
) {
    for _ in 0..BATCH {
        if cloud.send_frame(&quote(*next_push)).is_err() {
            break;
        }
        *next_push += 1;
    }
    let n = cloud.write_into(now, wire);
    local.feed(now, &wire[..n]).unwrap();
    while let Some(frame) = local.pop_frame() {
        assert_eq!(frame.header().sequence.get(), *next_pop);
        *next_pop += 1;
    }
    let n = local.write_into(now, wire);
    cloud.feed(now, &wire[..n]).unwrap();
}

fn connect(
    settings: &ConnectionSettings,
    outbound: OutboundStream,
    inbound: InboundStream,
    wire: &mut [u8],
    now: u64,
) -> (CloudConnection, LocalConnection) {
    let mut cloud = CloudConnection::new(settings, outbound, now);
    let mut local = LocalConnection::new(settings, inbound, now);
    for _ in 0..2 {
        let n = cloud.write_into(now, wire);
        local.feed(now, &wire[..n]).unwrap();
        let n = local.write_into(now, wire);
        cloud.feed(now, &wire[..n]).unwrap();
    }
    assert!(cloud.is_established() && local.is_established());
    while cloud.poll_event().is_some() || local.poll_event().is_some() {}
    (cloud, local)
}

#[test]
fn the_bridge_protocol_allocates_nothing_after_warm_up() {
    let settings = ConnectionConfig::default().validate().unwrap();
    let mut wire = vec![0u8; 64 * 1024];
    let (mut cloud, mut local) =
        connect(&settings, OutboundStream::new(1, 1024).unwrap(), InboundStream::new(2, 256).unwrap(), &mut wire, 0);
    let (mut next_push, mut next_pop) = (0u64, 0u64);
    for i in 0..100 {
        round(&mut cloud, &mut local, &mut wire, &mut next_push, &mut next_pop, i);
    }
    let mut rng = SplitMix64::new(11);
    let mut hostile = vec![0u8; 4096];
    hostile.iter_mut().for_each(|byte| *byte = rng.next_u64() as u8);

    let before = allocations_on_this_thread();
    for i in 100..5_100u64 {
        round(&mut cloud, &mut local, &mut wire, &mut next_push, &mut next_pop, i);
        if i % 500 == 0 {
            // A reconnect: the streams move into fresh connections, hellos, resume.
            (cloud, local) = connect(&settings, cloud.into_stream(), local.into_stream(), &mut wire, i);
        }
    }
    // Hostile bytes, into connections of both roles, in small pieces.
    let mut local_victim = LocalConnection::new(&settings, local.into_stream(), 0);
    let mut cloud_victim = CloudConnection::new(&settings, cloud.into_stream(), 0);
    for part in hostile.chunks(7) {
        let _ = local_victim.feed(1, part);
        let _ = cloud_victim.feed(1, part);
    }
    let during = allocations_on_this_thread() - before;

    assert_eq!(next_pop, 5_100 * BATCH, "every frame arrived");
    assert!(local_victim.close_reason().is_some() && cloud_victim.close_reason().is_some());
    assert_eq!(during, 0, "allocations on the steady-state path after warm-up");

    // Guard against passing because counting is broken.
    let before = allocations_on_this_thread();
    let boxed = std::hint::black_box(Box::new(7u64));
    drop(boxed);
    assert!(allocations_on_this_thread() > before, "the counting allocator counts");
}
