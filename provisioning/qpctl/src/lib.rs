//! `qpctl`: what an operator or a quant runs from a workstation. Thin `main`
//! over this library.
#![forbid(unsafe_code)]

pub mod attest;
pub mod audit;
pub mod backtest;
pub mod bench;
pub mod bench_boot;
pub mod bench_update;
pub mod book;
pub mod ca;
pub mod cli;
pub mod exec;
pub mod fix;
pub mod fix_conformance;
pub mod fix_trade;
pub mod forge;
pub mod forge_alpha;
pub mod image;
pub mod inspect;
pub mod model;
pub mod risk;
pub mod scan;
pub mod status;
pub mod update;
pub mod vault;
