use std::path::PathBuf;

use qp_fill_sim::FeedSpec;
use qp_neural_arb::{ArbConfig, ArbReplayAgent};
use qp_replay::FeedRecording;
use qp_risk_sentinel::InstrumentSpec;
use qp_wire::{AssetId, Quote};

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

/// NeuralArb as the replay harness drives it (the crate's own adapter).
pub(crate) fn arb(config: ArbConfig) -> ArbReplayAgent {
    ArbReplayAgent::new(config).expect("config")
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
