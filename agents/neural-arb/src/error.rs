/// Why a NeuralArb configuration was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ArbConfigError {
    #[error("{field} must be positive")]
    NotPositive { field: &'static str },
    #[error("the two legs must be different assets")]
    SameAsset,
    #[error("exit_z ({exit}) must be below entry_z ({entry}), and both finite and non-negative")]
    Thresholds { entry: f64, exit: f64 },
    #[error("window must hold at least 2 samples, got {0}")]
    Window(usize),
    #[error("a fixed hedge ratio must be finite and positive, got {0}")]
    HedgeRatio(f64),
}
