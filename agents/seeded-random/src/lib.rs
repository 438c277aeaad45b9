//! SplitMix64 (Steele, Lea & Flood 2014): the project's one small, fast, seedable generator,
//! for simulators, test inputs, benches and seeded model weights. The same seed gives the
//! same stream on every machine. Not for anything secret.
//!
//! Every draw is pinned bit for bit (tests below): committed figures (the spoofing
//! simulator's scores, the forge's transfer set, seeded models) depend on the exact streams.
#![forbid(unsafe_code)]

/// SplitMix64. `Clone` forks the stream: the copy draws what the original would have drawn.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` by the remainder of one draw (0 when `n` is 0). Modulo bias: the
    /// `2⁶⁴ mod n` smallest values come up once more in 2⁶⁴ draws than the others, which no
    /// test or simulation here can see.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// Uniform in `0..n` from the high bits of one draw: `⌊x·n / 2⁶⁴⌋` (Lemire's
    /// multiply-shift reduction without its rejection step; 0 when `n` is 0). The same bias
    /// bound as [`below`](Self::below), but a different stream: the spoofing simulator
    /// and the forge's transfer set draw with this one.
    pub fn below_multiply_shift(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform in `[0, 1)`: the top 53 bits of one draw.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[-limit, limit)` as `f32`: the top 24 bits of one draw (seeded weights).
    pub fn uniform_symmetric_f32(&mut self, limit: f32) -> f32 {
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        (unit * 2.0 - 1.0) * limit
    }

    /// Standard normal by Box–Muller from two [`uniform`](Self::uniform) draws (the first
    /// kept away from 0), using the cosine half only.
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-300), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Fisher–Yates shuffle, drawing with [`below`](Self::below).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_is_splitmix64() {
        // The reference implementation's first outputs for seed 1234567.
        let mut rng = SplitMix64::new(1_234_567);
        let first: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        assert_eq!(first, [6_457_827_717_110_365_317, 3_203_168_211_198_807_973, 9_817_491_932_198_370_423]);
        assert_eq!(SplitMix64::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn draws_are_pinned_to_their_arithmetic() {
        let mut a = SplitMix64::new(42);
        let mut b = a.clone();
        for n in [1usize, 2, 3, 7, 100, 1 << 40] {
            let x = b.next_u64();
            assert_eq!(a.below(n), (x % n as u64) as usize);
            let x = b.next_u64();
            assert_eq!(a.below_multiply_shift(n), ((u128::from(x) * n as u128) >> 64) as usize);
        }
        assert_eq!(a.below(0), 0);
        b.next_u64();
        assert_eq!(a.below_multiply_shift(0), 0);
        b.next_u64();
        let x = b.next_u64();
        assert_eq!(a.uniform(), (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64));
        let x = b.next_u64();
        assert_eq!(a.uniform_symmetric_f32(0.5), ((x >> 40) as f32 / 16_777_216.0 * 2.0 - 1.0) * 0.5);
    }

    #[test]
    fn ranges_hold() {
        let mut rng = SplitMix64::new(9);
        for _ in 0..10_000 {
            assert!(rng.below(7) < 7);
            assert!(rng.below_multiply_shift(7) < 7);
            let u = rng.uniform();
            assert!((0.0..1.0).contains(&u));
            let w = rng.uniform_symmetric_f32(3.0);
            assert!((-3.0..3.0).contains(&w));
            assert!(rng.normal().is_finite());
        }
        let mut items: Vec<u32> = (0..50).collect();
        rng.shuffle(&mut items);
        let mut sorted = items.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_ne!(items, sorted);
    }
}
