//! `qpctl status --node ADDR`: a node's state over its management API (`qp-management`).

#[derive(Debug, clap::Args)]
pub struct StatusArgs {}

pub fn run(_args: StatusArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
