use std::sync::Arc;

use qp_wire::{FrameBuf, Stage};
use rtrb::{Consumer, Producer};

use crate::agent::{Agent, AgentContext, Outbox};
use crate::clock::monotonic_ns;
use crate::counters::StageCounters;
use crate::rate_limit::RateLimiter;

/// One stage: an agent between its input ring and its output ring.
///
/// Per poll it first hands on frames it already produced; only when those are
/// all out does it take the next input. So a full output ring holds the stage
/// (and, through its own filling input ring, the stages before it) back, and no
/// frame is ever dropped.
pub struct StageRunner {
    stage: Stage,
    agent: Box<dyn Agent>,
    input: Consumer<FrameBuf>,
    output: Producer<FrameBuf>,
    outbox: Outbox,
    counters: Arc<StageCounters>,
    log_limit: RateLimiter,
}

impl std::fmt::Debug for StageRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageRunner").field("stage", &self.stage).field("agent", &self.agent.name()).finish()
    }
}

impl StageRunner {
    pub(crate) fn new(
        stage: Stage,
        agent: Box<dyn Agent>,
        input: Consumer<FrameBuf>,
        output: Producer<FrameBuf>,
        counters: Arc<StageCounters>,
    ) -> Self {
        let outbox = Outbox::new(agent.name());
        Self { stage, agent, input, output, outbox, counters, log_limit: RateLimiter::new(1_000_000_000) }
    }

    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// True when nothing is waiting in this stage: input ring and outbox empty.
    pub fn is_drained(&self) -> bool {
        self.input.is_empty() && self.outbox.is_empty()
    }

    /// Do one step of work; answers whether anything moved.
    pub fn poll(&mut self) -> bool {
        if !self.flush() {
            return false;
        }
        let Ok(slot) = self.input.peek() else {
            return false;
        };
        self.counters.frame_in();
        let ctx = AgentContext { now_ns: monotonic_ns() };
        // Read the frame in place in the ring slot; it is released only after the agent is done.
        match slot.decode() {
            Ok(frame) => {
                if let Err(err) = self.agent.on_frame(ctx, frame, &mut self.outbox) {
                    self.counters.agent_error();
                    if let Some(suppressed) = self.log_limit.check(ctx.now_ns) {
                        tracing::warn!(stage = self.stage.name(), suppressed, "agent refused frame: {err}");
                    }
                }
            }
            Err(err) => {
                self.counters.decode_error();
                if let Some(suppressed) = self.log_limit.check(ctx.now_ns) {
                    tracing::warn!(stage = self.stage.name(), suppressed, "undecodable frame dropped: {err}");
                }
            }
        }
        let _ = self.input.pop();
        if !self.outbox.is_empty() {
            self.outbox.stamp_pending(self.stage, monotonic_ns());
            self.flush();
        }
        true
    }

    /// Let the agent act on time passing; answers whether it emitted anything.
    pub fn idle(&mut self) -> bool {
        if !self.outbox.is_empty() {
            return self.flush();
        }
        self.agent.on_idle(AgentContext { now_ns: monotonic_ns() }, &mut self.outbox);
        if self.outbox.is_empty() {
            return false;
        }
        self.outbox.stamp_pending(self.stage, monotonic_ns());
        self.flush();
        true
    }

    /// Push pending outputs; answers whether the outbox is now empty.
    fn flush(&mut self) -> bool {
        if self.outbox.is_empty() {
            return true;
        }
        let output = &mut self.output;
        let moved = self.outbox.drain_into(|frame| output.push(frame).map_err(|rtrb::PushError::Full(f)| f));
        self.counters.frames_out(moved as u64);
        let empty = self.outbox.is_empty();
        if !empty {
            self.counters.backpressure();
        }
        empty
    }
}

impl StageRunner {
    /// True once whoever fed this stage's input ring has gone away.
    pub fn input_abandoned(&self) -> bool {
        self.input.is_abandoned()
    }
}
