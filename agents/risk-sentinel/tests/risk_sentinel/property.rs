//! Property: against an independent model of the book, no order that breaks a limit is ever
//! approved, and (while the switch is ACTIVE) every order within all limits is approved. The
//! model recomputes every measure from scratch (positions, open orders, a full VaR
//! revaluation with qp-risk-model) instead of keeping sums.
use std::collections::BTreeSet;

use proptest::prelude::*;
use qp_risk_model::{PortfolioRisk, ReturnMatrix};
use qp_risk_sentinel::{InstrumentSpec, KillSwitchState, RiskSentinel};
use qp_wire::{AssetId, Decision, ExecReport, ExecStatus, Side, VetoReason};

use crate::fixture::history;

const SCENARIOS: usize = 120;

/// (class, groups, price decimals, qty decimals, multiplier)
const INSTRUMENTS: [(&str, &[&str], u8, u8, i64); 4] = [
    ("a", &["eu", "banks"], 2, 0, 1),
    ("a", &["eu"], 2, 2, 1),
    ("b", &["us", "banks"], 1, 0, 10),
    ("b", &["us"], 0, 1, 5),
];
const GROUPS: [&str; 3] = ["eu", "banks", "us"];

#[derive(Debug, Clone)]
struct ClassLimits {
    max_qty: i64,
    max_notional: i64,
    collar_bp: u32,
    max_lots: i64,
    max_position_notional: i64,
    margin_bp: u32,
}

#[derive(Debug, Clone)]
struct Limits {
    classes: [ClassLimits; 2],
    /// Per group: gross, net long, net short (None = unlimited).
    groups: [[Option<i64>; 3]; 3],
    gross: i64,
    net: i64,
    collateral: i64,
    max_var: i64,
    max_incremental_var: i64,
    max_orders: u32,
    max_messages: u32,
    max_open: u32,
}

impl Limits {
    fn toml(&self) -> String {
        let mut text = format!(
            "[fail_closed]\nmax_price_age_ms = 86400000\n\
             [kill_switch]\ndaily_loss_limit = 1000000000000\nloss_trip_state = \"halted\"\n\
             [rate]\nmax_orders_per_sec = {}\nmax_messages_per_sec = {}\nmax_open_orders = {}\n\
             [portfolio]\nmax_gross_notional = {}\nmax_net_notional = {}\n\
             [margin]\ncollateral = {}\n\
             [var]\nmax_var = {}\nmax_incremental_var = {}\n",
            self.max_orders,
            self.max_messages,
            self.max_open,
            self.gross,
            self.net,
            self.collateral,
            self.max_var,
            self.max_incremental_var
        );
        for (name, c) in ["a", "b"].iter().zip(&self.classes) {
            text += &format!(
                "[classes.{name}]\nmax_order_qty_lots = {}\nmax_order_notional = {}\nprice_collar_bp = {}\n\
                 max_position_lots = {}\nmax_position_notional = {}\ninitial_margin_bp = {}\n",
                c.max_qty, c.max_notional, c.collar_bp, c.max_lots, c.max_position_notional, c.margin_bp
            );
        }
        for (name, g) in GROUPS.iter().zip(&self.groups) {
            text += &format!("[groups.{name}]\n");
            for (key, v) in ["max_gross_notional", "max_net_long_notional", "max_net_short_notional"].iter().zip(g) {
                if let Some(v) = v {
                    text += &format!("{key} = {v}\n");
                }
            }
        }
        text
    }
}

#[derive(Debug, Clone)]
enum Op {
    Order { instrument: usize, buy: bool, qty: i64, offset_bp: i64, dt_ms: u64 },
    Fill { which: usize, percent: i64 },
    Cancel { which: usize },
}

fn class_limits() -> impl Strategy<Value = ClassLimits> {
    (1i64..120, 200i64..1_000_000, 10u32..2_000, 20i64..400, 1_000i64..2_000_000, 0u32..5_000).prop_map(
        |(max_qty, max_notional, collar_bp, max_lots, max_position_notional, margin_bp)| ClassLimits {
            max_qty,
            max_notional,
            collar_bp,
            max_lots,
            max_position_notional,
            margin_bp,
        },
    )
}

fn group_limit() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![Just(None), (1_000i64..2_000_000).prop_map(Some)]
}

