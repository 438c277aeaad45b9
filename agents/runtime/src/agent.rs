use qp_wire::{FrameBuf, FrameHeader, FrameRef, Payload};

/// Most frames one agent may emit for one input frame.
pub const OUTBOX_CAPACITY: usize = 8;

/// What the runtime tells an agent besides the frame.
#[derive(Debug, Clone, Copy)]
pub struct AgentContext {
    /// Monotonic ns when the stage picked the frame up (agents must not read clocks
    /// themselves: replay and tests drive time through here).
    pub now_ns: u64,
}

/// Why an agent refused a frame. The stage counts it, logs it (rate-limited) and
/// goes on with the next frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    #[error("{agent}: frame type {frame_type:?} is not an input of this agent")]
    UnexpectedFrame { agent: &'static str, frame_type: qp_wire::FrameType },
    #[error("{agent}: asset {asset} is not configured")]
    UnknownAsset { agent: &'static str, asset: u32 },
    #[error("{agent}: outbox full ({OUTBOX_CAPACITY} frames for one input)")]
    OutboxFull { agent: &'static str },
    #[error("{agent}: {detail}")]
    Rejected { agent: &'static str, detail: &'static str },
}

/// One micro-task: typed frames in, typed frames out, no I/O, no allocation
/// after warm-up.
pub trait Agent: Send {
    /// Short name for logs and stats.
    fn name(&self) -> &'static str;

    /// Handle one input frame, emitting any outputs into `out`.
    fn on_frame(&mut self, ctx: AgentContext, frame: FrameRef<'_>, out: &mut Outbox) -> Result<(), AgentError>;

    /// Called when the stage found no input, at most once per idle round, so
    /// time-driven agents (window expiry) can act. Default: nothing.
    fn on_idle(&mut self, _ctx: AgentContext, _out: &mut Outbox) {}
}

/// An ingest agent turns outside events (a headline, a book update) into frames.
/// It is the loop's first step and runs where the events arrive.
pub trait IngestAgent<E: ?Sized>: Send {
    fn name(&self) -> &'static str;
    fn on_event(&mut self, ctx: AgentContext, event: &E, out: &mut Outbox) -> Result<(), AgentError>;
}

/// Fixed-capacity output buffer an agent writes into; the stage drains it into
/// the next ring. Lives inside the stage, so emitting never allocates.
#[derive(Debug)]
pub struct Outbox {
    frames: [FrameBuf; OUTBOX_CAPACITY],
    len: usize,
    flushed: usize,
    agent: &'static str,
}

impl Outbox {
    pub fn new(agent: &'static str) -> Self {
        Self { frames: [FrameBuf::default(); OUTBOX_CAPACITY], len: 0, flushed: 0, agent }
    }

    /// Emit a ready frame.
    pub fn push(&mut self, frame: FrameBuf) -> Result<(), AgentError> {
        let slot = self.frames.get_mut(self.len).ok_or(AgentError::OutboxFull { agent: self.agent })?;
        *slot = frame;
        self.len += 1;
        Ok(())
    }

    /// Emit `payload` as a frame derived from `parent` (inheriting its stamps and lineage).
    pub fn derive<P: Payload>(&mut self, parent: &FrameHeader, payload: &P) -> Result<(), AgentError> {
        self.push(FrameBuf::derive(parent, payload))
    }

    /// Emit `payload` as a new frame.
    pub fn emit<P: Payload>(&mut self, origin_node: u32, sequence: u64, payload: &P) -> Result<(), AgentError> {
        self.push(FrameBuf::encode(origin_node, sequence, payload))
    }

    /// Frames emitted and not yet handed on.
    pub fn pending(&self) -> &[FrameBuf] {
        self.frames.get(self.flushed..self.len).unwrap_or(&[])
    }

    pub fn is_empty(&self) -> bool {
        self.flushed >= self.len
    }

    /// Stamp every pending frame.
    pub(crate) fn stamp_pending(&mut self, stage: qp_wire::Stage, ns: u64) {
        for frame in self.frames.get_mut(self.flushed..self.len).unwrap_or(&mut []) {
            frame.stamp(stage, ns);
        }
    }

    /// Hand pending frames to `sink` in order until it refuses one; answers how many went.
    pub fn drain_into(&mut self, mut sink: impl FnMut(FrameBuf) -> Result<(), FrameBuf>) -> usize {
        let start = self.flushed;
        while let Some(frame) = self.frames.get(self.flushed).filter(|_| self.flushed < self.len) {
            if sink(*frame).is_err() {
                break;
            }
            self.flushed += 1;
        }
        let moved = self.flushed - start;
        if self.flushed >= self.len {
            self.len = 0;
            self.flushed = 0;
        }
        moved
    }
}
