//! `qpctl book lobster|binance`: rebuild books from recorded feeds and check them.
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum BookCommand {}

pub fn run(command: BookCommand) -> anyhow::Result<()> {
    match command {}
}
