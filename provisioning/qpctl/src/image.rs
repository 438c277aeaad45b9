//! `qpctl image …`: the sealed node image (`qp-image`).

#[derive(Debug, clap::Subcommand)]
pub enum ImageCommand {}

pub fn run(command: ImageCommand) -> anyhow::Result<()> {
    match command {}
}
