use std::path::PathBuf;

use clap::{Parser, Subcommand};
use qp_loop::LoopConfig;

/// QuantPype Node daemon.
#[derive(Debug, Parser)]
#[command(name = "qp-node", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replay recorded headlines and market data through the five-step loop and
    /// print what happened and a per-stage latency table.
    Demo {
        /// The recorded data (the project's shared data folder).
        #[arg(long, default_value = "../shared/data")]
        data: PathBuf,
        /// A full configuration file replacing the embedded default.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// Logs go to stderr; `RUST_LOG` filters them (default: warnings).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo { data, config } => {
            let config = LoopConfig::load(config.as_deref())?;
            let report = crate::demo::run_demo(&config, &data)?;
            print!("{report}");
            Ok(())
        }
    }
}
