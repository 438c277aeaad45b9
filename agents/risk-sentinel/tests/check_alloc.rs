//! The pre-trade check, execution reports, price updates and the agent's frame path allocate
//! nothing after warm-up (own binary: the counting allocator counts every thread).
#![allow(clippy::expect_used, clippy::unwrap_used)] // test code
use qp_alloc_counter::{CountingAllocator, allocations_on_this_thread};
use qp_risk_model::ReturnMatrix;
use qp_risk_sentinel::{
    InstrumentSpec, KillSwitchCommand, RiskCommandOutcome, RiskSentinel, RiskSentinelAgent, approved_order_ring,
    risk_command_ring,
};
use qp_runtime::{Agent, AgentContext, Outbox};
use qp_wire::{AssetId, Decision, ExecReport, ExecStatus, FrameBuf, Side};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

const ASSETS: usize = 1_000;
const DAYS: usize = 250;
const PRICE: i64 = 10_000;

const LIMITS: &str = r#"
[fail_closed]
max_price_age_ms = 1000000
[kill_switch]
daily_loss_limit = 1000000000
loss_trip_state = "halted"
[rate]
max_orders_per_sec = 1000000
max_messages_per_sec = 1000000
max_open_orders = 64
[portfolio]
max_gross_notional = 100000000
max_net_notional = 50000000
[margin]
collateral = 50000000
[var]
max_var = 5000000
max_incremental_var = 1000000
[classes.equity]
max_order_qty_lots = 1000
max_order_notional = 200000
price_collar_bp = 500
max_position_lots = 5000
max_position_notional = 400000
initial_margin_bp = 1000
[groups."region:europe"]
max_net_short_notional = 3000000
"#;

fn report(intent_id: u64, asset: u32, side: Side, status: ExecStatus, last_qty: i64) -> ExecReport {
    ExecReport {
        intent_id: intent_id.into(),
        asset: asset.into(),
        side: side as u8,
        status: status as u8,
        _pad: 0u16.into(),
        last_qty: last_qty.into(),
        last_price: PRICE.into(),
        cum_qty: 0i64.into(),
        leaves_qty: 0i64.into(),
    }
}

#[test]
fn the_check_path_allocates_nothing() {
    let values: Vec<f64> = (0..DAYS * ASSETS).map(|k| ((k * 7_919 % 1_001) as f64 - 500.0) * 4e-5).collect();
    let returns = ReturnMatrix::new(DAYS, ASSETS, values).unwrap();
    let specs = (0..ASSETS)
        .map(|i| InstrumentSpec {
            asset: AssetId::from_wire(i as u32 + 1),
            symbol: format!("S{i}"),
            class: "equity".into(),
            groups: vec![["region:europe", "region:us"][i % 2].into(), format!("sector:{}", i % 11)],
            price_decimals: 2,
            qty_decimals: 0,
            contract_multiplier: 1,
        })
        .collect();
    let mut sentinel = RiskSentinel::new(specs, &returns, LIMITS).unwrap();
    for i in 0..ASSETS {
        sentinel.update_price(AssetId::from_wire(i as u32 + 1), PRICE, 0).unwrap();
    }
    let positions: Vec<(AssetId, i64)> =
        (0..ASSETS).map(|i| (AssetId::from_wire(i as u32 + 1), (i as i64 % 41) - 20)).collect();
    sentinel.reconciled(&positions).unwrap();
    let (producer, mut consumer) = approved_order_ring(64);
    let mut agent = RiskSentinelAgent::new(sentinel, producer);
    let mut out = Outbox::new("alloc");

    let mut round = |k: u64, agent: &mut RiskSentinelAgent<_>| {
        let now_ns = 1_000 + k * 1_000;
        let asset = (k * 37 % ASSETS as u64) as u32 + 1;
        let side = if k.is_multiple_of(3) { Side::Sell } else { Side::Buy };
        // Every fifth order is too big (vetoed), the rest pass.
        let qty = if k.is_multiple_of(5) { 5_000 } else { 1 + (k % 7) as i64 };
        let decision = Decision::new(k, AssetId::from_wire(asset), side, qty, PRICE, 0);
        let frame = FrameBuf::encode(1, k, &decision);
        agent.on_frame(AgentContext { now_ns }, frame.decode().unwrap(), &mut out).unwrap();
        out.drain_into(|_| Ok(()));
        // Execution: fill one, cancel the next.
        while let Some(order) = consumer.pop() {
            let intent = order.into_inner();
            let status =
                if intent.intent_id.get().is_multiple_of(2) { ExecStatus::Filled } else { ExecStatus::Canceled };
            let filled = if status == ExecStatus::Filled { intent.qty.get() } else { 0 };
            let report = FrameBuf::encode(2, k, &report(intent.intent_id.get(), asset, side, status, filled));
            agent.on_frame(AgentContext { now_ns }, report.decode().unwrap(), &mut out).unwrap();
        }
        let sentinel = agent.sentinel_mut();
        sentinel.update_price(AssetId::from_wire(asset), PRICE + (k % 3) as i64, now_ns).unwrap();
        if k.is_multiple_of(100) {
            // Approve one, halt (its cancel request is drained), then resume.
            let open =
                sentinel.check(now_ns, &Decision::new(k, AssetId::from_wire(asset), Side::Buy, 1, PRICE, 0)).unwrap();
            sentinel.command(KillSwitchCommand::Halt).unwrap();
            assert_eq!(sentinel.take_cancel_requests().count(), 1);
            sentinel.withdraw(open);
            sentinel.command(KillSwitchCommand::Activate).unwrap();
        }
    };
    for k in 0..2_000 {
        round(k, &mut agent);
    }
    let before = allocations_on_this_thread();
    for k in 2_000..12_000 {
        round(k, &mut agent);
    }
    assert_eq!(allocations_on_this_thread() - before, 0);
    let stats = agent.sentinel().stats();
    assert!(stats.approved > 5_000 && stats.vetoed_by_reason.iter().sum::<u64>() > 1_000, "{stats:?}");

    // The command ring: the sender compiles and boxes (allocating, on its side); the agent
    // applies reloads and kill-switch commands and sends the old limits back, allocating
    // nothing (the new limits raise no rate, so no window grows). In this test, not one of its
    // own: the counting allocator counts every thread of the binary.
    let (mut sender, receiver) = risk_command_ring(8, agent.sentinel());
    let mut agent = agent.with_commands(receiver);
    let tighter = LIMITS.replace("max_order_qty_lots = 1000", "max_order_qty_lots = 500");
    let reloads = [sender.reload_limits(&tighter, "tighter").unwrap(), sender.reload_limits(LIMITS, "back").unwrap()];
    sender.kill_switch(KillSwitchCommand::Halt).unwrap();
    sender.kill_switch(KillSwitchCommand::Activate).unwrap();
    let before = allocations_on_this_thread();
    assert_eq!(agent.apply_commands(), 4);
    round(12_000, &mut agent);
    assert_eq!(allocations_on_this_thread() - before, 0, "applying commands allocates nothing");
    assert_eq!(sender.try_outcome(), Some(RiskCommandOutcome::LimitsApplied { seq: reloads[0] }));
    assert_eq!(sender.try_outcome(), Some(RiskCommandOutcome::LimitsApplied { seq: reloads[1] }));
    assert!(sender.try_outcome().is_some_and(|o| o.is_applied()));
    assert!(sender.try_outcome().is_some_and(|o| o.is_applied()));
}
