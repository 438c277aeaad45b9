use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Live counters of one stage. Each is written by the stage's own worker only,
/// so updates are plain relaxed load+store (no locked read-modify-write on the
/// hot path); any thread may read them.
#[derive(Debug, Default)]
pub struct StageCounters {
    frames_in: AtomicU64,
    frames_out: AtomicU64,
    /// Times the stage found its output ring full and had to hold back.
    backpressure: AtomicU64,
    decode_errors: AtomicU64,
    agent_errors: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.store(counter.load(Ordering::Relaxed).wrapping_add(by), Ordering::Relaxed);
}

impl StageCounters {
    pub(crate) fn frame_in(&self) {
        bump(&self.frames_in, 1);
    }
    pub(crate) fn frames_out(&self, n: u64) {
        bump(&self.frames_out, n);
    }
    pub(crate) fn backpressure(&self) {
        bump(&self.backpressure, 1);
    }
    pub(crate) fn decode_error(&self) {
        bump(&self.decode_errors, 1);
    }
    pub(crate) fn agent_error(&self) {
        bump(&self.agent_errors, 1);
    }

    /// A consistent-enough snapshot for reporting.
    pub fn snapshot(&self, stage: &'static str, agent: &'static str) -> StageStats {
        StageStats {
            stage,
            agent,
            frames_in: self.frames_in.load(Ordering::Relaxed),
            frames_out: self.frames_out.load(Ordering::Relaxed),
            backpressure: self.backpressure.load(Ordering::Relaxed),
            decode_errors: self.decode_errors.load(Ordering::Relaxed),
            agent_errors: self.agent_errors.load(Ordering::Relaxed),
        }
    }
}

/// Snapshot of a stage's counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageStats {
    pub stage: &'static str,
    pub agent: &'static str,
    pub frames_in: u64,
    pub frames_out: u64,
    pub backpressure: u64,
    pub decode_errors: u64,
    pub agent_errors: u64,
}
