use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use qp_wire::{FrameHeader, Stage};
use serde::Serialize;

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
#[derive(Debug)]
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
    pub fn percentiles(&self) -> Percentiles {
        Percentiles::of(&self.0)
    }
}

impl Default for LatencyHistogram {
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

    pub fn summary(&self) -> LatencySummary {
        LatencySummary {
            stages: self.stages.iter().map(|(s, h)| (s.name(), Percentiles::of(h))).collect(),
            whole_loop: Percentiles::of(&self.whole_loop),
        }
    }
}
