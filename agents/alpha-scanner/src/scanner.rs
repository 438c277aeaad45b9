//! The AlphaScanner agent: the three detectors over one asset's book.
use qp_book::{BookRead, BookSide};
use qp_runtime::{AgentContext, AgentError, IngestAgent, Outbox};
use qp_wire::{AssetId, BookSignal, BookSignalKind};

use crate::liquidity::{LiquidityDropConfig, LiquidityDropDetector};
use crate::market::{MarketEvent, MarketUpdate};
use crate::ofi::{OrderFlowImbalance, TopOfBook};
use crate::spoofing::{SpoofAlarm, SpoofingConfig, SpoofingDetector};

const AGENT: &str = "alpha-scanner";

/// When order-flow imbalance is signalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImbalanceConfig {
    /// OFI sums the best-quote changes of this much feed time.
    pub window_ns: u64,
    /// Best-quote changes a window holds at most (allocated once).
    pub window_capacity: usize,
    /// Signal when |OFI| is at least this many bp of the depth within
    /// [`LiquidityDropConfig::band_bp`] of the mid (both sides).
    pub threshold_bp: u32,
    /// At most one imbalance signal per asset per this much feed time.
    pub min_interval_ns: u64,
}

impl Default for ImbalanceConfig {
    fn default() -> Self {
        Self { window_ns: 1_000_000_000, window_capacity: 4_096, threshold_bp: 3_000, min_interval_ns: 100_000_000 }
    }
}

/// Everything AlphaScanner is configured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlphaScannerConfig {
    /// Written into the frames it emits.
    pub origin_node: u32,
    /// Highest asset id it keeps state for (ids are dense, from 1).
    pub max_assets: usize,
    pub imbalance: ImbalanceConfig,
    pub liquidity: LiquidityDropConfig,
    pub spoofing: SpoofingConfig,
}

impl Default for AlphaScannerConfig {
    fn default() -> Self {
        Self {
            origin_node: 0,
            max_assets: 1,
            imbalance: ImbalanceConfig::default(),
            liquidity: LiquidityDropConfig::default(),
            spoofing: SpoofingConfig::default(),
        }
    }
}

/// Why a configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScannerConfigError {
    #[error("max_assets must be at least 1")]
    NoAssets,
    #[error("spoofing.tick must be positive, not {0}")]
    NonPositiveTick(i64),
    #[error("{field} must be at least 1")]
    ZeroCapacity { field: &'static str },
    #[error("{field} must be positive")]
    ZeroWindow { field: &'static str },
}

impl AlphaScannerConfig {
    pub fn validate(&self) -> Result<(), ScannerConfigError> {
        if self.max_assets == 0 {
            return Err(ScannerConfigError::NoAssets);
        }
        if self.spoofing.tick <= 0 {
            return Err(ScannerConfigError::NonPositiveTick(self.spoofing.tick));
        }
        for (field, capacity) in [
            ("imbalance.window_capacity", self.imbalance.window_capacity),
            ("liquidity.window_capacity", self.liquidity.window_capacity),
            ("spoofing.max_tracked_orders", self.spoofing.max_tracked_orders),
        ] {
            if capacity == 0 {
                return Err(ScannerConfigError::ZeroCapacity { field });
            }
        }
        for (field, window) in
            [("imbalance.window_ns", self.imbalance.window_ns), ("liquidity.window_ns", self.liquidity.window_ns)]
        {
            if window == 0 {
                return Err(ScannerConfigError::ZeroWindow { field });
            }
        }
        Ok(())
    }
}

/// One asset's detector state.
#[derive(Debug, Clone)]
struct AssetScan {
    ofi: OrderFlowImbalance,
    /// Bid depth, or both sides' when the liquidity detector watches their sum.
    bid_depth: LiquidityDropDetector,
    ask_depth: LiquidityDropDetector,
    spoofing: SpoofingDetector,
    last_imbalance_ns: Option<u64>,
}

/// Counters for operators and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScannerCounts {
    pub events: u64,
    pub imbalance_signals: u64,
    pub liquidity_signals: u64,
    pub spoofing_signals: u64,
}

/// Emits [`BookSignalKind::Imbalance`], [`BookSignalKind::LiquidityDrop`] and
/// [`BookSignalKind::Spoofing`] [`BookSignal`] frames from book updates. See the
/// crate documentation for each detector.
#[derive(Debug)]
pub struct AlphaScanner {
    config: AlphaScannerConfig,
    assets: Box<[AssetScan]>,
    sequence: u64,
    counts: ScannerCounts,
}

impl AlphaScanner {
    pub fn new(config: AlphaScannerConfig) -> Result<Self, ScannerConfigError> {
        config.validate()?;
        let scan = AssetScan {
            ofi: OrderFlowImbalance::new(config.imbalance.window_ns, config.imbalance.window_capacity),
            bid_depth: LiquidityDropDetector::new(config.liquidity),
            ask_depth: LiquidityDropDetector::new(config.liquidity),
            spoofing: SpoofingDetector::new(config.spoofing),
            last_imbalance_ns: None,
        };
        // Index 0 is never a valid asset id; keeping a slot for it keeps indexing plain.
        Ok(Self {
            config,
            assets: vec![scan; config.max_assets + 1].into_boxed_slice(),
            sequence: 0,
            counts: ScannerCounts::default(),
        })
    }

    pub fn config(&self) -> &AlphaScannerConfig {
        &self.config
    }

    pub fn counts(&self) -> ScannerCounts {
        self.counts
    }

    /// The OFI over the window of an asset, as of its last update.
    pub fn ofi(&self, asset: AssetId) -> Option<i64> {
        self.asset(asset).map(|a| a.ofi.ofi())
    }

