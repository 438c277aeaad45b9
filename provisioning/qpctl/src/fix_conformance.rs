//! `qpctl fix conformance`.

#[derive(Debug, clap::Args)]
pub struct ConformanceArgs {}

pub fn run(_args: ConformanceArgs) -> anyhow::Result<()> {
    anyhow::bail!("fix conformance: not built yet")
}
