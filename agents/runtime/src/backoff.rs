use std::time::Duration;

use serde::Deserialize;

use crate::clock::monotonic_ns;

/// How an idle worker waits: spin, then yield, then sleep for a bounded,
/// doubling interval. Spinning keeps wake-up at ring-hop cost while the node
/// owns its cores; the phases are measured in idle *time*, not rounds, so the
/// policy means the same on any CPU. The sleep cap bounds the worst wake-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackoffPolicy {
    /// Idle time spent spinning (`spin_loop`) before yielding, in microseconds.
    pub spin_us: u32,
    /// Further idle time spent in `yield_now` before sleeping, in microseconds.
    pub yield_us: u32,
    /// Longest sleep, in microseconds (the first sleep is 1 µs, doubling).
    pub max_sleep_us: u32,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self { spin_us: 100_000, yield_us: 1_000, max_sleep_us: 50 }
    }
}

/// Back-off state of one worker.
#[derive(Debug)]
pub struct Backoff {
    policy: BackoffPolicy,
    /// Monotonic ns when the current idle spell began; 0 = not idle.
    idle_since_ns: u64,
    rounds: u32,
    sleep_us: u32,
    sleeping: bool,
}

/// Read the clock once per this many idle rounds (a spin round is tens of ns).
const ROUNDS_PER_CLOCK_READ: u32 = 64;

impl Backoff {
    pub fn new(policy: BackoffPolicy) -> Self {
        Self { policy, idle_since_ns: 0, rounds: 0, sleep_us: 1, sleeping: false }
    }

    /// Work was found: go back to spinning.
    pub fn reset(&mut self) {
        self.idle_since_ns = 0;
        self.rounds = 0;
        self.sleep_us = 1;
        self.sleeping = false;
    }

    /// Nothing to do this round: wait a little, longer the longer it has been idle.
    pub fn snooze(&mut self) {
        let BackoffPolicy { spin_us, yield_us, max_sleep_us } = self.policy;
        if self.idle_since_ns == 0 {
            self.idle_since_ns = monotonic_ns();
        }
        self.rounds = self.rounds.wrapping_add(1);
        let idle_us = if self.sleeping || self.rounds.is_multiple_of(ROUNDS_PER_CLOCK_READ) {
            monotonic_ns().saturating_sub(self.idle_since_ns) / 1_000
        } else {
            0
        };
        if !self.sleeping && idle_us < u64::from(spin_us) {
            std::hint::spin_loop();
        } else if !self.sleeping && idle_us < u64::from(spin_us) + u64::from(yield_us) {
            std::thread::yield_now();
        } else if self.sleeping || idle_us > 0 {
            self.sleeping = true;
            let cap = max_sleep_us.max(1);
            std::thread::sleep(Duration::from_micros(u64::from(self.sleep_us.min(cap))));
            self.sleep_us = self.sleep_us.saturating_mul(2).min(cap);
        } else {
            std::hint::spin_loop();
        }
    }

    /// True once the worker has gone past spinning and yielding.
    pub fn is_sleeping(&self) -> bool {
        self.sleeping
    }
}
