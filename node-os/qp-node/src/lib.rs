//! The node daemon's library: everything `qp-node` does, behind a thin `main`.
//! Today it runs the five-step loop over recorded data (`qp-node demo`); the
//! image issues make it the sealed image's PID 1 supervisor.
#![forbid(unsafe_code)]

pub mod charts;
pub mod cli;
pub mod demo;
