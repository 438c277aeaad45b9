//! The kill switch: commands, automatic trips by loss and VaR, cancels on HALTED.
use qp_risk_sentinel::{CommandError, KillSwitchCommand as Command, KillSwitchState as State, TripCause};
use qp_wire::{ExecStatus, Side, VetoReason};

use crate::fixture::*;

fn reason(sentinel: &mut qp_risk_sentinel::RiskSentinel, asset: u32, side: Side, qty: i64) -> VetoReason {
    match sentinel.check(NOW_NS, &order(1, asset, side, qty)) {
        Ok(_) => VetoReason::None,
        Err(veto) => veto.reason,
    }
}

#[test]
fn halt_vetoes_everything_and_cancels_open_orders() {
    let mut sentinel = sentinel_with(EXAMPLE_LIMITS, &[(ETH, 100)]);
    let a = sentinel.check(NOW_NS, &order(1, BTC, Side::Buy, 5)).unwrap().into_inner();
    let b = sentinel.check(NOW_NS, &order(2, ETH, Side::Sell, 50)).unwrap().into_inner();
    assert_eq!(sentinel.command(Command::Halt), Ok(State::Halted));
    let cancels: Vec<_> = sentinel.take_cancel_requests().collect();
    assert_eq!(cancels.iter().map(|c| c.intent_id).collect::<Vec<_>>(), [a.intent_id.get(), b.intent_id.get()]);
    assert_eq!((cancels[1].decision_id, cancels[1].side, cancels[1].leaves_lots), (2, Side::Sell, 50));
    assert_eq!(sentinel.take_cancel_requests().count(), 0, "drained once");
    // Even a risk-reducing order is vetoed.
    assert_eq!(reason(&mut sentinel, ETH, Side::Sell, 10), VetoReason::KillSwitch);
    // Open orders stay reserved until the venue confirms the cancel.
    assert_eq!(sentinel.exposure(id(BTC)).unwrap().worst_lots, 5);
    sentinel.on_exec_report(&exec_report(a.intent_id.get(), BTC, Side::Buy, ExecStatus::Canceled, 0, 0));
    assert_eq!(sentinel.exposure(id(BTC)).unwrap().worst_lots, 0);
    // Halting again does not re-request the cancel already requested.
    sentinel.command(Command::Halt).unwrap();
    assert_eq!(sentinel.take_cancel_requests().count(), 0);
    assert_eq!(sentinel.command(Command::Activate), Ok(State::Active));
    assert_eq!(reason(&mut sentinel, BTC, Side::Buy, 5), VetoReason::None);
}

#[test]
fn reducing_passes_only_risk_reducing_orders() {
    let mut sentinel = sentinel_with(EXAMPLE_LIMITS, &[(ETH, 100), (SAP, -50)]);
    assert_eq!(sentinel.command(Command::Reduce), Ok(State::Reducing));
    assert_eq!(reason(&mut sentinel, ETH, Side::Buy, 1), VetoReason::Reducing);
    assert_eq!(reason(&mut sentinel, ETH, Side::Sell, 101), VetoReason::Reducing, "would flip");
    assert_eq!(reason(&mut sentinel, BTC, Side::Buy, 1), VetoReason::Reducing, "flat");
    assert_eq!(reason(&mut sentinel, ETH, Side::Sell, 60), VetoReason::None);
    assert_eq!(reason(&mut sentinel, ETH, Side::Sell, 41), VetoReason::Reducing, "60 already open");
    assert_eq!(reason(&mut sentinel, SAP, Side::Buy, 50), VetoReason::None);
    // Reducing orders still pass every other check.
    assert_eq!(
        sentinel.check(NOW_NS, &qp_wire::Decision::new(9, id(ETH), Side::Sell, 10, 1, 0)).unwrap_err().reason,
        VetoReason::PriceCollar
    );
    assert_eq!(sentinel.command(Command::Activate), Ok(State::Active));
    assert_eq!(reason(&mut sentinel, BTC, Side::Buy, 1), VetoReason::None);
}

fn loss_limits(trip: &str) -> String {
    EXAMPLE_LIMITS
        .replace("daily_loss_limit = 250000", "daily_loss_limit = 10000")
        .replace("loss_trip_state = \"halted\"", &format!("loss_trip_state = \"{trip}\""))
}

