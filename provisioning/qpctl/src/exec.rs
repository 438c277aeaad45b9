//! `qpctl exec …`: execution agents replayed against recorded books.

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ExecCommand {
    /// Replay an agent on a recorded feed; prints fills, slippage and P&L.
    Replay {},
}

pub fn run(_command: ExecCommand) -> anyhow::Result<()> {
    anyhow::bail!("exec replay: not built yet")
}