fn limits() -> impl Strategy<Value = Limits> {
    (
        [class_limits(), class_limits()],
        [
            [group_limit(), group_limit(), group_limit()],
            [group_limit(), group_limit(), group_limit()],
            [group_limit(), group_limit(), group_limit()],
        ],
        (5_000i64..5_000_000, 1_000i64..3_000_000, 500i64..1_000_000),
        (2_000i64..300_000, 500i64..100_000),
        (1u32..12, 1u32..16, 1u32..24),
    )
        .prop_map(|(classes, groups, (gross, net, collateral), (max_var, max_incremental_var), rates)| Limits {
            classes,
            groups,
            gross,
            net,
            collateral,
            max_var,
            max_incremental_var,
            max_orders: rates.0,
            max_messages: rates.1,
            max_open: rates.2,
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..4, any::<bool>(), 1i64..80, -400i64..400, 0u64..400)
            .prop_map(|(instrument, buy, qty, offset_bp, dt_ms)| Op::Order { instrument, buy, qty, offset_bp, dt_ms }),
        1 => (any::<usize>(), 1i64..=100).prop_map(|(which, percent)| Op::Fill { which, percent }),
        1 => any::<usize>().prop_map(|which| Op::Cancel { which }),
    ]
}

/// Value in micros, rounded away from zero: written again here, not borrowed.
fn micros(instrument: usize, price: i64, lots: i64) -> i128 {
    let (_, _, pd, qd, mult) = INSTRUMENTS[instrument];
    let numerator = i128::from(price) * i128::from(lots) * i128::from(mult) * 1_000_000;
    let denominator = 10i128.pow(u32::from(pd + qd));
    let (q, r) = (numerator / denominator, numerator % denominator);
    if r == 0 { q } else { q + numerator.signum() }
}

#[derive(Debug, Clone)]
struct OpenOrder {
    intent_id: u64,
    instrument: usize,
    side: Side,
    remaining: i64,
}

/// The book as the test sees it.
#[derive(Debug, Clone)]
struct Model {
    prices: [i64; 4],
    position: [i64; 4],
    buy: [i64; 4],
    sell: [i64; 4],
    open: Vec<OpenOrder>,
    approvals_ns: Vec<u64>,
}

/// Every measure a limit applies to.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Measures {
    worst_lots: [i64; 4],
    gross: [i128; 4],
    portfolio_gross: i128,
    portfolio_net: i128,
    /// Per group: gross, net long (Σ upper), net short (−Σ lower).
    groups: [[i128; 3]; 3],
    margin: i128,
}

impl Model {
    fn measures(&self, limits: &Limits) -> Measures {
        let mut m = Measures {
            worst_lots: [0; 4],
            gross: [0; 4],
            portfolio_gross: 0,
            portfolio_net: 0,
            groups: [[0; 3]; 3],
            margin: 0,
        };
        let (mut upper_sum, mut lower_sum) = (0i128, 0i128);
        for (i, (_, groups, ..)) in INSTRUMENTS.iter().enumerate() {
            let (upper_lots, lower_lots) = (self.position[i] + self.buy[i], self.position[i] - self.sell[i]);
            let (upper, lower) = (micros(i, self.prices[i], upper_lots), micros(i, self.prices[i], lower_lots));
            m.worst_lots[i] = upper_lots.abs().max(lower_lots.abs());
            m.gross[i] = upper.abs().max(lower.abs());
            m.portfolio_gross += m.gross[i];
            upper_sum += upper;
            lower_sum += lower;
            for name in *groups {
                let g = GROUPS.iter().position(|n| n == name).unwrap();
                m.groups[g][0] += m.gross[i];
                m.groups[g][1] += upper;
                m.groups[g][2] -= lower;
            }
            let bp = i128::from(limits.classes[class_of(i)].margin_bp);
            m.margin += (m.gross[i] * bp + 9_999) / 10_000;
        }
        m.portfolio_net = upper_sum.max(-lower_sum);
        m
    }

    fn var_exposures(&self) -> Vec<f64> {
        (0..4)
            .map(|i| {
                let (_, _, pd, qd, mult) = INSTRUMENTS[i];
                let lots = self.position[i] + self.buy[i] - self.sell[i];
                lots as f64 * self.prices[i] as f64 * mult as f64 / 10f64.powi(i32::from(pd + qd))
            })
            .collect()
    }
}

fn class_of(instrument: usize) -> usize {
    usize::from(INSTRUMENTS[instrument].0 == "b")
}

fn holds(before: i128, after: i128, limit: i128) -> bool {
    after <= limit || after <= before
}

const MICROS: i128 = 1_000_000;

