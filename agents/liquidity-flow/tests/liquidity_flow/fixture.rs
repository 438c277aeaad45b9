use std::path::PathBuf;

use qp_book::TradePrint;
use qp_fill_sim::{AgentActions, ReplayAgent};
use qp_liquidity_flow::{FlowActions, FlowConfig, LiquidityFlow};
use qp_risk_sentinel::InstrumentSpec;
use qp_wire::{AssetId, ExecReport, OrderIntent, Quote, RiskVerdict};

pub(crate) fn futures() -> AssetId {
    AssetId::from_wire(2)
}

pub(crate) fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/binance").join(name)
}

pub(crate) fn futures_spec() -> InstrumentSpec {
    InstrumentSpec {
        asset: futures(),
        symbol: "BTCUSDT-PERP".into(),
        class: "crypto".into(),
        groups: vec!["venue:binance".into()],
        price_decimals: 1,
        qty_decimals: 3,
        contract_multiplier: 1,
    }
}

pub(crate) fn quote(bid: i64, ask: i64) -> Quote {
    Quote::new(futures(), (bid, 1_000), (ask, 1_000), 0)
}

/// The replay harness's view of LiquidityFlow.
#[derive(Debug)]
pub(crate) struct Flow {
    pub(crate) agent: LiquidityFlow,
}

impl Flow {
    pub(crate) fn new(config: FlowConfig) -> Self {
        Self { agent: LiquidityFlow::new(config).expect("config") }
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

impl ReplayAgent for Flow {
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
