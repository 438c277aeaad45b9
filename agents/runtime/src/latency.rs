use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use qp_wire::{FrameHeader, Stage};
use serde::Serialize;

use crate::clock::monotonic_ns;

/// Percentiles of one latency distribution, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
    pub max_ns: u64,
    pub count: u64,
}

impl Percentiles {
    pub(crate) fn of(histogram: &Histogram<u64>) -> Self {
        Self {
            p50_ns: histogram.value_at_quantile(0.50),
            p99_ns: histogram.value_at_quantile(0.99),
            p999_ns: histogram.value_at_quantile(0.999),
            max_ns: histogram.max(),
            count: histogram.len(),
        }
    }
}

/// One latency distribution, sized up front: recording never allocates.
#[derive(Debug, Clone)]
pub struct LatencyHistogram(Histogram<u64>);

impl LatencyHistogram {
    pub fn new() -> Self {
        Self(histogram())
    }
    pub fn record(&mut self, ns: u64) {
        let _ = self.0.record(ns.clamp(1, MAX_TRACKED_NS));
    }
    pub fn reset(&mut self) {
        self.0.reset();
    }
    /// Adds `other`'s samples (both have the same bounds, so nothing is lost).
    pub fn merge(&mut self, other: &LatencyHistogram) {
        let _ = self.0.add(&other.0);
    }
    pub fn percentiles(&self) -> Percentiles {
        Percentiles::of(&self.0)
    }
    /// The distribution in power-of-two buckets (for charts).
    pub fn log2_buckets(&self) -> Vec<LatencyBucket> {
        log2_buckets(&self.0)
    }
}

/// Samples whose latency fell in `[upper_ns / 2, upper_ns)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LatencyBucket {
    pub upper_ns: u64,
    pub count: u64,
}

fn log2_buckets(histogram: &Histogram<u64>) -> Vec<LatencyBucket> {
    if histogram.is_empty() {
        return Vec::new();
    }
    // hdrhistogram steps to 0, 1, 3, 7, …: the inclusive top of [2^k, 2^(k+1)); the first step
    // (0) holds nothing, since samples are clamped to ≥ 1 ns.
    histogram
        .iter_log(1, 2.0)
        .skip(1)
        .map(|v| LatencyBucket { upper_ns: v.value_iterated_to() + 1, count: v.count_since_last_iteration() })
        .collect()
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

/// Back-to-back clock readings [`clock_overhead_ns`] takes the median of.
const CLOCK_OVERHEAD_SAMPLES: usize = 200_001;

/// The clock's own cost: the median difference of two back-to-back
/// [`monotonic_ns`](crate::clock::monotonic_ns) readings, which is what timing a call
/// with one reading on each side adds to it.
pub fn clock_overhead_ns() -> u64 {
    let mut samples: Vec<u64> = (0..CLOCK_OVERHEAD_SAMPLES)
        .map(|_| {
            let start = monotonic_ns();
            let end = std::hint::black_box(monotonic_ns());
            end.saturating_sub(start)
        })
        .collect();
    let middle = samples.len() / 2;
    *samples.select_nth_unstable(middle).1
}

/// Times single calls: a clock reading on each side of each call, less the clock's own
/// cost, into a [`LatencyHistogram`]. For benches whose targets are per-call percentiles
/// (criterion reports means). Recording never allocates.
#[derive(Debug)]
pub struct PerCallTimer {
    overhead_ns: u64,
    histogram: LatencyHistogram,
}

impl PerCallTimer {
    /// Measures the clock's cost first ([`clock_overhead_ns`]).
    pub fn new() -> Self {
        Self::with_overhead(clock_overhead_ns())
    }

    /// Subtracts `overhead_ns` from every call: one measurement shared by several timers.
    pub fn with_overhead(overhead_ns: u64) -> Self {
        Self { overhead_ns, histogram: LatencyHistogram::new() }
    }

    /// Runs `call` once, records how long it took, and hands back its result (through
    /// `black_box`, so the call is not optimised away).
    pub fn time<R>(&mut self, call: impl FnOnce() -> R) -> R {
        let start = monotonic_ns();
        let result = std::hint::black_box(call());
        let end = monotonic_ns();
        self.histogram.record(end.saturating_sub(start).saturating_sub(self.overhead_ns));
        result
    }

    /// What is subtracted from each call.
    pub fn overhead_ns(&self) -> u64 {
        self.overhead_ns
    }

    /// Forget the calls timed so far (after warm-up).
    pub fn reset(&mut self) {
        self.histogram.reset();
    }

    pub fn percentiles(&self) -> Percentiles {
        self.histogram.percentiles()
    }

    /// One line: `label: p50 … ns, p99 … ns, p99.9 … ns, max … ns (N calls, clock overhead … ns subtracted)`.
    pub fn summary_line(&self, label: &str) -> String {
        let p = self.percentiles();
        format!(
            "{label}: p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns ({} calls, clock overhead {} ns subtracted)",
            p.p50_ns, p.p99_ns, p.p999_ns, p.max_ns, p.count, self.overhead_ns
        )
    }
}

impl Default for PerCallTimer {
    fn default() -> Self {
        Self::new()
    }
}

/// The shape `qpctl bench loop --json` prints: one entry per stage and one for the loop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LatencySummary {
    pub stages: BTreeMap<&'static str, Percentiles>,
    #[serde(rename = "loop")]
    pub whole_loop: Percentiles,
}

