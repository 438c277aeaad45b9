//! The agent: decisions in, intents or vetoes out, approvals through the typed hand-off.
use qp_risk_sentinel::{ApprovedOrderSink, RiskApproved, RiskSentinelAgent, approved_order_ring};
use qp_runtime::{Agent, AgentContext, AgentError, Outbox};
use qp_wire::{
    Decision, ExecStatus, FrameBuf, OrderIntent, Quote, RiskVerdict, Side, Stage, Verdict, VetoReason, decode,
    decode_as,
};

use crate::fixture::*;

fn ctx() -> AgentContext {
    AgentContext { now_ns: NOW_NS }
}

fn feed<S: ApprovedOrderSink + Send>(
    agent: &mut RiskSentinelAgent<S>,
    frame: &FrameBuf,
) -> Result<Vec<FrameBuf>, AgentError> {
    let mut out = Outbox::new("test");
    agent.on_frame(ctx(), decode(frame.as_frame_bytes()).unwrap(), &mut out)?;
    let mut frames = Vec::new();
    out.drain_into(|f| {
        frames.push(f);
        Ok(())
    });
    Ok(frames)
}

#[test]
fn decisions_become_intents_on_the_ring_or_vetoes() {
    let (producer, mut consumer) = approved_order_ring(4);
    let mut agent = RiskSentinelAgent::new(sentinel(), producer);
    let decision = FrameBuf::encode(1, 10, &order(42, BTC, Side::Buy, 5));
    let out = feed(&mut agent, &decision).unwrap();
    assert_eq!(out.len(), 1);
    let intent = decode_as::<OrderIntent>(out[0].as_frame_bytes()).unwrap();
    assert_eq!(intent.payload.decision_id.get(), 42);
    assert_eq!(intent.header.sequence.get(), 10, "derived from the decision's frame");
    let approved = consumer.pop().unwrap();
    assert_eq!(approved.get(), intent.payload);
    assert!(consumer.pop().is_none());

    let too_big = FrameBuf::encode(1, 11, &order(43, BTC, Side::Buy, 500));
    let out = feed(&mut agent, &too_big).unwrap();
    let verdict = decode_as::<RiskVerdict>(out[0].as_frame_bytes()).unwrap();
    assert_eq!(
        (verdict.payload.verdict(), verdict.payload.reason()),
        (Some(Verdict::Veto), Some(VetoReason::MaxQuantity))
    );
    assert_eq!(verdict.payload.decision_id.get(), 43);
    assert!(consumer.is_empty(), "a veto puts nothing on the ring");

    // Execution reports move positions.
    let report =
        FrameBuf::encode(2, 1, &exec_report(approved.get().intent_id.get(), BTC, Side::Buy, ExecStatus::Filled, 5, 0));
    assert!(feed(&mut agent, &report).unwrap().is_empty());
    assert_eq!(agent.sentinel().position_lots(id(BTC)), Some(5));
    // Anything else is not an input.
    let stray = FrameBuf::encode(1, 12, approved.get());
    assert!(matches!(feed(&mut agent, &stray), Err(AgentError::UnexpectedFrame { .. })));
}

#[test]
fn a_full_hand_off_vetoes_and_releases_the_reservation() {
    let (producer, mut consumer) = approved_order_ring(1);
    let mut agent = RiskSentinelAgent::new(sentinel(), producer);
    assert_eq!(feed(&mut agent, &FrameBuf::encode(1, 1, &order(1, ETH, Side::Buy, 50))).unwrap().len(), 1);
    let out = feed(&mut agent, &FrameBuf::encode(1, 2, &order(2, ETH, Side::Buy, 50))).unwrap();
    let verdict = decode_as::<RiskVerdict>(out[0].as_frame_bytes()).unwrap();
    assert_eq!(verdict.payload.reason(), Some(VetoReason::RateLimit));
    assert_eq!(agent.sentinel().exposure(id(ETH)).unwrap().worst_lots, 50, "only the first is reserved");
    assert_eq!(agent.sentinel().open_orders().len(), 1);
    assert_eq!(agent.sentinel().stats().withdrawn, 1);
    assert_eq!(consumer.pop().map(|o| o.get().decision_id.get()), Some(1));
}

/// An execution agent written against the sink trait: it can only ever be handed approved
/// orders (the compile-fail tests show the rest does not build).
#[derive(Default)]
struct RecordingExecutor {
    sent: Vec<OrderIntent>,
}

impl ApprovedOrderSink for RecordingExecutor {
    fn send(&mut self, order: RiskApproved<OrderIntent>) -> Result<(), RiskApproved<OrderIntent>> {
        self.sent.push(order.into_inner());
        Ok(())
    }
}

