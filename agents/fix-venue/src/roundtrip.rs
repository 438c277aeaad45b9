//! The two measurements of the venue connection (`qpctl bench fix-encode`,
//! `qpctl bench fix-roundtrip`, and this crate's benches):
//!
//! - [`measure_intent_to_bytes`]: a `RiskApproved<OrderIntent>` → the NewOrderSingle's bytes
//!   in the session's outbound buffer (encode, store, queue), per call, no socket.
//! - [`measure_round_trip`]: NewOrderSingle handed to the socket → its ExecutionReport (New)
//!   read, parsed and attributed, against a real peer, one order at a time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use qp_fix::messages::{ExecType, Logon};
use qp_fix::session::{MemoryStore, MessageStore, Role, Session, SessionConfig};
use qp_fix::{Dictionary, Encoder, Header, Scale};
use qp_risk_sentinel::RiskSentinel;
use qp_runtime::clock::monotonic_ns;
use qp_runtime::{LatencyHistogram, PerCallTimer, Percentiles};
use qp_wire::{Decision, ExecReport, ExecStatus, Side};

use crate::clock::unix_now_ns;
use crate::gateway::{GatewayConfig, GatewayEvent, OrderGateway, Submitted, VenueInstrument};
use crate::initiator::FixInitiator;
use crate::link::LinkEvent;
use crate::trade::{TradeError, permissive_sentinel, trade_asset, trade_instrument};
use crate::venue::VenueGateway;

/// The order the measurements send: BTCUSDT, 10 lots at 61000.50.
const SYMBOL: &str = "BTCUSDT";
const SCALE: Scale = Scale::new(2, 0);
const PRICE_TICKS: i64 = 6_100_050;
const QTY_LOTS: i64 = 10;
/// Agent-clock step between two intents of [`measure_intent_to_bytes`] (keeps the risk
/// rate windows far from their limits).
const INTENT_STEP_NS: u64 = 2_000;

/// A session brought to Active without a connection: its Logon is taken from the outbound
/// buffer and the peer's answer fed in. For benches and tests of what happens after logon.
pub fn offline_session<'d, S: MessageStore>(sender: &str, target: &str, store: S, now_ns: u64) -> Session<'d, S> {
    let mut session = Session::new(SessionConfig::new(Role::Initiator, sender, target, 30), store, None);
    session.connect(now_ns);
    session.take_outbound();
    let header = Header {
        sender_comp_id: target,
        target_comp_id: sender,
        msg_seq_num: session.store().next_target_seq(),
        sending_time_ns: now_ns,
        poss_dup: false,
        orig_sending_time_ns: None,
    };
    let logon = Logon {
        encrypt_method: 0,
        heart_bt_int_s: 30,
        reset_seq_num: false,
        next_expected_msg_seq_num: None,
        username: None,
        password: None,
    };
    let mut encoder = Encoder::new();
    let bytes = encoder.encode(&header, &logon, Scale::new(0, 0)).to_vec();
    session.on_bytes(now_ns, &bytes, |_| {});
    while session.poll_event().is_some() {}
    session
}

/// A filled report for `intent_id` (what the bench feeds RiskSentinel so that its open
/// orders do not pile up).
fn filled(intent_id: u64, side: Side) -> ExecReport {
    ExecReport {
        intent_id: intent_id.into(),
        asset: trade_asset().get().into(),
        side: side as u8,
        status: ExecStatus::Filled as u8,
        _pad: 0u16.into(),
        last_qty: QTY_LOTS.into(),
        last_price: PRICE_TICKS.into(),
        cum_qty: QTY_LOTS.into(),
        leaves_qty: 0i64.into(),
    }
}

/// Per call: [`OrderGateway::submit`] of a fresh approved intent into a logged-on session
/// over `store` (encode, `store.save`, queue), `warmup` calls first. The outbound buffer is
/// drained outside the timed region.
pub fn measure_intent_to_bytes<S: MessageStore>(
    store: S,
    warmup: u64,
    iterations: u64,
) -> Result<Percentiles, TradeError> {
    let start_ns = unix_now_ns();
    let instrument = trade_instrument(SYMBOL, SCALE);
    let config = GatewayConfig { expected_orders: (warmup + iterations) as usize + 16, ..GatewayConfig::default() };
    let mut gateway = OrderGateway::new(vec![VenueInstrument::from_spec(&instrument)], config)?;
    let mut sentinel = permissive_sentinel(instrument, PRICE_TICKS, start_ns)?;
    let mut session = offline_session("QPNODE", "EXCH", store, start_ns);
    let mut timer = PerCallTimer::new();
    for i in 0..warmup + iterations {
        if i == warmup {
            timer.reset();
        }
        let now_ns = start_ns + i * INTENT_STEP_NS;
        let side = if i.is_multiple_of(2) { Side::Buy } else { Side::Sell };
        sentinel.update_price(trade_asset(), PRICE_TICKS, now_ns).map_err(|e| TradeError::Risk(e.to_string()))?;
        let decision = Decision::new(i + 1, trade_asset(), side, QTY_LOTS, PRICE_TICKS, 0);
        let approved = sentinel.check(now_ns, &decision).map_err(|veto| TradeError::Risk(veto.to_string()))?;
        let intent_id = approved.get().intent_id.get();
        let submitted = timer.time(|| gateway.submit(&mut session, now_ns, approved));
        if let Err(refused) = submitted {
            return Err(refused.error.into());
        }
        session.consume_outbound(usize::MAX);
        sentinel.on_exec_report(&filled(intent_id, side));
    }
    Ok(timer.percentiles())
}

