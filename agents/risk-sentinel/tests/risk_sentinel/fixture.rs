//! A small book: two crypto pairs and four equities in Europe and the US, 250 days of
//! seeded returns, the example limits file.
use qp_risk_model::ReturnMatrix;
use qp_risk_sentinel::{InstrumentSpec, RiskSentinel};
use qp_seeded_random::SplitMix64;
use qp_wire::{AssetId, Decision, ExecReport, ExecStatus, Side};

pub(crate) const EXAMPLE_LIMITS: &str = include_str!("../../limits.example.toml");

pub(crate) const BTC: u32 = 1;
pub(crate) const ETH: u32 = 2;
pub(crate) const DBK: u32 = 3;
pub(crate) const SAN: u32 = 4;
pub(crate) const SAP: u32 = 5;
pub(crate) const JPM: u32 = 6;
/// Not a guarded instrument.
pub(crate) const UNKNOWN: u32 = 99;

/// Reference prices in ticks (2 price decimals), by asset id − 1.
pub(crate) const PRICES: [i64; 6] = [
    6_000_000, // BTC 60,000.00
    300_000,   // ETH 3,000.00
    1_500,     // DBK 15.00
    400,       // SAN 4.00
    15_000,    // SAP 150.00
    20_000,    // JPM 200.00
];

/// The agent clock when prices were set; checks run 1 ms later.
pub(crate) const T0_NS: u64 = 1_000_000_000_000;
pub(crate) const NOW_NS: u64 = T0_NS + 1_000_000;
pub(crate) const DAYS: usize = 250;

pub(crate) fn id(asset: u32) -> AssetId {
    AssetId::from_wire(asset)
}

pub(crate) fn price(asset: u32) -> i64 {
    PRICES[asset as usize - 1]
}

pub(crate) fn instruments() -> Vec<InstrumentSpec> {
    let spec = |asset: u32, symbol: &str, class: &str, groups: &[&str], qty_decimals: u8| InstrumentSpec {
        asset: id(asset),
        symbol: symbol.into(),
        class: class.into(),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        price_decimals: 2,
        qty_decimals,
        contract_multiplier: 1,
    };
    vec![
        // Crypto lots are 0.01 of a coin.
        spec(BTC, "BTCUSDT", "crypto", &["region:global"], 2),
        spec(ETH, "ETHUSDT", "crypto", &["region:global"], 2),
        spec(DBK, "DBK", "equity", &["region:europe", "sector:banks"], 0),
        spec(SAN, "SAN", "equity", &["region:europe", "sector:banks"], 0),
        spec(SAP, "SAP", "equity", &["region:europe", "sector:tech"], 0),
        spec(JPM, "JPM", "equity", &["region:us", "sector:banks"], 0),
    ]
}

/// One market factor plus noise, `days × assets`.
pub(crate) fn history(days: usize, assets: usize, seed: u64) -> ReturnMatrix {
    let mut rng = SplitMix64::new(seed);
    let betas: Vec<f64> = (0..assets).map(|_| 0.5 + rng.uniform()).collect();
    let mut values = Vec::with_capacity(days * assets);
    for _ in 0..days {
        let market = 0.01 * rng.normal();
        values.extend(betas.iter().map(|b| b * market + 0.015 * rng.normal()));
    }
    ReturnMatrix::new(days, assets, values).unwrap()
}

/// A sentinel on `limits`, reconciled with `positions` (every instrument known; those not
/// listed flat), every price set at `T0_NS`.
pub(crate) fn sentinel_with(limits: &str, positions: &[(u32, i64)]) -> RiskSentinel {
    let mut sentinel = RiskSentinel::new(instruments(), &history(DAYS, 6, 7), limits).unwrap();
    let all: Vec<(AssetId, i64)> =
        (1..=6u32).map(|a| (id(a), positions.iter().find(|(p, _)| *p == a).map_or(0, |(_, lots)| *lots))).collect();
    for a in 1..=6u32 {
        sentinel.update_price(id(a), price(a), T0_NS).unwrap();
    }
    sentinel.reconciled(&all).unwrap();
    sentinel
}

/// The example limits, a flat book.
pub(crate) fn sentinel() -> RiskSentinel {
    sentinel_with(EXAMPLE_LIMITS, &[])
}

/// A decision at the reference price.
pub(crate) fn order(decision_id: u64, asset: u32, side: Side, qty: i64) -> Decision {
    Decision::new(decision_id, id(asset), side, qty, price(asset), 0)
}

/// An execution report; `leaves_qty` is what the order has left after it.
pub(crate) fn exec_report(
    intent_id: u64,
    asset: u32,
    side: Side,
    status: ExecStatus,
    last_qty: i64,
    leaves_qty: i64,
) -> ExecReport {
    ExecReport {
        intent_id: intent_id.into(),
        asset: asset.into(),
        side: side as u8,
        status: status as u8,
        _pad: 0u16.into(),
        last_qty: last_qty.into(),
        last_price: price(asset).into(),
        cum_qty: 0i64.into(),
        leaves_qty: leaves_qty.into(),
    }
}
