//! The operator's attestation verifier (no I/O). Skeleton.
#![forbid(unsafe_code)]
