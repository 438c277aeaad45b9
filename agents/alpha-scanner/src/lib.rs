//! AlphaScanner: order-flow imbalance, vanishing liquidity and spoofing/layering
//! detection over one order book per asset, emitted as [`qp_wire::BookSignal`]
//! frames; and the labelled simulator that scores the spoofing detector.
//!
//! The agent takes [`MarketUpdate`]s: one book event, delivered after the
//! feeder's book ([`qp_book::L2Book`] or [`qp_book::L3Book`], read through
//! [`qp_book::BookRead`]) applied it. It reads no clock: every window and rate
//! limit runs on the update's feed time (`ts_ns`). Everything is integers, and
//! all state is sized at construction, so an update allocates nothing.
//!
//! # Order-flow imbalance ([`BookSignalKind::Imbalance`](qp_wire::BookSignalKind::Imbalance))
//!
//! Cont, Kukanov & Stoikov (2014). For each change of the best quotes
//! (Pb, qb, Pa, qa), primed values being the previous ones:
//!
//! e = 1{Pb ≥ Pb'}·qb − 1{Pb ≤ Pb'}·qb' − 1{Pa ≤ Pa'}·qa + 1{Pa ≥ Pa'}·qa'
//!
//! and OFI = Σ e over the changes in the last [`ImbalanceConfig::window_ns`]
//! ([`ofi_increment`], [`OrderFlowImbalance`]). The agent keeps its own previous
//! top of book. OFI is normalised by the depth within
//! [`LiquidityDropConfig::band_bp`] of the mid on both sides, in bp; a signal
//! goes out when |OFI| ≥ [`ImbalanceConfig::threshold_bp`] (default 30 % of the
//! near-mid depth: CKS find price changes linear in OFI/depth, and a third of
//! the depth turning over one way within a second is a strong move), at most
//! once per [`ImbalanceConfig::min_interval_ns`] per asset (default 100 ms of
//! feed time). Sign: positive = buying pressure.
//!
//! # Vanishing liquidity ([`BookSignalKind::LiquidityDrop`](qp_wire::BookSignalKind::LiquidityDrop))
//!
//! Depth = size within `band_bp` of the mid ([`qp_book::BookRead::volume_within_bp`]),
//! per side or summed ([`LiquidityDropConfig::per_side`]). The detector keeps the
//! peak depth of the last `window_ns` (monotonic queue) and signals when the
//! depth is more than `drop_threshold_bp` below it (default: half the near-mid
//! depth gone within 500 ms: ordinary churn replaces what it removes within
//! that time; a pull of half the book that fast is the "[DB_LIQUIDITY, DROPPING]"
//! pattern that precedes gaps). A signal restarts the peak from the depth after
//! the drop (one drop, one signal) and mutes that side for `cooldown_ns`.
//! Magnitude = the drop in bp of the peak; negative when bid depth vanished
//! (bearish), positive when ask depth did.
//!
//! # Spoofing and layering ([`BookSignalKind::Spoofing`](qp_wire::BookSignalKind::Spoofing))
//!
//! On L3 events ([`SpoofingDetector`]; the definition and the reasoning for
//! every threshold are in its module). In short: a large order (default ≥ 2×
//! the running typical add size) resting 1–5 ticks behind its side's touch,
//! never executed, pulled within 1 s of its placement and at most 50 ms after
//! the other side's fill of a *linked* order: one placed within 40 ms of it
//! (the spoofer's genuine order, known by its id on the add and the
//! execution), filled completely, faster than half the feed's typical
//! placement-to-fill time, and no bigger than the fake order. `min_layers`
//! qualifying cancels after the same fill raise one alarm for that side and
//! fill (default 1; 2+ looks for layering only). A trade print names no order,
//! so it links to nothing (it counts only for the unlinked detector,
//! `link_window_ns = 0`). Magnitude: the cancelled size as a share (bp) of
//! itself plus the depth still resting near the mid on that side, **signed by
//! the spoofed side's fake pressure**: positive when the fake orders were bids
//! (pretended buying; the spoofer's real trade was a sell), negative when they
//! were asks.
//!
//! # Scoring
//!
//! [`simulate`] builds a deterministic (SplitMix64-seeded) L3 flow: background
//! adds, cancels and executions around a drifting touch, including block
//! orders of 2–8× the mean size that market makers requote within 20–400 ms,
//! with spoofing episodes (single order or 3–5 layers of 2–6× the mean size, a
//! genuine order on the other side, jittered timings, partial cancels) and
//! hard negatives (large orders that rest; large orders pulled with no fill of
//! their own; the spoof pattern with ordinary sizes; large orders pulled right
//! after an unrelated fill on the other side) injected and labelled; see the
//! simulator module. [`score_spoofing`] reports precision (alarms inside a
//! spoof episode on its side / all alarms) and recall (spoof episodes with an
//! alarm / spoof episodes); [`spoofing_scan`] runs every detector
//! configuration × background intensity × episode style on 15 minutes of
//! simulated flow each (`qpctl scan spoofing`).
#![forbid(unsafe_code)]

mod liquidity;
mod market;
mod ofi;
mod scanner;
mod scoring;
mod simulator;
mod spoofing;

pub use liquidity::{LiquidityDrop, LiquidityDropConfig, LiquidityDropDetector};
pub use market::{MarketEvent, MarketUpdate};
pub use ofi::{OrderFlowImbalance, TopOfBook, ofi_increment};
pub use scanner::{AlphaScanner, AlphaScannerConfig, ImbalanceConfig, ScannerConfigError, ScannerCounts};
pub use scoring::{
    SCAN_DURATION_NS, ScanRow, SpoofingScore, count_kind, detector_configurations, mix_name, score_spoofing,
    spoofing_scan,
};
pub use simulator::{
    BackgroundIntensity, EpisodeKind, EpisodeMix, EpisodeStyle, LabelledEpisode, SimulatedEvent, SimulatedFlow,
    SimulatorConfig, SplitMix64, simulate,
};
pub use spoofing::{SpoofAlarm, SpoofingConfig, SpoofingDetector};