#[test]
fn a_loss_beyond_the_daily_limit_halts_and_cancels() {
    // 4.5 BTC long at 60,000; an open order that will need cancelling.
    let mut sentinel = sentinel_with(&loss_limits("halted"), &[(BTC, 450)]);
    let open = sentinel.check(NOW_NS, &order(1, ETH, Side::Buy, 10)).unwrap().into_inner();
    // -4%: 10,800 lost, above the 10,000 limit.
    sentinel.update_price(id(BTC), 5_760_000, NOW_NS).unwrap();
    assert_eq!(sentinel.daily_pnl_micros(), -10_800_000_000);
    assert_eq!((sentinel.kill_switch_state(), sentinel.kill_switch_cause()), (State::Halted, TripCause::Loss));
    let cancels: Vec<_> = sentinel.take_cancel_requests().collect();
    assert_eq!(cancels.len(), 1);
    assert_eq!(cancels[0].intent_id, open.intent_id.get());
    // Activate is refused while the loss persists; Reduce is accepted and sticks.
    assert!(matches!(
        sentinel.command(Command::Activate),
        Err(CommandError::BreachPersists { cause: TripCause::Loss, .. })
    ));
    assert_eq!(sentinel.command(Command::Reduce), Ok(State::Reducing));
    sentinel.update_price(id(BTC), 5_750_000, NOW_NS).unwrap();
    assert_eq!(sentinel.kill_switch_state(), State::Reducing, "an acknowledged breach does not re-trip");
    let sell = qp_wire::Decision::new(3, id(BTC), Side::Sell, 10, 5_750_000, 0);
    assert!(sentinel.check(NOW_NS, &sell).is_ok());
    // A new trading day measures from here.
    sentinel.start_trading_day();
    assert_eq!(sentinel.command(Command::Activate), Ok(State::Active));
}

#[test]
fn the_loss_trip_state_is_configurable() {
    let mut sentinel = sentinel_with(&loss_limits("reducing"), &[(BTC, 450)]);
    sentinel.update_price(id(BTC), 5_760_000, NOW_NS).unwrap();
    assert_eq!((sentinel.kill_switch_state(), sentinel.kill_switch_cause()), (State::Reducing, TripCause::Loss));
    assert_eq!(reason(&mut sentinel, BTC, Side::Buy, 1), VetoReason::Reducing);
}

#[test]
fn realised_losses_from_fills_count() {
    let mut sentinel = sentinel_with(&loss_limits("halted"), &[]);
    let intent = sentinel.check(NOW_NS, &order(1, ETH, Side::Buy, 100)).unwrap().into_inner();
    // Bought 1 ETH at 3,000, then the price halves.
    sentinel.on_exec_report(&exec_report(intent.intent_id.get(), ETH, Side::Buy, ExecStatus::Filled, 100, 0));
    assert_eq!(sentinel.daily_pnl_micros(), 0);
    sentinel.update_price(id(ETH), 150_000, NOW_NS).unwrap();
    assert_eq!(sentinel.daily_pnl_micros(), -1_500_000_000);
    assert_eq!(sentinel.kill_switch_state(), State::Active);
    // A loss of 10,000 more on another position trips it.
    sentinel.reconciled(&(1..=6).map(|a| (id(a), if a == SAP { 1_000 } else { 0 })).collect::<Vec<_>>()).unwrap();
    sentinel.update_price(id(SAP), 5_000, NOW_NS).unwrap();
    assert_eq!(sentinel.kill_switch_state(), State::Halted);
}

#[test]
fn a_var_breach_trips_reducing() {
    // 1.5M long SAP: VaR well above 10,000.
    let mut sentinel = sentinel_with(EXAMPLE_LIMITS, &[(SAP, 10_000)]);
    let var = sentinel.var_figures();
    assert!(var.worst() > 10_000.0 && var.worst() < 400_000.0, "{var:?}");
    assert_eq!(sentinel.kill_switch_state(), State::Active);
    sentinel.reload_limits(&EXAMPLE_LIMITS.replace("max_var = 400000", "max_var = 10000")).unwrap();
    assert_eq!((sentinel.kill_switch_state(), sentinel.kill_switch_cause()), (State::Reducing, TripCause::ValueAtRisk));
    assert!(matches!(
        sentinel.command(Command::Activate),
        Err(CommandError::BreachPersists { cause: TripCause::ValueAtRisk, .. })
    ));
    assert_eq!(reason(&mut sentinel, SAP, Side::Buy, 1), VetoReason::Reducing);
    // Reducing lowers VaR: allowed although VaR stays above the limit.
    assert_eq!(reason(&mut sentinel, SAP, Side::Sell, 3_000), VetoReason::None);
    assert!(sentinel.var_figures().worst() < var.worst());
    // A price move that makes the book riskier trips an ACTIVE switch too.
    let mut sentinel = sentinel_with(&EXAMPLE_LIMITS.replace("max_var = 400000", "max_var = 150000"), &[(SAP, 10_000)]);
    assert_eq!(sentinel.kill_switch_state(), State::Active);
    sentinel.update_price(id(SAP), 150_000, NOW_NS).unwrap();
    assert_eq!((sentinel.kill_switch_state(), sentinel.kill_switch_cause()), (State::Reducing, TripCause::ValueAtRisk));
}
