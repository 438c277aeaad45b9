//! The instruments RiskSentinel guards: static reference data (class, groups, scales) and the
//! fixed-point notional arithmetic every check shares.
use qp_wire::AssetId;

use crate::error::SentinelError;

/// Notionals are integers in millionths of the quote currency (`_micros`).
pub const MICROS_PER_UNIT: i128 = 1_000_000;
/// Largest price or quantity decimals an instrument may have.
pub const MAX_DECIMALS: u8 = 9;
/// A notional too large for `i128` arithmetic is clamped here: above every limit, and
/// still far enough from `i128::MAX` that sums of many saturate instead of wrapping.
pub const SATURATED_MICROS: i128 = i128::MAX >> 16;

/// One instrument and how its integers scale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstrumentSpec {
    pub asset: AssetId,
    pub symbol: String,
    /// Instrument class (`"crypto"`, `"equity"`, `"future"`): selects the class limits and the
    /// initial margin rate.
    pub class: String,
    /// Groups the instrument belongs to, by any naming the operator likes; the convention is
    /// `dimension:value` (`"region:europe"`, `"sector:banks"`).
    pub groups: Vec<String>,
    /// A price of `p` ticks is `p / 10^price_decimals` quote-currency units.
    pub price_decimals: u8,
    /// A quantity of `q` lots is `q / 10^qty_decimals` contracts.
    pub qty_decimals: u8,
    /// Quote-currency units per contract per unit of price (1 for spot).
    pub contract_multiplier: i64,
}

/// Value in micros of `lots` (signed) at `price_ticks`:
/// `price × lots × multiplier × 10^6 / 10^(price_decimals + qty_decimals)`, rounded away from
/// zero (so an absolute notional is never understated), clamped to ±[`SATURATED_MICROS`].
pub fn value_micros(price_ticks: i64, lots: i64, multiplier: i64, decimals: u8) -> i128 {
    let exact = i128::from(price_ticks)
        .checked_mul(i128::from(lots))
        .and_then(|v| v.checked_mul(i128::from(multiplier)))
        .and_then(|v| {
            let decimals = u32::from(decimals);
            if decimals <= 6 {
                v.checked_mul(10i128.pow(6 - decimals))
            } else {
                let divisor = 10i128.pow(decimals - 6);
                let quotient = v / divisor;
                Some(if v % divisor == 0 { quotient } else { quotient + v.signum() })
            }
        });
    match exact {
        Some(v) => v.clamp(-SATURATED_MICROS, SATURATED_MICROS),
        None => {
            let negative = (price_ticks < 0) ^ (lots < 0) ^ (multiplier < 0);
            if negative { -SATURATED_MICROS } else { SATURATED_MICROS }
        }
    }
}

/// Whole quote-currency units to micros, saturating.
pub fn units_to_micros(units: i64) -> i128 {
    i128::from(units).saturating_mul(MICROS_PER_UNIT)
}

/// One instrument as the sentinel keeps it: the spec with its groups as dense indices.
#[derive(Debug, Clone)]
pub(crate) struct Instrument {
    pub(crate) spec: InstrumentSpec,
    pub(crate) class_index: usize,
    pub(crate) group_indices: Vec<usize>,
    /// `price_decimals + qty_decimals`.
    pub(crate) decimals: u8,
}

impl Instrument {
    pub(crate) fn value_micros(&self, price_ticks: i64, lots: i64) -> i128 {
        value_micros(price_ticks, lots, self.spec.contract_multiplier, self.decimals)
    }

    /// Value in currency as `f64` (the VaR book's unit): `lots × price × multiplier /
    /// 10^(price_decimals + qty_decimals)`.
    pub(crate) fn value_f64(&self, price_ticks: i64, lots: i64) -> f64 {
        lots as f64 * price_ticks as f64 * self.spec.contract_multiplier as f64 / 10f64.powi(i32::from(self.decimals))
    }
}