    /// An asset's spoofing detector (for inspection).
    pub fn spoofing_detector(&self, asset: AssetId) -> Option<&SpoofingDetector> {
        self.asset(asset).map(|a| &a.spoofing)
    }

    fn asset(&self, asset: AssetId) -> Option<&AssetScan> {
        self.assets.get(asset.get() as usize).filter(|_| asset.get() != 0)
    }

    fn emit(
        &mut self,
        out: &mut Outbox,
        asset: AssetId,
        kind: BookSignalKind,
        magnitude_bp: i64,
        ref_price: i64,
        ts_ns: u64,
    ) -> Result<(), AgentError> {
        if ref_price <= 0 {
            return Ok(());
        }
        let magnitude_bp = magnitude_bp.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
        self.sequence += 1;
        out.emit(self.config.origin_node, self.sequence, &BookSignal::new(asset, kind, magnitude_bp, ref_price, ts_ns))
    }

    /// Process one update: the work of [`IngestAgent::on_event`].
    pub fn scan<B: BookRead + ?Sized>(
        &mut self,
        update: &MarketUpdate<'_, B>,
        out: &mut Outbox,
    ) -> Result<(), AgentError> {
        let index = update.asset.get() as usize;
        if update.asset.get() == 0 || index >= self.assets.len() {
            return Err(AgentError::UnknownAsset { agent: AGENT, asset: update.asset.get() });
        }
        self.counts.events += 1;
        let ts_ns = update.ts_ns;
        let book = update.book;
        let per_side = self.config.liquidity.per_side;
        let band_bp = self.config.liquidity.band_bp;
        let imbalance = self.config.imbalance;
        let scan = &mut self.assets[index];

        let mut spoof: Option<SpoofAlarm> = None;
        match update.event {
            MarketEvent::Resync => {
                scan.ofi.reset();
                scan.bid_depth.reset();
                scan.ask_depth.reset();
                scan.spoofing.reset();
                return Ok(());
            }
            MarketEvent::Trade(print) => {
                // A print changes no book: only the spoofing detector's fill clock moves.
                scan.spoofing.on_fill(ts_ns, print.resting_side);
                return Ok(());
            }
            MarketEvent::L3(event) => spoof = scan.spoofing.on_l3(ts_ns, &event, book),
            MarketEvent::LevelSet { .. } | MarketEvent::Depth => {}
        }

        let ref_price = book.mid_x2().map_or(0, |m| m / 2);
        let bid_band = book.volume_within_bp(BookSide::Bid, band_bp);
        let ask_band = book.volume_within_bp(BookSide::Ask, band_bp);
        let (bid_drop, ask_drop) = if per_side {
            (scan.bid_depth.observe(ts_ns, bid_band), scan.ask_depth.observe(ts_ns, ask_band))
        } else {
            (scan.bid_depth.observe(ts_ns, bid_band.saturating_add(ask_band)), None)
        };

        let mut imbalance_bp = None;
        if scan.ofi.observe(ts_ns, TopOfBook::of(book)).is_some() {
            let depth = i128::from(bid_band) + i128::from(ask_band);
            if depth > 0 {
                let ofi_bp = i128::from(scan.ofi.ofi()) * 10_000 / depth;
                let due =
                    scan.last_imbalance_ns.is_none_or(|last| ts_ns.saturating_sub(last) >= imbalance.min_interval_ns);
                if ofi_bp.unsigned_abs() >= u128::from(imbalance.threshold_bp) && due {
                    scan.last_imbalance_ns = Some(ts_ns);
                    imbalance_bp = Some(ofi_bp.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64);
                }
            }
        }

        let asset = update.asset;
        if let Some(ofi_bp) = imbalance_bp {
            self.counts.imbalance_signals += 1;
            self.emit(out, asset, BookSignalKind::Imbalance, ofi_bp, ref_price, ts_ns)?;
        }
        if let Some(drop) = bid_drop {
            // Bid depth vanishing is bearish. Summed depth: the sign says which side is thinner now.
            let bearish = per_side || bid_band <= ask_band;
            let sign = if bearish { -1 } else { 1 };
            self.counts.liquidity_signals += 1;
            self.emit(out, asset, BookSignalKind::LiquidityDrop, sign * i64::from(drop.drop_bp), ref_price, ts_ns)?;
        }
        if let Some(drop) = ask_drop {
            self.counts.liquidity_signals += 1;
            self.emit(out, asset, BookSignalKind::LiquidityDrop, i64::from(drop.drop_bp), ref_price, ts_ns)?;
        }
        if let Some(alarm) = spoof {
            // Magnitude: the cancelled size as a share of itself plus what still rests
            // near the mid on that side, signed by the fake pressure (+ = fake bids).
            let remaining = if alarm.spoofed_side == BookSide::Bid { bid_band } else { ask_band };
            let total = i128::from(alarm.cancelled_qty) + i128::from(remaining.max(0));
            let share_bp = if total > 0 { (i128::from(alarm.cancelled_qty) * 10_000 / total) as i64 } else { 0 };
            let sign = if alarm.spoofed_side == BookSide::Bid { 1 } else { -1 };
            let price = if ref_price > 0 { ref_price } else { alarm.price };
            self.counts.spoofing_signals += 1;
            self.emit(out, asset, BookSignalKind::Spoofing, sign * share_bp, price, ts_ns)?;
        }
        Ok(())
    }
}

impl<B: BookRead + ?Sized> IngestAgent<MarketUpdate<'_, B>> for AlphaScanner {
    fn name(&self) -> &'static str {
        AGENT
    }

    fn on_event(
        &mut self,
        _ctx: AgentContext,
        event: &MarketUpdate<'_, B>,
        out: &mut Outbox,
    ) -> Result<(), AgentError> {
        self.scan(event, out)
    }
}
