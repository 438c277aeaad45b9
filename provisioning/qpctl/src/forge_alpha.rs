//! `qpctl forge alpha`.

#[derive(Debug, clap::Args)]
pub struct AlphaArgs {}

pub fn run(_args: AlphaArgs) -> anyhow::Result<()> {
    anyhow::bail!("forge alpha: not built yet")
}
