//! Scoring the spoofing detector against a labelled simulated flow.
use qp_book::{BookSide, Grid, L3Book};

use crate::simulator::{BackgroundIntensity, EpisodeKind, EpisodeMix, SimulatedFlow, SimulatorConfig, simulate};
use crate::spoofing::{SpoofingConfig, SpoofingDetector};

/// Precision and recall of one detector configuration on one flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpoofingScore {
    /// Labelled spoofing episodes.
    pub episodes: usize,
    /// Of those, how many had at least one alarm on their side during their span.
    pub detected: usize,
    /// Hard-negative episodes.
    pub hard_negatives: usize,
    /// Of those, how many drew an alarm on their side during their span.
    pub hard_negatives_alarmed: usize,
    /// All alarms raised.
    pub alarms: usize,
    /// Alarms that fell inside a spoofing episode on its side.
    pub true_alarms: usize,
    /// Events the book refused (a simulator bug if not 0).
    pub book_errors: usize,
    pub events: usize,
}

impl SpoofingScore {
    /// True alarms / alarms (1 when there were no alarms).
    pub fn precision(&self) -> f64 {
        if self.alarms == 0 { 1.0 } else { self.true_alarms as f64 / self.alarms as f64 }
    }

    /// Detected episodes / episodes (1 when there were none).
    pub fn recall(&self) -> f64 {
        if self.episodes == 0 { 1.0 } else { self.detected as f64 / self.episodes as f64 }
    }
}

/// Replay `flow` through an L3 book and a [`SpoofingDetector`], and match the
/// alarms to the labels: an alarm is true when it falls inside a spoofing
/// episode's span (first placement to last cancel) and names that episode's side.
pub fn score_spoofing(flow: &SimulatedFlow, config: &SpoofingConfig) -> SpoofingScore {
    let mut score = SpoofingScore { events: flow.events.len(), ..SpoofingScore::default() };
    let Ok(grid) = Grid::new(flow.tick, flow.lot) else {
        score.book_errors = flow.events.len();
        return score;
    };
    let mut book = L3Book::new(grid);
    let mut detector = SpoofingDetector::new(SpoofingConfig { tick: flow.tick, ..*config });
    let mut alarms: Vec<(u64, BookSide)> = Vec::new();
    for e in &flow.events {
        if book.apply(&e.event).is_err() {
            score.book_errors += 1;
            continue;
        }
        if let Some(alarm) = detector.on_l3(e.ts_ns, &e.event, &book) {
            alarms.push((e.ts_ns, alarm.spoofed_side));
        }
    }
    score.alarms = alarms.len();
    let inside = |ts: u64, side: BookSide, ep: &crate::simulator::LabelledEpisode| {
        ep.side == side && ep.start_ts_ns <= ts && ts <= ep.end_ts_ns
    };
    for &(ts, side) in &alarms {
        if flow.episodes.iter().any(|ep| ep.kind.is_spoof() && inside(ts, side, ep)) {
            score.true_alarms += 1;
        }
    }
    for ep in &flow.episodes {
        let alarmed = alarms.iter().any(|&(ts, side)| inside(ts, side, ep));
        if ep.kind.is_spoof() {
            score.episodes += 1;
            score.detected += usize::from(alarmed);
        } else {
            score.hard_negatives += 1;
            score.hard_negatives_alarmed += usize::from(alarmed);
        }
    }
    score
}

/// The detector configurations the scan compares, by name.
pub fn detector_configurations() -> [(&'static str, SpoofingConfig); 4] {
    let default = SpoofingConfig::default();
    [
        ("default", default),
        ("layering-only", SpoofingConfig { min_layers: 2, ..default }),
        // The default without the linked pair: any fill on the other side counts.
        ("unlinked", SpoofingConfig { link_window_ns: 0, fast_fill_pct: 0, ..default }),
        (
            // Any order, any distance, any delay: "a cancel after an opposite fill".
            "naive",
            SpoofingConfig {
                large_order_ratio_pct: 0,
                min_distance_ticks: 0,
                max_distance_ticks: 0,
                cancel_window_ns: 1_000_000_000,
                max_order_lifetime_ns: 60_000_000_000,
                link_window_ns: 0,
                fast_fill_pct: 0,
                ..default
            },
        ),
    ]
}

/// One row of the scan: a detector configuration on one simulated flow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScanRow {
    pub detector: &'static str,
    pub intensity: BackgroundIntensity,
    pub mix: EpisodeMix,
    pub score: SpoofingScore,
}

/// Simulated feed time per flow in [`spoofing_scan`]: 15 minutes, about 230
/// spoofing episodes per cell (with 5 minutes, ~80 a cell, a busy cell's
/// precision moved by ±5 points from seed to seed; with 15, by about ±2).
pub const SCAN_DURATION_NS: u64 = 900_000_000_000;

/// Every detector configuration × background intensity × episode style, on
/// flows of [`SCAN_DURATION_NS`] from `seed`.
pub fn spoofing_scan(seed: u64) -> Vec<ScanRow> {
    let mut rows = Vec::new();
    for intensity in BackgroundIntensity::ALL {
        for mix in [EpisodeMix::SingleOrder, EpisodeMix::Layering] {
            let flow = simulate(&SimulatorConfig {
                seed,
                intensity,
                mix,
                duration_ns: SCAN_DURATION_NS,
                ..SimulatorConfig::default()
            });
            for (detector, config) in detector_configurations() {
                rows.push(ScanRow { detector, intensity, mix, score: score_spoofing(&flow, &config) });
            }
        }
    }
    rows
}

/// Name of an episode mix, for tables.
pub fn mix_name(mix: EpisodeMix) -> &'static str {
    match mix {
        EpisodeMix::SingleOrder => "single-order",
        EpisodeMix::Layering => "layering",
        EpisodeMix::Mixed => "mixed",
    }
}

/// Episode kinds in a flow, counted (for reports).
pub fn count_kind(flow: &SimulatedFlow, pred: impl Fn(EpisodeKind) -> bool) -> usize {
    flow.episodes.iter().filter(|e| pred(e.kind)).count()
}
