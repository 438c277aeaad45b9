//! NeuralArb as the replay harness (`qp_fill_sim::replay`) drives it: quotes and execution
//! reports in, its decisions out to RiskSentinel and the fill simulator. One adapter for
//! `qpctl exec replay` and the tests.

use qp_fill_sim::{AgentActions, ReplayAgent};
use qp_wire::{ExecReport, OrderIntent, Quote, RiskVerdict};

use crate::{ArbConfig, ArbConfigError, ArbDecisions, NeuralArb};

#[derive(Debug)]
pub struct ArbReplayAgent {
    pub agent: NeuralArb,
    out: ArbDecisions,
    /// Quotes the agent refused (an asset that is not one of its legs): counted, not fatal.
    pub refused_quotes: u64,
}

impl ArbReplayAgent {
    pub fn new(config: ArbConfig) -> Result<Self, ArbConfigError> {
        Ok(Self { agent: NeuralArb::new(config)?, out: ArbDecisions::default(), refused_quotes: 0 })
    }

    fn forward(&mut self, out: &mut AgentActions) {
        for decision in self.out.iter() {
            out.decide(*decision);
        }
        self.out.clear();
    }
}

impl ReplayAgent for ArbReplayAgent {
    fn on_quote(&mut self, now_ns: u64, quote: &Quote, out: &mut AgentActions) {
        if self.agent.on_quote(now_ns, quote, &mut self.out).is_err() {
            self.refused_quotes += 1;
        }
        self.forward(out);
    }
    fn on_intent(&mut self, _: u64, intent: &OrderIntent, _: &mut AgentActions) {
        self.agent.on_intent(intent);
    }
    fn on_verdict(&mut self, now_ns: u64, verdict: &RiskVerdict, _: &mut AgentActions) {
        self.agent.on_verdict(now_ns, verdict);
    }
    fn on_exec_report(&mut self, now_ns: u64, report: &ExecReport, out: &mut AgentActions) {
        self.agent.on_exec_report(now_ns, report, &mut self.out);
        self.forward(out);
    }
}
