//! The one clock stages stamp frames with.

/// Monotonic nanoseconds (`CLOCK_MONOTONIC`): comparable across threads and
/// processes of one host, never goes back. Through the vDSO on a TSC clocksource
/// this is a few tens of nanoseconds and no system call.
pub fn monotonic_ns() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    // Monotonic time is non-negative and fits u64 nanoseconds for 584 years of uptime.
    (ts.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec as u64)
}
