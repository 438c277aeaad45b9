//! The agent runtime.
//!
//! An [`Agent`] does one micro-task: frames in, frames out, no I/O. The runtime
//! joins agents into a [`Pipeline`]: one [`Stage`](qp_wire::Stage) per agent,
//! consecutive stages connected by bounded single-producer single-consumer rings
//! of [`FrameBuf`](qp_wire::FrameBuf) slots. Stages run on busy-polling worker
//! threads pinned to cores (one per stage where the machine has the cores, packed
//! round-robin onto fewer threads where it does not), with a bounded back-off when
//! idle. A full ring holds the producing stage back and is counted; nothing is
//! dropped. Each stage stamps the frames it emits, so per-stage latency is read
//! off the frames ([`LatencyTable`]).
//!
//! Agents never see threads, rings, the supervisor or the network.

mod agent;
mod backoff;
pub mod clock;
pub mod cores;
mod counters;
mod error;
mod latency;
mod pipeline;
mod rate_limit;
pub mod ring_hop;
mod stage;

pub use agent::{Agent, AgentContext, AgentError, IngestAgent, OUTBOX_CAPACITY, Outbox};
pub use backoff::{Backoff, BackoffPolicy};
pub use counters::{StageCounters, StageStats};
pub use error::RuntimeError;
pub use latency::{
    LatencyBucket, LatencyHistogram, LatencySummary, LatencyTable, PerCallTimer, Percentiles, clock_overhead_ns,
};
pub use pipeline::{Pipeline, PipelineBuilder, Placement, PushError};
pub use rate_limit::RateLimiter;
pub use stage::StageRunner;
