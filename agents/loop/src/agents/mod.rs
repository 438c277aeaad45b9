//! The agents of the loop, besides SentimentX (`qp-sentiment`), AlphaScanner, DarkPoolScan,
//! the Decide agent (`qp-alpha`) and RiskSentinel (their own crates). The `baseline_*` one is
//! real but simple logic, standing in until its issue brings the real agent; the quote
//! publisher, confirm and execution hand-off agents are the loop's own. `sim_execution` is the
//! replay's execution side (`qp-fill-sim`), `lockstep` what keeps a replay deterministic,
//! `portfolio` the agents that trade beside Decide (NeuralArb, Guardian, LiquidityFlow) and
//! `decision_record` the risk stage's record of what it judged.

pub mod baseline_execution;
pub mod confirm;
pub mod decision_record;
pub mod execution_handoff;
pub mod lockstep;
pub mod portfolio;
pub mod quote_publisher;
pub mod sim_execution;

use qp_wire::AssetId;

/// Dense per-asset state, indexed by [`AssetId`] (ids start at 1). Sized once.
#[derive(Debug, Clone)]
pub struct PerAsset<T> {
    slots: Vec<T>,
}

impl<T: Clone> PerAsset<T> {
    pub fn new(assets: usize, init: T) -> Self {
        Self { slots: vec![init; assets + 1] }
    }
    pub fn get_mut(&mut self, asset: AssetId) -> Option<&mut T> {
        self.slots.get_mut(asset.get() as usize).filter(|_| asset.get() != 0)
    }
    pub fn get(&self, asset: AssetId) -> Option<&T> {
        self.slots.get(asset.get() as usize).filter(|_| asset.get() != 0)
    }
}
