/// Why a parent order or its settings were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowConfigError {
    #[error("{field} must be positive")]
    NotPositive { field: &'static str },
    #[error("the parent's end ({end_ns}) must be after its start ({start_ns})")]
    EmptyInterval { start_ns: u64, end_ns: u64 },
    #[error("participation rate {rate_bp} bp must be within 1..=10000")]
    Rate { rate_bp: u32 },
    #[error("min_child_lots ({min}) must not exceed max_child_lots ({max})")]
    ChildSizes { min: i64, max: i64 },
}
