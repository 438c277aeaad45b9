//! The DarkPoolScan agent.
use qp_alpha_scanner::{MarketEvent, MarketUpdate};
use qp_book::{BookRead, TradePrint};
use qp_runtime::{AgentContext, AgentError, IngestAgent, Outbox};
use qp_wire::{AssetId, BLOCK_PRINT_HIDDEN, BlockPrint};

use crate::classify::{HiddenReason, aggressor, hidden_reason};

const AGENT: &str = "darkpool-scan";

/// What DarkPoolScan reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DarkPoolConfig {
    /// Written into the frames it emits.
    pub origin_node: u32,
    /// Highest asset id it accepts (ids are dense, from 1).
    pub max_assets: usize,
    /// The venue number written into [`BlockPrint::venue`].
    pub venue: u16,
    /// A print is a block when its size is at least this percentage of the
    /// visible depth within `block_band_bp` of the mid on its resting side (100 = all of it).
    pub block_ratio_pct: u32,
    pub block_band_bp: u32,
    /// Prints smaller than this are never blocks.
    pub min_block_qty: i64,
    /// Hidden-liquidity prints smaller than this are not reported.
    pub min_hidden_qty: i64,
}

impl Default for DarkPoolConfig {
    fn default() -> Self {
        Self {
            origin_node: 0,
            max_assets: 1,
            venue: 0,
            block_ratio_pct: 100,
            block_band_bp: 10,
            min_block_qty: 1,
            min_hidden_qty: 1,
        }
    }
}

/// Why a configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DarkPoolConfigError {
    #[error("max_assets must be at least 1")]
    NoAssets,
    #[error("block_ratio_pct must be positive")]
    ZeroBlockRatio,
}

/// What DarkPoolScan made of one print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrintAssessment {
    /// Why the visible book cannot explain the print, if it cannot.
    pub hidden: Option<HiddenReason>,
    /// Whether the print is large against the visible depth near the mid.
    pub block: bool,
    /// The visible depth it was compared with.
    pub visible_depth_qty: i64,
}

/// Counters for operators and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DarkPoolCounts {
    pub prints: u64,
    pub hidden: u64,
    pub blocks: u64,
    pub emitted: u64,
}

/// Emits a [`BlockPrint`] frame for each trade print that executed against
/// hidden liquidity (flag [`BLOCK_PRINT_HIDDEN`]) or is a block against the
/// visible depth (both, when both). See the crate documentation.
#[derive(Debug)]
pub struct DarkPoolScan {
    config: DarkPoolConfig,
    sequence: u64,
    counts: DarkPoolCounts,
}

impl DarkPoolScan {
    pub fn new(config: DarkPoolConfig) -> Result<Self, DarkPoolConfigError> {
        if config.max_assets == 0 {
            return Err(DarkPoolConfigError::NoAssets);
        }
        if config.block_ratio_pct == 0 {
            return Err(DarkPoolConfigError::ZeroBlockRatio);
        }
        Ok(Self { config, sequence: 0, counts: DarkPoolCounts::default() })
    }

    pub fn config(&self) -> &DarkPoolConfig {
        &self.config
    }

    pub fn counts(&self) -> DarkPoolCounts {
        self.counts
    }

    /// Judge a print against the visible book as it stood before it.
    pub fn assess<B: BookRead + ?Sized>(&self, book: &B, print: &TradePrint) -> PrintAssessment {
        let visible_depth_qty = book.volume_within_bp(print.resting_side, self.config.block_band_bp);
        let block = print.qty >= self.config.min_block_qty
            && i128::from(print.qty) * 100 >= i128::from(visible_depth_qty) * i128::from(self.config.block_ratio_pct);
        PrintAssessment { hidden: hidden_reason(book, print), block, visible_depth_qty }
    }

    /// Process one update: the work of [`IngestAgent::on_event`].
    pub fn scan<B: BookRead + ?Sized>(
        &mut self,
        update: &MarketUpdate<'_, B>,
        out: &mut Outbox,
    ) -> Result<(), AgentError> {
        let id = update.asset.get();
        if id == 0 || id as usize > self.config.max_assets {
            return Err(AgentError::UnknownAsset { agent: AGENT, asset: id });
        }
        let MarketEvent::Trade(print) = update.event else { return Ok(()) };
        if print.price <= 0 || print.qty <= 0 {
            return Err(AgentError::Rejected { agent: AGENT, detail: "trade print with a non-positive price or size" });
        }
        self.counts.prints += 1;
        let assessment = self.assess(update.book, &print);
        let hidden = assessment.hidden.is_some() && print.qty >= self.config.min_hidden_qty;
        self.counts.hidden += u64::from(assessment.hidden.is_some());
        self.counts.blocks += u64::from(assessment.block);
        if !hidden && !assessment.block {
            return Ok(());
        }
        self.emit(out, update.asset, &print, if hidden { BLOCK_PRINT_HIDDEN } else { 0 })
    }

    fn emit(&mut self, out: &mut Outbox, asset: AssetId, print: &TradePrint, flags: u8) -> Result<(), AgentError> {
        self.sequence += 1;
        self.counts.emitted += 1;
        let frame = BlockPrint::new(
            asset,
            aggressor(print.resting_side),
            flags,
            self.config.venue,
            print.price,
            print.qty,
            print.ts_ns,
        );
        out.emit(self.config.origin_node, self.sequence, &frame)
    }
}

impl<B: BookRead + ?Sized> IngestAgent<MarketUpdate<'_, B>> for DarkPoolScan {
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
