//! `qpctl fix …`: the FIX engine from the command line.

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum FixCommand {
    /// Run QuickFIX's FIX 4.4 session acceptance scripts against the project's acceptor.
    Conformance(crate::fix_conformance::ConformanceArgs),
    /// Log on to a venue as the initiator and send a scripted list of orders (persistent store,
    /// resumes after a crash without sending an order twice).
    Trade(crate::fix_trade::TradeArgs),
}

pub fn run(command: FixCommand) -> anyhow::Result<()> {
    match command {
        FixCommand::Conformance(args) => crate::fix_conformance::run(args),
        FixCommand::Trade(args) => crate::fix_trade::run(args),
    }
}
