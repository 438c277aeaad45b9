//! `qpctl scan spoofing|darkpool`: score the sensing agents' detectors.
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ScanCommand {}

pub fn run(command: ScanCommand) -> anyhow::Result<()> {
    match command {}
}