/// What [`measure_round_trip`] measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundTrip {
    /// NewOrderSingle handed to the socket → ExecutionReport (New) parsed.
    pub round_trip: Percentiles,
    pub orders: u64,
}

/// Logs on to the peer at `peer` (QPNODE → EXCH, ResetSeqNumFlag=Y, in-memory store) and
/// sends `warmup + orders` orders one at a time: the clock starts just before the order is
/// submitted (encoded, stored, written to the socket) and stops when its ExecutionReport
/// (New) has been read, parsed and attributed; the fill that follows is awaited before the
/// next order. The connection is polled in a busy loop (yielding the CPU when nothing arrived).
pub fn measure_round_trip(
    peer: SocketAddr,
    dictionary: Option<&Dictionary>,
    warmup: u64,
    orders: u64,
    timeout: Duration,
) -> Result<RoundTrip, TradeError> {
    let deadline = Instant::now() + timeout;
    let instrument = trade_instrument(SYMBOL, SCALE);
    let config = GatewayConfig { expected_orders: (warmup + orders) as usize + 16, ..GatewayConfig::default() };
    let gateway = OrderGateway::new(vec![VenueInstrument::from_spec(&instrument)], config)?;
    let mut session = SessionConfig::new(Role::Initiator, "QPNODE", "EXCH", 30);
    session.reset_on_logon = true;
    let link = FixInitiator::new(peer, session, MemoryStore::new(), dictionary);
    let mut venue = VenueGateway::new(link, gateway);
    venue.link_mut().connect(unix_now_ns())?;
    while !venue.link().is_logged_on() {
        venue.poll(unix_now_ns());
        check_link(&mut venue, deadline, "the Logon answer")?;
    }
    let mut sentinel: RiskSentinel = permissive_sentinel(instrument, PRICE_TICKS, unix_now_ns())?;
    let mut histogram = LatencyHistogram::new();
    for i in 0..warmup + orders {
        if i == warmup {
            histogram.reset();
        }
        let now_ns = unix_now_ns();
        let side = if i.is_multiple_of(2) { Side::Buy } else { Side::Sell };
        sentinel.update_price(trade_asset(), PRICE_TICKS, now_ns).map_err(|e| TradeError::Risk(e.to_string()))?;
        let decision = Decision::new(i + 1, trade_asset(), side, QTY_LOTS, PRICE_TICKS, 0);
        let approved = sentinel.check(now_ns, &decision).map_err(|veto| TradeError::Risk(veto.to_string()))?;
        let intent_id = approved.get().intent_id.get();
        let start = monotonic_ns();
        match venue.submit(unix_now_ns(), approved) {
            Ok(Submitted::Sent { .. }) => {}
            Ok(Submitted::AlreadySent { .. }) => return Err(TradeError::Argument("fresh store sent nothing".into())),
            Err(refused) => return Err(refused.error.into()),
        }
        let (mut acknowledged, mut done) = (false, false);
        while !done {
            if venue.poll(unix_now_ns()) == 0 {
                // On a small machine the peer needs the core this loop would spin on.
                std::thread::yield_now();
            }
            while let Some(event) = venue.next_event() {
                if let GatewayEvent::Exec { report, exec_type, .. } = event
                    && report.intent_id.get() == intent_id
                {
                    if exec_type == ExecType::New && !acknowledged {
                        histogram.record(monotonic_ns() - start);
                        acknowledged = true;
                    }
                    sentinel.on_exec_report(&report);
                    done |= matches!(
                        ExecStatus::from_wire(report.status),
                        Some(ExecStatus::Filled | ExecStatus::Canceled | ExecStatus::Rejected)
                    );
                }
            }
            if !done {
                check_link(&mut venue, deadline, "an execution report")?;
            }
        }
    }
    venue.link_mut().logout(unix_now_ns(), None);
    let until = Instant::now() + Duration::from_secs(2);
    while venue.link().is_connected() && Instant::now() < until {
        venue.poll(unix_now_ns());
        std::thread::sleep(Duration::from_micros(100));
    }
    Ok(RoundTrip { round_trip: histogram.percentiles(), orders })
}

fn check_link<S: MessageStore>(
    venue: &mut VenueGateway<'_, S>,
    deadline: Instant,
    what: &'static str,
) -> Result<(), TradeError> {
    while let Some(event) = venue.next_link_event() {
        if let LinkEvent::Closed(reason) = event {
            return Err(TradeError::Closed(format!("{reason:?}")));
        }
    }
    if Instant::now() >= deadline {
        return Err(TradeError::Timeout(what));
    }
    Ok(())
}
