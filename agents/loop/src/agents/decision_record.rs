//! The risk stage's record of what it judged: each `Decision` frame goes on, unchanged, just
//! ahead of RiskSentinel's answer to it (an `OrderIntent` or a veto), so the loop's output,
//! and with it the audit trail, holds every decision as well as every verdict and order.
//! RiskSentinel itself stays a judge: it never forwards its input.
use qp_runtime::{Agent, AgentContext, AgentError, Outbox};
use qp_wire::FrameRef;

/// Wraps the risk stage's agent (see the module docs).
#[derive(Debug)]
pub struct DecisionRecord<A> {
    inner: A,
}

impl<A: Agent> DecisionRecord<A> {
    pub fn new(inner: A) -> Self {
        Self { inner }
    }
}

impl<A: Agent> Agent for DecisionRecord<A> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn on_frame(&mut self, ctx: AgentContext, frame: FrameRef<'_>, out: &mut Outbox) -> Result<(), AgentError> {
        if let FrameRef::Decision(f) = frame {
            out.derive(f.header, f.payload)?;
        }
        self.inner.on_frame(ctx, frame, out)
    }

    fn on_idle(&mut self, ctx: AgentContext, out: &mut Outbox) {
        self.inner.on_idle(ctx, out);
    }
}
