//! The limits file: TOML, parsed with `deny_unknown_fields`, then validated against the
//! instrument universe and compiled into per-instrument and per-group tables
//! ([`CompiledLimits`]). A reload that fails either step keeps the old limits (see
//! [`crate::RiskSentinel::reload_limits`] and, for a running agent, [`crate::command`]).
//!
//! Notional limits are in whole quote-currency units; they are compared in micros.
use std::collections::BTreeMap;

use serde::Deserialize;

use crate::instrument::{InstrumentSpec, InstrumentTable, units_to_micros};

/// The whole limits file (`limits.example.toml` documents every key).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskLimits {
    pub fail_closed: FailClosedLimits,
    pub kill_switch: KillSwitchLimits,
    pub rate: RateLimits,
    pub portfolio: PortfolioLimits,
    pub margin: MarginLimits,
    pub var: VarLimits,
    /// Per instrument class: order, collar, position and margin limits.
    pub classes: BTreeMap<String, ClassLimits>,
    /// Per group (`"region:europe"`): exposure limits; a group without an entry is unlimited.
    #[serde(default)]
    pub groups: BTreeMap<String, GroupLimits>,
    /// Per instrument symbol: overrides of its class limits.
    #[serde(default)]
    pub instruments: BTreeMap<String, InstrumentLimits>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailClosedLimits {
    /// A reference price older than this (agent clock) vetoes orders in its asset.
    pub max_price_age_ms: u64,
}