/// Reasons the model says `order` breaks; `var_unclear` when VaR is within rounding of its
/// limit.
fn broken_limits(
    model: &Model,
    limits: &Limits,
    returns: &ReturnMatrix,
    now_ns: u64,
    (instrument, side, qty, limit_price): (usize, Side, i64, i64),
) -> (BTreeSet<u8>, bool) {
    use VetoReason as R;
    let mut broken = BTreeSet::new();
    let class = &limits.classes[class_of(instrument)];
    let reference = model.prices[instrument];
    if qty > class.max_qty {
        broken.insert(R::MaxQuantity as u8);
    }
    if micros(instrument, limit_price, qty) > i128::from(class.max_notional) * MICROS {
        broken.insert(R::MaxNotional as u8);
    }
    if i128::from((limit_price - reference).abs()) * 10_000 > i128::from(class.collar_bp) * i128::from(reference) {
        broken.insert(R::PriceCollar as u8);
    }
    let in_window = model.approvals_ns.iter().filter(|&&t| t + 1_000_000_000 > now_ns).count();
    if model.open.len() >= limits.max_open as usize
        || in_window >= limits.max_orders as usize
        || in_window >= limits.max_messages as usize
    {
        broken.insert(R::RateLimit as u8);
    }
    let before = model.measures(limits);
    let mut after_model = model.clone();
    match side {
        Side::Buy => after_model.buy[instrument] += qty,
        Side::Sell => after_model.sell[instrument] += qty,
    }
    let after = after_model.measures(limits);
    let i = instrument;
    if !holds(before.worst_lots[i].into(), after.worst_lots[i].into(), class.max_lots.into())
        || !holds(before.gross[i], after.gross[i], i128::from(class.max_position_notional) * MICROS)
        || !holds(before.portfolio_gross, after.portfolio_gross, i128::from(limits.gross) * MICROS)
        || !holds(before.portfolio_net, after.portfolio_net, i128::from(limits.net) * MICROS)
    {
        broken.insert(R::Exposure as u8);
    }
    for g in 0..3 {
        for k in 0..3 {
            let limit = limits.groups[g][k].map_or(i128::MAX, |v| i128::from(v) * MICROS);
            if !holds(before.groups[g][k], after.groups[g][k], limit) {
                broken.insert(R::GroupExposure as u8);
            }
        }
    }
    if !holds(before.margin, after.margin, i128::from(limits.collateral) * MICROS) {
        broken.insert(R::Margin as u8);
    }
    let figures = |m: &Model| PortfolioRisk::new(returns, &m.var_exposures(), 0.99).unwrap().figures();
    let (b, a) = (figures(model), figures(&after_model));
    let (max_var, max_increment) = (limits.max_var as f64, limits.max_incremental_var as f64);
    let mut var_unclear = false;
    for (b, a) in [(b.historical.var, a.historical.var), (b.parametric.var, a.parametric.var)] {
        let tol = 1e-7 * a.abs().max(b.abs()).max(max_var).max(1.0);
        let clear_pass = (a <= max_var - tol || a <= b - tol) && a - b <= max_increment - tol;
        let clear_fail = (a > max_var + tol && a > b + tol) || a - b > max_increment + tol;
        if clear_fail {
            broken.insert(R::ValueAtRisk as u8);
        } else if !clear_pass {
            var_unclear = true;
        }
    }
    (broken, var_unclear)
}

fn report(o: &OpenOrder, status: ExecStatus, last_qty: i64, leaves: i64, price: i64) -> ExecReport {
    ExecReport {
        intent_id: o.intent_id.into(),
        asset: (o.instrument as u32 + 1).into(),
        side: o.side as u8,
        status: status as u8,
        _pad: 0u16.into(),
        last_qty: last_qty.into(),
        last_price: price.into(),
        cum_qty: 0i64.into(),
        leaves_qty: leaves.into(),
    }
}

