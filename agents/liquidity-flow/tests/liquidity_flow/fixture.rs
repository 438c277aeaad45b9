use std::path::PathBuf;

use qp_liquidity_flow::{FlowConfig, FlowReplayAgent};
use qp_risk_sentinel::InstrumentSpec;
use qp_wire::{AssetId, Quote};

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

/// LiquidityFlow as the replay harness drives it (the crate's own adapter).
pub(crate) fn flow(config: FlowConfig) -> FlowReplayAgent {
    FlowReplayAgent::new(config).expect("config")
}
