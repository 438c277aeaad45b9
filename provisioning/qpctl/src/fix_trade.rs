//! `qpctl fix trade`.

#[derive(Debug, clap::Args)]
pub struct TradeArgs {}

pub fn run(_args: TradeArgs) -> anyhow::Result<()> {
    anyhow::bail!("fix trade: not built yet")
}
