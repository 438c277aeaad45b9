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
//! On L3 events ([`SpoofingDetector`]). An add is *large* when its size is at
//! least `large_order_ratio_pct` of the running typical add size (exponential
//! average of the non-large adds, trusted after `typical_size_warmup_orders`;
//! default 4×: background order sizes rarely reach twice their mean, and a fake
//! wall must be big to move other traders). Large adds at least
//! `min_distance_ticks` behind their side's touch (default 1: at the touch they
//! would risk a fill) are tracked. When one is deleted (or half of it cancelled)
//! and all of these hold, the cancel *qualifies*:
//! - it was never executed against (a spoof order is not meant to trade);
//! - it lived at most `max_order_lifetime_ns` (default 1 s: a resting wall is
//!   real interest, a flash of size is not);
//! - the other side's liquidity was filled after it was placed, and the cancel
//!   came at most `cancel_window_ns` after that fill (default 25 ms: a spoofer
//!   pulls the wall as soon as the real order fills; a wider window catches
//!   more background coincidences, see the scan).
//!
//! When `min_layers` cancels qualify after the same fill (default 1; 2+ looks
//! for layering only), one alarm goes out for that side and fill. Magnitude:
//! the cancelled size as a share (bp) of itself plus the depth still resting near
//! the mid on that side, **signed by the spoofed side's fake pressure**: positive
//! when the fake orders were bids (pretended buying; the spoofer's real trade
//! was a sell), negative when they were asks.
//!
//! # Scoring
//!
//! [`simulate`] builds a deterministic (SplitMix64-seeded) L3 flow: background
//! adds, cancels and executions around a drifting touch, with spoofing episodes
//! (single order or 3–5 layers) and hard negatives (large orders that rest;
//! large orders cancelled with no fill of their own; the spoof pattern with
//! ordinary sizes) injected and labelled. [`score_spoofing`] reports precision
//! (alarms inside a spoof episode on its side / all alarms) and recall (spoof
//! episodes with an alarm / spoof episodes); [`spoofing_scan`] runs every
//! detector configuration × background intensity × episode style
//! (`qpctl scan spoofing`).
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
    ScanRow, SpoofingScore, count_kind, detector_configurations, mix_name, score_spoofing, spoofing_scan,
};
pub use simulator::{
    BackgroundIntensity, EpisodeKind, EpisodeMix, EpisodeStyle, LabelledEpisode, SimulatedEvent, SimulatedFlow,
    SimulatorConfig, SplitMix64, simulate,
};
pub use spoofing::{SpoofAlarm, SpoofingConfig, SpoofingDetector};
