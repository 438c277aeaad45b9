//! Fail-closed: unknown positions, stale prices and an unreconciled restart veto every order.
use qp_risk_sentinel::{KillSwitchState, RiskSentinel};
use qp_wire::{Decision, Side, VetoReason};

use crate::fixture::*;

fn every_order(sentinel: &mut RiskSentinel, now_ns: u64) -> Vec<VetoReason> {
    let mut reasons = Vec::new();
    for asset in 1..=6u32 {
        for side in [Side::Buy, Side::Sell] {
            reasons.push(match sentinel.check(now_ns, &order(1, asset, side, 1)) {
                Ok(_) => VetoReason::None,
                Err(veto) => veto.reason,
            });
        }
    }
    reasons
}

#[test]
fn a_fresh_start_vetoes_everything_until_reconciled() {
    let mut sentinel = RiskSentinel::new(instruments(), &history(DAYS, 6, 7), EXAMPLE_LIMITS).unwrap();
    for a in 1..=6 {
        sentinel.update_price(id(a), price(a), T0_NS).unwrap();
    }
    assert!(!sentinel.is_reconciled());
    assert!(every_order(&mut sentinel, NOW_NS).iter().all(|r| *r == VetoReason::NotReconciled));
    sentinel.reconciled(&(1..=6).map(|a| (id(a), 0)).collect::<Vec<_>>()).unwrap();
    assert!(every_order(&mut sentinel, NOW_NS).iter().all(|r| *r == VetoReason::None));
    // Execution loses its session: back to not reconciled.
    sentinel.mark_unreconciled();
    assert!(every_order(&mut sentinel, NOW_NS).iter().all(|r| *r == VetoReason::NotReconciled));
}

#[test]
fn a_restart_that_was_halted_stays_halted() {
    let mut sentinel = RiskSentinel::new(instruments(), &history(DAYS, 6, 7), EXAMPLE_LIMITS)
        .unwrap()
        .with_kill_switch(KillSwitchState::Halted)
        .with_first_intent_id(1_000);
    for a in 1..=6 {
        sentinel.update_price(id(a), price(a), T0_NS).unwrap();
    }
    sentinel.reconciled(&(1..=6).map(|a| (id(a), 0)).collect::<Vec<_>>()).unwrap();
    assert!(every_order(&mut sentinel, NOW_NS).iter().all(|r| *r == VetoReason::KillSwitch));
    sentinel.command(qp_risk_sentinel::KillSwitchCommand::Activate).unwrap();
    assert_eq!(sentinel.check(NOW_NS, &order(1, BTC, Side::Buy, 1)).unwrap().get().intent_id.get(), 1_000);
}

#[test]
fn unknown_positions_veto_their_orders() {
    let mut sentinel = sentinel();
    // Reconciled without ETH: ETH's position is unknown.
    sentinel.reconciled(&[1, 3, 4, 5, 6].map(|a| (id(a), 0))).unwrap();
    assert_eq!(sentinel.check(NOW_NS, &order(1, ETH, Side::Buy, 1)).unwrap_err().reason, VetoReason::UnknownPosition);
    assert!(sentinel.check(NOW_NS, &order(1, BTC, Side::Buy, 1)).is_ok());
    sentinel.invalidate_position(id(BTC)).unwrap();
    assert_eq!(sentinel.check(NOW_NS, &order(1, BTC, Side::Buy, 1)).unwrap_err().reason, VetoReason::UnknownPosition);
    // An asset that is not an instrument at all.
    let stranger = Decision::new(1, id(UNKNOWN), Side::Buy, 1, 100, 0);
    assert_eq!(sentinel.check(NOW_NS, &stranger).unwrap_err().reason, VetoReason::UnknownPosition);
    assert!(sentinel.reconciled(&[(id(UNKNOWN), 0)]).is_err());
    assert_eq!(sentinel.position_lots(id(DBK)), Some(0), "a refused reconciliation changes nothing");
}

#[test]
fn stale_or_missing_prices_veto_their_orders() {
    let mut sentinel = sentinel();
    let max_age_ns = 2_000 * 1_000_000;
    assert!(sentinel.check(T0_NS + max_age_ns, &order(1, BTC, Side::Buy, 1)).is_ok(), "at the age limit");
    assert!(every_order(&mut sentinel, T0_NS + max_age_ns + 1).iter().all(|r| *r == VetoReason::StalePrice));
    sentinel.update_price(id(BTC), price(BTC), T0_NS + max_age_ns).unwrap();
    assert!(sentinel.check(T0_NS + max_age_ns + 1, &order(1, BTC, Side::Buy, 1)).is_ok());
    // An instrument that never had a price.
    let mut sentinel = RiskSentinel::new(instruments(), &history(DAYS, 6, 7), EXAMPLE_LIMITS).unwrap();
    sentinel.reconciled(&(1..=6).map(|a| (id(a), 0)).collect::<Vec<_>>()).unwrap();
    assert!(every_order(&mut sentinel, NOW_NS).iter().all(|r| *r == VetoReason::StalePrice));
}
