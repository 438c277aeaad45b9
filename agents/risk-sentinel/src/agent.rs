//! RiskSentinel as a loop agent: `Decision` frames in, an `OrderIntent` frame (audit trail,
//! pipeline) or a `RiskVerdict` veto frame out; every approval also goes, typed, to the
//! execution side's [`ApprovedOrderSink`]. `ExecReport` frames update positions.
use qp_runtime::{Agent, AgentContext, AgentError, Outbox};
use qp_wire::{FrameRef, RiskVerdict, Verdict, VetoReason};

use crate::approved::ApprovedOrderSink;
use crate::sentinel::RiskSentinel;

const AGENT: &str = "risk-sentinel";

/// The agent: a [`RiskSentinel`] and the hand-off its approvals go to.
#[derive(Debug)]
pub struct RiskSentinelAgent<S> {
    sentinel: RiskSentinel,
    sink: S,
}

impl<S: ApprovedOrderSink> RiskSentinelAgent<S> {
    pub fn new(sentinel: RiskSentinel, sink: S) -> Self {
        Self { sentinel, sink }
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
            other => Err(AgentError::UnexpectedFrame { agent: AGENT, frame_type: other.frame_type() }),
        }
    }
}
