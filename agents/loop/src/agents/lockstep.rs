//! The replay's lockstep: how a replay through the threaded stages stays deterministic.
//!
//! In a replay ([`crate::FiveStepLoop::start_replay`]) the feeder hands each event's frames to
//! the stages between two **markers**, and waits for the second to come out of the Execute step
//! before it takes the next event. The stages are FIFO, so by then every frame of the event has
//! been handled by every stage, and every order RiskSentinel approved for it is on the
//! approved-order ring: the execution side takes them at the event's feed time, not whenever the
//! feeder happens to look. The risk stage runs on **feed time** ([`FeedClockRisk`]): its clock is
//! the markers' and quotes' feed time, never the wall clock, so price ages and order rates are
//! the recording's. Same data and configuration, same decisions, orders and fills.
//!
//! A marker is an `ExecReport` frame no venue can send: intent id `u64::MAX`, asset 0, status
//! `Canceled`, `last_price` the event's feed time, `cum_qty` the marker's sequence number. Confirm
//! and Decide pass execution reports on unchanged; [`FeedClockRisk`] and the execution hand-off
//! pass markers on; the loop takes them off its output (callers never see one).
use qp_risk_sentinel::{ApprovedOrderSink, CommandError, RiskSentinelAgent};
use qp_runtime::{Agent, AgentContext, AgentError, Outbox};
use qp_wire::{ExecReport, ExecStatus, FrameBuf, FrameRef, Side};

/// The intent id that marks a lockstep marker.
pub const MARKER_INTENT_ID: u64 = u64::MAX;

/// A marker frame: feed time `ts_ns`, sequence number `seq` (also its frame sequence).
pub fn marker(origin_node: u32, seq: u64, ts_ns: u64) -> FrameBuf {
    let report = ExecReport {
        intent_id: MARKER_INTENT_ID.into(),
        asset: 0.into(),
        side: Side::Buy as u8,
        status: ExecStatus::Canceled as u8,
        _pad: 0.into(),
        last_qty: 0.into(),
        last_price: i64::try_from(ts_ns).unwrap_or(i64::MAX).into(),
        cum_qty: i64::try_from(seq).unwrap_or(i64::MAX).into(),
        leaves_qty: 0.into(),
    };
    FrameBuf::encode(origin_node, seq, &report)
}

/// Whether `report` is a marker.
pub fn is_marker(report: &ExecReport) -> bool {
    report.intent_id.get() == MARKER_INTENT_ID && report.asset.get() == 0
}

/// A marker's (sequence number, feed time), or `None` for any other frame.
pub fn marker_of(frame: &FrameBuf) -> Option<(u64, u64)> {
    match frame.decode() {
        Ok(FrameRef::ExecReport(f)) if is_marker(f.payload) => {
            Some((f.payload.cum_qty.get().max(0) as u64, f.payload.last_price.get().max(0) as u64))
        }
        _ => None,
    }
}

/// RiskSentinel on feed time: the risk stage's agent in a replay. Its clock is the latest feed
/// time a marker or a quote carried (never earlier than before); decisions are checked at it and
/// a quote's reference price is observed at the quote's own feed time. Markers are passed on to
/// the Execute step. Everything else is RiskSentinel's agent unchanged.
#[derive(Debug)]
pub struct FeedClockRisk<S> {
    inner: RiskSentinelAgent<S>,
    now_ns: u64,
}

impl<S: ApprovedOrderSink> FeedClockRisk<S> {
    pub fn new(inner: RiskSentinelAgent<S>) -> Self {
        Self { inner, now_ns: 0 }
    }

    /// Feed time the risk stage has reached.
    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }
}

impl<S: ApprovedOrderSink + Send> Agent for FeedClockRisk<S> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn on_frame(&mut self, _ctx: AgentContext, frame: FrameRef<'_>, out: &mut Outbox) -> Result<(), AgentError> {
        match frame {
            FrameRef::ExecReport(f) if is_marker(f.payload) => {
                self.inner.apply_commands();
                self.now_ns = self.now_ns.max(f.payload.last_price.get().max(0) as u64);
                out.derive(f.header, f.payload)
            }
            FrameRef::Quote(f) => {
                self.inner.apply_commands();
                let q = f.payload;
                let observed_ns = q.feed_ts_ns.get();
                self.now_ns = self.now_ns.max(observed_ns);
                self.inner.sentinel_mut().update_price(q.asset(), q.mid_price(), observed_ns).map_err(|err| match err {
                    CommandError::UnknownAsset(asset) => {
                        AgentError::UnknownAsset { agent: "risk-sentinel", asset: asset.get() }
                    }
                    _ => AgentError::Rejected { agent: "risk-sentinel", detail: "quote mid price not positive" },
                })
            }
            other => self.inner.on_frame(AgentContext { now_ns: self.now_ns }, other, out),
        }
    }

    fn on_idle(&mut self, ctx: AgentContext, out: &mut Outbox) {
        self.inner.on_idle(ctx, out);
    }
}