fn run(limits: Limits, prices: [i64; 4], positions: [i64; 4], ops: Vec<Op>) -> Result<(), TestCaseError> {
    let returns = history(SCENARIOS, 4, 11);
    let specs = INSTRUMENTS
        .iter()
        .enumerate()
        .map(|(i, (class, groups, pd, qd, mult))| InstrumentSpec {
            asset: AssetId::from_wire(i as u32 + 1),
            symbol: format!("I{i}"),
            class: (*class).into(),
            groups: groups.iter().map(|g| (*g).into()).collect(),
            price_decimals: *pd,
            qty_decimals: *qd,
            contract_multiplier: *mult,
        })
        .collect();
    let mut sentinel = RiskSentinel::new(specs, &returns, &limits.toml()).unwrap();
    let mut now_ns = 1_000_000_000_000u64;
    for (i, price) in prices.iter().enumerate() {
        sentinel.update_price(AssetId::from_wire(i as u32 + 1), *price, now_ns).unwrap();
    }
    sentinel
        .reconciled(
            &positions.iter().enumerate().map(|(i, p)| (AssetId::from_wire(i as u32 + 1), *p)).collect::<Vec<_>>(),
        )
        .unwrap();
    let mut model =
        Model { prices, position: positions, buy: [0; 4], sell: [0; 4], open: Vec::new(), approvals_ns: Vec::new() };
    for (k, op) in ops.into_iter().enumerate() {
        match op {
            Op::Order { instrument, buy, qty, offset_bp, dt_ms } => {
                now_ns += dt_ms * 1_000_000;
                let side = if buy { Side::Buy } else { Side::Sell };
                let limit_price = (prices[instrument] * (10_000 + offset_bp) / 10_000).max(1);
                let decision =
                    Decision::new(k as u64, AssetId::from_wire(instrument as u32 + 1), side, qty, limit_price, 0);
                let (mut broken, var_unclear) =
                    broken_limits(&model, &limits, &returns, now_ns, (instrument, side, qty, limit_price));
                let state = sentinel.kill_switch_state();
                let p = model.position[instrument];
                let reducing = match side {
                    Side::Sell => p > 0 && model.sell[instrument] + qty <= p,
                    Side::Buy => p < 0 && model.buy[instrument] + qty <= -p,
                };
                match state {
                    KillSwitchState::Active => {}
                    KillSwitchState::Reducing if reducing => {}
                    KillSwitchState::Reducing => {
                        broken.insert(VetoReason::Reducing as u8);
                    }
                    KillSwitchState::Halted => {
                        broken.insert(VetoReason::KillSwitch as u8);
                    }
                }
                match sentinel.check(now_ns, &decision) {
                    Ok(approved) => {
                        prop_assert!(broken.is_empty(), "approved {decision:?} breaking {broken:?}, model {model:?}");
                        match side {
                            Side::Buy => model.buy[instrument] += qty,
                            Side::Sell => model.sell[instrument] += qty,
                        }
                        model.open.push(OpenOrder {
                            intent_id: approved.get().intent_id.get(),
                            instrument,
                            side,
                            remaining: qty,
                        });
                        model.approvals_ns.push(now_ns);
                    }
                    Err(veto) => {
                        let explained = broken.contains(&(veto.reason as u8))
                            || (var_unclear && veto.reason == VetoReason::ValueAtRisk);
                        prop_assert!(
                            explained,
                            "vetoed {decision:?} with {veto} but the model breaks only {broken:?} (VaR unclear: {var_unclear})"
                        );
                    }
                }
            }
            Op::Fill { which, percent } => {
                if model.open.is_empty() {
                    continue;
                }
                let index = which % model.open.len();
                let o = model.open[index].clone();
                let fill = (o.remaining * percent / 100).max(1);
                let status = if fill == o.remaining { ExecStatus::Filled } else { ExecStatus::PartiallyFilled };
                sentinel.on_exec_report(&report(&o, status, fill, o.remaining - fill, prices[o.instrument]));
                let i = o.instrument;
                model.position[i] += o.side.sign() * fill;
                match o.side {
                    Side::Buy => model.buy[i] -= fill,
                    Side::Sell => model.sell[i] -= fill,
                }
                model.open[index].remaining -= fill;
                if model.open[index].remaining == 0 {
                    model.open.remove(index);
                }
            }
            Op::Cancel { which } => {
                if model.open.is_empty() {
                    continue;
                }
                let o = model.open.remove(which % model.open.len());
                sentinel.on_exec_report(&report(&o, ExecStatus::Canceled, 0, 0, prices[o.instrument]));
                match o.side {
                    Side::Buy => model.buy[o.instrument] -= o.remaining,
                    Side::Sell => model.sell[o.instrument] -= o.remaining,
                }
            }
        }
        // The sentinel's running sums agree with the model's from-scratch ones.
        let m = model.measures(&limits);
        let sums = sentinel.portfolio_exposure();
        prop_assert_eq!((sums.gross_micros, sums.net_abs_micros()), (m.portfolio_gross, m.portfolio_net));
        prop_assert_eq!(sentinel.margin_micros(), m.margin);
        prop_assert_eq!(sentinel.open_orders().len(), model.open.len());
        // A book whose VaR is clearly over the limit has tripped the switch.
        let var = PortfolioRisk::new(&returns, &model.var_exposures(), 0.99).unwrap().figures();
        if var.historical.var.max(var.parametric.var) > limits.max_var as f64 * (1.0 + 1e-7) {
            prop_assert!(sentinel.kill_switch_state() >= KillSwitchState::Reducing);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_order_breaking_a_limit_is_approved_and_every_order_within_them_is(
        limits in limits(),
        prices in [100i64..10_000, 100i64..10_000, 100i64..10_000, 100i64..10_000],
        positions in [-100i64..100, -100i64..100, -60i64..60, -60i64..60],
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        run(limits, prices, positions, ops)?;
    }
}
