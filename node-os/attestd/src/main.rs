//! `qp-attestd`: the node's TPM service. Skeleton.
fn main() {}
