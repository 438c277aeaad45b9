//! Guardian as a loop agent: a rebalance tick in, `Decision` frames out. Only RiskSentinel
//! turns a decision into an `OrderIntent`; Guardian never creates one.
use qp_risk_model::ReturnMatrix;
use qp_runtime::{AgentContext, AgentError, IngestAgent, Outbox};
use qp_wire::Decision;

use crate::config::{GuardianConfig, REASON_REBALANCE};
use crate::error::GuardianError;
use crate::planner::RebalancePlanner;

const AGENT: &str = "guardian";

/// The outside event that asks Guardian to rebalance: the latest returns window (one column
/// per configured asset), positions as last reported by execution, and current prices.
#[derive(Debug, Clone, Copy)]
pub struct RebalanceTick<'a> {
    pub returns: &'a ReturnMatrix,
    pub positions_lots: &'a [i64],
    /// Prices in ticks.
    pub prices: &'a [i64],
    /// The value (quote currency) the risk-parity book is to hold; `None`: its current gross
    /// value (rebalance what is held). A value lets Guardian build a book from flat.
    pub book_value: Option<f64>,
}

/// Counters for the audit trail.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuardianStats {
    pub ticks: u64,
    pub decisions: u64,
    /// Trades above the threshold left for a later tick because of `max_orders_per_tick`.
    pub deferred: u64,
}

/// The Guardian agent.
#[derive(Debug)]
pub struct Guardian {
    planner: RebalancePlanner,
    origin_node: u32,
    max_orders_per_tick: usize,
    next_decision_id: u64,
    sequence: u64,
    stats: GuardianStats,
}

impl Guardian {
    pub fn new(config: &GuardianConfig) -> Result<Self, GuardianError> {
        Ok(Self {
            planner: RebalancePlanner::new(config)?,
            origin_node: config.origin_node,
            max_orders_per_tick: config.max_orders_per_tick,
            next_decision_id: config.first_decision_id,
            sequence: 0,
            stats: GuardianStats::default(),
        })
    }

    pub fn stats(&self) -> GuardianStats {
        self.stats
    }

    /// The planner, for inspection (weights and targets of the last tick).
    pub fn planner(&mut self) -> &mut RebalancePlanner {
        &mut self.planner
    }
}

impl IngestAgent<RebalanceTick<'_>> for Guardian {
    fn name(&self) -> &'static str {
        AGENT
    }

    fn on_event(&mut self, _ctx: AgentContext, event: &RebalanceTick<'_>, out: &mut Outbox) -> Result<(), AgentError> {
        self.stats.ticks += 1;
        let plan = self
            .planner
            .plan_to_value(event.returns, event.positions_lots, event.prices, event.book_value)
            .map_err(|e| AgentError::Rejected { agent: AGENT, detail: e.detail() })?;
        let emitted = plan.orders.len().min(self.max_orders_per_tick);
        self.stats.deferred += (plan.orders.len() - emitted) as u64;
        for order in &plan.orders[..emitted] {
            let decision = Decision::new(
                self.next_decision_id,
                order.asset,
                order.side,
                order.qty_lots,
                order.limit_price,
                REASON_REBALANCE,
            );
            self.sequence += 1;
            out.emit(self.origin_node, self.sequence, &decision)?;
            self.next_decision_id += 1;
            self.stats.decisions += 1;
        }
        Ok(())
    }
}
