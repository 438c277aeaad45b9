//! Reconnect delays: exponential with full jitter (a random delay between zero and the current
//! ceiling), so a fleet that lost its local node does not come back in lockstep.
use std::time::Duration;

use qp_seeded_random::SplitMix64;

/// The dialler's delays between attempts.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    ceiling: Duration,
    random: SplitMix64,
}

impl Backoff {
    /// Ceilings `initial`, 2×, 4×, … up to `max`; `seed` feeds the jitter (the node id, so
    /// nodes differ).
    pub fn new(initial: Duration, max: Duration, seed: u64) -> Self {
        let initial = initial.max(Duration::from_millis(1));
        Self { initial, max: max.max(initial), ceiling: initial, random: SplitMix64::new(seed) }
    }

    /// The next delay: uniform in [0, ceiling], then the ceiling doubles (capped).
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.ceiling.mul_f64(self.random.uniform());
        self.ceiling = (self.ceiling * 2).min(self.max);
        delay
    }

    /// A connection got through: start again from the initial ceiling.
    pub fn reset(&mut self) {
        self.ceiling = self.initial;
    }

    /// The current ceiling.
    pub fn ceiling(&self) -> Duration {
        self.ceiling
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(50), Duration::from_secs(5), 0x5eed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_with_jitter_and_reset() {
        let mut backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(80), 7);
        let mut ceilings = Vec::new();
        for _ in 0..6 {
            let ceiling = backoff.ceiling();
            let delay = backoff.next_delay();
            assert!(delay <= ceiling, "{delay:?} > {ceiling:?}");
            ceilings.push(ceiling.as_millis());
        }
        assert_eq!(ceilings, [10, 20, 40, 80, 80, 80]);
        backoff.reset();
        assert_eq!(backoff.ceiling(), Duration::from_millis(10));
        // Two nodes with different seeds do not retry in lockstep.
        let (mut a, mut b) = (
            Backoff::new(Duration::from_secs(1), Duration::from_secs(1), 1),
            Backoff::new(Duration::from_secs(1), Duration::from_secs(1), 2),
        );
        assert_ne!(a.next_delay(), b.next_delay());
    }
}
