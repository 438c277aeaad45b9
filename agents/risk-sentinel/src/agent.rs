//! RiskSentinel as a loop agent: `Decision` frames in, an `OrderIntent` frame (audit trail,
//! pipeline) or a `RiskVerdict` veto frame out; every approval also goes, typed, to the
//! execution side's [`ApprovedOrderSink`]. `ExecReport` frames update positions; `Quote`
//! frames set reference prices.
//!
//! # Reference prices from `Quote` frames
//!
//! The reference price is the quote's **mid** (`Quote::mid_price`, rounded down to a tick).
//! RiskSentinel keeps one reference per instrument and uses it to mark positions, value
//! exposure, margin and VaR, and for the price collar; the mid is the side-neutral mark for the
//! first four, and a collar of a few basis points of the mid already tolerates the half-spread
//! a marketable order crosses. The price's time is the frame's `Ingest` stamp: the node's
//! monotonic clock, the one the stage hands the agent as `ctx.now_ns`, so
//! `fail_closed.max_price_age_ms` compares like with like. The exchange timestamp in the quote
//! is the venue's clock and is not used for freshness. A quote without an `Ingest` stamp is
//! refused (its age is unknown).
use qp_runtime::{Agent, AgentContext, AgentError, Outbox};
use qp_wire::{FrameRef, RiskVerdict, Stage, Verdict, VetoReason};

use crate::approved::ApprovedOrderSink;
use crate::command::RiskCommandReceiver;
use crate::error::CommandError;
use crate::sentinel::RiskSentinel;

const AGENT: &str = "risk-sentinel";

/// The agent: a [`RiskSentinel`], the hand-off its approvals go to and, optionally, the
/// command ring it takes reloads and kill-switch commands from.
#[derive(Debug)]
pub struct RiskSentinelAgent<S> {
    sentinel: RiskSentinel,
    sink: S,
    commands: Option<RiskCommandReceiver>,
}

impl<S: ApprovedOrderSink> RiskSentinelAgent<S> {
    pub fn new(sentinel: RiskSentinel, sink: S) -> Self {
        Self { sentinel, sink, commands: None }
    }

    /// Take commands from `receiver` (made with [`crate::risk_command_ring`] on this
    /// agent's sentinel) before each frame and at each idle round.
    pub fn with_commands(mut self, receiver: RiskCommandReceiver) -> Self {
        self.commands = Some(receiver);
        self
    }

    /// Apply the waiting commands now (the stage does this before each frame); answers how
    /// many were applied.
    pub fn apply_commands(&mut self) -> usize {
        match &mut self.commands {
            Some(receiver) => receiver.apply_pending(&mut self.sentinel),
            None => 0,
        }
    }

    /// The sentinel, for the command API (kill switch, prices, reconciliation, reloads).
    pub fn sentinel(&self) -> &RiskSentinel {
        &self.sentinel
    }

    pub fn sentinel_mut(&mut self) -> &mut RiskSentinel {
        &mut self.sentinel
    }

    pub fn sink(&self) -> &S {
        &self.sink
    }

    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
    }
}

impl<S: ApprovedOrderSink + Send> Agent for RiskSentinelAgent<S> {
    fn name(&self) -> &'static str {
        AGENT
    }

    fn on_frame(&mut self, ctx: AgentContext, frame: FrameRef<'_>, out: &mut Outbox) -> Result<(), AgentError> {
        self.apply_commands();
        match frame {
            FrameRef::Decision(f) => {
                let d = f.payload;
                let veto = |reason| RiskVerdict::new(d.decision_id.get(), d.asset(), Verdict::Veto, reason);
                match self.sentinel.check(ctx.now_ns, d) {
                    Ok(approved) => {
                        let intent = *approved.get();
                        match self.sink.send(approved) {
                            Ok(()) => out.derive(f.header, &intent),
                            Err(refused) => {
                                // Execution cannot take it: release the reservation, veto.
                                self.sentinel.withdraw(refused);
                                out.derive(f.header, &veto(VetoReason::RateLimit))
                            }
                        }
                    }
                    Err(v) => out.derive(f.header, &veto(v.reason)),
                }
            }
            FrameRef::ExecReport(f) => {
                self.sentinel.on_exec_report(f.payload);
                Ok(())
            }
            FrameRef::Quote(f) => {
                let q = f.payload;
                let Some(observed_ns) = f.header.stamp(Stage::Ingest) else {
                    return Err(AgentError::Rejected { agent: AGENT, detail: "quote without an Ingest stamp" });
                };
                self.sentinel.update_price(q.asset(), q.mid_price(), observed_ns).map_err(|err| match err {
                    CommandError::UnknownAsset(asset) => AgentError::UnknownAsset { agent: AGENT, asset: asset.get() },
                    _ => AgentError::Rejected { agent: AGENT, detail: "quote mid price not positive" },
                })
            }
            other => Err(AgentError::UnexpectedFrame { agent: AGENT, frame_type: other.frame_type() }),
        }
    }

    fn on_idle(&mut self, _ctx: AgentContext, _out: &mut Outbox) {
        self.apply_commands();
    }
}
