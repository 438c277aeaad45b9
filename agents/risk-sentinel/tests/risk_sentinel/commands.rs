//! The command ring: a running agent takes limits reloads (validated and compiled by the
//! sender) and kill-switch commands before its next frame, and answers each with an outcome.
use qp_risk_sentinel::{
    CommandError, CompiledLimits, KillSwitchCommand as Command, KillSwitchState as State, LimitsError,
    RiskCommandError, RiskCommandOutcome, RiskSentinelAgent, TripCause, approved_order_ring, risk_command_ring,
};
use qp_runtime::{Agent, AgentContext, Outbox};
use qp_wire::{FrameBuf, RiskVerdict, Side, VetoReason, decode, decode_as};

use crate::fixture::*;

/// Feed one decision; `None` when approved, else the veto reason.
fn veto<S: qp_risk_sentinel::ApprovedOrderSink + Send>(
    agent: &mut RiskSentinelAgent<S>,
    decision_id: u64,
    asset: u32,
    side: Side,
    qty: i64,
) -> Option<VetoReason> {
    let mut out = Outbox::new("test");
    let frame = FrameBuf::encode(1, decision_id, &order(decision_id, asset, side, qty));
    agent.on_frame(AgentContext { now_ns: NOW_NS }, decode(frame.as_frame_bytes()).unwrap(), &mut out).unwrap();
    let mut verdict = None;
    out.drain_into(|f| {
        verdict = decode_as::<RiskVerdict>(f.as_frame_bytes()).ok().and_then(|v| v.payload.reason());
        Ok(())
    });
    verdict
}

#[test]
fn a_reload_through_the_ring_changes_which_orders_pass_before_the_next_frame() {
    let sentinel = sentinel();
    let (mut sender, receiver) = risk_command_ring(4, &sentinel);
    let (producer, _consumer) = approved_order_ring(64);
    let mut agent = RiskSentinelAgent::new(sentinel, producer).with_commands(receiver);
    // The example file lets 20 BTC lots through (BTCUSDT override) …
    assert_eq!(veto(&mut agent, 1, BTC, Side::Buy, 20), None);
    let tighter = EXAMPLE_LIMITS.replace("max_order_qty_lots = 20", "max_order_qty_lots = 5");
    let seq = sender.reload_limits(&tighter, "tighter.toml").unwrap();
    assert_eq!(sender.try_outcome(), None, "nothing happens until the agent's next frame");
    // … the reloaded file only 5, from the very next frame on.
    assert_eq!(veto(&mut agent, 2, BTC, Side::Buy, 6), Some(VetoReason::MaxQuantity));
    assert_eq!(veto(&mut agent, 3, BTC, Side::Buy, 5), None);
    assert_eq!(sender.try_outcome(), Some(RiskCommandOutcome::LimitsApplied { seq }));
    assert_eq!(agent.sentinel().limits().instruments["BTCUSDT"].max_order_qty_lots, Some(5));
    // Positions and open orders survived the swap.
    assert_eq!(agent.sentinel().open_orders().len(), 2);
    // An idle round applies commands too (no frame needed).
    let seq = sender.reload_limits(EXAMPLE_LIMITS, "example").unwrap();
    agent.on_idle(AgentContext { now_ns: NOW_NS }, &mut Outbox::new("test"));
    assert_eq!(sender.try_outcome(), Some(RiskCommandOutcome::LimitsApplied { seq }));
    assert_eq!(veto(&mut agent, 4, BTC, Side::Buy, 20), None);
}

#[test]
fn an_invalid_file_is_refused_by_the_sender_with_the_reason_and_the_old_limits_keep_working() {
    let sentinel = sentinel();
    let (mut sender, receiver) = risk_command_ring(4, &sentinel);
    let (producer, _consumer) = approved_order_ring(64);
    let mut agent = RiskSentinelAgent::new(sentinel, producer).with_commands(receiver);

    let broken = EXAMPLE_LIMITS.replace("max_orders_per_sec = 50", "max_orders_per_sec = = 50");
    let line = broken.lines().position(|l| l.contains("= = 50")).unwrap() + 1;
    let err = sender.reload_limits(&broken, "/etc/qp/limits.toml").unwrap_err();
    let RiskCommandError::Limits(file) = &err else { panic!("{err}") };
    assert_eq!(file.source_name, "/etc/qp/limits.toml");
    assert!(matches!(file.error, LimitsError::Parse { line: l, column: 22, .. } if l == line), "{err}");
    let message = err.to_string();
    assert!(message.contains("/etc/qp/limits.toml") && message.contains(&format!("line {line}")), "{message}");

    let err = sender
        .reload_limits(&EXAMPLE_LIMITS.replace("max_order_qty_lots = 20", "max_order_qty_lots = -1"), "l.toml")
        .unwrap_err();
    assert!(err.to_string().contains("l.toml: limits: instruments.BTCUSDT.max_order_qty_lots is -1"), "{err}");

    // Nothing reached the agent: no outcome, and the old limits still decide.
    assert_eq!(sender.untaken(), 0);
    assert_eq!(veto(&mut agent, 1, BTC, Side::Buy, 21), Some(VetoReason::MaxQuantity));
    assert_eq!(veto(&mut agent, 2, BTC, Side::Buy, 20), None);
    assert_eq!(sender.try_outcome(), None);
}

