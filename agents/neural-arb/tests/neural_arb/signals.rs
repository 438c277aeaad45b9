use qp_neural_arb::{ArbConfigError, ArbDecisions, NeuralArb, REASON_ENTRY, REASON_EXIT};
use qp_wire::{ExecReport, ExecStatus, OrderIntent, Side, TimeInForce};
use zerocopy::little_endian::{I64, U16, U32, U64};

use crate::fixture::{config, futures, quote, spot};

fn report(intent_id: u64, decision: &qp_wire::Decision, status: ExecStatus, last: i64, leaves: i64) -> ExecReport {
    ExecReport {
        intent_id: U64::new(intent_id),
        asset: U32::new(decision.asset.get()),
        side: decision.side,
        status: status as u8,
        _pad: U16::ZERO,
        last_qty: I64::new(last),
        last_price: decision.limit_price,
        cum_qty: I64::new(last),
        leaves_qty: I64::new(leaves),
    }
}

const SEC: u64 = 1_000_000_000;

/// Feed a steady basis of −20.00 (futures 61,980.0 against spot 62,000.00) with a small wiggle
/// until the window is full, then answer `futures_mid` (in futures ticks, 0.1).
fn warm(arb: &mut NeuralArb, t: &mut u64) {
    let mut out = ArbDecisions::default();
    for i in 0..700u64 {
        *t += 100_000_000;
        let wiggle = (i % 2) as i64;
        arb.on_quote(*t, &quote(spot(), 6_200_000 - 1, 6_200_000 + 1), &mut out).expect("spot");
        arb.on_quote(*t, &quote(futures(), 619_800 - wiggle * 2, 619_801 - wiggle * 2), &mut out).expect("futures");
        assert!(out.is_empty(), "no signal while the basis is steady");
    }
}

#[test]
fn enters_on_a_wide_basis_sends_both_legs_and_exits_when_it_closes() {
    let mut arb = NeuralArb::new(config()).expect("config");
    let mut t = 0;
    warm(&mut arb, &mut t);
    let mut out = ArbDecisions::default();
    // Futures 3 USD rich: z ≫ 2 → short the spread: sell futures, buy spot.
    t += 100_000_000;
    arb.on_quote(t, &quote(futures(), 619_830, 619_831), &mut out).expect("quote");
    let decisions: Vec<_> = out.iter().copied().collect();
    assert_eq!(decisions.len(), 2, "{decisions:?}");
    let (far, near) = (decisions[0], decisions[1]);
    assert_eq!(
        (far.asset(), far.side(), far.qty.get(), far.limit_price.get()),
        (futures(), Some(Side::Sell), 10, 619_830)
    );
    assert_eq!((near.asset(), near.side(), near.qty.get()), (spot(), Some(Side::Buy), 10_000));
    assert_eq!(near.limit_price.get(), 6_200_001, "a buy's limit is the ask (aggressiveness 0)");
    assert_eq!(far.reason.get(), REASON_ENTRY);
    assert_eq!(arb.clips(), -1);
    assert_eq!(arb.targets(), (10_000, -10));
    // Approved and filled.
    for (i, d) in decisions.iter().enumerate() {
        let intent = OrderIntent::new(100 + i as u64, d, TimeInForce::ImmediateOrCancel);
        arb.on_intent(&intent);
    }
    out.clear();
    arb.on_exec_report(t, &report(100, &far, ExecStatus::Filled, 10, 0), &mut out);
    arb.on_exec_report(t, &report(101, &near, ExecStatus::Filled, 10_000, 0), &mut out);
    assert!(out.is_empty());
    assert_eq!(arb.positions(), (10_000, -10));
    // Still wide: no second clip (max_clips 1).
    t += SEC * 10;
    arb.on_quote(t, &quote(futures(), 619_830, 619_831), &mut out).expect("quote");
    assert!(out.is_empty());
    // The basis closes: flatten both legs.
    t += 100_000_000;
    arb.on_quote(t, &quote(futures(), 619_799, 619_800), &mut out).expect("quote");
    let exits: Vec<_> = out.iter().copied().collect();
    assert_eq!(exits.len(), 2, "{exits:?}");
    assert!(exits.iter().all(|d| d.reason.get() == REASON_EXIT));
    assert_eq!(exits[0].side(), Some(Side::Buy));
    assert_eq!(exits[1].side(), Some(Side::Sell));
    assert_eq!(arb.stats().exits, 1);
}

#[test]
fn a_leg_that_expires_unfilled_is_sent_again_and_a_veto_waits() {
    let mut arb = NeuralArb::new(config()).expect("config");
    let mut t = 0;
    warm(&mut arb, &mut t);
    let mut out = ArbDecisions::default();
    t += 100_000_000;
    arb.on_quote(t, &quote(futures(), 619_830, 619_831), &mut out).expect("quote");
    let decisions: Vec<_> = out.iter().copied().collect();
    let (far, near) = (decisions[0], decisions[1]);
    arb.on_intent(&OrderIntent::new(7, &far, TimeInForce::ImmediateOrCancel));
    out.clear();
    // The futures IOC expires unfilled: sent again at once.
    arb.on_exec_report(t, &report(7, &far, ExecStatus::Canceled, 0, 0), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out.iter().next().map(|d| d.asset()), Some(futures()));
    // The spot leg is vetoed: nothing until retry_ns has passed.
    out.clear();
    let verdict = qp_wire::RiskVerdict::new(
        near.decision_id.get(),
        spot(),
        qp_wire::Verdict::Veto,
        qp_wire::VetoReason::PriceCollar,
    );
    arb.on_verdict(t, &verdict);
    arb.on_quote(t + 1, &quote(spot(), 6_200_000 - 1, 6_200_000 + 1), &mut out).expect("quote");
    assert!(out.iter().all(|d| d.asset() != spot()));
    arb.on_quote(t + 200_000_000, &quote(spot(), 6_200_000 - 1, 6_200_000 + 1), &mut out).expect("quote");
    assert!(out.iter().any(|d| d.asset() == spot()));
    assert_eq!(arb.stats().vetoes, 1);
}

#[test]
fn bad_configurations_and_quotes_are_typed_errors() {
    let mut c = config();
    c.exit_z = 3.0;
    assert!(matches!(NeuralArb::new(c), Err(ArbConfigError::Thresholds { .. })));
    let mut c = config();
    c.far.asset = c.near.asset;
    assert_eq!(NeuralArb::new(c).err(), Some(ArbConfigError::SameAsset));
    let mut c = config();
    c.window = 1;
    assert_eq!(NeuralArb::new(c).err(), Some(ArbConfigError::Window(1)));
    let mut c = config();
    c.hedge = qp_neural_arb::HedgeRatio::Fixed(f64::NAN);
    assert!(matches!(NeuralArb::new(c), Err(ArbConfigError::HedgeRatio(_))));
    let mut arb = NeuralArb::new(config()).expect("config");
    let mut out = ArbDecisions::default();
    assert!(arb.on_quote(0, &quote(qp_wire::AssetId::from_wire(9), 1, 2), &mut out).is_err());
    assert!(arb.on_quote(0, &quote(spot(), 5, 5), &mut out).is_err());
}