/// Per-stage latency read off frame stamps. A stage's latency is the time from
/// the previous stamped stage to its own stamp: the ring hop plus its work.
/// Recording never allocates (histograms are sized up front and do not grow).
#[derive(Debug)]
pub struct LatencyTable {
    stages: Vec<(Stage, Histogram<u64>)>,
    whole_loop: Histogram<u64>,
    from: Stage,
    to: Stage,
}

/// Highest latency recorded exactly; longer ones are clamped (10 s).
const MAX_TRACKED_NS: u64 = 10_000_000_000;

fn histogram() -> Histogram<u64> {
    // 3 significant digits from 1 ns to 10 s: about 200 KB, allocated once.
    #[allow(clippy::expect_used)] // constant bounds that hdrhistogram always accepts
    let mut h = Histogram::new_with_bounds(1, MAX_TRACKED_NS, 3).expect("constant histogram bounds");
    h.auto(false);
    h
}

impl LatencyTable {
    /// A table for the loop from stage `from` to stage `to` (inclusive).
    pub fn new(from: Stage, to: Stage) -> Self {
        let stages = Stage::ALL.iter().copied().filter(|s| *s > from && *s <= to).map(|s| (s, histogram())).collect();
        Self { stages, whole_loop: histogram(), from, to }
    }

    /// Record the stamps of one frame that went through the loop. Frames that
    /// skipped a stage count only for the stages they have both ends of.
    pub fn record(&mut self, header: &FrameHeader) {
        let mut previous = header.stamp(self.from);
        for (stage, histogram) in &mut self.stages {
            let current = header.stamp(*stage);
            if let (Some(a), Some(b)) = (previous, current) {
                let _ = histogram.record(b.saturating_sub(a).clamp(1, MAX_TRACKED_NS));
            }
            if current.is_some() {
                previous = current;
            }
        }
        if let (Some(a), Some(b)) = (header.stamp(self.from), header.stamp(self.to)) {
            let _ = self.whole_loop.record(b.saturating_sub(a).clamp(1, MAX_TRACKED_NS));
        }
    }

    /// Forget everything recorded (after warm-up).
    pub fn reset(&mut self) {
        for (_, histogram) in &mut self.stages {
            histogram.reset();
        }
        self.whole_loop.reset();
    }

    /// Each stage's distribution, and the whole loop's (named `loop`), in power-of-two buckets.
    pub fn log2_buckets(&self) -> Vec<(&'static str, Vec<LatencyBucket>)> {
        let mut out: Vec<_> = self.stages.iter().map(|(s, h)| (s.name(), log2_buckets(h))).collect();
        out.push(("loop", log2_buckets(&self.whole_loop)));
        out
    }

    pub fn summary(&self) -> LatencySummary {
        LatencySummary {
            stages: self.stages.iter().map(|(s, h)| (s.name(), Percentiles::of(h))).collect(),
            whole_loop: Percentiles::of(&self.whole_loop),
        }
    }
}