#[test]
fn limits_compiled_for_other_instruments_are_refused_by_the_agent() {
    let sentinel = sentinel();
    let (mut sender, receiver) = risk_command_ring(4, &sentinel);
    let (producer, _consumer) = approved_order_ring(64);
    let mut agent = RiskSentinelAgent::new(sentinel, producer).with_commands(receiver);
    // Validating without a sentinel: the same checks, the file named.
    let own = CompiledLimits::from_toml(EXAMPLE_LIMITS, "example", &instruments()).unwrap();
    assert_eq!(own.limits().instruments["BTCUSDT"].max_order_qty_lots, Some(20));
    let err = CompiledLimits::from_toml("[rate]\nmax_orders_per_sec = 1", "x.toml", &instruments()).unwrap_err();
    assert!(err.to_string().starts_with("risk limits x.toml: limits: "), "{err}");
    let err = CompiledLimits::from_toml(EXAMPLE_LIMITS, "example", &[]).unwrap_err();
    assert!(matches!(err.error, LimitsError::Instruments { .. }), "{err}");
    // The same text compiled for a shorter list (no JPM) does not fit this sentinel.
    let mut fewer = instruments();
    fewer.pop();
    let foreign = CompiledLimits::from_toml(EXAMPLE_LIMITS, "example", &fewer).unwrap();
    let seq = sender.send_limits(foreign).unwrap();
    assert_eq!(agent.apply_commands(), 1);
    assert!(matches!(sender.try_outcome(), Some(RiskCommandOutcome::LimitsRefused { seq: s, .. }) if s == seq));
    let seq = sender.send_limits(own).unwrap();
    assert_eq!(agent.apply_commands(), 1);
    assert_eq!(sender.try_outcome(), Some(RiskCommandOutcome::LimitsApplied { seq }));
}

#[test]
fn the_kill_switch_through_the_ring_says_applied_or_refused_and_why() {
    // 1.5M long SAP: a VaR above 10,000.
    let sentinel = sentinel_with(EXAMPLE_LIMITS, &[(SAP, 10_000)]);
    let (mut sender, receiver) = risk_command_ring(4, &sentinel);
    let (producer, _consumer) = approved_order_ring(64);
    let mut agent = RiskSentinelAgent::new(sentinel, producer).with_commands(receiver);

    let halt = sender.kill_switch(Command::Halt).unwrap();
    assert_eq!(veto(&mut agent, 1, ETH, Side::Buy, 1), Some(VetoReason::KillSwitch));
    assert_eq!(
        sender.try_outcome(),
        Some(RiskCommandOutcome::KillSwitchApplied { seq: halt, command: Command::Halt, state: State::Halted })
    );
    let activate = sender.kill_switch(Command::Activate).unwrap();
    assert_eq!(veto(&mut agent, 2, ETH, Side::Buy, 1), None);
    let outcome = sender.try_outcome().unwrap();
    assert!(outcome.is_applied() && outcome.seq() == activate, "{outcome}");

    // A tighter VaR limit trips REDUCING; Activate is then refused, and says why.
    let tight = EXAMPLE_LIMITS.replace("max_var = 400000", "max_var = 10000");
    let reload = sender.reload_limits(&tight, "tight.toml").unwrap();
    let activate = sender.kill_switch(Command::Activate).unwrap();
    assert_eq!(veto(&mut agent, 3, SAP, Side::Buy, 1), Some(VetoReason::Reducing));
    assert_eq!(sender.try_outcome(), Some(RiskCommandOutcome::LimitsApplied { seq: reload }));
    let outcome = sender.try_outcome().unwrap();
    match &outcome {
        RiskCommandOutcome::KillSwitchRefused {
            seq,
            command: Command::Activate,
            error: CommandError::BreachPersists { cause: TripCause::ValueAtRisk, .. },
        } => assert_eq!(*seq, activate),
        other => panic!("{other}"),
    }
    assert!(outcome.to_string().contains("refused: kill switch stays REDUCING: the VaR breach persists"), "{outcome}");
    assert_eq!(agent.sentinel().kill_switch_state(), State::Reducing);
}

#[test]
fn a_full_ring_refuses_at_the_sender_and_the_agent_waits_for_room_for_outcomes() {
    let sentinel = sentinel();
    let (mut sender, receiver) = risk_command_ring(2, &sentinel);
    let (producer, _consumer) = approved_order_ring(64);
    let mut agent = RiskSentinelAgent::new(sentinel, producer).with_commands(receiver);
    sender.kill_switch(Command::Reduce).unwrap();
    sender.kill_switch(Command::Halt).unwrap();
    assert_eq!(sender.kill_switch(Command::Activate), Err(RiskCommandError::Full(2)));
    assert_eq!(agent.apply_commands(), 2);
    // Two outcomes unread fill the outcome ring: the next commands wait on the command ring.
    let activate = sender.kill_switch(Command::Activate).unwrap();
    assert_eq!(agent.apply_commands(), 0);
    assert_eq!(agent.sentinel().kill_switch_state(), State::Halted);
    assert_eq!(sender.untaken(), 1);
    assert_eq!(sender.try_outcome().map(|o| o.seq()), Some(1));
    assert_eq!(agent.apply_commands(), 1);
    assert_eq!(sender.try_outcome().map(|o| o.seq()), Some(2));
    assert_eq!(sender.try_outcome().map(|o| o.seq()), Some(activate));
    assert_eq!(agent.sentinel().kill_switch_state(), State::Active);
    assert!(!sender.is_disconnected());
    drop(agent);
    assert!(sender.is_disconnected());
}
