//! The node daemon's library: everything `qp-node` does, behind a thin `main`.
//! It runs the five-step loop over recorded data (`qp-node demo`) and a node on the bridge
//! (`qp-node run`: a cloud node sends signals, a local node takes them); the image issues make
//! it the sealed image's PID 1 supervisor.
#![forbid(unsafe_code)]

#[cfg(feature = "demo")]
pub mod charts;
pub mod cli;
#[cfg(feature = "demo")]
pub mod demo;
pub mod node_config;
pub mod pid1;
pub mod run;
#[cfg(feature = "ingest")]
mod run_cloud;
#[cfg(feature = "vault")]
mod run_local;
pub mod signals;
pub mod update_service;
#[cfg(feature = "vault")]
pub mod vault;