/// The instrument universe: dense indices, asset-id lookup, class and group names.
#[derive(Debug, Clone)]
pub(crate) struct InstrumentTable {
    pub(crate) instruments: Vec<Instrument>,
    /// `index_by_asset[asset id]` = instrument index, or `usize::MAX`.
    index_by_asset: Vec<usize>,
    pub(crate) class_names: Vec<String>,
    pub(crate) group_names: Vec<String>,
    /// A hash of the specs, in order: limits compiled against one table are refused by a
    /// sentinel built on another.
    pub(crate) fingerprint: u64,
}

impl InstrumentTable {
    pub(crate) fn new(specs: Vec<InstrumentSpec>) -> Result<Self, SentinelError> {
        if specs.is_empty() {
            return Err(SentinelError::NoInstruments);
        }
        let mut class_names: Vec<String> = Vec::new();
        let mut group_names: Vec<String> = Vec::new();
        let mut instruments = Vec::with_capacity(specs.len());
        let fingerprint = fingerprint(&specs);
        let max_id = specs.iter().map(|s| s.asset.get()).max().unwrap_or(0) as usize;
        let mut index_by_asset = vec![usize::MAX; max_id + 1];
        for (index, spec) in specs.into_iter().enumerate() {
            let invalid =
                |problem: &'static str| SentinelError::InvalidInstrument { symbol: spec.symbol.clone(), problem };
            if spec.asset.get() == 0 {
                return Err(invalid("asset id 0 is never valid"));
            }
            if spec.price_decimals > MAX_DECIMALS || spec.qty_decimals > MAX_DECIMALS {
                return Err(invalid("decimals must be 0..=9"));
            }
            if spec.contract_multiplier <= 0 {
                return Err(invalid("contract multiplier must be positive"));
            }
            if spec.class.is_empty() || spec.groups.iter().any(String::is_empty) {
                return Err(invalid("class and group names must not be empty"));
            }
            let slot = &mut index_by_asset[spec.asset.get() as usize];
            if *slot != usize::MAX {
                return Err(invalid("asset id listed twice"));
            }
            if instruments.iter().any(|i: &Instrument| i.spec.symbol == spec.symbol) {
                return Err(invalid("symbol listed twice"));
            }
            *slot = index;
            let class_index = intern(&mut class_names, &spec.class);
            let mut group_indices: Vec<usize> = spec.groups.iter().map(|g| intern(&mut group_names, g)).collect();
            group_indices.sort_unstable();
            group_indices.dedup();
            let decimals = spec.price_decimals + spec.qty_decimals;
            instruments.push(Instrument { spec, class_index, group_indices, decimals });
        }
        Ok(Self { instruments, index_by_asset, class_names, group_names, fingerprint })
    }

    pub(crate) fn index(&self, asset: AssetId) -> Option<usize> {
        self.index_by_asset.get(asset.get() as usize).copied().filter(|&i| i != usize::MAX)
    }

    pub(crate) fn len(&self) -> usize {
        self.instruments.len()
    }

    pub(crate) fn symbol_index(&self, symbol: &str) -> Option<usize> {
        self.instruments.iter().position(|i| i.spec.symbol == symbol)
    }
}

fn intern(names: &mut Vec<String>, name: &str) -> usize {
    match names.iter().position(|n| n == name) {
        Some(i) => i,
        None => {
            names.push(name.to_owned());
            names.len() - 1
        }
    }
}

/// FNV-1a over every field of every spec, in order (strings end with a 0xff separator).
fn fingerprint(specs: &[InstrumentSpec]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    for spec in specs {
        eat(&spec.asset.get().to_le_bytes());
        for text in [&spec.symbol, &spec.class].into_iter().chain(&spec.groups) {
            eat(text.as_bytes());
            eat(&[0xff]);
        }
        eat(&[spec.price_decimals, spec.qty_decimals, 0xfe]);
        eat(&spec.contract_multiplier.to_le_bytes());
    }
    hash
}
