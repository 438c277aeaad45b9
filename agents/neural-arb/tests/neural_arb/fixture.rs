use std::path::PathBuf;

use qp_book::TradePrint;
use qp_fill_sim::{AgentActions, FeedSpec, ReplayAgent};
use qp_neural_arb::{ArbConfig, ArbDecisions, NeuralArb};
use qp_replay::FeedRecording;
use qp_risk_sentinel::InstrumentSpec;
use qp_wire::{AssetId, ExecReport, OrderIntent, Quote, RiskVerdict};

pub(crate) fn spot() -> AssetId {
    AssetId::from_wire(1)
}

pub(crate) fn futures() -> AssetId {
    AssetId::from_wire(2)
}

pub(crate) fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/binance").join(name)
}

pub(crate) fn config() -> ArbConfig {
    ArbConfig::btcusdt(spot(), futures())
}

pub(crate) fn quote(asset: AssetId, bid: i64, ask: i64) -> Quote {
    Quote::new(asset, (bid, 1_000), (ask, 1_000), 0)
}

/// The replay harness's view of NeuralArb.
#[derive(Debug)]
pub(crate) struct Arb {
    pub(crate) agent: NeuralArb,
    out: ArbDecisions,
}

impl Arb {
    pub(crate) fn new(config: ArbConfig) -> Self {
        Self { agent: NeuralArb::new(config).expect("config"), out: ArbDecisions::default() }
    }

    fn forward(&mut self, out: &mut AgentActions) {
        for decision in self.out.iter() {
            out.decide(*decision);
        }
        self.out.clear();
    }
}

impl ReplayAgent for Arb {
    fn on_quote(&mut self, now_ns: u64, quote: &Quote, out: &mut AgentActions) {
        self.agent.on_quote(now_ns, quote, &mut self.out).expect("quote");
        self.forward(out);
    }
    fn on_trade(&mut self, _: u64, _: AssetId, _: &TradePrint, _: &mut AgentActions) {}
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

pub(crate) fn spot_spec() -> InstrumentSpec {
    InstrumentSpec {
        asset: spot(),
        symbol: "BTCUSDT".into(),
        class: "crypto".into(),
        groups: vec!["venue:binance".into()],
        price_decimals: 2,
        qty_decimals: 6,
        contract_multiplier: 1,
    }
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

pub(crate) fn feeds<'a>(spot: &'a FeedRecording, futures: &'a FeedRecording) -> Vec<FeedSpec<'a>> {
    vec![
        FeedSpec { name: "spot-btcusdt".into(), instrument: spot_spec(), recording: spot },
        FeedSpec { name: "usdm-btcusdt".into(), instrument: futures_spec(), recording: futures },
    ]
}
