use std::time::Duration;

use serde::Deserialize;

/// How an idle worker waits: spin, then yield, then sleep for a bounded,
/// doubling interval. Spinning keeps wake-up latency at ring-hop cost while
/// traffic flows; the sleep cap bounds both CPU burn and worst-case wake-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackoffPolicy {
    /// Idle rounds spent in `spin_loop` before yielding.
    pub spin_rounds: u32,
    /// Idle rounds spent in `yield_now` before sleeping.
    pub yield_rounds: u32,
    /// Longest sleep, in microseconds (the first sleep is 1 µs, doubling).
    pub max_sleep_us: u32,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self { spin_rounds: 20_000, yield_rounds: 200, max_sleep_us: 200 }
    }
}

/// Back-off state of one worker.
#[derive(Debug)]
pub struct Backoff {
    policy: BackoffPolicy,
    idle_rounds: u32,
    sleep_us: u32,
}

impl Backoff {
    pub fn new(policy: BackoffPolicy) -> Self {
        Self { policy, idle_rounds: 0, sleep_us: 1 }
    }

    /// Work was found: go back to spinning.
    pub fn reset(&mut self) {
        self.idle_rounds = 0;
        self.sleep_us = 1;
    }

    /// Nothing to do this round: wait a little, longer the longer it has been idle.
    pub fn snooze(&mut self) {
        let BackoffPolicy { spin_rounds, yield_rounds, max_sleep_us } = self.policy;
        if self.idle_rounds < spin_rounds {
            std::hint::spin_loop();
        } else if self.idle_rounds < spin_rounds.saturating_add(yield_rounds) {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(u64::from(self.sleep_us.min(max_sleep_us.max(1)))));
            self.sleep_us = self.sleep_us.saturating_mul(2).min(max_sleep_us.max(1));
        }
        self.idle_rounds = self.idle_rounds.saturating_add(1);
    }

    /// True once the worker has gone past spinning (used to call idle hooks less often).
    pub fn is_sleeping(&self) -> bool {
        self.idle_rounds >= self.policy.spin_rounds.saturating_add(self.policy.yield_rounds)
    }
}