/// Which state a daily-loss breach trips the kill switch into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossTripState {
    Reducing,
    Halted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KillSwitchLimits {
    /// Mark-to-market loss since the trading day started (quote currency) that trips the switch.
    pub daily_loss_limit: i64,
    pub loss_trip_state: LossTripState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    /// New orders approved in any trailing second.
    pub max_orders_per_sec: u32,
    /// Messages to the venue (new orders and cancel requests) in any trailing second.
    pub max_messages_per_sec: u32,
    /// Approved orders not yet terminal (filled, cancelled, rejected).
    pub max_open_orders: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortfolioLimits {
    /// Σ over instruments of the worst-case absolute notional.
    pub max_gross_notional: i64,
    /// Worst-case |Σ signed notional|.
    pub max_net_notional: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarginLimits {
    /// Collateral the initial margin is checked against (quote currency).
    pub collateral: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VarLimits {
    /// 1-day 99% VaR of the book after the order, historical and parametric alike.
    pub max_var: i64,
    /// VaR the one order may add, historical and parametric alike.
    pub max_incremental_var: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassLimits {
    pub max_order_qty_lots: i64,
    pub max_order_notional: i64,
    /// Fat-finger collar: the limit price is at most this far from the reference price.
    pub price_collar_bp: u32,
    /// Worst-case |position| in lots, counting open orders as filled.
    pub max_position_lots: i64,
    pub max_position_notional: i64,
    /// Initial margin as a share of the worst-case absolute notional.
    pub initial_margin_bp: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupLimits {
    pub max_gross_notional: Option<i64>,
    /// Most the group may be net long.
    pub max_net_long_notional: Option<i64>,
    /// Most the group may be net short ("too much short exposure to Europe").
    pub max_net_short_notional: Option<i64>,
}

/// Per-instrument overrides; a missing key keeps the class limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentLimits {
    pub max_order_qty_lots: Option<i64>,
    pub max_order_notional: Option<i64>,
    pub price_collar_bp: Option<u32>,
    pub max_position_lots: Option<i64>,
    pub max_position_notional: Option<i64>,
    pub initial_margin_bp: Option<u32>,
}

/// Why a limits file was refused. Each names where: the TOML line and column, or the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitsError {
    #[error("limits: line {line}, column {column}: {message}")]
    Parse { line: usize, column: usize, message: String },
    #[error("limits: {key} is {value}, must be {requirement}")]
    OutOfRange { key: String, value: i64, requirement: &'static str },
    #[error("limits: {key}: no instrument has this class")]
    UnknownClass { key: String },
    #[error("limits: {key}: no instrument is in this group")]
    UnknownGroup { key: String },
    #[error("limits: {key}: no instrument has this symbol")]
    UnknownInstrument { key: String },
    #[error("limits: instrument {symbol} has class {class:?}, which has no [classes.{class}] table")]
    MissingClassLimits { symbol: String, class: String },
    /// The instrument list the limits were to be checked against is itself invalid
    /// ([`CompiledLimits::from_toml`] only; a sentinel's list was checked when it was built).
    #[error("limits: cannot be checked: {problem}")]
    Instruments { problem: String },
}

/// A limits file refused: which file (`source_name`) and why (`error`: TOML line and column,
/// or the key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("risk limits {source_name}: {error}")]
pub struct LimitsFileError {
    pub source_name: String,
    #[source]
    pub error: LimitsError,
}

/// Most orders or messages per second a rate limit may allow (its window is preallocated).
pub const MAX_RATE_PER_SEC: u32 = 1_000_000;
/// Most open orders the sentinel may track (preallocated).
pub const MAX_OPEN_ORDERS: u32 = 65_536;

impl RiskLimits {
    /// Parse (syntax and schema only; [`crate::RiskSentinel`] validates against its
    /// instruments).
    pub fn from_toml(text: &str) -> Result<Self, LimitsError> {
        qp_config_text::parse_toml(text).map_err(|err| LimitsError::Parse {
            line: err.line.unwrap_or(0),
            column: err.column.unwrap_or(0),
            message: err.message,
        })
    }
}

/// Effective limits of one instrument, in micros where notional.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AssetLimits {
    pub(crate) max_order_qty_lots: i64,
    pub(crate) max_order_notional_micros: i128,
    pub(crate) price_collar_bp: u32,
    pub(crate) max_position_lots: i64,
    pub(crate) max_position_notional_micros: i128,
    pub(crate) initial_margin_bp: u32,
}

/// Limits of one group in micros; `i128::MAX` where unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GroupLimitsMicros {
    pub(crate) max_gross: i128,
    pub(crate) max_net_long: i128,
    pub(crate) max_net_short: i128,
}

/// Limits parsed, validated against one instrument list and laid out for the check path.
///
/// Made off the agent's thread ([`CompiledLimits::from_toml`], or
/// [`crate::RiskCommandSender::reload_limits`], which compiles against the sentinel's own
/// instruments) and handed to a running agent through the command ring, so the agent never
/// parses or validates: it swaps them in. They are tied to the instrument list they were
/// compiled against; a sentinel refuses limits compiled for another list.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledLimits {
    pub(crate) source: RiskLimits,
    /// [`InstrumentTable::fingerprint`] of the list they were compiled against.
    pub(crate) table_fingerprint: u64,
    pub(crate) max_price_age_ns: u64,
    pub(crate) daily_loss_micros: i128,
    pub(crate) max_gross_micros: i128,
    pub(crate) max_net_micros: i128,
    pub(crate) collateral_micros: i128,
    pub(crate) max_var: f64,
    pub(crate) max_incremental_var: f64,
    pub(crate) by_asset: Vec<AssetLimits>,
    pub(crate) by_group: Vec<GroupLimitsMicros>,
}

fn positive(key: impl FnOnce() -> String, value: i64) -> Result<(), LimitsError> {
    if value > 0 { Ok(()) } else { Err(LimitsError::OutOfRange { key: key(), value, requirement: "positive" }) }
}

fn within(
    key: impl FnOnce() -> String,
    value: i64,
    range: (i64, i64),
    requirement: &'static str,
) -> Result<(), LimitsError> {
    if (range.0..=range.1).contains(&value) {
        Ok(())
    } else {
        Err(LimitsError::OutOfRange { key: key(), value, requirement })
    }
}

fn check_class(prefix: &str, c: &ClassLimits) -> Result<(), LimitsError> {
    let key = |k: &'static str| move || format!("{prefix}.{k}");
    positive(key("max_order_qty_lots"), c.max_order_qty_lots)?;
    positive(key("max_order_notional"), c.max_order_notional)?;
    within(key("price_collar_bp"), i64::from(c.price_collar_bp), (1, 10_000), "1..=10000")?;
    positive(key("max_position_lots"), c.max_position_lots)?;
    positive(key("max_position_notional"), c.max_position_notional)?;
    within(key("initial_margin_bp"), i64::from(c.initial_margin_bp), (0, 10_000), "0..=10000")
}

impl CompiledLimits {
    /// Parse `text`, validate it against `instruments` (in the order the sentinel was built
    /// with) and lay it out: exactly what [`crate::RiskSentinel::reload_limits`] does, without
    /// a sentinel. The error names `source_name` and says where: TOML line and column, or the
    /// key.
    pub fn from_toml(text: &str, source_name: &str, instruments: &[InstrumentSpec]) -> Result<Self, LimitsFileError> {
        let in_file = |error| LimitsFileError { source_name: source_name.to_owned(), error };
        let table = InstrumentTable::new(instruments.to_vec())
            .map_err(|err| in_file(LimitsError::Instruments { problem: err.to_string() }))?;
        Self::from_text(text, &table).map_err(in_file)
    }

    /// The limits as the file gave them.
    pub fn limits(&self) -> &RiskLimits {
        &self.source
    }

    /// Parse, validate against `table` and lay out: the one path every limits text takes.
    pub(crate) fn from_text(text: &str, table: &InstrumentTable) -> Result<Self, LimitsError> {
        Self::compile(RiskLimits::from_toml(text)?, table)
    }

    /// Validate `limits` against `table` and lay them out.
    pub(crate) fn compile(limits: RiskLimits, table: &InstrumentTable) -> Result<Self, LimitsError> {
        let l = &limits;
        within(
            || "fail_closed.max_price_age_ms".into(),
            i64::try_from(l.fail_closed.max_price_age_ms).unwrap_or(i64::MAX),
            (1, 86_400_000),
            "1..=86400000 (one day)",
        )?;
        positive(|| "kill_switch.daily_loss_limit".into(), l.kill_switch.daily_loss_limit)?;
        let rate = |k: &'static str, v: u32, max: u32, req| {
            within(|| format!("rate.{k}"), i64::from(v), (1, i64::from(max)), req)
        };
        rate("max_orders_per_sec", l.rate.max_orders_per_sec, MAX_RATE_PER_SEC, "1..=1000000")?;
        rate("max_messages_per_sec", l.rate.max_messages_per_sec, MAX_RATE_PER_SEC, "1..=1000000")?;
        rate("max_open_orders", l.rate.max_open_orders, MAX_OPEN_ORDERS, "1..=65536")?;
        positive(|| "portfolio.max_gross_notional".into(), l.portfolio.max_gross_notional)?;
        positive(|| "portfolio.max_net_notional".into(), l.portfolio.max_net_notional)?;
        positive(|| "margin.collateral".into(), l.margin.collateral)?;
        positive(|| "var.max_var".into(), l.var.max_var)?;
        positive(|| "var.max_incremental_var".into(), l.var.max_incremental_var)?;

        let mut class_limits: Vec<Option<ClassLimits>> = vec![None; table.class_names.len()];
        for (name, class) in &l.classes {
            let Some(index) = table.class_names.iter().position(|n| n == name) else {
                return Err(LimitsError::UnknownClass { key: format!("classes.{name}") });
            };
            check_class(&format!("classes.{name}"), class)?;
            class_limits[index] = Some(*class);
        }
        let mut overrides: Vec<InstrumentLimits> = vec![InstrumentLimits::default(); table.len()];
        for (symbol, o) in &l.instruments {
            let Some(index) = table.symbol_index(symbol) else {
                return Err(LimitsError::UnknownInstrument { key: format!("instruments.{symbol}") });
            };
            overrides[index] = *o;
        }
        let mut by_asset = Vec::with_capacity(table.len());
        for (instrument, o) in table.instruments.iter().zip(&overrides) {
            let Some(class) = class_limits[instrument.class_index] else {
                return Err(LimitsError::MissingClassLimits {
                    symbol: instrument.spec.symbol.clone(),
                    class: instrument.spec.class.clone(),
                });
            };
            let merged = ClassLimits {
                max_order_qty_lots: o.max_order_qty_lots.unwrap_or(class.max_order_qty_lots),
                max_order_notional: o.max_order_notional.unwrap_or(class.max_order_notional),
                price_collar_bp: o.price_collar_bp.unwrap_or(class.price_collar_bp),
                max_position_lots: o.max_position_lots.unwrap_or(class.max_position_lots),
                max_position_notional: o.max_position_notional.unwrap_or(class.max_position_notional),
                initial_margin_bp: o.initial_margin_bp.unwrap_or(class.initial_margin_bp),
            };
            check_class(&format!("instruments.{}", instrument.spec.symbol), &merged)?;
            by_asset.push(AssetLimits {
                max_order_qty_lots: merged.max_order_qty_lots,
                max_order_notional_micros: units_to_micros(merged.max_order_notional),
                price_collar_bp: merged.price_collar_bp,
                max_position_lots: merged.max_position_lots,
                max_position_notional_micros: units_to_micros(merged.max_position_notional),
                initial_margin_bp: merged.initial_margin_bp,
            });
        }
        let unlimited = GroupLimitsMicros { max_gross: i128::MAX, max_net_long: i128::MAX, max_net_short: i128::MAX };
        let mut by_group = vec![unlimited; table.group_names.len()];
        for (name, g) in &l.groups {
            let Some(index) = table.group_names.iter().position(|n| n == name) else {
                return Err(LimitsError::UnknownGroup { key: format!("groups.\"{name}\"") });
            };
            let limit = |k: &str, v: Option<i64>| -> Result<i128, LimitsError> {
                match v {
                    Some(v) => positive(|| format!("groups.\"{name}\".{k}"), v).map(|()| units_to_micros(v)),
                    None => Ok(i128::MAX),
                }
            };
            by_group[index] = GroupLimitsMicros {
                max_gross: limit("max_gross_notional", g.max_gross_notional)?,
                max_net_long: limit("max_net_long_notional", g.max_net_long_notional)?,
                max_net_short: limit("max_net_short_notional", g.max_net_short_notional)?,
            };
        }
        Ok(Self {
            max_price_age_ns: l.fail_closed.max_price_age_ms * 1_000_000,
            daily_loss_micros: units_to_micros(l.kill_switch.daily_loss_limit),
            max_gross_micros: units_to_micros(l.portfolio.max_gross_notional),
            max_net_micros: units_to_micros(l.portfolio.max_net_notional),
            collateral_micros: units_to_micros(l.margin.collateral),
            max_var: l.var.max_var as f64,
            max_incremental_var: l.var.max_incremental_var as f64,
            by_asset,
            by_group,
            source: limits,
            table_fingerprint: table.fingerprint,
        })
    }
}
