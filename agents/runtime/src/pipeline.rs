use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use qp_wire::{FrameBuf, Stage};
use rtrb::{Consumer, Producer, RingBuffer};
use serde::Deserialize;

use crate::agent::Agent;
use crate::backoff::{Backoff, BackoffPolicy};
use crate::counters::{StageCounters, StageStats};
use crate::error::RuntimeError;
use crate::stage::StageRunner;

/// Where the stages' worker threads run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "mode")]
pub enum Placement {
    /// One pinned thread per stage if the machine has a core for each stage plus
    /// one for the feeder; otherwise pack the stages onto the cores there are.
    #[default]
    Auto,
    /// One thread per stage, pinned where there are cores for it.
    PerStage,
    /// `threads` workers, each running a contiguous run of stages round-robin.
    Packed { threads: usize },
}

/// The feeder could not push: the pipeline's input ring is full.
#[derive(Debug)]
pub struct PushError(pub FrameBuf);

/// Builds a [`Pipeline`].
pub struct PipelineBuilder {
    stages: Vec<(Stage, Box<dyn Agent>)>,
    ring_capacity: usize,
    backoff: BackoffPolicy,
    placement: Placement,
    pin_threads: bool,
}

impl std::fmt::Debug for PipelineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineBuilder")
            .field("stages", &self.stages.iter().map(|(s, a)| (s.name(), a.name())).collect::<Vec<_>>())
            .field("ring_capacity", &self.ring_capacity)
            .field("placement", &self.placement)
            .finish()
    }
}

impl Default for PipelineBuilder {
    fn default() -> Self {
        Self {
            stages: Vec::new(),
            ring_capacity: 1024,
            backoff: BackoffPolicy::default(),
            placement: Placement::Auto,
            pin_threads: true,
        }
    }
}

impl PipelineBuilder {
    /// Add `agent` as the next stage; it stamps `stage` on what it emits.
    pub fn stage(mut self, stage: Stage, agent: Box<dyn Agent>) -> Self {
        self.stages.push((stage, agent));
        self
    }
    /// Slots in every ring.
    pub fn ring_capacity(mut self, capacity: usize) -> Self {
        self.ring_capacity = capacity;
        self
    }
    pub fn backoff(mut self, policy: BackoffPolicy) -> Self {
        self.backoff = policy;
        self
    }
    pub fn placement(mut self, placement: Placement) -> Self {
        self.placement = placement;
        self
    }
    /// Pin workers to cores (default). Tests on shared machines may turn it off.
    pub fn pin_threads(mut self, pin: bool) -> Self {
        self.pin_threads = pin;
        self
    }

    /// Create the rings, start the workers.
    pub fn start(self) -> Result<Pipeline, RuntimeError> {
        if self.stages.is_empty() {
            return Err(RuntimeError::NoStages);
        }
        if !(2..=1 << 20).contains(&self.ring_capacity) {
            return Err(RuntimeError::RingCapacity(self.ring_capacity));
        }
        let cores = crate::cores::process_cores();
        let stage_count = self.stages.len();
        let threads = match self.placement {
            Placement::PerStage => stage_count,
            Placement::Packed { threads } => threads,
            Placement::Auto if cores.len() > stage_count => stage_count,
            // Leave one core to the feeder and the OS.
            Placement::Auto => cores.len().saturating_sub(1).max(1),
        };
        if threads == 0 || threads > stage_count {
            return Err(RuntimeError::Placement { threads, stages: stage_count });
        }

        let (input, mut upstream) = RingBuffer::<FrameBuf>::new(self.ring_capacity);
        let mut runners = Vec::with_capacity(stage_count);
        let mut counters = Vec::with_capacity(stage_count);
        for (stage, agent) in self.stages {
            let (producer, consumer) = RingBuffer::<FrameBuf>::new(self.ring_capacity);
            let stage_counters = Arc::new(StageCounters::default());
            counters.push((stage, agent.name(), Arc::clone(&stage_counters)));
            runners.push(StageRunner::new(stage, agent, upstream, producer, stage_counters));
            upstream = consumer;
        }
        let output = upstream;

        // Split the stages into `threads` contiguous groups, as even as possible.
        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::with_capacity(threads);
        let mut remaining = runners.into_iter();
        for index in 0..threads {
            let take = stage_count / threads + usize::from(index < stage_count % threads);
            let group: Vec<StageRunner> = remaining.by_ref().take(take).collect();
            let name = format!("qp-{}", group.iter().map(|r| r.stage().name()).collect::<Vec<_>>().join("+"));
            // Core 0 stays with the feeder and the OS; workers take the next cores in turn.
            let core = if self.pin_threads && cores.len() > 1 {
                cores.get(1 + index % (cores.len() - 1)).copied()
            } else {
                None
            };
            let stop = Arc::clone(&stop);
            let backoff = self.backoff;
            let handle = std::thread::Builder::new()
                .name(name.clone())
                .spawn(move || run_worker(group, core, backoff, &stop))
                .map_err(|source| RuntimeError::Spawn { name: name.clone(), source })?;
            workers.push((name, handle));
        }

        Ok(Pipeline { input: Some(input), output, workers, stop, counters, input_backpressure: 0 })
    }
}

