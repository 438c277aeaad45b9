//! Baseline book signal: top-of-book size imbalance. AlphaScanner (full L2/L3
//! books, spoofing and liquidity-drop detection) replaces it.
use qp_replay::BookTicker;
use qp_runtime::{AgentContext, AgentError, IngestAgent, Outbox};
use qp_wire::{AssetId, BookSignal, BookSignalKind};

use super::PerAsset;

/// A top-of-book update for one asset entering the loop.
#[derive(Debug, Clone, Copy)]
pub struct TickerUpdate<'a> {
    pub asset: AssetId,
    pub ticker: &'a BookTicker,
}

/// Emits an [`BookSignalKind::Imbalance`] signal when
/// (bid qty − ask qty) / (bid qty + ask qty) passes the threshold, at most once
/// per asset per interval of feed time.
#[derive(Debug)]
pub struct BaselineImbalance {
    threshold_bp: i32,
    min_interval_ns: u64,
    last_emitted_ns: PerAsset<u64>,
    origin_node: u32,
    sequence: u64,
}

impl BaselineImbalance {
    pub fn new(assets: usize, threshold_bp: i32, min_interval_ns: u64, origin_node: u32) -> Self {
        Self { threshold_bp, min_interval_ns, last_emitted_ns: PerAsset::new(assets, 0), origin_node, sequence: 0 }
    }
}

impl IngestAgent<TickerUpdate<'_>> for BaselineImbalance {
    fn name(&self) -> &'static str {
        "baseline-imbalance"
    }

    fn on_event(&mut self, _ctx: AgentContext, event: &TickerUpdate<'_>, out: &mut Outbox) -> Result<(), AgentError> {
        let t = event.ticker;
        let total = i128::from(t.bid_qty) + i128::from(t.ask_qty);
        if total <= 0 || t.bid_price <= 0 || t.ask_price <= t.bid_price {
            return Err(AgentError::Rejected { agent: "baseline-imbalance", detail: "crossed or empty top of book" });
        }
        let imbalance_bp = ((i128::from(t.bid_qty) - i128::from(t.ask_qty)) * 10_000 / total) as i32;
        if imbalance_bp.abs() < self.threshold_bp {
            return Ok(());
        }
        let last = self
            .last_emitted_ns
            .get_mut(event.asset)
            .ok_or(AgentError::UnknownAsset { agent: "baseline-imbalance", asset: event.asset.get() })?;
        if *last != 0 && t.local_ts_ns.saturating_sub(*last) < self.min_interval_ns {
            return Ok(());
        }
        *last = t.local_ts_ns;
        // Mid price, rounded down to a tick.
        let mid = (t.bid_price + t.ask_price) / 2;
        self.sequence += 1;
        out.emit(
            self.origin_node,
            self.sequence,
            &BookSignal::new(event.asset, BookSignalKind::Imbalance, imbalance_bp, mid, t.local_ts_ns),
        )
    }
}
