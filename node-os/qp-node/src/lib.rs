//! The node daemon's library: everything `qp-node` does, behind a thin `main`.
//! It runs the five-step loop over recorded data (`qp-node demo`) and a node on the bridge
//! (`qp-node run`: a cloud node sends signals, a local node takes them); the image issues make
//! it the sealed image's PID 1 supervisor.
#![forbid(unsafe_code)]

pub mod charts;
pub mod cli;
pub mod demo;
pub mod node_config;
pub mod run;