fn run_worker(
    mut stages: Vec<StageRunner>,
    core: Option<core_affinity::CoreId>,
    policy: BackoffPolicy,
    stop: &AtomicBool,
) {
    if let Some(core) = core
        && !crate::cores::pin_current_thread(core)
    {
        tracing::debug!(core = core.id, "could not pin worker; running unpinned");
    }
    let mut backoff = Backoff::new(policy);
    let mut idle_rounds: u32 = 0;
    while !stop.load(Ordering::Relaxed) {
        let mut worked = false;
        for stage in &mut stages {
            worked |= stage.poll();
        }
        if worked {
            backoff.reset();
            idle_rounds = 0;
            continue;
        }
        // Idle hooks are for time-driven work at millisecond scale; not every spin.
        idle_rounds = idle_rounds.wrapping_add(1);
        if (idle_rounds.is_multiple_of(256) || backoff.is_sleeping())
            && stages.iter_mut().fold(false, |w, s| s.idle() | w)
        {
            backoff.reset();
            continue;
        }
        // Drained: the feeder (or the worker before us) is gone and nothing is left here.
        if stages.first().is_some_and(StageRunner::input_abandoned) && stages.iter().all(StageRunner::is_drained) {
            break;
        }
        backoff.snooze();
    }
}

/// A running pipeline: push frames into the first stage, take frames from the last.
pub struct Pipeline {
    input: Option<Producer<FrameBuf>>,
    output: Consumer<FrameBuf>,
    workers: Vec<(String, JoinHandle<()>)>,
    stop: Arc<AtomicBool>,
    counters: Vec<(Stage, &'static str, Arc<StageCounters>)>,
    input_backpressure: u64,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").field("workers", &self.workers.iter().map(|(n, _)| n).collect::<Vec<_>>()).finish()
    }
}

impl Pipeline {
    pub fn builder() -> PipelineBuilder {
        PipelineBuilder::default()
    }

    /// Names of the worker threads (which stages share a thread).
    pub fn worker_names(&self) -> Vec<&str> {
        self.workers.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Offer a frame to the first stage; a full ring gives it back.
    pub fn try_push(&mut self, frame: FrameBuf) -> Result<(), PushError> {
        match self.input.as_mut() {
            Some(input) => input.push(frame).map_err(|rtrb::PushError::Full(f)| PushError(f)),
            None => Err(PushError(frame)),
        }
    }

    /// Push a frame, waiting (and counting back-pressure) while the first ring is
    /// full. Frames taken off the output meanwhile go to `on_output`, so a full
    /// pipeline cannot deadlock against its own feeder.
    pub fn push(&mut self, frame: FrameBuf, mut on_output: impl FnMut(&FrameBuf)) {
        let mut frame = frame;
        loop {
            match self.try_push(frame) {
                Ok(()) => return,
                Err(PushError(back)) => {
                    frame = back;
                    self.input_backpressure += 1;
                    if self.input.is_none() {
                        return;
                    }
                    if !self.poll_output(&mut on_output) {
                        std::hint::spin_loop();
                    }
                }
            }
        }
    }

    /// Hand every frame waiting at the output to `on_output`; answers whether there were any.
    pub fn poll_output(&mut self, mut on_output: impl FnMut(&FrameBuf)) -> bool {
        let mut any = false;
        while let Ok(frame) = self.output.peek() {
            on_output(frame);
            let _ = self.output.pop();
            any = true;
        }
        any
    }

    /// Counters of every stage, in loop order.
    pub fn stats(&self) -> Vec<StageStats> {
        self.counters.iter().map(|(stage, agent, c)| c.snapshot(stage.name(), agent)).collect()
    }

    /// Times the feeder found the first ring full.
    pub fn input_backpressure(&self) -> u64 {
        self.input_backpressure
    }

    /// Stop accepting input, let every frame already accepted run through, hand
    /// the outputs to `on_output`, and join the workers.
    pub fn finish(mut self, mut on_output: impl FnMut(&FrameBuf)) -> Result<Vec<StageStats>, RuntimeError> {
        drop(self.input.take());
        loop {
            let any = self.poll_output(&mut on_output);
            if !any && self.output.is_abandoned() && self.output.is_empty() {
                break;
            }
            if !any {
                std::thread::yield_now();
            }
        }
        let stats = self.stats();
        for (name, handle) in std::mem::take(&mut self.workers) {
            handle.join().map_err(|_| RuntimeError::WorkerPanicked { name })?;
        }
        Ok(stats)
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        // Only reached without `finish`: stop at once rather than hang.
        self.stop.store(true, Ordering::Relaxed);
        for (_, handle) in std::mem::take(&mut self.workers) {
            let _ = handle.join();
        }
    }
}
