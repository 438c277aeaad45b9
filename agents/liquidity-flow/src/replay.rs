//! LiquidityFlow as the replay harness (`qp_fill_sim::replay`) drives it: quotes, trade prints
//! and execution reports in, child decisions and cancels out. One adapter for
//! `qpctl exec replay` and the tests.

use qp_book::TradePrint;
use qp_fill_sim::{AgentActions, ReplayAgent};
use qp_wire::{AssetId, ExecReport, OrderIntent, Quote, RiskVerdict};

use crate::{FlowActions, FlowConfig, FlowConfigError, LiquidityFlow};

#[derive(Debug)]
pub struct FlowReplayAgent {
    pub agent: LiquidityFlow,
}

impl FlowReplayAgent {
    pub fn new(config: FlowConfig) -> Result<Self, FlowConfigError> {
        Ok(Self { agent: LiquidityFlow::new(config)? })
    }
}

fn forward(actions: FlowActions, out: &mut AgentActions) {
    if let Some(intent_id) = actions.cancel {
        out.cancel(intent_id);
    }
    if let Some(decision) = actions.decision {
        out.decide(decision);
    }
}

impl ReplayAgent for FlowReplayAgent {
    fn on_quote(&mut self, now_ns: u64, quote: &Quote, out: &mut AgentActions) {
        let mut actions = FlowActions::default();
        self.agent.on_quote(now_ns, quote, &mut actions);
        forward(actions, out);
    }
    fn on_trade(&mut self, now_ns: u64, asset: AssetId, print: &TradePrint, out: &mut AgentActions) {
        let mut actions = FlowActions::default();
        self.agent.on_trade(now_ns, asset, print.qty, &mut actions);
        forward(actions, out);
    }
    fn on_intent(&mut self, _: u64, intent: &OrderIntent, _: &mut AgentActions) {
        self.agent.on_intent(intent);
    }
    fn on_verdict(&mut self, now_ns: u64, verdict: &RiskVerdict, _: &mut AgentActions) {
        self.agent.on_verdict(now_ns, verdict);
    }
    fn on_exec_report(&mut self, now_ns: u64, report: &ExecReport, out: &mut AgentActions) {
        let mut actions = FlowActions::default();
        self.agent.on_exec_report(now_ns, report, &mut actions);
        forward(actions, out);
    }
}
