/// Errors building or running a pipeline.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("pipeline has no stages")]
    NoStages,
    #[error("ring capacity {0} is invalid: use 2..=1048576")]
    RingCapacity(usize),
    #[error("placement asks for {threads} worker threads for {stages} stages")]
    Placement { threads: usize, stages: usize },
    #[error("could not start worker thread {name}: {source}")]
    Spawn { name: String, source: std::io::Error },
    #[error("worker thread {name} panicked")]
    WorkerPanicked { name: String },
}