#[test]
fn any_execution_agent_can_be_the_sink() {
    let mut agent = RiskSentinelAgent::new(sentinel(), RecordingExecutor::default());
    feed(&mut agent, &FrameBuf::encode(1, 1, &order(1, DBK, Side::Sell, 10))).unwrap();
    feed(&mut agent, &FrameBuf::encode(1, 2, &order(2, DBK, Side::Sell, 1_000_000))).unwrap();
    assert_eq!(agent.sink().sent.len(), 1);
    assert_eq!(agent.sink().sent[0].qty.get(), 10);
}

/// Quote frames set the reference price (the mid) at the frame's Ingest stamp: the stage's
/// monotonic clock, the same one `ctx.now_ns` reads.
#[test]
fn quote_frames_set_the_reference_price_at_their_ingest_stamp() {
    let (producer, _consumer) = approved_order_ring(8);
    let mut agent = RiskSentinelAgent::new(sentinel(), producer);
    let on = |agent: &mut RiskSentinelAgent<_>, now_ns: u64, frame: &FrameBuf| {
        let mut out = Outbox::new("test");
        agent
            .on_frame(AgentContext { now_ns }, decode(frame.as_frame_bytes()).unwrap(), &mut out)
            .map(|()| out.pending().len())
    };
    // Mid of 6,100,000 and 6,100,003 is 6,100,001 (rounded down), seen at Ingest T0 + 5 s.
    let seen_ns = T0_NS + 5_000_000_000;
    let mut quote = FrameBuf::encode(3, 1, &Quote::new(id(BTC), (6_100_000, 10), (6_100_003, 7), 42));
    quote.stamp(Stage::Ingest, seen_ns);
    assert_eq!(on(&mut agent, seen_ns + 10, &quote).unwrap(), 0, "a quote emits nothing");
    // The collar (BTC: 100 bp) is now around the new mid: 6,000,000 is 1.6 % away.
    let far = FrameBuf::encode(1, 2, &order(1, BTC, Side::Buy, 1));
    let mut out = Outbox::new("test");
    agent.on_frame(AgentContext { now_ns: seen_ns + 1_000 }, decode(far.as_frame_bytes()).unwrap(), &mut out).unwrap();
    let mut vetoes = Vec::new();
    out.drain_into(|f| {
        vetoes.push(*decode_as::<RiskVerdict>(f.as_frame_bytes()).unwrap().payload);
        Ok(())
    });
    assert_eq!(vetoes[0].reason(), Some(VetoReason::PriceCollar));
    let near = Decision::new(2, id(BTC), Side::Buy, 1, 6_100_001, 0);
    let check = |agent: &mut RiskSentinelAgent<_>, now_ns: u64, id: u64| {
        let frame = FrameBuf::encode(1, id, &near);
        let mut out = Outbox::new("test");
        agent.on_frame(AgentContext { now_ns }, decode(frame.as_frame_bytes()).unwrap(), &mut out).unwrap();
        let mut types = Vec::new();
        out.drain_into(|f| {
            types.push(decode(f.as_frame_bytes()).unwrap().frame_type());
            Ok(())
        });
        types
    };
    assert_eq!(check(&mut agent, seen_ns + 1_000, 3), [qp_wire::FrameType::OrderIntent]);
    // Freshness counts from the Ingest stamp: 2 s later (the example's max_price_age_ms) is
    // still fresh, a nanosecond more is stale.
    assert_eq!(check(&mut agent, seen_ns + 2_000_000_000, 4), [qp_wire::FrameType::OrderIntent]);
    let stale = check(&mut agent, seen_ns + 2_000_000_001, 5);
    assert_eq!(stale, [qp_wire::FrameType::RiskVerdict]);
    assert_eq!(agent.sentinel().stats().vetoed_by_reason[VetoReason::StalePrice as usize], 1);

    // A quote without an Ingest stamp has no age: refused. One for an unguarded asset too.
    let unstamped = FrameBuf::encode(3, 2, &Quote::new(id(BTC), (1, 1), (2, 1), 0));
    assert!(matches!(on(&mut agent, seen_ns, &unstamped), Err(AgentError::Rejected { .. })));
    let mut unknown = FrameBuf::encode(3, 3, &Quote::new(id(UNKNOWN), (1, 1), (2, 1), 0));
    unknown.stamp(Stage::Ingest, seen_ns);
    assert!(matches!(on(&mut agent, seen_ns, &unknown), Err(AgentError::UnknownAsset { asset: UNKNOWN, .. })));
}
